/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow events for `sluice observe`: the agent is the one consumer of the datapath's events ring;
 * it keeps the last EVENTS_KEEP events and serves them, and new ones as they come, to any number
 * of readers on the observe socket (lib/observe.h).
 */
#ifndef SLUICE_AGENT_EVENTS_H
#define SLUICE_AGENT_EVENTS_H

/* Events kept for readers that come later (--since) or read slowly: 4 MiB. */
#define EVENTS_KEEP (1u << 16)
/* Readers served at once; more are refused until one leaves. */
#define EVENTS_MAX_READERS 16

struct events_server;

/*
 * Open BPFFS's events ring, listen on its observe socket (replacing a stale one) and start the
 * thread that consumes and serves. Returns 0 or -errno (said).
 */
int events_server_start(const char *bpffs, struct events_server **out);
/* Stop the thread, close the socket and remove it. NULL is fine. */
void events_server_stop(struct events_server *server);

#endif
