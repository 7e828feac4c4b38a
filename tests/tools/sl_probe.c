// SPDX-License-Identifier: Apache-2.0
/*
 * sl_probe: a test client that makes separate connections (or datagrams) to one address and
 * prints, per attempt, the server's reply line or "ERR <errno name>", so tests can count which
 * backend answered and how a failure looked (ECONNREFUSED fast vs ETIMEDOUT).
 *
 *   sl_probe --tcp|--udp|--sctp IP:PORT [-n COUNT] [--timeout-ms N] [--interval-ms N]
 *            [--sport PORT] [--src IP] [--size BYTES] [--peer] [--unconnected]
 *   sl_probe --stream IP:PORT [--timeout-ms N]
 *   sl_probe --hold IP:PORT -n COUNT [--interval-ms N] [--timeout-ms N]
 *   sl_probe --flood syn|udp IP:PORT --count N [--port-span K] [--src IP]
 *
 * --tcp: COUNT connections, each: connect, read one line, close.
 * --sctp: as --tcp over a one-to-one SCTP socket ("ERR EPROTONOSUPPORT" without kernel SCTP).
 * --udp: COUNT datagrams, each from a fresh (connected) socket, read one reply.
 * --stream: one TCP connection; print the greeting line, then for each line read on stdin send
 *   it and print the reply line; ends at EOF of stdin. For flows that must survive a change.
 * --hold: COUNT long-lived connections exchanging requests until EOF of stdin or SIGTERM
 *   (see run_hold).
 * --sport binds every attempt to that source port (SO_REUSEADDR), so a test can make two flows
 * share a tuple on purpose, e.g. through the VIP and then straight to the backend.
 * --src binds every attempt to that source address before it connects (with --sport, both),
 * e.g. an address added to the pod's interface that is not the pod's own (spoofing tests).
 * --peer appends " peer=IP:PORT" to each answer: getpeername() of the TCP socket, the source
 * of the UDP reply (what a socket translated by sluice's cgroup hooks shows: the frontend).
 * --unconnected (UDP) sends with sendto() on a socket never connected, and reads with recvfrom().
 * --size (UDP) sends datagrams of BYTES bytes (the probe line, then filler) and wants answers at
 * least as long (sl_echo pads its answer to the request's length), else "ERR EMSGSIZE": over an
 * MTU, both ways travel as IP fragments.
 * --flood sends N packets that each open a new flow and waits for no answer, to fill conntrack:
 *   syn: TCP SYNs from a raw socket, each from another source port (from a random start), to
 *   the destination ports PORT..PORT+K-1 in turn (K: --port-span, default 1); udp: datagrams to
 *   PORT..PORT+K-1 in turn, from a fresh socket (source port) after each round of K. Prints
 *   "sent N failed M"; exit 0 when every packet was sent.
 * Every attempt is bounded by --timeout-ms (default 2000). Exit 0 when every attempt succeeded,
 * 1 when one failed, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_LINE_MAX 1024

enum probe_mode {
	MODE_NONE,
	MODE_TCP,
	MODE_UDP,
	MODE_STREAM,
	MODE_SCTP,
	MODE_HOLD,
	MODE_FLOOD_SYN,
	MODE_FLOOD_UDP
};

static int timeout_ms = 2000;
static int source_port;		      /* 0: the kernel picks */
static struct in_addr source_address; /* INADDR_ANY: the kernel picks */
static size_t udp_size;		      /* --size: 0 sends the probe line alone */
static bool show_peer;		      /* --peer */
static bool is_unconnected;	      /* --unconnected */

/* Append " peer=IP:PORT" of ADDR to the answer in REPLY (LEN bytes). */
static void append_peer(char *reply, size_t len, const struct sockaddr_in *addr)
{
	char text[INET_ADDRSTRLEN];
	size_t used = strlen(reply);

	inet_ntop(AF_INET, &addr->sin_addr, text, sizeof(text));
	snprintf(reply + used, len - used, " peer=%s:%u", text, ntohs(addr->sin_port));
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sl_probe --tcp|--udp|--sctp|--stream|--hold IP:PORT [-n COUNT] "
		"[--timeout-ms N] [--interval-ms N] [--sport PORT] [--src IP] [--size BYTES]\n"
		"       [--peer] [--unconnected]\n"
		"       sl_probe --flood syn|udp IP:PORT --count N [--port-span K] [--src IP]\n");
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
	if (!err && show_peer) {
		struct sockaddr_in peer = {0};
		socklen_t peer_len = sizeof(peer);
		if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) < 0)
			err = -errno;
		else
			append_peer(reply, len, &peer);
	}
	close(fd);
	return err;
}

static int probe_udp(const struct sockaddr_in *target, char *reply, size_t len)
{
	long long deadline = now_ms() + timeout_ms;
	struct sockaddr_in peer = {0};
	socklen_t peer_len = sizeof(peer);
	int fd = is_unconnected ? socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
				: connect_to(target, SOCK_DGRAM, 0, deadline);
	if (fd < 0)
		return is_unconnected ? -errno : fd;
	int err = 0;
	static char request[65507] = "probe\n";
	size_t size = udp_size > 6 ? udp_size : 6;
	memset(request + 6, '.', size - 6);
	if (sendto(fd, request, size, 0, is_unconnected ? (const struct sockaddr *)target : NULL,
		   is_unconnected ? sizeof(*target) : 0) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		err = wait_fd(fd, POLLIN, deadline);
		if (err)
			goto out;
		/* n: the whole answer's length */
		ssize_t n =
		    recvfrom(fd, reply, len - 1, MSG_TRUNC, (struct sockaddr *)&peer, &peer_len);
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
		if (show_peer)
			append_peer(reply, len, &peer);
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

/*
 * --hold: COUNT long-lived connections to a stream port (sl_echo --stream), each sending a
 * numbered request every --interval-ms (default 100) and checking that the answer is its own
 * greeting followed by that request: the same backend echoing this very line. A connection that
 * is reset, closed, unanswered within --timeout-ms or answered wrongly is reported and replaced
 * by a new one, so COUNT stay in flight. All in one poll loop: hundreds of connections cost one
 * process, not one each. Every stdin line is a marker printed with the counters so far (a soak's
 * phases); at EOF of stdin, SIGTERM or SIGINT the connections are closed and the totals
 * printed (a soak keeps stdin open read-write on a FIFO, so writing a marker never ends it).
 * One line per event, T being ms of CLOCK_REALTIME (the shell's $EPOCHREALTIME clock):
 *   open T ID BACKEND LOCAL-PORT      connection ID is up; its greeting named BACKEND
 *   lost T ID BACKEND REASON ANSWERED it failed after ANSWERED answers; REASON is an errno name
 *                                     (ECONNRESET, ETIMEDOUT...), EOF (the peer closed) or
 *                                     EBADMSG (an answer that was not this request's echo)
 *   connfail T REASON                 a new connection failed before its greeting
 *   mark T TEXT answered=A failed=F lost=L connfail=C open=O
 *   close T ID BACKEND ANSWERED       at the end, per connection still up
 *   total T answered=A failed=F lost=L connfail=C
 * failed counts requests sent and not answered (at most one per lost connection).
 */
enum hold_state { HOLD_EMPTY, HOLD_CONNECTING, HOLD_GREETING, HOLD_READY, HOLD_WAITING };

struct hold_conn {
	enum hold_state state;
	int fd;
	long id;
	long answered;
	long long next_ms;     /* EMPTY: reconnect; READY: next request */
	long long deadline_ms; /* CONNECTING, GREETING, WAITING */
	size_t have;
	char backend[64];
	char greeting[PROBE_LINE_MAX];
	char request[64];
	char buf[PROBE_LINE_MAX];
};

struct hold_counts {
	long answered, failed, lost, connfail, next_id;
};

static volatile sig_atomic_t is_hold_stopping;

static void hold_on_signal(int sig)
{
	(void)sig;
	is_hold_stopping = 1;
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hold_drop(struct hold_conn *c, struct hold_counts *counts, const char *reason,
		      long long now, long interval_ms)
{
	long long retry_ms = now + interval_ms;
	if (c->state == HOLD_CONNECTING || c->state == HOLD_GREETING) {
		printf("connfail %lld %s\n", wall_ms(), reason);
		counts->connfail++;
		retry_ms = now + 10 * interval_ms; /* a refusing service is not hammered */
	} else {
		printf("lost %lld %ld %s %s %ld\n", wall_ms(), c->id, c->backend, reason,
		       c->answered);
		counts->lost++;
		if (c->state == HOLD_WAITING)
			counts->failed++;
	}
	fflush(stdout);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = HOLD_EMPTY;
	c->next_ms = retry_ms;
}

static void hold_connect(struct hold_conn *c, const struct sockaddr_in *target,
			 struct hold_counts *counts, long long now, long interval_ms)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->state = HOLD_CONNECTING;
	c->deadline_ms = now + timeout_ms;
	c->have = 0;
	c->answered = 0;
	c->id = ++counts->next_id;
	if (c->fd < 0 || (connect(c->fd, (const struct sockaddr *)target, sizeof(*target)) < 0 &&
			  errno != EINPROGRESS))
		hold_drop(c, counts, errno_name(errno), now, interval_ms);
}

/* A complete line arrived on @c: its greeting, or the answer to its request. */
static void hold_line(struct hold_conn *c, const char *line, struct hold_counts *counts,
		      long long now, long interval_ms)
{
	if (c->state == HOLD_GREETING) {
		struct sockaddr_in local;
		socklen_t len = sizeof(local);
		snprintf(c->greeting, sizeof(c->greeting), "%s", line);
		snprintf(c->backend, sizeof(c->backend), "%.*s", (int)strcspn(line, " "), line);
		getsockname(c->fd, (struct sockaddr *)&local, &len);
		printf("open %lld %ld %s %u\n", wall_ms(), c->id, c->backend,
		       ntohs(local.sin_port));
		fflush(stdout);
		c->state = HOLD_READY;
		return;
	}
	size_t glen = strlen(c->greeting);
	if (c->state != HOLD_WAITING || strncmp(line, c->greeting, glen) != 0 ||
	    line[glen] != ' ' || strcmp(line + glen + 1, c->request) != 0) {
		hold_drop(c, counts, "EBADMSG", now, interval_ms);
		return;
	}
	c->answered++;
	counts->answered++;
	c->state = HOLD_READY;
	c->next_ms += interval_ms; /* keep the pace; a late answer does not shift the schedule */
	if (c->next_ms < now)
		c->next_ms = now;
}

static void hold_readable(struct hold_conn *c, struct hold_counts *counts, long long now,
			  long interval_ms)
{
	ssize_t n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		hold_drop(c, counts, n == 0 ? "EOF" : errno_name(errno), now, interval_ms);
		return;
	}
	c->have += (size_t)n;
	c->buf[c->have] = '\0';
	char *nl;
	while (c->state != HOLD_EMPTY && (nl = memchr(c->buf, '\n', c->have))) {
		*nl = '\0';
		hold_line(c, c->buf, counts, now, interval_ms);
		size_t used = (size_t)(nl - c->buf) + 1;
		if (c->state == HOLD_EMPTY)
			break;
		memmove(c->buf, nl + 1, c->have - used);
		c->have -= used;
		c->buf[c->have] = '\0';
	}
	if (c->state != HOLD_EMPTY && c->have == sizeof(c->buf) - 1)
		hold_drop(c, counts, "EBADMSG", now, interval_ms);
}

static void hold_timers(struct hold_conn *c, const struct sockaddr_in *target,
			struct hold_counts *counts, long long now, long interval_ms)
{
	if (c->state == HOLD_EMPTY && now >= c->next_ms) {
		hold_connect(c, target, counts, now, interval_ms);
	} else if (c->state == HOLD_READY && now >= c->next_ms) {
		int len = snprintf(c->request, sizeof(c->request), "%ld-%ld", c->id, c->answered);
		char line[sizeof(c->request) + 1];
		memcpy(line, c->request, (size_t)len);
		line[len] = '\n';
		c->state = HOLD_WAITING;
		c->deadline_ms = now + timeout_ms;
		ssize_t n = send(c->fd, line, (size_t)len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n != len + 1)
			hold_drop(c, counts, n < 0 ? errno_name(errno) : "EAGAIN", now,
				  interval_ms);
	} else if ((c->state == HOLD_CONNECTING || c->state == HOLD_GREETING ||
		    c->state == HOLD_WAITING) &&
		   now >= c->deadline_ms) {
		hold_drop(c, counts, "ETIMEDOUT", now, interval_ms);
	}
}

static void hold_events(struct hold_conn *c, short revents, struct hold_counts *counts,
			long long now, long interval_ms)
{
	if (c->state == HOLD_CONNECTING) {
		int soerr = 0;
		socklen_t slen = sizeof(soerr);
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &slen);
		if (soerr) {
			hold_drop(c, counts, errno_name(soerr), now, interval_ms);
			return;
		}
		c->state = HOLD_GREETING;
		c->deadline_ms = now + timeout_ms;
		return;
	}
	if (revents & (POLLIN | POLLERR | POLLHUP))
		hold_readable(c, counts, now, interval_ms);
}

static void hold_print_counts(const struct hold_counts *counts)
{
	printf("answered=%ld failed=%ld lost=%ld connfail=%ld", counts->answered, counts->failed,
	       counts->lost, counts->connfail);
}

/* Markers from stdin; returns false at EOF (or a read error). */
static bool hold_stdin(struct hold_conn *conns, long count, struct hold_counts *counts)
{
	static char in[PROBE_LINE_MAX];
	static size_t have;
	ssize_t n = read(STDIN_FILENO, in + have, sizeof(in) - 1 - have);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	have += (size_t)n;
	char *nl;
	while ((nl = memchr(in, '\n', have))) {
		long open = 0;
		for (long i = 0; i < count; i++)
			open += conns[i].state == HOLD_READY || conns[i].state == HOLD_WAITING;
		*nl = '\0';
		printf("mark %lld %s ", wall_ms(), in);
		hold_print_counts(counts);
		printf(" open=%ld\n", open);
		fflush(stdout);
		size_t used = (size_t)(nl - in) + 1;
		memmove(in, nl + 1, have - used);
		have -= used;
	}
	if (have == sizeof(in) - 1)
		have = 0; /* an overlong marker is dropped */
	return true;
}

static int run_hold(const struct sockaddr_in *target, long count, long interval_ms)
{
	struct hold_counts counts = {0};
	struct hold_conn *conns = calloc((size_t)count, sizeof(*conns));
	struct pollfd *pfds = calloc((size_t)count + 1, sizeof(*pfds));
	long long start = now_ms();
	bool is_running = true;

	if (!conns || !pfds) {
		fprintf(stderr, "sl_probe: out of memory for %ld connections\n", count);
		free(conns);
		free(pfds);
		return 1;
	}
	/* no SA_RESTART: the signal interrupts poll and the loop ends */
	struct sigaction sa = {.sa_handler = hold_on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (long i = 0; i < count; i++) {
		conns[i].fd = -1;
		conns[i].state = HOLD_EMPTY;
		/* spread over one interval: the requests of COUNT connections do not come in bursts
		 */
		conns[i].next_ms = start + i * interval_ms / count;
	}
	while (is_running && !is_hold_stopping) {
		long long now = now_ms(), wake = now + 100;
		for (long i = 0; i < count; i++) {
			hold_timers(&conns[i], target, &counts, now, interval_ms);
			long long at = conns[i].state == HOLD_EMPTY || conns[i].state == HOLD_READY
					   ? conns[i].next_ms
					   : conns[i].deadline_ms;
			if (at < wake)
				wake = at;
		}
		pfds[0] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
		for (long i = 0; i < count; i++) {
			short events = conns[i].state == HOLD_CONNECTING ? POLLOUT : POLLIN;
			pfds[i + 1] =
			    (struct pollfd){.fd = conns[i].state == HOLD_EMPTY ? -1 : conns[i].fd,
					    .events = events};
		}
		int n = poll(pfds, (nfds_t)count + 1, wake > now ? (int)(wake - now) : 0);
		if (n < 0 && errno != EINTR) {
			perror("sl_probe: poll");
			break;
		}
		if (n <= 0)
			continue;
		now = now_ms();
		if (pfds[0].revents)
			is_running = hold_stdin(conns, count, &counts);
		for (long i = 0; i < count; i++)
			if (pfds[i + 1].revents && pfds[i + 1].fd >= 0)
				hold_events(&conns[i], pfds[i + 1].revents, &counts, now,
					    interval_ms);
	}
	for (long i = 0; i < count; i++) {
		if (conns[i].state == HOLD_READY || conns[i].state == HOLD_WAITING)
			printf("close %lld %ld %s %ld\n", wall_ms(), conns[i].id, conns[i].backend,
			       conns[i].answered);
		if (conns[i].state != HOLD_EMPTY)
			close(conns[i].fd);
	}
	printf("total %lld ", wall_ms());
	hold_print_counts(&counts);
	printf("\n");
	free(conns);
	free(pfds);
	return 0;
}

/* The one's-complement sum of LEN bytes (the IPv4 and TCP checksums), folded and not negated. */
static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *bytes = data;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(bytes[i] << 8 | bytes[i + 1]);
	if (len & 1)
		sum += (uint32_t)bytes[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The source address the kernel gives packets to TARGET (--src when set): the TCP checksum's. */
static int flood_source(const struct sockaddr_in *target, struct sockaddr_in *source)
{
	socklen_t len = sizeof(*source);
	int fd, err = 0;

	if (source_address.s_addr != htonl(INADDR_ANY)) {
		*source = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr = source_address};
		return 0;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)target, sizeof(*target)) < 0 ||
	    getsockname(fd, (struct sockaddr *)source, &len) < 0)
		err = -errno;
	close(fd);
	source->sin_port = 0;
	return err;
}

/*
 * COUNT SYNs without options from a raw socket (the kernel writes the IP header): source ports
 * walk 1024..65535 from a random start, so each SYN is a new flow; the kernel answers a
 * SYN-ACK with RST, as it has no socket. Returns the number not sent, or a negative errno.
 */
static long flood_syn(const struct sockaddr_in *target, long count, long span)
{
	struct sockaddr_in source, to = *target;
	long failed = 0;
	uint32_t start;
	int fd, err;

	err = flood_source(target, &source);
	if (err)
		return err;
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&source, sizeof(source)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	srandom((unsigned)(getpid() ^ now_ms()));
	start = (uint32_t)random();
	for (long i = 0; i < count; i++) {
		struct tcphdr tcp = {
		    .source = htons((uint16_t)(1024 + (start + (uint32_t)i) % 64512)),
		    .dest = htons((uint16_t)(ntohs(target->sin_port) + i % span)),
		    .seq = htonl((uint32_t)random()),
		    .doff = sizeof(tcp) / 4,
		    .syn = 1,
		    .window = htons(64240),
		};
		struct {
			uint32_t saddr, daddr;
			uint8_t zero, proto;
			uint16_t len;
		} pseudo = {source.sin_addr.s_addr, target->sin_addr.s_addr, 0, IPPROTO_TCP,
			    htons(sizeof(tcp))};

		tcp.check = htons(
		    csum_fold(csum_add(csum_add(0, &pseudo, sizeof(pseudo)), &tcp, sizeof(tcp))));
		to.sin_port = 0; /* raw sockets take no port */
		if (sendto(fd, &tcp, sizeof(tcp), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			failed++;
	}
	close(fd);
	return failed;
}

/* COUNT datagrams to PORT..PORT+SPAN-1 in turn, a fresh socket for each round. Returns unsent. */
static long flood_udp(const struct sockaddr_in *target, long count, long span)
{
	struct sockaddr_in to = *target;
	long failed = 0;
	int fd = -1;

	for (long i = 0; i < count; i++) {
		if (i % span == 0) {
			if (fd >= 0)
				close(fd);
			fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				return -errno;
			if (source_address.s_addr != htonl(INADDR_ANY)) {
				struct sockaddr_in src = {.sin_family = AF_INET,
							  .sin_addr = source_address};
				if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
					int err = -errno;
					close(fd);
					return err;
				}
			}
		}
		to.sin_port = htons((uint16_t)(ntohs(target->sin_port) + i % span));
		if (sendto(fd, "flood\n", 6, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			failed++;
	}
	if (fd >= 0)
		close(fd);
	return failed;
}

static int run_flood(enum probe_mode mode, const struct sockaddr_in *target, long count, long span)
{
	long failed;

	if (ntohs(target->sin_port) + span - 1 > 65535) {
		fprintf(stderr, "sl_probe: --port-span %ld runs past port 65535\n", span);
		return 2;
	}
	failed = mode == MODE_FLOOD_SYN ? flood_syn(target, count, span)
					: flood_udp(target, count, span);
	if (failed < 0) {
		printf("ERR %s\n", errno_name((int)-failed));
		return 1;
	}
	printf("sent %ld failed %ld\n", count - failed, failed);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	enum probe_mode mode = MODE_NONE;
	struct sockaddr_in target;
	long count = 1;
	long interval_ms = 0;
	long port_span = 1;
	const char *target_text = NULL;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (!strcmp(opt, "--peer") || !strcmp(opt, "--unconnected")) {
			*(!strcmp(opt, "--peer") ? &show_peer : &is_unconnected) = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *val = argv[++i];
		char *end;
		if (!strcmp(opt, "--hold")) {
			mode = MODE_HOLD;
			target_text = val;
		} else if (!strcmp(opt, "--tcp") || !strcmp(opt, "--udp") ||
			   !strcmp(opt, "--stream") || !strcmp(opt, "--sctp")) {
			mode = !strcmp(opt, "--tcp")	? MODE_TCP
			       : !strcmp(opt, "--udp")	? MODE_UDP
			       : !strcmp(opt, "--sctp") ? MODE_SCTP
							: MODE_STREAM;
			target_text = val;
		} else if (!strcmp(opt, "--flood")) {
			if (i + 1 >= argc || (strcmp(val, "syn") && strcmp(val, "udp")))
				usage();
			mode = !strcmp(val, "syn") ? MODE_FLOOD_SYN : MODE_FLOOD_UDP;
			target_text = argv[++i];
		} else if (!strcmp(opt, "--port-span")) {
			port_span = strtol(val, &end, 10);
			if (*end || port_span <= 0 || port_span > 65535)
				usage();
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
	if (mode == MODE_HOLD)
		return run_hold(&target, count, interval_ms > 0 ? interval_ms : 100);
	if (mode == MODE_FLOOD_SYN || mode == MODE_FLOOD_UDP)
		return run_flood(mode, &target, count, port_span);

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
