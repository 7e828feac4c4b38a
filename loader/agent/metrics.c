// SPDX-License-Identifier: Apache-2.0
/* The agent's Prometheus metrics (see loader/agent/metrics.h), text exposition format 0.0.4. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/bpffs.h"
#include "lib/dp_counters.h"
#include "lib/map_walk.h"
#include "lib/node_ipam.h"
#include "loader/agent/agent_status.h"
#include "loader/agent/metrics.h"
#include "maps/ct.h"
#include "maps/events.h"
#include "maps/lb.h"
#include "maps/stats.h"

/* Upper bounds (seconds) of the sync duration histogram: a 10,000-Service first sync is ~2 s. */
static const double metrics_sync_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					      0.25,  0.5,    1,	    2.5,  5,	 10};
#define METRICS_N_BUCKETS (sizeof(metrics_sync_buckets) / sizeof(metrics_sync_buckets[0]))

static const char *const metrics_reject_names[METRICS_REJECT_COUNT] = {
    [METRICS_REJECT_API] = "api",
    [METRICS_REJECT_MANIFEST] = "manifest",
    [METRICS_REJECT_CONFLICT] = "conflict",
};

/* What one scrape read of a map's fill; reused for METRICS_MAP_COUNT_TTL_MS. */
struct metrics_map_fill {
	uint64_t read_ms; /* 0: never read */
	int64_t entries;  /* -1: unreadable */
	uint32_t max_entries;
	bool can_fill;
};

/* SNAT ports held per node address, from the same conntrack walk as its fill. */
#define METRICS_SNAT_ADDRESSES 16
struct metrics_snat {
	uint32_t address; /* network order; 0: free slot */
	uint64_t ports;
};

struct metrics {
	pthread_mutex_t lock; /* the agent's thread writes, the responder's reads */
	char bpffs[PATH_MAX];
	uint32_t service_top; /* --metrics-service-top */
	uint64_t sync_buckets[METRICS_N_BUCKETS];
	uint64_t sync_count, sync_failures;
	double sync_seconds;
	uint64_t last_sync_unix_s;
	uint64_t watch_events[K8S_KIND_COUNT], watch_relists[K8S_KIND_COUNT];
	uint32_t rejected[METRICS_REJECT_COUNT];
	/* The responder's own cache (only its thread formats). */
	struct metrics_map_fill *fill;
	struct metrics_snat snat[METRICS_SNAT_ADDRESSES];
	size_t n_snat;
	bool is_snat_overflow;
};

struct metrics *metrics_new(const char *bpffs, uint32_t service_top)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->fill = calloc(dp_n_pinned_maps, sizeof(*m->fill));
	if (!m->fill) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	snprintf(m->bpffs, sizeof(m->bpffs), "%s", bpffs);
	m->service_top = service_top;
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->fill);
	free(m);
}

void metrics_sync_done(struct metrics *m, double seconds, bool is_ok)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < METRICS_N_BUCKETS; i++)
		if (seconds <= metrics_sync_buckets[i])
			m->sync_buckets[i]++;
	m->sync_count++;
	m->sync_seconds += seconds;
	if (!is_ok)
		m->sync_failures++;
	else
		m->last_sync_unix_s = (uint64_t)time(NULL);
	pthread_mutex_unlock(&m->lock);
}

void metrics_watch_events(struct metrics *m, enum k8s_kind kind, uint64_t n_events,
			  bool is_relisted)
{
	if (!m || kind >= K8S_KIND_COUNT)
		return;
	pthread_mutex_lock(&m->lock);
	m->watch_events[kind] += n_events;
	m->watch_relists[kind] += is_relisted;
	pthread_mutex_unlock(&m->lock);
}

void metrics_rejected(struct metrics *m, const uint32_t counts[METRICS_REJECT_COUNT])
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	memcpy(m->rejected, counts, sizeof(m->rejected));
	pthread_mutex_unlock(&m->lock);
}

/* # HELP and # TYPE of a family, once before its samples. */
static void metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Forward conntrack entries of masqueraded flows hold one SNAT port of their node address. */
static void metrics_snat_count(struct metrics *m, const struct ct_entry *entry)
{
	size_t i;

	if (!(entry->flags & CT_F_SNAT) || (entry->flags & CT_F_REPLY))
		return;
	for (i = 0; i < m->n_snat; i++)
		if (m->snat[i].address == entry->nat_saddr)
			break;
	if (i == m->n_snat) {
		if (m->n_snat == METRICS_SNAT_ADDRESSES) {
			m->is_snat_overflow = true;
			return;
		}
		m->snat[m->n_snat++] = (struct metrics_snat){.address = entry->nat_saddr};
	}
	m->snat[i].ports++;
}

/* conntrack's entries counted by a walk that also counts SNAT ports. Returns entries or -1. */
static int64_t metrics_ct_walk(struct metrics *m, int fd)
{
	struct ct4_key key;
	struct ct_entry entry;
	struct map_walk walk;
	int64_t n = 0;

	m->n_snat = 0;
	m->is_snat_overflow = false;
	map_walk_start(&walk, fd, sizeof(key), sizeof(entry));
	while (map_walk_next(&walk, &key, &entry)) {
		n++;
		metrics_snat_count(m, &entry);
	}
	return walk.err ? -1 : n;
}

/* Refresh map I's fill when its last reading is older than the TTL. */
static void metrics_read_fill(struct metrics *m, size_t i, uint64_t now_ms)
{
	struct metrics_map_fill *fill = &m->fill[i];
	struct bpf_map_info info;
	__u32 info_len = sizeof(info);
	int fd;

	if (fill->read_ms && now_ms - fill->read_ms < METRICS_MAP_COUNT_TTL_MS)
		return;
	fill->read_ms = now_ms;
	fill->entries = -1;
	fd = bpffs_open_map(m->bpffs, dp_pinned_maps[i]);
	if (fd < 0)
		return;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &info_len)) {
		fill->max_entries = info.max_entries;
		fill->can_fill = dp_map_can_fill(&info);
		fill->entries = strcmp(dp_pinned_maps[i], CT4_MAP) == 0 ? metrics_ct_walk(m, fd)
									: dp_map_entries(fd, &info);
	}
	close(fd);
}

static void metrics_maps(struct metrics *m, FILE *f, uint64_t now_ms)
{
	const struct metrics_map_fill *ct = NULL;
	char text[INET_ADDRSTRLEN];

	for (size_t i = 0; i < dp_n_pinned_maps; i++) {
		metrics_read_fill(m, i, now_ms);
		if (strcmp(dp_pinned_maps[i], CT4_MAP) == 0 && m->fill[i].entries >= 0)
			ct = &m->fill[i];
	}
	metrics_family(f, "sluice_map_entries", "gauge",
		       "Entries in a pinned BPF map that fills as it is used (hash, LRU, LPM).");
	for (size_t i = 0; i < dp_n_pinned_maps; i++)
		if (m->fill[i].entries >= 0 && m->fill[i].can_fill)
			fprintf(f, "sluice_map_entries{map=\"%s\"} %lld\n", dp_pinned_maps[i],
				(long long)m->fill[i].entries);
	metrics_family(f, "sluice_map_max_entries", "gauge",
		       "Capacity of a pinned BPF map (max_entries).");
	for (size_t i = 0; i < dp_n_pinned_maps; i++)
		if (m->fill[i].entries >= 0)
			fprintf(f, "sluice_map_max_entries{map=\"%s\"} %u\n", dp_pinned_maps[i],
				m->fill[i].max_entries);
	metrics_family(f, "sluice_map_fill_ratio", "gauge",
		       "Entries over capacity of a pinned BPF map that fills as it is used.");
	for (size_t i = 0; i < dp_n_pinned_maps; i++)
		if (m->fill[i].entries >= 0 && m->fill[i].can_fill && m->fill[i].max_entries)
			fprintf(f, "sluice_map_fill_ratio{map=\"%s\"} %.6f\n", dp_pinned_maps[i],
				(double)m->fill[i].entries / m->fill[i].max_entries);
	if (!ct)
		return;
	metrics_family(f, "sluice_conntrack_entries", "gauge",
		       "Connection tracking entries (one per direction of a flow).");
	fprintf(f, "sluice_conntrack_entries %lld\n", (long long)ct->entries);
	metrics_family(f, "sluice_conntrack_max_entries", "gauge",
		       "Connection tracking capacity (--ct-size).");
	fprintf(f, "sluice_conntrack_max_entries %u\n", ct->max_entries);
	metrics_family(
	    f, "sluice_conntrack_fill_ratio", "gauge",
	    "Connection tracking entries over capacity; from 0.8 new flows live on early "
	    "drop.");
	fprintf(f, "sluice_conntrack_fill_ratio %.6f\n",
		ct->max_entries ? (double)ct->entries / ct->max_entries : 0.0);
	metrics_family(f, "sluice_snat_ports_in_use", "gauge",
		       "SNAT ports held by masqueraded flows (NodePort Cluster, egress), per node "
		       "address.");
	for (size_t i = 0; i < m->n_snat; i++) {
		inet_ntop(AF_INET, &m->snat[i].address, text, sizeof(text));
		fprintf(f, "sluice_snat_ports_in_use{address=\"%s\"} %llu\n", text,
			(unsigned long long)m->snat[i].ports);
	}
}

/* ct4_ring's early-drop and insert-failure counters. */
static void metrics_ct_ring(const struct metrics *m, FILE *f)
{
	struct ct4_ring *ring = malloc(sizeof(*ring));
	__u32 zero = 0;
	int fd = bpffs_open_map(m->bpffs, CT4_RING_MAP);

	if (ring && fd >= 0 && !bpf_map_lookup_elem(fd, &zero, ring)) {
		metrics_family(f, "sluice_conntrack_early_drops_total", "counter",
			       "Unconfirmed, expired or closed flows deleted to make room for new "
			       "ones in a full conntrack table.");
		fprintf(f, "sluice_conntrack_early_drops_total %llu\n",
			(unsigned long long)ring->early_drops);
		metrics_family(f, "sluice_conntrack_insert_failures_total", "counter",
			       "New flows whose conntrack entry could not be written (table full, "
			       "nothing to early-drop).");
		fprintf(f, "sluice_conntrack_insert_failures_total %llu\n",
			(unsigned long long)ring->insert_failed);
	}
	if (fd >= 0)
		close(fd);
	free(ring);
}

/* The per-CPU packet and drop counters, summed. */
static void metrics_counters(const struct metrics *m, FILE *f)
{
	struct stat_value stats[STAT_MAX];
	struct dp_drops drops;
	int fd = bpffs_open_map(m->bpffs, STATS_MAP);
	bool has_stats = fd >= 0 && !dp_percpu_sum(fd, STAT_MAX, stats), has_drops;

	if (fd >= 0)
		close(fd);
	fd = bpffs_open_map(m->bpffs, DROPS_MAP);
	has_drops = fd >= 0 && !dp_drops_read(fd, &drops);
	if (fd >= 0)
		close(fd);
	if (has_stats) {
		metrics_family(f, "sluice_packets_total", "counter",
			       "Packets the datapath handled, by the outcome each had.");
		for (uint32_t i = 0; i < STAT_MAX; i++)
			fprintf(f, "sluice_packets_total{outcome=\"%s\"} %llu\n",
				stat_names[i] ? stat_names[i] : "unknown",
				(unsigned long long)stats[i].packets);
		metrics_family(f, "sluice_packet_bytes_total", "counter",
			       "Bytes of the packets the datapath handled, by outcome.");
		for (uint32_t i = 0; i < STAT_MAX; i++)
			fprintf(f, "sluice_packet_bytes_total{outcome=\"%s\"} %llu\n",
				stat_names[i] ? stat_names[i] : "unknown",
				(unsigned long long)stats[i].bytes);
	}
	if (!has_drops)
		return;
	metrics_family(f, "sluice_drops_total", "counter",
		       "Packets the datapath dropped, by reason and direction (ingress: into a pod "
		       "or arriving at the node; egress: sent by a pod).");
	for (uint32_t i = DROP_NONE + 1; i < DROP_MAX; i++)
		for (uint32_t dir = 0; dir < DROP_DIR_MAX; dir++)
			fprintf(f, "sluice_drops_total{reason=\"%s\",direction=\"%s\"} %llu\n",
				drop_ids[i] ? drop_ids[i] : "unknown", drop_dir_ids[dir],
				(unsigned long long)drops.by_dir[dir][i].packets);
	metrics_family(f, "sluice_drop_bytes_total", "counter",
		       "Bytes of the packets the datapath dropped, by reason and direction.");
	for (uint32_t i = DROP_NONE + 1; i < DROP_MAX; i++)
		for (uint32_t dir = 0; dir < DROP_DIR_MAX; dir++)
			fprintf(f, "sluice_drop_bytes_total{reason=\"%s\",direction=\"%s\"} %llu\n",
				drop_ids[i] ? drop_ids[i] : "unknown", drop_dir_ids[dir],
				(unsigned long long)drops.by_dir[dir][i].bytes);
}

static int metrics_service_by_name(const void *a, const void *b)
{
	return strcmp(((const struct metrics_service_flows *)a)->name,
		      ((const struct metrics_service_flows *)b)->name);
}

static int metrics_service_by_flows(const void *a, const void *b)
{
	const struct metrics_service_flows *x = a, *y = b;

	if (x->flows != y->flows)
		return x->flows > y->flows ? -1 : 1;
	return strcmp(x->name, y->name);
}

size_t metrics_service_top(struct metrics_service_flows *items, size_t n, size_t top)
{
	size_t kept = 0;

	if (!n)
		return 0;
	qsort(items, n, sizeof(*items), metrics_service_by_name);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(items[i].name, items[kept].name) == 0)
			items[kept].flows += items[i].flows;
		else
			items[++kept] = items[i];
	}
	kept++;
	qsort(items, kept, sizeof(*items), metrics_service_by_flows);
	return kept < top ? kept : top;
}

/*
 * Every frontend's new flows (svc_flows) under its Service port's name (lb4_revnat; a frontend
 * gone from lb4_revnat is left out), into *ITEMS (malloc'd). Returns the count or -errno.
 */
static long metrics_service_read(const struct metrics *m, struct metrics_service_flows **items)
{
	int ncpus = libbpf_num_possible_cpus();
	int flows_fd = bpffs_open_map(m->bpffs, SVC_FLOWS_MAP);
	int revnat_fd = bpffs_open_map(m->bpffs, LB4_REVNAT_MAP);
	struct metrics_service_flows *list = NULL;
	uint64_t *values = NULL;
	struct lb4_revnat revnat;
	struct map_walk walk;
	size_t n = 0, cap = 0;
	__u32 svc_id;
	long err = 0;

	if (flows_fd < 0 || revnat_fd < 0 || ncpus <= 0) {
		err = flows_fd < 0 ? flows_fd : revnat_fd < 0 ? revnat_fd : -EINVAL;
		goto cleanup;
	}
	values = calloc((size_t)ncpus, sizeof(*values));
	if (!values) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Keys only: the walk cannot take per-CPU values, each is looked up on its own. */
	map_walk_start(&walk, flows_fd, sizeof(svc_id), 0);
	while (map_walk_next(&walk, &svc_id, NULL)) {
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(flows_fd, &svc_id, values) ||
		    bpf_map_lookup_elem(revnat_fd, &svc_id, &revnat))
			continue;
		for (int cpu = 0; cpu < ncpus; cpu++)
			sum += values[cpu];
		if (n == cap) {
			size_t grown = cap ? 2 * cap : 64;
			struct metrics_service_flows *more = realloc(list, grown * sizeof(*list));

			if (!more) {
				err = -ENOMEM;
				goto cleanup;
			}
			list = more;
			cap = grown;
		}
		memcpy(list[n].name, revnat.name, sizeof(list[n].name));
		list[n].name[sizeof(list[n].name) - 1] = '\0';
		list[n++].flows = sum;
	}
	err = walk.err;

cleanup:
	free(values);
	if (flows_fd >= 0)
		close(flows_fd);
	if (revnat_fd >= 0)
		close(revnat_fd);
	if (err) {
		free(list);
		return err;
	}
	*items = list;
	return (long)n;
}

/*
 * New flows per Service port, the top --metrics-service-top of them. A Service port's name is
 * "namespace/name:port" (port: its name, else its number; loader/desired/build_frontends.c).
 */
static void metrics_services(const struct metrics *m, FILE *f)
{
	struct metrics_service_flows *items = NULL;
	long n;
	size_t kept;

	if (!m->service_top)
		return;
	n = metrics_service_read(m, &items);
	if (n < 0)
		return;
	kept = metrics_service_top(items, (size_t)n, m->service_top);
	metrics_family(
	    f, "sluice_service_new_flows_total", "counter",
	    "New flows translated to a Service port's backends (packet path and "
	    "socket hooks), for the Service ports with the most (--metrics-service-top).");
	for (size_t i = 0; i < kept; i++) {
		char *slash = strchr(items[i].name, '/'), *colon = strrchr(items[i].name, ':');

		if (!slash || !colon || colon < slash)
			continue;
		*slash = *colon = '\0';
		fprintf(f,
			"sluice_service_new_flows_total{namespace=\"%s\",name=\"%s\",port=\"%s\"} "
			"%llu\n",
			items[i].name, slash + 1, colon + 1, (unsigned long long)items[i].flows);
	}
	free(items);
}

/* Flow events the datapath could not report (sluice observe): ring full, rate-limited. */
static void metrics_events_lost(const struct metrics *m, FILE *f)
{
	static const char *const reasons[EVENTS_LOST_MAX] = {
	    [EVENTS_LOST_RING] = "ring_full", [EVENTS_LOST_RATE] = "rate_limited"};
	int fd = bpffs_open_map(m->bpffs, EVENTS_LOST_MAP);
	__u64 lost[EVENTS_LOST_MAX];

	if (fd >= 0 && !dp_percpu_sum_u64(fd, EVENTS_LOST_MAX, 1, lost)) {
		metrics_family(f, "sluice_events_lost_total", "counter",
			       "Flow events the datapath could not report, by reason.");
		for (uint32_t key = 0; key < EVENTS_LOST_MAX; key++)
			fprintf(f, "sluice_events_lost_total{reason=\"%s\"} %llu\n", reasons[key],
				(unsigned long long)lost[key]);
	}
	if (fd >= 0)
		close(fd);
}

/* The agent's status record and the pod address block this node's plugin hands out. */
static void metrics_node(const struct metrics *m, FILE *f)
{
	struct node_ipam_usage usage;
	struct agent_status status;

	if (!agent_status_read(m->bpffs, &status)) {
		metrics_family(f, "sluice_frontends", "gauge",
			       "Service frontends (address, port, protocol) in the maps.");
		fprintf(f, "sluice_frontends %u\n", status.frontends);
		metrics_family(f, "sluice_backends", "gauge", "Distinct backends in the maps.");
		fprintf(f, "sluice_backends %u\n", status.backends);
		metrics_family(
		    f, "sluice_frontends_failed", "gauge",
		    "Frontends whose map writes failed at the last sync (old state kept).");
		fprintf(f, "sluice_frontends_failed %u\n", status.failed_frontends);
		metrics_family(f, "sluice_manifest_files_with_errors", "gauge",
			       "Manifest files with errors at the last reload.");
		fprintf(f, "sluice_manifest_files_with_errors %u\n", status.source_errors);
	}
	if (!node_ipam_read_usage(m->bpffs, &usage)) {
		metrics_family(f, "sluice_ipam_addresses_in_use", "gauge",
			       "Pod addresses of this node's block held by pods.");
		fprintf(f, "sluice_ipam_addresses_in_use %u\n", usage.in_use);
		metrics_family(f, "sluice_ipam_addresses_free", "gauge",
			       "Pod addresses of this node's block still free.");
		fprintf(f, "sluice_ipam_addresses_free %u\n",
			usage.capacity > usage.in_use ? usage.capacity - usage.in_use : 0);
	}
}

/* The agent's own counters, copied under the lock. */
static void metrics_agent(struct metrics *m, FILE *f)
{
	uint64_t buckets[METRICS_N_BUCKETS], events[K8S_KIND_COUNT], relists[K8S_KIND_COUNT];
	uint64_t count, failures, last;
	uint32_t rejected[METRICS_REJECT_COUNT];
	double seconds;

	pthread_mutex_lock(&m->lock);
	memcpy(buckets, m->sync_buckets, sizeof(buckets));
	memcpy(events, m->watch_events, sizeof(events));
	memcpy(relists, m->watch_relists, sizeof(relists));
	memcpy(rejected, m->rejected, sizeof(rejected));
	count = m->sync_count;
	failures = m->sync_failures;
	seconds = m->sync_seconds;
	last = m->last_sync_unix_s;
	pthread_mutex_unlock(&m->lock);

	metrics_family(f, "sluice_sync_duration_seconds", "histogram",
		       "Time from reading the sources to the maps written, per sync.");
	for (size_t i = 0; i < METRICS_N_BUCKETS; i++)
		fprintf(f, "sluice_sync_duration_seconds_bucket{le=\"%g\"} %llu\n",
			metrics_sync_buckets[i], (unsigned long long)buckets[i]);
	fprintf(f, "sluice_sync_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)count);
	fprintf(f, "sluice_sync_duration_seconds_sum %.6f\n", seconds);
	fprintf(f, "sluice_sync_duration_seconds_count %llu\n", (unsigned long long)count);
	metrics_family(f, "sluice_sync_failures_total", "counter",
		       "Syncs that failed (the last good state stays in force).");
	fprintf(f, "sluice_sync_failures_total %llu\n", (unsigned long long)failures);
	metrics_family(f, "sluice_last_sync_timestamp_seconds", "gauge",
		       "Unix time of the last successful sync (0: none yet).");
	fprintf(f, "sluice_last_sync_timestamp_seconds %llu\n", (unsigned long long)last);
	metrics_family(f, "sluice_watch_events_total", "counter",
		       "Objects added, changed or removed as the API server reported them, by "
		       "kind.");
	for (int k = 0; k < K8S_KIND_COUNT; k++)
		fprintf(f, "sluice_watch_events_total{kind=\"%s\"} %llu\n", k8s_kind_names[k],
			(unsigned long long)events[k]);
	metrics_family(f, "sluice_watch_relists_total", "counter",
		       "Times a kind was listed anew from the API server (start, expired watch).");
	for (int k = 0; k < K8S_KIND_COUNT; k++)
		fprintf(f, "sluice_watch_relists_total{kind=\"%s\"} %llu\n", k8s_kind_names[k],
			(unsigned long long)relists[k]);
	metrics_family(f, "sluice_objects_rejected", "gauge",
		       "Objects refused at the last sync (their last good version stays), by "
		       "source.");
	for (int s = 0; s < METRICS_REJECT_COUNT; s++)
		fprintf(f, "sluice_objects_rejected{source=\"%s\"} %u\n", metrics_reject_names[s],
			rejected[s]);
}

int metrics_format(struct metrics *m, uint64_t now_ms, char **out, size_t *len)
{
	FILE *f;

	*out = NULL;
	*len = 0;
	f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;
	metrics_counters(m, f);
	metrics_services(m, f);
	metrics_maps(m, f, now_ms);
	metrics_ct_ring(m, f);
	metrics_events_lost(m, f);
	metrics_node(m, f);
	metrics_agent(m, f);
	if (fclose(f) || !*out) {
		free(*out);
		*out = NULL;
		*len = 0;
		return -ENOMEM;
	}
	return 0;
}
