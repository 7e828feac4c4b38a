/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tunnel4 (maps/tunnel.h) as a diff against what it holds: where other nodes' pods are and which
 * underlay addresses are nodes. Written in two steps so that a caller can put the kernel routes
 * in between: entries new or changed first, then those no longer wanted deleted.
 */
#ifndef SLUICE_SYNC_TUNNEL_SYNC_H
#define SLUICE_SYNC_TUNNEL_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "maps/tunnel.h"

/* One entry tunnel4 should hold. */
struct tunnel_sync_entry {
	struct tunnel4_key key; /* host bits zero */
	struct tunnel4_value value;
};

struct tunnel_sync_counts {
	unsigned int written; /* entries added or changed */
	unsigned int deleted; /* entries no longer wanted */
	unsigned int failed;  /* writes or deletes that failed (logged) */
};

/*
 * Write every entry of WANT (n of them) that FD does not hold with that value. WANT is sorted
 * in place (tunnel_sync_prune() needs it so). Returns 0 or the first -errno (the rest is still
 * written).
 */
int tunnel_sync_write(int fd, struct tunnel_sync_entry *want, size_t n,
		      struct tunnel_sync_counts *counts);

/*
 * Delete every entry of FD that WANT (sorted by tunnel_sync_write()) does not list. Returns 0
 * or the first -errno.
 */
int tunnel_sync_prune(int fd, const struct tunnel_sync_entry *want, size_t n,
		      struct tunnel_sync_counts *counts);

/*
 * Name the tunnel device tc_pod redirects into (tunnel_dev, FD): its IFINDEX, or 0 for none.
 * Returns 0 or -errno.
 */
int tunnel_sync_device(int fd, uint32_t ifindex);

#endif
