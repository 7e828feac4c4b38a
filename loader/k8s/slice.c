// SPDX-License-Identifier: Apache-2.0
/* The EndpointSlice decoder: the Service it names, its ports, and each endpoint's address,
 * conditions, node, zone and zone hints. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "loader/k8s/decoders.h"

#define ENDPOINT_MAX_ADDRESSES 100 /* Kubernetes' own limit per endpoint */

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
	if (k8s_field_list_of(ctx, node, prefix, "addresses", ENDPOINT_MAX_ADDRESSES, "addresses",
			      &addresses))
		return -EINVAL;
	if (!addresses || !addresses->sequence.count)
		return k8s_field_error(ctx, prefix, "addresses", "needs at least one address");
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

int k8s_slice_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
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

	if (k8s_field_list_of(ctx, root, "", "ports", K8S_MAX_SLICE_PORTS, "ports", &ports))
		return -EINVAL;
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

	if (k8s_field_list_of(ctx, root, "", "endpoints", K8S_MAX_SLICE_ENDPOINTS, "endpoints",
			      &endpoints))
		return -EINVAL;
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
