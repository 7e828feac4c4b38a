/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure function that turns a set of Kubernetes objects (loader/k8s/objects.h) into the
 * desired state of loader/desired/state.h, following kube-proxy's rules: whole, or one Service
 * at a time for loader/desired/index.c.
 */
#ifndef SLUICE_DESIRED_BUILD_H
#define SLUICE_DESIRED_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/desired/state.h"
#include "loader/k8s/objects.h"

/* Options of the desired-state build: who we are and what the cluster allows. */
struct desired_build_config {
	const char *node;	/* this node's name: LOCAL endpoints, its Node object */
	uint16_t node_port_min; /* NodePort range, host order, inclusive */
	uint16_t node_port_max;
	bool is_pod_endpoints;	  /* Services with a selector and no EndpointSlice use Pods */
	const uint32_t *node_ips; /* --node-ip addresses, network order (added to the Node's) */
	size_t n_node_ips;
};

void desired_build_config_init(struct desired_build_config *config, const char *node);

/*
 * The desired state of the objects (any order, duplicates by kind/namespace/name resolved in
 * favour of the first): deterministic and sorted as loader/desired/state.h asks. Services the build
 * refuses (a nodePort outside the range) are reported into errors and counted in
 * out->rejected_objects; the caller adds what its decoders refused. out is overwritten.
 * Returns 0 or -ENOMEM.
 */
int desired_build(struct k8s_object *const *objects, size_t n_objects,
		  const struct desired_build_config *config, struct k8s_errors *errors,
		  struct desired_state *out);

/*
 * Where the one-Service build finds what surrounds a Service (loader/desired/index.c keeps
 * them indexed): the IPv4 EndpointSlices naming namespace/service and the Pods of namespace,
 * each sorted by name, and a Node by name (NULL when none). Arrays are borrowed for the call.
 */
struct desired_build_lookup {
	void *ctx;
	void (*slices)(void *ctx, const char *namespace, const char *service,
		       struct k8s_object *const **out, size_t *n);
	void (*pods)(void *ctx, const char *namespace, struct k8s_object *const **out, size_t *n);
	const struct k8s_object *(*node)(void *ctx, const char *name);
};

/* What one Service asks for, before other Services' claims on the same frontends are weighed. */
struct desired_service_build {
	struct lb_frontend *frontends; /* in build order: the first of two equal keys wins */
	size_t *port_index;	       /* spec.ports index of each frontend, for messages */
	size_t n_frontends;
	bool has_health_check; /* health_check is claimed (the first Service by name wins) */
	struct lb_health_check health_check;
	bool is_rejected; /* refused by the build (a nodePort outside the range) */
};

/*
 * The frontends and health check of one Service with the same rules as desired_build(),
 * its surroundings found through lookup. node_addresses are this node's (NodePort frontends for
 * pods). Messages go to errors. Returns 0 or -ENOMEM (out then empty).
 */
int desired_build_service(const struct k8s_object *svc, const struct desired_build_config *config,
			  const struct desired_build_lookup *lookup, const uint32_t *node_addresses,
			  size_t n_node_addresses, struct k8s_errors *errors,
			  struct desired_service_build *out);
void desired_service_build_free(struct desired_service_build *build);

/* This node's addresses: --node-ip, then its Node object's, distinct. *out is malloc'd. */
int desired_build_node_addresses(const struct desired_build_config *config,
				 const struct desired_build_lookup *lookup, uint32_t **out,
				 size_t *n);

#endif
