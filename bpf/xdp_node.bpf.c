// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * XDP on the node's uplink, in front of tc_node: the early, cheap half of the external path.
 * New flows to an external frontend that would be dropped anyway (client outside
 * loadBalancerSourceRanges, externalTrafficPolicy Local without a local endpoint) are dropped
 * here, before the kernel allocates an skb (each told to `sluice observe` as a drop event);
 * everything else passes untouched to tc_node, which owns translation, conntrack and delivery
 * (bpf_redirect_peer into pods has no XDP equivalent: XDP_REDIRECT into a veth needs an XDP
 * program on the pod's side).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/*
 * A maps/ header defines every map of its family, so this object also carries maps it never
 * reads (clock, stats, lb4_affinity, lb4_backends, lb4_maglev, lb4_revnat, lb4_slots,
 * lb4_vips, and through events.h the policy family's): libbpf opens their pins and nothing
 * else.
 */
#include "maps/lb.h"
#include "maps/ct.h"
#include "maps/node.h"
#include "maps/stats.h"

#include "bpf/lib/common.h"
#include "bpf/lib/events.h"
#include "bpf/lib/stats.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/lb.h"
#include "bpf/lib/node.h"

/*
 * Parses IPv4 TCP/UDP without IP options' payload assumptions: ports at ihl*4. Returns 0 and
 * fills pkt (addresses, ports, proto, tcp_flags), or -1 for anything tc should judge. IP
 * fragments, the first included, are tc_node's: a later fragment follows its first through the
 * frag4 entry tc_node writes once the first is handled, so the first must reach tc_node even
 * when XDP could have dropped it (its later fragments are then dropped there, under the first
 * one's reason).
 */
static __always_inline int xdp_parse4(struct xdp_md *ctx, struct pkt4 *pkt)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u8 *l4;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	if (ip->version != 4 || ip->ihl < 5 || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return -1;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return -1;
	l4 = (__u8 *)ip + (ip->ihl & 0xf) * 4;
	if (l4 + 14 > (__u8 *)data_end)
		return -1;
	pkt->saddr = ip->saddr;
	pkt->daddr = ip->daddr;
	pkt->proto = ip->protocol;
	pkt->sport = ((__be16 *)l4)[0];
	pkt->dport = ((__be16 *)l4)[1];
	pkt->tcp_flags = ip->protocol == IPPROTO_TCP ? l4[13] : 0;
	return 0;
}

/* Returns XDP_PASS, or -DROP_* (PKT parsed) for a new flow tc_node would drop. */
static __always_inline int xdp_node_handle(struct xdp_md *ctx, struct pkt4 *pkt)
{
	struct lb4_service *svc;
	struct ct4_key key = {};
	int ret;

	if (xdp_parse4(ctx, pkt))
		return XDP_PASS;
	ct4_key_of(&key, pkt);
	if (bpf_map_lookup_elem(&ct4, &key))
		return XDP_PASS; /* a tracked flow (or an expired one): tc decides */
	svc = node_lookup_service(pkt);
	if (!svc)
		return XDP_PASS;
	ret = lb4_admit(svc, pkt->saddr);
	/* No endpoint at all: tc_node answers with a reject, which needs the skb. */
	if (!ret || ret == -DROP_NO_BACKEND)
		return XDP_PASS;
	return ret;
}

SEC("xdp")
int xdp_node_ingress(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	struct pkt4 pkt = {};
	int ret = xdp_node_handle(ctx, &pkt);

	if (ret < 0) {
		events_xdp_drop(ctx, &pkt, -ret);
		stats_drop(-ret, DROP_DIR_INGRESS, len);
		return XDP_DROP;
	}
	return ret;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
