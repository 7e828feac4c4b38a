// SPDX-License-Identifier: Apache-2.0
/* loader/sync/tunnel_sync.c against a real LPM trie: written as a diff, exact keys, pruning. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>

#include "loader/sync/tunnel_sync.h"
#include "tests/unit/map_fixture.h"

static int tunnel4_or_skip(void)
{
	int fd = map_fixture_create(BPF_MAP_TYPE_LPM_TRIE, TUNNEL4_MAP, sizeof(struct tunnel4_key),
				    sizeof(struct tunnel4_value), 64);

	if (fd < 0)
		skip(); /* not root: map_fixture_create() said so */
	return fd;
}

static struct tunnel_sync_entry entry(const char *address, uint32_t prefix_len, const char *node,
				      uint32_t flags)
{
	struct tunnel_sync_entry e;

	memset(&e, 0, sizeof(e));
	e.key.prefix_len = prefix_len;
	inet_pton(AF_INET, address, &e.key.address);
	inet_pton(AF_INET, node, &e.value.node_address);
	e.value.flags = flags;
	return e;
}

/* The value FD holds for exactly ADDRESS/PREFIX_LEN, as its node address; "" when none. */
static const char *held(int fd, const char *address, uint32_t prefix_len, char *buf)
{
	struct tunnel_sync_entry e = entry(address, prefix_len, "0.0.0.0", 0);
	struct tunnel4_value value;

	buf[0] = '\0';
	if (!bpf_map_lookup_elem(fd, &e.key, &value) && value.flags)
		inet_ntop(AF_INET, &value.node_address, buf, INET_ADDRSTRLEN);
	return buf;
}

static void test_write_then_prune(void **state)
{
	struct tunnel_sync_entry want[4];
	struct tunnel_sync_counts counts = {0};
	char buf[INET_ADDRSTRLEN];
	int fd = tunnel4_or_skip();

	(void)state;
	want[0] = entry("10.244.2.0", 24, "198.51.100.2", TUNNEL4_F_POD_CIDR);
	want[1] = entry("198.51.100.2", 32, "198.51.100.2", TUNNEL4_F_NODE);
	want[2] = entry("10.244.3.0", 24, "198.51.100.3", TUNNEL4_F_POD_CIDR);
	want[3] = entry("198.51.100.3", 32, "198.51.100.3", TUNNEL4_F_NODE);
	assert_int_equal(tunnel_sync_write(fd, want, 4, &counts), 0);
	assert_int_equal(tunnel_sync_prune(fd, want, 4, &counts), 0);
	assert_int_equal(counts.written, 4);
	assert_int_equal(counts.deleted, 0);
	assert_int_equal(map_fixture_count(fd, sizeof(struct tunnel4_key)), 4);

	/* Unchanged: no write. n3 gone, n2's block moved to another node address: one write
	 * (the /24), n3's two entries deleted; the /32 of n2 is rewritten too (new address). */
	memset(&counts, 0, sizeof(counts));
	assert_int_equal(tunnel_sync_write(fd, want, 4, &counts), 0);
	assert_int_equal(counts.written, 0);
	want[0] = entry("10.244.2.0", 24, "198.51.100.9", TUNNEL4_F_POD_CIDR);
	want[1] = entry("198.51.100.9", 32, "198.51.100.9", TUNNEL4_F_NODE);
	assert_int_equal(tunnel_sync_write(fd, want, 2, &counts), 0);
	assert_int_equal(counts.written, 2);
	assert_int_equal(map_fixture_count(fd, sizeof(struct tunnel4_key)), 5);
	assert_int_equal(tunnel_sync_prune(fd, want, 2, &counts), 0);
	assert_int_equal(counts.deleted, 3);
	assert_int_equal(map_fixture_count(fd, sizeof(struct tunnel4_key)), 2);
	assert_string_equal(held(fd, "10.244.2.0", 24, buf), "198.51.100.9");
	assert_string_equal(held(fd, "10.244.3.0", 24, buf), "");
	assert_string_equal(held(fd, "198.51.100.2", 32, buf), "");

	/* Nothing wanted: emptied. */
	memset(&counts, 0, sizeof(counts));
	assert_int_equal(tunnel_sync_write(fd, NULL, 0, &counts), 0);
	assert_int_equal(tunnel_sync_prune(fd, NULL, 0, &counts), 0);
	assert_int_equal(counts.deleted, 2);
	assert_int_equal(map_fixture_count(fd, sizeof(struct tunnel4_key)), 0);
	close(fd);
}

/* A longer prefix inside a held shorter one is still written: keys compare exactly, not by the
 * LPM answer (which would be the /16's, of the same value). */
static void test_exact_keys(void **state)
{
	struct tunnel_sync_entry want[2];
	struct tunnel_sync_counts counts = {0};
	char buf[INET_ADDRSTRLEN];
	int fd = tunnel4_or_skip();

	(void)state;
	want[0] = entry("10.244.0.0", 16, "198.51.100.2", TUNNEL4_F_POD_CIDR);
	want[1] = entry("10.244.2.0", 24, "198.51.100.2", TUNNEL4_F_POD_CIDR);
	assert_int_equal(tunnel_sync_write(fd, want, 1, &counts), 0);
	assert_int_equal(tunnel_sync_write(fd, want, 2, &counts), 0);
	assert_int_equal(counts.written, 2);
	assert_string_equal(held(fd, "10.244.2.0", 24, buf), "198.51.100.2");
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_write_then_prune),
	    cmocka_unit_test(test_exact_keys),
	};

	return cmocka_run_group_tests_name("tunnel_sync", tests, NULL, NULL);
}
