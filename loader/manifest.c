// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes manifests to desired state: reads a directory of YAML files, decodes and validates
 * Service and EndpointSlice objects, keeps the last good version of each file and object, and
 * turns the objects into frontends and backend sets the way kube-proxy does.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/log.h"
#include "loader/manifest.h"
#include "loader/yaml_tree.h"
#include "maps/lb.h"

#define DNS_LABEL_MAX	       63
#define DNS_SUBDOMAIN_MAX      253
#define IANA_SVC_NAME_MAX      15
#define SVC_NAME_LABEL	       "kubernetes.io/service-name"
#define ENDPOINT_MAX_ADDRESSES 100 /* Kubernetes' own limit per endpoint */

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* ---- decoded objects ------------------------------------------------------------------- */

/* Kinds we recognise; those without a decoder yet are skipped until their issue lands. */
enum manifest_kind {
	MANIFEST_KIND_SERVICE = 0,
	MANIFEST_KIND_ENDPOINT_SLICE,
	MANIFEST_KIND_POD,
	MANIFEST_KIND_NAMESPACE,
	MANIFEST_KIND_NETWORK_POLICY,
};

enum manifest_svc_type {
	MANIFEST_SVC_CLUSTER_IP = 0,
	MANIFEST_SVC_NODE_PORT,
	MANIFEST_SVC_LOAD_BALANCER,
	MANIFEST_SVC_EXTERNAL_NAME,
};

struct manifest_svc_port {
	char name[DNS_LABEL_MAX + 1]; /* "" when the only port is unnamed */
	size_t index;		      /* position in spec.ports, for messages */
	uint8_t proto;
	bool is_skipped;      /* SCTP: accepted but not programmed yet */
	uint16_t port;	      /* host order */
	uint16_t target_port; /* host order; 0 when target_name is used */
	char target_name[IANA_SVC_NAME_MAX + 1];
};

struct manifest_service {
	enum manifest_svc_type type;
	bool is_headless;
	bool has_vip; /* an IPv4 clusterIP to program */
	uint32_t vip; /* network order */
	size_t n_ports;
	struct manifest_svc_port *ports;
};

struct manifest_slice_port {
	char name[DNS_LABEL_MAX + 1];
	uint8_t proto;
	bool has_port; /* a slice port without a number restricts nothing, so it matches nothing */
	uint16_t port; /* host order */
};

struct manifest_slice_endpoint {
	uint32_t address; /* network order */
	bool is_ready;
	bool is_serving;
	bool is_terminating;
};

struct manifest_slice {
	char service[DNS_LABEL_MAX + 1]; /* "" when the slice names no Service */
	bool is_ipv4;			 /* IPv6 and FQDN slices are kept but program nothing */
	size_t n_ports;
	struct manifest_slice_port *ports;
	size_t n_endpoints;
	struct manifest_slice_endpoint *endpoints;
};

struct manifest_object {
	unsigned int refs; /* shared between a file's old and new version while a load runs */
	enum manifest_kind kind;
	char *file;
	char namespace[DNS_LABEL_MAX + 1];
	char name[DNS_SUBDOMAIN_MAX + 1];
	union {
		struct manifest_service service;
		struct manifest_slice slice;
	};
};

struct manifest_errors {
	char **items;
	size_t count;  /* kept */
	size_t found;  /* reported, kept or not */
	bool is_quiet; /* a file's own list: logged when merged into the load's list */
};

struct manifest_file {
	char *name;
	struct manifest_object **objects;
	size_t n_objects, capacity;
	/* What the file held when it was read, so an unchanged file is not parsed again: the
	 * outcome of a load depends only on the content and the file's previous objects. */
	bool has_content;
	size_t size;
	uint64_t hash;
	struct manifest_errors errors; /* found in this file at its last parse */
};

struct manifest_set {
	struct manifest_file *files;
	size_t n_files;
	struct manifest_errors errors;
	struct desired_state desired; /* computed by each successful load */
};

static const char *const kind_names[] = {
    [MANIFEST_KIND_SERVICE] = "Service",
    [MANIFEST_KIND_ENDPOINT_SLICE] = "EndpointSlice",
    [MANIFEST_KIND_POD] = "Pod",
    [MANIFEST_KIND_NAMESPACE] = "Namespace",
    [MANIFEST_KIND_NETWORK_POLICY] = "NetworkPolicy",
};

static const char *proto_name(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "UDP" : proto == IPPROTO_SCTP ? "SCTP" : "TCP";
}

/* ---- errors ---------------------------------------------------------------------------- */

static void errors_free(struct manifest_errors *errors)
{
	size_t i;

	for (i = 0; i < errors->count; i++)
		free(errors->items[i]);
	free(errors->items);
	memset(errors, 0, sizeof(*errors));
}

static void errors_vadd(struct manifest_errors *errors, const char *fmt, va_list ap)
{
	char buffer[MANIFEST_ERROR_LEN];
	char **items, *p;

	vsnprintf(buffer, sizeof(buffer), fmt, ap);
	/* Names and values come from the files: keep terminal control bytes out of logs. */
	for (p = buffer; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	if (!errors->is_quiet)
		log_warn("%s", buffer);
	errors->found++;
	/* Keeping an error is best effort: it is counted and logged even when memory is short. */
	if (errors->count >= MANIFEST_MAX_ERRORS)
		return;
	items = realloc(errors->items, (errors->count + 1) * sizeof(*items));
	if (!items)
		return;
	errors->items = items;
	items[errors->count] = strdup(buffer);
	if (items[errors->count])
		errors->count++;
}

static void errors_add(struct manifest_errors *errors, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void errors_add(struct manifest_errors *errors, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_vadd(errors, fmt, ap);
	va_end(ap);
}

/* ---- objects and files ----------------------------------------------------------------- */

static void object_put(struct manifest_object *object)
{
	if (!object || --object->refs)
		return;
	if (object->kind == MANIFEST_KIND_SERVICE) {
		free(object->service.ports);
	} else if (object->kind == MANIFEST_KIND_ENDPOINT_SLICE) {
		free(object->slice.ports);
		free(object->slice.endpoints);
	}
	free(object->file);
	free(object);
}

static void file_clear(struct manifest_file *file)
{
	size_t i;

	for (i = 0; i < file->n_objects; i++)
		object_put(file->objects[i]);
	free(file->objects);
	free(file->name);
	errors_free(&file->errors);
	memset(file, 0, sizeof(*file));
}

static int file_add(struct manifest_file *file, struct manifest_object *object)
{
	struct manifest_object **objects;

	if (file->n_objects == file->capacity) {
		size_t next = file->capacity ? file->capacity * 2 : 8;

		objects = realloc(file->objects, next * sizeof(*objects));
		if (!objects)
			return -ENOMEM;
		file->objects = objects;
		file->capacity = next;
	}
	object->refs++;
	file->objects[file->n_objects++] = object;
	return 0;
}

/* Carry every object of the previous version of a file (it failed to read or parse). */
static int file_keep(struct manifest_file *file, const struct manifest_file *old)
{
	size_t i;
	int err;

	if (!old)
		return 0;
	for (i = 0; i < old->n_objects; i++) {
		err = file_add(file, old->objects[i]);
		if (err)
			return err;
	}
	return 0;
}

static struct manifest_object *file_find(const struct manifest_file *file, enum manifest_kind kind,
					 const char *namespace, const char *name)
{
	size_t i;

	if (!file)
		return NULL;
	for (i = 0; i < file->n_objects; i++) {
		struct manifest_object *o = file->objects[i];

		if (o->kind == kind && !strcmp(o->namespace, namespace) && !strcmp(o->name, name))
			return o;
	}
	return NULL;
}

struct manifest_set *manifest_set_new(void)
{
	return calloc(1, sizeof(struct manifest_set));
}

static void files_free(struct manifest_file *files, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		file_clear(&files[i]);
	free(files);
}

void manifest_set_free(struct manifest_set *set)
{
	if (!set)
		return;
	files_free(set->files, set->n_files);
	errors_free(&set->errors);
	desired_state_free(&set->desired);
	free(set);
}

size_t manifest_set_error_count(const struct manifest_set *set)
{
	return set->errors.count;
}

const char *manifest_set_error(const struct manifest_set *set, size_t i)
{
	return i < set->errors.count ? set->errors.items[i] : NULL;
}

int manifest_set_desired(const struct manifest_set *set, struct desired_state *out)
{
	return desired_state_copy(out, &set->desired);
}

/* ---- field validation ------------------------------------------------------------------ */

/* One object being decoded: where it came from, for messages, and how many errors it had. */
struct decode_ctx {
	struct manifest_errors *errors;
	const char *file;
	const char *kind;
	char who[DNS_LABEL_MAX + 1 + 65]; /* "namespace/name", the name cut for messages */
	unsigned int n_errors;
};

static int field_error(struct decode_ctx *ctx, const char *prefix, const char *key, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

/* Report "file: Kind ns/name: prefix.key: message"; always returns -EINVAL. */
static int field_error(struct decode_ctx *ctx, const char *prefix, const char *key, const char *fmt,
		       ...)
{
	char message[MANIFEST_ERROR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	ctx->n_errors++;
	errors_add(ctx->errors, "%s: %s %s: %s%s%s: %s", ctx->file, ctx->kind, ctx->who, prefix,
		   *prefix && key ? "." : "", key ? key : "", message);
	return -EINVAL;
}

static void field_warn(struct decode_ctx *ctx, const char *prefix, const char *message)
{
	log_warn("%s: %s %s: %s: %s", ctx->file, ctx->kind, ctx->who, prefix, message);
}

/* A short description of a wrong value: `integer 80`, `string "x"`, `a mapping`. */
static const char *value_text(const struct yaml_tree_node *node, char *buffer, size_t size)
{
	const char *what = yaml_tree_describe(node);

	if (!node || node->type != YAML_TREE_SCALAR || node->scalar.kind == YAML_TREE_NULL)
		return what;
	if (node->scalar.kind == YAML_TREE_STRING &&
	    strlen(node->scalar.value) != node->scalar.length)
		return "a string holding a NUL byte";
	if (node->scalar.kind == YAML_TREE_STRING)
		snprintf(buffer, size, "string \"%.40s\"", node->scalar.value);
	else
		snprintf(buffer, size, "%s %.40s", what, node->scalar.value);
	return buffer;
}

/* Optional string: *out is NULL when absent or null. */
static int get_string(struct decode_ctx *ctx, const struct yaml_tree_node *parent,
		      const char *prefix, const char *key, const char **out)
{
	const struct yaml_tree_node *node = yaml_tree_get(parent, key);
	char text[64];

	*out = NULL;
	if (yaml_tree_is_null(node))
		return 0;
	*out = yaml_tree_string(node);
	if (!*out)
		return field_error(ctx, prefix, key, "expected a string, got %s",
				   value_text(node, text, sizeof(text)));
	return 0;
}

/* Optional mapping or list: *out is NULL when absent or null. */
static int get_container(struct decode_ctx *ctx, const struct yaml_tree_node *parent,
			 const char *prefix, const char *key, enum yaml_tree_type type,
			 const struct yaml_tree_node **out)
{
	const struct yaml_tree_node *node = yaml_tree_get(parent, key);
	char text[64];

	*out = NULL;
	if (yaml_tree_is_null(node))
		return 0;
	if (node->type != type)
		return field_error(ctx, prefix, key, "expected %s, got %s",
				   type == YAML_TREE_MAPPING ? "a mapping" : "a list",
				   value_text(node, text, sizeof(text)));
	*out = node;
	return 0;
}

/* Port number 1-65535; *out is 0 when absent and not required. */
static int get_port(struct decode_ctx *ctx, const struct yaml_tree_node *parent, const char *prefix,
		    const char *key, bool is_required, uint16_t *out)
{
	const struct yaml_tree_node *node = yaml_tree_get(parent, key);
	char text[64];
	int64_t value;

	*out = 0;
	if (yaml_tree_is_null(node)) {
		if (is_required)
			return field_error(ctx, prefix, key, "is required");
		return 0;
	}
	if (yaml_tree_int(node, &value) == -EINVAL)
		return field_error(ctx, prefix, key, "expected an integer, got %s",
				   value_text(node, text, sizeof(text)));
	if (yaml_tree_int(node, &value) || value < 1 || value > 65535)
		return field_error(ctx, prefix, key, "%.40s is out of range 1-65535",
				   node->scalar.value);
	*out = (uint16_t)value;
	return 0;
}

static int get_bool(struct decode_ctx *ctx, const struct yaml_tree_node *parent, const char *prefix,
		    const char *key, bool fallback, bool *out)
{
	const struct yaml_tree_node *node = yaml_tree_get(parent, key);
	char text[64];

	*out = fallback;
	if (yaml_tree_is_null(node))
		return 0;
	if (yaml_tree_bool(node, out))
		return field_error(ctx, prefix, key, "expected true or false, got %s",
				   value_text(node, text, sizeof(text)));
	return 0;
}

/* protocol: TCP (the default), UDP or SCTP. */
static int get_protocol(struct decode_ctx *ctx, const struct yaml_tree_node *parent,
			const char *prefix, uint8_t *out)
{
	const char *protocol;
	int err;

	*out = IPPROTO_TCP;
	err = get_string(ctx, parent, prefix, "protocol", &protocol);
	if (err || !protocol)
		return err;
	if (!strcmp(protocol, "TCP"))
		*out = IPPROTO_TCP;
	else if (!strcmp(protocol, "UDP"))
		*out = IPPROTO_UDP;
	else if (!strcmp(protocol, "SCTP"))
		*out = IPPROTO_SCTP;
	else
		return field_error(ctx, prefix, "protocol",
				   "\"%.40s\" is not one of TCP, UDP, SCTP", protocol);
	return 0;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 bytes. */
static bool is_dns1123_label(const char *s, size_t n)
{
	size_t i;

	if (!n || n > DNS_LABEL_MAX || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

/* RFC 1035 label, which Service names must be: a 1123 label that starts with a letter. */
static bool is_dns1035_label(const char *s)
{
	return is_dns1123_label(s, strlen(s)) && s[0] >= 'a' && s[0] <= 'z';
}

static bool is_dns1123_subdomain(const char *s)
{
	size_t n = strlen(s);
	const char *dot;

	if (!n || n > DNS_SUBDOMAIN_MAX)
		return false;
	for (;;) {
		dot = strchr(s, '.');
		if (!is_dns1123_label(s, dot ? (size_t)(dot - s) : strlen(s)))
			return false;
		if (!dot)
			return true;
		s = dot + 1;
	}
}

/* IANA_SVC_NAME (RFC 6335): what a named targetPort must be. */
static bool is_iana_svc_name(const char *s)
{
	size_t i, n = strlen(s);
	bool has_letter = false;

	if (!n || n > IANA_SVC_NAME_MAX || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
		has_letter |= s[i] >= 'a' && s[i] <= 'z';
	}
	return has_letter;
}

/* Addresses Kubernetes refuses for endpoints and cluster IPs: unspecified, loopback, link-local,
 * multicast and broadcast. Takes a network-order address. */
static bool is_usable_ipv4(uint32_t address)
{
	uint32_t a = ntohl(address);

	return (a >> 24) != 0 && (a >> 24) != 127 && (a >> 16) != 0xa9fe && (a >> 28) != 0xe &&
	       a != 0xffffffff;
}

/* ---- Service --------------------------------------------------------------------------- */

static int decode_service_port(struct decode_ctx *ctx, const struct yaml_tree_node *node,
			       const char *prefix, struct manifest_svc_port *port)
{
	const struct yaml_tree_node *target;
	const char *name;
	char text[64];
	int64_t value;
	int err = 0;

	if (node->type != YAML_TREE_MAPPING)
		return field_error(ctx, prefix, NULL, "expected a mapping, got %s",
				   value_text(node, text, sizeof(text)));
	if (!get_string(ctx, node, prefix, "name", &name) && name && *name) {
		if (!is_dns1123_label(name, strlen(name)))
			err =
			    field_error(ctx, prefix, "name",
					"\"%.64s\" is not a DNS label (lowercase letters, digits, "
					"'-', at most 63)",
					name);
		else
			strcpy(port->name, name);
	}
	err |= get_protocol(ctx, node, prefix, &port->proto);
	err |= get_port(ctx, node, prefix, "port", true, &port->port);

	target = yaml_tree_get(node, "targetPort");
	if (yaml_tree_is_null(target)) {
		port->target_port = port->port;
	} else if (target->type == YAML_TREE_SCALAR && target->scalar.kind == YAML_TREE_INT) {
		if (yaml_tree_int(target, &value) || value < 1 || value > 65535)
			err = field_error(ctx, prefix, "targetPort",
					  "%.40s is out of range 1-65535", target->scalar.value);
		else
			port->target_port = (uint16_t)value;
	} else if (yaml_tree_string(target)) {
		if (!is_iana_svc_name(yaml_tree_string(target)))
			err = field_error(
			    ctx, prefix, "targetPort",
			    "\"%.40s\" is neither a number nor a port name "
			    "(IANA_SVC_NAME: lowercase letters, digits, '-', at most 15)",
			    target->scalar.value);
		else
			strcpy(port->target_name, target->scalar.value);
	} else {
		err = field_error(ctx, prefix, "targetPort", "expected a number or a name, got %s",
				  value_text(target, text, sizeof(text)));
	}
	return err ? -EINVAL : 0;
}

static int decode_service(struct decode_ctx *ctx, const struct yaml_tree_node *root,
			  struct manifest_object *object)
{
	static const char *const types[] = {
	    [MANIFEST_SVC_CLUSTER_IP] = "ClusterIP",
	    [MANIFEST_SVC_NODE_PORT] = "NodePort",
	    [MANIFEST_SVC_LOAD_BALANCER] = "LoadBalancer",
	    [MANIFEST_SVC_EXTERNAL_NAME] = "ExternalName",
	};
	struct manifest_service *svc = &object->service;
	const struct yaml_tree_node *spec, *ports;
	const char *type, *cluster_ip;
	unsigned char ipv6[16];
	char prefix[48];
	size_t i, j;
	int err = 0;

	if (get_container(ctx, root, "", "spec", YAML_TREE_MAPPING, &spec))
		return -EINVAL;

	if (!get_string(ctx, spec, "spec", "type", &type) && type) {
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			if (!strcmp(type, types[i]))
				break;
		}
		if (i == sizeof(types) / sizeof(types[0]))
			err = field_error(ctx, "spec", "type",
					  "\"%.40s\" is not one of ClusterIP, NodePort, "
					  "LoadBalancer, ExternalName",
					  type);
		else
			svc->type = i;
	}

	if (!get_string(ctx, spec, "spec", "clusterIP", &cluster_ip) && cluster_ip && *cluster_ip) {
		if (!strcmp(cluster_ip, "None"))
			svc->is_headless = true;
		else if (inet_pton(AF_INET, cluster_ip, &svc->vip) == 1 && is_usable_ipv4(svc->vip))
			svc->has_vip = true;
		else if (inet_pton(AF_INET, cluster_ip, &svc->vip) == 1)
			err = field_error(ctx, "spec", "clusterIP",
					  "%s is not a usable service address", cluster_ip);
		else if (inet_pton(AF_INET6, cluster_ip, ipv6) == 1)
			field_warn(ctx, "spec.clusterIP",
				   "IPv6 is not supported yet, not programmed");
		else
			err = field_error(ctx, "spec", "clusterIP",
					  "\"%.64s\" is not a valid IPv4 address", cluster_ip);
	}

	if (get_container(ctx, spec, "spec", "ports", YAML_TREE_SEQUENCE, &ports))
		return -EINVAL;
	if (ports && ports->sequence.count > MANIFEST_MAX_SVC_PORTS)
		return field_error(ctx, "spec", "ports", "%zu ports exceed the limit of %d",
				   ports->sequence.count, MANIFEST_MAX_SVC_PORTS);
	if (ports && ports->sequence.count) {
		svc->ports = calloc(ports->sequence.count, sizeof(*svc->ports));
		if (!svc->ports)
			return -ENOMEM;
		svc->n_ports = ports->sequence.count;
	}
	for (i = 0; i < svc->n_ports; i++) {
		struct manifest_svc_port *port = &svc->ports[i];

		snprintf(prefix, sizeof(prefix), "spec.ports[%zu]", i);
		port->index = i;
		if (decode_service_port(ctx, ports->sequence.items[i], prefix, port)) {
			err = -EINVAL;
			continue;
		}
		if (svc->n_ports > 1 && !port->name[0])
			err = field_error(ctx, prefix, "name",
					  "is required when a Service has more than one port");
		for (j = 0; j < i; j++) {
			if (port->name[0] && !strcmp(port->name, svc->ports[j].name))
				err = field_error(ctx, prefix, "name", "duplicate port name \"%s\"",
						  port->name);
			if (port->port == svc->ports[j].port && port->proto == svc->ports[j].proto)
				err = field_error(ctx, prefix, "port",
						  "%u/%s is already listed in spec.ports[%zu]",
						  port->port, proto_name(port->proto), j);
		}
	}
	if (err)
		return -EINVAL;

	/* Valid from here on: what follows only explains what will not be programmed. */
	for (i = 0; i < svc->n_ports; i++) {
		if (svc->ports[i].proto != IPPROTO_SCTP)
			continue;
		svc->ports[i].is_skipped = true;
		snprintf(prefix, sizeof(prefix), "spec.ports[%zu]", i);
		field_warn(ctx, prefix, "SCTP not supported yet, port not programmed");
	}
	if (svc->type != MANIFEST_SVC_EXTERNAL_NAME && !svc->is_headless &&
	    (!cluster_ip || !*cluster_ip))
		field_warn(ctx, "spec.clusterIP", "not set, no frontend programmed");
	return 0;
}

/* ---- EndpointSlice --------------------------------------------------------------------- */

static int decode_slice_endpoint(struct decode_ctx *ctx, const struct yaml_tree_node *node,
				 const char *prefix, struct manifest_slice_endpoint *endpoint)
{
	const struct yaml_tree_node *addresses, *conditions;
	char text[64], path[96];
	const char *address;
	size_t i;
	int err = 0;

	if (node->type != YAML_TREE_MAPPING)
		return field_error(ctx, prefix, NULL, "expected a mapping, got %s",
				   value_text(node, text, sizeof(text)));
	if (get_container(ctx, node, prefix, "addresses", YAML_TREE_SEQUENCE, &addresses))
		return -EINVAL;
	if (!addresses || !addresses->sequence.count)
		return field_error(ctx, prefix, "addresses", "needs at least one address");
	if (addresses->sequence.count > ENDPOINT_MAX_ADDRESSES)
		return field_error(ctx, prefix, "addresses", "%zu addresses exceed the limit of %d",
				   addresses->sequence.count, ENDPOINT_MAX_ADDRESSES);
	/* Every address is checked, though only the first is used (as kube-proxy does). */
	for (i = 0; i < addresses->sequence.count; i++) {
		const struct yaml_tree_node *item = addresses->sequence.items[i];
		uint32_t value;

		snprintf(path, sizeof(path), "%s.addresses[%zu]", prefix, i);
		address = yaml_tree_string(item);
		if (!address)
			err = field_error(ctx, path, NULL, "expected a string, got %s",
					  value_text(item, text, sizeof(text)));
		else if (inet_pton(AF_INET, address, &value) != 1)
			err = field_error(ctx, path, NULL, "\"%.64s\" is not a valid IPv4 address",
					  address);
		else if (!is_usable_ipv4(value))
			err = field_error(ctx, path, NULL, "%s is not a usable endpoint address",
					  address);
		else if (!i)
			endpoint->address = value;
	}

	if (get_container(ctx, node, prefix, "conditions", YAML_TREE_MAPPING, &conditions))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s.conditions", prefix);
	/* Kubernetes: ready absent means ready; serving absent means "same as ready". */
	err |= get_bool(ctx, conditions, path, "ready", true, &endpoint->is_ready);
	err |=
	    get_bool(ctx, conditions, path, "serving", endpoint->is_ready, &endpoint->is_serving);
	err |= get_bool(ctx, conditions, path, "terminating", false, &endpoint->is_terminating);
	return err ? -EINVAL : 0;
}

static int decode_slice(struct decode_ctx *ctx, const struct yaml_tree_node *root,
			struct manifest_object *object)
{
	struct manifest_slice *slice = &object->slice;
	const struct yaml_tree_node *labels, *ports, *endpoints;
	const char *service, *address_type;
	char prefix[48], text[64];
	size_t i, j;
	int err = 0;

	if (!get_container(ctx, yaml_tree_get(root, "metadata"), "metadata", "labels",
			   YAML_TREE_MAPPING, &labels) &&
	    !get_string(ctx, labels, "metadata.labels", SVC_NAME_LABEL, &service) && service) {
		if (!is_dns1035_label(service))
			err = field_error(ctx, "metadata.labels", SVC_NAME_LABEL,
					  "\"%.64s\" is not a valid Service name", service);
		else
			strcpy(slice->service, service);
	}

	if (!get_string(ctx, root, "", "addressType", &address_type)) {
		if (!address_type)
			err = field_error(ctx, "", "addressType", "is required");
		else if (!strcmp(address_type, "IPv4"))
			slice->is_ipv4 = true;
		else if (strcmp(address_type, "IPv6") && strcmp(address_type, "FQDN"))
			err = field_error(ctx, "", "addressType",
					  "\"%.40s\" is not one of IPv4, IPv6, FQDN", address_type);
	} else {
		err = -EINVAL;
	}
	if (err)
		return err;
	if (!slice->is_ipv4) {
		log_debug("%s: %s %s: addressType %s is not programmed", ctx->file, ctx->kind,
			  ctx->who, address_type);
		return 0;
	}

	if (get_container(ctx, root, "", "ports", YAML_TREE_SEQUENCE, &ports))
		return -EINVAL;
	if (ports && ports->sequence.count > MANIFEST_MAX_SLICE_PORTS)
		return field_error(ctx, "", "ports", "%zu ports exceed the limit of %d",
				   ports->sequence.count, MANIFEST_MAX_SLICE_PORTS);
	if (ports && ports->sequence.count) {
		slice->ports = calloc(ports->sequence.count, sizeof(*slice->ports));
		if (!slice->ports)
			return -ENOMEM;
		slice->n_ports = ports->sequence.count;
	}
	for (i = 0; i < slice->n_ports; i++) {
		const struct yaml_tree_node *node = ports->sequence.items[i];
		struct manifest_slice_port *port = &slice->ports[i];
		const char *name;

		snprintf(prefix, sizeof(prefix), "ports[%zu]", i);
		if (node->type != YAML_TREE_MAPPING) {
			err = field_error(ctx, prefix, NULL, "expected a mapping, got %s",
					  value_text(node, text, sizeof(text)));
			continue;
		}
		if (!get_string(ctx, node, prefix, "name", &name) && name && *name) {
			if (!is_dns1123_label(name, strlen(name)))
				err = field_error(ctx, prefix, "name",
						  "\"%.64s\" is not a DNS label", name);
			else
				strcpy(port->name, name);
		}
		err |= get_protocol(ctx, node, prefix, &port->proto);
		err |= get_port(ctx, node, prefix, "port", false, &port->port);
		port->has_port = port->port != 0;
		for (j = 0; j < i && !err; j++) {
			if (!strcmp(port->name, slice->ports[j].name) &&
			    port->proto == slice->ports[j].proto)
				err = field_error(ctx, prefix, "name",
						  "duplicate port name \"%s\" for one protocol",
						  port->name);
		}
	}

	if (get_container(ctx, root, "", "endpoints", YAML_TREE_SEQUENCE, &endpoints))
		return -EINVAL;
	if (endpoints && endpoints->sequence.count > LB_MAX_BACKENDS_PER_SVC)
		return field_error(ctx, "", "endpoints", "%zu endpoints exceed the limit of %d",
				   endpoints->sequence.count, LB_MAX_BACKENDS_PER_SVC);
	if (endpoints && endpoints->sequence.count) {
		slice->endpoints = calloc(endpoints->sequence.count, sizeof(*slice->endpoints));
		if (!slice->endpoints)
			return -ENOMEM;
		slice->n_endpoints = endpoints->sequence.count;
	}
	for (i = 0; i < slice->n_endpoints; i++) {
		snprintf(prefix, sizeof(prefix), "endpoints[%zu]", i);
		err |= decode_slice_endpoint(ctx, endpoints->sequence.items[i], prefix,
					     &slice->endpoints[i]);
	}
	return err ? -EINVAL : 0;
}

/* ---- documents ------------------------------------------------------------------------- */

typedef int (*decode_fn)(struct decode_ctx *ctx, const struct yaml_tree_node *root,
			 struct manifest_object *object);

/* Kinds with a NULL decoder are recognised and skipped until their issue adds one. */
static const struct {
	const char *kind;
	const char *api_version;
	enum manifest_kind id;
	decode_fn decode;
} kinds[] = {
    {"Service", "v1", MANIFEST_KIND_SERVICE, decode_service},
    {"EndpointSlice", "discovery.k8s.io/v1", MANIFEST_KIND_ENDPOINT_SLICE, decode_slice},
    {"Pod", "v1", MANIFEST_KIND_POD, NULL},
    {"Namespace", "v1", MANIFEST_KIND_NAMESPACE, NULL},
    {"NetworkPolicy", "networking.k8s.io/v1", MANIFEST_KIND_NETWORK_POLICY, NULL},
};

/* One file being loaded: its new object list and, for fallbacks, its last good one. */
struct file_load {
	struct manifest_errors *errors;
	const char *name;
	struct manifest_file *file;
	const struct manifest_file *old;
	size_t n_seen; /* objects met, List items included */
};

/*
 * metadata.name and metadata.namespace, decoded first so every later message names the object.
 * Names are checked as a subdomain for slices and as a DNS-1035 label for Services.
 */
static int decode_metadata(struct decode_ctx *ctx, const struct yaml_tree_node *root,
			   struct manifest_object *object)
{
	const struct yaml_tree_node *metadata;
	const char *name = NULL, *namespace = NULL;
	int err = 0;

	snprintf(ctx->who, sizeof(ctx->who), "default/?");
	if (get_container(ctx, root, "", "metadata", YAML_TREE_MAPPING, &metadata))
		return -EINVAL;
	err |= get_string(ctx, metadata, "metadata", "namespace", &namespace);
	if (!namespace || !*namespace)
	namespace = "default";
	snprintf(ctx->who, sizeof(ctx->who), "%.63s/?", namespace);
	if (get_string(ctx, metadata, "metadata", "name", &name))
		return -EINVAL;
	snprintf(ctx->who, sizeof(ctx->who), "%.63s/%.64s", namespace, name ? name : "?");
	if (!is_dns1123_label(namespace, strlen(namespace)))
		err = field_error(ctx, "metadata", "namespace", "\"%.64s\" is not a DNS label",
				  namespace);
	else
		strcpy(object->namespace, namespace);
	if (!name || !*name)
		return field_error(ctx, "metadata", "name", "is required");
	if (object->kind == MANIFEST_KIND_SERVICE ? !is_dns1035_label(name)
						  : !is_dns1123_subdomain(name))
		return field_error(ctx, "metadata", "name",
				   object->kind == MANIFEST_KIND_SERVICE
				       ? "\"%.64s\" is not a DNS-1035 label (lowercase letters, "
					 "digits, '-', starting with a letter, at most 63)"
				       : "\"%.64s\" is not a DNS subdomain",
				   name);
	strcpy(object->name, name);
	return err;
}

static int load_object(struct file_load *load, const struct yaml_tree_node *root, size_t k)
{
	struct decode_ctx ctx = {.errors = load->errors, .file = load->name, .kind = kinds[k].kind};
	struct manifest_object *object, *previous;
	int err;

	object = calloc(1, sizeof(*object));
	if (!object)
		return -ENOMEM;
	object->kind = kinds[k].id;
	object->file = strdup(load->name);
	if (!object->file) {
		free(object);
		return -ENOMEM;
	}
	object->refs = 1;
	err = decode_metadata(&ctx, root, object);
	if (!err) {
		const char *api_version = yaml_tree_string(yaml_tree_get(root, "apiVersion"));

		if (strcmp(api_version, kinds[k].api_version))
			err = field_error(&ctx, "", "apiVersion",
					  "\"%.64s\" is not supported (want %s)", api_version,
					  kinds[k].api_version);
	}
	if (!err)
		err = kinds[k].decode(&ctx, root, object);
	if (err == -ENOMEM)
		goto cleanup;
	if (!err && !ctx.n_errors) {
		err = file_add(load->file, object);
		goto cleanup;
	}
	/* Invalid: the last good version of this object in this file stays in force. */
	err = 0;
	previous = object->name[0]
		       ? file_find(load->old, object->kind, object->namespace, object->name)
		       : NULL;
	if (previous &&
	    !file_find(load->file, previous->kind, previous->namespace, previous->name)) {
		log_info("%s: %s %s: keeping the last good version", load->name, kinds[k].kind,
			 ctx.who);
		err = file_add(load->file, previous);
	}
cleanup:
	object_put(object);
	return err;
}

static int load_document(struct file_load *load, const struct yaml_tree_node *root, bool is_item)
{
	const struct yaml_tree_node *items;
	const char *api_version, *kind;
	size_t i, k;
	int err;

	if (yaml_tree_is_null(root))
		return 0; /* an empty document, e.g. after a trailing "---" */
	if (root->type != YAML_TREE_MAPPING) {
		errors_add(load->errors, "%s:%u: %s is %s, not a Kubernetes object", load->name,
			   root->line, is_item ? "List item" : "document",
			   yaml_tree_describe(root));
		return 0;
	}
	if (++load->n_seen > MANIFEST_MAX_OBJECTS) {
		if (load->n_seen == MANIFEST_MAX_OBJECTS + 1)
			errors_add(load->errors, "%s:%u: more than %d objects, the rest is ignored",
				   load->name, root->line, MANIFEST_MAX_OBJECTS);
		return 0;
	}
	api_version = yaml_tree_string(yaml_tree_get(root, "apiVersion"));
	kind = yaml_tree_string(yaml_tree_get(root, "kind"));
	if (!api_version || !*api_version || !kind || !*kind) {
		errors_add(load->errors, "%s:%u: object has no %s", load->name, root->line,
			   !api_version || !*api_version ? "apiVersion" : "kind");
		return 0;
	}
	if (!strcmp(kind, "List") && !is_item) {
		items = yaml_tree_get(root, "items");
		if (yaml_tree_is_null(items))
			return 0;
		if (items->type != YAML_TREE_SEQUENCE) {
			errors_add(load->errors, "%s:%u: List: items: expected a list, got %s",
				   load->name, items->line, yaml_tree_describe(items));
			return 0;
		}
		for (i = 0; i < items->sequence.count; i++) {
			err = load_document(load, items->sequence.items[i], true);
			if (err)
				return err;
		}
		return 0;
	}
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (!strcmp(kind, kinds[k].kind))
			break;
	}
	if (k == sizeof(kinds) / sizeof(kinds[0]) || !kinds[k].decode) {
		log_debug("%s:%u: kind %.64s is not used, skipped", load->name, root->line, kind);
		return 0;
	}
	return load_object(load, root, k);
}

/* Read a whole regular file of at most MANIFEST_MAX_FILE_SIZE bytes. */
static int read_file(int dir_fd, const char *name, char **out, size_t *size, bool *is_dir)
{
	char *buffer = NULL;
	size_t length = 0;
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	*is_dir = false;
	/* O_NONBLOCK: a FIFO named *.yaml must not hang the agent. Symlinks are followed, since
	 * a ConfigMap volume is a set of symlinks. */
	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (S_ISDIR(st.st_mode)) {
		*is_dir = true;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EBADFD;
		goto cleanup;
	}
	buffer = malloc(MANIFEST_MAX_FILE_SIZE + 1);
	if (!buffer) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Read one byte past the cap to notice a file that grew past it after fstat. */
	while (length <= MANIFEST_MAX_FILE_SIZE) {
		n = read(fd, buffer + length, MANIFEST_MAX_FILE_SIZE + 1 - length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (!n)
			break;
		length += n;
	}
	if (length > MANIFEST_MAX_FILE_SIZE) {
		err = -EFBIG;
		goto cleanup;
	}
	*out = buffer;
	*size = length;
	buffer = NULL;
cleanup:
	free(buffer);
	close(fd);
	return err;
}

/* FNV-1a: spots an unchanged file; whoever could forge a collision can edit the file anyway. */
static uint64_t content_hash(const char *data, size_t size)
{
	uint64_t hash = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < size; i++)
		hash = (hash ^ (unsigned char)data[i]) * 0x100000001b3ull;
	return hash;
}

/* Same content as at the last load: same objects and same errors, without parsing again. */
static int file_reuse(struct manifest_file *file, const struct manifest_file *old)
{
	size_t i;

	for (i = 0; i < old->errors.count; i++)
		errors_add(&file->errors, "%s", old->errors.items[i]);
	file->errors.found = old->errors.found;
	return file_keep(file, old);
}

/*
 * Load one file into file (its objects and file->errors); on any problem with the file as a
 * whole, keep old's objects.
 */
static int load_file(int dir_fd, const char *name, struct manifest_file *file,
		     const struct manifest_file *old, bool *is_dir)
{
	struct manifest_errors *errors = &file->errors;
	struct file_load load = {
	    .errors = errors,
	    .name = name,
	    .file = file,
	    .old = old,
	};
	char message[YAML_TREE_ERROR_LEN];
	struct yaml_tree tree;
	char *buffer = NULL;
	unsigned int line;
	size_t size = 0, i;
	int err;

	yaml_tree_init(&tree);
	err = read_file(dir_fd, name, &buffer, &size, is_dir);
	if (err == -ENOMEM)
		goto cleanup;
	if (err == -EFBIG || err == -EBADFD) {
		errors_add(errors, "%s: %s", name,
			   err == -EFBIG ? "file is larger than 4 MiB" : "not a regular file");
		err = file_keep(file, old);
		goto cleanup;
	}
	if (err) {
		errors_add(errors, "%s: cannot read: %s", name, strerror(-err));
		err = file_keep(file, old);
		goto cleanup;
	}
	if (*is_dir)
		goto cleanup;
	file->has_content = true;
	file->size = size;
	file->hash = content_hash(buffer, size);
	if (old && old->has_content && old->size == size && old->hash == file->hash) {
		err = file_reuse(file, old);
		goto cleanup;
	}

	err = yaml_tree_parse(&tree, buffer, size, &line, message, sizeof(message));
	if (err == -ENOMEM)
		goto cleanup;
	if (err) {
		errors_add(errors, "%s:%u: yaml: %s%s", name, line, message,
			   old ? "; keeping the file's last good version" : "");
		err = file_keep(file, old);
		goto cleanup;
	}
	for (i = 0; i < tree.n_documents && !err; i++)
		err = load_document(&load, tree.documents[i], false);
cleanup:
	yaml_tree_free(&tree);
	free(buffer);
	return err;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_manifest_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

/* Sorted names of the manifest files in dir; -errno when dir cannot be read. */
static int list_dir(DIR *dir, char ***out, size_t *count, struct manifest_errors *errors,
		    const char *path)
{
	char **names = NULL, **grown;
	size_t n = 0, capacity = 0;
	struct dirent *entry;
	int err = 0;

	for (;;) {
		errno = 0;
		entry = readdir(dir);
		if (!entry) {
			err = -errno;
			break;
		}
		if (!is_manifest_name(entry->d_name))
			continue;
		if (n >= MANIFEST_MAX_FILES) {
			errors_add(errors, "%s: more than %d manifest files, the rest is ignored",
				   path, MANIFEST_MAX_FILES);
			break;
		}
		if (n == capacity) {
			capacity = capacity ? capacity * 2 : 16;
			grown = realloc(names, capacity * sizeof(*names));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			names = grown;
		}
		names[n] = strdup(entry->d_name);
		if (!names[n]) {
			err = -ENOMEM;
			break;
		}
		n++;
	}
	if (err) {
		while (n)
			free(names[--n]);
		free(names);
		return err;
	}
	/* readdir order is arbitrary; sorting makes "first wins" and error order reproducible. */
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*count = n;
	return 0;
}

/* ---- desired state --------------------------------------------------------------------- */

static int object_cmp(const struct manifest_object *a, const struct manifest_object *b)
{
	int c = (a->kind > b->kind) - (a->kind < b->kind);

	if (!c)
		c = strcmp(a->namespace, b->namespace);
	return c ? c : strcmp(a->name, b->name);
}

/* Objects in (kind, namespace, name) order, file order breaking ties. */
struct object_ref {
	struct manifest_object *object;
	size_t seq;
};

static int object_ref_cmp(const void *a, const void *b)
{
	const struct object_ref *x = a, *y = b;
	int c = object_cmp(x->object, y->object);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Slices in (namespace, service, name) order, for a binary search per Service. */
static int slice_cmp(const void *a, const void *b)
{
	const struct manifest_object *x = *(struct manifest_object *const *)a;
	const struct manifest_object *y = *(struct manifest_object *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	if (!c)
		c = strcmp(x->slice.service, y->slice.service);
	return c ? c : strcmp(x->name, y->name);
}

struct frontend_build {
	struct lb_frontend frontend;
	const struct manifest_object *service;
	const struct manifest_svc_port *port;
	size_t seq;
};

static int frontend_build_cmp(const void *a, const void *b)
{
	const struct frontend_build *x = a, *y = b;
	int c = lb_frontend_cmp(&x->frontend, &y->frontend);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

struct candidate {
	struct lb_backend_addr backend;
	bool is_ready;
	bool is_fallback; /* serving and terminating */
};

/*
 * Backends of one Service port from its slices (those in [first, last)): the slice port of the
 * same name and protocol gives the port, as in kube-proxy, since slices carry resolved numbers;
 * without one, a numeric targetPort stands in. Ready endpoints serve; when none is ready,
 * serving+terminating ones do (kube-proxy's fallback).
 */
static int build_backends(struct manifest_object **slices, size_t first, size_t last,
			  const struct manifest_svc_port *svc_port, struct lb_frontend *frontend,
			  size_t *n_total)
{
	struct candidate *candidates = NULL;
	size_t n = 0, capacity = 0, i, j, out = 0;
	bool has_ready = false;
	int err = 0;

	for (i = first; i < last; i++) {
		const struct manifest_slice *slice = &slices[i]->slice;
		uint16_t port = svc_port->target_name[0] ? 0 : svc_port->target_port;

		if (!slice->is_ipv4)
			continue;
		for (j = 0; j < slice->n_ports; j++) {
			if (slice->ports[j].has_port && slice->ports[j].proto == svc_port->proto &&
			    !strcmp(slice->ports[j].name, svc_port->name)) {
				port = slice->ports[j].port;
				break;
			}
		}
		if (!port || !slice->n_endpoints)
			continue;
		if (n + slice->n_endpoints > capacity) {
			struct candidate *grown;

			capacity = n + slice->n_endpoints;
			grown = realloc(candidates, capacity * sizeof(*candidates));
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			candidates = grown;
		}
		for (j = 0; j < slice->n_endpoints; j++) {
			const struct manifest_slice_endpoint *endpoint = &slice->endpoints[j];
			struct candidate *c = &candidates[n++];

			c->backend.address = endpoint->address;
			c->backend.port = htons(port);
			c->is_ready = endpoint->is_ready;
			c->is_fallback = endpoint->is_serving && endpoint->is_terminating;
			has_ready |= c->is_ready;
		}
	}
	for (i = 0; i < n; i++) {
		if (has_ready ? candidates[i].is_ready : candidates[i].is_fallback)
			candidates[out++] = candidates[i];
	}
	*n_total = 0;
	if (!out)
		goto cleanup;
	frontend->backends = malloc(out * sizeof(*frontend->backends));
	if (!frontend->backends) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < out; i++)
		frontend->backends[i] = candidates[i].backend;
	*n_total = lb_backends_normalize(frontend->backends, out);
	frontend->n_backends = *n_total;
	if (frontend->n_backends > LB_MAX_BACKENDS_PER_SVC)
		frontend->n_backends = LB_MAX_BACKENDS_PER_SVC;
cleanup:
	free(candidates);
	return err;
}

/* "namespace/name:portname" (":<port>" when unnamed), cut to fit: it is only shown by the CLI. */
static void set_frontend_name(struct lb_frontend *frontend, const struct manifest_object *svc,
			      const struct manifest_svc_port *port)
{
	char full[DNS_LABEL_MAX * 2 + DNS_SUBDOMAIN_MAX + 32];
	size_t n;

	if (port->name[0])
		snprintf(full, sizeof(full), "%s/%s:%s", svc->namespace, svc->name, port->name);
	else
		snprintf(full, sizeof(full), "%s/%s:%u", svc->namespace, svc->name, port->port);
	n = strnlen(full, sizeof(frontend->name) - 1);
	memcpy(frontend->name, full, n);
	frontend->name[n] = '\0';
}

static int add_service_frontends(struct manifest_errors *errors, const struct manifest_object *svc,
				 struct manifest_object **slices, size_t n_slices,
				 struct frontend_build **builds, size_t *n_builds, size_t *capacity)
{
	const struct manifest_service *service = &svc->service;
	size_t first, last, lo, hi, i, n_total;
	int err;

	if (service->type == MANIFEST_SVC_EXTERNAL_NAME || service->is_headless ||
	    !service->has_vip)
		return 0;
	/* Lower bound of (namespace, name) among the slices, then the run that matches. */
	lo = 0;
	hi = n_slices;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(slices[mid]->namespace, svc->namespace);

		if (!c)
			c = strcmp(slices[mid]->slice.service, svc->name);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	for (last = first; last < n_slices; last++) {
		if (strcmp(slices[last]->namespace, svc->namespace) ||
		    strcmp(slices[last]->slice.service, svc->name))
			break;
	}

	for (i = 0; i < service->n_ports; i++) {
		const struct manifest_svc_port *port = &service->ports[i];
		struct frontend_build *b;

		if (port->is_skipped)
			continue;
		if (*n_builds == *capacity) {
			size_t next = *capacity ? *capacity * 2 : 64;

			b = realloc(*builds, next * sizeof(*b));
			if (!b)
				return -ENOMEM;
			*builds = b;
			*capacity = next;
		}
		b = &(*builds)[*n_builds];
		memset(b, 0, sizeof(*b));
		b->service = svc;
		b->port = port;
		b->seq = *n_builds;
		b->frontend.vip = service->vip;
		b->frontend.port = htons(port->port);
		b->frontend.proto = port->proto;
		set_frontend_name(&b->frontend, svc, port);
		(*n_builds)++;
		err = build_backends(slices, first, last, port, &b->frontend, &n_total);
		if (err)
			return err;
		if (n_total > LB_MAX_BACKENDS_PER_SVC)
			errors_add(
			    errors,
			    "%s: Service %s/%s: spec.ports[%zu]: %zu backends exceed the limit "
			    "of %d, only the first %d (by address) are used",
			    svc->file, svc->namespace, svc->name, port->index, n_total,
			    LB_MAX_BACKENDS_PER_SVC, LB_MAX_BACKENDS_PER_SVC);
	}
	return 0;
}

/* Objects of all files to frontends. Reports duplicates and conflicts into errors. */
static int build_desired(const struct manifest_file *files, size_t n_files,
			 struct manifest_errors *errors, struct desired_state *out)
{
	struct object_ref *refs = NULL;
	struct manifest_object **services = NULL, **slices = NULL;
	struct frontend_build *builds = NULL;
	size_t n_refs = 0, n_services = 0, n_slices = 0, n_builds = 0, capacity = 0, i, j;
	int err = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n_files; i++)
		n_refs += files[i].n_objects;
	if (!n_refs)
		return 0;
	refs = calloc(n_refs, sizeof(*refs));
	services = calloc(n_refs, sizeof(*services));
	slices = calloc(n_refs, sizeof(*slices));
	if (!refs || !services || !slices) {
		err = -ENOMEM;
		goto cleanup;
	}
	n_refs = 0;
	for (i = 0; i < n_files; i++) {
		for (j = 0; j < files[i].n_objects; j++) {
			refs[n_refs].object = files[i].objects[j];
			refs[n_refs].seq = n_refs;
			n_refs++;
		}
	}
	qsort(refs, n_refs, sizeof(*refs), object_ref_cmp);
	for (i = 0; i < n_refs; i++) {
		struct manifest_object *o = refs[i].object;

		/* The same object in two places: the first file (by name) wins. */
		if (i && !object_cmp(refs[i - 1].object, o)) {
			const char *winner = refs[i - 1].object->file;

			errors_add(errors, "%s: %s %s/%s: %s%s, the first one is used", o->file,
				   kind_names[o->kind], o->namespace, o->name,
				   strcmp(winner, o->file) ? "also defined in " : "defined twice",
				   strcmp(winner, o->file) ? winner : "");
			refs[i].object = refs[i - 1].object;
			continue;
		}
		if (o->kind == MANIFEST_KIND_SERVICE)
			services[n_services++] = o;
		else if (o->kind == MANIFEST_KIND_ENDPOINT_SLICE && o->slice.service[0])
			slices[n_slices++] = o;
	}
	if (n_slices)
		qsort(slices, n_slices, sizeof(*slices), slice_cmp);

	/* Services are in (namespace, name) order, so build order is also "who wins" order. */
	for (i = 0; i < n_services; i++) {
		err = add_service_frontends(errors, services[i], slices, n_slices, &builds,
					    &n_builds, &capacity);
		if (err)
			goto cleanup;
	}
	if (!n_builds)
		goto cleanup;
	qsort(builds, n_builds, sizeof(*builds), frontend_build_cmp);
	out->frontends = calloc(n_builds, sizeof(*out->frontends));
	if (!out->frontends) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n_builds; i++) {
		struct frontend_build *b = &builds[i];
		char vip[INET_ADDRSTRLEN];

		if (out->n_frontends &&
		    !lb_frontend_cmp(&out->frontends[out->n_frontends - 1], &b->frontend)) {
			const struct frontend_build *winner = &builds[i - 1];

			while (winner > builds &&
			       !lb_frontend_cmp(&winner[-1].frontend, &b->frontend))
				winner--;
			inet_ntop(AF_INET, &b->frontend.vip, vip, sizeof(vip));
			errors_add(
			    errors,
			    "%s: Service %s/%s: spec.ports[%zu]: %s:%u/%s is already used by "
			    "Service %s/%s",
			    b->service->file, b->service->namespace, b->service->name,
			    b->port->index, vip, b->port->port, proto_name(b->port->proto),
			    winner->service->namespace, winner->service->name);
			free(b->frontend.backends);
			b->frontend.backends = NULL;
			continue;
		}
		out->frontends[out->n_frontends++] = b->frontend;
		b->frontend.backends = NULL; /* now owned by out */
	}
cleanup:
	for (i = 0; i < n_builds; i++)
		free(builds[i].frontend.backends);
	if (err)
		desired_state_free(out);
	free(builds);
	free(slices);
	free(services);
	free(refs);
	return err;
}

/* ---- the directory --------------------------------------------------------------------- */

static const struct manifest_file *set_find_file(const struct manifest_set *set, const char *name)
{
	size_t lo = 0, hi = set->n_files;

	/* Files are kept in name order. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->files[mid].name, name);

		if (!c)
			return &set->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int manifest_set_load_dir(struct manifest_set *set, const char *path)
{
	struct manifest_errors errors = {0};
	struct manifest_file *files = NULL;
	struct desired_state desired = {0};
	char **names = NULL;
	size_t n_names = 0, n_files = 0, i, j;
	DIR *dir;
	bool is_dir;
	int err;

	dir = opendir(path);
	if (!dir) {
		err = -errno;
		log_warn("manifests %s: %s", path, strerror(-err));
		return err;
	}
	err = list_dir(dir, &names, &n_names, &errors, path);
	if (err) {
		log_warn("manifests %s: %s", path, strerror(-err));
		goto cleanup;
	}
	if (n_names) {
		files = calloc(n_names, sizeof(*files));
		if (!files) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < n_names; i++) {
		struct manifest_file *file = &files[n_files];

		file->name = strdup(names[i]);
		if (!file->name) {
			err = -ENOMEM;
			goto cleanup;
		}
		file->errors.is_quiet = true;
		n_files++;
		err = load_file(dirfd(dir), names[i], file, set_find_file(set, names[i]), &is_dir);
		if (err)
			goto cleanup;
		if (is_dir) {
			file_clear(&files[--n_files]);
			continue;
		}
		for (j = 0; j < file->errors.count; j++)
			errors_add(&errors, "%s", file->errors.items[j]);
		errors.found += file->errors.found - file->errors.count;
	}
	err = build_desired(files, n_files, &errors, &desired);
	if (err)
		goto cleanup;
	if (errors.found > errors.count && errors.count)
		log_warn("manifests %s: %zu errors, only the first %zu are listed", path,
			 errors.found, errors.count);

	/* Commit: everything above only took references, so failing earlier changed nothing. */
	files_free(set->files, set->n_files);
	set->files = files;
	set->n_files = n_files;
	files = NULL;
	n_files = 0;
	errors_free(&set->errors);
	set->errors = errors;
	memset(&errors, 0, sizeof(errors));
	desired_state_free(&set->desired);
	set->desired = desired;
	err = (int)(set->errors.found > 0x7fffffff ? 0x7fffffff : set->errors.found);
cleanup:
	files_free(files, n_files);
	errors_free(&errors);
	for (i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return err;
}
