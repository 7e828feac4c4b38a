/* SPDX-License-Identifier: Apache-2.0 */
/*
 * healthCheckNodePort: the HTTP responder external load balancers probe to learn which nodes
 * have local endpoints of an externalTrafficPolicy Local service, answered as kube-proxy does.
 */
#ifndef SLUICE_HEALTH_H
#define SLUICE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "loader/desired/state.h"

/* Connections served at once; more wait in the listen backlog. */
#define HEALTH_MAX_CLIENTS 64
/* A client that has not sent its request headers within this many ms is dropped. */
#define HEALTH_CLIENT_TIMEOUT_MS 2000
/* Largest request head read (request line + headers). */
#define HEALTH_REQUEST_MAX 4096

struct health;

/*
 * Start the responder thread, with no ports yet. Returns 0 or -errno.
 */
int health_start(struct health **out);

/*
 * Serve STATE's health checks from now on: one listening socket per port and node address
 * (0.0.0.0 when the state has none); ports no longer listed are closed, counts of ports kept
 * change in place. GET on any path answers 200 when the service has local endpoints, else 503,
 * with {"service":{"namespace","name"},"localEndpoints":N,"serviceProxyHealthy":true}.
 * A port that cannot be bound is logged and retried at the next update. Returns 0 or -errno.
 */
int health_update(struct health *health, const struct desired_state *state);

/* Stop the thread and close every socket. NULL is fine. */
void health_stop(struct health *health);

/* Ports being listened on (for logs and tests). */
size_t health_port_count(struct health *health);

/* The response for a check, as sent (status line to body); returns its length or -ENOSPC. */
int health_format_response(const struct lb_health_check *check, char *buf, size_t len);

#endif
