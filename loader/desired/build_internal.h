/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The build's insides, shared by loader/desired/build*.c and by nothing else: one build's
 * inputs and outputs, the endpoint candidates of one Service port, and the functions one part
 * of the build calls in another.
 */
#ifndef SLUICE_DESIRED_BUILD_INTERNAL_H
#define SLUICE_DESIRED_BUILD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/desired/build.h"
#include "loader/k8s/objects.h"
#include "loader/desired/state.h"

struct frontend_build {
	struct lb_frontend frontend;
	const struct k8s_object *service;
	const struct k8s_svc_port *port;
	size_t seq;
};

struct build {
	const struct desired_build_config *config;
	const struct desired_build_lookup *lookup; /* NULL: the sorted arrays below */
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

struct candidates {
	struct candidate *items;
	size_t count, capacity;
};

/* The two sets kube-proxy's CategorizeEndpoints computes, as flags on the candidates. */
struct endpoint_sets {
	bool *is_cluster; /* per candidate */
	bool *is_local;
	bool has_topology; /* the cluster set is the same-zone subset */
};

/* build.c: the objects the build reads, from its sorted arrays or the index's lookups. */
const struct k8s_object *build_find_node(const struct build *b, const char *name);
void build_slices(const struct build *b, const char *namespace, const char *service,
		  struct k8s_object *const **out, size_t *n);
void build_pods(const struct build *b, const char *namespace, struct k8s_object *const **out,
		size_t *n);

/* build_endpoints.c: the endpoints of one Service port, and the sets traffic policy picks. */
int build_collect_slice_endpoints(struct build *b, const struct k8s_service *service,
				  struct k8s_object *const *slices, size_t n_slices,
				  const struct k8s_svc_port *svc_port, struct candidates *list);
int build_collect_pod_endpoints(struct build *b, const struct k8s_object *svc,
				const struct k8s_svc_port *svc_port, struct candidates *list);
void build_categorize(const struct build *b, const struct candidates *list,
		      struct endpoint_sets *sets);
int build_fill_backends(const struct build *b, const struct candidates *list, const bool *set,
			struct lb_frontend *frontend, size_t *n_total);
bool build_has_usable_endpoint(const struct candidates *list, const struct endpoint_sets *sets);

/* build_frontends.c: one Service's frontends and health check, and the frontends of all. */
int build_add_service(struct build *b, const struct k8s_object *svc);
int build_add_node_addresses(struct build *b);
int build_emit_frontends(struct build *b);

#endif
