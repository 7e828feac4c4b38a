/* SPDX-License-Identifier: Apache-2.0 */
/* Writing a whole file so that readers see the old content or the new one, never a part. */
#ifndef SLUICE_FILE_ATOMIC_H
#define SLUICE_FILE_ATOMIC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Write LEN bytes of CONTENT to DIR_FD/NAME with MODE: into ".NAME.tmp" beside it, then one
 * rename over NAME. With DURABLE the data reaches the disk before the rename, so a crash never
 * leaves NAME empty (worth it for a file other programs execute or read at boot; not for a hint).
 * Returns 0 or -errno; the temporary file is gone either way.
 */
int file_write_atomic(int dir_fd, const char *name, const void *content, size_t len, mode_t mode,
		      bool durable);

#endif
