/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The field toolkit every Kubernetes decoder here uses (objects.c and its kinds, netpol.c): the
 * error list of a load, label maps, typed access to a yaml_tree with one message per problem
 * ("source: Kind namespace/name: field: why"), and the syntax rules of the API (DNS labels,
 * IANA_SVC_NAME, label keys and values, usable IPv4 addresses, protocols).
 */
#ifndef SLUICE_K8S_FIELDS_H
#define SLUICE_K8S_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/k8s/yaml_tree.h"

#define K8S_DNS_LABEL_MAX     63
#define K8S_DNS_SUBDOMAIN_MAX 253
#define K8S_IANA_SVC_NAME_MAX 15
#define K8S_LABEL_VALUE_MAX   63  /* as the name part of a label key */
#define K8S_MAX_LABELS	      256 /* labels (and selector terms) per object */
#define K8S_ERROR_LEN	      512
#define K8S_MAX_ERRORS	      256 /* errors kept for listing; more are only counted */

/* ---- errors ------------------------------------------------------------------------------ */

/* Messages of one load or sync: logged as found (unless quiet), the first K8S_MAX_ERRORS kept. */
struct k8s_errors {
	char **items;
	size_t count;  /* kept */
	size_t found;  /* reported, kept or not */
	bool is_quiet; /* collected for later: not logged when added */
};

void k8s_errors_add(struct k8s_errors *errors, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void k8s_errors_free(struct k8s_errors *errors);

/* ---- labels ------------------------------------------------------------------------------ */

struct k8s_label {
	char *key;
	char *value;
};

/* A label map (or a selector's matchLabels), sorted by key. */
struct k8s_labels {
	size_t count;
	struct k8s_label *items;
};

const char *k8s_labels_get(const struct k8s_labels *labels, const char *key);
/* Every term of selector is in labels (an empty selector matches everything). */
bool k8s_labels_match(const struct k8s_labels *selector, const struct k8s_labels *labels);
/* Sort by key, as k8s_labels_get() needs, once the items are in. */
void k8s_labels_sort(struct k8s_labels *labels);
void k8s_labels_free(struct k8s_labels *labels);

/* ---- reading fields ------------------------------------------------------------------------ */

/* One object being decoded: where it came from, for messages, and how many errors it had. */
struct k8s_field_ctx {
	struct k8s_errors *errors;
	const char *source;
	const char *kind; /* "Service", "NetworkPolicy", ... */
	char who[K8S_DNS_LABEL_MAX + 1 + K8S_DNS_SUBDOMAIN_MAX + 1]; /* "namespace/name" */
	unsigned int n_errors;
	bool is_oom;	/* an allocation failed: decoders that go on after errors stop */
	bool is_quoted; /* wrong values shown as `integer "80"`, not `integer 80` (NetworkPolicy) */
};

/*
 * Report "source: Kind who: prefix.key: message" (prefix or key alone when the other is empty
 * or NULL) and count it; always returns -EINVAL.
 */
int k8s_field_error(struct k8s_field_ctx *ctx, const char *prefix, const char *key, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));
/* Log "source: Kind who: path: message" without counting an error. */
void k8s_field_warn(const struct k8s_field_ctx *ctx, const char *path, const char *message);
/* A short description of a wrong value for messages: `integer 80`, `string "x"`, `a mapping`. */
const char *k8s_field_describe(const struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
			       char *buffer, size_t size);
/* A scalar as Kubernetes reads a label value: any non-null scalar as written, else NULL. */
const char *k8s_field_scalar_text(const struct yaml_tree_node *node);

/*
 * The getters below read parent's key, named prefix.key in messages. Each returns 0 (with the
 * value, or its default when absent or null) or -EINVAL once the problem is reported; those that
 * allocate may return -ENOMEM.
 */
/* node (not looked up: a list item, say) of type, or absent/null: *out NULL then. */
int k8s_field_node(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node, const char *prefix,
		   const char *key, enum yaml_tree_type type, const struct yaml_tree_node **out);
/* Optional mapping or list: *out is NULL when absent or null. */
int k8s_field_container(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
			const char *prefix, const char *key, enum yaml_tree_type type,
			const struct yaml_tree_node **out);
/* An optional list of at most max items: *out NULL when absent, empty or wrong. */
int k8s_field_list(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		   const char *prefix, const char *key, size_t max,
		   const struct yaml_tree_node **out);
/* The same, with what names the items in the limit's message: "300 ports exceed ...". */
int k8s_field_list_of(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		      const char *prefix, const char *key, size_t max, const char *what,
		      const struct yaml_tree_node **out);
/* Optional string: *out is NULL when absent or null. */
int k8s_field_string(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		     const char *prefix, const char *key, const char **out);
/* Integer in [min, max]; *out is 0 when absent and not required. */
int k8s_field_int(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		  const char *prefix, const char *key, bool is_required, int64_t min, int64_t max,
		  int64_t *out);
/* Port number 1-65535; *out is 0 when absent and not required. */
int k8s_field_port(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		   const char *prefix, const char *key, bool is_required, uint16_t *out);
int k8s_field_bool(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		   const char *prefix, const char *key, bool fallback, bool *out);
/* protocol: TCP (the default), UDP or SCTP. */
int k8s_field_protocol(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		       const char *prefix, uint8_t *out);
/* A string field that must be one of words (NULL-terminated); *index is the match. */
int k8s_field_enum(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		   const char *prefix, const char *key, const char *const *words, size_t *index);
/*
 * A label map (metadata.labels, a Service's selector), sorted into *out: any key of a sensible
 * length, values of at most 63 bytes, plain scalars taken as written, null as "".
 */
int k8s_field_labels(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		     const char *prefix, const char *key, struct k8s_labels *out);
/* Refuse keys of mapping not in known (NULL-terminated), each named at path; false if any. */
bool k8s_field_known(struct k8s_field_ctx *ctx, const struct yaml_tree_node *mapping,
		     const char *path, const char *const *known);
/* Copy of a string that is set and not empty into *out (left alone otherwise); 0 or -ENOMEM. */
int k8s_field_dup(const char *value, char **out);

/* ---- syntax ------------------------------------------------------------------------------ */

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 bytes; s need not end at n. */
bool k8s_is_dns1123_label(const char *s, size_t n);
/* RFC 1035 label, which Service names must be: a 1123 label that starts with a letter. */
bool k8s_is_dns1035_label(const char *s);
bool k8s_is_dns1123_subdomain(const char *s);
/* IANA_SVC_NAME (RFC 6335): what a named targetPort, container port or policy port must be. */
bool k8s_is_iana_svc_name(const char *s);
/* A label key: [prefix/]name, the prefix a DNS subdomain, the name as a label value. */
bool k8s_is_label_key(const char *key);
/* A label value: empty, or 1-63 of [A-Za-z0-9._-] starting and ending alphanumeric. */
bool k8s_is_label_value(const char *value);
/*
 * Addresses Kubernetes refuses for endpoints and cluster IPs: unspecified, loopback,
 * link-local, multicast and broadcast. Takes a network-order address.
 */
bool k8s_is_usable_ipv4(uint32_t address);
bool k8s_is_ipv6_text(const char *text);
/* "TCP", "UDP" or "SCTP" into *out (IPPROTO_*); false for anything else. */
bool k8s_protocol_parse(const char *name, uint8_t *out);

#endif
