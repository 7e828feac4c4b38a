// SPDX-License-Identifier: Apache-2.0
/* The lab's processes: children in network namespaces, and the node with its agent. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lib/log.h"
#include "loader/lab/lab_internal.h"

/* ---- processes --------------------------------------------------------------------------- */

uint64_t lab_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int lab_enter_netns(const char *name)
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
void lab_child_init(void)
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
int lab_exec(char *const argv[], char *const envp[], const char *netns, const char *input,
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

int lab_ip(const char *first, ...)
{
	char *argv[16] = {"ip", (char *)first};
	size_t n = 2;
	va_list ap;

	va_start(ap, first);
	while (n < sizeof(argv) / sizeof(argv[0]) - 1 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	return lab_exec(argv, NULL, NULL, NULL, NULL, 0);
}

int lab_netns_add(const char *name)
{
	int err = lab_ip("netns", "add", name, NULL);

	if (err) {
		log_error("lab: ip netns add %s failed (%d)", name, err);
		return -EIO;
	}
	return lab_ip("-n", name, "link", "set", "lo", "up", NULL);
}

/* Stop a child: SIGTERM to its group, SIGKILL after wait_ms. */
void lab_stop_child(pid_t pid, unsigned int wait_ms)
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

int lab_count_in_log(const struct lab_node *node, const char *needle)
{
	char line[4096];
	FILE *f;
	int n = 0;

	f = fopen(node->log, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void lab_log_tail(const struct lab_node *node)
{
	char cmd[2 * PATH_MAX + 256];

	/* A sanitizer report's head says more than its tail. */
	snprintf(cmd, sizeof(cmd),
		 "grep -m1 -A14 -e 'ERROR: AddressSanitizer' -e 'runtime error' '%s' >&2 || "
		 "tail -n 15 '%s' >&2",
		 node->log, node->log);
	if (system(cmd) < 0)
		log_debug("lab: tail failed");
}

/* Wait until NODE's agent log holds more than BEFORE lines with NEEDLE. */
int lab_wait_log(struct lab *lab, struct lab_node *node, const char *needle, int before,
		 unsigned int timeout_ms)
{
	uint64_t deadline = lab_now_ms() + timeout_ms;
	int status;

	(void)lab;
	while (lab_count_in_log(node, needle) <= before) {
		if (lab_stop)
			return -EINTR;
		if (waitpid(node->agent, &status, WNOHANG) == node->agent) {
			node->agent = 0;
			log_error("lab: the agent of node %s exited; its log ends:", node->name);
			lab_log_tail(node);
			return -ECHILD;
		}
		if (lab_now_ms() > deadline) {
			log_error("lab: no \"%s\" from the agent of node %s within %u ms; its log "
				  "ends:",
				  needle, node->name, timeout_ms);
			lab_log_tail(node);
			return -ETIMEDOUT;
		}
		usleep(50000);
	}
	return 0;
}

/*
 * Several nodes: the fabric namespace with a bridge, and node I's eth0 on it (198.51.100.I/24),
 * as tests/e2e/lib.sh's topo_fabric_node wires them.
 */
static int lab_wire_fabric(struct lab *lab, struct lab_node *node, size_t i)
{
	char peer[16], address[24];
	int err = 0;

	if (!lab->has_fabric) {
		snprintf(lab->fabric_netns, sizeof(lab->fabric_netns), "%sfabric", lab->prefix);
		err = lab_netns_add(lab->fabric_netns);
		if (err)
			return err;
		lab->has_fabric = true;
		if (lab_ip("-n", lab->fabric_netns, "link", "add", "br0", "type", "bridge", NULL) ||
		    lab_ip("-n", lab->fabric_netns, "link", "set", "br0", "up", NULL)) {
			log_error("lab: the fabric's bridge br0 failed");
			return -EIO;
		}
	}
	snprintf(peer, sizeof(peer), "n%u", (unsigned char)(i + 1));
	snprintf(address, sizeof(address), "%s/24", node->ip);
	if (lab_ip("link", "add", "eth0", "netns", node->netns, "type", "veth", "peer", "name",
		   peer, "netns", lab->fabric_netns, NULL) ||
	    lab_ip("-n", lab->fabric_netns, "link", "set", peer, "master", "br0", "up", NULL) ||
	    lab_ip("-n", node->netns, "addr", "add", address, "dev", "eth0", NULL) ||
	    lab_ip("-n", node->netns, "link", "set", "eth0", "up", NULL)) {
		log_error("lab: node %s: eth0 on the fabric failed", node->name);
		return -EIO;
	}
	return 0;
}

static int lab_start_agent(struct lab *lab, struct lab_node *node)
{
	char manifests[PATH_MAX + 16];
	int fd;

	snprintf(manifests, sizeof(manifests), "%s/manifests", lab->dir);
	fd = open(node->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	node->agent = fork();
	if (node->agent < 0) {
		node->agent = 0;
		close(fd);
		return -errno;
	}
	if (node->agent == 0) {
		const char *agent = lab->options->agent ? lab->options->agent : lab->self;

		lab_child_init();
		dup2(fd, 1);
		dup2(fd, 2);
		if (lab_enter_netns(node->netns))
			_exit(126);
		{
			int sysctl = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY);

			if (sysctl >= 0) {
				if (write(sysctl, "1", 1) < 0)
					_exit(125);
				close(sysctl);
			}
		}
		/* The lab's pods are namespaces: no socket hooks on the machine's cgroup. */
		if (lab->n_nodes == 1)
			execl(agent, "sluice", "agent", "--node", node->name, "--manifests",
			      manifests, "--bpffs", node->bpffs, "--pod-cidr", node->subnet,
			      "--host-lb", "false", "--socket-lb", "false", (char *)NULL);
		else /* address and pod CIDR from the node's Node object, as the peers learn them */
			execl(agent, "sluice", "agent", "--node", node->name, "--manifests",
			      manifests, "--bpffs", node->bpffs, "--cluster-cidr", LAB_CLUSTER_CIDR,
			      "--host-lb", "false", "--socket-lb", "false", (char *)NULL);
		_exit(127);
	}
	close(fd);
	return 0;
}

/* The nodes (and with several, their fabric and Node objects), each with its agent, ready. */
int lab_start_nodes(struct lab *lab)
{
	char path[PATH_MAX + 32];
	size_t i;
	int err;

	for (i = 0; i < lab->n_nodes; i++) {
		struct lab_node *node = &lab->nodes[i];
		unsigned char k = (unsigned char)(i + 1); /* LAB_MAX_NODES at most */

		if (lab->n_nodes == 1) {
			snprintf(node->name, sizeof(node->name), "%s", LAB_NODE);
			snprintf(node->netns, sizeof(node->netns), "%snode", lab->prefix);
			snprintf(node->subnet, sizeof(node->subnet), "%s", LAB_SUBNET);
			snprintf(node->log, sizeof(node->log), "%s/agent.log", lab->dir);
		} else {
			snprintf(node->name, sizeof(node->name), "%s-%u", LAB_NODE, k);
			snprintf(node->netns, sizeof(node->netns), "%snode%u", lab->prefix, k);
			snprintf(node->subnet, sizeof(node->subnet), "10.244.%u.0/24", k);
			snprintf(node->ip, sizeof(node->ip), "%s.%u", LAB_UNDERLAY_NET, k);
			snprintf(node->log, sizeof(node->log), "%s/agent-%s.log", lab->dir,
				 node->name);
			snprintf(path, sizeof(path), "%s/cni/%s", lab->dir, node->name);
			if (mkdir(path, 0700))
				return -errno;
		}
		snprintf(node->bpffs, sizeof(node->bpffs), "%s/%s", lab->bpffs, node->name);
		err = lab_netns_add(node->netns);
		if (err)
			return err;
		node->has_netns = true;
		if (lab->n_nodes > 1 && (err = lab_wire_fabric(lab, node, i)))
			return err;
		if (lab_stop)
			return -EINTR;
	}
	if (lab->n_nodes > 1 && (err = lab_write_nodes(lab)))
		return err;
	/* Started together: the ASan build's start-up is most of a lab's time. */
	for (i = 0; i < lab->n_nodes; i++) {
		err = lab_start_agent(lab, &lab->nodes[i]);
		if (err)
			return err;
	}
	for (i = 0; i < lab->n_nodes; i++) {
		err = lab_wait_log(lab, &lab->nodes[i], "agent ready", 0, LAB_READY_TIMEOUT_MS);
		if (err)
			return err;
	}
	return 0;
}
