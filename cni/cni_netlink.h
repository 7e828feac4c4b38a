/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-cni netlink (libnl-route-3): veth pair, addresses, routes, gateway device, sysctls. */
#ifndef SLUICE_CNI_CNI_NETLINK_H
#define SLUICE_CNI_CNI_NETLINK_H

#include <stdbool.h>
#include <netinet/in.h>

struct nl_sock;

/* Every function returns 0 or -errno (libnl's NLE_* codes are mapped back to errno). */

/* A route socket in the calling thread's current network namespace. */
int cni_nl_open(struct nl_sock **sock);
void cni_nl_close(struct nl_sock *sock);

/*
 * Open netns_path (must be a network namespace: -EINVAL otherwise), enter it just long enough to
 * open a route socket bound to it, and return to the namespace we came from. A netlink socket
 * stays in the namespace it was created in, so all pod-side work goes through *sock without
 * staying in the pod namespace. *ns_fd is the pod namespace (for the veth peer), caller closes.
 */
int cni_nl_open_netns(const char *netns_path, int *ns_fd, struct nl_sock **sock);

/* Create host <-> peer, with the peer created directly in peer_ns_fd (no rename race on the node).
 */
int cni_veth_create(struct nl_sock *sock, const char *host, const char *peer, int peer_ns_fd,
		    unsigned int mtu);

/* ifindex and MAC of a link by name; -ENODEV when it does not exist. */
int cni_link_get(struct nl_sock *sock, const char *name, int *ifindex, unsigned char mac[6],
		 bool *is_up);
int cni_link_set_up(struct nl_sock *sock, const char *name);
/* -ENODEV when already gone: callers that clean up treat that as success. */
int cni_link_delete(struct nl_sock *sock, const char *name);

/* address/prefix on ifindex; an address already present is success. */
int cni_addr_add(struct nl_sock *sock, int ifindex, struct in_addr address, unsigned int prefix);
int cni_addr_has(struct nl_sock *sock, int ifindex, struct in_addr address);

/*
 * Route dst/prefix out of ifindex in the main table, via gateway when gateway is non-NULL
 * (with onlink, since the gateway is not inside any on-link prefix of the pod). Replaces an
 * existing route to the same destination.
 */
int cni_route_replace(struct nl_sock *sock, int ifindex, struct in_addr dst, unsigned int prefix,
		      const struct in_addr *gateway, unsigned char scope);

/*
 * Make sure the dummy device name exists, is up and holds address/32; on a kernel without
 * dummy devices the address goes on lo instead.
 */
int cni_gateway_device_ensure(struct nl_sock *sock, const char *name, struct in_addr address);

/* Write value to /proc/sys/<path> of the current network namespace. */
int cni_sysctl_write(const char *path, const char *value);

#endif
