/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The node's routing, asked from BPF: one FIB lookup helper for every program that needs it. */
#ifndef SLUICE_BPF_FIB_H
#define SLUICE_BPF_FIB_H

#include "bpf/lib/common.h"

/*
 * Where the node would route an IPv4 packet (PROTO, SADDR:SPORT -> DADDR:DPORT) arriving on
 * SKB's device: FLAGS 0 asks the input path (forwarding), BPF_FIB_LOOKUP_OUTPUT the path of a
 * packet the node sends itself. Returns bpf_fib_lookup()'s BPF_FIB_LKUP_RET_*; *IFINDEX is the
 * egress device when it found a route (SUCCESS, NO_NEIGH, FRAG_NEEDED), else untouched.
 */
static __always_inline long fib4_lookup(struct __sk_buff *skb, __u8 proto, __be32 saddr,
					__be32 daddr, __be16 sport, __be16 dport, __u32 flags,
					__u32 *ifindex)
{
	struct bpf_fib_lookup fib;
	long ret;

	/*
	 * Zeroed whole, not by a designated initializer: clang then leaves the other bytes of the
	 * struct's unions as stack garbage, and the kernel refused the lookup (-EAFNOSUPPORT, seen
	 * on 6.18).
	 */
	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = AF_INET;
	fib.l4_protocol = proto;
	fib.sport = sport;
	fib.dport = dport;
	fib.ipv4_src = saddr;
	fib.ipv4_dst = daddr;
	fib.ifindex = skb->ifindex;
	ret = bpf_fib_lookup(skb, &fib, sizeof(fib), flags);
	if (ret == BPF_FIB_LKUP_RET_SUCCESS || ret == BPF_FIB_LKUP_RET_NO_NEIGH ||
	    ret == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		*ifindex = fib.ifindex;
	return ret;
}

#endif
