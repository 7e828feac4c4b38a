/* SPDX-License-Identifier: Apache-2.0 */
/* The IPAM maps: this node's addressing record, its pod CIDR usage and the other nodes. */
#ifndef SLUICE_MAPS_IPAM_H
#define SLUICE_MAPS_IPAM_H

#include "maps/types.h"

/*
 * Three pinned maps under the node's bpffs directory, all userspace-only (no BPF program reads
 * them), all root-only (0600 pins), each with one writer so no write undoes another's:
 *
 *   ipam_node2   array, 1 entry: struct node_ipam_info, written by the agent at start and
 *                whenever a Node object changes: the CIDR plan, the node's address, its pod CIDR
 *                (from its Node object's spec.podCIDR or --pod-cidr) or why it has none. The CNI
 *                plugin takes the pod CIDR from here, so one conflist serves every node.
 *   ipam_usage   array, 1 entry: struct node_ipam_usage, written by the CNI plugin under its IPAM
 *                lock after every ADD and DEL, so `sluice status` shows it.
 *   ipam_nodes   hash: struct node_ipam_name -> struct node_ipam_peer, written by the agent: the
 *                other nodes of the cluster from their Node objects (`sluice node list`).
 *   ipam_mtu     array, 1 entry: struct node_ipam_mtu, written by the agent with ipam_node2: the
 *                pod MTU (the underlay's less the encapsulation) the plugin gives a pod when its
 *                conflist sets no `mtu`. A pin of its own, so ipam_node2's layout, which plugins
 *                of earlier builds read, stays as it was; a plugin that finds no ipam_mtu (an
 *                agent of an earlier build) keeps CNI_MTU_DEFAULT.
 *
 * ipam_node2 replaced layout 1's ipam_node (no reason, the usage inside it, blocks claimed by a
 * hash of the node name in a registry beside the bpffs directories); an agent removes ipam_node.
 */
#define NODE_IPAM_MAP	       "ipam_node2"
#define NODE_IPAM_LEGACY_MAP   "ipam_node"
#define NODE_IPAM_USAGE_MAP    "ipam_usage"
#define NODE_IPAM_PEERS_MAP    "ipam_nodes"
#define NODE_IPAM_MTU_MAP      "ipam_mtu"
#define NODE_IPAM_NAME_LEN     256 /* a Node name is a DNS subdomain: at most 253 bytes */
#define NODE_IPAM_REASON_LEN   512 /* one log line's worth */
#define NODE_IPAM_PEER_REASON  240
#define NODE_IPAM_PEERS_MAX    65536 /* nodes ipam_nodes holds; a cluster of 5,000 is large */
#define NODE_IPAM_SIZE_DEFAULT 24    /* kube-controller-manager --node-cidr-mask-size (IPv4) */
#define NODE_IPAM_CIDRS_MAX    4     /* cluster CIDRs, and service CIDRs, a node knows */

struct node_ipam_cidr {
	__be32 address; /* network, host bits zero */
	__u8 prefix;
	__u8 is_set;
	__u8 pad[2];
};
_Static_assert(sizeof(struct node_ipam_cidr) == 8, "node_ipam_cidr layout");

/* Where this node's pod CIDR came from. */
enum node_ipam_source {
	NODE_IPAM_SOURCE_NONE = 0,
	NODE_IPAM_SOURCE_NODE = 1, /* its Node object's spec.podCIDR(s) */
	NODE_IPAM_SOURCE_FLAG = 2, /* --pod-cidr */
};

struct node_ipam_info {
	struct node_ipam_cidr cluster[NODE_IPAM_CIDRS_MAX]; /* --cluster-cidr, unset at the end */
	struct node_ipam_cidr service[NODE_IPAM_CIDRS_MAX]; /* --service-cidr */
	struct node_ipam_cidr block; /* the pod CIDR in force; is_set 0: pods refused, see reason */
	__be32 node_ip;		     /* --node-ip, else the Node's InternalIP; 0 when unknown */
	__u8 block_source;	     /* enum node_ipam_source */
	__u8 pad[3];
	__u64 update_time; /* CLOCK_REALTIME seconds of the agent's last write */
	char node[NODE_IPAM_NAME_LEN];
	/*
	 * Without a block: why pods are refused ("Node n1 has no spec.podCIDR and the agent has no
	 * --pod-cidr"). With one: a warning still in force (a refused change, a conflict), or "".
	 */
	char reason[NODE_IPAM_REASON_LEN];
};
_Static_assert(sizeof(struct node_ipam_info) == 856, "node_ipam_info layout");

struct node_ipam_usage {
	struct node_ipam_cidr block; /* the pod CIDR the counts are of */
	__u32 in_use;		     /* addresses allocated */
	__u32 capacity;		     /* addresses the block can hand out */
	__u64 usage_time;	     /* CLOCK_REALTIME seconds of the last update */
};
_Static_assert(sizeof(struct node_ipam_usage) == 24, "node_ipam_usage layout");

struct node_ipam_name {
	char name[NODE_IPAM_NAME_LEN]; /* NUL-padded: the padding is part of the hash */
};
_Static_assert(sizeof(struct node_ipam_name) == 256, "node_ipam_name layout");

/* An other node's state. */
enum node_ipam_peer_state {
	NODE_IPAM_PEER_READY = 0, /* address and pod CIDR valid */
	NODE_IPAM_PEER_NO_POD_CIDR =
	    1,			    /* no spec.podCIDR yet (or no InternalIP): nothing to route */
	NODE_IPAM_PEER_REFUSED = 2, /* its pod CIDR is refused: reason says why */
	NODE_IPAM_PEER_NO_ADDRESS = 3, /* a pod CIDR but no IPv4 InternalIP to reach it by */
};

struct node_ipam_peer {
	__be32 internal_ip;		    /* 0 when it has none */
	struct node_ipam_cidr pod_cidr;	    /* as the Node object says, also when refused */
	__u32 state;			    /* enum node_ipam_peer_state */
	char reason[NODE_IPAM_PEER_REASON]; /* REFUSED: why, naming the other node or range */
};
_Static_assert(sizeof(struct node_ipam_peer) == 256, "node_ipam_peer layout");

/* Where the underlay MTU that the pod MTU derives from was read. */
enum node_ipam_mtu_source {
	NODE_IPAM_MTU_SOURCE_NONE = 0,	  /* nothing published */
	NODE_IPAM_MTU_SOURCE_UPLINK = 1,  /* --uplink */
	NODE_IPAM_MTU_SOURCE_NODE_IP = 2, /* the device holding the node's address */
	NODE_IPAM_MTU_SOURCE_DEFAULT = 3, /* neither: NODE_IPAM_MTU_UNDERLAY_DEFAULT assumed */
};

#define NODE_IPAM_MTU_UNDERLAY_DEFAULT 1500  /* Ethernet's */
#define NODE_IPAM_MTU_MIN	       68    /* RFC 791: every IPv4 host takes 68 bytes whole */
#define NODE_IPAM_MTU_MAX	       65535 /* IPv4 total length */

struct node_ipam_mtu {
	__u32 pod_mtu;	    /* underlay_mtu - overhead, within NODE_IPAM_MTU_MIN..MAX */
	__u32 underlay_mtu; /* the underlay device's MTU (or the default) */
	__u32 overhead;	    /* encapsulation: TUNNEL_VXLAN_OVERHEAD under tunnel, 0 native */
	__u8 source;	    /* enum node_ipam_mtu_source */
	__u8 pad[3];
	char underlay[16]; /* the device's name (IFNAMSIZ), "" with the default */
	__u64 update_time; /* CLOCK_REALTIME seconds of the agent's last write */
};
_Static_assert(sizeof(struct node_ipam_mtu) == 40, "node_ipam_mtu layout");

#endif
