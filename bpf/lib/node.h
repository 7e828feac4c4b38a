/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Traffic from outside the node: external frontend lookup (LoadBalancer, externalIPs, NodePort
 * on the node's addresses) and the SNAT source for Cluster policy. Its source port is claimed
 * by ct4_claim_port().
 */
#ifndef SLUICE_BPF_NODE_H
#define SLUICE_BPF_NODE_H

#include "bpf/lib/common.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/parse.h"
#include "maps/ct.h"
#include "maps/lb.h"
#include "maps/node.h"
#include "maps/stats.h"

/*
 * The external frontend a packet from outside is addressed to: (dst, port, proto) first (a
 * LoadBalancer ingress IP or an external IP), then, when dst is one of the node's addresses,
 * the NodePort frontend (address 0). Two lookups at most, only for packets no flow knows.
 */
static __always_inline struct lb4_service *node_lookup_service(const struct pkt4 *pkt)
{
	struct lb4_key key = {
	    .address = pkt->daddr,
	    .port = pkt->dport,
	    .proto = pkt->proto,
	    .scope = LB4_SCOPE_EXTERNAL,
	};
	struct lb4_service *svc;
	struct node4_addr *addr;

	svc = bpf_map_lookup_elem(&lb4_svc, &key);
	if (svc)
		return svc;
	addr = bpf_map_lookup_elem(&node4_addrs, &pkt->daddr);
	if (!addr || !(addr->flags & NODE4_F_ADDRESS))
		return NULL;
	key.address = 0;
	return bpf_map_lookup_elem(&lb4_svc, &key);
}

/*
 * Source address of a masqueraded flow: the node address the client called (NodePort), else
 * the node's SNAT address (the 0.0.0.0 entry). 0 when the agent has written no node address.
 */
static __always_inline __be32 node_snat_address(__be32 daddr)
{
	__be32 any = 0;
	struct node4_addr *addr = bpf_map_lookup_elem(&node4_addrs, &daddr);

	if (addr && (addr->flags & NODE4_F_ADDRESS))
		return daddr;
	addr = bpf_map_lookup_elem(&node4_addrs, &any);
	return addr ? addr->snat : 0;
}

#endif
