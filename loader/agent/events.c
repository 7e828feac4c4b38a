// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's flow-event server: one thread consumes the datapath's events ring into a bounded
 * history and writes it to the observe socket's readers, each at its own pace. A reader that
 * falls more than EVENTS_KEEP events behind loses the oldest (counted and told), so no reader
 * ever holds up the ring, the agent or another reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "lib/bpffs.h"
#include "lib/log.h"
#include "lib/observe.h"
#include "loader/agent/events.h"

/* How often the thread looks at its stop flag when nothing happens, in ms. */
#define EVENTS_POLL_MS 100

struct events_reader {
	int fd;		  /* -1: free */
	bool has_request; /* its observe_request was read: cursor is set */
	bool is_follow;
	uint64_t cursor; /* sequence number of the next event to send */
	uint64_t lost;	 /* events it missed, not yet told */
};

struct events_server {
	pthread_t thread;
	bool has_thread;
	volatile bool is_stopping;
	int ring_fd;
	int listen_fd;
	struct ring_buffer *ring;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct flow_event *history; /* EVENTS_KEEP events, by sequence number modulo */
	uint64_t head;		    /* sequence number of the next event consumed */
	struct events_reader readers[EVENTS_MAX_READERS];
};

static int events_on_ring(void *ctx, void *data, size_t size)
{
	struct events_server *server = ctx;

	if (size < sizeof(struct flow_event))
		return 0;
	memcpy(&server->history[server->head % EVENTS_KEEP], data, sizeof(struct flow_event));
	server->head++;
	return 0;
}

static uint64_t events_oldest(const struct events_server *server)
{
	return server->head > EVENTS_KEEP ? server->head - EVENTS_KEEP : 0;
}

static void events_reader_close(struct events_reader *reader)
{
	if (reader->fd >= 0)
		close(reader->fd);
	memset(reader, 0, sizeof(*reader));
	reader->fd = -1;
}

/* The reader's request: where its stream starts. Returns 0, or -1 to close it. */
static int events_reader_request(struct events_server *server, struct events_reader *reader)
{
	struct observe_request request;
	ssize_t n = recv(reader->fd, &request, sizeof(request), MSG_DONTWAIT);
	uint64_t seq;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != (ssize_t)sizeof(request))
		return -1;
	for (seq = events_oldest(server); seq < server->head; seq++)
		if (server->history[seq % EVENTS_KEEP].time_ns >= request.since_ns)
			break;
	reader->cursor = seq;
	reader->is_follow = request.flags & OBSERVE_F_FOLLOW;
	reader->has_request = true;
	return 0;
}

/* Send one message of N events. Returns 1 sent, 0 the socket is full, -1 the reader is gone. */
static int events_send(struct events_reader *reader, const struct flow_event *events, size_t n)
{
	if (send(reader->fd, events, n * sizeof(*events), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return 1;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? 0 : -1;
}

/*
 * Send what the reader has not had, while its socket takes it. Returns 0, or -1 to close it
 * (gone, or done without OBSERVE_F_FOLLOW).
 */
static int events_reader_send(struct events_server *server, struct events_reader *reader)
{
	struct flow_event batch[OBSERVE_BATCH] = {{0}};
	uint64_t oldest = events_oldest(server);
	size_t n;
	int ret;

	if (reader->cursor < oldest) {
		reader->lost += oldest - reader->cursor;
		reader->cursor = oldest;
	}
	if (reader->lost) {
		batch[0].kind = EVENT_LOST;
		batch[0].policy = reader->lost > UINT32_MAX ? UINT32_MAX : (__u32)reader->lost;
		ret = events_send(reader, batch, 1);
		if (ret <= 0)
			return ret;
		reader->lost = 0;
	}
	while (reader->cursor < server->head) {
		for (n = 0; n < OBSERVE_BATCH && reader->cursor + n < server->head; n++)
			batch[n] = server->history[(reader->cursor + n) % EVENTS_KEEP];
		ret = events_send(reader, batch, n);
		if (ret <= 0)
			return ret;
		reader->cursor += n;
	}
	if (reader->is_follow)
		return 0;
	memset(&batch[0], 0, sizeof(batch[0]));
	batch[0].kind = EVENT_END;
	return events_send(reader, batch, 1) == 0 ? 0 : -1;
}

/* A reader whose request was read sends nothing more: anything readable is its end. */
static int events_reader_drain(struct events_reader *reader)
{
	char byte;
	ssize_t n = recv(reader->fd, &byte, 1, MSG_DONTWAIT);

	return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
}

static void events_accept(struct events_server *server)
{
	int fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (size_t i = 0; i < EVENTS_MAX_READERS; i++) {
		if (server->readers[i].fd < 0) {
			server->readers[i].fd = fd;
			return;
		}
	}
	log_warn("observe: %d readers already, one more refused", EVENTS_MAX_READERS);
	close(fd);
}

static void *events_thread(void *arg)
{
	struct events_server *server = arg;
	struct pollfd fds[2 + EVENTS_MAX_READERS];

	while (!server->is_stopping) {
		size_t n = 2;

		fds[0] =
		    (struct pollfd){.fd = ring_buffer__epoll_fd(server->ring), .events = POLLIN};
		fds[1] = (struct pollfd){.fd = server->listen_fd, .events = POLLIN};
		for (size_t i = 0; i < EVENTS_MAX_READERS; i++) {
			struct events_reader *reader = &server->readers[i];

			fds[n].fd = reader->fd; /* negative: poll ignores it */
			fds[n].events = POLLIN;
			if (reader->has_request && reader->cursor < server->head)
				fds[n].events |= POLLOUT;
			fds[n++].revents = 0;
		}
		if (poll(fds, n, EVENTS_POLL_MS) < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN)
			ring_buffer__consume(server->ring);
		if (fds[1].revents & POLLIN)
			events_accept(server);
		for (size_t i = 0; i < EVENTS_MAX_READERS; i++) {
			struct events_reader *reader = &server->readers[i];
			short revents = fds[2 + i].revents;
			int err = 0;

			if (reader->fd < 0 || fds[2 + i].fd != reader->fd)
				continue;
			if (revents & (POLLERR | POLLNVAL))
				err = -1;
			else if (!reader->has_request && (revents & (POLLIN | POLLHUP)))
				err = events_reader_request(server, reader);
			else if (revents & (POLLIN | POLLHUP))
				err = events_reader_drain(reader);
			if (!err && reader->has_request)
				err = events_reader_send(server, reader);
			if (err)
				events_reader_close(reader);
		}
	}
	return NULL;
}

int events_server_start(const char *bpffs, struct events_server **out)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct events_server *server;
	int err;

	server = calloc(1, sizeof(*server));
	if (!server)
		return -ENOMEM;
	server->ring_fd = -1;
	server->listen_fd = -1;
	for (size_t i = 0; i < EVENTS_MAX_READERS; i++)
		server->readers[i].fd = -1;
	server->history = calloc(EVENTS_KEEP, sizeof(*server->history));
	if (!server->history) {
		err = -ENOMEM;
		goto fail;
	}
	server->ring_fd = bpffs_open_map(bpffs, EVENTS_MAP);
	if (server->ring_fd < 0) {
		err = server->ring_fd;
		log_error("%s/%s: %s", bpffs, EVENTS_MAP, strerror(-err));
		goto fail;
	}
	server->ring = ring_buffer__new(server->ring_fd, events_on_ring, server, NULL);
	if (!server->ring) {
		err = -errno;
		log_error("%s/%s: ring buffer: %s", bpffs, EVENTS_MAP, strerror(-err));
		goto fail;
	}
	err = observe_socket_path(bpffs, server->path, sizeof(server->path));
	if (err) {
		log_error("observe socket for %s: path too long", bpffs);
		goto fail;
	}
	if ((mkdir("/run/sluice", 0755) && errno != EEXIST) ||
	    (mkdir(OBSERVE_SOCKET_DIR, 0700) && errno != EEXIST)) {
		err = -errno;
		log_error("%s: %s", OBSERVE_SOCKET_DIR, strerror(-err));
		goto fail;
	}
	server->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (server->listen_fd < 0) {
		err = -errno;
		goto fail_socket;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", server->path);
	/* One agent per bpffs: a socket left here is a previous agent's. */
	unlink(server->path);
	if (bind(server->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    chmod(server->path, 0600) || listen(server->listen_fd, EVENTS_MAX_READERS)) {
		err = -errno;
		goto fail_socket;
	}
	err = -pthread_create(&server->thread, NULL, events_thread, server);
	if (err)
		goto fail_socket;
	server->has_thread = true;
	log_info("observe: flow events served on %s", server->path);
	*out = server;
	return 0;

fail_socket:
	log_error("observe socket %s: %s", server->path, strerror(-err));
fail:
	events_server_stop(server);
	return err;
}

void events_server_stop(struct events_server *server)
{
	if (!server)
		return;
	server->is_stopping = true;
	if (server->has_thread)
		pthread_join(server->thread, NULL);
	for (size_t i = 0; i < EVENTS_MAX_READERS; i++)
		if (server->readers[i].fd >= 0)
			close(server->readers[i].fd);
	if (server->listen_fd >= 0) {
		close(server->listen_fd);
		unlink(server->path);
	}
	ring_buffer__free(server->ring);
	if (server->ring_fd >= 0)
		close(server->ring_fd);
	free(server->history);
	free(server);
}
