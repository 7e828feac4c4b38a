/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's Prometheus metrics (--metrics-addr, default 0.0.0.0:9962): the datapath's pinned
 * counters and map fill read at each scrape, and the agent's own sync, watch and rejection
 * counts, in the text exposition format 0.0.4. Names and labels are listed in
 * docs/operations.md; they are a contract, like the CLI's JSON.
 */
#ifndef SLUICE_AGENT_METRICS_H
#define SLUICE_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/k8s/objects.h"
#include "maps/types.h"

#define METRICS_PORT_DEFAULT 9962
/*
 * Counting a hash map's entries walks it; a scrape reuses counts this young (ms), so that a
 * scraper polling fast cannot keep the agent walking a large conntrack table.
 */
#define METRICS_MAP_COUNT_TTL_MS 5000
/*
 * sluice_service_new_flows_total is given for this many Service ports at most, those with the
 * most new flows (--metrics-service-top N; 0: not given), so that a cluster of 10,000 Services
 * never makes 10,000 series.
 */
#define METRICS_SERVICE_TOP_DEFAULT 50
#define METRICS_SERVICE_TOP_MAX	    1000

/* New flows of one Service port ("namespace/name:port", lb4_revnat), over its frontends. */
struct metrics_service_flows {
	char name[SLUICE_NAME_LEN];
	uint64_t flows;
};

/* Where objects the agent refused came from (their last good version stays in force). */
enum metrics_reject_source {
	METRICS_REJECT_API = 0,	 /* the API server's latest version was invalid */
	METRICS_REJECT_MANIFEST, /* a manifest file's object was invalid */
	METRICS_REJECT_CONFLICT, /* valid alone, refused against the others (a claimed port...) */
	METRICS_REJECT_COUNT,
};

struct metrics;

/*
 * Counters for the agent whose maps are pinned under BPFFS, with SERVICE_TOP Service ports at
 * most in sluice_service_new_flows_total. Returns NULL without memory.
 */
struct metrics *metrics_new(const char *bpffs, uint32_t service_top);
void metrics_free(struct metrics *metrics);

/* A sync (read, build, maps) took SECONDS and succeeded or not. */
void metrics_sync_done(struct metrics *metrics, double seconds, bool is_ok);
/* The API source delivered N_EVENTS changes of KIND; IS_RELISTED: KIND was listed anew. */
void metrics_watch_events(struct metrics *metrics, enum k8s_kind kind, uint64_t n_events,
			  bool is_relisted);
/* Objects refused at the last sync, by where they came from. */
void metrics_rejected(struct metrics *metrics, const uint32_t counts[METRICS_REJECT_COUNT]);

/*
 * The top of ITEMS (N frontends' counts, in any order): entries of one name merged, then at most
 * TOP of them kept, most flows first (ties by name). Returns how many are kept, at the start.
 */
size_t metrics_service_top(struct metrics_service_flows *items, size_t n, size_t top);

/*
 * The exposition text at NOW_MS (CLOCK_MONOTONIC) into *OUT (malloc'd, *LEN bytes). A map or
 * pin that cannot be read leaves its series out, never the whole answer. Returns 0 or -ENOMEM.
 */
int metrics_format(struct metrics *metrics, uint64_t now_ms, char **out, size_t *len);

#endif
