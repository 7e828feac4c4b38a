// SPDX-License-Identifier: Apache-2.0
/*
 * The endpoints of one Service port, from its EndpointSlices or its selected Pods, and the
 * Cluster and Local sets kube-proxy's traffic policies pick from them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "loader/desired/build_internal.h"

/* ---- endpoints of one Service port ----------------------------------------------------- */

static bool candidate_has_hint(const struct candidate *c, const char *zone)
{
	size_t i;

	if (!zone)
		return false;
	if (c->own_hint)
		return !strcmp(c->own_hint, zone);
	for (i = 0; i < c->n_hints; i++) {
		if (!strcmp(c->hints[i], zone))
			return true;
	}
	return false;
}

static struct candidate *candidates_add(struct candidates *list)
{
	if (list->count == list->capacity) {
		size_t next = list->capacity ? list->capacity * 2 : 16;
		struct candidate *grown = realloc(list->items, next * sizeof(*grown));

		if (!grown)
			return NULL;
		list->items = grown;
		list->capacity = next;
	}
	memset(&list->items[list->count], 0, sizeof(list->items[0]));
	return &list->items[list->count++];
}

static bool is_this_node(const struct build *b, const char *node)
{
	return node && b->config->node && !strcmp(node, b->config->node);
}

/*
 * Endpoints from the slices of the service: the slice port of the same name and protocol gives
 * the port, as in kube-proxy, since slices carry resolved numbers; without one, a numeric
 * targetPort stands in.
 */
int build_collect_slice_endpoints(struct build *b, const struct k8s_service *service,
				  struct k8s_object *const *slices, size_t n_slices,
				  const struct k8s_svc_port *svc_port, struct candidates *list)
{
	size_t i, j;

	for (i = 0; i < n_slices; i++) {
		const struct k8s_slice *slice = &slices[i]->slice;
		uint16_t port = svc_port->target_name[0] ? 0 : svc_port->target_port;

		for (j = 0; j < slice->n_ports; j++) {
			if (slice->ports[j].port && slice->ports[j].proto == svc_port->proto &&
			    !strcmp(slice->ports[j].name, svc_port->name)) {
				port = slice->ports[j].port;
				break;
			}
		}
		if (!port)
			continue;
		for (j = 0; j < slice->n_endpoints; j++) {
			const struct k8s_slice_endpoint *endpoint = &slice->endpoints[j];
			struct candidate *c = candidates_add(list);

			if (!c)
				return -ENOMEM;
			c->backend.address = endpoint->address;
			c->backend.port = htons(port);
			c->is_ready = endpoint->is_ready;
			c->is_serving = endpoint->is_serving;
			c->is_terminating = endpoint->is_terminating;
			c->is_local = is_this_node(b, endpoint->node_name);
			c->hints = endpoint->zone_hints;
			c->n_hints = endpoint->n_zone_hints;
			/* With no EndpointSlice controller (manifests), PreferClose hints each
			 * endpoint for its own zone, as the controller would. */
			if (!c->n_hints && service->is_prefer_close && b->config->is_pod_endpoints)
				c->own_hint = endpoint->zone;
		}
	}
	return 0;
}

/*
 * Endpoints from the Pods the selector matches (manifests mode, a Service without slices), as
 * the EndpointSlice controller would make them: a named targetPort resolves per pod.
 */
int build_collect_pod_endpoints(struct build *b, const struct k8s_object *svc,
				const struct k8s_svc_port *svc_port, struct candidates *list)
{
	const struct k8s_service *service = &svc->service;
	struct k8s_object *const *pods;
	size_t n_pods, i, j;

	build_pods(b, svc->namespace, &pods, &n_pods);
	for (i = 0; i < n_pods; i++) {
		const struct k8s_object *o = pods[i];
		const struct k8s_pod *pod = &o->pod;
		const struct k8s_object *node;
		uint16_t port = svc_port->target_port;
		struct candidate *c;

		if (!pod->has_ip || pod->is_finished ||
		    !k8s_labels_match(&service->selector, &o->labels))
			continue;
		if (svc_port->target_name[0]) {
			port = 0;
			for (j = 0; j < pod->n_ports; j++) {
				if (pod->ports[j].proto == svc_port->proto &&
				    !strcmp(pod->ports[j].name, svc_port->target_name)) {
					port = pod->ports[j].port;
					break;
				}
			}
			if (!port) {
				log_warn("service %s/%s: port %u: targetPort \"%s\" not found in "
					 "pod %s/%s",
					 svc->namespace, svc->name, svc_port->port,
					 svc_port->target_name, o->namespace, o->name);
				continue;
			}
		}
		c = candidates_add(list);
		if (!c)
			return -ENOMEM;
		c->backend.address = pod->ip;
		c->backend.port = htons(port);
		/* The controller's rules: ready is Ready and not terminating (or published
		 * anyway); serving is Ready alone. */
		c->is_ready =
		    (pod->is_ready || service->is_publish_not_ready) && !pod->is_terminating;
		c->is_serving = pod->is_ready || service->is_publish_not_ready;
		c->is_terminating = pod->is_terminating;
		c->is_local = is_this_node(b, pod->node_name);
		node = build_find_node(b, pod->node_name);
		if (service->is_prefer_close && node)
			c->own_hint = k8s_labels_get(&node->labels, K8S_ZONE_LABEL);
	}
	return 0;
}

void build_categorize(const struct build *b, const struct candidates *list,
		      struct endpoint_sets *sets)
{
	bool has_ready = false, all_hinted = true, has_zone = false, any = false;
	bool has_local_ready = false, has_local_fallback = false;
	size_t i;

	/* Topology: every ready endpoint hinted, and some hinted for our zone. */
	for (i = 0; i < list->count; i++) {
		const struct candidate *c = &list->items[i];

		if (!c->is_ready)
			continue;
		has_ready = true;
		if (!c->own_hint && !c->n_hints)
			all_hinted = false;
		else if (candidate_has_hint(c, b->zone))
			has_zone = true;
	}
	sets->has_topology = has_ready && all_hinted && has_zone;
	for (i = 0; i < list->count; i++) {
		const struct candidate *c = &list->items[i];

		sets->is_cluster[i] =
		    c->is_ready && (!sets->has_topology || candidate_has_hint(c, b->zone));
		any |= sets->is_cluster[i];
		has_local_ready |= c->is_local && c->is_ready;
		has_local_fallback |= c->is_local && c->is_serving && c->is_terminating;
	}
	/* None ready anywhere: serving and terminating endpoints, then. */
	for (i = 0; !any && i < list->count; i++)
		sets->is_cluster[i] = list->items[i].is_serving && list->items[i].is_terminating;
	for (i = 0; i < list->count; i++) {
		const struct candidate *c = &list->items[i];

		sets->is_local[i] =
		    c->is_local &&
		    (has_local_ready ? c->is_ready
				     : has_local_fallback && c->is_serving && c->is_terminating);
	}
}

/* Fill frontend->backends from the candidates selected by set; returns the count before cap. */
int build_fill_backends(const struct build *b, const struct candidates *list, const bool *set,
			struct lb_frontend *frontend, size_t *n_total)
{
	size_t i, n = 0;

	*n_total = 0;
	for (i = 0; i < list->count; i++)
		n += set[i];
	if (!n)
		return 0;
	frontend->backends = malloc(n * sizeof(*frontend->backends));
	if (!frontend->backends)
		return -ENOMEM;
	n = 0;
	for (i = 0; i < list->count; i++) {
		const struct candidate *c = &list->items[i];
		struct lb_backend_addr *backend;

		if (!set[i])
			continue;
		backend = &frontend->backends[n++];
		*backend = c->backend;
		backend->flags = 0;
		if (c->is_local)
			backend->flags |= LB_BACKEND_F_LOCAL;
		if (candidate_has_hint(c, b->zone))
			backend->flags |= LB_BACKEND_F_SAME_ZONE;
		if (!c->is_ready)
			backend->flags |= LB_BACKEND_F_TERMINATING;
	}
	*n_total = lb_backends_normalize(frontend->backends, n);
	frontend->n_backends = *n_total;
	if (frontend->n_backends > LB_MAX_BACKENDS_PER_SVC)
		frontend->n_backends = LB_MAX_BACKENDS_PER_SVC;
	return 0;
}

/* Some candidate serves in the Cluster or the Local set (ready, or the terminating fallback). */
bool build_has_usable_endpoint(const struct candidates *list, const struct endpoint_sets *sets)
{
	for (size_t i = 0; i < list->count; i++)
		if (sets->is_cluster[i] || sets->is_local[i])
			return true;
	return false;
}
