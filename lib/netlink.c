// SPDX-License-Identifier: Apache-2.0
/* Links and routes through libnl-route-3: errno mapping, the tunnel device, the agent's routes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/route.h>

#include "lib/netlink.h"

int netlink_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case 0:
		return 0;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		return -ENODEV;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	default:
		return -EIO;
	}
}

int netlink_open(struct nl_sock **sock)
{
	int err;

	*sock = nl_socket_alloc();
	if (!*sock)
		return -ENOMEM;
	err = nl_connect(*sock, NETLINK_ROUTE);
	if (err) {
		nl_socket_free(*sock);
		*sock = NULL;
		return netlink_errno(err);
	}
	return 0;
}

void netlink_close(struct nl_sock *sock)
{
	if (sock)
		nl_socket_free(sock);
}

int netlink_link_by_address(struct nl_sock *sock, uint32_t address, int *ifindex, char *name,
			    size_t name_len, unsigned int *mtu)
{
	struct nl_cache *cache = NULL;
	struct rtnl_link *link = NULL;
	struct nl_object *obj;
	int err, found = 0;

	err = netlink_errno(rtnl_addr_alloc_cache(sock, &cache));
	if (err)
		return err;
	for (obj = nl_cache_get_first(cache); obj && !found; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *addr = (struct rtnl_addr *)obj;
		struct nl_addr *local = rtnl_addr_get_local(addr);

		if (rtnl_addr_get_family(addr) == AF_INET && local &&
		    nl_addr_get_len(local) == sizeof(address) &&
		    !memcmp(nl_addr_get_binary_addr(local), &address, sizeof(address)))
			found = rtnl_addr_get_ifindex(addr);
	}
	nl_cache_free(cache);
	if (!found)
		return -ENODEV;
	err = netlink_errno(rtnl_link_get_kernel(sock, found, NULL, &link));
	if (err)
		return err;
	*ifindex = found;
	*mtu = rtnl_link_get_mtu(link);
	snprintf(name, name_len, "%s", rtnl_link_get_name(link) ?: "?");
	rtnl_link_put(link);
	return 0;
}

/* LINK (read from the kernel) is the device WANT describes. */
static bool netlink_vxlan_matches(struct rtnl_link *link, const struct netlink_vxlan *want)
{
	const char *type = rtnl_link_get_type(link);
	struct nl_addr *addr = rtnl_link_get_addr(link);
	uint32_t port = 0;

	return type && !strcmp(type, "vxlan") && rtnl_link_vxlan_get_collect_metadata(link) == 1 &&
	       !rtnl_link_vxlan_get_port(link, &port) && port == want->port &&
	       rtnl_link_vxlan_get_learning(link) == 0 && rtnl_link_get_mtu(link) == want->mtu &&
	       (rtnl_link_get_flags(link) & IFF_NOARP) && addr && nl_addr_get_len(addr) == 6 &&
	       !memcmp(nl_addr_get_binary_addr(addr), want->mac, 6);
}

static int netlink_vxlan_create(struct nl_sock *sock, const struct netlink_vxlan *want)
{
	struct rtnl_link *link = rtnl_link_vxlan_alloc();
	struct nl_addr *addr = nl_addr_build(AF_LLC, want->mac, sizeof(want->mac));
	int err = -ENOMEM;

	if (!link || !addr)
		goto cleanup;
	rtnl_link_set_name(link, want->name);
	rtnl_link_set_mtu(link, want->mtu);
	rtnl_link_set_addr(link, addr);
	rtnl_link_set_flags(link, IFF_NOARP | IFF_UP);
	err = netlink_errno(rtnl_link_vxlan_set_collect_metadata(link, 1));
	err = err ?: netlink_errno(rtnl_link_vxlan_set_port(link, want->port));
	err = err ?: netlink_errno(rtnl_link_vxlan_disable_learning(link));
	err = err ?: netlink_errno(rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL));

cleanup:
	nl_addr_put(addr);
	rtnl_link_put(link);
	return err;
}

int netlink_link_delete(struct nl_sock *sock, const char *name, bool *is_deleted)
{
	struct rtnl_link *link = rtnl_link_alloc();
	int err;

	*is_deleted = false;
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, name);
	err = netlink_errno(rtnl_link_delete(sock, link));
	rtnl_link_put(link);
	if (err == -ENODEV)
		return 0;
	*is_deleted = !err;
	return err;
}

int netlink_link_up(struct nl_sock *sock, struct rtnl_link *link)
{
	struct rtnl_link *change = rtnl_link_alloc();
	int err;

	if (!change)
		return -ENOMEM;
	rtnl_link_set_flags(change, IFF_UP);
	err = netlink_errno(rtnl_link_change(sock, link, change, 0));
	rtnl_link_put(change);
	return err;
}

int netlink_vxlan_ensure(struct nl_sock *sock, const struct netlink_vxlan *want, int *ifindex,
			 bool *is_created, const char **why)
{
	struct rtnl_link *link = NULL;
	bool is_deleted;
	int err;

	*is_created = false;
	*why = "read";
	err = netlink_errno(rtnl_link_get_kernel(sock, 0, want->name, &link));
	if (err && err != -ENODEV)
		return err;
	if (link && !netlink_vxlan_matches(link, want)) {
		/* Another port, MTU or mode (an older agent's, or another tool's): made again. */
		rtnl_link_put(link);
		link = NULL;
		*why = "delete the device of other settings";
		err = netlink_link_delete(sock, want->name, &is_deleted);
		if (err)
			return err;
	}
	if (!link) {
		*why = "create";
		err = netlink_vxlan_create(sock, want);
		if (err)
			return err;
		*is_created = true;
		*why = "read back";
		err = netlink_errno(rtnl_link_get_kernel(sock, 0, want->name, &link));
		if (err)
			return err;
	}
	*ifindex = rtnl_link_get_ifindex(link);
	if (!(rtnl_link_get_flags(link) & IFF_UP)) {
		*why = "set up";
		err = netlink_link_up(sock, link);
	}
	rtnl_link_put(link);
	return err;
}

int netlink_routes_list(struct nl_sock *sock, struct netlink_route4 **out, size_t *n)
{
	struct nl_cache *cache = NULL;
	struct netlink_route4 *routes = NULL, *grown;
	struct nl_object *obj;
	size_t count = 0, cap = 0;
	int err;

	*out = NULL;
	*n = 0;
	err = netlink_errno(rtnl_route_alloc_cache(sock, AF_INET, 0, &cache));
	if (err)
		return err;
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_route *route = (struct rtnl_route *)obj;
		struct nl_addr *dst = rtnl_route_get_dst(route), *gw, *src;
		struct rtnl_nexthop *nh;
		struct netlink_route4 *r;

		if (rtnl_route_get_table(route) != RT_TABLE_MAIN ||
		    rtnl_route_get_protocol(route) != NETLINK_RT_PROTOCOL || !dst ||
		    nl_addr_get_len(dst) != 4)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(routes, cap * sizeof(*routes));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			routes = grown;
		}
		r = &routes[count++];
		memset(r, 0, sizeof(*r));
		memcpy(&r->dst, nl_addr_get_binary_addr(dst), 4);
		r->prefix_len = (uint8_t)nl_addr_get_prefixlen(dst);
		r->type = rtnl_route_get_type(route);
		src = rtnl_route_get_pref_src(route);
		if (src && nl_addr_get_len(src) == 4)
			memcpy(&r->source, nl_addr_get_binary_addr(src), 4);
		if (r->type != RTN_UNICAST || rtnl_route_get_nnexthops(route) < 1)
			continue;
		nh = rtnl_route_nexthop_n(route, 0);
		r->ifindex = rtnl_route_nh_get_ifindex(nh);
		gw = rtnl_route_nh_get_gateway(nh);
		if (gw && nl_addr_get_len(gw) == 4)
			memcpy(&r->gateway, nl_addr_get_binary_addr(gw), 4);
	}
	nl_cache_free(cache);
	if (err) {
		free(routes);
		return err;
	}
	*out = routes;
	*n = count;
	return 0;
}

/*
 * A route object for R with our table, protocol and type; NULL when out of memory. A deletion
 * needs no next hop, but its type: the kernel deletes only a route of the type asked.
 */
static struct rtnl_route *netlink_route_build(const struct netlink_route4 *r, bool with_nexthop)
{
	uint8_t type = r->type ? r->type : RTN_UNICAST;
	struct rtnl_route *route = rtnl_route_alloc();
	struct nl_addr *dst = nl_addr_build(AF_INET, &r->dst, 4), *gw = NULL, *src = NULL;
	struct rtnl_nexthop *nh = NULL;
	bool is_ok = route && dst;

	if (is_ok) {
		nl_addr_set_prefixlen(dst, r->prefix_len);
		rtnl_route_set_family(route, AF_INET);
		rtnl_route_set_table(route, RT_TABLE_MAIN);
		rtnl_route_set_protocol(route, NETLINK_RT_PROTOCOL);
		rtnl_route_set_type(route, type);
		is_ok = !rtnl_route_set_dst(route, dst);
	}
	/* Unreachable: no next hop; the scope iproute2 gives it too. */
	if (is_ok && with_nexthop && type != RTN_UNICAST)
		rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
	if (is_ok && with_nexthop && type == RTN_UNICAST) {
		rtnl_route_set_scope(route, r->gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
		if (r->source) {
			src = nl_addr_build(AF_INET, &r->source, 4);
			is_ok = src && !rtnl_route_set_pref_src(route, src);
		}
		nh = rtnl_route_nh_alloc();
		is_ok = is_ok && nh;
		if (is_ok && r->gateway) {
			gw = nl_addr_build(AF_INET, &r->gateway, 4);
			is_ok = gw != NULL;
			if (gw)
				rtnl_route_nh_set_gateway(nh, gw);
		}
		if (is_ok) {
			if (r->ifindex)
				rtnl_route_nh_set_ifindex(nh, r->ifindex);
			rtnl_route_add_nexthop(route, nh);
			nh = NULL;
		}
	}
	if (nh)
		rtnl_route_nh_free(nh);
	nl_addr_put(dst);
	nl_addr_put(gw);
	nl_addr_put(src);
	if (!is_ok) {
		rtnl_route_put(route);
		return NULL;
	}
	return route;
}

int netlink_route_replace(struct nl_sock *sock, const struct netlink_route4 *r)
{
	struct rtnl_route *route = netlink_route_build(r, true);
	int err;

	if (!route)
		return -ENOMEM;
	err = netlink_errno(rtnl_route_add(sock, route, NLM_F_CREATE | NLM_F_REPLACE));
	rtnl_route_put(route);
	return err;
}

int netlink_route_delete(struct nl_sock *sock, const struct netlink_route4 *r)
{
	struct rtnl_route *route = netlink_route_build(r, false);
	int err;

	if (!route)
		return -ENOMEM;
	rtnl_route_set_scope(route, RT_SCOPE_NOWHERE); /* any scope */
	err = netlink_errno(rtnl_route_delete(sock, route, 0));
	rtnl_route_put(route);
	return err == -ENODEV || err == -ESRCH ? 0 : err;
}
