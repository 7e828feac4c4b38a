/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Traffic from outside the node: external frontend lookup (LoadBalancer, externalIPs, NodePort
 * on the node's addresses). Masquerade is in snat.h.
 */
#ifndef SLUICE_BPF_NODE_H
#define SLUICE_BPF_NODE_H

#include "bpf/lib/common.h"
#include "bpf/lib/parse.h"
#include "maps/lb.h"
#include "maps/node.h"

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

#endif
