// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes API client: one watcher thread per resource (k8s_watch.c), started, woken
 * and stopped here.
 *
 * Why a thread per watch rather than curl multi in the agent's poll loop: each watch is a long,
 * mostly idle stream with its own state machine (list pages, watch, 410, back-off), and
 * blocking code per resource keeps that machine a plain loop. Six threads cost nothing next to
 * the agent; the agent's loop stays single-threaded and only sees an eventfd and a snapshot
 * taken under one mutex, which also guards every object reference count.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "lib/log.h"
#include "loader/sources/k8s_client_internal.h"

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

void k8s_client_notify(struct k8s_client *client)
{
	uint64_t one = 1;

	if (write(client->event_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("api: notify: %s", strerror(errno));
}

/* Sleep ms unless the client stops; returns true when stopping. */
bool k8s_client_sleep(struct k8s_client *client, unsigned int ms)
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

uint64_t k8s_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

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
	free(client->base_url);
	curl_slist_free_all(client->connect_to);
	free(client->host_header);
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
	err = k8s_http_target_init(client);
	if (err)
		goto fail;
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
	log_info("api: watching %zu resources at %s%s%s", N_RESOURCES, client->config.server,
		 client->connect_to ? ", certificate checked for " : "",
		 client->connect_to ? client->config.tls_server_name : "");
	*out = client;
	return 0;
fail:
	k8s_client_stop(client);
	return err;
}

_Static_assert(sizeof(resource_types) / sizeof(resource_types[0]) == N_RESOURCES,
	       "N_RESOURCES counts resource_types[]");
