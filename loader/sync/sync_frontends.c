// SPDX-License-Identifier: Apache-2.0
/* Frontends: added, flipped to a new generation, retired after a grace period, removed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "loader/sync/sync_internal.h"

/* Flags a desired frontend with N backends carries into lb4_service.flags. */
uint16_t sync_frontend_flags(const struct sync_ctx *ctx, const struct lb_frontend *frontend,
			     size_t n)
{
	static const uint16_t kinds[] = {
	    [LB_KIND_CLUSTER_IP] = LB_SVC_F_CLUSTER_IP,
	    [LB_KIND_NODE_PORT] = LB_SVC_F_NODE_PORT,
	    [LB_KIND_EXTERNAL_IP] = LB_SVC_F_EXTERNAL_IP,
	    [LB_KIND_LOAD_BALANCER] = LB_SVC_F_LOAD_BALANCER,
	};
	uint16_t flags =
	    frontend->kind < sizeof(kinds) / sizeof(kinds[0]) ? kinds[frontend->kind] : 0;

	if (frontend->flags & LB_FE_F_SNAT)
		flags |= LB_SVC_F_SNAT;
	if (frontend->flags & LB_FE_F_LOCAL_ONLY)
		flags |= LB_SVC_F_LOCAL_ONLY;
	if (frontend->affinity_timeout_s)
		flags |= LB_SVC_F_AFFINITY;
	if (frontend->n_source_ranges)
		flags |= LB_SVC_F_SOURCE_RANGES;
	if (sync_is_maglev(ctx, frontend, n))
		flags |= LB_SVC_F_MAGLEV;
	return flags;
}

/*
 * Slot layout of a backend set: slot i holds backend i, so a random pick is uniform. With
 * LB_SVC_F_MAGLEV in FLAGS the generation's Maglev table follows (maps/lb.h): the slots stay,
 * as the backend set a restarted agent adopts and as the datapath's fallback when a table is
 * missing. Both are written before the flip that makes GEN live.
 */
static int sync_slots_write(struct sync_ctx *ctx, uint32_t svc_id, uint8_t gen, const uint32_t *ids,
			    uint32_t n, uint16_t flags, uint32_t *n_slots)
{
	int err;

	for (uint32_t i = 0; i < n; i++) {
		err = sync_slot_write(ctx, svc_id, gen, i, ids[i]);
		if (err) {
			log_warn("lb4_slots: write service %u gen %u index %u: %s", svc_id, gen, i,
				 strerror(-err));
			sync_slots_delete(ctx, svc_id, gen, i);
			return err;
		}
	}
	if ((flags & LB_SVC_F_MAGLEV) && n) {
		err = sync_maglev_write(ctx, svc_id, gen, ids, n);
		if (err) {
			log_warn("%s: write service %u gen %u: %s", LB4_MAGLEV_MAP, svc_id, gen,
				 strerror(-err));
			sync_slots_delete(ctx, svc_id, gen, n);
			return err;
		}
	}
	*n_slots = n;
	return 0;
}

void sync_service_free(struct sync_service *svc)
{
	if (!svc)
		return;
	free(svc->backend_ids);
	free(svc->retired_ids);
	free(svc->ranges);
	free(svc);
}

bool sync_backends_equal(const struct sync_ctx *ctx, const struct sync_service *svc,
			 const struct lb_backend_addr *addrs, size_t n)
{
	if (svc->n_backends != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct sync_backend *b =
		    hash_table_get_u64(&ctx->backend_ids, svc->backend_ids[i]);

		if (!b || b->value.address != addrs[i].address || b->value.port != addrs[i].port ||
		    b->value.proto != svc->key.proto)
			return false;
	}
	return true;
}

/* New frontend: backends, slots of gen 0, rev-NAT, then the frontend itself. */
int sync_service_add(struct sync_ctx *ctx, const struct lb4_key *key,
		     const struct lb_frontend *frontend, const struct lb_backend_addr *addrs,
		     size_t n, struct sync_counts *counts)
{
	struct sync_service *svc = calloc(1, sizeof(*svc));
	uint32_t *ids = NULL;
	int err;

	if (!svc)
		return -ENOMEM;
	svc->key = *key;
	svc->flags = sync_frontend_flags(ctx, frontend, n);
	svc->affinity_timeout_s = frontend->affinity_timeout_s;
	svc->epoch = ctx->epoch;
	snprintf(svc->name, sizeof(svc->name), "%s", frontend->name);
	sync_batch_own(ctx, svc); /* in a full sync, its writes are queued (sync_batch.c) */
	svc->svc_id = sync_id_alloc(&ctx->service_ids, &ctx->next_svc_id);
	if (!svc->svc_id) {
		err = -ENOSPC;
		goto cleanup;
	}
	err = sync_backends_acquire(ctx, addrs, n, key->proto, counts, &ids);
	if (err)
		goto cleanup;
	err = sync_slots_write(ctx, svc->svc_id, 0, ids, (uint32_t)n, svc->flags, &svc->n_slots);
	if (err)
		goto cleanup_backends;
	err = sync_ranges_sorted(frontend, &svc->ranges, &svc->n_ranges);
	err = err ?: sync_ranges_write(ctx, svc->svc_id, svc->ranges, svc->n_ranges);
	if (err)
		goto cleanup_ranges;
	err = sync_revnat_write(ctx, svc);
	if (err)
		goto cleanup_ranges;
	err = sync_vip_ref(ctx, key->address);
	if (err)
		goto cleanup_revnat;
	err = sync_svc_write(ctx, key, svc->svc_id, svc->n_slots, 0, svc->flags,
			     svc->affinity_timeout_s);
	if (err)
		goto cleanup_vip;
	svc->backend_ids = ids;
	svc->n_backends = (uint32_t)n;
	err = hash_table_put_u64(&ctx->services, sync_svc_key(key), svc);
	if (!err)
		err = hash_table_put_u64(&ctx->service_ids, svc->svc_id, svc);
	if (err) {
		/* Out of memory with the frontend live: take it down again to stay consistent. */
		hash_table_remove_u64(&ctx->services, sync_svc_key(key));
		sync_delete(ctx, ctx->maps.lb4_svc, key);
		svc->backend_ids = NULL;
		goto cleanup_vip;
	}
	sync_batch_own(ctx, NULL);
	return 0;

cleanup_vip:
	sync_vip_unref(ctx, key->address);
cleanup_revnat:
	sync_delete(ctx, ctx->maps.lb4_revnat, &svc->svc_id);
cleanup_ranges:
	sync_ranges_delete(ctx, svc->svc_id, svc->ranges, svc->n_ranges, NULL, 0);
	sync_slots_delete(ctx, svc->svc_id, 0, svc->n_slots);
cleanup_backends:
	sync_backends_release(ctx, ids, (uint32_t)n);
	free(ids);
cleanup:
	/* After the deletes above: whatever of it is still queued is never written. */
	sync_batch_cancel(ctx, svc);
	sync_service_free(svc);
	return err;
}

uint64_t sync_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Ends SVC's retired generation now: its slots are deleted and its backend references dropped
 * (backends left unreferenced go at the next collect).
 */
static void sync_retire_finish(struct sync_ctx *ctx, struct sync_service *svc)
{
	if (!svc->retired_ids)
		return;
	sync_slots_delete(ctx, svc->svc_id, svc->retired_gen, svc->retired_slots);
	sync_backends_release(ctx, svc->retired_ids, svc->n_retired_ids);
	free(svc->retired_ids);
	svc->retired_ids = NULL;
	svc->n_retired_ids = 0;
	svc->retired_slots = 0;
	hash_table_remove_u64(&ctx->retired, svc->svc_id);
}

/* Ends the retired generations whose grace period is over. */
void sync_retire_expired(struct sync_ctx *ctx, uint64_t now_ns)
{
	struct sync_service **due;
	struct hash_table_entry *entry;
	size_t n = 0, bucket;

	if (!ctx->retired.count)
		return;
	/* Collected first: finishing deletes from the table being walked. */
	due = calloc(ctx->retired.count, sizeof(*due));
	if (!due)
		return; /* retried at the next sync or tick */
	HASH_TABLE_FOR_EACH (&ctx->retired, entry, bucket) {
		struct sync_service *svc = entry->value;

		if (now_ns - svc->retired_at_ns >= ctx->retire_grace_ns)
			due[n++] = svc;
	}
	for (size_t i = 0; i < n; i++)
		sync_retire_finish(ctx, due[i]);
	free(due);
}

/* Changed backend set: fill the other generation, flip the frontend in one update, clean up. */
int sync_service_update(struct sync_ctx *ctx, struct sync_service *svc,
			const struct lb_frontend *frontend, const struct lb_backend_addr *addrs,
			size_t n, struct sync_counts *counts)
{
	uint16_t flags = sync_frontend_flags(ctx, frontend, n);
	uint8_t gen = svc->gen ^ 1;
	uint32_t *ids = NULL, n_slots = 0;
	struct cidr4 *ranges = NULL;
	size_t n_ranges = 0;
	bool is_name_changed = strncmp(svc->name, frontend->name, sizeof(svc->name)) != 0;
	char old_name[SLUICE_NAME_LEN];
	int err;

	/* A second change within the grace period reuses the retired generation: end it first. */
	sync_retire_finish(ctx, svc);
	err = sync_backends_acquire(ctx, addrs, n, svc->key.proto, counts, &ids);
	if (err)
		return err;
	err = sync_slots_write(ctx, svc->svc_id, gen, ids, (uint32_t)n, flags, &n_slots);
	if (err)
		goto cleanup;
	/* New ranges admitted before the flip; ranges no longer wanted go after it. */
	err = sync_ranges_sorted(frontend, &ranges, &n_ranges);
	err = err ?: sync_ranges_write(ctx, svc->svc_id, ranges, n_ranges);
	if (err)
		goto cleanup_slots;
	if (is_name_changed || svc->is_revnat_dirty) {
		memcpy(old_name, svc->name, sizeof(old_name));
		snprintf(svc->name, sizeof(svc->name), "%s", frontend->name);
		err = sync_revnat_write(ctx, svc);
		if (err) {
			memcpy(svc->name, old_name, sizeof(old_name));
			goto cleanup_slots;
		}
		svc->is_revnat_dirty = false;
	}
	/* The flip: from here packets pick from the new generation. */
	err = sync_svc_write(ctx, &svc->key, svc->svc_id, n_slots, gen, flags,
			     frontend->affinity_timeout_s);
	if (err)
		goto cleanup_slots;
	sync_ranges_delete(ctx, svc->svc_id, svc->ranges, svc->n_ranges, ranges, n_ranges);
	free(svc->ranges);
	svc->ranges = ranges;
	svc->n_ranges = n_ranges;
	ranges = NULL;
	if (svc->flags & LB_SVC_F_AFFINITY)
		sync_affinity_forget(ctx, svc->svc_id, (flags & LB_SVC_F_AFFINITY) ? ids : NULL,
				     (flags & LB_SVC_F_AFFINITY) ? (uint32_t)n : 0);
	svc->affinity_timeout_s = frontend->affinity_timeout_s;
	/*
	 * A packet that read the frontend just before the flip may still pick a slot of the old
	 * generation and look its backend up: both stay until the grace period is over.
	 */
	svc->retired_gen = svc->gen;
	svc->retired_slots = svc->n_slots;
	svc->retired_ids = svc->backend_ids;
	svc->n_retired_ids = svc->n_backends;
	svc->retired_at_ns = sync_now_ns();
	if (hash_table_put_u64(&ctx->retired, svc->svc_id, svc))
		sync_retire_finish(ctx, svc); /* out of memory: no grace, as before */
	svc->backend_ids = ids;
	svc->n_backends = (uint32_t)n;
	svc->n_slots = n_slots;
	svc->gen = gen;
	svc->flags = flags;
	svc->is_dirty = false;
	return 0;

cleanup_slots:
	sync_ranges_delete(ctx, svc->svc_id, ranges, n_ranges, svc->ranges, svc->n_ranges);
	free(ranges);
	sync_slots_delete(ctx, svc->svc_id, gen, n_slots);
cleanup:
	sync_backends_release(ctx, ids, (uint32_t)n);
	free(ids);
	return err;
}

/* Removed frontend: the frontend first so no new flow reaches what follows. */
int sync_service_remove(struct sync_ctx *ctx, struct sync_service *svc)
{
	int err;

	err = sync_delete(ctx, ctx->maps.lb4_svc, &svc->key);
	if (err)
		return err;
	sync_vip_unref(ctx, svc->key.address);
	sync_retire_finish(ctx, svc);
	sync_slots_delete(ctx, svc->svc_id, svc->gen, svc->n_slots);
	sync_ranges_delete(ctx, svc->svc_id, svc->ranges, svc->n_ranges, NULL, 0);
	if (svc->flags & LB_SVC_F_AFFINITY)
		sync_affinity_forget(ctx, svc->svc_id, NULL, 0);
	err = sync_delete(ctx, ctx->maps.lb4_revnat, &svc->svc_id);
	if (err)
		log_warn("lb4_revnat: delete service %u: %s", svc->svc_id, strerror(-err));
	sync_backends_release(ctx, svc->backend_ids, svc->n_backends);
	hash_table_remove_u64(&ctx->services, sync_svc_key(&svc->key));
	hash_table_remove_u64(&ctx->service_ids, svc->svc_id);
	sync_service_free(svc);
	return 0;
}
