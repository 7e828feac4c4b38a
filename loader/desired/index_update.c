// SPDX-License-Identifier: Apache-2.0
/*
 * The index's update: rebuild the marked Services, weigh the claims on each touched frontend
 * and health check port, and list what changed for loader/sync/sync.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ip_proto.h"
#include "loader/desired/index_internal.h"

/* ---- update ---------------------------------------------------------------------------------- */

static int delta_push_upsert(struct desired_index *index, const struct lb_frontend *f)
{
	struct desired_index_delta *d = &index->delta;

	if (d->n_upserts == index->cap_upserts) {
		size_t next = index->cap_upserts ? index->cap_upserts * 2 : 16;
		const struct lb_frontend **grown = realloc(d->upserts, next * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		d->upserts = grown;
		index->cap_upserts = next;
	}
	d->upserts[d->n_upserts++] = f;
	return 0;
}

static int delta_push_removed(struct desired_index *index, const struct lb_frontend *key)
{
	struct desired_index_delta *d = &index->delta;

	if (d->n_removed == index->cap_removed) {
		size_t next = index->cap_removed ? index->cap_removed * 2 : 16;
		struct lb_frontend *grown = realloc(d->removed, next * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		d->removed = grown;
		index->cap_removed = next;
	}
	d->removed[d->n_removed++] = *key;
	return 0;
}

const struct index_claim *index_frontend_winner(const struct index_frontend *fe)
{
	const struct index_claim *best = NULL;
	size_t i;

	for (i = 0; i < fe->n_claims; i++) {
		if (!best || index_claim_cmp(&fe->claims[i], best) < 0)
			best = &fe->claims[i];
	}
	return best;
}

/* A touched frontend: publish its winner, or withdraw it; report second claims. */
static int frontend_settle(struct desired_index *index, struct index_frontend *fe,
			   struct k8s_errors *errors)
{
	const struct index_claim *winner = index_frontend_winner(fe);
	size_t i;
	int err = 0;

	fe->is_touched = false;
	for (i = 0; winner && i < fe->n_claims; i++) {
		const struct index_claim *c = &fe->claims[i];
		const struct lb_frontend *f = &c->service->build.frontends[c->seq];
		char vip[INET_ADDRSTRLEN];

		if (c->service == winner->service)
			continue;
		inet_ntop(AF_INET, &f->vip, vip, sizeof(vip));
		k8s_errors_add(errors,
			       "%s: Service %s/%s: spec.ports[%zu]: %s:%u/%s is already used by "
			       "Service %s/%s",
			       c->service->object->source, c->service->namespace, c->service->name,
			       c->service->build.port_index[c->seq], vip, ntohs(f->port),
			       ip_proto_name(f->proto), winner->service->namespace,
			       winner->service->name);
	}
	if (winner) {
		err = delta_push_upsert(index, &winner->service->build.frontends[winner->seq]);
		if (!err && !fe->is_published) {
			fe->is_published = true;
			index->n_frontends++;
		}
		return err;
	}
	if (fe->is_published) {
		err = delta_push_removed(index, &fe->removed_key);
		if (err)
			return err;
		fe->is_published = false;
		index->n_frontends--;
	}
	hash_table_remove_str(&index->frontends, fe->key);
	index_frontend_free(fe);
	return 0;
}

static int service_rank_cmp(const struct index_service *a, const struct index_service *b)
{
	int c = strcmp(a->namespace, b->namespace);

	return c ? c : strcmp(a->name, b->name);
}

/* The health checks again from the port claims (few: LoadBalancer + Local Services). */
static int health_settle(struct desired_index *index, struct k8s_errors *errors)
{
	struct lb_health_check *checks = NULL;
	const struct hash_table_entry *e;
	size_t i, j, n = 0;

	if (index->ports.count) {
		checks = calloc(index->ports.count, sizeof(*checks));
		if (!checks)
			return -ENOMEM;
	}
	HASH_TABLE_FOR_EACH (&index->ports, e, i) {
		const struct index_vec *vec = e->value;
		const struct index_service *best = NULL;

		for (j = 0; j < vec->count; j++) {
			const struct index_service *svc = vec->items[j];

			if (!best || service_rank_cmp(svc, best) < 0)
				best = svc;
		}
		for (j = 0; j < vec->count; j++) {
			const struct index_service *svc = vec->items[j];

			if (svc == best)
				continue;
			k8s_errors_add(errors,
				       "%s: Service %s/%s: spec.healthCheckNodePort: %u is already "
				       "used by %s",
				       svc->object->source, svc->namespace, svc->name,
				       svc->build.health_check.port, best->build.health_check.name);
		}
		checks[n++] = best->build.health_check;
	}
	if (n > 1)
		qsort(checks, n, sizeof(*checks), lb_health_check_qsort_cmp);
	free(index->health_checks);
	index->health_checks = checks;
	index->n_health_checks = n;
	index->is_health_dirty = false;
	return 0;
}

/* This node's addresses and zone again; every Service is rebuilt when they changed. */
static int node_settle(struct desired_index *index)
{
	const struct k8s_object *node =
	    index->config.node ? index_lookup_node(index, index->config.node) : NULL;
	const char *zone = index_node_zone(node);
	uint32_t *addresses;
	size_t n;
	int err;

	err = desired_build_node_addresses(&index->config, &index->lookup, &addresses, &n);
	if (err)
		return err;
	index->is_node_dirty = false;
	if (n == index->n_node_addresses &&
	    (!n || !memcmp(addresses, index->node_addresses, n * sizeof(*addresses))) &&
	    (!zone) == (!index->zone) && (!zone || !strcmp(zone, index->zone))) {
		free(addresses);
		return 0;
	}
	if (zone && !(zone = strdup(zone))) {
		free(addresses);
		return -ENOMEM;
	}
	free(index->node_addresses);
	free(index->zone);
	index->node_addresses = addresses;
	index->n_node_addresses = n;
	index->zone = (char *)zone;
	index->delta.is_node_changed = true;
	index->is_all_dirty = true;
	return 0;
}

int desired_index_update(struct desired_index *index, struct k8s_errors *errors,
			 const struct desired_index_delta **delta)
{
	struct desired_index_delta *d = &index->delta;
	size_t i;
	int err = 0;

	d->n_upserts = 0;
	d->n_removed = 0;
	d->n_services = 0;
	d->is_node_changed = false;
	d->is_health_changed = false;
	d->is_policy_changed = index->is_policy_dirty;
	index->is_policy_dirty = false;
	d->is_nodes_changed = index->is_nodes_dirty;
	index->is_nodes_dirty = false;
	*delta = d;
	if (index->is_node_dirty)
		err = node_settle(index);
	if (!err && index->is_all_dirty) {
		for (i = 0; !err && i < index->all.count; i++)
			err = index_service_mark(index, index->all.items[i]);
		if (!err)
			index->is_all_dirty = false;
	}
	/* Last marked first, so a failure leaves the rest marked for the next update. */
	while (!err && index->dirty.count) {
		struct index_service *svc = index->dirty.items[index->dirty.count - 1];

		err = index_service_rebuild(index, svc, errors);
		if (!err) {
			index->dirty.count--;
			d->n_services++;
		}
	}
	for (i = 0; !err && i < index->touched.count; i++)
		err = frontend_settle(index, index->touched.items[i], errors);
	if (!err) {
		index->touched.count = 0;
	} else {
		/* What is settled is out of the list; the rest waits for the next update. */
		memmove(index->touched.items, index->touched.items + i - 1,
			(index->touched.count - i + 1) * sizeof(*index->touched.items));
		index->touched.count -= i - 1;
		((struct index_frontend *)index->touched.items[0])->is_touched = true;
	}
	if (!err && index->is_health_dirty) {
		d->is_health_changed = true;
		err = health_settle(index, errors);
	}
	if (err && d->is_nodes_changed)
		index->is_nodes_dirty =
		    true; /* the caller drops this delta: keep it for the next */
	return err;
}
