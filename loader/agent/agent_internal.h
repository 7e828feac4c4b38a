/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's own parts, shared between its files (private to loader/agent/). */
#ifndef SLUICE_AGENT_INTERNAL_H
#define SLUICE_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "loader/agent/agent.h"
#include "loader/sync/datapath.h"
#include "maps/masq.h"

/*
 * CIDR planning check at start: cluster, service and this node's subnets must not overlap, the
 * DNS IP sits in the service CIDR, and --pod-cidr, when given, passes as a pod CIDR. This node's
 * pod CIDR is decided later, from its Node object (loader/agent/node_addr.c). Returns 0 or
 * -EINVAL after logging what is at fault.
 */
int agent_cidr_plan_check(const struct agent_config *config);

/*
 * Egress masquerade (bpf/lib/masq.h): on when the agent has an uplink to take the replies on
 * (tc_node de-NATs them there; without it they would reach the node's stack, which knows
 * nothing of the port) and a cluster CIDR to tell pods from the outside, unless
 * --masquerade=false. SKIP gets what keeps the pod's address: the cluster CIDR, the service
 * CIDR, each --non-masquerade-cidr. Logs the decision. Returns whether it is on.
 */
bool agent_masquerade_plan(const struct agent_config *config,
			   struct datapath_masq_skip skip[MASQ4_MAX_CIDRS], size_t *n_skip);

#endif
