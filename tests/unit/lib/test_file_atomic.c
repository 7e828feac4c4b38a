// SPDX-License-Identifier: Apache-2.0
/* Unit tests of lib/file_atomic: the whole-file write the plugin's IPAM and `sluice-cni install`
 * share (content, mode against the umask, replacing, nothing left behind on failure). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/file_atomic.h"

struct dir {
	char path[64];
	int fd;
};

static int dir_setup(void **state)
{
	static struct dir dir;

	snprintf(dir.path, sizeof(dir.path), "/tmp/sl-file-atomic.XXXXXX");
	if (!mkdtemp(dir.path))
		return -1;
	dir.fd = open(dir.path, O_RDONLY | O_DIRECTORY);
	*state = &dir;
	return dir.fd < 0 ? -1 : 0;
}

static int dir_teardown(void **state)
{
	struct dir *dir = *state;
	char cmd[128];

	close(dir->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir->path);
	return system(cmd) ? -1 : 0;
}

/* How many entries DIR holds (a temporary left behind would be one more). */
static int count_entries(struct dir *dir)
{
	char cmd[128];
	FILE *out;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir->path);
	out = popen(cmd, "r");
	if (out && fscanf(out, "%d", &n) != 1)
		n = -1;
	if (out)
		pclose(out);
	return n;
}

static void read_back(struct dir *dir, const char *name, char *buf, size_t size, mode_t *mode)
{
	struct stat st;
	ssize_t n;
	int fd = openat(dir->fd, name, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*mode = st.st_mode & 07777;
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void test_writes_content_and_mode_despite_umask(void **state)
{
	struct dir *dir = *state;
	mode_t old = umask(077), mode;
	char buf[64];

	assert_int_equal(file_write_atomic(dir->fd, "plugin", "abc", 3, 0755, true), 0);
	umask(old);
	read_back(dir, "plugin", buf, sizeof(buf), &mode);
	assert_string_equal(buf, "abc");
	assert_int_equal(mode, 0755);
	assert_int_equal(count_entries(dir), 1); /* no temporary beside it */
}

static void test_replaces_whole(void **state)
{
	struct dir *dir = *state;
	char buf[64];
	mode_t mode;

	assert_int_equal(
	    file_write_atomic(dir->fd, "conf", "a longer first version", 22, 0644, false), 0);
	assert_int_equal(file_write_atomic(dir->fd, "conf", "short", 5, 0600, false), 0);
	read_back(dir, "conf", buf, sizeof(buf), &mode);
	assert_string_equal(buf, "short");
	assert_int_equal(mode, 0600);
}

static void test_failure_leaves_nothing(void **state)
{
	struct dir *dir = *state;
	char name[300];
	int before = count_entries(dir);

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(file_write_atomic(dir->fd, name, "x", 1, 0644, false), -ENAMETOOLONG);
	/* A target that is a directory: the rename fails, the temporary goes. */
	assert_int_equal(mkdirat(dir->fd, "taken", 0755), 0);
	assert_int_equal(file_write_atomic(dir->fd, "taken", "x", 1, 0644, false), -EISDIR);
	assert_int_equal(count_entries(dir), before + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_writes_content_and_mode_despite_umask, dir_setup,
					    dir_teardown),
	    cmocka_unit_test_setup_teardown(test_replaces_whole, dir_setup, dir_teardown),
	    cmocka_unit_test_setup_teardown(test_failure_leaves_nothing, dir_setup, dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
