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
 *   10.244.1.5     one file per allocated address (0600): "<container id>\n<ifname>\n", and
 *                  while the ADD is still wiring "pending <pid> <start time>\n" after it. A
 *                  pending record whose process is gone (pid and /proc start time no longer
 *                  match) was left by an ADD that crashed: the next ADD or GC reclaims it.
 */
#define IPAM_LOCK_FILE	   "lock"
#define IPAM_LAST_RESERVED "last_reserved"

/* Attachments whose records a scan removed (crashed ADDs, GC), for the caller to unwire. */
#define IPAM_RECLAIMED_MAX 16
struct ipam_reclaimed {
	unsigned int count; /* may exceed IPAM_RECLAIMED_MAX: only the first ones are listed */
	struct {
		char container_id[CNI_CONTAINER_ID_MAX + 1];
		char ifname[CNI_IFNAME_MAX + 1];
		struct in_addr address;
	} entries[IPAM_RECLAIMED_MAX];
};

/* Report usage into <bpffs>/ipam_usage on every change; NULL turns it off. */
void ipam_set_usage_sink(const char *bpffs);

/*
 * Allocate an address for (container_id, ifname), or return the one it already holds. The
 * record stays pending until ipam_commit(). The caller validated container_id and ifname
 * (cni_is_valid_*). *is_new tells whether this call now owns a reservation nobody wired
 * (rollback must only release that). Records of crashed ADDs are reclaimed on the way and
 * listed in *reclaimed (may be NULL).
 * Returns 0, -ENOSPC (err code 11: the range is exhausted) or another -errno (err code 5).
 */
int ipam_allocate(const char *dir, const struct ipam_range *range, const char *container_id,
		  const char *ifname, struct in_addr *address, bool *is_new,
		  struct ipam_reclaimed *reclaimed, struct cni_error *err);

/* The attachment is wired: the record is no longer pending. Returns 0 or -errno. */
int ipam_commit(const char *dir, const char *container_id, const char *ifname,
		struct in_addr address);

/*
 * GC: remove every record for which is_valid() says false (except pending ones of ADDs still
 * running) and every record of a crashed ADD; list them in *removed. Returns 0 or -errno
 * (-ENOENT: no state yet).
 */
int ipam_gc(const char *dir, const struct ipam_range *range,
	    bool (*is_valid)(const char *container_id, const char *ifname, void *ctx), void *ctx,
	    struct ipam_reclaimed *removed);

/* Addresses of range in use. Returns 0 or -errno (-ENOENT: no state yet). */
int ipam_usage(const char *dir, const struct ipam_range *range, unsigned int *in_use);

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
