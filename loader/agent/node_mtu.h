/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod MTU: the underlay's MTU (--uplink, else the device holding the node's address, else
 * a default) less the encapsulation under --routing tunnel. node_addr publishes it beside the
 * node's addressing (lib/node_ipam.h, ipam_mtu) for the CNI plugin and `sluice status`.
 */
#ifndef SLUICE_AGENT_NODE_MTU_H
#define SLUICE_AGENT_NODE_MTU_H

#include <linux/types.h>

#include "loader/agent/agent.h"
#include "maps/ipam.h"

/* A candidate underlay device: name NULL, or mtu 0, when there is none. */
struct node_mtu_link {
	const char *name;
	__u32 mtu;
};

/*
 * Choose: uplink when it has an MTU, else node_ip_link, else NODE_IPAM_MTU_UNDERLAY_DEFAULT;
 * less TUNNEL_VXLAN_OVERHEAD under AGENT_ROUTING_TUNNEL. Fills every field of *out but
 * update_time.
 */
void node_mtu_choose(const struct node_mtu_link *uplink, const struct node_mtu_link *node_ip_link,
		     enum agent_routing routing, struct node_ipam_mtu *out);

/*
 * Read the candidates from the kernel (libnl, this network namespace): --uplink's MTU, the
 * device holding node_ip (network order; 0: unknown) and its MTU, then node_mtu_choose. A
 * device that cannot be read is logged and passed over. Returns 0 or -errno (no socket).
 */
int node_mtu_read(const struct agent_config *config, __be32 node_ip, struct node_ipam_mtu *out);

#endif
