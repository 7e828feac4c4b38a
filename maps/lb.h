/* SPDX-License-Identifier: Apache-2.0 */
/* Service load-balancing maps: frontends (VIP:port:proto), backend slots, backends, rev-NAT. */
#ifndef SLUICE_MAPS_LB_H
#define SLUICE_MAPS_LB_H

#include "maps/types.h"

/*
 * A service frontend is looked up by (VIP, port, protocol). Its value names the live slot
 * generation: the agent writes a complete new set of slots under the other generation, then
 * flips the frontend value in one map update, so a packet sees either the old backend set or
 * the new one, never a mix (see loader/sync.c).
 */
#define LB4_SVC_MAP	 "lb4_svc"
#define LB4_SLOTS_MAP	 "lb4_slots"
#define LB4_BACKENDS_MAP "lb4_backends"
#define LB4_REVNAT_MAP	 "lb4_revnat"
#define LB4_VIPS_MAP	 "lb4_vips"

#define LB_MAX_SERVICES		65536	/* frontends (VIP:port:proto) per node */
#define LB_MAX_BACKENDS		262144	/* distinct backend addr:port:proto per node */
#define LB_MAX_SLOTS		1048576 /* backend slots over all services, both generations */
#define LB_MAX_BACKENDS_PER_SVC 4096	/* a larger EndpointSlice set is refused by the agent */

/* lb4_service.flags */
#define LB_SVC_F_CLUSTER_IP (1u << 0)

struct lb4_key {
	__be32 address; /* service VIP */
	__be16 port;	/* service port */
	__u8 proto;	/* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad;
};
SLUICE_ASSERT_SIZE(struct lb4_key, 8);

struct lb4_service {
	__u32 svc_id; /* rev-NAT index and slot namespace; 0 is never used */
	__u16 count;  /* backends in the live generation; 0 = reject (no endpoints) */
	__u8 gen;     /* live slot generation, 0 or 1 */
	__u8 flags;   /* LB_SVC_F_* */
};
SLUICE_ASSERT_SIZE(struct lb4_service, 8);

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

#ifdef __bpf__
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
