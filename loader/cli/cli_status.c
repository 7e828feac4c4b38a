// SPDX-License-Identifier: Apache-2.0
/* `sluice status` and `sluice drops`: pins present, map occupancy, counters, IPAM and the agent. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "lib/bpffs.h"
#include "lib/cidr.h"
#include "lib/dp_counters.h"
#include "lib/log.h"
#include "lib/map_walk.h"
#include "lib/node_ipam.h"
#include "loader/agent/agent_status.h"
#include "loader/cli/cli_internal.h"
#include "maps/ct.h"
#include "maps/masq.h"
#include "maps/stats.h"

static struct json_object *cli_counters_json(const char *const *names, const struct stat_value *v,
					     uint32_t n, uint32_t first)
{
	struct json_object *array = json_object_new_array();
	int err = 0;

	if (!array)
		return NULL;
	for (uint32_t i = first; i < n; i++) {
		struct json_object *obj = json_object_new_object();

		if (!obj) {
			err = -ENOMEM;
			break;
		}
		err |= cli_json_set(obj, "name", json_object_new_string(names[i] ? names[i] : "?"));
		err |= cli_json_set(obj, "id", json_object_new_int64(i));
		err |= cli_json_set(obj, "packets", json_object_new_int64((int64_t)v[i].packets));
		err |= cli_json_set(obj, "bytes", json_object_new_int64((int64_t)v[i].bytes));
		err |= cli_json_append(array, obj);
	}
	if (err) {
		json_object_put(array);
		return NULL;
	}
	return array;
}

static void cli_counters_print(const char *title, const char *const *names,
			       const struct stat_value *v, uint32_t n, uint32_t first)
{
	int width = (int)strlen(title);

	/* The first column as wide as the longest name, so the numbers line up. */
	for (uint32_t i = first; i < n; i++)
		if (names[i] && (int)strlen(names[i]) > width)
			width = (int)strlen(names[i]);
	printf("%-*s %14s %16s\n", width, title, "PACKETS", "BYTES");
	for (uint32_t i = first; i < n; i++)
		printf("%-*s %14llu %16llu\n", width, names[i] ? names[i] : "?",
		       (unsigned long long)v[i].packets, (unsigned long long)v[i].bytes);
}

/*
 * The drop counters as cli_counters_json() has them (each reason's total), each with its
 * packets and bytes per direction added: ingress_packets, ingress_bytes, egress_...
 */
static struct json_object *cli_drops_json(const struct dp_drops *drops)
{
	struct json_object *array =
	    cli_counters_json(drop_names, drops->total, DROP_MAX, DROP_NONE + 1);
	char field[32];
	int err = 0;

	for (uint32_t reason = DROP_NONE + 1; array && reason < DROP_MAX; reason++) {
		struct json_object *obj = json_object_array_get_idx(array, reason - DROP_NONE - 1);

		for (uint32_t dir = 0; dir < DROP_DIR_MAX; dir++) {
			const struct stat_value *v = &drops->by_dir[dir][reason];

			snprintf(field, sizeof(field), "%s_packets", drop_dir_ids[dir]);
			err |= cli_json_set(obj, field, json_object_new_int64((int64_t)v->packets));
			snprintf(field, sizeof(field), "%s_bytes", drop_dir_ids[dir]);
			err |= cli_json_set(obj, field, json_object_new_int64((int64_t)v->bytes));
		}
	}
	if (err) {
		json_object_put(array);
		return NULL;
	}
	return array;
}

/* Each reason's packets and bytes, then its packets per direction. */
static void cli_drops_print(const struct dp_drops *drops)
{
	const char *title = "DROP REASON";
	int width = (int)strlen(title);

	for (uint32_t i = DROP_NONE + 1; i < DROP_MAX; i++)
		if (drop_names[i] && (int)strlen(drop_names[i]) > width)
			width = (int)strlen(drop_names[i]);
	printf("%-*s %14s %16s %14s %14s\n", width, title, "PACKETS", "BYTES", "INGRESS", "EGRESS");
	for (uint32_t i = DROP_NONE + 1; i < DROP_MAX; i++)
		printf("%-*s %14llu %16llu %14llu %14llu\n", width,
		       drop_names[i] ? drop_names[i] : "?",
		       (unsigned long long)drops->total[i].packets,
		       (unsigned long long)drops->total[i].bytes,
		       (unsigned long long)drops->by_dir[DROP_DIR_INGRESS][i].packets,
		       (unsigned long long)drops->by_dir[DROP_DIR_EGRESS][i].packets);
}

int cli_drops(const struct cli_options *options)
{
	struct dp_drops drops;
	struct json_object *root = NULL;
	int fd, err;

	fd = cli_open_map(options, DROPS_MAP);
	if (fd < 0)
		return fd;
	err = dp_drops_read(fd, &drops);
	if (err)
		goto cleanup;
	if (options->output == CLI_OUTPUT_TEXT) {
		cli_drops_print(&drops);
		goto cleanup;
	}
	root = json_object_new_object();
	err = root ? cli_json_set(root, "drops", cli_drops_json(&drops)) : -ENOMEM;
	if (!err)
		err = cli_json_print(root);

cleanup:
	if (err)
		log_fail("%s/%s: %s", options->bpffs, DROPS_MAP, strerror(-err));
	json_object_put(root);
	close(fd);
	return err;
}

/* ct4 at least this full (%) is worth a warning: new flows then live on early drop. */
#define CLI_CT_FILL_WARN 80

/*
 * Conntrack pressure: fill (ENTRIES of MAX), the flows early drop deleted to make room and the
 * new flows dropped with nothing to delete (ct4_ring's counters), and a warning line from
 * CLI_CT_FILL_WARN % on.
 */
static void cli_ct_pressure(const char *bpffs, int64_t entries, uint32_t max,
			    struct json_object *root)
{
	struct ct4_ring *ring = malloc(sizeof(*ring));
	struct json_object *obj;
	__u32 zero = 0;
	int fd = bpffs_open_map(bpffs, CT4_RING_MAP);
	bool has_ring = ring && fd >= 0 && !bpf_map_lookup_elem(fd, &zero, ring);
	long long percent = max ? entries * 100 / max : 0;
	bool is_full = max && entries * 100 >= (int64_t)max * CLI_CT_FILL_WARN;

	if (fd >= 0)
		close(fd);
	if (!root) {
		printf("\nconntrack: %lld of %u entries (%lld %%)", (long long)entries, max,
		       percent);
		if (has_ring)
			printf(", %llu early drops, %llu insert failures",
			       (unsigned long long)ring->early_drops,
			       (unsigned long long)ring->insert_failed);
		printf("\n");
		if (is_full)
			printf(
			    "warning: conntrack %lld %% full: new flows early-drop unanswered ones "
			    "and are dropped when none is left (raise --ct-size)\n",
			    percent);
	} else {
		obj = json_object_new_object();
		cli_json_set(obj, "entries", json_object_new_int64(entries));
		cli_json_set(obj, "max_entries", json_object_new_int64(max));
		cli_json_set(obj, "fill_percent", json_object_new_int64(percent));
		cli_json_set(obj, "warning", json_object_new_boolean(is_full));
		if (has_ring) {
			cli_json_set(obj, "early_drops",
				     json_object_new_int64((int64_t)ring->early_drops));
			cli_json_set(obj, "insert_failed",
				     json_object_new_int64((int64_t)ring->insert_failed));
		}
		cli_json_set(root, "conntrack", obj);
	}
	free(ring);
}

/* The agent's own counters (maps/agent.h): syncs, frontends, objects it refused. */
static void cli_agent_status(const char *bpffs, struct json_object *root)
{
	struct agent_status status;
	struct json_object *obj;

	if (agent_status_read(bpffs, &status)) {
		if (!root)
			printf("\nagent: no status pinned (no agent has run with --bpffs %s)\n",
			       bpffs);
		return;
	}
	if (!root) {
		printf("\nagent of node %s (pid %u): %llu syncs, last at %llu (unix s)\n",
		       status.node, status.pid, (unsigned long long)status.syncs,
		       (unsigned long long)status.last_sync_unix_s);
		printf("  %u frontends, %u backends; %u objects rejected as invalid, %u manifest "
		       "files with errors, %u frontends failed to apply\n",
		       status.frontends, status.backends, status.rejected_objects,
		       status.source_errors, status.failed_frontends);
		return;
	}
	obj = json_object_new_object();
	cli_json_set(obj, "node", json_object_new_string(status.node));
	cli_json_set(obj, "pid", json_object_new_int64(status.pid));
	cli_json_set(obj, "syncs", json_object_new_int64((int64_t)status.syncs));
	cli_json_set(obj, "last_sync_unix_s",
		     json_object_new_int64((int64_t)status.last_sync_unix_s));
	cli_json_set(obj, "frontends", json_object_new_int64(status.frontends));
	cli_json_set(obj, "backends", json_object_new_int64(status.backends));
	cli_json_set(obj, "rejected_objects", json_object_new_int64(status.rejected_objects));
	cli_json_set(obj, "source_errors", json_object_new_int64(status.source_errors));
	cli_json_set(obj, "failed_frontends", json_object_new_int64(status.failed_frontends));
	cli_json_set(root, "agent", obj);
}

/*
 * Egress masquerade: on when masq4_skip holds the destinations it spares (the agent empties it
 * when masquerade is off), each with why. Nothing for a datapath from before masquerade.
 */
static void cli_masq_status(const char *bpffs, struct json_object *root)
{
	static const char *const kinds[] = {
	    [MASQ4_KIND_CLUSTER] = "cluster",
	    [MASQ4_KIND_SERVICE] = "service",
	    [MASQ4_KIND_LISTED] = "non-masquerade-cidr",
	};
	char line[MASQ4_MAX_CIDRS * (CIDR4_STR_LEN + 24)] = "", text[CIDR4_STR_LEN];
	struct json_object *list = root ? json_object_new_array() : NULL, *obj;
	struct masq4_skip_value value;
	struct masq4_key key;
	struct map_walk walk;
	size_t used = 0, n = 0;
	int fd = bpffs_open_map(bpffs, MASQ4_SKIP_MAP);

	if (fd < 0) {
		json_object_put(list);
		return;
	}
	map_walk_start(&walk, fd, sizeof(key), sizeof(value));
	while (map_walk_next(&walk, &key, &value)) {
		struct cidr4 cidr = {.address = key.address, .prefix_len = (uint8_t)key.prefix_len};
		const char *kind =
		    value.kind < sizeof(kinds) / sizeof(kinds[0]) && kinds[value.kind]
			? kinds[value.kind]
			: "?";
		int len;

		cidr4_str(&cidr, text, sizeof(text));
		n++;
		if (list) {
			obj = json_object_new_object();
			cli_json_set(obj, "cidr", json_object_new_string(text));
			cli_json_set(obj, "kind", json_object_new_string(kind));
			cli_json_append(list, obj);
			continue;
		}
		len = snprintf(line + used, sizeof(line) - used, "%s%s (%s)", n > 1 ? ", " : "",
			       text, kind);
		if (len > 0 && (size_t)len < sizeof(line) - used)
			used += (size_t)len;
	}
	close(fd);
	if (root) {
		obj = json_object_new_object();
		cli_json_set(obj, "on", json_object_new_boolean(n > 0));
		cli_json_set(obj, "non_masquerade", list);
		cli_json_set(root, "masquerade", obj);
	} else if (n) {
		printf("egress masquerade: on, not to %s\n", line);
	} else {
		printf("egress masquerade: off\n");
	}
}

/*
 * Prints the program pinned at BPFFS/PIN (text), or sets KEY of ROOT to it (JSON; null when it
 * is missing). Returns whether it is pinned.
 */
static bool cli_status_program(const char *bpffs, const char *pin, struct json_object *root,
			       const char *key)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd = bpffs_open_map(bpffs, pin);

	if (fd < 0) {
		if (root)
			json_object_object_add(root, key, NULL);
		else
			printf("program %s: %s\n", pin, strerror(-fd));
		return false;
	}
	memset(&info, 0, sizeof(info));
	bpf_obj_get_info_by_fd(fd, &info, &len);
	if (root) {
		struct json_object *prog = json_object_new_object();

		cli_json_set(prog, "pin", json_object_new_string(pin));
		cli_json_set(prog, "id", json_object_new_int64(info.id));
		cli_json_set(prog, "name", json_object_new_string(info.name));
		cli_json_set(root, key, prog);
	} else {
		printf("program %s: id %u (%s)\n", pin, info.id, info.name);
	}
	close(fd);
	return true;
}

int cli_status(const struct cli_options *options)
{
	struct json_object *root = NULL, *maps = NULL;
	struct stat_value stats[STAT_MAX];
	struct dp_drops drops;
	bool has_stats = false, has_drops = false;
	int64_t ct_entries = -1;
	uint32_t ct_max = 0;
	const char *missing = NULL;
	char path[4096];
	int err = 0, fd;

	if (options->output == CLI_OUTPUT_JSON) {
		root = json_object_new_object();
		maps = json_object_new_array();
		if (!root || !maps || cli_json_set(root, "maps", maps)) {
			err = -ENOMEM;
			goto cleanup;
		}
		cli_json_set(root, "bpffs", json_object_new_string(options->bpffs));
	} else {
		printf("bpffs %s\n", options->bpffs);
	}

	/* The program pins: what the CNI plugin attaches to new pods' veths. */
	if (!cli_status_program(options->bpffs, SLUICE_PROG_PIN, root, "program"))
		missing = SLUICE_PROG_PIN;
	if (!cli_status_program(options->bpffs, SLUICE_TO_POD_PIN, root, "to_pod_program") &&
	    !missing)
		missing = SLUICE_TO_POD_PIN;

	if (!root)
		printf("%-14s %-8s %10s %10s\n", "MAP", "PRESENT", "ENTRIES", "MAX");
	for (size_t i = 0; i < dp_n_pinned_maps; i++) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		int64_t entries = -1;

		memset(&info, 0, sizeof(info));
		fd = bpffs_open_map(options->bpffs, dp_pinned_maps[i]);
		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
			entries = dp_map_entries(fd, &info);
			if (strcmp(dp_pinned_maps[i], CT4_MAP) == 0) {
				ct_entries = entries;
				ct_max = info.max_entries;
			}
			if (strcmp(dp_pinned_maps[i], STATS_MAP) == 0)
				has_stats = dp_percpu_sum(fd, STAT_MAX, stats) == 0;
			if (strcmp(dp_pinned_maps[i], DROPS_MAP) == 0)
				has_drops = dp_drops_read(fd, &drops) == 0;
		} else if (!missing && !dp_pinned_map_is_optional(dp_pinned_maps[i])) {
			missing = dp_pinned_maps[i];
		}
		if (fd >= 0)
			close(fd);
		if (root) {
			struct json_object *obj = json_object_new_object();

			cli_json_set(obj, "name", json_object_new_string(dp_pinned_maps[i]));
			cli_json_set(obj, "present", json_object_new_boolean(entries >= 0));
			if (entries >= 0) {
				cli_json_set(obj, "entries", json_object_new_int64(entries));
				cli_json_set(obj, "max_entries",
					     json_object_new_int64(info.max_entries));
			}
			cli_json_append(maps, obj);
		} else if (entries >= 0) {
			printf("%-14s %-8s %10lld %10u\n", dp_pinned_maps[i], "yes",
			       (long long)entries, info.max_entries);
		} else {
			printf("%-14s %-8s %10s %10s\n", dp_pinned_maps[i], "no", "-", "-");
		}
	}

	if (root) {
		if (has_stats)
			cli_json_set(root, "stats",
				     cli_counters_json(stat_names, stats, STAT_MAX, 0));
		if (has_drops)
			cli_json_set(root, "drops", cli_drops_json(&drops));
		if (ct_entries >= 0)
			cli_ct_pressure(options->bpffs, ct_entries, ct_max, root);
		cli_masq_status(options->bpffs, root);
		node_ipam_status(options->bpffs, root, NULL); /* pod CIDR usage per node */
		cli_agent_status(options->bpffs, root);
		err = cli_json_print(root);
	} else {
		if (has_stats) {
			putchar('\n');
			cli_counters_print("COUNTER", stat_names, stats, STAT_MAX, 0);
		}
		if (has_drops) {
			putchar('\n');
			cli_drops_print(&drops);
		}
		if (ct_entries >= 0)
			cli_ct_pressure(options->bpffs, ct_entries, ct_max, NULL);
		cli_masq_status(options->bpffs, NULL);
		node_ipam_status(options->bpffs, NULL, stdout);
		cli_agent_status(options->bpffs, NULL);
	}
	if (!err && missing) {
		bpffs_path(path, sizeof(path), options->bpffs, missing);
		log_fail("%s: %s (is the agent running with --bpffs %s?)", path, strerror(ENOENT),
			 options->bpffs);
		err = -ENOENT;
	}

cleanup:
	if (err == -ENOMEM)
		log_fail("status: %s", strerror(-err));
	json_object_put(root);
	return err;
}
