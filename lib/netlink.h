/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's links and routes through libnl-route-3, for both binaries: the one NLE_* -> errno
 * mapping, the tunnel device (a collect-metadata VXLAN) and the routes the agent owns (tagged
 * with NETLINK_RT_PROTOCOL so that it recognises and prunes only its own).
 */
#ifndef SLUICE_LIB_NETLINK_H
#define SLUICE_LIB_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nl_sock;
struct rtnl_link;

/*
 * rtm_protocol of the routes to other nodes' pod CIDRs: not one iproute2's rt_protos names
 * (0-18, 42, 99, 186-192), so `ip route show proto 211` lists exactly the agent's routes.
 */
#define NETLINK_RT_PROTOCOL 211

/* libnl folds kernel errnos into NLE_* codes: the ones callers act on back to -errno. */
int netlink_errno(int nlerr);

/* A route socket in the calling thread's network namespace. Returns 0 or -errno. */
int netlink_open(struct nl_sock **sock);
void netlink_close(struct nl_sock *sock);

/* The link holding IPv4 address (network order): its ifindex, name and MTU. 0, -ENODEV or -errno.
 */
int netlink_link_by_address(struct nl_sock *sock, uint32_t address, int *ifindex, char *name,
			    size_t name_len, unsigned int *mtu);

/* What the tunnel device must be. */
struct netlink_vxlan {
	const char *name;
	uint16_t port; /* UDP destination port, host order */
	unsigned int mtu;
	unsigned char mac[6];
};

/*
 * Make the collect-metadata VXLAN device WANT->name exist as WANT says (port, MTU, NOARP,
 * learning off, MAC) and be up: adopted as it is when it matches, else deleted
 * and created again. *ifindex is its ifindex; *is_created whether it is new (programs must be
 * attached again). Returns 0 or -errno, *why naming the step that failed.
 */
int netlink_vxlan_ensure(struct nl_sock *sock, const struct netlink_vxlan *want, int *ifindex,
			 bool *is_created, const char **why);

/* Delete link NAME; 0 also when there is none (then *is_deleted is false). */
int netlink_link_delete(struct nl_sock *sock, const char *name, bool *is_deleted);

/* Set LINK (as read from the kernel) up. Returns 0 or -errno. */
int netlink_link_up(struct nl_sock *sock, struct rtnl_link *link);

/* A route of the main table with protocol NETLINK_RT_PROTOCOL. */
struct netlink_route4 {
	uint32_t dst; /* network order, host bits zero */
	uint8_t prefix_len;
	/*
	 * RTN_UNICAST (0 stands for it), or RTN_UNREACHABLE: no next hop, the sender gets
	 * EHOSTUNREACH (a forwarded packet's, an ICMP host unreachable) at once.
	 */
	uint8_t type;
	int ifindex;	  /* output device, or 0 (through gateway) */
	uint32_t gateway; /* network order, or 0 (directly on ifindex) */
	uint32_t source;  /* preferred source, network order, or 0 */
};

/* Every route of ours in the main table, into *out (malloc'd, *n). Returns 0 or -errno. */
int netlink_routes_list(struct nl_sock *sock, struct netlink_route4 **out, size_t *n);
/* Create or replace ROUTE (one route per destination). Returns 0 or -errno. */
int netlink_route_replace(struct nl_sock *sock, const struct netlink_route4 *route);
/* Delete ROUTE (dst/prefix_len with our protocol); 0 also when it is gone. */
int netlink_route_delete(struct nl_sock *sock, const struct netlink_route4 *route);

#endif
