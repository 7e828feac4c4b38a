// SPDX-License-Identifier: Apache-2.0
/*
 * The index's candidates: every version of an object (manifest files at positions, the API),
 * and the winner among them, as desired_build() picks it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loader/desired/index_internal.h"

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
static int object_elect(struct desired_index *index, enum k8s_kind kind, struct index_object *o)
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
	err = index_effective_changed(index, kind, old, winner);
	if (err)
		index->is_all_dirty =
		    true; /* out of memory: rebuild everything at the next update */
	return err;
}

void index_object_free(void *o)
{
	free(((struct index_object *)o)->candidates);
	free(o);
}

static struct index_object *object_get(struct desired_index *index, enum k8s_kind kind,
				       const char *namespace, const char *name, bool is_create)
{
	char key[INDEX_KEY_LEN];
	struct index_object *o;

	index_object_key(key, sizeof(key), kind, namespace, name);
	o = hash_table_get_str(&index->objects, key);
	if (o || !is_create)
		return o;
	o = calloc(1, sizeof(*o));
	if (o && hash_table_put_str(&index->objects, key, o)) {
		free(o);
		o = NULL;
	}
	return o;
}

static void object_drop_if_empty(struct desired_index *index, enum k8s_kind kind,
				 const char *namespace, const char *name, struct index_object *o)
{
	char key[INDEX_KEY_LEN];

	if (o->n_candidates || o->effective)
		return;
	index_object_key(key, sizeof(key), kind, namespace, name);
	hash_table_remove_str(&index->objects, key);
	index_object_free(o);
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

int desired_index_add(struct desired_index *index, struct k8s_object *object, uint32_t position)
{
	struct index_object *o =
	    object_get(index, object->kind, object->namespace, object->name, true);

	if (!o || object_add_candidate(o, object, position, false))
		return -ENOMEM;
	k8s_object_get(object);
	return object_elect(index, object->kind, o);
}

void desired_index_move(struct desired_index *index, struct k8s_object *object, uint32_t position)
{
	struct index_object *o =
	    object_get(index, object->kind, object->namespace, object->name, false);
	struct index_candidate *c = object_find_candidate(o, object, false);

	if (!c || c->position == position)
		return;
	c->position = position;
	object_elect(index, object->kind, o);
}

void desired_index_remove(struct desired_index *index, struct k8s_object *object)
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

struct k8s_object *desired_index_set_api(struct desired_index *index, enum k8s_kind kind,
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

void desired_index_for_each_api(const struct desired_index *index,
				void (*visit)(void *ctx, struct k8s_object *object), void *ctx)
{
	const struct hash_table_entry *e;
	size_t i, j;

	HASH_TABLE_FOR_EACH (&index->objects, e, i) {
		const struct index_object *o = e->value;

		for (j = 0; j < o->n_candidates; j++) {
			if (o->candidates[j].is_api)
				visit(ctx, o->candidates[j].object);
		}
	}
}
