// SPDX-License-Identifier: Apache-2.0
/* Reading the index: its state after the last update, whole or in parts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loader/desired/netpol_compile.h"
#include "loader/desired/index_internal.h"

/* ---- reading the state ------------------------------------------------------------------ */

size_t desired_index_frontend_count(const struct desired_index *index)
{
	return index->n_frontends;
}

const struct lb_health_check *desired_index_health_checks(const struct desired_index *index,
							  size_t *n)
{
	*n = index->n_health_checks;
	return index->health_checks;
}

const struct k8s_object *const *desired_index_nodes(const struct desired_index *index, size_t *n)
{
	const struct index_group *group = hash_table_get_str(&index->nodes, "");

	*n = group ? group->count : 0;
	return group ? (const struct k8s_object *const *)group->items : NULL;
}

const uint32_t *desired_index_node_addresses(const struct desired_index *index, size_t *n)
{
	*n = index->n_node_addresses;
	return index->node_addresses;
}

uint32_t desired_index_rejected(const struct desired_index *index)
{
	return index->n_rejected;
}

int desired_index_policy(const struct desired_index *index, struct policy_state **out)
{
	struct k8s_object **objects = NULL;
	const struct hash_table_entry *e;
	size_t i, n = 0;
	int err;

	*out = NULL;
	if (index->objects.count) {
		objects = malloc(index->objects.count * sizeof(*objects));
		if (!objects)
			return -ENOMEM;
	}
	HASH_TABLE_FOR_EACH (&index->objects, e, i) {
		const struct index_object *o = e->value;

		if (o->effective && (o->effective->kind == K8S_KIND_POD ||
				     o->effective->kind == K8S_KIND_NAMESPACE ||
				     o->effective->kind == K8S_KIND_NETWORK_POLICY))
			objects[n++] = o->effective;
	}
	err = netpol_compile(objects, n, out);
	free(objects);
	return err;
}

static int frontend_sort_cmp(const void *a, const void *b)
{
	return lb_frontend_cmp(a, b);
}

int desired_index_desired(const struct desired_index *index, bool is_policy,
			  struct desired_state *out)
{
	const struct hash_table_entry *e;
	size_t i;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (index->n_frontends) {
		out->frontends = calloc(index->n_frontends, sizeof(*out->frontends));
		if (!out->frontends)
			return -ENOMEM;
	}
	HASH_TABLE_FOR_EACH (&index->frontends, e, i) {
		const struct index_frontend *fe = e->value;
		const struct index_claim *winner = index_frontend_winner(fe);
		const struct lb_frontend *from;
		struct lb_frontend *to;

		if (!winner || !fe->is_published || err)
			continue;
		from = &winner->service->build.frontends[winner->seq];
		to = &out->frontends[out->n_frontends++];
		*to = *from;
		to->backends = desired_array_dup(from->backends, from->n_backends,
						 sizeof(*from->backends), &err);
		to->source_ranges = desired_array_dup(from->source_ranges, from->n_source_ranges,
						      sizeof(*from->source_ranges), &err);
	}
	if (out->n_frontends > 1)
		qsort(out->frontends, out->n_frontends, sizeof(*out->frontends), frontend_sort_cmp);
	out->health_checks = desired_array_dup(index->health_checks, index->n_health_checks,
					       sizeof(*index->health_checks), &err);
	out->n_health_checks = out->health_checks ? index->n_health_checks : 0;
	out->node_addresses = desired_array_dup(index->node_addresses, index->n_node_addresses,
						sizeof(*index->node_addresses), &err);
	out->n_node_addresses = out->node_addresses ? index->n_node_addresses : 0;
	out->rejected_objects = index->n_rejected;
	if (!err && is_policy)
		err = desired_index_policy(index, &out->policy);
	if (err)
		desired_state_free(out);
	return err;
}
