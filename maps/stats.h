/* SPDX-License-Identifier: Apache-2.0 */
/* Per-CPU packet counters and drop reasons, summed by the CLI. */
#ifndef SLUICE_MAPS_STATS_H
#define SLUICE_MAPS_STATS_H

#include "maps/types.h"
#include "maps/lb.h"

#define STATS_MAP     "stats"
#define DROPS_MAP     "drops"
#define SVC_FLOWS_MAP "svc_flows"

/* Each packet is counted once, under the outcome it had (or under its drop reason). */
enum stat_id {
	STAT_PASS = 0,	  /* not service traffic, left untouched */
	STAT_SVC_NEW,	  /* new flow to a VIP, backend chosen */
	STAT_CT_FORWARD,  /* established flow, client -> backend */
	STAT_CT_REPLY,	  /* reply reverse-translated to the VIP */
	STAT_HAIRPIN,	  /* new flow whose client was chosen as its own backend */
	STAT_ICMP_XLATE,  /* ICMP error about a translated flow, translated */
	STAT_REJECT,	  /* ICMP port unreachable sent for a service with no endpoints */
	STAT_EXT_NEW,	  /* new flow from outside the node (uplink), Local: client kept */
	STAT_EXT_SNAT,	  /* new flow from outside the node, masqueraded to a node address */
	STAT_XDP_FORWARD, /* translated by the XDP program (new or established) */
	STAT_POLICY_NEW,  /* new pod-to-pod flow admitted by policy, tracked for its replies */
	STAT_EGRESS_SNAT, /* new flow from a pod out of the cluster, masqueraded to the node */
	STAT_SOCK_NEW,	  /* the node's socket pointed at a backend (connect, sendmsg): no packet */
	STAT_SOCK_REFUSED, /* the node's connect/sendmsg to a frontend refused: no packet */
	STAT_TUNNEL_OUT,   /* into the tunnel to another node (tc_tunnel_egress) */
	STAT_TUNNEL_IN,	   /* out of the tunnel into a pod here, untracked (tc_tunnel_ingress) */
	STAT_FRAG_NEEDED,  /* too big for the device a flow leaves by, DF: ICMP frag needed sent */
	STAT_MAX,
};

enum drop_reason {
	DROP_NONE = 0,
	DROP_MALFORMED,		/* truncated or inconsistent headers on service traffic, or on a
				 * pod's IPv4/ARP frame too short to read its source address */
	DROP_FRAGMENT,		/* later IP fragment to a VIP whose first opened no flow (a
				 * reject, a port no Service serves): nothing to translate to */
	DROP_NO_BACKEND,	/* service without endpoints and the reject could not be built */
	DROP_BACKEND_MISSING,	/* slot or backend vanished between lookups */
	DROP_CSUM,		/* checksum helper failed */
	DROP_UNSUPPORTED,	/* protocol the datapath cannot translate */
	DROP_CT_CREATE,		/* conntrack entry could not be written */
	DROP_SOURCE_RANGE,	/* client outside the service's loadBalancerSourceRanges */
	DROP_NO_LOCAL_ENDPOINT, /* a Local traffic policy, no endpoint on this node */
	DROP_NAT_NO_PORT,	/* every SNAT port probed was taken (NodePort or egress
				 * masquerade: one range, one reason) */
	DROP_POLICY_INGRESS,	/* NetworkPolicy: the destination's ingress does not allow it */
	DROP_POLICY_EGRESS,	/* NetworkPolicy: the source's egress does not allow it */
	DROP_CT_CLASH,		/* the new flow's reply tuple is held by another live flow */
	DROP_SPOOFED,		/* a pod's IPv4 source or ARP sender address is not its own */
	DROP_NOT_IPV4,		/* a pod sent neither IPv4 nor ARP (IPv6: pods have no address) */
	DROP_FRAG_NO_FIRST,	/* later IP fragment whose first fragment was not seen (before) */
	DROP_CT_FULL,		/* new flow: conntrack full and no flow to early-drop */
	DROP_NAT_NO_ADDRESS,	/* masquerade, but no node address known to masquerade to */
	DROP_NO_TUNNEL,		/* into the tunnel, but no other node's pod CIDR holds the
				 * destination (or the tunnel key could not be set) */
	DROP_UNKNOWN_NODE,	/* out of the tunnel from an address that is no known node */
	DROP_TUNNEL_NOT_IPV4,	/* into or out of the tunnel, a frame that is not IPv4 */
	DROP_TUNNEL_PORT,	/* a pod's datagram to the tunnel port that would reach another
				 * node from a node's address (tunnel_port_is_closed_to_pods) */
	DROP_TOO_BIG,		/* DF set, too big for the device its flow leaves by, and the
				 * ICMP fragmentation needed could not be built (IP options) */
	DROP_MAX,
};

/*
 * The side of the pod (or node) a drop is on, as Cilium counts it: what a pod sends is egress
 * (tc_pod, and tc_tunnel_egress taking it to another node); what enters a pod (tc_to_pod, the
 * tunnel's ingress, the uplink delivering to a pod) or arrives at the node from its uplink
 * (tc_node, xdp_node) is ingress. Each entry point knows its side; a NetworkPolicy drop is on
 * the side of the policy that denied it (a pod's ingress policy judged in its peer's tc_pod, on
 * this node, is that pod's ingress).
 */
enum drop_dir {
	DROP_DIR_INGRESS = 0,
	DROP_DIR_EGRESS,
	DROP_DIR_MAX,
};

/* drops is [DROP_DIR_MAX][DROP_MAX]: one counter per reason and direction. */
#define DROPS_ENTRIES	       (DROP_DIR_MAX * DROP_MAX)
#define DROPS_KEY(reason, dir) ((dir)*DROP_MAX + (reason))

/*
 * svc_flows: new flows per frontend (lb4_service.svc_id: a Service port's ClusterIP, NodePort,
 * ...), one per-CPU __u64 each, counted where the flow is translated (the packet path's new flow,
 * the socket hooks' connect/sendmsg). An LRU hash: svc_ids go up to 2^24 (never reused soon,
 * loader/sync), so an array indexed by them would not fit; the datapath adds an entry at a
 * frontend's first flow and the entries of frontends gone age out, with no agent write. As many
 * entries as lb4_svc holds frontends.
 */
#define SVC_FLOWS_MAX LB_MAX_SERVICES

struct stat_value {
	__u64 packets;
	__u64 bytes;
};

#ifndef __bpf__
static const char *const stat_names[STAT_MAX] = {
    [STAT_PASS] = "pass",
    [STAT_SVC_NEW] = "service_new",
    [STAT_CT_FORWARD] = "ct_forward",
    [STAT_CT_REPLY] = "ct_reply",
    [STAT_HAIRPIN] = "hairpin",
    [STAT_ICMP_XLATE] = "icmp_translated",
    [STAT_REJECT] = "reject_no_endpoints",
    [STAT_EXT_NEW] = "external_new",
    [STAT_EXT_SNAT] = "external_new_snat",
    [STAT_XDP_FORWARD] = "xdp_forward",
    [STAT_POLICY_NEW] = "policy_new",
    [STAT_EGRESS_SNAT] = "egress_new_snat",
    [STAT_SOCK_NEW] = "socket_translated",
    [STAT_SOCK_REFUSED] = "socket_refused",
    [STAT_TUNNEL_OUT] = "tunnel_out",
    [STAT_TUNNEL_IN] = "tunnel_in",
    [STAT_FRAG_NEEDED] = "icmp_frag_needed",
};
static const char *const drop_names[DROP_MAX] = {
    [DROP_NONE] = "none",
    [DROP_MALFORMED] = "malformed packet",
    [DROP_FRAGMENT] = "fragment to service",
    [DROP_NO_BACKEND] = "no service backend",
    [DROP_BACKEND_MISSING] = "backend missing",
    [DROP_CSUM] = "checksum update failed",
    [DROP_UNSUPPORTED] = "unsupported protocol",
    [DROP_CT_CREATE] = "conntrack entry not created",
    [DROP_SOURCE_RANGE] = "outside loadBalancerSourceRanges",
    [DROP_NO_LOCAL_ENDPOINT] = "no local endpoint (traffic policy Local)",
    [DROP_NAT_NO_PORT] = "no free SNAT port",
    [DROP_POLICY_INGRESS] = "policy denied ingress",
    [DROP_POLICY_EGRESS] = "policy denied egress",
    [DROP_CT_CLASH] = "conntrack tuple held by a live flow",
    [DROP_SPOOFED] = "source address not the pod's",
    [DROP_NOT_IPV4] = "pod frame neither IPv4 nor ARP",
    [DROP_FRAG_NO_FIRST] = "fragment without its first fragment",
    [DROP_CT_FULL] = "conntrack full (no flow to early-drop)",
    [DROP_NAT_NO_ADDRESS] = "no node address to masquerade to",
    [DROP_NO_TUNNEL] = "no node for tunnel destination",
    [DROP_UNKNOWN_NODE] = "tunnel packet from unknown node",
    [DROP_TUNNEL_NOT_IPV4] = "tunnel frame not IPv4",
    [DROP_TUNNEL_PORT] = "pod datagram to a node's tunnel port",
    [DROP_TOO_BIG] = "too big for its way out, no ICMP sent",
};
/* The same reasons as stable identifiers: Prometheus label values, JSON fields. */
static const char *const drop_ids[DROP_MAX] = {
    [DROP_NONE] = "none",
    [DROP_MALFORMED] = "malformed",
    [DROP_FRAGMENT] = "fragment_to_service",
    [DROP_NO_BACKEND] = "no_backend",
    [DROP_BACKEND_MISSING] = "backend_missing",
    [DROP_CSUM] = "checksum_update",
    [DROP_UNSUPPORTED] = "unsupported_protocol",
    [DROP_CT_CREATE] = "ct_create",
    [DROP_SOURCE_RANGE] = "source_range",
    [DROP_NO_LOCAL_ENDPOINT] = "no_local_endpoint",
    [DROP_NAT_NO_PORT] = "nat_no_port",
    [DROP_POLICY_INGRESS] = "policy_ingress",
    [DROP_POLICY_EGRESS] = "policy_egress",
    [DROP_CT_CLASH] = "ct_clash",
    [DROP_SPOOFED] = "spoofed_source",
    [DROP_NOT_IPV4] = "not_ipv4",
    [DROP_FRAG_NO_FIRST] = "fragment_no_first",
    [DROP_CT_FULL] = "ct_full",
    [DROP_NAT_NO_ADDRESS] = "nat_no_address",
    [DROP_NO_TUNNEL] = "no_tunnel",
    [DROP_UNKNOWN_NODE] = "unknown_node",
    [DROP_TUNNEL_NOT_IPV4] = "tunnel_not_ipv4",
    [DROP_TUNNEL_PORT] = "tunnel_port",
    [DROP_TOO_BIG] = "too_big_no_icmp",
};
/* Directions as Prometheus label values and JSON fields. */
static const char *const drop_dir_ids[DROP_DIR_MAX] = {
    [DROP_DIR_INGRESS] = "ingress",
    [DROP_DIR_EGRESS] = "egress",
};
#endif

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, struct stat_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROPS_ENTRIES);
	__type(key, __u32);
	__type(value, struct stat_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, SVC_FLOWS_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_flows SEC(".maps");
#endif

#endif
