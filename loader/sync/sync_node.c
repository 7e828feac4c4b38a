// SPDX-License-Identifier: Apache-2.0
/* node4_addrs: the node's own addresses, for NodePort and masquerading. */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/log.h"
#include "lib/map_walk.h"
#include "loader/sync/sync_internal.h"

static ssize_t sync_node_find(const uint32_t *keys, size_t n, uint32_t key)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i] == key)
			return (ssize_t)i;
	return -1;
}

/*
 * node4_addrs from desired_state.node_addresses: one entry per address, and the 0.0.0.0 entry
 * naming the first address as the source of masqueraded LoadBalancer and external IP flows.
 * New entries are written before stale ones go, so a NodePort never misses its address while
 * the node's addresses change. Returns 0 or the first -errno (the rest is still applied).
 */
int sync_node_addrs(struct sync_ctx *ctx, const struct desired_state *state)
{
	uint32_t keys[NODE_MAX_ADDRS];
	struct node4_addr values[NODE_MAX_ADDRS];
	size_t n = 0;
	ssize_t at;
	int err = 0, ret;

	if (ctx->maps.node4_addrs < 0)
		return 0;
	for (size_t i = 0; i < state->n_node_addresses && n < NODE_MAX_ADDRS - 1; i++) {
		uint32_t address = state->node_addresses[i];

		if (!address || sync_node_find(keys, n, address) >= 0)
			continue;
		keys[n] = address;
		values[n].snat = address;
		values[n].flags = NODE4_F_ADDRESS;
		n++;
	}
	if (state->n_node_addresses > NODE_MAX_ADDRS - 1)
		log_warn("%s: %zu node addresses, only the first %d are used", NODE4_ADDRS_MAP,
			 state->n_node_addresses, NODE_MAX_ADDRS - 1);
	if (n) {
		keys[n] = 0;
		values[n].snat = keys[0];
		values[n].flags = 0;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		at = sync_node_find(ctx->node_keys, ctx->n_node, keys[i]);
		if (at >= 0 && !memcmp(&ctx->node_values[at], &values[i], sizeof(values[i])))
			continue;
		ret = sync_update(ctx, ctx->maps.node4_addrs, &keys[i], &values[i]);
		if (ret) {
			log_warn("%s: write node address: %s", NODE4_ADDRS_MAP, strerror(-ret));
			err = err ?: ret;
		}
	}
	for (size_t i = 0; i < ctx->n_node; i++) {
		if (sync_node_find(keys, n, ctx->node_keys[i]) >= 0)
			continue;
		ret = sync_delete(ctx, ctx->maps.node4_addrs, &ctx->node_keys[i]);
		if (ret) {
			log_warn("%s: delete node address: %s", NODE4_ADDRS_MAP, strerror(-ret));
			err = err ?: ret;
		}
	}
	memcpy(ctx->node_keys, keys, n * sizeof(keys[0]));
	memcpy(ctx->node_values, values, n * sizeof(values[0]));
	ctx->n_node = n;
	return err;
}

/* Read node4_addrs back so the first apply is a diff against it. */
int sync_adopt_node_addrs(struct sync_ctx *ctx)
{
	uint32_t key;
	struct map_walk walk;

	if (ctx->maps.node4_addrs < 0)
		return 0;
	map_walk_start(&walk, ctx->maps.node4_addrs, sizeof(key), sizeof(ctx->node_values[0]));
	while (ctx->n_node < NODE_MAX_ADDRS &&
	       map_walk_next(&walk, &key, &ctx->node_values[ctx->n_node]))
		ctx->node_keys[ctx->n_node++] = key;
	return 0;
}
