// SPDX-License-Identifier: Apache-2.0
/* The decoders of the cluster-scoped kinds: Namespace (its labels only) and Node (addresses). */
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

int k8s_node_decode(struct k8s_field_ctx *ctx, const struct yaml_tree_node *root,
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
