// SPDX-License-Identifier: Apache-2.0
/* `sluice node list`: this node and the other nodes, their addresses and pod CIDRs. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "lib/log.h"
#include "lib/node_ipam.h"
#include "loader/cli/cli_internal.h"

/* One row: name, address (network order), pod CIDR, state and why. */
static int cli_node_row(const struct cli_options *options, struct json_object *array,
			const char *name, uint32_t ip, const struct node_ipam_cidr *cidr,
			bool is_self, const char *state, const char *reason)
{
	char address[INET_ADDRSTRLEN] = "-", block[24] = "-";
	struct json_object *obj;

	if (ip)
		cli_ip(ip, address);
	if (cidr->is_set)
		node_ipam_cidr_str(cidr, block, sizeof(block));
	if (options->output != CLI_OUTPUT_JSON) {
		printf("%-24s %-4s %-16s %-19s %-12s %s\n", name, is_self ? "yes" : "", address,
		       block, state, reason);
		return 0;
	}
	obj = json_object_new_object();
	/* null when unknown: cli_json_set takes NULL for a failed allocation. */
	if (!obj || cli_json_set(obj, "name", json_object_new_string(name)) ||
	    cli_json_set(obj, "self", json_object_new_boolean(is_self)) ||
	    json_object_object_add(obj, "internal_ip",
				   ip ? json_object_new_string(address) : NULL) ||
	    json_object_object_add(obj, "pod_cidr",
				   cidr->is_set ? json_object_new_string(block) : NULL) ||
	    cli_json_set(obj, "state", json_object_new_string(state)) ||
	    cli_json_set(obj, "reason", json_object_new_string(reason)) ||
	    cli_json_append(array, obj)) {
		json_object_put(obj);
		return -ENOMEM;
	}
	return 0;
}

int cli_node_list(const struct cli_options *options)
{
	struct node_ipam_peer_entry *peers = NULL;
	struct json_object *root = NULL, *array = NULL;
	struct node_ipam_info info;
	size_t n = 0, i;
	int err;

	err = cli_check_layout(options);
	if (err)
		return err;
	err = node_ipam_read(options->bpffs, &info);
	if (err) {
		log_fail("%s/%s: %s (is the agent running with --bpffs %s?)", options->bpffs,
			 NODE_IPAM_MAP, strerror(-err), options->bpffs);
		return err;
	}
	err = node_ipam_peers_read(options->bpffs, &peers, &n);
	if (err && err != -ENOENT) {
		log_fail("%s/%s: %s", options->bpffs, NODE_IPAM_PEERS_MAP, strerror(-err));
		return err;
	}
	if (options->output == CLI_OUTPUT_JSON) {
		root = json_object_new_object();
		array = json_object_new_array();
		if (!root || !array || cli_json_set(root, "nodes", array)) {
			json_object_put(array);
			err = -ENOMEM;
			goto cleanup;
		}
	} else {
		printf("%-24s %-4s %-16s %-19s %-12s %s\n", "NODE", "SELF", "INTERNAL-IP",
		       "POD-CIDR", "STATE", "REASON");
	}
	err = cli_node_row(options, array, info.node, info.node_ip, &info.block, true,
			   info.block.is_set ? "ready" : "pods refused", info.reason);
	for (i = 0; !err && i < n; i++)
		err = cli_node_row(options, array, peers[i].name.name, peers[i].peer.internal_ip,
				   &peers[i].peer.pod_cidr, false,
				   node_ipam_peer_state_name(peers[i].peer.state),
				   peers[i].peer.reason);
	if (!err && root)
		err = cli_json_print(root);

cleanup:
	if (err == -ENOMEM)
		log_fail("node list: %s", strerror(-err));
	json_object_put(root);
	free(peers);
	return err;
}
