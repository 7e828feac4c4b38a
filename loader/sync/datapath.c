// SPDX-License-Identifier: Apache-2.0
/* Owns loading the programs: map creation or adoption, the program pins, re-attachment. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/bpffs.h"
#include "loader/sync/datapath.h"
#include "loader/sync/sync_internal.h"
#include "lib/log.h"
#include "lib/map_walk.h"
#include "lib/tc_attach.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/events.h"
#include "maps/lb.h"
#include "maps/masq.h"
#include "maps/stats.h"
#include "maps/tunnel.h"
#include "skel/tc_node.skel.h"
#include "skel/tc_pod.skel.h"
#include "skel/tc_to_pod.skel.h"
#include "skel/tc_tunnel.skel.h"
#include "skel/xdp_node.skel.h"

/*
 * Compare a pinned map with what this build declares. libbpf would refuse to reuse a mismatch
 * with a generic message; this names the map, the field and the way out. ct4 alone may differ
 * in size when --ct-size was not given: the pinned size is then adopted, since resizing means
 * recreating the map and losing every tracked connection.
 */
static int datapath_check_pinned(struct bpf_map *map, const struct datapath_opts *opts,
				 struct datapath_result *result)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	const char *path = bpf_map__pin_path(map), *name = bpf_map__name(map);
	int fd, err = 0;

	if (!path)
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return 0;
		log_error("%s: %s", path, strerror(-err));
		return err;
	}
	result->is_adopted = true;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		log_error("%s: read map info: %s", path, strerror(-err));
		goto cleanup;
	}
	if (strcmp(name, CT4_MAP) == 0 && info.max_entries != bpf_map__max_entries(map)) {
		if (opts->is_ct_size_set) {
			log_error(
			    "%s: pinned with %u entries but --ct-size is %u; remove the pin to "
			    "resize it (this drops every tracked connection) or pass --ct-size %u",
			    path, info.max_entries, bpf_map__max_entries(map), info.max_entries);
			err = -EEXIST;
			goto cleanup;
		}
		log_info("%s: keeping the pinned size of %u entries", path, info.max_entries);
		err = bpf_map__set_max_entries(map, info.max_entries);
		if (err)
			goto cleanup;
	}
	if (strcmp(name, LB4_MAGLEV_MAP) == 0 && info.value_size != bpf_map__value_size(map)) {
		/*
		 * Another --maglev-table-size: tables of another M cannot be reused. The pin goes
		 * and the load makes a new map; the programs running now keep the old one until
		 * they are replaced, and new flows fall back to the slots until the first sync
		 * writes tables. Established flows follow conntrack and are not affected.
		 */
		log_info("%s: Maglev table size %zu -> %zu: tables rebuilt", path,
			 info.value_size / sizeof(__u32), bpf_map__value_size(map) / sizeof(__u32));
		if (unlink(path)) {
			err = -errno;
			log_error("%s: remove: %s", path, strerror(-err));
		}
		result->is_maglev_resized = true;
		goto cleanup;
	}
	if ((strcmp(name, DROPS_MAP) == 0 || strcmp(name, STATS_MAP) == 0 ||
	     strcmp(name, SVC_FLOWS_MAP) == 0) &&
	    info.type == bpf_map__type(map) && info.max_entries != bpf_map__max_entries(map)) {
		/*
		 * A counter map of another size: a build with more drop reasons or outcomes
		 * (DROP_MAX, STAT_MAX), or another service table (SVC_FLOWS_MAX). Counters are not
		 * state: the pin goes and the load makes one of this build's size, so the agent
		 * starts instead of refusing a layout change. Programs running now count into the
		 * old map until datapath_reattach_all() moves the pods' veths to the new program.
		 */
		log_info("%s: %u counters -> %u: counters restart at zero", path, info.max_entries,
			 bpf_map__max_entries(map));
		if (unlink(path)) {
			err = -errno;
			log_error("%s: remove: %s", path, strerror(-err));
		}
		goto cleanup;
	}
	if (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
	    info.value_size != bpf_map__value_size(map) ||
	    info.max_entries != bpf_map__max_entries(map) ||
	    info.map_flags != bpf_map__map_flags(map)) {
		log_error(
		    "%s: pinned map (type %u, key %u B, value %u B, %u entries, flags %#x) does "
		    "not match this build (type %u, key %u B, value %u B, %u entries, flags %#x); "
		    "a layout change needs a new map name, or remove the stale pin",
		    path, info.type, info.key_size, info.value_size, info.max_entries,
		    info.map_flags, bpf_map__type(map), bpf_map__key_size(map),
		    bpf_map__value_size(map), bpf_map__max_entries(map), bpf_map__map_flags(map));
		err = -EEXIST;
		goto cleanup;
	}

cleanup:
	close(fd);
	return err;
}

/*
 * Size the Maglev tables of an object: M entries per lb4_maglev value and, for the programs that
 * read them (RODATA_SIZE not NULL), the same M as their index bound (they must agree, or the
 * verifier refuses the table read). An object that only shares the pin passes NULL.
 */
int datapath_set_maglev(struct bpf_map *maglev, __u32 *rodata_size,
			const struct datapath_opts *opts)
{
	__u32 m = opts->maglev_size ? opts->maglev_size : LB_MAGLEV_SIZE_DEFAULT;
	int err;

	if (rodata_size)
		*rodata_size = m;
	err = bpf_map__set_value_size(maglev, m * sizeof(__u32));
	if (err)
		log_error("%s: set value size for %u entries: %s", LB4_MAGLEV_MAP, m,
			  strerror(-err));
	return err;
}

/* Pin PROG at DIR/NAME, replacing an older pin in one rename so the CNI never finds none. */
static int datapath_pin_program(struct bpf_program *prog, const char *dir, const char *name)
{
	char path[4096], tmp[4096], tmp_name[64];
	int err;

	/* bpffs refuses names with a dot (kernel/bpf/inode.c bpf_lookup): no ".new". */
	snprintf(tmp_name, sizeof(tmp_name), "%s_new", name);
	err = bpffs_path(path, sizeof(path), dir, name);
	if (!err)
		err = bpffs_path(tmp, sizeof(tmp), dir, tmp_name);
	if (err) {
		log_error("%s: pin path too long", dir);
		return err;
	}
	unlink(tmp); /* left by an agent killed between pin and rename */
	err = bpf_program__pin(prog, tmp);
	if (err) {
		log_error("pin program at %s: %s", tmp, strerror(-err));
		return err;
	}
	if (rename(tmp, path)) {
		err = -errno;
		log_error("rename %s to %s: %s", tmp, path, strerror(-err));
		unlink(tmp);
		return err;
	}
	return 0;
}

/*
 * An upgrade must reach pods that already exist: their veths still run the programs the CNI
 * attached, or none at egress when an older plugin made them. Every host veth listed in ep4 gets
 * POD_FD at its ingress and TO_POD_FD at its egress; failures are logged and counted (a veth may
 * vanish under us when its pod is deleted).
 */
static void datapath_reattach_all(int ep4_fd, int pod_fd, int to_pod_fd,
				  struct datapath_result *result)
{
	struct ep4_key key;
	struct ep4_info info;
	char ifname[IF_NAMESIZE], address[INET_ADDRSTRLEN];
	struct map_walk walk;
	int err;

	map_walk_start(&walk, ep4_fd, sizeof(key), sizeof(info));
	while (map_walk_next(&walk, &key, &info)) {
		if (!info.ifindex)
			continue;
		info.name[sizeof(info.name) - 1] = '\0';
		inet_ntop(AF_INET, &key.address, address, sizeof(address));
		if (!if_indextoname(info.ifindex, ifname)) {
			log_warn("endpoint %s (%s): host veth ifindex %u is gone, not attached",
				 address, info.name, info.ifindex);
			result->reattach_failed++;
			continue;
		}
		err = tc_attach((int)info.ifindex, false, pod_fd);
		if (err) {
			log_warn("attach tc ingress to %s (endpoint %s %s): %s", ifname, address,
				 info.name, strerror(-err));
			result->reattach_failed++;
			continue;
		}
		err = tc_attach((int)info.ifindex, true, to_pod_fd);
		if (err) {
			log_warn("attach tc egress to %s (endpoint %s %s): %s", ifname, address,
				 info.name, strerror(-err));
			result->reattach_failed++;
			continue;
		}
		result->reattached++;
	}
}

int datapath_clock_start(int clock_prog_fd)
{
	unsigned char frame[64] = {}; /* the program ignores its packet; test runs need one */
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(clock_prog_fd, &topts);
	if (err)
		return err;
	return topts.retval == 0 ? 0 : -EINVAL;
}

/* masq_ifindex for both tc programs: the uplink's with masquerade on, else 0. */
static int datapath_masq_ifindex(const struct datapath_opts *opts, uint32_t *ifindex)
{
	int err;

	*ifindex = 0;
	if (!opts->is_masquerade || !opts->uplink)
		return 0;
	*ifindex = if_nametoindex(opts->uplink);
	if (*ifindex)
		return 0;
	err = -errno;
	log_error("--uplink %s: %s", opts->uplink, strerror(-err));
	return err;
}

/*
 * Makes masq4_skip hold exactly OPTS' entries (none when masquerade is off): the new ones are
 * written first, then what a former run left is deleted, so a destination listed before and now
 * is never masqueraded in between. Returns 0 or -errno.
 */
static int datapath_write_masq_skip(int fd, const struct datapath_opts *opts)
{
	size_t n = opts->is_masquerade ? opts->n_skip : 0;
	struct masq4_key key, stale[MASQ4_MAX_CIDRS];
	struct masq4_skip_value value;
	struct map_walk walk;
	size_t n_stale = 0;

	for (size_t i = 0; i < n; i++) {
		memset(&key, 0, sizeof(key));
		key.prefix_len = opts->skip[i].prefix_len;
		key.address = opts->skip[i].address;
		value.kind = opts->skip[i].kind;
		if (bpf_map_update_elem(fd, &key, &value, BPF_ANY))
			return -errno;
	}
	map_walk_start(&walk, fd, sizeof(key), sizeof(value));
	while (map_walk_next(&walk, &key, &value) && n_stale < MASQ4_MAX_CIDRS) {
		bool is_wanted = false;

		for (size_t i = 0; i < n && !is_wanted; i++)
			is_wanted = key.prefix_len == opts->skip[i].prefix_len &&
				    key.address == opts->skip[i].address;
		if (!is_wanted)
			stale[n_stale++] = key;
	}
	for (size_t i = 0; i < n_stale; i++)
		if (bpf_map_delete_elem(fd, &stale[i]) && errno != ENOENT)
			return -errno;
	return 0;
}

/*
 * The trace switch's data section (maps/events.h) of OBJ, pinned at BPFFS/EVENTS_CFG_MAP: the
 * first object loaded creates the pin (libbpf writes the section's zeroes, tracing off), every
 * later one, and every later agent, reuses it, so one write reaches every program. An object
 * without the section (no events) is left alone. Returns 0 or -errno.
 */
static int datapath_pin_events_cfg(struct bpf_object *obj, const char *bpffs)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, EVENTS_CFG_SECTION);
	char path[PATH_MAX];
	int err;

	if (!map)
		return 0;
	if (bpf_map__value_size(map) != sizeof(struct events_cfg)) {
		log_error("%s: section of %u bytes, not one struct events_cfg", EVENTS_CFG_SECTION,
			  bpf_map__value_size(map));
		return -EINVAL;
	}
	err = bpffs_path(path, sizeof(path), bpffs, EVENTS_CFG_MAP);
	err = err ?: bpf_map__set_pin_path(map, path);
	if (err)
		log_error("%s/%s: %s", bpffs, EVENTS_CFG_MAP, strerror(-err));
	return err;
}

/*
 * For an object loaded after tc_pod (tc_to_pod, the uplink's, sock_lb's): size ct4 like the pod
 * object did, then compare every map with its pin (datapath_check_pinned).
 */
int datapath_prepare_object(struct bpf_object *obj, struct bpf_map *ct4,
			    const struct datapath_opts *opts, struct datapath_result *result)
{
	struct datapath_opts node_opts = *opts;
	struct bpf_map *map;
	bool is_adopted = result->is_adopted;
	int err;

	/* The pod object already created or adopted ct4: its size is the one in force. */
	node_opts.is_ct_size_set = false;
	err = bpf_map__set_max_entries(ct4, result->ct_size);
	err = err ?: datapath_pin_events_cfg(obj, opts->bpffs);
	if (err)
		return err;
	bpf_object__for_each_map(map, obj)
	{
		err = datapath_check_pinned(map, &node_opts, result);
		if (err)
			return err;
	}
	result->is_adopted = is_adopted;
	return 0;
}

/*
 * The pods' veth egress program, tc_to_pod: its maps are the pins tc_pod created or adopted.
 * Loaded into *SKEL (the caller's to destroy) and pinned at bpffs/tc_to_pod. Returns 0 or -errno.
 */
static int datapath_load_to_pod(const struct datapath_opts *opts, struct datapath_result *result,
				struct tc_to_pod **skel)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = opts->bpffs);
	int err;

	*skel = tc_to_pod__open_opts(&open_opts);
	if (!*skel) {
		err = -errno;
		log_error("open BPF object tc_to_pod: %s", strerror(-err));
		return err;
	}
	err = datapath_set_maglev((*skel)->maps.lb4_maglev, NULL, opts);
	err = err ?: datapath_prepare_object((*skel)->obj, (*skel)->maps.ct4, opts, result);
	if (err)
		return err;
	err = tc_to_pod__load(*skel);
	if (err) {
		log_error("load BPF object tc_to_pod (pins under %s): %s", opts->bpffs,
			  strerror(-err));
		return err;
	}
	return datapath_pin_program((*skel)->progs.tc_to_pod, opts->bpffs, SLUICE_TO_POD_PIN);
}

int datapath_load(const struct datapath_opts *opts, struct datapath_result *result)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = opts->bpffs);
	struct tc_to_pod *to_pod = NULL;
	struct tc_pod *skel = NULL;
	char path[PATH_MAX];
	struct bpf_map *map;
	int err;

	memset(result, 0, sizeof(*result));
	skel = tc_pod__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		log_error("open BPF object tc_pod: %s", strerror(-err));
		return err;
	}
	skel->rodata->hairpin_ip = opts->hairpin_ip;
	err = datapath_masq_ifindex(opts, &skel->rodata->masq_ifindex);
	if (err)
		goto cleanup;
	err = datapath_set_maglev(skel->maps.lb4_maglev, &skel->rodata->lb_maglev_size, opts);
	if (err)
		goto cleanup;
	err = bpf_map__set_max_entries(skel->maps.ct4, opts->ct_size);
	if (err) {
		log_error("%s: set size %u: %s", CT4_MAP, opts->ct_size, strerror(-err));
		goto cleanup;
	}
	err = datapath_pin_events_cfg(skel->obj, opts->bpffs);
	if (err)
		goto cleanup;
	/* The trace switch's pin before it was a data section: no program reads it any more. */
	if (!bpffs_path(path, sizeof(path), opts->bpffs, "events_cfg") && !unlink(path))
		log_info("%s: removed, the trace switch is %s now", path, EVENTS_CFG_MAP);
	bpf_object__for_each_map(map, skel->obj)
	{
		err = datapath_check_pinned(map, opts, result);
		if (err)
			goto cleanup;
	}
	result->ct_size = bpf_map__max_entries(skel->maps.ct4);

	/* Maps with LIBBPF_PIN_BY_NAME are reused from, or created and pinned at, bpffs/<name>. */
	err = tc_pod__load(skel);
	if (err) {
		log_error("load BPF object tc_pod (pins under %s): %s", opts->bpffs,
			  strerror(-err));
		goto cleanup;
	}
	err = datapath_clock_start(bpf_program__fd(skel->progs.tc_clock_start));
	if (err) {
		/* Not fatal: packets fall back to the ktime helper while the clock reads 0. */
		log_warn("start datapath clock: %s", strerror(-err));
	}
	err = datapath_write_masq_skip(bpf_map__fd(skel->maps.masq4_skip), opts);
	if (err) {
		log_error("%s: %s", MASQ4_SKIP_MAP, strerror(-err));
		goto cleanup;
	}
	/* tc_to_pod first: a plugin that finds tc_pod pinned finds both. */
	err = datapath_load_to_pod(opts, result, &to_pod);
	if (err)
		goto cleanup;
	err = datapath_pin_program(skel->progs.tc_pod_ingress, opts->bpffs, SLUICE_PROG_PIN);
	if (err)
		goto cleanup;
	datapath_reattach_all(bpf_map__fd(skel->maps.ep4),
			      bpf_program__fd(skel->progs.tc_pod_ingress),
			      bpf_program__fd(to_pod->progs.tc_to_pod), result);
	err = datapath_load_node(opts, result);
	err = err ?: datapath_load_tunnel(opts, result);

cleanup:
	tc_to_pod__destroy(to_pod);
	tc_pod__destroy(skel);
	return err;
}

/* XDP in native mode on IFINDEX; a failure is not fatal: tc_node does all the work alone. */
static void datapath_attach_xdp(const struct datapath_opts *opts, int ifindex,
				struct datapath_result *result)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = opts->bpffs);
	struct xdp_node *skel = NULL;
	int err;

	skel = xdp_node__open_opts(&open_opts);
	if (!skel) {
		log_warn("open BPF object xdp_node: %s; uplink %s runs tc only", strerror(errno),
			 opts->uplink);
		return;
	}
	err = datapath_set_maglev(skel->maps.lb4_maglev, NULL, opts);
	err = err ?: datapath_prepare_object(skel->obj, skel->maps.ct4, opts, result);
	err = err ?: xdp_node__load(skel);
	if (err) {
		log_warn("load BPF object xdp_node: %s; uplink %s runs tc only", strerror(-err),
			 opts->uplink);
		goto cleanup;
	}
	err = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.xdp_node_ingress),
			     XDP_FLAGS_DRV_MODE, NULL);
	if (err) {
		log_warn("attach xdp (native) to %s: %s; uplink runs tc only", opts->uplink,
			 strerror(-err));
		goto cleanup;
	}
	result->is_uplink_xdp = true;

cleanup:
	xdp_node__destroy(skel);
}

int datapath_load_node(const struct datapath_opts *opts, struct datapath_result *result)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = opts->bpffs);
	struct tc_node *skel = NULL;
	int ifindex = 0, err;

	if (opts->uplink) {
		ifindex = (int)if_nametoindex(opts->uplink);
		if (!ifindex) {
			err = -errno;
			log_error("--uplink %s: %s", opts->uplink, strerror(-err));
			return err;
		}
	}
	skel = tc_node__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		log_error("open BPF object tc_node: %s", strerror(-err));
		return err;
	}
	err = datapath_masq_ifindex(opts, &skel->rodata->masq_ifindex);
	err =
	    err ?: datapath_set_maglev(skel->maps.lb4_maglev, &skel->rodata->lb_maglev_size, opts);
	err = err ?: datapath_prepare_object(skel->obj, skel->maps.ct4, opts, result);
	if (err)
		goto cleanup;
	err = tc_node__load(skel);
	if (err) {
		log_error("load BPF object tc_node (pins under %s): %s", opts->bpffs,
			  strerror(-err));
		goto cleanup;
	}
	if (!ifindex)
		goto cleanup;
	err = tc_attach(ifindex, false, bpf_program__fd(skel->progs.tc_node_ingress));
	if (err) {
		log_error("attach tc ingress to uplink %s: %s", opts->uplink, strerror(-err));
		goto cleanup;
	}
	datapath_attach_xdp(opts, ifindex, result);

cleanup:
	tc_node__destroy(skel);
	return err;
}

int datapath_load_tunnel(const struct datapath_opts *opts, struct datapath_result *result)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = opts->bpffs);
	struct tc_tunnel *skel = NULL;
	int ifindex = (int)opts->tunnel_ifindex, err;

	skel = tc_tunnel__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		log_error("open BPF object tc_tunnel: %s", strerror(-err));
		return err;
	}
	err = datapath_set_maglev(skel->maps.lb4_maglev, NULL, opts);
	err = err ?: datapath_prepare_object(skel->obj, skel->maps.ct4, opts, result);
	if (err)
		goto cleanup;
	err = tc_tunnel__load(skel);
	if (err) {
		log_error("load BPF object tc_tunnel (pins under %s): %s", opts->bpffs,
			  strerror(-err));
		goto cleanup;
	}
	if (!ifindex)
		goto cleanup;
	err = tc_attach(ifindex, false, bpf_program__fd(skel->progs.tc_tunnel_ingress));
	if (err) {
		log_error("attach tc ingress to %s: %s", TUNNEL_DEVICE_NAME, strerror(-err));
		goto cleanup;
	}
	err = tc_attach(ifindex, true, bpf_program__fd(skel->progs.tc_tunnel_egress));
	if (err)
		log_error("attach tc egress to %s: %s", TUNNEL_DEVICE_NAME, strerror(-err));

cleanup:
	tc_tunnel__destroy(skel);
	return err;
}
