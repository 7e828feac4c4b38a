// SPDX-License-Identifier: Apache-2.0
/*
 * Objects to desired state, the way kube-proxy reads them: frontends per Service port and
 * address kind (ClusterIP, NodePort, externalIPs, LoadBalancer ingress), each with the backend
 * set its traffic policy selects (Cluster or Local, ready or the serving+terminating fallback,
 * topology hints), affinity, source ranges and health checks. A pure function of its inputs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "loader/desired/netpol_compile.h"
#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "maps/lb.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

void k8s_build_config_init(struct k8s_build_config *config, const char *node)
{
	memset(config, 0, sizeof(*config));
	config->node = node;
	config->node_port_min = K8S_NODE_PORT_MIN_DEFAULT;
	config->node_port_max = K8S_NODE_PORT_MAX_DEFAULT;
}

static const char *proto_name(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "UDP" : proto == IPPROTO_SCTP ? "SCTP" : "TCP";
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

struct frontend_build {
	struct lb_frontend frontend;
	const struct k8s_object *service;
	const struct k8s_svc_port *port;
	size_t seq;
};

static int frontend_build_cmp(const void *a, const void *b)
{
	const struct frontend_build *x = a, *y = b;
	int c = lb_frontend_cmp(&x->frontend, &y->frontend);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

struct build {
	const struct k8s_build_config *config;
	const struct k8s_build_lookup *lookup; /* NULL: the sorted arrays below */
	struct k8s_errors *errors;
	struct desired_state *out;
	struct k8s_object **slices; /* IPv4 slices naming a Service, by (namespace, service) */
	size_t n_slices;
	struct k8s_object **pods; /* by (namespace, name) */
	size_t n_pods;
	struct k8s_object **nodes; /* by name */
	size_t n_nodes;
	const char *zone; /* this node's zone label, or NULL */
	struct frontend_build *builds;
	size_t n_builds, capacity;
};

static const struct k8s_object *find_node(const struct build *b, const char *name)
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
static void build_slices(const struct build *b, const char *namespace, const char *service,
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
static void build_pods(const struct build *b, const char *namespace, struct k8s_object *const **out,
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

/* ---- endpoints of one Service port ----------------------------------------------------- */

struct candidate {
	struct lb_backend_addr backend;
	bool is_ready;
	bool is_serving;
	bool is_terminating;
	bool is_local;
	const char *own_hint; /* a zone hint made here (no EndpointSlice controller) */
	char *const *hints;   /* hints.forZones */
	size_t n_hints;
};

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

struct candidates {
	struct candidate *items;
	size_t count, capacity;
};

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
static int collect_slice_endpoints(struct build *b, const struct k8s_service *service,
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
static int collect_pod_endpoints(struct build *b, const struct k8s_object *svc,
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
		node = find_node(b, pod->node_name);
		if (service->is_prefer_close && node)
			c->own_hint = k8s_labels_get(&node->labels, K8S_ZONE_LABEL);
	}
	return 0;
}

/* The two sets kube-proxy's CategorizeEndpoints computes, as flags on the candidates. */
struct endpoint_sets {
	bool *is_cluster; /* per candidate */
	bool *is_local;
	bool has_topology; /* the cluster set is the same-zone subset */
};

static void categorize(const struct build *b, const struct candidates *list,
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
static int fill_backends(const struct build *b, const struct candidates *list, const bool *set,
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
static bool has_usable_endpoint(const struct candidates *list, const struct endpoint_sets *sets)
{
	for (size_t i = 0; i < list->count; i++)
		if (sets->is_cluster[i] || sets->is_local[i])
			return true;
	return false;
}

/* ---- frontends ------------------------------------------------------------------------- */

/* "namespace/name:portname" (":<port>" when unnamed), cut to fit: it is only shown by the CLI. */
static void set_frontend_name(struct lb_frontend *frontend, const struct k8s_object *svc,
			      const struct k8s_svc_port *port)
{
	char full[K8S_DNS_LABEL_MAX * 2 + K8S_DNS_SUBDOMAIN_MAX + 32];
	size_t n;

	if (port->name[0])
		snprintf(full, sizeof(full), "%s/%s:%s", svc->namespace, svc->name, port->name);
	else
		snprintf(full, sizeof(full), "%s/%s:%u", svc->namespace, svc->name, port->port);
	n = strnlen(full, sizeof(frontend->name) - 1);
	memcpy(frontend->name, full, n);
	frontend->name[n] = '\0';
}

/* How one frontend picks its backends. */
struct frontend_spec {
	uint32_t vip;
	uint16_t port; /* host order */
	enum lb_scope scope;
	enum lb_frontend_kind kind;
	bool is_local_set; /* the Local set, else the Cluster set */
	uint32_t flags;
};

static int add_frontend(struct build *b, const struct k8s_object *svc,
			const struct k8s_svc_port *port, const struct frontend_spec *spec,
			const struct candidates *list, const struct endpoint_sets *sets)
{
	const struct k8s_service *service = &svc->service;
	struct frontend_build *fb;
	size_t n_total;
	int err;

	if (b->n_builds == b->capacity) {
		size_t next = b->capacity ? b->capacity * 2 : 64;

		fb = realloc(b->builds, next * sizeof(*fb));
		if (!fb)
			return -ENOMEM;
		b->builds = fb;
		b->capacity = next;
	}
	fb = &b->builds[b->n_builds];
	memset(fb, 0, sizeof(*fb));
	fb->service = svc;
	fb->port = port;
	fb->seq = b->n_builds;
	fb->frontend.vip = spec->vip;
	fb->frontend.port = htons(spec->port);
	fb->frontend.proto = port->proto;
	fb->frontend.scope = (uint8_t)spec->scope;
	fb->frontend.kind = (uint8_t)spec->kind;
	fb->frontend.flags = spec->flags;
	if (!spec->is_local_set && sets->has_topology)
		fb->frontend.flags |= LB_FE_F_PREFER_CLOSE;
	fb->frontend.affinity_timeout_s = service->affinity_timeout_s;
	set_frontend_name(&fb->frontend, svc, port);
	b->n_builds++;
	/* kube-proxy enforces source ranges on the load balancer's addresses only. */
	if (spec->kind == LB_KIND_LOAD_BALANCER && service->n_source_ranges) {
		fb->frontend.source_ranges =
		    malloc(service->n_source_ranges * sizeof(*fb->frontend.source_ranges));
		if (!fb->frontend.source_ranges)
			return -ENOMEM;
		memcpy(fb->frontend.source_ranges, service->source_ranges,
		       service->n_source_ranges * sizeof(*fb->frontend.source_ranges));
		fb->frontend.n_source_ranges = service->n_source_ranges;
	}
	err = fill_backends(b, list, spec->is_local_set ? sets->is_local : sets->is_cluster,
			    &fb->frontend, &n_total);
	if (err)
		return err;
	/*
	 * kube-proxy drops a Local frontend's traffic when endpoints exist but none is local ("has
	 * no local endpoints"), and rejects when the port has no usable endpoint anywhere ("has no
	 * endpoints"): without LOCAL_ONLY an empty frontend rejects.
	 */
	if (!fb->frontend.n_backends && (fb->frontend.flags & LB_FE_F_LOCAL_ONLY) &&
	    !has_usable_endpoint(list, sets))
		fb->frontend.flags &= ~LB_FE_F_LOCAL_ONLY;
	if (n_total > LB_MAX_BACKENDS_PER_SVC)
		k8s_errors_add(b->errors,
			       "%s: Service %s/%s: spec.ports[%zu]: %zu backends exceed the limit "
			       "of %d, only the first %d (by address) are used",
			       svc->source, svc->namespace, svc->name, port->index, n_total,
			       LB_MAX_BACKENDS_PER_SVC, LB_MAX_BACKENDS_PER_SVC);
	return 0;
}

/*
 * Every frontend of one Service port. Internal scope is traffic from this node's pods, external
 * scope traffic from outside the node; kube-proxy's rules:
 * - ClusterIP: internal only; internalTrafficPolicy picks Local or Cluster.
 * - NodePort (vip 0), externalIPs, LoadBalancer IPs: external scope uses externalTrafficPolicy
 *   (Local: local endpoints only, client address kept; Cluster: masquerade). Pods reaching
 *   those addresses are short-circuited to the Cluster set (kube-proxy's "pod traffic for
 *   external destinations" rule), so the internal scope never takes the Local set unless the
 *   service uses no Cluster set at all.
 */
static int add_port_frontends(struct build *b, const struct k8s_object *svc,
			      const struct k8s_svc_port *port, const struct candidates *list,
			      const struct endpoint_sets *sets)
{
	const struct k8s_service *service = &svc->service;
	bool has_node_port = port->node_port && (service->type == K8S_SVC_NODE_PORT ||
						 service->type == K8S_SVC_LOAD_BALANCER);
	bool is_external = has_node_port || service->n_external_ips ||
			   (service->type == K8S_SVC_LOAD_BALANCER && service->n_lb_ips);
	/* kube-proxy's UsesClusterEndpoints. */
	bool uses_cluster =
	    !service->is_internal_local || (is_external && !service->is_external_local);
	struct frontend_spec internal = {
	    .scope = LB_SCOPE_INTERNAL,
	    .is_local_set = !uses_cluster,
	    .flags = uses_cluster ? 0 : LB_FE_F_LOCAL_ONLY,
	};
	struct frontend_spec external = {
	    .scope = LB_SCOPE_EXTERNAL,
	    .is_local_set = service->is_external_local,
	    .flags = service->is_external_local ? LB_FE_F_LOCAL_ONLY : LB_FE_F_SNAT,
	};
	struct frontend_spec cluster_ip = {
	    .vip = service->vip,
	    .port = port->port,
	    .scope = LB_SCOPE_INTERNAL,
	    .kind = LB_KIND_CLUSTER_IP,
	    .is_local_set = service->is_internal_local,
	    .flags = service->is_internal_local ? LB_FE_F_LOCAL_ONLY : 0,
	};
	size_t i, k;
	int err;

	err = add_frontend(b, svc, port, &cluster_ip, list, sets);
	for (k = 0; !err && k < 3; k++) {
		const uint32_t *vips = k == 0	? NULL
				       : k == 1 ? service->external_ips
						: service->lb_ips;
		size_t n = k == 0				    ? has_node_port
			   : k == 1				    ? service->n_external_ips
			   : service->type == K8S_SVC_LOAD_BALANCER ? service->n_lb_ips
								    : 0;

		for (i = 0; !err && i < n; i++) {
			internal.vip = external.vip = vips ? vips[i] : 0;
			internal.port = external.port = k == 0 ? port->node_port : port->port;
			internal.kind = external.kind = k == 0	 ? LB_KIND_NODE_PORT
							: k == 1 ? LB_KIND_EXTERNAL_IP
								 : LB_KIND_LOAD_BALANCER;
			err = add_frontend(b, svc, port, &external, list, sets);
			if (k != 0 && !err)
				err = add_frontend(b, svc, port, &internal, list, sets);
		}
		/*
		 * Pods reach a NodePort on their node's own addresses: the pod program looks
		 * frontends up by destination, so the internal side is one frontend per address
		 * (the external side's address 0 stands for all of them at the uplink).
		 */
		for (i = 0; !err && k == 0 && has_node_port && i < b->out->n_node_addresses; i++) {
			internal.vip = b->out->node_addresses[i];
			err = add_frontend(b, svc, port, &internal, list, sets);
		}
	}
	return err;
}

static int add_health_check(struct build *b, const struct k8s_object *svc, uint32_t local_ready)
{
	struct desired_state *out = b->out;
	struct lb_health_check *grown, *hc;
	size_t i;

	for (i = 0; i < out->n_health_checks; i++) {
		if (out->health_checks[i].port == svc->service.health_check_node_port) {
			k8s_errors_add(b->errors,
				       "%s: Service %s/%s: spec.healthCheckNodePort: %u is already "
				       "used by %s",
				       svc->source, svc->namespace, svc->name,
				       svc->service.health_check_node_port,
				       out->health_checks[i].name);
			return 0;
		}
	}
	grown = realloc(out->health_checks, (out->n_health_checks + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	out->health_checks = grown;
	hc = &out->health_checks[out->n_health_checks++];
	memset(hc, 0, sizeof(*hc));
	hc->port = svc->service.health_check_node_port;
	snprintf(hc->name, sizeof(hc->name), "%.31s/%.31s", svc->namespace, svc->name);
	hc->local_endpoints = local_ready;
	return 0;
}

static int backend_address_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* A nodePort outside the configured range refuses the whole Service, as the API server would. */
static bool check_node_ports(struct build *b, const struct k8s_object *svc)
{
	const struct k8s_service *service = &svc->service;
	size_t i;

	if (service->type != K8S_SVC_NODE_PORT && service->type != K8S_SVC_LOAD_BALANCER)
		return true;
	for (i = 0; i < service->n_ports; i++) {
		uint16_t node_port = service->ports[i].node_port;

		if (node_port && (node_port < b->config->node_port_min ||
				  node_port > b->config->node_port_max)) {
			k8s_errors_add(b->errors,
				       "%s: Service %s/%s: spec.ports[%zu].nodePort: %u is outside "
				       "the node port range %u-%u",
				       svc->source, svc->namespace, svc->name, i, node_port,
				       b->config->node_port_min, b->config->node_port_max);
			b->out->rejected_objects++;
			return false;
		}
	}
	return true;
}

static int add_service(struct build *b, const struct k8s_object *svc)
{
	const struct k8s_service *service = &svc->service;
	struct candidates list = {0};
	struct endpoint_sets sets = {0};
	struct k8s_object *const *slices;
	uint32_t *local_ready = NULL;
	size_t n_slices, i, j, n_local = 0;
	bool has_health_check;
	int err = 0;

	/* Headless and ExternalName Services are DNS only: kube-proxy programs nothing. */
	if (service->type == K8S_SVC_EXTERNAL_NAME || service->is_headless || !service->has_vip)
		return 0;
	if (!check_node_ports(b, svc))
		return 0;
	build_slices(b, svc->namespace, svc->name, &slices, &n_slices);
	has_health_check = service->type == K8S_SVC_LOAD_BALANCER && service->is_external_local &&
			   service->health_check_node_port;

	for (i = 0; i < service->n_ports; i++) {
		const struct k8s_svc_port *port = &service->ports[i];

		list.count = 0;
		if (!n_slices && service->has_selector && b->config->is_pod_endpoints)
			err = collect_pod_endpoints(b, svc, port, &list);
		else
			err = collect_slice_endpoints(b, service, slices, n_slices, port, &list);
		if (err)
			break;
		free(sets.is_cluster);
		free(sets.is_local);
		sets.is_cluster = calloc(list.count + 1, sizeof(bool));
		sets.is_local = calloc(list.count + 1, sizeof(bool));
		if (!sets.is_cluster || !sets.is_local) {
			err = -ENOMEM;
			break;
		}
		categorize(b, &list, &sets);
		err = add_port_frontends(b, svc, port, &list, &sets);
		if (err)
			break;
		if (!has_health_check)
			continue;
		/* The health check counts ready endpoints on this node, over all ports. */
		for (j = 0; j < list.count; j++) {
			if (!list.items[j].is_local || !list.items[j].is_ready)
				continue;
			uint32_t *grown = realloc(local_ready, (n_local + 1) * sizeof(*grown));

			if (!grown) {
				err = -ENOMEM;
				break;
			}
			local_ready = grown;
			local_ready[n_local++] = list.items[j].backend.address;
		}
		if (err)
			break;
	}
	if (!err && has_health_check) {
		size_t distinct = 0;

		if (n_local)
			qsort(local_ready, n_local, sizeof(*local_ready), backend_address_cmp);
		for (j = 0; j < n_local; j++)
			distinct += !j || local_ready[j] != local_ready[j - 1];
		err = add_health_check(b, svc, (uint32_t)distinct);
	}
	free(local_ready);
	free(sets.is_cluster);
	free(sets.is_local);
	free(list.items);
	return err;
}

/* This node's addresses: --node-ip first, then its Node object's, without duplicates. */
static int add_node_addresses(struct build *b)
{
	const struct k8s_object *node = find_node(b, b->config->node);
	size_t n = b->config->n_node_ips + (node ? node->node.n_addresses : 0), i, j;
	struct desired_state *out = b->out;

	if (!n)
		return 0;
	out->node_addresses = calloc(n, sizeof(*out->node_addresses));
	if (!out->node_addresses)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		uint32_t address = i < b->config->n_node_ips
				       ? b->config->node_ips[i]
				       : node->node.addresses[i - b->config->n_node_ips];

		for (j = 0; j < out->n_node_addresses; j++) {
			if (out->node_addresses[j] == address)
				break;
		}
		if (j == out->n_node_addresses)
			out->node_addresses[out->n_node_addresses++] = address;
	}
	return 0;
}

static int health_check_cmp(const void *a, const void *b)
{
	const struct lb_health_check *x = a, *y = b;

	return (x->port > y->port) - (x->port < y->port);
}

/* Sort the frontends, drop (and report) a second claim on one (vip, port, proto, scope). */
static int emit_frontends(struct build *b)
{
	struct desired_state *out = b->out;
	size_t i;

	if (!b->n_builds)
		return 0;
	qsort(b->builds, b->n_builds, sizeof(*b->builds), frontend_build_cmp);
	out->frontends = calloc(b->n_builds, sizeof(*out->frontends));
	if (!out->frontends)
		return -ENOMEM;
	for (i = 0; i < b->n_builds; i++) {
		struct frontend_build *fb = &b->builds[i];
		char vip[INET_ADDRSTRLEN];

		if (out->n_frontends &&
		    !lb_frontend_cmp(&out->frontends[out->n_frontends - 1], &fb->frontend)) {
			const struct frontend_build *winner = &b->builds[i - 1];

			while (winner > b->builds &&
			       !lb_frontend_cmp(&winner[-1].frontend, &fb->frontend))
				winner--;
			inet_ntop(AF_INET, &fb->frontend.vip, vip, sizeof(vip));
			if (winner->service != fb->service)
				k8s_errors_add(b->errors,
					       "%s: Service %s/%s: spec.ports[%zu]: %s:%u/%s is "
					       "already used by Service %s/%s",
					       fb->service->source, fb->service->namespace,
					       fb->service->name, fb->port->index, vip,
					       ntohs(fb->frontend.port),
					       proto_name(fb->frontend.proto),
					       winner->service->namespace, winner->service->name);
			free(fb->frontend.backends);
			free(fb->frontend.source_ranges);
			fb->frontend.backends = NULL;
			fb->frontend.source_ranges = NULL;
			continue;
		}
		out->frontends[out->n_frontends++] = fb->frontend;
		fb->frontend.backends = NULL; /* now owned by out */
		fb->frontend.source_ranges = NULL;
	}
	return 0;
}

int k8s_build_desired(struct k8s_object *const *objects, size_t n_objects,
		      const struct k8s_build_config *config, struct k8s_errors *errors,
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
	node = find_node(&b, config->node);
	b.zone = node ? k8s_labels_get(&node->labels, K8S_ZONE_LABEL) : NULL;

	/* Node addresses first: NodePort frontends are made per address for pods. */
	err = add_node_addresses(&b);
	/* Services are in (namespace, name) order, so build order is also "who wins" order. */
	for (i = 0; !err && i < n_services; i++)
		err = add_service(&b, services[i]);
	if (!err)
		err = emit_frontends(&b);
	if (!err && out->n_health_checks > 1)
		qsort(out->health_checks, out->n_health_checks, sizeof(*out->health_checks),
		      health_check_cmp);
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

int k8s_build_node_addresses(const struct k8s_build_config *config,
			     const struct k8s_build_lookup *lookup, uint32_t **out, size_t *n)
{
	struct desired_state state = {0};
	struct build b = {.config = config, .lookup = lookup, .out = &state};
	int err = add_node_addresses(&b);

	*out = state.node_addresses;
	*n = state.n_node_addresses;
	return err;
}

void k8s_service_build_free(struct k8s_service_build *build)
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

int k8s_build_service(const struct k8s_object *svc, const struct k8s_build_config *config,
		      const struct k8s_build_lookup *lookup, const uint32_t *node_addresses,
		      size_t n_node_addresses, struct k8s_errors *errors,
		      struct k8s_service_build *out)
{
	struct desired_state state = {
	    .node_addresses = (uint32_t *)node_addresses,
	    .n_node_addresses = n_node_addresses,
	};
	struct build b = {.config = config, .lookup = lookup, .errors = errors, .out = &state};
	const struct k8s_object *node = find_node(&b, config->node);
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	b.zone = node ? k8s_labels_get(&node->labels, K8S_ZONE_LABEL) : NULL;
	err = add_service(&b, svc);
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
		k8s_service_build_free(out);
	return err;
}
