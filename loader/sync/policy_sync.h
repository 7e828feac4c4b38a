/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Applies the compiled NetworkPolicy state (loader/desired/state.h, policy_state) to the policy
 * maps (maps/policy.h) as a diff: rules and addresses are added before stale ones go, so a pod
 * changing identity finds its new rules in place, and identity numbers stay stable across
 * syncs for as long as their key is in use.
 */
#ifndef SLUICE_POLICY_SYNC_H
#define SLUICE_POLICY_SYNC_H

#include "lib/bpffs.h"
#include "loader/desired/state.h"

#include <stddef.h>
#include <stdint.h>

struct policy_sync;

/* *out is NULL (and 0 returned) when the pins have no policy maps. Returns 0 or -ENOMEM. */
int policy_sync_open(const struct sluice_maps *maps, struct policy_sync **out);
void policy_sync_close(struct policy_sync *sync);

/* Host addresses beyond the node's interfaces: the Node object's and --node-ip's. */
#define POLICY_MAX_HOST_ADDRS 256
void policy_sync_set_node_addresses(struct policy_sync *sync, const uint32_t *addresses, size_t n);

/*
 * Make the maps hold STATE, and the node's own addresses (its interfaces' and those set above)
 * as the host identity, which no policy judges. Returns 0 or the first -errno (the rest still
 * applied). */
int policy_sync_apply(struct policy_sync *sync, const struct policy_state *state,
		      unsigned long *writes);

/* The number given to identity KEY by the last apply, or 0. */
uint32_t policy_sync_identity(const struct policy_sync *sync, const char *key);

#endif
