// SPDX-License-Identifier: Apache-2.0
/* lib/map_walk.c against real kernel maps: every entry once, deleting as it walks, the bound. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>

#include "lib/map_walk.h"
#include "tests/unit/map_fixture.h"

#define N 1000

/* A map of uint32_t values; skips when not root, fails with the errno otherwise. */
static int create(enum bpf_map_type type, uint32_t key_size, uint32_t max)
{
	int fd = map_fixture_create(type, "walk_test", key_size, sizeof(uint32_t), max);

	if (fd < 0)
		skip(); /* not root: map_fixture_create() said so (as root it failed the test) */
	return fd;
}

static int hash_or_skip(uint32_t n)
{
	int fd = create(BPF_MAP_TYPE_HASH, sizeof(uint32_t), N);

	for (uint32_t i = 0; i < n; i++) {
		uint32_t value = i * 10;

		assert_int_equal(bpf_map_update_elem(fd, &i, &value, BPF_ANY), 0);
	}
	return fd;
}

static void test_every_entry_once(void **state)
{
	static unsigned char seen[N];
	struct map_walk walk;
	uint32_t key, value;
	int fd = hash_or_skip(N), n = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	assert_int_equal(map_walk_start(&walk, fd, sizeof(key), sizeof(value)), 0);
	while (map_walk_next(&walk, &key, &value)) {
		assert_true(key < N);
		assert_int_equal(value, key * 10);
		assert_int_equal(seen[key]++, 0);
		n++;
	}
	assert_int_equal(walk.err, 0);
	assert_int_equal(n, N);
	assert_int_equal(map_walk_count(fd, sizeof(key)), N);
	close(fd);
}

/* Deleting the entry just handed out neither restarts the walk nor skips its successor. */
static void test_delete_while_walking(void **state)
{
	static unsigned char seen[N];
	struct map_walk walk;
	uint32_t key;
	int fd = hash_or_skip(N), n = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	assert_int_equal(map_walk_start(&walk, fd, sizeof(key), 0), 0);
	while (map_walk_next(&walk, &key, NULL)) {
		assert_int_equal(seen[key]++, 0);
		if (key % 2 == 0)
			assert_int_equal(bpf_map_delete_elem(fd, &key), 0);
		n++;
	}
	assert_int_equal(walk.err, 0);
	assert_int_equal(n, N);
	assert_int_equal(map_walk_count(fd, sizeof(key)), N / 2);
	close(fd);
}

/* The same on an LPM trie, whose successor of a missing key is its leftmost entry. */
static void test_delete_while_walking_lpm(void **state)
{
	struct lpm_key {
		uint32_t prefix_len;
		uint32_t address;
	} key;
	static unsigned char seen[256];
	struct map_walk walk;
	uint32_t one = 1;
	int fd = create(BPF_MAP_TYPE_LPM_TRIE, sizeof(key), 256), n = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	for (uint32_t i = 0; i < 256; i++) {
		key.prefix_len = 32;
		key.address = i;
		assert_int_equal(bpf_map_update_elem(fd, &key, &one, BPF_ANY), 0);
	}
	assert_int_equal(map_walk_start(&walk, fd, sizeof(key), sizeof(one)), 0);
	while (map_walk_next(&walk, &key, &one)) {
		assert_int_equal(seen[key.address]++, 0);
		assert_int_equal(bpf_map_delete_elem(fd, &key), 0);
		n++;
	}
	assert_int_equal(walk.err, 0);
	assert_int_equal(n, 256);
	assert_int_equal(map_walk_count(fd, sizeof(key)), 0);
	close(fd);
}

static void test_empty_and_wrong_sizes(void **state)
{
	struct map_walk walk;
	uint32_t key;
	uint16_t small;
	int fd = hash_or_skip(0);

	(void)state;
	assert_int_equal(map_walk_start(&walk, fd, sizeof(key), sizeof(uint32_t)), 0);
	assert_false(map_walk_next(&walk, &key, NULL));
	assert_false(map_walk_next(&walk, &key, NULL));
	assert_int_equal(walk.err, 0);
	assert_int_equal(map_walk_start(&walk, fd, sizeof(uint64_t), 0), -EINVAL);
	assert_int_equal(map_walk_start(&walk, fd, sizeof(key), sizeof(small)), -EINVAL);
	assert_false(map_walk_next(&walk, &key, NULL)); /* a walk that failed to start is empty */
	assert_int_equal(walk.err, -EINVAL);
	assert_true(map_walk_count(-1, sizeof(key)) < 0); /* libbpf answers -EBADFD or -EBADF */
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_entry_once),
	    cmocka_unit_test(test_delete_while_walking),
	    cmocka_unit_test(test_delete_while_walking_lpm),
	    cmocka_unit_test(test_empty_and_wrong_sizes),
	};

	return cmocka_run_group_tests_name("map_walk", tests, NULL, NULL);
}
