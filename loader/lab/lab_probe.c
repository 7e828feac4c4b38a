// SPDX-License-Identifier: Apache-2.0
/* The lab's probes: real connections between every pod pair, against the evaluator. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "lib/log.h"
#include "loader/desired/netpol_eval.h"
#include "loader/lab/lab_internal.h"

/* ---- probing ----------------------------------------------------------------------------- */

struct lab_conn {
	int fd;
	size_t probe;
	uint64_t sent_ms;
};

/* Every probe from one source pod at once, in its namespace; results into lab->observed. */
static void lab_probe_from(struct lab *lab, size_t from, unsigned int timeout_ms)
{
	struct lab_conn *conns = calloc(lab->n_probes, sizeof(*conns));
	struct pollfd *fds = calloc(lab->n_probes, sizeof(*fds));
	size_t i, n = 0, open_count;
	uint64_t start = lab_now_ms();

	if (!conns || !fds)
		_exit(1);
	for (i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *probe = &lab->probes[i];
		struct sockaddr_in addr = {.sin_family = AF_INET,
					   .sin_port = htons(probe->port),
					   .sin_addr.s_addr = lab->pods[probe->to].ip};
		int type = probe->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
		int fd;

		if (probe->from != from)
			continue;
		fd = socket(AF_INET, type | SOCK_NONBLOCK, probe->proto);
		if (fd < 0) {
			lab->observed[i] = 2;
			continue;
		}
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) && errno != EINPROGRESS) {
			lab->observed[i] = 2;
			close(fd);
			continue;
		}
		if (type == SOCK_DGRAM && send(fd, "probe\n", 6, 0) < 0) {
			lab->observed[i] = 2;
			close(fd);
			continue;
		}
		conns[n].fd = fd;
		conns[n].probe = i;
		conns[n].sent_ms = lab_now_ms();
		fds[n].fd = fd;
		fds[n].events = type == SOCK_DGRAM ? POLLIN : POLLOUT;
		n++;
	}
	open_count = n;
	while (open_count && lab_now_ms() < start + timeout_ms) {
		if (poll(fds, n, LAB_UDP_RETRY_MS / 5) < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			const struct lab_probe *probe;
			char buf[64];
			int soerr = 0;
			socklen_t len = sizeof(soerr);

			if (fds[i].fd < 0)
				continue;
			probe = &lab->probes[conns[i].probe];
			if (fds[i].revents) {
				if (probe->proto == IPPROTO_UDP)
					lab->observed[conns[i].probe] =
					    recv(fds[i].fd, buf, sizeof(buf), 0) >= 0 ? 1 : 2;
				else
					lab->observed[conns[i].probe] =
					    !getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &soerr,
							&len) &&
						    !soerr
						? 1
						: 2;
				close(fds[i].fd);
				fds[i].fd = -1;
				open_count--;
			} else if (probe->proto == IPPROTO_UDP &&
				   lab_now_ms() > conns[i].sent_ms + LAB_UDP_RETRY_MS) {
				if (send(fds[i].fd, "probe\n", 6, 0) < 0)
					log_debug("lab: resend: %s", strerror(errno));
				conns[i].sent_ms = lab_now_ms();
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (fds[i].fd >= 0) {
			lab->observed[conns[i].probe] = 2; /* nothing back in time: dropped */
			close(fds[i].fd);
		}
	}
	free(conns);
	free(fds);
}

int lab_probe_all(struct lab *lab)
{
	pid_t pids[LAB_MAX_PODS];
	size_t i;
	int status, err = 0;

	memset(lab->observed, 0, lab->observed_size);
	for (i = 0; i < lab->n_pods; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return -errno;
		if (pids[i] == 0) {
			lab_child_init();
			if (lab_enter_netns(lab->pods[i].netns))
				_exit(126);
			lab_probe_from(lab, i, lab->options->timeout_ms);
			_exit(0);
		}
	}
	for (i = 0; i < lab->n_pods; i++) {
		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			err = -EIO;
	}
	return err;
}

/* The probes of the current pods and their expected verdicts. */
int lab_plan(struct lab *lab, struct k8s_object *const *objects, size_t n_objects)
{
	struct k8s_object **world_objects;
	struct netpol_world world;
	size_t i, s, d, p, n = 0, w = 0;
	int err;

	/* The evaluator sees the file's namespaces and policies, and the pods as wired. */
	world_objects = calloc(n_objects + lab->n_pods + 1, sizeof(*world_objects));
	if (!world_objects)
		return -ENOMEM;
	for (i = 0; i < n_objects; i++) {
		if (objects[i]->kind != K8S_KIND_POD)
			world_objects[w++] = objects[i];
	}
	for (i = 0; i < lab->n_pods; i++) {
		lab->pods[i].object->pod.ip = lab->pods[i].ip;
		lab->pods[i].object->pod.has_ip = true;
		world_objects[w++] = lab->pods[i].object;
	}
	err = netpol_world_build(world_objects, w, &world);
	free(world_objects);
	if (err)
		return err;
	for (d = 0; d < lab->n_pods; d++)
		n += lab->pods[d].object->pod.n_ports * lab->n_pods;
	lab_explain_free(lab);
	free(lab->probes);
	lab->probes = calloc(n + 1, sizeof(*lab->probes));
	if (!lab->probes) {
		netpol_world_free(&world);
		return -ENOMEM;
	}
	if (lab->observed)
		munmap(lab->observed, lab->observed_size);
	lab->observed_size = n + 1;
	lab->observed = mmap(NULL, lab->observed_size, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lab->observed == MAP_FAILED) {
		lab->observed = NULL;
		netpol_world_free(&world);
		return -ENOMEM;
	}
	lab->n_probes = 0;
	/* World pods are in lab->pods order: every lab pod has an address. */
	for (d = 0; d < lab->n_pods; d++) {
		const struct k8s_pod *dst = &lab->pods[d].object->pod;

		for (p = 0; p < dst->n_ports; p++) {
			if (dst->ports[p].proto == IPPROTO_SCTP && !lab->has_sctp)
				continue;
			for (s = 0; s < lab->n_pods; s++) {
				struct lab_probe *probe = &lab->probes[lab->n_probes++];

				probe->from = s;
				probe->to = d;
				probe->port = dst->ports[p].port;
				probe->proto = dst->ports[p].proto;
				probe->expected =
				    netpol_eval_allowed(&world, s, d, probe->port, probe->proto);
			}
		}
	}
	netpol_world_free(&world);
	return 0;
}
