/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Masquerade of flows from outside the node (externalTrafficPolicy Cluster): the node address
 * such a flow leaves with, and the range its source port is claimed in (ct4_claim_port). The
 * pod program's egress masquerade (masq.h) claims from the same range: both tc programs carry
 * it in their rodata, and the loader sets both alike.
 */
#ifndef SLUICE_BPF_SNAT_H
#define SLUICE_BPF_SNAT_H

#include "bpf/lib/common.h"
#include "bpf/lib/ct.h"
#include "maps/node.h"

/* SNAT source port range, host order; the loader may narrow it (maps/node.h). */
const volatile __u16 nat_port_min = NAT_PORT_MIN_DEFAULT;
const volatile __u16 nat_port_max = NAT_PORT_MAX_DEFAULT;

/*
 * Source address of a masqueraded flow: the node address the client called (NodePort), else
 * the node's SNAT address (the 0.0.0.0 entry). 0 when the agent has written no node address.
 */
static __always_inline __be32 snat4_address(__be32 daddr)
{
	__be32 any = 0;
	struct node4_addr *addr = bpf_map_lookup_elem(&node4_addrs, &daddr);

	if (addr && (addr->flags & NODE4_F_ADDRESS))
		return daddr;
	addr = bpf_map_lookup_elem(&node4_addrs, &any);
	return addr ? addr->snat : 0;
}

/* The source ports a masqueraded flow's reply entry claims one of (flow_create_pair). */
static __always_inline struct ct4_port_range snat4_ports(void)
{
	return (struct ct4_port_range){
	    .min = nat_port_min,
	    .max = nat_port_max,
	    .probes = NAT_PORT_PROBES,
	};
}

#endif
