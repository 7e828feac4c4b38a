// SPDX-License-Identifier: Apache-2.0
/* Owns the bpffs pin directory of a node: mounting bpffs when missing, opening pinned maps. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include <bpf/bpf.h>

#include "lib/bpffs.h"
#include "lib/log.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/lb.h"
#include "maps/node.h"
#include "maps/policy.h"
#include "maps/stats.h"

static void bpffs_set_failed(char *failed_path, size_t failed_len, const char *path)
{
	if (failed_path && failed_len)
		snprintf(failed_path, failed_len, "%s", path);
}

int bpffs_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* 1 when PATH is on a bpf filesystem, 0 when it is not, -errno when it cannot be examined. */
static int bpffs_is_bpf(const char *path)
{
	struct statfs st;

	if (statfs(path, &st))
		return -errno;
	return st.f_type == BPF_FS_MAGIC;
}

/* 1 when the nearest existing ancestor of DIR is on a bpf filesystem, else 0. */
static int bpffs_parent_is_bpf(const char *dir)
{
	char path[4096];
	char *slash;

	if (strlen(dir) >= sizeof(path))
		return 0;
	strcpy(path, dir);
	while ((slash = strrchr(path, '/')) && slash != path) {
		*slash = '\0';
		int is_bpf = bpffs_is_bpf(path);

		if (is_bpf != -ENOENT)
			return is_bpf == 1;
	}
	return 0;
}

/* mkdir -p with MODE for every component that is missing. */
static int bpffs_mkdir_p(const char *dir, mode_t mode, char *failed_path, size_t failed_len)
{
	char path[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char saved = path[i];

		path[i] = '\0';
		if (mkdir(path, mode) && errno != EEXIST) {
			int err = -errno;

			bpffs_set_failed(failed_path, failed_len, path);
			return err;
		}
		path[i] = saved;
	}
	return 0;
}

/* True when DIR is /sys/fs/bpf or lies below it. */
static int bpffs_under_sys(const char *dir)
{
	size_t n = strlen(BPFFS_SYS_MOUNT);

	return strncmp(dir, BPFFS_SYS_MOUNT, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

static int bpffs_mount(const char *where, char *failed_path, size_t failed_len)
{
	int err;

	err = bpffs_mkdir_p(where, 0700, failed_path, failed_len);
	if (err)
		return err;
	/* mode=0700: pinned maps steer every pod's traffic, so only root may reach them. */
	if (mount("bpf", where, "bpf", 0, "mode=0700")) {
		err = -errno;
		bpffs_set_failed(failed_path, failed_len, where);
		return err;
	}
	log_info("mounted bpffs at %s", where);
	return 0;
}

int bpffs_ensure(const char *dir, char *failed_path, size_t failed_len)
{
	int err;

	if (!dir || dir[0] != '/') {
		bpffs_set_failed(failed_path, failed_len, dir ? dir : "(null)");
		return -EINVAL;
	}
	err = bpffs_is_bpf(dir);
	if (err == 1)
		return 0;
	if (err < 0 && err != -ENOENT) {
		bpffs_set_failed(failed_path, failed_len, dir);
		return err;
	}
	if (err == -ENOENT && bpffs_parent_is_bpf(dir)) {
		/* A bpffs is already mounted above DIR (e.g. a per-test mount): just create DIR. */
	} else if (bpffs_under_sys(dir)) {
		/* Node agents share the host's /sys/fs/bpf; mount it the way they do when absent.
		 */
		err = bpffs_is_bpf(BPFFS_SYS_MOUNT);
		if (err != 1) {
			err = bpffs_mount(BPFFS_SYS_MOUNT, failed_path, failed_len);
			if (err)
				return err;
		}
	} else if (err == 0 || err == -ENOENT) {
		/* DIR exists on another filesystem, or not at all: it becomes its own bpffs. */
		err = bpffs_mount(dir, failed_path, failed_len);
		if (err)
			return err;
	}
	err = bpffs_mkdir_p(dir, 0700, failed_path, failed_len);
	if (err)
		return err;
	err = bpffs_is_bpf(dir);
	if (err != 1) {
		bpffs_set_failed(failed_path, failed_len, dir);
		return err < 0 ? err : -ENOTSUP;
	}
	return 0;
}

int bpffs_open_map(const char *dir, const char *name)
{
	char path[4096];
	int err, fd;

	err = bpffs_path(path, sizeof(path), dir, name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	return fd;
}

void bpffs_maps_init(struct sluice_maps *maps)
{
	maps->lb4_svc = maps->lb4_slots = maps->lb4_backends = maps->lb4_revnat = maps->lb4_vips =
	    maps->lb4_affinity = maps->lb4_src_ranges = -1;
	maps->ct4 = maps->ep4 = maps->stats = maps->drops = maps->node4_addrs = -1;
	maps->ipcache4 = maps->policy4 = maps->policy_cfg = maps->policy_names = -1;
	maps->ipcache4_exact = maps->ipcache4_lens = -1;
	maps->lb4_maglev = -1;
}

void bpffs_close_maps(struct sluice_maps *maps)
{
	int *fds[] = {
	    &maps->lb4_svc,  &maps->lb4_slots,	  &maps->lb4_backends,	 &maps->lb4_revnat,
	    &maps->lb4_vips, &maps->lb4_affinity, &maps->lb4_src_ranges, &maps->ct4,
	    &maps->ep4,	     &maps->stats,	  &maps->drops,		 &maps->node4_addrs,
	    &maps->ipcache4, &maps->policy4,	  &maps->policy_cfg,	 &maps->policy_names};
	int *more[] = {&maps->ipcache4_exact, &maps->ipcache4_lens, &maps->lb4_maglev};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		if (*more[i] >= 0)
			close(*more[i]);
		*more[i] = -1;
	}
}

int bpffs_open_maps(const char *dir, struct sluice_maps *maps, const char **failed_name)
{
	const struct {
		const char *name;
		int *fd;
	} table[] = {
	    {LB4_SVC_MAP, &maps->lb4_svc},
	    {LB4_SLOTS_MAP, &maps->lb4_slots},
	    {LB4_BACKENDS_MAP, &maps->lb4_backends},
	    {LB4_REVNAT_MAP, &maps->lb4_revnat},
	    {LB4_VIPS_MAP, &maps->lb4_vips},
	    {LB4_AFFINITY_MAP, &maps->lb4_affinity},
	    {LB4_SRC_RANGES_MAP, &maps->lb4_src_ranges},
	    {CT4_MAP, &maps->ct4},
	    {EP4_MAP, &maps->ep4},
	    {STATS_MAP, &maps->stats},
	    {DROPS_MAP, &maps->drops},
	};
	int err = 0;

	bpffs_maps_init(maps);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int fd = bpffs_open_map(dir, table[i].name);

		if (fd < 0) {
			err = fd;
			if (failed_name)
				*failed_name = table[i].name;
			goto cleanup;
		}
		*table[i].fd = fd;
	}
	/* Optional: pins made before the uplink programs existed lack it until the agent runs. */
	maps->node4_addrs = bpffs_open_map(dir, NODE4_ADDRS_MAP);
	if (maps->node4_addrs < 0)
		maps->node4_addrs = -1;
	/* Optional too: every policy map or none (policy_sync.c then leaves policy alone). */
	maps->ipcache4 = bpffs_open_map(dir, IPCACHE4_MAP);
	maps->policy4 = bpffs_open_map(dir, POLICY4_MAP);
	maps->policy_cfg = bpffs_open_map(dir, POLICY_CFG_MAP);
	maps->policy_names = bpffs_open_map(dir, POLICY_NAMES_MAP);
	if (maps->ipcache4 < 0 || maps->policy4 < 0 || maps->policy_cfg < 0 ||
	    maps->policy_names < 0) {
		int *fds[] = {&maps->ipcache4, &maps->policy4, &maps->policy_cfg,
			      &maps->policy_names};

		for (size_t i = 0; i < 4; i++) {
			if (*fds[i] >= 0)
				close(*fds[i]);
			*fds[i] = -1;
		}
	}
	/* Both or neither: without them the datapath reads the ipcache LPM alone. */
	maps->ipcache4_exact = maps->ipcache4 < 0 ? -1 : bpffs_open_map(dir, IPCACHE4_EXACT_MAP);
	maps->ipcache4_lens = maps->ipcache4 < 0 ? -1 : bpffs_open_map(dir, IPCACHE4_LENS_MAP);
	if (maps->ipcache4_exact < 0 || maps->ipcache4_lens < 0) {
		if (maps->ipcache4_exact >= 0)
			close(maps->ipcache4_exact);
		if (maps->ipcache4_lens >= 0)
			close(maps->ipcache4_lens);
		maps->ipcache4_exact = maps->ipcache4_lens = -1;
	}
	/* Optional: without it every frontend picks at random (pins made before Maglev). */
	maps->lb4_maglev = bpffs_open_map(dir, LB4_MAGLEV_MAP);
	if (maps->lb4_maglev < 0)
		maps->lb4_maglev = -1;
	return 0;

cleanup:
	bpffs_close_maps(maps);
	return err;
}

long bpffs_layout_read(const char *dir)
{
	__u32 zero = 0, version = 0;
	long ret;
	int fd = bpffs_open_map(dir, SLUICE_LAYOUT_MAP);

	if (fd == -ENOENT) {
		/* No datapath pinned yet: nothing to misread. Else pinned before the record: 1. */
		fd = bpffs_open_map(dir, CT4_MAP);
		if (fd == -ENOENT)
			return SLUICE_LAYOUT_VERSION;
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (fd < 0)
		return fd;
	ret = bpf_map_lookup_elem(fd, &zero, &version) ? -errno : (long)version;
	close(fd);
	return ret;
}

int bpffs_layout_check(const char *dir, char *msg, size_t len)
{
	long version = bpffs_layout_read(dir);

	if (version < 0) {
		snprintf(msg, len, "%s/%s: %s", dir, SLUICE_LAYOUT_MAP, strerror((int)-version));
		return (int)version;
	}
	if (version == SLUICE_LAYOUT_VERSION)
		return 0;
	snprintf(msg, len,
		 "%s: pinned maps have layout version %ld, this sluice reads version %d; run the "
		 "sluice that made them, or remove the pins under %s (this drops every tracked "
		 "connection) so this one makes its own",
		 dir, version, SLUICE_LAYOUT_VERSION, dir);
	return -EPROTO;
}

int bpffs_layout_upgrade(const char *dir, char *msg, size_t len)
{
	long version = bpffs_layout_read(dir);
	char path[4096];
	int err;

	if (version < SLUICE_LAYOUT_UPGRADE_MIN || version >= SLUICE_LAYOUT_VERSION)
		return bpffs_layout_check(dir, msg, len);
	/* Layout 2's drops was indexed by reason alone: this layout's would misread it. */
	err = bpffs_path(path, sizeof(path), dir, DROPS_MAP);
	if (!err && unlink(path) && errno != ENOENT)
		err = -errno;
	if (err) {
		snprintf(msg, len, "%s: remove for the upgrade from layout %ld: %s", path, version,
			 strerror(-err));
		return err;
	}
	log_info("%s: pinned maps of layout %ld upgraded to %d: drop counters restart at zero", dir,
		 version, SLUICE_LAYOUT_VERSION);
	return 0;
}

int bpffs_layout_record(const char *dir)
{
	__u32 zero = 0, version = SLUICE_LAYOUT_VERSION;
	int fd, err;

	fd = bpffs_record_open(dir, SLUICE_LAYOUT_MAP, sizeof(version));
	if (fd < 0)
		return fd;
	err = bpf_map_update_elem(fd, &zero, &version, BPF_ANY) ? -errno : 0;
	close(fd);
	return err;
}

bool bpffs_is_record(int fd, size_t value_size)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return !bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_MAP_TYPE_ARRAY &&
	       info.key_size == sizeof(__u32) && info.value_size == value_size &&
	       info.max_entries == 1;
}

int bpffs_record_open(const char *dir, const char *name, size_t value_size)
{
	char path[4096];
	int fd, err;

	err = bpffs_path(path, sizeof(path), dir, name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (bpffs_is_record(fd, value_size))
			return fd;
		close(fd);
		unlink(path);
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(__u32), (__u32)value_size, 1, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path) || chmod(path, 0600)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
