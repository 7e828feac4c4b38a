// SPDX-License-Identifier: Apache-2.0
/*
 * Per-frontend extras: loadBalancerSourceRanges, session affinity and the VIP counts of
 * lb4_vips.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/log.h"
#include "lib/map_walk.h"
#include "loader/sync/sync_internal.h"

static void sync_range_key(struct lb4_src_range_key *key, uint32_t svc_id,
			   const struct cidr4 *range)
{
	memset(key, 0, sizeof(*key));
	key->prefix_len = 32 + range->prefix_len;
	key->svc_id = htonl(svc_id);
	key->address =
	    range->prefix_len ? range->address & htonl(~0u << (32 - range->prefix_len)) : 0;
}

int sync_cidr_cmp(const void *a, const void *b)
{
	const struct cidr4 *x = a, *y = b;
	uint32_t xa = ntohl(x->address), ya = ntohl(y->address);

	if (xa != ya)
		return xa < ya ? -1 : 1;
	return (x->prefix_len > y->prefix_len) - (x->prefix_len < y->prefix_len);
}

static bool sync_ranges_contain(const struct cidr4 *ranges, size_t n, const struct cidr4 *range)
{
	return n && bsearch(range, ranges, n, sizeof(*ranges), sync_cidr_cmp) != NULL;
}

/* Sorted, de-duplicated copy of a frontend's source ranges; *out NULL when there are none. */
int sync_ranges_sorted(const struct lb_frontend *frontend, struct cidr4 **out, size_t *n_out)
{
	size_t n = 0;

	*out = NULL;
	*n_out = 0;
	if (!frontend->n_source_ranges)
		return 0;
	*out = malloc(frontend->n_source_ranges * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, frontend->source_ranges, frontend->n_source_ranges * sizeof(**out));
	qsort(*out, frontend->n_source_ranges, sizeof(**out), sync_cidr_cmp);
	for (size_t i = 0; i < frontend->n_source_ranges; i++)
		if (!n || sync_cidr_cmp(&(*out)[n - 1], &(*out)[i]))
			(*out)[n++] = (*out)[i];
	*n_out = n;
	return 0;
}

/* Admit RANGES for SVC_ID (before the frontend's flags say to check them). */
int sync_ranges_write(struct sync_ctx *ctx, uint32_t svc_id, const struct cidr4 *ranges, size_t n)
{
	struct lb4_src_range_key key;
	uint8_t one = 1;
	int err;

	for (size_t i = 0; i < n; i++) {
		sync_range_key(&key, svc_id, &ranges[i]);
		err = sync_update(ctx, ctx->maps.lb4_src_ranges, &key, &one);
		if (err)
			return err;
	}
	return 0;
}

/* Drop the ranges of OLD not in KEEP (after the frontend stopped needing them). */
void sync_ranges_delete(struct sync_ctx *ctx, uint32_t svc_id, const struct cidr4 *old,
			size_t n_old, const struct cidr4 *keep, size_t n_keep)
{
	struct lb4_src_range_key key;

	for (size_t i = 0; i < n_old; i++) {
		if (sync_ranges_contain(keep, n_keep, &old[i]))
			continue;
		sync_range_key(&key, svc_id, &old[i]);
		if (sync_delete(ctx, ctx->maps.lb4_src_ranges, &key))
			log_warn("%s: delete a range of service %u failed", LB4_SRC_RANGES_MAP,
				 svc_id);
	}
}

static bool sync_ids_contain(const uint32_t *ids, uint32_t n, uint32_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * Forget the clients of SVC_ID stuck to a backend outside KEEP (all of them when n_keep is 0),
 * as kube-proxy's affinity ends with the endpoint's chain. Walks lb4_affinity, which is bounded.
 */
void sync_affinity_forget(struct sync_ctx *ctx, uint32_t svc_id, const uint32_t *keep,
			  uint32_t n_keep)
{
	struct lb4_affinity_key key;
	struct lb4_affinity value;
	struct map_walk walk;

	if (ctx->maps.lb4_affinity < 0)
		return;
	/* Keys only: the value is read for this service's entries alone. */
	map_walk_start(&walk, ctx->maps.lb4_affinity, sizeof(key), 0);
	while (map_walk_next(&walk, &key, NULL)) {
		if (key.svc_id != svc_id ||
		    bpf_map_lookup_elem(ctx->maps.lb4_affinity, &key, &value) ||
		    sync_ids_contain(keep, n_keep, value.backend_id))
			continue;
		bpf_map_delete_elem(ctx->maps.lb4_affinity, &key); /* the walk has its successor */
	}
}

/*
 * lb4_vips holds, per VIP, how many frontends use it. A VIP gains its entry before its first
 * frontend goes live and loses it after its last frontend is gone, so the datapath always
 * knows a frontend address as one.
 */
int sync_vip_write(struct sync_ctx *ctx, uint32_t vip, uintptr_t frontends)
{
	struct lb4_vip value = {.frontends = (uint32_t)frontends};

	if (ctx->maps.lb4_vips < 0)
		return 0;
	if (!frontends)
		return sync_delete(ctx, ctx->maps.lb4_vips, &vip);
	return sync_update(ctx, ctx->maps.lb4_vips, &vip, &value);
}

int sync_vip_ref(struct sync_ctx *ctx, uint32_t vip)
{
	uintptr_t n = (uintptr_t)hash_table_get_u64(&ctx->vips, vip);
	int err;

	if (!vip)
		return 0; /* NodePort: the node's own addresses, not a VIP */
	err = sync_vip_write(ctx, vip, n + 1);
	if (err)
		return err;
	return hash_table_put_u64(&ctx->vips, vip, (void *)(n + 1));
}

void sync_vip_unref(struct sync_ctx *ctx, uint32_t vip)
{
	uintptr_t n = (uintptr_t)hash_table_get_u64(&ctx->vips, vip);
	int err;

	if (!vip || !n)
		return;
	err = sync_vip_write(ctx, vip, n - 1);
	if (err)
		log_warn("lb4_vips: update %u frontends: %s", (unsigned int)(n - 1),
			 strerror(-err));
	if (n == 1)
		hash_table_remove_u64(&ctx->vips, vip);
	else
		hash_table_put_u64(&ctx->vips, vip, (void *)(n - 1)); /* key present: cannot fail */
}

/* The frontend's source ranges, sorted, equal to what SVC has in the maps? */
bool sync_ranges_equal(const struct sync_service *svc, const struct lb_frontend *frontend)
{
	struct cidr4 *ranges;
	size_t n;
	bool is_equal;

	if (sync_ranges_sorted(frontend, &ranges, &n))
		return false; /* out of memory: the update path will report it */
	is_equal = n == svc->n_ranges;
	for (size_t i = 0; is_equal && i < n; i++)
		is_equal = !sync_cidr_cmp(&ranges[i], &svc->ranges[i]);
	free(ranges);
	return is_equal;
}
