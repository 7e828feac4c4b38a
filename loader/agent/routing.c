// SPDX-License-Identifier: Apache-2.0
/* Routing between nodes: the tunnel device, tunnel4 and the kernel routes to other nodes' pods. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/bpffs.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "lib/netlink.h"
#include "lib/node_ipam.h"
#include "loader/agent/routing.h"
#include "loader/sync/tunnel_sync.h"
#include "maps/tunnel.h"

struct routing {
	const struct agent_config *config;
	struct nl_sock *sock;
	int tunnel4_fd;	 /* opened at the first update, once the datapath made it */
	int device_fd;	 /* tunnel_dev, the same way */
	bool is_pending; /* no update yet, or the last one failed */
	char state[256]; /* the device's state as last logged, to log a change once */
};

static bool routing_is_tunnel(const struct routing *routing)
{
	return routing->config->routing == AGENT_ROUTING_TUNNEL;
}

int routing_start(const struct agent_config *config, struct datapath_opts *dp_opts,
		  struct routing **out)
{
	struct routing *routing;
	bool is_deleted;
	int err;

	*out = NULL;
	dp_opts->tunnel_ifindex = 0;
	if (config->routing == AGENT_ROUTING_TUNNEL && config->tunnel == AGENT_TUNNEL_GENEVE) {
		log_error("--tunnel geneve: not supported by this build; use --tunnel vxlan (the "
			  "default) or --routing native");
		return -EOPNOTSUPP;
	}
	routing = calloc(1, sizeof(*routing));
	if (!routing)
		return -ENOMEM;
	routing->config = config;
	routing->tunnel4_fd = -1;
	routing->device_fd = -1;
	routing->is_pending = true;
	err = netlink_open(&routing->sock);
	if (err) {
		log_error("routing: route socket: %s", strerror(-err));
		free(routing);
		return err;
	}
	if (routing_is_tunnel(routing)) {
		dp_opts->tunnel_ifindex = if_nametoindex(TUNNEL_DEVICE_NAME);
	} else {
		err = netlink_link_delete(routing->sock, TUNNEL_DEVICE_NAME, &is_deleted);
		if (err)
			log_warn("--routing native: remove %s: %s", TUNNEL_DEVICE_NAME,
				 strerror(-err));
		else if (is_deleted)
			log_info("--routing native: %s left by tunnel routing removed, with its "
				 "routes",
				 TUNNEL_DEVICE_NAME);
	}
	*out = routing;
	return 0;
}

/* Log STATE when it is not the one logged last. */
static void routing_note(struct routing *routing, bool is_warning, const char *state)
{
	if (!strcmp(routing->state, state))
		return;
	snprintf(routing->state, sizeof(routing->state), "%s", state);
	if (is_warning)
		log_warn("%s", state);
	else
		log_info("%s", state);
}

/*
 * No IPv6 on the tunnel device: its link-local address would send router solicitations and MLD
 * reports into the tunnel, which tc_tunnel_egress drops and counts as "tunnel frame not IPv4",
 * a drop counter an operator should not see move for nothing. Without IPv6 in the kernel there
 * is nothing to turn off.
 */
static void routing_disable_ipv6(const char *device)
{
	char path[128];
	bool is_failed;
	FILE *file;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", device);
	file = fopen(path, "w");
	if (!file) {
		if (errno != ENOENT)
			log_warn("%s: %s", path, strerror(errno));
		return;
	}
	is_failed = fputs("1\n", file) < 0;
	if (fclose(file) || is_failed)
		log_warn("%s: %s", path, strerror(errno));
}

/*
 * The tunnel device for this node's address NODE_IP: made to exist with the underlay's MTU less
 * the encapsulation, and the tunnel programs attached when its ifindex is not the one they were
 * attached to. *ifindex is 0 when there is no tunnel (logged why). Returns 0 or -errno.
 */
static int routing_device(struct routing *routing, uint32_t node_ip, struct datapath_opts *dp_opts,
			  struct datapath_result *dp, int *ifindex)
{
	char ip[INET_ADDRSTRLEN], underlay[IF_NAMESIZE], msg[256];
	struct netlink_vxlan want = {.name = TUNNEL_DEVICE_NAME, .port = TUNNEL_VXLAN_PORT};
	unsigned int mtu = 0;
	int underlay_ifindex = 0, err;
	bool is_created;
	const char *why;

	*ifindex = 0;
	if (!node_ip) {
		snprintf(msg, sizeof(msg),
			 "no tunnel: node %s has no address (no InternalIP in its Node object, no "
			 "--node-ip); other nodes' pods are unreachable from here",
			 routing->config->node);
		routing_note(routing, true, msg);
		return 0;
	}
	inet_ntop(AF_INET, &node_ip, ip, sizeof(ip));
	err = netlink_link_by_address(routing->sock, node_ip, &underlay_ifindex, underlay,
				      sizeof(underlay), &mtu);
	if (err || mtu <= TUNNEL_VXLAN_OVERHEAD + 68) {
		snprintf(msg, sizeof(msg),
			 "no tunnel: node address %s is on no device of this node (%s); other "
			 "nodes' pods are unreachable from here",
			 ip, err ? strerror(-err) : "MTU too small");
		routing_note(routing, true, msg);
		return 0;
	}
	want.mtu = mtu - TUNNEL_VXLAN_OVERHEAD;
	/*
	 * One MAC per node, locally administered, from its address: 02:73 then the four bytes of
	 * NODE_IP. Not one MAC for every node: the kernel's VXLAN receive path drops a frame whose
	 * source MAC is the receiving device's own as a loop (vxlan_set_mac()), and a NOARP device
	 * sends every frame from, and to, its own address. What arrives is therefore addressed to
	 * the sending node's device; tc_tunnel_ingress marks it for this host.
	 */
	want.mac[0] = 0x02;
	want.mac[1] = 0x73;
	memcpy(&want.mac[2], &node_ip, sizeof(node_ip));
	err = netlink_vxlan_ensure(routing->sock, &want, ifindex, &is_created, &why);
	if (err) {
		log_error("tunnel device %s: %s: %s", TUNNEL_DEVICE_NAME, why, strerror(-err));
		*ifindex = 0;
		return err;
	}
	routing_disable_ipv6(TUNNEL_DEVICE_NAME);
	snprintf(msg, sizeof(msg),
		 "tunnel: %s (VXLAN, external, UDP %u, MTU %u = %s's %u less %u) from %s, ifindex "
		 "%d",
		 TUNNEL_DEVICE_NAME, TUNNEL_VXLAN_PORT, want.mtu, underlay, mtu,
		 TUNNEL_VXLAN_OVERHEAD, ip, *ifindex);
	routing_note(routing, false, msg);
	if (!is_created && dp_opts->tunnel_ifindex == (uint32_t)*ifindex)
		return 0;
	/*
	 * A new device: the tunnel programs are loaded again and attached to it. Only them: tc_pod
	 * finds the device in tunnel_dev (routing_update writes it), so reloading every object
	 * (twice the start-up time) buys nothing.
	 */
	dp_opts->tunnel_ifindex = (uint32_t)*ifindex;
	err = datapath_load_tunnel(dp_opts, dp);
	if (err) {
		log_error("tunnel device %s: attach its programs: %s", TUNNEL_DEVICE_NAME,
			  strerror(-err));
		return err;
	}
	log_info("tunnel: %s %s, tc_tunnel attached", TUNNEL_DEVICE_NAME,
		 is_created ? "created" : "adopted");
	return 0;
}

/* A ready peer: an address and an accepted pod CIDR to route to. */
static bool routing_peer_is_ready(const struct node_ipam_peer *peer)
{
	return peer->state == NODE_IPAM_PEER_READY && peer->internal_ip && peer->pod_cidr.is_set;
}

/* tunnel4 for PEERS: each ready node's pod CIDR and address. WANT holds 2 * n. */
static size_t routing_tunnel_entries(const struct node_ipam_peer_entry *peers, size_t n,
				     struct tunnel_sync_entry *want)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		const struct node_ipam_peer *peer = &peers[i].peer;

		if (!routing_peer_is_ready(peer))
			continue;
		if (count + 2 > TUNNEL_MAX_ENTRIES) {
			log_warn(
			    "%s: full at %d entries (2 per node): node %s and later ones are not "
			    "reachable through the tunnel",
			    TUNNEL4_MAP, TUNNEL_MAX_ENTRIES, peers[i].name.name);
			break;
		}
		memset(&want[count], 0, sizeof(want[count]));
		want[count].key.prefix_len = peer->pod_cidr.prefix;
		want[count].key.address = peer->pod_cidr.address;
		want[count].value.node_address = peer->internal_ip;
		want[count].value.flags = TUNNEL4_F_POD_CIDR;
		count++;
		memset(&want[count], 0, sizeof(want[count]));
		want[count].key.prefix_len = 32;
		want[count].key.address = peer->internal_ip;
		want[count].value.node_address = peer->internal_ip;
		want[count].value.flags = TUNNEL4_F_NODE;
		count++;
	}
	return count;
}

/* RTN_UNICAST for 0, as netlink_route4 reads it. */
static uint8_t routing_route_type(const struct netlink_route4 *r)
{
	return r->type ? r->type : RTN_UNICAST;
}

static bool routing_route_equal(const struct netlink_route4 *a, const struct netlink_route4 *b)
{
	return a->dst == b->dst && a->prefix_len == b->prefix_len &&
	       routing_route_type(a) == routing_route_type(b) &&
	       (!b->ifindex || a->ifindex == b->ifindex) && a->gateway == b->gateway &&
	       a->source == b->source;
}

/*
 * Make our routes exactly WANT (n): missing or different ones replaced, the others deleted.
 * *added and *removed count the changes. Returns 0 or the first -errno (the rest still done).
 */
static int routing_routes(struct routing *routing, const struct netlink_route4 *want, size_t n,
			  unsigned int *added, unsigned int *removed)
{
	struct netlink_route4 *held = NULL;
	char cidr[CIDR4_STR_LEN];
	size_t n_held = 0, i, j;
	int err, ret;

	err = netlink_routes_list(routing->sock, &held, &n_held);
	if (err) {
		log_error("routes: list: %s", strerror(-err));
		return err;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < n_held && !routing_route_equal(&held[j], &want[i]); j++)
			;
		if (j < n_held)
			continue;
		ret = netlink_route_replace(routing->sock, &want[i]);
		if (ret) {
			struct cidr4 c = {.address = want[i].dst, .prefix_len = want[i].prefix_len};

			log_warn("route %s: %s", cidr4_str(&c, cidr, sizeof(cidr)), strerror(-ret));
			err = err ?: ret;
			continue;
		}
		(*added)++;
	}
	for (j = 0; j < n_held; j++) {
		for (i = 0; i < n && (want[i].dst != held[j].dst ||
				      want[i].prefix_len != held[j].prefix_len);
		     i++)
			;
		if (i < n)
			continue;
		ret = netlink_route_delete(routing->sock, &held[j]);
		if (ret) {
			struct cidr4 c = {.address = held[j].dst, .prefix_len = held[j].prefix_len};

			log_warn("delete route %s: %s", cidr4_str(&c, cidr, sizeof(cidr)),
				 strerror(-ret));
			err = err ?: ret;
			continue;
		}
		(*removed)++;
	}
	free(held);
	return err;
}

/*
 * One unreachable route per --cluster-cidr after the N routes in ROUTES (room for
 * NODE_IPAM_CIDRS_MAX more): the nodes' pod CIDRs are longer prefixes and win, this node's pods
 * have their /32 routes, and what is left of the cluster CIDR (a removed node's pod CIDR, an
 * unassigned one) fails at once with EHOSTUNREACH (an ICMP host unreachable to a pod) instead of
 * following the default route out of the uplink with a pod's address. Skipped where a node's pod
 * CIDR is the whole cluster CIDR (one route per destination). Returns the new count.
 */
static size_t routing_unreachable_routes(const struct routing *routing,
					 struct netlink_route4 *routes, size_t n)
{
	size_t count = n, i, j;

	for (i = 0; i < NODE_IPAM_CIDRS_MAX && routing->config->cluster_cidr[i].is_set; i++) {
		const struct node_ipam_cidr *cluster = &routing->config->cluster_cidr[i];

		for (j = 0; j < n && (routes[j].dst != cluster->address ||
				      routes[j].prefix_len != cluster->prefix);
		     j++)
			;
		if (j < n)
			continue;
		memset(&routes[count], 0, sizeof(routes[count]));
		routes[count].dst = cluster->address;
		routes[count].prefix_len = cluster->prefix;
		routes[count].type = RTN_UNREACHABLE;
		count++;
	}
	return count;
}

int routing_update(struct routing *routing, struct datapath_opts *dp_opts,
		   struct datapath_result *dp)
{
	const char *bpffs = routing->config->bpffs;
	struct node_ipam_peer_entry *peers = NULL;
	struct tunnel_sync_entry *entries = NULL;
	struct netlink_route4 *routes = NULL;
	struct tunnel_sync_counts counts = {0};
	struct node_ipam_info info;
	unsigned int added = 0, removed = 0;
	size_t n_peers = 0, n_entries = 0, n_routes = 0, n_nodes = 0;
	int ifindex = 0, err;

	routing->is_pending = true;
	err = node_ipam_read(bpffs, &info);
	if (!err)
		err = node_ipam_peers_read(bpffs, &peers, &n_peers);
	if (err == -ENOENT)
		err = 0;
	if (err) {
		log_error("routing: read the node addressing under %s: %s", bpffs, strerror(-err));
		return err;
	}
	if (routing->tunnel4_fd < 0) {
		routing->tunnel4_fd = bpffs_open_map(bpffs, TUNNEL4_MAP);
		if (routing->tunnel4_fd < 0) {
			err = routing->tunnel4_fd;
			log_error("%s/%s: %s", bpffs, TUNNEL4_MAP, strerror(-err));
			goto cleanup;
		}
	}
	if (routing->device_fd < 0) {
		routing->device_fd = bpffs_open_map(bpffs, TUNNEL_DEVICE_MAP);
		if (routing->device_fd < 0) {
			err = routing->device_fd;
			log_error("%s/%s: %s", bpffs, TUNNEL_DEVICE_MAP, strerror(-err));
			goto cleanup;
		}
	}
	if (routing_is_tunnel(routing)) {
		err = routing_device(routing, info.node_ip, dp_opts, dp, &ifindex);
		if (err)
			goto cleanup;
	}
	/* tc_pod redirects into the device it names from now on; 0 (native, no device): none. */
	err = tunnel_sync_device(routing->device_fd, (uint32_t)ifindex);
	if (err) {
		log_error("%s/%s: write ifindex %d: %s", bpffs, TUNNEL_DEVICE_MAP, ifindex,
			  strerror(-err));
		goto cleanup;
	}
	entries = calloc(2 * n_peers + 1, sizeof(*entries));
	routes = calloc(n_peers + NODE_IPAM_CIDRS_MAX, sizeof(*routes));
	if (!entries || !routes) {
		err = -ENOMEM;
		log_error("routing: %s", strerror(-err));
		goto cleanup;
	}
	/* Under tunnel without a device nothing is routed: tunnel4 and the routes empty. */
	if (ifindex)
		n_entries = routing_tunnel_entries(peers, n_peers, entries);
	for (size_t i = 0; i < n_peers; i++) {
		const struct node_ipam_peer *peer = &peers[i].peer;
		struct netlink_route4 *r = &routes[n_routes];

		if (!routing_peer_is_ready(peer) || (routing_is_tunnel(routing) && !ifindex))
			continue;
		r->dst = peer->pod_cidr.address;
		r->prefix_len = peer->pod_cidr.prefix;
		if (routing_is_tunnel(routing)) {
			r->ifindex = ifindex;
			r->source = info.node_ip; /* the node's own packets leave as the node */
		} else {
			r->gateway = peer->internal_ip;
		}
		n_routes++;
	}
	n_nodes = n_routes;
	n_routes = routing_unreachable_routes(routing, routes, n_routes);
	/* New entries before their routes, stale ones after theirs went: no packet routed to the
	 * device finds no entry. */
	err = tunnel_sync_write(routing->tunnel4_fd, entries, n_entries, &counts);
	err = routing_routes(routing, routes, n_routes, &added, &removed) ?: err;
	err = tunnel_sync_prune(routing->tunnel4_fd, entries, n_entries, &counts) ?: err;
	if (added || removed || counts.written || counts.deleted || counts.failed)
		log_info("routing (%s): %zu nodes routed, the rest of the cluster CIDR "
			 "unreachable (%zu routes); routes %u added, %u removed; %s %u written, %u "
			 "deleted%s",
			 routing_is_tunnel(routing) ? "tunnel" : "native", n_nodes,
			 n_routes - n_nodes, added, removed, TUNNEL4_MAP, counts.written,
			 counts.deleted,
			 err ? "; some failed (see above), retried at the next sync" : "");

cleanup:
	routing->is_pending = err != 0;
	free(routes);
	free(entries);
	free(peers);
	return err;
}

bool routing_is_pending(const struct routing *routing)
{
	return routing && routing->is_pending;
}

void routing_free(struct routing *routing)
{
	if (!routing)
		return;
	if (routing->tunnel4_fd >= 0)
		close(routing->tunnel4_fd);
	if (routing->device_fd >= 0)
		close(routing->device_fd);
	netlink_close(routing->sock);
	free(routing);
}
