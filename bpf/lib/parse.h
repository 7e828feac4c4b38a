/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing: Ethernet + IPv4 + the first bytes of TCP/UDP/SCTP/ICMP, bounds-checked; any
 * other IP protocol by its addresses alone.
 */
#ifndef SLUICE_BPF_PARSE_H
#define SLUICE_BPF_PARSE_H

#include "bpf/lib/common.h"

/* pkt4.frag: the packet's place in a fragmented datagram. */
enum pkt_frag {
	PKT_FRAG_NONE = 0, /* not fragmented */
	PKT_FRAG_FIRST,	   /* offset 0, MF: carries the L4 header, parsed like a whole packet */
	PKT_FRAG_LATER,	   /* offset > 0: no L4 header; ports come from the first (frag.h) */
};

/* What the datapath needs of a packet; addresses and ports in network order. */
struct pkt4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* ICMP echo: see parse_icmp_ports(); other protocols without ports: 0 */
	__be16 dport;
	__u16 l4_off; /* from the start of the frame */
	__be16 ip_id; /* fragments only */
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_type; /* ICMP only */
	__u8 frag;	/* enum pkt_frag */
};

enum parse_result {
	PARSE_OK = 0, /* IPv4: TCP/UDP/SCTP with ports, ICMP with its header, or another protocol */
	PARSE_PASS,   /* not IPv4, or too short to know */
	PARSE_MALFORMED, /* addresses readable, rest truncated or inconsistent */
	PARSE_FRAGMENT,	 /* a later IP fragment: addresses, protocol and IP ID only */
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

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO      8

/*
 * ICMP echo as a flow, as Linux conntrack and Cilium track it: the echo id takes the place of
 * the ports, as the request's destination port and the reply's source port, so a reply's tuple
 * is its request's reversed and a request never matches the entry of a reply. Other messages
 * open no flow (ports 0): errors are matched to the flow they quote (icmp4_handle()).
 */
static __always_inline void parse_icmp_ports(__u8 type, __be16 id, __be16 *sport, __be16 *dport)
{
	*sport = type == ICMP_ECHOREPLY ? id : 0;
	*dport = type == ICMP_ECHO ? id : 0;
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
	if (unlikely(ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))) {
		pkt->ip_id = ip->id;
		if (!(ip->frag_off & bpf_htons(IP_OFFSET))) {
			pkt->frag = PKT_FRAG_FIRST;
		} else {
			pkt->frag = PKT_FRAG_LATER;
			/*
			 * One that overlaps the first fragment's L4 header would rewrite its ports
			 * or flags after they were judged (RFC 1858's overlapping fragments).
			 */
			if ((bpf_ntohs(ip->frag_off) & IP_OFFSET) * 8 <
			    parse_l4_min_len(pkt->proto))
				return PARSE_MALFORMED;
			return PARSE_FRAGMENT;
		}
	}

	l4_off = ETH_HLEN + ihl;
	l4_len = parse_l4_min_len(pkt->proto);
	if (!l4_len) {
		/* No ports to read: NetworkPolicy judges it by addresses and protocol alone. */
		pkt->l4_off = l4_off;
		return PARSE_OK;
	}
	if (tot_len < ihl + l4_len)
		return PARSE_MALFORMED;
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
	if (pkt->proto == IPPROTO_ICMP) {
		pkt->icmp_type = ((__u8 *)l4)[0];
		parse_icmp_ports(pkt->icmp_type, ((__be16 *)l4)[2], &pkt->sport, &pkt->dport);
	} else if (pkt->proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > ctx_data_end(skb) || tcp->doff < 5)
			return PARSE_MALFORMED;
		pkt->tcp_flags = ((__u8 *)l4)[13];
	}
	return PARSE_OK;
}

#endif
