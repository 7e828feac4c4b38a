// SPDX-License-Identifier: Apache-2.0
/*
 * Decoders for the Kubernetes objects sluice uses, from a yaml_tree node of either source: every
 * field checked (type, range, syntax, list size) and every problem reported as
 * "source: Kind namespace/name: field: why", so one bad object is refused on its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cidr.h"
#include "lib/log.h"
#include "loader/k8s/netpol.h"
#include "loader/k8s/objects.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define ENDPOINT_MAX_ADDRESSES 100 /* Kubernetes' own limit per endpoint */

const char *const k8s_kind_names[K8S_KIND_COUNT] = {
    [K8S_KIND_SERVICE] = "Service", [K8S_KIND_ENDPOINT_SLICE] = "EndpointSlice",
    [K8S_KIND_POD] = "Pod",	    [K8S_KIND_NAMESPACE] = "Namespace",
    [K8S_KIND_NODE] = "Node",	    [K8S_KIND_NETWORK_POLICY] = "NetworkPolicy",
};

static const char *const kind_api_versions[K8S_KIND_COUNT] = {
    [K8S_KIND_SERVICE] = "v1", [K8S_KIND_ENDPOINT_SLICE] = "discovery.k8s.io/v1",
    [K8S_KIND_POD] = "v1",     [K8S_KIND_NAMESPACE] = "v1",
    [K8S_KIND_NODE] = "v1",    [K8S_KIND_NETWORK_POLICY] = "networking.k8s.io/v1",
};

static bool kind_is_namespaced(enum k8s_kind kind)
{
	return kind != K8S_KIND_NAMESPACE && kind != K8S_KIND_NODE;
}

/* ---- objects --------------------------------------------------------------------------- */

static void endpoint_free(struct k8s_slice_endpoint *endpoint)
{
	size_t i;

	free(endpoint->node_name);
	free(endpoint->zone);
	for (i = 0; i < endpoint->n_zone_hints; i++)
		free(endpoint->zone_hints[i]);
	free(endpoint->zone_hints);
}

void k8s_object_get(struct k8s_object *object)
{
	object->refs++;
}

void k8s_object_put(struct k8s_object *object)
{
	size_t i;

	if (!object || --object->refs)
		return;
	switch (object->kind) {
	case K8S_KIND_SERVICE:
		free(object->service.ports);
		free(object->service.external_ips);
		free(object->service.lb_ips);
		free(object->service.source_ranges);
		k8s_labels_free(&object->service.selector);
		break;
	case K8S_KIND_ENDPOINT_SLICE:
		free(object->slice.ports);
		for (i = 0; i < object->slice.n_endpoints; i++)
			endpoint_free(&object->slice.endpoints[i]);
		free(object->slice.endpoints);
		break;
	case K8S_KIND_POD:
		free(object->pod.node_name);
		free(object->pod.ports);
		break;
	case K8S_KIND_NODE:
		free(object->node.addresses);
		break;
	case K8S_KIND_NETWORK_POLICY:
		netpol_free(object->policy);
		break;
	default:
		break;
	}
	k8s_labels_free(&object->labels);
	yaml_tree_free(&object->raw);
	free(object->source);
	free(object);
}

/* ---- fields of more than one kind ----------------------------------------------------- */

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

/* A string-to-string map (labels, selector): sorted copy in *out. */
static int decode_labels(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
			 const char *prefix, const char *key, struct k8s_labels *out)
{
	const struct yaml_tree_node *map;
	char path[96], text[64];
	size_t i;
	int err = k8s_field_container(ctx, parent, prefix, key, YAML_TREE_MAPPING, &map);

	if (err || !map || !map->mapping.count)
		return err;
	if (map->mapping.count > K8S_MAX_LABELS)
		return k8s_field_error(ctx, prefix, key, "%zu entries exceed the limit of %d",
				       map->mapping.count, K8S_MAX_LABELS);
	out->items = calloc(map->mapping.count, sizeof(*out->items));
	if (!out->items)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
	for (i = 0; i < map->mapping.count; i++) {
		const struct yaml_tree_node *k = map->mapping.pairs[i].key;
		const struct yaml_tree_node *v = map->mapping.pairs[i].value;
		const char *value = yaml_tree_string(v);

		/* Plain YAML scalars such as `tier: 1` or `on: true` are strings to Kubernetes
		 * too when quoted; accept them as written, but nothing structured. */
		if (!value && v->type == YAML_TREE_SCALAR && v->scalar.kind != YAML_TREE_NULL &&
		    strlen(v->scalar.value) == v->scalar.length)
			value = v->scalar.value;
		if (!value && yaml_tree_is_null(v))
			value = "";
		if (!value || strlen(k->scalar.value) != k->scalar.length || !k->scalar.length ||
		    k->scalar.length > K8S_DNS_SUBDOMAIN_MAX + 64 || strlen(value) > 63) {
			err = k8s_field_error(ctx, path, k->scalar.value,
					      "expected a label value of at most 63 bytes, got %s",
					      k8s_field_describe(ctx, v, text, sizeof(text)));
			continue;
		}
		out->items[out->count].key = strdup(k->scalar.value);
		out->items[out->count].value = strdup(value);
		if (!out->items[out->count].key || !out->items[out->count].value) {
			free(out->items[out->count].key);
			free(out->items[out->count].value);
			return -ENOMEM;
		}
		out->count++;
	}
	k8s_labels_sort(out);
	return err;
}

/* ---- Service --------------------------------------------------------------------------- */

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

	if (k8s_field_container(ctx, spec, "spec", "ports", YAML_TREE_SEQUENCE, &ports))
		return -EINVAL;
	if (ports && ports->sequence.count > K8S_MAX_SVC_PORTS)
		return k8s_field_error(ctx, "spec", "ports", "%zu ports exceed the limit of %d",
				       ports->sequence.count, K8S_MAX_SVC_PORTS);
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
				err =
				    k8s_field_error(ctx, prefix, "port",
						    "%u/%s is already listed in spec.ports[%zu]",
						    port->port, k8s_protocol_name(port->proto), j);
			if (port->node_port && port->node_port == svc->ports[j].node_port &&
			    port->proto == svc->ports[j].proto)
				err = k8s_field_error(ctx, prefix, "nodePort",
						      "%u/%s is already used by spec.ports[%zu]",
						      port->node_port,
						      k8s_protocol_name(port->proto), j);
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

static int decode_service(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
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
			struct lb_cidr cidr;

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
	e = decode_labels(ctx, spec, "spec", "selector", &svc->selector);
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

/* ---- EndpointSlice --------------------------------------------------------------------- */

static int decode_zone_hints(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
			     const char *prefix, struct k8s_slice_endpoint *endpoint)
{
	const struct yaml_tree_node *hints, *zones;
	char path[96], text[64];
	size_t i;
	int err = 0;

	if (k8s_field_container(ctx, node, prefix, "hints", YAML_TREE_MAPPING, &hints))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s.hints", prefix);
	if (k8s_field_list(ctx, hints, path, "forZones", K8S_MAX_ZONE_HINTS, &zones))
		return -EINVAL;
	if (!zones || !zones->sequence.count)
		return 0;
	endpoint->zone_hints = calloc(zones->sequence.count, sizeof(*endpoint->zone_hints));
	if (!endpoint->zone_hints)
		return -ENOMEM;
	for (i = 0; i < zones->sequence.count; i++) {
		const struct yaml_tree_node *zone = zones->sequence.items[i];
		const char *name;

		snprintf(path, sizeof(path), "%s.hints.forZones[%zu]", prefix, i);
		if (zone->type != YAML_TREE_MAPPING) {
			err = k8s_field_error(ctx, path, NULL, "expected a mapping, got %s",
					      k8s_field_describe(ctx, zone, text, sizeof(text)));
			continue;
		}
		if (k8s_field_string(ctx, zone, path, "name", &name) || !name || !*name) {
			if (!ctx->n_errors || name)
				err = k8s_field_error(ctx, path, "name", "is required");
			err = -EINVAL;
			continue;
		}
		endpoint->zone_hints[endpoint->n_zone_hints] = strdup(name);
		if (!endpoint->zone_hints[endpoint->n_zone_hints])
			return -ENOMEM;
		endpoint->n_zone_hints++;
	}
	return err;
}

static int decode_slice_endpoint(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
				 const char *prefix, struct k8s_slice_endpoint *endpoint)
{
	const struct yaml_tree_node *addresses, *conditions;
	char text[64], path[96];
	const char *address, *node_name, *zone;
	size_t i;
	int err = 0, e;

	if (node->type != YAML_TREE_MAPPING)
		return k8s_field_error(ctx, prefix, NULL, "expected a mapping, got %s",
				       k8s_field_describe(ctx, node, text, sizeof(text)));
	if (k8s_field_container(ctx, node, prefix, "addresses", YAML_TREE_SEQUENCE, &addresses))
		return -EINVAL;
	if (!addresses || !addresses->sequence.count)
		return k8s_field_error(ctx, prefix, "addresses", "needs at least one address");
	if (addresses->sequence.count > ENDPOINT_MAX_ADDRESSES)
		return k8s_field_error(ctx, prefix, "addresses",
				       "%zu addresses exceed the limit of %d",
				       addresses->sequence.count, ENDPOINT_MAX_ADDRESSES);
	/* Every address is checked, though only the first is used (as kube-proxy does). */
	for (i = 0; i < addresses->sequence.count; i++) {
		const struct yaml_tree_node *item = addresses->sequence.items[i];
		uint32_t value;

		snprintf(path, sizeof(path), "%s.addresses[%zu]", prefix, i);
		address = yaml_tree_string(item);
		if (!address)
			err = k8s_field_error(ctx, path, NULL, "expected a string, got %s",
					      k8s_field_describe(ctx, item, text, sizeof(text)));
		else if (inet_pton(AF_INET, address, &value) != 1)
			err = k8s_field_error(ctx, path, NULL,
					      "\"%.64s\" is not a valid IPv4 address", address);
		else if (!k8s_is_usable_ipv4(value))
			err = k8s_field_error(ctx, path, NULL,
					      "%s is not a usable endpoint address", address);
		else if (!i)
			endpoint->address = value;
	}

	if (k8s_field_container(ctx, node, prefix, "conditions", YAML_TREE_MAPPING, &conditions))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s.conditions", prefix);
	/* Kubernetes: ready absent means ready; serving absent means "same as ready". */
	err |= k8s_field_bool(ctx, conditions, path, "ready", true, &endpoint->is_ready);
	err |= k8s_field_bool(ctx, conditions, path, "serving", endpoint->is_ready,
			      &endpoint->is_serving);
	err |=
	    k8s_field_bool(ctx, conditions, path, "terminating", false, &endpoint->is_terminating);
	if (k8s_field_string(ctx, node, prefix, "nodeName", &node_name) ||
	    k8s_field_string(ctx, node, prefix, "zone", &zone))
		return -EINVAL;
	if (k8s_field_dup(node_name, &endpoint->node_name) || k8s_field_dup(zone, &endpoint->zone))
		return -ENOMEM;
	e = decode_zone_hints(ctx, node, prefix, endpoint);
	if (e == -ENOMEM)
		return e;
	return err || e ? -EINVAL : 0;
}

static int decode_slice(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
			struct k8s_object *object)
{
	struct k8s_slice *slice = &object->slice;
	const struct yaml_tree_node *ports, *endpoints;
	const char *service, *address_type;
	char prefix[48], text[64];
	size_t i, j;
	int err = 0, e;

	service = k8s_labels_get(&object->labels, K8S_SERVICE_NAME_LABEL);
	if (service) {
		if (!k8s_is_dns1035_label(service))
			err = k8s_field_error(ctx, "metadata.labels", K8S_SERVICE_NAME_LABEL,
					      "\"%.64s\" is not a valid Service name", service);
		else
			strcpy(slice->service, service);
	}

	if (!k8s_field_string(ctx, root, "", "addressType", &address_type)) {
		if (!address_type)
			err = k8s_field_error(ctx, "", "addressType", "is required");
		else if (!strcmp(address_type, "IPv4"))
			slice->is_ipv4 = true;
		else if (strcmp(address_type, "IPv6") && strcmp(address_type, "FQDN"))
			err = k8s_field_error(ctx, "", "addressType",
					      "\"%.40s\" is not one of IPv4, IPv6, FQDN",
					      address_type);
	} else {
		err = -EINVAL;
	}
	if (err)
		return err;
	if (!slice->is_ipv4) {
		log_debug("%s: %s %s: addressType %s is not programmed", ctx->source, ctx->kind,
			  ctx->who, address_type);
		return 0;
	}

	if (k8s_field_container(ctx, root, "", "ports", YAML_TREE_SEQUENCE, &ports))
		return -EINVAL;
	if (ports && ports->sequence.count > K8S_MAX_SLICE_PORTS)
		return k8s_field_error(ctx, "", "ports", "%zu ports exceed the limit of %d",
				       ports->sequence.count, K8S_MAX_SLICE_PORTS);
	if (ports && ports->sequence.count) {
		slice->ports = calloc(ports->sequence.count, sizeof(*slice->ports));
		if (!slice->ports)
			return -ENOMEM;
		slice->n_ports = ports->sequence.count;
	}
	for (i = 0; i < slice->n_ports; i++) {
		const struct yaml_tree_node *node = ports->sequence.items[i];
		struct k8s_slice_port *port = &slice->ports[i];
		const char *name;

		snprintf(prefix, sizeof(prefix), "ports[%zu]", i);
		if (node->type != YAML_TREE_MAPPING) {
			err = k8s_field_error(ctx, prefix, NULL, "expected a mapping, got %s",
					      k8s_field_describe(ctx, node, text, sizeof(text)));
			continue;
		}
		if (!k8s_field_string(ctx, node, prefix, "name", &name) && name && *name) {
			if (!k8s_is_dns1123_label(name, strlen(name)))
				err = k8s_field_error(ctx, prefix, "name",
						      "\"%.64s\" is not a DNS label", name);
			else
				strcpy(port->name, name);
		}
		err |= k8s_field_protocol(ctx, node, prefix, &port->proto);
		err |= k8s_field_port(ctx, node, prefix, "port", false, &port->port);
		for (j = 0; j < i && !err; j++) {
			if (!strcmp(port->name, slice->ports[j].name) &&
			    port->proto == slice->ports[j].proto)
				err = k8s_field_error(ctx, prefix, "name",
						      "duplicate port name \"%s\" for one protocol",
						      port->name);
		}
	}

	if (k8s_field_container(ctx, root, "", "endpoints", YAML_TREE_SEQUENCE, &endpoints))
		return -EINVAL;
	if (endpoints && endpoints->sequence.count > K8S_MAX_SLICE_ENDPOINTS)
		return k8s_field_error(ctx, "", "endpoints", "%zu endpoints exceed the limit of %d",
				       endpoints->sequence.count, K8S_MAX_SLICE_ENDPOINTS);
	if (endpoints && endpoints->sequence.count) {
		slice->endpoints = calloc(endpoints->sequence.count, sizeof(*slice->endpoints));
		if (!slice->endpoints)
			return -ENOMEM;
		slice->n_endpoints = endpoints->sequence.count;
	}
	for (i = 0; i < slice->n_endpoints; i++) {
		snprintf(prefix, sizeof(prefix), "endpoints[%zu]", i);
		e = decode_slice_endpoint(ctx, endpoints->sequence.items[i], prefix,
					  &slice->endpoints[i]);
		if (e == -ENOMEM)
			return e;
		err |= e;
	}
	return err ? -EINVAL : 0;
}

/* ---- Pod, Namespace, Node, NetworkPolicy ----------------------------------------------- */

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

static int decode_pod(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
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

static int decode_namespace(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
			    struct k8s_object *object)
{
	(void)ctx;
	(void)root;
	(void)object;
	return 0; /* its labels are all that is used, decoded with the metadata */
}

static int decode_node(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
		       struct k8s_object *object)
{
	struct k8s_node *node = &object->node;
	const struct yaml_tree_node *status, *addresses;
	static const char *const types[] = {"InternalIP", "ExternalIP"};
	char prefix[64];
	size_t i, t;
	int err = 0;

	if (k8s_field_container(ctx, root, "", "status", YAML_TREE_MAPPING, &status) ||
	    k8s_field_list(ctx, status, "status", "addresses", K8S_MAX_IPS, &addresses))
		return -EINVAL;
	if (!addresses || !addresses->sequence.count)
		return 0;
	node->addresses = calloc(addresses->sequence.count, sizeof(*node->addresses));
	if (!node->addresses)
		return -ENOMEM;
	/* InternalIPs first: the order the CLI shows and NodePort prefers. */
	for (t = 0; t < 2; t++) {
		for (i = 0; i < addresses->sequence.count; i++) {
			const struct yaml_tree_node *a = addresses->sequence.items[i];
			const char *type, *address;
			uint32_t value;

			snprintf(prefix, sizeof(prefix), "status.addresses[%zu]", i);
			if (k8s_field_string(ctx, a, prefix, "type", &type) ||
			    k8s_field_string(ctx, a, prefix, "address", &address)) {
				err = -EINVAL;
				continue;
			}
			if (!type || strcmp(type, types[t]) || !address)
				continue;
			if (inet_pton(AF_INET, address, &value) == 1 && k8s_is_usable_ipv4(value))
				node->addresses[node->n_addresses++] = value;
			else if (!k8s_is_ipv6_text(address))
				err =
				    k8s_field_error(ctx, prefix, "address",
						    "\"%.64s\" is not a valid IP address", address);
		}
		if (err)
			break;
	}
	return err ? -EINVAL : 0;
}

static int decode_network_policy(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
				 struct k8s_object *object)
{
	int err;

	/* Kept whole as well, for tools that show the policy as written. */
	err = yaml_tree_copy_document(&object->raw, root);
	if (err == -E2BIG)
		return k8s_field_error(ctx, "", NULL, "object too large to keep");
	if (err)
		return err;
	err = netpol_decode(root, ctx->source, object->namespace, object->name, ctx->errors,
			    &object->policy);
	if (err == -EINVAL)
		ctx->n_errors++;
	return err;
}

/* ---- documents ------------------------------------------------------------------------- */

typedef int (*decode_fn)(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
			 struct k8s_object *object);

static const decode_fn decoders[K8S_KIND_COUNT] = {
    [K8S_KIND_SERVICE] = decode_service, [K8S_KIND_ENDPOINT_SLICE] = decode_slice,
    [K8S_KIND_POD] = decode_pod,	 [K8S_KIND_NAMESPACE] = decode_namespace,
    [K8S_KIND_NODE] = decode_node,	 [K8S_KIND_NETWORK_POLICY] = decode_network_policy,
};

int k8s_object_kind(const struct yaml_tree_node *root, const char *source,
		    struct k8s_errors *errors, enum k8s_kind *kind)
{
	const char *name;
	size_t k;

	if (!root || root->type != YAML_TREE_MAPPING) {
		k8s_errors_add(errors, "%s:%u: %s is %s, not a Kubernetes object", source,
			       root ? root->line : 0, "document", yaml_tree_describe(root));
		return -EINVAL;
	}
	name = yaml_tree_string(yaml_tree_get(root, "kind"));
	if (!name || !*name) {
		k8s_errors_add(errors, "%s:%u: object has no kind", source, root->line);
		return -EINVAL;
	}
	for (k = 0; k < K8S_KIND_COUNT; k++) {
		if (!strcmp(name, k8s_kind_names[k])) {
			*kind = (enum k8s_kind)k;
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * metadata.name, metadata.namespace and metadata.labels, decoded first so every later message
 * names the object. Names are checked as a DNS-1035 label for Services, as a DNS label for
 * Namespaces and as a subdomain otherwise.
 */
static int decode_metadata(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
			   struct k8s_object *object)
{
	const struct yaml_tree_node *metadata;
	const char *name = NULL, *namespace = NULL;
	bool is_namespaced = kind_is_namespaced(object->kind);
	bool is_valid;
	int err = 0, e;

	snprintf(ctx->who, sizeof(ctx->who), "%s?", is_namespaced ? "default/" : "");
	if (k8s_field_container(ctx, root, "", "metadata", YAML_TREE_MAPPING, &metadata))
		return -EINVAL;
	if (is_namespaced) {
		err |= k8s_field_string(ctx, metadata, "metadata", "namespace", &namespace);
		if (!namespace || !*namespace)
		namespace = "default";
		snprintf(ctx->who, sizeof(ctx->who), "%.63s/?", namespace);
	}
	if (k8s_field_string(ctx, metadata, "metadata", "name", &name))
		return -EINVAL;
	snprintf(ctx->who, sizeof(ctx->who), "%.63s%s%.64s", is_namespaced ? namespace : "",
		 is_namespaced ? "/" : "", name ? name : "?");
	if (is_namespaced && !k8s_is_dns1123_label(namespace, strlen(namespace)))
		err = k8s_field_error(ctx, "metadata", "namespace", "\"%.64s\" is not a DNS label",
				      namespace);
	else if (is_namespaced)
		strcpy(object->namespace, namespace);
	if (!name || !*name)
		return k8s_field_error(ctx, "metadata", "name", "is required");
	is_valid = object->kind == K8S_KIND_SERVICE	? k8s_is_dns1035_label(name)
		   : object->kind == K8S_KIND_NAMESPACE ? k8s_is_dns1123_label(name, strlen(name))
							: k8s_is_dns1123_subdomain(name);
	if (!is_valid)
		return k8s_field_error(
		    ctx, "metadata", "name",
		    object->kind == K8S_KIND_SERVICE
			? "\"%.64s\" is not a DNS-1035 label (lowercase letters, "
			  "digits, '-', starting with a letter, at most 63)"
		    : object->kind == K8S_KIND_NAMESPACE ? "\"%.64s\" is not a DNS label"
							 : "\"%.64s\" is not a DNS subdomain",
		    name);
	strcpy(object->name, name);
	e = decode_labels(ctx, metadata, "metadata", "labels", &object->labels);
	if (e == -ENOMEM)
		return e;
	return err | e;
}

int k8s_object_decode(const struct yaml_tree_node *root, enum k8s_kind kind, const char *source,
		      struct k8s_errors *errors, struct k8s_object **out)
{
	struct k8s_field_ctx ctx = {
	    .errors = errors, .source = source, .kind = k8s_kind_names[kind]};
	struct k8s_object *object;
	int err;

	*out = NULL;
	object = calloc(1, sizeof(*object));
	if (!object)
		return -ENOMEM;
	object->kind = kind;
	object->refs = 1;
	yaml_tree_init(&object->raw);
	object->source = strdup(source);
	if (!object->source) {
		free(object);
		return -ENOMEM;
	}
	err = decode_metadata(&ctx, root, object);
	if (!err) {
		const char *api_version = yaml_tree_string(yaml_tree_get(root, "apiVersion"));

		/* The API server always sends apiVersion in lists' items only as the list's; a
		 * missing one is accepted there (k8s_json fills it in), not a wrong one. */
		if (!api_version || !*api_version)
			err = k8s_field_error(&ctx, "", "apiVersion", "is required");
		else if (strcmp(api_version, kind_api_versions[kind]))
			err = k8s_field_error(&ctx, "", "apiVersion",
					      "\"%.64s\" is not supported (want %s)", api_version,
					      kind_api_versions[kind]);
	}
	if (!err)
		err = decoders[kind](&ctx, root, object);
	if (err == -ENOMEM) {
		k8s_object_put(object);
		return err;
	}
	*out = object;
	return err || ctx.n_errors ? -EINVAL : 0;
}
