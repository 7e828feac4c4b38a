// SPDX-License-Identifier: Apache-2.0
/*
 * The lab's pods: where each runs, a network namespace each, wired by sluice-cni on its node,
 * with a server per port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "lib/log.h"
#include "loader/lab/lab_internal.h"

/* ---- placement --------------------------------------------------------------------------- */

/*
 * The node of OBJECTS[INDEX] (a pod): the node its spec.nodeName names, else round-robin in the
 * file's order of pods. One node takes every pod (nodeName unread, as before several nodes).
 * Returns 0, or -ENOENT when nodeName names no lab node.
 */
int lab_place(const struct lab *lab, struct k8s_object *const *objects, size_t n, size_t index,
	      size_t *node)
{
	const char *name = objects[index]->pod.node_name;
	size_t i, ordinal = 0;

	(void)n;
	*node = 0;
	if (lab->n_nodes == 1)
		return 0;
	if (name) {
		for (i = 0; i < lab->n_nodes; i++) {
			char want[32];

			/* the names lab_start_nodes gives, also before the nodes exist */
			snprintf(want, sizeof(want), "%s-%zu", LAB_NODE, i + 1);
			if (!strcmp(name, want)) {
				*node = i;
				return 0;
			}
		}
		return -ENOENT;
	}
	for (i = 0; i < index; i++)
		ordinal += objects[i]->kind == K8S_KIND_POD;
	*node = ordinal % lab->n_nodes;
	return 0;
}

/* Every pod of OBJECTS has a node; else each one that has none is named. 0 or -EINVAL. */
int lab_check_placement(const struct lab *lab, struct k8s_object *const *objects, size_t n)
{
	size_t i, node;
	int err = 0;

	for (i = 0; i < n; i++) {
		if (objects[i]->kind != K8S_KIND_POD || !lab_place(lab, objects, n, i, &node))
			continue;
		log_error("lab: pod %s/%s: spec.nodeName \"%s\" is not a lab node (%s-1 to %s-%zu)",
			  objects[i]->namespace, objects[i]->name, objects[i]->pod.node_name,
			  LAB_NODE, LAB_NODE, lab->n_nodes);
		err = -EINVAL;
	}
	return err;
}

/* ---- pods -------------------------------------------------------------------------------- */

static int lab_cni(struct lab *lab, struct lab_pod *pod, const char *command, char *out,
		   size_t out_len)
{
	const struct lab_node *node = &lab->nodes[pod->node];
	char config[PATH_MAX * 2 + 256], state[PATH_MAX + 32], env_command[64], env_id[128],
	    env_netns[160], env_args[600], env_path[PATH_MAX + 16];
	char *argv[] = {lab->cni, NULL};
	char *envp[] = {env_command, env_id,   env_netns, "CNI_IFNAME=eth0",
			env_path,    env_args, NULL};
	char *slash;

	/* Each node its own IPAM state, as on separate machines. */
	if (lab->n_nodes == 1)
		snprintf(state, sizeof(state), "%s/cni", lab->dir);
	else
		snprintf(state, sizeof(state), "%s/cni/%s", lab->dir, node->name);
	snprintf(config, sizeof(config),
		 "{\"cniVersion\": \"1.0.0\", \"name\": \"sluice\", \"type\": \"sluice-cni\", "
		 "\"node\": \"%s\", \"bpffs\": \"%s\", \"stateDir\": \"%s\", "
		 "\"ipam\": {\"subnet\": \"%s\"}}",
		 node->name, node->bpffs, state, node->subnet);
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
	return lab_exec(argv, envp, node->netns, config, out, out_len);
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

int lab_add_pod(struct lab *lab, struct k8s_object *object, size_t node)
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
	pod->node = node;
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

void lab_remove_pod(struct lab *lab, struct lab_pod *pod)
{
	lab_stop_child(pod->server, 1000);
	pod->server = 0;
	if (pod->is_wired && lab->nodes[pod->node].has_netns)
		lab_cni(lab, pod, "DEL", NULL, 0);
	pod->is_wired = false;
	if (pod->netns[0])
		lab_ip("netns", "delete", pod->netns, NULL, NULL, NULL);
	k8s_object_put(pod->object);
	memset(pod, 0, sizeof(*pod));
}
