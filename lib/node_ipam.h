/* SPDX-License-Identifier: Apache-2.0 */
/* The IPAM pins: this node's addressing record, its pod CIDR usage, the other nodes. */
#ifndef SLUICE_LIB_NODE_IPAM_H
#define SLUICE_LIB_NODE_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>

#include "lib/cidr_plan.h"
#include "maps/ipam.h"

/*
 * Agent side: write <bpffs>/ipam_node2 (creating it when missing). Returns 0 or -errno with msg
 * set.
 */
int node_ipam_publish(const char *bpffs, const struct node_ipam_info *info, char *msg, size_t size);
/* Remove layout 1's <bpffs>/ipam_node, which no build reads any more (absent is fine). */
void node_ipam_remove_legacy(const char *bpffs);

/* Read <bpffs>/ipam_node2. Returns 0, -ENOENT (not pinned: no agent) or -errno. */
int node_ipam_read(const char *bpffs, struct node_ipam_info *info);

/* Plugin side: record the usage of block in <bpffs>/ipam_usage; best effort, 0 or -errno. */
int node_ipam_set_usage(const char *bpffs, const struct node_ipam_cidr *block, unsigned int in_use,
			unsigned int capacity);
/* Read <bpffs>/ipam_usage: 0, -ENOENT (no pod added yet) or -errno. */
int node_ipam_read_usage(const char *bpffs, struct node_ipam_usage *usage);

/*
 * The pod MTU over an underlay of underlay_mtu bytes whose packets carry overhead bytes of
 * encapsulation, kept within NODE_IPAM_MTU_MIN..NODE_IPAM_MTU_MAX (an underlay too small for
 * the encapsulation still gives the IPv4 minimum: the outer packets are then fragmented).
 */
__u32 node_ipam_pod_mtu(__u32 underlay_mtu, __u32 overhead);
/* Agent side: write <bpffs>/ipam_mtu (creating it). Returns 0 or -errno with msg set. */
int node_ipam_mtu_publish(const char *bpffs, const struct node_ipam_mtu *mtu, char *msg,
			  size_t size);
/* Read <bpffs>/ipam_mtu: 0, -ENOENT (no agent, or one of a build before it) or -errno. */
int node_ipam_mtu_read(const char *bpffs, struct node_ipam_mtu *mtu);
/* "--uplink", "the node address's device", "default" or "none". */
const char *node_ipam_mtu_source_name(__u8 source);

/* One other node, as ipam_nodes holds it. */
struct node_ipam_peer_entry {
	struct node_ipam_name name;
	struct node_ipam_peer peer;
};

/*
 * Agent side: make <bpffs>/ipam_nodes hold exactly peers (n of them): written, then entries of
 * nodes no longer listed deleted. Returns 0 or -errno with msg set.
 */
int node_ipam_peers_write(const char *bpffs, const struct node_ipam_peer_entry *peers, size_t n,
			  char *msg, size_t size);
/* Every entry of <bpffs>/ipam_nodes, sorted by name, into *out (malloc'd). 0 or -errno. */
int node_ipam_peers_read(const char *bpffs, struct node_ipam_peer_entry **out, size_t *n);
/* "ready", "no pod CIDR" or "refused". */
const char *node_ipam_peer_state_name(__u32 state);

struct json_object;
/*
 * `sluice status`: this node's CIDRs, address, pod CIDR (or why pods are refused) and usage,
 * the pod MTU and where it came from, and how many other nodes are known. Adds "ipam" to root when
 * root is non-NULL, else prints to out. Returns 0 or -errno (-ENOENT: no agent has published
 * ipam_node2 here).
 */
int node_ipam_status(const char *bpffs, struct json_object *root, FILE *out);

#endif
