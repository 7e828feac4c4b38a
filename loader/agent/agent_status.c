// SPDX-License-Identifier: Apache-2.0
/* The agent's status record, pinned beside the datapath's maps for `sluice status`. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "loader/agent/agent_status.h"
#include "lib/bpffs.h"

/* A pinned map of another layout (an older agent) is replaced rather than misread. */
static bool agent_status_fits(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return !bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_MAP_TYPE_ARRAY &&
	       info.key_size == sizeof(__u32) && info.value_size == sizeof(struct agent_status) &&
	       info.max_entries == 1;
}

int agent_status_open(const char *bpffs)
{
	char path[4096];
	int fd, err;

	err = bpffs_path(path, sizeof(path), bpffs, AGENT_STATUS_MAP);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (agent_status_fits(fd))
			return fd;
		close(fd);
		unlink(path);
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, AGENT_STATUS_MAP, sizeof(__u32),
			    sizeof(struct agent_status), 1, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, path) || chmod(path, 0600)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int agent_status_write(int fd, const struct agent_status *status)
{
	__u32 zero = 0;

	return bpf_map_update_elem(fd, &zero, status, BPF_ANY) ? -errno : 0;
}

int agent_status_read(const char *bpffs, struct agent_status *status)
{
	char path[4096];
	__u32 zero = 0;
	int fd, err;

	err = bpffs_path(path, sizeof(path), bpffs, AGENT_STATUS_MAP);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	err = agent_status_fits(fd) && !bpf_map_lookup_elem(fd, &zero, status) ? 0 : -EINVAL;
	close(fd);
	status->node[sizeof(status->node) - 1] = '\0';
	return err;
}
