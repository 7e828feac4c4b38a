/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routing between nodes in the agent (--routing tunnel|native): the tunnel device, tunnel4 and
 * the kernel routes to other nodes' pod CIDRs, made to follow the node addressing the agent
 * published (lib/node_ipam.h) each time Nodes change. Nothing is undone on exit: a restarted
 * agent adopts the device, the map and the routes as they are, so flows between nodes survive.
 */
#ifndef SLUICE_AGENT_ROUTING_H
#define SLUICE_AGENT_ROUTING_H

#include <stdbool.h>
#include <stdint.h>

#include "loader/agent/agent.h"
#include "loader/sync/datapath.h"

struct routing;

/*
 * How often the agent calls routing_update() with no Node change (ms): what it finds different
 * (a route or a tunnel4 entry removed by hand, the device deleted) is put back. A check lists the
 * routes and walks tunnel4, and writes nothing when all is in place.
 */
#define ROUTING_CHECK_PERIOD_MS 5000

/*
 * Before the datapath loads: refuse what is not supported (--tunnel geneve), open a route
 * socket, and set dp_opts->tunnel_ifindex to the tunnel device a former agent left (under
 * --routing tunnel) so that the pod program is loaded for it; under --routing native, remove a
 * leftover tunnel device (its routes go with it). Returns 0 or -errno (logged).
 */
int routing_start(const struct agent_config *config, struct datapath_opts *dp_opts,
		  struct routing **out);

/*
 * Follow the published node addressing: under tunnel, the device (created, adopted or made
 * again; the tunnel programs are attached again when its ifindex changes), then tunnel4 and one
 * route per ready node's pod CIDR through it; under native, one route per ready node's pod CIDR via
 * its address. Entries and routes of nodes removed or refused go. Returns 0 or -errno (logged; the
 * next call tries again, see routing_is_pending()).
 */
int routing_update(struct routing *routing, struct datapath_opts *dp_opts,
		   struct datapath_result *dp);

/* The last update failed or did not run: the next sync updates again. */
bool routing_is_pending(const struct routing *routing);

void routing_free(struct routing *routing);

#endif
