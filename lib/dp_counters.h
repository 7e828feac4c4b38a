/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading the datapath's pinned counters and maps, for `sluice status` and the agent's
 * Prometheus endpoint alike: one way to sum a per-CPU counter array, to count a map's entries,
 * and the list of every map the programs pin.
 */
#ifndef SLUICE_LIB_DP_COUNTERS_H
#define SLUICE_LIB_DP_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/bpf.h>

#include "maps/stats.h"

/* Every map the programs pin, so an operator sees each one's fill. */
extern const char *const dp_pinned_maps[];
extern const size_t dp_n_pinned_maps;

/*
 * Whether the pinned map NAME exists only with a feature on (the socket hooks' maps, pinned when
 * --host-lb or --socket-lb loads them): its absence is no broken datapath.
 */
bool dp_pinned_map_is_optional(const char *name);

/*
 * Sum the per-CPU array FD of N entries, each WIDTH __u64 counters, into OUT (N x WIDTH; a key
 * that cannot be read sums to 0). Returns 0 or -errno.
 */
int dp_percpu_sum_u64(int fd, uint32_t n, uint32_t width, __u64 *out);

/* dp_percpu_sum_u64() of a struct stat_value array (stats, drops). */
int dp_percpu_sum(int fd, uint32_t n, struct stat_value *out);

/* The drops array: by direction and reason (maps/stats.h DROPS_KEY), and each reason's total. */
struct dp_drops {
	struct stat_value by_dir[DROP_DIR_MAX][DROP_MAX];
	struct stat_value total[DROP_MAX];
};

/* Sum the per-CPU drops array FD into OUT. Returns 0 or -errno. */
int dp_drops_read(int fd, struct dp_drops *out);

/*
 * Entries in the map FD described by INFO: arrays are full by construction, hashes are counted
 * by walking them (a cost that grows with the entries). Returns the count or -1.
 */
int64_t dp_map_entries(int fd, const struct bpf_map_info *info);

/*
 * Whether a map of INFO's type fills up as it is used (hash, LRU, LPM trie), unlike an array or
 * a ring buffer (whose max_entries is its size in bytes).
 */
int dp_map_can_fill(const struct bpf_map_info *info);

#endif
