/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The backend of a new flow: sessionAffinity, then Maglev (or the slots), for tc_pod and tc_node.
 */
#ifndef SLUICE_BPF_LB_BACKEND_H
#define SLUICE_BPF_LB_BACKEND_H

#include "maps/hash.h"
#include "bpf/lib/lb.h"

/*
 * Entries in a Maglev table (--maglev-table-size), set by the loader together with the value
 * size of lb4_maglev (M * 4 bytes): the index bound the verifier checks a table read against.
 * Only the programs that choose backends include this header, so only they carry it.
 */
const volatile __u32 lb_maglev_size = LB_MAGLEV_SIZE_DEFAULT;

/*
 * Maglev: the backend id at hash(5-tuple) % M of the frontend's table in the live generation, or
 * NULL when the frontend has no table there (the caller then falls back to the slots).
 */
static __always_inline __u32 *lb4_maglev_pick(const struct lb4_service *svc, const struct pkt4 *pkt)
{
	struct lb4_maglev_key key = {.svc_id = svc->svc_id, .gen = svc->gen};
	__u32 *table, index;

	table = bpf_map_lookup_elem(&lb4_maglev, &key);
	if (!table)
		return NULL;
	index =
	    hash_flow4(pkt->saddr, pkt->daddr, pkt->sport, pkt->dport, pkt->proto) % lb_maglev_size;
	/* The verifier knows nothing of a modulo's range (5.15): bound it against M itself. */
	if (index >= lb_maglev_size)
		return NULL;
	return &table[index];
}

/*
 * Picks a backend for a new flow: with LB_SVC_F_MAGLEV from the frontend's Maglev table by the
 * flow's hash (the same 5-tuple always gets the same backend while the table stays), else
 * uniformly at random among the live generation's slots. The caller passes a copy of the
 * service value: the agent may replace it concurrently, and count, gen and flags must come from
 * the same version. Returns 0 and fills id/backend, or -DROP_*.
 */
static __always_inline int lb4_select_backend(const struct lb4_service *svc, const struct pkt4 *pkt,
					      __u32 *backend_id, struct lb4_backend *backend)
{
	struct lb4_slot_key slot = {.svc_id = svc->svc_id, .gen = svc->gen};
	struct lb4_backend *found;
	__u32 *id = NULL;

	if (svc->flags & LB_SVC_F_MAGLEV)
		id = lb4_maglev_pick(svc, pkt);
	if (!id) {
		slot.index = bpf_get_prandom_u32() % svc->count;
		id = bpf_map_lookup_elem(&lb4_slots, &slot);
		if (!id)
			return -DROP_BACKEND_MISSING;
	}
	*backend_id = *id;
	found = bpf_map_lookup_elem(&lb4_backends, backend_id);
	if (!found)
		return -DROP_BACKEND_MISSING;
	*backend = *found;
	return 0;
}

/*
 * sessionAffinity ClientIP: the backend this client was last sent to, while its entry is younger
 * than the service's timeout (refreshed on use, as kube-proxy's "recent" match does). Returns 0
 * and fills id/backend, or -1 when the client has no live affinity.
 */
static __always_inline int lb4_affinity_lookup(const struct lb4_service *svc, __be32 client,
					       __u64 now, __u32 *backend_id,
					       struct lb4_backend *backend)
{
	struct lb4_affinity_key key = {.svc_id = svc->svc_id, .client = client};
	struct lb4_backend *found;
	struct lb4_affinity *entry;

	entry = bpf_map_lookup_elem(&lb4_affinity, &key);
	if (!entry || now - entry->last_used_ns > (__u64)svc->affinity_timeout_s * 1000000000ull)
		return -1;
	found = bpf_map_lookup_elem(&lb4_backends, &entry->backend_id);
	if (!found)
		return -1;
	*backend_id = entry->backend_id;
	*backend = *found;
	entry->last_used_ns = now;
	return 0;
}

static __always_inline void lb4_affinity_remember(const struct lb4_service *svc, __be32 client,
						  __u32 backend_id, __u64 now)
{
	struct lb4_affinity_key key = {.svc_id = svc->svc_id, .client = client};
	struct lb4_affinity value = {.last_used_ns = now, .backend_id = backend_id};

	bpf_map_update_elem(&lb4_affinity, &key, &value, BPF_ANY);
}

/*
 * The backend of a new flow to a frontend: admission (lb4_admit), then the client's
 * sessionAffinity backend while it lasts, else a fresh choice (lb4_select_backend), remembered
 * for affinity. SVC is the caller's copy of the service value (see lb4_select_backend). Returns
 * 0 and fills id/backend, or lb4_admit()'s and lb4_select_backend()'s -DROP_*.
 */
static __always_inline int lb4_choose_backend(const struct lb4_service *svc, const struct pkt4 *pkt,
					      __u64 now, __u32 *backend_id,
					      struct lb4_backend *backend)
{
	int ret;

	ret = lb4_admit(svc, pkt->saddr);
	if (ret)
		return ret;
	if ((svc->flags & LB_SVC_F_AFFINITY) &&
	    !lb4_affinity_lookup(svc, pkt->saddr, now, backend_id, backend))
		return 0;
	ret = lb4_select_backend(svc, pkt, backend_id, backend);
	if (ret)
		return ret;
	if (svc->flags & LB_SVC_F_AFFINITY)
		lb4_affinity_remember(svc, pkt->saddr, *backend_id, now);
	return 0;
}

#endif
