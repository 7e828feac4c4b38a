/* SPDX-License-Identifier: Apache-2.0 */
/* Connection tracking for translated flows: one LRU entry per direction. */
#ifndef SLUICE_MAPS_CT_H
#define SLUICE_MAPS_CT_H

#include "maps/types.h"

#define CT4_MAP "ct4"

/* Default size; `sluice agent --ct-size N` overrides it before the map is created. */
#define CT_DEFAULT_ENTRIES 262144

/* Lifetimes in seconds (cf. Linux nf_conntrack and Cilium's defaults, shortened for a node). */
#define CT_LIFETIME_TCP_SYN    60    /* handshake not finished */
#define CT_LIFETIME_TCP        21600 /* established: 6 h */
#define CT_LIFETIME_TCP_CLOSE  10    /* FIN or RST seen */
#define CT_LIFETIME_NONTCP     60    /* UDP */
#define CT_REFRESH_NS          1000000000ull /* expiry is rewritten at most once a second */

/* ct_entry.flags */
#define CT_F_REPLY      (1u << 0) /* entry for the backend -> client direction */
#define CT_F_HAIRPIN    (1u << 1) /* client picked itself: source rewritten to the hairpin IP */
#define CT_F_CLOSING    (1u << 2) /* FIN or RST seen */
#define CT_F_SEEN_REPLY (1u << 3) /* forward entry: a reply has been seen */

/* Tuple as seen on the wire at the host-side veth, before any rewrite. */
struct ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};
SLUICE_ASSERT_SIZE(struct ct4_key, 16);

/*
 * Forward entry (client -> VIP): nat_daddr/nat_dport is the chosen backend, nat_saddr the
 * hairpin source or 0. Reply entry (backend -> client or hairpin IP): the source becomes the
 * service frontend found in lb4_revnat[svc_id]; nat_daddr is the client to restore for hairpin
 * flows, else 0.
 */
struct ct_entry {
	__u64 expires_ns; /* bpf_ktime_get_coarse_ns() deadline (CLOCK_MONOTONIC base) */
	__be32 nat_daddr;
	__be32 nat_saddr;
	__be16 nat_dport;
	__u8 flags;     /* CT_F_* */
	__u8 tcp_flags; /* union of TCP flags seen in this direction */
	__u32 svc_id;
	__u32 backend_id;
	__u32 pad;
};
SLUICE_ASSERT_SIZE(struct ct_entry, 32);

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_DEFAULT_ENTRIES);
	__type(key, struct ct4_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct4 SEC(".maps");
#endif

#endif
