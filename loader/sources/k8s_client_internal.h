/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes API client's insides, shared by its files: k8s_client.c (threads, start and
 * stop), k8s_store.c (the store and its change journal), k8s_http.c (requests),
 * k8s_watch.c (list and watch) and k8s_kubeconfig.c (configuration). Not for other modules.
 */
#ifndef SLUICE_K8S_CLIENT_INTERNAL_H
#define SLUICE_K8S_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "lib/hash_table.h"
#include "loader/sources/k8s_client.h"

#define K8S_RV_LEN	 128 /* resourceVersion is opaque; real ones are short decimals */
#define K8S_CONTINUE_LEN 4096
#define K8S_MAX_FILE	 (1u << 20)  /* kubeconfig, token, CA file */
#define N_RESOURCES	 ((size_t)6) /* resource_types[] in k8s_client.c */

struct resource_type {
	const char *name; /* for logs: "services" */
	const char *path; /* collection path, all namespaces */
	enum k8s_kind kind;
	const char *api_version;
};

struct store_entry {
	struct k8s_object *object; /* last good version, or NULL when never valid */
	bool is_rejected;	   /* the latest version was invalid */
};

struct store {
	struct hash_table entries; /* "namespace/name" -> struct store_entry */
	size_t n_rejected;
};

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
	/* Where requests go (k8s_http_target_init): URLs start with base_url; with tls-server-name
	 * connect_to and host_header take them to the server itself. */
	char *base_url;
	struct curl_slist *connect_to; /* NULL without tls-server-name */
	char *host_header;	       /* "Host: <server's authority>", or NULL */
	pthread_mutex_t lock;
	pthread_cond_t stop_cond;
	atomic_bool is_stopping;
	int event_fd;
	struct watcher watchers[N_RESOURCES];
};

/* The store of one resource ("namespace/name" -> last good object), under client->lock. */
void k8s_store_clear(struct store *store);
int k8s_store_put(struct store *store, const char *key, struct k8s_object *object);
void k8s_store_delete(struct store *store, const char *key);

/* The change journal of one watcher (client->lock held). */
void k8s_journal_add(struct watcher *w, const char *key);
void k8s_journal_relisted(struct watcher *w);
void k8s_journal_clear(struct watcher *w);

/* Wake the agent: the store changed. */
void k8s_client_notify(struct k8s_client *client);
bool k8s_client_sleep(struct k8s_client *client, unsigned int ms);
uint64_t k8s_now_ms(void);

/* Where requests go: client->base_url, connect_to, host_header. Returns 0, -EINVAL or -ENOMEM. */
int k8s_http_target_init(struct k8s_client *client);
/* One request of the watcher's easy handle. */
int k8s_http_setup(struct watcher *w, const char *url, long timeout_ms,
		   struct curl_slist **headers);
int k8s_http_perform(struct watcher *w, const char *what);
void k8s_http_url_param(CURL *curl, char *url, size_t size, const char *name, const char *value);
long k8s_http_status_code(const char *body, size_t len, char *message, size_t message_size);

/* curl's write callback (k8s_watch.c) and the watcher thread. */
size_t k8s_watch_on_body(char *data, size_t size, size_t n, void *opaque);
void *k8s_watcher_main(void *opaque);

/* Configuration helpers (k8s_kubeconfig.c). */
int k8s_read_small_file(const char *path, char **out, size_t *size);
int k8s_api_config_copy(struct k8s_api_config *dst, const struct k8s_api_config *src);

#endif
