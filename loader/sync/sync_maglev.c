// SPDX-License-Identifier: Apache-2.0
/* Maglev tables: one per (frontend, generation), beside its slots, and the table size M. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/log.h"
#include "loader/sync/sync_internal.h"

/*
 * Delete the Maglev table of SVC_ID/GEN if there is one (a random frontend has none; the write
 * counts only when there was). Failures are logged: nothing reads a retired generation.
 */
void sync_maglev_delete(struct sync_ctx *ctx, uint32_t svc_id, uint8_t gen)
{
	struct lb4_maglev_key key;

	if (ctx->maps.lb4_maglev < 0)
		return;
	memset(&key, 0, sizeof(key));
	key.svc_id = svc_id;
	key.gen = gen;
	if (bpf_map_delete_elem(ctx->maps.lb4_maglev, &key) == 0)
		ctx->writes++;
	else if (errno != ENOENT)
		log_warn("%s: delete service %u gen %u: %s", LB4_MAGLEV_MAP, svc_id, gen,
			 strerror(errno));
}

/* Fill ctx->maglev_table for the backend set IDS. Returns 0 or -errno (see maglev_populate). */
int sync_maglev_fill(struct sync_ctx *ctx, const uint32_t *ids, uint32_t n)
{
	if (n > ctx->cap_maglev_backends) {
		struct maglev_backend *grown =
		    realloc(ctx->maglev_backends, n * sizeof(*ctx->maglev_backends));

		if (!grown)
			return -ENOMEM;
		ctx->maglev_backends = grown;
		ctx->cap_maglev_backends = n;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct sync_backend *b = hash_table_get_u64(&ctx->backend_ids, ids[i]);

		if (!b)
			return -ENOENT;
		ctx->maglev_backends[i].address = b->value.address;
		ctx->maglev_backends[i].port = b->value.port;
		ctx->maglev_backends[i].proto = b->value.proto;
		ctx->maglev_backends[i].id = ids[i];
	}
	return maglev_populate(ctx->maglev_backends, n, ctx->maglev_size, ctx->maglev_table);
}

/* Write the whole Maglev table of SVC_ID/GEN for the backend set IDS (N > 0). */
int sync_maglev_write(struct sync_ctx *ctx, uint32_t svc_id, uint8_t gen, const uint32_t *ids,
		      uint32_t n)
{
	struct lb4_maglev_key key;
	int err;

	err = sync_maglev_fill(ctx, ids, n);
	if (err)
		return err;
	memset(&key, 0, sizeof(key));
	key.svc_id = svc_id;
	key.gen = gen;
	return sync_update(ctx, ctx->maps.lb4_maglev, &key, ctx->maglev_table);
}

/*
 * Does a frontend with N backends get a Maglev table? Only with the map present and at most M
 * backends (more than M cannot all have an entry: such a frontend picks at random, logged).
 */
bool sync_is_maglev(const struct sync_ctx *ctx, const struct lb_frontend *frontend, size_t n)
{
	if (ctx->algorithm != LB_ALGORITHM_MAGLEV || ctx->maps.lb4_maglev < 0)
		return false;
	if (n > ctx->maglev_size) {
		log_debug("%s: %zu backends exceed the Maglev table size %u: picked at random",
			  frontend->name, n, ctx->maglev_size);
		return false;
	}
	return true;
}

/* The table size M is the one lb4_maglev was made with (its value size / 4). */
int sync_maglev_open(struct sync_ctx *ctx)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	if (ctx->maps.lb4_maglev < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(ctx->maps.lb4_maglev, &info, &len))
		return -errno;
	ctx->maglev_size = info.value_size / sizeof(uint32_t);
	if (!maglev_size_is_valid(ctx->maglev_size) ||
	    info.value_size != ctx->maglev_size * sizeof(uint32_t)) {
		log_warn("%s: value size %u is not a valid table of backend ids: frontends pick at "
			 "random",
			 LB4_MAGLEV_MAP, info.value_size);
		ctx->maps.lb4_maglev = -1;
		return 0;
	}
	ctx->maglev_table = malloc(ctx->maglev_size * sizeof(*ctx->maglev_table));
	return ctx->maglev_table ? 0 : -ENOMEM;
}
