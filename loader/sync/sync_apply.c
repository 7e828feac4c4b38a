// SPDX-License-Identifier: Apache-2.0
/* A desired state applied as a diff: the full sync and the delta of one change. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "loader/sync/sync_internal.h"

/*
 * Sorted, de-duplicated copy of a desired backend list in ctx->scratch, so the diff does not
 * depend on the producer having normalised it. Returns the length or -ENOMEM.
 */
static ssize_t sync_backends_sorted(struct sync_ctx *ctx, const struct lb_frontend *frontend)
{
	size_t n = frontend->n_backends;

	if (n > ctx->cap_scratch) {
		struct lb_backend_addr *scratch = realloc(ctx->scratch, n * sizeof(*scratch));

		if (!scratch)
			return -ENOMEM;
		ctx->scratch = scratch;
		ctx->cap_scratch = n;
	}
	if (n)
		memcpy(ctx->scratch, frontend->backends, n * sizeof(*ctx->scratch));
	return (ssize_t)lb_backends_normalize(ctx->scratch, n);
}

static void sync_frontend_key(const struct lb_frontend *frontend, struct lb4_key *key)
{
	memset(key, 0, sizeof(*key));
	key->address = frontend->vip;
	key->port = frontend->port;
	key->proto = frontend->proto;
	key->scope = frontend->scope;
}

static void sync_frontend_describe(const struct lb_frontend *frontend, char *buf, size_t len)
{
	char vip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &frontend->vip, vip, sizeof(vip));
	snprintf(buf, len, "service %s (%s:%u/%u)", frontend->name[0] ? frontend->name : "?", vip,
		 ntohs(frontend->port), frontend->proto);
}

/* Apply one desired frontend. Returns 0 or -errno (the frontend then keeps its old state). */
static int sync_frontend_apply(struct sync_ctx *ctx, const struct lb_frontend *frontend,
			       struct sync_counts *counts)
{
	struct sync_service *svc;
	struct lb4_key key;
	ssize_t n;
	int err;

	sync_frontend_key(frontend, &key);
	svc = hash_table_get_u64(&ctx->services, sync_svc_key(&key));
	if (svc && svc->epoch == ctx->epoch)
		return -EEXIST; /* the same VIP:port/proto twice in one desired state */
	if (svc)
		svc->epoch = ctx->epoch; /* seen: kept even when the update below fails */
	if ((!frontend->vip && frontend->kind != LB_KIND_NODE_PORT) || !frontend->proto ||
	    frontend->scope > LB4_SCOPE_EXTERNAL)
		return -EINVAL;
	if (frontend->n_backends > LB_MAX_BACKENDS_PER_SVC)
		return -E2BIG;
	/* SCTP is translated by address only (see bpf/lib/nat.h): its CRC32c covers the ports. */
	for (size_t i = 0; frontend->proto == IPPROTO_SCTP && i < frontend->n_backends; i++)
		if (frontend->backends[i].port != frontend->port)
			return -EPROTONOSUPPORT;
	n = sync_backends_sorted(ctx, frontend);
	if (n < 0)
		return (int)n;
	if (!svc) {
		err = sync_service_add(ctx, &key, frontend, ctx->scratch, (size_t)n, counts);
		if (!err)
			counts->added++;
		return err;
	}
	if (svc->is_dirty || svc->flags != sync_frontend_flags(ctx, frontend, (size_t)n) ||
	    svc->affinity_timeout_s != frontend->affinity_timeout_s ||
	    !sync_ranges_equal(svc, frontend) ||
	    !sync_backends_equal(ctx, svc, ctx->scratch, (size_t)n)) {
		err = sync_service_update(ctx, svc, frontend, ctx->scratch, (size_t)n, counts);
		if (!err)
			counts->changed++;
		return err;
	}
	if (svc->is_revnat_dirty || strncmp(svc->name, frontend->name, sizeof(svc->name))) {
		/* Only the name (or a damaged rev-NAT entry): rewrite it alone, no flip needed. */
		snprintf(svc->name, sizeof(svc->name), "%s", frontend->name);
		err = sync_revnat_write(ctx, svc);
		if (err)
			return err;
		svc->is_revnat_dirty = false;
		counts->changed++;
		return 0;
	}
	counts->unchanged++;
	return 0;
}

/*
 * What every sync does first: a new epoch, the node's addresses, then NetworkPolicy (when STATE
 * carries it) before any service, so a new backend's pods have their identities when it
 * appears. Returns 0 or the first -errno.
 */
static int sync_apply_begin(struct sync_ctx *ctx, const struct desired_state *state,
			    struct sync_counts *counts)
{
	int err, ret;

	ctx->epoch++;
	err = sync_node_addrs(ctx, state);
	if (ctx->policy)
		policy_sync_set_node_addresses(ctx->policy, state->node_addresses,
					       state->n_node_addresses);
	if (ctx->policy && state->policy) {
		ret = policy_sync_apply(ctx->policy, state->policy, &counts->policy_writes);
		if (ret && !err)
			err = ret;
	}
	return err;
}

/* sync_frontend_apply(), with a failure logged (naming the frontend) and counted. */
static int sync_frontend_apply_logged(struct sync_ctx *ctx, const struct lb_frontend *frontend,
				      struct sync_counts *counts)
{
	char what[128];
	int ret = sync_frontend_apply(ctx, frontend, counts);

	if (!ret)
		return 0;
	sync_frontend_describe(frontend, what, sizeof(what));
	log_warn("%s: %s%s", what, strerror(-ret),
		 ret == -E2BIG	  ? " (more backends than LB_MAX_BACKENDS_PER_SVC)"
		 : ret == -EEXIST ? " (frontend listed twice)"
		 : ret == -EPROTONOSUPPORT
		     ? " (SCTP needs targetPort equal to port: a changed port would need SCTP's "
		       "CRC32c recomputed)"
		     : "");
	counts->failed++;
	return ret;
}

/* sync_service_remove(), with a failure logged and a success counted. */
static int sync_service_remove_logged(struct sync_ctx *ctx, struct sync_service *svc,
				      struct sync_counts *counts)
{
	uint32_t svc_id = svc->svc_id; /* svc is freed on success */
	int ret = sync_service_remove(ctx, svc);

	if (ret)
		log_warn("lb4_svc: delete service %u: %s", svc_id, strerror(-ret));
	else
		counts->removed++;
	return ret;
}

/*
 * What every sync does last, after its frontends: retired generations past their grace end,
 * backends left unreferenced go, and the map writes since WRITES_BEFORE are counted. Returns ERR,
 * or when it is 0 the first -errno of these.
 */
static int sync_apply_end(struct sync_ctx *ctx, struct sync_counts *counts,
			  unsigned long writes_before, int err)
{
	int ret;

	sync_retire_expired(ctx, sync_now_ns());
	ret = sync_backends_collect(ctx, counts);
	if (ret && !err)
		err = ret;
	counts->map_writes = ctx->writes - writes_before;
	return err;
}

int sync_apply(struct sync_ctx *ctx, const struct desired_state *state, struct sync_counts *counts)
{
	unsigned long writes_before = ctx->writes;
	struct sync_service **gone = NULL;
	struct hash_table_entry *entry;
	size_t n_gone = 0, bucket;
	int err = 0, ret;

	memset(counts, 0, sizeof(*counts));
	err = sync_apply_begin(ctx, state, counts);
	/* New frontends' entries go in batches (sync_batch.c); each group before the removals. */
	sync_batch_begin(ctx);
	for (size_t i = 0; i < state->n_frontends; i++) {
		ret = sync_frontend_apply_logged(ctx, &state->frontends[i], counts);
		if (ret && !err)
			err = ret;
		ret = sync_batch_is_full(ctx) ? sync_batch_flush(ctx, counts) : 0;
		if (ret && !err)
			err = ret;
	}
	ret = sync_batch_flush(ctx, counts);
	if (ret && !err)
		err = ret;
	sync_batch_end(ctx);

	/* Frontends no longer desired; collected first because removal reshapes the table. */
	if (ctx->services.count > state->n_frontends - counts->failed) {
		gone = calloc(ctx->services.count, sizeof(*gone));
		if (!gone) {
			err = err ? err : -ENOMEM;
			goto collect;
		}
		HASH_TABLE_FOR_EACH (&ctx->services, entry, bucket) {
			struct sync_service *svc = entry->value;

			if (svc->epoch != ctx->epoch)
				gone[n_gone++] = svc;
		}
	}
	for (size_t i = 0; i < n_gone; i++) {
		ret = sync_service_remove_logged(ctx, gone[i], counts);
		if (ret && !err)
			err = ret;
	}
	free(gone);

collect:
	return sync_apply_end(ctx, counts, writes_before, err);
}

/*
 * The delta of one change: only the frontends named are looked at. Same order as sync_apply():
 * node addresses, policy, new and changed frontends (each flipped whole), removals, then the
 * backends left unreferenced.
 */
int sync_apply_delta(struct sync_ctx *ctx, const struct desired_state *state,
		     const struct lb_frontend *const *upserts, size_t n_upserts,
		     const struct lb_frontend *removed, size_t n_removed,
		     struct sync_counts *counts)
{
	unsigned long writes_before = ctx->writes;
	int err = 0, ret;

	memset(counts, 0, sizeof(*counts));
	err = sync_apply_begin(ctx, state, counts);
	for (size_t i = 0; i < n_upserts; i++) {
		ret = sync_frontend_apply_logged(ctx, upserts[i], counts);
		if (ret && !err)
			err = ret;
	}
	for (size_t i = 0; i < n_removed; i++) {
		struct sync_service *svc;
		struct lb4_key key;

		sync_frontend_key(&removed[i], &key);
		svc = hash_table_get_u64(&ctx->services, sync_svc_key(&key));
		if (!svc || svc->epoch == ctx->epoch)
			continue; /* not programmed, or desired again in this delta */
		ret = sync_service_remove_logged(ctx, svc, counts);
		if (ret && !err)
			err = ret;
	}
	return sync_apply_end(ctx, counts, writes_before, err);
}
