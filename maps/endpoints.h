/* SPDX-License-Identifier: Apache-2.0 */
/* Local endpoints: pods on this node, written by the CNI plugin, read to deliver packets. */
#ifndef SLUICE_MAPS_ENDPOINTS_H
#define SLUICE_MAPS_ENDPOINTS_H

#include "maps/types.h"

#define EP4_MAP		 "ep4"
#define EP_MAX_ENDPOINTS 4096 /* pods per node; kubelet's default max-pods is 110 */

struct ep4_key {
	__be32 address; /* pod IP */
};
SLUICE_ASSERT_SIZE(struct ep4_key, 4);

struct ep4_info {
	__u32 ifindex;	  /* host-side veth, in the node namespace */
	__u8 mac[6];	  /* pod's eth0 */
	__u8 host_mac[6]; /* host-side veth */
	__u32 flags;
	char name[SLUICE_NAME_LEN]; /* "namespace/pod" from CNI_ARGS, else container id */
};
SLUICE_ASSERT_SIZE(struct ep4_info, 84);

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EP_MAX_ENDPOINTS);
	__type(key, struct ep4_key);
	__type(value, struct ep4_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ep4 SEC(".maps");
#endif

#endif
