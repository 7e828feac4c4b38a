/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Desired state: what the node's maps should hold, built from Kubernetes objects (manifests
 * today, the API server later) and applied to the maps by loader/sync.c as a diff.
 */
#ifndef SLUICE_STATE_H
#define SLUICE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "maps/types.h"

/* One backend of a frontend. Both fields in network byte order, as the maps hold them. */
struct lb_backend_addr {
	uint32_t address;
	uint16_t port;
};

/* One service frontend: a (VIP, port, protocol) triple of a Service port. */
struct lb_frontend {
	uint32_t vip;  /* network byte order */
	uint16_t port; /* network byte order */
	uint8_t proto; /* IPPROTO_TCP / IPPROTO_UDP */
	char name[SLUICE_NAME_LEN]; /* "namespace/name:portname" (":" + number when unnamed) */
	size_t n_backends;
	struct lb_backend_addr *backends; /* sorted by (address, port), no duplicates */
};

struct desired_state {
	struct lb_frontend *frontends; /* sorted by (vip, port, proto), no duplicates */
	size_t n_frontends;
};

void desired_state_free(struct desired_state *state);

#endif
