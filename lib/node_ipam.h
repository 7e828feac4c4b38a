/* SPDX-License-Identifier: Apache-2.0 */
/* Overlay IPAM across nodes: per-node pod CIDR blocks cut from the cluster CIDR, CIDR planning. */
#ifndef SLUICE_LIB_NODE_IPAM_H
#define SLUICE_LIB_NODE_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <linux/types.h>

#include "maps/ipam.h"

/*
 * The map layout's CIDR through lib/cidr: parse "a.b.c.d/n" without host bits (0 with is_set,
 * or -EINVAL), show it ("a.b.c.d/n" into buf, at least 19 bytes), compare two (false when
 * either is unset).
 */
int node_ipam_cidr_parse(const char *text, struct node_ipam_cidr *out);
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
