/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes API as a source of objects: list then watch Services, EndpointSlices, Pods,
 * Namespaces, Nodes and NetworkPolicies over HTTPS (libcurl), JSON (json-c) decoded by
 * loader/k8s/objects.c, into a store whose changes the agent takes as a change list
 * (loader/sources/change.h).
 */
#ifndef SLUICE_K8S_CLIENT_H
#define SLUICE_K8S_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/k8s/objects.h"
#include "loader/sources/change.h"

/* Where in-cluster credentials live (SLUICE_SERVICEACCOUNT_DIR overrides it, for tests). */
#define K8S_SERVICEACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Timeouts and back-off, in ms unless named otherwise. */
#define K8S_CONNECT_TIMEOUT_MS 5000
#define K8S_LIST_TIMEOUT_MS    60000	   /* one page of a list */
#define K8S_WATCH_TIMEOUT_S    300	   /* server-side timeoutSeconds of a watch (+ up to 25%) */
#define K8S_BACKOFF_MIN_MS     200	   /* first retry after a failure */
#define K8S_BACKOFF_MAX_MS     30000	   /* doubling stops here (client-go's reflector: 30 s) */
#define K8S_LIST_PAGE	       500	   /* items per list page (client-go's default) */
#define K8S_MAX_BODY	       (64u << 20) /* bytes of one list page or one watch event */

/* Where the API server is and who we are to it, from a kubeconfig or the pod's account. */
struct k8s_api_config {
	char *server;  /* "https://host:port" (http:// only without credentials) */
	char *ca_file; /* certificate-authority path, or NULL */
	char *ca_data; /* certificate-authority-data, decoded PEM, or NULL */
	size_t ca_data_len;
	char *cert_file, *key_file; /* client certificate and key paths */
	char *cert_data, *key_data; /* ... or their decoded PEM */
	size_t cert_data_len, key_data_len;
	char *token;	  /* bearer token, or NULL */
	char *token_file; /* re-read on every request (bound tokens rotate) */
	char *username, *password;
	char *tls_server_name; /* name the certificate is checked for, or NULL: the server's */
	bool is_insecure;      /* insecure-skip-tls-verify */
};

void k8s_api_config_free(struct k8s_api_config *config);

/*
 * Read the current context of a kubeconfig file. Relative paths are resolved against the
 * file's directory. Returns 0, or -errno with a message naming the file and field in error.
 */
int k8s_kubeconfig_load(const char *path, struct k8s_api_config *config, char *error,
			size_t error_size);

/*
 * In-cluster: the service account's token file and CA, at SERVER when given (--k8s-api-server:
 * the API server's own address, for a cluster whose `kubernetes` ClusterIP nothing translates
 * yet), else at KUBERNETES_SERVICE_HOST/PORT.
 */
int k8s_in_cluster_load(struct k8s_api_config *config, const char *server, char *error,
			size_t error_size);

/*
 * --k8s-api-server URL (or SLUICE_K8S_API_SERVER), as Cilium's k8s-api-server: https://HOST[:PORT],
 * http://HOST[:PORT] or HOST[:PORT] (https assumed), without a path. Returns a new string
 * "scheme://host[:port]" in *out, or -EINVAL with error naming what is wrong.
 */
int k8s_api_server_parse(const char *url, char **out, char *error, size_t error_size);

/*
 * The server of CONFIG (a kubeconfig's) becomes SERVER, its credentials kept. Refused as the
 * kubeconfig's own http:// server is: credentials never travel over http://. Returns 0 or
 * -EINVAL / -ENOMEM with error.
 */
int k8s_api_config_set_server(struct k8s_api_config *config, const char *server, char *error,
			      size_t error_size);

struct k8s_client;

/*
 * Start one watcher thread per resource (config is copied). Returns 0 or -errno. The client's
 * fd becomes readable whenever the store changed.
 */
int k8s_client_start(const struct k8s_api_config *config, struct k8s_client **out);
/* Stop the watchers and free everything (objects still held by a snapshot stay valid). */
void k8s_client_stop(struct k8s_client *client);

int k8s_client_fd(const struct k8s_client *client);
/* Reset the fd's readiness (call before taking a snapshot, so no change is missed). */
void k8s_client_drain(struct k8s_client *client);
/* Every resource has been listed at least once. */
bool k8s_client_is_synced(struct k8s_client *client);

/*
 * What changed in the store since the last call (the first call: everything), as one change
 * per key: CHANGED with its last good version (a reference the list holds), or REMOVED when it
 * has none. A resource that was listed anew has its bit in changes->relisted and all its
 * objects in the list. A key may come more than once. Give the list back with
 * k8s_client_changes_free(). *rejected is how many of the store's latest versions were invalid
 * (their last good version, if any, stays in force). Returns 0 or -ENOMEM (nothing taken: the same
 * changes come again).
 */
int k8s_client_changes(struct k8s_client *client, struct k8s_change_list *changes,
		       uint32_t *rejected);
/* Release what the list still holds (under the store's lock) and free it. */
void k8s_client_changes_free(struct k8s_client *client, struct k8s_change_list *changes);
/* Give back one reference taken from a change (under the store's lock). */
void k8s_client_put(struct k8s_client *client, struct k8s_object *object);

#endif
