// SPDX-License-Identifier: Apache-2.0
/* `sluice node list`: this node and the other nodes, their addresses and pod CIDRs. */
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <bpf/bpf.h>
#include <unistd.h>

#include "lib/bpffs.h"
#include "lib/log.h"
#include "lib/netlink.h"
#include "lib/node_ipam.h"
#include "loader/cli/cli_internal.h"
#include "maps/tunnel.h"

/*
 * How traffic to a peer's pods leaves this node: its pod CIDR in tunnel4 (to that node's
 * address), and the agent's kernel route to it (through the tunnel device, or via the node).
 */
struct cli_node_programmed {
	bool is_known; /* the peer has a pod CIDR to look up */
	bool has_tunnel;
	bool has_route;
	char route[48]; /* "dev sluice_vxlan", "via 198.51.100.2" or "" */
};

static void cli_node_programmed(int tunnel4_fd, const struct netlink_route4 *routes,
				size_t n_routes, const struct node_ipam_cidr *cidr, uint32_t ip,
				struct cli_node_programmed *out)
{
	struct tunnel4_key key = {0};
	struct tunnel4_value value;
	char name[IF_NAMESIZE], via[INET_ADDRSTRLEN];

	memset(out, 0, sizeof(*out));
	if (!cidr->is_set)
		return;
	out->is_known = true;
	key.prefix_len = cidr->prefix;
	key.address = cidr->address;
	/* An exact entry only: the LPM answer for a shorter prefix is not this node's. */
	out->has_tunnel = tunnel4_fd >= 0 && !bpf_map_lookup_elem(tunnel4_fd, &key, &value) &&
			  (value.flags & TUNNEL4_F_POD_CIDR) && value.node_address == ip;
	for (size_t i = 0; i < n_routes && !out->has_route; i++) {
		/* The cluster CIDR's unreachable route leads to no node. */
		if (routes[i].dst != cidr->address || routes[i].prefix_len != cidr->prefix ||
		    (routes[i].type && routes[i].type != RTN_UNICAST))
			continue;
		out->has_route = true;
		if (routes[i].gateway)
			snprintf(out->route, sizeof(out->route), "via %s",
				 inet_ntop(AF_INET, &routes[i].gateway, via, sizeof(via)));
		else
			snprintf(out->route, sizeof(out->route), "dev %s",
				 if_indextoname((unsigned int)routes[i].ifindex, name) ?: "?");
	}
}

static const char *cli_node_programmed_name(const struct cli_node_programmed *p)
{
	if (!p->is_known)
		return "-";
	if (p->has_tunnel && p->has_route)
		return "tunnel";
	if (p->has_route)
		return "route";
	return p->has_tunnel ? "tunnel, no route" : "no";
}

/* One row: name, address (network order), pod CIDR, state and why. */
static int cli_node_row(const struct cli_options *options, struct json_object *array,
			const char *name, uint32_t ip, const struct node_ipam_cidr *cidr,
			bool is_self, const char *state,
			const struct cli_node_programmed *programmed, const char *reason)
{
	char address[INET_ADDRSTRLEN] = "-", block[24] = "-";
	struct json_object *obj;

	if (ip)
		cli_ip(ip, address);
	if (cidr->is_set)
		node_ipam_cidr_str(cidr, block, sizeof(block));
	if (options->output != CLI_OUTPUT_JSON) {
		printf("%-24s %-4s %-16s %-19s %-12s %-11s %s\n", name, is_self ? "yes" : "",
		       address, block, state, is_self ? "-" : cli_node_programmed_name(programmed),
		       reason);
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
	    (!is_self &&
	     (cli_json_set(obj, "tunnel", json_object_new_boolean(programmed->has_tunnel)) ||
	      cli_json_set(obj, "route", json_object_new_boolean(programmed->has_route)) ||
	      json_object_object_add(
		  obj, "route_to",
		  programmed->has_route ? json_object_new_string(programmed->route) : NULL))) ||
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
	struct netlink_route4 *routes = NULL;
	struct cli_node_programmed programmed = {0};
	struct nl_sock *sock = NULL;
	size_t n = 0, n_routes = 0, i;
	int tunnel4_fd, err;

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
	/* Both read best effort: a CLI outside the node's network namespace sees no routes. */
	tunnel4_fd = bpffs_open_map(options->bpffs, TUNNEL4_MAP);
	if (!netlink_open(&sock) && netlink_routes_list(sock, &routes, &n_routes))
		n_routes = 0;
	netlink_close(sock);
	if (options->output == CLI_OUTPUT_JSON) {
		root = json_object_new_object();
		array = json_object_new_array();
		if (!root || !array || cli_json_set(root, "nodes", array)) {
			json_object_put(array);
			err = -ENOMEM;
			goto cleanup;
		}
	} else {
		printf("%-24s %-4s %-16s %-19s %-12s %-11s %s\n", "NODE", "SELF", "INTERNAL-IP",
		       "POD-CIDR", "STATE", "PROGRAMMED", "REASON");
	}
	err = cli_node_row(options, array, info.node, info.node_ip, &info.block, true,
			   info.block.is_set ? "ready" : "pods refused", &programmed, info.reason);
	for (i = 0; !err && i < n; i++) {
		cli_node_programmed(tunnel4_fd, routes, n_routes, &peers[i].peer.pod_cidr,
				    peers[i].peer.internal_ip, &programmed);
		err = cli_node_row(options, array, peers[i].name.name, peers[i].peer.internal_ip,
				   &peers[i].peer.pod_cidr, false,
				   node_ipam_peer_state_name(peers[i].peer.state), &programmed,
				   peers[i].peer.reason);
	}
	if (!err && root)
		err = cli_json_print(root);

cleanup:
	if (err == -ENOMEM)
		log_fail("node list: %s", strerror(-err));
	json_object_put(root);
	free(routes);
	if (tunnel4_fd >= 0)
		close(tunnel4_fd);
	free(peers);
	return err;
}
