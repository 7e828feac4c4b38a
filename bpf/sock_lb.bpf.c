// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup socket hooks for connections to Services translated once, at the socket: the node's
 * own (and hostNetwork pods') TCP and UDP, and the TCP of this node's pods (lb4_sk_pods). A
 * socket that connects (TCP, connected UDP) or sends (unconnected UDP) to a frontend is pointed
 * at a backend chosen exactly as the packet path chooses (lb4_choose_backend), once per
 * connect(); getpeername() and recvmsg() show the frontend again. Packets then leave with a
 * backend address, which tc_pod and tc_node take for no service traffic.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps/lb.h"
#include "maps/node.h"
#include "maps/sock_lb.h"

#include "bpf/lib/common.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/lb.h"
#include "bpf/lib/lb_backend.h"
#include "bpf/lib/stats.h"

/* The node's network namespace (SO_NETNS_COOKIE of the agent), set by the loader; 0: any. */
const volatile __u64 node_netns_cookie = 0;
/* --host-lb: translate the node's own sockets (its network namespace). */
const volatile __u8 is_host_lb = 1;
/* --socket-lb: translate the TCP sockets of this node's pods (lb4_sk_pods). */
const volatile __u8 is_socket_lb = 0;
/*
 * The kernel lets sock_addr programs set the syscall's error (bpf_set_retval, Linux 5.18); set
 * by the loader from a probe. Without it a refused connect() fails with EPERM, and the verifier
 * never checks the helper call: it is dead code under a frozen rodata 0, and removed.
 */
const volatile __u8 has_set_retval = 0;

#define SOCK_ALLOW   1
#define SOCK_REJECT  0
#define ECONNREFUSED 111

/*
 * Whose socket is this? The node's (its namespace: the node, hostNetwork pods) under --host-lb;
 * else, under --socket-lb, a pod of this node's when its namespace is in lb4_sk_pods and the
 * socket is TCP. Returns false for any other socket, which the hooks leave alone: another
 * node's pod sharing this kernel and cgroup, a pod's UDP (tc_pod's per-packet path: a connected
 * UDP socket would keep a backend that leaves, and DNS clients keep theirs for long), a pod the
 * plugin did not record. *POD is set for a pod, NULL for the node.
 */
static __always_inline bool sock_lb_is_ours(struct bpf_sock_addr *ctx, struct lb4_sk_pod **pod)
{
	__u64 netns;

	*pod = NULL;
	if (is_host_lb && !node_netns_cookie)
		return true;
	if (!is_host_lb && !is_socket_lb)
		return false;
	netns = bpf_get_netns_cookie(ctx);
	if (is_host_lb && netns == node_netns_cookie)
		return true;
	if (!is_socket_lb || ctx->protocol != IPPROTO_TCP)
		return false;
	*pod = bpf_map_lookup_elem(&lb4_sk_pods, &netns);
	return *pod != NULL;
}

/* The node's first address (node4_addrs under 0.0.0.0), or 0 before the agent wrote it. */
static __always_inline __be32 sock_lb_node_address(void)
{
	struct node4_addr *addr;
	__be32 any = 0;

	addr = bpf_map_lookup_elem(&node4_addrs, &any);
	return addr ? addr->snat : 0;
}

/*
 * The 5-tuple the packet path would see, from what the socket knows. The source is the pod's
 * address for a pod's socket (POD); for the node's, its bound address, else the node's first
 * address: the client that loadBalancerSourceRanges and sessionAffinity judge (kube-proxy sees
 * the node's address there too). An unbound socket gets its port only after connect(), so the
 * socket cookie stands in for the source port: Maglev still spreads the connections over the
 * backends, and one socket's datagrams keep one backend. Returns false for a protocol the hooks
 * do not translate (SCTP, raw).
 */
static __always_inline bool sock_lb_pkt4(struct bpf_sock_addr *ctx, struct pkt4 *pkt, __u64 cookie,
					 const struct lb4_sk_pod *pod)
{
	struct bpf_sock *sk = ctx->sk;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return false;
	pkt->proto = (__u8)ctx->protocol;
	pkt->daddr = ctx->user_ip4;
	pkt->dport = (__be16)ctx->user_port;
	if (sk) {
		pkt->saddr = sk->src_ip4;
		pkt->sport = bpf_htons((__u16)sk->src_port);
	}
	/* A pod sends only as itself (tc_pod checks it): the client, bound or not. */
	if (pod)
		pkt->saddr = pod->address;
	if (!pkt->saddr)
		pkt->saddr = sock_lb_node_address();
	if (!pkt->sport)
		pkt->sport = (__be16)(cookie ^ cookie >> 16 ^ cookie >> 32 ^ cookie >> 48);
	return true;
}

/*
 * The frontend a socket calls: the internal one by destination (ClusterIP, externalIP,
 * LoadBalancer IP, NodePort on each node address), as tc_pod looks it up; else, for the node's
 * socket to a loopback address, a NodePort, found under the node's first address, as
 * kube-proxy serves NodePorts on 127.0.0.1 (a pod's loopback is its own).
 */
static __always_inline struct lb4_service *sock_lb_lookup_service(const struct pkt4 *pkt,
								  bool is_pod)
{
	struct pkt4 loopback = *pkt;
	struct lb4_service *svc;

	svc = lb4_lookup_service(pkt);
	if (svc || is_pod || (bpf_ntohl(pkt->daddr) >> 24) != 127)
		return svc;
	loopback.daddr = sock_lb_node_address();
	if (!loopback.daddr)
		return NULL;
	svc = lb4_lookup_service(&loopback);
	return svc && (svc->flags & LB_SVC_F_NODE_PORT) ? svc : NULL;
}

/*
 * A frontend that admits nothing: connect() or sendmsg() fails at once. No endpoints at all
 * is kube-proxy's REJECT, ECONNREFUSED where the kernel lets the program say so; anything else
 * (source ranges, a Local policy without a local endpoint, a backend gone) fails with EPERM.
 */
static __always_inline int sock_lb_refuse(int reason)
{
	stats_count(STAT_SOCK_REFUSED, 0);
	if (has_set_retval && reason == -DROP_NO_BACKEND)
		bpf_set_retval(-ECONNREFUSED);
	return SOCK_REJECT;
}

/* connect4 and sendmsg4: frontend -> backend, remembered per socket for the reverse hooks. */
static __always_inline int sock_lb_translate(struct bpf_sock_addr *ctx)
{
	struct lb4_sk_revnat_key key = {};
	struct lb4_sk_revnat value = {};
	struct lb4_service *svc_ptr, svc;
	struct lb4_backend backend;
	struct lb4_sk_pod *pod;
	struct pkt4 pkt = {};
	__u32 backend_id;
	int ret;

	if (!sock_lb_is_ours(ctx, &pod))
		return SOCK_ALLOW;
	key.cookie = bpf_get_socket_cookie(ctx);
	if (!sock_lb_pkt4(ctx, &pkt, key.cookie, pod))
		return SOCK_ALLOW;
	svc_ptr = sock_lb_lookup_service(&pkt, pod != NULL);
	if (!svc_ptr)
		return SOCK_ALLOW;
	svc = *svc_ptr;
	ret = lb4_choose_backend(&svc, &pkt, ct_now(), &backend_id, &backend);
	if (ret)
		return sock_lb_refuse(ret);
	key.address = backend.address;
	key.port = backend.port;
	value.address = pkt.daddr;
	value.port = pkt.dport;
	/* A full LRU evicts; a failed write only leaves getpeername() showing the backend. */
	bpf_map_update_elem(&lb4_sk_revnat, &key, &value, BPF_ANY);
	ctx->user_ip4 = backend.address;
	ctx->user_port = backend.port;
	stats_count(STAT_SOCK_NEW, 0);
	stats_service_flow(svc.svc_id);
	return SOCK_ALLOW;
}

/* recvmsg4 and getpeername4: a translated socket's backend shows as the frontend it called. */
static __always_inline int sock_lb_reverse(struct bpf_sock_addr *ctx)
{
	struct lb4_sk_revnat_key key = {
	    .cookie = bpf_get_socket_cookie(ctx),
	    .address = ctx->user_ip4,
	    .port = (__be16)ctx->user_port,
	};
	struct lb4_sk_revnat *value;

	value = bpf_map_lookup_elem(&lb4_sk_revnat, &key);
	if (value) {
		ctx->user_ip4 = value->address;
		ctx->user_port = value->port;
	}
	return SOCK_ALLOW;
}

SEC("cgroup/connect4")
int sock_lb_connect4(struct bpf_sock_addr *ctx)
{
	return sock_lb_translate(ctx);
}

SEC("cgroup/sendmsg4")
int sock_lb_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_lb_translate(ctx);
}

SEC("cgroup/recvmsg4")
int sock_lb_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sock_lb_reverse(ctx);
}

SEC("cgroup/getpeername4")
int sock_lb_getpeer4(struct bpf_sock_addr *ctx)
{
	return sock_lb_reverse(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
