/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NetworkPolicies compiled into what the datapath looks up: identities, the ipcache (pod
 * addresses and ipBlock prefixes -> identity) and rules keyed by (subject identity, peer
 * identity, direction, protocol, port prefix). Written apart from the reference evaluator
 * (loader/desired/netpol_eval.c), which the tests and the lab hold it to.
 */
#ifndef SLUICE_NETPOL_COMPILE_H
#define SLUICE_NETPOL_COMPILE_H

#include "loader/k8s/objects.h"
#include "loader/desired/state.h"

/*
 * Compile the NetworkPolicies, Pods and Namespaces among OBJECTS (any order; the first of
 * duplicates wins). Returns 0 with *out a new state (free with policy_state_free), or -ENOMEM.
 */
int netpol_compile(struct k8s_object *const *objects, size_t n_objects, struct policy_state **out);

/*
 * What the datapath would decide for a new flow between two addresses, computed from a
 * compiled state the way bpf/lib/policy.h reads the maps (for tests and `policy list`).
 */
bool netpol_compiled_allows(const struct policy_state *state, uint32_t saddr, uint32_t daddr,
			    uint16_t port, uint8_t proto);

#endif
