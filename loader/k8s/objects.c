// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes objects from a yaml_tree node of either source: which kind a document is, its
 * metadata and apiVersion, then the decoder of its kind (service.c, slice.c, pod.c, node.c,
 * netpol.c), each field checked and every problem reported as "source: Kind namespace/name:
 * field: why", so one bad object is refused on its own; and the objects' reference counts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/k8s/decoders.h"
#include "loader/k8s/netpol.h"

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

/* ---- NetworkPolicy -------------------------------------------------------------------- */

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
    [K8S_KIND_SERVICE] = k8s_service_decode, [K8S_KIND_ENDPOINT_SLICE] = k8s_slice_decode,
    [K8S_KIND_POD] = k8s_pod_decode,	     [K8S_KIND_NAMESPACE] = k8s_namespace_decode,
    [K8S_KIND_NODE] = k8s_node_decode,	     [K8S_KIND_NETWORK_POLICY] = decode_network_policy,
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
	e = k8s_field_labels(ctx, metadata, "metadata", "labels", &object->labels);
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
