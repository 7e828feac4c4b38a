/* SPDX-License-Identifier: Apache-2.0 */
/* The IPAM maps: the node's pod CIDR record and the registry of node blocks (userspace only). */
#ifndef SLUICE_MAPS_IPAM_H
#define SLUICE_MAPS_IPAM_H

#include "maps/types.h"

/*
 * Two pinned maps, both userspace-only (no BPF program reads them), both root-only (0600 pins):
 *
 *   <bpffs>/ipam_node       array, 1 entry: struct node_ipam_info. The agent of the node writes
 *                           the CIDRs and the node's block at start; the CNI plugin writes the
 *                           usage (in_use, capacity) under its IPAM lock after every ADD and DEL,
 *                           so `sluice status` shows it without knowing the plugin's stateDir.
 *   <parent>/sluice_nodes   hash: block index -> struct node_ipam_owner, in the parent directory
 *                           of the agents' bpffs directories. Agents claim a block with one
 *                           BPF_NOEXIST update, which is atomic: two agents never get the same.
 *
 * In a real cluster every machine has its own parent directory, so the registry only keeps one
 * machine's nodes apart; there the block should come from Node.spec.podCIDR (passed as `block`
 * to node_ipam_publish) or from ipam.subnet in the CNI config.
 */
#define NODE_IPAM_MAP	       "ipam_node"
#define NODE_IPAM_REGISTRY     "sluice_nodes"
#define NODE_IPAM_NAME_LEN     248
#define NODE_IPAM_REGISTRY_MAX 65536 /* blocks the registry can track (a /16 cut into /32s) */
#define NODE_IPAM_SIZE_DEFAULT 24    /* kube-controller-manager --node-cidr-mask-size (IPv4) */

struct node_ipam_cidr {
	__be32 address; /* network, host bits zero */
	__u8 prefix;
	__u8 is_set;
	__u8 pad[2];
};
_Static_assert(sizeof(struct node_ipam_cidr) == 8, "node_ipam_cidr layout");

struct node_ipam_info {
	struct node_ipam_cidr cluster; /* --cluster-cidr */
	struct node_ipam_cidr service; /* --service-cidr */
	struct node_ipam_cidr block;   /* this node's pod CIDR; is_set 0: none allocated */
	__u32 in_use;		       /* addresses allocated (plugin) */
	__u32 capacity;		       /* addresses the block can hand out (plugin) */
	__u64 usage_time;	       /* CLOCK_REALTIME seconds of the last usage update */
	char node[NODE_IPAM_NAME_LEN];
};
_Static_assert(sizeof(struct node_ipam_info) == 288, "node_ipam_info layout");

struct node_ipam_owner {
	char node[240];		       /* node names longer than 239 bytes are compared cut */
	struct node_ipam_cidr cluster; /* the cluster CIDR the index is relative to */
	__u32 node_prefix;	       /* and the block size */
	__u32 pad;
};
_Static_assert(sizeof(struct node_ipam_owner) == 256, "node_ipam_owner layout");

#endif
