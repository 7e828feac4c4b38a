// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc ingress on the node's uplink: traffic from outside the node to a NodePort, a LoadBalancer
 * ingress IP or an external IP is translated to a backend (masqueraded to a node address under
 * externalTrafficPolicy Cluster, client source kept under Local) and delivered straight into
 * the backend pod; replies leave through the pod program's reply entry. Packets of tracked
 * flows (replies of remote backends included) are translated here too; the rest passes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps/lb.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/frag.h"
#include "maps/node.h"
#include "maps/policy.h"
#include "maps/stats.h"

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
#include "bpf/lib/node.h"
#include "bpf/lib/snat.h"
#include "bpf/lib/policy.h"
#include "bpf/lib/masq.h"
#include "bpf/lib/direct.h"

/*
 * First packet of a flow from outside: choose a backend, masquerade when the frontend asks,
 * record both directions (flow_create_pair: with SNAT the reply entry is the port's claim),
 * translate, deliver.
 */
static __always_inline int node_new_flow(struct __sk_buff *skb, const struct pkt4 *pkt,
					 const struct lb4_service *svc_ptr, __u64 now)
{
	struct lb4_service svc = *svc_ptr;
	struct lb4_backend backend;
	struct policy_verdict verdict = {};
	struct flow_pair_opts opts = {.reply_to = FLOW_REPLY_NEIGH};
	struct ct_entry entry = {};
	struct ep4_info *backend_ep;
	struct nat4_tuple out;
	bool is_snat;
	__u32 backend_id;
	int ret;

	ret = lb4_choose_backend(&svc, pkt, now, &backend_id, &backend);
	if (ret == -DROP_NO_BACKEND)
		return icmp4_reject(skb, pkt, false);
	if (ret)
		return ret;

	/*
	 * A backend on this node: its ingress policy judges the client as it arrived, before any
	 * masquerade (a backend on another node is judged there, on what reaches it).
	 */
	backend_ep = ep4_lookup(backend.address);
	if (backend_ep) {
		ret = policy4_check_ingress(pkt->saddr, IDENTITY_ANY, backend.address, pkt->proto,
					    backend.port, &verdict);
		if (ret)
			return ret;
	}

	is_snat = svc.flags & LB_SVC_F_SNAT;
	out.saddr = is_snat ? snat4_address(pkt->daddr) : pkt->saddr;
	out.daddr = backend.address;
	out.sport = pkt->sport;
	out.dport = backend.port;
	if (!out.saddr)
		return -DROP_NAT_NO_PORT; /* masquerade without a node address to use */

	/*
	 * Reply: backend -> client (or node address:port) leaves as frontend -> client, out of this
	 * uplink by its neighbour table: its source may be a node address.
	 * Forward: client -> frontend leaves as (client or node address:port) -> backend.
	 */
	entry.svc_id = svc.svc_id;
	entry.backend_id = backend_id;
	entry.policy = verdict.policy;
	opts.flags = is_snat ? CT_F_SNAT : 0;
	opts.dst_ep = backend_ep;
	opts.ports = snat4_ports();
	return flow_start_translated(skb, pkt, now, &out, &entry, &opts,
				     is_snat ? STAT_EXT_SNAT : STAT_EXT_NEW);
}

/*
 * First packet of a flow from outside the node straight to a pod of this node (no service):
 * judged and tracked as direct.h says; the rest passes untouched, and the node's routing
 * delivers it.
 */
static __always_inline int node_direct_flow(struct __sk_buff *skb, const struct pkt4 *pkt,
					    __u64 now)
{
	struct ep4_info *ep;

	if (!direct_is_judged())
		return VERDICT_PASS;
	ep = ep4_lookup(pkt->daddr);
	if (!ep)
		return VERDICT_PASS;
	return direct_flow(skb, pkt, now, ep, IDENTITY_ANY);
}

/*
 * Returns a tc verdict, VERDICT_PASS, or -DROP_* for the entry point to count; a first fragment's
 * frag4 entry in *FIRST, for the entry point to settle (flow_begin).
 */
static __always_inline int node_handle(struct __sk_buff *skb, struct frag4_entry **first)
{
	struct pkt4 pkt = {};
	struct lb4_service *svc;
	__u64 now = 0;
	int ret;

	ret = flow_begin(skb, &pkt, &now, first);
	if (ret != VERDICT_NEW_FLOW)
		return ret;
	svc = node_lookup_service(&pkt);
	if (!svc)
		return node_direct_flow(skb, &pkt, now);
	return node_new_flow(skb, &pkt, svc, now);
}

SEC("tc")
int tc_node_ingress(struct __sk_buff *skb)
{
	struct frag4_entry *first = NULL;
	__u32 len = skb->len;
	int ret;

	ret = node_handle(skb, &first);
	frag4_settle_first(first, ret);
	return flow_verdict(skb, ret, len, DROP_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
