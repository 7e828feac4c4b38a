/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-cni side of the datapath: the pinned pod programs and endpoints map of the node's agent.
 */
#ifndef SLUICE_CNI_CNI_DATAPATH_H
#define SLUICE_CNI_CNI_DATAPATH_H

#include <netinet/in.h>

#include "cni/cni.h"
#include "maps/endpoints.h"

/* The agent's pinned programs for a pod's host veth (attached with lib/tc_attach.h). */
struct cni_progs {
	int pod_fd;    /* <bpffs>/tc_pod, at its tc ingress: what the pod sends */
	int to_pod_fd; /* <bpffs>/tc_to_pod, at its tc egress: what the node's stack hands it */
};

/*
 * Open <bpffs>/ep4 and, when progs is non-NULL, both programs, checking their types and
 * layouts. A missing pin means the agent has not started yet: -ENOENT with err code 11.
 * Other failures: -errno with err code 5. Every fd starts at -1 and is the caller's to close.
 */
int cni_datapath_open(const char *bpffs, const char *node, int *map_fd, struct cni_progs *progs,
		      struct cni_error *err);
/* Close what is open and set every fd to -1. */
void cni_progs_close(struct cni_progs *progs);

int cni_endpoint_update(int map_fd, struct in_addr address, const struct ep4_info *info);
int cni_endpoint_lookup(int map_fd, struct in_addr address, struct ep4_info *info);
/* Deleting an absent entry is success. */
int cni_endpoint_delete(int map_fd, struct in_addr address);
/* Delete every entry pointing at ifindex (DEL when the IPAM record is already gone). */
int cni_endpoint_delete_ifindex(int map_fd, unsigned int ifindex);

/*
 * Socket LB (maps/sock_lb.h): record the pod's network namespace, the one of POD_SOCK_FD (a
 * socket opened in CNI_NETNS), with its ADDRESS and host veth IFINDEX in <bpffs>/lb4_sk_pods,
 * so the agent's socket hooks translate its TCP connections to Services at connect(). Never
 * fails the pod: without the pin (an older agent), SO_NETNS_COOKIE (before Linux 5.14) or room,
 * it says so and the pod's connections take tc_pod's per-packet path. Entries of a former pod
 * with ADDRESS go first.
 */
void cni_pod_netns_record(const char *bpffs, int pod_sock_fd, struct in_addr address, int ifindex);
/* Remove every lb4_sk_pods entry naming ADDRESS (DEL, a failed ADD's rollback). */
void cni_pod_netns_forget(const char *bpffs, struct in_addr address);

/* "namespace/pod" when both are known, else the first 12 characters of the container id. */
void cni_endpoint_name(const struct cni_env *env, char out[SLUICE_NAME_LEN]);

#endif
