// SPDX-License-Identifier: Apache-2.0
/* sluice-cni: validation of everything that comes from outside (stdin config, CNI_* env). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cni/cni.h"
#include "lib/cidr.h"
#include "lib/hash_table.h"

const char *const cni_supported_versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", NULL};

/* Nesting a config deeper than this is an attack or a mistake, not a network config. */
#define CNI_JSON_MAX_DEPTH 32

void cni_error_set(struct cni_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->code)
		return;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void cni_error_details(struct cni_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err || err->details[0])
		return;
	va_start(ap, fmt);
	vsnprintf(err->details, sizeof(err->details), fmt, ap);
	va_end(ap);
}

bool cni_version_is_supported(const char *version)
{
	for (int i = 0; cni_supported_versions[i]; i++)
		if (version && !strcmp(version, cni_supported_versions[i]))
			return true;
	return false;
}

bool cni_version_is_1x(const char *version)
{
	return version && version[0] >= '1' && version[0] <= '9';
}

/* Letters, digits and "_.-", starting with a letter or digit, 1..max bytes. */
static bool cni_is_safe_token(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/* CNI spec: network names match ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$; that also excludes "." and "..". */
bool cni_is_valid_network_name(const char *s)
{
	return cni_is_safe_token(s, CNI_NAME_MAX);
}

/* CNI spec: container ids follow the same rule; they end up in state file contents. */
bool cni_is_valid_container_id(const char *s)
{
	return cni_is_safe_token(s, CNI_CONTAINER_ID_MAX);
}

/* Linux dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or whitespace. */
bool cni_is_valid_ifname(const char *s)
{
	size_t n = strnlen(s, CNI_IFNAME_MAX + 1);

	if (n == 0 || n > CNI_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]) ||
		    !isprint((unsigned char)s[i]))
			return false;
	return true;
}

/* Absolute, printable, no ".." component: these paths are opened as root. */
bool cni_is_valid_abs_path(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == 0 || n >= max || s[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)s[i]))
			return false;
	for (const char *p = s; (p = strstr(p, "..")); p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return false;
	return true;
}

/* "a.b.c.d/n" with host bits zero; returns 0 or -EINVAL. */
int cni_parse_cidr4(const char *s, struct in_addr *network, unsigned int *prefix)
{
	struct cidr4 cidr;

	if (cidr4_parse(s, CIDR4_NO_LEADING_ZERO, &cidr))
		return -EINVAL;
	network->s_addr = cidr.address;
	*prefix = cidr.prefix_len;
	return 0;
}

/*
 * Copy string member key of obj into out (size outsize). Returns 0, -ENOENT when absent (err set
 * only when required), or -EINVAL with err set for a wrong type, empty value or too long a value.
 */
static int cni_json_string(struct json_object *obj, const char *where, const char *key,
			   bool required, char *out, size_t outsize, struct cni_error *err)
{
	struct json_object *val;
	const char *s;
	int len;

	if (!json_object_object_get_ex(obj, key, &val) ||
	    json_object_is_type(val, json_type_null)) {
		if (required) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s%s: required field missing",
				      where, key);
			return -EINVAL;
		}
		return -ENOENT;
	}
	if (!json_object_is_type(val, json_type_string)) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s%s: must be a string", where, key);
		return -EINVAL;
	}
	s = json_object_get_string(val);
	len = json_object_get_string_len(val);
	if (len <= 0 || (size_t)len >= outsize || strlen(s) != (size_t)len) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "%s%s: must be 1 to %zu characters without NUL", where, key,
			      outsize - 1);
		return -EINVAL;
	}
	memcpy(out, s, (size_t)len + 1);
	return 0;
}

/* Optional CIDR member key of obj into out; -EINVAL with err naming where+key when malformed. */
static int cni_json_cidr(struct json_object *obj, const char *where, const char *key,
			 struct node_ipam_cidr *out, struct cni_error *err)
{
	char text[INET_ADDRSTRLEN + 4];
	struct in_addr network;
	unsigned int prefix;
	int ret = cni_json_string(obj, where, key, false, text, sizeof(text), err);

	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	if (strchr(text, ':')) {
		cni_error_set(err, CNI_ERR_UNSUPPORTED_FIELD,
			      "%s%s: \"%s\": IPv6 is not supported yet", where, key, text);
		return -EINVAL;
	}
	if (cni_parse_cidr4(text, &network, &prefix) || prefix == 0) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "%s%s: \"%s\" is not an IPv4 CIDR with host bits zero", where, key,
			      text);
		return -EINVAL;
	}
	out->address = network.s_addr;
	out->prefix = (__u8)prefix;
	out->is_set = 1;
	return 0;
}

/* Gateway: the first host address of the pod CIDR unless given; given, it must be a host of it. */
static int cni_config_check_gateway(struct cni_config *cfg, struct cni_error *err)
{
	uint32_t net = ntohl(cfg->subnet.s_addr), mask, gw;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	if (cfg->prefix < 8 || cfg->prefix > 30)
		return 0; /* no subnet yet: the agent's block is settled at ADD */
	mask = ~0u << (32 - cfg->prefix);
	if (!cfg->has_gateway) {
		cfg->gateway.s_addr = htonl(net + 1);
		return 0;
	}
	gw = ntohl(cfg->gateway.s_addr);
	if ((gw & mask) != net || gw == net || gw == (net | ~mask)) {
		inet_ntop(AF_INET, &cfg->gateway, a, sizeof(a));
		inet_ntop(AF_INET, &cfg->subnet, b, sizeof(b));
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "ipam.gateway: %s is not a host address of %s/%u", a, b, cfg->prefix);
		return -EINVAL;
	}
	return 0;
}

static int cni_config_parse_ipam(struct json_object *root, struct cni_config *cfg,
				 struct cni_error *err)
{
	struct json_object *ipam, *val;
	struct node_ipam_cidr subnet = {};
	char gateway[INET_ADDRSTRLEN], type[CNI_NAME_MAX + 1], text[INET_ADDRSTRLEN];
	int ret;

	if (!json_object_object_get_ex(root, "ipam", &ipam) ||
	    json_object_is_type(ipam, json_type_null))
		return 0; /* the agent's block for this node, read at ADD */
	if (!json_object_is_type(ipam, json_type_object)) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "ipam: must be an object");
		return -EINVAL;
	}
	ret = cni_json_string(ipam, "ipam.", "type", false, type, sizeof(type), err);
	if (ret == -EINVAL)
		return ret;
	/* IPAM is built in: delegating to another IPAM plugin is not offered. */
	if (!ret && strcmp(type, "sluice") && strcmp(type, "sluice-cni")) {
		cni_error_set(
		    err, CNI_ERR_UNSUPPORTED_FIELD,
		    "ipam.type: \"%s\": sluice-cni has its own IPAM and does not delegate "
		    "(leave ipam.type out)",
		    type);
		return -EINVAL;
	}
	if (cni_json_cidr(ipam, "ipam.", "subnet", &subnet, err) ||
	    cni_json_cidr(ipam, "ipam.", "clusterCIDR", &cfg->cluster, err) ||
	    cni_json_cidr(ipam, "ipam.", "serviceCIDR", &cfg->service, err))
		return -EINVAL;
	if (subnet.is_set) {
		/* /31 and /32 leave no host address once the gateway is taken; /8 is 16M pods. */
		if (subnet.prefix < 8 || subnet.prefix > 30) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				      "ipam.subnet: prefix length /%u must be 8 to 30",
				      subnet.prefix);
			return -EINVAL;
		}
		cfg->has_subnet = true;
		cfg->subnet.s_addr = subnet.address;
		cfg->prefix = subnet.prefix;
	}
	if (json_object_object_get_ex(ipam, "nodeCidrSize", &val) &&
	    !json_object_is_type(val, json_type_null)) {
		int64_t size;

		if (!json_object_is_type(val, json_type_int)) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				      "ipam.nodeCidrSize: must be an integer");
			return -EINVAL;
		}
		size = json_object_get_int64(val);
		if (size < 8 || size > 30 || (cfg->cluster.is_set && size < cfg->cluster.prefix)) {
			cni_error_set(
			    err, CNI_ERR_INVALID_CONFIG,
			    "ipam.nodeCidrSize: %lld must be 8 to 30 and not shorter than "
			    "the clusterCIDR prefix",
			    (long long)size);
			return -EINVAL;
		}
		cfg->node_cidr_size = (unsigned int)size;
	}
	if (cfg->has_subnet && cfg->node_cidr_size && cfg->node_cidr_size != cfg->prefix) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "ipam.subnet: prefix /%u differs from ipam.nodeCidrSize %u",
			      cfg->prefix, cfg->node_cidr_size);
		return -EINVAL;
	}
	ret = cni_json_string(ipam, "ipam.", "dnsServiceIP", false, text, sizeof(text), err);
	if (ret == -EINVAL)
		return ret;
	if (!ret && inet_pton(AF_INET, text, &cfg->dns_service_ip) != 1) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "ipam.dnsServiceIP: \"%s\" is not an IPv4 address", text);
		return -EINVAL;
	}

	ret = cni_json_string(ipam, "ipam.", "gateway", false, gateway, sizeof(gateway), err);
	if (ret == -EINVAL)
		return ret;
	if (ret == -ENOENT)
		return cni_config_check_gateway(cfg, err);
	if (inet_pton(AF_INET, gateway, &cfg->gateway) != 1) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "ipam.gateway: \"%s\" is not an IPv4 address", gateway);
		return -EINVAL;
	}
	if (!cfg->has_subnet) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "ipam.gateway: needs ipam.subnet (the agent's block uses its first "
			      "host address)");
		return -EINVAL;
	}
	cfg->has_gateway = true;
	return cni_config_check_gateway(cfg, err);
}

int cni_config_resolve_subnet(struct cni_config *cfg, struct cni_error *err)
{
	struct node_ipam_info info;
	struct cidr_plan plan = {.dns = cfg->dns_service_ip, .check_underlay = true};
	char a[24], b[CIDR_PLAN_LIST_LEN], msg[320];
	bool is_known;
	size_t i;
	int ret;

	plan.cluster[0] = cfg->cluster;
	plan.service[0] = cfg->service;
	ret = node_ipam_read(cfg->bpffs, &info);
	if (ret && ret != -ENOENT) {
		cni_error_set(err, CNI_ERR_IO, "node %s: read %s/%s: %s", cfg->node, cfg->bpffs,
			      NODE_IPAM_MAP, strerror(-ret));
		return ret;
	}
	if (!ret) {
		/* The agent's plan and the config's must agree where both say something: the
		 * config's range is one of the agent's. */
		for (i = 0, is_known = false; i < CIDR_PLAN_MAX; i++)
			is_known |= !memcmp(&info.cluster[i], &cfg->cluster, sizeof(cfg->cluster));
		if (info.cluster[0].is_set && cfg->cluster.is_set && !is_known) {
			cni_error_set(
			    err, CNI_ERR_INVALID_CONFIG,
			    "ipam.clusterCIDR: %s differs from the agent's --cluster-cidr %s",
			    node_ipam_cidr_str(&cfg->cluster, a, sizeof(a)),
			    cidr_plan_list_str(info.cluster, b, sizeof(b)));
			return -EINVAL;
		}
		for (i = 0, is_known = false; i < CIDR_PLAN_MAX; i++)
			is_known |= !memcmp(&info.service[i], &cfg->service, sizeof(cfg->service));
		if (info.service[0].is_set && cfg->service.is_set && !is_known) {
			cni_error_set(
			    err, CNI_ERR_INVALID_CONFIG,
			    "ipam.serviceCIDR: %s differs from the agent's --service-cidr %s",
			    node_ipam_cidr_str(&cfg->service, a, sizeof(a)),
			    cidr_plan_list_str(info.service, b, sizeof(b)));
			return -EINVAL;
		}
		if (info.cluster[0].is_set)
			memcpy(plan.cluster, info.cluster, sizeof(plan.cluster));
		if (info.service[0].is_set)
			memcpy(plan.service, info.service, sizeof(plan.service));
	}
	if (!ret && !info.block.is_set) {
		/* The agent serves no pods here (its reason names what is missing): nor do we. */
		cni_error_set(err, CNI_ERR_TRY_AGAIN, "%.600s", info.reason);
		return -EAGAIN;
	}
	if (!ret && cfg->has_subnet &&
	    (info.block.address != cfg->subnet.s_addr || info.block.prefix != cfg->prefix)) {
		node_ipam_cidr_str(&info.block, b, sizeof(b));
		inet_ntop(AF_INET, &cfg->subnet, a, sizeof(a));
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "ipam.subnet: %s/%u differs from node %s's pod CIDR %s (which the "
			      "agent took from %s); leave ipam.subnet out to use the agent's",
			      a, cfg->prefix, cfg->node, b,
			      info.block_source == NODE_IPAM_SOURCE_FLAG
				  ? "--pod-cidr"
				  : "its Node's spec.podCIDR");
		return -EINVAL;
	}
	if (!cfg->has_subnet) {
		if (ret == -ENOENT) {
			cni_error_set(err, CNI_ERR_TRY_AGAIN,
				      "node %s: no pod CIDR: ipam.subnet is not set and the sluice "
				      "agent has not pinned %s/%s yet",
				      cfg->node, cfg->bpffs, NODE_IPAM_MAP);
			return -EAGAIN;
		}
		if (info.block.prefix < 8 || info.block.prefix > 30) {
			cni_error_set(
			    err, CNI_ERR_INVALID_CONFIG,
			    "node %s: the agent's pod CIDR %s has no room for pods (prefix "
			    "must be 8 to 30)",
			    cfg->node, node_ipam_cidr_str(&info.block, a, sizeof(a)));
			return -EINVAL;
		}
		cfg->subnet.s_addr = info.block.address;
		cfg->prefix = info.block.prefix;
	}
	plan.pod.address = cfg->subnet.s_addr;
	plan.pod.prefix = (__u8)cfg->prefix;
	plan.pod.is_set = 1;
	if (cidr_plan_check(&plan, msg, sizeof(msg))) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "node %s: CIDR plan: %s", cfg->node,
			      msg);
		return -EINVAL;
	}

	return cni_config_check_gateway(cfg, err);
}

int cni_config_resolve_mtu(struct cni_config *cfg, struct cni_error *err)
{
	struct node_ipam_mtu mtu;
	int ret;

	if (cfg->has_mtu)
		return 0;
	ret = node_ipam_mtu_read(cfg->bpffs, &mtu);
	if (ret == -ENOENT)
		return 0; /* no agent's MTU: CNI_MTU_DEFAULT stays */
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: read %s/%s: %s", cfg->node, cfg->bpffs,
			      NODE_IPAM_MTU_MAP, strerror(-ret));
		return ret;
	}
	cfg->mtu = mtu.pod_mtu;
	return 0;
}

/* Optional member that must be an object when present (args, runtimeConfig, prevResult, ...). */
static int cni_json_object(struct json_object *root, const char *key, struct json_object **out,
			   struct cni_error *err)
{
	struct json_object *val;

	if (!json_object_object_get_ex(root, key, &val) || json_object_is_type(val, json_type_null))
		return 0;
	if (!json_object_is_type(val, json_type_object)) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s: must be an object", key);
		return -EINVAL;
	}
	if (out)
		*out = json_object_get(val);
	return 0;
}

/* cniVersions (1.1): a list of version strings; cniVersion stays what the runtime chose. */
static int cni_config_parse_versions(struct json_object *root, struct cni_error *err)
{
	struct json_object *list;

	if (!json_object_object_get_ex(root, "cniVersions", &list) ||
	    json_object_is_type(list, json_type_null))
		return 0;
	if (!json_object_is_type(list, json_type_array) || json_object_array_length(list) > 64) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "cniVersions: must be an array of at most 64 version strings");
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		if (!json_object_is_type(json_object_array_get_idx(list, i), json_type_string)) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				      "cniVersions[%zu]: must be a string", i);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * GC's list of attachments still in use: cni.dev/valid-attachments, or cni.dev/attachments as
 * libcni also sends (the key's name changed during the 1.1 drafts). Each entry needs a valid
 * containerID and ifname. Missing and null leave cfg->valid_attachments NULL, which GC refuses;
 * [] is kept as an empty list ("none is valid").
 */
static int cni_config_parse_attachments(struct json_object *root, struct cni_config *cfg,
					struct cni_error *err)
{
	static const char *const keys[] = {"cni.dev/valid-attachments", "cni.dev/attachments"};
	struct json_object *list = NULL, *entry, *val;
	const char *key = keys[0];

	for (size_t i = 0; i < 2 && !list; i++) {
		if (json_object_object_get_ex(root, keys[i], &list) &&
		    json_object_is_type(list, json_type_null))
			list = NULL;
		key = keys[i];
	}
	if (!list)
		return 0;
	if (!json_object_is_type(list, json_type_array) ||
	    json_object_array_length(list) > CNI_ATTACHMENTS_MAX) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "%s: must be an array of at most %d objects", key,
			      CNI_ATTACHMENTS_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		entry = json_object_array_get_idx(list, i);
		if (!json_object_is_type(entry, json_type_object) ||
		    !json_object_object_get_ex(entry, "containerID", &val) ||
		    !json_object_is_type(val, json_type_string) ||
		    !cni_is_valid_container_id(json_object_get_string(val)) ||
		    !json_object_object_get_ex(entry, "ifname", &val) ||
		    !json_object_is_type(val, json_type_string) ||
		    !cni_is_valid_ifname(json_object_get_string(val))) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				      "%s[%zu]: needs a valid \"containerID\" and \"ifname\"", key,
				      i);
			return -EINVAL;
		}
	}
	cfg->valid_attachments = json_object_get(list);
	return 0;
}

static int cni_config_parse_dns(struct json_object *root, struct cni_config *cfg,
				struct cni_error *err)
{
	static const char *const list_keys[] = {"nameservers", "search", "options"};
	struct json_object *dns, *val;

	if (!json_object_object_get_ex(root, "dns", &dns) ||
	    json_object_is_type(dns, json_type_null))
		return 0;
	if (!json_object_is_type(dns, json_type_object)) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "dns: must be an object");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(list_keys) / sizeof(list_keys[0]); i++) {
		if (!json_object_object_get_ex(dns, list_keys[i], &val))
			continue;
		if (!json_object_is_type(val, json_type_array)) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG, "dns.%s: must be an array",
				      list_keys[i]);
			return -EINVAL;
		}
		for (size_t j = 0; j < json_object_array_length(val); j++) {
			if (!json_object_is_type(json_object_array_get_idx(val, j),
						 json_type_string)) {
				cni_error_set(err, CNI_ERR_INVALID_CONFIG,
					      "dns.%s[%zu]: must be a string", list_keys[i], j);
				return -EINVAL;
			}
		}
	}
	if (json_object_object_get_ex(dns, "domain", &val) &&
	    !json_object_is_type(val, json_type_string)) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "dns.domain: must be a string");
		return -EINVAL;
	}
	cfg->dns = json_object_get(dns);
	return 0;
}

void cni_config_free(struct cni_config *cfg)
{
	if (!cfg)
		return;
	json_object_put(cfg->dns);
	json_object_put(cfg->prev_result);
	json_object_put(cfg->valid_attachments);
	cfg->dns = NULL;
	cfg->prev_result = NULL;
	cfg->valid_attachments = NULL;
}

int cni_config_parse(const char *buf, size_t len, struct cni_config *cfg, struct cni_error *err)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL, *val;
	size_t end;
	int ret = -EINVAL;

	memset(cfg, 0, sizeof(*cfg));
	if (len > CNI_MAX_CONFIG_BYTES) {
		cni_error_set(err, CNI_ERR_DECODE, "network config: larger than %d bytes",
			      CNI_MAX_CONFIG_BYTES);
		goto cleanup;
	}
	if (len == 0 || memchr(buf, '\0', len)) {
		cni_error_set(err, CNI_ERR_DECODE, "network config: %s on stdin",
			      len ? "NUL byte" : "nothing");
		goto cleanup;
	}
	tok = json_tokener_new_ex(CNI_JSON_MAX_DEPTH);
	if (!tok) {
		ret = -ENOMEM;
		cni_error_set(err, CNI_ERR_IO, "network config: out of memory");
		goto cleanup;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error jerr = json_tokener_get_error(tok);

		cni_error_set(err, CNI_ERR_DECODE, "network config: invalid JSON at byte %zu: %s",
			      json_tokener_get_parse_end(tok),
			      jerr == json_tokener_continue ? "unexpected end of input"
							    : json_tokener_error_desc(jerr));
		goto cleanup;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++) {
		if (!isspace((unsigned char)buf[end])) {
			cni_error_set(err, CNI_ERR_DECODE,
				      "network config: trailing data at byte %zu", end);
			goto cleanup;
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		cni_error_set(err, CNI_ERR_DECODE, "network config: not a JSON object");
		goto cleanup;
	}

	/* The version comes first: every later error is reported in that version's shape. */
	if (cni_json_string(root, "", "cniVersion", true, cfg->cni_version,
			    sizeof(cfg->cni_version), err)) {
		if (!err->code)
			cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION, "cniVersion: invalid");
		goto cleanup;
	}
	if (!cni_version_is_supported(cfg->cni_version)) {
		cni_error_set(err, CNI_ERR_INCOMPATIBLE_VERSION,
			      "cniVersion: \"%s\" is not supported", cfg->cni_version);
		cni_error_details(err, "supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
		cfg->cni_version[0] = '\0';
		goto cleanup;
	}
	if (cni_json_string(root, "", "name", true, cfg->name, sizeof(cfg->name), err))
		goto cleanup;
	if (!cni_is_valid_network_name(cfg->name)) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "name: \"%s\" must start with a letter or digit and hold only "
			      "letters, digits, '_', '.' and '-'",
			      cfg->name);
		goto cleanup;
	}
	if (cni_json_string(root, "", "type", false, cfg->type, sizeof(cfg->type), err) == -EINVAL)
		goto cleanup;

	switch (cni_json_string(root, "", "node", false, cfg->node, sizeof(cfg->node), err)) {
	case -EINVAL:
		goto cleanup;
	case -ENOENT:
		if (gethostname(cfg->node, sizeof(cfg->node) - 1) || !cfg->node[0])
			strcpy(cfg->node, "localhost");
		break;
	}
	for (const char *p = cfg->node; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				      "node: \"%s\" is not a valid node name", cfg->node);
			goto cleanup;
		}
	}

	switch (cni_json_string(root, "", "bpffs", false, cfg->bpffs, sizeof(cfg->bpffs), err)) {
	case -EINVAL:
		goto cleanup;
	case -ENOENT:
		strcpy(cfg->bpffs, CNI_BPFFS_DEFAULT);
		break;
	}
	if (!cni_is_valid_abs_path(cfg->bpffs, sizeof(cfg->bpffs))) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "bpffs: \"%s\" must be an absolute path without \"..\"", cfg->bpffs);
		goto cleanup;
	}
	switch (cni_json_string(root, "", "stateDir", false, cfg->state_dir, sizeof(cfg->state_dir),
				err)) {
	case -EINVAL:
		goto cleanup;
	case -ENOENT:
		strcpy(cfg->state_dir, CNI_STATE_DIR_DEFAULT);
		break;
	}
	if (!cni_is_valid_abs_path(cfg->state_dir, sizeof(cfg->state_dir))) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "stateDir: \"%s\" must be an absolute path without \"..\"",
			      cfg->state_dir);
		goto cleanup;
	}

	cfg->mtu = CNI_MTU_DEFAULT;
	if (json_object_object_get_ex(root, "mtu", &val) &&
	    !json_object_is_type(val, json_type_null)) {
		int64_t mtu;

		if (!json_object_is_type(val, json_type_int)) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG, "mtu: must be an integer");
			goto cleanup;
		}
		mtu = json_object_get_int64(val);
		if (mtu < CNI_MTU_MIN || mtu > CNI_MTU_MAX) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG, "mtu: %lld is outside %d..%d",
				      (long long)mtu, CNI_MTU_MIN, CNI_MTU_MAX);
			goto cleanup;
		}
		cfg->mtu = (unsigned int)mtu;
		cfg->has_mtu = true;
	}

	if (cni_config_parse_versions(root, err) || cni_config_parse_ipam(root, cfg, err) ||
	    cni_config_parse_dns(root, cfg, err) || cni_json_object(root, "args", NULL, err) ||
	    cni_json_object(root, "runtimeConfig", NULL, err) ||
	    cni_json_object(root, "capabilities", NULL, err) ||
	    cni_json_object(root, "prevResult", &cfg->prev_result, err) ||
	    cni_config_parse_attachments(root, cfg, err))
		goto cleanup;
	ret = 0;

cleanup:
	if (ret)
		cni_config_free(cfg);
	json_object_put(root);
	if (tok)
		json_tokener_free(tok);
	return ret;
}

/* Bounded getenv: absent and empty are the same; too long is an error naming the variable. */
static int cni_env_get(const char *(*getenv_fn)(const char *), const char *name, bool required,
		       char *out, size_t outsize, struct cni_error *err)
{
	const char *v = getenv_fn(name);

	out[0] = '\0';
	if (!v || !v[0]) {
		if (!required)
			return -ENOENT;
		cni_error_set(err, CNI_ERR_INVALID_ENV, "%s: required environment variable not set",
			      name);
		return -EINVAL;
	}
	if (strnlen(v, outsize) >= outsize) {
		cni_error_set(err, CNI_ERR_INVALID_ENV, "%s: longer than %zu characters", name,
			      outsize - 1);
		return -EINVAL;
	}
	strcpy(out, v);
	return 0;
}

static bool cni_is_dns_name(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

int cni_args_parse(const char *args, struct cni_env *env, struct cni_error *err)
{
	char buf[CNI_ARGS_MAX + 1];
	char *save = NULL, *pair;
	bool ignore_unknown = false;
	char unknown[64] = "";

	if (strnlen(args, sizeof(buf)) >= sizeof(buf)) {
		cni_error_set(err, CNI_ERR_INVALID_ENV, "CNI_ARGS: longer than %d characters",
			      CNI_ARGS_MAX);
		return -EINVAL;
	}
	strcpy(buf, args);
	for (pair = strtok_r(buf, ";", &save); pair; pair = strtok_r(NULL, ";", &save)) {
		char *value = strchr(pair, '=');

		if (!value || value == pair) {
			cni_error_set(err, CNI_ERR_INVALID_ENV,
				      "CNI_ARGS: \"%.64s\" is not KEY=VALUE", pair);
			return -EINVAL;
		}
		*value++ = '\0';
		if (!strcmp(pair, "IgnoreUnknown")) {
			ignore_unknown = !strcmp(value, "1") || !strcasecmp(value, "true");
		} else if (!strcmp(pair, "K8S_POD_NAMESPACE")) {
			if (!cni_is_dns_name(value, CNI_POD_NAMESPACE_MAX)) {
				cni_error_set(err, CNI_ERR_INVALID_ENV,
					      "CNI_ARGS: K8S_POD_NAMESPACE \"%.64s\" is not a "
					      "namespace name",
					      value);
				return -EINVAL;
			}
			strcpy(env->pod_namespace, value);
		} else if (!strcmp(pair, "K8S_POD_NAME")) {
			if (!cni_is_dns_name(value, CNI_POD_NAME_MAX)) {
				cni_error_set(err, CNI_ERR_INVALID_ENV,
					      "CNI_ARGS: K8S_POD_NAME \"%.64s\" is not a pod name",
					      value);
				return -EINVAL;
			}
			strcpy(env->pod_name, value);
		} else if (!strcmp(pair, "K8S_POD_INFRA_CONTAINER_ID") ||
			   !strcmp(pair, "K8S_POD_UID")) {
			/* Known, passed by kubelet, not needed here. */
		} else if (!unknown[0]) {
			snprintf(unknown, sizeof(unknown), "%s", pair);
		}
	}
	/* Reference plugins refuse unknown keys unless the runtime says IgnoreUnknown. */
	if (unknown[0] && !ignore_unknown) {
		cni_error_set(err, CNI_ERR_INVALID_ENV,
			      "CNI_ARGS: unknown key \"%s\" (set IgnoreUnknown=1 to ignore it)",
			      unknown);
		return -EINVAL;
	}
	return 0;
}

static const struct {
	const char *name;
	enum cni_command command;
} cni_commands[] = {
    {"ADD", CNI_CMD_ADD},	  {"DEL", CNI_CMD_DEL},	      {"CHECK", CNI_CMD_CHECK},
    {"VERSION", CNI_CMD_VERSION}, {"STATUS", CNI_CMD_STATUS}, {"GC", CNI_CMD_GC},
};

int cni_env_parse(const char *(*getenv_fn)(const char *name), struct cni_env *env,
		  struct cni_error *err)
{
	char command[16], args[CNI_ARGS_MAX + 1], path[4096];
	bool per_container;
	int ret;

	memset(env, 0, sizeof(*env));
	if (cni_env_get(getenv_fn, "CNI_COMMAND", true, command, sizeof(command), err))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(cni_commands) / sizeof(cni_commands[0]); i++)
		if (!strcmp(command, cni_commands[i].name))
			env->command = cni_commands[i].command;
	if (env->command == CNI_CMD_NONE) {
		cni_error_set(err, CNI_ERR_INVALID_ENV, "CNI_COMMAND: \"%s\" is not a CNI command",
			      command);
		return -EINVAL;
	}
	per_container = env->command == CNI_CMD_ADD || env->command == CNI_CMD_DEL ||
			env->command == CNI_CMD_CHECK;
	if (!per_container)
		return 0;

	if (cni_env_get(getenv_fn, "CNI_CONTAINERID", true, env->container_id,
			sizeof(env->container_id), err))
		return -EINVAL;
	if (!cni_is_valid_container_id(env->container_id)) {
		cni_error_set(err, CNI_ERR_INVALID_ENV,
			      "CNI_CONTAINERID: \"%.64s\" must hold only letters, digits, '_', '.' "
			      "and '-'",
			      env->container_id);
		return -EINVAL;
	}
	if (cni_env_get(getenv_fn, "CNI_IFNAME", true, env->ifname, sizeof(env->ifname), err))
		return -EINVAL;
	if (!cni_is_valid_ifname(env->ifname)) {
		cni_error_set(err, CNI_ERR_INVALID_ENV,
			      "CNI_IFNAME: \"%s\" is not a valid interface name", env->ifname);
		return -EINVAL;
	}
	/* DEL must work after the sandbox is gone, so CNI_NETNS is optional there (spec). */
	ret = cni_env_get(getenv_fn, "CNI_NETNS", env->command != CNI_CMD_DEL, env->netns,
			  sizeof(env->netns), err);
	if (ret == -EINVAL)
		return ret;
	if (!ret && !cni_is_valid_abs_path(env->netns, sizeof(env->netns))) {
		cni_error_set(err, CNI_ERR_INVALID_ENV,
			      "CNI_NETNS: \"%s\" must be an absolute path without \"..\"",
			      env->netns);
		return -EINVAL;
	}
	ret = cni_env_get(getenv_fn, "CNI_ARGS", false, args, sizeof(args), err);
	if (ret == -EINVAL)
		return ret;
	if (!ret && cni_args_parse(args, env, err))
		return -EINVAL;
	/* CNI_PATH is unused (no delegation) but still bounded. */
	if (cni_env_get(getenv_fn, "CNI_PATH", false, path, sizeof(path), err) == -EINVAL)
		return -EINVAL;
	return 0;
}

void cni_host_veth_name(const char *container_id, const char *ifname, char out[16])
{
	uint64_t h;

	/* FNV-1a is stable across runs and builds, so DEL finds the veth ADD made. Hash the
	 * terminating NUL too, so ("ab","c") and ("a","bc") differ. */
	h = hash_fnv1a(container_id, strlen(container_id) + 1);
	h = hash_fnv1a_more(h, ifname, strlen(ifname) + 1);
	snprintf(out, 16, CNI_HOST_VETH_PREFIX "%012llx",
		 (unsigned long long)(h & 0xffffffffffffull));
}
