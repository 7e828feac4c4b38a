// SPDX-License-Identifier: Apache-2.0
/*
 * The API client's store (per resource, "namespace/name" -> last good object) and its change
 * journal: what the agent takes with k8s_client_changes(). Everything
 * here runs under client->lock, which also guards every object reference count.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/sources/k8s_client_internal.h"

void k8s_store_clear(struct store *store)
{
	struct hash_table_entry *entry;
	size_t i;

	HASH_TABLE_FOR_EACH (&store->entries, entry, i) {
		struct store_entry *e = entry->value;

		k8s_object_put(e->object);
		free(e);
	}
	hash_table_free(&store->entries);
	memset(store, 0, sizeof(*store));
}

/* Record a decoded version: object valid (reference taken) or NULL when it was rejected. */
int k8s_store_put(struct store *store, const char *key, struct k8s_object *object)
{
	struct store_entry *e = hash_table_get_str(&store->entries, key);

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || hash_table_put_str(&store->entries, key, e)) {
			free(e);
			return -ENOMEM;
		}
	}
	if (e->is_rejected)
		store->n_rejected--;
	e->is_rejected = !object;
	if (e->is_rejected) {
		store->n_rejected++;
		return 0; /* the last good version stays in force */
	}
	k8s_object_get(object);
	k8s_object_put(e->object);
	e->object = object;
	return 0;
}

void k8s_store_delete(struct store *store, const char *key)
{
	struct store_entry *e = hash_table_remove_str(&store->entries, key);

	if (!e)
		return;
	if (e->is_rejected)
		store->n_rejected--;
	k8s_object_put(e->object);
	free(e);
}

void k8s_journal_clear(struct watcher *w)
{
	while (w->n_changed)
		free(w->changed[--w->n_changed]);
	free(w->changed);
	w->changed = NULL;
	w->cap_changed = 0;
}

/* A new list: every object may have changed (client->lock held). */
void k8s_journal_relisted(struct watcher *w)
{
	k8s_journal_clear(w);
	w->is_relisted = true;
}

/*
 * key changed (client->lock held). Out of memory, or more keys than the store holds plus a
 * margin (the agent has not looked for long): the whole resource counts as changed.
 */
void k8s_journal_add(struct watcher *w, const char *key)
{
	char **grown, *copy;

	if (w->is_relisted)
		return;
	if (w->n_changed >= w->store.entries.count + 1024) {
		k8s_journal_relisted(w);
		return;
	}
	if (w->n_changed == w->cap_changed) {
		size_t next = w->cap_changed ? w->cap_changed * 2 : 64;

		grown = realloc(w->changed, next * sizeof(*grown));
		if (!grown) {
			k8s_journal_relisted(w);
			return;
		}
		w->changed = grown;
		w->cap_changed = next;
	}
	copy = strdup(key);
	if (!copy) {
		k8s_journal_relisted(w);
		return;
	}
	w->changed[w->n_changed++] = copy;
}

/*
 * One key of the journal ("namespace/name", key_len bytes) as a change: its last good version
 * now, or removed when there is none.
 */
static int change_push(struct k8s_change_list *list, enum k8s_kind kind, const char *key,
		       size_t key_len, struct k8s_object *object)
{
	const char *slash = memchr(key, '/', key_len);
	char namespace[K8S_DNS_LABEL_MAX + 1], name[K8S_DNS_SUBDOMAIN_MAX + 1];
	size_t at = slash ? (size_t)(slash - key) : 0;

	snprintf(namespace, sizeof(namespace), "%.*s", (int)at, key);
	snprintf(name, sizeof(name), "%.*s", (int)(key_len - at - (slash ? 1 : 0)),
		 slash ? slash + 1 : key);
	return k8s_change_list_push(list, object ? K8S_CHANGE_CHANGED : K8S_CHANGE_REMOVED, kind,
				    namespace, name, object, 0);
}

int k8s_client_changes(struct k8s_client *client, struct k8s_change_list *changes,
		       uint32_t *rejected)
{
	struct hash_table_entry *entry;
	size_t i, j, b;
	int err = 0;

	memset(changes, 0, sizeof(*changes));
	changes->source = K8S_SOURCE_API;
	*rejected = 0;
	pthread_mutex_lock(&client->lock);
	for (i = 0; !err && i < N_RESOURCES; i++) {
		struct watcher *w = &client->watchers[i];
		const struct store *store = &w->store;

		*rejected += (uint32_t)store->n_rejected;
		if (w->is_relisted) {
			changes->relisted |= 1u << w->type->kind;
			HASH_TABLE_FOR_EACH (&store->entries, entry, b) {
				const struct store_entry *e = entry->value;

				if (!err)
					err = change_push(changes, w->type->kind,
							  (const char *)entry->key, entry->key_len,
							  e->object);
			}
		} else {
			for (j = 0; !err && j < w->n_changed; j++) {
				const struct store_entry *e =
				    hash_table_get_str(&store->entries, w->changed[j]);

				err = change_push(changes, w->type->kind, w->changed[j],
						  strlen(w->changed[j]), e ? e->object : NULL);
			}
		}
	}
	if (!err) {
		for (i = 0; i < N_RESOURCES; i++) {
			k8s_journal_clear(&client->watchers[i]);
			client->watchers[i].is_relisted = false;
		}
	} else {
		k8s_change_list_free(changes);
	}
	pthread_mutex_unlock(&client->lock);
	return err;
}

void k8s_client_changes_free(struct k8s_client *client, struct k8s_change_list *changes)
{
	pthread_mutex_lock(&client->lock);
	k8s_change_list_free(changes);
	pthread_mutex_unlock(&client->lock);
}

void k8s_client_put(struct k8s_client *client, struct k8s_object *object)
{
	pthread_mutex_lock(&client->lock);
	k8s_object_put(object);
	pthread_mutex_unlock(&client->lock);
}
