// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc egress on a pod's host-side veth: every packet the node's stack hands to the pod passes
 * here, whatever way it reached the node (the uplink without tc_node, a route from another node,
 * a tunnel device that passed it on, the node itself, a local pod's packet tc_pod let through).
 * Packets sluice's own programs deliver with bpf_redirect_peer go straight to the pod's side
 * and never meet this hook: they were judged where they entered. Here a new flow meets the pod's
 * ingress NetworkPolicy, as in tc_pod and tc_node; packets of tracked flows pass, translated when
 * their entry says so.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps/lb.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/frag.h"
#include "maps/policy.h"
#include "maps/stats.h"

#include "bpf/lib/common.h"
#include "bpf/lib/stats.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/csum.h"
#include "bpf/lib/nat.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/lb.h"
#include "bpf/lib/ep.h"
#include "bpf/lib/frag.h"
#include "bpf/lib/icmp.h"
#include "bpf/lib/flow.h"
#include "bpf/lib/policy.h"

/*
 * First packet of a flow into this veth's pod: it must be addressed to the pod (its ep4 entry
 * names this veth; anything else the stack routes here would enter the pod unjudged), and the
 * pod's ingress policy judges its source's identity. The node's own addresses are always
 * allowed (policy4_judge). When a policy isolates either end the flow is tracked both ways,
 * untranslated, so the pod's replies pass its egress policy; its reply entry leaves by the
 * node's routing, as the packet came.
 */
static __always_inline int to_pod_new_flow(struct __sk_buff *skb, const struct pkt4 *pkt, __u64 now)
{
	struct policy_verdict verdict;
	struct ep4_info *ep;
	int ret;

	ep = ep4_lookup(pkt->daddr);
	if (!ep || ep->ifindex != skb->ifindex)
		return -DROP_POLICY_INGRESS;
	ret = policy4_check_ingress(pkt->saddr, IDENTITY_ANY, pkt->daddr, pkt->proto, pkt->dport,
				    &verdict);
	if (ret)
		return ret;
	if (!verdict.is_tracked)
		return VERDICT_PASS;
	return flow_track_direct_at(skb, pkt, now, verdict.policy, FLOW_REPLY_ROUTED, ep, true);
}

/*
 * Returns a tc verdict, VERDICT_PASS, or -DROP_* for the entry point to count; a first fragment's
 * frag4 entry in *FIRST, for the entry point to settle (flow_begin_at).
 */
static __always_inline int to_pod_handle(struct __sk_buff *skb, struct frag4_entry **first)
{
	struct pkt4 pkt = {};
	__u64 now = 0;
	int ret;

	ret = flow_begin_at(skb, &pkt, &now, first, true);
	if (ret != VERDICT_NEW_FLOW)
		return ret;
	/* No policy isolates any pod: a new flow has nothing to meet. */
	if (!policy_is_enabled())
		return VERDICT_PASS;
	return to_pod_new_flow(skb, &pkt, now);
}

SEC("tc")
int tc_to_pod(struct __sk_buff *skb)
{
	struct frag4_entry *first = NULL;
	__u32 len = skb->len;
	int ret;

	/*
	 * Even without any policy, conntrack is looked up: under --routing native (or from an
	 * uplink without tc_node) the reply of a pod's Service flow to a backend on another node
	 * comes back through the stack, and only here is it translated back to the VIP.
	 */
	ret = to_pod_handle(skb, &first);
	frag4_settle_first(first, ret);
	/*
	 * A packet let through untouched is not counted: one from a local pod was counted by
	 * tc_pod already, and each packet counts once.
	 */
	if (ret == VERDICT_PASS)
		return TC_ACT_OK;
	return flow_verdict(skb, ret, len, DROP_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
