/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Pods on this node: delivery straight into their namespaces, skipping the node's stack, and the
 * check that a pod sends only as itself.
 */
#ifndef SLUICE_BPF_EP_H
#define SLUICE_BPF_EP_H

#include "bpf/lib/common.h"
#include "bpf/lib/parse.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/stats.h"

/* Sends the packet into the pod behind host veth ifindex, with the MACs of that veth pair. */
static __always_inline int ep4_redirect(struct __sk_buff *skb, __u32 ifindex, const __u8 *mac,
					const __u8 *host_mac)
{
	struct ethhdr *eth = ctx_data(skb);

	if ((void *)(eth + 1) > ctx_data_end(skb))
		return TC_ACT_OK;
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, host_mac, ETH_ALEN);
	return bpf_redirect_peer(ifindex, 0);
}

/*
 * Delivers a packet of a tracked flow where its conntrack entry says: into a local pod, out of
 * a device through the neighbour table (CT_F_NEIGH: the flow's packets carry a source the node
 * owns, which the routing path would drop as martian), or to the node's routing (ifindex 0).
 */
static __always_inline int ep4_deliver(struct __sk_buff *skb, const struct ct_entry *entry)
{
	if (!entry->ifindex)
		return TC_ACT_OK;
	if (unlikely(entry->flags & CT_F_NEIGH))
		return bpf_redirect_neigh(entry->ifindex, NULL, 0, 0);
	return ep4_redirect(skb, entry->ifindex, entry->mac, entry->host_mac);
}

/*
 * ep4_deliver() for a program at tc ingress (IS_EGRESS false), or at a pod veth's tc egress
 * (tc_to_pod, IS_EGRESS true): there the stack is already sending the packet into that pod, and
 * bpf_redirect_peer works only at tc ingress (skb_do_redirect drops it at egress), so the packet
 * goes on as it is. IS_EGRESS is a constant at each call: ingress programs pay no test.
 */
static __always_inline int ep4_deliver_at(struct __sk_buff *skb, const struct ct_entry *entry,
					  const bool is_egress)
{
	if (is_egress)
		return TC_ACT_OK;
	return ep4_deliver(skb, entry);
}

static __always_inline struct ep4_info *ep4_lookup(__be32 address)
{
	struct ep4_key key = {.address = address};

	return bpf_map_lookup_elem(&ep4, &key);
}

/*
 * The address a frame from a pod claims as its own: an IPv4 packet's source, an ARP's sender
 * protocol address (Ethernet/IPv4 layout; the kernel drops any other). Returns 1 with *address
 * set, 0 for another ethertype, or -DROP_MALFORMED when the address cannot be read (the stack
 * would drop such a frame anyway).
 */
static __always_inline int ep4_claimed_address(struct __sk_buff *skb, __be32 *address)
{
	/*
	 * Through CTX_LOAD_U32: a plain skb->protocol here lets clang share "skb + 16" with
	 * parse_pkt4's read of the same field, which the verifier refuses ("dereference of
	 * modified ctx ptr", clang 14 to 19).
	 */
	__u32 protocol = (__u32)(long)CTX_LOAD_U32(skb, protocol);

	if (protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip;

		if (parse_ensure(skb, ETH_HLEN + sizeof(*ip)))
			return -DROP_MALFORMED;
		ip = ctx_data(skb) + ETH_HLEN;
		if ((void *)(ip + 1) > ctx_data_end(skb))
			return -DROP_MALFORMED;
		*address = ip->saddr;
		return 1;
	}
	if (protocol == bpf_htons(ETH_P_ARP)) {
		/* arphdr, then sender MAC, sender IPv4, target MAC, target IPv4: 28 bytes. */
		__u32 len = sizeof(struct arphdr) + 2 * (ETH_ALEN + sizeof(__be32));
		struct arphdr *arp;
		__u8 *sender;

		if (parse_ensure(skb, ETH_HLEN + len))
			return -DROP_MALFORMED;
		arp = ctx_data(skb) + ETH_HLEN;
		if ((void *)arp + len > ctx_data_end(skb))
			return -DROP_MALFORMED;
		if (arp->ar_pro != bpf_htons(ETH_P_IP) || arp->ar_hln != ETH_ALEN ||
		    arp->ar_pln != sizeof(__be32))
			return -DROP_MALFORMED;
		sender = (__u8 *)(arp + 1) + ETH_ALEN;
		__builtin_memcpy(address, sender, sizeof(*address));
		return 1;
	}
	return 0;
}

/*
 * A pod sends only as itself: a frame that came in on a pod's host veth (tc_pod is attached to
 * each, at tc ingress, so the receiving device names the sending pod) must claim the address the
 * CNI plugin registered in ep4 for that veth. One ep4 lookup by the claimed address, whose
 * ifindex must be the veth the frame came in on: skb->ingress_ifindex, which the kernel sets to
 * the receiving device (skb->ifindex) before the tc ingress hook, and which BPF_PROG_TEST_RUN
 * lets a test set per packet without creating a device. 0.0.0.0 (DHCP, ARP probes) is never
 * registered, so it is refused too: pods get their address from the CNI plugin. Every other
 * ethertype is refused as well: pods are given no IPv6 address, and the node's stack would route
 * an IPv6 packet with any source it likes past NetworkPolicy. Returns 0, -DROP_SPOOFED,
 * -DROP_NOT_IPV4 or -DROP_MALFORMED.
 */
static __always_inline int ep4_check_source(struct __sk_buff *skb)
{
	const struct ep4_info *ep;
	__be32 address = 0;
	int ret;

	ret = ep4_claimed_address(skb, &address);
	if (ret <= 0)
		return ret ? ret : -DROP_NOT_IPV4;
	ep = ep4_lookup(address);
	if (!ep || ep->ifindex != skb->ingress_ifindex)
		return -DROP_SPOOFED;
	return 0;
}

#endif
