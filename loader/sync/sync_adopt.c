// SPDX-License-Identifier: Apache-2.0
/*
 * Adoption at start: the in-memory image is read back from the maps, and what no frontend
 * reaches is deleted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/log.h"
#include "lib/map_walk.h"
#include "loader/sync/sync_internal.h"

/* The canonical backend order of loader/desired/state.c, as qsort() wants it. */
static int sync_backend_addr_cmp(const void *a, const void *b)
{
	return lb_backend_addr_cmp(a, b);
}

static int sync_adopt_backends(struct sync_ctx *ctx)
{
	struct lb4_backend value;
	uint32_t id;
	struct map_walk walk;
	int err;

	map_walk_start(&walk, ctx->maps.lb4_backends, sizeof(id), sizeof(value));
	while (map_walk_next(&walk, &id, &value)) {
		struct sync_backend *backend = calloc(1, sizeof(*backend));

		if (!backend)
			return -ENOMEM;
		backend->value = value;
		backend->id = id;
		err = hash_table_put_u64(&ctx->backend_ids, id, backend);
		if (err) {
			free(backend);
			return err;
		}
		/* Two ids for one address (not written by us): the first one found serves. */
		uint64_t key = sync_backend_key(value.address, value.port, value.proto);

		if (!hash_table_get_u64(&ctx->backends, key)) {
			err = hash_table_put_u64(&ctx->backends, key, backend);
			if (err)
				return err;
		}
		if (id >= ctx->next_backend_id && id < SYNC_ID_LIMIT - 1)
			ctx->next_backend_id = id + 1;
	}
	return walk.err;
}

/* Keys of entries no live frontend reaches, deleted once the walk is over. */
struct sync_orphans {
	void *keys;
	size_t n, cap, key_size;
};

static int sync_orphan_add(struct sync_orphans *orphans, const void *key)
{
	if (orphans->n == orphans->cap) {
		size_t cap = orphans->cap ? orphans->cap * 2 : 64;
		void *keys = realloc(orphans->keys, cap * orphans->key_size);

		if (!keys)
			return -ENOMEM;
		orphans->keys = keys;
		orphans->cap = cap;
	}
	memcpy((char *)orphans->keys + orphans->n * orphans->key_size, key, orphans->key_size);
	orphans->n++;
	return 0;
}

static void sync_orphans_delete(struct sync_ctx *ctx, int fd, struct sync_orphans *orphans,
				const char *map)
{
	if (orphans->n)
		log_info("%s: deleting %zu entries no frontend reaches (agent stopped mid-sync?)",
			 map, orphans->n);
	for (size_t i = 0; i < orphans->n; i++) {
		ctx->adopt_writes++;
		sync_delete(ctx, fd, (char *)orphans->keys + i * orphans->key_size);
	}
	free(orphans->keys);
	memset(orphans, 0, sizeof(*orphans));
}

static int sync_adopt_services(struct sync_ctx *ctx)
{
	struct sync_orphans orphans = {.key_size = sizeof(struct lb4_key)};
	struct lb4_service value;
	struct lb4_key key;
	struct map_walk walk;
	int err;

	map_walk_start(&walk, ctx->maps.lb4_svc, sizeof(key), sizeof(value));
	while (map_walk_next(&walk, &key, &value)) {
		if (!value.svc_id || hash_table_get_u64(&ctx->service_ids, value.svc_id)) {
			/* Unusable id: drop the frontend; the next sync programs it afresh. */
			log_warn(
			    "lb4_svc: adopted frontend has id %u, which is 0 or taken: deleted",
			    value.svc_id);
			err = sync_orphan_add(&orphans, &key);
			if (err)
				goto cleanup;
			continue;
		}
		struct sync_service *svc = calloc(1, sizeof(*svc));

		if (!svc) {
			err = -ENOMEM;
			goto cleanup;
		}
		svc->key = key;
		svc->svc_id = value.svc_id;
		svc->gen = value.gen & 1;
		svc->flags = value.flags;
		svc->affinity_timeout_s = value.affinity_timeout_s;
		svc->n_slots = value.count;
		svc->is_revnat_dirty = true; /* until lb4_revnat confirms it */
		svc->backend_ids = calloc(value.count ? value.count : 1, sizeof(uint32_t));
		if (!svc->backend_ids) {
			free(svc);
			err = -ENOMEM;
			goto cleanup;
		}
		err = hash_table_put_u64(&ctx->services, sync_svc_key(&key), svc);
		if (!err)
			err = hash_table_put_u64(&ctx->service_ids, svc->svc_id, svc);
		if (err) {
			hash_table_remove_u64(&ctx->services, sync_svc_key(&key));
			sync_service_free(svc);
			goto cleanup;
		}
		if (svc->svc_id >= ctx->next_svc_id && svc->svc_id < SYNC_ID_LIMIT - 1)
			ctx->next_svc_id = svc->svc_id + 1;
	}
	if (walk.err) {
		err = walk.err;
		goto cleanup;
	}
	sync_orphans_delete(ctx, ctx->maps.lb4_svc, &orphans, LB4_SVC_MAP);
	return 0;

cleanup:
	free(orphans.keys);
	return err;
}

static int sync_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int sync_adopt_slots(struct sync_ctx *ctx)
{
	struct sync_orphans orphans = {.key_size = sizeof(struct lb4_slot_key)};
	struct lb4_slot_key key;
	struct hash_table_entry *entry;
	struct map_walk walk;
	uint32_t backend_id;
	size_t bucket;
	int err = 0;

	map_walk_start(&walk, ctx->maps.lb4_slots, sizeof(key), sizeof(backend_id));
	while (map_walk_next(&walk, &key, &backend_id)) {
		struct sync_service *svc = hash_table_get_u64(&ctx->service_ids, key.svc_id);

		if (!svc || key.gen != svc->gen || key.index >= svc->n_slots) {
			/* A generation never flipped to, or one never cleaned after a flip. */
			err = sync_orphan_add(&orphans, &key);
			if (err)
				goto cleanup;
			continue;
		}
		svc->backend_ids[key.index] = backend_id;
	}
	if (walk.err) {
		err = walk.err;
		goto cleanup;
	}

	/* Each frontend's backend set, taken from its live slots. */
	HASH_TABLE_FOR_EACH (&ctx->services, entry, bucket) {
		struct sync_service *svc = entry->value;
		uint32_t n = 0;

		for (uint32_t j = 0; j < svc->n_slots; j++) {
			if (!svc->backend_ids[j] ||
			    !hash_table_get_u64(&ctx->backend_ids, svc->backend_ids[j]))
				svc->is_dirty = true; /* a hole: rewrite on the next sync */
			else
				svc->backend_ids[n++] = svc->backend_ids[j];
		}
		qsort(svc->backend_ids, n, sizeof(uint32_t), sync_u32_cmp);
		uint32_t distinct = 0;

		for (uint32_t j = 0; j < n; j++)
			if (!distinct || svc->backend_ids[distinct - 1] != svc->backend_ids[j])
				svc->backend_ids[distinct++] = svc->backend_ids[j];
		/* With one slot per backend, a repeated backend means a layout we did not write. */
		if (distinct != svc->n_slots)
			svc->is_dirty = true;
		svc->n_backends = distinct;
		/* Order the set as sync_backends_equal() compares it: by address, then port. */
		struct lb_backend_addr *addrs = calloc(distinct ? distinct : 1, sizeof(*addrs));

		if (!addrs) {
			err = -ENOMEM;
			goto cleanup;
		}
		for (uint32_t j = 0; j < distinct; j++) {
			struct sync_backend *b =
			    hash_table_get_u64(&ctx->backend_ids, svc->backend_ids[j]);

			b->refcount++;
			if (b->value.proto != svc->key.proto)
				svc->is_dirty = true;
			addrs[j].address = b->value.address;
			addrs[j].port = b->value.port;
		}
		/* Sort ids and addresses together: sort the addresses, then look ids back up. */
		qsort(addrs, distinct, sizeof(*addrs), sync_backend_addr_cmp);
		for (uint32_t j = 0; j < distinct; j++) {
			struct sync_backend *b = hash_table_get_u64(
			    &ctx->backends,
			    sync_backend_key(addrs[j].address, addrs[j].port, svc->key.proto));

			if (b)
				svc->backend_ids[j] = b->id;
			else
				svc->is_dirty = true;
		}
		free(addrs);
	}
	sync_orphans_delete(ctx, ctx->maps.lb4_slots, &orphans, LB4_SLOTS_MAP);
	return 0;

cleanup:
	free(orphans.keys);
	return err;
}

/*
 * Maglev tables: the live generation's table of each Maglev frontend is kept when it is exactly
 * the table of its adopted backend set (as this build and M compute it); otherwise, or when it is
 * missing (M changed: the datapath loader made a new map), the frontend is rewritten by a flip at
 * the first sync, and until then its flows fall back to the slots. Tables of no live generation
 * are deleted. Runs after sync_adopt_slots(), which recovers the backend sets.
 */
static int sync_adopt_maglev(struct sync_ctx *ctx)
{
	struct sync_orphans orphans = {.key_size = sizeof(struct lb4_maglev_key)};
	struct hash_table kept = {0}; /* svc_id -> service whose live table is right */
	struct lb4_maglev_key key;
	struct hash_table_entry *entry;
	uint32_t *held = NULL;
	struct map_walk walk;
	size_t bucket;
	int err = 0;

	memset(&walk, 0, sizeof(walk)); /* no lb4_maglev: a walk without entries */
	if (ctx->maps.lb4_maglev >= 0) {
		held = malloc(ctx->maglev_size * sizeof(*held));
		if (!held)
			return -ENOMEM;
		map_walk_start(&walk, ctx->maps.lb4_maglev, sizeof(key),
			       ctx->maglev_size * sizeof(*held));
	}
	while (map_walk_next(&walk, &key, held)) {
		struct sync_service *svc = hash_table_get_u64(&ctx->service_ids, key.svc_id);

		if (!svc || key.gen != svc->gen || !(svc->flags & LB_SVC_F_MAGLEV) ||
		    !svc->n_slots) {
			err = sync_orphan_add(&orphans, &key);
			if (err)
				goto cleanup;
			continue;
		}
		/* A live table that is not ours stays readable until the flip replaces it. */
		if (svc->is_dirty || sync_maglev_fill(ctx, svc->backend_ids, svc->n_backends) ||
		    memcmp(held, ctx->maglev_table, ctx->maglev_size * sizeof(*held)))
			continue;
		err = hash_table_put_u64(&kept, svc->svc_id, svc);
		if (err)
			goto cleanup;
	}
	if (walk.err) {
		err = walk.err;
		goto cleanup;
	}
	HASH_TABLE_FOR_EACH (&ctx->services, entry, bucket) {
		struct sync_service *svc = entry->value;

		if ((svc->flags & LB_SVC_F_MAGLEV) && svc->n_slots &&
		    !hash_table_get_u64(&kept, svc->svc_id))
			svc->is_dirty = true;
	}
	if (ctx->maps.lb4_maglev >= 0)
		sync_orphans_delete(ctx, ctx->maps.lb4_maglev, &orphans, LB4_MAGLEV_MAP);

cleanup:
	free(orphans.keys);
	hash_table_free(&kept);
	free(held);
	return err;
}

static int sync_adopt_revnat(struct sync_ctx *ctx)
{
	struct sync_orphans orphans = {.key_size = sizeof(uint32_t)};
	struct lb4_revnat value;
	uint32_t id;
	struct map_walk walk;
	int err = 0;

	map_walk_start(&walk, ctx->maps.lb4_revnat, sizeof(id), sizeof(value));
	while (map_walk_next(&walk, &id, &value)) {
		struct sync_service *svc = hash_table_get_u64(&ctx->service_ids, id);

		if (!svc) {
			err = sync_orphan_add(&orphans, &id);
			if (err)
				goto cleanup;
			continue;
		}
		value.name[sizeof(value.name) - 1] = '\0';
		memcpy(svc->name, value.name, sizeof(svc->name));
		svc->is_revnat_dirty = value.address != svc->key.address ||
				       value.port != svc->key.port || value.proto != svc->key.proto;
	}
	if (walk.err) {
		err = walk.err;
		goto cleanup;
	}
	sync_orphans_delete(ctx, ctx->maps.lb4_revnat, &orphans, LB4_REVNAT_MAP);
	return 0;

cleanup:
	free(orphans.keys);
	return err;
}

/* Make lb4_vips agree with the adopted frontends: counts fixed, strays deleted. */
static int sync_adopt_vips(struct sync_ctx *ctx)
{
	struct sync_orphans orphans = {.key_size = sizeof(uint32_t)};
	struct hash_table seen = {0};
	struct hash_table_entry *entry;
	struct lb4_vip value;
	uint32_t vip;
	struct map_walk walk;
	size_t bucket;
	int err = 0;

	HASH_TABLE_FOR_EACH (&ctx->services, entry, bucket) {
		struct sync_service *svc = entry->value;
		uintptr_t n = (uintptr_t)hash_table_get_u64(&ctx->vips, svc->key.address);

		err = hash_table_put_u64(&ctx->vips, svc->key.address, (void *)(n + 1));
		if (err)
			goto cleanup;
	}
	if (ctx->maps.lb4_vips < 0)
		return 0;
	map_walk_start(&walk, ctx->maps.lb4_vips, sizeof(vip), sizeof(value));
	while (map_walk_next(&walk, &vip, &value)) {
		uintptr_t want = (uintptr_t)hash_table_get_u64(&ctx->vips, vip);

		if (!want) {
			err = sync_orphan_add(&orphans, &vip);
			if (err)
				goto cleanup;
			continue;
		}
		err = hash_table_put_u64(&seen, vip, &seen);
		if (err)
			goto cleanup;
		if (value.frontends != want) {
			ctx->adopt_writes++;
			sync_vip_write(ctx, vip, want);
		}
	}
	if (walk.err) {
		err = walk.err;
		goto cleanup;
	}
	HASH_TABLE_FOR_EACH (&ctx->vips, entry, bucket) {
		uint64_t key;

		memcpy(&key, entry->key,
		       sizeof(key)); /* a u64 key, as hash_table_put_u64 stored it */
		if (hash_table_get_u64(&seen, key))
			continue;
		ctx->adopt_writes++;
		sync_vip_write(ctx, (uint32_t)key, (uintptr_t)entry->value);
	}
	sync_orphans_delete(ctx, ctx->maps.lb4_vips, &orphans, LB4_VIPS_MAP);
	hash_table_free(&seen);
	return 0;

cleanup:
	hash_table_free(&seen);
	free(orphans.keys);
	return err;
}

/* Backends no adopted frontend holds: deleted now rather than leaked forever. */
static int sync_adopt_unreferenced(struct sync_ctx *ctx)
{
	struct sync_backend **unused;
	struct hash_table_entry *entry;
	size_t n = 0, bucket;

	if (!ctx->backend_ids.count)
		return 0;
	unused = calloc(ctx->backend_ids.count, sizeof(*unused));
	if (!unused)
		return -ENOMEM;
	HASH_TABLE_FOR_EACH (&ctx->backend_ids, entry, bucket) {
		struct sync_backend *b = entry->value;

		if (!b->refcount)
			unused[n++] = b;
	}
	if (n)
		log_info("%s: deleting %zu backends no frontend holds", LB4_BACKENDS_MAP, n);
	for (size_t i = 0; i < n; i++) {
		struct sync_backend *b = unused[i];
		uint64_t key = sync_backend_key(b->value.address, b->value.port, b->value.proto);

		ctx->adopt_writes++;
		sync_delete(ctx, ctx->maps.lb4_backends, &b->id);
		if (hash_table_get_u64(&ctx->backends, key) == b)
			hash_table_remove_u64(&ctx->backends, key);
		hash_table_remove_u64(&ctx->backend_ids, b->id);
		free(b);
	}
	free(unused);
	return 0;
}

/*
 * Read back the source ranges each adopted service admits, so that a restarted agent still
 * removes the ranges a Service drops (a range left behind would go on admitting clients).
 * Ranges of no adopted service are deleted.
 */
static int sync_adopt_ranges(struct sync_ctx *ctx)
{
	struct lb4_src_range_key key;
	struct hash_table_entry *entry;
	struct map_walk walk;
	uint8_t value;
	size_t bucket;

	if (ctx->maps.lb4_src_ranges < 0)
		return 0;
	map_walk_start(&walk, ctx->maps.lb4_src_ranges, sizeof(key), sizeof(value));
	while (map_walk_next(&walk, &key, &value)) {
		struct sync_service *svc = hash_table_get_u64(&ctx->service_ids, ntohl(key.svc_id));
		struct cidr4 *grown;

		if (!svc || key.prefix_len < 32 || key.prefix_len > 64) {
			bpf_map_delete_elem(ctx->maps.lb4_src_ranges, &key);
			ctx->adopt_writes++;
			continue;
		}
		grown = realloc(svc->ranges, (svc->n_ranges + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		svc->ranges = grown;
		svc->ranges[svc->n_ranges].address = key.address;
		svc->ranges[svc->n_ranges].prefix_len = (uint8_t)(key.prefix_len - 32);
		svc->n_ranges++;
	}
	HASH_TABLE_FOR_EACH (&ctx->services, entry, bucket) {
		struct sync_service *svc = entry->value;

		if (svc->n_ranges)
			qsort(svc->ranges, svc->n_ranges, sizeof(*svc->ranges), sync_cidr_cmp);
	}
	return 0;
}

/*
 * Read the maps back into CTX, in dependency order: backends, frontends, their ranges and slots
 * (which give the backend sets), Maglev tables, rev-NAT, VIP counts, then the backends no frontend
 * holds, and the node's addresses. Returns 0 or -errno (CTX then holds what was read so far).
 */
int sync_adopt(struct sync_ctx *ctx)
{
	int err;

	err = sync_adopt_backends(ctx);
	err = err ?: sync_adopt_services(ctx);
	err = err ?: sync_adopt_ranges(ctx);
	err = err ?: sync_adopt_slots(ctx);
	err = err ?: sync_maglev_open(ctx);
	err = err ?: sync_adopt_maglev(ctx);
	err = err ?: sync_adopt_revnat(ctx);
	err = err ?: sync_adopt_vips(ctx);
	err = err ?: sync_adopt_unreferenced(ctx);
	return err ?: sync_adopt_node_addrs(ctx);
}
