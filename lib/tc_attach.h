/* SPDX-License-Identifier: Apache-2.0 */
/* The one place a sluice tc program is attached to a device (clsact), by the agent and the plugin.
 */
#ifndef SLUICE_TC_ATTACH_H
#define SLUICE_TC_ATTACH_H

#include <stdbool.h>

/*
 * Every sluice tc filter sits under this handle and priority, at its device's ingress (tc_pod,
 * tc_node) or egress (tc_to_pod): the plugin and the agent attach with the same pair, so the
 * agent replaces a filter in place on upgrade.
 */
#define TC_ATTACH_HANDLE   1
#define TC_ATTACH_PRIORITY 1

/*
 * Point IFINDEX's clsact ingress (IS_EGRESS false) or egress at PROG_FD, creating the clsact
 * qdisc when it is missing and replacing a filter of ours already there. Returns 0 or -errno.
 */
int tc_attach(int ifindex, bool is_egress, int prog_fd);

/* Whether our filter is on IFINDEX's ingress or egress: 0, -ENOENT or another -errno. */
int tc_attach_query(int ifindex, bool is_egress);

#endif
