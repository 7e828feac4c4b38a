/* SPDX-License-Identifier: Apache-2.0 */
/* Service load-balancing maps: frontends (VIP:port:proto), backend slots, backends, rev-NAT. */
#ifndef SLUICE_MAPS_LB_H
#define SLUICE_MAPS_LB_H

#include "maps/types.h"

/*
 * A service frontend is looked up by (VIP, port, protocol). Its value names the live slot
 * generation: the agent writes a complete new set of slots under the other generation, then
 * flips the frontend value in one map update, so a packet sees either the old backend set or
 * the new one, never a mix (see loader/sync/sync.c).
 */
#define LB4_SVC_MAP	   "lb4_svc"
#define LB4_SLOTS_MAP	   "lb4_slots"
#define LB4_BACKENDS_MAP   "lb4_backends"
#define LB4_REVNAT_MAP	   "lb4_revnat"
#define LB4_VIPS_MAP	   "lb4_vips"
#define LB4_AFFINITY_MAP   "lb4_affinity"
#define LB4_SRC_RANGES_MAP "lb4_src_ranges"
#define LB4_MAGLEV_MAP	   "lb4_maglev"

#define LB_MAX_SERVICES		65536	/* frontends (VIP:port:proto) per node */
#define LB_MAX_BACKENDS		262144	/* distinct backend addr:port:proto per node */
#define LB_MAX_SLOTS		1048576 /* backend slots over all services, both generations */
#define LB_MAX_BACKENDS_PER_SVC 4096	/* a larger EndpointSlice set is refused by the agent */
#define LB_MAX_AFFINITY		65536	/* (service, client) pairs remembered, LRU */
#define LB_MAX_SRC_RANGES	16384	/* loadBalancerSourceRanges CIDRs over all services */

/* lb4_service.flags */
#define LB_SVC_F_CLUSTER_IP    (1u << 0)
#define LB_SVC_F_NODE_PORT     (1u << 1)
#define LB_SVC_F_EXTERNAL_IP   (1u << 2)
#define LB_SVC_F_LOAD_BALANCER (1u << 3)
#define LB_SVC_F_SNAT	       (1u << 4) /* external Cluster policy: source becomes the node */
#define LB_SVC_F_LOCAL_ONLY    (1u << 5) /* a Local traffic policy chose the backends */
#define LB_SVC_F_AFFINITY      (1u << 6) /* sessionAffinity ClientIP: see lb4_affinity */
#define LB_SVC_F_SOURCE_RANGES (1u << 7) /* loadBalancerSourceRanges: see lb4_src_ranges */
#define LB_SVC_F_MAGLEV	       (1u << 8) /* backend by Maglev table (lb4_maglev), not at random */

/* lb4_key.scope: which program looks the frontend up. */
#define LB4_SCOPE_INTERNAL 0 /* traffic from pods on this node (the pod program) */
#define LB4_SCOPE_EXTERNAL 1 /* traffic from outside the node (the node's uplink programs) */

struct lb4_key {
	__be32 address; /* service VIP; 0 for a NodePort (any of the node's addresses) */
	__be16 port;	/* service port */
	__u8 proto;	/* IPPROTO_TCP / IPPROTO_UDP / IPPROTO_SCTP */
	__u8 scope;	/* LB4_SCOPE_* */
};
SLUICE_ASSERT_SIZE(struct lb4_key, 8);

struct lb4_service {
	__u32 svc_id;		  /* rev-NAT index and slot namespace; 0 is never used */
	__u32 affinity_timeout_s; /* with LB_SVC_F_AFFINITY: sessionAffinity timeoutSeconds */
	__u16 count;		  /* backends in the live generation; 0 = reject (no endpoints) */
	__u16 flags;		  /* LB_SVC_F_* */
	__u8 gen;		  /* live slot generation, 0 or 1 */
	__u8 pad[3];
};
SLUICE_ASSERT_SIZE(struct lb4_service, 16);

struct lb4_slot_key {
	__u32 svc_id;
	__u16 index; /* 0 .. count-1 */
	__u8 gen;
	__u8 pad;
};
SLUICE_ASSERT_SIZE(struct lb4_slot_key, 8);
/* lb4_slots value: __u32 backend id (0 is never used). */

struct lb4_backend {
	__be32 address; /* pod IP */
	__be16 port;	/* target port */
	__u8 proto;
	__u8 flags;
};
SLUICE_ASSERT_SIZE(struct lb4_backend, 8);

struct lb4_revnat {
	__be32 address; /* VIP restored as the source of replies */
	__be16 port;
	__u8 proto;
	__u8 pad;
	char name[SLUICE_NAME_LEN]; /* "namespace/name:portname", for the CLI only */
};
SLUICE_ASSERT_SIZE(struct lb4_revnat, 72);

/*
 * lb4_vips: every address that is a service frontend, with the number of frontends on it.
 * Packets whose ports cannot be read (fragments, truncated L4) are recognised as service
 * traffic by address alone and dropped rather than leaked to the routing table untranslated.
 */
struct lb4_vip {
	__u32 frontends;
};
SLUICE_ASSERT_SIZE(struct lb4_vip, 4);

/*
 * sessionAffinity ClientIP: the backend a client was last sent to, per service. Like kube-proxy's
 * "recent" match the entry is valid for affinity_timeout_s after its last use; the agent deletes
 * the entries of a backend that leaves the service.
 */
struct lb4_affinity_key {
	__u32 svc_id;
	__be32 client;
};
SLUICE_ASSERT_SIZE(struct lb4_affinity_key, 8);

struct lb4_affinity {
	__u64 last_used_ns; /* datapath clock */
	__u32 backend_id;
	__u32 pad;
};
SLUICE_ASSERT_SIZE(struct lb4_affinity, 16);

/*
 * Maglev consistent hashing (issue 5). A frontend with LB_SVC_F_MAGLEV picks the backend of a new
 * flow as table[hash(5-tuple) % M], where table is the lb4_maglev value of (svc_id, gen): M
 * backend ids laid out by the Maglev population (loader/desired/maglev.c), so every node computes
 * the same table and a backend change moves only the flows it must.
 *
 * Layout: one hash-map entry per (frontend, generation) whose value is the whole table. M is a
 * node setting (sluice agent --maglev-table-size, a prime): the loader sets the map's value size
 * to M * 4 and the programs' lb_maglev_size before load. The new-flow path stays at three
 * lookups (frontend, table, backend), and the agent replaces a frontend's table with the same
 * generation flip as its slots: write the table of the inactive generation, flip lb4_svc, delete
 * the retired one after the grace period. The slots are still written in Maglev mode: they are
 * the backend set the agent adopts on restart, and the datapath falls back to them (at random)
 * when a frontend's table is missing, e.g. just after a restart that changed M.
 *
 * Memory: BPF_F_NO_PREALLOC, so only live tables use memory. The kernel allocates each as one
 * object of M * 4 bytes + 64 (element header, key, allocator link) from a power-of-two kmalloc
 * cache, so the primes just below a power of two waste nearly half: M = 1021 takes 8 KiB, M = 997
 * takes 4 KiB (measured in /proc/slabinfo). Sizes that fill their object: 491 (2 KiB), 997
 * (4 KiB), 2029 (8 KiB), 4079 (16 KiB), 8171 (32 KiB), 16363 (64 KiB). At the default, 10,000
 * frontends take 40 MiB, 80 MiB for the moment every one of them holds two generations.
 */
#define LB_MAGLEV_SIZE_DEFAULT 997   /* prime; 4 KiB per table; M >= 100 x N up to 10 backends */
#define LB_MAGLEV_SIZE_MIN     251   /* smallest accepted */
#define LB_MAGLEV_SIZE_MAX     16381 /* largest accepted (16363 fits 64 KiB, 16381 takes 128) */
#define LB_MAGLEV_MAX_TABLES   (2 * LB_MAX_SERVICES) /* both generations of every frontend */

struct lb4_maglev_key {
	__u32 svc_id;
	__u8 gen;
	__u8 pad[3];
};
SLUICE_ASSERT_SIZE(struct lb4_maglev_key, 8);
/* lb4_maglev value: __u32 backend_ids[M] (0 is never used: every entry names a backend). */

/*
 * loadBalancerSourceRanges: an LPM trie over (service id, client address). A frontend with
 * LB_SVC_F_SOURCE_RANGES admits a new flow only from an address under one of its prefixes:
 * prefix_len is 32 (the service id) + the CIDR's length.
 */
struct lb4_src_range_key {
	__u32 prefix_len;
	__be32 svc_id; /* big-endian so the trie's bit order matches the key's */
	__be32 address;
};
SLUICE_ASSERT_SIZE(struct lb4_src_range_key, 12);

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_MAX_AFFINITY);
	__type(key, struct lb4_affinity_key);
	__type(value, struct lb4_affinity);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, LB_MAX_SRC_RANGES);
	__type(key, struct lb4_src_range_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_src_ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, __be32);
	__type(value, struct lb4_vip);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, struct lb4_key);
	__type(value, struct lb4_service);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SLOTS);
	__type(key, struct lb4_slot_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_slots SEC(".maps");

/*
 * Sizes rather than BTF types: the loader resizes the value to M * 4 before load, and a BTF
 * value type would then no longer match the map's value size.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAGLEV_MAX_TABLES);
	__uint(key_size, sizeof(struct lb4_maglev_key));
	__uint(value_size, LB_MAGLEV_SIZE_DEFAULT * sizeof(__u32));
	/* Memory only for live tables; preallocated would be max_entries * M * 4 bytes up front. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb4_backend);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct lb4_revnat);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_revnat SEC(".maps");
#endif

#endif
