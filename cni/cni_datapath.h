/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-cni side of the datapath: the pinned pod program and endpoints map of the node's agent. */
#ifndef SLUICE_CNI_CNI_DATAPATH_H
#define SLUICE_CNI_CNI_DATAPATH_H

#include <netinet/in.h>

#include "cni/cni.h"
#include "maps/endpoints.h"

/*
 * Open <bpffs>/ep4 and, when prog_fd is non-NULL, <bpffs>/tc_pod, checking their types and
 * layouts. A missing pin means the agent has not started yet: -ENOENT with err code 11.
 * Other failures: -errno with err code 5. Both fds start at -1 and are the caller's to close.
 */
int cni_datapath_open(const char *bpffs, const char *node, int *map_fd, int *prog_fd,
		      struct cni_error *err);

/* clsact on ifindex (kept if present) + prog at ingress, handle 1 priority 1, replacing. */
int cni_datapath_attach(int ifindex, int prog_fd);
/* Whether a filter with our handle/priority is on ifindex's ingress: 0 or -ENOENT. */
int cni_datapath_query(int ifindex);

int cni_endpoint_update(int map_fd, struct in_addr address, const struct ep4_info *info);
int cni_endpoint_lookup(int map_fd, struct in_addr address, struct ep4_info *info);
/* Deleting an absent entry is success. */
int cni_endpoint_delete(int map_fd, struct in_addr address);
/* Delete every entry pointing at ifindex (DEL when the IPAM record is already gone). */
int cni_endpoint_delete_ifindex(int map_fd, unsigned int ifindex);

/* "namespace/pod" when both are known, else the first 12 characters of the container id. */
void cni_endpoint_name(const struct cni_env *env, char out[SLUICE_NAME_LEN]);

#endif
