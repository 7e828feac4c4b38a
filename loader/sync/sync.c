// SPDX-License-Identifier: Apache-2.0
/*
 * Owns the service maps' contents: the sync context's life (open by adoption, close) and its
 * settings. What a sync does is in sync_apply.c; the files of loader/sync/ share
 * sync_internal.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loader/sync/sync_internal.h"

int sync_open(const struct sluice_maps *maps, struct sync_ctx **out)
{
	struct sync_ctx *ctx = calloc(1, sizeof(*ctx));
	int err;

	if (!ctx)
		return -ENOMEM;
	ctx->maps = *maps;
	ctx->next_svc_id = 1;
	ctx->next_backend_id = 1;
	ctx->retire_grace_ns = SYNC_RETIRE_GRACE_NS;

	err = sync_adopt(ctx);
	if (err)
		goto cleanup;
	err = policy_sync_open(maps, &ctx->policy);
	if (err)
		goto cleanup;
	ctx->writes = ctx->adopt_writes;
	*out = ctx;
	return 0;

cleanup:
	sync_close(ctx);
	return err;
}

void sync_close(struct sync_ctx *ctx)
{
	struct hash_table_entry *entry;
	size_t bucket;

	if (!ctx)
		return;
	policy_sync_close(ctx->policy);
	HASH_TABLE_FOR_EACH (&ctx->services, entry, bucket) {
		sync_service_free(entry->value);
	}
	HASH_TABLE_FOR_EACH (&ctx->backend_ids, entry, bucket) {
		free(entry->value);
	}
	hash_table_free(&ctx->services);
	hash_table_free(&ctx->service_ids);
	hash_table_free(&ctx->backends);
	hash_table_free(&ctx->backend_ids);
	hash_table_free(&ctx->vips);
	hash_table_free(&ctx->retired);
	free(ctx->pending);
	free(ctx->scratch);
	free(ctx->maglev_table);
	free(ctx->maglev_backends);
	free(ctx);
}

void sync_set_lb_algorithm(struct sync_ctx *ctx, enum lb_algorithm algorithm)
{
	ctx->algorithm = algorithm;
}

uint32_t sync_maglev_size(const struct sync_ctx *ctx)
{
	return ctx->maps.lb4_maglev < 0 ? 0 : ctx->maglev_size;
}

void sync_set_retire_grace(struct sync_ctx *ctx, uint64_t grace_ns)
{
	ctx->retire_grace_ns = grace_ns;
}

int sync_retire(struct sync_ctx *ctx, struct sync_counts *counts)
{
	memset(counts, 0, sizeof(*counts));
	sync_retire_expired(ctx, sync_now_ns());
	return sync_backends_collect(ctx, counts);
}

bool sync_has_retired(const struct sync_ctx *ctx)
{
	return ctx->retired.count > 0;
}

size_t sync_service_count(const struct sync_ctx *ctx)
{
	return ctx->services.count;
}

size_t sync_backend_count(const struct sync_ctx *ctx)
{
	return ctx->backend_ids.count;
}

unsigned long sync_adopt_writes(const struct sync_ctx *ctx)
{
	return ctx->adopt_writes;
}
