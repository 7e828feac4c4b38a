// SPDX-License-Identifier: Apache-2.0
/*
 * sl_probe: a test client that makes separate connections (or datagrams) to one address and
 * prints, per attempt, the server's reply line or "ERR <errno name>", so tests can count which
 * backend answered and how a failure looked (ECONNREFUSED fast vs ETIMEDOUT).
 *
 *   sl_probe --tcp|--udp|--sctp IP:PORT [-n COUNT] [--timeout-ms N] [--interval-ms N]
 *            [--sport PORT] [--src IP] [--size BYTES]
 *   sl_probe --stream IP:PORT [--timeout-ms N]
 *
 * --tcp: COUNT connections, each: connect, read one line, close.
 * --sctp: as --tcp over a one-to-one SCTP socket ("ERR EPROTONOSUPPORT" without kernel SCTP).
 * --udp: COUNT datagrams, each from a fresh (connected) socket, read one reply.
 * --stream: one TCP connection; print the greeting line, then for each line read on stdin send
 *   it and print the reply line; ends at EOF of stdin. For flows that must survive a change.
 * --sport binds every attempt to that source port (SO_REUSEADDR), so a test can make two flows
 * share a tuple on purpose, e.g. through the VIP and then straight to the backend.
 * --src binds every attempt to that source address before it connects (with --sport, both),
 * e.g. an address added to the pod's interface that is not the pod's own (spoofing tests).
 * --size (UDP) sends datagrams of BYTES bytes (the probe line, then filler) and wants answers at
 * least as long (sl_echo pads its answer to the request's length), else "ERR EMSGSIZE": over an
 * MTU, both ways travel as IP fragments.
 * Every attempt is bounded by --timeout-ms (default 2000). Exit 0 when every attempt succeeded,
 * 1 when one failed, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_LINE_MAX 1024

enum probe_mode { MODE_NONE, MODE_TCP, MODE_UDP, MODE_STREAM, MODE_SCTP };

static int timeout_ms = 2000;
static int source_port;		      /* 0: the kernel picks */
static struct in_addr source_address; /* INADDR_ANY: the kernel picks */
static size_t udp_size;		      /* --size: 0 sends the probe line alone */

static void usage(void)
{
	fprintf(stderr,
		"usage: sl_probe --tcp|--udp|--sctp|--stream IP:PORT [-n COUNT] [--timeout-ms N] "
		"[--interval-ms N] [--sport PORT] [--src IP] [--size BYTES]\n");
	exit(2);
}

static const char *errno_name(int err)
{
	static char fallback[16];
	const char *name = strerrorname_np(err);
	if (name)
		return name;
	snprintf(fallback, sizeof(fallback), "E%d", err);
	return fallback;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_target(const char *arg, struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strrchr(arg, ':');
	if (!colon || (size_t)(colon - arg) >= sizeof(host))
		return -1;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -1;
	*out = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

/* Wait for @events on @fd until the absolute @deadline; 0 when ready, -ETIMEDOUT otherwise. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return 0;
	}
}

/* Read one line (without '\n') into @buf before @deadline. 0, or a negative errno. */
static int read_line(int fd, char *buf, size_t len, long long deadline)
{
	size_t have = 0;
	for (;;) {
		int err = wait_fd(fd, POLLIN, deadline);
		if (err)
			return err;
		ssize_t n =
		    recv(fd, buf + have, 1, 0); /* byte-wise: a stream may hold more lines */
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return have ? (buf[have] = '\0', 0) : -ECONNRESET;
		if (buf[have] == '\n' || have + 2 >= len) {
			buf[have] = '\0';
			return 0;
		}
		have++;
	}
}

/* Non-blocking connect bounded by @deadline. Returns a connected socket or a negative errno. */
static int connect_to(const struct sockaddr_in *target, int type, int protocol, long long deadline)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		return -errno;
	if (source_port || source_address.s_addr != htonl(INADDR_ANY)) {
		int one = 1;
		struct sockaddr_in src = {.sin_family = AF_INET,
					  .sin_port = htons((uint16_t)source_port),
					  .sin_addr = source_address};
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
	}
	if (connect(fd, (const struct sockaddr *)target, sizeof(*target)) < 0) {
		if (errno != EINPROGRESS) {
			int err = -errno;
			close(fd);
			return err;
		}
		int err = wait_fd(fd, POLLOUT, deadline);
		if (!err) {
			int soerr = 0;
			socklen_t slen = sizeof(soerr);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen);
			err = -soerr;
		}
		if (err) {
			close(fd);
			return err;
		}
	}
	return fd;
}

/* One connection (TCP, or SCTP with @protocol IPPROTO_SCTP): connect, read one line, close. */
static int probe_tcp(const struct sockaddr_in *target, int protocol, char *reply, size_t len)
{
	long long deadline = now_ms() + timeout_ms;
	int fd = connect_to(target, SOCK_STREAM, protocol, deadline);
	if (fd < 0)
		return fd;
	int err = read_line(fd, reply, len, deadline);
	close(fd);
	return err;
}

static int probe_udp(const struct sockaddr_in *target, char *reply, size_t len)
{
	long long deadline = now_ms() + timeout_ms;
	int fd = connect_to(target, SOCK_DGRAM, 0, deadline);
	if (fd < 0)
		return fd;
	int err = 0;
	static char request[65507] = "probe\n";
	size_t size = udp_size > 6 ? udp_size : 6;
	memset(request + 6, '.', size - 6);
	if (send(fd, request, size, 0) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		err = wait_fd(fd, POLLIN, deadline);
		if (err)
			goto out;
		ssize_t n = recv(fd, reply, len - 1, MSG_TRUNC); /* n: the whole answer's length */
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			err = -errno; /* ECONNREFUSED when an ICMP port unreachable came back */
			goto out;
		}
		if ((size_t)n < udp_size) {
			err = -EMSGSIZE;
			goto out;
		}
		reply[(size_t)n < len - 1 ? (size_t)n : len - 1] = '\0';
		char *nl = strchr(reply, '\n');
		if (nl)
			*nl = '\0';
		break;
	}
out:
	close(fd);
	return err;
}

static int run_stream(const struct sockaddr_in *target)
{
	char reply[PROBE_LINE_MAX];
	char line[PROBE_LINE_MAX];
	int failed = 0;
	long long deadline = now_ms() + timeout_ms;

	int fd = connect_to(target, SOCK_STREAM, 0, deadline);
	int err = fd < 0 ? fd : read_line(fd, reply, sizeof(reply), deadline);
	if (err) {
		printf("ERR %s\n", errno_name(-err));
		fflush(stdout);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	printf("%s\n", reply);
	fflush(stdout);

	while (fgets(line, sizeof(line), stdin)) {
		size_t len = strcspn(line, "\n");
		line[len++] = '\n';
		deadline = now_ms() + timeout_ms;
		err = 0;
		for (size_t off = 0; off < len && !err;) {
			err = wait_fd(fd, POLLOUT, deadline);
			if (err)
				break;
			ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				err = -errno;
			else if (n > 0)
				off += (size_t)n;
		}
		if (!err)
			err = read_line(fd, reply, sizeof(reply), deadline);
		if (err) {
			printf("ERR %s\n", errno_name(-err));
			failed = 1;
		} else {
			printf("%s\n", reply);
		}
		fflush(stdout);
	}
	close(fd);
	return failed;
}

int main(int argc, char **argv)
{
	enum probe_mode mode = MODE_NONE;
	struct sockaddr_in target;
	long count = 1;
	long interval_ms = 0;
	const char *target_text = NULL;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *val = argv[++i];
		char *end;
		if (!strcmp(opt, "--tcp") || !strcmp(opt, "--udp") || !strcmp(opt, "--stream") ||
		    !strcmp(opt, "--sctp")) {
			mode = !strcmp(opt, "--tcp")	? MODE_TCP
			       : !strcmp(opt, "--udp")	? MODE_UDP
			       : !strcmp(opt, "--sctp") ? MODE_SCTP
							: MODE_STREAM;
			target_text = val;
		} else if (!strcmp(opt, "-n") || !strcmp(opt, "--count")) {
			count = strtol(val, &end, 10);
			if (*end || count <= 0)
				usage();
		} else if (!strcmp(opt, "--timeout-ms")) {
			long t = strtol(val, &end, 10);
			if (*end || t <= 0 || t > 600000)
				usage();
			timeout_ms = (int)t;
		} else if (!strcmp(opt, "--sport")) {
			long p = strtol(val, &end, 10);
			if (*end || p <= 0 || p > 65535)
				usage();
			source_port = (int)p;
		} else if (!strcmp(opt, "--src")) {
			if (inet_pton(AF_INET, val, &source_address) != 1)
				usage();
		} else if (!strcmp(opt, "--size")) {
			long size = strtol(val, &end, 10);
			if (*end || size <= 0 || size > 65507)
				usage();
			udp_size = (size_t)size;
		} else if (!strcmp(opt, "--interval-ms")) {
			interval_ms = strtol(val, &end, 10);
			if (*end || interval_ms < 0)
				usage();
		} else {
			usage();
		}
	}
	if (mode == MODE_NONE || parse_target(target_text, &target) < 0)
		usage();

	if (mode == MODE_STREAM)
		return run_stream(&target);

	int failed = 0;
	for (long i = 0; i < count; i++) {
		char reply[PROBE_LINE_MAX];
		int err = mode == MODE_TCP ? probe_tcp(&target, 0, reply, sizeof(reply))
			  : mode == MODE_SCTP
			      ? probe_tcp(&target, IPPROTO_SCTP, reply, sizeof(reply))
			      : probe_udp(&target, reply, sizeof(reply));
		if (err) {
			printf("ERR %s\n", errno_name(-err));
			failed = 1;
		} else {
			printf("%s\n", reply);
		}
		fflush(stdout);
		if (interval_ms > 0 && i + 1 < count) {
			struct timespec ts = {.tv_sec = interval_ms / 1000,
					      .tv_nsec = (interval_ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	return failed;
}
