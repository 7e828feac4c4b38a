/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * NetworkPolicy for a new flow: identities of both ends from the ipcache, then the source's
 * egress rules and the destination's ingress rules, each only when a policy isolates that end.
 * Called once per new flow, of any IP protocol (ICMP echo and protocols without ports match only
 * rules without ports: see maps/policy.h), and for each ICMP message that opens no flow; the
 * flow's conntrack entries carry the verdict after that.
 */
#ifndef SLUICE_BPF_POLICY_H
#define SLUICE_BPF_POLICY_H

#include "bpf/lib/common.h"
#include "maps/ct.h"
#include "maps/policy.h"
#include "maps/stats.h"

struct policy_verdict {
	bool is_tracked; /* some end is isolated: track the flow so replies pass */
	__u8 policy;	 /* CT_POLICY_* for the flow's entries */
};

static __always_inline bool policy_is_enabled(void)
{
	__u32 zero = 0;
	struct policy_cfg *cfg = bpf_map_lookup_elem(&policy_cfg, &zero);

	return cfg && (cfg->flags & POLICY_CFG_F_ENABLED);
}

/*
 * The identity of ADDRESS: its longest ipcache prefix, or NULL (IDENTITY_WORLD). LENGTHS (may
 * be NULL) is ipcache4_lens[0]: with a count, one exact-match probe per prefix length in use,
 * longest first, so the cost does not depend on how many prefixes there are; without one, the
 * LPM trie, which holds the same entries.
 */
static __always_inline struct ipcache4_value *
ipcache4_lookup(__be32 address, const struct ipcache4_lengths *lengths)
{
	struct ipcache4_key key = {.prefix_len = 32, .address = address};
	struct ipcache4_value *value;
	__u32 i, length;

	if (!lengths || !lengths->count)
		return bpf_map_lookup_elem(&ipcache4, &key);
	for (i = 0; i < IPCACHE_MAX_LENGTHS; i++) {
		if (i >= lengths->count)
			break;
		length = lengths->lengths[i];
		if (length > 32)
			break;
		key.prefix_len = length;
		/* The low 32 bits of 0xffffffff00000000 >> length: length leading ones. */
		key.address = address & bpf_htonl((__u32)(0xffffffff00000000ull >> length));
		value = bpf_map_lookup_elem(&ipcache4_exact, &key);
		if (value)
			return value;
	}
	return NULL;
}

/* A rule for (subject, peer) or (subject, any peer) admits proto/port. */
static __always_inline bool policy4_allows(__u32 subject, __u32 peer, __u8 direction, __u8 proto,
					   __be16 port)
{
	struct policy4_key key = {
	    .prefix_len = POLICY4_FULL_BITS,
	    .subject = bpf_htonl(subject),
	    .peer = bpf_htonl(peer),
	    .direction = direction,
	    .proto = proto,
	    .port = port,
	};

	if (bpf_map_lookup_elem(&policy4, &key))
		return true;
	key.peer = bpf_htonl(IDENTITY_ANY);
	return bpf_map_lookup_elem(&policy4, &key) != NULL;
}

/*
 * The verdict for a new flow saddr -> daddr:dport (after any DNAT). Ingress is checked for the
 * destination when it is a pod; egress for the source when IS_LOCAL_SOURCE (the pod program:
 * every packet it sees comes from a pod of this node; traffic from outside the node had its
 * egress judged where it left). A pod reaching itself, and a pod and its node reaching each
 * other, are never blocked. SRC_IDENTITY (a constant at each call): IDENTITY_ANY looks the source
 * up in the ipcache; any other is the identity of a remote pod as its node vouched for it (the
 * tunnel's VNI), taken as is, and never a local source. Returns 0 (allowed) with *verdict set, or
 * -DROP_POLICY_EGRESS / -DROP_POLICY_INGRESS.
 */
static __always_inline int policy4_judge(__be32 saddr, __be32 daddr, __u8 proto, __be16 dport,
					 bool is_local_source, __u32 src_identity,
					 struct policy_verdict *verdict)
{
	struct ipcache4_value *src, *dst;
	struct ipcache4_lengths *lengths;
	__u32 src_id = src_identity, dst_id, src_flags = 0, flags, zero = 0;

	verdict->is_tracked = false;
	verdict->policy = CT_POLICY_NONE;
	if (!policy_is_enabled())
		return 0;
	lengths = bpf_map_lookup_elem(&ipcache4_lens, &zero);
	src = ipcache4_lookup(saddr, lengths);
	if (src_identity == IDENTITY_ANY) {
		src_id = src ? src->identity : IDENTITY_WORLD;
		src_flags = src ? src->flags : 0;
	} else if (src) {
		/*
		 * The VNI's identity is the one judged, but the source pod's isolation still makes
		 * the flow tracked here: else its reply, leaving the destination pod here, would be
		 * judged as a new flow by the source's ingress policy and dropped.
		 */
		src_flags = src->flags & (IPCACHE_F_ISOLATED_INGRESS | IPCACHE_F_ISOLATED_EGRESS);
	}
	dst = ipcache4_lookup(daddr, lengths);
	dst_id = dst ? dst->identity : IDENTITY_WORLD;
	flags = src_flags | (dst ? dst->flags : 0);
	if (!(flags & (IPCACHE_F_ISOLATED_INGRESS | IPCACHE_F_ISOLATED_EGRESS)) ||
	    (flags & IPCACHE_F_HOST))
		return 0;
	verdict->is_tracked = true;
	if (saddr == daddr)
		return 0;
	if (is_local_source && (src_flags & IPCACHE_F_ISOLATED_EGRESS)) {
		if (!policy4_allows(src_id, dst_id, POLICY_DIR_EGRESS, proto, dport))
			return -DROP_POLICY_EGRESS;
		verdict->policy = CT_POLICY_ALLOWED;
	}
	if (dst && (dst->flags & (IPCACHE_F_POD | IPCACHE_F_ISOLATED_INGRESS)) ==
		       (IPCACHE_F_POD | IPCACHE_F_ISOLATED_INGRESS)) {
		if (!policy4_allows(dst_id, src_id, POLICY_DIR_INGRESS, proto, dport))
			return -DROP_POLICY_INGRESS;
		verdict->policy = CT_POLICY_ALLOWED;
	}
	return 0;
}

/* A new flow from a pod of this node (the pod program). */
static __always_inline int policy4_check(__be32 saddr, __be32 daddr, __u8 proto, __be16 dport,
					 struct policy_verdict *verdict)
{
	return policy4_judge(saddr, daddr, proto, dport, true, IDENTITY_ANY, verdict);
}

/*
 * A new flow from outside the node into a pod of this node (the uplink and tunnel programs).
 * SRC_IDENTITY: the source's identity as the tunnel's VNI carried it, or IDENTITY_ANY to look
 * the source up.
 */
static __always_inline int policy4_check_ingress(__be32 saddr, __u32 src_identity, __be32 daddr,
						 __u8 proto, __be16 dport,
						 struct policy_verdict *verdict)
{
	return policy4_judge(saddr, daddr, proto, dport, false, src_identity, verdict);
}

#endif
