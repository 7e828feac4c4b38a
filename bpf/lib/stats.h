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

/*
 * Counts a drop under its reason and direction (enum drop_dir: the side of the pod or node the
 * entry point serves, DIR, a constant of each; a NetworkPolicy's drop takes its policy's side)
 * and returns the tc verdict for it.
 */
static __always_inline int stats_drop(__u32 reason, __u32 dir, __u32 bytes)
{
	struct stat_value *value;
	__u32 key;

	if (reason == DROP_POLICY_INGRESS)
		dir = DROP_DIR_INGRESS;
	else if (reason == DROP_POLICY_EGRESS)
		dir = DROP_DIR_EGRESS;
	key = DROPS_KEY(reason, dir);
	value = bpf_map_lookup_elem(&drops, &key);
	if (value) {
		value->packets++;
		value->bytes += bytes;
	}
	return TC_ACT_SHOT;
}

/*
 * A new flow to the frontend SVC_ID, translated (svc_flows). Its first flow adds the entry; when
 * two CPUs add it at once the loser counts into the winner's.
 */
static __always_inline void stats_service_flow(__u32 svc_id)
{
	__u64 *count = bpf_map_lookup_elem(&svc_flows, &svc_id);
	__u64 one = 1;

	if (count) {
		(*count)++;
		return;
	}
	if (!bpf_map_update_elem(&svc_flows, &svc_id, &one, BPF_NOEXIST))
		return;
	count = bpf_map_lookup_elem(&svc_flows, &svc_id);
	if (count)
		(*count)++;
}

#endif
