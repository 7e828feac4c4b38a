// SPDX-License-Identifier: Apache-2.0
/* The agent's status record, pinned beside the datapath's maps for `sluice status`. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "loader/agent/agent_status.h"
#include "lib/bpffs.h"

int agent_status_open(const char *bpffs)
{
	return bpffs_record_open(bpffs, AGENT_STATUS_MAP, sizeof(struct agent_status));
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
	err = bpffs_is_record(fd, sizeof(*status)) && !bpf_map_lookup_elem(fd, &zero, status)
		  ? 0
		  : -EINVAL;
	close(fd);
	status->node[sizeof(status->node) - 1] = '\0';
	return err;
}
