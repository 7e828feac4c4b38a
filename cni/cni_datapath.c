// SPDX-License-Identifier: Apache-2.0
/* sluice-cni side of the datapath: the pinned pod programs and endpoints map of the node's agent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cni/cni_datapath.h"
#include "lib/log.h"
#include "maps/sock_lb.h"
#include "maps/types.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14 */
#endif

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

/* Open the tc program pinned at BPFFS/NAME, checking its type. Returns a fd or -errno. */
static int cni_prog_get(const char *bpffs, const char *name, const char *node,
			struct cni_error *err)
{
	struct bpf_prog_info prog_info = {};
	char path[CNI_PATH_MAX + 32];
	__u32 len = sizeof(prog_info);
	int fd, ret;

	fd = cni_pin_get(bpffs, name, node, path, sizeof(path), err);
	if (fd < 0)
		return fd;
	ret = bpf_obj_get_info_by_fd(fd, &prog_info, &len);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: %s: %s", node, path, strerror(-ret));
	} else if (prog_info.type != BPF_PROG_TYPE_SCHED_CLS) {
		ret = -EPROTO;
		cni_error_set(err, CNI_ERR_IO, "node %s: %s: program type %u is not a tc program",
			      node, path, prog_info.type);
	}
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int cni_datapath_open(const char *bpffs, const char *node, int *map_fd, struct cni_progs *progs,
		      struct cni_error *err)
{
	struct bpf_map_info map_info = {};
	__u32 len;
	char path[CNI_PATH_MAX + 32];
	int ret;

	*map_fd = -1;
	if (progs)
		*progs = (struct cni_progs){.pod_fd = -1, .to_pod_fd = -1};
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
	if (!progs)
		return 0;

	ret = cni_prog_get(bpffs, SLUICE_PROG_PIN, node, err);
	if (ret < 0)
		goto fail;
	progs->pod_fd = ret;
	/* An agent older than tc_to_pod is "not ready": a pod must not start unjudged. */
	ret = cni_prog_get(bpffs, SLUICE_TO_POD_PIN, node, err);
	if (ret < 0)
		goto fail;
	progs->to_pod_fd = ret;
	return 0;

fail:
	if (progs)
		cni_progs_close(progs);
	if (*map_fd >= 0) {
		close(*map_fd);
		*map_fd = -1;
	}
	return ret;
}

void cni_progs_close(struct cni_progs *progs)
{
	if (progs->pod_fd >= 0)
		close(progs->pod_fd);
	if (progs->to_pod_fd >= 0)
		close(progs->to_pod_fd);
	*progs = (struct cni_progs){.pod_fd = -1, .to_pod_fd = -1};
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

/*
 * <bpffs>/lb4_sk_pods, checked to be the layout this plugin writes; -1 when the agent pinned
 * none (an agent older than socket LB) or another layout, said at debug level or as a warning.
 */
static int cni_sk_pods_open(const char *bpffs)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[CNI_PATH_MAX + 32];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", bpffs, LB4_SK_PODS_MAP) >= (int)sizeof(path))
		return -1;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		log_debug("%s: %s: the pod's connections to Services take the per-packet path",
			  path, strerror(errno));
		return -1;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_MAP_TYPE_HASH ||
	    info.key_size != sizeof(__u64) || info.value_size != sizeof(struct lb4_sk_pod)) {
		log_warn("%s: not the pods map this plugin knows: not written", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Delete every entry of MAP_FD naming ADDRESS; bounded as cni_endpoint_delete_ifindex. */
static void cni_sk_pods_delete(int map_fd, struct in_addr address)
{
	struct lb4_sk_pod pod;
	__u64 key, next;
	void *prev = NULL;

	for (int i = 0; i < LB_MAX_SK_PODS; i++) {
		if (bpf_map_get_next_key(map_fd, prev, &next))
			break;
		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(map_fd, &key, &pod) && pod.address == address.s_addr)
			bpf_map_delete_elem(map_fd, &key);
	}
}

void cni_pod_netns_record(const char *bpffs, int pod_sock_fd, struct in_addr address, int ifindex)
{
	struct lb4_sk_pod pod = {.address = address.s_addr, .ifindex = (__u32)ifindex};
	socklen_t len = sizeof(__u64);
	__u64 cookie = 0;
	int map_fd;

	map_fd = cni_sk_pods_open(bpffs);
	if (map_fd < 0)
		return;
	/* A former pod of this address that had no DEL: its namespace is not this pod's. */
	cni_sk_pods_delete(map_fd, address);
	if (getsockopt(pod_sock_fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) || !cookie)
		log_warn("pod network namespace cookie (SO_NETNS_COOKIE, Linux 5.14): %s: the "
			 "pod's connections to Services take the per-packet path",
			 strerror(errno));
	else if (bpf_map_update_elem(map_fd, &cookie, &pod, BPF_ANY))
		log_warn("%s/%s: %s: the pod's connections to Services take the per-packet path",
			 bpffs, LB4_SK_PODS_MAP, strerror(errno));
	close(map_fd);
}

void cni_pod_netns_forget(const char *bpffs, struct in_addr address)
{
	int map_fd = cni_sk_pods_open(bpffs);

	if (map_fd < 0)
		return;
	cni_sk_pods_delete(map_fd, address);
	close(map_fd);
}
