/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sockets to Services translated at connect() (bpf/sock_lb.bpf.c): the reverse map, the pods
 * whose sockets are this node's to translate, and the link pins.
 */
#ifndef SLUICE_MAPS_SOCK_LB_H
#define SLUICE_MAPS_SOCK_LB_H

#include "maps/endpoints.h"
#include "maps/types.h"

#define LB4_SK_REVNAT_MAP "lb4_sk_revnat"
/*
 * Sockets translated at connect() or sendmsg() remembered at once, LRU: an entry lives as long
 * as nothing newer pushes it out, since no hook sees a socket close. Preallocated (an LRU map
 * always is): 65536 x ~96 B, about 6 MiB.
 */
#define LB_MAX_SK_REVNAT 65536

#define LB4_SK_PODS_MAP "lb4_sk_pods"

/*
 * A pod of this node, by its network namespace: written by sluice-cni at ADD (the cookie from
 * SO_NETNS_COOKIE, Linux 5.14, of a socket in CNI_NETNS), removed at DEL. Only the sockets of
 * these namespaces, and of the node's own, are translated: several nodes may share one kernel
 * and one cgroup tree, and a node translates no other node's pod. One per pod, as ep4.
 */
struct lb4_sk_pod {
	__be32 address; /* the pod's address: the client that affinity and source ranges judge */
	__u32 ifindex;	/* its host veth, in the node's namespace */
};
SLUICE_ASSERT_SIZE(struct lb4_sk_pod, 8);
#define LB_MAX_SK_PODS EP_MAX_ENDPOINTS

/*
 * The four cgroup hooks, attached by bpf_link and pinned as bpffs/<name>, so a restarted agent
 * finds them and swaps its new programs in (bpf_link_update) without a gap.
 */
#define SOCK_LB_LINK_CONNECT4	  "sock_lb_connect4"
#define SOCK_LB_LINK_SENDMSG4	  "sock_lb_sendmsg4"
#define SOCK_LB_LINK_RECVMSG4	  "sock_lb_recvmsg4"
#define SOCK_LB_LINK_GETPEERNAME4 "sock_lb_getpeer4"

/*
 * A socket translated to a backend: (socket cookie, backend address, backend port) -> the
 * frontend the socket called, restored as the peer of getpeername() and the source of recvmsg().
 */
struct lb4_sk_revnat_key {
	__u64 cookie;	/* bpf_get_socket_cookie() */
	__be32 address; /* backend */
	__be16 port;	/* backend */
	__u8 pad[2];
};
SLUICE_ASSERT_SIZE(struct lb4_sk_revnat_key, 16);

struct lb4_sk_revnat {
	__be32 address; /* the address the socket called: a VIP, a node address or loopback */
	__be16 port;
	__u8 pad[2];
};
SLUICE_ASSERT_SIZE(struct lb4_sk_revnat, 8);

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_MAX_SK_REVNAT);
	__type(key, struct lb4_sk_revnat_key);
	__type(value, struct lb4_sk_revnat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_sk_revnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SK_PODS);
	__type(key, __u64); /* the pod's netns cookie */
	__type(value, struct lb4_sk_pod);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb4_sk_pods SEC(".maps");
#endif

#endif
