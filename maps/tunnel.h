/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Between nodes: where another node's pods are (its pod CIDR -> its node address), and which
 * underlay addresses are nodes at all. Written by the agent from the Node objects, read by the
 * tunnel device's programs (bpf/tc_tunnel.bpf.c): the outer destination of what leaves, and
 * whether what arrives comes from a known node speaking for its own pods.
 *
 * Under --routing tunnel the source pod's security identity travels in the VXLAN VNI (24 bits),
 * so the receiving node judges ingress policy without looking the source up: VNI
 * TUNNEL_VNI_NO_IDENTITY says "no identity carried, look the inner source up in the ipcache"
 * (traffic of the sending node itself, a masqueraded NodePort flow).
 */
#ifndef SLUICE_MAPS_TUNNEL_H
#define SLUICE_MAPS_TUNNEL_H

#include "maps/types.h"

#define TUNNEL4_MAP	       "tunnel4"
#define TUNNEL_DEVICE_MAP      "tunnel_dev"
#define TUNNEL_MAX_ENTRIES     8192	 /* other nodes' pod CIDRs and node addresses */
#define TUNNEL_VNI_MAX	       0xffffffu /* identities above this travel as "none" */
#define TUNNEL_VNI_NO_IDENTITY 0
#define TUNNEL_VXLAN_PORT      8472 /* the Linux kernel's and Cilium's VXLAN port */
#define TUNNEL_VXLAN_OVERHEAD  50   /* outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 */
#define TUNNEL_DEVICE_NAME     "sluice_vxlan"

/* tunnel4_value.flags */
#define TUNNEL4_F_POD_CIDR (1u << 0) /* the key is another node's pod CIDR */
#define TUNNEL4_F_NODE	   (1u << 1) /* the key is another node's address (/32) */

struct tunnel4_key {
	__u32 prefix_len; /* LPM trie: the prefix length comes first */
	__be32 address;
};
SLUICE_ASSERT_SIZE(struct tunnel4_key, 8);

struct tunnel4_value {
	__be32 node_address; /* the node whose pods these are (for a node key: itself) */
	__u32 flags;	     /* TUNNEL4_F_* */
};
SLUICE_ASSERT_SIZE(struct tunnel4_value, 8);

/*
 * tunnel_dev's one entry (key 0): the tunnel device tc_pod redirects another node's pod's packets
 * into (bpf/lib/tunnel.h, tunnel_redirect). Written by the agent whenever it routes: a map, not a
 * load-time constant, because the agent makes the device after loading the programs (its address
 * comes from the Node object) and makes it again when it changes. 0: no device (native routing,
 * no node address yet): the node's routing takes those packets.
 */
struct tunnel_device {
	__u32 ifindex;
};
SLUICE_ASSERT_SIZE(struct tunnel_device, 4);

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tunnel_device);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tunnel_dev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TUNNEL_MAX_ENTRIES);
	__type(key, struct tunnel4_key);
	__type(value, struct tunnel4_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tunnel4 SEC(".maps");
#endif

#endif
