// SPDX-License-Identifier: Apache-2.0
/* sluice-cni side of the datapath: the pinned pod program and endpoints map of the node's agent. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cni/cni_datapath.h"
#include "maps/types.h"

#define CNI_TC_HANDLE	1
#define CNI_TC_PRIORITY 1

static int cni_pin_get(const char *bpffs, const char *name, const char *node, char *path,
		       size_t size, struct cni_error *err)
{
	int fd;

	if (snprintf(path, size, "%s/%s", bpffs, name) >= (int)size) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "bpffs: \"%s\" is too long", bpffs);
		return -ENAMETOOLONG;
	}
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	fd = -errno;
	if (fd == -ENOENT) {
		struct statfs st;

		cni_error_set(err, CNI_ERR_TRY_AGAIN,
			      "node %s: sluice agent not ready: %s not pinned", node, path);
		/* The usual cause besides a slow agent: another mount namespace's view of /sys. */
		if (statfs(bpffs, &st) || st.f_type != BPF_FS_MAGIC)
			cni_error_details(err,
					  "%s is not on a bpf filesystem in this mount namespace "
					  "(ip netns exec remounts /sys; enter the node with "
					  "nsenter --net instead)",
					  bpffs);
	} else {
		cni_error_set(err, CNI_ERR_IO, "node %s: open pinned %s: %s", node, path,
			      strerror(-fd));
	}
	return fd;
}

int cni_datapath_open(const char *bpffs, const char *node, int *map_fd, int *prog_fd,
		      struct cni_error *err)
{
	struct bpf_map_info map_info = {};
	struct bpf_prog_info prog_info = {};
	__u32 len;
	char path[CNI_PATH_MAX + 32];
	int ret;

	*map_fd = -1;
	if (prog_fd)
		*prog_fd = -1;
	ret = cni_pin_get(bpffs, EP4_MAP, node, path, sizeof(path), err);
	if (ret < 0)
		goto fail;
	*map_fd = ret;
	len = sizeof(map_info);
	ret = bpf_obj_get_info_by_fd(*map_fd, &map_info, &len);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: %s: %s", node, path, strerror(-ret));
		goto fail;
	}
	/* A pin from an agent built with another layout would be silently corrupted. */
	if (map_info.type != BPF_MAP_TYPE_HASH || map_info.key_size != sizeof(struct ep4_key) ||
	    map_info.value_size != sizeof(struct ep4_info)) {
		ret = -EPROTO;
		cni_error_set(
		    err, CNI_ERR_IO,
		    "node %s: %s: not the endpoints map this plugin knows (type %u, key %u, "
		    "value %u bytes; want hash, %zu, %zu)",
		    node, path, map_info.type, map_info.key_size, map_info.value_size,
		    sizeof(struct ep4_key), sizeof(struct ep4_info));
		goto fail;
	}
	if (!prog_fd)
		return 0;

	ret = cni_pin_get(bpffs, SLUICE_PROG_PIN, node, path, sizeof(path), err);
	if (ret < 0)
		goto fail;
	*prog_fd = ret;
	len = sizeof(prog_info);
	ret = bpf_obj_get_info_by_fd(*prog_fd, &prog_info, &len);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: %s: %s", node, path, strerror(-ret));
		goto fail;
	}
	if (prog_info.type != BPF_PROG_TYPE_SCHED_CLS) {
		ret = -EPROTO;
		cni_error_set(err, CNI_ERR_IO, "node %s: %s: program type %u is not a tc program",
			      node, path, prog_info.type);
		goto fail;
	}
	return 0;

fail:
	if (prog_fd && *prog_fd >= 0) {
		close(*prog_fd);
		*prog_fd = -1;
	}
	if (*map_fd >= 0) {
		close(*map_fd);
		*map_fd = -1;
	}
	return ret;
}

int cni_datapath_attach(int ifindex, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CNI_TC_HANDLE, .priority = CNI_TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	/* The veth is ours and new, but a retried ADD may find the clsact qdisc already there. */
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

int cni_datapath_query(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CNI_TC_HANDLE, .priority = CNI_TC_PRIORITY);

	return bpf_tc_query(&hook, &opts);
}

int cni_endpoint_update(int map_fd, struct in_addr address, const struct ep4_info *info)
{
	struct ep4_key key = {.address = address.s_addr};

	return bpf_map_update_elem(map_fd, &key, info, BPF_ANY) ? -errno : 0;
}

int cni_endpoint_lookup(int map_fd, struct in_addr address, struct ep4_info *info)
{
	struct ep4_key key = {.address = address.s_addr};

	return bpf_map_lookup_elem(map_fd, &key, info) ? -errno : 0;
}

int cni_endpoint_delete(int map_fd, struct in_addr address)
{
	struct ep4_key key = {.address = address.s_addr};

	if (bpf_map_delete_elem(map_fd, &key) && errno != ENOENT)
		return -errno;
	return 0;
}

int cni_endpoint_delete_ifindex(int map_fd, unsigned int ifindex)
{
	struct ep4_key key, next;
	struct ep4_info info;
	void *prev = NULL;
	int err = 0;

	/* Bounded by the map size: a concurrent writer cannot keep us looping forever. */
	for (int i = 0; i < EP_MAX_ENDPOINTS; i++) {
		if (bpf_map_get_next_key(map_fd, prev, &next))
			break;
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(map_fd, &key, &info) || info.ifindex != ifindex)
			continue;
		if (bpf_map_delete_elem(map_fd, &key) && errno != ENOENT)
			err = -errno;
	}
	return err;
}

void cni_endpoint_name(const struct cni_env *env, char out[SLUICE_NAME_LEN])
{
	/* Display only (CLI): a long name is cut, keeping at most 40 bytes of namespace. */
	int ns_len = (int)strnlen(env->pod_namespace, 40);

	if (env->pod_namespace[0] && env->pod_name[0])
		snprintf(out, SLUICE_NAME_LEN, "%.*s/%.*s", ns_len, env->pod_namespace,
			 SLUICE_NAME_LEN - 2 - ns_len, env->pod_name);
	else
		snprintf(out, SLUICE_NAME_LEN, "%.12s", env->container_id);
}
