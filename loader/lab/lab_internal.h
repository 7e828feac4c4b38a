/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lab's insides, shared by the files of loader/lab/ and by nothing else (loader/lab/lab.h is
 * the lab's API): the lab's state, its pods and probes, and the functions one part calls in
 * another.
 */
#ifndef SLUICE_LAB_INTERNAL_H
#define SLUICE_LAB_INTERNAL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "lib/ip_proto.h"
#include "loader/lab/lab.h"

#define LAB_NODE   "lab"
#define LAB_SUBNET "10.244.1.0/24" /* pods get .2, .3, ... in the file's order */
/*
 * Several nodes: node i (1-based) is "lab-i" with pod CIDR 10.244.i.0/24, its eth0
 * 198.51.100.i/24 on the fabric's bridge (documentation range, inside the lab's namespaces).
 */
#define LAB_CLUSTER_CIDR       "10.244.0.0/16"
#define LAB_UNDERLAY_NET       "198.51.100"
#define LAB_READY_TIMEOUT_MS   60000 /* agent start (the ASan build, a loaded machine) */
#define LAB_SYNC_TIMEOUT_MS    15000 /* agent applying a manifest change */
#define LAB_PROBE_TIMEOUT_MS   1000  /* a dropped SYN or datagram: denied */
#define LAB_UDP_RETRY_MS       250   /* datagrams are resent, loss is not denial */
#define LAB_MAX_PODS	       128
#define LAB_MAX_PROBES_PER_POD 4096

struct lab_node {
	char name[24];	/* LAB_NODE alone, else "lab-1", "lab-2", ... */
	char netns[64]; /* name under /var/run/netns */
	char bpffs[PATH_MAX + 32];
	char log[PATH_MAX + 48]; /* the agent's log */
	char subnet[24];	 /* pod CIDR */
	char ip[24];		 /* address on the fabric ("" alone) */
	pid_t agent;
	bool has_netns;
};

struct lab_pod {
	struct k8s_object *object;				/* owned reference */
	size_t node;						/* index into lab.nodes */
	char netns[64];						/* name under /var/run/netns */
	char id[K8S_DNS_LABEL_MAX + K8S_DNS_SUBDOMAIN_MAX + 2]; /* "ns/name" */
	uint32_t ip;						/* network order */
	pid_t server;
	bool is_wired; /* CNI ADD done: DEL on cleanup */
};

struct lab_probe {
	size_t from, to; /* indexes into lab.pods */
	uint16_t port;	 /* host order */
	uint8_t proto;
	bool expected;
};

struct lab {
	const struct lab_options *options;
	char prefix[32];      /* "sllab1a2b3c-" */
	char dir[PATH_MAX];   /* files: manifests/, cni/, agent logs */
	char bpffs[PATH_MAX]; /* parent of the nodes' pin directories */
	char fabric_netns[64];
	char self[PATH_MAX];
	char cni[PATH_MAX];
	bool has_fabric;
	bool has_sctp;
	size_t n_nodes;
	struct lab_node nodes[LAB_MAX_NODES];
	size_t n_pods;
	struct lab_pod pods[LAB_MAX_PODS];
	size_t n_probes;
	struct lab_probe *probes;
	uint8_t *observed; /* shared with the probing children: 1 allowed, 2 denied */
	size_t observed_size;
	uint8_t *explained;	/* per probe, what `sluice explain` said: 1 allowed, 2 denied */
	char **explain_reasons; /* per probe explain answered, its reason (lab_explain_reason) */
	size_t n_pod_netns;	/* counter for names */
};

extern volatile sig_atomic_t lab_stop; /* SIGINT, SIGTERM or SIGHUP seen */

/* lab_objects.c: the file's objects, and the manifests the agent reads. */
int lab_load(const char *file, struct k8s_object ***out, size_t *n_out);
int lab_write_manifests(struct lab *lab, struct k8s_object *const *objects, size_t n);
int lab_write_nodes(struct lab *lab);

/* lab_process.c: child processes, network namespaces, the node and its agent. */
uint64_t lab_now_ms(void);
int lab_enter_netns(const char *name);
void lab_child_init(void);
int lab_exec(char *const argv[], char *const envp[], const char *netns, const char *input,
	     char *out, size_t out_len);
/* `ip ARG...` (NULL-terminated); returns its exit status, or -errno. */
int lab_ip(const char *first, ...) __attribute__((sentinel));
int lab_netns_add(const char *name);
void lab_stop_child(pid_t pid, unsigned int wait_ms);
int lab_count_in_log(const struct lab_node *node, const char *needle);
int lab_wait_log(struct lab *lab, struct lab_node *node, const char *needle, int before,
		 unsigned int timeout_ms);
int lab_start_nodes(struct lab *lab);

/* lab_pods.c: the pods, where they run, and their servers. */
int lab_place(const struct lab *lab, struct k8s_object *const *objects, size_t n, size_t index,
	      size_t *node);
int lab_check_placement(const struct lab *lab, struct k8s_object *const *objects, size_t n);

int lab_add_pod(struct lab *lab, struct k8s_object *object, size_t node);
void lab_remove_pod(struct lab *lab, struct lab_pod *pod);

/* lab_probe.c: the probes and what they saw. */
int lab_probe_all(struct lab *lab);
int lab_plan(struct lab *lab, struct k8s_object *const *objects, size_t n_objects);

/* lab_explain.c: `sluice explain` on every probe, in the source pod's node. */
int lab_explain_all(struct lab *lab);
bool lab_explain_agrees(const struct lab *lab, size_t probe);
/* Explain's reason for PROBE when it said denied (the policy or default deny), else NULL. */
const char *lab_explain_denial(const struct lab *lab, size_t probe);
void lab_explain_free(struct lab *lab);

/* lab_report.c: the report. */
size_t lab_report_json(const struct lab *lab);
size_t lab_report_text(const struct lab *lab);

/* lab_html.c: the report as one self-contained HTML page (-o html FILE). */
int lab_html_check_target(const char *path);
int lab_html_write(const struct lab *lab, FILE *f);
int lab_report_html(const struct lab *lab);

#endif
