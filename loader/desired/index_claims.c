// SPDX-License-Identifier: Apache-2.0
/*
 * The index's claims: the frontends and the health check port each built Service claims, and
 * rebuilding one Service (withdraw its claims, build it, claim again).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/desired/index_internal.h"

/* ---- claims ---------------------------------------------------------------------------------- */

void index_frontend_free(void *fe)
{
	free(((struct index_frontend *)fe)->claims);
	free(fe);
}

static void frontend_key(char *buf, size_t size, const struct lb_frontend *f)
{
	snprintf(buf, size, "%08x:%04x:%02x:%02x", f->vip, f->port, f->proto, f->scope);
}

int index_claim_cmp(const struct index_claim *a, const struct index_claim *b)
{
	int c = strcmp(a->service->namespace, b->service->namespace);

	if (!c)
		c = strcmp(a->service->name, b->service->name);
	return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

static int frontend_touch(struct desired_index *index, struct index_frontend *fe)
{
	if (fe->is_touched)
		return 0;
	if (index_vec_push(&index->touched, fe))
		return -ENOMEM;
	fe->is_touched = true;
	return 0;
}

static int claim_add(struct desired_index *index, struct index_service *svc, size_t seq)
{
	const struct lb_frontend *f = &svc->build.frontends[seq];
	struct index_frontend *fe;
	char key[24];

	frontend_key(key, sizeof(key), f);
	fe = hash_table_get_str(&index->frontends, key);
	if (!fe) {
		fe = calloc(1, sizeof(*fe));
		if (!fe)
			return -ENOMEM;
		memcpy(fe->key, key, sizeof(key));
		fe->removed_key.vip = f->vip;
		fe->removed_key.port = f->port;
		fe->removed_key.proto = f->proto;
		fe->removed_key.scope = f->scope;
		fe->removed_key.kind = f->kind;
		if (hash_table_put_str(&index->frontends, key, fe)) {
			free(fe);
			return -ENOMEM;
		}
	}
	if (fe->n_claims == fe->capacity) {
		size_t next = fe->capacity ? fe->capacity * 2 : 1;
		struct index_claim *grown = realloc(fe->claims, next * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		fe->claims = grown;
		fe->capacity = next;
	}
	fe->claims[fe->n_claims].service = svc;
	fe->claims[fe->n_claims].seq = seq;
	fe->n_claims++;
	return frontend_touch(index, fe);
}

static int claim_remove(struct desired_index *index, struct index_service *svc, size_t seq)
{
	char key[24];
	struct index_frontend *fe;
	size_t i;

	frontend_key(key, sizeof(key), &svc->build.frontends[seq]);
	fe = hash_table_get_str(&index->frontends, key);
	for (i = 0; fe && i < fe->n_claims; i++) {
		if (fe->claims[i].service == svc && fe->claims[i].seq == seq) {
			fe->claims[i] = fe->claims[--fe->n_claims];
			return frontend_touch(index, fe);
		}
	}
	return 0;
}

static int port_claim(struct desired_index *index, struct index_service *svc, bool is_add)
{
	char key[8];
	struct index_vec *vec;

	snprintf(key, sizeof(key), "%u", svc->build.health_check.port);
	vec = hash_table_get_str(&index->ports, key);
	index->is_health_dirty = true;
	if (!is_add) {
		if (vec && index_vec_remove(vec, svc) && !vec->count) {
			index_vec_free(vec);
			hash_table_remove_str(&index->ports, key);
		}
		return 0;
	}
	if (!vec) {
		vec = calloc(1, sizeof(*vec));
		if (!vec || hash_table_put_str(&index->ports, key, vec)) {
			free(vec);
			return -ENOMEM;
		}
	}
	return index_vec_push(vec, svc);
}

/* Withdraw every claim of svc and forget its build. */
static int service_withdraw(struct desired_index *index, struct index_service *svc)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < svc->build.n_frontends; i++)
		err = claim_remove(index, svc, i);
	if (!err && svc->build.has_health_check)
		err = port_claim(index, svc, false);
	if (err)
		return err;
	if (svc->build.is_rejected)
		index->n_rejected--;
	desired_service_build_free(&svc->build);
	return 0;
}

static int service_claim(struct desired_index *index, struct index_service *svc)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < svc->build.n_frontends; i++)
		err = claim_add(index, svc, i);
	if (!err && svc->build.has_health_check)
		err = port_claim(index, svc, true);
	if (!err && svc->build.is_rejected)
		index->n_rejected++;
	return err;
}

static void service_free(struct desired_index *index, struct index_service *svc)
{
	char key[INDEX_KEY_LEN];

	index_service_unregister(index, svc);
	snprintf(key, sizeof(key), "%s/%s", svc->namespace, svc->name);
	hash_table_remove_str(&index->services, key);
	index_vec_remove(&index->all, svc);
	desired_service_build_free(&svc->build);
	free(svc);
}

/* Rebuild one marked Service: withdraw its old claims, build, claim again. */
int index_service_rebuild(struct desired_index *index, struct index_service *svc,
			  struct k8s_errors *errors)
{
	struct desired_service_build build;
	int err;

	if (svc->object) {
		err = desired_build_service(svc->object, &index->config, &index->lookup,
					    index->node_addresses, index->n_node_addresses, errors,
					    &build);
		if (err)
			return err;
	}
	err = service_withdraw(index, svc);
	if (err) {
		if (svc->object)
			desired_service_build_free(&build);
		return err;
	}
	if (!svc->object) {
		svc->is_dirty = false;
		service_free(index, svc);
		return 0;
	}
	svc->build = build;
	svc->is_dirty = false;
	return service_claim(index, svc);
}
