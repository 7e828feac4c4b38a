/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's status record (maps/agent.h): written after every sync, read by the CLI. */
#ifndef SLUICE_AGENT_STATUS_H
#define SLUICE_AGENT_STATUS_H

#include "maps/agent.h"

/* Create bpffs/agent_status (0600), or open the one an earlier agent pinned. Returns fd or
 * -errno. */
int agent_status_open(const char *bpffs);
/* Returns 0 or -errno. */
int agent_status_write(int fd, const struct agent_status *status);
/* Read bpffs/agent_status. Returns 0, -ENOENT when no agent has run here, or -errno. */
int agent_status_read(const char *bpffs, struct agent_status *status);

#endif
