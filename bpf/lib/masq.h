/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Egress masquerade: which new flows of a pod leave the node with the node's address (Azure CNI
 * Overlay's "NAT'd to the node IP"), and the source ports they claim. The SNAT itself is the
 * NodePort masquerade's: the flow's reply entry claims (destination, node address, port) in ct4
 * (flow_create_pair, ct4_claim_port) from the same range (snat.h), so the two never share a
 * tuple; the replies come back through tc_node's conntrack lookup on the uplink.
 */
#ifndef SLUICE_BPF_MASQ_H
#define SLUICE_BPF_MASQ_H

#include "bpf/lib/common.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/fib.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/snat.h"
#include "maps/masq.h"
#include "maps/node.h"

/*
 * The uplink's ifindex when egress masquerade is on, 0 when it is off (no --uplink, no
 * --cluster-cidr, or --masquerade=false). Set by the loader in both tc programs: tc_pod
 * masquerades, tc_node tracks what comes in straight to a pod so that its replies are not.
 */
const volatile __u32 masq_ifindex = 0;

static __always_inline bool masq4_is_on(void)
{
	return masq_ifindex != 0;
}

/*
 * Does a new flow from a pod to PKT's destination leave masqueraded? Not when masquerade is off,
 * when the destination is in masq4_skip (the cluster CIDR, the service CIDR, the
 * --non-masquerade-cidr list), when it is one of the node's addresses, or when the node's routing
 * (a FIB lookup as the packet would meet it, from the pod's veth) does not send it out of the
 * uplink: a local address, another device, no route, forwarding off. Its replies would not come
 * back through tc_node there, so such flows keep the pod's address, as without masquerade.
 * Another node's address is outside all of that and is masqueraded like the outside: the
 * underlay knows only node addresses (a cloud network drops a pod's). What another node opens
 * to a pod with its own address is tracked where it enters (tc_node with masquerade on, the
 * tunnel always), so the pod's answers meet their conntrack entry and never get here.
 * On true, *IFINDEX is the uplink, for bpf_redirect_neigh. Called for every packet that no flow
 * knows, so the cheap tests come first: pod-to-pod traffic stops at the LPM lookup.
 */
static __always_inline bool masq4_route(struct __sk_buff *skb, const struct pkt4 *pkt,
					__u32 *ifindex)
{
	struct masq4_key key = {.prefix_len = 32, .address = pkt->daddr};
	struct node4_addr *addr;
	long ret;

	if (!masq4_is_on())
		return false;
	if (bpf_map_lookup_elem(&masq4_skip, &key))
		return false;
	addr = bpf_map_lookup_elem(&node4_addrs, &pkt->daddr);
	if (addr && (addr->flags & NODE4_F_ADDRESS))
		return false;
	/* Input mode: the route the stack would give this packet arriving on the pod's veth. */
	ret = fib4_lookup(skb, pkt->proto, pkt->saddr, pkt->daddr, pkt->sport, pkt->dport, 0,
			  ifindex);
	if (ret != BPF_FIB_LKUP_RET_SUCCESS && ret != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    ret != BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return false;
	return *ifindex == masq_ifindex;
}

/*
 * The node address a pod's flow leaves with: the node's SNAT address (node4_addrs' 0.0.0.0
 * entry, the node's first address). 0 when the agent has written none.
 */
static __always_inline __be32 masq4_address(void)
{
	__be32 any = 0;
	struct node4_addr *addr = bpf_map_lookup_elem(&node4_addrs, &any);

	return addr ? addr->snat : 0;
}

/*
 * The protocols masquerade translates: TCP, UDP, ICMP echo requests (the echo id is the port),
 * SCTP (address only, below). Any other protocol, and ICMP other than an echo request about no
 * tracked flow, cannot be told apart per flow or translated back: dropped as
 * DROP_UNSUPPORTED rather than sent out with a pod address no reply can find.
 */
static __always_inline bool masq4_is_translatable(const struct pkt4 *pkt)
{
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		return true;
	case IPPROTO_ICMP:
		return pkt->icmp_type == ICMP_ECHO;
	default:
		return false;
	}
}

/*
 * Where a masqueraded flow's source port is claimed: the NodePort masquerade's range (snat4_ports)
 * for TCP and UDP; for an ICMP echo the same range, as its id, which is the reply's source port
 * (parse_icmp_ports); for SCTP only its own port: its CRC32c covers no address but does cover
 * the ports, so SCTP is masqueraded by address alone, and a second association from another pod
 * with the same port to the same destination is dropped (DROP_NAT_NO_PORT).
 */
static __always_inline struct ct4_port_range masq4_ports(const struct pkt4 *pkt)
{
	struct ct4_port_range range = snat4_ports();

	if (pkt->proto == IPPROTO_SCTP) {
		range.min = bpf_ntohs(pkt->sport);
		range.max = range.min;
		range.probes = 1;
	} else if (pkt->proto == IPPROTO_ICMP) {
		range.is_echo_id = 1;
	}
	return range;
}

#endif
