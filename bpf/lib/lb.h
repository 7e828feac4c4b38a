/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service frontend lookup and backend selection. */
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
 * Picks a backend uniformly at random among the live generation's slots. The caller passes a
 * copy of the service value: the agent may replace it concurrently, and count and gen must
 * come from the same version. Returns 0 and fills id/backend, or -DROP_*.
 */
static __always_inline int lb4_select_backend(const struct lb4_service *svc, __u32 *backend_id,
					      struct lb4_backend *backend)
{
	struct lb4_slot_key slot = {
	    .svc_id = svc->svc_id,
	    .index = bpf_get_prandom_u32() % svc->count,
	    .gen = svc->gen,
	};
	struct lb4_backend *found;
	__u32 *id;

	id = bpf_map_lookup_elem(&lb4_slots, &slot);
	if (!id)
		return -DROP_BACKEND_MISSING;
	*backend_id = *id;
	found = bpf_map_lookup_elem(&lb4_backends, backend_id);
	if (!found)
		return -DROP_BACKEND_MISSING;
	*backend = *found;
	return 0;
}

#endif
