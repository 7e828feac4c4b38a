// SPDX-License-Identifier: Apache-2.0
/* Whole-file writes by temporary file and rename (lib/file_atomic.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file_atomic.h"

int file_write_atomic(int dir_fd, const char *name, const void *content, size_t len, mode_t mode,
		      bool durable)
{
	const char *at = content;
	char tmp[256];
	int fd, err = 0;
	ssize_t n;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (len && !err) {
		n = write(fd, at, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
		else {
			at += n;
			len -= (size_t)n;
		}
	}
	/* fchmod, not the open mode: the umask must not take bits from an executable. */
	if (!err && fchmod(fd, mode))
		err = -errno;
	if (!err && durable && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(dir_fd, tmp, dir_fd, name))
		err = -errno;
	if (err)
		unlinkat(dir_fd, tmp, 0);
	return err;
}
