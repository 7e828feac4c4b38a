/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-cni IPAM: file-locked IPv4 allocation from the node's pod CIDR, one file per address. */
#ifndef SLUICE_CNI_IPAM_H
#define SLUICE_CNI_IPAM_H

#include <netinet/in.h>

#include "cni/cni.h"

struct ipam_range {
	const char *node;	/* for messages only */
	struct in_addr subnet;	/* network address */
	unsigned int prefix;	/* 8 .. 30, validated by the caller */
	struct in_addr gateway; /* never handed out */
};

/*
 * Directory layout under dir (<stateDir>/<network name>, created 0700 with its parents):
 *   lock           flock(LOCK_EX) held for a whole allocate/release/find
 *   last_reserved  dotted address of the latest allocation, so the next one starts after it
 *   10.244.1.5     one file per allocated address (0600): "<container id>\n<ifname>"
 */
#define IPAM_LOCK_FILE	   "lock"
#define IPAM_LAST_RESERVED "last_reserved"

/*
 * Allocate an address for (container_id, ifname), or return the one it already holds.
 * The caller validated container_id and ifname (cni_is_valid_*). *is_new tells whether this
 * call created the reservation (rollback must only release what it created).
 * Returns 0, -ENOSPC (err code 11: the range is exhausted) or another -errno (err code 5).
 */
int ipam_allocate(const char *dir, const struct ipam_range *range, const char *container_id,
		  const char *ifname, struct in_addr *address, bool *is_new, struct cni_error *err);

/* Look up the address held by (container_id, ifname). Returns 0, -ENOENT or -errno. */
int ipam_find(const char *dir, const char *container_id, const char *ifname,
	      struct in_addr *address);

/*
 * Release every address held by (container_id, ifname); *address gets the last one released.
 * Returns 0 when something was released, -ENOENT when nothing was held (not an error for DEL),
 * or another -errno.
 */
int ipam_release(const char *dir, const char *container_id, const char *ifname,
		 struct in_addr *address);

/* Number of host addresses a range can hand out: all but network, broadcast and gateway. */
unsigned int ipam_capacity(const struct ipam_range *range);

/* "<state_dir>/<name>" into out; returns 0 or -ENAMETOOLONG. */
int ipam_dir(const char *state_dir, const char *name, char *out, size_t outsize);

#endif
