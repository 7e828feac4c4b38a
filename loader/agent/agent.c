// SPDX-License-Identifier: Apache-2.0
/* The agent loop: datapath up, adopt the maps, then sync on every manifest change until a signal.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>

#include "loader/agent/agent.h"
#include "lib/bpffs.h"
#include "loader/sync/datapath.h"
#include "loader/sync/sock_lb.h"
#include "loader/agent/agent_internal.h"
#include "loader/agent/agent_status.h"
#include "loader/agent/debounce.h"
#include "loader/agent/events.h"
#include "loader/agent/feed.h"
#include "loader/agent/health.h"
#include "loader/agent/metrics.h"
#include "loader/sync/kernel_probe.h"
#include "loader/agent/nat_ports.h"
#include "loader/agent/node_addr.h"
#include "loader/agent/routing.h"
#include "loader/sources/k8s_client.h"
#include "lib/log.h"
#include "loader/sources/manifest.h"
#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "loader/desired/index.h"
#include "loader/sync/sync.h"
#include "maps/node.h"

/* The symlink kubelet's atomic writer swaps to update a ConfigMap or Secret volume. */
#define AGENT_ATOMIC_WRITER_LINK "..data"

#define AGENT_WATCH_MASK                                                                           \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |   \
	 IN_MOVE_SELF)

struct agent {
	const struct agent_config *config;
	struct sluice_maps maps;
	struct sync_ctx *sync;
	struct health *health;	 /* healthCheckNodePort responder */
	struct metrics *metrics; /* --metrics-addr, served by the responder */
	struct manifest_set *manifests;
	struct k8s_client *api; /* --kubeconfig / --in-cluster, or NULL */
	struct desired_build_config build;
	struct desired_index *index;   /* the desired state, kept current one Service at a time */
	struct node_addr *nodes;       /* node addressing: this node's pod CIDR, the other nodes */
	struct routing *routing;       /* to the other nodes: tunnel device, tunnel4, routes */
	struct datapath_opts *dp_opts; /* as loaded; routing loads it again for a new device */
	struct datapath_result *dp;
	bool is_full_sync; /* next sync diffs every frontend: the first, or after a failure */
	bool is_rescan;	   /* next reload lists the directory: first, overflow, re-watch */
	char **names;	   /* manifest files inotify named since the last reload */
	size_t n_names, cap_names;
	uint32_t api_rejected; /* invalid latest versions in the API's store */
	int signal_fd;
	int inotify_fd;
	int watch;		/* inotify watch on the manifest directory, or -1 */
	struct debounce reload; /* when the changes noted since the last reload are applied */
	uint64_t gc_at;		/* ms deadline of the next conntrack sweep */
	uint32_t ct_size;	/* ct4's size in force */
	bool is_ct_full;	/* the last sweep found ct4 AGENT_CT_FILL_WARN % full */
	uint64_t retire_at;	/* ms deadline to end retired slot generations, 0 when none */
	uint64_t routing_at;	/* ms deadline of the next check of the routes and tunnel4 */
	int status_fd;		/* bpffs/agent_status, for `sluice status`; -1 if unavailable */
	struct agent_status status;
	struct events_server *events; /* `sluice observe`'s socket; NULL when it failed (said) */
};

static uint64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void agent_publish_status(struct agent *agent, const struct desired_state *state,
				 const struct sync_counts *counts, uint32_t source_errors)
{
	struct agent_status *status = &agent->status;

	if (agent->status_fd < 0)
		return;
	status->syncs++;
	status->last_sync_unix_s = (uint64_t)time(NULL);
	status->frontends = (uint32_t)desired_index_frontend_count(agent->index);
	status->backends = (uint32_t)sync_backend_count(agent->sync);
	status->rejected_objects = state->rejected_objects;
	status->failed_frontends = counts->failed;
	status->source_errors = source_errors;
	if (agent_status_write(agent->status_fd, status))
		log_debug("%s: update failed", AGENT_STATUS_MAP);
}

/* CPU time of the whole process (every thread), in ms: the sync line's "cpu" beside its wall. */
static double agent_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double agent_ms(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) * 1e3 +
	       (double)(to->tv_nsec - from->tv_nsec) / 1e6;
}

/* The manifest files named since the last reload, or the whole directory when asked. */
static int agent_load_manifests(struct agent *agent)
{
	const char *dir = agent->config->manifests;
	int ret, err;

	if (agent->is_rescan)
		ret = manifest_set_load_dir(agent->manifests, dir);
	else if (agent->n_names)
		ret = manifest_set_load_files(agent->manifests, dir, agent->names, agent->n_names);
	else
		return 0;
	err = feed_manifests(agent->index, agent->manifests);
	if (err && ret >= 0)
		ret = err;
	if (ret >= 0 || ret == -ENOMEM) {
		while (agent->n_names)
			free(agent->names[--agent->n_names]);
		agent->is_rescan = ret == -ENOMEM; /* the index may have missed a change */
	} else {
		agent->is_rescan = true; /* the directory could not be read: list it next time */
	}
	return ret;
}

/* Is this node, by its Node object, staying (not deleted, not marked for deletion)? */
static bool agent_node_is_eligible(const char *node, const struct k8s_object *const *nodes,
				   size_t n_nodes)
{
	for (size_t i = 0; i < n_nodes; i++)
		if (!strcmp(nodes[i]->name, node))
			return !nodes[i]->node.is_leaving;
	return true; /* no Node object (manifests without one): nothing says it is leaving */
}

/*
 * Apply what changed since the last reload: the manifest files named by inotify (or the whole
 * directory), the API's changed objects, the Services they feed rebuilt, and only their
 * frontends written. The time logged covers all of it, from reading the files to the last map
 * write. Failures keep the last good state in the maps.
 */
/* A sync that began at T0 ended now, IS_OK or not: for the metrics' histogram. */
static void agent_sync_measured(struct agent *agent, const struct timespec *t0, bool is_ok)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_sync_done(agent->metrics, agent_ms(t0, &now) / 1000, is_ok);
}

static int agent_reload(struct agent *agent)
{
	const char *dir = agent->config->manifests;
	struct k8s_errors errors = {0};
	const struct desired_index_delta *delta;
	struct desired_state state = {0}, full = {0};
	struct sync_counts counts = {0};
	struct timespec t0, t_read, t_build, t_maps, t1;
	double cpu0 = agent_cpu_ms(), cpu_read = 0, cpu_build = 0, cpu_maps = 0;
	bool is_full = agent->is_full_sync;
	size_t n_frontends;
	unsigned int unchanged;
	uint32_t rejected, by_source[METRICS_REJECT_COUNT];
	int ret, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = dir ? agent_load_manifests(agent) : 0;
	if (ret < 0 && !agent->api) {
		if (ret != -E2BIG) /* too many files: already said, naming the limit */
			log_warn("manifests %s: %s; keeping the services in force", dir,
				 strerror(-ret));
		health_proxy_synced(agent->health, false);
		agent_sync_measured(agent, &t0, false);
		return ret;
	}
	if (ret > 0)
		log_warn("manifests %s: %d errors (listed above); last good objects kept", dir,
			 ret);
	if (agent->api) {
		err = feed_api(agent->index, agent->api, &agent->api_rejected, agent->metrics);
		if (err == -EAGAIN)
			return 0; /* applied once every resource is listed */
		if (err)
			log_warn("api: take changes: %s; some apply at their next change",
				 strerror(-err));
	}
	clock_gettime(CLOCK_MONOTONIC, &t_read);
	cpu_read = agent_cpu_ms();
	err = desired_index_update(agent->index, &errors, &delta);
	if (err) {
		/* Part of the delta may be lost: the next sync diffs every frontend. */
		log_warn("build desired state: %s", strerror(-err));
		agent->is_full_sync = true;
		k8s_errors_free(&errors);
		health_proxy_synced(agent->health, false);
		agent_sync_measured(agent, &t0, false);
		return err;
	}
	if (delta->is_nodes_changed || node_addr_is_pending(agent->nodes)) {
		const struct k8s_object *const *nodes;
		size_t n_nodes;

		nodes = desired_index_nodes(agent->index, &n_nodes);
		node_addr_update(agent->nodes, nodes, n_nodes);
		health_proxy_node_eligible(
		    agent->health, agent_node_is_eligible(agent->config->node, nodes, n_nodes));
	}
	if (delta->is_nodes_changed || routing_is_pending(agent->routing))
		routing_update(agent->routing, agent->dp_opts, agent->dp);
	state.node_addresses =
	    (uint32_t *)desired_index_node_addresses(agent->index, &state.n_node_addresses);
	state.health_checks = (struct lb_health_check *)desired_index_health_checks(
	    agent->index, &state.n_health_checks);
	if (delta->is_policy_changed) {
		err = desired_index_policy(agent->index, &state.policy);
		if (err)
			log_warn("NetworkPolicy: %s; policy maps unchanged", strerror(-err));
	}
	n_frontends = desired_index_frontend_count(agent->index);
	clock_gettime(CLOCK_MONOTONIC, &t_build);
	cpu_build = agent_cpu_ms();
	if (is_full) {
		err = desired_index_desired(agent->index, false, &full);
		if (!err) {
			full.policy = state.policy;
			err = sync_apply(agent->sync, &full, &counts);
			full.policy = NULL;
		}
	} else {
		err = sync_apply_delta(agent->sync, &state, delta->upserts, delta->n_upserts,
				       delta->removed, delta->n_removed, &counts);
	}
	clock_gettime(CLOCK_MONOTONIC, &t_maps);
	cpu_maps = agent_cpu_ms();
	/* A frontend left as it was by a failure is retried by a full diff next time. */
	agent->is_full_sync = err || counts.failed;
	health_proxy_synced(agent->health, !err && !counts.failed);
	by_source[METRICS_REJECT_API] = agent->api_rejected;
	by_source[METRICS_REJECT_MANIFEST] =
	    agent->manifests ? manifest_set_rejected(agent->manifests) : 0;
	by_source[METRICS_REJECT_CONFLICT] = desired_index_rejected(agent->index);
	metrics_rejected(agent->metrics, by_source);
	rejected = by_source[METRICS_REJECT_API] + by_source[METRICS_REJECT_MANIFEST] +
		   by_source[METRICS_REJECT_CONFLICT];
	state.rejected_objects = rejected;
	agent_publish_status(agent, &state, &counts, ret > 0 ? (uint32_t)ret : 0);
	if (agent->health && (delta->is_health_changed || delta->is_node_changed || is_full) &&
	    health_update(agent->health, &state))
		log_warn("healthCheckNodePort: out of memory, ports unchanged");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_sync_done(agent->metrics, agent_ms(&t0, &t1) / 1000, !err && !counts.failed);
	/* Frontends no delta named are unchanged by definition. */
	unchanged =
	    n_frontends > counts.added + counts.changed + counts.failed
		? (unsigned int)(n_frontends - counts.added - counts.changed - counts.failed)
		: 0;
	log_info("sync: %zu frontends (%u objects rejected): %u added, %u changed, %u removed, %u "
		 "unchanged, %u failed; "
		 "backends %u added, %u removed (%zu in use); %lu map writes; "
		 "%u UDP flows flushed; %zu services rebuilt%s; %.2f ms (read %.2f, build %.2f, "
		 "maps %.2f); cpu %.2f ms (read %.2f, build %.2f, maps %.2f)",
		 n_frontends, rejected, counts.added, counts.changed, counts.removed, unchanged,
		 counts.failed, counts.backends_added, counts.backends_removed,
		 sync_backend_count(agent->sync), counts.map_writes, counts.ct_flushed,
		 delta->n_services, is_full ? ", full diff" : "", agent_ms(&t0, &t1),
		 agent_ms(&t0, &t_read), agent_ms(&t_read, &t_build), agent_ms(&t_build, &t_maps),
		 agent_cpu_ms() - cpu0, cpu_read - cpu0, cpu_build - cpu_read,
		 cpu_maps - cpu_build);
	policy_state_free(state.policy);
	desired_state_free(&full);
	k8s_errors_free(&errors);
	return err;
}

/* (Re)watch the manifest directory; -errno when it cannot be watched (missing, say). */
static int agent_watch(struct agent *agent)
{
	int wd = inotify_add_watch(agent->inotify_fd, agent->config->manifests, AGENT_WATCH_MASK);

	if (wd < 0)
		return -errno;
	agent->watch = wd;
	return 0;
}

/*
 * A change to apply: AGENT_DEBOUNCE_MS after the first one pending, so an editor's burst is one
 * sync and no later wakeup moves it (a trailing debounce restarted by each one let a steady
 * stream of events hold a change back).
 */
static void agent_schedule_reload(struct agent *agent)
{
	debounce_note(&agent->reload, agent_now_ms(), AGENT_DEBOUNCE_MS);
	health_proxy_queued(agent->health);
}

/* Remember a file inotify named, to re-read it alone; too many: list the directory instead. */
static void agent_note_name(struct agent *agent, const char *name)
{
	char **grown, *copy;

	if (agent->is_rescan)
		return;
	if (agent->n_names == agent->cap_names) {
		size_t next = agent->cap_names ? agent->cap_names * 2 : 16;

		grown = next <= 2 * MANIFEST_MAX_FILES
			    ? realloc(agent->names, next * sizeof(*grown))
			    : NULL;
		if (!grown) {
			agent->is_rescan = true;
			return;
		}
		agent->names = grown;
		agent->cap_names = next;
	}
	copy = strdup(name);
	if (!copy) {
		agent->is_rescan = true;
		return;
	}
	agent->names[agent->n_names++] = copy;
}

static void agent_drain_inotify(struct agent *agent)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;

	while ((len = read(agent->inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *event = (const struct inotify_event *)p;

			if (event->mask & IN_Q_OVERFLOW) {
				/* Events were lost: which files changed is unknown. */
				log_info("manifests %s: inotify queue overflowed; re-reading the "
					 "directory",
					 agent->config->manifests);
				agent->is_rescan = true;
				agent_schedule_reload(agent);
			} else if (event->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				if (agent->watch >= 0 && event->wd == agent->watch) {
					log_warn("manifests %s: directory moved or deleted; "
						 "keeping the services in force until it returns",
						 agent->config->manifests);
					inotify_rm_watch(agent->inotify_fd, agent->watch);
					agent->watch = -1;
				}
			} else if (event->len && event->wd == agent->watch) {
				/*
				 * Only a manifest file's change is one (not an editor's swap file),
				 * except a ConfigMap or Secret volume's "..data": kubelet updates
				 * one by renaming that symlink to a new directory, and the files'
				 * own symlinks (web.yaml -> ..data/web.yaml) never change.
				 */
				if (!strcmp(event->name, AGENT_ATOMIC_WRITER_LINK)) {
					agent->is_rescan = true;
					agent_schedule_reload(agent);
				} else if (manifest_is_file_name(event->name)) {
					agent_note_name(agent, event->name);
					agent_schedule_reload(agent);
				}
			} else {
				agent_schedule_reload(agent);
			}
			p += sizeof(*event) + event->len;
		}
	}
}

/* Sweeps expired entries; returns the ms until the next sweep, shorter while ct4 is full. */
static uint64_t agent_ct_gc(struct agent *agent)
{
	struct timespec ts;
	uint32_t kept = 0;
	bool is_full;
	int deleted;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deleted = sync_ct_expire(agent->maps.ct4,
				 (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, &kept);
	if (deleted < 0) {
		log_warn("ct4: sweep expired entries: %s", strerror(-deleted));
		return AGENT_CT_GC_PERIOD_S * 1000ull;
	}
	if (deleted)
		log_debug("ct4: %d expired entries deleted", deleted);
	is_full = (uint64_t)kept * 100 >= (uint64_t)agent->ct_size * AGENT_CT_FILL_WARN;
	if (is_full != agent->is_ct_full)
		log_warn("ct4: %u of %u entries (%llu %%)%s", kept, agent->ct_size,
			 (unsigned long long)kept * 100 / (agent->ct_size ? agent->ct_size : 1),
			 is_full
			     ? ": new flows early-drop unanswered ones and are dropped when none "
			       "is left; sweeping every second (raise --ct-size)"
			     : "");
	agent->is_ct_full = is_full;
	return (is_full ? AGENT_CT_GC_PERIOD_FULL_S : AGENT_CT_GC_PERIOD_S) * 1000ull;
}

/* End the retired slot generations whose grace period is over. */
static void agent_retire(struct agent *agent)
{
	struct sync_counts retired;

	if (sync_retire(agent->sync, &retired))
		log_warn("lb4_slots: end retired generations failed");
	else if (retired.ct_flushed)
		log_info("ct4: %u UDP flows of removed backends flushed", retired.ct_flushed);
}

static int agent_poll_timeout(const struct agent *agent, uint64_t now)
{
	uint64_t next = agent->gc_at;

	if (agent->reload.due_ms && agent->reload.due_ms < next)
		next = agent->reload.due_ms;
	if (agent->retire_at && agent->retire_at < next)
		next = agent->retire_at;
	if (agent->routing_at < next)
		next = agent->routing_at;
	if (agent->manifests && agent->watch < 0 && now + 1000 < next)
		next = now + 1000; /* retry the watch of a vanished directory once a second */
	return next <= now ? 0 : (int)(next - now);
}

static int agent_loop(struct agent *agent)
{
	/* poll() skips negative fds: no inotify without --manifests, no API without one. */
	struct pollfd fds[3] = {
	    {.fd = agent->signal_fd, .events = POLLIN},
	    {.fd = agent->inotify_fd, .events = POLLIN},
	    {.fd = agent->api ? k8s_client_fd(agent->api) : -1, .events = POLLIN},
	};
	struct signalfd_siginfo info;
	uint64_t now;

	for (;;) {
		now = agent_now_ms();
		if (poll(fds, 3, agent_poll_timeout(agent, now)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (fds[0].revents & POLLIN) {
			if (read(agent->signal_fd, &info, sizeof(info)) != sizeof(info))
				continue;
			if (info.ssi_signo == SIGHUP) {
				log_info("SIGHUP: reloading manifests");
				/* Everything read again and diffed against the maps: a repair knob.
				 */
				agent->is_rescan = true;
				agent->is_full_sync = true;
				if (agent->manifests || agent->api)
					agent_schedule_reload(agent);
				continue;
			}
			log_info("signal %u: exiting; programs stay attached and maps pinned",
				 info.ssi_signo);
			return 0;
		}
		if (agent->inotify_fd >= 0 && (fds[1].revents & POLLIN))
			agent_drain_inotify(agent);
		if (agent->api && (fds[2].revents & POLLIN)) {
			k8s_client_drain(agent->api);
			agent_schedule_reload(agent); /* the same debounce as manifest edits */
		}
		now = agent_now_ms();
		if (agent->manifests && agent->watch < 0 && agent_watch(agent) == 0) {
			log_info("manifests %s: watching again", agent->config->manifests);
			agent->is_rescan = true;
			agent_schedule_reload(agent);
		}
		if (debounce_take(&agent->reload, now))
			agent_reload(agent);
		/*
		 * Slot generations a flip retired, as soon as their grace period is over: a removed
		 * backend's UDP flows are flushed then, so a client that keeps its source port (a
		 * resolver) moves to a live backend within the grace period, not at the next sweep.
		 */
		if (agent->retire_at && now >= agent->retire_at) {
			agent->retire_at = 0;
			agent_retire(agent);
		}
		if (now >= agent->gc_at) {
			agent->gc_at = now + agent_ct_gc(agent);
			agent_retire(agent);
		}
		/* A route or entry removed by hand is back within a period, not at the next Node
		 * change. */
		if (now >= agent->routing_at) {
			routing_update(agent->routing, agent->dp_opts, agent->dp);
			agent->routing_at = now + ROUTING_CHECK_PERIOD_MS;
		}
		if (!agent->retire_at && sync_has_retired(agent->sync))
			agent->retire_at =
			    now + SYNC_RETIRE_GRACE_NS / 1000000 + AGENT_RETIRE_SLACK_MS;
	}
}

/* Build options from the flags; then the API client when --kubeconfig or --in-cluster. */
static int agent_api_start(struct agent *agent)
{
	const struct agent_config *config = agent->config;
	struct k8s_api_config api = {0};
	char error[512] = "", *server = NULL;
	bool is_api;
	int err = 0;

	desired_build_config_init(&agent->build, config->node);
	if (config->node_port_min) {
		agent->build.node_port_min = config->node_port_min;
		agent->build.node_port_max = config->node_port_max;
	}
	agent->build.node_ips = config->node_ips;
	agent->build.n_node_ips = config->n_node_ips;
	/* Without the API there is no EndpointSlice controller: Pods stand in for it. */
	is_api = config->kubeconfig || config->is_in_cluster || config->k8s_api_server;
	agent->build.is_pod_endpoints = !is_api;
	if (!is_api)
		return 0;
	if (config->k8s_api_server) {
		err = k8s_api_server_parse(config->k8s_api_server, &server, error, sizeof(error));
		if (err == -ENOMEM)
			snprintf(error, sizeof(error), "--k8s-api-server: %s", strerror(ENOMEM));
	}
	if (!err)
		err = config->kubeconfig
			  ? k8s_kubeconfig_load(config->kubeconfig, &api, error, sizeof(error))
			  : k8s_in_cluster_load(&api, server, error, sizeof(error));
	if (!err && server && config->kubeconfig)
		err = k8s_api_config_set_server(&api, server, error, sizeof(error));
	free(server);
	if (err) {
		log_error("%s", error[0] ? error : strerror(-err));
		k8s_api_config_free(&api);
		return err;
	}
	err = k8s_client_start(&api, &agent->api);
	k8s_api_config_free(&api);
	if (err)
		log_error("api: start: %s", strerror(-err));
	return err;
}

/* Hold "agent ready" until every resource is listed once (bounded: the API may be down). */
static void agent_api_wait_synced(struct agent *agent)
{
	uint64_t deadline = agent_now_ms() + AGENT_API_SYNC_WAIT_MS, now;
	struct pollfd fd = {.fd = k8s_client_fd(agent->api), .events = POLLIN};

	while (!k8s_client_is_synced(agent->api)) {
		now = agent_now_ms();
		if (now >= deadline) {
			log_warn("api: not every resource listed after %u ms; services follow once "
				 "they are",
				 AGENT_API_SYNC_WAIT_MS);
			return;
		}
		if (poll(&fd, 1, (int)(deadline - now)) > 0)
			k8s_client_drain(agent->api);
	}
}

int agent_run(const struct agent_config *config)
{
	struct agent agent = {
	    .config = config, .signal_fd = -1, .inotify_fd = -1, .watch = -1, .status_fd = -1};
	struct datapath_opts dp_opts = {
	    .bpffs = config->bpffs,
	    .hairpin_ip = config->hairpin_ip,
	    .ct_size = config->ct_size,
	    .is_ct_size_set = config->is_ct_size_set,
	    .uplink = config->uplink,
	    .maglev_size = config->maglev_size,
	    .is_host_lb = !config->is_host_lb_off,
	    .is_socket_lb = !config->is_socket_lb_off,
	    .cgroup_root = config->cgroup_root,
	};
	struct datapath_masq_skip masq_skip[MASQ4_MAX_CIDRS];
	struct datapath_result dp;
	char failed[4096] = "";
	const char *failed_map = NULL;
	/* Start-up's wall and CPU time, the datapath's loading apart, for the "agent ready" line.
	 */
	struct timespec t_start, t_dp0, t_dp1, t_ready;
	double cpu_start = agent_cpu_ms(), cpu_dp0 = 0, cpu_dp1 = 0;
	sigset_t signals;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	t_dp0 = t_dp1 = t_start;
	bpffs_maps_init(&agent.maps);
	err = agent_config_validate(config);
	if (err)
		return err;
	dp_opts.is_masquerade = agent_masquerade_plan(config, masq_skip, &dp_opts.n_skip);
	dp_opts.skip = masq_skip;

	/* Signals first: a SIGTERM during start-up must still leave a consistent datapath. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &signals, NULL)) {
		err = -errno;
		log_error("block signals: %s", strerror(-err));
		goto cleanup;
	}
	agent.signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (agent.signal_fd < 0) {
		err = -errno;
		log_error("signalfd: %s", strerror(-err));
		goto cleanup;
	}

	err = bpffs_ensure(config->bpffs, failed, sizeof(failed));
	if (err) {
		log_error("bpffs %s: %s: %s", config->bpffs, failed, strerror(-err));
		goto cleanup;
	}
	/*
	 * Pins another layout would misread are refused before anything is loaded or written; an
	 * older layout's whose changes were counters only is upgraded in place.
	 */
	err = bpffs_layout_upgrade(config->bpffs, failed, sizeof(failed));
	if (err) {
		log_error("%s", failed);
		goto cleanup;
	}
	/*
	 * The plan check refuses before anything is loaded; node addressing is pinned after the
	 * datapath, and planned at the first sync (loader/agent/node_addr.c).
	 */
	err = agent_cidr_plan_check(config);
	/* The uplink masquerades: its ports must not be ones the node hands its own sockets. */
	if (!err && config->uplink)
		err = nat_ports_check_node(NAT_PORT_MIN_DEFAULT, NAT_PORT_MAX_DEFAULT);
	/* A kernel without what the programs use is refused in one line, not a verifier dump. */
	if (!err)
		err = kernel_probe_check();
	clock_gettime(CLOCK_MONOTONIC, &t_dp0);
	cpu_dp0 = agent_cpu_ms();
	if (!err)
		err = routing_start(config, &dp_opts, &agent.routing);
	agent.dp_opts = &dp_opts;
	agent.dp = &dp;
	if (!err)
		err = datapath_load(&dp_opts, &dp);
	if (!err)
		err = sock_lb_setup(&dp_opts, &dp);
	clock_gettime(CLOCK_MONOTONIC, &t_dp1);
	cpu_dp1 = agent_cpu_ms();
	if (!err)
		err = node_addr_start(config, &agent.nodes);
	if (err)
		goto cleanup;
	err = bpffs_layout_record(config->bpffs);
	if (err) {
		log_error("%s/%s: %s", config->bpffs, SLUICE_LAYOUT_MAP, strerror(-err));
		goto cleanup;
	}
	log_info("node %s: datapath %s at %s (ct4 %u entries); %u pod veths attached%s",
		 config->node, dp.is_adopted ? "adopted" : "created", config->bpffs, dp.ct_size,
		 dp.reattached, dp.reattach_failed ? ", some failed (see above)" : "");
	agent.ct_size = dp.ct_size;
	err = bpffs_open_maps(config->bpffs, &agent.maps, &failed_map);
	if (err) {
		log_error("%s/%s: %s", config->bpffs, failed_map, strerror(-err));
		goto cleanup;
	}
	agent.status_fd = agent_status_open(config->bpffs);
	if (agent.status_fd < 0)
		log_warn("%s/%s: %s; sluice status will not show the agent's counters",
			 config->bpffs, AGENT_STATUS_MAP, strerror(-agent.status_fd));
	snprintf(agent.status.node, sizeof(agent.status.node), "%s", config->node);
	agent.status.pid = (uint32_t)getpid();
	if (config->uplink)
		log_info("uplink %s: tc_node attached%s", config->uplink,
			 dp.is_uplink_xdp ? ", xdp_node in native mode" : " (no native XDP)");
	events_server_start(config->bpffs, &agent.events); /* flow events are not vital */
	err = health_start(&agent.health);
	if (err) {
		log_error("healthCheckNodePort responder: %s", strerror(-err));
		goto cleanup;
	}
	/* Served from now on: the datapath is attached; healthy once the first sync is done. */
	if (config->healthz_port)
		health_serve_proxy(agent.health, config->healthz_address, config->healthz_port);
	if (config->metrics_port) {
		agent.metrics = metrics_new(config->bpffs, config->metrics_service_top);
		if (!agent.metrics) {
			err = -ENOMEM;
			log_error("metrics: %s", strerror(-err));
			goto cleanup;
		}
		health_serve_metrics(agent.health, agent.metrics, config->metrics_address,
				     config->metrics_port);
	}
	err = sync_open(&agent.maps, &agent.sync);
	if (err) {
		log_error("adopt service maps under %s: %s", config->bpffs, strerror(-err));
		goto cleanup;
	}
	log_info("adopted %zu frontends and %zu backends from the pinned maps (%lu stale entries "
		 "removed)",
		 sync_service_count(agent.sync), sync_backend_count(agent.sync),
		 sync_adopt_writes(agent.sync));
	sync_set_lb_algorithm(agent.sync, config->lb_algorithm);
	log_info("backend choice: %s (Maglev table size %u)%s",
		 maglev_algorithm_name(config->lb_algorithm), sync_maglev_size(agent.sync),
		 dp.is_maglev_resized ? "; table size changed: every Maglev frontend is rewritten"
				      : "");

	err = agent_api_start(&agent);
	if (err)
		goto cleanup;
	agent.index = desired_index_new(&agent.build);
	if (!agent.index) {
		err = -ENOMEM;
		log_error("desired state: %s", strerror(-err));
		goto cleanup;
	}
	agent.is_full_sync = true;
	agent.is_rescan = true;
	if (config->manifests) {
		agent.manifests = manifest_set_new();
		if (!agent.manifests) {
			err = -ENOMEM;
			log_error("manifests: %s", strerror(-err));
			goto cleanup;
		}
		agent.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (agent.inotify_fd < 0) {
			err = -errno;
			log_error("inotify: %s", strerror(-err));
			goto cleanup;
		}
		/* Watch before the first read so a change made while reading is not missed. */
		err = agent_watch(&agent);
		if (err) {
			log_error("manifests %s: %s", config->manifests, strerror(-err));
			goto cleanup;
		}
		err = agent_reload(&agent);
		if (err == -ENOMEM)
			goto cleanup;
	} else if (!agent.api) {
		log_warn("no --manifests: service maps are left as adopted");
		health_proxy_synced(agent.health, true); /* what is adopted is what is wanted */
		node_addr_update(agent.nodes, NULL, 0);	 /* --pod-cidr, or none */
		routing_update(agent.routing, &dp_opts, &dp);
	}
	if (agent.api) {
		agent_api_wait_synced(&agent);
		err = agent_reload(&agent);
		if (err == -ENOMEM)
			goto cleanup;
	}
	agent.gc_at = agent_now_ms();
	agent.routing_at = agent.gc_at + ROUTING_CHECK_PERIOD_MS;
	clock_gettime(CLOCK_MONOTONIC, &t_ready);
	log_info("agent ready: %.0f ms from start (%.0f ms of CPU), of which loading the datapath "
		 "%.0f ms (%.0f ms of CPU)",
		 agent_ms(&t_start, &t_ready), agent_cpu_ms() - cpu_start, agent_ms(&t_dp0, &t_dp1),
		 cpu_dp1 - cpu_dp0);
	err = agent_loop(&agent);

cleanup:
	/* Nothing here detaches or unpins: a restarted agent adopts the datapath as it is. */
	if (agent.index && agent.api)
		feed_api_release(agent.index, agent.api);
	desired_index_free(agent.index);
	node_addr_free(agent.nodes);
	routing_free(agent.routing);
	while (agent.n_names)
		free(agent.names[--agent.n_names]);
	free(agent.names);
	k8s_client_stop(agent.api);
	health_stop(agent.health); /* first: its thread reads the metrics */
	metrics_free(agent.metrics);
	events_server_stop(agent.events);
	sync_close(agent.sync);
	if (agent.manifests)
		manifest_set_free(agent.manifests);
	bpffs_close_maps(&agent.maps);
	if (agent.status_fd >= 0)
		close(agent.status_fd);
	if (agent.inotify_fd >= 0)
		close(agent.inotify_fd);
	if (agent.signal_fd >= 0)
		close(agent.signal_fd);
	return err;
}
