/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Desired state: what the node's maps should hold, built from Kubernetes objects (manifests
 * today, the API server later) and applied to the maps by loader/sync/sync.c as a diff.
 */
#ifndef SLUICE_STATE_H
#define SLUICE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "maps/lb.h"
#include "maps/types.h"

/* lb_backend_addr.flags: what the EndpointSlice said of the endpoint, relative to this node. */
#define LB_BACKEND_F_LOCAL     (1u << 0) /* endpoint's nodeName is this agent's node */
#define LB_BACKEND_F_SAME_ZONE (1u << 1) /* hints.forZones (or zone) names this node's zone */
#define LB_BACKEND_F_TERMINATING                                                                   \
	(1u << 2) /* used only through kube-proxy's terminating fallback                           \
		   */

/* One backend of a frontend. Address and port in network byte order, as the maps hold them. */
struct lb_backend_addr {
	uint32_t address;
	uint16_t port;
	uint8_t flags; /* LB_BACKEND_F_*; not part of the sort order or identity */
};

/*
 * Who a frontend serves. The pod program looks up internal frontends (traffic from pods on this
 * node); the node's uplink program looks up external ones (traffic from outside the node). One
 * Service port may have both, with different backend sets (internal vs external traffic policy).
 */
enum lb_scope {
	LB_SCOPE_INTERNAL = LB4_SCOPE_INTERNAL,
	LB_SCOPE_EXTERNAL = LB4_SCOPE_EXTERNAL,
};

/* Which Service field made the frontend (for the CLI and for the datapath's choices). */
enum lb_frontend_kind {
	LB_KIND_CLUSTER_IP = 0,
	LB_KIND_NODE_PORT, /* vip 0: any of this node's addresses (desired_state.node_addresses) */
	LB_KIND_EXTERNAL_IP,   /* spec.externalIPs */
	LB_KIND_LOAD_BALANCER, /* status.loadBalancer.ingress[].ip with ipMode VIP (or unset) */
};

/* lb_frontend.flags */
#define LB_FE_F_SNAT	     (1u << 0) /* external, externalTrafficPolicy Cluster: masquerade */
#define LB_FE_F_LOCAL_ONLY   (1u << 1) /* backends are this node's only (a Local policy) */
#define LB_FE_F_PREFER_CLOSE (1u << 2) /* trafficDistribution PreferClose applied to backends */

/*
 * One service frontend: a (VIP, port, protocol, scope) of a Service port. The builder has
 * already applied the traffic policies, the ready -> serving+terminating fallback (separately
 * for Cluster and Local) and PreferClose: backends are exactly the set to balance over; empty
 * means reject (ICMP port unreachable), as kube-proxy does.
 */
struct lb_frontend {
	uint32_t vip;		     /* network byte order; 0 for NodePort (any node address) */
	uint16_t port;		     /* network byte order */
	uint8_t proto;		     /* IPPROTO_TCP / IPPROTO_UDP / IPPROTO_SCTP */
	uint8_t scope;		     /* enum lb_scope */
	uint8_t kind;		     /* enum lb_frontend_kind */
	uint32_t flags;		     /* LB_FE_F_* */
	uint32_t affinity_timeout_s; /* sessionAffinity ClientIP timeoutSeconds; 0 = none */
	char name[SLUICE_NAME_LEN];  /* "namespace/name:portname" (":" + number when unnamed) */
	size_t n_source_ranges;	     /* loadBalancerSourceRanges; 0 = everyone */
	struct cidr4 *source_ranges;
	size_t n_backends;
	struct lb_backend_addr *backends; /* sorted by (address, port), no duplicates */
};

/* A Service's healthCheckNodePort (LoadBalancer + externalTrafficPolicy Local). */
struct lb_health_check {
	uint16_t port; /* host byte order */
	char name[SLUICE_NAME_LEN];
	uint32_t local_endpoints; /* ready endpoints on this node: 200 when > 0, else 503 */
};

/*
 * NetworkPolicy compiled for the datapath (loader/desired/netpol_compile.c). Identities are named
 * by a key that says what policies can tell apart about an address; loader/sync/policy_sync.c gives
 * each key a stable number. Rules and ipcache entries refer to identities by index.
 */
#define POLICY_PEER_ANY UINT32_MAX /* policy_rule.peer: every peer */

struct policy_identity {
	char *key;  /* canonical: equal keys are the same identity */
	char *name; /* for people: "ns {labels}" or "cidr ..." */
	/*
	 * A pod identity some policy isolates: the policies that do, for `sluice explain`'s
	 * "default deny of ..." ("ingress=ns/a,ns/b egress=ns/c"); NULL when none does.
	 */
	char *isolated_by;
};

struct policy_ipcache {
	uint32_t address; /* network order */
	uint8_t prefix_len;
	uint32_t identity; /* index into identities */
	uint32_t flags;	   /* IPCACHE_F_* (maps/policy.h) */
};

struct policy_rule {
	uint32_t subject;  /* identity index: the source (egress) or destination (ingress) */
	uint32_t peer;	   /* identity index or POLICY_PEER_ANY */
	uint8_t direction; /* POLICY_DIR_* */
	uint8_t
	    proto; /* IPPROTO_*, or POLICY_PROTO_ANY (0): a rule without ports, every protocol */
	uint16_t port;	   /* host order, first port of the prefix */
	uint8_t port_bits; /* leading bits of port that must match: 16 one port, 0 every port */
	uint32_t policy;   /* index into policies: the first policy that gave the rule */
};

struct policy_state {
	size_t n_identities;
	struct policy_identity *identities;
	size_t n_ipcache;
	struct policy_ipcache *ipcache; /* sorted by (address, prefix_len), no duplicates */
	size_t n_rules;
	struct policy_rule *rules; /* sorted, no duplicates */
	size_t n_policies;
	char **policies; /* "namespace/name" */
	bool is_enabled; /* some pod is isolated in some direction */
};

void policy_state_free(struct policy_state *state);
/* Deep copy into a new *out; returns 0 or -ENOMEM (*out NULL). */
int policy_state_copy(struct policy_state **out, const struct policy_state *src);

struct desired_state {
	struct lb_frontend *frontends; /* sorted by (vip, port, proto, scope), no duplicates */
	size_t n_frontends;
	struct lb_health_check *health_checks;
	size_t n_health_checks;
	uint32_t *node_addresses; /* this node's addresses (NodePort), network byte order */
	size_t n_node_addresses;
	uint32_t rejected_objects;   /* objects refused as invalid in the last build (for status) */
	struct policy_state *policy; /* NULL: no NetworkPolicy information (nothing enforced) */
};

void desired_state_free(struct desired_state *state);

/* "TCP", "UDP", "SCTP", "ICMP", or "?": how the CLI, logs and the lab name a protocol. */

/*
 * Order is numeric in host order (10.0.0.2 < 10.0.0.10), so lists read naturally in the CLI
 * and sync.c can merge-diff two states with the same comparators.
 */
int lb_backend_addr_cmp(const struct lb_backend_addr *a, const struct lb_backend_addr *b);
int lb_frontend_cmp(const struct lb_frontend *a, const struct lb_frontend *b);
/* Sort and drop duplicates in place; returns the new count. */
size_t lb_backends_normalize(struct lb_backend_addr *backends, size_t count);
/* The canonical order of desired_state.health_checks (by port), shaped for qsort(). */
int lb_health_check_qsort_cmp(const void *a, const void *b);
/* Deep copy; returns 0 or -ENOMEM (then *dst is empty). */
int desired_state_copy(struct desired_state *dst, const struct desired_state *src);
/*
 * A malloc'd copy of n elements of size bytes each, or NULL when n is 0 or on failure (then
 * *err is set to -ENOMEM and left alone otherwise, so one err serves a run of copies).
 */
void *desired_array_dup(const void *from, size_t n, size_t size, int *err);

#endif
