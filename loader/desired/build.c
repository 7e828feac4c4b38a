// SPDX-License-Identifier: Apache-2.0
/*
 * Objects to desired state, the way kube-proxy reads them: frontends per Service port and
 * address kind (ClusterIP, NodePort, externalIPs, LoadBalancer ingress), each with the backend
 * set its traffic policy selects (Cluster or Local, ready or the serving+terminating fallback,
 * topology hints), affinity, source ranges and health checks. A pure function of its inputs.
 * This file holds the entry points and the indexes; build_endpoints.c and build_frontends.c
 * the rest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/desired/netpol_compile.h"
#include "loader/desired/build_internal.h"

void desired_build_config_init(struct desired_build_config *config, const char *node)
{
	memset(config, 0, sizeof(*config));
	config->node = node;
	config->node_port_min = K8S_NODE_PORT_MIN_DEFAULT;
	config->node_port_max = K8S_NODE_PORT_MAX_DEFAULT;
}

/* ---- indexes --------------------------------------------------------------------------- */

static int object_cmp(const struct k8s_object *a, const struct k8s_object *b)
{
	int c = (a->kind > b->kind) - (a->kind < b->kind);

	if (!c)
		c = strcmp(a->namespace, b->namespace);
	return c ? c : strcmp(a->name, b->name);
}

/* Objects in (kind, namespace, name) order, input order breaking ties. */
struct object_ref {
	struct k8s_object *object;
	size_t seq;
};

static int object_ref_cmp(const void *a, const void *b)
{
	const struct object_ref *x = a, *y = b;
	int c = object_cmp(x->object, y->object);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Slices in (namespace, service, name) order, for a binary search per Service. */
static int slice_cmp(const void *a, const void *b)
{
	const struct k8s_object *x = *(struct k8s_object *const *)a;
	const struct k8s_object *y = *(struct k8s_object *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	if (!c)
		c = strcmp(x->slice.service, y->slice.service);
	return c ? c : strcmp(x->name, y->name);
}

const struct k8s_object *build_find_node(const struct build *b, const char *name)
{
	size_t lo = 0, hi = b->n_nodes;

	if (b->lookup)
		return name ? b->lookup->node(b->lookup->ctx, name) : NULL;
	while (name && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(b->nodes[mid]->name, name);

		if (!c)
			return b->nodes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* [*first, *last) of the sorted array whose (namespace, key(o)) equals (namespace, key). */
static void find_range(struct k8s_object **array, size_t n, const char *namespace, const char *key,
		       bool by_service, size_t *first, size_t *last)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(array[mid]->namespace, namespace);

		if (!c && key)
			c = strcmp(by_service ? array[mid]->slice.service : array[mid]->name, key);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	for (hi = lo; hi < n; hi++) {
		if (strcmp(array[hi]->namespace, namespace) ||
		    (key && strcmp(by_service ? array[hi]->slice.service : array[hi]->name, key)))
			break;
	}
	*last = hi;
}

/* The IPv4 slices naming namespace/service, by slice name. */
void build_slices(const struct build *b, const char *namespace, const char *service,
		  struct k8s_object *const **out, size_t *n)
{
	size_t first, last;

	if (b->lookup) {
		b->lookup->slices(b->lookup->ctx, namespace, service, out, n);
		return;
	}
	find_range(b->slices, b->n_slices, namespace, service, true, &first, &last);
	*out = b->slices + first;
	*n = last - first;
}

/* The Pods of namespace, by name. */
void build_pods(const struct build *b, const char *namespace, struct k8s_object *const **out,
		size_t *n)
{
	size_t first, last;

	if (b->lookup) {
		b->lookup->pods(b->lookup->ctx, namespace, out, n);
		return;
	}
	find_range(b->pods, b->n_pods, namespace, NULL, false, &first, &last);
	*out = b->pods + first;
	*n = last - first;
}

int desired_build(struct k8s_object *const *objects, size_t n_objects,
		  const struct desired_build_config *config, struct k8s_errors *errors,
		  struct desired_state *out)
{
	struct build b = {.config = config, .errors = errors, .out = out};
	struct object_ref *refs = NULL;
	struct k8s_object **services = NULL;
	const struct k8s_object *node;
	size_t n_services = 0, i;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (n_objects) {
		refs = calloc(n_objects, sizeof(*refs));
		services = calloc(n_objects, sizeof(*services));
		b.slices = calloc(n_objects, sizeof(*b.slices));
		b.pods = calloc(n_objects, sizeof(*b.pods));
		b.nodes = calloc(n_objects, sizeof(*b.nodes));
		if (!refs || !services || !b.slices || !b.pods || !b.nodes) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < n_objects; i++) {
		refs[i].object = objects[i];
		refs[i].seq = i;
	}
	if (n_objects)
		qsort(refs, n_objects, sizeof(*refs), object_ref_cmp);
	/* Sorted by (kind, namespace, name): each per-kind array comes out sorted by name too. */
	for (i = 0; i < n_objects; i++) {
		struct k8s_object *o = refs[i].object;

		/* The same object in two places: the first one wins. */
		if (i && !object_cmp(refs[i - 1].object, o)) {
			const char *winner = refs[i - 1].object->source;

			k8s_errors_add(errors, "%s: %s %s%s%s: %s%s, the first one is used",
				       o->source, k8s_kind_names[o->kind], o->namespace,
				       o->namespace[0] ? "/" : "", o->name,
				       strcmp(winner, o->source) ? "also defined in "
								 : "defined twice",
				       strcmp(winner, o->source) ? winner : "");
			refs[i].object = refs[i - 1].object;
			continue;
		}
		if (o->kind == K8S_KIND_SERVICE)
			services[n_services++] = o;
		else if (o->kind == K8S_KIND_ENDPOINT_SLICE && o->slice.service[0] &&
			 o->slice.is_ipv4)
			b.slices[b.n_slices++] = o;
		else if (o->kind == K8S_KIND_POD)
			b.pods[b.n_pods++] = o;
		else if (o->kind == K8S_KIND_NODE)
			b.nodes[b.n_nodes++] = o;
	}
	if (b.n_slices)
		qsort(b.slices, b.n_slices, sizeof(*b.slices), slice_cmp);
	node = build_find_node(&b, config->node);
	b.zone = node ? k8s_labels_get(&node->labels, K8S_ZONE_LABEL) : NULL;

	/* Node addresses first: NodePort frontends are made per address for pods. */
	err = build_add_node_addresses(&b);
	/* Services are in (namespace, name) order, so build order is also "who wins" order. */
	for (i = 0; !err && i < n_services; i++)
		err = build_add_service(&b, services[i]);
	if (!err)
		err = build_emit_frontends(&b);
	if (!err && out->n_health_checks > 1)
		qsort(out->health_checks, out->n_health_checks, sizeof(*out->health_checks),
		      lb_health_check_qsort_cmp);
	/* NetworkPolicy over the same objects (loader/desired/netpol_compile.c). */
	if (!err)
		err = netpol_compile(objects, n_objects, &out->policy);
cleanup:
	for (i = 0; i < b.n_builds; i++) {
		free(b.builds[i].frontend.backends);
		free(b.builds[i].frontend.source_ranges);
	}
	if (err)
		desired_state_free(out);
	free(b.builds);
	free(b.nodes);
	free(b.pods);
	free(b.slices);
	free(services);
	free(refs);
	return err;
}

/* ---- one Service at a time (loader/desired/index.c) ------------------------------------- */

int desired_build_node_addresses(const struct desired_build_config *config,
				 const struct desired_build_lookup *lookup, uint32_t **out,
				 size_t *n)
{
	struct desired_state state = {0};
	struct build b = {.config = config, .lookup = lookup, .out = &state};
	int err = build_add_node_addresses(&b);

	*out = state.node_addresses;
	*n = state.n_node_addresses;
	return err;
}

void desired_service_build_free(struct desired_service_build *build)
{
	size_t i;

	for (i = 0; i < build->n_frontends; i++) {
		free(build->frontends[i].backends);
		free(build->frontends[i].source_ranges);
	}
	free(build->frontends);
	free(build->port_index);
	memset(build, 0, sizeof(*build));
}

int desired_build_service(const struct k8s_object *svc, const struct desired_build_config *config,
			  const struct desired_build_lookup *lookup, const uint32_t *node_addresses,
			  size_t n_node_addresses, struct k8s_errors *errors,
			  struct desired_service_build *out)
{
	struct desired_state state = {
	    .node_addresses = (uint32_t *)node_addresses,
	    .n_node_addresses = n_node_addresses,
	};
	struct build b = {.config = config, .lookup = lookup, .errors = errors, .out = &state};
	const struct k8s_object *node = build_find_node(&b, config->node);
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	b.zone = node ? k8s_labels_get(&node->labels, K8S_ZONE_LABEL) : NULL;
	err = build_add_service(&b, svc);
	if (!err && b.n_builds) {
		out->frontends = calloc(b.n_builds, sizeof(*out->frontends));
		out->port_index = calloc(b.n_builds, sizeof(*out->port_index));
		if (!out->frontends || !out->port_index)
			err = -ENOMEM;
	}
	/* In build order: the order of a second claim on one frontend within the Service. */
	for (i = 0; !err && i < b.n_builds; i++) {
		out->frontends[i] = b.builds[i].frontend;
		out->port_index[i] = b.builds[i].port->index;
		b.builds[i].frontend.backends = NULL; /* now owned by out */
		b.builds[i].frontend.source_ranges = NULL;
		out->n_frontends++;
	}
	if (!err && state.n_health_checks) {
		out->has_health_check = true;
		out->health_check = state.health_checks[0];
	}
	out->is_rejected = state.rejected_objects > 0;
	for (i = 0; i < b.n_builds; i++) {
		free(b.builds[i].frontend.backends);
		free(b.builds[i].frontend.source_ranges);
	}
	free(b.builds);
	free(state.health_checks);
	if (err)
		desired_service_build_free(out);
	return err;
}
