// SPDX-License-Identifier: Apache-2.0
/*
 * Counted map writes (what sync_counts.map_writes reports) and the writers of one slot, frontend
 * or rev-NAT entry.
 */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/log.h"
#include "loader/sync/sync_internal.h"

int sync_update(struct sync_ctx *ctx, int fd, const void *key, const void *value)
{
	bool is_queued;
	int err;

	ctx->writes++;
	err = sync_batch_queue(ctx, fd, key, value, &is_queued);
	if (err || is_queued)
		return err;
	if (bpf_map_update_elem(fd, key, value, BPF_ANY))
		return -errno;
	return 0;
}

/* Delete; an entry already gone counts as deleted. */
int sync_delete(struct sync_ctx *ctx, int fd, const void *key)
{
	ctx->writes++;
	if (bpf_map_delete_elem(fd, key) && errno != ENOENT)
		return -errno;
	return 0;
}

int sync_slot_write(struct sync_ctx *ctx, uint32_t svc_id, uint8_t gen, uint32_t index,
		    uint32_t backend_id)
{
	struct lb4_slot_key key;

	memset(&key, 0, sizeof(key));
	key.svc_id = svc_id;
	key.index = (uint16_t)index;
	key.gen = gen;
	return sync_update(ctx, ctx->maps.lb4_slots, &key, &backend_id);
}

/* Delete slots 0..n-1 of SVC_ID/GEN. Failures are logged, not returned: nothing reads them. */
void sync_slots_delete(struct sync_ctx *ctx, uint32_t svc_id, uint8_t gen, uint32_t n)
{
	struct lb4_slot_key key;
	int err;

	memset(&key, 0, sizeof(key));
	key.svc_id = svc_id;
	key.gen = gen;
	for (uint32_t i = 0; i < n; i++) {
		key.index = (uint16_t)i;
		err = sync_delete(ctx, ctx->maps.lb4_slots, &key);
		if (err)
			log_warn("lb4_slots: delete service %u gen %u index %u: %s", svc_id, gen, i,
				 strerror(-err));
	}
	sync_maglev_delete(ctx, svc_id, gen);
}

int sync_revnat_write(struct sync_ctx *ctx, const struct sync_service *svc)
{
	struct lb4_revnat value;

	memset(&value, 0, sizeof(value));
	value.address = svc->key.address;
	value.port = svc->key.port;
	value.proto = svc->key.proto;
	memcpy(value.name, svc->name, sizeof(value.name));
	value.name[sizeof(value.name) - 1] = '\0';
	return sync_update(ctx, ctx->maps.lb4_revnat, &svc->svc_id, &value);
}

int sync_svc_write(struct sync_ctx *ctx, const struct lb4_key *key, uint32_t svc_id, uint32_t count,
		   uint8_t gen, uint16_t flags, uint32_t affinity_timeout_s)
{
	struct lb4_service value;

	memset(&value, 0, sizeof(value));
	value.svc_id = svc_id;
	value.count = (uint16_t)count;
	value.gen = gen;
	value.flags = flags;
	value.affinity_timeout_s = affinity_timeout_s;
	return sync_update(ctx, ctx->maps.lb4_svc, key, &value);
}
