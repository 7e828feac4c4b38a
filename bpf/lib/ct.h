/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack of translated flows: lookup with expiry, lifetime refresh, confirmation, reply-port
 * claims, and early drop when the table is full.
 */
#ifndef SLUICE_BPF_CT_H
#define SLUICE_BPF_CT_H

#include "bpf/lib/common.h"
#include "bpf/lib/parse.h"
#include "maps/ct.h"
#include "maps/stats.h"

#define NSEC_PER_SEC 1000000000ull

/* One load or store the compiler neither repeats, merges nor drops: fields other CPUs race on. */
#define CT_READ_ONCE(x)	      (*(volatile typeof(x) *)&(x))
#define CT_WRITE_ONCE(x, val) (*(volatile typeof(x) *)&(x) = (val))

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

/*
 * The lifetime of one direction's entry: FLAGS and TCP_FLAGS are the entry's (after this
 * packet), PKT_TCP_FLAGS the packet's. A SYN or SYN-ACK is a handshake in progress; the first
 * packet without SYN makes the direction established (and the client's first ACK its peer,
 * ct4_update_peer). Closing: half-closed while only one direction sent FIN, closed once both
 * did or either sent RST (maps/ct.h).
 */
static __always_inline __u64 ct_lifetime_ns(__u8 proto, __u8 flags, __u8 tcp_flags,
					    __u8 pkt_tcp_flags)
{
	if (proto != IPPROTO_TCP)
		return CT_LIFETIME_NONTCP * NSEC_PER_SEC;
	if (likely(!(flags & CT_F_CLOSING)))
		return (pkt_tcp_flags & TCP_FLAG_SYN) ? CT_LIFETIME_TCP_SYN * NSEC_PER_SEC
						      : CT_LIFETIME_TCP * NSEC_PER_SEC;
	if ((flags & CT_F_RST) || ((flags & CT_F_PEER_FIN) && (tcp_flags & TCP_FLAG_FIN)))
		return CT_LIFETIME_TCP_CLOSE * NSEC_PER_SEC;
	return CT_LIFETIME_TCP_HALF_CLOSED * NSEC_PER_SEC;
}

/* The flow is over: RST, or FIN from both directions. Its tuple may be taken by a new flow. */
static __always_inline bool ct4_is_closed(const struct ct_entry *entry)
{
	return (entry->flags & CT_F_RST) ||
	       ((entry->flags & CT_F_PEER_FIN) && (entry->tcp_flags & TCP_FLAG_FIN));
}

/* The CT_F_* closing flags a direction's own TCP_FLAGS give it (FIN, RST). */
static __always_inline __u8 ct_closing_flags(__u8 tcp_flags)
{
	if (tcp_flags & TCP_FLAG_RST)
		return CT_F_CLOSING | CT_F_RST;
	return (tcp_flags & TCP_FLAG_FIN) ? CT_F_CLOSING : 0;
}

/* The CT_F_* closing flags the other direction gets when this one sends TCP_FLAGS. */
static __always_inline __u8 ct_peer_closing_flags(__u8 tcp_flags)
{
	if (tcp_flags & TCP_FLAG_RST)
		return CT_F_CLOSING | CT_F_RST;
	return (tcp_flags & TCP_FLAG_FIN) ? CT_F_CLOSING | CT_F_PEER_FIN : 0;
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

/*
 * Confirms a reply entry (maps/ct.h: early drop spares it) and sets its deadline to EXPIRES.
 * The mark comes first and the deadline moves by compare-and-swap (never to the value it had),
 * so an early drop that read the old deadline either fails its own swap or, having won it,
 * sees the mark and puts the entry back (ct4_early_drop_one). An entry already being dropped
 * stays so. Once per flow.
 */
static __always_inline void ct4_confirm(struct ct_entry *entry, __u64 expires)
{
	__u64 seen = CT_READ_ONCE(entry->expires_ns);

	if (seen == CT_EXPIRES_DROPPING)
		return;
	CT_WRITE_ONCE(entry->confirmed, 1);
	__sync_val_compare_and_swap(&entry->expires_ns, seen,
				    expires != seen ? expires : expires + 1);
}

/* ENTRY is a reply entry not confirmed yet: the packets that confirm it call ct4_confirm(). */
static __always_inline bool ct4_is_unconfirmed_reply(const struct ct_entry *entry)
{
	return (entry->flags & CT_F_REPLY) && !entry->confirmed;
}

/*
 * Tells the other direction what this one just started to send (FRESH: TCP flags new in this
 * direction, from a packet without SYN): FIN half-closes it (or closes it when it sent FIN
 * already), RST closes it, and the first ACK ends the handshake, so a server that says nothing
 * after its SYN-ACK keeps its reply entry. Closing may shorten the peer's life; the rest only
 * lengthens it. One more lookup, on the few packets that change a direction's state.
 */
static __always_inline void ct4_update_peer(const struct ct_entry *entry, __u8 fresh, __u64 now)
{
	struct ct4_key peer_key = {};
	struct ct_entry *peer;
	__u8 closing = ct_peer_closing_flags(fresh);
	__u64 expires;

	ct4_peer_key(&peer_key, entry, IPPROTO_TCP);
	peer = bpf_map_lookup_elem(&ct4, &peer_key);
	if (!peer)
		return;
	if (closing) {
		if ((peer->flags & closing) == closing)
			return;
		peer->flags |= closing;
		peer->expires_ns =
		    now + ct_lifetime_ns(IPPROTO_TCP, peer->flags, peer->tcp_flags, 0);
		return;
	}
	expires = now + ct_lifetime_ns(IPPROTO_TCP, peer->flags, peer->tcp_flags, 0);
	if (expires < peer->expires_ns)
		expires = peer->expires_ns;
	/* The client's ACK after the server's SYN-ACK: the handshake completed. */
	if (ct4_is_unconfirmed_reply(peer) && (peer->tcp_flags & TCP_FLAG_SYN))
		ct4_confirm(peer, expires);
	else
		peer->expires_ns = expires;
}

/*
 * A TCP packet that carries a flag its direction had not sent yet: the state changes (the
 * handshake ends, a FIN or RST), so the deadline is set anew, shorter when closing, and the
 * other direction is told (ct4_update_peer). Off the established fast path: at most a few
 * packets per flow.
 */
static __always_inline void ct4_tcp_transition(struct ct_entry *entry, __u8 pkt_tcp_flags,
					       __u64 now)
{
	__u8 fresh = pkt_tcp_flags & ~entry->tcp_flags;
	__u64 expires;

	entry->tcp_flags |= pkt_tcp_flags;
	entry->flags |= ct_closing_flags(fresh);
	expires = now + ct_lifetime_ns(IPPROTO_TCP, entry->flags, entry->tcp_flags, pkt_tcp_flags);
	/* A reply without SYN: past the handshake (or a flow picked up mid-stream). */
	if (ct4_is_unconfirmed_reply(entry) && !(pkt_tcp_flags & TCP_FLAG_SYN))
		ct4_confirm(entry, expires);
	else
		entry->expires_ns = expires;
	if ((fresh & (TCP_FLAG_FIN | TCP_FLAG_RST)) ||
	    ((fresh & TCP_FLAG_ACK) && !(pkt_tcp_flags & TCP_FLAG_SYN)))
		ct4_update_peer(entry, fresh & (TCP_FLAG_FIN | TCP_FLAG_RST | TCP_FLAG_ACK), now);
}

/*
 * Extends the entry's life for a packet of its flow. Lifetimes only grow, except on a TCP state
 * change (ct4_tcp_transition). The entry is written at most once a second per direction so
 * that established traffic does not bounce its cache line between CPUs.
 */
static __always_inline void ct4_refresh(struct ct_entry *entry, const struct pkt4 *pkt, __u64 now)
{
	__u64 expires;

	if (pkt->proto == IPPROTO_TCP && unlikely(pkt->tcp_flags & ~entry->tcp_flags)) {
		ct4_tcp_transition(entry, pkt->tcp_flags, now);
		return;
	}
	expires = now + ct_lifetime_ns(pkt->proto, entry->flags, entry->tcp_flags, pkt->tcp_flags);
	/* The first reply of a flow without handshake (UDP, ICMP echo...) confirms it. */
	if (unlikely(ct4_is_unconfirmed_reply(entry)) && pkt->proto != IPPROTO_TCP)
		ct4_confirm(entry, expires);
	else if (expires > entry->expires_ns + CT_REFRESH_NS)
		entry->expires_ns = expires;
}

static __always_inline struct ct4_ring *ct4_ring_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ct4_ring, &zero);
}

/* Records a new flow, by its reply key, as the newest early drop may take (maps/ct.h). */
static __always_inline void ct4_ring_push(const struct ct4_key *reply_key)
{
	struct ct4_ring *ring = ct4_ring_get();
	__u64 slot;

	if (!ring)
		return;
	slot = __sync_fetch_and_add(&ring->head, 1);
	ring->slots[slot & (CT_RING_SLOTS - 1)] = *reply_key;
}

/*
 * Takes the oldest slot early drop has not examined into KEY: 1, or 0 when another CPU took it
 * first (try again), or -1 when there is none. Slots a push overwrote before anyone examined
 * them are skipped. A slot may be read while a push rewrites it: a torn key names no flow, or
 * one that early drop judges by its own entry like any other.
 */
static __always_inline int ct4_ring_pop(struct ct4_ring *ring, struct ct4_key *key)
{
	__u64 head = CT_READ_ONCE(ring->head), tail = CT_READ_ONCE(ring->tail);

	if (tail >= head)
		return -1;
	if (head - tail > CT_RING_SLOTS) {
		__sync_val_compare_and_swap(&ring->tail, tail, head - CT_RING_SLOTS);
		return 0;
	}
	if (__sync_val_compare_and_swap(&ring->tail, tail, tail + 1) != tail)
		return 0;
	*key = ring->slots[tail & (CT_RING_SLOTS - 1)];
	return 1;
}

/* FORWARD is the other direction of the flow whose reply entry is under REPLY_KEY. */
static __always_inline bool ct4_is_forward_of(const struct ct_entry *forward,
					      const struct ct4_key *reply_key)
{
	return !(forward->flags & CT_F_REPLY) && forward->nat_saddr == reply_key->daddr &&
	       forward->nat_daddr == reply_key->saddr && forward->nat_sport == reply_key->dport &&
	       forward->nat_dport == reply_key->sport;
}

/*
 * Deletes the flow whose reply entry ENTRY (under KEY) this CPU has marked CT_EXPIRES_DROPPING:
 * the mark makes the reply entry this CPU's to delete (a take-over, an early drop, a retirement
 * and the agent's GC keep off it). The forward entry goes only if it still belongs to this flow:
 * a new SYN on the client's tuple may have rewritten it for a new flow meanwhile.
 */
static __always_inline void ct4_delete_marked(const struct ct4_key *key,
					      const struct ct_entry *entry)
{
	struct ct4_key forward_key = {};
	struct ct_entry *forward;

	ct4_peer_key(&forward_key, entry, key->proto);
	forward = bpf_map_lookup_elem(&ct4, &forward_key);
	if (forward && ct4_is_forward_of(forward, key))
		bpf_map_delete_elem(&ct4, &forward_key);
	bpf_map_delete_elem(&ct4, key);
}

/*
 * Deletes the flow whose reply entry is under KEY when it is not confirmed, or expired, or
 * closed. The CPU whose compare-and-swap marks the deadline CT_EXPIRES_DROPPING owns the
 * deletion (ct4_delete_marked): a racing early drop, a take-over or the agent's GC keep off
 * such an entry, and a confirmation that raced the mark is seen after it (ct4_confirm marks
 * before it swaps), so the entry is put back. In between, for a few instructions, the flow
 * reads as expired. Returns true when the flow was deleted.
 */
static __always_inline bool ct4_early_drop_one(const struct ct4_key *key, __u64 now)
{
	struct ct_entry *entry;
	__u64 seen;

	entry = bpf_map_lookup_elem(&ct4, key);
	if (!entry || !(entry->flags & CT_F_REPLY))
		return false;
	seen = CT_READ_ONCE(entry->expires_ns);
	if (seen == CT_EXPIRES_DROPPING ||
	    (seen >= now && CT_READ_ONCE(entry->confirmed) && !ct4_is_closed(entry)))
		return false;
	if (__sync_val_compare_and_swap(&entry->expires_ns, seen, CT_EXPIRES_DROPPING) != seen)
		return false;
	if (seen >= now && CT_READ_ONCE(entry->confirmed) && !ct4_is_closed(entry)) {
		__sync_val_compare_and_swap(&entry->expires_ns, CT_EXPIRES_DROPPING, seen);
		return false;
	}
	ct4_delete_marked(key, entry);
	return true;
}

/*
 * Makes room in a full ct4: up to CT_EARLY_DROP_TRIES of the oldest flows are examined. Returns
 * 1 when a flow was deleted, else 0. A global function, so the verifier checks it once rather
 * than at each of its callers (ct4_make_room, ct4_insert) with all of theirs: inlined there,
 * tc_pod_ingress passed the verifier's limit of a million instructions (6.18). Global
 * functions take scalars only (5.15), hence no ring argument.
 */
__attribute__((noinline)) int ct4_early_drop(__u64 now)
{
	struct ct4_ring *ring = ct4_ring_get();
	struct ct4_key key;
	int ret;

	if (!ring)
		return 0;
	for (int i = 0; i < CT_EARLY_DROP_TRIES; i++) {
		ret = ct4_ring_pop(ring, &key);
		if (ret < 0)
			return 0;
		if (ret > 0 && ct4_early_drop_one(&key, now)) {
			__sync_fetch_and_add(&ring->early_drops, 1);
			return 1;
		}
	}
	return 0;
}

/* What ct4_make_room() did before a new flow's inserts (ct4_insert). */
enum ct_room {
	CT_ROOM_UNKNOWN = 0, /* ct4 not known to be full: an insert that fails early-drops */
	CT_ROOM_MADE,	     /* a flow was early-dropped for this one */
	CT_ROOM_NONE,	     /* ct4 is full and no flow could go: no second early drop */
};

/*
 * Makes room for a new flow before its inserts when ct4 is known to be full (ring->full_until,
 * set by an insert that found no free entry): one flow early-dropped frees the two entries the
 * new one takes, from this CPU's free list, still in cache. Without it every new flow at a full
 * table would first fail an insert (a bucket lock, a walk over every CPU's free list), then
 * early-drop, then insert again. Called once per new flow, before any of its inserts. The hint
 * lasts the rest of a clock tick (CT_FULL_HINT_NS): after the agent's GC has freed entries,
 * new flows go on taking the place of early-drop victims for at most that long, the table
 * staying as full as it was; only flows early drop may take at a full table ever go.
 */
static __always_inline enum ct_room ct4_make_room(__u64 now)
{
	struct ct4_ring *ring = ct4_ring_get();

	if (!ring || likely(CT_READ_ONCE(ring->full_until) <= now))
		return CT_ROOM_UNKNOWN;
	return ct4_early_drop(now) ? CT_ROOM_MADE : CT_ROOM_NONE;
}

/*
 * Writes VALUE under KEY with FLAGS (BPF_NOEXIST or BPF_ANY). When ct4 is full the insert fails
 * once: ct4 is marked full for the next new flows (ct4_make_room), and unless ROOM says that
 * early drop found nothing already, a flow is early-dropped and the write tried again. Returns
 * 0, the update's -errno (-EEXIST: BPF_NOEXIST and the key is held), or -E2BIG when the table
 * is full and no flow could go (counted).
 */
static __always_inline long ct4_insert(const struct ct4_key *key, const struct ct_entry *value,
				       __u64 flags, __u64 now, enum ct_room room)
{
	long err = bpf_map_update_elem(&ct4, key, value, flags);
	struct ct4_ring *ring;

	if (likely(err != -E2BIG))
		return err;
	ring = ct4_ring_get();
	if (!ring)
		return err;
	if (CT_READ_ONCE(ring->full_until) <= now)
		CT_WRITE_ONCE(ring->full_until, now + CT_FULL_HINT_NS);
	if (room != CT_ROOM_NONE && ct4_early_drop(now))
		err = bpf_map_update_elem(&ct4, key, value, flags);
	if (err == -E2BIG)
		__sync_fetch_and_add(&ring->insert_failed, 1);
	return err;
}

/*
 * A connection opened straight to a backend from the same port a closed service flow used has
 * the reversed tuple of that flow's reply entry: its replies would be rewritten to the VIP. A
 * SYN that is no service traffic retires such a closed service flow (both directions), as a
 * SYN to a TIME_WAIT tuple ends the old conntrack in Linux. A half-closed flow is still live
 * (its backend would not accept the SYN either) and stays. Only SYNs pay for the lookup.
 * It deletes only what it read: the reply entry is marked CT_EXPIRES_DROPPING by
 * compare-and-swap from the deadline it was judged by (a CPU that rewrote or took it over
 * meanwhile moved that deadline), and the forward entry only while it still is this flow's
 * (ct4_delete_marked): the client may have opened a new flow on its tuple to another backend.
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
	struct ct_entry *entry;
	__u64 seen;

	if ((pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return;
	entry = ct4_lookup(&key, now);
	if (!entry || !(entry->flags & CT_F_REPLY))
		return;
	seen = CT_READ_ONCE(entry->expires_ns);
	if (seen == CT_EXPIRES_DROPPING || !ct4_is_closed(entry))
		return;
	if (__sync_val_compare_and_swap(&entry->expires_ns, seen, CT_EXPIRES_DROPPING) != seen)
		return;
	ct4_delete_marked(&key, entry);
}

/* Where a new flow's source port is allocated (snat4_ports()): host order. */
struct ct4_port_range {
	__u16 min;
	__u16 max;
	__u16 probes; /* candidates tried before the flow is dropped */
	/*
	 * 1: the candidate is the reply key's source port, an ICMP echo's id (parse_icmp_ports);
	 * 0: its destination port.
	 */
	__u16 is_echo_id;
};

/*
 * Replaces TAKEN, the entry under KEY in the way of a new flow, by VALUE without racing anyone:
 * the CPU whose compare-and-swap moves TAKEN's deadline from SEEN (what it read) to VALUE's owns
 * the tuple. A CPU that lost reads a deadline that is no longer SEEN and gives up; the agent's
 * GC reads one that changed and keeps the entry (sync_conntrack.c). VALUE is then written whole
 * (BPF_EXIST swaps the element: readers see the old entry or the new, never a mix), or inserted
 * when the entry vanished meanwhile (GC, early drop). Returns 0, or -EBUSY when another writer
 * got there first: the caller drops or probes on, and a retransmitted SYN tries again.
 */
static __always_inline int ct4_take_over(const struct ct4_key *key, struct ct_entry *taken,
					 __u64 seen, const struct ct_entry *value)
{
	if (seen == CT_EXPIRES_DROPPING) /* early drop is deleting it (ct4_early_drop_one) */
		return -EBUSY;
	if (__sync_val_compare_and_swap(&taken->expires_ns, seen, value->expires_ns) != seen)
		return -EBUSY;
	if (!bpf_map_update_elem(&ct4, key, value, BPF_EXIST))
		return 0;
	return bpf_map_update_elem(&ct4, key, value, BPF_NOEXIST) ? -EBUSY : 0;
}

/* TAKEN is the reply entry of VALUE's own flow: the same tuple rewritten to the same client. */
static __always_inline bool ct4_is_same_reply(const struct ct_entry *taken,
					      const struct ct_entry *value)
{
	return (taken->flags & CT_F_REPLY) && taken->nat_saddr == value->nat_saddr &&
	       taken->nat_daddr == value->nat_daddr && taken->nat_sport == value->nat_sport &&
	       taken->nat_dport == value->nat_dport;
}

/*
 * Writes a new flow's reply entry VALUE under KEY (the reverse of the tuple the flow leaves
 * with) without taking another flow's: BPF_NOEXIST, and when the key is held,
 * - by this flow's own reply entry (a new SYN on a reused tuple to the same backend): rewritten;
 * - by an expired entry, or a closed flow's (RST, FIN both ways; as a SYN reopens a TIME_WAIT
 *   tuple in Linux): taken over (ct4_take_over), losing a race to another CPU drops this packet;
 * - by another live flow: the new flow is dropped, -DROP_CT_CLASH. Its replies would arrive on
 *   the same tuple as the live flow's and could not be told apart: the backend itself holds one
 *   connection for that 4-tuple. Linux conntrack drops the loser of such a clash too.
 * A full table is made room in by early drop (ct4_make_room, whose outcome is ROOM; ct4_insert).
 * Returns 0 or -DROP_*.
 */
static __always_inline int ct4_claim_reply(const struct ct4_key *key, const struct ct_entry *value,
					   __u64 now, enum ct_room room)
{
	struct ct_entry *taken;
	long err;
	__u64 seen;

	err = ct4_insert(key, value, BPF_NOEXIST, now, room);
	if (err != -EEXIST)
		return !err ? 0 : err == -E2BIG ? -DROP_CT_FULL : -DROP_CT_CREATE;
	taken = bpf_map_lookup_elem(&ct4, key);
	if (!taken)
		return bpf_map_update_elem(&ct4, key, value, BPF_NOEXIST) ? -DROP_CT_CLASH : 0;
	seen = CT_READ_ONCE(taken->expires_ns);
	if (ct4_is_same_reply(taken, value) && seen != CT_EXPIRES_DROPPING)
		return bpf_map_update_elem(&ct4, key, value, BPF_ANY) ? -DROP_CT_CREATE : 0;
	if (seen >= now && !ct4_is_closed(taken))
		return -DROP_CT_CLASH;
	return ct4_take_over(key, taken, seen, value) ? -DROP_CT_CLASH : 0;
}

/*
 * Allocates the source port of a new flow by claiming its reply entry: reply_key is (backend,
 * node address, backend port, candidate port), and the reply entry is written with BPF_NOEXIST,
 * so two flows can never hold the same (node address, port, backend) tuple, even when two CPUs
 * race for it. An expired entry is taken over by compare-and-swap (ct4_take_over), so of two
 * CPUs that find it expired exactly one gets it. A closed flow's port is not reused before it
 * expires (the backend may still hold that 4-tuple in TIME_WAIT): the next candidate is tried.
 * Candidates start at a random offset in [range->min, range->max] and go up, range->probes of
 * them. On success reply_key->dport (reply_key->sport with range->is_echo_id) is the port
 * (network order) and the reply entry is in ct4.
 * A full table is made room in by early drop (ct4_make_room, whose outcome is ROOM; ct4_insert).
 * Returns 0, -DROP_NAT_NO_PORT, or -DROP_CT_FULL.
 */
static __always_inline int ct4_claim_port(struct ct4_key *reply_key, const struct ct_entry *reply,
					  __u64 now, const struct ct4_port_range *range,
					  enum ct_room room)
{
	__u32 span = (__u32)range->max - range->min + 1;
	__be16 *candidate = range->is_echo_id ? &reply_key->sport : &reply_key->dport;
	__u32 offset, port;
	struct ct_entry *taken;
	__u64 seen;
	long err;

	if (range->max < range->min)
		return -DROP_NAT_NO_PORT;
	offset = bpf_get_prandom_u32() % span;
	for (int i = 0; i < range->probes; i++) {
		port = range->min + (offset + i) % span;
		*candidate = bpf_htons((__u16)port);
		err = ct4_insert(reply_key, reply, BPF_NOEXIST, now, room);
		if (!err)
			return 0;
		if (err == -E2BIG)
			return -DROP_CT_FULL; /* no other port needs less room */
		taken = bpf_map_lookup_elem(&ct4, reply_key);
		if (!taken)
			continue;
		seen = taken->expires_ns;
		if (seen < now && !ct4_take_over(reply_key, taken, seen, reply))
			return 0;
	}
	return -DROP_NAT_NO_PORT;
}

#endif
