/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reference evaluator: whether Kubernetes allows a connection between two pods under a set
 * of NetworkPolicies, computed straight from the API's definition, pair by pair, sharing no
 * code with the datapath compiler (loader/desired/netpol_compile.c). The lab and the tests compare
 * the datapath against it.
 */
#ifndef SLUICE_NETPOL_EVAL_H
#define SLUICE_NETPOL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loader/k8s/netpol.h"
#include "loader/k8s/objects.h"

/* A namespace as policies see it: its labels plus kubernetes.io/metadata.name. */
struct netpol_namespace {
	char name[K8S_DNS_LABEL_MAX + 1];
	struct k8s_labels labels; /* owned */
};

struct netpol_pod {
	const struct k8s_object *object; /* borrowed: name, labels, ports */
	size_t namespace;		 /* index into the world's namespaces */
	uint32_t ip;			 /* network order; 0 without one */
};

/*
 * Everything policies are evaluated over: namespaces (declared ones, and those pods or policies
 * name without a Namespace object), pods with an IPv4 address that are not on the host
 * network, and decoded policies. Objects are borrowed and must outlive the world.
 */
struct netpol_world {
	size_t n_namespaces;
	struct netpol_namespace *namespaces;
	size_t n_pods;
	struct netpol_pod *pods;
	size_t n_policies;
	const struct netpol **policies;
};

/* Build from decoded objects (any kinds; first of duplicates wins). Returns 0 or -ENOMEM. */
int netpol_world_build(struct k8s_object *const *objects, size_t n_objects,
		       struct netpol_world *out);
void netpol_world_free(struct netpol_world *world);
/* Index of namespace NAME, or -1. */
ssize_t netpol_world_namespace(const struct netpol_world *world, const char *name);

/*
 * Is a new connection from pod src to pod dst on port/proto (host order) allowed? PROTO is any
 * IP protocol; for one without ports (ICMP, GRE...) pass port 0: only rules without ports admit
 * it, as a ports entry names TCP, UDP or SCTP.
 */
bool netpol_eval_allowed(const struct netpol_world *world, size_t src, size_t dst, uint16_t port,
			 uint8_t proto);

/* Does any policy select pod for this direction (is it isolated)? */
bool netpol_eval_is_isolated(const struct netpol_world *world, size_t pod, bool is_ingress);

#endif
