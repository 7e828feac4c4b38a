/* SPDX-License-Identifier: Apache-2.0 */
/* The node's own addresses (NodePort, SNAT source) and the SNAT port range, for the uplink
 * programs. */
#ifndef SLUICE_MAPS_NODE_H
#define SLUICE_MAPS_NODE_H

#include "maps/types.h"

#define NODE4_ADDRS_MAP "node4_addrs"
#define NODE_MAX_ADDRS	64 /* InternalIP/ExternalIP addresses of one node, with room to spare */

/*
 * SNAT source ports (externalTrafficPolicy Cluster). The default range lies above Linux's
 * default ephemeral range (net.ipv4.ip_local_port_range 32768-60999), so a masqueraded flow
 * never takes the tuple of a connection the node itself opened to the same backend.
 */
#define NAT_PORT_MIN_DEFAULT 61000
#define NAT_PORT_MAX_DEFAULT 65535
/* Ports tried per new flow before the flow is dropped as DROP_NAT_NO_PORT. */
#define NAT_PORT_PROBES 16

/* node4_addrs value flags */
#define NODE4_F_ADDRESS 1u /* the key is one of this node's addresses: NodePorts answer on it */

/*
 * node4_addrs: key = one of the node's addresses, value.snat = itself, flags NODE4_F_ADDRESS.
 * The entry under key 0.0.0.0 names the address masqueraded flows to a LoadBalancer or
 * external IP leave with (the node's first address); a NodePort flow leaves with the address
 * the client called. Written by loader/sync/sync.c from desired_state.node_addresses.
 */
struct node4_addr {
	__be32 snat; /* source address of masqueraded flows */
	__u32 flags; /* NODE4_F_* */
};
SLUICE_ASSERT_SIZE(struct node4_addr, 8);

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NODE_MAX_ADDRS);
	__type(key, __be32);
	__type(value, struct node4_addr);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} node4_addrs SEC(".maps");
#endif

#endif
