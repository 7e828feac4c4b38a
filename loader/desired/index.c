// SPDX-License-Identifier: Apache-2.0
/*
 * The incremental desired state: objects by key, the Services each change feeds, one-Service
 * rebuilds (loader/desired/build.c) and the claims of every Service on frontends and health
 * check ports, weighed as k8s_build_desired() does (first Service by namespace/name wins).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/desired/netpol_compile.h"
#include "loader/desired/index.h"
#include "loader/desired/build.h"

/* ---- a string-keyed map: chained, grows at load 1 ------------------------------------------ */

struct index_entry {
	struct index_entry *next;
	uint64_t hash;
	void *value;
	char key[];
};

struct index_map {
	struct index_entry **buckets;
	size_t n_buckets; /* power of two, or 0 */
	size_t count;
};

static uint64_t index_hash(const char *key)
{
	uint64_t hash = 0xcbf29ce484222325ull;

	while (*key)
		hash = (hash ^ (unsigned char)*key++) * 0x100000001b3ull;
	return hash ^ (hash >> 29);
}

static struct index_entry **index_map_slot(const struct index_map *map, const char *key,
					   uint64_t hash)
{
	struct index_entry **slot = &map->buckets[hash & (map->n_buckets - 1)];

	while (*slot && ((*slot)->hash != hash || strcmp((*slot)->key, key)))
		slot = &(*slot)->next;
	return slot;
}

static void *index_map_get(const struct index_map *map, const char *key)
{
	struct index_entry **slot;

	if (!map->n_buckets)
		return NULL;
	slot = index_map_slot(map, key, index_hash(key));
	return *slot ? (*slot)->value : NULL;
}

static int index_map_grow(struct index_map *map)
{
	size_t n = map->n_buckets ? map->n_buckets * 2 : 64, i;
	struct index_entry **buckets = calloc(n, sizeof(*buckets));

	if (!buckets)
		return -ENOMEM;
	for (i = 0; i < map->n_buckets; i++) {
		struct index_entry *e = map->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = buckets[e->hash & (n - 1)];
			buckets[e->hash & (n - 1)] = e;
		}
	}
	free(map->buckets);
	map->buckets = buckets;
	map->n_buckets = n;
	return 0;
}

/* Insert key -> value (value not NULL), or replace the value. Returns 0 or -ENOMEM. */
static int index_map_put(struct index_map *map, const char *key, void *value)
{
	uint64_t hash = index_hash(key);
	struct index_entry **slot, *e;
	size_t len;

	if (map->count >= map->n_buckets && index_map_grow(map))
		return -ENOMEM;
	slot = index_map_slot(map, key, hash);
	if (*slot) {
		(*slot)->value = value;
		return 0;
	}
	len = strlen(key);
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->next = NULL;
	e->hash = hash;
	e->value = value;
	memcpy(e->key, key, len + 1);
	*slot = e;
	map->count++;
	return 0;
}

static void index_map_del(struct index_map *map, const char *key)
{
	struct index_entry **slot, *e;

	if (!map->n_buckets)
		return;
	slot = index_map_slot(map, key, index_hash(key));
	e = *slot;
	if (!e)
		return;
	*slot = e->next;
	free(e);
	map->count--;
}

/* Free the entries; values are the caller's. */
static void index_map_free(struct index_map *map)
{
	size_t i;

	for (i = 0; i < map->n_buckets; i++) {
		struct index_entry *e = map->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(map->buckets);
	memset(map, 0, sizeof(*map));
}

#define INDEX_FOR_EACH(map, e, i)                                                                  \
	for (i = 0; i < (map)->n_buckets; i++)                                                     \
		for (e = (map)->buckets[i]; e; e = e->next)

/* A growable array of pointers. */
struct index_vec {
	void **items;
	size_t count, capacity;
};

static int index_vec_push(struct index_vec *vec, void *item)
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
static bool index_vec_remove(struct index_vec *vec, const void *item)
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

/* ---- the index ------------------------------------------------------------------------------ */

/* One version of an object: from a manifest file at a position, or from the API. */
struct index_candidate {
	struct k8s_object *object;
	uint32_t position;
	bool is_api;
};

/* Everything known under one (kind, namespace, name). */
struct index_object {
	struct index_candidate *candidates;
	size_t n_candidates, capacity;
	struct k8s_object *effective; /* the winning candidate's object, or NULL */
};

/* Objects of one group (slices of one Service, Pods of one namespace), by name. */
struct index_group {
	struct k8s_object **items;
	size_t count, capacity;
};

struct index_service {
	char namespace[K8S_DNS_LABEL_MAX + 1];
	char name[K8S_DNS_SUBDOMAIN_MAX + 1];
	struct k8s_object *object; /* the Service now, NULL once it is gone */
	struct k8s_service_build build;
	char *selector_key; /* where the service is registered for Pods, or NULL */
	bool is_dirty;
};

struct index_claim {
	struct index_service *service;
	size_t seq; /* index into service->build.frontends */
};

/* Claims on one (vip, port, proto, scope). */
struct index_frontend {
	char key[24];
	struct index_claim *claims;
	size_t n_claims, capacity;
	bool is_published; /* in the desired state now */
	bool is_touched;
	struct lb_frontend removed_key;
};

struct k8s_index {
	struct k8s_build_config config;
	struct k8s_build_lookup lookup;
	struct index_map objects;   /* "kind/namespace/name" -> index_object */
	struct index_map services;  /* "namespace/name" -> index_service */
	struct index_map slices;    /* "namespace/service" -> index_group */
	struct index_map pods;	    /* "namespace" -> index_group */
	struct index_map selectors; /* "namespace\x1fkey=value" (first term) -> index_vec */
	struct index_map frontends; /* frontend key -> index_frontend */
	struct index_map ports;	    /* health check port -> index_vec of index_service */
	struct index_vec all;	    /* every index_service */
	struct index_vec dirty;	    /* index_service to rebuild */
	struct index_vec touched;   /* index_frontend whose claims changed */
	bool is_node_dirty, is_health_dirty, is_policy_dirty;
	bool is_all_dirty;
	uint32_t *node_addresses;
	size_t n_node_addresses;
	char *zone;
	size_t n_frontends; /* published */
	uint32_t n_rejected;
	struct lb_health_check *health_checks;
	size_t n_health_checks;
	struct k8s_index_delta delta;
	size_t cap_upserts, cap_removed;
};

static void object_key(char *buf, size_t size, enum k8s_kind kind, const char *namespace,
		       const char *name)
{
	snprintf(buf, size, "%d/%s/%s", (int)kind, namespace, name);
}

#define INDEX_KEY_LEN (K8S_DNS_LABEL_MAX * 2 + K8S_DNS_SUBDOMAIN_MAX + 16)

/* ---- lookups for the one-Service build ---------------------------------------------------- */

static void lookup_slices(void *ctx, const char *namespace, const char *service,
			  struct k8s_object *const **out, size_t *n)
{
	struct k8s_index *index = ctx;
	char key[INDEX_KEY_LEN];
	const struct index_group *group;

	snprintf(key, sizeof(key), "%s/%s", namespace, service);
	group = index_map_get(&index->slices, key);
	*out = group ? group->items : NULL;
	*n = group ? group->count : 0;
}

static void lookup_pods(void *ctx, const char *namespace, struct k8s_object *const **out, size_t *n)
{
	struct k8s_index *index = ctx;
	const struct index_group *group = index_map_get(&index->pods, namespace);

	*out = group ? group->items : NULL;
	*n = group ? group->count : 0;
}

static const struct k8s_object *lookup_node(void *ctx, const char *name)
{
	struct k8s_index *index = ctx;
	char key[INDEX_KEY_LEN];
	const struct index_object *o;

	object_key(key, sizeof(key), K8S_KIND_NODE, "", name);
	o = index_map_get(&index->objects, key);
	return o ? o->effective : NULL;
}

struct k8s_index *k8s_index_new(const struct k8s_build_config *config)
{
	struct k8s_index *index = calloc(1, sizeof(*index));

	if (!index)
		return NULL;
	index->config = *config;
	index->lookup.ctx = index;
	index->lookup.slices = lookup_slices;
	index->lookup.pods = lookup_pods;
	index->lookup.node = lookup_node;
	index->is_node_dirty = true;
	index->is_policy_dirty = true;
	return index;
}

/* ---- groups ------------------------------------------------------------------------------- */

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

static int group_add(struct index_map *map, const char *key, struct k8s_object *object)
{
	struct index_group *group = index_map_get(map, key);
	bool is_found;
	size_t at;

	if (!group) {
		group = calloc(1, sizeof(*group));
		if (!group || index_map_put(map, key, group)) {
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

static void group_remove(struct index_map *map, const char *key, const struct k8s_object *object)
{
	struct index_group *group = index_map_get(map, key);
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
	free(group->items);
	free(group);
	index_map_del(map, key);
}

/* ---- Services ----------------------------------------------------------------------------- */

static struct index_service *service_get(const struct k8s_index *index, const char *namespace,
					 const char *name)
{
	char key[INDEX_KEY_LEN];

	snprintf(key, sizeof(key), "%s/%s", namespace, name);
	return index_map_get(&index->services, key);
}

static int service_mark(struct k8s_index *index, struct index_service *svc)
{
	if (!svc || svc->is_dirty)
		return 0;
	if (index_vec_push(&index->dirty, svc))
		return -ENOMEM;
	svc->is_dirty = true;
	return 0;
}

void k8s_index_mark_all(struct k8s_index *index)
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

static void service_unregister(struct k8s_index *index, struct index_service *svc)
{
	struct index_vec *vec;

	if (!svc->selector_key)
		return;
	vec = index_map_get(&index->selectors, svc->selector_key);
	if (vec && index_vec_remove(vec, svc) && !vec->count) {
		free(vec->items);
		free(vec);
		index_map_del(&index->selectors, svc->selector_key);
	}
	free(svc->selector_key);
	svc->selector_key = NULL;
}

static int service_register(struct k8s_index *index, struct index_service *svc)
{
	struct index_vec *vec;

	svc->selector_key = selector_key(svc->object);
	if (!svc->selector_key)
		return svc->object->service.has_selector ? -ENOMEM : 0;
	vec = index_map_get(&index->selectors, svc->selector_key);
	if (!vec) {
		vec = calloc(1, sizeof(*vec));
		if (!vec || index_map_put(&index->selectors, svc->selector_key, vec)) {
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
static int service_changed(struct k8s_index *index, const struct k8s_object *old,
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
		if (index_map_put(&index->services, key, svc)) {
			free(svc);
			return -ENOMEM;
		}
		if (index_vec_push(&index->all, svc)) {
			index_map_del(&index->services, key);
			free(svc);
			return -ENOMEM;
		}
	}
	service_unregister(index, svc);
	svc->object = new;
	if (new &&service_register(index, svc))
		return -ENOMEM;
	return service_mark(index, svc);
}

static bool slice_is_indexed(const struct k8s_object *o)
{
	return o && o->slice.service[0] && o->slice.is_ipv4;
}

static int slice_changed(struct k8s_index *index, const struct k8s_object *old,
			 struct k8s_object *new)
{
	char key[INDEX_KEY_LEN];
	int err = 0;

	if (slice_is_indexed(old)) {
		snprintf(key, sizeof(key), "%s/%s", old->namespace, old->slice.service);
		group_remove(&index->slices, key, old);
		err = service_mark(index, service_get(index, old->namespace, old->slice.service));
	}
	if (!err && slice_is_indexed(new)) {
		snprintf(key, sizeof(key), "%s/%s", new->namespace, new->slice.service);
		err = group_add(&index->slices, key, new);
		if (!err)
			err = service_mark(index,
					   service_get(index, new->namespace, new->slice.service));
	}
	return err;
}

/* Services of the Pod's namespace whose selector matches its labels. */
static int pod_mark_services(struct k8s_index *index, const struct k8s_object *pod)
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
		vec = index_map_get(&index->selectors, key);
		for (j = 0; !err && vec && j < vec->count; j++) {
			struct index_service *svc = vec->items[j];

			if (k8s_labels_match(&svc->object->service.selector, &pod->labels))
				err = service_mark(index, svc);
		}
	}
	return err;
}

static int pod_changed(struct k8s_index *index, const struct k8s_object *old,
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

static const char *node_zone(const struct k8s_object *node)
{
	return node ? k8s_labels_get(&node->labels, K8S_ZONE_LABEL) : NULL;
}

static int node_changed(struct k8s_index *index, const struct k8s_object *old,
			const struct k8s_object *new)
{
	const char *a = node_zone(old), *b = node_zone(new);
	const struct k8s_object *o = new ? new : old;
	size_t i;
	int err = 0;

	if (index->config.node && !strcmp(o->name, index->config.node))
		index->is_node_dirty = true;
	if ((!a) == (!b) && (!a || !strcmp(a, b)))
		return 0;
	/* Pod-derived endpoints of PreferClose Services take the zone of their Pod's node. */
	for (i = 0; !err && i < index->all.count; i++) {
		struct index_service *svc = index->all.items[i];

		if (svc->object && svc->object->service.is_prefer_close)
			err = service_mark(index, svc);
	}
	return err;
}

/* The winner of a key changed from old to new: update the groups, mark what they feed. */
static int effective_changed(struct k8s_index *index, enum k8s_kind kind,
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

/* ---- candidates ---------------------------------------------------------------------------- */

/* The build's order: manifests by (file, position), then the API. */
static int candidate_cmp(const struct index_candidate *a, const struct index_candidate *b)
{
	int c = (a->is_api > b->is_api) - (a->is_api < b->is_api);

	if (!c && !a->is_api)
		c = strcmp(a->object->source, b->object->source);
	return c ? c : (a->position > b->position) - (a->position < b->position);
}

/* Re-elect the winner of o; tell the groups when it changed. */
static int object_elect(struct k8s_index *index, enum k8s_kind kind, struct index_object *o)
{
	struct k8s_object *old = o->effective, *winner = NULL;
	const struct index_candidate *best = NULL;
	size_t i;
	int err;

	for (i = 0; i < o->n_candidates; i++) {
		if (!best || candidate_cmp(&o->candidates[i], best) < 0)
			best = &o->candidates[i];
	}
	winner = best ? best->object : NULL;
	if (winner == old)
		return 0;
	o->effective = winner;
	err = effective_changed(index, kind, old, winner);
	if (err)
		index->is_all_dirty =
		    true; /* out of memory: rebuild everything at the next update */
	return err;
}

static struct index_object *object_get(struct k8s_index *index, enum k8s_kind kind,
				       const char *namespace, const char *name, bool is_create)
{
	char key[INDEX_KEY_LEN];
	struct index_object *o;

	object_key(key, sizeof(key), kind, namespace, name);
	o = index_map_get(&index->objects, key);
	if (o || !is_create)
		return o;
	o = calloc(1, sizeof(*o));
	if (o && index_map_put(&index->objects, key, o)) {
		free(o);
		o = NULL;
	}
	return o;
}

static void object_drop_if_empty(struct k8s_index *index, enum k8s_kind kind, const char *namespace,
				 const char *name, struct index_object *o)
{
	char key[INDEX_KEY_LEN];

	if (o->n_candidates || o->effective)
		return;
	object_key(key, sizeof(key), kind, namespace, name);
	index_map_del(&index->objects, key);
	free(o->candidates);
	free(o);
}

static int object_add_candidate(struct index_object *o, struct k8s_object *object,
				uint32_t position, bool is_api)
{
	if (o->n_candidates == o->capacity) {
		size_t next = o->capacity ? o->capacity * 2 : 1;
		struct index_candidate *grown = realloc(o->candidates, next * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		o->candidates = grown;
		o->capacity = next;
	}
	o->candidates[o->n_candidates].object = object;
	o->candidates[o->n_candidates].position = position;
	o->candidates[o->n_candidates].is_api = is_api;
	o->n_candidates++;
	return 0;
}

static struct index_candidate *object_find_candidate(struct index_object *o,
						     const struct k8s_object *object, bool is_api)
{
	size_t i;

	for (i = 0; o && i < o->n_candidates; i++) {
		if (is_api ? o->candidates[i].is_api : o->candidates[i].object == object)
			return &o->candidates[i];
	}
	return NULL;
}

int k8s_index_add(struct k8s_index *index, struct k8s_object *object, uint32_t position)
{
	struct index_object *o =
	    object_get(index, object->kind, object->namespace, object->name, true);

	if (!o || object_add_candidate(o, object, position, false))
		return -ENOMEM;
	k8s_object_get(object);
	return object_elect(index, object->kind, o);
}

void k8s_index_move(struct k8s_index *index, struct k8s_object *object, uint32_t position)
{
	struct index_object *o =
	    object_get(index, object->kind, object->namespace, object->name, false);
	struct index_candidate *c = object_find_candidate(o, object, false);

	if (!c || c->position == position)
		return;
	c->position = position;
	object_elect(index, object->kind, o);
}

void k8s_index_remove(struct k8s_index *index, struct k8s_object *object)
{
	struct index_object *o =
	    object_get(index, object->kind, object->namespace, object->name, false);
	struct index_candidate *c = object_find_candidate(o, object, false);

	if (!c)
		return;
	*c = o->candidates[--o->n_candidates];
	object_elect(index, object->kind, o);
	object_drop_if_empty(index, object->kind, object->namespace, object->name, o);
	k8s_object_put(object);
}

struct k8s_object *k8s_index_set_api(struct k8s_index *index, enum k8s_kind kind,
				     const char *namespace, const char *name,
				     struct k8s_object *object, int *err)
{
	struct index_object *o = object_get(index, kind, namespace, name, object != NULL);
	struct index_candidate *c;
	struct k8s_object *old = NULL;

	*err = 0;
	if (!o) {
		if (object)
			*err = -ENOMEM;
		return object;
	}
	c = object_find_candidate(o, NULL, true);
	if (c && c->object == object)
		return object; /* already held: the second reference goes back */
	if (c) {
		old = c->object;
		if (object)
			c->object = object;
		else
			*c = o->candidates[--o->n_candidates];
	} else if (object && object_add_candidate(o, object, 0, true)) {
		*err = -ENOMEM;
		return object;
	}
	object_elect(index, kind, o);
	object_drop_if_empty(index, kind, namespace, name, o);
	return old;
}

void k8s_index_for_each_api(const struct k8s_index *index,
			    void (*visit)(void *ctx, struct k8s_object *object), void *ctx)
{
	const struct index_entry *e;
	size_t i, j;

	INDEX_FOR_EACH(&index->objects, e, i)
	{
		const struct index_object *o = e->value;

		for (j = 0; j < o->n_candidates; j++) {
			if (o->candidates[j].is_api)
				visit(ctx, o->candidates[j].object);
		}
	}
}

/* ---- claims ---------------------------------------------------------------------------------- */

static void frontend_key(char *buf, size_t size, const struct lb_frontend *f)
{
	snprintf(buf, size, "%08x:%04x:%02x:%02x", f->vip, f->port, f->proto, f->scope);
}

static int claim_cmp(const struct index_claim *a, const struct index_claim *b)
{
	int c = strcmp(a->service->namespace, b->service->namespace);

	if (!c)
		c = strcmp(a->service->name, b->service->name);
	return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

static int frontend_touch(struct k8s_index *index, struct index_frontend *fe)
{
	if (fe->is_touched)
		return 0;
	if (index_vec_push(&index->touched, fe))
		return -ENOMEM;
	fe->is_touched = true;
	return 0;
}

static int claim_add(struct k8s_index *index, struct index_service *svc, size_t seq)
{
	const struct lb_frontend *f = &svc->build.frontends[seq];
	struct index_frontend *fe;
	char key[24];

	frontend_key(key, sizeof(key), f);
	fe = index_map_get(&index->frontends, key);
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
		if (index_map_put(&index->frontends, key, fe)) {
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

static int claim_remove(struct k8s_index *index, struct index_service *svc, size_t seq)
{
	char key[24];
	struct index_frontend *fe;
	size_t i;

	frontend_key(key, sizeof(key), &svc->build.frontends[seq]);
	fe = index_map_get(&index->frontends, key);
	for (i = 0; fe && i < fe->n_claims; i++) {
		if (fe->claims[i].service == svc && fe->claims[i].seq == seq) {
			fe->claims[i] = fe->claims[--fe->n_claims];
			return frontend_touch(index, fe);
		}
	}
	return 0;
}

static int port_claim(struct k8s_index *index, struct index_service *svc, bool is_add)
{
	char key[8];
	struct index_vec *vec;

	snprintf(key, sizeof(key), "%u", svc->build.health_check.port);
	vec = index_map_get(&index->ports, key);
	index->is_health_dirty = true;
	if (!is_add) {
		if (vec && index_vec_remove(vec, svc) && !vec->count) {
			free(vec->items);
			free(vec);
			index_map_del(&index->ports, key);
		}
		return 0;
	}
	if (!vec) {
		vec = calloc(1, sizeof(*vec));
		if (!vec || index_map_put(&index->ports, key, vec)) {
			free(vec);
			return -ENOMEM;
		}
	}
	return index_vec_push(vec, svc);
}

/* Withdraw every claim of svc and forget its build. */
static int service_withdraw(struct k8s_index *index, struct index_service *svc)
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
	k8s_service_build_free(&svc->build);
	return 0;
}

static int service_claim(struct k8s_index *index, struct index_service *svc)
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

static void service_free(struct k8s_index *index, struct index_service *svc)
{
	char key[INDEX_KEY_LEN];

	service_unregister(index, svc);
	snprintf(key, sizeof(key), "%s/%s", svc->namespace, svc->name);
	index_map_del(&index->services, key);
	index_vec_remove(&index->all, svc);
	k8s_service_build_free(&svc->build);
	free(svc);
}

/* Rebuild one marked Service: withdraw its old claims, build, claim again. */
static int service_rebuild(struct k8s_index *index, struct index_service *svc,
			   struct k8s_errors *errors)
{
	struct k8s_service_build build;
	int err;

	if (svc->object) {
		err = k8s_build_service(svc->object, &index->config, &index->lookup,
					index->node_addresses, index->n_node_addresses, errors,
					&build);
		if (err)
			return err;
	}
	err = service_withdraw(index, svc);
	if (err) {
		if (svc->object)
			k8s_service_build_free(&build);
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

/* ---- update ---------------------------------------------------------------------------------- */

static int delta_push_upsert(struct k8s_index *index, const struct lb_frontend *f)
{
	struct k8s_index_delta *d = &index->delta;

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

static int delta_push_removed(struct k8s_index *index, const struct lb_frontend *key)
{
	struct k8s_index_delta *d = &index->delta;

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

static const struct index_claim *frontend_winner(const struct index_frontend *fe)
{
	const struct index_claim *best = NULL;
	size_t i;

	for (i = 0; i < fe->n_claims; i++) {
		if (!best || claim_cmp(&fe->claims[i], best) < 0)
			best = &fe->claims[i];
	}
	return best;
}

/* A touched frontend: publish its winner, or withdraw it; report second claims. */
static int frontend_settle(struct k8s_index *index, struct index_frontend *fe,
			   struct k8s_errors *errors)
{
	const struct index_claim *winner = frontend_winner(fe);
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
			       lb_proto_name(f->proto), winner->service->namespace,
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
	index_map_del(&index->frontends, fe->key);
	free(fe->claims);
	free(fe);
	return 0;
}

static int health_check_cmp(const void *a, const void *b)
{
	const struct lb_health_check *x = a, *y = b;

	return (x->port > y->port) - (x->port < y->port);
}

static int service_rank_cmp(const struct index_service *a, const struct index_service *b)
{
	int c = strcmp(a->namespace, b->namespace);

	return c ? c : strcmp(a->name, b->name);
}

/* The health checks again from the port claims (few: LoadBalancer + Local Services). */
static int health_settle(struct k8s_index *index, struct k8s_errors *errors)
{
	struct lb_health_check *checks = NULL;
	const struct index_entry *e;
	size_t i, j, n = 0;

	if (index->ports.count) {
		checks = calloc(index->ports.count, sizeof(*checks));
		if (!checks)
			return -ENOMEM;
	}
	INDEX_FOR_EACH(&index->ports, e, i)
	{
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
		qsort(checks, n, sizeof(*checks), health_check_cmp);
	free(index->health_checks);
	index->health_checks = checks;
	index->n_health_checks = n;
	index->is_health_dirty = false;
	return 0;
}

/* This node's addresses and zone again; every Service is rebuilt when they changed. */
static int node_settle(struct k8s_index *index)
{
	const struct k8s_object *node =
	    index->config.node ? lookup_node(index, index->config.node) : NULL;
	const char *zone = node_zone(node);
	uint32_t *addresses;
	size_t n;
	int err;

	err = k8s_build_node_addresses(&index->config, &index->lookup, &addresses, &n);
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

int k8s_index_update(struct k8s_index *index, struct k8s_errors *errors,
		     const struct k8s_index_delta **delta)
{
	struct k8s_index_delta *d = &index->delta;
	size_t i;
	int err = 0;

	d->n_upserts = 0;
	d->n_removed = 0;
	d->n_services = 0;
	d->is_node_changed = false;
	d->is_health_changed = false;
	d->is_policy_changed = index->is_policy_dirty;
	index->is_policy_dirty = false;
	*delta = d;
	if (index->is_node_dirty)
		err = node_settle(index);
	if (!err && index->is_all_dirty) {
		for (i = 0; !err && i < index->all.count; i++)
			err = service_mark(index, index->all.items[i]);
		if (!err)
			index->is_all_dirty = false;
	}
	/* Last marked first, so a failure leaves the rest marked for the next update. */
	while (!err && index->dirty.count) {
		struct index_service *svc = index->dirty.items[index->dirty.count - 1];

		err = service_rebuild(index, svc, errors);
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
	return err;
}

/* ---- reading the state ------------------------------------------------------------------------
 */

size_t k8s_index_frontend_count(const struct k8s_index *index)
{
	return index->n_frontends;
}

const struct lb_health_check *k8s_index_health_checks(const struct k8s_index *index, size_t *n)
{
	*n = index->n_health_checks;
	return index->health_checks;
}

const uint32_t *k8s_index_node_addresses(const struct k8s_index *index, size_t *n)
{
	*n = index->n_node_addresses;
	return index->node_addresses;
}

uint32_t k8s_index_rejected(const struct k8s_index *index)
{
	return index->n_rejected;
}

int k8s_index_policy(const struct k8s_index *index, struct policy_state **out)
{
	struct k8s_object **objects = NULL;
	const struct index_entry *e;
	size_t i, n = 0;
	int err;

	*out = NULL;
	if (index->objects.count) {
		objects = malloc(index->objects.count * sizeof(*objects));
		if (!objects)
			return -ENOMEM;
	}
	INDEX_FOR_EACH(&index->objects, e, i)
	{
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

static void *index_dup(const void *from, size_t n, size_t size, int *err)
{
	void *to;

	if (!n)
		return NULL;
	to = malloc(n * size);
	if (!to) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(to, from, n * size);
	return to;
}

static int frontend_sort_cmp(const void *a, const void *b)
{
	return lb_frontend_cmp(a, b);
}

int k8s_index_desired(const struct k8s_index *index, bool is_policy, struct desired_state *out)
{
	const struct index_entry *e;
	size_t i;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (index->n_frontends) {
		out->frontends = calloc(index->n_frontends, sizeof(*out->frontends));
		if (!out->frontends)
			return -ENOMEM;
	}
	INDEX_FOR_EACH(&index->frontends, e, i)
	{
		const struct index_frontend *fe = e->value;
		const struct index_claim *winner = frontend_winner(fe);
		const struct lb_frontend *from;
		struct lb_frontend *to;

		if (!winner || !fe->is_published || err)
			continue;
		from = &winner->service->build.frontends[winner->seq];
		to = &out->frontends[out->n_frontends++];
		*to = *from;
		to->backends =
		    index_dup(from->backends, from->n_backends, sizeof(*from->backends), &err);
		to->source_ranges = index_dup(from->source_ranges, from->n_source_ranges,
					      sizeof(*from->source_ranges), &err);
	}
	if (out->n_frontends > 1)
		qsort(out->frontends, out->n_frontends, sizeof(*out->frontends), frontend_sort_cmp);
	out->health_checks = index_dup(index->health_checks, index->n_health_checks,
				       sizeof(*index->health_checks), &err);
	out->n_health_checks = out->health_checks ? index->n_health_checks : 0;
	out->node_addresses = index_dup(index->node_addresses, index->n_node_addresses,
					sizeof(*index->node_addresses), &err);
	out->n_node_addresses = out->node_addresses ? index->n_node_addresses : 0;
	out->rejected_objects = index->n_rejected;
	if (!err && is_policy)
		err = k8s_index_policy(index, &out->policy);
	if (err)
		desired_state_free(out);
	return err;
}

/* ---- free ------------------------------------------------------------------------------------ */

static void index_free_groups(struct index_map *map)
{
	const struct index_entry *e;
	size_t i;

	INDEX_FOR_EACH(map, e, i)
	{
		struct index_group *group = e->value;

		free(group->items);
		free(group);
	}
	index_map_free(map);
}

static void index_free_vecs(struct index_map *map)
{
	const struct index_entry *e;
	size_t i;

	INDEX_FOR_EACH(map, e, i)
	{
		struct index_vec *vec = e->value;

		free(vec->items);
		free(vec);
	}
	index_map_free(map);
}

void k8s_index_free(struct k8s_index *index)
{
	const struct index_entry *e;
	size_t i, j;

	if (!index)
		return;
	/* API objects belong to the caller's source: it releases them (k8s_index_for_each_api).
	 */
	INDEX_FOR_EACH(&index->objects, e, i)
	{
		struct index_object *o = e->value;

		for (j = 0; j < o->n_candidates; j++) {
			if (!o->candidates[j].is_api)
				k8s_object_put(o->candidates[j].object);
		}
		free(o->candidates);
		free(o);
	}
	index_map_free(&index->objects);
	for (i = 0; i < index->all.count; i++) {
		struct index_service *svc = index->all.items[i];

		k8s_service_build_free(&svc->build);
		free(svc->selector_key);
		free(svc);
	}
	index_map_free(&index->services);
	INDEX_FOR_EACH(&index->frontends, e, i)
	{
		struct index_frontend *fe = e->value;

		free(fe->claims);
		free(fe);
	}
	index_map_free(&index->frontends);
	index_free_groups(&index->slices);
	index_free_groups(&index->pods);
	index_free_vecs(&index->selectors);
	index_free_vecs(&index->ports);
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
