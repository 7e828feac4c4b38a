/* SPDX-License-Identifier: Apache-2.0 */
/* The node's bpffs pin directory: make sure it is a bpf filesystem and open pinned maps by name. */
#ifndef SLUICE_BPFFS_H
#define SLUICE_BPFFS_H

#include <stdbool.h>
#include <stddef.h>

/* Default pin directory of a node's agent (`--bpffs DIR`). */
#define BPFFS_DEFAULT_DIR "/sys/fs/bpf/sluice"
/* Where node agents conventionally find the host's bpf filesystem. */
#define BPFFS_SYS_MOUNT "/sys/fs/bpf"

/* File descriptors of the pinned maps; -1 when not open. */
struct sluice_maps {
	int lb4_svc;
	int lb4_slots;
	int lb4_backends;
	int lb4_revnat;
	int lb4_vips; /* VIP -> frontends on it, so the datapath can spot VIP fragments */
	int lb4_affinity;
	int lb4_src_ranges;
	int ct4;
	int ep4;
	int stats;
	int drops;
	int node4_addrs; /* the node's addresses for the uplink programs; -1 on older pins */
	/* NetworkPolicy (maps/policy.h); -1 on pins made before policies existed. */
	int ipcache4;
	int policy4;
	int policy_cfg;
	int policy_names;
	/* The ipcache's exact-match copy and its prefix lengths; -1 on pins made before them. */
	int ipcache4_exact;
	int ipcache4_lens;
	/* Maglev tables, one value of M backend ids per (frontend, generation); -1 on older pins.
	 */
	int lb4_maglev;
};

/* Set every descriptor to -1 so bpffs_close_maps() is safe on a partly opened set. */
void bpffs_maps_init(struct sluice_maps *maps);
void bpffs_close_maps(struct sluice_maps *maps);

/*
 * Make sure DIR is a directory on a bpf filesystem: when it is not, mount one at /sys/fs/bpf
 * if DIR lies under it, else at DIR itself, then create DIR (mode 0700). Returns 0 or -errno;
 * *failed_path (may be NULL) then names the path at fault.
 */
int bpffs_ensure(const char *dir, char *failed_path, size_t failed_len);

/* Open DIR/NAME. Returns a file descriptor or -errno. */
int bpffs_open_map(const char *dir, const char *name);

/*
 * Open every map of struct sluice_maps from DIR. Returns 0 or -errno; on failure every map is
 * closed and *failed_name (may be NULL) is the pin name that could not be opened.
 */
int bpffs_open_maps(const char *dir, struct sluice_maps *maps, const char **failed_name);

/*
 * The layout version of the pins under DIR (SLUICE_LAYOUT_VERSION of the build that made them;
 * 1 when DIR has no record, which older builds did not write, but a pinned ct4; this build's
 * when it has neither: nothing is pinned yet). Returns the version or -errno.
 */
long bpffs_layout_read(const char *dir);

/*
 * 0 when the pins under DIR can be read by this build, else -EPROTO with MSG saying which
 * version they have, which this build reads and what to do. Other failures: -errno in MSG.
 */
int bpffs_layout_check(const char *dir, char *msg, size_t len);

/*
 * bpffs_layout_check() for the agent, which also takes over the pins of a layout from
 * SLUICE_LAYOUT_UPGRADE_MIN up: it removes those whose meaning changed (counters, which then
 * restart at zero) before the datapath is loaded, and bpffs_layout_record() marks the pins of
 * this layout once it is. Returns 0, or -errno with MSG as bpffs_layout_check() says.
 */
int bpffs_layout_upgrade(const char *dir, char *msg, size_t len);

/*
 * Open DIR/NAME, a userspace record: a one-entry array of VALUE_SIZE bytes. A pin of another
 * shape (an older agent's) is replaced rather than misread; a missing one is created, root-only.
 * Returns a file descriptor or -errno.
 */
int bpffs_record_open(const char *dir, const char *name, size_t value_size);

/* Whether FD is such a record: a one-entry array of VALUE_SIZE-byte values keyed by __u32. */
bool bpffs_is_record(int fd, size_t value_size);

/* Record this build's layout version under DIR (the agent, once its pins are made). */
int bpffs_layout_record(const char *dir);

/* Write "DIR/NAME" into buf. Returns 0 or -ENAMETOOLONG. */
int bpffs_path(char *buf, size_t len, const char *dir, const char *name);

#endif
