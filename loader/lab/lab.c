// SPDX-License-Identifier: Apache-2.0
/*
 * The network-policy lab: one node namespace with the agent (or several on a fabric, one
 * agent each, pods spread over them), one namespace per pod wired by sluice-cni, servers on every
 * declared port, real connections between every pair, and the observed matrix next to the reference
 * evaluator's. Everything it makes carries a random prefix and is removed on every exit path,
 * Ctrl-C included. This file holds the run; the other loader/lab/lab_*.c files its parts.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "lib/log.h"
#include "loader/lab/lab_internal.h"

volatile sig_atomic_t lab_stop; /* SIGINT, SIGTERM or SIGHUP seen */

static void lab_on_signal(int sig)
{
	lab_stop = sig;
}

/* ---- the run ----------------------------------------------------------------------------- */

static void lab_cleanup(struct lab *lab)
{
	char cmd[PATH_MAX + 32];
	size_t i;

	for (i = 0; i < lab->n_pods; i++)
		lab_stop_child(lab->pods[i].server, 1000);
	for (i = 0; i < lab->n_nodes; i++) {
		lab_stop_child(lab->nodes[i].agent, 10000);
		lab->nodes[i].agent = 0;
	}
	for (i = lab->n_pods; i-- > 0;)
		lab_remove_pod(lab, &lab->pods[i]);
	lab->n_pods = 0;
	for (i = 0; i < lab->n_nodes; i++) {
		if (lab->nodes[i].has_netns)
			lab_ip("netns", "delete", lab->nodes[i].netns, NULL);
		lab->nodes[i].has_netns = false;
	}
	if (lab->has_fabric)
		lab_ip("netns", "delete", lab->fabric_netns, NULL);
	lab->has_fabric = false;
	/* The agents leave their pins on exit (by design); these are the lab's own. */
	if (lab->bpffs[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lab->bpffs);
		if (system(cmd))
			log_warn("lab: could not remove %s", lab->bpffs);
	}
	if (lab->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lab->dir);
		if (system(cmd))
			log_warn("lab: could not remove %s", lab->dir);
	}
	lab_explain_free(lab);
	free(lab->probes);
	if (lab->observed)
		munmap(lab->observed, lab->observed_size);
}

static bool lab_pod_same(const struct k8s_object *a, const struct k8s_object *b)
{
	return !strcmp(a->namespace, b->namespace) && !strcmp(a->name, b->name) &&
	       a->pod.n_ports == b->pod.n_ports &&
	       !memcmp(a->pod.ports, b->pod.ports, a->pod.n_ports * sizeof(*a->pod.ports));
}

/*
 * Make the wired pods those of OBJECTS: removed, changed and moved ones go, new ones are
 * created in the file's order; kept ones take the new object (labels).
 */
static int lab_sync_pods(struct lab *lab, struct k8s_object *const *objects, size_t n)
{
	size_t i, j, node;
	int err;

	for (i = lab->n_pods; i-- > 0;) {
		bool is_kept = false;

		for (j = 0; j < n && !is_kept; j++) {
			if (objects[j]->kind == K8S_KIND_POD &&
			    lab_pod_same(objects[j], lab->pods[i].object) &&
			    !lab_place(lab, objects, n, j, &node) && node == lab->pods[i].node) {
				k8s_object_get(objects[j]);
				k8s_object_put(lab->pods[i].object);
				lab->pods[i].object = objects[j];
				is_kept = true;
			}
		}
		if (!is_kept) {
			lab_remove_pod(lab, &lab->pods[i]);
			memmove(&lab->pods[i], &lab->pods[i + 1],
				(lab->n_pods - i - 1) * sizeof(lab->pods[0]));
			lab->n_pods--;
		}
	}
	for (j = 0; j < n; j++) {
		bool is_wired = false;

		if (objects[j]->kind != K8S_KIND_POD)
			continue;
		for (i = 0; i < lab->n_pods && !is_wired; i++)
			is_wired = lab->pods[i].object == objects[j];
		if (is_wired)
			continue;
		for (i = 0; i < lab->n_pods; i++) {
			if (!strcmp(lab->pods[i].object->namespace, objects[j]->namespace) &&
			    !strcmp(lab->pods[i].object->name, objects[j]->name))
				break;
		}
		if (i < lab->n_pods)
			continue; /* duplicate in the file: first wins */
		err = lab_place(lab, objects, n, j, &node);
		if (!err)
			err = lab_add_pod(lab, objects[j], node);
		if (err)
			return err;
		if (lab_stop)
			return -EINTR;
	}
	return 0;
}

/* Apply OBJECTS (pods, manifests, agent sync), probe, report. Returns mismatches or -errno. */
static int lab_round(struct lab *lab, struct k8s_object *const *objects, size_t n)
{
	int syncs[LAB_MAX_NODES];
	size_t i;
	int err, ret;

	for (i = 0; i < lab->n_nodes; i++)
		syncs[i] = lab_count_in_log(&lab->nodes[i], "sync:");
	err = lab_sync_pods(lab, objects, n);
	if (err)
		return err;
	err = lab_write_manifests(lab, objects, n);
	if (err)
		return err;
	for (i = 0; i < lab->n_nodes; i++) {
		err = lab_wait_log(lab, &lab->nodes[i], "sync:", syncs[i], LAB_SYNC_TIMEOUT_MS);
		if (err)
			return err;
	}
	err = lab_plan(lab, objects, n);
	if (err)
		return err;
	if (!lab->options->is_json && lab->n_nodes > 1)
		fprintf(stderr, "lab: probing %zu connections between %zu pods on %zu nodes\n",
			lab->n_probes, lab->n_pods, lab->n_nodes);
	else if (!lab->options->is_json)
		fprintf(stderr, "lab: probing %zu connections between %zu pods\n", lab->n_probes,
			lab->n_pods);
	err = lab_probe_all(lab);
	if (!err)
		err = lab_explain_all(lab);
	if (err)
		return err;
	ret = (int)(lab->options->is_json ? lab_report_json(lab) : lab_report_text(lab));
	if (lab->options->html) {
		err = lab_report_html(lab);
		if (err)
			return err;
	}
	return ret;
}

static int lab_setup(struct lab *lab)
{
	char path[PATH_MAX + 32];
	unsigned char random[3];
	ssize_t n;
	FILE *f;

	n = readlink("/proc/self/exe", lab->self, sizeof(lab->self) - 1);
	if (n <= 0)
		return -errno;
	lab->self[n] = '\0';
	if (lab->options->cni) {
		snprintf(lab->cni, sizeof(lab->cni), "%s", lab->options->cni);
	} else {
		snprintf(lab->cni, sizeof(lab->cni), "%s", lab->self);
		*strrchr(lab->cni, '/') = '\0';
		if (strlen(lab->cni) + 12 >= sizeof(lab->cni))
			return -ENAMETOOLONG;
		strcat(lab->cni, "/sluice-cni");
	}
	if (access(lab->cni, X_OK)) {
		log_error("lab: %s: %s (set SLUICE_CNI)", lab->cni, strerror(errno));
		return -ENOENT;
	}
	f = fopen("/dev/urandom", "r");
	if (!f || fread(random, 1, sizeof(random), f) != sizeof(random)) {
		if (f)
			fclose(f);
		return -EIO;
	}
	fclose(f);
	snprintf(lab->prefix, sizeof(lab->prefix), "sllab%02x%02x%02x-", random[0], random[1],
		 random[2]);
	snprintf(lab->dir, sizeof(lab->dir), "/tmp/%sXXXXXX", lab->prefix);
	if (!mkdtemp(lab->dir)) {
		lab->dir[0] = '\0';
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/manifests", lab->dir);
	if (mkdir(path, 0700))
		return -errno;
	snprintf(path, sizeof(path), "%s/cni", lab->dir);
	if (mkdir(path, 0700))
		return -errno;
	snprintf(lab->bpffs, sizeof(lab->bpffs), "/sys/fs/bpf/%.*s", (int)strlen(lab->prefix) - 1,
		 lab->prefix);
	return 0;
}

/* Block until FILE changes (or a signal). */
static int lab_wait_change(const char *file)
{
	char buf[4096], dir[PATH_MAX];
	const char *slash = strrchr(file, '/');
	struct pollfd pfd;
	int fd, wd;

	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - file), file);
	else
		snprintf(dir, sizeof(dir), ".");
	fd = inotify_init1(IN_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Watch the directory: editors replace the file by rename. */
	wd = inotify_add_watch(fd, dir[0] ? dir : "/", IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE);
	if (wd < 0) {
		close(fd);
		return -errno;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (!lab_stop) {
		if (poll(&pfd, 1, 200) == 1) {
			if (read(fd, buf, sizeof(buf)) < 0 && errno != EINTR)
				break;
			usleep(200000); /* a burst of writes settles */
			while (poll(&pfd, 1, 0) == 1 && read(fd, buf, sizeof(buf)) > 0)
				;
			close(fd);
			return 0;
		}
	}
	close(fd);
	return -EINTR;
}

int lab_run(const struct lab_options *options)
{
	struct sigaction action = {.sa_handler = lab_on_signal};
	struct k8s_object **objects = NULL;
	struct lab *lab;
	size_t n_objects = 0;
	int ret;

	if (geteuid() != 0) {
		log_error("lab: needs root (network namespaces, bpffs)");
		return -EPERM;
	}
	if (options->html) {
		struct stat in, out;

		ret = lab_html_check_target(options->html);
		if (ret)
			return ret;
		if (!stat(options->file, &in) && !stat(options->html, &out) &&
		    in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
			log_error("lab: -o html %s: that is the lab file itself", options->html);
			return -EINVAL;
		}
	}
	ret = lab_load(options->file, &objects, &n_objects);
	if (ret)
		return ret;
	lab = calloc(1, sizeof(*lab));
	if (!lab) {
		lab_objects_free(objects, n_objects);
		return -ENOMEM;
	}
	lab->options = options;
	lab->has_sctp = true;
	lab->n_nodes = options->n_nodes ? options->n_nodes : 1;
	if (lab->n_nodes > LAB_MAX_NODES || lab_check_placement(lab, objects, n_objects)) {
		if (lab->n_nodes > LAB_MAX_NODES)
			log_error("lab: --nodes %zu: at most %d", lab->n_nodes, LAB_MAX_NODES);
		lab_objects_free(objects, n_objects);
		free(lab);
		return -EINVAL;
	}
	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGHUP, &action, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = lab_setup(lab);
	if (!ret)
		ret = lab_start_nodes(lab);
	while (!ret && !lab_stop) {
		ret = lab_round(lab, objects, n_objects);
		if (ret < 0 || !options->is_watch)
			break;
		if (!options->is_json)
			fprintf(stderr, "lab: watching %s (Ctrl-C ends)\n", options->file);
		for (;;) {
			struct k8s_object **next = NULL;
			size_t n_next = 0;

			ret = lab_wait_change(options->file);
			if (ret)
				break;
			if (lab_load(options->file, &next, &n_next) ||
			    lab_check_placement(lab, next, n_next)) {
				lab_objects_free(next, n_next);
				fprintf(stderr,
					"lab: %s is invalid; keeping the last good version\n",
					options->file);
				continue;
			}
			lab_objects_free(objects, n_objects);
			objects = next;
			n_objects = n_next;
			break;
		}
		if (ret == -EINTR)
			ret = 0;
	}
	if (lab_stop) {
		fprintf(stderr, "lab: interrupted, cleaning up\n");
		ret = -EINTR;
	}
	lab_cleanup(lab);
	lab_objects_free(objects, n_objects);
	free(lab);
	if (ret < 0)
		return ret;
	return ret > 0 ? 1 : 0;
}
