/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Traffic from outside the node: external frontend lookup (LoadBalancer, externalIPs, NodePort
 * on the node's addresses), the SNAT source for Cluster policy, and source port allocation.
 * The including program defines nat_port_min and nat_port_max (const volatile, host order).
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

/*
 * Allocates the SNAT source port of a new flow by claiming its reply entry: reply_key is
 * (backend, node address, backend port, candidate port), and the reply entry is written with
 * BPF_NOEXIST, so two flows can never hold the same (node address, port, backend) tuple, even
 * when two CPUs race for it. An expired entry is taken over. Candidates start at a random
 * offset in [nat_port_min, nat_port_max] and go up, NAT_PORT_PROBES of them. On success
 * reply_key->dport is the port (network order) and the reply entry is in ct4. Returns 0 or
 * -DROP_NAT_NO_PORT.
 */
static __always_inline int node_snat_claim(struct ct4_key *reply_key, const struct ct_entry *reply,
					   __u64 now)
{
	__u32 range = (__u32)nat_port_max - nat_port_min + 1;
	__u32 offset, port;
	struct ct_entry *taken;

	if (nat_port_max < nat_port_min)
		return -DROP_NAT_NO_PORT;
	offset = bpf_get_prandom_u32() % range;
	for (int i = 0; i < NAT_PORT_PROBES; i++) {
		port = nat_port_min + (offset + i) % range;
		reply_key->dport = bpf_htons((__u16)port);
		if (!bpf_map_update_elem(&ct4, reply_key, reply, BPF_NOEXIST))
			return 0;
		taken = bpf_map_lookup_elem(&ct4, reply_key);
		if (taken && taken->expires_ns < now &&
		    !bpf_map_update_elem(&ct4, reply_key, reply, BPF_EXIST))
			return 0;
	}
	return -DROP_NAT_NO_PORT;
}

#endif
