// SPDX-License-Identifier: Apache-2.0
/*
 * `sluice explain FROM TO PORT[/PROTO]`: what a new flow would meet, without sending it. Every
 * step reads the maps the datapath reads, with the keys it builds: the ipcache for identities,
 * lb4_svc and the live slot generation for the Service and its backends, policy4 for the rules
 * (bpf/lib/policy.h's policy4_judge, step by step). Only the names are the agent's additions for
 * people (ep4 names, policy_names). One JSON model; the text is printed from it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "lib/bpffs.h"
#include "lib/ip_proto.h"
#include "lib/map_walk.h"
#include "loader/cli/cli_internal.h"
#include "maps/endpoints.h"
#include "maps/node.h"
#include "maps/policy.h"
#include "maps/stats.h"
#include "maps/tunnel.h"

struct explain_maps {
	int ep4, ipcache4, policy4, names, cfg;
	int svc, slots, backends, revnat, src_ranges;
	int node_addrs, tunnel4; /* -1 on pins from before them */
};

/* One end of the flow, as the maps know it. */
struct explain_end {
	uint32_t address;
	bool is_local_pod;
	char pod[SLUICE_NAME_LEN]; /* ep4's "namespace/pod" */
	struct ipcache4_value ipcache;
	bool has_ipcache;
	char identity[POLICY_NAME_LEN];
	char where[64]; /* "pod on this node", "pod on node 198.51.100.2", "this node", ... */
};

static void explain_close(struct explain_maps *m)
{
	int *fds[] = {&m->ep4,	  &m->ipcache4,	  &m->policy4,	  &m->names,
		      &m->cfg,	  &m->svc,	  &m->slots,	  &m->backends,
		      &m->revnat, &m->src_ranges, &m->node_addrs, &m->tunnel4};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
}

static int explain_open(const struct cli_options *options, struct explain_maps *m)
{
	struct {
		int *fd;
		const char *pin;
		bool is_optional;
	} pins[] = {
	    {&m->ep4, EP4_MAP, false},
	    {&m->ipcache4, IPCACHE4_MAP, false},
	    {&m->policy4, POLICY4_MAP, false},
	    {&m->names, POLICY_NAMES_MAP, false},
	    {&m->cfg, POLICY_CFG_MAP, false},
	    {&m->svc, LB4_SVC_MAP, false},
	    {&m->slots, LB4_SLOTS_MAP, false},
	    {&m->backends, LB4_BACKENDS_MAP, false},
	    {&m->revnat, LB4_REVNAT_MAP, false},
	    {&m->src_ranges, LB4_SRC_RANGES_MAP, true},
	    {&m->node_addrs, NODE4_ADDRS_MAP, true},
	    {&m->tunnel4, TUNNEL4_MAP, true},
	};
	int err = cli_check_layout(options);

	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++)
		*pins[i].fd = -1;
	if (err)
		return err;
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		*pins[i].fd = pins[i].is_optional ? bpffs_open_map(options->bpffs, pins[i].pin)
						  : cli_open_map(options, pins[i].pin);
		if (*pins[i].fd < 0 && !pins[i].is_optional)
			return *pins[i].fd;
	}
	return 0;
}

/* ADDRESS as the datapath sees it: the local endpoint, the ipcache entry, the node it is on. */
static void explain_resolve(const struct explain_maps *m, uint32_t address, struct explain_end *end)
{
	struct ipcache4_key key = {.prefix_len = 32, .address = address};
	struct tunnel4_key tkey = {.prefix_len = 32, .address = address};
	struct tunnel4_value tunnel;
	struct node4_addr node;
	struct ep4_info info;
	char node_ip[INET_ADDRSTRLEN];

	memset(end, 0, sizeof(*end));
	end->address = address;
	end->ipcache.identity = IDENTITY_WORLD;
	if (!bpf_map_lookup_elem(m->ep4, &address, &info)) {
		end->is_local_pod = true;
		snprintf(end->pod, sizeof(end->pod), "%.*s", (int)sizeof(info.name) - 1, info.name);
	}
	end->has_ipcache = !bpf_map_lookup_elem(m->ipcache4, &key, &end->ipcache);
	cli_policy_name(m->names, end->ipcache.identity, end->identity, sizeof(end->identity));
	if (end->is_local_pod)
		snprintf(end->where, sizeof(end->where), "pod on this node");
	else if ((end->ipcache.flags & IPCACHE_F_HOST) ||
		 (m->node_addrs >= 0 && !bpf_map_lookup_elem(m->node_addrs, &address, &node)))
		snprintf(end->where, sizeof(end->where), "this node");
	else if (m->tunnel4 >= 0 && !bpf_map_lookup_elem(m->tunnel4, &tkey, &tunnel))
		snprintf(end->where, sizeof(end->where), "%s %s",
			 tunnel.flags & TUNNEL4_F_NODE ? "node" : "pod on node",
			 cli_ip(tunnel.node_address, node_ip));
	else if (end->ipcache.flags & IPCACHE_F_POD)
		snprintf(end->where, sizeof(end->where), "pod");
	else
		snprintf(end->where, sizeof(end->where), "outside the cluster");
}

/*
 * The VIP of the Service "ns/name" (or "name": namespace default) serving PORT/PROTO, from the
 * names lb4_revnat keeps ("ns/name:portname"); a cluster IP rather than a NodePort's 0.
 */
static bool explain_find_service(const struct explain_maps *m, const char *arg, uint16_t port,
				 uint8_t proto, uint32_t *address)
{
	char prefix[SLUICE_NAME_LEN + 2];
	struct lb4_revnat value;
	struct map_walk walk;
	uint32_t key;
	bool is_found = false;

	snprintf(prefix, sizeof(prefix), "%s%s:", strchr(arg, '/') ? "" : "default/", arg);
	map_walk_start(&walk, m->revnat, sizeof(key), sizeof(value));
	while (map_walk_next(&walk, &key, &value)) {
		value.name[sizeof(value.name) - 1] = '\0';
		if (strncmp(value.name, prefix, strlen(prefix)) || ntohs(value.port) != port ||
		    value.proto != proto || (is_found && !value.address))
			continue;
		*address = value.address;
		is_found = true;
	}
	return is_found;
}

/*
 * "ns/pod" (or "pod": namespace default) of a pod on this node, an IPv4 address, or when
 * PORT is set (TO) "ns/service" serving PORT/PROTO.
 */
static int explain_parse_end(const struct explain_maps *m, const char *arg, uint16_t port,
			     uint8_t proto, uint32_t *address)
{
	char name[SLUICE_NAME_LEN];
	struct ep4_key key;
	struct ep4_info info;
	struct map_walk walk;

	if (inet_pton(AF_INET, arg, address) == 1)
		return 0;
	snprintf(name, sizeof(name), "%s%s", strchr(arg, '/') ? "" : "default/", arg);
	map_walk_start(&walk, m->ep4, sizeof(key), sizeof(info));
	while (map_walk_next(&walk, &key, &info)) {
		info.name[sizeof(info.name) - 1] = '\0';
		if (!strcmp(info.name, name)) {
			*address = key.address;
			return 0;
		}
	}
	if ((port || proto == IPPROTO_ICMP) && explain_find_service(m, arg, port, proto, address))
		return 0;
	fprintf(stderr,
		"sluice: explain: %s is neither an IPv4 address nor a pod of this node%s (see "
		"sluice endpoint list%s; give a remote pod by its address)\n",
		arg, port ? " nor a service serving that port" : "",
		port ? ", sluice service list" : "");
	return -ENOENT;
}

/* "PORT[/PROTO]", "icmp" or "0/icmp"; PROTO tcp (default), udp, sctp or icmp. */
static int explain_parse_port(const char *arg, uint16_t *port, uint8_t *proto)
{
	const char *slash = strchr(arg, '/');
	char *end;
	unsigned long value;

	*proto = IPPROTO_TCP;
	*port = 0;
	if (!strcasecmp(arg, "icmp")) {
		*proto = IPPROTO_ICMP;
		return 0;
	}
	value = strtoul(arg, &end, 10);
	if (end == arg || (*end && end != slash) || value > 65535)
		goto bad;
	*port = (uint16_t)value;
	if (slash) {
		if (!strcasecmp(slash + 1, "tcp"))
			*proto = IPPROTO_TCP;
		else if (!strcasecmp(slash + 1, "udp"))
			*proto = IPPROTO_UDP;
		else if (!strcasecmp(slash + 1, "sctp"))
			*proto = IPPROTO_SCTP;
		else if (!strcasecmp(slash + 1, "icmp"))
			*proto = IPPROTO_ICMP;
		else
			goto bad;
	}
	if (!*port && *proto != IPPROTO_ICMP)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "sluice: explain: %s: expected PORT[/tcp|udp|sctp] or icmp\n", arg);
	return -EINVAL;
}

static struct json_object *explain_end_json(const struct explain_end *end)
{
	struct json_object *obj = json_object_new_object();
	char ip[INET_ADDRSTRLEN];

	cli_json_set(obj, "address", json_object_new_string(cli_ip(end->address, ip)));
	cli_json_set(obj, "pod", end->pod[0] ? json_object_new_string(end->pod) : NULL);
	cli_json_set(obj, "where", json_object_new_string(end->where));
	cli_json_set(obj, "identity", json_object_new_int64(end->ipcache.identity));
	cli_json_set(obj, "identity_name", json_object_new_string(end->identity));
	cli_json_set(obj, "ingress_isolated",
		     json_object_new_boolean(end->ipcache.flags & IPCACHE_F_ISOLATED_INGRESS));
	cli_json_set(obj, "egress_isolated",
		     json_object_new_boolean(end->ipcache.flags & IPCACHE_F_ISOLATED_EGRESS));
	return obj;
}

/* policy4_allows(): a rule for (subject, peer), else (subject, any peer); *POLICY its name. */
static bool explain_rule(const struct explain_maps *m, uint32_t subject, uint32_t peer,
			 uint8_t direction, uint8_t proto, uint16_t port, char *policy, size_t len)
{
	struct policy4_key key = {.prefix_len = POLICY4_FULL_BITS,
				  .subject = htonl(subject),
				  .peer = htonl(peer),
				  .direction = direction,
				  .proto = proto,
				  .port = htons(port)};
	struct policy4_value value;

	if (bpf_map_lookup_elem(m->policy4, &key, &value)) {
		key.peer = htonl(IDENTITY_ANY);
		if (bpf_map_lookup_elem(m->policy4, &key, &value))
			return false;
	}
	cli_policy_name(m->names, value.policy, policy, len);
	return true;
}

/* One direction's step: judged or not, by which rule or default deny. */
static struct json_object *explain_step(bool is_judged, bool is_allowed, const char *policy,
					const char *reason)
{
	struct json_object *obj = json_object_new_object();

	cli_json_set(obj, "judged", json_object_new_boolean(is_judged));
	cli_json_set(obj, "allowed", json_object_new_boolean(is_allowed));
	cli_json_set(obj, "policy", policy ? json_object_new_string(policy) : NULL);
	cli_json_set(obj, "reason", json_object_new_string(reason));
	return obj;
}

/*
 * policy4_judge() for SRC -> DST:PORT/PROTO, step by step into OBJ ("egress", "ingress").
 * IS_LOCAL_SOURCE: the pod program judges the source's egress (a pod of this node). Returns
 * 0 (allowed) or the drop reason.
 */
static int explain_policy(const struct explain_maps *m, const struct explain_end *src,
			  const struct explain_end *dst, uint8_t proto, uint16_t port,
			  bool is_local_source, struct json_object *obj)
{
	const char *proto_name = proto == IPPROTO_ICMP ? "ICMP" : ip_proto_name(proto);
	char policy[POLICY_NAME_LEN], by[POLICY_NAME_LEN], why[POLICY_NAME_LEN * 2 + 96];
	uint32_t flags = src->ipcache.flags | dst->ipcache.flags, zero = 0;
	struct policy_cfg cfg = {0};
	const char *skip = NULL;

	bpf_map_lookup_elem(m->cfg, &zero, &cfg);
	if (!(cfg.flags & POLICY_CFG_F_ENABLED))
		skip = "no NetworkPolicy isolates any pod";
	else if (!(flags & (IPCACHE_F_ISOLATED_INGRESS | IPCACHE_F_ISOLATED_EGRESS)))
		skip = "neither end is isolated";
	else if (flags & IPCACHE_F_HOST)
		skip = "a pod and its node always reach each other";
	else if (src->address == dst->address)
		skip = "a pod reaching itself";
	if (skip) {
		cli_json_set(obj, "egress", explain_step(false, true, NULL, skip));
		cli_json_set(obj, "ingress", explain_step(false, true, NULL, skip));
		return 0;
	}
	if (!is_local_source) {
		cli_json_set(obj, "egress",
			     explain_step(false, true, NULL,
					  "not a pod of this node: its egress is judged where it "
					  "leaves"));
	} else if (!(src->ipcache.flags & IPCACHE_F_ISOLATED_EGRESS)) {
		cli_json_set(
		    obj, "egress",
		    explain_step(false, true, NULL, "the source is not isolated for egress"));
	} else if (explain_rule(m, src->ipcache.identity, dst->ipcache.identity, POLICY_DIR_EGRESS,
				proto, port, policy, sizeof(policy))) {
		snprintf(why, sizeof(why), "a rule of %s admits %s %u to %s", policy, proto_name,
			 port, dst->identity);
		cli_json_set(obj, "egress", explain_step(true, true, policy, why));
	} else {
		if (!cli_policy_isolated_by(m->names, src->ipcache.identity, false, by, sizeof(by)))
			snprintf(by, sizeof(by), "its policies");
		snprintf(why, sizeof(why), "default deny of %s: no egress rule admits %s %u to %s",
			 by, proto_name, port, dst->identity);
		cli_json_set(obj, "egress", explain_step(true, false, by, why));
		cli_json_set(obj, "ingress", explain_step(false, false, NULL, "not reached"));
		return DROP_POLICY_EGRESS;
	}
	if ((dst->ipcache.flags & (IPCACHE_F_POD | IPCACHE_F_ISOLATED_INGRESS)) !=
	    (IPCACHE_F_POD | IPCACHE_F_ISOLATED_INGRESS)) {
		cli_json_set(obj, "ingress",
			     explain_step(false, true, NULL,
					  "the destination is not a pod isolated for ingress"));
	} else if (explain_rule(m, dst->ipcache.identity, src->ipcache.identity, POLICY_DIR_INGRESS,
				proto, port, policy, sizeof(policy))) {
		snprintf(why, sizeof(why), "a rule of %s admits %s %u from %s", policy, proto_name,
			 port, src->identity);
		cli_json_set(obj, "ingress", explain_step(true, true, policy, why));
	} else {
		if (!cli_policy_isolated_by(m->names, dst->ipcache.identity, true, by, sizeof(by)))
			snprintf(by, sizeof(by), "its policies");
		snprintf(why, sizeof(why),
			 "default deny of %s: no ingress rule admits %s %u from %s", by, proto_name,
			 port, src->identity);
		cli_json_set(obj, "ingress", explain_step(true, false, by, why));
		return DROP_POLICY_INGRESS;
	}
	return 0;
}

/*
 * The frontend TO:PORT/PROTO of SCOPE, as the datapath looks it up (a node address also as a
 * NodePort, address 0), with its live backends and name. Returns whether there is one.
 */
static bool explain_service(const struct explain_maps *m, uint32_t to, uint16_t port, uint8_t proto,
			    uint8_t scope, struct cli_service *svc)
{
	struct node4_addr node;
	struct lb4_revnat revnat;

	memset(svc, 0, sizeof(*svc));
	svc->key =
	    (struct lb4_key){.address = to, .port = htons(port), .proto = proto, .scope = scope};
	if (bpf_map_lookup_elem(m->svc, &svc->key, &svc->value)) {
		if (m->node_addrs < 0 || bpf_map_lookup_elem(m->node_addrs, &to, &node))
			return false;
		svc->key.address = 0;
		if (bpf_map_lookup_elem(m->svc, &svc->key, &svc->value))
			return false;
	}
	if (!bpf_map_lookup_elem(m->revnat, &svc->value.svc_id, &revnat))
		snprintf(svc->name, sizeof(svc->name), "%.*s", (int)sizeof(revnat.name) - 1,
			 revnat.name);
	return cli_service_read_backends(svc, m->slots, m->backends) == 0;
}

static struct json_object *explain_service_json(const struct cli_service *svc)
{
	static const struct {
		uint16_t flag;
		const char *name;
	} types[] = {{LB_SVC_F_CLUSTER_IP, "ClusterIP"},
		     {LB_SVC_F_NODE_PORT, "NodePort"},
		     {LB_SVC_F_EXTERNAL_IP, "externalIP"},
		     {LB_SVC_F_LOAD_BALANCER, "LoadBalancer"}};
	struct json_object *obj = json_object_new_object();
	const char *type = "?";

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (svc->value.flags & types[i].flag)
			type = types[i].name;
	cli_json_set(obj, "name", json_object_new_string(svc->name));
	cli_json_set(obj, "type", json_object_new_string(type));
	cli_json_set(obj, "backends", json_object_new_int64(svc->n_backends));
	cli_json_set(obj, "local_only",
		     json_object_new_boolean(svc->value.flags & LB_SVC_F_LOCAL_ONLY));
	cli_json_set(obj, "masquerade", json_object_new_boolean(svc->value.flags & LB_SVC_F_SNAT));
	cli_json_set(obj, "session_affinity",
		     json_object_new_boolean(svc->value.flags & LB_SVC_F_AFFINITY));
	return obj;
}

/* A client outside loadBalancerSourceRanges is dropped before any backend is chosen. */
static bool explain_source_allowed(const struct explain_maps *m, const struct cli_service *svc,
				   uint32_t client)
{
	struct lb4_src_range_key key = {
	    .prefix_len = 64, .svc_id = htonl(svc->value.svc_id), .address = client};
	uint8_t value;

	if (!(svc->value.flags & LB_SVC_F_SOURCE_RANGES) || m->src_ranges < 0)
		return true;
	return !bpf_map_lookup_elem(m->src_ranges, &key, &value);
}

/* One destination (a backend, or TO itself): its end, policy steps and result, into PATHS. */
static bool explain_path(const struct explain_maps *m, const struct explain_end *src,
			 uint32_t address, uint16_t port, uint8_t proto, struct json_object *paths)
{
	struct json_object *path = json_object_new_object(), *dst_json;
	struct explain_end dst;
	int reason;

	explain_resolve(m, address, &dst);
	dst_json = explain_end_json(&dst);
	cli_json_set(dst_json, "port", json_object_new_int64(port));
	cli_json_set(path, "destination", dst_json);
	reason = explain_policy(m, src, &dst, proto, port, src->is_local_pod, path);
	cli_json_set(path, "allowed", json_object_new_boolean(!reason));
	cli_json_set(path, "drop_reason", reason ? json_object_new_string(drop_ids[reason]) : NULL);
	cli_json_append(paths, path);
	return !reason;
}

/* The model: from, to, service, paths, verdict and reason. */
static struct json_object *explain_model(const struct explain_maps *m, uint32_t from, uint32_t to,
					 uint16_t port, uint8_t proto)
{
	struct json_object *root = json_object_new_object(), *target = json_object_new_object();
	struct json_object *paths = json_object_new_array();
	const char *verdict, *reason;
	struct explain_end src;
	struct cli_service svc;
	char ip[INET_ADDRSTRLEN];
	uint32_t allowed = 0, n = 0;

	explain_resolve(m, from, &src);
	cli_json_set(root, "from", explain_end_json(&src));
	cli_json_set(target, "address", json_object_new_string(cli_ip(to, ip)));
	cli_json_set(target, "port", json_object_new_int64(port));
	cli_json_set(target, "protocol",
		     json_object_new_string(proto == IPPROTO_ICMP ? "ICMP" : ip_proto_name(proto)));
	cli_json_set(root, "to", target);
	if (proto != IPPROTO_ICMP &&
	    explain_service(m, to, port, proto,
			    src.is_local_pod ? LB4_SCOPE_INTERNAL : LB4_SCOPE_EXTERNAL, &svc)) {
		cli_json_set(root, "service", explain_service_json(&svc));
		if (!explain_source_allowed(m, &svc, from)) {
			verdict = "dropped";
			reason = "the client is outside the service's loadBalancerSourceRanges";
		} else if (!svc.value.count) {
			verdict = "rejected";
			reason = "the service has no endpoints: the client gets ICMP port "
				 "unreachable";
		} else {
			for (uint32_t i = 0; i < svc.n_backends; i++, n++)
				allowed += explain_path(m, &src, svc.backends[i].address,
							ntohs(svc.backends[i].port), proto, paths);
			verdict = allowed == n ? "allowed" : allowed ? "partly allowed" : "denied";
			reason = allowed == n ? "every backend admits it"
				 : allowed ? "NetworkPolicy refuses it at some backends: which one "
					     "the flow meets depends on the backend chosen"
					   : "NetworkPolicy refuses it at every backend";
		}
		free(svc.backend_ids);
		free(svc.backends);
	} else {
		cli_json_set(root, "service", NULL);
		allowed = explain_path(m, &src, to, port, proto, paths);
		verdict = allowed ? "allowed" : "denied";
		reason = allowed ? "no policy refuses it" : "NetworkPolicy refuses it";
	}
	cli_json_set(root, "paths", paths);
	cli_json_set(root, "verdict", json_object_new_string(verdict));
	cli_json_set(root, "reason", json_object_new_string(reason));
	return root;
}

static const char *explain_str(struct json_object *obj, const char *key)
{
	struct json_object *value = json_object_object_get(obj, key);

	return value ? json_object_get_string(value) : "";
}

static void explain_print_end(const char *label, struct json_object *end)
{
	struct json_object *pod = json_object_object_get(end, "pod"),
			   *port = json_object_object_get(end, "port");

	printf("%-9s%s%s%s%s%s: %s, identity %s (%s)%s%s\n", label, explain_str(end, "address"),
	       port ? ":" : "", port ? json_object_get_string(port) : "", pod ? " " : "",
	       pod ? json_object_get_string(pod) : "", explain_str(end, "where"),
	       explain_str(end, "identity"), explain_str(end, "identity_name"),
	       json_object_get_boolean(json_object_object_get(end, "ingress_isolated"))
		   ? ", isolated for ingress"
		   : "",
	       json_object_get_boolean(json_object_object_get(end, "egress_isolated"))
		   ? ", isolated for egress"
		   : "");
}

static void explain_print(struct json_object *root)
{
	struct json_object *to = json_object_object_get(root, "to"),
			   *svc = json_object_object_get(root, "service"),
			   *paths = json_object_object_get(root, "paths");

	explain_print_end("from", json_object_object_get(root, "from"));
	printf("%-9s%s:%s/%s", "to", explain_str(to, "address"), explain_str(to, "port"),
	       explain_str(to, "protocol"));
	if (svc)
		printf(": service %s (%s, %s backends%s%s)\n", explain_str(svc, "name"),
		       explain_str(svc, "type"), explain_str(svc, "backends"),
		       json_object_get_boolean(json_object_object_get(svc, "local_only"))
			   ? ", node-local endpoints only"
			   : "",
		       json_object_get_boolean(json_object_object_get(svc, "masquerade"))
			   ? ", source masqueraded to the node"
			   : "");
	else
		printf(": no service; straight to the address\n");
	for (size_t i = 0; paths && i < json_object_array_length(paths); i++) {
		struct json_object *path = json_object_array_get_idx(paths, i);
		struct json_object *reason = json_object_object_get(path, "drop_reason");

		explain_print_end(svc ? "backend" : "dest",
				  json_object_object_get(path, "destination"));
		for (int d = 0; d < 2; d++) {
			struct json_object *step =
			    json_object_object_get(path, d ? "ingress" : "egress");

			printf("  %-8s %s: %s\n", d ? "ingress" : "egress",
			       !json_object_get_boolean(json_object_object_get(step, "judged"))
				   ? "not judged"
			       : json_object_get_boolean(json_object_object_get(step, "allowed"))
				   ? "allowed"
				   : "DENIED",
			       explain_str(step, "reason"));
		}
		printf("  %-8s %s\n", "result",
		       reason ? json_object_get_string(reason) : "forwarded");
	}
	printf("%-9s%s: %s\n", "verdict", explain_str(root, "verdict"),
	       explain_str(root, "reason"));
}

/* One question FROM TO PORT_PROTO over the open maps, printed as OPTIONS ask (JSON: one line). */
static int explain_one(const struct cli_options *options, const struct explain_maps *m,
		       const char *from, const char *to, const char *port_proto, bool is_line)
{
	struct json_object *root;
	uint32_t from_address, to_address;
	uint16_t port;
	uint8_t proto;
	int err;

	err = explain_parse_port(port_proto, &port, &proto);
	if (!err)
		err = explain_parse_end(m, from, 0, 0, &from_address);
	if (!err)
		err = explain_parse_end(m, to, port, proto, &to_address);
	if (err)
		return err;
	root = explain_model(m, from_address, to_address, port, proto);
	if (options->output != CLI_OUTPUT_JSON)
		explain_print(root);
	else if (is_line)
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		err = cli_json_print(root);
	json_object_put(root);
	return err;
}

int cli_explain(const struct cli_options *options, const char *from, const char *to,
		const char *port_proto)
{
	struct explain_maps m;
	int err = explain_open(options, &m);

	if (!err)
		err = explain_one(options, &m, from, to, port_proto, false);
	explain_close(&m);
	return err;
}

int cli_explain_batch(const struct cli_options *options, FILE *in)
{
	char line[512], from[256], to[256], port[64];
	struct explain_maps m;
	int err = explain_open(options, &m), failed = 0;

	while (!err && fgets(line, sizeof(line), in)) {
		if (sscanf(line, "%255s %255s %63s", from, to, port) != 3) {
			if (strspn(line, " \t\r\n") != strlen(line)) {
				fprintf(stderr,
					"sluice: explain: expected FROM TO PORT[/PROTO]: %s", line);
				failed = -EINVAL;
			}
			continue;
		}
		/* A question that cannot be answered is said and skipped; the others go on. */
		if (explain_one(options, &m, from, to, port, true))
			failed = -EINVAL;
		fflush(stdout);
	}
	explain_close(&m);
	return err ? err : failed;
}
