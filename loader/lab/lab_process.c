// SPDX-License-Identifier: Apache-2.0
/* The lab's processes: children in network namespaces, and the node with its agent. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

int lab_ip(const char *a, const char *b, const char *c, const char *d, const char *e, const char *f)
{
	char *argv[] = {"ip",	   (char *)a, (char *)b, (char *)c,
			(char *)d, (char *)e, (char *)f, NULL};

	return lab_exec(argv, NULL, NULL, NULL, NULL, 0);
}

int lab_netns_add(const char *name)
{
	int err = lab_ip("netns", "add", name, NULL, NULL, NULL);

	if (err) {
		log_error("lab: ip netns add %s failed (%d)", name, err);
		return -EIO;
	}
	return lab_ip("-n", name, "link", "set", "lo", "up");
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

int lab_count_in_log(const struct lab *lab, const char *needle)
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
int lab_wait_log(struct lab *lab, const char *needle, int before, unsigned int timeout_ms)
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

int lab_start_node(struct lab *lab)
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
		/* The lab's pods are namespaces: no socket hooks on the machine's cgroup. */
		execl(lab->options->agent ? lab->options->agent : lab->self, "sluice", "agent",
		      "--node", LAB_NODE, "--manifests", manifests, "--bpffs", lab->bpffs,
		      "--pod-cidr", LAB_SUBNET, "--host-lb", "false", "--socket-lb", "false",
		      (char *)NULL);
		_exit(127);
	}
	close(fd);
	return lab_wait_log(lab, "agent ready", 0, LAB_READY_TIMEOUT_MS);
}
