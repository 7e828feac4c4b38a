/* SPDX-License-Identifier: Apache-2.0 */
/* The node agent: loads the datapath, then keeps the maps in step with the manifests. */
#ifndef SLUICE_AGENT_H
#define SLUICE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include "lib/cidr.h"
#include "maps/ipam.h"
#include "maps/masq.h"
#include "loader/desired/maglev.h"

/* Default per-node pod CIDR prefix (kube-controller-manager --node-cidr-mask-size for IPv4). */
#define AGENT_NODE_CIDR_SIZE_DEFAULT 24
/*
 * How long a change (a manifest file written, an API event) waits before it is applied, in ms,
 * counted from the first change not yet applied: the changes of a burst are applied together,
 * and later wakeups do not postpone them (loader/agent/debounce.h).
 */
#define AGENT_DEBOUNCE_MS 100
/*
 * Period of the conntrack sweep for expired entries, in seconds; every second while ct4 is at
 * least AGENT_CT_FILL_WARN % full, so that expired flows make room before early drop has to.
 */
#define AGENT_CT_GC_PERIOD_S	  30
#define AGENT_CT_GC_PERIOD_FULL_S 1
#define AGENT_CT_FILL_WARN	  80 /* % of --ct-size: sluice status warns too */
/* After a sync's grace period, how much later retired generations are ended (timer slack). */
#define AGENT_RETIRE_SLACK_MS 50

/* --node-ip may be given this many times. */
#define AGENT_MAX_NODE_IPS 8
/* How long start-up waits for the first full list of the API before "agent ready", in ms. */
#define AGENT_API_SYNC_WAIT_MS 10000

/* --routing: how pod traffic crosses to another node. */
enum agent_routing {
	AGENT_ROUTING_TUNNEL = 0, /* encapsulated (--tunnel), the default */
	AGENT_ROUTING_NATIVE,	  /* routed over the underlay to the other node's address */
};

/* --tunnel: the encapsulation under --routing tunnel. */
enum agent_tunnel {
	AGENT_TUNNEL_VXLAN = 0,
	AGENT_TUNNEL_GENEVE,
};

#define AGENT_K8S_API_SERVER_ENV "SLUICE_K8S_API_SERVER"
/* --host-lb's default when the flag is absent: "true" or "false" (the tests set false). */
#define AGENT_HOST_LB_ENV "SLUICE_HOST_LB"
/* --socket-lb's default when the flag is absent, as SLUICE_HOST_LB. */
#define AGENT_SOCKET_LB_ENV "SLUICE_SOCKET_LB"

struct agent_config {
	const char *node;      /* --node, required */
	const char *manifests; /* --manifests DIR, or NULL: the maps are left as adopted */
	const char *bpffs;     /* --bpffs DIR */
	uint32_t ct_size;      /* --ct-size N */
	bool is_ct_size_set;
	uint32_t hairpin_ip; /* --hairpin-ip, network byte order */
	/* --cluster-cidr: pod addresses of the whole cluster; --service-cidr: ClusterIP ranges.
	 * Repeatable and comma-separated, set entries first. */
	struct node_ipam_cidr cluster_cidr[NODE_IPAM_CIDRS_MAX];
	struct node_ipam_cidr service_cidr[NODE_IPAM_CIDRS_MAX];
	struct in_addr cluster_dns;	/* --cluster-dns: must sit in the service CIDR; 0 = unset */
	unsigned int node_cidr_size;	/* --node-cidr-size: prefix length of one node's pod CIDR */
	bool is_node_cidr_size_set;	/* given: every node's pod CIDR must have that length */
	struct node_ipam_cidr pod_cidr; /* --pod-cidr: this node's, when its Node has none */
	const char *kubeconfig;		/* --kubeconfig FILE: list/watch the API server */
	/*
	 * --k8s-api-server URL, else $SLUICE_K8S_API_SERVER: where the API server is, instead of
	 * the kubeconfig's server or the `kubernetes` ClusterIP; alone it means --in-cluster's
	 * credentials (a DaemonSet on a node without kube-proxy).
	 */
	const char *k8s_api_server;
	bool is_in_cluster;		       /* --in-cluster: the pod's service account */
	uint32_t node_ips[AGENT_MAX_NODE_IPS]; /* --node-ip (repeatable), network byte order */
	size_t n_node_ips;
	uint16_t node_port_min, node_port_max; /* --node-port-range, host order (0: default) */
	const char *uplink; /* --uplink IFNAME: device to the outside (NodePort, LB, externalIPs) */
	enum lb_algorithm lb_algorithm; /* --lb-algorithm maglev|random */
	uint32_t maglev_size;		/* --maglev-table-size M: a prime (see maps/lb.h) */
	bool is_masquerade_off;		/* --masquerade=false */
	struct cidr4 non_masquerade[MASQ4_MAX_LISTED]; /* --non-masquerade-cidr (repeatable) */
	size_t n_non_masquerade;
	/* --healthz-addr ADDR:PORT (kube-proxy's /healthz, /livez); port 0: not served */
	uint32_t healthz_address; /* network order */
	uint16_t healthz_port;	  /* host order */
	/* --metrics-addr ADDR:PORT (Prometheus, GET /metrics); port 0: not served */
	uint32_t metrics_address; /* network order */
	uint16_t metrics_port;	  /* host order */
	/* --metrics-service-top N: Service ports in sluice_service_new_flows_total (0: none) */
	uint32_t metrics_service_top;
	enum agent_routing routing; /* --routing tunnel|native */
	enum agent_tunnel tunnel;   /* --tunnel vxlan|geneve */
	bool is_host_lb_off;	    /* --host-lb false: the node's own sockets are not translated */
	bool is_socket_lb_off;	    /* --socket-lb false: pods' sockets are not translated */
	const char *cgroup_root;    /* --cgroup-root DIR: cgroup v2 the socket hooks attach to */
};

/*
 * Check what the command line cannot: the node CIDR size fits in the cluster CIDR. Returns 0
 * or -EINVAL after logging the flag at fault.
 */
int agent_config_validate(const struct agent_config *config);

/* Run until SIGTERM or SIGINT (then 0, datapath and pins left in place) or a fatal -errno. */
int agent_run(const struct agent_config *config);

#endif
