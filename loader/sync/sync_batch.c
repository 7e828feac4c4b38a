// SPDX-License-Identifier: Apache-2.0
/*
 * The full sync's new frontends written in batches: their entries queued per map while they are
 * added, then each map's queue written by one BPF_MAP_UPDATE_BATCH (Linux 5.6), in the order
 * one frontend's own writes go (slots, Maglev table, rev-NAT, VIP, then the frontend itself).
 *
 * Why: a first sync of 10,000 Services made 80,000 bpf() calls, one per entry, most of its map
 * time on a machine where a system call costs 2 us (and a 4 KiB Maglev table 10 us). Only entries
 * that belong to one new frontend alone are queued: a failure then names one frontend, which is
 * taken down whole (sync_service_remove) and counted failed, as a failed single write does;
 * backends (shared) and source ranges (an LPM trie, no batch before 6.x) stay single writes.
 *
 * A group is written before the next frontend once it holds SYNC_BATCH_FRONTENDS frontends (a
 * Maglev table is 4 KiB by default: the queue stays near 270 KiB), and at the end of the sync. A
 * kernel or map without batch updates gets the same entries one by one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/log.h"
#include "loader/sync/sync_internal.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's own, which bpf() may return for an unsupported command */
#endif

static void queue_reset(struct sync_queue *q)
{
	q->n = 0;
}

static void queue_free(struct sync_queue *q)
{
	free(q->keys);
	free(q->values);
	free(q->owners);
	memset(q, 0, sizeof(*q));
}

void sync_batch_begin(struct sync_ctx *ctx)
{
	struct sync_batch *batch = &ctx->batch;
	const int fds[SYNC_QUEUES] = {
	    [SYNC_QUEUE_SLOTS] = ctx->maps.lb4_slots,	[SYNC_QUEUE_MAGLEV] = ctx->maps.lb4_maglev,
	    [SYNC_QUEUE_REVNAT] = ctx->maps.lb4_revnat, [SYNC_QUEUE_VIPS] = ctx->maps.lb4_vips,
	    [SYNC_QUEUE_SVC] = ctx->maps.lb4_svc,
	};
	static const char *const names[SYNC_QUEUES] = {
	    [SYNC_QUEUE_SLOTS] = LB4_SLOTS_MAP,	  [SYNC_QUEUE_MAGLEV] = LB4_MAGLEV_MAP,
	    [SYNC_QUEUE_REVNAT] = LB4_REVNAT_MAP, [SYNC_QUEUE_VIPS] = LB4_VIPS_MAP,
	    [SYNC_QUEUE_SVC] = LB4_SVC_MAP,
	};
	const size_t key_sizes[SYNC_QUEUES] = {
	    [SYNC_QUEUE_SLOTS] = sizeof(struct lb4_slot_key),
	    [SYNC_QUEUE_MAGLEV] = sizeof(struct lb4_maglev_key),
	    [SYNC_QUEUE_REVNAT] = sizeof(uint32_t),
	    [SYNC_QUEUE_VIPS] = sizeof(uint32_t),
	    [SYNC_QUEUE_SVC] = sizeof(struct lb4_key),
	};
	const size_t value_sizes[SYNC_QUEUES] = {
	    [SYNC_QUEUE_SLOTS] = sizeof(uint32_t),
	    [SYNC_QUEUE_MAGLEV] = ctx->maglev_size * sizeof(uint32_t),
	    [SYNC_QUEUE_REVNAT] = sizeof(struct lb4_revnat),
	    [SYNC_QUEUE_VIPS] = sizeof(struct lb4_vip),
	    [SYNC_QUEUE_SVC] = sizeof(struct lb4_service),
	};

	for (int i = 0; i < SYNC_QUEUES; i++) {
		batch->queues[i].fd = fds[i];
		batch->queues[i].name = names[i];
		batch->queues[i].key_size = key_sizes[i];
		batch->queues[i].value_size = value_sizes[i];
		queue_reset(&batch->queues[i]);
	}
	batch->n_owners = 0;
	batch->owner = NULL;
	batch->is_on = true;
}

/* The queue of map FD, when the open group queues its writes; else NULL. */
static struct sync_queue *batch_queue(struct sync_ctx *ctx, int fd)
{
	if (!ctx->batch.owner || fd < 0)
		return NULL;
	for (int i = 0; i < SYNC_QUEUES; i++) {
		if (ctx->batch.queues[i].fd == fd)
			return &ctx->batch.queues[i];
	}
	return NULL;
}

static int queue_grow(struct sync_queue *q)
{
	size_t next = q->cap ? q->cap * 2 : 64;
	unsigned char *keys, *values;
	struct sync_service **owners;

	keys = realloc(q->keys, next * q->key_size);
	if (!keys)
		return -ENOMEM;
	q->keys = keys;
	values = realloc(q->values, next * q->value_size);
	if (!values)
		return -ENOMEM;
	q->values = values;
	owners = realloc(q->owners, next * sizeof(*owners));
	if (!owners)
		return -ENOMEM;
	q->owners = owners;
	q->cap = next;
	return 0;
}

int sync_batch_queue(struct sync_ctx *ctx, int fd, const void *key, const void *value, bool *queued)
{
	struct sync_queue *q = batch_queue(ctx, fd);
	int err;

	*queued = q != NULL;
	if (!q)
		return 0;
	if (q->n == q->cap) {
		err = queue_grow(q);
		if (err)
			return err;
	}
	memcpy(q->keys + q->n * q->key_size, key, q->key_size);
	memcpy(q->values + q->n * q->value_size, value, q->value_size);
	q->owners[q->n++] = ctx->batch.owner;
	return 0;
}

void sync_batch_own(struct sync_ctx *ctx, struct sync_service *svc)
{
	ctx->batch.owner = ctx->batch.is_on ? svc : NULL;
	if (svc && ctx->batch.is_on)
		ctx->batch.n_owners++;
}

void sync_batch_cancel(struct sync_ctx *ctx, struct sync_service *svc)
{
	if (!ctx->batch.is_on || ctx->batch.owner != svc)
		return;
	/* The open frontend's entries are the last of each queue. */
	for (int i = 0; i < SYNC_QUEUES; i++) {
		struct sync_queue *q = &ctx->batch.queues[i];

		while (q->n && q->owners[q->n - 1] == svc)
			q->n--;
	}
	ctx->batch.n_owners--;
	ctx->batch.owner = NULL;
}

bool sync_batch_is_full(const struct sync_ctx *ctx)
{
	return ctx->batch.is_on && ctx->batch.n_owners >= SYNC_BATCH_FRONTENDS;
}

/* A frontend of the group whose entry could not be written: taken down after the group. */
static void batch_fail(struct sync_batch *batch, struct sync_service *svc, int err,
		       const struct sync_queue *q)
{
	char vip[INET_ADDRSTRLEN];

	if (svc->batch_err)
		return;
	svc->batch_err = err;
	svc->batch_next = batch->failed;
	batch->failed = svc;
	inet_ntop(AF_INET, &svc->key.address, vip, sizeof(vip));
	log_warn("service %s (%s:%u/%u): %s: %s", svc->name[0] ? svc->name : "?", vip,
		 ntohs(svc->key.port), svc->key.proto, q->name, strerror(-err));
}

static bool is_batch_unsupported(int err)
{
	return err == -EINVAL || err == -ENOTSUPP || err == -EOPNOTSUPP || err == -ENOSYS;
}

/* Entries [i, to) of q, all of frontends not failed: by batches while the kernel takes them. */
static void queue_write_run(struct sync_batch *batch, struct sync_queue *q, size_t i, size_t to)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	__u32 count;
	int err;

	while (i < to) {
		if (!batch->is_unsupported) {
			count = (__u32)(to - i);
			err = bpf_map_update_batch(q->fd, q->keys + i * q->key_size,
						   q->values + i * q->value_size, &count, &opts);
			batch->calls++;
			if (!err)
				return;
			err = -errno;
			/* Entries before count were written; the next one is tried alone. */
			i += count < to - i ? count : to - i;
			if (i == to)
				return;
			if (!bpf_map_update_elem(q->fd, q->keys + i * q->key_size,
						 q->values + i * q->value_size, BPF_ANY)) {
				if (!count && is_batch_unsupported(err)) {
					/* Not the entry: the command. One by one from now on. */
					log_debug("%s: no batch updates (%s): one by one", q->name,
						  strerror(-err));
					batch->is_unsupported = true;
				}
				i++;
				continue;
			}
		} else if (!bpf_map_update_elem(q->fd, q->keys + i * q->key_size,
						q->values + i * q->value_size, BPF_ANY)) {
			i++;
			continue;
		}
		batch_fail(batch, q->owners[i], -errno, q);
		i++;
	}
}

/* Write q's entries but those of failed frontends, in runs between them. */
static void queue_write(struct sync_batch *batch, struct sync_queue *q)
{
	size_t i = 0, start;

	while (i < q->n) {
		while (i < q->n && q->owners[i]->batch_err)
			i++;
		start = i;
		while (i < q->n && !q->owners[i]->batch_err)
			i++;
		if (i > start)
			queue_write_run(batch, q, start, i);
	}
	queue_reset(q);
}

int sync_batch_flush(struct sync_ctx *ctx, struct sync_counts *counts)
{
	struct sync_batch *batch = &ctx->batch;
	struct sync_service *svc, *next;
	int err = 0, ret;

	if (!batch->is_on || !batch->n_owners)
		return 0;
	batch->owner = NULL;
	batch->failed = NULL;
	for (int i = 0; i < SYNC_QUEUES; i++)
		queue_write(batch, &batch->queues[i]);
	batch->n_owners = 0;
	/* Taken down whole, as a frontend whose single write failed; retried by the next sync. */
	for (svc = batch->failed; svc; svc = next) {
		uint32_t svc_id = svc->svc_id;

		next = svc->batch_next;
		if (!err)
			err = svc->batch_err;
		svc->batch_err = 0;
		svc->batch_next = NULL;
		svc->is_dirty = true; /* if it cannot be taken down, rewritten next time */
		ret = sync_service_remove(ctx, svc);
		if (ret)
			log_warn("lb4_svc: delete service %u: %s", svc_id, strerror(-ret));
		counts->added--;
		counts->failed++;
	}
	batch->failed = NULL;
	return err;
}

void sync_set_batch_writes(struct sync_ctx *ctx, bool is_on)
{
	ctx->batch.is_unsupported = !is_on;
}

void sync_batch_end(struct sync_ctx *ctx)
{
	for (int i = 0; i < SYNC_QUEUES; i++)
		queue_free(&ctx->batch.queues[i]);
	ctx->batch.is_on = false;
	ctx->batch.owner = NULL;
	ctx->batch.n_owners = 0;
}
