/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's own status, for `sluice status`: a one-entry array the agent creates and pins
 * beside the datapath's maps (no BPF program reads it). Root-only like every pin.
 */
#ifndef SLUICE_MAPS_AGENT_H
#define SLUICE_MAPS_AGENT_H

#include "maps/types.h"

#define AGENT_STATUS_MAP "agent_status"

struct agent_status {
	__u64 syncs;		/* desired states applied since the agent started */
	__u64 last_sync_unix_s; /* wall clock of the last one */
	__u32 frontends;	/* in the last desired state */
	__u32 backends;		/* distinct backends in the maps after it */
	__u32 rejected_objects; /* objects refused as invalid (their last good version stays) */
	__u32 failed_frontends; /* frontends whose map writes failed (old state kept) */
	__u32 source_errors;	/* manifest files with errors at the last reload */
	__u32 pid;		/* of the agent that wrote it */
	char node[SLUICE_NAME_LEN];
};
SLUICE_ASSERT_SIZE(struct agent_status, 104);

#endif
