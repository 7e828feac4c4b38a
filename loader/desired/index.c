// SPDX-License-Identifier: Apache-2.0
/*
 * The incremental desired state: objects by key, the Services each change feeds, one-Service
 * rebuilds (loader/desired/build.c) and the claims of every Service on frontends and health
 * check ports, weighed as desired_build() does (first Service by namespace/name wins).
 * This file holds the index itself, its groups and which Services a changed object marks;
 * index_candidates.c, index_claims.c, index_update.c and index_read.c the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/desired/index_internal.h"

/* ---- a growable array of pointers ------------------------------------------------------- */

int index_vec_push(struct index_vec *vec, void *item)
{
	if (vec->count == vec->capacity) {
		size_t next = vec->capacity ? vec->capacity * 2 : 4;
		void **grown = realloc(vec->items, next * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		vec->items = grown;
		vec->capacity = next;
	}
	vec->items[vec->count++] = item;
	return 0;
}

/* Remove item (order not kept); false when absent. */
bool index_vec_remove(struct index_vec *vec, const void *item)
{
	size_t i;

	for (i = 0; i < vec->count; i++) {
		if (vec->items[i] == item) {
			vec->items[i] = vec->items[--vec->count];
			return true;
		}
	}
	return false;
}

/* Free a vector held as a table's value (the items are not its own). */
void index_vec_free(void *vec)
{
	free(((struct index_vec *)vec)->items);
	free(vec);
}

/* Free every value of a table with free_value, then the table. */
static void index_table_free(struct hash_table *table, void (*free_value)(void *))
{
	const struct hash_table_entry *e;
	size_t i;

	HASH_TABLE_FOR_EACH (table, e, i) {
		free_value(e->value);
	}
	hash_table_free(table);
}

/* ---- the index ------------------------------------------------------------------------------ */

void index_object_key(char *buf, size_t size, enum k8s_kind kind, const char *namespace,
		      const char *name)
{
	snprintf(buf, size, "%d/%s/%s", (int)kind, namespace, name);
}

/* ---- lookups for the one-Service build ---------------------------------------------------- */

static void lookup_slices(void *ctx, const char *namespace, const char *service,
			  struct k8s_object *const **out, size_t *n)
{
	struct desired_index *index = ctx;
	char key[INDEX_KEY_LEN];
	const struct index_group *group;

	snprintf(key, sizeof(key), "%s/%s", namespace, service);
	group = hash_table_get_str(&index->slices, key);
	*out = group ? group->items : NULL;
	*n = group ? group->count : 0;
}

static void lookup_pods(void *ctx, const char *namespace, struct k8s_object *const **out, size_t *n)
{
	struct desired_index *index = ctx;
	const struct index_group *group = hash_table_get_str(&index->pods, namespace);

	*out = group ? group->items : NULL;
	*n = group ? group->count : 0;
}

const struct k8s_object *index_lookup_node(void *ctx, const char *name)
{
	struct desired_index *index = ctx;
	char key[INDEX_KEY_LEN];
	const struct index_object *o;

	index_object_key(key, sizeof(key), K8S_KIND_NODE, "", name);
	o = hash_table_get_str(&index->objects, key);
	return o ? o->effective : NULL;
}

struct desired_index *desired_index_new(const struct desired_build_config *config)
{
	struct desired_index *index = calloc(1, sizeof(*index));

	if (!index)
		return NULL;
	index->config = *config;
	index->lookup.ctx = index;
	index->lookup.slices = lookup_slices;
	index->lookup.pods = lookup_pods;
	index->lookup.node = index_lookup_node;
	index->is_node_dirty = true;
	index->is_nodes_dirty = true;
	index->is_policy_dirty = true;
	return index;
}

/* ---- groups ------------------------------------------------------------------------------- */

static void group_free(void *group)
{
	free(((struct index_group *)group)->items);
	free(group);
}

static size_t group_find(const struct index_group *group, const char *name, bool *is_found)
{
	size_t lo = 0, hi = group->count;

	*is_found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(group->items[mid]->name, name);

		if (!c) {
			*is_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int group_add(struct hash_table *map, const char *key, struct k8s_object *object)
{
	struct index_group *group = hash_table_get_str(map, key);
	bool is_found;
	size_t at;

	if (!group) {
		group = calloc(1, sizeof(*group));
		if (!group || hash_table_put_str(map, key, group)) {
			free(group);
			return -ENOMEM;
		}
	}
	at = group_find(group, object->name, &is_found);
	if (is_found) {
		group->items[at] = object;
		return 0;
	}
	if (group->count == group->capacity) {
		size_t next = group->capacity ? group->capacity * 2 : 4;
		struct k8s_object **grown = realloc(group->items, next * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		group->items = grown;
		group->capacity = next;
	}
	memmove(&group->items[at + 1], &group->items[at],
		(group->count - at) * sizeof(*group->items));
	group->items[at] = object;
	group->count++;
	return 0;
}

static void group_remove(struct hash_table *map, const char *key, const struct k8s_object *object)
{
	struct index_group *group = hash_table_get_str(map, key);
	bool is_found;
	size_t at;

	if (!group)
		return;
	at = group_find(group, object->name, &is_found);
	if (!is_found || group->items[at] != object)
		return;
	memmove(&group->items[at], &group->items[at + 1],
		(group->count - at - 1) * sizeof(*group->items));
	if (--group->count)
		return;
	group_free(group);
	hash_table_remove_str(map, key);
}

/* ---- Services ----------------------------------------------------------------------------- */

static struct index_service *service_get(const struct desired_index *index, const char *namespace,
					 const char *name)
{
	char key[INDEX_KEY_LEN];

	snprintf(key, sizeof(key), "%s/%s", namespace, name);
	return hash_table_get_str(&index->services, key);
}

int index_service_mark(struct desired_index *index, struct index_service *svc)
{
	if (!svc || svc->is_dirty)
		return 0;
	if (index_vec_push(&index->dirty, svc))
		return -ENOMEM;
	svc->is_dirty = true;
	return 0;
}

void desired_index_mark_all(struct desired_index *index)
{
	index->is_all_dirty = true;
}

/* Where a Service with a selector waits for Pods: under its selector's first term. */
static char *selector_key(const struct k8s_object *svc)
{
	const struct k8s_labels *selector = &svc->service.selector;
	size_t size;
	char *key;

	if (!svc->service.has_selector)
		return NULL;
	size = strlen(svc->namespace) + 4 +
	       (selector->count ? strlen(selector->items[0].key) + strlen(selector->items[0].value)
				: 0);
	key = malloc(size);
	if (!key)
		return NULL;
	if (selector->count)
		snprintf(key, size, "%s\x1f%s=%s", svc->namespace, selector->items[0].key,
			 selector->items[0].value);
	else
		snprintf(key, size, "%s\x1f*", svc->namespace);
	return key;
}

void index_service_unregister(struct desired_index *index, struct index_service *svc)
{
	struct index_vec *vec;

	if (!svc->selector_key)
		return;
	vec = hash_table_get_str(&index->selectors, svc->selector_key);
	if (vec && index_vec_remove(vec, svc) && !vec->count) {
		index_vec_free(vec);
		hash_table_remove_str(&index->selectors, svc->selector_key);
	}
	free(svc->selector_key);
	svc->selector_key = NULL;
}

static int service_register(struct desired_index *index, struct index_service *svc)
{
	struct index_vec *vec;

	svc->selector_key = selector_key(svc->object);
	if (!svc->selector_key)
		return svc->object->service.has_selector ? -ENOMEM : 0;
	vec = hash_table_get_str(&index->selectors, svc->selector_key);
	if (!vec) {
		vec = calloc(1, sizeof(*vec));
		if (!vec || hash_table_put_str(&index->selectors, svc->selector_key, vec)) {
			free(vec);
			goto fail;
		}
	}
	if (!index_vec_push(vec, svc))
		return 0;
fail:
	free(svc->selector_key);
	svc->selector_key = NULL;
	return -ENOMEM;
}

/* The Service object of a key changed (old and new may be NULL). */
static int service_changed(struct desired_index *index, const struct k8s_object *old,
			   struct k8s_object *new)
{
	const struct k8s_object *o = new ? new : old;
	struct index_service *svc = service_get(index, o->namespace, o->name);
	char key[INDEX_KEY_LEN];

	if (!svc) {
		if (!new)
			return 0;
		svc = calloc(1, sizeof(*svc));
		if (!svc)
			return -ENOMEM;
		snprintf(svc->namespace, sizeof(svc->namespace), "%s", new->namespace);
		snprintf(svc->name, sizeof(svc->name), "%s", new->name);
		snprintf(key, sizeof(key), "%s/%s", new->namespace, new->name);
		if (hash_table_put_str(&index->services, key, svc)) {
			free(svc);
			return -ENOMEM;
		}
		if (index_vec_push(&index->all, svc)) {
			hash_table_remove_str(&index->services, key);
			free(svc);
			return -ENOMEM;
		}
	}
	index_service_unregister(index, svc);
	svc->object = new;
	if (new &&service_register(index, svc))
		return -ENOMEM;
	return index_service_mark(index, svc);
}

static bool slice_is_indexed(const struct k8s_object *o)
{
	return o && o->slice.service[0] && o->slice.is_ipv4;
}

static int slice_changed(struct desired_index *index, const struct k8s_object *old,
			 struct k8s_object *new)
{
	char key[INDEX_KEY_LEN];
	int err = 0;

	if (slice_is_indexed(old)) {
		snprintf(key, sizeof(key), "%s/%s", old->namespace, old->slice.service);
		group_remove(&index->slices, key, old);
		err = index_service_mark(index,
					 service_get(index, old->namespace, old->slice.service));
	}
	if (!err && slice_is_indexed(new)) {
		snprintf(key, sizeof(key), "%s/%s", new->namespace, new->slice.service);
		err = group_add(&index->slices, key, new);
		if (!err)
			err = index_service_mark(
			    index, service_get(index, new->namespace, new->slice.service));
	}
	return err;
}

/* Services of the Pod's namespace whose selector matches its labels. */
static int pod_mark_services(struct desired_index *index, const struct k8s_object *pod)
{
	char key[INDEX_KEY_LEN * 2];
	const struct index_vec *vec;
	size_t i, j;
	int err = 0;

	for (i = 0; !err && i <= pod->labels.count; i++) {
		if (i < pod->labels.count)
			snprintf(key, sizeof(key), "%s\x1f%s=%s", pod->namespace,
				 pod->labels.items[i].key, pod->labels.items[i].value);
		else
			snprintf(key, sizeof(key), "%s\x1f*", pod->namespace);
		vec = hash_table_get_str(&index->selectors, key);
		for (j = 0; !err && vec && j < vec->count; j++) {
			struct index_service *svc = vec->items[j];

			if (k8s_labels_match(&svc->object->service.selector, &pod->labels))
				err = index_service_mark(index, svc);
		}
	}
	return err;
}

static int pod_changed(struct desired_index *index, const struct k8s_object *old,
		       struct k8s_object *new)
{
	int err = 0;

	index->is_policy_dirty = true;
	if (old) {
		group_remove(&index->pods, old->namespace, old);
		err = pod_mark_services(index, old);
	}
	if (!err && new) {
		err = group_add(&index->pods, new->namespace, new);
		if (!err)
			err = pod_mark_services(index, new);
	}
	return err;
}

const char *index_node_zone(const struct k8s_object *node)
{
	return node ? k8s_labels_get(&node->labels, K8S_ZONE_LABEL) : NULL;
}

static int node_changed(struct desired_index *index, const struct k8s_object *old,
			const struct k8s_object *new)
{
	const char *a = index_node_zone(old), *b = index_node_zone(new);
	const struct k8s_object *o = new ? new : old;
	size_t i;
	int err = 0;

	if (old)
		group_remove(&index->nodes, "", old);
	if (new && (err = group_add(&index->nodes, "", (struct k8s_object *)new)))
		return err;
	index->is_nodes_dirty = true;
	if (index->config.node && !strcmp(o->name, index->config.node))
		index->is_node_dirty = true;
	if ((!a) == (!b) && (!a || !strcmp(a, b)))
		return 0;
	/* Pod-derived endpoints of PreferClose Services take the zone of their Pod's node. */
	for (i = 0; !err && i < index->all.count; i++) {
		struct index_service *svc = index->all.items[i];

		if (svc->object && svc->object->service.is_prefer_close)
			err = index_service_mark(index, svc);
	}
	return err;
}

/* The winner of a key changed from old to new: update the groups, mark what they feed. */
int index_effective_changed(struct desired_index *index, enum k8s_kind kind,
			    const struct k8s_object *old, struct k8s_object *new)
{
	switch (kind) {
	case K8S_KIND_SERVICE:
		return service_changed(index, old, new);
	case K8S_KIND_ENDPOINT_SLICE:
		return slice_changed(index, old, new);
	case K8S_KIND_POD:
		return pod_changed(index, old, new);
	case K8S_KIND_NODE:
		return node_changed(index, old, new);
	case K8S_KIND_NAMESPACE:
	case K8S_KIND_NETWORK_POLICY:
	default:
		index->is_policy_dirty = true;
		return 0;
	}
}

/* ---- free ------------------------------------------------------------------------------------ */

void desired_index_free(struct desired_index *index)
{
	const struct hash_table_entry *e;
	size_t i, j;

	if (!index)
		return;
	/* API objects belong to the caller's source: it releases them (desired_index_for_each_api).
	 */
	HASH_TABLE_FOR_EACH (&index->objects, e, i) {
		struct index_object *o = e->value;

		for (j = 0; j < o->n_candidates; j++) {
			if (!o->candidates[j].is_api)
				k8s_object_put(o->candidates[j].object);
		}
	}
	index_table_free(&index->objects, index_object_free);
	for (i = 0; i < index->all.count; i++) {
		struct index_service *svc = index->all.items[i];

		desired_service_build_free(&svc->build);
		free(svc->selector_key);
		free(svc);
	}
	hash_table_free(&index->services);
	index_table_free(&index->frontends, index_frontend_free);
	index_table_free(&index->slices, group_free);
	index_table_free(&index->pods, group_free);
	index_table_free(&index->nodes, group_free);
	index_table_free(&index->selectors, index_vec_free);
	index_table_free(&index->ports, index_vec_free);
	free(index->all.items);
	free(index->dirty.items);
	free(index->touched.items);
	free(index->node_addresses);
	free(index->zone);
	free(index->health_checks);
	free(index->delta.upserts);
	free(index->delta.removed);
	free(index);
}
