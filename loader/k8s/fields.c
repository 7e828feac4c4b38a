// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes field toolkit: the error list, label maps, typed field access with one message
 * per problem, and the API's syntax rules, for every decoder of loader/k8s/.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ip_proto.h"
#include "lib/log.h"
#include "loader/k8s/fields.h"

/* ---- errors ---------------------------------------------------------------------------- */

void k8s_errors_free(struct k8s_errors *errors)
{
	size_t i;

	for (i = 0; i < errors->count; i++)
		free(errors->items[i]);
	free(errors->items);
	memset(errors, 0, sizeof(*errors));
}

static void errors_vadd(struct k8s_errors *errors, const char *fmt, va_list ap)
{
	char buffer[K8S_ERROR_LEN];
	char **items, *p;

	vsnprintf(buffer, sizeof(buffer), fmt, ap);
	/* Names and values come from outside: keep terminal control bytes out of logs. */
	for (p = buffer; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	if (!errors->is_quiet)
		log_warn("%s", buffer);
	errors->found++;
	/* Keeping an error is best effort: it is counted and logged even when memory is short. */
	if (errors->count >= K8S_MAX_ERRORS)
		return;
	items = realloc(errors->items, (errors->count + 1) * sizeof(*items));
	if (!items)
		return;
	errors->items = items;
	items[errors->count] = strdup(buffer);
	if (items[errors->count])
		errors->count++;
}

void k8s_errors_add(struct k8s_errors *errors, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_vadd(errors, fmt, ap);
	va_end(ap);
}

/* ---- labels ---------------------------------------------------------------------------- */

void k8s_labels_free(struct k8s_labels *labels)
{
	size_t i;

	for (i = 0; i < labels->count; i++) {
		free(labels->items[i].key);
		free(labels->items[i].value);
	}
	free(labels->items);
	memset(labels, 0, sizeof(*labels));
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

void k8s_labels_sort(struct k8s_labels *labels)
{
	if (labels->count)
		qsort(labels->items, labels->count, sizeof(*labels->items), label_cmp);
}

const char *k8s_labels_get(const struct k8s_labels *labels, const char *key)
{
	struct k8s_label probe = {.key = (char *)key}, *found;

	if (!labels->count)
		return NULL;
	found = bsearch(&probe, labels->items, labels->count, sizeof(probe), label_cmp);
	return found ? found->value : NULL;
}

bool k8s_labels_match(const struct k8s_labels *selector, const struct k8s_labels *labels)
{
	size_t i;

	for (i = 0; i < selector->count; i++) {
		const char *value = k8s_labels_get(labels, selector->items[i].key);

		if (!value || strcmp(value, selector->items[i].value))
			return false;
	}
	return true;
}

/* ---- reading fields -------------------------------------------------------------------- */

int k8s_field_error(struct k8s_field_ctx *ctx, const char *prefix, const char *key, const char *fmt,
		    ...)
{
	char message[K8S_ERROR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	ctx->n_errors++;
	k8s_errors_add(ctx->errors, "%s: %s %s: %s%s%s: %s", ctx->source, ctx->kind, ctx->who,
		       prefix, *prefix && key ? "." : "", key ? key : "", message);
	return -EINVAL;
}

void k8s_field_warn(const struct k8s_field_ctx *ctx, const char *path, const char *message)
{
	log_warn("%s: %s %s: %s: %s", ctx->source, ctx->kind, ctx->who, path, message);
}

const char *k8s_field_describe(const struct k8s_field_ctx *ctx, const struct yaml_tree_node *node,
			       char *buffer, size_t size)
{
	const char *what = yaml_tree_describe(node);
	bool is_string, has_nul;

	if (!node || node->type != YAML_TREE_SCALAR || node->scalar.kind == YAML_TREE_NULL)
		return what;
	is_string = node->scalar.kind == YAML_TREE_STRING;
	has_nul = strlen(node->scalar.value) != node->scalar.length;
	if (has_nul && ctx->is_quoted)
		return what;
	if (has_nul && is_string)
		return "a string holding a NUL byte";
	if (is_string || ctx->is_quoted)
		snprintf(buffer, size, "%s \"%.40s\"", what, node->scalar.value);
	else
		snprintf(buffer, size, "%s %.40s", what, node->scalar.value);
	return buffer;
}

const char *k8s_field_scalar_text(const struct yaml_tree_node *node)
{
	if (!node || node->type != YAML_TREE_SCALAR || node->scalar.kind == YAML_TREE_NULL ||
	    strlen(node->scalar.value) != node->scalar.length)
		return NULL;
	return node->scalar.value;
}

int k8s_field_node(struct k8s_field_ctx *ctx, const struct yaml_tree_node *node, const char *prefix,
		   const char *key, enum yaml_tree_type type, const struct yaml_tree_node **out)
{
	char text[64];

	*out = NULL;
	if (yaml_tree_is_null(node))
		return 0;
	if (node->type != type)
		return k8s_field_error(ctx, prefix, key, "expected %s, got %s",
				       type == YAML_TREE_MAPPING ? "a mapping" : "a list",
				       k8s_field_describe(ctx, node, text, sizeof(text)));
	*out = node;
	return 0;
}

int k8s_field_container(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
			const char *prefix, const char *key, enum yaml_tree_type type,
			const struct yaml_tree_node **out)
{
	return k8s_field_node(ctx, yaml_tree_get(parent, key), prefix, key, type, out);
}

int k8s_field_list_of(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		      const char *prefix, const char *key, size_t max, const char *what,
		      const struct yaml_tree_node **out)
{
	int err = k8s_field_container(ctx, parent, prefix, key, YAML_TREE_SEQUENCE, out);

	if (err)
		return err;
	if (*out && (*out)->sequence.count > max) {
		err = k8s_field_error(ctx, prefix, key, "%zu %s exceed the limit of %zu",
				      (*out)->sequence.count, what, max);
		*out = NULL;
	}
	return err;
}

int k8s_field_list(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		   const char *prefix, const char *key, size_t max,
		   const struct yaml_tree_node **out)
{
	return k8s_field_list_of(ctx, parent, prefix, key, max, "items", out);
}

int k8s_field_string(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		     const char *prefix, const char *key, const char **out)
{
	const struct yaml_tree_node *node = yaml_tree_get(parent, key);
	char text[64];

	*out = NULL;
	if (yaml_tree_is_null(node))
		return 0;
	*out = yaml_tree_string(node);
	if (!*out)
		return k8s_field_error(ctx, prefix, key, "expected a string, got %s",
				       k8s_field_describe(ctx, node, text, sizeof(text)));
	return 0;
}

int k8s_field_int(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		  const char *prefix, const char *key, bool is_required, int64_t min, int64_t max,
		  int64_t *out)
{
	const struct yaml_tree_node *node = yaml_tree_get(parent, key);
	char text[64];
	int64_t value;

	*out = 0;
	if (yaml_tree_is_null(node)) {
		if (is_required)
			return k8s_field_error(ctx, prefix, key, "is required");
		return 0;
	}
	if (yaml_tree_int(node, &value) == -EINVAL)
		return k8s_field_error(ctx, prefix, key, "expected an integer, got %s",
				       k8s_field_describe(ctx, node, text, sizeof(text)));
	if (yaml_tree_int(node, &value) || value < min || value > max)
		return k8s_field_error(ctx, prefix, key, "%.40s is out of range %lld-%lld",
				       node->scalar.value, (long long)min, (long long)max);
	*out = value;
	return 0;
}

int k8s_field_port(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		   const char *prefix, const char *key, bool is_required, uint16_t *out)
{
	int64_t value;
	int err = k8s_field_int(ctx, parent, prefix, key, is_required, 1, 65535, &value);

	*out = (uint16_t)value;
	return err;
}

int k8s_field_bool(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		   const char *prefix, const char *key, bool fallback, bool *out)
{
	const struct yaml_tree_node *node = yaml_tree_get(parent, key);
	char text[64];

	*out = fallback;
	if (yaml_tree_is_null(node))
		return 0;
	if (yaml_tree_bool(node, out))
		return k8s_field_error(ctx, prefix, key, "expected true or false, got %s",
				       k8s_field_describe(ctx, node, text, sizeof(text)));
	return 0;
}

int k8s_field_protocol(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		       const char *prefix, uint8_t *out)
{
	const char *protocol;
	int err;

	*out = IPPROTO_TCP;
	err = k8s_field_string(ctx, parent, prefix, "protocol", &protocol);
	if (err || !protocol)
		return err;
	if (!k8s_protocol_parse(protocol, out))
		return k8s_field_error(ctx, prefix, "protocol",
				       "\"%.40s\" is not one of TCP, UDP, SCTP", protocol);
	return 0;
}

int k8s_field_enum(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		   const char *prefix, const char *key, const char *const *words, size_t *index)
{
	char allowed[160] = "";
	const char *value;
	size_t i;
	int err = k8s_field_string(ctx, parent, prefix, key, &value);

	if (err || !value)
		return err;
	for (i = 0; words[i]; i++) {
		if (!strcmp(value, words[i])) {
			*index = i;
			return 0;
		}
		snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s%s",
			 i ? ", " : "", words[i]);
	}
	return k8s_field_error(ctx, prefix, key, "\"%.40s\" is not one of %s", value, allowed);
}

bool k8s_field_known(struct k8s_field_ctx *ctx, const struct yaml_tree_node *mapping,
		     const char *path, const char *const *known)
{
	bool is_ok = true;
	size_t i, k;

	for (i = 0; i < mapping->mapping.count; i++) {
		const char *key = mapping->mapping.pairs[i].key->scalar.value;

		for (k = 0; known[k] && strcmp(known[k], key); k++)
			;
		if (!known[k]) {
			k8s_field_error(ctx, path, NULL, "unknown field \"%.64s\"", key);
			is_ok = false;
		}
	}
	return is_ok;
}

int k8s_field_dup(const char *value, char **out)
{
	if (!value || !*value)
		return 0;
	*out = strdup(value);
	return *out ? 0 : -ENOMEM;
}

int k8s_field_labels(struct k8s_field_ctx *ctx, const struct yaml_tree_node *parent,
		     const char *prefix, const char *key, struct k8s_labels *out)
{
	const struct yaml_tree_node *map;
	char path[96], text[64];
	size_t i;
	int err = k8s_field_container(ctx, parent, prefix, key, YAML_TREE_MAPPING, &map);

	if (err || !map || !map->mapping.count)
		return err;
	if (map->mapping.count > K8S_MAX_LABELS)
		return k8s_field_error(ctx, prefix, key, "%zu entries exceed the limit of %d",
				       map->mapping.count, K8S_MAX_LABELS);
	out->items = calloc(map->mapping.count, sizeof(*out->items));
	if (!out->items)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
	for (i = 0; i < map->mapping.count; i++) {
		const struct yaml_tree_node *k = map->mapping.pairs[i].key;
		const struct yaml_tree_node *v = map->mapping.pairs[i].value;
		/* Plain YAML scalars such as `tier: 1` or `on: true` are strings to Kubernetes
		 * too when quoted; accept them as written, but nothing structured. */
		const char *value = k8s_field_scalar_text(v);

		if (!value && yaml_tree_is_null(v))
			value = "";
		if (!value || strlen(k->scalar.value) != k->scalar.length || !k->scalar.length ||
		    k->scalar.length > K8S_DNS_SUBDOMAIN_MAX + 64 ||
		    strlen(value) > K8S_LABEL_VALUE_MAX) {
			err = k8s_field_error(ctx, path, k->scalar.value,
					      "expected a label value of at most 63 bytes, got %s",
					      k8s_field_describe(ctx, v, text, sizeof(text)));
			continue;
		}
		out->items[out->count].key = strdup(k->scalar.value);
		out->items[out->count].value = strdup(value);
		if (!out->items[out->count].key || !out->items[out->count].value) {
			free(out->items[out->count].key);
			free(out->items[out->count].value);
			return -ENOMEM;
		}
		out->count++;
	}
	k8s_labels_sort(out);
	return err;
}

/* ---- syntax ---------------------------------------------------------------------------- */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool k8s_is_dns1123_label(const char *s, size_t n)
{
	size_t i;

	if (!n || n > K8S_DNS_LABEL_MAX || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

bool k8s_is_dns1035_label(const char *s)
{
	return k8s_is_dns1123_label(s, strlen(s)) && s[0] >= 'a' && s[0] <= 'z';
}

bool k8s_is_dns1123_subdomain(const char *s)
{
	size_t n = strlen(s);
	const char *dot;

	if (!n || n > K8S_DNS_SUBDOMAIN_MAX)
		return false;
	for (;;) {
		dot = strchr(s, '.');
		if (!k8s_is_dns1123_label(s, dot ? (size_t)(dot - s) : strlen(s)))
			return false;
		if (!dot)
			return true;
		s = dot + 1;
	}
}

bool k8s_is_iana_svc_name(const char *s)
{
	size_t i, n = strlen(s);
	bool has_letter = false;

	if (!n || n > K8S_IANA_SVC_NAME_MAX || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
		has_letter |= s[i] >= 'a' && s[i] <= 'z';
	}
	return has_letter;
}

/* A label value, or the name part of a key (which may not be empty). */
static bool is_label_name(const char *s, size_t n, bool is_value)
{
	size_t i;

	if (!n)
		return is_value;
	if (n > K8S_LABEL_VALUE_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		bool is_alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!is_alnum && c != '-' && c != '_' && c != '.')
			return false;
		if ((i == 0 || i == n - 1) && !is_alnum)
			return false;
	}
	return true;
}

bool k8s_is_label_key(const char *key)
{
	const char *slash = strchr(key, '/');
	size_t i, n;

	if (!slash)
		return is_label_name(key, strlen(key), false);
	n = (size_t)(slash - key);
	if (!n || n > K8S_DNS_SUBDOMAIN_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = key[i];

		if (!is_lower_alnum(c) && c != '-' && c != '.')
			return false;
	}
	return is_label_name(slash + 1, strlen(slash + 1), false);
}

bool k8s_is_label_value(const char *value)
{
	return is_label_name(value, strlen(value), true);
}

bool k8s_is_usable_ipv4(uint32_t address)
{
	uint32_t a = ntohl(address);

	return (a >> 24) != 0 && (a >> 24) != 127 && (a >> 16) != 0xa9fe && (a >> 28) != 0xe &&
	       a != 0xffffffff;
}

bool k8s_is_ipv6_text(const char *text)
{
	unsigned char ipv6[16];

	return inet_pton(AF_INET6, text, ipv6) == 1;
}

bool k8s_protocol_parse(const char *name, uint8_t *out)
{
	if (!strcmp(name, "TCP"))
		*out = IPPROTO_TCP;
	else if (!strcmp(name, "UDP"))
		*out = IPPROTO_UDP;
	else if (!strcmp(name, "SCTP"))
		*out = IPPROTO_SCTP;
	else
		return false;
	return true;
}
