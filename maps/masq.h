/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Egress masquerade: the destinations pod traffic keeps its pod address to (the cluster CIDR,
 * the service CIDR, --non-masquerade-cidr). Written by the agent at start, read by tc_pod.
 */
#ifndef SLUICE_MAPS_MASQ_H
#define SLUICE_MAPS_MASQ_H

#include "maps/types.h"

#define MASQ4_SKIP_MAP	 "masq4_skip"
#define MASQ4_MAX_CIDRS	 64 /* the cluster and service CIDRs and --non-masquerade-cidr */
#define MASQ4_MAX_LISTED 32 /* --non-masquerade-cidr may be given this many times */

/* masq4_skip_value.kind: why a destination is not masqueraded (for the CLI and the log). */
enum masq4_kind {
	MASQ4_KIND_CLUSTER = 1, /* --cluster-cidr: other pods */
	MASQ4_KIND_SERVICE,	/* --service-cidr: ClusterIPs (translated before this check) */
	MASQ4_KIND_LISTED,	/* --non-masquerade-cidr */
};

struct masq4_key {
	__u32 prefix_len; /* LPM trie: the prefix length comes first */
	__be32 address;
};
SLUICE_ASSERT_SIZE(struct masq4_key, 8);

struct masq4_skip_value {
	__u32 kind; /* enum masq4_kind */
};
SLUICE_ASSERT_SIZE(struct masq4_skip_value, 4);

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MASQ4_MAX_CIDRS);
	__type(key, struct masq4_key);
	__type(value, struct masq4_skip_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} masq4_skip SEC(".maps");
#endif

#endif
