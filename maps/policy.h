/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NetworkPolicy maps: the ipcache (address -> identity), the policy rules keyed by identities,
 * and the switch that tells the datapath whether any policy exists at all.
 *
 * An identity stands for everything a policy can tell apart about an address: for a pod its
 * namespace, labels, container ports (named ports) and the ipBlocks holding its address, so
 * pods with the same namespace and labels share one (in the common case); for other addresses
 * the set of ipBlocks holding them. A new flow costs two ipcache lookups and at most two policy
 * lookups per enforced direction, however many policies, pods or CIDRs there are.
 *
 * The ipcache is kept twice: as an LPM trie (ipcache4, complete, what the CLI reads) and as an
 * exact-match hash of the same (prefix length, masked address) entries (ipcache4_exact), looked
 * up once per prefix length in use, longest first (ipcache4_lens). An LPM lookup walks one trie
 * node per branching level, so it slows as prefixes are added (an address inside one of the
 * ipBlocks: ~30-50 ns with 10 of them, ~65 ns with 1,000); a hash probe costs ~20-25 ns at any
 * size, one per distinct length. With more lengths than IPCACHE_MAX_LENGTHS, and before the
 * agent's first sync, ipcache4_lens says 0 and the LPM answers.
 */
#ifndef SLUICE_MAPS_POLICY_H
#define SLUICE_MAPS_POLICY_H

#include "maps/types.h"

#define IPCACHE4_MAP	   "ipcache4"
#define IPCACHE4_EXACT_MAP "ipcache4_exact"
#define IPCACHE4_LENS_MAP  "ipcache4_lens"
#define POLICY4_MAP	   "policy4"
#define POLICY_CFG_MAP	   "policy_cfg"
#define POLICY_NAMES_MAP   "policy_names"

#define IPCACHE_MAX_ENTRIES 65536  /* pod addresses and ipBlock prefixes */
#define POLICY_MAX_ENTRIES  262144 /* (subject, peer, direction, protocol, port prefix) rules */

/* Reserved identities; the agent allocates the rest from IDENTITY_FIRST. */
#define IDENTITY_ANY   0 /* policy4 peer: any peer (a rule without from/to) */
#define IDENTITY_WORLD 1 /* an address in no ipcache prefix */
#define IDENTITY_HOST  2 /* an address of this node itself (IPCACHE_F_HOST) */
#define IDENTITY_FIRST 256

/* ipcache4_value.flags */
#define IPCACHE_F_POD		   (1u << 0) /* a pod's own address */
#define IPCACHE_F_ISOLATED_INGRESS (1u << 1) /* a policy with Ingress selects this pod */
#define IPCACHE_F_ISOLATED_EGRESS  (1u << 2) /* a policy with Egress selects this pod */
/*
 * An address of this node (its interfaces, its Node addresses). Kubernetes defines traffic
 * between a pod and the node it runs on as always allowed (kubelet probes, host daemons), so
 * no policy judges a flow with this end.
 */
#define IPCACHE_F_HOST (1u << 3)

#define POLICY_DIR_INGRESS 0
#define POLICY_DIR_EGRESS  1

/* LPM key: prefix_len counts bits of address (0..32). */
struct ipcache4_key {
	__u32 prefix_len;
	__be32 address;
};
SLUICE_ASSERT_SIZE(struct ipcache4_key, 8);

struct ipcache4_value {
	__u32 identity;
	__u32 flags; /* IPCACHE_F_* */
};
SLUICE_ASSERT_SIZE(struct ipcache4_value, 8);

/*
 * Prefix lengths to probe ipcache4_exact with (keys: struct ipcache4_key, address masked to
 * prefix_len), longest first. count 0: use the ipcache4 LPM instead. 12 lengths cover what
 * clusters write (pods /32, ipBlocks /8 /16 /24 /0 ...) at about the cost of one LPM lookup in
 * the worst case; more fall back to the LPM.
 */
#define IPCACHE_MAX_LENGTHS 12

struct ipcache4_lengths {
	__u32 count;
	__u8 lengths[IPCACHE_MAX_LENGTHS]; /* 0..32, strictly descending */
};
SLUICE_ASSERT_SIZE(struct ipcache4_lengths, 16);

/*
 * LPM key over (subject, peer, direction, protocol, port): subject, peer and direction are
 * always matched in full. A rule with ports matches its protocol in full too (prefix_len >=
 * POLICY4_FIXED_BITS): a port range is a few port prefixes, and "every port" of a protocol is
 * prefix_len POLICY4_FIXED_BITS. A rule without ports admits every protocol, ICMP and the
 * protocols without ports included, as Kubernetes defines it: prefix_len POLICY4_ANY_PROTO_BITS,
 * proto POLICY_PROTO_ANY. The datapath looks a flow up with its protocol and destination port
 * (0 for protocols without ports; ICMP echo: see bpf/lib/parse.h), so only such a rule admits
 * ICMP, GRE and the like. Subject is the identity the policy selects (the source for egress,
 * the destination for ingress), peer the other end or IDENTITY_ANY. Identities are stored in
 * network order so the LPM's byte order is the numeric order.
 */
struct policy4_key {
	__u32 prefix_len;
	__be32 subject;
	__be32 peer;
	__u8 direction; /* POLICY_DIR_* */
	__u8 proto;	/* IPPROTO_TCP / UDP / SCTP, or POLICY_PROTO_ANY */
	__be16 port;
};
SLUICE_ASSERT_SIZE(struct policy4_key, 16);

#define POLICY4_ANY_PROTO_BITS 72 /* subject, peer, direction: every protocol and port */
#define POLICY4_FIXED_BITS     80 /* subject, peer, direction, protocol */
#define POLICY4_FULL_BITS      96
#define POLICY_PROTO_ANY       0 /* policy4_key.proto of a rule without ports (IP "protocol" 0) */

struct policy4_value {
	__u32 policy; /* policy_names key of the (first) policy giving the rule, for the CLI */
};
SLUICE_ASSERT_SIZE(struct policy4_value, 4);

/* policy_cfg[0].flags */
#define POLICY_CFG_F_ENABLED (1u << 0) /* some policy isolates some pod: look flows up */

struct policy_cfg {
	__u32 flags;
};
SLUICE_ASSERT_SIZE(struct policy_cfg, 4);

/*
 * Names for `sluice policy list`, written by the agent, never read by the datapath: an
 * identity's ("ns {labels}", "10.0.0.0/8") under its number, a policy's ("ns/name") under
 * POLICY_NAME_F_POLICY | its number.
 */
#define POLICY_NAME_F_POLICY (1u << 31)
/*
 * Under POLICY_NAME_F_ISOLATION | an identity's number: the policies isolating its pods,
 * "ingress=ns/a,ns/b egress=ns/c" (`sluice explain`'s "default deny of ..."). Identity and
 * policy numbers therefore stay below this bit.
 */
#define POLICY_NAME_F_ISOLATION (1u << 30)
#define POLICY_NAME_LEN		128

struct policy_name {
	char name[POLICY_NAME_LEN];
};

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPCACHE_MAX_ENTRIES);
	__type(key, __u32);
	__type(value, struct policy_name);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, IPCACHE_MAX_ENTRIES);
	__type(key, struct ipcache4_key);
	__type(value, struct ipcache4_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ipcache4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IPCACHE_MAX_ENTRIES);
	__type(key, struct ipcache4_key);
	__type(value, struct ipcache4_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ipcache4_exact SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ipcache4_lengths);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ipcache4_lens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, POLICY_MAX_ENTRIES);
	__type(key, struct policy4_key);
	__type(value, struct policy4_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct policy_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy_cfg SEC(".maps");
#endif

#endif
