/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Between nodes through the VXLAN tunnel (maps/tunnel.h): where a packet for another node's pod
 * goes and which identity it carries there, and whether what arrives came from a known node as
 * that node or one of its pods.
 */
#ifndef SLUICE_BPF_TUNNEL_H
#define SLUICE_BPF_TUNNEL_H

#include "bpf/lib/common.h"
#include "bpf/lib/csum.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/policy.h"
#include "bpf/lib/stats.h"
#include "maps/stats.h"
#include "maps/tunnel.h"

#define TUNNEL_TTL 64

/*
 * The tunnel key helpers' size argument: struct bpf_tunnel_key up to local_ipv4, its whole
 * layout on 5.15 (local_ipv4 came in 6.0). Newer kernels accept it as their compatible size;
 * the kernel picks the outer source by its route to the remote node.
 */
#define TUNNEL_KEY_SIZE offsetof(struct bpf_tunnel_key, local_ipv4)

/* The tunnel4 entry holding ADDRESS (longest prefix), or NULL. */
static __always_inline struct tunnel4_value *tunnel4_lookup(__be32 address)
{
	struct tunnel4_key key = {.prefix_len = 32, .address = address};

	return bpf_map_lookup_elem(&tunnel4, &key);
}

/*
 * May a pod's new flow PKT go out as it is? Not a UDP datagram to the VXLAN port that would
 * leave with a node's address as its source (IS_MASQUERADED), nor one to another node's address:
 * tc_tunnel_ingress believes the VNI (the sender's identity) of whatever comes from a node's
 * address, so a pod that could send one would pick any identity of its node's pods and pass
 * other nodes' ingress policies. A datagram with the pod's own address is refused there as from
 * no node; these never get that far.
 */
static __always_inline bool tunnel_port_is_closed_to_pods(const struct pkt4 *pkt,
							  bool is_masqueraded)
{
	struct tunnel4_value *node;

	if (pkt->proto != IPPROTO_UDP || pkt->dport != bpf_htons(TUNNEL_VXLAN_PORT))
		return false;
	if (is_masqueraded)
		return true;
	node = tunnel4_lookup(pkt->daddr);
	return node && (node->flags & TUNNEL4_F_NODE);
}

/*
 * The inner IPv4 addresses of a frame in or out of the tunnel. Returns 0, -DROP_TUNNEL_NOT_IPV4
 * or -DROP_MALFORMED.
 */
static __always_inline int tunnel_inner_addrs(struct __sk_buff *skb, __be32 *saddr, __be32 *daddr)
{
	/* Through CTX_LOAD_U32 for the reason ep4_claimed_address gives. */
	__u32 protocol = (__u32)(long)CTX_LOAD_U32(skb, protocol);
	struct iphdr *ip;

	if (protocol != bpf_htons(ETH_P_IP))
		return -DROP_TUNNEL_NOT_IPV4;
	if (parse_ensure(skb, ETH_HLEN + sizeof(*ip)))
		return -DROP_MALFORMED;
	ip = ctx_data(skb) + ETH_HLEN;
	if ((void *)(ip + 1) > ctx_data_end(skb))
		return -DROP_MALFORMED;
	*saddr = ip->saddr;
	*daddr = ip->daddr;
	return 0;
}

/*
 * The VNI a packet from SADDR carries: the identity of a pod (the receiving node judges its
 * ingress policy by it without a lookup), TUNNEL_VNI_NO_IDENTITY for any other source (the node
 * itself, a masqueraded flow) or an identity too large for 24 bits: the receiver looks those up.
 */
static __always_inline __u32 tunnel_source_identity(__be32 saddr)
{
	struct ipcache4_value *src;
	__u32 zero = 0;

	src = ipcache4_lookup(saddr, bpf_map_lookup_elem(&ipcache4_lens, &zero));
	if (!src || !(src->flags & IPCACHE_F_POD) || src->identity > TUNNEL_VNI_MAX)
		return TUNNEL_VNI_NO_IDENTITY;
	return src->identity;
}

/*
 * The inner frame leaves with this node's tunnel device MAC as its source, which may be the
 * receiving node's device MAC too (the agent may give every node's device the same one): the
 * VXLAN driver drops a frame whose inner source is its own device's MAC as a loop. Zero names no
 * device; the receiver rewrites the MACs for a pod and ignores them for the stack
 * (tc_tunnel_ingress). Returns 0 or -DROP_MALFORMED.
 */
static __always_inline int tunnel_clear_source_mac(struct __sk_buff *skb)
{
	struct ethhdr *eth = ctx_data(skb);

	if ((void *)(eth + 1) > ctx_data_end(skb))
		return -DROP_MALFORMED;
	__builtin_memset(eth->h_source, 0, ETH_ALEN);
	return 0;
}

/*
 * The key of a packet from SADDR for a pod of NODE (its tunnel4 pod-CIDR entry): that node as the
 * outer destination (the key's address and VNI are in host order), the source's identity as the
 * VNI, and the inner source MAC cleared. The one key writer for both ways into the tunnel
 * (tunnel_encap, tunnel_redirect). Returns 0, -DROP_MALFORMED or -DROP_NO_TUNNEL.
 */
static __always_inline int tunnel_set_key(struct __sk_buff *skb, __be32 saddr,
					  const struct tunnel4_value *node)
{
	struct bpf_tunnel_key key = {};
	int ret;

	ret = tunnel_clear_source_mac(skb);
	if (ret)
		return ret;
	key.remote_ipv4 = bpf_ntohl(node->node_address);
	key.tunnel_id = tunnel_source_identity(saddr);
	key.tunnel_ttl = TUNNEL_TTL;
	if (bpf_skb_set_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, 0))
		return -DROP_NO_TUNNEL;
	return 0;
}

/*
 * Has tc_pod's tunnel_redirect keyed this packet already? Only a BPF program sets a transmit key
 * on a packet for this device: what the node routes here carries none (the route lookup drops a
 * received key with the metadata dst it came with).
 */
static __always_inline bool tunnel_is_keyed(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key;

	return bpf_skb_get_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, 0) == 0;
}

/*
 * tc egress of the tunnel device: the node routed this packet to another node's pod CIDR (or
 * tc_pod redirected it here, keyed, or a tracked flow's reply was sent here for another node's
 * address); its tunnel key names that node and carries the source's identity. Returns TC_ACT_OK
 * or -DROP_*.
 */
static __always_inline int tunnel_encap(struct __sk_buff *skb)
{
	struct tunnel4_value *node;
	__be32 saddr, daddr;
	int ret;

	if (tunnel_is_keyed(skb))
		goto out;
	ret = tunnel_inner_addrs(skb, &saddr, &daddr);
	if (ret)
		return ret;
	/* Another node's address: a reply tc_tunnel_ingress sent back the way its flow came. */
	node = tunnel4_lookup(daddr);
	if (!node || !(node->flags & (TUNNEL4_F_POD_CIDR | TUNNEL4_F_NODE)))
		return -DROP_NO_TUNNEL;
	ret = tunnel_set_key(skb, saddr, node);
	if (ret)
		return ret;
out:
	stats_count(STAT_TUNNEL_OUT, skb->len);
	return TC_ACT_OK;
}

/*
 * tc_pod's way into the tunnel, skipping the node's IP input, routing and forwarding: a packet the
 * pod program leaves to the node's routing (translated already when it is a Service's) whose
 * destination is in another node's pod CIDR is keyed (tunnel_set_key) and redirected to the
 * egress of the tunnel device (tunnel_dev; none: VERDICT_PASS), where tunnel_encap counts it. It
 * leaves as the routed packet would, its TTL less one. Whatever the stack must answer is left to
 * it, untouched: a TTL that runs out (ICMP time exceeded), and a packet too big for the device
 * (bpf_check_mtu, 5.12, with GSO packets' segments), for which the stack sends ICMP fragmentation
 * needed (DF set: path MTU discovery) or fragments it; a big packet is never dropped here; a device
 * gone (a stale ifindex) fails the MTU check too. Returns TC_ACT_REDIRECT, or VERDICT_PASS (to the
 * node's routing, as before).
 */
static __always_inline int tunnel_redirect(struct __sk_buff *skb)
{
	/* Through CTX_LOAD_U32 for the reason ep4_claimed_address gives. */
	__u32 protocol = (__u32)(long)CTX_LOAD_U32(skb, protocol);
	struct tunnel4_value *node;
	struct tunnel_device *device;
	__u32 mtu_len = 0, ifindex, zero = 0;
	struct iphdr *ip;
	__u16 ttl_proto;

	device = bpf_map_lookup_elem(&tunnel_dev, &zero);
	if (!device || !device->ifindex)
		return VERDICT_PASS;
	ifindex = device->ifindex;
	if (protocol != bpf_htons(ETH_P_IP) || parse_ensure(skb, ETH_HLEN + sizeof(*ip)))
		return VERDICT_PASS;
	ip = ctx_data(skb) + ETH_HLEN;
	if ((void *)(ip + 1) > ctx_data_end(skb))
		return VERDICT_PASS;
	if (ip->version != 4 || ip->ihl < 5 || ip->ttl <= 1)
		return VERDICT_PASS;
	node = tunnel4_lookup(ip->daddr);
	if (!node || !(node->flags & TUNNEL4_F_POD_CIDR))
		return VERDICT_PASS;
	if (bpf_check_mtu(skb, ifindex, &mtu_len, 0, BPF_MTU_CHK_SEGS) != BPF_MTU_CHK_RET_SUCCESS)
		return VERDICT_PASS;
	if (tunnel_set_key(skb, ip->saddr, node))
		return VERDICT_PASS; /* the stack routes it into the tunnel, keyed there */
	/* TTL and protocol share a 16-bit word of the header (RFC 1624 update of its checksum). */
	ttl_proto = *((__u16 *)&ip->ttl);
	ip->ttl--;
	ip->check = csum_replace2(ip->check, ttl_proto, *((__u16 *)&ip->ttl));
	return bpf_redirect(ifindex, 0);
}

/*
 * tc ingress of the tunnel device, before anything else: the outer source must be a known node,
 * and the inner source that node itself or an address in its pod CIDR (a node speaks only for
 * its own pods). On 0, *IDENTITY is the source's identity as the VNI carried it, for a pod
 * source, or IDENTITY_ANY (look it up) when the VNI carried none or the source is the node.
 * Returns 0, -DROP_UNKNOWN_NODE, -DROP_SPOOFED, -DROP_TUNNEL_NOT_IPV4 or -DROP_MALFORMED.
 */
static __always_inline int tunnel_check_source(struct __sk_buff *skb, __u32 *identity)
{
	struct bpf_tunnel_key key = {};
	struct tunnel4_value *entry;
	__be32 remote, saddr, daddr;
	int ret;

	if (bpf_skb_get_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, 0))
		return -DROP_UNKNOWN_NODE;
	remote = bpf_htonl(key.remote_ipv4);
	entry = tunnel4_lookup(remote);
	if (!entry || !(entry->flags & TUNNEL4_F_NODE) || entry->node_address != remote)
		return -DROP_UNKNOWN_NODE;
	ret = tunnel_inner_addrs(skb, &saddr, &daddr);
	if (ret)
		return ret;
	*identity = IDENTITY_ANY;
	if (saddr == remote)
		return 0;
	entry = tunnel4_lookup(saddr);
	if (!entry || !(entry->flags & TUNNEL4_F_POD_CIDR) || entry->node_address != remote)
		return -DROP_SPOOFED;
	/* IDENTITY_ANY and TUNNEL_VNI_NO_IDENTITY are both 0: "none carried, look it up". */
	*identity = key.tunnel_id;
	return 0;
}

#endif
