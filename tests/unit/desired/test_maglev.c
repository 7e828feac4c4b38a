// SPDX-License-Identifier: Apache-2.0
/*
 * loader/desired/maglev.c: the table is full, balanced, deterministic and order-independent, and a
 * backend change moves only about 1/N of it; loader/sync/sync.c writes, flips, adopts and converts
 * Maglev tables against real kernel maps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <bpf/bpf.h>

#include "lib/bpffs.h"
#include "lib/hash_table.h"
#include "loader/desired/maglev.h"
#include "loader/desired/state.h"
#include "loader/sync/sync.h"
#include "maps/ct.h"
#include "maps/lb.h"
#include "tests/unit/map_fixture.h"

#define M_SMALL 251u
#define M	LB_MAGLEV_SIZE_DEFAULT
#define MAX_N	64

/* Backend i: 10.244.(i / 200).(i % 200 + 2):8080/TCP, id 100 + i. */
static struct maglev_backend backend(unsigned int i)
{
	struct maglev_backend b = {
	    .address = htonl(0x0af40000u | (i / 200) << 8 | (i % 200 + 2)),
	    .port = htons(8080),
	    .proto = IPPROTO_TCP,
	    .id = 100 + i,
	};
	return b;
}

static void backends(struct maglev_backend *out, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		out[i] = backend(i);
}

static unsigned int count_of(const uint32_t *table, uint32_t m, uint32_t id)
{
	unsigned int n = 0;

	for (uint32_t i = 0; i < m; i++)
		n += table[i] == id;
	return n;
}

/* ---- the population --------------------------------------------------------------------- */

static void test_sizes(void **state)
{
	(void)state;
	assert_true(maglev_size_is_valid(251));
	assert_true(maglev_size_is_valid(1021));
	assert_true(maglev_size_is_valid(16381));
	assert_false(maglev_size_is_valid(1024));
	assert_false(maglev_size_is_valid(1023));  /* 3 x 11 x 31 */
	assert_false(maglev_size_is_valid(241));   /* prime but below the minimum */
	assert_false(maglev_size_is_valid(65521)); /* prime but above the maximum */
}

static void test_refuses_bad_input(void **state)
{
	struct maglev_backend b[2] = {backend(0), backend(1)};
	uint32_t table[M_SMALL];

	(void)state;
	assert_int_equal(maglev_populate(b, 0, M_SMALL, table), -EINVAL);
	assert_int_equal(maglev_populate(b, 2, 250, table), -EINVAL);
	b[1].id = 0;
	assert_int_equal(maglev_populate(b, 2, M_SMALL, table), -EINVAL);
}

/* Every entry names one of the backends, and each backend has floor or ceil of M/N entries. */
static void test_full_and_balanced(void **state)
{
	static const unsigned int sizes[] = {1, 2, 3, 7, 10, 33, 64};
	struct maglev_backend b[MAX_N];
	uint32_t table[M];

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		unsigned int n = sizes[s], total = 0;

		backends(b, n);
		assert_int_equal(maglev_populate(b, n, M, table), 0);
		for (unsigned int i = 0; i < n; i++) {
			unsigned int got = count_of(table, M, b[i].id);

			/* The round-robin population is exact to one entry: far inside a few %. */
			if (got < M / n || got > (M + n - 1) / n)
				fail_msg("N=%u: backend %u has %u entries, want %u..%u", n, i, got,
					 M / n, (M + n - 1) / n);
			total += got;
		}
		assert_int_equal(total, M); /* no entry left empty or given to a stranger */
	}
}

/* FNV-1a over a table's bytes: a fingerprint to pin the layout across builds. */
static uint64_t fingerprint(const uint32_t *table, uint32_t m)
{
	return hash_fnv1a(table, m * sizeof(*table));
}

/*
 * The same set in any order gives the same table, and the table is the one this layout has
 * always given: every node, and every agent version that shares the layout, must agree, or a
 * flow would change backend with the node that handles it. A deliberate change of the hash or
 * the population changes MAGLEV_FINGERPRINT (and reshuffles every table on upgrade).
 */
#define MAGLEV_FINGERPRINT 0xf2f95d64e15f285full

static void test_deterministic_and_order_independent(void **state)
{
	struct maglev_backend b[10], shuffled[10];
	uint32_t first[M], again[M], other[M];

	(void)state;
	backends(b, 10);
	for (unsigned int i = 0; i < 10; i++)
		shuffled[i] = b[(i * 7 + 3) % 10];
	assert_int_equal(maglev_populate(b, 10, M, first), 0);
	assert_int_equal(maglev_populate(b, 10, M, again), 0);
	assert_int_equal(maglev_populate(shuffled, 10, M, other), 0);
	assert_memory_equal(first, again, sizeof(first));
	assert_memory_equal(first, other, sizeof(first));
	assert_int_equal(fingerprint(first, M), MAGLEV_FINGERPRINT);
}

/*
 * Entries that moved between TABLE_A and TABLE_B although they belonged to a backend present in
 * both: the churn consistent hashing promises to keep small.
 */
static unsigned int needless_moves(const uint32_t *a, const uint32_t *b, uint32_t m,
				   uint32_t changed_id)
{
	unsigned int n = 0;

	for (uint32_t i = 0; i < m; i++)
		if (a[i] != b[i] && a[i] != changed_id && b[i] != changed_id)
			n++;
	return n;
}

/*
 * Removing one of N backends reassigns its ~M/N entries and only a few others: Maglev's
 * disruption is near-minimal, not zero, and shrinks as M grows against N. Measured over
 * N = 3..100, the most entries of remaining backends that moved is 6 % of M at M = 997 and
 * 1.5 % at M = 16381 (a modulo-N scheme moves ~(N-1)/N of the table). Adding one backend takes
 * ~M/(N+1) entries, with the same bounds on the rest.
 */
static void check_moves(uint32_t m, unsigned int percent_bound)
{
	static const unsigned int sizes[] = {3, 5, 10, 20, 50};
	static uint32_t before[LB_MAGLEV_SIZE_MAX], after[LB_MAGLEV_SIZE_MAX];
	struct maglev_backend b[MAX_N + 1];
	unsigned int bound = m * percent_bound / 100;

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		unsigned int n = sizes[s], taken = 0, moved;

		for (unsigned int removed = 0; removed < n; removed += n / 3 + 1) {
			struct maglev_backend rest[MAX_N];
			unsigned int k = 0;

			backends(b, n);
			for (unsigned int i = 0; i < n; i++)
				if (i != removed)
					rest[k++] = b[i];
			assert_int_equal(maglev_populate(b, n, m, before), 0);
			assert_int_equal(maglev_populate(rest, k, m, after), 0);
			moved = needless_moves(before, after, m, b[removed].id);
			if (moved > bound)
				fail_msg("M=%u N=%u, backend %u removed: %u entries of other "
					 "backends moved (bound %u)",
					 m, n, removed, moved, bound);
			assert_int_equal(count_of(after, m, b[removed].id), 0);
		}

		/* Add backend n to the first n. */
		backends(b, n + 1);
		assert_int_equal(maglev_populate(b, n, m, before), 0);
		assert_int_equal(maglev_populate(b, n + 1, m, after), 0);
		taken = count_of(after, m, b[n].id);
		assert_true(taken >= m / (n + 1) && taken <= (m + n) / (n + 1));
		moved = needless_moves(before, after, m, b[n].id);
		if (moved > bound)
			fail_msg("M=%u N=%u + 1: %u entries of other backends moved (bound %u)", m,
				 n, moved, bound);
	}
}

static void test_remove_and_add_move_little(void **state)
{
	(void)state;
	check_moves(M, 7);
	check_moves(16381, 2);
}

/* The bound above can fail: a table rebuilt with another backend order moves far more. */
static void test_bound_catches_reshuffle(void **state)
{
	struct maglev_backend b[10];
	uint32_t a[M], shifted[M];

	(void)state;
	backends(b, 10);
	assert_int_equal(maglev_populate(b, 10, M, a), 0);
	/* Entry i -> backend (i % N), what a modulo scheme gives, against the Maglev table. */
	for (uint32_t i = 0; i < M; i++)
		shifted[i] = b[i % 10].id;
	assert_true(needless_moves(a, shifted, M, 0) > M * 7 / 100);
}

/* More backends than entries cannot all appear: refused. */
static void test_more_backends_than_entries(void **state)
{
	struct maglev_backend *b = calloc(M_SMALL + 1, sizeof(*b));
	uint32_t table[M_SMALL];

	(void)state;
	assert_non_null(b);
	backends(b, M_SMALL + 1);
	assert_int_equal(maglev_populate(b, M_SMALL + 1, M_SMALL, table), -E2BIG);
	assert_int_equal(maglev_populate(b, M_SMALL, M_SMALL, table), 0);
	for (uint32_t i = 0; i < M_SMALL; i++)
		assert_int_equal(count_of(table, M_SMALL, b[i].id), 1);
	free(b);
}

/* ---- the agent's writes (loader/sync/sync.c) ---------------------------------------------------
 */

static int setup(void **state)
{
	static const struct map_fixture_options options = {.maglev_size = M};

	return map_fixture_setup(state, &options);
}

static int teardown(void **state)
{
	return map_fixture_teardown(state);
}

/* One ClusterIP frontend 10.96.0.10:80/TCP with backends 0..n-1 of backend() except SKIP. */
static struct sync_counts apply_web(struct map_fixture *f, unsigned int n, int skip_index)
{
	struct desired_state desired;
	struct sync_counts counts;
	struct lb_frontend *fe;

	memset(&desired, 0, sizeof(desired));
	desired.frontends = calloc(1, sizeof(*desired.frontends));
	assert_non_null(desired.frontends);
	desired.n_frontends = 1;
	fe = &desired.frontends[0];
	fe->vip = inet_addr("10.96.0.10");
	fe->port = htons(80);
	fe->proto = IPPROTO_TCP;
	snprintf(fe->name, sizeof(fe->name), "default/web:http");
	fe->backends = calloc(n ? n : 1, sizeof(*fe->backends));
	assert_non_null(fe->backends);
	for (unsigned int i = 0; i < n; i++) {
		if ((int)i == skip_index)
			continue;
		fe->backends[fe->n_backends].address = backend(i).address;
		fe->backends[fe->n_backends].port = backend(i).port;
		fe->n_backends++;
	}
	assert_int_equal(sync_apply(f->sync, &desired, &counts), 0);
	desired_state_free(&desired);
	return counts;
}

static struct lb4_service web(struct map_fixture *f)
{
	struct lb4_key key;
	struct lb4_service value;

	memset(&key, 0, sizeof(key));
	key.address = inet_addr("10.96.0.10");
	key.port = htons(80);
	key.proto = IPPROTO_TCP;
	assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_svc, &key, &value), 0);
	return value;
}

/* The table of SVC_ID/GEN translated to backend addresses; returns -ENOENT when absent. */
static int table_addresses(struct map_fixture *f, uint32_t svc_id, uint8_t gen, uint32_t *out)
{
	struct lb4_maglev_key key;
	struct lb4_backend b;

	memset(&key, 0, sizeof(key));
	key.svc_id = svc_id;
	key.gen = gen;
	if (bpf_map_lookup_elem(f->maps.lb4_maglev, &key, out))
		return -ENOENT;
	for (uint32_t i = 0; i < M; i++) {
		assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_backends, &out[i], &b), 0);
		out[i] = b.address;
	}
	return 0;
}

/*
 * A new frontend gets a table in its generation; removing a backend flips to a table in the other
 * generation that keeps the entries of the remaining backends (but a few %), and the retired
 * table goes.
 */
static void test_sync_flip_keeps_entries(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	static uint32_t before[M], after[M];
	struct lb4_service svc;
	uint8_t gen;

	apply_web(f, 5, -1);
	svc = web(f);
	assert_true(svc.flags & LB_SVC_F_MAGLEV);
	assert_int_equal(svc.count, 5); /* the slots stay: backend set and fallback */
	assert_int_equal(table_addresses(f, svc.svc_id, svc.gen, before), 0);
	gen = svc.gen;

	apply_web(f, 5, 2);
	svc = web(f);
	assert_int_equal(svc.gen, gen ^ 1);
	assert_int_equal(table_addresses(f, svc.svc_id, svc.gen, after), 0);
	assert_int_equal(table_addresses(f, svc.svc_id, gen, before + 0), -ENOENT);
	assert_int_equal(map_fixture_count(f->maps.lb4_maglev, sizeof(struct lb4_maglev_key)), 1);
	/* Recompute the old table (it was deleted) to compare. */
	{
		struct maglev_backend b[5];
		uint32_t ids[M];

		backends(b, 5);
		assert_int_equal(maglev_populate(b, 5, M, ids), 0);
		for (uint32_t i = 0; i < M; i++)
			before[i] = backend(ids[i] - 100).address;
	}
	assert_true(needless_moves(before, after, M, backend(2).address) <= M * 7 / 100);
	for (uint32_t i = 0; i < M; i++)
		assert_int_not_equal(after[i], backend(2).address);
}

/*
 * A restarted agent keeps a table that is right (no writes), rewrites a damaged one by a flip,
 * and deletes a table no live generation owns.
 */
static void test_sync_adoption(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	static uint32_t table[M];
	struct lb4_maglev_key key;
	struct lb4_service svc;
	struct sync_counts c;
	uint32_t i;

	apply_web(f, 4, -1);
	svc = web(f);

	sync_close(f->sync);
	assert_int_equal(sync_open(&f->maps, &f->sync), 0);
	sync_set_retire_grace(f->sync, 0);
	assert_int_equal(sync_adopt_writes(f->sync), 0);
	c = apply_web(f, 4, -1);
	assert_int_equal(c.map_writes, 0);
	assert_int_equal(c.unchanged, 1);

	/* A stray table of the other generation and a damaged live one. */
	memset(&key, 0, sizeof(key));
	key.svc_id = svc.svc_id;
	key.gen = svc.gen;
	assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_maglev, &key, table), 0);
	for (i = 1; table[i] == table[0]; i++)
		;
	table[i] = table[0]; /* still a backend of the frontend, in the wrong place */
	assert_int_equal(bpf_map_update_elem(f->maps.lb4_maglev, &key, table, BPF_ANY), 0);
	key.gen ^= 1;
	assert_int_equal(bpf_map_update_elem(f->maps.lb4_maglev, &key, table, BPF_ANY), 0);

	sync_close(f->sync);
	assert_int_equal(sync_open(&f->maps, &f->sync), 0);
	sync_set_retire_grace(f->sync, 0);
	assert_int_equal(sync_adopt_writes(f->sync), 1); /* the stray table */
	c = apply_web(f, 4, -1);
	assert_int_equal(c.changed, 1); /* the damaged table: rewritten by a flip */
	assert_int_equal(web(f).gen, svc.gen ^ 1);
	assert_int_equal(map_fixture_count(f->maps.lb4_maglev, sizeof(struct lb4_maglev_key)), 1);
	assert_int_equal(apply_web(f, 4, -1).map_writes, 0);
}

/* --lb-algorithm changed across a restart: the frontend converges by a flip, either way. */
static void test_sync_algorithm_converges(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct sync_counts c;

	apply_web(f, 3, -1);
	assert_true(web(f).flags & LB_SVC_F_MAGLEV);

	sync_close(f->sync);
	assert_int_equal(sync_open(&f->maps, &f->sync), 0);
	sync_set_retire_grace(f->sync, 0);
	sync_set_lb_algorithm(f->sync, LB_ALGORITHM_RANDOM);
	c = apply_web(f, 3, -1);
	assert_int_equal(c.changed, 1);
	assert_false(web(f).flags & LB_SVC_F_MAGLEV);
	assert_int_equal(map_fixture_count(f->maps.lb4_maglev, sizeof(struct lb4_maglev_key)), 0);
	assert_int_equal(web(f).count, 3);
	assert_int_equal(apply_web(f, 3, -1).map_writes, 0);

	sync_close(f->sync);
	assert_int_equal(sync_open(&f->maps, &f->sync), 0);
	sync_set_retire_grace(f->sync, 0);
	c = apply_web(f, 3, -1); /* maglev, the default */
	assert_int_equal(c.changed, 1);
	assert_true(web(f).flags & LB_SVC_F_MAGLEV);
	assert_int_equal(map_fixture_count(f->maps.lb4_maglev, sizeof(struct lb4_maglev_key)), 1);
	assert_int_equal(apply_web(f, 3, -1).map_writes, 0);
}

/* Without endpoints there is no table to write: the frontend rejects, with no table. */
static void test_sync_no_endpoints(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);

	apply_web(f, 0, -1);
	assert_int_equal(web(f).count, 0);
	assert_int_equal(map_fixture_count(f->maps.lb4_maglev, sizeof(struct lb4_maglev_key)), 0);
	apply_web(f, 2, -1);
	assert_int_equal(map_fixture_count(f->maps.lb4_maglev, sizeof(struct lb4_maglev_key)), 1);
	apply_web(f, 0, -1);
	assert_int_equal(map_fixture_count(f->maps.lb4_maglev, sizeof(struct lb4_maglev_key)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_refuses_bad_input),
	    cmocka_unit_test(test_full_and_balanced),
	    cmocka_unit_test(test_deterministic_and_order_independent),
	    cmocka_unit_test(test_remove_and_add_move_little),
	    cmocka_unit_test(test_bound_catches_reshuffle),
	    cmocka_unit_test(test_more_backends_than_entries),
	    cmocka_unit_test_setup_teardown(test_sync_flip_keeps_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_adoption, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_algorithm_converges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_no_endpoints, setup, teardown),
	};

	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL);
}
