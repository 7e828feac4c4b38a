/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU outcome and drop counters: one update per packet. */
#ifndef SLUICE_BPF_STATS_H
#define SLUICE_BPF_STATS_H

#include "maps/stats.h"

static __always_inline void stats_count(__u32 id, __u32 bytes)
{
	struct stat_value *value = bpf_map_lookup_elem(&stats, &id);

	if (value) {
		value->packets++;
		value->bytes += bytes;
	}
}

/* Counts a drop under its reason and returns the tc verdict for it. */
static __always_inline int stats_drop(__u32 reason, __u32 bytes)
{
	struct stat_value *value = bpf_map_lookup_elem(&drops, &reason);

	if (value) {
		value->packets++;
		value->bytes += bytes;
	}
	return TC_ACT_SHOT;
}

#endif
