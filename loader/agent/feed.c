// SPDX-License-Identifier: Apache-2.0
/* Change lists from manifests and the API into the index: the one place both sources meet it. */
#include <errno.h>
#include <stdlib.h>

#include "loader/agent/feed.h"

/* Gives back a reference the index handed out, as its source wants it. */
typedef void feed_put_fn(void *ctx, struct k8s_object *object);

struct feed_stale {
	struct k8s_object **objects;
	size_t n, capacity;
	unsigned int kinds;
};

static void feed_collect_stale(void *ctx, struct k8s_object *object)
{
	struct feed_stale *stale = ctx;

	if (!(stale->kinds & (1u << object->kind)))
		return;
	if (stale->n == stale->capacity) {
		size_t next = stale->capacity ? stale->capacity * 2 : 64;
		struct k8s_object **grown = realloc(stale->objects, next * sizeof(*grown));

		if (!grown)
			return; /* kept: dropped at the next re-list */
		stale->objects = grown;
		stale->capacity = next;
	}
	stale->objects[stale->n++] = object;
}

/*
 * Apply changes to index, in order. A manifest change adds a candidate (the index takes its own
 * reference), moves it or withdraws it. An API change replaces the version of its key: the
 * list's reference passes to the index and the replaced version comes back into the change, for
 * the list's owner to release. A re-listed kind first loses every API object (those still
 * listed come back with their change); those go to put. Returns 0 or -ENOMEM (the manifests'
 * changes stop there; the other changes of the API are still applied).
 */
static int feed_apply(struct desired_index *index, struct k8s_change_list *changes,
		      feed_put_fn *put, void *ctx)
{
	struct feed_stale stale = {.kinds = changes->relisted};
	size_t i;
	int err, ret = 0;

	if (stale.kinds) {
		desired_index_for_each_api(index, feed_collect_stale, &stale);
		for (i = 0; i < stale.n; i++) {
			const struct k8s_object *o = stale.objects[i];

			put(ctx, desired_index_set_api(index, o->kind, o->namespace, o->name, NULL,
						       &err));
		}
		free(stale.objects);
	}
	for (i = 0; changes->source == K8S_SOURCE_MANIFESTS && !ret && i < changes->count; i++) {
		const struct k8s_change *c = &changes->items[i];

		if (c->type == K8S_CHANGE_ADDED)
			ret = desired_index_add(index, c->object, c->position);
		else if (c->type == K8S_CHANGE_CHANGED)
			desired_index_move(index, c->object, c->position);
		else
			desired_index_remove(index, c->object);
	}
	for (i = 0; changes->source == K8S_SOURCE_API && i < changes->count; i++) {
		struct k8s_change *c = &changes->items[i];

		c->object =
		    desired_index_set_api(index, c->kind, c->namespace, c->name, c->object, &err);
		if (err)
			ret = err;
	}
	return ret;
}

int feed_manifests(struct desired_index *index, struct manifest_set *manifests)
{
	struct k8s_change_list changes;
	int err;

	manifest_set_changes(manifests, &changes);
	err = feed_apply(index, &changes, NULL, NULL);
	k8s_change_list_free(&changes);
	return err;
}

/* Take a reference back to the API client. */
static void feed_api_put(void *ctx, struct k8s_object *object)
{
	k8s_client_put(ctx, object);
}

/* The API's changes by kind, and the kinds it listed anew, for the metrics. */
static void feed_count(struct metrics *metrics, const struct k8s_change_list *changes)
{
	uint64_t n[K8S_KIND_COUNT] = {0};

	for (size_t i = 0; i < changes->count; i++)
		if (changes->items[i].kind < K8S_KIND_COUNT)
			n[changes->items[i].kind]++;
	for (int kind = 0; kind < K8S_KIND_COUNT; kind++)
		if (n[kind] || (changes->relisted & (1u << kind)))
			metrics_watch_events(metrics, (enum k8s_kind)kind, n[kind],
					     changes->relisted & (1u << kind));
}

int feed_api(struct desired_index *index, struct k8s_client *api, uint32_t *rejected,
	     struct metrics *metrics)
{
	struct k8s_change_list changes;
	int err;

	if (!k8s_client_is_synced(api))
		return -EAGAIN;
	k8s_client_drain(api);
	err = k8s_client_changes(api, &changes, rejected);
	if (err)
		return err;
	feed_count(metrics, &changes);
	err = feed_apply(index, &changes, feed_api_put, api);
	k8s_client_changes_free(api, &changes);
	return err;
}

void feed_api_release(struct desired_index *index, struct k8s_client *api)
{
	desired_index_for_each_api(index, feed_api_put, api);
}
