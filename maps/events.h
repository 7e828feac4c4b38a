/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow events: what the programs tell `sluice observe` (drops, new flows, traced packets),
 * through one BPF ring buffer the agent consumes, and the counters of what could not be told.
 */
#ifndef SLUICE_MAPS_EVENTS_H
#define SLUICE_MAPS_EVENTS_H

#include "maps/types.h"

#define EVENTS_MAP	"events"
#define EVENTS_LOST_MAP "events_lost"
#define EVENTS_RATE_MAP "events_rate"
#define EVENTS_CFG_MAP	"events_cfg_v2" /* the trace switch: a data section, see below */

/* 1 MiB: ~16,000 events of 64 bytes between two reads of the agent (it reads every 100 ms). */
#define EVENTS_RING_BYTES (1u << 20)

/* flow_event.kind */
enum event_kind {
	EVENT_DROP = 1, /* a packet dropped: reason, tuple, identities */
	EVENT_NEW_FLOW, /* a new flow recorded in conntrack: translated or forwarded */
	EVENT_TRACE,	/* a packet of an established flow (EVENTS_CFG_F_TRACE) */
	EVENT_LOST,	/* userspace only: events a reader missed (count in policy) */
	EVENT_END,	/* userspace only: the end of what the agent kept (no -f) */
};

/* flow_event.flags */
#define EVENT_F_TRANSLATED (1u << 0) /* the flow leaves with another tuple (nat_*) */
#define EVENT_F_SNAT	   (1u << 1) /* its source became a node address (masquerade) */
#define EVENT_F_HAIRPIN	   (1u << 2) /* a pod picked as the backend of its own Service */
#define EVENT_F_REPLY	   (1u << 3) /* EVENT_TRACE: a reply-direction packet */
#define EVENT_F_REJECTED   (1u << 4) /* EVENT_DROP: answered ICMP port unreachable (no endpoints) */

/*
 * One event, 64 bytes. Addresses and ports in network order. svc_id is the lb4_revnat index
 * (0: no Service), backend_id the lb4_backends key. For policy drops, direction is
 * POLICY_DIR_INGRESS or POLICY_DIR_EGRESS and policy 0: a NetworkPolicy never denies by a rule,
 * only by isolating the pod and allowing nothing that matches (its "default deny").
 */
struct flow_event {
	__u64 time_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u8 kind;     /* enum event_kind */
	__u8 reason;   /* enum drop_reason (EVENT_DROP) */
	__u8 proto;
	__u8 direction; /* POLICY_DIR_* (policy drops) */
	__u32 ifindex;	/* the device the program ran on */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__be32 nat_saddr; /* EVENT_NEW_FLOW: the tuple the flow leaves with */
	__be32 nat_daddr;
	__be16 nat_sport;
	__be16 nat_dport;
	__u32 src_identity; /* EVENT_DROP: ipcache identities (IDENTITY_WORLD when none) */
	__u32 dst_identity;
	__u32 policy; /* policy_names key without POLICY_NAME_F_POLICY; 0: default deny */
	__u32 svc_id;
	__u32 backend_id;
	__u16 flags; /* EVENT_F_* */
	__u16 pad;
};
SLUICE_ASSERT_SIZE(struct flow_event, 64);

/* events_lost keys (per-CPU __u64 counters, summed by the reader). */
enum events_lost_id {
	EVENTS_LOST_RING = 0, /* the ring was full */
	EVENTS_LOST_RATE,     /* a drop over its reason's rate */
	EVENTS_LOST_MAX,
};

/*
 * Drop events are limited per reason and per CPU by a token bucket, so a flood of one kind
 * cannot fill the ring for every other: EVENTS_DROP_BURST at once, then EVENTS_DROP_RATE per
 * second. Traced packets share one more bucket (key EVENTS_RATE_TRACE). New flows are not
 * limited: each one did a conntrack insert, which bounds them already.
 */
#define EVENTS_DROP_BURST 256
#define EVENTS_DROP_RATE  1000
#define EVENTS_RATE_TRACE 255 /* events_rate key of traced packets (no drop reason) */
#define EVENTS_RATE_SLOTS 256

struct events_bucket {
	__u64 last_ns;
	__u64 tokens;
};
SLUICE_ASSERT_SIZE(struct events_bucket, 16);

/* events_cfg.flags: set by `sluice observe --trace`, off by default. */
#define EVENTS_CFG_F_TRACE (1u << 0) /* also emit every packet of established flows */

struct events_cfg {
	__u32 flags;
};
SLUICE_ASSERT_SIZE(struct events_cfg, 4);

/*
 * The trace switch is a global in a data section of its own, not a map element: a program reads
 * it with one load whose address is in the instruction (BPF_PSEUDO_MAP_VALUE, Linux 5.2), where
 * an array element costs a lookup on every established packet. libbpf makes the section an
 * array map of one element (value: struct events_cfg, BPF_F_MMAPABLE) in each object; the
 * loader pins the first object's at EVENTS_CFG_MAP and the others reuse that pin, so one write
 * turns tracing on in every program. (Pinned before as an ordinary array, "events_cfg".)
 */
#define EVENTS_CFG_SECTION ".data.events_cfg"

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_RING_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EVENTS_LOST_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events_lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EVENTS_RATE_SLOTS);
	__type(key, __u32);
	__type(value, struct events_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events_rate SEC(".maps");

/*
 * Only this variable in the section, so its map's value is exactly struct events_cfg: its
 * flags, as a plain __u32 so the skeletons need no struct of ours.
 */
__u32 events_cfg_flags SEC(EVENTS_CFG_SECTION);
#endif

#endif
