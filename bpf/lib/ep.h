/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Delivery to a pod on this node: straight into its namespace, skipping the node's stack. */
#ifndef SLUICE_BPF_EP_H
#define SLUICE_BPF_EP_H

#include "bpf/lib/common.h"
#include "bpf/lib/parse.h"
#include "maps/ct.h"
#include "maps/endpoints.h"

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

static __always_inline struct ep4_info *ep4_lookup(__be32 address)
{
	struct ep4_key key = {.address = address};

	return bpf_map_lookup_elem(&ep4, &key);
}

#endif
