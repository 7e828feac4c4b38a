/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address and port rewriting of TCP/UDP packets with incremental checksum updates. */
#ifndef SLUICE_BPF_NAT_H
#define SLUICE_BPF_NAT_H

#include "bpf/lib/common.h"
#include "bpf/lib/csum.h"
#include "bpf/lib/parse.h"
#include "maps/stats.h"

/* The tuple a packet should leave with. */
struct nat4_tuple {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
};

static __always_inline int nat4_l4_csum(struct __sk_buff *skb, __u32 csum_off, __u64 flags,
					__u32 from, __u32 to)
{
	if (from == to)
		return 0;
	return bpf_l4_csum_replace(skb, csum_off, from, to, flags);
}

/* The IP header's share of a rewrite: addresses, and its checksum patched in place. */
static __always_inline void nat4_rewrite_ip(struct iphdr *ip, const struct pkt4 *pkt,
					    const struct nat4_tuple *out)
{
	if (out->saddr != pkt->saddr) {
		ip->check = csum_replace4(ip->check, pkt->saddr, out->saddr);
		ip->saddr = out->saddr;
	}
	if (out->daddr != pkt->daddr) {
		ip->check = csum_replace4(ip->check, pkt->daddr, out->daddr);
		ip->daddr = out->daddr;
	}
}

/*
 * A later IP fragment gets its addresses only: it has no L4 header, and the L4 checksum, which
 * covers the whole datagram and its pseudo-header, was fixed up in the first fragment for the
 * same tuple. Returns 0 or -DROP_MALFORMED.
 */
static __always_inline int nat4_rewrite_later_fragment(struct __sk_buff *skb,
						       const struct pkt4 *pkt,
						       const struct nat4_tuple *out)
{
	struct iphdr *ip = ctx_data(skb) + ETH_HLEN;

	if ((void *)(ip + 1) > ctx_data_end(skb))
		return -DROP_MALFORMED;
	nat4_rewrite_ip(ip, pkt, out);
	return 0;
}

/*
 * An ICMP echo request or reply of a masqueraded flow: addresses, and the echo id, which plays
 * the port (parse_icmp_ports: the request's destination port, the reply's source port). The ICMP
 * checksum covers no pseudo-header: only the id's change goes into it. Returns 0 or -DROP_*.
 */
static __always_inline int nat4_rewrite_echo(struct __sk_buff *skb, const struct pkt4 *pkt,
					     const struct nat4_tuple *out)
{
	__u32 l4_off = pkt->l4_off & 0x7f; /* bounded for the verifier: 14 + 60 at most */
	bool is_request = pkt->icmp_type == ICMP_ECHO;
	__be16 from = is_request ? pkt->dport : pkt->sport;
	__be16 to = is_request ? out->dport : out->sport;
	struct iphdr *ip;
	__be16 *id;

	if (!is_request && pkt->icmp_type != ICMP_ECHOREPLY)
		return -DROP_UNSUPPORTED; /* only echoes are flows (flow_is_trackable) */
	ip = ctx_data(skb) + ETH_HLEN;
	id = ctx_data(skb) + l4_off + 4;
	if ((void *)(ip + 1) > ctx_data_end(skb) || (void *)(id + 1) > ctx_data_end(skb))
		return -DROP_MALFORMED;
	nat4_rewrite_ip(ip, pkt, out);
	*id = to;
	if (nat4_l4_csum(skb, l4_off + 2, 2, from, to))
		return -DROP_CSUM;
	return 0;
}

/*
 * Rewrites the packet parsed into pkt to carry tuple out. The IP header checksum is patched
 * in place (never offloaded); the L4 checksum goes through bpf_l4_csum_replace, which knows
 * whether the skb carries a full checksum or only the pseudo-header sum (CHECKSUM_PARTIAL,
 * as pods' veth transmit does). SCTP gets addresses only (see below), an ICMP echo its addresses
 * and id (nat4_rewrite_echo); a later IP fragment goes
 * through nat4_rewrite_later_fragment() instead. Returns 0 or -DROP_*.
 * Invalidates packet pointers.
 */
static __always_inline int nat4_rewrite(struct __sk_buff *skb, const struct pkt4 *pkt,
					const struct nat4_tuple *out)
{
	__u32 l4_off = pkt->l4_off & 0x7f; /* bounded for the verifier: 14 + 60 at most */
	__u64 l4_flags = 0;
	__u32 csum_off;
	struct iphdr *ip;
	__be16 *ports;

	/*
	 * SCTP's CRC32c covers no addresses, so an address rewrite leaves it valid; a port rewrite
	 * would need the CRC recomputed over the whole packet (and whether a pod's veth offloaded
	 * it is invisible here). The agent programs SCTP only with targetPort == port.
	 */
	if (pkt->proto == IPPROTO_SCTP && (out->sport != pkt->sport || out->dport != pkt->dport))
		return -DROP_UNSUPPORTED;
	if (pkt->proto == IPPROTO_ICMP)
		return nat4_rewrite_echo(skb, pkt, out);

	ip = ctx_data(skb) + ETH_HLEN;
	ports = ctx_data(skb) + l4_off;
	if ((void *)(ip + 1) > ctx_data_end(skb) || (void *)(ports + 2) > ctx_data_end(skb))
		return -DROP_MALFORMED;

	nat4_rewrite_ip(ip, pkt, out);
	ports[0] = out->sport;
	ports[1] = out->dport;

	if (pkt->proto == IPPROTO_SCTP)
		return 0;
	if (pkt->proto == IPPROTO_TCP) {
		csum_off = l4_off + offsetof(struct tcphdr, check);
	} else {
		csum_off = l4_off + offsetof(struct udphdr, check);
		l4_flags = BPF_F_MARK_MANGLED_0; /* UDP checksum 0 means "none": keep it */
	}
	if (nat4_l4_csum(skb, csum_off, l4_flags | BPF_F_PSEUDO_HDR | 4, pkt->saddr, out->saddr) ||
	    nat4_l4_csum(skb, csum_off, l4_flags | BPF_F_PSEUDO_HDR | 4, pkt->daddr, out->daddr) ||
	    nat4_l4_csum(skb, csum_off, l4_flags | 2, pkt->sport, out->sport) ||
	    nat4_l4_csum(skb, csum_off, l4_flags | 2, pkt->dport, out->dport))
		return -DROP_CSUM;
	return 0;
}

#endif
