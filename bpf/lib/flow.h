/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packets of tracked flows, shared by the pod and uplink programs: rewrite and deliver. */
#ifndef SLUICE_BPF_FLOW_H
#define SLUICE_BPF_FLOW_H

#include "bpf/lib/common.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/ep.h"
#include "bpf/lib/icmp.h"
#include "bpf/lib/lb.h"
#include "bpf/lib/nat.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/stats.h"

/*
 * A packet of a known flow, either direction: it leaves with the tuple its conntrack entry
 * recorded (backend for client -> VIP, VIP for replies) and goes where the entry delivers.
 */
static __always_inline int flow_established(struct __sk_buff *skb, const struct pkt4 *pkt,
					    struct ct_entry *entry, __u64 now)
{
	struct nat4_tuple out = {
	    .saddr = entry->nat_saddr,
	    .daddr = entry->nat_daddr,
	    .sport = entry->nat_sport,
	    .dport = entry->nat_dport,
	};
	int ret;

	ct4_refresh(entry, pkt, now);
	if (unlikely(pkt->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)))
		ct4_close_peer(entry, pkt, now);
	ret = nat4_rewrite(skb, pkt, &out);
	if (ret)
		return ret;
	stats_count((entry->flags & CT_F_REPLY) ? STAT_CT_REPLY : STAT_CT_FORWARD, skb->len);
	return ep4_deliver(skb, entry);
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
 * What every program does first: parse; ICMP errors about tracked flows; packets of known flows,
 * either direction. Returns a tc verdict, VERDICT_PASS or -DROP_* when the packet is dealt with,
 * or VERDICT_NEW_FLOW with pkt and now filled for the program's new-flow path.
 */
static __always_inline int flow_begin(struct __sk_buff *skb, struct pkt4 *pkt, __u64 *now)
{
	struct ct4_key key = {};
	struct ct_entry *entry;

	switch (parse_pkt4(skb, pkt)) {
	case PARSE_OK:
		break;
	case PARSE_MALFORMED:
		return lb4_is_vip(pkt->daddr) ? -DROP_MALFORMED : VERDICT_PASS;
	case PARSE_FRAGMENT:
		return lb4_is_vip(pkt->daddr) ? -DROP_FRAGMENT : VERDICT_PASS;
	default:
		return VERDICT_PASS;
	}

	*now = ct_now();
	if (pkt->proto == IPPROTO_ICMP)
		return icmp4_handle(skb, pkt, *now);

	ct4_key_of(&key, pkt);
	entry = ct4_lookup(&key, *now);
	if (entry && ((entry->flags & CT_F_REPLY) || !flow_is_new_syn(entry, pkt)))
		return flow_established(skb, pkt, entry, *now);
	return VERDICT_NEW_FLOW;
}

/* The entry point's last step: count the outcome (drops by reason) and give tc its verdict. */
static __always_inline int flow_verdict(int ret, __u32 len)
{
	if (ret < 0)
		return stats_drop(-ret, len);
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

/* flow_deliver_to_ep() for the pod at daddr, if any. */
static __always_inline bool flow_deliver_to_pod(struct ct_entry *entry, __be32 daddr)
{
	return flow_deliver_to_ep(entry, ep4_lookup(daddr));
}

/*
 * Tracks a new flow both ways without translation (a NetworkPolicy verdict, cached in the
 * entries so later packets and replies skip the lookups) and delivers this packet. Replies go
 * back into the pod this packet came from when IS_REPLY_TO_SENDER, else to the node's routing;
 * the forward direction goes straight into the destination pod DST_EP when it is on this node
 * (ep4_lookup() of the destination, NULL when it is not). Returns a tc verdict or -DROP_*.
 */
static __always_inline int flow_track_direct(struct __sk_buff *skb, const struct pkt4 *pkt,
					     __u64 now, __u8 policy, bool is_reply_to_sender,
					     const struct ep4_info *dst_ep)
{
	struct ct_entry entry = {};
	struct ct4_key key = {};
	int ret;

	key.saddr = pkt->daddr;
	key.daddr = pkt->saddr;
	key.sport = pkt->dport;
	key.dport = pkt->sport;
	key.proto = pkt->proto;
	entry.expires_ns = now + ct_lifetime_ns(pkt->proto, 0, pkt->tcp_flags);
	entry.nat_saddr = pkt->daddr;
	entry.nat_daddr = pkt->saddr;
	entry.nat_sport = pkt->dport;
	entry.nat_dport = pkt->sport;
	entry.flags = CT_F_REPLY | CT_F_DIRECT;
	entry.policy = policy;
	if (is_reply_to_sender) {
		ret = flow_deliver_to_sender(skb, &entry);
		if (ret)
			return ret;
	}
	if (bpf_map_update_elem(&ct4, &key, &entry, BPF_ANY))
		return -DROP_CT_CREATE;

	ct4_key_of(&key, pkt);
	entry.nat_saddr = pkt->saddr;
	entry.nat_daddr = pkt->daddr;
	entry.nat_sport = pkt->sport;
	entry.nat_dport = pkt->dport;
	entry.flags = CT_F_DIRECT;
	entry.tcp_flags = pkt->tcp_flags;
	flow_deliver_to_ep(&entry, dst_ep);
	if (bpf_map_update_elem(&ct4, &key, &entry, BPF_ANY))
		return -DROP_CT_CREATE;
	stats_count(STAT_POLICY_NEW, skb->len);
	return ep4_deliver(skb, &entry);
}

#endif
