/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-cni: network config, environment and error types shared by the plugin's modules. */
#ifndef SLUICE_CNI_H
#define SLUICE_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>

#include "lib/node_ipam.h"

struct json_object;

/* Error codes of the CNI spec (SPEC.md, "Error"). */
enum cni_code {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_NOT_AVAILABLE = 50, /* STATUS: plugin cannot serve ADD now (spec 1.1) */
	CNI_ERR_NOT_AVAILABLE_LIMITED =
	    51, /* ... and existing pods may have limited connectivity */
};

#define CNI_VERSION_LATEST    "1.1.0"
#define CNI_MAX_CONFIG_BYTES  (1 << 20) /* stdin cap: a network config is a few hundred bytes */
#define CNI_NAME_MAX	      128	/* network name; it is also a directory under stateDir */
#define CNI_NODE_MAX	      253	/* DNS subdomain, as a Kubernetes node name */
#define CNI_PATH_MAX	      256	/* bpffs, stateDir, CNI_NETNS */
#define CNI_CONTAINER_ID_MAX  256	/* runtimes use 64 hex characters */
#define CNI_IFNAME_MAX	      15	/* IFNAMSIZ - 1 */
#define CNI_ARGS_MAX	      4096
#define CNI_ATTACHMENTS_MAX   65536 /* GC: valid attachments listed (a node runs far fewer pods) */
#define CNI_POD_NAMESPACE_MAX 63    /* DNS label */
#define CNI_POD_NAME_MAX      253   /* DNS subdomain */
/* The pod MTU without a conflist `mtu` nor an agent's ipam_mtu: a plain Ethernet underlay. */
#define CNI_MTU_DEFAULT NODE_IPAM_MTU_UNDERLAY_DEFAULT
#define CNI_MTU_MIN	NODE_IPAM_MTU_MIN
#define CNI_MTU_MAX	NODE_IPAM_MTU_MAX

#define CNI_BPFFS_DEFAULT     "/sys/fs/bpf/sluice"
#define CNI_STATE_DIR_DEFAULT "/var/lib/sluice/cni"
#define CNI_GATEWAY_DEVICE    "sluice0" /* dummy device holding every gateway address of the node */
#define CNI_HOST_VETH_PREFIX  "sl"

struct cni_error {
	int code;      /* enum cni_code, 0 = no error */
	char msg[640]; /* the agent's reason for refusing pods is up to 512 bytes */
	char details[512];
};

/* Record the first error only: the root cause is what the runtime should see. */
void cni_error_set(struct cni_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cni_error_details(struct cni_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

enum cni_command {
	CNI_CMD_NONE = 0,
	CNI_CMD_ADD,
	CNI_CMD_DEL,
	CNI_CMD_CHECK,
	CNI_CMD_VERSION,
	CNI_CMD_STATUS,
	CNI_CMD_GC,
};

struct cni_config {
	char cni_version[16];
	char name[CNI_NAME_MAX + 1];
	char type[CNI_NAME_MAX + 1];
	char node[CNI_NODE_MAX + 1];
	char bpffs[CNI_PATH_MAX];
	char state_dir[CNI_PATH_MAX];
	unsigned int mtu;      /* the conflist's `mtu`, else (cni_config_resolve_mtu) the agent's */
	bool has_mtu;	       /* `mtu` given: it wins over the agent's */
	bool has_subnet;       /* ipam.subnet given; else the agent's block for the node is used */
	struct in_addr subnet; /* network address, host bits zero */
	unsigned int prefix;   /* 8 .. 30 */
	bool has_gateway;
	struct in_addr gateway;
	/* CIDR plan (ipam.clusterCIDR, ipam.serviceCIDR, ipam.nodeCidrSize, ipam.dnsServiceIP) */
	struct node_ipam_cidr cluster;
	struct node_ipam_cidr service;
	unsigned int node_cidr_size; /* 0: not given */
	struct in_addr dns_service_ip;
	struct json_object *dns;	 /* copied into the result as given; owned, may be NULL */
	struct json_object *prev_result; /* CHECK/DEL: the ADD's result; owned, may be NULL */
	/* GC: cni.dev/valid-attachments; owned; NULL when missing or null, [] is not NULL */
	struct json_object *valid_attachments;
};

struct cni_env {
	enum cni_command command;
	char container_id[CNI_CONTAINER_ID_MAX + 1];
	char netns[CNI_PATH_MAX];
	char ifname[CNI_IFNAME_MAX + 1];
	char pod_namespace[CNI_POD_NAMESPACE_MAX + 1];
	char pod_name[CNI_POD_NAME_MAX + 1];
};

/* Version string helpers. */
bool cni_version_is_supported(const char *version);
bool cni_version_is_1x(const char *version); /* result shape of 1.0.0 and later */
extern const char *const cni_supported_versions[];

/*
 * Parse and validate the network config in buf[0..len). On failure err holds the spec code and a
 * message naming the field; returns -EINVAL. cfg must be released with cni_config_free().
 */
int cni_config_parse(const char *buf, size_t len, struct cni_config *cfg, struct cni_error *err);
void cni_config_free(struct cni_config *cfg);

/*
 * Read the CNI_* variables through getenv_fn (getenv in the plugin, a table in tests). Which
 * variables are required depends on the command. Returns 0 or -EINVAL with err set (code 4).
 */
int cni_env_parse(const char *(*getenv_fn)(const char *name), struct cni_env *env,
		  struct cni_error *err);
/* CNI_ARGS ("K=V;K=V"): fills env->pod_namespace/pod_name. Returns 0 or -EINVAL (code 4/2). */
int cni_args_parse(const char *args, struct cni_env *env, struct cni_error *err);

/*
 * Settle the node's pod CIDR and gateway (the agent's ipam_node2 record; ipam.subnet must agree
 * with it) and run the CIDR planning check. Returns 0, or -errno with err set: 11 when the
 * agent has no pod CIDR for the node (its reason), 7 for an ipam.subnet other than the agent's
 * or a plan violation naming both ranges.
 */
int cni_config_resolve_subnet(struct cni_config *cfg, struct cni_error *err);

/*
 * Without a conflist `mtu`: the agent's pod MTU for the node (<bpffs>/ipam_mtu), or
 * CNI_MTU_DEFAULT when no agent (or one of an earlier build) published one. Returns 0, or
 * -errno with err set (code 5) when the record is there but cannot be read.
 */
int cni_config_resolve_mtu(struct cni_config *cfg, struct cni_error *err);

/* Validators shared by config and env parsing; each returns true when s is acceptable. */
bool cni_is_valid_network_name(const char *s);
bool cni_is_valid_container_id(const char *s);
bool cni_is_valid_ifname(const char *s);
bool cni_is_valid_abs_path(const char *s, size_t max);
int cni_parse_cidr4(const char *s, struct in_addr *network, unsigned int *prefix);

/* Host-side veth name: "sl" + 12 hex characters of a hash of (container id, ifname). */
void cni_host_veth_name(const char *container_id, const char *ifname, char out[16]);

#endif
