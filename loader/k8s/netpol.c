// SPDX-License-Identifier: Apache-2.0
/* NetworkPolicy decoding and validation (networking.k8s.io/v1), and label selector matching. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/k8s/netpol.h"

/* ---- matching ---------------------------------------------------------------------------- */

bool netpol_selector_is_empty(const struct netpol_selector *selector)
{
	return !selector->match_labels.count && !selector->n_expressions;
}

static bool netpol_expression_match(const struct netpol_expression *expr,
				    const struct k8s_labels *labels)
{
	const char *value = k8s_labels_get(labels, expr->key);
	size_t i;

	switch (expr->op) {
	case NETPOL_OP_EXISTS:
		return value != NULL;
	case NETPOL_OP_DOES_NOT_EXIST:
		return value == NULL;
	case NETPOL_OP_IN:
	case NETPOL_OP_NOT_IN:
		for (i = 0; value && i < expr->n_values; i++) {
			if (!strcmp(value, expr->values[i]))
				return expr->op == NETPOL_OP_IN;
		}
		/* NotIn matches a pod without the key, as in Kubernetes' labels.Selector. */
		return expr->op == NETPOL_OP_NOT_IN;
	}
	return false;
}

bool netpol_selector_match(const struct netpol_selector *selector, const struct k8s_labels *labels)
{
	size_t i;

	if (!k8s_labels_match(&selector->match_labels, labels))
		return false;
	for (i = 0; i < selector->n_expressions; i++) {
		if (!netpol_expression_match(&selector->expressions[i], labels))
			return false;
	}
	return true;
}

bool netpol_ip_block_contains(const struct netpol_ip_block *block, uint32_t address)
{
	size_t i;

	if (block->is_ipv6 || !cidr4_has_address(&block->cidr, address))
		return false;
	for (i = 0; i < block->n_except; i++) {
		if (cidr4_has_address(&block->except[i], address))
			return false;
	}
	return true;
}

/* ---- freeing ----------------------------------------------------------------------------- */

static void netpol_selector_free(struct netpol_selector *selector)
{
	size_t i, j;

	k8s_labels_free(&selector->match_labels);
	for (i = 0; i < selector->n_expressions; i++) {
		free(selector->expressions[i].key);
		for (j = 0; j < selector->expressions[i].n_values; j++)
			free(selector->expressions[i].values[j]);
		free(selector->expressions[i].values);
	}
	free(selector->expressions);
}

static void netpol_rules_free(struct netpol_rule *rules, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < rules[i].n_peers; j++) {
			netpol_selector_free(&rules[i].peers[j].pod_selector);
			netpol_selector_free(&rules[i].peers[j].namespace_selector);
			free(rules[i].peers[j].ip_block.except);
		}
		free(rules[i].peers);
		free(rules[i].ports);
	}
	free(rules);
}

void netpol_free(struct netpol *policy)
{
	if (!policy)
		return;
	netpol_selector_free(&policy->pod_selector);
	netpol_rules_free(policy->ingress, policy->n_ingress);
	netpol_rules_free(policy->egress, policy->n_egress);
	free(policy);
}

/* ---- decoding ---------------------------------------------------------------------------- */

/*
 * The decoders below report through loader/k8s/fields.h with paths they build themselves, and
 * go on after an error so that one pass names every problem; ctx->is_oom stops them.
 */

static void netpol_path(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A field path for messages; a path cut short still names where it starts. */
static void netpol_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static char *netpol_strdup(struct k8s_field_ctx *ctx, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		ctx->is_oom = true;
	return copy;
}

static void netpol_decode_match_labels(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
				       const char *path, struct k8s_labels *out)
{
	char field[160], text[64];
	size_t i;

	if (k8s_field_node(ctx, node, path, NULL, YAML_TREE_MAPPING, &node) || !node ||
	    !node->mapping.count)
		return;
	if (node->mapping.count > K8S_MAX_LABELS) {
		k8s_field_error(ctx, path, NULL, "%zu entries exceed the limit of %d",
				node->mapping.count, K8S_MAX_LABELS);
		return;
	}
	out->items = calloc(node->mapping.count, sizeof(*out->items));
	if (!out->items) {
		ctx->is_oom = true;
		return;
	}
	for (i = 0; i < node->mapping.count; i++) {
		const char *key = node->mapping.pairs[i].key->scalar.value;
		const char *value = k8s_field_scalar_text(node->mapping.pairs[i].value);

		netpol_path(field, sizeof(field), "%s.%.64s", path, key);
		if (!k8s_is_label_key(key)) {
			k8s_field_error(ctx, field, NULL, "\"%.64s\" is not a valid label key",
					key);
			continue;
		}
		if (!value || !k8s_is_label_value(value)) {
			k8s_field_error(ctx, field, NULL, "expected a label value, got %s",
					k8s_field_describe(ctx, node->mapping.pairs[i].value, text,
							   sizeof(text)));
			continue;
		}
		out->items[out->count].key = netpol_strdup(ctx, key);
		out->items[out->count].value = netpol_strdup(ctx, value);
		out->count++;
		if (ctx->is_oom)
			return;
	}
	k8s_labels_sort(out);
}

static void netpol_decode_expression(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
				     const char *path, struct netpol_expression *out)
{
	static const char *const fields[] = {"key", "operator", "values", NULL};
	static const char *const operators[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
	const struct yaml_tree_node *values;
	const char *key, *op;
	char field[160], text[64];
	size_t i;

	if (k8s_field_node(ctx, node, path, NULL, YAML_TREE_MAPPING, &node))
		return;
	if (!node) {
		k8s_field_error(ctx, path, NULL, "expected a mapping, got null");
		return;
	}
	if (!k8s_field_known(ctx, node, path, fields))
		return;
	key = yaml_tree_string(yaml_tree_get(node, "key"));
	op = yaml_tree_string(yaml_tree_get(node, "operator"));
	netpol_path(field, sizeof(field), "%s.key", path);
	if (!key || !k8s_is_label_key(key)) {
		k8s_field_error(
		    ctx, field, NULL, "expected a label key, got %s",
		    k8s_field_describe(ctx, yaml_tree_get(node, "key"), text, sizeof(text)));
		return;
	}
	netpol_path(field, sizeof(field), "%s.operator", path);
	for (i = 0; op && operators[i] && strcmp(operators[i], op); i++)
		;
	if (!op || !operators[i]) {
		k8s_field_error(
		    ctx, field, NULL, "%s is not one of In, NotIn, Exists, DoesNotExist",
		    k8s_field_describe(ctx, yaml_tree_get(node, "operator"), text, sizeof(text)));
		return;
	}
	out->op = (enum netpol_operator)i;
	netpol_path(field, sizeof(field), "%s.values", path);
	if (k8s_field_list(ctx, node, path, "values", NETPOL_MAX_VALUES, &values))
		return;
	if ((out->op == NETPOL_OP_IN || out->op == NETPOL_OP_NOT_IN) &&
	    (!values || !values->sequence.count)) {
		k8s_field_error(ctx, field, NULL, "must be non-empty for operator %s", op);
		return;
	}
	if ((out->op == NETPOL_OP_EXISTS || out->op == NETPOL_OP_DOES_NOT_EXIST) && values &&
	    values->sequence.count) {
		k8s_field_error(ctx, field, NULL, "must be empty for operator %s", op);
		return;
	}
	out->key = netpol_strdup(ctx, key);
	if (!values || !values->sequence.count)
		return;
	out->values = calloc(values->sequence.count, sizeof(*out->values));
	if (!out->values) {
		ctx->is_oom = true;
		return;
	}
	for (i = 0; i < values->sequence.count; i++) {
		const char *value = k8s_field_scalar_text(values->sequence.items[i]);

		if (!value || !k8s_is_label_value(value)) {
			netpol_path(field, sizeof(field), "%s.values[%zu]", path, i);
			k8s_field_error(
			    ctx, field, NULL, "expected a label value, got %s",
			    k8s_field_describe(ctx, values->sequence.items[i], text, sizeof(text)));
			continue;
		}
		out->values[out->n_values] = netpol_strdup(ctx, value);
		out->n_values++;
	}
}

static void netpol_decode_selector(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
				   const char *path, struct netpol_selector *out)
{
	static const char *const fields[] = {"matchLabels", "matchExpressions", NULL};
	const struct yaml_tree_node *expressions;
	char field[160];
	size_t i;

	if (k8s_field_node(ctx, node, path, NULL, YAML_TREE_MAPPING, &node) || !node ||
	    !k8s_field_known(ctx, node, path, fields))
		return;
	netpol_path(field, sizeof(field), "%s.matchLabels", path);
	netpol_decode_match_labels(ctx, yaml_tree_get(node, "matchLabels"), field,
				   &out->match_labels);
	if (k8s_field_list(ctx, node, path, "matchExpressions", K8S_MAX_LABELS, &expressions) ||
	    !expressions || !expressions->sequence.count)
		return;
	out->expressions = calloc(expressions->sequence.count, sizeof(*out->expressions));
	if (!out->expressions) {
		ctx->is_oom = true;
		return;
	}
	out->n_expressions = expressions->sequence.count;
	for (i = 0; i < expressions->sequence.count && !ctx->is_oom; i++) {
		netpol_path(field, sizeof(field), "%s.matchExpressions[%zu]", path, i);
		netpol_decode_expression(ctx, expressions->sequence.items[i], field,
					 &out->expressions[i]);
	}
}

/* "a.b.c.d/n" (host bits allowed and masked, as the API allows them); IPv6 noted, not kept. */
static bool netpol_parse_cidr(const char *text, struct cidr4 *out, bool *is_ipv6)
{
	*is_ipv6 = cidr_is_ipv6(text);
	return *is_ipv6 || !cidr4_parse(text, CIDR4_MASK_HOST_BITS, out);
}

static void netpol_decode_ip_block(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
				   const char *path, struct netpol_ip_block *out)
{
	static const char *const fields[] = {"cidr", "except", NULL};
	const struct yaml_tree_node *except;
	const char *cidr;
	char field[160], text[64];
	size_t i;
	bool is_ipv6;

	if (!k8s_field_known(ctx, node, path, fields))
		return;
	netpol_path(field, sizeof(field), "%s.cidr", path);
	cidr = yaml_tree_string(yaml_tree_get(node, "cidr"));
	if (yaml_tree_is_null(yaml_tree_get(node, "cidr"))) {
		k8s_field_error(ctx, field, NULL, "is required");
		return;
	}
	if (!netpol_parse_cidr(cidr, &out->cidr, &out->is_ipv6)) {
		k8s_field_error(
		    ctx, field, NULL, "%s is not a valid CIDR",
		    k8s_field_describe(ctx, yaml_tree_get(node, "cidr"), text, sizeof(text)));
		return;
	}
	if (k8s_field_list(ctx, node, path, "except", NETPOL_MAX_EXCEPT, &except) || !except ||
	    !except->sequence.count)
		return;
	out->except = calloc(except->sequence.count, sizeof(*out->except));
	if (!out->except) {
		ctx->is_oom = true;
		return;
	}
	for (i = 0; i < except->sequence.count; i++) {
		const char *text_cidr = yaml_tree_string(except->sequence.items[i]);
		struct cidr4 value;

		netpol_path(field, sizeof(field), "%s.except[%zu]", path, i);
		if (!netpol_parse_cidr(text_cidr, &value, &is_ipv6)) {
			k8s_field_error(
			    ctx, field, NULL, "%s is not a valid CIDR",
			    k8s_field_describe(ctx, except->sequence.items[i], text, sizeof(text)));
			continue;
		}
		if (is_ipv6 != out->is_ipv6) {
			k8s_field_error(ctx, field, NULL, "\"%.64s\" is not of the family of cidr",
					text_cidr);
			continue;
		}
		if (is_ipv6)
			continue;
		/* The API requires a strict subset of cidr. */
		if (value.prefix_len <= out->cidr.prefix_len ||
		    !cidr4_has_address(&out->cidr, value.address)) {
			k8s_field_error(ctx, field, NULL,
					"\"%.64s\" must be a strict subset of cidr %s", text_cidr,
					cidr);
			continue;
		}
		out->except[out->n_except++] = value;
	}
}

static void netpol_decode_peer(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
			       const char *path, struct netpol_peer *out)
{
	static const char *const fields[] = {"podSelector", "namespaceSelector", "ipBlock", NULL};
	const struct yaml_tree_node *ip_block;
	char field[160];

	if (k8s_field_node(ctx, node, path, NULL, YAML_TREE_MAPPING, &node))
		return;
	if (!node) {
		k8s_field_error(ctx, path, NULL, "must specify a peer");
		return;
	}
	if (!k8s_field_known(ctx, node, path, fields))
		return;
	out->has_pod_selector = !yaml_tree_is_null(yaml_tree_get(node, "podSelector"));
	out->has_namespace_selector = !yaml_tree_is_null(yaml_tree_get(node, "namespaceSelector"));
	out->has_ip_block = !yaml_tree_is_null(yaml_tree_get(node, "ipBlock"));
	if (!out->has_pod_selector && !out->has_namespace_selector && !out->has_ip_block) {
		k8s_field_error(ctx, path, NULL, "must specify a peer");
		return;
	}
	if (out->has_ip_block && (out->has_pod_selector || out->has_namespace_selector)) {
		k8s_field_error(ctx, path, NULL, "may not specify both ipBlock and another peer");
		return;
	}
	netpol_path(field, sizeof(field), "%s.podSelector", path);
	netpol_decode_selector(ctx, yaml_tree_get(node, "podSelector"), field, &out->pod_selector);
	netpol_path(field, sizeof(field), "%s.namespaceSelector", path);
	netpol_decode_selector(ctx, yaml_tree_get(node, "namespaceSelector"), field,
			       &out->namespace_selector);
	netpol_path(field, sizeof(field), "%s.ipBlock", path);
	if (!k8s_field_node(ctx, yaml_tree_get(node, "ipBlock"), field, NULL, YAML_TREE_MAPPING,
			    &ip_block) &&
	    ip_block)
		netpol_decode_ip_block(ctx, ip_block, field, &out->ip_block);
}

static void netpol_decode_port(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
			       const char *path, struct netpol_port *out)
{
	static const char *const fields[] = {"protocol", "port", "endPort", NULL};
	const struct yaml_tree_node *port, *end_port, *protocol;
	char field[160], text[64];
	int64_t value;

	out->proto = IPPROTO_TCP;
	if (k8s_field_node(ctx, node, path, NULL, YAML_TREE_MAPPING, &node) || !node ||
	    !k8s_field_known(ctx, node, path, fields))
		return;
	protocol = yaml_tree_get(node, "protocol");
	if (!yaml_tree_is_null(protocol)) {
		const char *name = yaml_tree_string(protocol);

		netpol_path(field, sizeof(field), "%s.protocol", path);
		if (!name || !k8s_protocol_parse(name, &out->proto))
			k8s_field_error(ctx, field, NULL, "%s is not one of TCP, UDP, SCTP",
					k8s_field_describe(ctx, protocol, text, sizeof(text)));
	}
	port = yaml_tree_get(node, "port");
	end_port = yaml_tree_get(node, "endPort");
	netpol_path(field, sizeof(field), "%s.port", path);
	if (!yaml_tree_is_null(port)) {
		const char *name = yaml_tree_string(port);

		if (!yaml_tree_int(port, &value)) {
			if (value < 1 || value > 65535)
				k8s_field_error(ctx, field, NULL, "%lld is out of range 1-65535",
						(long long)value);
			else
				out->port = out->end_port = (uint16_t)value;
		} else if (name && k8s_is_iana_svc_name(name)) {
			snprintf(out->name, sizeof(out->name), "%s", name);
		} else {
			k8s_field_error(ctx, field, NULL,
					"%s is neither a port number nor a port name",
					k8s_field_describe(ctx, port, text, sizeof(text)));
		}
	}
	if (yaml_tree_is_null(end_port))
		return;
	netpol_path(field, sizeof(field), "%s.endPort", path);
	if (yaml_tree_int(end_port, &value) || value < 1 || value > 65535) {
		k8s_field_error(ctx, field, NULL, "%s is not a port number 1-65535",
				k8s_field_describe(ctx, end_port, text, sizeof(text)));
		return;
	}
	if (yaml_tree_is_null(port)) {
		k8s_field_error(ctx, field, NULL,
				"may not be specified when port is not specified");
		return;
	}
	if (out->name[0]) {
		k8s_field_error(ctx, field, NULL, "may not be specified when port is a named port");
		return;
	}
	if (out->port && value < out->port) {
		k8s_field_error(ctx, field, NULL, "%lld must be greater than or equal to port %u",
				(long long)value, out->port);
		return;
	}
	out->end_port = (uint16_t)value;
}

static void netpol_decode_rules(struct k8s_field_ctx *ctx, const struct yaml_tree_node *spec,
				bool is_ingress, struct netpol_rule **out, size_t *n_out,
				bool *is_present)
{
	static const char *const ingress_fields[] = {"from", "ports", NULL};
	static const char *const egress_fields[] = {"to", "ports", NULL};
	const char *key = is_ingress ? "ingress" : "egress";
	const char *peers_key = is_ingress ? "from" : "to";
	const struct yaml_tree_node *rules;
	char path[64], field[160];
	size_t i, j;

	k8s_field_list(ctx, spec, "spec", key, NETPOL_MAX_RULES, &rules);
	*is_present = rules && rules->sequence.count;
	if (!*is_present)
		return;
	*out = calloc(rules->sequence.count, sizeof(**out));
	if (!*out) {
		ctx->is_oom = true;
		return;
	}
	*n_out = rules->sequence.count;
	for (i = 0; i < rules->sequence.count && !ctx->is_oom; i++) {
		struct netpol_rule *rule = &(*out)[i];
		const struct yaml_tree_node *node, *peers, *ports;

		netpol_path(path, sizeof(path), "spec.%s[%zu]", key, i);
		if (k8s_field_node(ctx, rules->sequence.items[i], path, NULL, YAML_TREE_MAPPING,
				   &node) ||
		    !node ||
		    !k8s_field_known(ctx, node, path, is_ingress ? ingress_fields : egress_fields))
			continue;
		if (!k8s_field_list(ctx, node, path, peers_key, NETPOL_MAX_PEERS, &peers) &&
		    peers && peers->sequence.count) {
			rule->peers = calloc(peers->sequence.count, sizeof(*rule->peers));
			if (!rule->peers) {
				ctx->is_oom = true;
				return;
			}
			rule->n_peers = peers->sequence.count;
			for (j = 0; j < peers->sequence.count; j++) {
				netpol_path(field, sizeof(field), "%s.%s[%zu]", path, peers_key, j);
				netpol_decode_peer(ctx, peers->sequence.items[j], field,
						   &rule->peers[j]);
			}
		}
		if (!k8s_field_list(ctx, node, path, "ports", NETPOL_MAX_PORTS, &ports) && ports &&
		    ports->sequence.count) {
			rule->ports = calloc(ports->sequence.count, sizeof(*rule->ports));
			if (!rule->ports) {
				ctx->is_oom = true;
				return;
			}
			rule->n_ports = ports->sequence.count;
			for (j = 0; j < ports->sequence.count; j++) {
				netpol_path(field, sizeof(field), "%s.ports[%zu]", path, j);
				netpol_decode_port(ctx, ports->sequence.items[j], field,
						   &rule->ports[j]);
			}
		}
	}
}

static void netpol_decode_types(struct k8s_field_ctx *ctx, const struct yaml_tree_node *spec,
				struct netpol *policy, bool has_egress_rules)
{
	const struct yaml_tree_node *types;
	char field[64], text[64];
	size_t i;

	k8s_field_list(ctx, spec, "spec", "policyTypes", 2, &types);
	if (!types) {
		/* Omitted: Ingress always, Egress when the policy has egress rules. */
		policy->is_ingress = true;
		policy->is_egress = has_egress_rules;
		return;
	}
	for (i = 0; i < types->sequence.count; i++) {
		const char *type = yaml_tree_string(types->sequence.items[i]);

		netpol_path(field, sizeof(field), "spec.policyTypes[%zu]", i);
		if (type && !strcmp(type, "Ingress"))
			policy->is_ingress = true;
		else if (type && !strcmp(type, "Egress"))
			policy->is_egress = true;
		else
			k8s_field_error(
			    ctx, field, NULL, "%s is not one of Ingress, Egress",
			    k8s_field_describe(ctx, types->sequence.items[i], text, sizeof(text)));
	}
	if (!types->sequence.count) {
		policy->is_ingress = true;
		policy->is_egress = has_egress_rules;
	}
}

int netpol_decode(const struct yaml_tree_node *root, const char *source, const char *namespace,
		  const char *name, struct k8s_errors *errors, struct netpol **out)
{
	static const char *const root_fields[] = {"apiVersion", "kind",	  "metadata",
						  "spec",	"status", NULL};
	static const char *const spec_fields[] = {"podSelector", "policyTypes", "ingress", "egress",
						  NULL};
	struct k8s_field_ctx ctx = {
	    .errors = errors, .source = source, .kind = "NetworkPolicy", .is_quoted = true};
	const struct yaml_tree_node *spec;
	struct netpol *policy;
	bool is_bad, has_ingress, has_egress;

	*out = NULL;
	policy = calloc(1, sizeof(*policy));
	if (!policy)
		return -ENOMEM;
	snprintf(policy->namespace, sizeof(policy->namespace), "%s", namespace);
	snprintf(policy->name, sizeof(policy->name), "%s", name);
	snprintf(ctx.who, sizeof(ctx.who), "%s/%s", namespace, name);
	k8s_field_known(&ctx, root, "(root)", root_fields);
	is_bad = k8s_field_container(&ctx, root, "", "spec", YAML_TREE_MAPPING, &spec);
	if (spec && k8s_field_known(&ctx, spec, "spec", spec_fields)) {
		/* Absent podSelector decodes as {} in the API server too: every pod. */
		netpol_decode_selector(&ctx, yaml_tree_get(spec, "podSelector"), "spec.podSelector",
				       &policy->pod_selector);
		netpol_decode_rules(&ctx, spec, true, &policy->ingress, &policy->n_ingress,
				    &has_ingress);
		netpol_decode_rules(&ctx, spec, false, &policy->egress, &policy->n_egress,
				    &has_egress);
		netpol_decode_types(&ctx, spec, policy, has_egress);
	} else if (!spec && !is_bad) {
		k8s_field_error(&ctx, "spec", NULL, "is required");
	}
	if (ctx.is_oom) {
		netpol_free(policy);
		return -ENOMEM;
	}
	if (ctx.n_errors) {
		netpol_free(policy);
		return -EINVAL;
	}
	*out = policy;
	return 0;
}
