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
	uint32_t vip;		    /* network byte order */
	uint16_t port;		    /* network byte order */
	uint8_t proto;		    /* IPPROTO_TCP / IPPROTO_UDP */
	char name[SLUICE_NAME_LEN]; /* "namespace/name:portname" (":" + number when unnamed) */
	size_t n_backends;
	struct lb_backend_addr *backends; /* sorted by (address, port), no duplicates */
};

struct desired_state {
	struct lb_frontend *frontends; /* sorted by (vip, port, proto), no duplicates */
	size_t n_frontends;
};

void desired_state_free(struct desired_state *state);

/*
 * Order is numeric in host order (10.0.0.2 < 10.0.0.10), so lists read naturally in the CLI
 * and sync.c can merge-diff two states with the same comparators.
 */
int lb_backend_addr_cmp(const struct lb_backend_addr *a, const struct lb_backend_addr *b);
int lb_frontend_cmp(const struct lb_frontend *a, const struct lb_frontend *b);
/* Sort and drop duplicates in place; returns the new count. */
size_t lb_backends_normalize(struct lb_backend_addr *backends, size_t count);
/* Deep copy; returns 0 or -ENOMEM (then *dst is empty). */
int desired_state_copy(struct desired_state *dst, const struct desired_state *src);

#endif
