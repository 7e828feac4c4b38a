/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's flow-event socket, as the agent serves it and `sluice observe` reads it: where it
 * is, and what goes over it.
 *
 * A unix SOCK_SEQPACKET socket. The client sends one struct observe_request; the agent answers
 * with messages of 1 to OBSERVE_BATCH struct flow_event (maps/events.h): every event it keeps
 * from since_ns on, then, with OBSERVE_F_FOLLOW, each new one as it comes; without, one
 * EVENT_END event and the end of the stream. An EVENT_LOST event says how many events this
 * client missed by reading too slowly (its count in flow_event.policy).
 */
#ifndef SLUICE_OBSERVE_H
#define SLUICE_OBSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "maps/events.h"

/* Under it, one socket per agent: its --bpffs path with '/' as '_' ("_sys_fs_bpf_sluice.sock"). */
#define OBSERVE_SOCKET_DIR "/run/sluice/observe"
#define OBSERVE_BATCH	   64 /* events per message at most */

#define OBSERVE_F_FOLLOW (1u << 0) /* keep the stream open for new events */

struct observe_request {
	uint64_t since_ns; /* CLOCK_MONOTONIC; 0: every event the agent keeps */
	uint32_t flags;	   /* OBSERVE_F_* */
	uint32_t pad;
};

/* The socket of the agent pinning under BPFFS, into BUF. Returns 0 or -ENAMETOOLONG. */
int observe_socket_path(const char *bpffs, char *buf, size_t len);

#endif
