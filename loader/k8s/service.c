// SPDX-License-Identifier: Apache-2.0
/*
 * The Service decoder: type, clusterIP, ports (named, node and target ports), externalIPs,
 * load-balancer ingress and source ranges, traffic policies, session affinity and selector.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ip_proto.h"
#include "lib/cidr.h"
#include "loader/k8s/decoders.h"

/*
 * A list of IP strings (externalIPs): IPv4 ones kept in *out, IPv6 ones skipped (not
 * supported yet), anything else an error.
 */
static int decode_ip_list(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
			  const char *prefix, const char *key, uint32_t **out, size_t *n_out)
{
	const struct yaml_tree_node *list;
	char path[96], text[64];
	size_t i;
	int err = k8s_field_list(ctx, parent, prefix, key, K8S_MAX_IPS, &list);

	if (err || !list || !list->sequence.count)
		return err;
	*out = calloc(list->sequence.count, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < list->sequence.count; i++) {
		const char *address = yaml_tree_string(list->sequence.items[i]);
		uint32_t value;

		snprintf(path, sizeof(path), "%s%s%s[%zu]", prefix, *prefix ? "." : "", key, i);
		if (!address)
			err = k8s_field_error(
			    ctx, path, NULL, "expected a string, got %s",
			    k8s_field_describe(ctx, list->sequence.items[i], text, sizeof(text)));
		else if (inet_pton(AF_INET, address, &value) == 1 && k8s_is_usable_ipv4(value))
			(*out)[(*n_out)++] = value;
		else if (inet_pton(AF_INET, address, &value) == 1)
			err =
			    k8s_field_error(ctx, path, NULL, "%s is not a usable address", address);
		else if (!k8s_is_ipv6_text(address))
			err = k8s_field_error(ctx, path, NULL,
					      "\"%.64s\" is not a valid IP address", address);
	}
	return err;
}

static int decode_service_port(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
			       const char *prefix, struct k8s_svc_port *port)
{
	const struct yaml_tree_node *target;
	const char *name;
	char text[64];
	int64_t value;
	int err = 0;

	if (node->type != YAML_TREE_MAPPING)
		return k8s_field_error(ctx, prefix, NULL, "expected a mapping, got %s",
				       k8s_field_describe(ctx, node, text, sizeof(text)));
	if (!k8s_field_string(ctx, node, prefix, "name", &name) && name && *name) {
		if (!k8s_is_dns1123_label(name, strlen(name)))
			err = k8s_field_error(
			    ctx, prefix, "name",
			    "\"%.64s\" is not a DNS label (lowercase letters, digits, "
			    "'-', at most 63)",
			    name);
		else
			strcpy(port->name, name);
	}
	err |= k8s_field_protocol(ctx, node, prefix, &port->proto);
	err |= k8s_field_port(ctx, node, prefix, "port", true, &port->port);
	err |= k8s_field_port(ctx, node, prefix, "nodePort", false, &port->node_port);

	target = yaml_tree_get(node, "targetPort");
	if (yaml_tree_is_null(target)) {
		port->target_port = port->port;
	} else if (target->type == YAML_TREE_SCALAR && target->scalar.kind == YAML_TREE_INT) {
		if (yaml_tree_int(target, &value) || value < 1 || value > 65535)
			err =
			    k8s_field_error(ctx, prefix, "targetPort",
					    "%.40s is out of range 1-65535", target->scalar.value);
		else
			port->target_port = (uint16_t)value;
	} else if (yaml_tree_string(target)) {
		if (!k8s_is_iana_svc_name(yaml_tree_string(target)))
			err = k8s_field_error(
			    ctx, prefix, "targetPort",
			    "\"%.40s\" is neither a number nor a port name "
			    "(IANA_SVC_NAME: lowercase letters, digits, '-', at most 15)",
			    target->scalar.value);
		else
			strcpy(port->target_name, target->scalar.value);
	} else {
		err = k8s_field_error(ctx, prefix, "targetPort",
				      "expected a number or a name, got %s",
				      k8s_field_describe(ctx, target, text, sizeof(text)));
	}
	return err ? -EINVAL : 0;
}

static int decode_service_ports(struct k8s_field_ctx *ctx, const struct yaml_tree_node *spec,
				struct k8s_service *svc)
{
	const struct yaml_tree_node *ports;
	char prefix[48];
	size_t i, j;
	int err = 0;

	if (k8s_field_list_of(ctx, spec, "spec", "ports", K8S_MAX_SVC_PORTS, "ports", &ports))
		return -EINVAL;
	if (ports && ports->sequence.count) {
		svc->ports = calloc(ports->sequence.count, sizeof(*svc->ports));
		if (!svc->ports)
			return -ENOMEM;
		svc->n_ports = ports->sequence.count;
	}
	for (i = 0; i < svc->n_ports; i++) {
		struct k8s_svc_port *port = &svc->ports[i];

		snprintf(prefix, sizeof(prefix), "spec.ports[%zu]", i);
		port->index = i;
		if (decode_service_port(ctx, ports->sequence.items[i], prefix, port)) {
			err = -EINVAL;
			continue;
		}
		if (svc->n_ports > 1 && !port->name[0])
			err = k8s_field_error(ctx, prefix, "name",
					      "is required when a Service has more than one port");
		for (j = 0; j < i; j++) {
			if (port->name[0] && !strcmp(port->name, svc->ports[j].name))
				err = k8s_field_error(ctx, prefix, "name",
						      "duplicate port name \"%s\"", port->name);
			if (port->port == svc->ports[j].port && port->proto == svc->ports[j].proto)
				err = k8s_field_error(ctx, prefix, "port",
						      "%u/%s is already listed in spec.ports[%zu]",
						      port->port, ip_proto_name(port->proto), j);
			if (port->node_port && port->node_port == svc->ports[j].node_port &&
			    port->proto == svc->ports[j].proto)
				err =
				    k8s_field_error(ctx, prefix, "nodePort",
						    "%u/%s is already used by spec.ports[%zu]",
						    port->node_port, ip_proto_name(port->proto), j);
		}
	}
	return err;
}

/* status.loadBalancer.ingress[].ip, those with ipMode VIP or no ipMode (kube-proxy's rule). */
static int decode_lb_ingress(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
			     struct k8s_service *svc)
{
	const struct yaml_tree_node *status, *lb, *ingress;
	char prefix[64], text[64];
	size_t i;
	int err = 0;

	if (k8s_field_container(ctx, root, "", "status", YAML_TREE_MAPPING, &status) ||
	    k8s_field_container(ctx, status, "status", "loadBalancer", YAML_TREE_MAPPING, &lb) ||
	    k8s_field_list(ctx, lb, "status.loadBalancer", "ingress", K8S_MAX_IPS, &ingress))
		return -EINVAL;
	if (!ingress || !ingress->sequence.count)
		return 0;
	svc->lb_ips = calloc(ingress->sequence.count, sizeof(*svc->lb_ips));
	if (!svc->lb_ips)
		return -ENOMEM;
	for (i = 0; i < ingress->sequence.count; i++) {
		const struct yaml_tree_node *item = ingress->sequence.items[i];
		const char *ip, *mode;
		uint32_t value;

		snprintf(prefix, sizeof(prefix), "status.loadBalancer.ingress[%zu]", i);
		if (item->type != YAML_TREE_MAPPING) {
			err = k8s_field_error(ctx, prefix, NULL, "expected a mapping, got %s",
					      k8s_field_describe(ctx, item, text, sizeof(text)));
			continue;
		}
		if (k8s_field_string(ctx, item, prefix, "ip", &ip) ||
		    k8s_field_string(ctx, item, prefix, "ipMode", &mode)) {
			err = -EINVAL;
			continue;
		}
		if (mode && strcmp(mode, "VIP") && strcmp(mode, "Proxy")) {
			err = k8s_field_error(ctx, prefix, "ipMode",
					      "\"%.40s\" is not one of VIP, Proxy", mode);
			continue;
		}
		if (!ip || !*ip)
			continue; /* a hostname-only ingress: nothing for a node to program */
		if (inet_pton(AF_INET, ip, &value) == 1 && k8s_is_usable_ipv4(value)) {
			/* ipMode Proxy: the load balancer delivers to the node itself, with the
			 * node as destination; programming the IP would hijack that traffic. */
			if (!mode || !strcmp(mode, "VIP"))
				svc->lb_ips[svc->n_lb_ips++] = value;
		} else if (!k8s_is_ipv6_text(ip)) {
			err = k8s_field_error(ctx, prefix, "ip",
					      "\"%.64s\" is not a valid IP address", ip);
		}
	}
	return err;
}

int k8s_service_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
		       struct k8s_object *object)
{
	static const char *const types[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName",
					    NULL};
	static const char *const policies[] = {"Cluster", "Local", NULL};
	static const char *const affinities[] = {"None", "ClientIP", NULL};
	static const char *const distributions[] = {"PreferClose", "PreferSameZone",
						    "PreferSameNode", NULL};
	struct k8s_service *svc = &object->service;
	const struct yaml_tree_node *spec, *config, *client_ip, *ranges;
	const char *cluster_ip;
	size_t index;
	int64_t value;
	char path[64], text[64];
	size_t i;
	int err = 0, e;

	if (k8s_field_container(ctx, root, "", "spec", YAML_TREE_MAPPING, &spec))
		return -EINVAL;
	index = 0;
	err |= k8s_field_enum(ctx, spec, "spec", "type", types, &index);
	svc->type = (enum k8s_svc_type)index;

	if (!k8s_field_string(ctx, spec, "spec", "clusterIP", &cluster_ip) && cluster_ip &&
	    *cluster_ip) {
		if (!strcmp(cluster_ip, "None"))
			svc->is_headless = true;
		else if (inet_pton(AF_INET, cluster_ip, &svc->vip) == 1 &&
			 k8s_is_usable_ipv4(svc->vip))
			svc->has_vip = true;
		else if (inet_pton(AF_INET, cluster_ip, &svc->vip) == 1)
			err = k8s_field_error(ctx, "spec", "clusterIP",
					      "%s is not a usable service address", cluster_ip);
		else if (k8s_is_ipv6_text(cluster_ip))
			k8s_field_warn(ctx, "spec.clusterIP",
				       "IPv6 is not supported yet, not programmed");
		else
			err = k8s_field_error(ctx, "spec", "clusterIP",
					      "\"%.64s\" is not a valid IPv4 address", cluster_ip);
	}
	e = decode_service_ports(ctx, spec, svc);
	if (e == -ENOMEM)
		return e;
	err |= e;

	e = decode_ip_list(ctx, spec, "spec", "externalIPs", &svc->external_ips,
			   &svc->n_external_ips);
	if (e == -ENOMEM)
		return e;
	err |= e;
	e = decode_lb_ingress(ctx, root, svc);
	if (e == -ENOMEM)
		return e;
	err |= e;

	if (!k8s_field_list(ctx, spec, "spec", "loadBalancerSourceRanges", K8S_MAX_SOURCE_RANGES,
			    &ranges) &&
	    ranges && ranges->sequence.count) {
		svc->source_ranges = calloc(ranges->sequence.count, sizeof(*svc->source_ranges));
		if (!svc->source_ranges)
			return -ENOMEM;
		for (i = 0; i < ranges->sequence.count; i++) {
			const char *text_cidr = yaml_tree_string(ranges->sequence.items[i]);
			struct cidr4 cidr;

			snprintf(path, sizeof(path), "spec.loadBalancerSourceRanges[%zu]", i);
			if (!text_cidr)
				err = k8s_field_error(ctx, path, NULL, "expected a string, got %s",
						      k8s_field_describe(ctx,
									 ranges->sequence.items[i],
									 text, sizeof(text)));
			/* Host bits allowed, as the API allows them here; they are masked. */
			else if (!cidr4_parse(text_cidr, CIDR4_MASK_HOST_BITS, &cidr))
				svc->source_ranges[svc->n_source_ranges++] = cidr;
			else if (!strchr(text_cidr, ':'))
				err = k8s_field_error(ctx, path, NULL,
						      "\"%.64s\" is not a valid CIDR", text_cidr);
		}
	} else if (ranges) {
		err = -EINVAL;
	}

	index = 0;
	err |= k8s_field_enum(ctx, spec, "spec", "externalTrafficPolicy", policies, &index);
	svc->is_external_local = index == 1;
	index = 0;
	err |= k8s_field_enum(ctx, spec, "spec", "internalTrafficPolicy", policies, &index);
	svc->is_internal_local = index == 1;
	index = 0;
	err |= k8s_field_enum(ctx, spec, "spec", "sessionAffinity", affinities, &index);
	if (index == 1) {
		svc->affinity_timeout_s = K8S_AFFINITY_DEFAULT_S;
		if (!k8s_field_container(ctx, spec, "spec", "sessionAffinityConfig",
					 YAML_TREE_MAPPING, &config) &&
		    !k8s_field_container(ctx, config, "spec.sessionAffinityConfig", "clientIP",
					 YAML_TREE_MAPPING, &client_ip)) {
			if (k8s_field_int(ctx, client_ip, "spec.sessionAffinityConfig.clientIP",
					  "timeoutSeconds", false, 1, K8S_AFFINITY_MAX_S, &value))
				err = -EINVAL;
			else if (value)
				svc->affinity_timeout_s = (uint32_t)value;
		} else {
			err = -EINVAL;
		}
	}
	index = SIZE_MAX;
	err |= k8s_field_enum(ctx, spec, "spec", "trafficDistribution", distributions, &index);
	/* PreferSameZone is the newer name of PreferClose; PreferSameNode is served by hints
	 * too, and degrades to zone preference here. */
	svc->is_prefer_close = index != SIZE_MAX;
	if (k8s_field_int(ctx, spec, "spec", "healthCheckNodePort", false, 1, 65535, &value))
		err = -EINVAL;
	svc->health_check_node_port = (uint16_t)value;
	err |= k8s_field_bool(ctx, spec, "spec", "publishNotReadyAddresses", false,
			      &svc->is_publish_not_ready);
	svc->has_selector = yaml_tree_get(spec, "selector") != NULL;
	e = k8s_field_labels(ctx, spec, "spec", "selector", &svc->selector);
	if (e == -ENOMEM)
		return e;
	err |= e;
	svc->has_selector &= svc->selector.count > 0;
	if (err)
		return -EINVAL;

	if (svc->type != K8S_SVC_EXTERNAL_NAME && !svc->is_headless &&
	    (!cluster_ip || !*cluster_ip))
		k8s_field_warn(ctx, "spec.clusterIP", "not set, no frontend programmed");
	return 0;
}
