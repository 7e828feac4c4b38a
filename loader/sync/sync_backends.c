// SPDX-License-Identifier: Apache-2.0
/*
 * Backend ids: allocated once per (address, port, proto), counted by reference, deleted at the
 * end of a sync.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "loader/sync/sync_internal.h"

uint32_t sync_id_alloc(const struct hash_table *used, uint32_t *cursor)
{
	if (used->count >= SYNC_ID_LIMIT - 1)
		return 0;
	for (;;) {
		uint32_t id = *cursor;

		*cursor = id + 1 >= SYNC_ID_LIMIT ? 1 : id + 1;
		if (id && !hash_table_get_u64(used, id))
			return id;
	}
}

/* Take a reference on the backend ADDR/PROTO, creating it in lb4_backends when new. */
static int sync_backend_acquire(struct sync_ctx *ctx, const struct lb_backend_addr *addr,
				uint8_t proto, struct sync_counts *counts,
				struct sync_backend **out)
{
	uint64_t key = sync_backend_key(addr->address, addr->port, proto);
	struct sync_backend *backend = hash_table_get_u64(&ctx->backends, key);
	int err;

	if (backend) {
		backend->refcount++;
		*out = backend;
		return 0;
	}
	backend = calloc(1, sizeof(*backend));
	if (!backend)
		return -ENOMEM;
	backend->value.address = addr->address;
	backend->value.port = addr->port;
	backend->value.proto = proto;
	backend->id = sync_id_alloc(&ctx->backend_ids, &ctx->next_backend_id);
	if (!backend->id) {
		err = -ENOSPC;
		goto cleanup;
	}
	err = hash_table_put_u64(&ctx->backends, key, backend);
	if (err)
		goto cleanup;
	err = hash_table_put_u64(&ctx->backend_ids, backend->id, backend);
	if (err) {
		hash_table_remove_u64(&ctx->backends, key);
		goto cleanup;
	}
	err = sync_update(ctx, ctx->maps.lb4_backends, &backend->id, &backend->value);
	if (err) {
		hash_table_remove_u64(&ctx->backends, key);
		hash_table_remove_u64(&ctx->backend_ids, backend->id);
		goto cleanup;
	}
	backend->refcount = 1;
	counts->backends_added++;
	*out = backend;
	return 0;

cleanup:
	free(backend);
	return err;
}

/* Drop a reference; a backend left unreferenced is deleted at the end of the sync. */
static int sync_backend_release(struct sync_ctx *ctx, uint32_t id)
{
	struct sync_backend *backend = hash_table_get_u64(&ctx->backend_ids, id);

	if (!backend || !backend->refcount)
		return 0;
	if (--backend->refcount || backend->is_pending)
		return 0;
	if (ctx->n_pending == ctx->cap_pending) {
		size_t cap = ctx->cap_pending ? ctx->cap_pending * 2 : 64;
		struct sync_backend **pending = realloc(ctx->pending, cap * sizeof(*pending));

		if (!pending)
			return -ENOMEM; /* it stays in the map, unreferenced: harmless */
		ctx->pending = pending;
		ctx->cap_pending = cap;
	}
	backend->is_pending = true;
	ctx->pending[ctx->n_pending++] = backend;
	return 0;
}

void sync_backends_release(struct sync_ctx *ctx, const uint32_t *ids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		sync_backend_release(ctx, ids[i]);
}

/*
 * Take references on the sorted backend list ADDRS for a frontend of PROTO. On success *out is
 * a new array of ids in the same order; on failure nothing is held.
 */
int sync_backends_acquire(struct sync_ctx *ctx, const struct lb_backend_addr *addrs, size_t n,
			  uint8_t proto, struct sync_counts *counts, uint32_t **out)
{
	uint32_t *ids = calloc(n ? n : 1, sizeof(*ids));
	struct sync_backend *backend;
	size_t i;
	int err = 0;

	if (!ids)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		err = sync_backend_acquire(ctx, &addrs[i], proto, counts, &backend);
		if (err)
			goto cleanup;
		ids[i] = backend->id;
	}
	*out = ids;
	return 0;

cleanup:
	sync_backends_release(ctx, ids, (uint32_t)i);
	free(ids);
	return err;
}

/*
 * Delete backends left unreferenced by this sync. Like kube-proxy, UDP flows to a deleted
 * backend lose their conntrack entries so the next datagram picks a live backend; TCP flows
 * keep theirs and end with the backend (a RST or a timeout) rather than being re-balanced.
 */
int sync_backends_collect(struct sync_ctx *ctx, struct sync_counts *counts)
{
	struct hash_table flush = {0};
	int err = 0, ret;

	for (size_t i = 0; i < ctx->n_pending; i++) {
		struct sync_backend *backend = ctx->pending[i];

		backend->is_pending = false;
		if (backend->refcount)
			continue;
		ret = sync_delete(ctx, ctx->maps.lb4_backends, &backend->id);
		if (ret) {
			log_warn("lb4_backends: delete backend %u: %s", backend->id,
				 strerror(-ret));
			if (!err)
				err = ret;
			continue;
		}
		counts->backends_removed++;
		hash_table_remove_u64(&ctx->backends,
				      sync_backend_key(backend->value.address, backend->value.port,
						       backend->value.proto));
		hash_table_remove_u64(&ctx->backend_ids, backend->id);
		if (backend->value.proto == IPPROTO_UDP &&
		    hash_table_put_u64(&flush, backend->id, ctx))
			log_warn("ct4: out of memory, UDP flows of backend %u not flushed",
				 backend->id);
		free(backend);
	}
	ctx->n_pending = 0;
	if (flush.count && ctx->maps.ct4 >= 0) {
		ret = sync_ct_flush_udp(ctx->maps.ct4, &flush);
		if (ret < 0)
			log_warn("ct4: flush UDP flows of removed backends: %s", strerror(-ret));
		else
			counts->ct_flushed += (unsigned int)ret;
	}
	hash_table_free(&flush);
	return err;
}
