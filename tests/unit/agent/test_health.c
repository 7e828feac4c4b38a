// SPDX-License-Identifier: Apache-2.0
/*
 * healthCheckNodePort responder and kube-proxy's own /healthz and /livez: the responses
 * kube-proxy gives, served over real sockets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "loader/agent/health.h"

static void test_format_200_and_503(void **state)
{
	struct lb_health_check check = {.port = 32001, .local_endpoints = 2};
	char buf[512];
	int len;

	(void)state;
	snprintf(check.name, sizeof(check.name), "default/lb-local");
	len = health_format_response(&check, buf, sizeof(buf));
	assert_true(len > 0);
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(buf, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(buf,
			       "{\"service\":{\"namespace\":\"default\",\"name\":\"lb-local\"},"
			       "\"localEndpoints\":2,"));
	check.local_endpoints = 0;
	len = health_format_response(&check, buf, sizeof(buf));
	assert_true(len > 0);
	assert_non_null(strstr(buf, "HTTP/1.1 503 Service Unavailable\r\n"));
	assert_non_null(strstr(buf, "\"localEndpoints\":0,"));
	/* Content-Length matches the body. */
	const char *body = strstr(buf, "\r\n\r\n") + 4;
	char expect[64];

	snprintf(expect, sizeof(expect), "Content-Length: %zu\r\n", strlen(body));
	assert_non_null(strstr(buf, expect));
}

/* GET PATH on 127.0.0.1:port; returns the response (static buffer) or NULL when refused. */
static const char *http_get_path(uint16_t port, const char *path)
{
	static char buf[1024];
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	char request[128];
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		close(fd);
		return NULL;
	}
	assert_int_equal(send(fd, request, strlen(request), 0), (ssize_t)strlen(request));
	while (len < sizeof(buf) - 1 && (n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	return buf;
}

static const char *http_get(uint16_t port)
{
	return http_get_path(port, "/healthz");
}

static void wait_ports(struct health *health, size_t want)
{
	for (int i = 0; i < 200 && health_port_count(health) != want; i++)
		usleep(10000);
	assert_int_equal(health_port_count(health), want);
}

static void test_serves_and_follows_state(void **state)
{
	uint32_t loopback = htonl(INADDR_LOOPBACK);
	struct lb_health_check check = {.local_endpoints = 3};
	struct desired_state desired = {0};
	struct health *health = NULL;
	const char *response;

	(void)state;
	srand((unsigned int)time(NULL) ^ (unsigned int)getpid());
	check.port = (uint16_t)(40000 + rand() % 20000);
	snprintf(check.name, sizeof(check.name), "ns1/svc1");
	desired.health_checks = &check;
	desired.n_health_checks = 1;
	desired.node_addresses = &loopback;
	desired.n_node_addresses = 1;

	assert_int_equal(health_start(&health), 0);
	assert_int_equal(health_update(health, &desired), 0);
	wait_ports(health, 1);
	response = http_get(check.port);
	assert_non_null(response);
	assert_non_null(strstr(response, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(response, "\"namespace\":\"ns1\",\"name\":\"svc1\""));
	assert_non_null(strstr(response, "\"localEndpoints\":3"));

	check.local_endpoints = 0;
	assert_int_equal(health_update(health, &desired), 0);
	usleep(50000);
	response = http_get(check.port);
	assert_non_null(response);
	assert_non_null(strstr(response, "HTTP/1.1 503"));

	/* A client that never finishes its request does not block others. */
	int idle = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(check.port)};

	sin.sin_addr.s_addr = loopback;
	assert_int_equal(connect(idle, (struct sockaddr *)&sin, sizeof(sin)), 0);
	response = http_get(check.port);
	assert_non_null(response);
	assert_non_null(strstr(response, "HTTP/1.1 503"));
	close(idle);

	desired.n_health_checks = 0;
	assert_int_equal(health_update(health, &desired), 0);
	wait_ports(health, 0);
	assert_null(http_get(check.port));
	health_stop(health);
}

/* 2026-12-03 07:40:00.5 UTC, and 30 s of the agent's monotonic clock later. */
#define T_WALL_NS 1796283600500000000ull
#define T_MONO_MS 1000000ull

static const char *proxy_answer(const struct health_proxy_view *view, const char *path,
				uint64_t now_ms)
{
	static char buf[768];
	int len = health_format_proxy(view, path, now_ms, T_WALL_NS, buf, sizeof(buf));

	assert_true(len > 0);
	assert_int_equal((size_t)len, strlen(buf));
	return buf;
}

/* kube-proxy's /healthz and /livez: status by health and node eligibility, its JSON fields. */
static void test_proxy_format(void **state)
{
	struct health_proxy_view view = {.has_synced = true,
					 .is_node_eligible = true,
					 .last_updated_ns = T_WALL_NS - 30000000000ull};
	const char *r;

	(void)state;
	r = proxy_answer(&view, "/healthz", T_MONO_MS);
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(r, "\"lastUpdated\":\"2026-12-03 07:39:30.5 +0000 UTC\""));
	assert_non_null(strstr(r, "\"currentTime\":\"2026-12-03 07:40:00.5 +0000 UTC\""));
	assert_non_null(strstr(r, "\"nodeEligible\":true"));
	assert_non_null(strstr(r, "\"healthy\":true"));
	assert_non_null(strstr(proxy_answer(&view, "/livez", T_MONO_MS), "HTTP/1.1 200 OK\r\n"));

	/* A change pending for less than the timeout: still healthy; for longer: not. */
	view.oldest_pending_ms = T_MONO_MS - HEALTH_PROXY_TIMEOUT_MS;
	assert_non_null(strstr(proxy_answer(&view, "/healthz", T_MONO_MS), "200 OK"));
	view.oldest_pending_ms = T_MONO_MS - HEALTH_PROXY_TIMEOUT_MS - 1;
	r = proxy_answer(&view, "/healthz", T_MONO_MS);
	assert_non_null(strstr(r, "HTTP/1.1 503 Service Unavailable\r\n"));
	assert_non_null(strstr(r, "\"healthy\":false"));
	assert_non_null(strstr(proxy_answer(&view, "/livez", T_MONO_MS), "503"));

	/* A leaving node: /healthz says 503 so load balancers drain it; /livez stays 200. */
	view.oldest_pending_ms = 0;
	view.is_node_eligible = false;
	r = proxy_answer(&view, "/healthz", T_MONO_MS);
	assert_non_null(strstr(r, "HTTP/1.1 503"));
	assert_non_null(strstr(r, "\"nodeEligible\":false"));
	assert_non_null(strstr(proxy_answer(&view, "/livez", T_MONO_MS), "HTTP/1.1 200 OK"));

	/* Before the first sync: unhealthy, Go's zero time. */
	view = (struct health_proxy_view){.is_node_eligible = true};
	r = proxy_answer(&view, "/healthz", T_MONO_MS);
	assert_non_null(strstr(r, "HTTP/1.1 503"));
	assert_non_null(strstr(r, "\"lastUpdated\":\"0001-01-01 00:00:00 +0000 UTC\""));

	assert_non_null(strstr(proxy_answer(&view, "/metrics", T_MONO_MS), "HTTP/1.1 404"));
	assert_non_null(strstr(proxy_answer(&view, "", T_MONO_MS), "HTTP/1.1 404"));
}

/* The proxy endpoint over a real socket: follows the agent's calls, survives health_update. */
static void test_proxy_serves(void **state)
{
	uint32_t loopback = htonl(INADDR_LOOPBACK);
	struct desired_state desired = {0};
	struct health *health = NULL;
	const char *r = NULL;
	uint16_t port;

	(void)state;
	srand((unsigned int)time(NULL) ^ (unsigned int)getpid() ^ 0x5a5a);
	port = (uint16_t)(40000 + rand() % 20000);
	desired.node_addresses = &loopback;
	desired.n_node_addresses = 1;
	assert_int_equal(health_start(&health), 0);
	health_serve_proxy(health, loopback, port);
	for (int i = 0; i < 200 && !(r = http_get_path(port, "/healthz")); i++)
		usleep(10000);
	assert_non_null(r);
	assert_non_null(strstr(r, "HTTP/1.1 503")); /* no sync yet */
	health_proxy_synced(health, true);
	assert_non_null(strstr(http_get_path(port, "/healthz?verbose=1"), "HTTP/1.1 200 OK"));
	/* Service health checks coming and going leave the proxy port alone. */
	assert_int_equal(health_update(health, &desired), 0);
	usleep(50000);
	assert_non_null(strstr(http_get_path(port, "/livez"), "HTTP/1.1 200 OK"));
	health_proxy_node_eligible(health, false);
	assert_non_null(strstr(http_get_path(port, "/healthz"), "HTTP/1.1 503"));
	assert_non_null(strstr(http_get_path(port, "/livez"), "HTTP/1.1 200 OK"));
	assert_non_null(strstr(http_get_path(port, "/nope"), "HTTP/1.1 404"));
	health_stop(health);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_200_and_503),
	    cmocka_unit_test(test_serves_and_follows_state),
	    cmocka_unit_test(test_proxy_format),
	    cmocka_unit_test(test_proxy_serves),
	};

	return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
