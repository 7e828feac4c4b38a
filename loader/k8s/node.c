// SPDX-License-Identifier: Apache-2.0
/*
 * The decoders of the cluster-scoped kinds: Namespace (its labels only) and Node (addresses, pod
 * CIDR, and whether it is leaving).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/k8s/decoders.h"

int k8s_namespace_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
			 struct k8s_object *object)
{
	(void)ctx;
	(void)root;
	(void)object;
	return 0; /* its labels are all that is used, decoded with the metadata */
}

/* One pod CIDR entry: IPv4 into *out (true), IPv6 skipped (false), anything else an error. */
static int node_pod_cidr(struct k8s_field_ctx *ctx, const char *prefix, const char *key,
			 const char *text, struct cidr4 *out, bool *is_ipv4)
{
	*is_ipv4 = false;
	if (cidr_is_ipv6(text))
		return 0; /* dual stack: the IPv6 block is not served yet */
	/* Host bits are cleared, as the API server accepts them (ParseCIDRSloppy). */
	if (cidr4_parse(text, CIDR4_MASK_HOST_BITS, out))
		return k8s_field_error(ctx, prefix, key, "\"%.64s\" is not a CIDR", text);
	if (out->prefix_len < 8 || out->prefix_len > 30)
		return k8s_field_error(ctx, prefix, key,
				       "\"%.64s\": prefix length /%u leaves no pod addresses "
				       "(8 to 30)",
				       text, out->prefix_len);
	*is_ipv4 = true;
	return 0;
}

/*
 * spec.podCIDR and spec.podCIDRs (kube-controller-manager writes both, podCIDRs[0] ==
 * podCIDR, at most one per family): the IPv4 one.
 */
static int node_decode_pod_cidr(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
				struct k8s_node *node)
{
	const struct yaml_tree_node *spec, *list;
	const char *text, *first = NULL;
	struct cidr4 cidr;
	char prefix[48];
	bool is_ipv4;
	size_t i;

	if (k8s_field_container(ctx, root, "", "spec", YAML_TREE_MAPPING, &spec))
		return -EINVAL;
	if (!spec)
		return 0;
	if (k8s_field_string(ctx, spec, "spec", "podCIDR", &text) ||
	    k8s_field_list(ctx, spec, "spec", "podCIDRs", 2, &list))
		return -EINVAL;
	if (text && text[0]) {
		if (node_pod_cidr(ctx, "spec", "podCIDR", text, &cidr, &is_ipv4))
			return -EINVAL;
		first = text;
		if (is_ipv4) {
			node->pod_cidr = cidr;
			node->has_pod_cidr = true;
		}
	}
	for (i = 0; list && i < list->sequence.count; i++) {
		snprintf(prefix, sizeof(prefix), "spec.podCIDRs[%zu]", i);
		text = k8s_field_scalar_text(list->sequence.items[i]);
		if (!text || !text[0])
			return k8s_field_error(ctx, prefix, NULL, "must be a CIDR");
		if (i == 0 && first && strcmp(first, text))
			return k8s_field_error(ctx, prefix, NULL,
					       "\"%.64s\" differs from spec.podCIDR \"%.64s\"",
					       text, first);
		if (node_pod_cidr(ctx, prefix, NULL, text, &cidr, &is_ipv4))
			return -EINVAL;
		if (!is_ipv4)
			continue;
		if (node->has_pod_cidr && i > 0)
			return k8s_field_error(ctx, prefix, NULL,
					       "a second IPv4 CIDR (at most one per family)");
		node->pod_cidr = cidr;
		node->has_pod_cidr = true;
	}
	return 0;
}

/* The taint the cluster autoscaler puts on a node it is about to delete. */
#define NODE_TAINT_AUTOSCALER_DELETE "ToBeDeletedByClusterAutoscaler"

/* Is the node on its way out (k8s_node.is_leaving)? */
static int node_decode_leaving(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
			       struct k8s_node *node)
{
	const struct yaml_tree_node *spec, *taints;
	char prefix[48];
	const char *key;

	node->is_leaving =
	    !yaml_tree_is_null(yaml_tree_get(yaml_tree_get(root, "metadata"), "deletionTimestamp"));
	spec = yaml_tree_get(root, "spec");
	if (!spec || spec->type != YAML_TREE_MAPPING)
		return 0; /* node_decode_pod_cidr said what is wrong with it */
	if (k8s_field_list(ctx, spec, "spec", "taints", K8S_MAX_TAINTS, &taints))
		return -EINVAL;
	for (size_t i = 0; taints && i < taints->sequence.count; i++) {
		snprintf(prefix, sizeof(prefix), "spec.taints[%zu]", i);
		if (k8s_field_string(ctx, taints->sequence.items[i], prefix, "key", &key))
			return -EINVAL;
		node->is_leaving |= key && !strcmp(key, NODE_TAINT_AUTOSCALER_DELETE);
	}
	return 0;
}

int k8s_node_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
		    struct k8s_object *object)
{
	struct k8s_node *node = &object->node;
	const struct yaml_tree_node *status, *addresses;
	static const char *const types[] = {"InternalIP", "ExternalIP"};
	char prefix[64];
	size_t i, t;
	int err = 0;

	if (node_decode_pod_cidr(ctx, root, node) || node_decode_leaving(ctx, root, node))
		return -EINVAL;
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
			if (inet_pton(AF_INET, address, &value) == 1 && k8s_is_usable_ipv4(value)) {
				node->addresses[node->n_addresses++] = value;
				if (t == 0 && !node->internal_ip)
					node->internal_ip = value;
			} else if (!k8s_is_ipv6_text(address))
				err =
				    k8s_field_error(ctx, prefix, "address",
						    "\"%.64s\" is not a valid IP address", address);
		}
		if (err)
			break;
	}
	return err ? -EINVAL : 0;
}
