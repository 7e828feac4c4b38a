// SPDX-License-Identifier: Apache-2.0
/*
 * The network-policy lab: one node namespace with the agent, one namespace per pod wired by
 * sluice-cni, servers on every declared port, real connections between every pair, and the
 * observed matrix next to the reference evaluator's. Everything it makes carries a random
 * prefix and is removed on every exit path, Ctrl-C included.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "loader/lab/lab.h"
#include "lib/log.h"
#include "loader/k8s/netpol.h"
#include "loader/desired/netpol_eval.h"
#include "loader/desired/state.h"
#include "loader/k8s/yaml_tree.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define LAB_NODE	       "lab"
#define LAB_SUBNET	       "10.244.1.0/24" /* pods get .2, .3, ... in the file's order */
#define LAB_READY_TIMEOUT_MS   30000	       /* agent start (the ASan build is slow) */
#define LAB_SYNC_TIMEOUT_MS    15000	       /* agent applying a manifest change */
#define LAB_PROBE_TIMEOUT_MS   1000	       /* a dropped SYN or datagram: denied */
#define LAB_UDP_RETRY_MS       250	       /* datagrams are resent, loss is not denial */
#define LAB_MAX_PODS	       128
#define LAB_MAX_PROBES_PER_POD 4096

static volatile sig_atomic_t lab_stop; /* SIGINT, SIGTERM or SIGHUP seen */

static void lab_on_signal(int sig)
{
	lab_stop = sig;
}

struct lab_pod {
	struct k8s_object *object;				/* owned reference */
	char netns[64];						/* name under /var/run/netns */
	char id[K8S_DNS_LABEL_MAX + K8S_DNS_SUBDOMAIN_MAX + 2]; /* "ns/name" */
	uint32_t ip;						/* network order */
	pid_t server;
	bool is_wired; /* CNI ADD done: DEL on cleanup */
};

struct lab_probe {
	size_t from, to; /* indexes into lab.pods */
	uint16_t port;	 /* host order */
	uint8_t proto;
	bool expected;
};

struct lab {
	const struct lab_options *options;
	char prefix[32];    /* "sllab1a2b3c-" */
	char dir[PATH_MAX]; /* files: manifests/, cni/, agent.log */
	char bpffs[PATH_MAX];
	char node_netns[64];
	char self[PATH_MAX];
	char cni[PATH_MAX];
	pid_t agent;
	bool has_node;
	bool has_sctp;
	size_t n_pods;
	struct lab_pod pods[LAB_MAX_PODS];
	size_t n_probes;
	struct lab_probe *probes;
	uint8_t *observed; /* shared with the probing children: 1 allowed, 2 denied */
	size_t observed_size;
	size_t n_pod_netns; /* counter for names */
};

/* ---- objects ----------------------------------------------------------------------------- */

void lab_objects_free(struct k8s_object **objects, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		k8s_object_put(objects[i]);
	free(objects);
}

int lab_parse(const char *text, size_t size, const char *source, struct k8s_errors *errors,
	      struct k8s_object ***out, size_t *n_out)
{
	struct k8s_object **objects = NULL;
	struct yaml_tree tree;
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line = 0;
	size_t i, n = 0;
	int err, bad = 0;

	*out = NULL;
	*n_out = 0;
	yaml_tree_init(&tree);
	err = yaml_tree_parse(&tree, text, size, &line, message, sizeof(message));
	if (err == -ENOMEM)
		return err;
	if (err) {
		k8s_errors_add(errors, "%s:%u: %s", source, line, message);
		return -EINVAL;
	}
	objects = calloc(tree.n_documents + 1, sizeof(*objects));
	if (!objects) {
		yaml_tree_free(&tree);
		return -ENOMEM;
	}
	for (i = 0; i < tree.n_documents; i++) {
		struct k8s_object *object;
		enum k8s_kind kind;

		if (!tree.documents[i])
			continue;
		err = k8s_object_kind(tree.documents[i], source, errors, &kind);
		if (err == -ENOENT)
			continue;
		if (err) {
			bad++;
			continue;
		}
		err = k8s_object_decode(tree.documents[i], kind, source, errors, &object);
		if (err == -ENOMEM) {
			lab_objects_free(objects, n);
			yaml_tree_free(&tree);
			return err;
		}
		if (err) {
			k8s_object_put(object);
			bad++;
			continue;
		}
		objects[n++] = object;
	}
	yaml_tree_free(&tree);
	if (bad) {
		lab_objects_free(objects, n);
		return -EINVAL;
	}
	*out = objects;
	*n_out = n;
	return 0;
}

/* Read and decode FILE; every problem printed. */
static int lab_load(const char *file, struct k8s_object ***out, size_t *n_out)
{
	struct k8s_errors errors = {0};
	char *text = NULL;
	size_t size = 0;
	FILE *f = fopen(file, "r");
	int err;

	if (!f) {
		err = -errno;
		log_error("lab %s: %s", file, strerror(errno));
		return err;
	}
	text = malloc(1 << 24);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	size = fread(text, 1, (1 << 24) - 1, f);
	fclose(f);
	err = lab_parse(text, size, file, &errors, out, n_out);
	free(text);
	for (size_t i = 0; i < errors.count; i++)
		log_error("%s", errors.items[i]);
	k8s_errors_free(&errors);
	return err;
}

/* ---- processes --------------------------------------------------------------------------- */

static uint64_t lab_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int lab_enter_netns(const char *name)
{
	char path[128];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		err = -errno;
	close(fd);
	return err;
}

/* Child set-up: own process group (Ctrl-C reaches only the lab), default signals. */
static void lab_child_init(void)
{
	sigset_t none;

	setpgid(0, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * Run ARGV (optionally in netns NETNS) with INPUT on stdin; capture up to out_len-1 bytes of
 * stdout into OUT. Returns the exit status, or -errno.
 */
static int lab_exec(char *const argv[], char *const envp[], const char *netns, const char *input,
		    char *out, size_t out_len)
{
	int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, status;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		lab_child_init();
		dup2(in_pipe[0], 0);
		dup2(out_pipe[1], 1);
		if (null >= 0 && !getenv("SLUICE_LAB_DEBUG"))
			dup2(null, 2);
		if (netns && lab_enter_netns(netns))
			_exit(126);
		if (envp)
			execve(argv[0], argv, envp);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	close(in_pipe[0]);
	close(out_pipe[1]);
	if (input && write(in_pipe[1], input, strlen(input)) < 0)
		log_debug("lab: write to %s: %s", argv[0], strerror(errno));
	close(in_pipe[1]);
	while ((n = read(out_pipe[0], out ? out + used : (char[256]){0},
			 out ? out_len - 1 - used : 256)) > 0 ||
	       (n < 0 && errno == EINTR)) {
		if (n > 0 && out)
			used += (size_t)n;
		if (out && used >= out_len - 1)
			break;
	}
	if (out)
		out[used] = '\0';
	close(out_pipe[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int lab_ip(const char *a, const char *b, const char *c, const char *d, const char *e,
		  const char *f)
{
	char *argv[] = {"ip",	   (char *)a, (char *)b, (char *)c,
			(char *)d, (char *)e, (char *)f, NULL};

	return lab_exec(argv, NULL, NULL, NULL, NULL, 0);
}

static int lab_netns_add(const char *name)
{
	int err = lab_ip("netns", "add", name, NULL, NULL, NULL);

	if (err) {
		log_error("lab: ip netns add %s failed (%d)", name, err);
		return -EIO;
	}
	return lab_ip("-n", name, "link", "set", "lo", "up");
}

/* Stop a child: SIGTERM to its group, SIGKILL after wait_ms. */
static void lab_stop_child(pid_t pid, unsigned int wait_ms)
{
	uint64_t deadline = lab_now_ms() + wait_ms;
	int status;

	if (pid <= 0)
		return;
	kill(-pid, SIGTERM);
	kill(pid, SIGTERM);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (lab_now_ms() > deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return;
		}
		usleep(20000);
	}
}

/* ---- the node and its agent -------------------------------------------------------------- */

static int lab_count_in_log(const struct lab *lab, const char *needle)
{
	char path[PATH_MAX + 16], line[4096];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/agent.log", lab->dir);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void lab_log_tail(const struct lab *lab)
{
	char path[PATH_MAX + 16], cmd[2 * PATH_MAX + 160];

	snprintf(path, sizeof(path), "%s/agent.log", lab->dir);
	/* A sanitizer report's head says more than its tail. */
	snprintf(cmd, sizeof(cmd),
		 "grep -m1 -A14 -e 'ERROR: AddressSanitizer' -e 'runtime error' '%s' >&2 || "
		 "tail -n 15 '%s' >&2",
		 path, path);
	if (system(cmd) < 0)
		log_debug("lab: tail failed");
}

/* Wait until the agent log holds more than BEFORE lines with NEEDLE. */
static int lab_wait_log(struct lab *lab, const char *needle, int before, unsigned int timeout_ms)
{
	uint64_t deadline = lab_now_ms() + timeout_ms;
	int status;

	while (lab_count_in_log(lab, needle) <= before) {
		if (lab_stop)
			return -EINTR;
		if (waitpid(lab->agent, &status, WNOHANG) == lab->agent) {
			lab->agent = 0;
			log_error("lab: the agent exited; its log ends:");
			lab_log_tail(lab);
			return -ECHILD;
		}
		if (lab_now_ms() > deadline) {
			log_error("lab: no \"%s\" from the agent within %u ms; its log ends:",
				  needle, timeout_ms);
			lab_log_tail(lab);
			return -ETIMEDOUT;
		}
		usleep(50000);
	}
	return 0;
}

static int lab_start_node(struct lab *lab)
{
	char manifests[PATH_MAX + 16], log_path[PATH_MAX + 16];
	int err, fd;

	snprintf(lab->node_netns, sizeof(lab->node_netns), "%snode", lab->prefix);
	err = lab_netns_add(lab->node_netns);
	if (err)
		return err;
	lab->has_node = true;
	snprintf(manifests, sizeof(manifests), "%s/manifests", lab->dir);
	snprintf(log_path, sizeof(log_path), "%s/agent.log", lab->dir);
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	lab->agent = fork();
	if (lab->agent < 0) {
		close(fd);
		return -errno;
	}
	if (lab->agent == 0) {
		lab_child_init();
		dup2(fd, 1);
		dup2(fd, 2);
		if (lab_enter_netns(lab->node_netns))
			_exit(126);
		{
			int sysctl = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY);

			if (sysctl >= 0) {
				if (write(sysctl, "1", 1) < 0)
					_exit(125);
				close(sysctl);
			}
		}
		execl(lab->options->agent ? lab->options->agent : lab->self, "sluice", "agent",
		      "--node", LAB_NODE, "--manifests", manifests, "--bpffs", lab->bpffs,
		      (char *)NULL);
		_exit(127);
	}
	close(fd);
	return lab_wait_log(lab, "agent ready", 0, LAB_READY_TIMEOUT_MS);
}

/* ---- pods -------------------------------------------------------------------------------- */

static int lab_cni(struct lab *lab, struct lab_pod *pod, const char *command, char *out,
		   size_t out_len)
{
	char config[PATH_MAX * 2 + 256], env_command[64], env_id[128], env_netns[160],
	    env_args[600], env_path[PATH_MAX + 16];
	char *argv[] = {lab->cni, NULL};
	char *envp[] = {env_command, env_id,   env_netns, "CNI_IFNAME=eth0",
			env_path,    env_args, NULL};
	char *slash;

	snprintf(config, sizeof(config),
		 "{\"cniVersion\": \"1.0.0\", \"name\": \"sluice\", \"type\": \"sluice-cni\", "
		 "\"node\": \"%s\", \"bpffs\": \"%s\", \"stateDir\": \"%s/cni\", "
		 "\"ipam\": {\"subnet\": \"%s\"}}",
		 LAB_NODE, lab->bpffs, lab->dir, LAB_SUBNET);
	snprintf(env_command, sizeof(env_command), "CNI_COMMAND=%s", command);
	snprintf(env_id, sizeof(env_id), "CNI_CONTAINERID=%s", pod->netns);
	snprintf(env_netns, sizeof(env_netns), "CNI_NETNS=/var/run/netns/%s", pod->netns);
	snprintf(env_path, sizeof(env_path), "CNI_PATH=%s", lab->cni);
	slash = strrchr(env_path, '/');
	if (slash)
		*slash = '\0';
	snprintf(env_args, sizeof(env_args),
		 "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s",
		 pod->object->namespace, pod->object->name);
	return lab_exec(argv, envp, lab->node_netns, config, out, out_len);
}

/* Bind every declared port of the pod and serve until killed. Runs in the pod's namespace. */
static void lab_serve(const struct k8s_pod *pod, int ready_fd)
{
	struct pollfd fds[K8S_MAX_CONTAINERS * K8S_MAX_CONTAINERS];
	uint8_t protos[K8S_MAX_CONTAINERS * K8S_MAX_CONTAINERS];
	size_t i, n = 0;
	char status = '1';

	for (i = 0; i < pod->n_ports && n < sizeof(protos); i++) {
		const struct k8s_container_port *p = &pod->ports[i];
		struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(p->port)};
		int type = p->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
		int one = 1, fd = socket(AF_INET, type, p->proto);

		if (fd < 0) {
			if (p->proto == IPPROTO_SCTP)
				status = 'S'; /* no SCTP in this kernel */
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
		    (type == SOCK_STREAM && listen(fd, 256))) {
			close(fd);
			continue;
		}
		fds[n].fd = fd;
		fds[n].events = POLLIN;
		protos[n++] = p->proto;
	}
	if (write(ready_fd, &status, 1) < 0)
		_exit(1);
	close(ready_fd);
	for (;;) {
		if (poll(fds, n, -1) < 0 && errno != EINTR)
			_exit(1);
		for (i = 0; i < n; i++) {
			char buf[512];
			struct sockaddr_in peer;
			socklen_t len = sizeof(peer);
			ssize_t got;

			if (!(fds[i].revents & POLLIN))
				continue;
			if (protos[i] != IPPROTO_UDP) {
				int conn = accept(fds[i].fd, NULL, NULL);

				if (conn >= 0)
					close(conn);
				continue;
			}
			got = recvfrom(fds[i].fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer,
				       &len);
			if (got >= 0)
				sendto(fds[i].fd, buf, (size_t)got, 0, (struct sockaddr *)&peer,
				       len);
		}
	}
}

static int lab_start_server(struct lab *lab, struct lab_pod *pod)
{
	int ready[2];
	char status = 0;
	struct pollfd pfd;

	if (pipe2(ready, O_CLOEXEC))
		return -errno;
	pod->server = fork();
	if (pod->server < 0)
		return -errno;
	if (pod->server == 0) {
		lab_child_init();
		close(ready[0]);
		if (lab_enter_netns(pod->netns))
			_exit(126);
		lab_serve(&pod->object->pod, ready[1]);
		_exit(0);
	}
	close(ready[1]);
	pfd.fd = ready[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) == 1 && read(ready[0], &status, 1) == 1 && status == 'S')
		lab->has_sctp = false;
	close(ready[0]);
	if (!status) {
		log_error("lab: servers of %s did not start", pod->id);
		return -EIO;
	}
	return 0;
}

static int lab_add_pod(struct lab *lab, struct k8s_object *object)
{
	struct lab_pod *pod;
	char out[8192];
	json_object *result, *ips, *address;
	const char *text;
	char ip[INET_ADDRSTRLEN], *slash;
	int err;

	if (lab->n_pods == LAB_MAX_PODS) {
		log_error("lab: more than %d pods", LAB_MAX_PODS);
		return -E2BIG;
	}
	pod = &lab->pods[lab->n_pods];
	memset(pod, 0, sizeof(*pod));
	k8s_object_get(object);
	pod->object = object;
	snprintf(pod->id, sizeof(pod->id), "%s/%s", object->namespace, object->name);
	snprintf(pod->netns, sizeof(pod->netns), "%sp%zu", lab->prefix, lab->n_pod_netns++);
	lab->n_pods++;
	err = lab_netns_add(pod->netns);
	if (err)
		return err;
	err = lab_cni(lab, pod, "ADD", out, sizeof(out));
	if (err) {
		log_error("lab: sluice-cni ADD %s failed (%d): %.400s", pod->id, err, out);
		return -EIO;
	}
	pod->is_wired = true;
	result = json_tokener_parse(out);
	if (!result || !json_object_object_get_ex(result, "ips", &ips) ||
	    !json_object_is_type(ips, json_type_array) || !json_object_array_length(ips) ||
	    !json_object_object_get_ex(json_object_array_get_idx(ips, 0), "address", &address) ||
	    !(text = json_object_get_string(address)) || strlen(text) >= sizeof(ip)) {
		json_object_put(result);
		log_error("lab: sluice-cni ADD %s: no ips[0].address in %.200s", pod->id, out);
		return -EIO;
	}
	snprintf(ip, sizeof(ip), "%s", text);
	json_object_put(result);
	slash = strchr(ip, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, ip, &pod->ip) != 1)
		return -EIO;
	return lab_start_server(lab, pod);
}

static void lab_remove_pod(struct lab *lab, struct lab_pod *pod)
{
	lab_stop_child(pod->server, 1000);
	pod->server = 0;
	if (pod->is_wired && lab->has_node)
		lab_cni(lab, pod, "DEL", NULL, 0);
	pod->is_wired = false;
	if (pod->netns[0])
		lab_ip("netns", "delete", pod->netns, NULL, NULL, NULL);
	k8s_object_put(pod->object);
	memset(pod, 0, sizeof(*pod));
}

/* ---- manifests for the agent ------------------------------------------------------------- */

static void lab_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A document tree in YAML's flow style (JSON with YAML scalars), which the agent reads back. */
static void lab_emit(FILE *f, const struct yaml_tree_node *node)
{
	size_t i;

	if (!node) {
		fputs("null", f);
		return;
	}
	switch (node->type) {
	case YAML_TREE_SCALAR:
		if (node->scalar.kind == YAML_TREE_STRING)
			lab_json_string(f, node->scalar.value);
		else if (node->scalar.kind == YAML_TREE_NULL)
			fputs("null", f);
		else
			fputs(node->scalar.value, f);
		break;
	case YAML_TREE_MAPPING:
		fputc('{', f);
		for (i = 0; i < node->mapping.count; i++) {
			fputs(i ? ", " : "", f);
			lab_json_string(f, node->mapping.pairs[i].key->scalar.value);
			fputs(": ", f);
			lab_emit(f, node->mapping.pairs[i].value);
		}
		fputc('}', f);
		break;
	case YAML_TREE_SEQUENCE:
		fputc('[', f);
		for (i = 0; i < node->sequence.count; i++) {
			fputs(i ? ", " : "", f);
			lab_emit(f, node->sequence.items[i]);
		}
		fputc(']', f);
		break;
	}
}

static void lab_emit_labels(FILE *f, const struct k8s_labels *labels)
{
	size_t i;

	fputc('{', f);
	for (i = 0; i < labels->count; i++) {
		fputs(i ? ", " : "", f);
		lab_json_string(f, labels->items[i].key);
		fputs(": ", f);
		lab_json_string(f, labels->items[i].value);
	}
	fputc('}', f);
}

/* Namespaces, the pods with their addresses, and the policies as written, in one file. */
static int lab_write_manifests(struct lab *lab, struct k8s_object *const *objects, size_t n)
{
	char tmp[PATH_MAX + 32], path[PATH_MAX + 32], ip[INET_ADDRSTRLEN];
	size_t i, j;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/lab.yaml.tmp", lab->dir);
	snprintf(path, sizeof(path), "%s/manifests/lab.yaml", lab->dir);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	for (i = 0; i < n; i++) {
		const struct k8s_object *o = objects[i];

		if (o->kind == K8S_KIND_NAMESPACE) {
			fputs(
			    "---\n{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": "
			    "{\"name\": ",
			    f);
			lab_json_string(f, o->name);
			fputs(", \"labels\": ", f);
			lab_emit_labels(f, &o->labels);
			fputs("}}\n", f);
		} else if (o->kind == K8S_KIND_NETWORK_POLICY && o->raw.n_documents) {
			fputs("---\n", f);
			lab_emit(f, o->raw.documents[0]);
			fputc('\n', f);
		}
	}
	for (i = 0; i < lab->n_pods; i++) {
		const struct lab_pod *pod = &lab->pods[i];
		const struct k8s_pod *p = &pod->object->pod;

		inet_ntop(AF_INET, &pod->ip, ip, sizeof(ip));
		fputs("---\n{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": ",
		      f);
		lab_json_string(f, pod->object->name);
		fputs(", \"namespace\": ", f);
		lab_json_string(f, pod->object->namespace);
		fputs(", \"labels\": ", f);
		lab_emit_labels(f, &pod->object->labels);
		fprintf(f,
			"}, \"spec\": {\"nodeName\": \"%s\", \"containers\": [{\"name\": \"c\", "
			"\"ports\": [",
			LAB_NODE);
		for (j = 0; j < p->n_ports; j++) {
			fprintf(f, "%s{\"containerPort\": %u, \"protocol\": \"%s\"", j ? ", " : "",
				p->ports[j].port, lb_proto_name(p->ports[j].proto));
			if (p->ports[j].name[0])
				fprintf(f, ", \"name\": \"%s\"", p->ports[j].name);
			fputc('}', f);
		}
		fprintf(f,
			"]}]}, \"status\": {\"phase\": \"Running\", \"podIP\": \"%s\", "
			"\"conditions\": [{\"type\": \"Ready\", \"status\": \"True\"}]}}\n",
			ip);
	}
	if (fclose(f))
		return -errno;
	if (rename(tmp, path))
		return -errno;
	return 0;
}

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

static int lab_probe_all(struct lab *lab)
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
static int lab_plan(struct lab *lab, struct k8s_object *const *objects, size_t n_objects)
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

/* ---- reporting --------------------------------------------------------------------------- */

static size_t lab_report_json(const struct lab *lab)
{
	size_t i, mismatches = 0;

	printf("{\"probes\": [");
	for (i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *probe = &lab->probes[i];
		bool observed = lab->observed[i] == 1;

		mismatches += observed != probe->expected;
		printf(
		    "%s\n  {\"from\": \"%s\", \"to\": \"%s\", \"port\": %u, \"protocol\": \"%s\", "
		    "\"observed\": \"%s\", \"expected\": \"%s\"}",
		    i ? "," : "", lab->pods[probe->from].id, lab->pods[probe->to].id, probe->port,
		    lb_proto_name(probe->proto), observed ? "allowed" : "denied",
		    probe->expected ? "allowed" : "denied");
	}
	printf("\n], \"mismatches\": %zu}\n", mismatches);
	fflush(stdout);
	return mismatches;
}

/* One table per (port, protocol): rows from, columns to; observed | expected side by side. */
static size_t lab_report_text(const struct lab *lab)
{
	size_t i, j, k, s, mismatches = 0, width = 3;
	char cell[4];

	for (i = 0; i < lab->n_pods; i++)
		width = strlen(lab->pods[i].id) > width ? strlen(lab->pods[i].id) : width;
	for (i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *first = &lab->probes[i];
		bool is_new = true;

		for (j = 0; j < i && is_new; j++)
			is_new = lab->probes[j].port != first->port ||
				 lab->probes[j].proto != first->proto;
		if (!is_new)
			continue;
		printf("\n%s/%u   observed (. allowed, X denied, - no such port)  |  expected"
		       "  (! mismatch)\n",
		       lb_proto_name(first->proto), first->port);
		for (k = 0; k < 2; k++) {
			printf("%*s", k ? 1 : (int)width + 3, "");
			for (j = 0; j < lab->n_pods; j++)
				printf(" %2zu", j + 1);
			printf(k ? "\n" : "  |");
		}
		for (s = 0; s < lab->n_pods; s++) {
			char row[2][LAB_MAX_PODS * 3 + 1];

			for (k = 0; k < 2; k++) {
				for (j = 0; j < lab->n_pods; j++)
					memcpy(row[k] + j * 3, "  -", 3);
				row[k][lab->n_pods * 3] = '\0';
			}
			for (j = i; j < lab->n_probes; j++) {
				const struct lab_probe *probe = &lab->probes[j];
				bool observed = lab->observed[j] == 1;

				if (probe->from != s || probe->port != first->port ||
				    probe->proto != first->proto)
					continue;
				snprintf(cell, sizeof(cell), " %c%c",
					 observed != probe->expected ? '!' : ' ',
					 observed ? '.' : 'X');
				memcpy(row[0] + probe->to * 3, cell, 3);
				snprintf(cell, sizeof(cell), "  %c", probe->expected ? '.' : 'X');
				memcpy(row[1] + probe->to * 3, cell, 3);
			}
			printf("%2zu %-*s%s  | %s\n", s + 1, (int)width, lab->pods[s].id, row[0],
			       row[1]);
		}
	}
	for (i = 0; i < lab->n_probes; i++) {
		const struct lab_probe *probe = &lab->probes[i];
		bool observed = lab->observed[i] == 1;

		if (observed == probe->expected)
			continue;
		if (!mismatches++)
			printf("\nmismatches:\n");
		printf("  %s -> %s %s/%u: observed %s, expected %s\n", lab->pods[probe->from].id,
		       lab->pods[probe->to].id, lb_proto_name(probe->proto), probe->port,
		       observed ? "allowed" : "denied", probe->expected ? "allowed" : "denied");
	}
	printf("\n%zu probes, %zu mismatches%s\n", lab->n_probes, mismatches,
	       lab->has_sctp ? "" : " (SCTP ports not probed: no SCTP in this kernel)");
	fflush(stdout);
	return mismatches;
}

/* ---- the run ----------------------------------------------------------------------------- */

static void lab_cleanup(struct lab *lab)
{
	char cmd[PATH_MAX + 32];
	size_t i;

	for (i = 0; i < lab->n_pods; i++)
		lab_stop_child(lab->pods[i].server, 1000);
	lab_stop_child(lab->agent, 10000);
	lab->agent = 0;
	for (i = lab->n_pods; i-- > 0;)
		lab_remove_pod(lab, &lab->pods[i]);
	lab->n_pods = 0;
	if (lab->has_node)
		lab_ip("netns", "delete", lab->node_netns, NULL, NULL, NULL);
	lab->has_node = false;
	/* The agent leaves its pins on exit (by design); these are the lab's own. */
	if (lab->bpffs[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lab->bpffs);
		if (system(cmd))
			log_warn("lab: could not remove %s", lab->bpffs);
		*strrchr(lab->bpffs, '/') = '\0';
		rmdir(lab->bpffs);
	}
	if (lab->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lab->dir);
		if (system(cmd))
			log_warn("lab: could not remove %s", lab->dir);
	}
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
 * Make the wired pods those of OBJECTS: removed and changed ones go, new ones are created in
 * the file's order; kept ones take the new object (labels).
 */
static int lab_sync_pods(struct lab *lab, struct k8s_object *const *objects, size_t n)
{
	size_t i, j;
	int err;

	for (i = lab->n_pods; i-- > 0;) {
		bool is_kept = false;

		for (j = 0; j < n && !is_kept; j++) {
			if (objects[j]->kind == K8S_KIND_POD &&
			    lab_pod_same(objects[j], lab->pods[i].object)) {
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
		err = lab_add_pod(lab, objects[j]);
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
	int syncs = lab_count_in_log(lab, "sync:");
	int err = lab_sync_pods(lab, objects, n);

	if (err)
		return err;
	err = lab_write_manifests(lab, objects, n);
	if (err)
		return err;
	err = lab_wait_log(lab, "sync:", syncs, LAB_SYNC_TIMEOUT_MS);
	if (err)
		return err;
	err = lab_plan(lab, objects, n);
	if (err)
		return err;
	if (!lab->options->is_json)
		fprintf(stderr, "lab: probing %zu connections between %zu pods\n", lab->n_probes,
			lab->n_pods);
	err = lab_probe_all(lab);
	if (err)
		return err;
	return (int)(lab->options->is_json ? lab_report_json(lab) : lab_report_text(lab));
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
	snprintf(lab->bpffs, sizeof(lab->bpffs), "/sys/fs/bpf/%.*s/%s",
		 (int)strlen(lab->prefix) - 1, lab->prefix, LAB_NODE);
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
	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGHUP, &action, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = lab_setup(lab);
	if (!ret)
		ret = lab_start_node(lab);
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
			if (lab_load(options->file, &next, &n_next)) {
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
