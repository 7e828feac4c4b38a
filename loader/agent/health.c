// SPDX-License-Identifier: Apache-2.0
/* Owns the healthCheckNodePort responder: its thread, listening sockets and client connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "loader/agent/health.h"
#include "loader/agent/metrics.h"
#include "lib/log.h"

struct health_listener {
	uint16_t port; /* host order */
	uint32_t address;
	int fd;
	bool is_proxy;	 /* --healthz-addr, not a healthCheckNodePort */
	bool is_metrics; /* --metrics-addr */
};

struct health_client {
	int fd; /* -1: free */
	uint16_t port;
	bool is_proxy, is_metrics;
	size_t len;
	uint64_t deadline_ms;
	char buf[HEALTH_REQUEST_MAX];
	/* The answer while it is being sent (a metrics page may not fit the socket at once). */
	char *out;
	size_t out_len, out_sent;
};

struct health {
	pthread_t thread;
	bool is_thread_started;
	int wake_fd;
	pthread_mutex_t lock;
	/* Under lock: what health_update() asked for, picked up by the thread. */
	struct lb_health_check *want;
	size_t n_want;
	uint32_t *want_addresses;
	size_t n_want_addresses;
	bool is_changed, is_stopping;
	/* Under lock: the proxy endpoint's address and state. */
	bool is_proxy_wanted, is_proxy_open;
	uint32_t proxy_address;
	uint16_t proxy_port;
	uint64_t proxy_retry_ms;
	struct health_proxy_view proxy;
	/* Under lock: the metrics endpoint's address; the metrics themselves lock on their own. */
	bool is_metrics_wanted, is_metrics_open;
	uint32_t metrics_address;
	uint16_t metrics_port;
	uint64_t metrics_retry_ms;
	struct metrics *metrics;
	/* The thread's own. */
	struct lb_health_check *checks;
	size_t n_checks;
	struct health_listener *listeners;
	size_t n_listeners;
	struct health_client clients[HEALTH_MAX_CLIENTS];
	atomic_size_t n_ports;
};

static uint64_t health_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The one HTTP answer both endpoints give: 200 (IS_OK) or 503 with the JSON BODY, as
 * kube-proxy's; the request's connection is closed after it. Returns its length or -ENOSPC.
 */
static int health_http_json(bool is_ok, const char *body, int body_len, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
			 "X-Content-Type-Options: nosniff\r\nContent-Length: %d\r\n"
			 "Connection: close\r\n\r\n%s",
			 is_ok ? "200 OK" : "503 Service Unavailable", body_len, body);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* A 404 for a port or path nothing serves. Returns its length or -ENOSPC. */
static int health_http_not_found(char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
			 "Connection: close\r\n\r\n");

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int health_format_response(const struct lb_health_check *check, char *buf, size_t len)
{
	char name[SLUICE_NAME_LEN], body[256];
	const char *ns = "", *svc;
	char *slash;
	int body_len;

	snprintf(name, sizeof(name), "%s", check->name);
	slash = strchr(name, '/');
	if (slash) {
		*slash = '\0';
		ns = name;
		svc = slash + 1;
	} else {
		svc = name;
	}
	/* Names are Kubernetes DNS labels: nothing in them needs JSON escaping. */
	body_len = snprintf(body, sizeof(body),
			    "{\"service\":{\"namespace\":\"%s\",\"name\":\"%s\"},"
			    "\"localEndpoints\":%u,\"serviceProxyHealthy\":true}\n",
			    ns, svc, check->local_endpoints);
	if ((size_t)body_len >= sizeof(body))
		return -ENOSPC;
	return health_http_json(check->local_endpoints, body, body_len, buf, len);
}

static const struct lb_health_check *health_find(const struct health *h, uint16_t port)
{
	for (size_t i = 0; i < h->n_checks; i++)
		if (h->checks[i].port == port)
			return &h->checks[i];
	return NULL;
}

static int health_listen(uint16_t port, uint32_t address)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd, one = 1;

	sin.sin_addr.s_addr = address;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The address may not be configured yet (a Node object ahead of the interface). */
	setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 64)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static bool health_wants(const struct health *h, uint16_t port, uint32_t address,
			 const uint32_t *addresses, size_t n_addresses)
{
	bool has_port = health_find(h, port) != NULL, has_address = false;

	for (size_t i = 0; i < n_addresses; i++)
		has_address |= addresses[i] == address;
	return has_port && has_address;
}

/* Make the listeners match h->checks on ADDRESSES: close the unwanted, open the missing. */
static void health_reconcile(struct health *h, const uint32_t *addresses, size_t n_addresses)
{
	size_t kept = 0, ports = 0;

	for (size_t i = 0; i < h->n_listeners; i++) {
		struct health_listener *l = &h->listeners[i];

		if (l->is_proxy || l->is_metrics ||
		    health_wants(h, l->port, l->address, addresses, n_addresses))
			h->listeners[kept++] = *l;
		else
			close(l->fd);
	}
	h->n_listeners = kept;
	for (size_t i = 0; i < h->n_checks; i++) {
		uint16_t port = h->checks[i].port;
		bool is_duplicate = false;

		for (size_t j = 0; j < i; j++)
			is_duplicate |= h->checks[j].port == port;
		if (is_duplicate || !port)
			continue;
		ports++;
		for (size_t a = 0; a < n_addresses; a++) {
			bool is_open = false;
			char text[INET_ADDRSTRLEN];
			int fd;

			for (size_t j = 0; j < h->n_listeners; j++)
				is_open |= h->listeners[j].port == port &&
					   h->listeners[j].address == addresses[a];
			if (is_open)
				continue;
			struct health_listener *grown =
			    realloc(h->listeners, (h->n_listeners + 1) * sizeof(*grown));

			if (!grown)
				return;
			h->listeners = grown;
			fd = health_listen(port, addresses[a]);
			if (fd < 0) {
				inet_ntop(AF_INET, &addresses[a], text, sizeof(text));
				log_warn("healthCheckNodePort %s:%u (service %s): %s", text, port,
					 h->checks[i].name, strerror(-fd));
				continue;
			}
			h->listeners[h->n_listeners++] = (struct health_listener){
			    .port = port, .address = addresses[a], .fd = fd};
		}
	}
	atomic_store(&h->n_ports, ports);
}

/*
 * Open the --healthz-addr or --metrics-addr listener (under the lock); a failure is said once
 * and retried every second. Returns whether it is open.
 */
static bool health_open_extra(struct health *h, uint32_t address, uint16_t port, uint64_t *retry_ms,
			      bool is_metrics)
{
	struct health_listener *grown;
	char text[INET_ADDRSTRLEN];
	uint64_t now = health_now_ms();
	int fd;

	if (now < *retry_ms)
		return false;
	grown = realloc(h->listeners, (h->n_listeners + 1) * sizeof(*grown));
	if (!grown)
		return false;
	h->listeners = grown;
	fd = health_listen(port, address);
	if (fd < 0) {
		if (!*retry_ms) {
			inet_ntop(AF_INET, &address, text, sizeof(text));
			log_warn("%s %s:%u: %s; retrying every second",
				 is_metrics ? "metrics" : "healthz", text, port, strerror(-fd));
		}
		*retry_ms = now + 1000;
		return false;
	}
	h->listeners[h->n_listeners++] = (struct health_listener){.port = port,
								  .address = address,
								  .fd = fd,
								  .is_proxy = !is_metrics,
								  .is_metrics = is_metrics};
	return true;
}

/* Take what health_update() left, under the lock. */
static bool health_pick_up(struct health *h)
{
	uint32_t any = 0, *addresses;
	size_t n_addresses;
	bool is_stopping;

	pthread_mutex_lock(&h->lock);
	is_stopping = h->is_stopping;
	if (h->is_changed && !is_stopping) {
		free(h->checks);
		h->checks = h->want;
		h->n_checks = h->n_want;
		h->want = NULL;
		h->n_want = 0;
		addresses = h->want_addresses;
		n_addresses = h->n_want_addresses;
		h->want_addresses = NULL;
		h->n_want_addresses = 0;
		h->is_changed = false;
		health_reconcile(h, n_addresses ? addresses : &any, n_addresses ? n_addresses : 1);
		free(addresses);
	}
	if (h->is_proxy_wanted && !h->is_proxy_open && !is_stopping)
		h->is_proxy_open = health_open_extra(h, h->proxy_address, h->proxy_port,
						     &h->proxy_retry_ms, false);
	if (h->is_metrics_wanted && !h->is_metrics_open && !is_stopping)
		h->is_metrics_open = health_open_extra(h, h->metrics_address, h->metrics_port,
						       &h->metrics_retry_ms, true);
	pthread_mutex_unlock(&h->lock);
	return !is_stopping;
}

static void health_client_close(struct health_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_sent = 0;
}

static void health_accept(struct health *h, const struct health_listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct health_client *slot = NULL;

		if (fd < 0)
			return;
		for (size_t i = 0; i < HEALTH_MAX_CLIENTS && !slot; i++)
			if (h->clients[i].fd < 0)
				slot = &h->clients[i];
		if (!slot) {
			close(fd); /* full: the prober retries */
			continue;
		}
		slot->fd = fd;
		slot->port = l->port;
		slot->is_proxy = l->is_proxy;
		slot->is_metrics = l->is_metrics;
		slot->len = 0;
		slot->deadline_ms = health_now_ms() + HEALTH_CLIENT_TIMEOUT_MS;
	}
}

/*
 * Go's time.Time.String() of a CLOCK_REALTIME instant, in UTC as kube-proxy runs it:
 * "2026-12-03 07:40:00.123456789 +0000 UTC", trailing zeros of the fraction dropped; 0 is Go's
 * zero time.
 */
static void health_go_time(uint64_t ns, char *buf, size_t len)
{
	time_t seconds = (time_t)(ns / 1000000000u);
	char fraction[16] = "";
	struct tm tm;
	unsigned long nanos = (unsigned long)(ns % 1000000000u);
	char date[32];

	if (!ns) {
		snprintf(buf, len, "0001-01-01 00:00:00 +0000 UTC");
		return;
	}
	gmtime_r(&seconds, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	if (nanos) {
		int digits = 9;

		while (nanos % 10 == 0) {
			nanos /= 10;
			digits--;
		}
		snprintf(fraction, sizeof(fraction), ".%0*lu", digits, nanos);
	}
	snprintf(buf, len, "%s%s +0000 UTC", date, fraction);
}

int health_format_proxy(const struct health_proxy_view *view, const char *path, uint64_t now_ms,
			uint64_t now_ns, char *buf, size_t len)
{
	bool is_livez = !strcmp(path, "/livez"), is_healthy, is_ok;
	char body[384], last[48], now[48];
	int body_len;

	if (!is_livez && strcmp(path, "/healthz"))
		return health_http_not_found(buf, len);
	is_healthy =
	    view->has_synced && (!view->oldest_pending_ms ||
				 now_ms - view->oldest_pending_ms <= HEALTH_PROXY_TIMEOUT_MS);
	is_ok = is_healthy && (is_livez || view->is_node_eligible);
	health_go_time(view->last_updated_ns, last, sizeof(last));
	health_go_time(now_ns, now, sizeof(now));
	body_len = snprintf(body, sizeof(body),
			    "{\"lastUpdated\":\"%s\",\"currentTime\":\"%s\",\"nodeEligible\":%s,"
			    "\"healthy\":%s,\"status\":{\"IPv4\":{\"healthy\":%s,"
			    "\"lastUpdated\":\"%s\"}}}\n",
			    last, now, view->is_node_eligible ? "true" : "false",
			    is_healthy ? "true" : "false", is_healthy ? "true" : "false", last);
	if ((size_t)body_len >= sizeof(body))
		return -ENOSPC;
	return health_http_json(is_ok, body, body_len, buf, len);
}

/* The path of the request head REQUEST ("GET /healthz?x HTTP/1.1 ..."): up to a space or query. */
static void health_request_path(const char *request, char *path, size_t size)
{
	size_t n;

	path[0] = '\0';
	request = strchr(request, ' ');
	if (!request)
		return;
	request++;
	n = strcspn(request, " ?\r\n");
	if (n < size) {
		memcpy(path, request, n);
		path[n] = '\0';
	}
}

/* The proxy endpoint's answer to the request head REQUEST. */
static int health_answer_proxy(struct health *h, const char *request, char *buf, size_t len)
{
	struct health_proxy_view view;
	struct timespec wall;
	char path[64];

	health_request_path(request, path, sizeof(path));
	pthread_mutex_lock(&h->lock);
	view = h->proxy;
	pthread_mutex_unlock(&h->lock);
	clock_gettime(CLOCK_REALTIME, &wall);
	return health_format_proxy(&view, path, health_now_ms(),
				   (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec,
				   buf, len);
}

/*
 * The metrics endpoint's answer to REQUEST: GET /metrics is the exposition text, anything else
 * a 404. Sets C's answer; false without memory.
 */
static bool health_answer_metrics(struct health *h, struct health_client *c, const char *request)
{
	char path[64], head[256];
	char *body = NULL;
	size_t body_len = 0;
	int head_len;

	health_request_path(request, path, sizeof(path));
	if (strcmp(path, "/metrics")) {
		head_len = health_http_not_found(head, sizeof(head));
	} else {
		if (metrics_format(h->metrics, health_now_ms(), &body, &body_len))
			return false;
		head_len =
		    snprintf(head, sizeof(head),
			     "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
			     "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			     body_len);
	}
	c->out = malloc((size_t)head_len + body_len);
	if (!c->out) {
		free(body);
		return false;
	}
	memcpy(c->out, head, (size_t)head_len);
	if (body_len)
		memcpy(c->out + head_len, body, body_len);
	free(body);
	c->out_len = (size_t)head_len + body_len;
	c->out_sent = 0;
	/* A page of some 100 KB to a slow scraper: it gets this long, then the socket closes. */
	c->deadline_ms = health_now_ms() + HEALTH_SEND_TIMEOUT_MS;
	return true;
}

/* Send what is left of C's answer; close once it is all sent or the peer is gone. */
static void health_send(struct health_client *c)
{
	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return; /* the poll loop waits for POLLOUT */
		if (n <= 0) {
			log_debug("metrics: send: %s", strerror(errno));
			break;
		}
		c->out_sent += (size_t)n;
	}
	health_client_close(c);
}

/* Read what the client sent; once the request head is complete, answer and close. */
static void health_serve(struct health *h, struct health_client *c)
{
	const struct lb_health_check *check;
	char response[768];
	ssize_t n;
	int len;

	if (c->out) {
		health_send(c);
		return;
	}
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		health_client_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (!strstr(c->buf, "\r\n\r\n") && !strstr(c->buf, "\n\n")) {
		if (c->len == sizeof(c->buf) - 1)
			health_client_close(c); /* oversized head */
		return;
	}
	if (c->is_metrics) {
		if (health_answer_metrics(h, c, c->buf))
			health_send(c);
		else
			health_client_close(c);
		return;
	}
	if (c->is_proxy) {
		len = health_answer_proxy(h, c->buf, response, sizeof(response));
	} else if ((check = health_find(h, c->port))) {
		len = health_format_response(check, response, sizeof(response));
	} else {
		len = health_http_not_found(response, sizeof(response));
	}
	if (len > 0 && send(c->fd, response, (size_t)len, MSG_NOSIGNAL) < 0)
		log_debug("healthCheckNodePort %u: send: %s", c->port, strerror(errno));
	health_client_close(c);
}

static void *health_thread(void *arg)
{
	struct health *h = arg;
	struct pollfd *fds = NULL;
	size_t cap = 0;

	while (health_pick_up(h)) {
		size_t n = 1 + h->n_listeners + HEALTH_MAX_CLIENTS, nfds = 0;
		uint64_t now = health_now_ms(), next = now + 1000;
		uint64_t value;

		if (n > cap) {
			struct pollfd *grown = realloc(fds, n * sizeof(*fds));

			if (!grown) {
				sleep(1);
				continue;
			}
			fds = grown;
			cap = n;
		}
		fds[nfds++] = (struct pollfd){.fd = h->wake_fd, .events = POLLIN};
		for (size_t i = 0; i < h->n_listeners; i++)
			fds[nfds++] = (struct pollfd){.fd = h->listeners[i].fd, .events = POLLIN};
		for (size_t i = 0; i < HEALTH_MAX_CLIENTS; i++) {
			struct health_client *c = &h->clients[i];

			if (c->fd >= 0 && c->deadline_ms <= now)
				health_client_close(c);
			if (c->fd >= 0 && c->deadline_ms < next)
				next = c->deadline_ms;
			/* A free slot polls fd -1, which poll() ignores: indexes stay fixed. */
			fds[nfds++] =
			    (struct pollfd){.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
		}
		if (poll(fds, nfds, (int)(next - now)) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("healthCheckNodePort: poll: %s", strerror(errno));
			sleep(1);
			continue;
		}
		if (fds[0].revents & POLLIN) {
			if (read(h->wake_fd, &value, sizeof(value)) < 0 && errno != EAGAIN)
				log_debug("healthCheckNodePort: wake: %s", strerror(errno));
		}
		for (size_t i = 0; i < h->n_listeners; i++)
			if (fds[1 + i].revents & POLLIN)
				health_accept(h, &h->listeners[i]);
		for (size_t i = 0; i < HEALTH_MAX_CLIENTS; i++) {
			struct health_client *c = &h->clients[i];

			if (c->fd >= 0 && fds[1 + h->n_listeners + i].fd == c->fd &&
			    (fds[1 + h->n_listeners + i].revents &
			     (POLLIN | POLLOUT | POLLHUP | POLLERR)))
				health_serve(h, c);
		}
	}
	free(fds);
	return NULL;
}

int health_start(struct health **out)
{
	struct health *h = calloc(1, sizeof(*h));
	int err;

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < HEALTH_MAX_CLIENTS; i++)
		h->clients[i].fd = -1;
	h->wake_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->wake_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	err = -pthread_create(&h->thread, NULL, health_thread, h);
	if (err)
		goto cleanup;
	h->is_thread_started = true;
	*out = h;
	return 0;

cleanup:
	health_stop(h);
	return err;
}

static void health_wake(struct health *h)
{
	uint64_t one = 1;

	if (write(h->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("healthCheckNodePort: wake: %s", strerror(errno));
}

int health_update(struct health *h, const struct desired_state *state)
{
	struct lb_health_check *checks = NULL;
	uint32_t *addresses = NULL;

	if (state->n_health_checks) {
		checks = malloc(state->n_health_checks * sizeof(*checks));
		if (!checks)
			return -ENOMEM;
		memcpy(checks, state->health_checks, state->n_health_checks * sizeof(*checks));
	}
	if (state->n_node_addresses) {
		addresses = malloc(state->n_node_addresses * sizeof(*addresses));
		if (!addresses) {
			free(checks);
			return -ENOMEM;
		}
		memcpy(addresses, state->node_addresses,
		       state->n_node_addresses * sizeof(*addresses));
	}
	pthread_mutex_lock(&h->lock);
	free(h->want);
	free(h->want_addresses);
	h->want = checks;
	h->n_want = state->n_health_checks;
	h->want_addresses = addresses;
	h->n_want_addresses = state->n_node_addresses;
	h->is_changed = true;
	pthread_mutex_unlock(&h->lock);
	health_wake(h);
	return 0;
}

void health_serve_proxy(struct health *h, uint32_t address, uint16_t port)
{
	pthread_mutex_lock(&h->lock);
	h->is_proxy_wanted = true;
	h->proxy_address = address;
	h->proxy_port = port;
	h->proxy.is_node_eligible = true;
	pthread_mutex_unlock(&h->lock);
	health_wake(h);
}

void health_serve_metrics(struct health *h, struct metrics *metrics, uint32_t address,
			  uint16_t port)
{
	pthread_mutex_lock(&h->lock);
	h->is_metrics_wanted = true;
	h->metrics = metrics;
	h->metrics_address = address;
	h->metrics_port = port;
	pthread_mutex_unlock(&h->lock);
	health_wake(h);
}

void health_proxy_queued(struct health *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	if (!h->proxy.oldest_pending_ms)
		h->proxy.oldest_pending_ms = health_now_ms();
	pthread_mutex_unlock(&h->lock);
}

void health_proxy_synced(struct health *h, bool is_ok)
{
	struct timespec wall;

	if (!h)
		return;
	clock_gettime(CLOCK_REALTIME, &wall);
	pthread_mutex_lock(&h->lock);
	if (is_ok) {
		h->proxy.has_synced = true;
		h->proxy.oldest_pending_ms = 0;
		h->proxy.last_updated_ns =
		    (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec;
	} else if (!h->proxy.oldest_pending_ms) {
		h->proxy.oldest_pending_ms = health_now_ms();
	}
	pthread_mutex_unlock(&h->lock);
}

void health_proxy_node_eligible(struct health *h, bool is_eligible)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->proxy.is_node_eligible = is_eligible;
	pthread_mutex_unlock(&h->lock);
}

size_t health_port_count(struct health *h)
{
	return h ? atomic_load(&h->n_ports) : 0;
}

void health_stop(struct health *h)
{
	if (!h)
		return;
	if (h->is_thread_started) {
		pthread_mutex_lock(&h->lock);
		h->is_stopping = true;
		pthread_mutex_unlock(&h->lock);
		health_wake(h);
		pthread_join(h->thread, NULL);
	}
	for (size_t i = 0; i < h->n_listeners; i++)
		close(h->listeners[i].fd);
	for (size_t i = 0; i < HEALTH_MAX_CLIENTS; i++)
		if (h->clients[i].fd >= 0)
			health_client_close(&h->clients[i]);
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	pthread_mutex_destroy(&h->lock);
	free(h->want);
	free(h->want_addresses);
	free(h->checks);
	free(h->listeners);
	free(h);
}
