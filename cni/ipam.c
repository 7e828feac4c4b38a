// SPDX-License-Identifier: Apache-2.0
/* sluice-cni IPAM: file-locked IPv4 allocation from the node's pod CIDR, one file per address;
 * records of ADDs that died mid-way are reclaimed. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni/ipam.h"
#include "lib/file_atomic.h"
#include "lib/node_ipam.h"

/* "<container id>\n<ifname>\n[pending <pid> <start>\n]" plus slack; longer is not ours. */
#define IPAM_RECORD_MAX (CNI_CONTAINER_ID_MAX + 1 + CNI_IFNAME_MAX + 1 + 64)

/* Where allocate/release/gc report the node's usage (<bpffs>/ipam_usage), or NULL. */
static const char *ipam_usage_bpffs;

void ipam_set_usage_sink(const char *bpffs)
{
	ipam_usage_bpffs = bpffs;
}

struct ipam_scan {
	const struct ipam_range *range; /* NULL: do not count */
	const char *container_id;
	const char *ifname;
	bool release;			  /* unlink matching records */
	bool reclaim;			  /* unlink records of ADDs that died before finishing */
	struct ipam_reclaimed *reclaimed; /* where reclaimed records are reported, may be NULL */
	/* GC: records for which is_valid() is false are unlinked and reported. */
	bool (*is_valid)(const char *container_id, const char *ifname, void *ctx);
	void *ctx;
	unsigned int in_use;	/* records inside the range */
	unsigned int total;	/* address records of any range (after unlinking) */
	unsigned int matches;	/* records of (container_id, ifname) */
	bool is_match_pending;	/* the last match was left by an ADD that died */
	struct in_addr address; /* last match */
};

/* Start time of pid in clock ticks since boot (/proc/PID/stat field 22); 0 when it is gone. */
static unsigned long long ipam_proc_start(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1,
			 " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu",
			 &start) != 1)
		return 0;
	return start;
}

/*
 * Split a record into its container id and ifname (in place) and tell whether it is pending
 * with an owner that no longer runs: an ADD that crashed between allocation and wiring.
 * Returns false for a file that is not a record.
 */
static bool ipam_record_parse(char *record, const char **container_id, const char **ifname,
			      bool *is_pending, bool *is_dead)
{
	char *nl = strchr(record, '\n'), *rest;
	long pid;
	unsigned long long start;

	*is_pending = *is_dead = false;
	if (!nl)
		return false;
	*nl = '\0';
	*container_id = record;
	*ifname = nl + 1;
	rest = strchr(nl + 1, '\n');
	if (rest)
		*rest++ = '\0';
	/* Names go back into netlink and the ep4 map: only what the env checks would accept. */
	if (!cni_is_valid_container_id(*container_id) || !cni_is_valid_ifname(*ifname))
		return false;
	if (!rest)
		return true; /* the first slice's format: "<id>\n<ifname>" */
	if (sscanf(rest, "pending %ld %llu", &pid, &start) == 2) {
		*is_pending = true;
		*is_dead = pid <= 0 || ipam_proc_start(pid) != start;
	}
	return true;
}

static void ipam_reclaimed_add(struct ipam_reclaimed *r, const char *container_id,
			       const char *ifname, struct in_addr address)
{
	if (!r)
		return;
	if (r->count < IPAM_RECLAIMED_MAX) {
		/* Both were validated by ipam_record_parse(), so they fit. */
		snprintf(r->entries[r->count].container_id,
			 sizeof(r->entries[r->count].container_id), "%.*s", CNI_CONTAINER_ID_MAX,
			 container_id);
		snprintf(r->entries[r->count].ifname, sizeof(r->entries[r->count].ifname), "%.*s",
			 CNI_IFNAME_MAX, ifname);
		r->entries[r->count].address = address;
	}
	r->count++;
}

int ipam_dir(const char *state_dir, const char *name, char *out, size_t outsize)
{
	int n = snprintf(out, outsize, "%s/%s", state_dir, name);

	return n < 0 || (size_t)n >= outsize ? -ENAMETOOLONG : 0;
}

unsigned int ipam_capacity(const struct ipam_range *range)
{
	/* network, broadcast and gateway are never handed out */
	return (1u << (32 - range->prefix)) - 3;
}

static bool ipam_is_host(const struct ipam_range *range, uint32_t addr)
{
	uint32_t net = ntohl(range->subnet.s_addr);
	uint32_t mask = ~0u << (32 - range->prefix);

	return (addr & mask) == net && addr != net && addr != (net | ~mask) &&
	       addr != ntohl(range->gateway.s_addr);
}

/* mkdir -p with 0700 for every directory we create; existing ones are left as they are. */
static int ipam_mkdirs(const char *path)
{
	char buf[CNI_PATH_MAX + CNI_NAME_MAX + 2];

	if (strnlen(path, sizeof(buf)) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = saved;
		if (!saved)
			break;
	}
	return 0;
}

/* Open dir and take the exclusive lock; the lock is dropped when *lock_fd is closed. */
static int ipam_lock(const char *dir, bool create, int *dir_fd, int *lock_fd)
{
	int err;

	*dir_fd = -1;
	*lock_fd = -1;
	if (create) {
		err = ipam_mkdirs(dir);
		if (err)
			return err;
	}
	*dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dir_fd < 0)
		return -errno;
	*lock_fd = openat(*dir_fd, IPAM_LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*lock_fd < 0) {
		err = -errno;
		goto fail;
	}
	while (flock(*lock_fd, LOCK_EX)) {
		if (errno != EINTR) {
			err = -errno;
			goto fail;
		}
	}
	return 0;

fail:
	if (*lock_fd >= 0)
		close(*lock_fd);
	close(*dir_fd);
	*dir_fd = *lock_fd = -1;
	return err;
}

static void ipam_unlock(int dir_fd, int lock_fd)
{
	if (lock_fd >= 0)
		close(lock_fd);
	if (dir_fd >= 0)
		close(dir_fd);
}

/* Read a small file relative to dir_fd into buf (NUL-terminated). Returns length or -errno. */
static ssize_t ipam_read_file(int dir_fd, const char *name, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

/* Walk the address files once: count those in range, find (and optionally unlink) ours. */
static int ipam_scan(int dir_fd, struct ipam_scan *scan)
{
	char record[IPAM_RECORD_MAX + 1];
	struct dirent *entry;
	DIR *dir;
	int fd, err = 0;

	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((errno = 0, entry = readdir(dir))) {
		const char *id, *ifname;
		struct in_addr address;
		bool is_pending, is_dead, is_ours, drop;
		ssize_t n;

		if (inet_pton(AF_INET, entry->d_name, &address) != 1)
			continue;
		n = ipam_read_file(dir_fd, entry->d_name, record, sizeof(record));
		if (n == -ENOENT)
			continue;
		if (n < 0) {
			err = (int)n;
			break;
		}
		if (!ipam_record_parse(record, &id, &ifname, &is_pending, &is_dead)) {
			scan->total++; /* not ours to judge: it keeps its address */
			if (scan->range && ipam_is_host(scan->range, ntohl(address.s_addr)))
				scan->in_use++;
			continue;
		}
		is_ours = scan->container_id && !strcmp(id, scan->container_id) &&
			  !strcmp(ifname, scan->ifname);
		/* A crashed ADD of someone else gives its address back; our own is adopted. */
		drop = (scan->reclaim && is_dead && !is_ours) ||
		       (scan->is_valid && !(is_pending && !is_dead) &&
			!scan->is_valid(id, ifname, scan->ctx));
		/* Only as many as the caller can unwire; the rest wait for the next scan. */
		if (drop && scan->reclaimed && scan->reclaimed->count >= IPAM_RECLAIMED_MAX)
			drop = false;
		drop = drop || (is_ours && scan->release);
		if (drop) {
			if (unlinkat(dir_fd, entry->d_name, 0) && errno != ENOENT) {
				err = -errno;
				break;
			}
			if (!is_ours)
				ipam_reclaimed_add(scan->reclaimed, id, ifname, address);
		} else {
			scan->total++;
			if (scan->range && ipam_is_host(scan->range, ntohl(address.s_addr)))
				scan->in_use++;
		}
		if (is_ours) {
			scan->matches++;
			scan->address = address;
			scan->is_match_pending = is_dead;
		}
	}
	if (!err && errno)
		err = -errno;
	closedir(dir);
	return err;
}

/* Report the node's usage in the ipam_usage pin; called with the IPAM lock held. */
static void ipam_report_usage(unsigned int in_use, const struct ipam_range *range)
{
	struct node_ipam_cidr block = {};

	if (!ipam_usage_bpffs)
		return;
	if (range) {
		block.address = range->subnet.s_addr;
		block.prefix = (__u8)range->prefix;
		block.is_set = 1;
	}
	node_ipam_set_usage(ipam_usage_bpffs, &block, in_use, range ? ipam_capacity(range) : 0);
}

/* "<id>\n<ifname>\n" plus, while the ADD is still wiring, "pending <pid> <start time>\n". */
static size_t ipam_record_format(char *buf, size_t size, const char *container_id,
				 const char *ifname, bool is_pending)
{
	int n;

	if (is_pending)
		n = snprintf(buf, size, "%s\n%s\npending %ld %llu\n", container_id, ifname,
			     (long)getpid(), ipam_proc_start(getpid()));
	else
		n = snprintf(buf, size, "%s\n%s\n", container_id, ifname);
	return n < 0 ? 0 : (size_t)n;
}

int ipam_allocate(const char *dir, const struct ipam_range *range, const char *container_id,
		  const char *ifname, struct in_addr *address, bool *is_new,
		  struct ipam_reclaimed *reclaimed, struct cni_error *err)
{
	struct ipam_scan scan = {.range = range,
				 .container_id = container_id,
				 .ifname = ifname,
				 .reclaim = true,
				 .reclaimed = reclaimed};
	char subnet[INET_ADDRSTRLEN], name[INET_ADDRSTRLEN], last[INET_ADDRSTRLEN + 2];
	char record[IPAM_RECORD_MAX + 1];
	uint32_t net = ntohl(range->subnet.s_addr), size = 1u << (32 - range->prefix);
	uint32_t offset = 1;
	int dir_fd = -1, lock_fd = -1, fd = -1, ret;
	struct in_addr candidate;
	size_t len;

	*is_new = false;
	inet_ntop(AF_INET, &range->subnet, subnet, sizeof(subnet));
	ret = ipam_lock(dir, true, &dir_fd, &lock_fd);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: IPAM state %s: %s", range->node, dir,
			      strerror(-ret));
		goto cleanup;
	}
	ret = ipam_scan(dir_fd, &scan);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: IPAM state %s: %s", range->node, dir,
			      strerror(-ret));
		goto cleanup;
	}
	/* A retried ADD gets the address it already holds, also after its first try crashed. */
	if (scan.matches) {
		*address = scan.address;
		if (scan.is_match_pending) {
			inet_ntop(AF_INET, address, name, sizeof(name));
			len =
			    ipam_record_format(record, sizeof(record), container_id, ifname, true);
			ret = file_write_atomic(dir_fd, name, record, len, 0600, false);
			if (ret) {
				cni_error_set(err, CNI_ERR_IO, "node %s: IPAM state %s/%s: %s",
					      range->node, dir, name, strerror(-ret));
				goto cleanup;
			}
			*is_new = true; /* nobody else holds it: a failed ADD gives it back */
		}
		goto cleanup;
	}
	if (scan.in_use >= ipam_capacity(range)) {
		ret = -ENOSPC;
		goto exhausted;
	}

	/* Rotate: start after the last address handed out, so a released one is not reused at once.
	 */
	if (ipam_read_file(dir_fd, IPAM_LAST_RESERVED, last, sizeof(last)) > 0) {
		last[strcspn(last, "\n")] = '\0';
		if (inet_pton(AF_INET, last, &candidate) == 1 &&
		    (ntohl(candidate.s_addr) & ~(size - 1)) == net)
			offset = ntohl(candidate.s_addr) - net + 1;
	}

	ret = -ENOSPC;
	len = ipam_record_format(record, sizeof(record), container_id, ifname, true);
	for (uint32_t i = 0; i < size; i++) {
		uint32_t host = net + ((offset + i) & (size - 1));

		if (!ipam_is_host(range, host))
			continue;
		candidate.s_addr = htonl(host);
		inet_ntop(AF_INET, &candidate, name, sizeof(name));
		/* O_EXCL is the reservation; the lock only keeps the scan and count consistent. */
		fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0) {
			ret = -errno;
			cni_error_set(err, CNI_ERR_IO, "node %s: IPAM state %s/%s: %s", range->node,
				      dir, name, strerror(-ret));
			goto cleanup;
		}
		if (write(fd, record, len) != (ssize_t)len || fsync(fd) || close(fd)) {
			ret = errno ? -errno : -EIO;
			fd = -1;
			unlinkat(dir_fd, name, 0);
			cni_error_set(err, CNI_ERR_IO, "node %s: IPAM state %s/%s: %s", range->node,
				      dir, name, strerror(-ret));
			goto cleanup;
		}
		fd = -1;
		/* Losing last_reserved only costs rotation, not correctness. */
		file_write_atomic(dir_fd, IPAM_LAST_RESERVED, name, strlen(name), 0600, false);
		*address = candidate;
		*is_new = true;
		ipam_report_usage(scan.in_use + 1, range);
		ret = 0;
		goto cleanup;
	}

exhausted:
	ipam_report_usage(scan.in_use, range);
	cni_error_set(err, CNI_ERR_TRY_AGAIN,
		      "node %s: pod CIDR %s/%u exhausted (%u of %u addresses in use)", range->node,
		      subnet, range->prefix, scan.in_use, ipam_capacity(range));

cleanup:
	if (fd >= 0)
		close(fd);
	ipam_unlock(dir_fd, lock_fd);
	return ret;
}

int ipam_commit(const char *dir, const char *container_id, const char *ifname,
		struct in_addr address)
{
	char name[INET_ADDRSTRLEN], record[IPAM_RECORD_MAX + 1];
	int dir_fd = -1, lock_fd = -1, ret;
	size_t len;

	ret = ipam_lock(dir, false, &dir_fd, &lock_fd);
	if (ret)
		return ret;
	inet_ntop(AF_INET, &address, name, sizeof(name));
	len = ipam_record_format(record, sizeof(record), container_id, ifname, false);
	ret = file_write_atomic(dir_fd, name, record, len, 0600, false);
	ipam_unlock(dir_fd, lock_fd);
	return ret;
}

/*
 * Lock dir, walk it once with scan and unlock. report: one of scan's counts, handed with
 * scan->range's capacity to the agent after a walk that succeeded and before the lock is
 * dropped, so that concurrent plugins report in the order they changed the state; NULL: none.
 */
static int ipam_scan_locked(const char *dir, struct ipam_scan *scan, const unsigned int *report)
{
	int dir_fd = -1, lock_fd = -1, ret;

	ret = ipam_lock(dir, false, &dir_fd, &lock_fd);
	if (ret)
		return ret;
	ret = ipam_scan(dir_fd, scan);
	if (!ret && report)
		ipam_report_usage(*report, scan->range);
	ipam_unlock(dir_fd, lock_fd);
	return ret;
}

static int ipam_lookup(const char *dir, const char *container_id, const char *ifname,
		       struct in_addr *address, bool release)
{
	struct ipam_scan scan = {
	    .container_id = container_id, .ifname = ifname, .release = release};
	int ret;

	/* No range: a release reports every address record, with no capacity. */
	ret = ipam_scan_locked(dir, &scan, release ? &scan.total : NULL);
	if (ret)
		return ret;
	if (!scan.matches)
		return -ENOENT;
	if (address)
		*address = scan.address;
	return 0;
}

int ipam_find(const char *dir, const char *container_id, const char *ifname,
	      struct in_addr *address)
{
	return ipam_lookup(dir, container_id, ifname, address, false);
}

int ipam_release(const char *dir, const char *container_id, const char *ifname,
		 struct in_addr *address)
{
	return ipam_lookup(dir, container_id, ifname, address, true);
}

int ipam_gc(const char *dir, const struct ipam_range *range,
	    bool (*is_valid)(const char *container_id, const char *ifname, void *ctx), void *ctx,
	    struct ipam_reclaimed *removed)
{
	struct ipam_scan scan = {.range = range,
				 .reclaim = true,
				 .reclaimed = removed,
				 .is_valid = is_valid,
				 .ctx = ctx};

	return ipam_scan_locked(dir, &scan, &scan.in_use);
}

int ipam_usage(const char *dir, const struct ipam_range *range, unsigned int *in_use)
{
	struct ipam_scan scan = {.range = range};
	int ret;

	*in_use = 0;
	ret = ipam_scan_locked(dir, &scan, NULL);
	if (!ret)
		*in_use = scan.in_use;
	return ret;
}
