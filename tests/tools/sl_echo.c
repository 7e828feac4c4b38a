// SPDX-License-Identifier: Apache-2.0
/*
 * sl_echo: a test server that tells each client who answered and whom it saw, so end-to-end
 * tests can count which backend got each connection and check the source address after NAT.
 *
 *   sl_echo --id NAME [--tcp PORT[,PORT..]] [--udp PORT[,PORT..]] [--stream PORT[,PORT..]]
 *           [--sctp PORT[,PORT..]]
 *
 * TCP: each connection gets one line "NAME <peer-ip>:<peer-port>\n", then the server closes.
 * SCTP: as TCP, over a one-to-one SCTP socket (fails to start when the kernel has no SCTP).
 * UDP: each datagram is answered with the same line, padded with '.' after it to the
 *   datagram's length when that is longer (so large requests get large answers).
 * Stream (TCP): the same first line, then every line received is answered with
 *   "NAME <peer-ip>:<peer-port> <line>\n" until the client closes; for long-lived flows.
 * Prints "ready" on stdout once every socket is bound. Exits on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define ECHO_MAX_SOCKETS  32
#define ECHO_LINE_MAX	  512
#define ECHO_IO_TIMEOUT_S 5 /* a stuck one-shot client must not block the accept loop */

enum sock_kind { KIND_TCP, KIND_UDP, KIND_STREAM, KIND_SCTP };

struct listener {
	int fd;
	enum sock_kind kind;
	int port;
};

static const char *server_id;
static volatile sig_atomic_t is_stopping;

static void on_signal(int sig)
{
	(void)sig;
	is_stopping = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: sl_echo --id NAME [--tcp PORT[,PORT]] [--udp PORT[,PORT]] "
			"[--stream PORT[,PORT]] [--sctp PORT[,PORT]]\n");
	exit(2);
}

static int open_listener(enum sock_kind kind, int port)
{
	int type = kind == KIND_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, kind == KIND_SCTP ? IPPROTO_SCTP : 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = {
	    .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_ANY),
	};
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, 128) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static int parse_ports(const char *arg, enum sock_kind kind, struct listener *out, int *n)
{
	char *copy = strdup(arg);
	if (!copy)
		return -1;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long port = strtol(tok, &end, 10);
		if (*end || port <= 0 || port > 65535 || *n >= ECHO_MAX_SOCKETS) {
			fprintf(stderr, "sl_echo: bad port %s\n", tok);
			free(copy);
			return -1;
		}
		out[*n].kind = kind;
		out[*n].port = (int)port;
		out[*n].fd = -1;
		(*n)++;
	}
	free(copy);
	return 0;
}

static void format_peer(const struct sockaddr_in *peer, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(peer->sin_port));
}

static void set_io_timeout(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

struct stream_conn {
	int fd;
	char peer[64];
};

/* One long-lived connection: answer every received line until the client closes. */
static void *stream_main(void *arg)
{
	struct stream_conn *conn = arg;
	char line[ECHO_LINE_MAX + 128];
	char in[ECHO_LINE_MAX];
	size_t have = 0;

	int len = snprintf(line, sizeof(line), "%s %s\n", server_id, conn->peer);
	if (write_all(conn->fd, line, (size_t)len) < 0)
		goto out;
	for (;;) {
		ssize_t n = recv(conn->fd, in + have, sizeof(in) - 1 - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		char *nl;
		while ((nl = memchr(in, '\n', have))) {
			*nl = '\0';
			len = snprintf(line, sizeof(line), "%s %s %s\n", server_id, conn->peer, in);
			if (write_all(conn->fd, line, (size_t)len) < 0)
				goto out;
			size_t used = (size_t)(nl - in) + 1;
			memmove(in, nl + 1, have - used);
			have -= used;
		}
		if (have == sizeof(in) - 1)
			have = 0; /* an overlong line is dropped rather than answered in pieces */
	}
out:
	close(conn->fd);
	free(conn);
	return NULL;
}

static void handle_tcp(const struct listener *l)
{
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	char peer_text[64];
	format_peer(&peer, peer_text, sizeof(peer_text));

	if (l->kind == KIND_STREAM) {
		struct stream_conn *conn = calloc(1, sizeof(*conn));
		pthread_t tid;
		if (!conn) {
			close(fd);
			return;
		}
		conn->fd = fd;
		snprintf(conn->peer, sizeof(conn->peer), "%s", peer_text);
		if (pthread_create(&tid, NULL, stream_main, conn) != 0) {
			close(fd);
			free(conn);
			return;
		}
		pthread_detach(tid);
		return;
	}

	char line[ECHO_LINE_MAX];
	int len = snprintf(line, sizeof(line), "%s %s\n", server_id, peer_text);
	set_io_timeout(fd, ECHO_IO_TIMEOUT_S);
	(void)write_all(fd, line, (size_t)len);
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* Only the poll loop's thread answers UDP: one buffer, as large as a datagram can be. */
static char udp_answer[65507];

static void handle_udp(const struct listener *l)
{
	char buf[2048];
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	/* MSG_TRUNC: the datagram's whole length, however little of it buf holds. */
	ssize_t n = recvfrom(l->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&peer, &plen);
	if (n < 0)
		return;
	char peer_text[64];
	format_peer(&peer, peer_text, sizeof(peer_text));
	int len = snprintf(udp_answer, ECHO_LINE_MAX, "%s %s\n", server_id, peer_text);
	/* Padded to the request's length, so a large request gets an answer as large. */
	size_t size = (size_t)n > (size_t)len ? (size_t)n : (size_t)len;
	if (size > sizeof(udp_answer))
		size = sizeof(udp_answer);
	memset(udp_answer + len, '.', size - (size_t)len);
	sendto(l->fd, udp_answer, size, MSG_DONTWAIT, (struct sockaddr *)&peer, plen);
}

int main(int argc, char **argv)
{
	struct listener listeners[ECHO_MAX_SOCKETS];
	int n = 0;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *val = argv[++i];
		if (!strcmp(opt, "--id"))
			server_id = val;
		else if (!strcmp(opt, "--tcp")) {
			if (parse_ports(val, KIND_TCP, listeners, &n) < 0)
				return 2;
		} else if (!strcmp(opt, "--udp")) {
			if (parse_ports(val, KIND_UDP, listeners, &n) < 0)
				return 2;
		} else if (!strcmp(opt, "--stream")) {
			if (parse_ports(val, KIND_STREAM, listeners, &n) < 0)
				return 2;
		} else if (!strcmp(opt, "--sctp")) {
			if (parse_ports(val, KIND_SCTP, listeners, &n) < 0)
				return 2;
		} else
			usage();
	}
	if (!server_id || n == 0)
		usage();

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct pollfd pfds[ECHO_MAX_SOCKETS];
	for (int i = 0; i < n; i++) {
		listeners[i].fd = open_listener(listeners[i].kind, listeners[i].port);
		if (listeners[i].fd < 0) {
			fprintf(stderr, "sl_echo: %s port %d: %s\n",
				listeners[i].kind == KIND_UDP	 ? "udp"
				: listeners[i].kind == KIND_SCTP ? "sctp"
								 : "tcp",
				listeners[i].port, strerror(errno));
			return 1;
		}
		pfds[i] = (struct pollfd){.fd = listeners[i].fd, .events = POLLIN};
	}
	printf("ready\n");
	fflush(stdout);

	while (!is_stopping) {
		int ready = poll(pfds, (nfds_t)n, 500);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			perror("sl_echo: poll");
			return 1;
		}
		for (int i = 0; i < n && ready > 0; i++) {
			if (!(pfds[i].revents & POLLIN))
				continue;
			if (listeners[i].kind == KIND_UDP)
				handle_udp(&listeners[i]);
			else
				handle_tcp(&listeners[i]);
		}
	}
	for (int i = 0; i < n; i++)
		close(listeners[i].fd);
	return 0;
}
