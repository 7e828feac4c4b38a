/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing: Ethernet + IPv4 + the first bytes of TCP/UDP/ICMP, bounds-checked. */
#ifndef SLUICE_BPF_PARSE_H
#define SLUICE_BPF_PARSE_H

#include "bpf/lib/common.h"

/* What the datapath needs of a packet; addresses and ports in network order. */
struct pkt4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* ICMP: type in the low byte order as on the wire, see icmp.h */
	__be16 dport;
	__u16 l4_off; /* from the start of the frame */
	__u8 proto;
	__u8 tcp_flags;
};

enum parse_result {
	PARSE_OK = 0,	 /* IPv4 TCP/UDP with ports, or ICMP with its header */
	PARSE_PASS,	 /* not IPv4, not a protocol we translate, or too short to know */
	PARSE_MALFORMED, /* addresses readable, rest truncated or inconsistent */
	PARSE_FRAGMENT,	 /* IP fragment: no ports in it (or not in the later ones) */
};

/*
 * skb->data / data_end loaded with an explicit "ctx + constant" instruction: clang 14 otherwise
 * hoists &skb->data_end into a register and the verifier rejects the load ("dereference of
 * modified ctx ptr").
 */
#define CTX_LOAD_U32(skb, field)                                                                   \
	({                                                                                         \
		__u64 value_;                                                                      \
		asm volatile("%[res] = *(u32 *)(%[base] + %[off])"                                 \
			     : [res] "=r"(value_)                                                  \
			     : [base] "r"(skb), [off] "i"(offsetof(struct __sk_buff, field)));     \
		(void *)(long)value_;                                                              \
	})
#define ctx_data(skb)	  CTX_LOAD_U32(skb, data)
#define ctx_data_end(skb) CTX_LOAD_U32(skb, data_end)

/*
 * Makes the first len bytes linear so direct packet access can read them. Returns 0 when they
 * are readable. Invalidates every packet pointer the caller held.
 */
static __always_inline int parse_ensure(struct __sk_buff *skb, __u32 len)
{
	if (ctx_data(skb) + len <= ctx_data_end(skb))
		return 0;
	if (skb->len < len)
		return -1;
	return bpf_skb_pull_data(skb, len) ? -1 : 0;
}

static __always_inline __u32 parse_l4_min_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_SCTP:
		return 12; /* common header: ports, verification tag, CRC32c */
	case IPPROTO_ICMP:
		return 8;
	default:
		return 0;
	}
}

static __always_inline int parse_pkt4(struct __sk_buff *skb, struct pkt4 *pkt)
{
	__u32 ihl, tot_len, l4_len, l4_off;
	struct ethhdr *eth;
	struct iphdr *ip;
	void *l4;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return PARSE_PASS;
	if (parse_ensure(skb, ETH_HLEN + sizeof(struct iphdr)))
		return PARSE_PASS;
	eth = ctx_data(skb);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > ctx_data_end(skb) || eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_PASS;

	pkt->saddr = ip->saddr;
	pkt->daddr = ip->daddr;
	pkt->proto = ip->protocol;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSE_MALFORMED;
	ihl = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < ihl || ETH_HLEN + tot_len > skb->len)
		return PARSE_MALFORMED;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return PARSE_FRAGMENT;

	l4_len = parse_l4_min_len(pkt->proto);
	if (!l4_len)
		return PARSE_PASS;
	if (tot_len < ihl + l4_len)
		return PARSE_MALFORMED;
	l4_off = ETH_HLEN + ihl;
	if (parse_ensure(skb, l4_off + l4_len))
		return PARSE_MALFORMED;
	l4 = ctx_data(skb) + l4_off;
	/* tcphdr is the longest header read here; bound by it so one check serves all. */
	if (l4 + sizeof(struct tcphdr) > ctx_data_end(skb)) {
		if (l4 + 8 > ctx_data_end(skb) || pkt->proto == IPPROTO_TCP)
			return PARSE_MALFORMED;
	}
	pkt->l4_off = l4_off;
	pkt->sport = ((__be16 *)l4)[0];
	pkt->dport = ((__be16 *)l4)[1];
	if (pkt->proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > ctx_data_end(skb) || tcp->doff < 5)
			return PARSE_MALFORMED;
		pkt->tcp_flags = ((__u8 *)l4)[13];
	}
	return PARSE_OK;
}

#endif
