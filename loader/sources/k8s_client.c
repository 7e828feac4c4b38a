// SPDX-License-Identifier: Apache-2.0
/*
 * List and watch the Kubernetes API, one thread per resource.
 *
 * Why a thread per watch rather than curl multi in the agent's poll loop: each watch is a long,
 * mostly idle stream with its own state machine (list pages, watch, 410, back-off), and
 * blocking code per resource keeps that machine a plain loop. Six threads cost nothing next to
 * the agent; the agent's loop stays single-threaded and only sees an eventfd and a snapshot
 * taken under one mutex, which also guards every object reference count.
 *
 * Protocol (as client-go's reflector): GET the collection in pages (limit, continue), remember
 * the list's metadata.resourceVersion, then GET ?watch=1&resourceVersion=RV&
 * allowWatchBookmarks=true and apply each newline-delimited event ({"type": ADDED | MODIFIED |
 * DELETED | BOOKMARK | ERROR, "object": ...}). A watch that ends cleanly resumes from the last
 * resourceVersion seen; 410 Gone (as a status or an ERROR event) re-lists at once; any other
 * failure (connection, HTTP status, garbage) re-lists after an exponential back-off.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "loader/sources/k8s_client.h"
#include "loader/k8s/json.h"
#include "lib/hash_table.h"
#include "lib/log.h"
#include "loader/k8s/yaml_tree.h"

#define K8S_RV_LEN	 128 /* resourceVersion is opaque; real ones are short decimals */
#define K8S_CONTINUE_LEN 4096
#define K8S_MAX_FILE	 (1u << 20) /* kubeconfig, token, CA file */

struct resource_type {
	const char *name; /* for logs: "services" */
	const char *path; /* collection path, all namespaces */
	enum k8s_kind kind;
	const char *api_version;
};

static const struct resource_type resource_types[] = {
    {"services", "/api/v1/services", K8S_KIND_SERVICE, "v1"},
    {"endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", K8S_KIND_ENDPOINT_SLICE,
     "discovery.k8s.io/v1"},
    {"pods", "/api/v1/pods", K8S_KIND_POD, "v1"},
    {"namespaces", "/api/v1/namespaces", K8S_KIND_NAMESPACE, "v1"},
    {"nodes", "/api/v1/nodes", K8S_KIND_NODE, "v1"},
    {"networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies", K8S_KIND_NETWORK_POLICY,
     "networking.k8s.io/v1"},
};

#define N_RESOURCES (sizeof(resource_types) / sizeof(resource_types[0]))

/* ---- the store: per resource, "namespace/name" -> last good object ---------------------- */

struct store_entry {
	struct k8s_object *object; /* last good version, or NULL when never valid */
	bool is_rejected;	   /* the latest version was invalid */
};

struct store {
	struct hash_table entries; /* "namespace/name" -> struct store_entry */
	size_t n_rejected;
};

static void k8s_store_clear(struct store *store)
{
	struct hash_table_entry *entry;
	size_t i;

	HASH_TABLE_FOR_EACH(&store->entries, entry, i)
	{
		struct store_entry *e = entry->value;

		k8s_object_put(e->object);
		free(e);
	}
	hash_table_free(&store->entries);
	memset(store, 0, sizeof(*store));
}

/* Record a decoded version: object valid (reference taken) or NULL when it was rejected. */
static int k8s_store_put(struct store *store, const char *key, struct k8s_object *object)
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

static void k8s_store_delete(struct store *store, const char *key)
{
	struct store_entry *e = hash_table_remove_str(&store->entries, key);

	if (!e)
		return;
	if (e->is_rejected)
		store->n_rejected--;
	k8s_object_put(e->object);
	free(e);
}

/* ---- the client ------------------------------------------------------------------------ */

struct k8s_client;
struct watcher;
static void k8s_journal_add(struct watcher *w, const char *key);
static void k8s_journal_relisted(struct watcher *w);

struct watcher {
	struct k8s_client *client;
	const struct resource_type *type;
	pthread_t thread;
	bool has_thread;
	struct store store; /* guarded by client->lock */
	bool is_synced;	    /* guarded by client->lock */
	/* Keys changed since the agent last took the changes, or a whole new list (lock). */
	char **changed;
	size_t n_changed, cap_changed;
	bool is_relisted;
	char rv[K8S_RV_LEN];
	CURL *curl;
	/* The response being read. */
	char *body;
	size_t body_len, body_cap;
	bool is_watch;
	bool is_gone;	  /* 410: re-list now */
	bool is_garbage;  /* a bad event: re-list after back-off */
	long http_status; /* of the response being read, once known */
	unsigned long n_events;
	struct k8s_errors errors;
};

struct k8s_client {
	struct k8s_api_config config;
	pthread_mutex_t lock;
	pthread_cond_t stop_cond;
	atomic_bool is_stopping;
	int event_fd;
	struct watcher watchers[N_RESOURCES];
};

static void k8s_client_notify(struct k8s_client *client)
{
	uint64_t one = 1;

	if (write(client->event_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("api: notify: %s", strerror(errno));
}

/* Sleep ms unless the client stops; returns true when stopping. */
static bool k8s_client_sleep(struct k8s_client *client, unsigned int ms)
{
	struct timespec deadline;
	bool is_stopping;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&client->lock);
	while (!atomic_load(&client->is_stopping) &&
	       pthread_cond_timedwait(&client->stop_cond, &client->lock, &deadline) != ETIMEDOUT)
		;
	is_stopping = atomic_load(&client->is_stopping);
	pthread_mutex_unlock(&client->lock);
	return is_stopping;
}

/* ---- decoding API objects ---------------------------------------------------------------- */

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
		if (!value || yaml_tree_mapping_append(root, key, value))
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

/* ---- HTTP ------------------------------------------------------------------------------ */

static size_t k8s_watch_on_body(char *data, size_t size, size_t n, void *opaque);

static int xferinfo(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		    curl_off_t ulnow)
{
	struct watcher *w = opaque;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return atomic_load(&w->client->is_stopping) ? 1 : 0;
}

static int k8s_read_small_file(const char *path, char **out, size_t *size);

/* Set up the easy handle for one request of url. */
static int k8s_http_setup(struct watcher *w, const char *url, long timeout_ms,
			  struct curl_slist **headers)
{
	const struct k8s_api_config *config = &w->client->config;
	CURL *curl = w->curl;
	char *token = NULL, *header;
	size_t size;

	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)K8S_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	/* A dead peer under an idle watch is found by keepalive probes, not by waiting. */
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, k8s_watch_on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, xferinfo);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, w);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "sluice-agent");
	if (config->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, config->ca_file);
	if (config->ca_data) {
		struct curl_blob blob = {config->ca_data, config->ca_data_len, CURL_BLOB_COPY};

		curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (config->cert_file)
		curl_easy_setopt(curl, CURLOPT_SSLCERT, config->cert_file);
	if (config->key_file)
		curl_easy_setopt(curl, CURLOPT_SSLKEY, config->key_file);
	if (config->cert_data) {
		struct curl_blob blob = {config->cert_data, config->cert_data_len, CURL_BLOB_COPY};

		curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (config->key_data) {
		struct curl_blob blob = {config->key_data, config->key_data_len, CURL_BLOB_COPY};

		curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (config->is_insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (config->username) {
		curl_easy_setopt(curl, CURLOPT_USERNAME, config->username);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, config->password ? config->password : "");
	}
	*headers = curl_slist_append(NULL, "Accept: application/json");
	if (config->token_file && !k8s_read_small_file(config->token_file, &token, &size)) {
		while (size && (token[size - 1] == '\n' || token[size - 1] == '\r'))
			token[--size] = '\0';
	}
	if (token || config->token) {
		const char *value = token ? token : config->token;

		header = malloc(strlen(value) + 32);
		if (header) {
			sprintf(header, "Authorization: Bearer %s", value);
			*headers = curl_slist_append(*headers, header);
			free(header);
		}
	}
	free(token);
	if (!*headers)
		return -ENOMEM;
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
	w->body_len = 0;
	w->http_status = 0;
	w->is_gone = w->is_garbage = false;
	return 0;
}

/* A Status object's code and message, for logs (best effort). */
static long k8s_http_status_code(const char *body, size_t len, char *message, size_t message_size)
{
	char error[64];
	struct json_object *value = k8s_json_parse(body, len, error, sizeof(error)), *field;
	long code = 0;

	message[0] = '\0';
	if (!value)
		return 0;
	if (json_object_object_get_ex(value, "code", &field) &&
	    json_object_is_type(field, json_type_int))
		code = (long)json_object_get_int64(field);
	if (json_object_object_get_ex(value, "message", &field) &&
	    json_object_is_type(field, json_type_string))
		snprintf(message, message_size, "%s", json_object_get_string(field));
	json_object_put(value);
	return code;
}

/* ---- watch events ------------------------------------------------------------------------ */

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
static size_t k8s_watch_on_body(char *data, size_t size, size_t n, void *opaque)
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

/* ---- list and watch ---------------------------------------------------------------------- */

/* Append ?/& name=value (value URL-escaped) to url. */
static void k8s_http_url_param(CURL *curl, char *url, size_t size, const char *name,
			       const char *value)
{
	char *escaped = curl_easy_escape(curl, value, 0);
	size_t used = strlen(url);

	snprintf(url + used, size - used, "%s%s=%s", strchr(url, '?') ? "&" : "?", name,
		 escaped ? escaped : "");
	curl_free(escaped);
}

/* Perform the request; returns 0 for a 200 response, -ESTALE for 410, else -EIO (logged). */
static int k8s_http_perform(struct watcher *w, const char *what)
{
	char message[256];
	CURLcode code;
	long status = 0;

	code = curl_easy_perform(w->curl);
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	if (atomic_load(&w->client->is_stopping))
		return -EINTR;
	if (w->is_gone)
		return -ESTALE;
	if (status && status != 200) {
		long reason = k8s_http_status_code(w->body, w->body_len, message, sizeof(message));

		if (status == 410 || reason == 410)
			return -ESTALE;
		log_warn("api: %s: %s: HTTP %ld%s%s", w->type->name, what, status,
			 message[0] ? ": " : "", message);
		return -EIO;
	}
	if (w->is_garbage)
		return -EIO;
	if (code != CURLE_OK) {
		/* A watch that the server or a timeout ends is the normal end of a stream. */
		if (w->is_watch &&
		    (code == CURLE_OPERATION_TIMEDOUT || code == CURLE_PARTIAL_FILE ||
		     code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING) &&
		    status == 200)
			return -ECONNRESET;
		log_warn("api: %s: %s: %s", w->type->name, what, curl_easy_strerror(code));
		return -EIO;
	}
	return 0;
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

static uint64_t k8s_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
		snprintf(url, sizeof(url), "%s%s", client->config.server, w->type->path);
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
	snprintf(url, sizeof(url), "%s%s?watch=1", client->config.server, w->type->path);
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

static void *k8s_watcher_main(void *opaque)
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

/* ---- the change journal ------------------------------------------------------------------ */

static void k8s_journal_clear(struct watcher *w)
{
	while (w->n_changed)
		free(w->changed[--w->n_changed]);
	free(w->changed);
	w->changed = NULL;
	w->cap_changed = 0;
}

/* A new list: every object may have changed (client->lock held). */
static void k8s_journal_relisted(struct watcher *w)
{
	k8s_journal_clear(w);
	w->is_relisted = true;
}

/*
 * key changed (client->lock held). Out of memory, or more keys than the store holds plus a
 * margin (the agent has not looked for long): the whole resource counts as changed.
 */
static void k8s_journal_add(struct watcher *w, const char *key)
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
			HASH_TABLE_FOR_EACH(&store->entries, entry, b)
			{
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

/* ---- public ------------------------------------------------------------------------------ */

int k8s_client_fd(const struct k8s_client *client)
{
	return client->event_fd;
}

void k8s_client_drain(struct k8s_client *client)
{
	uint64_t value;

	while (read(client->event_fd, &value, sizeof(value)) > 0)
		;
}

bool k8s_client_is_synced(struct k8s_client *client)
{
	bool is_synced = true;
	size_t i;

	pthread_mutex_lock(&client->lock);
	for (i = 0; i < N_RESOURCES; i++)
		is_synced &= client->watchers[i].is_synced;
	pthread_mutex_unlock(&client->lock);
	return is_synced;
}

int k8s_client_snapshot(struct k8s_client *client, struct k8s_object ***objects, size_t *count,
			uint32_t *rejected)
{
	struct hash_table_entry *entry;
	size_t i, b, n = 0;
	struct k8s_object **out;

	*objects = NULL;
	*count = 0;
	*rejected = 0;
	pthread_mutex_lock(&client->lock);
	for (i = 0; i < N_RESOURCES; i++) {
		n += client->watchers[i].store.entries.count;
		*rejected += (uint32_t)client->watchers[i].store.n_rejected;
	}
	out = malloc((n ? n : 1) * sizeof(*out));
	if (!out) {
		pthread_mutex_unlock(&client->lock);
		return -ENOMEM;
	}
	for (i = 0; i < N_RESOURCES; i++) {
		const struct store *store = &client->watchers[i].store;

		HASH_TABLE_FOR_EACH(&store->entries, entry, b)
		{
			const struct store_entry *e = entry->value;

			if (!e->object)
				continue;
			k8s_object_get(e->object);
			out[(*count)++] = e->object;
		}
	}
	pthread_mutex_unlock(&client->lock);
	*objects = out;
	return 0;
}

void k8s_client_release(struct k8s_client *client, struct k8s_object **objects, size_t count)
{
	size_t i;

	pthread_mutex_lock(&client->lock);
	for (i = 0; i < count; i++)
		k8s_object_put(objects[i]);
	pthread_mutex_unlock(&client->lock);
	free(objects);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *dup_bytes(const char *s, size_t n)
{
	char *p;

	if (!s)
		return NULL;
	p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static int k8s_api_config_copy(struct k8s_api_config *dst, const struct k8s_api_config *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->server = dup_or_null(src->server);
	dst->ca_file = dup_or_null(src->ca_file);
	dst->ca_data = dup_bytes(src->ca_data, src->ca_data_len);
	dst->ca_data_len = src->ca_data_len;
	dst->cert_file = dup_or_null(src->cert_file);
	dst->key_file = dup_or_null(src->key_file);
	dst->cert_data = dup_bytes(src->cert_data, src->cert_data_len);
	dst->cert_data_len = src->cert_data_len;
	dst->key_data = dup_bytes(src->key_data, src->key_data_len);
	dst->key_data_len = src->key_data_len;
	dst->token = dup_or_null(src->token);
	dst->token_file = dup_or_null(src->token_file);
	dst->username = dup_or_null(src->username);
	dst->password = dup_or_null(src->password);
	dst->tls_server_name = dup_or_null(src->tls_server_name);
	dst->is_insecure = src->is_insecure;
	if (!dst->server || (src->ca_file && !dst->ca_file) || (src->ca_data && !dst->ca_data) ||
	    (src->cert_file && !dst->cert_file) || (src->key_file && !dst->key_file) ||
	    (src->cert_data && !dst->cert_data) || (src->key_data && !dst->key_data) ||
	    (src->token && !dst->token) || (src->token_file && !dst->token_file) ||
	    (src->username && !dst->username) || (src->password && !dst->password) ||
	    (src->tls_server_name && !dst->tls_server_name)) {
		k8s_api_config_free(dst);
		return -ENOMEM;
	}
	return 0;
}

void k8s_client_stop(struct k8s_client *client)
{
	size_t i;

	if (!client)
		return;
	pthread_mutex_lock(&client->lock);
	atomic_store(&client->is_stopping, true);
	pthread_cond_broadcast(&client->stop_cond);
	pthread_mutex_unlock(&client->lock);
	for (i = 0; i < N_RESOURCES; i++) {
		struct watcher *w = &client->watchers[i];

		if (w->has_thread)
			pthread_join(w->thread, NULL);
		if (w->curl)
			curl_easy_cleanup(w->curl);
		k8s_store_clear(&w->store);
		k8s_journal_clear(w);
		k8s_errors_free(&w->errors);
		free(w->body);
	}
	if (client->event_fd >= 0)
		close(client->event_fd);
	pthread_cond_destroy(&client->stop_cond);
	pthread_mutex_destroy(&client->lock);
	k8s_api_config_free(&client->config);
	free(client);
}

int k8s_client_start(const struct k8s_api_config *config, struct k8s_client **out)
{
	struct k8s_client *client;
	size_t i;
	int err;

	*out = NULL;
	/* Before any thread: curl's global state is not thread-safe to set up. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -ENOMEM;
	client = calloc(1, sizeof(*client));
	if (!client)
		return -ENOMEM;
	client->event_fd = -1;
	pthread_mutex_init(&client->lock, NULL);
	pthread_cond_init(&client->stop_cond, NULL);
	err = k8s_api_config_copy(&client->config, config);
	if (err) {
		free(client);
		return err;
	}
	client->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (client->event_fd < 0) {
		err = -errno;
		goto fail;
	}
	srand((unsigned int)(k8s_now_ms() ^ (uint64_t)getpid()));
	for (i = 0; i < N_RESOURCES; i++) {
		struct watcher *w = &client->watchers[i];

		w->client = client;
		w->type = &resource_types[i];
		w->curl = curl_easy_init();
		if (!w->curl) {
			err = -ENOMEM;
			goto fail;
		}
	}
	for (i = 0; i < N_RESOURCES; i++) {
		struct watcher *w = &client->watchers[i];

		err = -pthread_create(&w->thread, NULL, k8s_watcher_main, w);
		if (err)
			goto fail;
		w->has_thread = true;
	}
	log_info("api: watching %zu resources at %s", N_RESOURCES, client->config.server);
	*out = client;
	return 0;
fail:
	k8s_client_stop(client);
	return err;
}

/* ---- configuration ------------------------------------------------------------------------ */

void k8s_api_config_free(struct k8s_api_config *config)
{
	free(config->server);
	free(config->ca_file);
	free(config->ca_data);
	free(config->cert_file);
	free(config->key_file);
	free(config->cert_data);
	free(config->key_data);
	free(config->token);
	free(config->token_file);
	free(config->username);
	free(config->password);
	free(config->tls_server_name);
	memset(config, 0, sizeof(*config));
}

static int k8s_read_small_file(const char *path, char **out, size_t *size)
{
	char *buffer;
	size_t length = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), err = 0;

	*out = NULL;
	if (fd < 0)
		return -errno;
	buffer = malloc(K8S_MAX_FILE + 1);
	if (!buffer) {
		close(fd);
		return -ENOMEM;
	}
	while (length <= K8S_MAX_FILE) {
		n = read(fd, buffer + length, K8S_MAX_FILE + 1 - length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (!n)
			break;
		length += (size_t)n;
	}
	close(fd);
	if (!err && length > K8S_MAX_FILE)
		err = -EFBIG;
	if (err) {
		free(buffer);
		return err;
	}
	buffer[length] = '\0';
	*out = buffer;
	*size = length;
	return 0;
}

/* Standard base64 (kubeconfig *-data fields); whitespace ignored. Returns 0 or -EINVAL. */
static int base64_decode(const char *text, char **out, size_t *size)
{
	size_t n = strlen(text), i, used = 0;
	uint32_t acc = 0;
	int bits = 0;
	char *p = malloc(n / 4 * 3 + 4);

	if (!p)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		char c = text[i];
		int v;

		if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t')
			continue;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else {
			free(p);
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[used++] = (char)((acc >> bits) & 0xff);
		}
	}
	p[used] = '\0';
	*out = p;
	*size = used;
	return 0;
}

/* A path from the kubeconfig, relative to its directory unless absolute. */
static char *resolve_path(const char *dir, const char *path)
{
	char *out;

	if (path[0] == '/' || !dir[0])
		return strdup(path);
	out = malloc(strlen(dir) + strlen(path) + 2);
	if (out)
		sprintf(out, "%s/%s", dir, path);
	return out;
}

/* The entry of list (clusters, contexts, users) named name: its inner mapping under key. */
static const struct yaml_tree_node *named_entry(const struct yaml_tree_node *list, const char *name,
						const char *key)
{
	size_t i;

	if (!list || list->type != YAML_TREE_SEQUENCE)
		return NULL;
	for (i = 0; i < list->sequence.count; i++) {
		const struct yaml_tree_node *item = list->sequence.items[i];
		const char *item_name = yaml_tree_string(yaml_tree_get(item, "name"));

		if (item_name && !strcmp(item_name, name)) {
			const struct yaml_tree_node *inner = yaml_tree_get(item, key);

			return inner && inner->type == YAML_TREE_MAPPING ? inner : NULL;
		}
	}
	return NULL;
}

int k8s_kubeconfig_load(const char *path, struct k8s_api_config *config, char *error,
			size_t error_size)
{
	const struct yaml_tree_node *root, *context, *cluster, *user;
	const char *current, *cluster_name, *user_name, *value;
	char message[YAML_TREE_ERROR_LEN], dir[4096];
	struct yaml_tree tree;
	char *text = NULL;
	size_t size, i;
	unsigned int line;
	bool is_insecure = false;
	int err;

	memset(config, 0, sizeof(*config));
	yaml_tree_init(&tree);
	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	else
		dir[0] = '\0';
	err = k8s_read_small_file(path, &text, &size);
	if (err) {
		snprintf(error, error_size, "kubeconfig %s: %s", path, strerror(-err));
		return err;
	}
	err = yaml_tree_parse(&tree, text, size, &line, message, sizeof(message));
	free(text);
	if (err) {
		snprintf(error, error_size, "kubeconfig %s:%u: %s", path, line, message);
		return err;
	}
	err = -EINVAL;
	root = tree.n_documents ? tree.documents[0] : NULL;
	current = yaml_tree_string(yaml_tree_get(root, "current-context"));
	if (!current || !*current) {
		snprintf(error, error_size, "kubeconfig %s: current-context: is required", path);
		goto cleanup;
	}
	context = named_entry(yaml_tree_get(root, "contexts"), current, "context");
	cluster_name = yaml_tree_string(yaml_tree_get(context, "cluster"));
	user_name = yaml_tree_string(yaml_tree_get(context, "user"));
	if (!context || !cluster_name) {
		snprintf(error, error_size,
			 "kubeconfig %s: contexts: no context \"%.64s\" with a "
			 "cluster",
			 path, current);
		goto cleanup;
	}
	cluster = named_entry(yaml_tree_get(root, "clusters"), cluster_name, "cluster");
	value = yaml_tree_string(yaml_tree_get(cluster, "server"));
	if (!value || (strncmp(value, "https://", 8) && strncmp(value, "http://", 7))) {
		snprintf(error, error_size,
			 "kubeconfig %s: clusters[%.64s].server: an https:// URL "
			 "is required",
			 path, cluster_name);
		goto cleanup;
	}
	config->server = strdup(value);
	if (config->server) {
		size_t n = strlen(config->server);

		while (n && config->server[n - 1] == '/')
			config->server[--n] = '\0';
	}
	yaml_tree_bool(yaml_tree_get(cluster, "insecure-skip-tls-verify"), &is_insecure);
	config->is_insecure = is_insecure;
	if ((value = yaml_tree_string(yaml_tree_get(cluster, "certificate-authority"))))
		config->ca_file = resolve_path(dir, value);
	if ((value = yaml_tree_string(yaml_tree_get(cluster, "certificate-authority-data"))) &&
	    base64_decode(value, &config->ca_data, &config->ca_data_len)) {
		snprintf(error, error_size,
			 "kubeconfig %s: clusters[%.64s]."
			 "certificate-authority-data: not base64",
			 path, cluster_name);
		goto cleanup;
	}
	if ((value = yaml_tree_string(yaml_tree_get(cluster, "tls-server-name"))))
		config->tls_server_name = strdup(value);

	user = user_name ? named_entry(yaml_tree_get(root, "users"), user_name, "user") : NULL;
	if (user && (yaml_tree_get(user, "exec") || yaml_tree_get(user, "auth-provider"))) {
		snprintf(error, error_size,
			 "kubeconfig %s: users[%.64s]: exec and auth-provider "
			 "plugins are not supported; use a token or a client certificate",
			 path, user_name);
		goto cleanup;
	}
	static const char *const files[] = {"client-certificate", "client-key", "tokenFile"};
	char **file_fields[] = {&config->cert_file, &config->key_file, &config->token_file};

	for (i = 0; i < 3; i++) {
		if ((value = yaml_tree_string(yaml_tree_get(user, files[i]))))
			*file_fields[i] = resolve_path(dir, value);
	}
	static const char *const datas[] = {"client-certificate-data", "client-key-data"};
	char **data_fields[] = {&config->cert_data, &config->key_data};
	size_t *data_lens[] = {&config->cert_data_len, &config->key_data_len};

	for (i = 0; i < 2; i++) {
		if ((value = yaml_tree_string(yaml_tree_get(user, datas[i]))) &&
		    base64_decode(value, data_fields[i], data_lens[i])) {
			snprintf(error, error_size, "kubeconfig %s: users[%.64s].%s: not base64",
				 path, user_name, datas[i]);
			goto cleanup;
		}
	}
	if ((value = yaml_tree_string(yaml_tree_get(user, "token"))))
		config->token = strdup(value);
	if ((value = yaml_tree_string(yaml_tree_get(user, "username"))))
		config->username = strdup(value);
	if ((value = yaml_tree_string(yaml_tree_get(user, "password"))))
		config->password = strdup(value);
	err = config->server ? 0 : -ENOMEM;
cleanup:
	if (err)
		k8s_api_config_free(config);
	yaml_tree_free(&tree);
	return err;
}

int k8s_in_cluster_load(struct k8s_api_config *config, char *error, size_t error_size)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = getenv("SLUICE_SERVICEACCOUNT_DIR");
	char path[4096];
	struct stat st;

	memset(config, 0, sizeof(*config));
	if (!dir || !*dir)
		dir = K8S_SERVICEACCOUNT_DIR;
	if (!host || !*host || !port || !*port) {
		snprintf(error, error_size,
			 "--in-cluster: KUBERNETES_SERVICE_HOST and "
			 "KUBERNETES_SERVICE_PORT must be set (is this a pod?)");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/token", dir);
	if (stat(path, &st)) {
		snprintf(error, error_size, "--in-cluster: %s: %s", path, strerror(errno));
		return -errno;
	}
	config->server = malloc(strlen(host) + strlen(port) + 16);
	config->token_file = strdup(path);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	config->ca_file = strdup(path);
	if (!config->server || !config->token_file || !config->ca_file) {
		k8s_api_config_free(config);
		return -ENOMEM;
	}
	/* An IPv6 service host needs brackets in a URL. */
	sprintf(config->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		port);
	return 0;
}
