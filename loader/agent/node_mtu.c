// SPDX-License-Identifier: Apache-2.0
/* The pod MTU: the underlay device's MTU less the encapsulation, read with libnl. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "lib/log.h"
#include "lib/node_ipam.h"
#include "loader/agent/node_mtu.h"
#include "maps/tunnel.h"

void node_mtu_choose(const struct node_mtu_link *uplink, const struct node_mtu_link *node_ip_link,
		     enum agent_routing routing, struct node_ipam_mtu *out)
{
	const struct node_mtu_link *link = NULL;

	memset(out, 0, sizeof(*out));
	if (uplink && uplink->name && uplink->mtu) {
		link = uplink;
		out->source = NODE_IPAM_MTU_SOURCE_UPLINK;
	} else if (node_ip_link && node_ip_link->name && node_ip_link->mtu) {
		link = node_ip_link;
		out->source = NODE_IPAM_MTU_SOURCE_NODE_IP;
	} else {
		out->source = NODE_IPAM_MTU_SOURCE_DEFAULT;
	}
	out->underlay_mtu = link ? link->mtu : NODE_IPAM_MTU_UNDERLAY_DEFAULT;
	if (link)
		snprintf(out->underlay, sizeof(out->underlay), "%s", link->name);
	/* Geneve without options, were it chosen, wraps in the same 50 bytes as VXLAN. */
	out->overhead = routing == AGENT_ROUTING_TUNNEL ? TUNNEL_VXLAN_OVERHEAD : 0;
	out->pod_mtu = node_ipam_pod_mtu(out->underlay_mtu, out->overhead);
}

/* The link by index (name NULL) or by name: its MTU and name into *link (name into buf). */
static int node_mtu_link_get(struct nl_sock *sock, int ifindex, const char *name, char *buf,
			     size_t size, struct node_mtu_link *link)
{
	struct rtnl_link *nl_link = NULL;
	int err = rtnl_link_get_kernel(sock, ifindex, name, &nl_link);

	if (err < 0)
		return err;
	snprintf(buf, size, "%s", rtnl_link_get_name(nl_link));
	link->name = buf;
	link->mtu = rtnl_link_get_mtu(nl_link);
	rtnl_link_put(nl_link);
	return 0;
}

/* The index of the device holding node_ip as a local address, or 0. */
static int node_mtu_address_ifindex(struct nl_sock *sock, __be32 node_ip)
{
	struct nl_cache *cache = NULL;
	struct nl_object *object;
	int ifindex = 0;

	if (rtnl_addr_alloc_cache(sock, &cache) < 0)
		return 0;
	for (object = nl_cache_get_first(cache); object && !ifindex;
	     object = nl_cache_get_next(object)) {
		struct rtnl_addr *addr = (struct rtnl_addr *)object;
		struct nl_addr *local = rtnl_addr_get_local(addr);

		if (rtnl_addr_get_family(addr) == AF_INET && local &&
		    nl_addr_get_len(local) == sizeof(node_ip) &&
		    !memcmp(nl_addr_get_binary_addr(local), &node_ip, sizeof(node_ip)))
			ifindex = rtnl_addr_get_ifindex(addr);
	}
	nl_cache_free(cache);
	return ifindex;
}

int node_mtu_read(const struct agent_config *config, __be32 node_ip, struct node_ipam_mtu *out)
{
	struct node_mtu_link uplink = {0}, node_ip_link = {0};
	char uplink_name[IFNAMSIZ], node_ip_name[IFNAMSIZ], ip[INET_ADDRSTRLEN];
	struct nl_sock *sock = nl_socket_alloc();
	int ifindex, err;

	if (!sock)
		return -ENOMEM;
	err = nl_connect(sock, NETLINK_ROUTE);
	if (err < 0) {
		log_warn("pod MTU: netlink: %s", nl_geterror(err));
		nl_socket_free(sock);
		return -EIO;
	}
	if (config->uplink) {
		err = node_mtu_link_get(sock, 0, config->uplink, uplink_name, sizeof(uplink_name),
					&uplink);
		if (err < 0)
			log_warn("pod MTU: --uplink %s: %s", config->uplink, nl_geterror(err));
	}
	if (!uplink.mtu && node_ip && (ifindex = node_mtu_address_ifindex(sock, node_ip)) > 0) {
		err = node_mtu_link_get(sock, ifindex, NULL, node_ip_name, sizeof(node_ip_name),
					&node_ip_link);
		if (err < 0)
			log_warn("pod MTU: device %d holding %s: %s", ifindex,
				 inet_ntop(AF_INET, &node_ip, ip, sizeof(ip)), nl_geterror(err));
	}
	nl_socket_free(sock);
	node_mtu_choose(&uplink, &node_ip_link, config->routing, out);
	return 0;
}
