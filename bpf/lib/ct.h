/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Conntrack of translated flows: lookup with expiry, lifetime refresh, reply-port claims. */
#ifndef SLUICE_BPF_CT_H
#define SLUICE_BPF_CT_H

#include "bpf/lib/common.h"
#include "bpf/lib/parse.h"
#include "maps/ct.h"
#include "maps/stats.h"

#define NSEC_PER_SEC 1000000000ull

/* The datapath clock (see maps/ct.h); the helper only until the loader starts the timer. */
static __always_inline __u64 ct_now(void)
{
	__u32 zero = 0;
	struct clock_value *clock_value = bpf_map_lookup_elem(&clock, &zero);

	if (likely(clock_value && clock_value->now_ns))
		return clock_value->now_ns;
	return bpf_ktime_get_coarse_ns();
}

static int clock_tick(void *map, __u32 *key, struct clock_value *value)
{
	value->now_ns = bpf_ktime_get_coarse_ns();
	bpf_timer_start(&value->timer, CLOCK_TICK_NS, 0);
	return 0;
}

/* Starts the clock's timer; run once by the loader through BPF_PROG_TEST_RUN. */
static __always_inline int ct_clock_start(void)
{
	__u32 zero = 0;
	struct clock_value *value = bpf_map_lookup_elem(&clock, &zero);
	int err;

	if (!value)
		return -1;
	value->now_ns = bpf_ktime_get_coarse_ns();
	err = bpf_timer_init(&value->timer, &clock, CLOCK_MONOTONIC);
	if (err && err != -EBUSY) /* -EBUSY: already running, e.g. started by an earlier agent */
		return err;
	if (!err)
		bpf_timer_set_callback(&value->timer, clock_tick);
	return bpf_timer_start(&value->timer, CLOCK_TICK_NS, 0);
}

static __always_inline void ct4_key_of(struct ct4_key *key, const struct pkt4 *pkt)
{
	key->saddr = pkt->saddr;
	key->daddr = pkt->daddr;
	key->sport = pkt->sport;
	key->dport = pkt->dport;
	key->proto = pkt->proto;
}

/* An expired entry is a miss: the flow is new again, as after conntrack's own timeout. */
static __always_inline struct ct_entry *ct4_lookup(const struct ct4_key *key, __u64 now)
{
	struct ct_entry *entry = bpf_map_lookup_elem(&ct4, key);

	if (entry && entry->expires_ns < now)
		return NULL;
	return entry;
}

static __always_inline __u64 ct_lifetime_ns(__u8 proto, __u8 flags, __u8 tcp_flags)
{
	if (proto != IPPROTO_TCP)
		return CT_LIFETIME_NONTCP * NSEC_PER_SEC;
	if (flags & CT_F_CLOSING)
		return CT_LIFETIME_TCP_CLOSE * NSEC_PER_SEC;
	if ((tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		return CT_LIFETIME_TCP_SYN * NSEC_PER_SEC;
	return CT_LIFETIME_TCP * NSEC_PER_SEC;
}

/*
 * Extends the entry's life for a packet of its flow. Lifetimes only grow, except when FIN or
 * RST closes the flow. The entry is written at most once a second per direction so that
 * established traffic does not bounce its cache line between CPUs.
 */
static __always_inline void ct4_refresh(struct ct_entry *entry, const struct pkt4 *pkt, __u64 now)
{
	__u8 flags = entry->flags;
	__u64 expires;

	if (pkt->proto == IPPROTO_TCP) {
		if (pkt->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
			flags |= CT_F_CLOSING;
		if (pkt->tcp_flags & ~entry->tcp_flags)
			entry->tcp_flags |= pkt->tcp_flags;
	}
	expires = now + ct_lifetime_ns(pkt->proto, flags, pkt->tcp_flags);
	if (flags != entry->flags) {
		entry->flags = flags;
		entry->expires_ns = expires;
	} else if (expires > entry->expires_ns + CT_REFRESH_NS) {
		entry->expires_ns = expires;
	}
}

/* The key of the other direction: the reverse of the tuple this direction leaves with. */
static __always_inline void ct4_peer_key(struct ct4_key *key, const struct ct_entry *entry,
					 __u8 proto)
{
	key->saddr = entry->nat_daddr;
	key->daddr = entry->nat_saddr;
	key->sport = entry->nat_dport;
	key->dport = entry->nat_sport;
	key->proto = proto;
}

/* Marks the other direction's entry closing when this direction sends FIN or RST. */
static __always_inline void ct4_close_peer(const struct ct_entry *entry, const struct pkt4 *pkt,
					   __u64 now)
{
	struct ct4_key peer_key = {};
	struct ct_entry *peer;

	ct4_peer_key(&peer_key, entry, pkt->proto);
	peer = bpf_map_lookup_elem(&ct4, &peer_key);
	if (peer && !(peer->flags & CT_F_CLOSING)) {
		peer->flags |= CT_F_CLOSING;
		peer->expires_ns = now + CT_LIFETIME_TCP_CLOSE * NSEC_PER_SEC;
	}
}

/*
 * A connection opened straight to a backend from the same port a closed service flow used has
 * the reversed tuple of that flow's reply entry: its replies would be rewritten to the VIP. A
 * SYN that is no service traffic retires such a closing service flow (both directions), as a
 * SYN to a TIME_WAIT tuple ends the old conntrack in Linux. Only SYNs pay for the lookup.
 */
static __always_inline void ct4_retire_closed(const struct pkt4 *pkt, __u64 now)
{
	struct ct4_key key = {
	    .saddr = pkt->daddr,
	    .daddr = pkt->saddr,
	    .sport = pkt->dport,
	    .dport = pkt->sport,
	    .proto = pkt->proto,
	};
	struct ct4_key peer_key = {};
	struct ct_entry *entry;

	if ((pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return;
	entry = ct4_lookup(&key, now);
	if (!entry || (entry->flags & (CT_F_REPLY | CT_F_CLOSING)) != (CT_F_REPLY | CT_F_CLOSING))
		return;
	ct4_peer_key(&peer_key, entry, pkt->proto);
	bpf_map_delete_elem(&ct4, &peer_key);
	bpf_map_delete_elem(&ct4, &key);
}

/* Where a new flow's source port is allocated (snat4_ports()): host order. */
struct ct4_port_range {
	__u16 min;
	__u16 max;
	__u16 probes; /* candidates tried before the flow is dropped */
};

/*
 * Allocates the source port of a new flow by claiming its reply entry: reply_key is (backend,
 * node address, backend port, candidate port), and the reply entry is written with BPF_NOEXIST,
 * so two flows can never hold the same (node address, port, backend) tuple, even when two CPUs
 * race for it. An expired entry is taken over. Candidates start at a random offset in
 * [range->min, range->max] and go up, range->probes of them. On success reply_key->dport is the
 * port (network order) and the reply entry is in ct4. Returns 0 or -DROP_NAT_NO_PORT.
 */
static __always_inline int ct4_claim_port(struct ct4_key *reply_key, const struct ct_entry *reply,
					  __u64 now, const struct ct4_port_range *range)
{
	__u32 span = (__u32)range->max - range->min + 1;
	__u32 offset, port;
	struct ct_entry *taken;

	if (range->max < range->min)
		return -DROP_NAT_NO_PORT;
	offset = bpf_get_prandom_u32() % span;
	for (int i = 0; i < range->probes; i++) {
		port = range->min + (offset + i) % span;
		reply_key->dport = bpf_htons((__u16)port);
		if (!bpf_map_update_elem(&ct4, reply_key, reply, BPF_NOEXIST))
			return 0;
		taken = bpf_map_lookup_elem(&ct4, reply_key);
		if (taken && taken->expires_ns < now &&
		    !bpf_map_update_elem(&ct4, reply_key, reply, BPF_EXIST))
			return 0;
	}
	return -DROP_NAT_NO_PORT;
}

#endif
