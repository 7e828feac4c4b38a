// SPDX-License-Identifier: Apache-2.0
/* Loading bpf/sock_lb and keeping its four cgroup hooks attached (sock_lb.h). */
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/bpffs.h"
#include "lib/log.h"
#include "loader/sync/sock_lb.h"
#include "loader/sync/sync_internal.h"
#include "maps/sock_lb.h"
#include "skel/sock_lb.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14 */
#endif

/* The hooks and the names of their pinned links. */
#define SOCK_LB_HOOKS 4
static const char *const sock_lb_pins[SOCK_LB_HOOKS] = {
    SOCK_LB_LINK_CONNECT4, SOCK_LB_LINK_SENDMSG4, SOCK_LB_LINK_RECVMSG4, SOCK_LB_LINK_GETPEERNAME4};

/* The cgroup2 mount point from /proc/mounts into BUF; -ENOENT when there is none. */
static int sock_lb_find_cgroup2(char *buf, size_t len)
{
	struct mntent *entry;
	FILE *mounts;
	int err = -ENOENT;

	mounts = setmntent("/proc/mounts", "r");
	if (!mounts)
		return -errno;
	while ((entry = getmntent(mounts))) {
		if (strcmp(entry->mnt_type, "cgroup2") == 0) {
			snprintf(buf, len, "%s", entry->mnt_dir);
			err = 0;
			break;
		}
	}
	endmntent(mounts);
	return err;
}

/* The node's cgroup2 root: the mounted one, else one mounted at SOCK_LB_CGROUP_MOUNT. */
static int sock_lb_default_root(char *buf, size_t len)
{
	int err;

	err = sock_lb_find_cgroup2(buf, len);
	if (err != -ENOENT)
		return err;
	if ((mkdir("/run/sluice", 0755) && errno != EEXIST) ||
	    (mkdir(SOCK_LB_CGROUP_MOUNT, 0755) && errno != EEXIST) ||
	    mount("cgroup2", SOCK_LB_CGROUP_MOUNT, "cgroup2", 0, NULL)) {
		err = -errno;
		log_warn("no cgroup v2 hierarchy is mounted and mounting one at %s failed: %s; "
			 "the node's own traffic to Services is not translated",
			 SOCK_LB_CGROUP_MOUNT, strerror(-err));
		return err;
	}
	snprintf(buf, len, "%s", SOCK_LB_CGROUP_MOUNT);
	log_info("no cgroup v2 hierarchy was mounted: mounted one at %s", buf);
	return 0;
}

/* The network namespace of the agent, whose sockets are the node's; 0 when unknown. */
static __u64 sock_lb_netns_cookie(void)
{
	__u64 cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	if (fd >= 0)
		close(fd);
	return cookie;
}

/*
 * Can this kernel tell a pod's socket from another's? The hooks compare netns cookies
 * (bpf_get_netns_cookie in sock_addr programs, Linux 5.7; the plugin and the agent read theirs
 * with SO_NETNS_COOKIE, 5.14). NULL when it can, else what is missing, for the log line.
 */
static const char *sock_lb_pods_missing(__u64 node_cookie)
{
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) <= 0)
		return "cgroup socket hooks";
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_get_netns_cookie,
				    NULL) <= 0)
		return "bpf_get_netns_cookie in socket hooks (Linux 5.7)";
	if (!node_cookie)
		return "SO_NETNS_COOKIE (Linux 5.14)";
	return NULL;
}

/*
 * Keep bpffs/PIN attached to CGROUP_FD and running PROG: the pinned link of a former run gets
 * PROG in place (no moment without a hook); a link to another cgroup is replaced.
 */
static int sock_lb_link(struct bpf_program *prog, const char *bpffs, const char *pin, int cgroup_fd,
			__u64 cgroup_id)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	struct bpf_link *link;
	char path[4096];
	int fd, err;

	err = bpffs_path(path, sizeof(path), bpffs, pin);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		memset(&info, 0, sizeof(info));
		err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
		if (!err && info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == cgroup_id)
			err = bpf_link_update(fd, bpf_program__fd(prog), NULL);
		else
			err = -ESTALE;
		close(fd);
		if (!err)
			return 0;
	}
	link = bpf_program__attach_cgroup(prog, cgroup_fd);
	if (!link) {
		err = -errno;
		log_error("attach %s to the cgroup: %s", bpf_program__name(prog), strerror(-err));
		return err;
	}
	/* The former link, if any, detaches as its pin goes: the new one is already in place. */
	if (unlink(path) && errno != ENOENT)
		log_warn("remove %s: %s", path, strerror(errno));
	err = bpf_link__pin(link, path);
	if (err)
		log_error("pin %s at %s: %s", bpf_program__name(prog), path, strerror(-err));
	/* Closes our fd only: the pin holds the link. */
	bpf_link__destroy(link);
	return err;
}

/* Remove the pinned links of a former run: the hooks detach. */
static int sock_lb_detach(const char *bpffs)
{
	char path[4096];
	int err = 0;

	for (size_t i = 0; i < SOCK_LB_HOOKS; i++) {
		if (bpffs_path(path, sizeof(path), bpffs, sock_lb_pins[i]))
			continue;
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			log_error("remove %s: %s", path, strerror(-err));
		}
	}
	return err;
}

/* Open ROOT as a cgroup v2 directory: its fd and cgroup id (its inode on cgroup2). */
static int sock_lb_open_cgroup(const char *root, __u64 *cgroup_id)
{
	struct statfs fs;
	struct stat st;
	int fd, err;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &fs) || fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (fs.f_type != CGROUP2_SUPER_MAGIC) {
		close(fd);
		return -ENOTDIR;
	}
	*cgroup_id = st.st_ino;
	return fd;
}

/*
 * Load sock_lb for the hooks of OPTS (is_host_lb, is_socket_lb: the caller's decision) with the
 * node's NODE_COOKIE, and attach its four programs to the cgroup ROOT.
 */
static int sock_lb_load(const struct datapath_opts *opts, const char *root, __u64 node_cookie,
			struct datapath_result *result)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = opts->bpffs);
	struct sock_lb *skel = NULL;
	struct bpf_program *progs[SOCK_LB_HOOKS];
	__u64 cgroup_id = 0;
	int cgroup_fd, err;

	cgroup_fd = sock_lb_open_cgroup(root, &cgroup_id);
	if (cgroup_fd < 0) {
		log_error("--cgroup-root %s: %s", root,
			  cgroup_fd == -ENOTDIR ? "not a cgroup v2 directory"
						: strerror(-cgroup_fd));
		return cgroup_fd;
	}
	skel = sock_lb__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		log_error("open BPF object sock_lb: %s", strerror(-err));
		goto cleanup;
	}
	skel->rodata->node_netns_cookie = node_cookie;
	skel->rodata->is_host_lb = opts->is_host_lb;
	skel->rodata->is_socket_lb = opts->is_socket_lb;
	skel->rodata->has_set_retval =
	    libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_set_retval, NULL) > 0;
	err = datapath_set_maglev(skel->maps.lb4_maglev, &skel->rodata->lb_maglev_size, opts);
	err = err ?: datapath_prepare_object(skel->obj, skel->maps.ct4, opts, result);
	if (err)
		goto cleanup;
	err = sock_lb__load(skel);
	if (err) {
		log_error("load BPF object sock_lb (pins under %s): %s", opts->bpffs,
			  strerror(-err));
		goto cleanup;
	}
	progs[0] = skel->progs.sock_lb_connect4;
	progs[1] = skel->progs.sock_lb_sendmsg4;
	progs[2] = skel->progs.sock_lb_recvmsg4;
	progs[3] = skel->progs.sock_lb_getpeer4;
	for (size_t i = 0; i < SOCK_LB_HOOKS && !err; i++)
		err = sock_lb_link(progs[i], opts->bpffs, sock_lb_pins[i], cgroup_fd, cgroup_id);
	if (err) /* Never half the hooks: a connect4 without its recvmsg4 would misreport peers. */
		sock_lb_detach(opts->bpffs);
	else
		log_info("socket hooks on cgroup %s: the node's own sockets %s, pods' TCP %s; a "
			 "refused connect() gives %s",
			 root,
			 !opts->is_host_lb ? "not translated (--host-lb false)"
			 : node_cookie	   ? "translated (the agent's network namespace)"
				       : "translated (every network namespace: no netns cookie)",
			 opts->is_socket_lb ? "translated at connect() (socket LB)"
					    : "on the per-packet path",
			 skel->rodata->has_set_retval ? "ECONNREFUSED" : "EPERM");

cleanup:
	sock_lb__destroy(skel);
	close(cgroup_fd);
	return err;
}

int sock_lb_check_root(const char *dir)
{
	__u64 cgroup_id;
	int fd;

	fd = sock_lb_open_cgroup(dir, &cgroup_id);
	if (fd < 0) {
		log_error("--cgroup-root %s: %s", dir,
			  fd == -ENOTDIR ? "not a cgroup v2 directory" : strerror(-fd));
		return fd;
	}
	close(fd);
	return 0;
}

/*
 * With neither kind of hook: lb4_sk_pods alone, created (or kept) at its pin, so the plugin
 * records the pods started meanwhile and a later run with the hooks translates them too.
 */
static void sock_lb_pin_pods_map(const struct datapath_opts *opts)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = opts->bpffs);
	struct bpf_program *prog;
	struct bpf_map *map;
	struct sock_lb *skel;
	int err;

	skel = sock_lb__open_opts(&open_opts);
	if (!skel) {
		log_warn("open BPF object sock_lb: %s", strerror(errno));
		return;
	}
	bpf_object__for_each_program(prog, skel->obj) bpf_program__set_autoload(prog, false);
	bpf_object__for_each_map(map, skel->obj)
	    bpf_map__set_autocreate(map, map == skel->maps.lb4_sk_pods);
	err = sock_lb__load(skel);
	if (err)
		log_warn("create %s/%s: %s: pods started now will take the per-packet path "
			 "to Services even after a restart with --socket-lb true",
			 opts->bpffs, LB4_SK_PODS_MAP, strerror(-err));
	sock_lb__destroy(skel);
}

int sock_lb_setup(const struct datapath_opts *opts, struct datapath_result *result)
{
	struct datapath_opts hooks = *opts;
	__u64 node_cookie = sock_lb_netns_cookie();
	const char *missing;
	char root[4096];
	int err;

	if (!node_cookie && opts->is_host_lb)
		log_warn("read the node's netns cookie (SO_NETNS_COOKIE, Linux 5.14): %s; the "
			 "socket hooks translate in every network namespace of the cgroup",
			 strerror(errno));
	missing = hooks.is_socket_lb ? sock_lb_pods_missing(node_cookie) : NULL;
	if (missing) {
		log_warn("socket LB for pods off: this kernel lacks %s; pods' connections to "
			 "Services take the per-packet path",
			 missing);
		hooks.is_socket_lb = false;
	} else if (!hooks.is_socket_lb) {
		log_info("socket LB for pods off (--socket-lb false): pods' connections to "
			 "Services take the per-packet path");
	}
	if (!hooks.is_host_lb && !hooks.is_socket_lb) {
		log_info("host traffic to Services: not translated (--host-lb false)");
		sock_lb_pin_pods_map(opts);
		return sock_lb_detach(opts->bpffs);
	}
	if (opts->cgroup_root)
		return sock_lb_load(&hooks, opts->cgroup_root, node_cookie, result);
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) <= 0) {
		log_warn("this kernel has no cgroup socket hooks: the node's own traffic to "
			 "Services is not translated");
		sock_lb_pin_pods_map(opts);
		return 0;
	}
	if (sock_lb_default_root(root, sizeof(root))) {
		sock_lb_pin_pods_map(opts);
		return 0;
	}
	err = sock_lb_load(&hooks, root, node_cookie, result);
	if (err)
		log_warn("traffic to Services is not translated at the socket (see above)");
	return 0;
}
