// SPDX-License-Identifier: Apache-2.0
/* Owns the list commands: services, conntrack, endpoints, status and drops from pinned maps. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "lib/node_ipam.h"
#include "lib/bpffs.h"
#include "loader/agent/agent_status.h"
#include "loader/cli/cli.h"
#include "loader/cli/cli_internal.h"
#include "lib/log.h"
#include "loader/desired/state.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/lb.h"
#include "maps/stats.h"

/* Open a pinned map, or explain which pin is missing and what usually causes it. */
int cli_open_map(const struct cli_options *options, const char *name)
{
	int fd = bpffs_open_map(options->bpffs, name);

	if (fd == -ENOENT)
		log_fail("%s/%s: %s (is the agent running with --bpffs %s?)", options->bpffs, name,
			 strerror(-fd), options->bpffs);
	else if (fd < 0)
		log_fail("%s/%s: %s", options->bpffs, name, strerror(-fd));
	return fd;
}

const char *cli_ip(uint32_t address, char *buf)
{
	return inet_ntop(AF_INET, &address, buf, INET_ADDRSTRLEN);
}

int cli_json_print(struct json_object *root)
{
	const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								    JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!text)
		return -ENOMEM;
	puts(text);
	return 0;
}

/* Set KEY on OBJ; json-c reports allocation failure only through the return value. */
int cli_json_set(struct json_object *obj, const char *key, struct json_object *value)
{
	if (!value || json_object_object_add(obj, key, value)) {
		json_object_put(value);
		return -ENOMEM;
	}
	return 0;
}

int cli_json_append(struct json_object *array, struct json_object *value)
{
	if (!value || json_object_array_add(array, value)) {
		json_object_put(value);
		return -ENOMEM;
	}
	return 0;
}

/* ---- ct list ---------------------------------------------------------------------------- */

struct cli_ct {
	struct ct4_key key;
	struct ct_entry entry;
};

static int cli_ct_cmp(const void *a, const void *b)
{
	const struct cli_ct *x = a, *y = b;
	int xr = !!(x->entry.flags & CT_F_REPLY), yr = !!(y->entry.flags & CT_F_REPLY);

	if (xr != yr)
		return xr - yr;
	if (x->key.saddr != y->key.saddr)
		return ntohl(x->key.saddr) < ntohl(y->key.saddr) ? -1 : 1;
	if (x->key.sport != y->key.sport)
		return ntohs(x->key.sport) < ntohs(y->key.sport) ? -1 : 1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

static const struct {
	uint8_t bit;
	const char *name;
} cli_ct_flag_names[] = {
    {CT_F_REPLY, "reply"},
    {CT_F_HAIRPIN, "hairpin"},
    {CT_F_CLOSING, "closing"},
};

static void cli_ct_flags(uint8_t flags, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(cli_ct_flag_names) / sizeof(cli_ct_flag_names[0]); i++) {
		if (!(flags & cli_ct_flag_names[i].bit))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "",
				 cli_ct_flag_names[i].name);

		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

static void cli_tcp_flags(uint8_t flags, char *buf, size_t len)
{
	static const char *const names[8] = {"FIN", "SYN", "RST", "PSH",
					     "ACK", "URG", "ECE", "CWR"};
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < 8; i++) {
		if (!(flags & (1u << i)))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? "|" : "", names[i]);

		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

/* Signed seconds until NS (CLOCK_MONOTONIC); negative once expired and not yet swept. */
static int64_t cli_expires_in_s(uint64_t ns)
{
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
	return ((int64_t)ns - now) / 1000000000ll;
}

static struct json_object *cli_ct_json(const struct cli_ct *ct, const char *service)
{
	struct json_object *obj = json_object_new_object(), *flags = json_object_new_array();
	const struct ct_entry *e = &ct->entry;
	bool is_reply = e->flags & CT_F_REPLY;
	char ip[INET_ADDRSTRLEN], tcp[48];
	int err = 0;

	if (!obj || !flags)
		goto fail;
	err |= cli_json_set(obj, "proto", json_object_new_string(lb_proto_name(ct->key.proto)));
	err |= cli_json_set(obj, "src", json_object_new_string(cli_ip(ct->key.saddr, ip)));
	err |= cli_json_set(obj, "sport", json_object_new_int(ntohs(ct->key.sport)));
	err |= cli_json_set(obj, "dst", json_object_new_string(cli_ip(ct->key.daddr, ip)));
	err |= cli_json_set(obj, "dport", json_object_new_int(ntohs(ct->key.dport)));
	/* The tuple packets of this direction leave with. */
	err |= cli_json_set(obj, "nat_src", json_object_new_string(cli_ip(e->nat_saddr, ip)));
	err |= cli_json_set(obj, "nat_sport", json_object_new_int(ntohs(e->nat_sport)));
	err |= cli_json_set(obj, "nat_dst", json_object_new_string(cli_ip(e->nat_daddr, ip)));
	err |= cli_json_set(obj, "nat_dport", json_object_new_int(ntohs(e->nat_dport)));
	err |= cli_json_set(obj, "ifindex", json_object_new_int64(e->ifindex));
	err |= cli_json_set(obj, "service", json_object_new_string(service));
	err |= cli_json_set(obj, "service_id", json_object_new_int64(e->svc_id));
	err |= cli_json_set(obj, "backend_id", json_object_new_int64(e->backend_id));
	err |= cli_json_set(obj, "expires_in_s",
			    json_object_new_int64(cli_expires_in_s(e->expires_ns)));
	for (size_t i = 0; i < sizeof(cli_ct_flag_names) / sizeof(cli_ct_flag_names[0]); i++)
		if (e->flags & cli_ct_flag_names[i].bit)
			err |= cli_json_append(flags,
					       json_object_new_string(cli_ct_flag_names[i].name));
	err |= cli_json_set(obj, "flags", flags);
	flags = NULL;
	cli_tcp_flags(e->tcp_flags, tcp, sizeof(tcp));
	err |= cli_json_set(obj, "tcp_flags", json_object_new_string(tcp));
	err |=
	    cli_json_set(obj, "direction", json_object_new_string(is_reply ? "reply" : "forward"));
	if (err)
		goto fail;
	return obj;

fail:
	json_object_put(flags);
	json_object_put(obj);
	return NULL;
}

int cli_ct_list(const struct cli_options *options)
{
	struct json_object *root = NULL, *array = NULL;
	struct cli_ct *entries = NULL;
	size_t n = 0, cap = 0;
	struct ct4_key key, next;
	struct lb4_revnat revnat;
	bool has_key = false;
	int ct_fd, revnat_fd, err = 0;

	ct_fd = cli_open_map(options, CT4_MAP);
	if (ct_fd < 0)
		return ct_fd;
	/* Names are a nicety: without lb4_revnat the entries still list. */
	revnat_fd = bpffs_open_map(options->bpffs, LB4_REVNAT_MAP);
	while (bpf_map_get_next_key(ct_fd, has_key ? &key : NULL, &next) == 0) {
		key = next;
		has_key = true;
		if (n == cap) {
			size_t new_cap = cap ? cap * 2 : 256;
			struct cli_ct *grown = realloc(entries, new_cap * sizeof(*grown));

			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			entries = grown;
			cap = new_cap;
		}
		entries[n].key = key;
		if (bpf_map_lookup_elem(ct_fd, &key, &entries[n].entry) == 0)
			n++;
	}
	qsort(entries, n, sizeof(*entries), cli_ct_cmp);

	if (options->output == CLI_OUTPUT_JSON) {
		root = json_object_new_object();
		array = json_object_new_array();
		err = root ? cli_json_set(root, "connections", array) : -ENOMEM;
	}
	for (size_t i = 0; !err && i < n; i++) {
		const struct cli_ct *ct = &entries[i];
		const struct ct_entry *e = &ct->entry;
		bool has_revnat =
		    revnat_fd >= 0 && bpf_map_lookup_elem(revnat_fd, &e->svc_id, &revnat) == 0;
		char service[SLUICE_NAME_LEN] = "-", src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN],
		     nat[INET_ADDRSTRLEN], flags[64];

		if (has_revnat) {
			revnat.name[sizeof(revnat.name) - 1] = '\0';
			if (revnat.name[0])
				snprintf(service, sizeof(service), "%s", revnat.name);
		}
		if (options->output == CLI_OUTPUT_JSON) {
			err = cli_json_append(array, cli_ct_json(ct, service));
			continue;
		}
		cli_ip(ct->key.saddr, src);
		cli_ip(ct->key.daddr, dst);
		cli_ct_flags(e->flags, flags, sizeof(flags));
		printf("%s %s:%u -> %s:%u ", lb_proto_name(ct->key.proto), src,
		       ntohs(ct->key.sport), dst, ntohs(ct->key.dport));
		printf("=> %s:%u -> ", cli_ip(e->nat_saddr, nat), ntohs(e->nat_sport));
		printf("%s:%u ", cli_ip(e->nat_daddr, nat), ntohs(e->nat_dport));
		int64_t expires = cli_expires_in_s(e->expires_ns);

		if (expires >= 0)
			printf("svc %s expires %llds", service, (long long)expires);
		else
			printf("svc %s expired", service);
		printf(" flags %s\n", flags[0] ? flags : "-");
	}
	if (!err && root)
		err = cli_json_print(root);

cleanup:
	if (err)
		log_fail("ct list: %s", strerror(-err));
	json_object_put(root);
	free(entries);
	if (revnat_fd >= 0)
		close(revnat_fd);
	close(ct_fd);
	return err;
}

/* ---- endpoint list ---------------------------------------------------------------------- */

static void cli_mac(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

struct cli_endpoint {
	struct ep4_key key;
	struct ep4_info info;
};

static int cli_endpoint_cmp(const void *a, const void *b)
{
	uint32_t x = ntohl(((const struct cli_endpoint *)a)->key.address);
	uint32_t y = ntohl(((const struct cli_endpoint *)b)->key.address);

	return (x > y) - (x < y);
}

int cli_endpoint_list(const struct cli_options *options)
{
	struct json_object *root = NULL, *array = NULL;
	struct cli_endpoint *eps = NULL;
	size_t n = 0, cap = 0;
	struct ep4_key key, next;
	bool has_key = false;
	int fd, err = 0;

	fd = cli_open_map(options, EP4_MAP);
	if (fd < 0)
		return fd;
	while (bpf_map_get_next_key(fd, has_key ? &key : NULL, &next) == 0) {
		key = next;
		has_key = true;
		if (n == cap) {
			size_t new_cap = cap ? cap * 2 : 64;
			struct cli_endpoint *grown = realloc(eps, new_cap * sizeof(*grown));

			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			eps = grown;
			cap = new_cap;
		}
		eps[n].key = key;
		if (bpf_map_lookup_elem(fd, &key, &eps[n].info) == 0) {
			eps[n].info.name[sizeof(eps[n].info.name) - 1] = '\0';
			n++;
		}
	}
	qsort(eps, n, sizeof(*eps), cli_endpoint_cmp);

	if (options->output == CLI_OUTPUT_JSON) {
		root = json_object_new_object();
		array = json_object_new_array();
		err = root ? cli_json_set(root, "endpoints", array) : -ENOMEM;
	} else {
		printf("%-16s %-40s %-22s %-18s %s\n", "ADDRESS", "NAME", "HOST VETH", "MAC",
		       "HOST MAC");
	}
	for (size_t i = 0; !err && i < n; i++) {
		const struct ep4_info *info = &eps[i].info;
		char ip[INET_ADDRSTRLEN], ifname[IF_NAMESIZE] = "", mac[18], host_mac[18], dev[48];
		bool has_ifname = if_indextoname(info->ifindex, ifname) != NULL;

		cli_ip(eps[i].key.address, ip);
		cli_mac(info->mac, mac);
		cli_mac(info->host_mac, host_mac);
		if (options->output == CLI_OUTPUT_TEXT) {
			snprintf(dev, sizeof(dev), "%u (%s)", info->ifindex,
				 has_ifname ? ifname : "gone");
			printf("%-16s %-40s %-22s %-18s %s\n", ip, info->name[0] ? info->name : "-",
			       dev, mac, host_mac);
			continue;
		}
		struct json_object *obj = json_object_new_object();

		if (!obj) {
			err = -ENOMEM;
			break;
		}
		err |= cli_json_set(obj, "address", json_object_new_string(ip));
		err |= cli_json_set(obj, "name", json_object_new_string(info->name));
		err |= cli_json_set(obj, "ifindex", json_object_new_int64(info->ifindex));
		if (has_ifname)
			err |= cli_json_set(obj, "ifname", json_object_new_string(ifname));
		else if (json_object_object_add(obj, "ifname", NULL)) /* JSON null: veth gone */
			err = -ENOMEM;
		err |= cli_json_set(obj, "mac", json_object_new_string(mac));
		err |= cli_json_set(obj, "host_mac", json_object_new_string(host_mac));
		err |= cli_json_set(obj, "flags", json_object_new_int64(info->flags));
		err |= cli_json_append(array, obj);
	}
	if (!err && root)
		err = cli_json_print(root);

cleanup:
	if (err)
		log_fail("endpoint list: %s", strerror(-err));
	json_object_put(root);
	free(eps);
	close(fd);
	return err;
}

/* ---- status and drops ------------------------------------------------------------------- */

/* Sum a per-CPU counter array of N entries into OUT. Returns 0 or -errno. */
static int cli_percpu_sum(int fd, uint32_t n, struct stat_value *out)
{
	int ncpus = libbpf_num_possible_cpus();
	struct stat_value *values;

	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	values = calloc((size_t)ncpus, sizeof(*values));
	if (!values)
		return -ENOMEM;
	for (uint32_t key = 0; key < n; key++) {
		memset(&out[key], 0, sizeof(out[key]));
		if (bpf_map_lookup_elem(fd, &key, values))
			continue;
		for (int cpu = 0; cpu < ncpus; cpu++) {
			out[key].packets += values[cpu].packets;
			out[key].bytes += values[cpu].bytes;
		}
	}
	free(values);
	return 0;
}

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

int cli_drops(const struct cli_options *options)
{
	struct stat_value drops[DROP_MAX];
	struct json_object *root = NULL;
	int fd, err;

	fd = cli_open_map(options, DROPS_MAP);
	if (fd < 0)
		return fd;
	err = cli_percpu_sum(fd, DROP_MAX, drops);
	if (err)
		goto cleanup;
	if (options->output == CLI_OUTPUT_TEXT) {
		cli_counters_print("DROP REASON", drop_names, drops, DROP_MAX, DROP_NONE + 1);
		goto cleanup;
	}
	root = json_object_new_object();
	err = root ? cli_json_set(root, "drops",
				  cli_counters_json(drop_names, drops, DROP_MAX, DROP_NONE + 1))
		   : -ENOMEM;
	if (!err)
		err = cli_json_print(root);

cleanup:
	if (err)
		log_fail("%s/%s: %s", options->bpffs, DROPS_MAP, strerror(-err));
	json_object_put(root);
	close(fd);
	return err;
}

/* Entries in a map: arrays are full by construction, hashes are counted by walking them. */
static int64_t cli_map_entries(int fd, const struct bpf_map_info *info)
{
	char key[256], next[256];
	bool has_key = false;
	int64_t n = 0;

	if (info->type == BPF_MAP_TYPE_ARRAY || info->type == BPF_MAP_TYPE_PERCPU_ARRAY)
		return info->max_entries;
	if (info->key_size > sizeof(key))
		return -1;
	while (bpf_map_get_next_key(fd, has_key ? key : NULL, next) == 0) {
		memcpy(key, next, info->key_size);
		has_key = true;
		n++;
	}
	return n;
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

int cli_status(const struct cli_options *options)
{
	static const char *const pins[] = {
	    LB4_SVC_MAP,  LB4_SLOTS_MAP, LB4_MAGLEV_MAP, LB4_BACKENDS_MAP, LB4_REVNAT_MAP,
	    LB4_VIPS_MAP, CT4_MAP,	 EP4_MAP,	 STATS_MAP,	   DROPS_MAP,
	};
	struct json_object *root = NULL, *maps = NULL;
	struct stat_value stats[STAT_MAX], drops[DROP_MAX];
	bool has_stats = false, has_drops = false;
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

	/* The program pin: what the CNI plugin attaches to new pods. */
	fd = bpffs_open_map(options->bpffs, SLUICE_PROG_PIN);
	if (fd >= 0) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		bpf_obj_get_info_by_fd(fd, &info, &len);
		if (root) {
			struct json_object *prog = json_object_new_object();

			cli_json_set(prog, "pin", json_object_new_string(SLUICE_PROG_PIN));
			cli_json_set(prog, "id", json_object_new_int64(info.id));
			cli_json_set(prog, "name", json_object_new_string(info.name));
			cli_json_set(root, "program", prog);
		} else {
			printf("program %s: id %u (%s)\n", SLUICE_PROG_PIN, info.id, info.name);
		}
		close(fd);
	} else {
		missing = SLUICE_PROG_PIN;
		if (root)
			json_object_object_add(root, "program", NULL);
		else
			printf("program %s: %s\n", SLUICE_PROG_PIN, strerror(-fd));
	}

	if (!root)
		printf("%-14s %-8s %10s %10s\n", "MAP", "PRESENT", "ENTRIES", "MAX");
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		int64_t entries = -1;

		memset(&info, 0, sizeof(info));
		fd = bpffs_open_map(options->bpffs, pins[i]);
		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
			entries = cli_map_entries(fd, &info);
			if (strcmp(pins[i], STATS_MAP) == 0)
				has_stats = cli_percpu_sum(fd, STAT_MAX, stats) == 0;
			if (strcmp(pins[i], DROPS_MAP) == 0)
				has_drops = cli_percpu_sum(fd, DROP_MAX, drops) == 0;
		} else if (!missing) {
			missing = pins[i];
		}
		if (fd >= 0)
			close(fd);
		if (root) {
			struct json_object *obj = json_object_new_object();

			cli_json_set(obj, "name", json_object_new_string(pins[i]));
			cli_json_set(obj, "present", json_object_new_boolean(entries >= 0));
			if (entries >= 0) {
				cli_json_set(obj, "entries", json_object_new_int64(entries));
				cli_json_set(obj, "max_entries",
					     json_object_new_int64(info.max_entries));
			}
			cli_json_append(maps, obj);
		} else if (entries >= 0) {
			printf("%-14s %-8s %10lld %10u\n", pins[i], "yes", (long long)entries,
			       info.max_entries);
		} else {
			printf("%-14s %-8s %10s %10s\n", pins[i], "no", "-", "-");
		}
	}

	if (root) {
		if (has_stats)
			cli_json_set(root, "stats",
				     cli_counters_json(stat_names, stats, STAT_MAX, 0));
		if (has_drops)
			cli_json_set(root, "drops",
				     cli_counters_json(drop_names, drops, DROP_MAX, DROP_NONE + 1));
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
			cli_counters_print("DROP REASON", drop_names, drops, DROP_MAX,
					   DROP_NONE + 1);
		}
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
