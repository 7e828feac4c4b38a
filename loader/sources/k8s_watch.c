// SPDX-License-Identifier: Apache-2.0
/*
 * List and watch one resource, on its watcher's thread.
 *
 * Protocol (as client-go's reflector): GET the collection in pages (limit, continue), remember
 * the list's metadata.resourceVersion, then GET ?watch=1&resourceVersion=RV&
 * allowWatchBookmarks=true and apply each newline-delimited event ({"type": ADDED | MODIFIED |
 * DELETED | BOOKMARK | ERROR, "object": ...}). A watch that ends cleanly resumes from the last
 * resourceVersion seen; 410 Gone (as a status or an ERROR event) re-lists at once; any other
 * failure (connection, HTTP status, garbage) re-lists after an exponential back-off.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "lib/log.h"
#include "loader/k8s/json.h"
#include "loader/k8s/yaml_tree.h"
#include "loader/sources/k8s_client_internal.h"

/* List items carry no kind/apiVersion: supply the collection's before decoding. */
static int tree_fill_kind(struct yaml_tree *tree, struct yaml_tree_node *root,
			  const struct resource_type *type)
{
	static const char *const keys[] = {"kind", "apiVersion"};
	const char *values[] = {k8s_kind_names[type->kind], type->api_version};
	size_t i;

	for (i = 0; i < 2; i++) {
		struct yaml_tree_node *key, *value;

		if (yaml_tree_get(root, keys[i]))
			continue;
		key = yaml_tree_new_scalar(tree, keys[i], strlen(keys[i]), YAML_TREE_STRING, 0);
		value = key ? yaml_tree_new_scalar(tree, values[i], strlen(values[i]),
						   YAML_TREE_STRING, 0)
			    : NULL;
		if (!value || yaml_tree_mapping_append(tree, root, key, value))
			return -ENOMEM;
	}
	return 0;
}

/*
 * Decode one API object of the watcher's kind into *out (NULL when invalid; reported).
 * *key gets "namespace/name" (empty when even that could not be read).
 */
static int decode_api_object(struct watcher *w, struct json_object *json, char *key,
			     size_t key_size, struct k8s_object **out)
{
	struct k8s_object *object = NULL;
	struct yaml_tree tree;
	struct yaml_tree_node *root;
	int err;

	*out = NULL;
	key[0] = '\0';
	yaml_tree_init(&tree);
	if (!json_object_is_type(json, json_type_object)) {
		k8s_errors_add(&w->errors, "api: %s: an item is not a JSON object", w->type->name);
		yaml_tree_free(&tree);
		return 0;
	}
	err = k8s_json_to_tree(&tree, json);
	if (err == -E2BIG) {
		k8s_errors_add(&w->errors, "api: %s: an object exceeds the document bounds",
			       w->type->name);
		err = 0;
		goto cleanup;
	}
	if (err)
		goto cleanup;
	root = tree.documents[0];
	err = tree_fill_kind(&tree, root, w->type);
	if (err)
		goto cleanup;
	/* A kind other than the collection's is garbage, not a reason to decode it as ours. */
	if (strcmp(yaml_tree_string(yaml_tree_get(root, "kind")) ?: "",
		   k8s_kind_names[w->type->kind])) {
		k8s_errors_add(&w->errors, "api: %s: item of kind \"%.40s\"", w->type->name,
			       yaml_tree_string(yaml_tree_get(root, "kind")) ?: "?");
		goto cleanup;
	}
	err = k8s_object_decode(root, w->type->kind, "api", &w->errors, &object);
	if (err == -ENOMEM)
		goto cleanup;
	if (object && object->name[0])
		snprintf(key, key_size, "%s/%s", object->namespace, object->name);
	if (!err) {
		*out = object;
		object = NULL;
	}
	err = 0;
cleanup:
	k8s_object_put(object);
	yaml_tree_free(&tree);
	return err;
}

static void set_rv(struct watcher *w, struct json_object *object)
{
	struct json_object *metadata, *rv;

	if (json_object_object_get_ex(object, "metadata", &metadata) &&
	    json_object_object_get_ex(metadata, "resourceVersion", &rv) &&
	    json_object_is_type(rv, json_type_string) &&
	    (size_t)json_object_get_string_len(rv) < sizeof(w->rv) &&
	    json_object_get_string_len(rv) > 0)
		snprintf(w->rv, sizeof(w->rv), "%s", json_object_get_string(rv));
}

/* One line of a watch stream. Returns 0, or -EBADMSG / -ESTALE (410) to end the stream. */
static int handle_event(struct watcher *w, const char *line, size_t len)
{
	struct k8s_client *client = w->client;
	struct json_object *event, *type_field, *object;
	struct k8s_object *decoded = NULL;
	char error[128], key[K8S_DNS_LABEL_MAX + K8S_DNS_SUBDOMAIN_MAX + 4], message[256];
	const char *type;
	int err = 0;

	event = k8s_json_parse(line, len, error, sizeof(error));
	if (!event) {
		k8s_errors_add(&w->errors, "api: %s: watch event: %s", w->type->name, error);
		return -EBADMSG;
	}
	if (!json_object_object_get_ex(event, "type", &type_field) ||
	    !json_object_is_type(type_field, json_type_string) ||
	    !json_object_object_get_ex(event, "object", &object) ||
	    !json_object_is_type(object, json_type_object)) {
		k8s_errors_add(&w->errors, "api: %s: watch event without type or object",
			       w->type->name);
		err = -EBADMSG;
		goto cleanup;
	}
	type = json_object_get_string(type_field);
	if (!strcmp(type, "BOOKMARK")) {
		set_rv(w, object);
		goto cleanup;
	}
	if (!strcmp(type, "ERROR")) {
		const char *text = json_object_to_json_string_ext(object, JSON_C_TO_STRING_PLAIN);
		long code = k8s_http_status_code(text, strlen(text), message, sizeof(message));

		log_info("api: %s: watch ended by the server: %ld %s", w->type->name, code,
			 message);
		err = code == 410 ? -ESTALE : -EBADMSG;
		goto cleanup;
	}
	if (strcmp(type, "ADDED") && strcmp(type, "MODIFIED") && strcmp(type, "DELETED")) {
		k8s_errors_add(&w->errors, "api: %s: unknown watch event type \"%.32s\"",
			       w->type->name, type);
		err = -EBADMSG;
		goto cleanup;
	}
	err = decode_api_object(w, object, key, sizeof(key), &decoded);
	if (err)
		goto cleanup;
	if (!key[0]) {
		/* Not even a name: nothing to apply it to. The stream itself is fine. */
		goto cleanup;
	}
	pthread_mutex_lock(&client->lock);
	if (!strcmp(type, "DELETED"))
		k8s_store_delete(&w->store, key);
	else
		err = k8s_store_put(&w->store, key, decoded);
	k8s_journal_add(w, key);
	pthread_mutex_unlock(&client->lock);
	set_rv(w, object);
	w->n_events++;
	k8s_client_notify(client);
cleanup:
	k8s_object_put(decoded);
	json_object_put(event);
	return err;
}

/* curl's write callback: collect a list page, or split a watch stream into events. */
size_t k8s_watch_on_body(char *data, size_t size, size_t n, void *opaque)
{
	struct watcher *w = opaque;
	size_t len = size * n, start, i;

	if (!w->http_status)
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &w->http_status);
	if (w->body_len + len > K8S_MAX_BODY) {
		k8s_errors_add(&w->errors, "api: %s: response larger than %u bytes", w->type->name,
			       K8S_MAX_BODY);
		w->is_garbage = true;
		return 0;
	}
	if (w->body_len + len + 1 > w->body_cap) {
		size_t cap = w->body_cap ? w->body_cap : 65536;
		char *grown;

		while (cap < w->body_len + len + 1)
			cap *= 2;
		grown = realloc(w->body, cap);
		if (!grown)
			return 0;
		w->body = grown;
		w->body_cap = cap;
	}
	memcpy(w->body + w->body_len, data, len);
	w->body_len += len;
	if (!w->is_watch || w->http_status != 200)
		return len;
	/* Events are one JSON object per line. */
	start = 0;
	for (i = w->body_len - len; i < w->body_len; i++) {
		int err;

		if (w->body[i] != '\n')
			continue;
		if (i > start) {
			err = handle_event(w, w->body + start, i - start);
			if (err == -ESTALE)
				w->is_gone = true;
			if (err == -EBADMSG)
				w->is_garbage = true;
			if (err)
				return 0;
		}
		start = i + 1;
	}
	memmove(w->body, w->body + start, w->body_len - start);
	w->body_len -= start;
	return len;
}

/* One list page into store; *next gets the continue token ("" at the end). */
static int list_page(struct watcher *w, struct store *store, char *next, size_t next_size)
{
	struct json_object *list = NULL, *items, *metadata, *field;
	char error[128], key[K8S_DNS_LABEL_MAX + K8S_DNS_SUBDOMAIN_MAX + 4];
	size_t i, n;
	int err = 0;

	list = k8s_json_parse(w->body, w->body_len, error, sizeof(error));
	if (!list) {
		k8s_errors_add(&w->errors, "api: %s: list: %s", w->type->name, error);
		return -EIO;
	}
	if (!json_object_object_get_ex(list, "metadata", &metadata) ||
	    !json_object_object_get_ex(metadata, "resourceVersion", &field) ||
	    !json_object_is_type(field, json_type_string) ||
	    (size_t)json_object_get_string_len(field) >= sizeof(w->rv) ||
	    !json_object_get_string_len(field)) {
		k8s_errors_add(&w->errors, "api: %s: list without metadata.resourceVersion",
			       w->type->name);
		err = -EIO;
		goto cleanup;
	}
	snprintf(w->rv, sizeof(w->rv), "%s", json_object_get_string(field));
	next[0] = '\0';
	if (json_object_object_get_ex(metadata, "continue", &field) &&
	    json_object_is_type(field, json_type_string) &&
	    (size_t)json_object_get_string_len(field) < next_size)
		snprintf(next, next_size, "%s", json_object_get_string(field));
	if (!json_object_object_get_ex(list, "items", &items) ||
	    json_object_is_type(items, json_type_null)) {
		goto cleanup;
	}
	if (!json_object_is_type(items, json_type_array)) {
		k8s_errors_add(&w->errors, "api: %s: list items is not an array", w->type->name);
		err = -EIO;
		goto cleanup;
	}
	n = json_object_array_length(items);
	for (i = 0; i < n && !err; i++) {
		struct k8s_object *object;

		err = decode_api_object(w, json_object_array_get_idx(items, i), key, sizeof(key),
					&object);
		if (!err && key[0])
			err = k8s_store_put(store, key, object);
		k8s_object_put(object);
	}
cleanup:
	json_object_put(list);
	return err;
}

/* List every page into a new store, then swap it in: objects gone meanwhile disappear. */
static int do_list(struct watcher *w)
{
	struct k8s_client *client = w->client;
	char url[8192], next[K8S_CONTINUE_LEN] = "", limit[16];
	struct curl_slist *headers = NULL;
	struct store fresh = {0}, old;
	uint64_t t0 = k8s_now_ms();
	unsigned int pages = 0;
	int err;

	w->is_watch = false;
	k8s_errors_free(&w->errors); /* errors name the current list and what follows it */
	snprintf(limit, sizeof(limit), "%d", K8S_LIST_PAGE);
	do {
		snprintf(url, sizeof(url), "%s%s", client->base_url, w->type->path);
		k8s_http_url_param(w->curl, url, sizeof(url), "limit", limit);
		if (next[0])
			k8s_http_url_param(w->curl, url, sizeof(url), "continue", next);
		err = k8s_http_setup(w, url, K8S_LIST_TIMEOUT_MS, &headers);
		if (!err)
			err = k8s_http_perform(w, "list");
		curl_slist_free_all(headers);
		headers = NULL;
		if (!err)
			err = list_page(w, &fresh, next, sizeof(next));
		pages++;
	} while (!err && next[0]);
	if (err) {
		k8s_store_clear(&fresh);
		w->rv[0] = '\0';
		return err;
	}
	pthread_mutex_lock(&client->lock);
	old = w->store;
	w->store = fresh;
	w->is_synced = true;
	k8s_journal_relisted(w);
	pthread_mutex_unlock(&client->lock);
	k8s_store_clear(&old);
	k8s_client_notify(client);
	log_info("api: %s: listed %zu (%zu invalid) in %u page%s at resourceVersion %s, %lu ms",
		 w->type->name, fresh.entries.count, fresh.n_rejected, pages, pages == 1 ? "" : "s",
		 w->rv, (unsigned long)(k8s_now_ms() - t0));
	return 0;
}

static int do_watch(struct watcher *w)
{
	struct k8s_client *client = w->client;
	char url[8192], timeout[16];
	struct curl_slist *headers = NULL;
	/* Spread the watches' ends so they do not all re-connect at once (client-go does too). */
	unsigned int seconds =
	    K8S_WATCH_TIMEOUT_S + (unsigned int)(rand() % (K8S_WATCH_TIMEOUT_S / 4));
	int err;

	w->is_watch = true;
	snprintf(timeout, sizeof(timeout), "%u", seconds);
	snprintf(url, sizeof(url), "%s%s?watch=1", client->base_url, w->type->path);
	k8s_http_url_param(w->curl, url, sizeof(url), "resourceVersion", w->rv);
	k8s_http_url_param(w->curl, url, sizeof(url), "allowWatchBookmarks", "true");
	k8s_http_url_param(w->curl, url, sizeof(url), "timeoutSeconds", timeout);
	err = k8s_http_setup(w, url, (long)(seconds + 30) * 1000, &headers);
	if (!err)
		err = k8s_http_perform(w, "watch");
	curl_slist_free_all(headers);
	w->is_watch = false;
	return err;
}

void *k8s_watcher_main(void *opaque)
{
	struct watcher *w = opaque;
	struct k8s_client *client = w->client;
	unsigned int backoff_ms = 0;
	bool needs_list = true;
	int err;

	while (!atomic_load(&client->is_stopping)) {
		if (backoff_ms && k8s_client_sleep(client, backoff_ms))
			break;
		if (needs_list) {
			err = do_list(w);
			if (err == -EINTR)
				break;
			if (err) {
				backoff_ms = backoff_ms ? backoff_ms * 2 : K8S_BACKOFF_MIN_MS;
				if (backoff_ms > K8S_BACKOFF_MAX_MS)
					backoff_ms = K8S_BACKOFF_MAX_MS;
				/* Jitter: ±25%, so agents of many nodes do not retry in step. */
				backoff_ms = backoff_ms * 3 / 4 +
					     (unsigned int)rand() % (backoff_ms / 2 + 1);
				log_warn("api: %s: list failed, retrying in %u ms", w->type->name,
					 backoff_ms);
				continue;
			}
			needs_list = false;
			backoff_ms = 0;
		}
		err = do_watch(w);
		if (err == -EINTR)
			break;
		if (err == -ECONNRESET || !err) {
			/* The stream ended: resume from the last resourceVersion seen. */
			log_debug("api: %s: watch ended after %lu events, resuming at %s",
				  w->type->name, w->n_events, w->rv);
			backoff_ms = 0;
			continue;
		}
		needs_list = true;
		if (err == -ESTALE) {
			log_info("api: %s: resourceVersion %s is too old (410 Gone), re-listing",
				 w->type->name, w->rv);
			backoff_ms = 0;
		} else {
			backoff_ms = K8S_BACKOFF_MIN_MS;
			log_warn("api: %s: watch failed, re-listing in %u ms", w->type->name,
				 backoff_ms);
		}
	}
	return NULL;
}
