/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flows, shared by the pod, to-pod and uplink programs: packets of tracked flows (rewrite and
 * deliver), and the conntrack pair every new flow is recorded with.
 */
#ifndef SLUICE_BPF_FLOW_H
#define SLUICE_BPF_FLOW_H

#include "bpf/lib/common.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/ep.h"
#include "bpf/lib/events.h"
#include "bpf/lib/fib.h"
#include "bpf/lib/frag.h"
#include "bpf/lib/icmp.h"
#include "bpf/lib/lb.h"
#include "bpf/lib/nat.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/stats.h"

/*
 * A packet of a known flow, either direction: it leaves with the tuple its conntrack entry
 * recorded (backend for client -> VIP, VIP for replies) and goes where the entry delivers.
 * IS_LATER_FRAGMENT (a constant at each call, so whole packets pay no test): a later IP
 * fragment, whose IP header alone is rewritten. IS_EGRESS: at a pod veth's tc egress, where the
 * packet goes on into that pod (ep4_deliver_at()).
 */
static __always_inline int flow_established_at(struct __sk_buff *skb, const struct pkt4 *pkt,
					       struct ct_entry *entry, __u64 now,
					       const bool is_later_fragment, const bool is_egress)
{
	struct nat4_tuple out = {
	    .saddr = entry->nat_saddr,
	    .daddr = entry->nat_daddr,
	    .sport = entry->nat_sport,
	    .dport = entry->nat_dport,
	};
	int ret;

	if (unlikely(events_is_tracing()))
		events_packet(skb, EVENT_TRACE, 0, (entry->flags & CT_F_REPLY) ? EVENT_F_REPLY : 0);
	ct4_refresh(entry, pkt, now);
	/* Sent out of a device by its neighbour table, it meets no MTU check of the stack's. */
	if (unlikely(entry->flags & CT_F_NEIGH) && !is_later_fragment && !is_egress) {
		ret = icmp4_check_mtu(skb, pkt, entry->ifindex);
		if (ret)
			return ret;
	}
	/* A direct flow leaves as it came; its packets may have no ports to write (ICMP, GRE). */
	if (!(entry->flags & CT_F_DIRECT)) {
		ret = is_later_fragment ? nat4_rewrite_later_fragment(skb, pkt, &out)
					: nat4_rewrite(skb, pkt, &out);
		if (ret)
			return ret;
	}
	stats_count((entry->flags & CT_F_REPLY) ? STAT_CT_REPLY : STAT_CT_FORWARD, skb->len);
	return ep4_deliver_at(skb, entry, is_egress);
}

/* flow_established_at() at tc ingress. */
static __always_inline int flow_established(struct __sk_buff *skb, const struct pkt4 *pkt,
					    struct ct_entry *entry, __u64 now,
					    const bool is_later_fragment)
{
	return flow_established_at(skb, pkt, entry, now, is_later_fragment, false);
}

/*
 * A SYN without ACK on a forward entry whose connection got past its handshake, or is closing,
 * opens a new connection on a reused tuple: it gets a fresh backend choice. Retransmitted SYNs
 * of the same handshake keep theirs.
 */
static __always_inline bool flow_is_new_syn(const struct ct_entry *entry, const struct pkt4 *pkt)
{
	return (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN &&
	       ((entry->flags & CT_F_CLOSING) || (entry->tcp_flags & TCP_FLAG_ACK));
}

/*
 * A later IP fragment (PARSE_FRAGMENT): it follows its first fragment's flow with that one's
 * ports (frag.h), never opens one and is never judged alone. Returns what flow_begin() does,
 * never VERDICT_NEW_FLOW. IS_EGRESS as for flow_established_at().
 */
static __always_inline int flow_later_fragment(struct __sk_buff *skb, struct pkt4 *pkt,
					       const bool is_egress)
{
	struct ct4_key key = {};
	struct ct_entry *entry;
	__u64 now = ct_now();
	bool is_passed = false;
	int ret;

	ret = frag4_follow_first(pkt, now, &is_passed);
	if (ret)
		return ret;
	ct4_key_of(&key, pkt);
	entry = ct4_lookup(&key, now);
	if (entry)
		return flow_established_at(skb, pkt, entry, now, true, is_egress);
	/*
	 * No flow: the first fragment passed untracked, and so do they (to a node address too:
	 * another node's VXLAN datagram fragmented on the underlay); or it was a VIP's and opened
	 * none (a reject): nothing to translate them to.
	 */
	return lb4_is_vip(pkt->daddr) && !is_passed ? -DROP_FRAGMENT : VERDICT_PASS;
}

/*
 * What every program does first: parse; ICMP errors about tracked flows; packets of known flows,
 * either direction, of any IP protocol. Returns a tc verdict, VERDICT_PASS or -DROP_* when the
 * packet is dealt with, or VERDICT_NEW_FLOW with pkt and now filled for the program's new-flow
 * path: a packet of no known flow, and an ICMP message other than an echo that is about no
 * tracked flow, which NetworkPolicy judges alone. A first fragment goes the same way, and opens
 * its datagram's frag4 entry in *FIRST for the entry point to settle (frag4_settle_first; *FIRST
 * stays NULL for any other packet); a later one follows its first (flow_later_fragment).
 * IS_EGRESS: the program runs at a pod veth's tc egress (tc_to_pod): packets of known flows are
 * translated and go on into that pod (ep4_deliver_at()).
 */
static __always_inline int flow_begin_at(struct __sk_buff *skb, struct pkt4 *pkt, __u64 *now,
					 struct frag4_entry **first, const bool is_egress)
{
	struct ct4_key key = {};
	struct ct_entry *entry;

	switch (parse_pkt4(skb, pkt)) {
	case PARSE_OK:
		break;
	case PARSE_MALFORMED:
		/* A fragment cut inside its L4 header could slip ports past policy (RFC 1858). */
		return pkt->frag || lb4_is_vip(pkt->daddr) ? -DROP_MALFORMED : VERDICT_PASS;
	case PARSE_FRAGMENT:
		return flow_later_fragment(skb, pkt, is_egress);
	default:
		return VERDICT_PASS;
	}

	*now = ct_now();
	if (unlikely(pkt->frag == PKT_FRAG_FIRST))
		*first = frag4_open_first(pkt, *now);
	if (pkt->proto == IPPROTO_ICMP && pkt->icmp_type != ICMP_ECHO &&
	    pkt->icmp_type != ICMP_ECHOREPLY)
		return icmp4_handle_at(skb, pkt, *now, is_egress);

	ct4_key_of(&key, pkt);
	entry = ct4_lookup(&key, *now);
	if (entry && ((entry->flags & CT_F_REPLY) || !flow_is_new_syn(entry, pkt)))
		return flow_established_at(skb, pkt, entry, *now, false, is_egress);
	return VERDICT_NEW_FLOW;
}

/* flow_begin_at() at tc ingress (tc_pod, tc_node). */
static __always_inline int flow_begin(struct __sk_buff *skb, struct pkt4 *pkt, __u64 *now,
				      struct frag4_entry **first)
{
	return flow_begin_at(skb, pkt, now, first, false);
}

/*
 * The entry point's last step: count the outcome (drops by reason and DIR, the entry point's
 * enum drop_dir; each drop told to the events ring too) and give tc its verdict.
 */
static __always_inline int flow_verdict(struct __sk_buff *skb, int ret, __u32 len, __u32 dir)
{
	if (ret < 0) {
		events_drop(skb, -ret);
		return stats_drop(-ret, dir, len);
	}
	if (ret == VERDICT_PASS) {
		stats_count(STAT_PASS, len);
		return TC_ACT_OK;
	}
	return ret;
}

/* A new flow's reply direction goes back into the pod this packet came from. */
static __always_inline int flow_deliver_to_sender(struct __sk_buff *skb, struct ct_entry *entry)
{
	struct ethhdr *eth = ctx_data(skb);

	if ((void *)(eth + 1) > ctx_data_end(skb))
		return -DROP_MALFORMED;
	entry->ifindex = skb->ifindex;
	__builtin_memcpy(entry->mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(entry->host_mac, eth->h_dest, ETH_ALEN);
	return 0;
}

/*
 * A new flow's forward direction goes into the pod EP (ep4_lookup() of its address) when it is
 * on this node (returns true); with EP NULL, ifindex 0 leaves it to the caller (the node's
 * routing by default). Callers that also need to know whether the destination is local look it
 * up once and pass it here.
 */
static __always_inline bool flow_deliver_to_ep(struct ct_entry *entry, const struct ep4_info *ep)
{
	if (!ep) {
		entry->ifindex = 0;
		return false;
	}
	entry->ifindex = ep->ifindex;
	__builtin_memcpy(entry->mac, ep->mac, ETH_ALEN);
	__builtin_memcpy(entry->host_mac, ep->host_mac, ETH_ALEN);
	return true;
}

/*
 * Where a masqueraded packet for a backend on another node leaves: its source is a node
 * address, so it must not go through the routing input path (martian). Returns the egress
 * ifindex, or 0 to let the node route it. The lookup is the input path's (it checks no source):
 * an output lookup binds the route to SKB's device, and so sent a flow for another node's pod
 * out of the uplink by the default route instead of into the tunnel.
 */
static __always_inline __u32 flow_route_ifindex(struct __sk_buff *skb, const struct pkt4 *pkt,
						const struct nat4_tuple *out)
{
	__u32 ifindex = 0;
	long ret;

	ret = fib4_lookup(skb, pkt->proto, out->saddr, out->daddr, out->sport, out->dport, 0,
			  &ifindex);
	if (ret == BPF_FIB_LKUP_RET_SUCCESS || ret == BPF_FIB_LKUP_RET_NO_NEIGH ||
	    ret == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return ifindex;
	return 0;
}

/* Where a new flow's replies are delivered (flow_create_pair). */
enum flow_reply_to {
	FLOW_REPLY_ROUTED = 0, /* to the node's routing (ifindex 0) */
	FLOW_REPLY_TO_SENDER,  /* back into the pod the first packet came from */
	/*
	 * Back out of the device the first packet came in on, by its neighbour table: the reply's
	 * source may be a node address (a NodePort), which the routing path drops as martian.
	 */
	FLOW_REPLY_NEIGH,
};

/* How a program records its new flows: what differs between the pod and the uplink paths. */
struct flow_pair_opts {
	/* The forward direction's pod when it is on this node (ep4_lookup()), or NULL. */
	const struct ep4_info *dst_ep;
	/* With CT_F_SNAT: the range out->sport is claimed in (snat4_ports(), masq4_ports()). */
	struct ct4_port_range ports;
	/*
	 * With CT_F_SNAT and no DST_EP: the device the forward direction leaves by when the caller
	 * routed it already (masq4_route); 0 looks it up (flow_route_ifindex).
	 */
	__u32 out_ifindex;
	/*
	 * CT_F_HAIRPIN, CT_F_SNAT or CT_F_DIRECT, carried by both directions. CT_F_SNAT also
	 * allocates the source port, and routes a forward direction with no pod here out by the
	 * neighbour table (flow_route_ifindex): its source is the node's.
	 */
	__u8 flags;
	__u8 reply_to; /* enum flow_reply_to */
};

/*
 * Records a new flow in conntrack, both directions: the forward entry (key PKT's tuple, leaves
 * as OUT) and the reply entry (key the reverse of OUT, leaves as the reverse of PKT). The reply
 * entry is written first, so a reply can never race ahead of its translation; with CT_F_SNAT
 * writing it claims out->sport. When the forward entry cannot be written the reply entry is
 * deleted again: no half-flow is left behind (nor a claimed port held).
 *
 * ENTRY comes zeroed but for svc_id, backend_id and policy, which both directions share; on
 * return it holds the forward entry, for ep4_deliver(). OUT is the caller's translation (its own
 * tuple for an untranslated flow). A full table is made room in by early drop, before the
 * inserts when it is known to be full (ct4_make_room) or else when an insert fails (ct4_insert),
 * and the new flow joins the ring early drop takes from (ct4_ring_push). Returns 0, or -DROP_*
 * with no entry of this flow left in ct4.
 */
static __always_inline int flow_create_pair(struct __sk_buff *skb, const struct pkt4 *pkt,
					    __u64 now, struct nat4_tuple *out,
					    struct ct_entry *entry,
					    const struct flow_pair_opts *opts)
{
	struct ct4_key reply_key = {}, key = {};
	__u8 tcp_flags = pkt->proto == IPPROTO_TCP ? pkt->tcp_flags : 0;
	enum ct_room room;
	long err;
	int ret;

	reply_key.saddr = out->daddr;
	reply_key.daddr = out->saddr;
	reply_key.sport = out->dport;
	reply_key.dport = out->sport;
	reply_key.proto = pkt->proto;
	entry->nat_saddr = pkt->daddr;
	entry->nat_daddr = pkt->saddr;
	entry->nat_sport = pkt->dport;
	entry->nat_dport = pkt->sport;
	/* A flow first seen at its FIN or RST (picked up mid-stream) starts closing. */
	entry->flags = CT_F_REPLY | opts->flags | ct_peer_closing_flags(tcp_flags);
	entry->tcp_flags = 0;
	entry->expires_ns = now + ct_lifetime_ns(pkt->proto, entry->flags, 0, tcp_flags);
	if (opts->reply_to == FLOW_REPLY_TO_SENDER) {
		ret = flow_deliver_to_sender(skb, entry);
		if (ret)
			return ret;
	} else if (opts->reply_to == FLOW_REPLY_NEIGH) {
		entry->ifindex = skb->ifindex;
		entry->flags |= CT_F_NEIGH;
	} else {
		entry->ifindex = 0;
	}
	room = ct4_make_room(now);
	if (opts->flags & CT_F_SNAT) {
		ret = ct4_claim_port(&reply_key, entry, now, &opts->ports, room);
		if (ret)
			return ret;
		/* An echo's id is the request's destination port (parse_icmp_ports). */
		if (opts->ports.is_echo_id)
			out->dport = reply_key.sport;
		else
			out->sport = reply_key.dport;
	} else {
		ret = ct4_claim_reply(&reply_key, entry, now, room);
		if (ret)
			return ret;
	}

	ct4_key_of(&key, pkt);
	entry->nat_saddr = out->saddr;
	entry->nat_daddr = out->daddr;
	entry->nat_sport = out->sport;
	entry->nat_dport = out->dport;
	entry->flags = opts->flags | ct_closing_flags(tcp_flags);
	entry->tcp_flags = tcp_flags;
	entry->expires_ns = now + ct_lifetime_ns(pkt->proto, entry->flags, tcp_flags, tcp_flags);
	if (!flow_deliver_to_ep(entry, opts->dst_ep) && (opts->flags & CT_F_SNAT)) {
		entry->ifindex =
		    opts->out_ifindex ? opts->out_ifindex : flow_route_ifindex(skb, pkt, out);
		if (entry->ifindex)
			entry->flags |= CT_F_NEIGH;
	}
	/* Early drop may run once more: another CPU may have taken the room this one made. */
	err = ct4_insert(&key, entry, BPF_ANY, now, CT_ROOM_UNKNOWN);
	if (err) {
		bpf_map_delete_elem(&ct4, &reply_key);
		return err == -E2BIG ? -DROP_CT_FULL : -DROP_CT_CREATE;
	}
	ct4_ring_push(&reply_key);
	events_new_flow(skb, pkt, out, entry->svc_id, entry->backend_id, opts->flags);
	return 0;
}

/*
 * The last steps of a new translated flow, the same in both programs: record both directions
 * (flow_create_pair), rewrite the packet to OUT, count it under STAT (and a Service's under its
 * frontend, svc_flows) and deliver it. Returns a tc verdict or -DROP_*.
 */
static __always_inline int flow_start_translated(struct __sk_buff *skb, const struct pkt4 *pkt,
						 __u64 now, struct nat4_tuple *out,
						 struct ct_entry *entry,
						 const struct flow_pair_opts *opts, __u32 stat)
{
	int ret;

	ret = flow_create_pair(skb, pkt, now, out, entry, opts);
	if (ret)
		return ret;
	if (unlikely(entry->flags & CT_F_NEIGH)) {
		ret = icmp4_check_mtu(skb, pkt, entry->ifindex);
		if (ret)
			return ret;
	}
	ret = nat4_rewrite(skb, pkt, out);
	if (ret)
		return ret;
	stats_count(stat, skb->len);
	if (entry->svc_id) /* not a masquerade */
		stats_service_flow(entry->svc_id);
	return ep4_deliver(skb, entry);
}

/*
 * Does this packet open a flow? Every protocol's first packet does (ports, an echo id, or the
 * addresses alone), except ICMP messages other than an echo request: errors and informational
 * messages stand alone (an error about a tracked flow never gets here: icmp4_handle()), and an
 * echo reply without its request's flow is no flow to let requests back through.
 */
static __always_inline bool flow_is_trackable(const struct pkt4 *pkt)
{
	return pkt->proto != IPPROTO_ICMP || pkt->icmp_type == ICMP_ECHO;
}

/*
 * Tracks a new flow both ways without translation (a NetworkPolicy verdict, cached in the
 * entries so later packets and replies skip the lookups) and delivers this packet. Replies go
 * where REPLY_TO (enum flow_reply_to) says: back into the pod this packet came from, to the
 * node's routing, or back out of the device it came in on (the tunnel, for a flow another node
 * sent with its own address); the forward direction goes straight into the destination pod DST_EP
 * when it is on this node (ep4_lookup() of the destination, NULL when it is not). A packet that
 * opens no flow (flow_is_trackable()) passes alone, judged. Returns a tc verdict, VERDICT_PASS or
 * -DROP_*. IS_EGRESS: at a pod veth's tc egress, where DST_EP is that pod and the packet goes on
 * into it (ep4_deliver_at()).
 */
static __always_inline int flow_track_direct_at(struct __sk_buff *skb, const struct pkt4 *pkt,
						__u64 now, __u8 policy, __u8 reply_to,
						const struct ep4_info *dst_ep, const bool is_egress)
{
	struct nat4_tuple out = {
	    .saddr = pkt->saddr,
	    .daddr = pkt->daddr,
	    .sport = pkt->sport,
	    .dport = pkt->dport,
	};
	struct flow_pair_opts opts = {
	    .dst_ep = dst_ep,
	    .flags = CT_F_DIRECT,
	    .reply_to = reply_to,
	};
	struct ct_entry entry = {.policy = policy};
	int ret;

	if (!flow_is_trackable(pkt))
		return VERDICT_PASS;
	ret = flow_create_pair(skb, pkt, now, &out, &entry, &opts);
	if (ret)
		return ret;
	stats_count(STAT_POLICY_NEW, skb->len);
	return ep4_deliver_at(skb, &entry, is_egress);
}

/* flow_track_direct_at() at tc ingress (tc_pod, tc_node), replies to the sender or routed. */
static __always_inline int flow_track_direct(struct __sk_buff *skb, const struct pkt4 *pkt,
					     __u64 now, __u8 policy, bool is_reply_to_sender,
					     const struct ep4_info *dst_ep)
{
	return flow_track_direct_at(skb, pkt, now, policy,
				    is_reply_to_sender ? FLOW_REPLY_TO_SENDER : FLOW_REPLY_ROUTED,
				    dst_ep, false);
}

#endif
