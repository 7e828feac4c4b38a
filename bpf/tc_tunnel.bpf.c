// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc egress and ingress of the collect-metadata VXLAN device (TUNNEL_DEVICE_NAME) under
 * --routing tunnel. What the node routes to another node's pod CIDR leaves with that node as
 * its outer destination and the source pod's identity as its VNI (tunnel_encap). What arrives
 * must come from a known node, as that node or one of its pods (tunnel_check_source), and is
 * then handled as tc_node handles the uplink: packets of tracked flows are translated and
 * delivered, a new flow to a pod here is judged by the pod's ingress policy with the identity
 * the VNI carried and delivered straight into the pod; the rest goes to the node's stack.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps/lb.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/frag.h"
#include "maps/node.h"
#include "maps/policy.h"
#include "maps/stats.h"
#include "maps/tunnel.h"

#include "bpf/lib/common.h"
#include "bpf/lib/stats.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/csum.h"
#include "bpf/lib/nat.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/lb.h"
#include "bpf/lib/ep.h"
#include "bpf/lib/frag.h"
#include "bpf/lib/icmp.h"
#include "bpf/lib/flow.h"
#include "bpf/lib/policy.h"
#include "bpf/lib/masq.h"
#include "bpf/lib/direct.h"
#include "bpf/lib/tunnel.h"

SEC("tc")
int tc_tunnel_egress(struct __sk_buff *skb)
{
	__u32 len = skb->len;

	return flow_verdict(skb, tunnel_encap(skb), len, DROP_DIR_EGRESS);
}

/*
 * Did another node send this packet with its own address (its own traffic, or a NodePort flow it
 * masqueraded)? tunnel_check_source has made sure the outer source is that node.
 */
static __always_inline bool tunnel_is_from_node(const struct pkt4 *pkt)
{
	struct tunnel4_value *node = tunnel4_lookup(pkt->saddr);

	return node && (node->flags & TUNNEL4_F_NODE) && node->node_address == pkt->saddr;
}

/*
 * First packet of a flow out of the tunnel that no conntrack entry knows. To a pod of this node:
 * judged and tracked as direct.h says, by the identity the VNI carried, and delivered straight
 * into the pod. A flow another node sent with its own address is always tracked, its replies
 * sent back into the tunnel (FLOW_REPLY_NEIGH: out of this device, encapsulated by
 * tc_tunnel_egress): routed, they would leave by the underlay with the pod's address, which an
 * underlay that knows only node addresses drops, and the sending node expects them from the
 * tunnel. Anything else (the node itself) passes to the node's stack. masq_ifindex (masq.h) may
 * stay 0 in this object: such a flow comes from another node's pod (the cluster CIDR) or from
 * another node's address, and masq4_route takes the answer to neither for a flow to masquerade.
 */
static __always_inline int tunnel_new_flow(struct __sk_buff *skb, const struct pkt4 *pkt, __u64 now,
					   __u32 identity)
{
	struct ep4_info *ep;
	int ret;

	ep = ep4_lookup(pkt->daddr);
	if (!ep)
		return VERDICT_PASS;
	if (tunnel_is_from_node(pkt)) {
		ret = direct_flow_at(skb, pkt, now, ep, identity, FLOW_REPLY_NEIGH, true);
		if (ret != VERDICT_PASS)
			return ret;
	} else if (direct_is_judged()) {
		ret = direct_flow(skb, pkt, now, ep, identity);
		if (ret != VERDICT_PASS)
			return ret;
	}
	stats_count(STAT_TUNNEL_IN, skb->len);
	return ep4_redirect(skb, ep->ifindex, ep->mac, ep->host_mac);
}

static __always_inline int tunnel_handle(struct __sk_buff *skb, struct frag4_entry **first)
{
	struct pkt4 pkt = {};
	__u32 identity = IDENTITY_ANY;
	__u64 now = 0;
	int ret;

	/* First, so that a spoofed packet touches no conntrack entry. */
	ret = tunnel_check_source(skb, &identity);
	if (ret)
		return ret;
	/*
	 * The inner frame is addressed to the sending node's tunnel device (a NOARP device's
	 * neighbour), so the stack took it for another host's: what passes to the stack is for this
	 * node. Delivery into a pod rewrites the MACs anyway.
	 */
	bpf_skb_change_type(skb, PACKET_HOST);
	ret = flow_begin(skb, &pkt, &now, first);
	if (ret != VERDICT_NEW_FLOW)
		return ret;
	return tunnel_new_flow(skb, &pkt, now, identity);
}

SEC("tc")
int tc_tunnel_ingress(struct __sk_buff *skb)
{
	struct frag4_entry *first = NULL;
	__u32 len = skb->len;
	int ret;

	ret = tunnel_handle(skb, &first);
	frag4_settle_first(first, ret);
	return flow_verdict(skb, ret, len, DROP_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
