/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection tracking: one entry per direction in a preallocated hash (nothing live is ever
 * pushed out; the agent's GC sweeps what expired), and the ring of recent flows that early drop
 * picks victims from when the table is full.
 */
#ifndef SLUICE_MAPS_CT_H
#define SLUICE_MAPS_CT_H

#include "maps/types.h"

#define CT4_MAP "ct4"

/* Default size; `sluice agent --ct-size N` overrides it before the map is created. */
#define CT_DEFAULT_ENTRIES 262144

/*
 * Lifetimes in seconds, per direction: an entry's deadline follows the TCP state its direction
 * has seen (its own flags in tcp_flags, its peer's FIN and RST in flags). netfilter's defaults
 * (nf_conntrack_tcp_timeout_*), for comparison: syn_sent 120, syn_recv 60, established 432000
 * (5 days), fin_wait 120, close_wait 60, last_ack 30, time_wait 120, close 10; Cilium's: SYN 60,
 * established 21600, close 10.
 */
/* Handshake not finished (SYN, SYN-ACK): netfilter's syn_recv, Cilium's SYN timeout. */
#define CT_LIFETIME_TCP_SYN 60
/*
 * Established: 6 h, Cilium's, not netfilter's 5 days. ct4 has a fixed size: idle flows kept for
 * days would fill it and leave new flows nothing but early drop, and an application that keeps
 * a connection idle for hours without keepalives gets its RST from the backend either way.
 */
#define CT_LIFETIME_TCP 21600
/*
 * One direction has sent FIN, the other not (half-closed): netfilter's fin_wait, twice its
 * close_wait (60). Renewed by every packet of its direction, and the closed side still ACKs what
 * the open side sends: a half-closed flow lives as long as it is used.
 */
#define CT_LIFETIME_TCP_HALF_CLOSED 120
/*
 * Both directions sent FIN, or either sent RST: netfilter's close, Cilium's close timeout. Only
 * the last ACK is left to carry; the endpoints' own TIME_WAIT absorbs late duplicates.
 */
#define CT_LIFETIME_TCP_CLOSE 10
#define CT_LIFETIME_NONTCP    60	    /* UDP */
#define CT_REFRESH_NS	      1000000000ull /* expiry is rewritten at most once a second */

/* ct_entry.flags */
#define CT_F_REPLY   (1u << 0) /* entry for the backend -> client direction */
#define CT_F_HAIRPIN (1u << 1) /* client picked itself: source rewritten to the hairpin IP */
#define CT_F_CLOSING (1u << 2) /* FIN or RST seen, either direction */
/*
 * Deliver with bpf_redirect_neigh() out of ifindex (the node's uplink, or the route to a remote
 * backend) instead of into a pod: the packet leaves with a source the node owns (a NodePort's
 * node address, a masqueraded flow), which the kernel would drop as martian if routed.
 */
#define CT_F_NEIGH (1u << 3)
#define CT_F_SNAT  (1u << 4) /* external flow masqueraded to a node address (Cluster policy) */
/* A pod-to-pod flow tracked only for NetworkPolicy: nat_* is the key's own tuple, no rewrite. */
#define CT_F_DIRECT (1u << 5)
/* The other direction has sent FIN (this direction's own FIN is in tcp_flags). */
#define CT_F_PEER_FIN (1u << 6)
/* Either direction has sent RST: the flow is closed. */
#define CT_F_RST (1u << 7)

/* ct_entry.policy: why the first packet was let through, checked once per flow. */
#define CT_POLICY_NONE	  0 /* no policy isolates either end (or checked before policies) */
#define CT_POLICY_ALLOWED 1 /* an isolating policy's rule allowed it */

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
 * One direction of a translated flow, self-contained so that a packet of an established flow
 * costs one lookup: the tuple the packet leaves with, and where it is delivered.
 * Forward entry (client -> VIP): nat_* is (client or hairpin IP) -> backend.
 * Reply entry (backend -> client or hairpin IP): nat_* is VIP -> client.
 * External flows (from the node's uplink) are keyed the same way; with SNAT the forward nat_*
 * is (node address, allocated port) -> backend and the reply key is its reverse, unique per
 * (node address, port, backend) because the allocation claims it (bpf/lib/snat.h).
 * The reverse of the nat_* tuple is the other direction's key.
 */
struct ct_entry {
	__u64 expires_ns; /* deadline on the datapath clock (CLOCK_MONOTONIC base) */
	__be32 nat_saddr;
	__be32 nat_daddr;
	__be16 nat_sport;
	__be16 nat_dport;
	__u32
	    ifindex;  /* host veth of the destination pod (CT_F_NEIGH: egress device); 0 = routed */
	__u32 svc_id; /* lb4_revnat key of the service */
	__u32 backend_id; /* lb4_backends key of the chosen backend */
	__u8 mac[6];	  /* destination pod's eth0 */
	__u8 host_mac[6]; /* its host veth, the source MAC on delivery */
	__u8 flags;	  /* CT_F_* */
	__u8 tcp_flags;	  /* union of TCP flags seen in this direction */
	__u8 policy;	  /* CT_POLICY_*: the verdict cached for the flow's later packets */
	/*
	 * Reply entries: 1 once the flow is confirmed (ct4_confirm): the reply direction answered
	 * (for TCP: the handshake completed, as netfilter's ASSURED). Early drop never takes a
	 * confirmed live flow. Written once per flow.
	 */
	__u8 confirmed;
};
SLUICE_ASSERT_SIZE(struct ct_entry, 48);

/*
 * expires_ns of a reply entry early drop is deleting (ct4_early_drop_one): expired to every
 * reader, and neither taken over by a new flow (ct4_take_over) nor swept by the agent's GC, so
 * that only the CPU that marked it deletes it, or puts its deadline back.
 */
#define CT_EXPIRES_DROPPING 0

/*
 * The ring of recent flows: every new flow writes its reply key at head; when an insert finds
 * ct4 full, early drop examines the oldest slots from tail and deletes a flow that is not
 * confirmed, or expired, or closed (netfilter's early_drop of non-ASSURED entries). A flood of
 * new flows that nobody answers thus recycles its own entries, and confirmed flows stay.
 * One ring for all CPUs rather than one per CPU: a CPU cannot read another's per-CPU value
 * before 5.19 (bpf_map_lookup_percpu_elem), and a flood served by one CPU must make room for
 * the new flows of every other. head and tail move by atomics on lines of their own.
 */
#define CT4_RING_MAP	    "ct4_ring"
#define CT_RING_SLOTS	    16384 /* a power of two; 256 KiB */
#define CT_EARLY_DROP_TRIES 8	  /* slots examined per new flow at a full table before the drop */
/*
 * How long an insert that found ct4 full makes the next new flows early-drop before they
 * insert instead of after a failed insert (ct4_make_room): on the datapath clock, so the rest
 * of the tick it was seen in. The first new flow of the next tick tries its insert first again.
 */
#define CT_FULL_HINT_NS CLOCK_TICK_NS

struct ct4_ring {
	__u64 head; /* slots ever written: the next one is slots[head % CT_RING_SLOTS] */
	__u64 pad_head[7];
	__u64 tail;	     /* the oldest slot early drop has not examined */
	__u64 early_drops;   /* flows deleted to make room */
	__u64 insert_failed; /* new flows dropped: ct4 full and no flow to early-drop */
	/*
	 * Until this datapath time (exclusive), ct4 is taken to be full: set by an insert that
	 * found no free entry, read by every new flow (CT_FULL_HINT_NS). A word of the old
	 * pad_tail: the map's value size and every other field are those of layout 2, and an
	 * older datapath leaves it 0 (never full).
	 */
	__u64 full_until;
	__u64 pad_tail[4];
	struct ct4_key slots[CT_RING_SLOTS];
};
SLUICE_ASSERT_SIZE(struct ct4_ring, 128 + 16 * CT_RING_SLOTS);

/*
 * The datapath clock: a BPF timer refreshes now_ns every CLOCK_TICK_NS so that packets read
 * the time with a load instead of a helper call (the ktime helper is a measurable share of a
 * packet's cost). Pinned, so the timer keeps running while no agent holds the map open.
 */
#define CLOCK_MAP     "clock"
#define CLOCK_TICK_NS 100000000ull /* 100 ms: conntrack expiry is in seconds */
/*
 * The agent's GC deletes an entry only when it expired this long ago by CLOCK_MONOTONIC: the
 * datapath's clock lags it by up to a tick (plus the coarse clock's jiffy), and an entry the
 * datapath still sees live must not go.
 */
#define CT_GC_MARGIN_NS (5 * CLOCK_TICK_NS)

#ifdef __bpf__
struct clock_value {
	struct bpf_timer timer;
	__u64 now_ns; /* 0 until the loader has started the timer */
};
#endif

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* preallocated: no allocation on the packet path */
	__uint(max_entries, CT_DEFAULT_ENTRIES);
	__type(key, struct ct4_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct4_ring);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct4_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct clock_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} clock SEC(".maps");
#endif

#endif
