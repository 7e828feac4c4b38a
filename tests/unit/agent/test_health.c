// SPDX-License-Identifier: Apache-2.0
/* healthCheckNodePort responder: the response kube-proxy gives, served over real sockets. */
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

/* GET on 127.0.0.1:port; returns the response (static buffer) or NULL when refused. */
static const char *http_get(uint16_t port)
{
	static char buf[1024];
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	const char *request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_200_and_503),
	    cmocka_unit_test(test_serves_and_follows_state),
	};

	return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
