// SPDX-License-Identifier: Apache-2.0
/* The Pod decoder: node, IPv4 address, readiness, phase, host network and container ports. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/k8s/decoders.h"

static int decode_container_ports(struct k8s_field_ctx *ctx, const struct yaml_tree_node *spec,
				  struct k8s_pod *pod)
{
	const struct yaml_tree_node *containers, *ports;
	char prefix[96], text[64];
	size_t i, j, n = 0;
	int err = 0;

	if (k8s_field_list(ctx, spec, "spec", "containers", K8S_MAX_CONTAINERS, &containers))
		return -EINVAL;
	for (i = 0; containers && i < containers->sequence.count; i++) {
		const struct yaml_tree_node *c = containers->sequence.items[i];

		snprintf(prefix, sizeof(prefix), "spec.containers[%zu]", i);
		if (c->type != YAML_TREE_MAPPING)
			return k8s_field_error(ctx, prefix, NULL, "expected a mapping, got %s",
					       k8s_field_describe(ctx, c, text, sizeof(text)));
		if (k8s_field_list(ctx, c, prefix, "ports", K8S_MAX_CONTAINERS, &ports))
			return -EINVAL;
		n += ports ? ports->sequence.count : 0;
	}
	if (!n)
		return 0;
	pod->ports = calloc(n, sizeof(*pod->ports));
	if (!pod->ports)
		return -ENOMEM;
	for (i = 0; i < containers->sequence.count; i++) {
		const struct yaml_tree_node *c = containers->sequence.items[i];

		ports = yaml_tree_get(c, "ports");
		for (j = 0; ports && j < ports->sequence.count; j++) {
			const struct yaml_tree_node *p = ports->sequence.items[j];
			struct k8s_container_port *port = &pod->ports[pod->n_ports];
			const char *name;

			snprintf(prefix, sizeof(prefix), "spec.containers[%zu].ports[%zu]", i, j);
			if (p->type != YAML_TREE_MAPPING) {
				err =
				    k8s_field_error(ctx, prefix, NULL, "expected a mapping, got %s",
						    k8s_field_describe(ctx, p, text, sizeof(text)));
				continue;
			}
			if (!k8s_field_string(ctx, p, prefix, "name", &name) && name && *name) {
				if (!k8s_is_iana_svc_name(name))
					err = k8s_field_error(ctx, prefix, "name",
							      "\"%.40s\" is not an IANA_SVC_NAME",
							      name);
				else
					strcpy(port->name, name);
			}
			err |= k8s_field_protocol(ctx, p, prefix, &port->proto);
			err |= k8s_field_port(ctx, p, prefix, "containerPort", true, &port->port);
			pod->n_ports++;
		}
	}
	return err;
}

int k8s_pod_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
		   struct k8s_object *object)
{
	struct k8s_pod *pod = &object->pod;
	const struct yaml_tree_node *spec, *status, *conditions, *pod_ips, *metadata;
	const char *node_name, *phase, *pod_ip;
	char prefix[64];
	size_t i;
	int err = 0, e;

	if (k8s_field_container(ctx, root, "", "spec", YAML_TREE_MAPPING, &spec) ||
	    k8s_field_container(ctx, root, "", "status", YAML_TREE_MAPPING, &status))
		return -EINVAL;
	metadata = yaml_tree_get(root, "metadata");
	pod->is_terminating = !yaml_tree_is_null(yaml_tree_get(metadata, "deletionTimestamp"));
	if (k8s_field_string(ctx, spec, "spec", "nodeName", &node_name))
		err = -EINVAL;
	else if (k8s_field_dup(node_name, &pod->node_name))
		return -ENOMEM;
	err |= k8s_field_bool(ctx, spec, "spec", "hostNetwork", false, &pod->is_host_network);
	e = decode_container_ports(ctx, spec, pod);
	if (e == -ENOMEM)
		return e;
	err |= e;

	if (!k8s_field_string(ctx, status, "status", "phase", &phase) && phase)
		pod->is_finished = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
	/* podIPs lists every family; podIP is its first entry. Take the first IPv4 of either. */
	if (!k8s_field_string(ctx, status, "status", "podIP", &pod_ip) && pod_ip && *pod_ip) {
		if (inet_pton(AF_INET, pod_ip, &pod->ip) == 1)
			pod->has_ip = k8s_is_usable_ipv4(pod->ip);
		else if (!k8s_is_ipv6_text(pod_ip))
			err = k8s_field_error(ctx, "status", "podIP",
					      "\"%.64s\" is not a valid IP address", pod_ip);
	}
	if (!k8s_field_list(ctx, status, "status", "podIPs", K8S_MAX_IPS, &pod_ips) && pod_ips) {
		for (i = 0; i < pod_ips->sequence.count && !pod->has_ip; i++) {
			const char *ip =
			    yaml_tree_string(yaml_tree_get(pod_ips->sequence.items[i], "ip"));

			if (ip && inet_pton(AF_INET, ip, &pod->ip) == 1)
				pod->has_ip = k8s_is_usable_ipv4(pod->ip);
		}
	}
	if (!k8s_field_list(ctx, status, "status", "conditions", K8S_MAX_LABELS, &conditions) &&
	    conditions) {
		for (i = 0; i < conditions->sequence.count; i++) {
			const struct yaml_tree_node *c = conditions->sequence.items[i];
			const char *type, *value;

			snprintf(prefix, sizeof(prefix), "status.conditions[%zu]", i);
			if (k8s_field_string(ctx, c, prefix, "type", &type) ||
			    k8s_field_string(ctx, c, prefix, "status", &value)) {
				err = -EINVAL;
				continue;
			}
			if (type && !strcmp(type, "Ready"))
				pod->is_ready = value && !strcmp(value, "True");
		}
	}
	return err ? -EINVAL : 0;
}
