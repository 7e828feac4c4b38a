/* SPDX-License-Identifier: Apache-2.0 */
/* Overlay IPAM across nodes: per-node pod CIDR blocks cut from the cluster CIDR, CIDR planning. */
#ifndef SLUICE_CNI_NODE_IPAM_H
#define SLUICE_CNI_NODE_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <linux/types.h>

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

/* "a.b.c.d/n" into buf (at least 19 bytes). */
const char *node_ipam_cidr_str(const struct node_ipam_cidr *cidr, char *buf, size_t size);
bool node_ipam_cidr_overlap(const struct node_ipam_cidr *a, const struct node_ipam_cidr *b);
bool node_ipam_cidr_contains(const struct node_ipam_cidr *outer,
			     const struct node_ipam_cidr *inner);

/*
 * Block number index of size /node_prefix inside cluster: out gets its network. Returns 0 or
 * -ERANGE when index is beyond the cluster CIDR.
 */
int node_ipam_block(const struct node_ipam_cidr *cluster, unsigned int node_prefix, uint32_t index,
		    struct node_ipam_cidr *out);

/* What the CIDR planning check looks at; unset members are skipped. */
struct cidr_plan {
	struct node_ipam_cidr cluster;
	struct node_ipam_cidr service;
	struct node_ipam_cidr pod; /* the node's pod CIDR */
	struct in_addr dns;	   /* cluster DNS service IP, 0 when unknown */
	bool check_underlay;	   /* also compare with this netns' interface subnets */
};

/*
 * Cluster CIDR, service CIDR and the node's underlay subnets must not overlap, the pod CIDR must
 * sit inside the cluster CIDR (and off the service CIDR), the DNS service IP inside the service
 * CIDR. Returns 0, or -EINVAL with msg naming both ranges, e.g.
 * "cluster CIDR 10.244.0.0/16 overlaps service CIDR 10.244.128.0/20".
 */
int cidr_plan_check(const struct cidr_plan *plan, char *msg, size_t size);

/*
 * Agent side: claim (or find again) this node's block in the registry beside bpffs, then write
 * <bpffs>/ipam_node, keeping the usage the plugin recorded. With cluster unset only the service
 * CIDR and node name are published. block, when set, is used as is (Node.spec.podCIDR).
 * Returns 0 or -errno with msg set.
 */
int node_ipam_publish(const char *bpffs, const char *node, const struct node_ipam_cidr *cluster,
		      unsigned int node_prefix, const struct node_ipam_cidr *service,
		      const struct node_ipam_cidr *block, struct node_ipam_info *out, char *msg,
		      size_t size);

/* Read <bpffs>/ipam_node. Returns 0, -ENOENT (not pinned: no agent) or -errno. */
int node_ipam_read(const char *bpffs, struct node_ipam_info *info);
/* Plugin side: record usage in <bpffs>/ipam_node when it is pinned; best effort. */
int node_ipam_set_usage(const char *bpffs, unsigned int in_use, unsigned int capacity);

/*
 * Registry entries beside bpffs, for `sluice status`: calls fn for every claimed block. Returns
 * the number of entries or -errno (-ENOENT: no registry).
 */
int node_ipam_registry_walk(const char *bpffs,
			    void (*fn)(uint32_t index, const struct node_ipam_owner *owner,
				       void *ctx),
			    void *ctx);

struct json_object;
/*
 * `sluice status`: this node's CIDRs and usage, and every node's block in the registry (with
 * its usage when its agent pins beside ours). Adds "ipam" to root when root is non-NULL, else
 * prints to out. Returns 0 or -errno (-ENOENT: no agent has published ipam_node here).
 */
int node_ipam_status(const char *bpffs, struct json_object *root, FILE *out);

#endif
