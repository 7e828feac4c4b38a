/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node addressing in the agent: plans it from the Node objects (loader/desired/nodes.h), logs
 * what changed once, and publishes it for the CNI plugin and the CLI (lib/node_ipam.h).
 */
#ifndef SLUICE_AGENT_NODE_ADDR_H
#define SLUICE_AGENT_NODE_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "loader/agent/agent.h"
#include "loader/k8s/objects.h"

struct node_addr;

/*
 * Start: remove the legacy pin and publish this node's record with no pod CIDR yet, so a CNI
 * ADD before the first plan is told to try again. Returns 0 or -errno (logged).
 */
int node_addr_start(const struct agent_config *config, struct node_addr **out);

/*
 * Plan again from every Node object (nodes, n; none without a source of objects), log what
 * changed and publish. Returns 0 or -errno (logged; the pins keep the last good plan).
 */
int node_addr_update(struct node_addr *addr, const struct k8s_object *const *nodes, size_t n);

/* The last update failed: the next sync plans again even if no Node changed. */
bool node_addr_is_pending(const struct node_addr *addr);

void node_addr_free(struct node_addr *addr);

#endif
