// SPDX-License-Identifier: Apache-2.0
/* Reading the datapath's pinned counters and maps (see lib/dp_counters.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "lib/dp_counters.h"
#include "lib/map_walk.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/events.h"
#include "maps/frag.h"
#include "maps/lb.h"
#include "maps/masq.h"
#include "maps/node.h"
#include "maps/policy.h"
#include "maps/sock_lb.h"
#include "maps/tunnel.h"

const char *const dp_pinned_maps[] = {
    LB4_SVC_MAP,       LB4_SLOTS_MAP,	  LB4_MAGLEV_MAP,    LB4_BACKENDS_MAP,
    LB4_REVNAT_MAP,    LB4_VIPS_MAP,	  LB4_AFFINITY_MAP,  LB4_SRC_RANGES_MAP,
    CT4_MAP,	       CT4_RING_MAP,	  CLOCK_MAP,	     FRAG4_MAP,
    EP4_MAP,	       NODE4_ADDRS_MAP,	  IPCACHE4_MAP,	     IPCACHE4_EXACT_MAP,
    IPCACHE4_LENS_MAP, POLICY4_MAP,	  POLICY_CFG_MAP,    POLICY_NAMES_MAP,
    MASQ4_SKIP_MAP,    TUNNEL4_MAP,	  TUNNEL_DEVICE_MAP, STATS_MAP,
    DROPS_MAP,	       EVENTS_MAP,	  EVENTS_LOST_MAP,   EVENTS_RATE_MAP,
    EVENTS_CFG_MAP,    LB4_SK_REVNAT_MAP, LB4_SK_PODS_MAP,   SVC_FLOWS_MAP,
};
const size_t dp_n_pinned_maps = sizeof(dp_pinned_maps) / sizeof(dp_pinned_maps[0]);

bool dp_pinned_map_is_optional(const char *name)
{
	return !strcmp(name, LB4_SK_REVNAT_MAP) || !strcmp(name, LB4_SK_PODS_MAP);
}

int dp_percpu_sum_u64(int fd, uint32_t n, uint32_t width, __u64 *out)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *values;

	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	if (!width)
		return -EINVAL;
	values = calloc((size_t)ncpus * width, sizeof(*values));
	if (!values)
		return -ENOMEM;
	memset(out, 0, (size_t)n * width * sizeof(*out));
	for (uint32_t key = 0; key < n; key++) {
		if (bpf_map_lookup_elem(fd, &key, values))
			continue;
		for (int cpu = 0; cpu < ncpus; cpu++)
			for (uint32_t i = 0; i < width; i++)
				out[(size_t)key * width + i] += values[(size_t)cpu * width + i];
	}
	free(values);
	return 0;
}

/* A stat_value is two __u64 counters: summed as such. */
_Static_assert(sizeof(struct stat_value) == 2 * sizeof(__u64), "stat_value is two counters");

int dp_percpu_sum(int fd, uint32_t n, struct stat_value *out)
{
	return dp_percpu_sum_u64(fd, n, 2, &out->packets);
}

int dp_drops_read(int fd, struct dp_drops *out)
{
	int err = dp_percpu_sum(fd, DROPS_ENTRIES, &out->by_dir[0][0]);

	if (err)
		return err;
	memset(out->total, 0, sizeof(out->total));
	for (uint32_t dir = 0; dir < DROP_DIR_MAX; dir++)
		for (uint32_t reason = 0; reason < DROP_MAX; reason++) {
			out->total[reason].packets += out->by_dir[dir][reason].packets;
			out->total[reason].bytes += out->by_dir[dir][reason].bytes;
		}
	return 0;
}

int dp_map_can_fill(const struct bpf_map_info *info)
{
	return info->type != BPF_MAP_TYPE_ARRAY && info->type != BPF_MAP_TYPE_PERCPU_ARRAY &&
	       info->type != BPF_MAP_TYPE_RINGBUF;
}

int64_t dp_map_entries(int fd, const struct bpf_map_info *info)
{
	long n;

	if (!dp_map_can_fill(info))
		return info->max_entries;
	n = map_walk_count(fd, info->key_size);
	return n < 0 ? -1 : n;
}
