// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tc ingress on a pod's host-side veth: service translation for traffic leaving the pod. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps/lb.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/stats.h"

/* Set by the loader before load (network byte order). */
const volatile __be32 hairpin_ip = 0;

SEC("tc")
int tc_pod_ingress(struct __sk_buff *skb)
{
	return 0; /* TC_ACT_OK until the datapath lands */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
