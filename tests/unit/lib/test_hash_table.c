// SPDX-License-Identifier: Apache-2.0
/* lib/hash_table.c: FNV-1a's published vectors, and the table against a plain array model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/hash_table.h"

/* The FNV reference vectors (draft-eastlake-fnv): a change of hash would rename veths on nodes. */
static void test_fnv1a_vectors(void **ctx)
{
	(void)ctx;
	assert_true(hash_fnv1a("", 0) == 0xcbf29ce484222325ull);
	assert_true(hash_fnv1a("a", 1) == 0xaf63dc4c8601ec8cull);
	assert_true(hash_fnv1a("foobar", 6) == 0x85944171f73967e8ull);
}

static void test_put_get_replace_remove(void **ctx)
{
	struct hash_table table = {0};
	int a = 1, b = 2;

	(void)ctx;
	assert_null(hash_table_get_str(&table, "default/web"));
	assert_null(hash_table_remove_str(&table, "default/web"));
	assert_int_equal(hash_table_put_str(&table, "default/web", &a), 0);
	assert_ptr_equal(hash_table_get_str(&table, "default/web"), &a);
	assert_int_equal(hash_table_put_str(&table, "default/web", &b), 0);
	assert_int_equal(table.count, 1);
	assert_ptr_equal(hash_table_get_str(&table, "default/web"), &b);
	/* A key is its bytes and length: a prefix or a longer key is another key. */
	assert_null(hash_table_get_str(&table, "default/we"));
	assert_null(hash_table_get(&table, "default/web", 12));
	assert_ptr_equal(hash_table_remove_str(&table, "default/web"), &b);
	assert_int_equal(table.count, 0);
	assert_null(hash_table_get_str(&table, "default/web"));
	hash_table_free(&table);
}

/* 20,000 integer keys through growth, removal of every third, and iteration. */
static void test_many_u64_keys(void **ctx)
{
	enum { N = 20000 };
	struct hash_table table = {0};
	struct hash_table_entry *e;
	static char present[N];
	size_t i, seen = 0;

	(void)ctx;
	for (i = 0; i < N; i++)
		assert_int_equal(hash_table_put_u64(&table, (uint64_t)i << 20, &present[i]), 0);
	for (i = 0; i < N; i += 3)
		assert_ptr_equal(hash_table_remove_u64(&table, (uint64_t)i << 20), &present[i]);
	for (i = 0; i < N; i++)
		assert_true((hash_table_get_u64(&table, (uint64_t)i << 20) != NULL) ==
			    (i % 3 != 0));
	memset(present, 0, sizeof(present));
	HASH_TABLE_FOR_EACH (&table, e, i) {
		char *mark = e->value;

		assert_int_equal(*mark, 0);
		*mark = 1;
		seen++;
	}
	assert_int_equal(seen, N - (N + 2) / 3);
	assert_int_equal(table.count, seen);
	hash_table_free(&table);
	assert_int_equal(table.count, 0);
	assert_null(hash_table_get_u64(&table, 1ull << 20));
}

/* Replacing a present key never allocates: at full load it does not grow (and cannot fail). */
static void test_replace_does_not_grow(void **ctx)
{
	struct hash_table table = {0};
	uint64_t key = 0;
	size_t n_buckets;
	int value;

	(void)ctx;
	assert_int_equal(hash_table_put_u64(&table, key, &value), 0);
	n_buckets = table.n_buckets;
	for (key = 1; table.count < n_buckets; key++)
		assert_int_equal(hash_table_put_u64(&table, key, &value), 0);
	assert_int_equal(table.n_buckets, n_buckets);
	assert_int_equal(hash_table_put_u64(&table, 0, &key), 0);
	assert_int_equal(table.n_buckets, n_buckets);
	assert_ptr_equal(hash_table_get_u64(&table, 0), &key);
	assert_int_equal(hash_table_put_u64(&table, key, &value), 0);
	assert_true(table.n_buckets > n_buckets);
	hash_table_free(&table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fnv1a_vectors),
	    cmocka_unit_test(test_put_get_replace_remove),
	    cmocka_unit_test(test_many_u64_keys),
	    cmocka_unit_test(test_replace_does_not_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
