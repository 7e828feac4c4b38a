// SPDX-License-Identifier: Apache-2.0
/*
 * sluice-connrate: the bench's new-connection load, client and server.
 *
 *   sluice-connrate --connect IP:PORT[,IP:PORT...] [--parallel N] [--duration SEC] [--timeout-ms N]
 *                   [--expect PREFIX] [--until NAME] [-o json]
 *   sluice-connrate --serve PORT[,PORT...] --id NAME
 *
 * Client: N threads, each in a loop until the duration ends (taking the targets in turn): TCP
 * connect (timed), send one request line, read the reply to EOF, close. A reply is the line "NAME
 * PEER-IP:PORT" (the sl_echo format); one whose NAME does not start with --expect counts as an
 * error, so a mode whose traffic does not reach a bench backend cannot report a rate. Prints
 * connections per second, p50/p99 connect latency in microseconds, errors by kind, and replies by
 * backend.
 *
 * --until NAME: the bench's probe of a change. One connection at a time (the same loop, one
 * thread) until a reply comes from NAME or the duration ends; prints "probing" once a first reply
 * came (the caller makes its change after that line), then when NAME first answered, in
 * CLOCK_REALTIME seconds, so the caller can subtract the time it made the change.
 *
 * Server: one epoll thread: accept, read the request, answer "NAME PEER-IP:PORT\n", close when
 * the client has closed. The client closes first, so TIME_WAIT is on the client's side, where
 * net.ipv4.tcp_tw_reuse lets a long run reuse source ports (the bench sets it in the client
 * pod); servers keep no TIME_WAIT that a later connection from the same port could run into.
 * Prints "ready" once every port listens.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CR_MAX_THREADS	      256
#define CR_MAX_BACKENDS	      64
#define CR_NAME_MAX	      48
#define CR_LINE_MAX	      256
#define CR_MAX_PORTS	      16
#define CR_MAX_TARGETS	      64
#define CR_BACKLOG	      4096
#define CR_ERRNO_KINDS	      8
#define CR_REQUEST	      "GET\n"
#define CR_BAD_REPLY	      (-1) /* error kind: a reply that did not come from a bench backend */
#define CR_DEFAULT_DURATION_S 2

struct backend_count {
	char name[CR_NAME_MAX];
	uint64_t count;
};

struct error_count {
	int err; /* errno, or CR_BAD_REPLY */
	uint64_t count;
};

struct client_opts {
	struct sockaddr_in targets[CR_MAX_TARGETS]; /* each thread takes them in turn */
	size_t n_targets;
	unsigned int parallel;
	double duration_s;
	unsigned int timeout_ms;
	const char *expect;
	const char *until; /* --until NAME, or NULL */
	bool json;
	uint64_t deadline_ns;
};

struct worker {
	pthread_t thread;
	const struct client_opts *opts;
	uint64_t *latency_ns;
	size_t n_latency, cap_latency;
	uint64_t ok;
	size_t next_target;
	struct backend_count backends[CR_MAX_BACKENDS];
	size_t n_backends;
	struct error_count errors[CR_ERRNO_KINDS];
	char bad_reply[CR_LINE_MAX];
};

static volatile sig_atomic_t is_stopping;

static void on_signal(int sig)
{
	(void)sig;
	is_stopping = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- client ------------------------------------------------------------------------------- */

static void count_error(struct worker *w, int err)
{
	size_t i;

	for (i = 0; i < CR_ERRNO_KINDS && w->errors[i].count; i++) {
		if (w->errors[i].err == err) {
			w->errors[i].count++;
			return;
		}
	}
	if (i == CR_ERRNO_KINDS)
		i = CR_ERRNO_KINDS - 1; /* table full: lump into the last kind */
	w->errors[i].err = err;
	w->errors[i].count++;
}

static int count_backend(struct worker *w, const char *line)
{
	char name[CR_NAME_MAX];
	size_t len = strcspn(line, " \n");
	size_t i;

	if (!len || len >= sizeof(name) || line[len] != ' ')
		return -1;
	memcpy(name, line, len);
	name[len] = '\0';
	if (strncmp(name, w->opts->expect, strlen(w->opts->expect)))
		return -1;
	for (i = 0; i < w->n_backends; i++) {
		if (!strcmp(w->backends[i].name, name)) {
			w->backends[i].count++;
			return 0;
		}
	}
	if (i == CR_MAX_BACKENDS)
		return -1;
	snprintf(w->backends[i].name, sizeof(w->backends[i].name), "%s", name);
	w->backends[i].count = 1;
	w->n_backends++;
	return 0;
}

static int record_latency(struct worker *w, uint64_t ns)
{
	if (w->n_latency == w->cap_latency) {
		size_t cap = w->cap_latency ? 2 * w->cap_latency : 65536;
		uint64_t *grown = realloc(w->latency_ns, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		w->latency_ns = grown;
		w->cap_latency = cap;
	}
	w->latency_ns[w->n_latency++] = ns;
	return 0;
}

/* One connection: 0, or -errno / CR_BAD_REPLY with nothing recorded but the error. */
static int one_connection(struct worker *w)
{
	const struct client_opts *o = w->opts;
	const struct sockaddr_in *target;
	struct timeval tv = {.tv_sec = o->timeout_ms / 1000,
			     .tv_usec = (suseconds_t)(o->timeout_ms % 1000) * 1000};
	char line[CR_LINE_MAX];
	size_t got = 0;
	uint64_t t0, t1;
	ssize_t r;
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* SO_SNDTIMEO bounds a blocking connect; SO_RCVTIMEO the reply. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	target = &o->targets[w->next_target++ % o->n_targets];
	t0 = now_ns();
	if (connect(fd, (const struct sockaddr *)target, sizeof(*target))) {
		err = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		goto out;
	}
	t1 = now_ns();
	if (send(fd, CR_REQUEST, sizeof(CR_REQUEST) - 1, MSG_NOSIGNAL) < 0) {
		err = -errno;
		goto out;
	}
	/* Read the reply line, then close: this side closes first, as an HTTP/1.0 client does. */
	while ((r = recv(fd, line + got, sizeof(line) - 1 - got, 0)) > 0) {
		got += (size_t)r;
		if (got == sizeof(line) - 1 || memchr(line, '\n', got))
			break;
	}
	if (r < 0 && !got) {
		err = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto out;
	}
	line[got] = '\0';
	if (count_backend(w, line)) {
		if (!w->bad_reply[0])
			snprintf(w->bad_reply, sizeof(w->bad_reply), "%.*s",
				 (int)strcspn(line, "\n"), line);
		err = CR_BAD_REPLY;
		goto out;
	}
	err = record_latency(w, t1 - t0);
	if (!err)
		w->ok++;
out:
	close(fd);
	return err;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (!is_stopping && now_ns() < w->opts->deadline_ns) {
		int err = one_connection(w);

		if (err)
			count_error(w, err);
		/* A refused or unreachable target fails at once: do not spin on it. */
		if (err == -ECONNREFUSED || err == -EHOSTUNREACH || err == -ENETUNREACH)
			usleep(1000);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static const char *error_name(int err)
{
	switch (err) {
	case CR_BAD_REPLY:
		return "BAD_REPLY";
	case -ECONNREFUSED:
		return "ECONNREFUSED";
	case -ETIMEDOUT:
		return "ETIMEDOUT";
	case -ECONNRESET:
		return "ECONNRESET";
	case -EHOSTUNREACH:
		return "EHOSTUNREACH";
	case -ENETUNREACH:
		return "ENETUNREACH";
	case -EADDRNOTAVAIL:
		return "EADDRNOTAVAIL";
	case -ENOMEM:
		return "ENOMEM";
	default:
		return "OTHER";
	}
}

static void merge_into(struct worker *all, const struct worker *w)
{
	all->ok += w->ok;
	for (size_t i = 0; i < w->n_backends; i++) {
		size_t j;

		for (j = 0; j < all->n_backends; j++)
			if (!strcmp(all->backends[j].name, w->backends[i].name))
				break;
		if (j == all->n_backends) {
			if (j == CR_MAX_BACKENDS)
				continue;
			all->backends[j] = w->backends[i];
			all->n_backends++;
		} else {
			all->backends[j].count += w->backends[i].count;
		}
	}
	for (size_t i = 0; i < CR_ERRNO_KINDS && w->errors[i].count; i++)
		for (uint64_t k = 0; k < w->errors[i].count; k++)
			count_error(all, w->errors[i].err);
	if (!all->bad_reply[0] && w->bad_reply[0])
		memcpy(all->bad_reply, w->bad_reply, sizeof(all->bad_reply));
}

static int run_client(struct client_opts *o)
{
	struct worker *workers = calloc(o->parallel, sizeof(*workers));
	struct worker all = {0};
	uint64_t *latency = NULL, errors = 0, start, elapsed;
	size_t n_latency = 0, i;
	unsigned int started = 0;
	char ip[INET_ADDRSTRLEN + 8];
	double rate, p50 = 0, p99 = 0;
	int err = 0;

	if (!workers)
		return -ENOMEM;
	start = now_ns();
	o->deadline_ns = start + (uint64_t)(o->duration_s * 1e9);
	for (i = 0; i < o->parallel; i++) {
		workers[i].opts = o;
		workers[i].next_target = i;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) {
			err = -EAGAIN;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(workers[i].thread, NULL);
		n_latency += workers[i].n_latency;
	}
	elapsed = now_ns() - start;
	latency = malloc((n_latency + 1) * sizeof(*latency));
	if (!latency) {
		err = -ENOMEM;
		goto out;
	}
	n_latency = 0;
	for (i = 0; i < started; i++) {
		memcpy(latency + n_latency, workers[i].latency_ns,
		       workers[i].n_latency * sizeof(*latency));
		n_latency += workers[i].n_latency;
		merge_into(&all, &workers[i]);
	}
	qsort(latency, n_latency, sizeof(*latency), cmp_u64);
	if (n_latency) {
		p50 = (double)latency[(n_latency - 1) / 2] / 1e3;
		p99 = (double)latency[(size_t)((double)(n_latency - 1) * 0.99)] / 1e3;
	}
	for (i = 0; i < CR_ERRNO_KINDS; i++)
		errors += all.errors[i].count;
	rate = (double)all.ok / ((double)elapsed / 1e9);
	inet_ntop(AF_INET, &o->targets[0].sin_addr, ip, INET_ADDRSTRLEN);
	if (o->n_targets > 1)
		strcat(ip, ",...");
	if (o->json) {
		printf("{\"target\": \"%s:%u\", \"parallel\": %u, \"duration_s\": %.3f, "
		       "\"connections\": %lu, \"errors\": %lu, \"conn_rate\": %.1f, "
		       "\"connect_p50_us\": %.1f, \"connect_p99_us\": %.1f, \"error_kinds\": {",
		       ip, ntohs(o->targets[0].sin_port), o->parallel, (double)elapsed / 1e9,
		       (unsigned long)all.ok, (unsigned long)errors, rate, p50, p99);
		for (i = 0; i < CR_ERRNO_KINDS && all.errors[i].count; i++)
			printf("%s\"%s\": %lu", i ? ", " : "", error_name(all.errors[i].err),
			       (unsigned long)all.errors[i].count);
		printf("}, \"backends\": {");
		for (i = 0; i < all.n_backends; i++)
			printf("%s\"%s\": %lu", i ? ", " : "", all.backends[i].name,
			       (unsigned long)all.backends[i].count);
		printf("}, \"bad_reply\": \"");
		for (const char *c = all.bad_reply; *c; c++)
			if (*c >= 0x20 && *c != '"' && *c != '\\')
				putchar(*c);
		printf("\"}\n");
	} else {
		printf("%s:%u: %lu connections in %.2f s (%u parallel): %.0f conn/s, connect p50 "
		       "%.1f us, p99 %.1f us, %lu errors\n",
		       ip, ntohs(o->targets[0].sin_port), (unsigned long)all.ok,
		       (double)elapsed / 1e9, o->parallel, rate, p50, p99, (unsigned long)errors);
		for (i = 0; i < all.n_backends; i++)
			printf("  %-16s %lu\n", all.backends[i].name,
			       (unsigned long)all.backends[i].count);
		for (i = 0; i < CR_ERRNO_KINDS && all.errors[i].count; i++)
			printf("  error %-12s %lu\n", error_name(all.errors[i].err),
			       (unsigned long)all.errors[i].count);
	}
	if (!all.ok)
		err = -EIO;
out:
	for (i = 0; i < o->parallel; i++)
		free(workers[i].latency_ns);
	free(workers);
	free(latency);
	return err;
}

static bool has_answered(const struct worker *w, const char *name)
{
	for (size_t i = 0; i < w->n_backends; i++)
		if (!strcmp(w->backends[i].name, name))
			return true;
	return false;
}

static double realtime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --until: 0 when o->until answered before the deadline, else -ETIMEDOUT. */
static int run_until(struct client_opts *o)
{
	struct worker w = {.opts = o};
	uint64_t probes = 0, errors = 0;
	double found_at = 0;
	bool is_probing = false;

	o->deadline_ns = now_ns() + (uint64_t)(o->duration_s * 1e9);
	while (!is_stopping && now_ns() < o->deadline_ns) {
		int err = one_connection(&w);

		probes++;
		if (err) {
			errors++;
			if (err == -ECONNREFUSED || err == -EHOSTUNREACH || err == -ENETUNREACH)
				usleep(1000);
			continue;
		}
		if (has_answered(&w, o->until)) {
			found_at = realtime_s();
			break;
		}
		if (!is_probing) {
			printf("probing\n");
			fflush(stdout);
			is_probing = true;
		}
	}
	printf("{\"until\": \"%s\", \"found\": %s, \"found_at\": %.6f, \"probes\": %lu, "
	       "\"errors\": %lu}\n",
	       o->until, found_at ? "true" : "false", found_at, (unsigned long)probes,
	       (unsigned long)errors);
	free(w.latency_ns);
	return found_at ? 0 : -ETIMEDOUT;
}

/* ---- server ------------------------------------------------------------------------------- */

static int listen_on(int port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, CR_BACKLOG)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* A readable connection: answer a request, close on the client's FIN (or an error). */
static void serve_one(int fd, const char *id)
{
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	char buf[CR_LINE_MAX], ip[INET_ADDRSTRLEN];
	ssize_t r = recv(fd, buf, sizeof(buf), 0);
	int n;

	if (r < 0 && errno == EAGAIN)
		return;
	if (r <= 0 || getpeername(fd, (struct sockaddr *)&peer, &len)) {
		close(fd);
		return;
	}
	inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
	n = snprintf(buf, sizeof(buf), "%s %s:%u\n", id, ip, ntohs(peer.sin_port));
	if (n > 0 && (size_t)n < sizeof(buf))
		send(fd, buf, (size_t)n, MSG_NOSIGNAL);
}

static int run_server(const char *ports, const char *id)
{
	int listeners[CR_MAX_PORTS], n_listeners = 0, ep, err = 0;
	struct epoll_event ev, events[256];
	char *copy = strdup(ports), *save = NULL, *tok;

	if (!copy)
		return -ENOMEM;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		free(copy);
		return -errno;
	}
	for (tok = strtok_r(copy, ",", &save); tok && n_listeners < CR_MAX_PORTS;
	     tok = strtok_r(NULL, ",", &save)) {
		int fd = listen_on(atoi(tok));

		if (fd < 0) {
			fprintf(stderr, "sluice-connrate: listen on port %s: %s\n", tok,
				strerror(-fd));
			err = fd;
			goto out;
		}
		listeners[n_listeners++] = fd;
		ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 1ull << 32 | (unsigned)fd};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	printf("ready\n");
	fflush(stdout);
	while (!is_stopping) {
		int n = epoll_wait(ep, events, 256, 500);

		for (int i = 0; i < n; i++) {
			int fd = (int)(events[i].data.u64 & 0xffffffffu);

			if (!(events[i].data.u64 >> 32)) {
				serve_one(fd, id);
				continue;
			}
			for (;;) {
				int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (c < 0)
					break;
				ev = (struct epoll_event){.events = EPOLLIN,
							  .data.u64 = (unsigned)c};
				if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev))
					close(c);
			}
		}
	}
out:
	for (int i = 0; i < n_listeners; i++)
		close(listeners[i]);
	close(ep);
	free(copy);
	return err;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: sluice-connrate --connect IP:PORT[,...] [--parallel N] [--duration SEC] "
		"[--timeout-ms N] [--expect PREFIX] [--until NAME] [-o json]\n"
		"       sluice-connrate --serve PORT[,PORT...] --id NAME\n");
}

static int parse_target(const char *text, struct sockaddr_in *out)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(text, ':');
	long port;

	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port < 1 || port > 65535 || inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return -EINVAL;
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	return 0;
}

static int parse_targets(const char *list, struct client_opts *o)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save)) {
		if (o->n_targets == CR_MAX_TARGETS)
			err = -E2BIG;
		else
			err = parse_target(tok, &o->targets[o->n_targets++]);
	}
	free(copy);
	return err ?: (o->n_targets ? 0 : -EINVAL);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"parallel", required_argument, NULL, 'p'},
	    {"duration", required_argument, NULL, 'd'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"expect", required_argument, NULL, 'e'},
	    {"serve", required_argument, NULL, 's'},
	    {"id", required_argument, NULL, 'i'},
	    {"until", required_argument, NULL, 'u'},
	    {NULL, 0, NULL, 0},
	};
	struct client_opts o = {
	    .parallel = 8, .duration_s = CR_DEFAULT_DURATION_S, .timeout_ms = 2000, .expect = ""};
	const char *serve = NULL, *id = NULL;
	bool has_target = false;
	struct sigaction sa = {.sa_handler = on_signal};
	int opt, err;

	while ((opt = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (parse_targets(optarg, &o)) {
				fprintf(stderr,
					"sluice-connrate: --connect %s: want IPv4:PORT[,...]\n",
					optarg);
				return 2;
			}
			has_target = true;
			break;
		case 'p':
			o.parallel = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			o.duration_s = strtod(optarg, NULL);
			break;
		case 't':
			o.timeout_ms = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'e':
			o.expect = optarg;
			break;
		case 's':
			serve = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'u':
			o.until = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json")) {
				usage();
				return 2;
			}
			o.json = true;
			break;
		default:
			usage();
			return 2;
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (serve) {
		if (!id) {
			usage();
			return 2;
		}
		err = run_server(serve, id);
		return err ? 1 : 0;
	}
	if (!has_target || !o.parallel || o.parallel > CR_MAX_THREADS || o.duration_s <= 0) {
		usage();
		return 2;
	}
	if (o.until) {
		err = run_until(&o);
		return err ? 4 : 0; /* 4: NAME never answered */
	}
	err = run_client(&o);
	if (err == -EIO)
		return 3; /* no connection succeeded */
	return err ? 1 : 0;
}
