/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ICMP: port-unreachable for services without endpoints, and errors about tracked flows. */
#ifndef SLUICE_BPF_ICMP_H
#define SLUICE_BPF_ICMP_H

#include "bpf/lib/common.h"
#include "bpf/lib/csum.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/ep.h"
#include "bpf/lib/events.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/stats.h"
#include "maps/stats.h"

/*
 * The reject frame, as 16-bit words so every stack access is aligned (the verifier insists):
 * Ethernet (words 0-6), IPv4 (7-16), ICMP header (17-20), then the quote RFC 792 asks for:
 * the offending IP header and the first 8 bytes of its payload (21-34).
 */
#define ICMP_REJECT_LEN	  70
#define ICMP_REJECT_IP	  7
#define ICMP_REJECT_ICMP  17
#define ICMP_REJECT_QUOTE 21
#define ICMP_QUOTE_LEN	  28 /* IPv4 header without options + 8 bytes */

/*
 * Rebuilds the packet in place as ICMP destination unreachable CODE about it, from the address
 * it was sent to, with NEXT_HOP_MTU (fragmentation needed, RFC 1191; 0 for other codes), the
 * quote RFC 792 asks for, and the MACs swapped, for the caller to send back where it came from.
 * Packets with IP options are not answered. Returns 0, or -1 when nothing was rebuilt.
 */
static __always_inline int icmp4_unreach(struct __sk_buff *skb, const struct pkt4 *pkt, __u8 code,
					 __u16 next_hop_mtu)
{
	__u16 frame[36] __attribute__((aligned(4))) = {};
	__u8 macs[2 * ETH_ALEN];
	struct iphdr *ip;

	ip = ctx_data(skb) + ETH_HLEN;
	if ((void *)(ip + 1) > ctx_data_end(skb) || ip->ihl != 5)
		return -1;
	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, &frame[ICMP_REJECT_QUOTE], ICMP_QUOTE_LEN))
		return -1;

	__builtin_memcpy(&frame[0], &macs[ETH_ALEN], ETH_ALEN); /* back to the sender */
	__builtin_memcpy(&frame[3], &macs[0], ETH_ALEN);
	frame[6] = bpf_htons(ETH_P_IP);

	frame[ICMP_REJECT_IP + 0] = bpf_htons(0x45c0); /* v4, ihl 5, tos internetwork control */
	frame[ICMP_REJECT_IP + 1] = bpf_htons(ICMP_REJECT_LEN - ETH_HLEN);
	frame[ICMP_REJECT_IP + 4] = bpf_htons((64 << 8) | IPPROTO_ICMP); /* ttl 64 */
	__builtin_memcpy(&frame[ICMP_REJECT_IP + 6], &pkt->daddr, 4);	 /* from where it went */
	__builtin_memcpy(&frame[ICMP_REJECT_IP + 8], &pkt->saddr, 4);
	frame[ICMP_REJECT_IP + 5] = csum_words(&frame[ICMP_REJECT_IP], 10);

	frame[ICMP_REJECT_ICMP] = bpf_htons((ICMP_DEST_UNREACH << 8) | code);
	frame[ICMP_REJECT_ICMP + 3] = bpf_htons(next_hop_mtu);
	frame[ICMP_REJECT_ICMP + 1] = csum_words(&frame[ICMP_REJECT_ICMP], 18);

	if (bpf_skb_change_tail(skb, ICMP_REJECT_LEN, 0) ||
	    bpf_skb_store_bytes(skb, 0, frame, ICMP_REJECT_LEN, 0))
		return -1;
	return 0;
}

/*
 * Answers a packet for a service without endpoints with ICMP port unreachable from the VIP, as
 * kube-proxy's REJECT rule does, so clients fail at once instead of timing out. The frame is
 * rebuilt in place and sent back into the pod (is_peer, the pod program) or out of the device it
 * came in on (the uplink program), and counted as STAT_REJECT. Packets with IP options, and RSTs
 * (never answered, RFC 1122), are dropped instead. Returns a tc verdict or -DROP_NO_BACKEND.
 */
static __always_inline int icmp4_reject(struct __sk_buff *skb, const struct pkt4 *pkt,
					const bool is_peer)
{
	if (pkt->proto == IPPROTO_TCP && (pkt->tcp_flags & TCP_FLAG_RST))
		return -DROP_NO_BACKEND;
	/* Told as the drop it is for the client, while the frame is still its packet. */
	events_packet(skb, EVENT_DROP, DROP_NO_BACKEND, EVENT_F_REJECTED);
	if (icmp4_unreach(skb, pkt, ICMP_PORT_UNREACH, 0))
		return -DROP_NO_BACKEND;
	stats_count(STAT_REJECT, skb->len);
	/* Back where it came from: into the pod behind this veth, or out of the uplink. */
	return is_peer ? bpf_redirect_peer(skb->ifindex, 0) : bpf_redirect(skb->ifindex, 0);
}

/*
 * A packet a program sends out of device IFINDEX itself (bpf_redirect_neigh, skipping the
 * stack's MTU check), as the stack would forward it: one that fits the device's MTU goes on
 * (returns 0), and so does one without DF (the tunnel fragments its outer datagram); one with DF
 * is answered with ICMP fragmentation needed and the device's MTU from the address it was sent
 * to, back out of the device it came in on (a tc verdict, counted as STAT_FRAG_NEEDED), so its
 * sender lowers its path MTU instead of losing it silently. PKT is the packet as it arrived, not
 * yet translated: the sender recognises its own packet in the quote. Segments of a GSO packet
 * are checked one by one. Returns 0, a tc verdict, or -DROP_TOO_BIG when no answer could be
 * built.
 */
static __always_inline int icmp4_check_mtu(struct __sk_buff *skb, const struct pkt4 *pkt,
					   __u32 ifindex)
{
	struct iphdr *ip;
	__u32 mtu = 0;

	if (bpf_check_mtu(skb, ifindex, &mtu, 0, BPF_MTU_CHK_SEGS) == BPF_MTU_CHK_RET_SUCCESS)
		return 0;
	ip = ctx_data(skb) + ETH_HLEN;
	if ((void *)(ip + 1) > ctx_data_end(skb))
		return -DROP_TOO_BIG;
	if (!(ip->frag_off & bpf_htons(IP_DF)))
		return 0;
	if (!mtu || mtu > 0xffff || icmp4_unreach(skb, pkt, ICMP_FRAG_NEEDED, mtu))
		return -DROP_TOO_BIG;
	stats_count(STAT_FRAG_NEEDED, skb->len);
	return bpf_redirect(skb->ifindex, 0);
}

/* The rewrite of an ICMP error: outer addresses, and the quoted packet's addresses and ports. */
struct icmp4_xlate {
	__be32 outer_saddr, outer_daddr;
	__be32 inner_saddr, inner_daddr;
	__be16 inner_sport, inner_dport;
};

/*
 * Looks up the flow an ICMP error quotes. Its reversed inner tuple is the key of the entry for
 * the direction the error travels: a reply entry when the backend side complains about what
 * the client sent, a forward entry when the client complains about a reply. Either way the
 * quoted packet becomes the reverse of the entry's tuple (what the error's receiver sent) and
 * the error goes where the entry delivers. Returns the entry, or NULL when the error is about
 * no flow of ours.
 */
static __always_inline struct ct_entry *icmp4_plan(const struct iphdr *ip,
						   const struct iphdr *inner, __be16 inner_sport,
						   __be16 inner_dport, __u64 now,
						   struct icmp4_xlate *x)
{
	struct ct4_key key = {
	    .saddr = inner->daddr,
	    .daddr = inner->saddr,
	    .sport = inner_dport,
	    .dport = inner_sport,
	    .proto = inner->protocol,
	};
	struct ct_entry *entry;

	entry = ct4_lookup(&key, now);
	if (!entry)
		return NULL;
	x->inner_saddr = entry->nat_daddr;
	x->inner_daddr = entry->nat_saddr;
	x->inner_sport = entry->nat_dport;
	x->inner_dport = entry->nat_sport;
	x->outer_daddr = entry->nat_daddr;
	/* Only an error the flow's peer itself sent carries an address to translate. */
	x->outer_saddr = ip->saddr == inner->daddr ? entry->nat_saddr : ip->saddr;
	return entry;
}

/*
 * The flow tuple's ports of the packet an ICMP error quotes (INNER, its first 4 bytes at
 * INNER_PORTS), as parse_pkt4() gives them for the packet itself: TCP/UDP/SCTP ports, an
 * echo's id (parse_icmp_ports()), or 0 for other protocols. Returns false when they cannot be
 * read (no flow to find).
 */
static __always_inline bool icmp4_inner_ports(struct __sk_buff *skb, __u32 inner_off,
					      const struct iphdr *inner, const __be16 *inner_ports,
					      __be16 *sport, __be16 *dport)
{
	__be16 id;

	switch (inner->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		*sport = inner_ports[0];
		*dport = inner_ports[1];
		return true;
	case IPPROTO_ICMP:
		/* The id is bytes 4-5 of the quoted header; RFC 792 quotes 8 bytes. */
		if (bpf_skb_load_bytes(skb, inner_off + sizeof(struct iphdr) + 4, &id, sizeof(id)))
			return false;
		parse_icmp_ports(((const __u8 *)inner_ports)[0], id, sport, dport);
		return true;
	default:
		*sport = 0;
		*dport = 0;
		return true;
	}
}

/*
 * ICMP destination-unreachable, time-exceeded and parameter-problem errors about a tracked
 * flow: the error goes where the flow's entry for its direction delivers. An error about a
 * translated TCP/UDP/SCTP flow, or a masqueraded ICMP echo (its id), is translated, so the
 * sender of the original packet recognises it; only IP and ICMP checksums are patched: a quoted
 * L4 checksum may be cut off and receivers do not check it. An error about a flow tracked only for
 * NetworkPolicy (CT_F_DIRECT, any protocol) needs no rewrite, and passes whatever the policies say,
 * as the flow's replies do. Returns a tc verdict, or VERDICT_NEW_FLOW for any other ICMP message:
 * the program's new-flow path judges it alone (flow_is_trackable() says it opens no flow).
 * IS_EGRESS: called at a pod veth's tc egress (ep4_deliver_at()).
 */
static __always_inline int icmp4_handle_at(struct __sk_buff *skb, const struct pkt4 *pkt, __u64 now,
					   const bool is_egress)
{
	__u32 off = pkt->l4_off & 0x7f;
	__u8 type = pkt->icmp_type;
	struct iphdr *ip, *inner;
	struct icmp4_xlate x;
	__be16 *inner_ports, inner_sport, inner_dport, echo_id = 0, echo_id_to = 0;
	__u16 *icmp_csum;
	struct ct_entry *entry;
	__u16 inner_check;
	__u8 inner_type;

	if (type != ICMP_DEST_UNREACH && type != ICMP_TIME_EXCEEDED && type != ICMP_PARAMETERPROB)
		return VERDICT_NEW_FLOW;
	if (parse_ensure(skb, off + 8 + sizeof(struct iphdr) + 4))
		return VERDICT_NEW_FLOW;
	ip = ctx_data(skb) + ETH_HLEN;
	inner = ctx_data(skb) + off + 8;
	inner_ports = (void *)(inner + 1);
	if ((void *)(ip + 1) > ctx_data_end(skb) || (void *)(inner_ports + 2) > ctx_data_end(skb))
		return VERDICT_NEW_FLOW;
	if (inner->version != 4 || inner->ihl != 5 ||
	    !icmp4_inner_ports(skb, off + 8, inner, inner_ports, &inner_sport, &inner_dport))
		return VERDICT_NEW_FLOW;

	entry = icmp4_plan(ip, inner, inner_sport, inner_dport, now, &x);
	if (!entry)
		return VERDICT_NEW_FLOW;
	if (entry->flags & CT_F_DIRECT)
		goto deliver;
	if (inner->protocol == IPPROTO_ICMP) {
		/* A masqueraded echo (egress masquerade): its id plays the port. */
		inner_type = ((const __u8 *)inner_ports)[0];
		if (inner_type != ICMP_ECHO && inner_type != ICMP_ECHOREPLY)
			return VERDICT_NEW_FLOW;
		echo_id = inner_type == ICMP_ECHO ? inner_dport : inner_sport;
		echo_id_to = inner_type == ICMP_ECHO ? x.inner_dport : x.inner_sport;
	} else if (inner->protocol != IPPROTO_TCP && inner->protocol != IPPROTO_UDP &&
		   inner->protocol != IPPROTO_SCTP) {
		return VERDICT_NEW_FLOW; /* only those are ever translated */
	}

	icmp_csum = ctx_data(skb) + off + 2;
	if ((void *)(icmp_csum + 1) > ctx_data_end(skb))
		return VERDICT_PASS;
	ip->check = csum_replace4(ip->check, ip->saddr, x.outer_saddr);
	ip->check = csum_replace4(ip->check, ip->daddr, x.outer_daddr);
	ip->saddr = x.outer_saddr;
	ip->daddr = x.outer_daddr;

	inner_check = inner->check;
	inner->check = csum_replace4(inner->check, inner->saddr, x.inner_saddr);
	inner->check = csum_replace4(inner->check, inner->daddr, x.inner_daddr);
	*icmp_csum = csum_replace4(*icmp_csum, inner->saddr, x.inner_saddr);
	*icmp_csum = csum_replace4(*icmp_csum, inner->daddr, x.inner_daddr);
	*icmp_csum = csum_replace2(*icmp_csum, inner_check, inner->check);
	inner->saddr = x.inner_saddr;
	inner->daddr = x.inner_daddr;
	if (inner->protocol == IPPROTO_ICMP) {
		/*
		 * The id is bytes 4-5 of the quoted header, past what was made linear: stored,
		 * which invalidates the packet pointers (none is used after).
		 */
		*icmp_csum = csum_replace2(*icmp_csum, echo_id, echo_id_to);
		if (bpf_skb_store_bytes(skb, off + 8 + sizeof(struct iphdr) + 4, &echo_id_to,
					sizeof(echo_id_to), 0))
			return -DROP_MALFORMED;
		goto deliver;
	}
	*icmp_csum = csum_replace2(*icmp_csum, inner_ports[0], x.inner_sport);
	*icmp_csum = csum_replace2(*icmp_csum, inner_ports[1], x.inner_dport);
	inner_ports[0] = x.inner_sport;
	inner_ports[1] = x.inner_dport;

deliver:
	stats_count(STAT_ICMP_XLATE, skb->len);
	return ep4_deliver_at(skb, entry, is_egress);
}

/* icmp4_handle_at() at tc ingress. */
static __always_inline int icmp4_handle(struct __sk_buff *skb, const struct pkt4 *pkt, __u64 now)
{
	return icmp4_handle_at(skb, pkt, now, false);
}

#endif
