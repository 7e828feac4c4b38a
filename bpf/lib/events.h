/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow events (maps/events.h): drops, new flows and traced packets into the events ring, for
 * `sluice observe`. Nothing here runs for a packet of an established flow unless tracing is on.
 */
#ifndef SLUICE_BPF_EVENTS_H
#define SLUICE_BPF_EVENTS_H

#include "bpf/lib/common.h"
#include "bpf/lib/nat.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/policy.h"
#include "maps/ct.h"
#include "maps/events.h"

/*
 * Set by sluice-pktbench's loader only (the agent never does): no event at all, the code that
 * would tell one pruned by the verifier, so the bench measures what emitting costs. Read-only
 * data: a constant to the verifier.
 */
const volatile __u8 events_off = 0;

static __always_inline void events_count_lost(__u32 id)
{
	__u64 *count = bpf_map_lookup_elem(&events_lost, &id);

	if (count)
		(*count)++;
}

/*
 * SLOT's token bucket on this CPU (per CPU: no atomics, no sharing between CPUs) admits one
 * more event, or counts it lost. Tokens are scaled by 1e9 so a refill is one multiplication.
 */
static __always_inline bool events_admit(__u32 slot)
{
	const __u64 scale = 1000000000ull, cap = (__u64)EVENTS_DROP_BURST * scale;
	struct events_bucket *bucket = bpf_map_lookup_elem(&events_rate, &slot);
	__u64 now = bpf_ktime_get_ns(), tokens;

	if (!bucket)
		return false;
	tokens = bucket->tokens;
	if (!bucket->last_ns)
		tokens = cap; /* first use: a full burst */
	else if (now > bucket->last_ns)
		tokens += (now - bucket->last_ns) * EVENTS_DROP_RATE;
	if (tokens > cap)
		tokens = cap;
	bucket->last_ns = now;
	if (tokens < scale) {
		bucket->tokens = tokens;
		events_count_lost(EVENTS_LOST_RATE);
		return false;
	}
	bucket->tokens = tokens - scale;
	return true;
}

/* A zeroed event of KIND in the ring, or NULL (counted lost) when the ring is full. */
static __always_inline struct flow_event *events_reserve(__u8 kind, __u32 ifindex)
{
	struct flow_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);

	if (!event) {
		events_count_lost(EVENTS_LOST_RING);
		return NULL;
	}
	__builtin_memset(event, 0, sizeof(*event));
	event->time_ns = bpf_ktime_get_ns();
	event->kind = kind;
	event->ifindex = ifindex;
	return event;
}

/*
 * EVENT's tuple from PKT, with REASON and FLAGS; for a drop, the identities of both ends too
 * (ipcache), which only drops carry.
 */
static __always_inline void events_fill(struct flow_event *event, const struct pkt4 *pkt,
					__u32 reason, __u32 flags)
{
	struct ipcache4_lengths *lengths;
	struct ipcache4_value *identity;
	__u32 zero = 0;

	event->reason = reason;
	event->flags = flags;
	event->proto = pkt->proto;
	event->saddr = pkt->saddr;
	event->daddr = pkt->daddr;
	event->sport = pkt->sport;
	event->dport = pkt->dport;
	if (event->kind == EVENT_DROP && pkt->saddr) {
		lengths = bpf_map_lookup_elem(&ipcache4_lens, &zero);
		identity = ipcache4_lookup(pkt->saddr, lengths);
		event->src_identity = identity ? identity->identity : IDENTITY_WORLD;
		identity = ipcache4_lookup(pkt->daddr, lengths);
		event->dst_identity = identity ? identity->identity : IDENTITY_WORLD;
	}
	event->direction = reason == DROP_POLICY_EGRESS ? POLICY_DIR_EGRESS : POLICY_DIR_INGRESS;
}

/*
 * An event of KIND about the packet in SKB as it is now, parsed again: drops are rare, so the
 * paths that drop keep no parsed copy alive for this. A global function: the verifier checks it
 * once, not once per path that reaches a drop. Returns 0.
 */
__noinline int events_packet(struct __sk_buff *skb, __u32 kind, __u32 reason, __u32 flags)
{
	struct flow_event *event;
	struct pkt4 pkt = {};

	if (events_off || !events_admit(kind == EVENT_DROP ? reason & 0xff : EVENTS_RATE_TRACE))
		return 0;
	event = events_reserve(kind, skb->ifindex);
	if (!event)
		return 0;
	parse_pkt4(skb, &pkt);
	events_fill(event, &pkt, reason, flags);
	bpf_ringbuf_submit(event, 0);
	return 0;
}

/*
 * A drop of REASON at XDP (xdp_node), from PKT, the tuple XDP parsed: there is no skb to parse
 * again, and the helper that copies an XDP frame's bytes (bpf_xdp_output) writes to a perf
 * buffer, not the ring. Same rate limit per reason as tc's drops (the buckets are shared).
 */
static __always_inline void events_xdp_drop(struct xdp_md *ctx, const struct pkt4 *pkt,
					    __u32 reason)
{
	struct flow_event *event;

	if (events_off || !events_admit(reason & 0xff))
		return;
	event = events_reserve(EVENT_DROP, ctx->ingress_ifindex);
	if (!event)
		return;
	events_fill(event, pkt, reason, 0);
	bpf_ringbuf_submit(event, 0);
}

/* A drop of REASON (enum drop_reason), before the packet is freed. */
static __always_inline void events_drop(struct __sk_buff *skb, __u32 reason)
{
	events_packet(skb, EVENT_DROP, reason, 0);
}

/*
 * Is every packet of established flows traced? One load of the events_cfg_flags global and a test
 * (maps/events.h): the one cost tracing adds to the fast path while it is off.
 */
static __always_inline bool events_is_tracing(void)
{
	return events_cfg_flags & EVENTS_CFG_F_TRACE;
}

/*
 * A new flow recorded in conntrack: PKT as it came, leaving as OUT, under ENTRY's Service and
 * backend (0 for a flow to no Service) with its CT_F_* flags.
 */
static __always_inline void events_new_flow(struct __sk_buff *skb, const struct pkt4 *pkt,
					    const struct nat4_tuple *out, __u32 svc_id,
					    __u32 backend_id, __u8 ct_flags)
{
	struct flow_event *event;

	if (events_off)
		return;
	event = events_reserve(EVENT_NEW_FLOW, skb->ifindex);
	if (!event)
		return;
	event->proto = pkt->proto;
	event->saddr = pkt->saddr;
	event->daddr = pkt->daddr;
	event->sport = pkt->sport;
	event->dport = pkt->dport;
	event->nat_saddr = out->saddr;
	event->nat_daddr = out->daddr;
	event->nat_sport = out->sport;
	event->nat_dport = out->dport;
	event->svc_id = svc_id;
	event->backend_id = backend_id;
	if (!(ct_flags & CT_F_DIRECT))
		event->flags |= EVENT_F_TRANSLATED;
	if (ct_flags & CT_F_SNAT)
		event->flags |= EVENT_F_SNAT;
	if (ct_flags & CT_F_HAIRPIN)
		event->flags |= EVENT_F_HAIRPIN;
	bpf_ringbuf_submit(event, 0);
}

#endif
