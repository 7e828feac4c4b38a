// SPDX-License-Identifier: Apache-2.0
/* sluice-cni IPAM: file-locked IPv4 allocation from the node's pod CIDR, one file per address. */
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

/* "<container id>\n<ifname>" plus slack; a longer file is not one of ours. */
#define IPAM_RECORD_MAX (CNI_CONTAINER_ID_MAX + 1 + CNI_IFNAME_MAX + 2)

struct ipam_scan {
	const struct ipam_range *range; /* NULL: do not count */
	const char *container_id;
	const char *ifname;
	bool release;		/* unlink matching records */
	unsigned int in_use;	/* records inside the range */
	unsigned int matches;	/* records of (container_id, ifname) */
	struct in_addr address; /* last match */
};

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

/* Write content to name via a temporary file and rename, so readers never see half a file. */
static int ipam_write_file_atomic(int dir_fd, const char *name, const char *content)
{
	char tmp[64];
	size_t len = strlen(content);
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, content, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(dir_fd, tmp, dir_fd, name))
		err = -errno;
	if (err)
		unlinkat(dir_fd, tmp, 0);
	return err;
}

static bool ipam_record_matches(const char *record, const char *container_id, const char *ifname)
{
	size_t id_len = strlen(container_id);

	return !strncmp(record, container_id, id_len) && record[id_len] == '\n' &&
	       !strcmp(record + id_len + 1, ifname);
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
		struct in_addr address;
		ssize_t n;

		if (inet_pton(AF_INET, entry->d_name, &address) != 1)
			continue;
		if (scan->range && ipam_is_host(scan->range, ntohl(address.s_addr)))
			scan->in_use++;
		if (!scan->container_id)
			continue;
		n = ipam_read_file(dir_fd, entry->d_name, record, sizeof(record));
		if (n == -ENOENT)
			continue;
		if (n < 0) {
			err = (int)n;
			break;
		}
		if (!ipam_record_matches(record, scan->container_id, scan->ifname))
			continue;
		scan->matches++;
		scan->address = address;
		if (scan->release && unlinkat(dir_fd, entry->d_name, 0) && errno != ENOENT) {
			err = -errno;
			break;
		}
	}
	if (!err && errno)
		err = -errno;
	closedir(dir);
	return err;
}

int ipam_allocate(const char *dir, const struct ipam_range *range, const char *container_id,
		  const char *ifname, struct in_addr *address, bool *is_new, struct cni_error *err)
{
	struct ipam_scan scan = {.range = range, .container_id = container_id, .ifname = ifname};
	char subnet[INET_ADDRSTRLEN], name[INET_ADDRSTRLEN], last[INET_ADDRSTRLEN + 2];
	char record[IPAM_RECORD_MAX + 1];
	uint32_t net = ntohl(range->subnet.s_addr), size = 1u << (32 - range->prefix);
	uint32_t offset = 1;
	int dir_fd = -1, lock_fd = -1, fd = -1, ret;
	struct in_addr candidate;

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
	/* A retried ADD gets the address it already holds. */
	if (scan.matches) {
		*address = scan.address;
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
	for (uint32_t i = 0; i < size; i++) {
		uint32_t host = net + ((offset + i) & (size - 1));
		size_t len;

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
		len = (size_t)snprintf(record, sizeof(record), "%s\n%s", container_id, ifname);
		if (write(fd, record, len) != (ssize_t)len || close(fd)) {
			ret = errno ? -errno : -EIO;
			fd = -1;
			unlinkat(dir_fd, name, 0);
			cni_error_set(err, CNI_ERR_IO, "node %s: IPAM state %s/%s: %s", range->node,
				      dir, name, strerror(-ret));
			goto cleanup;
		}
		fd = -1;
		/* Losing last_reserved only costs rotation, not correctness. */
		ipam_write_file_atomic(dir_fd, IPAM_LAST_RESERVED, name);
		*address = candidate;
		*is_new = true;
		ret = 0;
		goto cleanup;
	}

exhausted:
	cni_error_set(err, CNI_ERR_TRY_AGAIN,
		      "node %s: pod CIDR %s/%u exhausted (%u of %u addresses in use)", range->node,
		      subnet, range->prefix, scan.in_use, ipam_capacity(range));

cleanup:
	if (fd >= 0)
		close(fd);
	ipam_unlock(dir_fd, lock_fd);
	return ret;
}

static int ipam_lookup(const char *dir, const char *container_id, const char *ifname,
		       struct in_addr *address, bool release)
{
	struct ipam_scan scan = {
	    .container_id = container_id, .ifname = ifname, .release = release};
	int dir_fd = -1, lock_fd = -1, ret;

	ret = ipam_lock(dir, false, &dir_fd, &lock_fd);
	if (ret)
		goto cleanup;
	ret = ipam_scan(dir_fd, &scan);
	if (ret)
		goto cleanup;
	if (!scan.matches) {
		ret = -ENOENT;
		goto cleanup;
	}
	if (address)
		*address = scan.address;

cleanup:
	ipam_unlock(dir_fd, lock_fd);
	return ret;
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
