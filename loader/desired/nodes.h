/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node addressing, a pure function of the Node objects, the flags and the plan in force: this
 * node's address and pod CIDR (or why it has none), and every other node's address and pod
 * CIDR, validated against the CIDR plan and against each other. No map fd: the agent publishes
 * the result (lib/node_ipam.h).
 */
#ifndef SLUICE_DESIRED_NODES_H
#define SLUICE_DESIRED_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "lib/cidr_plan.h"
#include "loader/k8s/objects.h"

struct desired_nodes_config {
	const char *node;			      /* this node's name */
	struct node_ipam_cidr cluster[CIDR_PLAN_MAX]; /* --cluster-cidr, unset entries skipped */
	struct node_ipam_cidr service[CIDR_PLAN_MAX]; /* --service-cidr */
	struct in_addr dns;			      /* --cluster-dns, or 0 */
	struct node_ipam_cidr pod_cidr;		      /* --pod-cidr, or unset */
	unsigned int node_cidr_size; /* --node-cidr-size when given, else 0 (any) */
	uint32_t node_ip;	     /* the first --node-ip, network order, or 0 */
	bool check_underlay;	     /* this node's pod CIDR against its interfaces */
};

struct desired_node_peer {
	char name[NODE_IPAM_NAME_LEN];
	uint32_t internal_ip;		/* network order, 0 when none */
	struct node_ipam_cidr pod_cidr; /* as its Node says, also when refused */
	uint32_t state;			/* enum node_ipam_peer_state */
	char reason[NODE_IPAM_PEER_REASON];
};

struct desired_nodes {
	/* This node. */
	struct node_ipam_cidr block; /* the pod CIDR in force; unset: pods are refused */
	uint8_t block_source;	     /* enum node_ipam_source */
	uint32_t node_ip;	     /* --node-ip, else its Node's InternalIP; 0 unknown */
	/* Without block: why pods are refused. With it: a warning in force, or "". */
	char reason[NODE_IPAM_REASON_LEN];
	/* The other nodes, sorted by name. */
	struct desired_node_peer *peers;
	size_t n_peers;
};

/*
 * The node addressing of nodes (every Node object, sorted by name or not) under config, given
 * previous, the plan in force (NULL at start). Rules, in order:
 *   - this node's pod CIDR is its Node's spec.podCIDR, else --pod-cidr; it must pass the CIDR
 *     plan (inside the cluster CIDR, off the service CIDR and the node's subnets) and match
 *     --node-cidr-size when that was given; without one, reason names what is missing;
 *   - once in force it never changes while the agent runs: a later, different podCIDR, or its
 *     loss, is refused with a reason and the old one stays;
 *   - another node's pod CIDR must pass the plan too and overlap neither this node's nor an
 *     accepted node's: nodes accepted in previous with the same CIDR keep it, the others are
 *     weighed by name, and a loser is refused naming the node it overlaps.
 * Returns 0 or -ENOMEM (out is then empty). out is overwritten; free it with desired_nodes_free.
 */
int desired_nodes_plan(const struct desired_nodes_config *config,
		       const struct k8s_object *const *nodes, size_t n,
		       const struct desired_nodes *previous, struct desired_nodes *out);
void desired_nodes_free(struct desired_nodes *nodes);

/* The peer named name in nodes, or NULL. */
const struct desired_node_peer *desired_nodes_find(const struct desired_nodes *nodes,
						   const char *name);

#endif
