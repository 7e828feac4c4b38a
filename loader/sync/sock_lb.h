/* SPDX-License-Identifier: Apache-2.0 */
/* The node's own traffic to Services: bpf/sock_lb's cgroup hooks loaded, attached and pinned. */
#ifndef SLUICE_SYNC_SOCK_LB_H
#define SLUICE_SYNC_SOCK_LB_H

#include <stddef.h>

#include "loader/sync/datapath.h"

/* Where a cgroup v2 hierarchy is mounted when the node has none (cgroup v1 alone). */
#define SOCK_LB_CGROUP_MOUNT "/run/sluice/cgroupv2"

/*
 * With opts->is_host_lb: load sock_lb (maps adopted from opts->bpffs, which datapath_load()
 * made), and attach its connect4, sendmsg4, recvmsg4 and getpeername4 programs to
 * opts->cgroup_root (or the cgroup2 mount: /proc/mounts, else one mounted at
 * SOCK_LB_CGROUP_MOUNT) by bpf_links pinned at bpffs/sock_lb_*: a restart swaps its programs
 * into the pinned links. The programs act only in the agent's network namespace. Without
 * is_host_lb: the pinned links are removed, so the hooks are gone.
 * Returns 0 or -errno: an explicit cgroup_root that is no cgroup v2 directory, or a failure
 * to attach to it, is an error; without cgroup_root, a node where the hooks cannot be had
 * (no cgroup2, kernel without the hooks) logs one warning and returns 0.
 */
int sock_lb_setup(const struct datapath_opts *opts, struct datapath_result *result);

/* Is DIR a cgroup v2 directory? 0, or -errno after one line naming --cgroup-root DIR. */
int sock_lb_check_root(const char *dir);

#endif
