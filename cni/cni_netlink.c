// SPDX-License-Identifier: Apache-2.0
/* sluice-cni netlink (libnl-route-3): veth pair, addresses, routes, gateway device, sysctls. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "cni/cni_netlink.h"
#include "lib/netlink.h"

int cni_nl_open(struct nl_sock **sock)
{
	return netlink_open(sock);
}

void cni_nl_close(struct nl_sock *sock)
{
	netlink_close(sock);
}

int cni_nl_open_netns(const char *netns_path, int *ns_fd, struct nl_sock **sock)
{
	int self_fd = -1, err;

	*sock = NULL;
	*ns_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (*ns_fd < 0)
		return -errno;
	/* A path to anything but a network namespace is the caller's mistake, not an I/O error. */
	if (ioctl(*ns_fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		err = -EINVAL;
		goto fail;
	}
	self_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self_fd < 0) {
		err = -errno;
		goto fail;
	}
	if (setns(*ns_fd, CLONE_NEWNET)) {
		err = -errno;
		goto fail;
	}
	err = cni_nl_open(sock);
	if (setns(self_fd, CLONE_NEWNET)) {
		/* Continuing would wire the node from inside the pod: stop here. */
		perror("sluice-cni: return to the node network namespace");
		_exit(1);
	}
	if (err)
		goto fail;
	close(self_fd);
	return 0;

fail:
	if (self_fd >= 0)
		close(self_fd);
	close(*ns_fd);
	*ns_fd = -1;
	return err;
}

int cni_veth_create(struct nl_sock *sock, const char *host, const char *peer, int peer_ns_fd,
		    unsigned int mtu)
{
	struct rtnl_link *link, *peer_link;
	int err;

	link = rtnl_link_veth_alloc();
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, host);
	rtnl_link_set_mtu(link, mtu);
	peer_link = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(peer_link, peer);
	rtnl_link_set_mtu(peer_link, mtu);
	rtnl_link_set_ns_fd(peer_link, peer_ns_fd);
	rtnl_link_put(peer_link);
	err = netlink_errno(rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL));
	rtnl_link_put(link);
	return err;
}

int cni_link_get(struct nl_sock *sock, const char *name, int *ifindex, unsigned char mac[6],
		 bool *is_up)
{
	struct rtnl_link *link = NULL;
	struct nl_addr *addr;
	int err;

	err = netlink_errno(rtnl_link_get_kernel(sock, 0, name, &link));
	if (err)
		return err;
	if (ifindex)
		*ifindex = rtnl_link_get_ifindex(link);
	if (mac) {
		addr = rtnl_link_get_addr(link);
		memset(mac, 0, 6);
		if (addr && nl_addr_get_len(addr) == 6)
			memcpy(mac, nl_addr_get_binary_addr(addr), 6);
	}
	if (is_up)
		*is_up = rtnl_link_get_flags(link) & IFF_UP;
	rtnl_link_put(link);
	return 0;
}

int cni_link_set_up(struct nl_sock *sock, const char *name)
{
	struct rtnl_link *link = NULL;
	int err;

	err = netlink_errno(rtnl_link_get_kernel(sock, 0, name, &link));
	if (!err)
		err = netlink_link_up(sock, link);
	if (link)
		rtnl_link_put(link);
	return err;
}

int cni_link_delete(struct nl_sock *sock, const char *name)
{
	struct rtnl_link *link;
	int err;

	link = rtnl_link_alloc();
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, name);
	err = netlink_errno(rtnl_link_delete(sock, link));
	rtnl_link_put(link);
	return err;
}

static struct nl_addr *cni_nl_addr4(struct in_addr address, unsigned int prefix)
{
	struct nl_addr *addr = nl_addr_build(AF_INET, &address, sizeof(address));

	if (addr)
		nl_addr_set_prefixlen(addr, (int)prefix);
	return addr;
}

int cni_addr_add(struct nl_sock *sock, int ifindex, struct in_addr address, unsigned int prefix)
{
	struct rtnl_addr *addr = NULL;
	struct nl_addr *local = NULL;
	int err;

	addr = rtnl_addr_alloc();
	local = cni_nl_addr4(address, prefix);
	if (!addr || !local) {
		err = -ENOMEM;
		goto cleanup;
	}
	rtnl_addr_set_ifindex(addr, ifindex);
	rtnl_addr_set_family(addr, AF_INET);
	err = netlink_errno(rtnl_addr_set_local(addr, local));
	if (err)
		goto cleanup;
	rtnl_addr_set_prefixlen(addr, (int)prefix);
	err = netlink_errno(rtnl_addr_add(sock, addr, 0));
	if (err == -EEXIST)
		err = 0;

cleanup:
	if (local)
		nl_addr_put(local);
	if (addr)
		rtnl_addr_put(addr);
	return err;
}

int cni_addr_has(struct nl_sock *sock, int ifindex, struct in_addr address)
{
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	int err;

	err = netlink_errno(rtnl_addr_alloc_cache(sock, &cache));
	if (err)
		return err;
	err = -ENOENT;
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *addr = (struct rtnl_addr *)obj;
		struct nl_addr *local = rtnl_addr_get_local(addr);

		if (rtnl_addr_get_ifindex(addr) == ifindex &&
		    rtnl_addr_get_family(addr) == AF_INET && local && nl_addr_get_len(local) == 4 &&
		    !memcmp(nl_addr_get_binary_addr(local), &address, 4)) {
			err = 0;
			break;
		}
	}
	nl_cache_free(cache);
	return err;
}

int cni_route_replace(struct nl_sock *sock, int ifindex, struct in_addr dst, unsigned int prefix,
		      const struct in_addr *gateway, unsigned char scope)
{
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh = NULL;
	struct nl_addr *dst_addr = NULL, *gw_addr = NULL;
	int err = -ENOMEM;

	route = rtnl_route_alloc();
	nh = rtnl_route_nh_alloc();
	dst_addr = cni_nl_addr4(dst, prefix);
	if (!route || !nh || !dst_addr)
		goto cleanup;
	rtnl_route_set_family(route, AF_INET);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_protocol(route, RTPROT_BOOT);
	rtnl_route_set_type(route, RTN_UNICAST);
	rtnl_route_set_scope(route, scope);
	err = netlink_errno(rtnl_route_set_dst(route, dst_addr));
	if (err)
		goto cleanup;
	rtnl_route_nh_set_ifindex(nh, ifindex);
	if (gateway) {
		gw_addr = cni_nl_addr4(*gateway, 32);
		if (!gw_addr) {
			err = -ENOMEM;
			goto cleanup;
		}
		rtnl_route_nh_set_gateway(nh, gw_addr);
		rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
		/* A single next hop travels in the rtmsg header, which is where ONLINK is read. */
		rtnl_route_set_flags(route, RTNH_F_ONLINK);
	}
	rtnl_route_add_nexthop(route, nh);
	nh = NULL; /* owned by route now */
	err = netlink_errno(rtnl_route_add(sock, route, NLM_F_REPLACE));

cleanup:
	if (gw_addr)
		nl_addr_put(gw_addr);
	if (dst_addr)
		nl_addr_put(dst_addr);
	if (nh)
		rtnl_route_nh_free(nh);
	if (route)
		rtnl_route_put(route);
	return err;
}

int cni_gateway_device_ensure(struct nl_sock *sock, const char *name, struct in_addr address)
{
	struct rtnl_link *link;
	int ifindex, err;

	link = rtnl_link_alloc();
	if (!link)
		return -ENOMEM;
	err = netlink_errno(rtnl_link_set_type(link, "dummy"));
	if (!err) {
		rtnl_link_set_name(link, name);
		/* Pods of one node are added concurrently: whoever comes second finds it there. */
		err = netlink_errno(rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL));
		if (err == -EEXIST)
			err = 0;
	}
	rtnl_link_put(link);
	/*
	 * Kernels built without CONFIG_DUMMY refuse the kind. lo answers ARP for its addresses
	 * on every interface just the same (arp_ignore=0), so it serves as the holder instead.
	 */
	if (err == -EOPNOTSUPP) {
		name = "lo";
		err = 0;
	}
	if (err)
		return err;
	err = cni_link_set_up(sock, name);
	if (err)
		return err;
	err = cni_link_get(sock, name, &ifindex, NULL, NULL);
	if (err)
		return err;
	return cni_addr_add(sock, ifindex, address, 32);
}

int cni_sysctl_write(const char *path, const char *value)
{
	char file[256];
	size_t len = strlen(value);
	int fd, err = 0;

	if (snprintf(file, sizeof(file), "/proc/sys/%s", path) >= (int)sizeof(file))
		return -ENAMETOOLONG;
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}
