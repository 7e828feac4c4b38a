// SPDX-License-Identifier: Apache-2.0
/*
 * The frontends of one Service (per port and address kind) and its health check, and the
 * frontends of every Service sorted, a second claim on one dropped and reported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ip_proto.h"
#include "loader/desired/build_internal.h"

/* ---- frontends ------------------------------------------------------------------------- */

static int frontend_build_cmp(const void *a, const void *b)
{
	const struct frontend_build *x = a, *y = b;
	int c = lb_frontend_cmp(&x->frontend, &y->frontend);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

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
	err = build_fill_backends(b, list, spec->is_local_set ? sets->is_local : sets->is_cluster,
				  &fb->frontend, &n_total);
	if (err)
		return err;
	/*
	 * kube-proxy drops a Local frontend's traffic when endpoints exist but none is local ("has
	 * no local endpoints"), and rejects when the port has no usable endpoint anywhere ("has no
	 * endpoints"): without LOCAL_ONLY an empty frontend rejects.
	 */
	if (!fb->frontend.n_backends && (fb->frontend.flags & LB_FE_F_LOCAL_ONLY) &&
	    !build_has_usable_endpoint(list, sets))
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
 * - SCTP with externalTrafficPolicy Cluster gets no external frontend (one error line): the
 *   masquerade gives the flow a new source port, which the datapath cannot write into SCTP
 *   (bpf/lib/nat.h), so every packet would be dropped. Its ClusterIP and the internal frontends
 *   stay, and so does the rest of the Service: it is not counted as rejected.
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
	bool has_external = !(port->proto == IPPROTO_SCTP && !service->is_external_local);
	size_t i, k;
	int err;

	if (is_external && !has_external)
		k8s_errors_add(
		    b->errors,
		    "%s: Service %s/%s: spec.ports[%zu]: SCTP port %u gets no external "
		    "frontend: externalTrafficPolicy Cluster masquerades the client to a "
		    "new source port, which the datapath cannot write into SCTP (its "
		    "CRC32c covers the ports); externalTrafficPolicy Local keeps the "
		    "client's port",
		    svc->source, svc->namespace, svc->name, port->index, port->port);
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
			if (has_external)
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

int build_add_service(struct build *b, const struct k8s_object *svc)
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
			err = build_collect_pod_endpoints(b, svc, port, &list);
		else
			err = build_collect_slice_endpoints(b, service, slices, n_slices, port,
							    &list);
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
		build_categorize(b, &list, &sets);
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
int build_add_node_addresses(struct build *b)
{
	const struct k8s_object *node = build_find_node(b, b->config->node);
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

/* Sort the frontends, drop (and report) a second claim on one (vip, port, proto, scope). */
int build_emit_frontends(struct build *b)
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
					       ip_proto_name(fb->frontend.proto),
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
