/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NetworkPolicy (networking.k8s.io/v1) decoded and validated from a yaml_tree node, and the
 * label-selector semantics policies are written in. Both the reference evaluator
 * (loader/desired/netpol_eval.c) and the datapath compiler (loader/desired/netpol_compile.c) read
 * this form.
 */
#ifndef SLUICE_NETPOL_H
#define SLUICE_NETPOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "loader/k8s/fields.h"
#include "loader/k8s/yaml_tree.h"

#define NETPOL_MAX_RULES  256 /* ingress or egress rules per policy */
#define NETPOL_MAX_PEERS  256 /* from/to entries per rule */
#define NETPOL_MAX_PORTS  256 /* ports per rule */
#define NETPOL_MAX_EXCEPT 256 /* ipBlock.except entries */
#define NETPOL_MAX_VALUES 256 /* values per matchExpression */

/* Set by Kubernetes on every Namespace (1.21+): what namespaceSelectors usually match on. */
#define K8S_NAMESPACE_NAME_LABEL "kubernetes.io/metadata.name"

enum netpol_operator {
	NETPOL_OP_IN = 0,
	NETPOL_OP_NOT_IN,
	NETPOL_OP_EXISTS,
	NETPOL_OP_DOES_NOT_EXIST,
};

struct netpol_expression {
	char *key;
	enum netpol_operator op;
	size_t n_values;
	char **values;
};

/* A metav1.LabelSelector: every matchLabels term AND every expression; empty matches all. */
struct netpol_selector {
	struct k8s_labels match_labels;
	size_t n_expressions;
	struct netpol_expression *expressions;
};

/* ipBlock: cidr minus every except. IPv6 blocks are valid but match no IPv4 address. */
struct netpol_ip_block {
	bool is_ipv6;
	struct cidr4 cidr; /* host bits masked */
	size_t n_except;
	struct cidr4 *except;
};

/*
 * One from/to entry. podSelector alone: pods of the policy's namespace; namespaceSelector
 * alone: every pod of the selected namespaces; both: the selected pods of the selected
 * namespaces (AND); ipBlock: addresses.
 */
struct netpol_peer {
	bool has_pod_selector;
	bool has_namespace_selector;
	bool has_ip_block;
	struct netpol_selector pod_selector;
	struct netpol_selector namespace_selector;
	struct netpol_ip_block ip_block;
};

/* One ports entry: protocol with a number, a range (port..end_port), a name, or every port. */
struct netpol_port {
	uint8_t proto;			      /* IPPROTO_TCP (default), IPPROTO_UDP, IPPROTO_SCTP */
	uint16_t port;			      /* host order; 0 with name "" = every port of proto */
	uint16_t end_port;		      /* host order, >= port; equals port when no endPort */
	char name[K8S_IANA_SVC_NAME_MAX + 1]; /* named port, resolved per destination pod */
};

/* A rule: no peers = every peer; no ports = every port of every protocol. */
struct netpol_rule {
	size_t n_peers;
	struct netpol_peer *peers;
	size_t n_ports;
	struct netpol_port *ports;
};

struct netpol {
	char namespace[K8S_DNS_LABEL_MAX + 1];
	char name[K8S_DNS_SUBDOMAIN_MAX + 1];
	struct netpol_selector pod_selector; /* spec.podSelector: pods of namespace it applies to */
	bool is_ingress;		     /* policyTypes has Ingress (default: always) */
	bool is_egress; /* policyTypes has Egress (default: when spec.egress has rules) */
	size_t n_ingress;
	struct netpol_rule *ingress;
	size_t n_egress;
	struct netpol_rule *egress;
};

/*
 * Decode and validate spec of a NetworkPolicy whose metadata is already known (namespace and
 * name, for messages and for the policy). Unknown fields are refused, as the API server's
 * strict field validation does. Returns 0 with *out set, -EINVAL with every problem added to
 * errors as "source: NetworkPolicy ns/name: field: why" (*out NULL), or -ENOMEM.
 */
int netpol_decode(const struct yaml_tree_node *root, const char *source, const char *namespace,
		  const char *name, struct k8s_errors *errors, struct netpol **out);
void netpol_free(struct netpol *policy);

bool netpol_selector_is_empty(const struct netpol_selector *selector);
bool netpol_selector_match(const struct netpol_selector *selector, const struct k8s_labels *labels);
/* address (network order) lies in the block's cidr and in none of its excepts. */
bool netpol_ip_block_contains(const struct netpol_ip_block *block, uint32_t address);

#endif
