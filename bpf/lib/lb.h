/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service frontend lookup and admission; the choice of a backend is in lb_backend.h. */
#ifndef SLUICE_BPF_LB_H
#define SLUICE_BPF_LB_H

#include "bpf/lib/parse.h"
#include "maps/lb.h"
#include "maps/stats.h"

static __always_inline struct lb4_service *lb4_lookup_service(const struct pkt4 *pkt)
{
	struct lb4_key key = {
	    .address = pkt->daddr,
	    .port = pkt->dport,
	    .proto = pkt->proto,
	};

	return bpf_map_lookup_elem(&lb4_svc, &key);
}

static __always_inline bool lb4_is_vip(__be32 address)
{
	return bpf_map_lookup_elem(&lb4_vips, &address) != NULL;
}

/*
 * loadBalancerSourceRanges: may a new flow from saddr use the frontend? One LPM lookup over
 * (service id, client address), only for frontends that have ranges.
 */
static __always_inline bool lb4_source_allowed(const struct lb4_service *svc, __be32 saddr)
{
	struct lb4_src_range_key key = {
	    .prefix_len = 64,
	    .svc_id = bpf_htonl(svc->svc_id),
	    .address = saddr,
	};

	return bpf_map_lookup_elem(&lb4_src_ranges, &key) != NULL;
}

/*
 * May a new flow from saddr use the frontend, and has the frontend a backend for it? Returns 0;
 * -DROP_SOURCE_RANGE (loadBalancerSourceRanges); -DROP_NO_LOCAL_ENDPOINT (a Local traffic policy
 * and no endpoint on this node: kube-proxy's "has no local endpoints" DROP); or -DROP_NO_BACKEND
 * (no endpoint at all: the caller answers with icmp4_reject(), as kube-proxy's REJECT does, and
 * drops under this reason when it cannot).
 */
static __always_inline int lb4_admit(const struct lb4_service *svc, __be32 saddr)
{
	if ((svc->flags & LB_SVC_F_SOURCE_RANGES) && !lb4_source_allowed(svc, saddr))
		return -DROP_SOURCE_RANGE;
	if (svc->count)
		return 0;
	if (svc->flags & LB_SVC_F_LOCAL_ONLY)
		return -DROP_NO_LOCAL_ENDPOINT;
	return -DROP_NO_BACKEND;
}

#endif
