/* SPDX-License-Identifier: Apache-2.0 */
/*
 * healthCheckNodePort: the HTTP responder external load balancers probe to learn which nodes
 * have local endpoints of an externalTrafficPolicy Local service, answered as kube-proxy does.
 */
#ifndef SLUICE_HEALTH_H
#define SLUICE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/desired/state.h"

/* Connections served at once; more wait in the listen backlog. */
#define HEALTH_MAX_CLIENTS 64
/* A client that has not sent its request headers within this many ms is dropped. */
#define HEALTH_CLIENT_TIMEOUT_MS 2000
/* Largest request head read (request line + headers). */
#define HEALTH_REQUEST_MAX 4096
/* A client gets this long (ms) to take a whole answer (a metrics page) before it is closed. */
#define HEALTH_SEND_TIMEOUT_MS 10000

/*
 * kube-proxy's own health endpoint (--healthz-addr, default 0.0.0.0:10256), which cloud load
 * balancers probe for externalTrafficPolicy Cluster services: /healthz and /livez. Healthy
 * once the datapath is attached and a sync has succeeded, until a change waits unapplied (or
 * keeps failing) for longer than HEALTH_PROXY_TIMEOUT_MS, as kube-proxy's healthTimeout (twice
 * its 30 s sync period).
 */
#define HEALTH_PROXY_PORT_DEFAULT 10256
#define HEALTH_PROXY_TIMEOUT_MS	  60000

/* What a /healthz or /livez answer is computed from. */
struct health_proxy_view {
	bool has_synced;	    /* a sync has succeeded since the datapath was attached */
	bool is_node_eligible;	    /* this node's Node is not leaving (k8s_node.is_leaving) */
	uint64_t last_updated_ns;   /* CLOCK_REALTIME of the last successful sync */
	uint64_t oldest_pending_ms; /* CLOCK_MONOTONIC of the oldest change not applied, or 0 */
};

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

/*
 * Also serve /healthz and /livez on ADDRESS:PORT (network order address, host order port)
 * from now on. A port that cannot be bound is logged and retried every second.
 */
void health_serve_proxy(struct health *health, uint32_t address, uint16_t port);

struct metrics;

/*
 * Also serve METRICS' exposition text at GET /metrics on ADDRESS:PORT (network order address,
 * host order port) from now on; METRICS must outlive the responder.
 */
void health_serve_metrics(struct health *health, struct metrics *metrics, uint32_t address,
			  uint16_t port);

/* A change is waiting to be applied (only the first one pending counts). */
void health_proxy_queued(struct health *health);
/* A sync ended: IS_OK clears what was pending and stamps lastUpdated; else it stays pending. */
void health_proxy_synced(struct health *health, bool is_ok);
/* Whether this node's Node object says it is leaving. */
void health_proxy_node_eligible(struct health *health, bool is_eligible);

/*
 * The answer to GET PATH (request target, query ignored) on the proxy port at NOW_MS
 * (CLOCK_MONOTONIC) and NOW_NS (CLOCK_REALTIME), as sent: /healthz is 200 when healthy and the
 * node eligible, /livez when healthy, both else 503, with kube-proxy's JSON body
 * ({"lastUpdated","currentTime","nodeEligible","healthy","status":{"IPv4":{...}}}); any
 * other path is 404. Returns the length or -ENOSPC.
 */
int health_format_proxy(const struct health_proxy_view *view, const char *path, uint64_t now_ms,
			uint64_t now_ns, char *buf, size_t len);

/* Stop the thread and close every socket. NULL is fine. */
void health_stop(struct health *health);

/* Ports being listened on (for logs and tests). */
size_t health_port_count(struct health *health);

/* The response for a check, as sent (status line to body); returns its length or -ENOSPC. */
int health_format_response(const struct lb_health_check *check, char *buf, size_t len);

#endif
