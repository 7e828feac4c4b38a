// SPDX-License-Identifier: Apache-2.0
/*
 * `sluice policy list [ENDPOINT]`: for each pod of this node, its identity, which directions a
 * policy isolates, and every rule the datapath holds for it, with the policy that gave it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "lib/ip_proto.h"
#include "lib/bpffs.h"
#include "lib/map_walk.h"
#include "loader/cli/cli_internal.h"
#include "loader/desired/state.h"
#include "loader/k8s/netpol.h"
#include "maps/endpoints.h"
#include "maps/policy.h"

struct cli_rule {
	struct policy4_key key;
	struct policy4_value value;
};

static int cli_policy_open(const struct cli_options *options, const char *name)
{
	int fd = cli_check_layout(options);

	if (fd)
		return fd;
	fd = bpffs_open_map(options->bpffs, name);

	if (fd < 0)
		fprintf(stderr,
			"sluice: %s/%s: %s (is a policy-aware agent running with --bpffs %s?)\n",
			options->bpffs, name, strerror(-fd), options->bpffs);
	return fd;
}

void cli_policy_name(int names_fd, uint32_t key, char *buf, size_t len)
{
	struct policy_name value;

	if (key == IDENTITY_ANY) {
		snprintf(buf, len, "any");
	} else if (key == IDENTITY_WORLD) {
		snprintf(buf, len, "world");
	} else if (names_fd >= 0 && !bpf_map_lookup_elem(names_fd, &key, &value)) {
		value.name[sizeof(value.name) - 1] = '\0';
		snprintf(buf, len, "%s", value.name);
	} else {
		snprintf(buf, len, "#%u", key & ~(POLICY_NAME_F_POLICY | POLICY_NAME_F_ISOLATION));
	}
}

bool cli_policy_isolated_by(int names_fd, uint32_t identity, bool is_ingress, char *buf, size_t len)
{
	uint32_t key = POLICY_NAME_F_ISOLATION | identity;
	const char *tag = is_ingress ? "ingress=" : "egress=", *from;
	struct policy_name value;
	size_t used = 0, n;

	if (names_fd < 0 || !len || bpf_map_lookup_elem(names_fd, &key, &value))
		return false;
	value.name[sizeof(value.name) - 1] = '\0';
	from = strstr(value.name, tag);
	if (!from)
		return false;
	/* The agent's "ns/a,ns/b" as "ns/a, ns/b". */
	from += strlen(tag);
	n = strcspn(from, " ");
	for (size_t i = 0; i < n && used + 3 < len; i++) {
		buf[used++] = from[i];
		if (from[i] == ',')
			buf[used++] = ' ';
	}
	buf[used] = '\0';
	return used > 0;
}

/* "80", "8080-8087" or "any". */
static void cli_policy_ports(const struct policy4_key *key, char *buf, size_t len)
{
	uint32_t bits =
	    key->prefix_len > POLICY4_FIXED_BITS ? key->prefix_len - POLICY4_FIXED_BITS : 0;
	uint32_t low = ntohs(key->port), size = 1u << (16 - bits);

	if (!bits)
		snprintf(buf, len, "any");
	else if (bits == 16)
		snprintf(buf, len, "%u", low);
	else
		snprintf(buf, len, "%u-%u", low, low + size - 1);
}

static int cli_rule_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct cli_rule *)a)->key, &((const struct cli_rule *)b)->key,
		      sizeof(struct policy4_key));
}

int cli_policy_list(const struct cli_options *options, const char *endpoint)
{
	int ep_fd = -1, ipcache_fd = -1, policy_fd = -1, names_fd = -1, err = 0;
	struct json_object *root = NULL, *array = NULL;
	struct cli_rule *rules = NULL;
	size_t n_rules = 0, cap = 0, shown = 0;
	struct policy4_key key;
	struct policy4_value value;
	struct ep4_key ep_key;
	struct ep4_info info;
	struct map_walk walk;

	ep_fd = cli_policy_open(options, EP4_MAP);
	ipcache_fd = ep_fd < 0 ? -1 : cli_policy_open(options, IPCACHE4_MAP);
	policy_fd = ipcache_fd < 0 ? -1 : cli_policy_open(options, POLICY4_MAP);
	names_fd = policy_fd < 0 ? -1 : cli_policy_open(options, POLICY_NAMES_MAP);
	if (names_fd < 0) {
		err = -ENOENT;
		goto cleanup;
	}
	map_walk_start(&walk, policy_fd, sizeof(key), sizeof(value));
	while (map_walk_next(&walk, &key, &value)) {
		if (n_rules == cap) {
			struct cli_rule *grown;

			cap = cap ? cap * 2 : 256;
			grown = realloc(rules, cap * sizeof(*grown));
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			rules = grown;
		}
		rules[n_rules].key = key;
		rules[n_rules].value = value;
		n_rules++;
	}
	if (n_rules)
		qsort(rules, n_rules, sizeof(*rules), cli_rule_cmp);
	if (options->output == CLI_OUTPUT_JSON) {
		root = json_object_new_object();
		array = json_object_new_array();
		if (!root || !array || json_object_object_add(root, "endpoints", array)) {
			json_object_put(array);
			err = -ENOMEM;
			goto cleanup;
		}
	}
	map_walk_start(&walk, ep_fd, sizeof(ep_key), sizeof(info));
	while (!err && map_walk_next(&walk, &ep_key, &info)) {
		struct ipcache4_key lookup = {.prefix_len = 32};
		struct ipcache4_value identity = {.identity = IDENTITY_WORLD};
		struct json_object *obj = NULL, *list = NULL;
		char ip[INET_ADDRSTRLEN], name[POLICY_NAME_LEN];
		size_t r;

		info.name[sizeof(info.name) - 1] = '\0';
		inet_ntop(AF_INET, &ep_key.address, ip, sizeof(ip));
		if (endpoint && strcmp(endpoint, ip) && strcmp(endpoint, info.name))
			continue;
		shown++;
		lookup.address = ep_key.address;
		bpf_map_lookup_elem(ipcache_fd, &lookup, &identity);
		cli_policy_name(names_fd, identity.identity, name, sizeof(name));
		if (root) {
			obj = json_object_new_object();
			list = json_object_new_array();
			if (!obj || !list || json_object_array_add(array, obj)) {
				json_object_put(obj);
				json_object_put(list);
				err = -ENOMEM;
				break;
			}
			json_object_object_add(obj, "name", json_object_new_string(info.name));
			json_object_object_add(obj, "address", json_object_new_string(ip));
			json_object_object_add(obj, "identity",
					       json_object_new_int64(identity.identity));
			json_object_object_add(obj, "identity_name", json_object_new_string(name));
			json_object_object_add(
			    obj, "ingress_isolated",
			    json_object_new_boolean(identity.flags & IPCACHE_F_ISOLATED_INGRESS));
			json_object_object_add(
			    obj, "egress_isolated",
			    json_object_new_boolean(identity.flags & IPCACHE_F_ISOLATED_EGRESS));
			json_object_object_add(obj, "rules", list);
		} else {
			printf("%s %s: identity %u %s\n  ingress: %s; egress: %s\n",
			       info.name[0] ? info.name : "-", ip, identity.identity, name,
			       identity.flags & IPCACHE_F_ISOLATED_INGRESS
				   ? "isolated, allowed by the rules below"
				   : "not isolated (every source allowed)",
			       identity.flags & IPCACHE_F_ISOLATED_EGRESS
				   ? "isolated, allowed by the rules below"
				   : "not isolated (every destination allowed)");
		}
		for (r = 0; r < n_rules; r++) {
			const struct cli_rule *rule = &rules[r];
			char peer[POLICY_NAME_LEN], policy[POLICY_NAME_LEN], ports[24];
			const char *proto;
			bool is_ingress = rule->key.direction == POLICY_DIR_INGRESS;
			uint32_t flag =
			    is_ingress ? IPCACHE_F_ISOLATED_INGRESS : IPCACHE_F_ISOLATED_EGRESS;

			if (ntohl(rule->key.subject) != identity.identity ||
			    !(identity.flags & flag))
				continue;
			cli_policy_name(names_fd, ntohl(rule->key.peer), peer, sizeof(peer));
			cli_policy_name(names_fd, rule->value.policy, policy, sizeof(policy));
			cli_policy_ports(&rule->key, ports, sizeof(ports));
			/* A rule without ports admits every protocol (maps/policy.h). */
			proto = rule->key.prefix_len < POLICY4_FIXED_BITS
				    ? "any"
				    : ip_proto_name(rule->key.proto);
			if (!root) {
				printf("    %-7s %s %-40s %-4s %-11s (%s)\n",
				       is_ingress ? "ingress" : "egress",
				       is_ingress ? "from" : "to  ", peer, proto, ports, policy);
				continue;
			}
			struct json_object *item = json_object_new_object();

			if (!item || json_object_array_add(list, item)) {
				json_object_put(item);
				err = -ENOMEM;
				break;
			}
			json_object_object_add(
			    item, "direction",
			    json_object_new_string(is_ingress ? "ingress" : "egress"));
			json_object_object_add(item, "peer", json_object_new_string(peer));
			json_object_object_add(item, "peer_identity",
					       json_object_new_int64(ntohl(rule->key.peer)));
			json_object_object_add(item, "protocol", json_object_new_string(proto));
			json_object_object_add(item, "ports", json_object_new_string(ports));
			json_object_object_add(item, "policy", json_object_new_string(policy));
		}
	}
	if (!err && endpoint && !shown) {
		fprintf(stderr,
			"sluice: endpoint %s: not on this node (see sluice endpoint list)\n",
			endpoint);
		err = -ENOENT;
	}
	if (!err && root)
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
cleanup:
	json_object_put(root);
	free(rules);
	if (ep_fd >= 0)
		close(ep_fd);
	if (ipcache_fd >= 0)
		close(ipcache_fd);
	if (policy_fd >= 0)
		close(policy_fd);
	if (names_fd >= 0)
		close(names_fd);
	return err;
}
