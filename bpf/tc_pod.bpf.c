// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc ingress on a pod's host-side veth: every packet a pod sends passes here. A pod sends only
 * as itself (its IPv4 source and ARP sender address are checked against its veth). Service traffic
 * is translated (VIP -> backend, replies backend -> VIP) and delivered straight into the
 * destination pod; a flow out of the cluster is masqueraded to the node's address (masq.h);
 * a packet for another node's pod goes straight into the tunnel device (tunnel.h); everything else
 * passes untouched.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/*
 * lb4_revnat and policy_names come with their families' headers and no program reads them: the
 * agent and the CLI do. This object is the first the loader loads, and it creates their pins.
 */
#include "maps/lb.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/frag.h"
#include "maps/stats.h"
#include "maps/policy.h"
#include "maps/node.h"
#include "maps/masq.h"

/* Set by the loader before load (network byte order); see SLUICE_HAIRPIN_IP_DEFAULT. */
const volatile __be32 hairpin_ip = 0;

#include "bpf/lib/common.h"
#include "bpf/lib/stats.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/csum.h"
#include "bpf/lib/nat.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/lb.h"
#include "bpf/lib/lb_backend.h"
#include "bpf/lib/ep.h"
#include "bpf/lib/frag.h"
#include "bpf/lib/icmp.h"
#include "bpf/lib/flow.h"
#include "bpf/lib/policy.h"
#include "bpf/lib/snat.h"
#include "bpf/lib/masq.h"
#include "bpf/lib/tunnel.h"

/*
 * Does a service flow translated to BACKEND leave masqueraded? A backend out of the cluster (the
 * API server behind the `kubernetes` Service, an EndpointSlice naming a host outside) gets the
 * flow from the node's address, as the masquerade after kube-proxy's DNAT gives it
 * (ip-masq-agent): the pod's address would not come back. Judged as masq4_route judges a pod's own
 * flow to that address; on true, *IFINDEX is the uplink.
 */
static __always_inline bool pod_backend_is_masqueraded(struct __sk_buff *skb,
						       const struct pkt4 *pkt,
						       const struct lb4_backend *backend,
						       __u32 *ifindex)
{
	struct pkt4 to_backend = *pkt;

	to_backend.daddr = backend->address;
	to_backend.dport = backend->port;
	return masq4_route(skb, &to_backend, ifindex);
}

/*
 * First packet of a flow to a VIP: choose a backend, record both directions (flow_create_pair),
 * translate (and masquerade, for a backend out of the cluster), deliver.
 */
static __always_inline int pod_new_flow(struct __sk_buff *skb, const struct pkt4 *pkt,
					const struct lb4_service *svc_ptr, __u64 now)
{
	struct lb4_service svc = *svc_ptr;
	struct lb4_backend backend;
	struct policy_verdict verdict;
	struct flow_pair_opts opts = {.reply_to = FLOW_REPLY_TO_SENDER};
	struct ct_entry entry = {};
	struct nat4_tuple out;
	__u32 backend_id, ifindex = 0;
	bool is_hairpin;
	int ret;

	ret = lb4_choose_backend(&svc, pkt, now, &backend_id, &backend);
	if (ret == -DROP_NO_BACKEND)
		return icmp4_reject(skb, pkt, true);
	if (ret)
		return ret;

	/* Policy applies to the backend the flow is translated to. */
	ret = policy4_check(pkt->saddr, backend.address, pkt->proto, backend.port, &verdict);
	if (ret)
		return ret;

	/* The kernel drops packets from its own address, so a hairpin flow gets another one. */
	is_hairpin = backend.address == pkt->saddr;
	out.saddr = is_hairpin ? hairpin_ip : pkt->saddr;
	out.daddr = backend.address;
	out.sport = pkt->sport;
	out.dport = backend.port;

	/*
	 * Reply: backend -> client (or hairpin IP) leaves as VIP -> client, into this pod.
	 * Forward: client -> VIP leaves as (client or hairpin IP) -> backend.
	 */
	entry.svc_id = svc.svc_id;
	entry.backend_id = backend_id;
	entry.policy = verdict.policy;
	opts.flags = is_hairpin ? CT_F_HAIRPIN : 0;
	opts.dst_ep = ep4_lookup(backend.address);
	if (!opts.dst_ep && !is_hairpin &&
	    pod_backend_is_masqueraded(skb, pkt, &backend, &ifindex)) {
		out.saddr = masq4_address();
		if (!out.saddr)
			return -DROP_NAT_NO_ADDRESS;
		opts.flags = CT_F_SNAT;
		opts.ports = masq4_ports(pkt);
		opts.out_ifindex = ifindex;
	}
	return flow_start_translated(skb, pkt, now, &out, &entry, &opts,
				     is_hairpin ? STAT_HAIRPIN : STAT_SVC_NEW);
}

/*
 * First packet of a pod's flow out of the cluster (masq4_route said so; NetworkPolicy has
 * judged it as the pod sent it): SNAT to the node's address with a port claimed like the
 * NodePort masquerade's (masq4_ports), both directions recorded, and out of the uplink IFINDEX
 * by its neighbour table (a node-address source would be martian on the input path). Replies
 * come back through tc_node's conntrack lookup and go into this pod. A TCP packet other than a
 * SYN opens nothing: it is no new connection of the pod's (the pod answering one that reached
 * it by its own address, or a flow that expired) and passes untouched.
 */
static __always_inline int pod_masquerade_flow(struct __sk_buff *skb, const struct pkt4 *pkt,
					       __u64 now, __u8 policy, __u32 ifindex)
{
	struct flow_pair_opts opts = {
	    .flags = CT_F_SNAT,
	    .reply_to = FLOW_REPLY_TO_SENDER,
	    .out_ifindex = ifindex,
	};
	struct ct_entry entry = {.policy = policy};
	struct nat4_tuple out = {
	    .daddr = pkt->daddr,
	    .sport = pkt->sport,
	    .dport = pkt->dport,
	};

	if (!masq4_is_translatable(pkt))
		return -DROP_UNSUPPORTED;
	if (pkt->proto == IPPROTO_TCP &&
	    (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return VERDICT_PASS;
	out.saddr = masq4_address();
	if (!out.saddr)
		return -DROP_NAT_NO_ADDRESS;
	opts.ports = masq4_ports(pkt);
	return flow_start_translated(skb, pkt, now, &out, &entry, &opts, STAT_EGRESS_SNAT);
}

/*
 * First packet of a flow that is no service traffic: NetworkPolicy decides, on the pod's own
 * address and the real destination. A flow out of the cluster is then masqueraded
 * (pod_masquerade_flow). Otherwise, when a policy isolates either end the flow is tracked (both
 * directions, no translation), so its replies pass whatever the policies of the other direction
 * say, and its later packets skip the lookups; else it passes untouched, as without policies.
 */
static __always_inline int pod_direct_flow(struct __sk_buff *skb, const struct pkt4 *pkt, __u64 now)
{
	struct policy_verdict verdict;
	bool is_masqueraded;
	__u32 ifindex = 0;
	int ret;

	ret = policy4_check(pkt->saddr, pkt->daddr, pkt->proto, pkt->dport, &verdict);
	if (ret)
		return ret;
	is_masqueraded = masq4_route(skb, pkt, &ifindex);
	if (tunnel_port_is_closed_to_pods(pkt, is_masqueraded))
		return -DROP_TUNNEL_PORT;
	if (is_masqueraded)
		return pod_masquerade_flow(skb, pkt, now, verdict.policy, ifindex);
	if (!verdict.is_tracked)
		return VERDICT_PASS;
	return flow_track_direct(skb, pkt, now, verdict.policy, true, ep4_lookup(pkt->daddr));
}

/*
 * Returns a tc verdict, VERDICT_PASS, or -DROP_* for the entry point to count; a first fragment's
 * frag4 entry in *FIRST, for the entry point to settle (flow_begin).
 */
static __always_inline int pod_handle(struct __sk_buff *skb, struct frag4_entry **first)
{
	struct pkt4 pkt = {};
	struct lb4_service *svc;
	__u64 now = 0;
	int ret;

	/* First, so that a spoofed packet touches no conntrack entry (a forged RST would close
	 * one). */
	ret = ep4_check_source(skb);
	if (ret)
		return ret;
	ret = flow_begin(skb, &pkt, &now, first);
	if (ret != VERDICT_NEW_FLOW)
		return ret;
	svc = lb4_lookup_service(&pkt);
	if (!svc) {
		ct4_retire_closed(&pkt, now);
		return pod_direct_flow(skb, &pkt, now);
	}
	return pod_new_flow(skb, &pkt, svc, now);
}

SEC("tc")
int tc_pod_ingress(struct __sk_buff *skb)
{
	struct frag4_entry *first = NULL;
	__u32 len = skb->len;
	int ret;

	ret = pod_handle(skb, &first);
	frag4_settle_first(first, ret);
	ret = flow_verdict(skb, ret, len, DROP_DIR_EGRESS);
	/* Left to the node's routing, judged and counted: another node's pod's goes straight into
	 * the tunnel. */
	if (ret == TC_ACT_OK)
		return tunnel_redirect(skb) == TC_ACT_REDIRECT ? TC_ACT_REDIRECT : TC_ACT_OK;
	return ret;
}

/* Not attached: the loader runs it once through BPF_PROG_TEST_RUN to start the clock. */
SEC("tc")
int tc_clock_start(struct __sk_buff *skb)
{
	return ct_clock_start() ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
