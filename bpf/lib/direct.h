/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * New flows from outside the node straight to a pod of this node (no service), shared by the
 * uplink (tc_node) and the tunnel (tc_tunnel): the pod's ingress policy decides. When a policy
 * isolates the pod, or egress masquerade is on, the flow is tracked in both directions,
 * untranslated: the pod's replies pass its egress policy, and are not taken for new flows of
 * the pod's and masqueraded (pod_direct_flow); the reply leaves by the node's routing.
 */
#ifndef SLUICE_BPF_DIRECT_H
#define SLUICE_BPF_DIRECT_H

#include "bpf/lib/ep.h"
#include "bpf/lib/flow.h"
#include "bpf/lib/masq.h"
#include "bpf/lib/policy.h"

/* Is there anything to judge or track? Neither policy nor masquerade: every such flow passes. */
static __always_inline bool direct_is_judged(void)
{
	return policy_is_enabled() || masq4_is_on();
}

/*
 * PKT opens a flow to the pod EP of this node. SRC_IDENTITY: the source's identity as the
 * tunnel's VNI carried it, IDENTITY_ANY to look it up (policy4_check_ingress). REPLY_TO (enum
 * flow_reply_to): where its replies go when it is tracked; IS_ALWAYS_TRACKED: track it even
 * when nothing judges it (direct_is_judged), for its replies' way back. Returns a tc verdict
 * (the flow tracked, this packet delivered into EP), -DROP_*, or VERDICT_PASS when the flow is
 * allowed and not tracked: the caller delivers it.
 */
static __always_inline int direct_flow_at(struct __sk_buff *skb, const struct pkt4 *pkt, __u64 now,
					  const struct ep4_info *ep, __u32 src_identity,
					  __u8 reply_to, bool is_always_tracked)
{
	struct policy_verdict verdict = {};
	int ret;

	ret = policy4_check_ingress(pkt->saddr, src_identity, pkt->daddr, pkt->proto, pkt->dport,
				    &verdict);
	if (ret)
		return ret;
	if (!is_always_tracked && !verdict.is_tracked && !masq4_is_on())
		return VERDICT_PASS;
	return flow_track_direct_at(skb, pkt, now, verdict.policy, reply_to, ep, false);
}

/* direct_flow_at() whose replies go to the node's routing, tracked only when judged. */
static __always_inline int direct_flow(struct __sk_buff *skb, const struct pkt4 *pkt, __u64 now,
				       const struct ep4_info *ep, __u32 src_identity)
{
	return direct_flow_at(skb, pkt, now, ep, src_identity, FLOW_REPLY_ROUTED, false);
}

#endif
