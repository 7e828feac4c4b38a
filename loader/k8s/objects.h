/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes objects independent of their source: Service, EndpointSlice, Pod, Namespace, Node
 * and NetworkPolicy decoded and validated from a yaml_tree node, whether the tree came from a
 * YAML manifest (loader/sources/manifest.c) or from the API server's JSON (loader/k8s/json.c).
 * What they add up to is loader/desired/build.h's business.
 */
#ifndef SLUICE_OBJECTS_H
#define SLUICE_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "loader/k8s/fields.h"
#include "loader/k8s/yaml_tree.h"

#define K8S_MAX_SVC_PORTS	  256	/* ports per Service */
#define K8S_MAX_SLICE_PORTS	  256	/* ports per EndpointSlice */
#define K8S_MAX_SLICE_ENDPOINTS	  1000	/* Kubernetes' own limit per EndpointSlice */
#define K8S_MAX_IPS		  64	/* externalIPs, LB ingress entries, node addresses */
#define K8S_MAX_SOURCE_RANGES	  256	/* loadBalancerSourceRanges */
#define K8S_MAX_CONTAINERS	  64	/* containers (and ports per container) per Pod */
#define K8S_MAX_TAINTS		  1024	/* taints per Node: the API sets none; more: refused */
#define K8S_MAX_ZONE_HINTS	  8	/* hints.forZones per endpoint (the API's own limit) */
#define K8S_AFFINITY_DEFAULT_S	  10800 /* sessionAffinityConfig default: 3 hours */
#define K8S_AFFINITY_MAX_S	  86400 /* the API's upper bound for timeoutSeconds */
#define K8S_NODE_PORT_MIN_DEFAULT 30000 /* kube-apiserver --service-node-port-range */
#define K8S_NODE_PORT_MAX_DEFAULT 32767
#define K8S_ZONE_LABEL		  "topology.kubernetes.io/zone"
#define K8S_SERVICE_NAME_LABEL	  "kubernetes.io/service-name"

enum k8s_kind {
	K8S_KIND_SERVICE = 0,
	K8S_KIND_ENDPOINT_SLICE,
	K8S_KIND_POD,
	K8S_KIND_NAMESPACE,
	K8S_KIND_NODE,
	K8S_KIND_NETWORK_POLICY,
	K8S_KIND_COUNT,
};

extern const char *const k8s_kind_names[K8S_KIND_COUNT];

struct netpol;

enum k8s_svc_type {
	K8S_SVC_CLUSTER_IP = 0,
	K8S_SVC_NODE_PORT,
	K8S_SVC_LOAD_BALANCER,
	K8S_SVC_EXTERNAL_NAME,
};

struct k8s_svc_port {
	char name[K8S_DNS_LABEL_MAX + 1]; /* "" when the only port is unnamed */
	size_t index;			  /* position in spec.ports, for messages */
	uint8_t proto;			  /* IPPROTO_TCP / UDP / SCTP */
	uint16_t port;			  /* host order */
	uint16_t node_port;		  /* host order; 0 when none */
	uint16_t target_port;		  /* host order; 0 when target_name is used */
	char target_name[K8S_IANA_SVC_NAME_MAX + 1];
};

struct k8s_service {
	enum k8s_svc_type type;
	bool is_headless;
	bool has_vip; /* an IPv4 clusterIP to program */
	uint32_t vip; /* network order */
	size_t n_ports;
	struct k8s_svc_port *ports;
	size_t n_external_ips;
	uint32_t *external_ips; /* spec.externalIPs, network order */
	size_t n_lb_ips;
	uint32_t *lb_ips; /* status.loadBalancer.ingress[].ip with ipMode VIP or unset */
	size_t n_source_ranges;
	struct cidr4 *source_ranges; /* spec.loadBalancerSourceRanges */
	uint32_t affinity_timeout_s; /* sessionAffinity ClientIP; 0 = None */
	bool is_external_local;	     /* externalTrafficPolicy Local */
	bool is_internal_local;	     /* internalTrafficPolicy Local */
	bool is_prefer_close;	     /* trafficDistribution PreferClose */
	bool is_publish_not_ready;   /* publishNotReadyAddresses (Pod-derived endpoints) */
	uint16_t health_check_node_port;
	bool has_selector;
	struct k8s_labels selector; /* spec.selector */
};

struct k8s_slice_port {
	char name[K8S_DNS_LABEL_MAX + 1];
	uint8_t proto;
	uint16_t port; /* host order; 0: a slice port without a number matches nothing */
};

struct k8s_slice_endpoint {
	uint32_t address; /* network order */
	bool is_ready;
	bool is_serving;
	bool is_terminating;
	char *node_name; /* NULL when unset */
	char *zone;	 /* NULL when unset */
	size_t n_zone_hints;
	char **zone_hints; /* hints.forZones[].name */
};

struct k8s_slice {
	char service[K8S_DNS_LABEL_MAX + 1]; /* "" when the slice names no Service */
	bool is_ipv4;			     /* IPv6 and FQDN slices are kept but program nothing */
	size_t n_ports;
	struct k8s_slice_port *ports;
	size_t n_endpoints;
	struct k8s_slice_endpoint *endpoints;
};

struct k8s_container_port {
	char name[K8S_IANA_SVC_NAME_MAX + 1]; /* "" when unnamed */
	uint8_t proto;
	uint16_t port; /* containerPort, host order */
};

struct k8s_pod {
	char *node_name; /* spec.nodeName, NULL when unscheduled */
	bool has_ip;
	uint32_t ip;	     /* status.podIP (first IPv4 of podIPs), network order */
	bool is_ready;	     /* status.conditions[type=Ready].status == "True" */
	bool is_terminating; /* metadata.deletionTimestamp set */
	bool is_finished;    /* status.phase Succeeded or Failed */
	bool is_host_network;
	size_t n_ports;
	struct k8s_container_port *ports; /* every container's ports, in order */
};

struct k8s_node {
	size_t n_addresses;
	uint32_t *addresses; /* status.addresses InternalIP, then ExternalIP; IPv4, network order */
	uint32_t internal_ip; /* the first IPv4 InternalIP, network order; 0 when none */
	bool has_pod_cidr;    /* spec.podCIDR, or the IPv4 entry of spec.podCIDRs */
	struct cidr4 pod_cidr;
	/*
	 * Being removed: metadata.deletionTimestamp set, or the cluster autoscaler's
	 * ToBeDeletedByClusterAutoscaler taint. kube-proxy's /healthz then says nodeEligible
	 * false, so load balancers drain the node before it goes.
	 */
	bool is_leaving;
};

struct k8s_object {
	unsigned int refs; /* not atomic: callers share objects under their own lock */
	enum k8s_kind kind;
	char *source;			       /* file name, or "api" */
	char namespace[K8S_DNS_LABEL_MAX + 1]; /* "" for cluster-scoped kinds */
	char name[K8S_DNS_SUBDOMAIN_MAX + 1];
	struct k8s_labels labels;
	union {
		struct k8s_service service;
		struct k8s_slice slice;
		struct k8s_pod pod;
		struct k8s_node node;
		struct netpol *policy; /* NetworkPolicy, decoded by loader/k8s/netpol.c */
	};
	/* NetworkPolicy: the whole object as it came, for the policy engine (issue 6). */
	struct yaml_tree raw;
};

void k8s_object_get(struct k8s_object *object);
void k8s_object_put(struct k8s_object *object);

/*
 * Which kind a document is: 0 with *kind set, -ENOENT for a kind sluice does not use (a
 * Deployment, a List: the caller decides), or -EINVAL when it is no object at all (then an
 * error naming source and line has been added).
 */
int k8s_object_kind(const struct yaml_tree_node *root, const char *source,
		    struct k8s_errors *errors, enum k8s_kind *kind);

/*
 * Decode and validate one object of a known kind. Returns 0 with *out a new object (refs 1);
 * -EINVAL when invalid, with every problem added to errors as "source: Kind ns/name: field:
 * why", and *out still set so the caller can find the last good version by kind, namespace and
 * name (name may be ""); or -ENOMEM with *out NULL.
 */
int k8s_object_decode(const struct yaml_tree_node *root, enum k8s_kind kind, const char *source,
		      struct k8s_errors *errors, struct k8s_object **out);

#endif
