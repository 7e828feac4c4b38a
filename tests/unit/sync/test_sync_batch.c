// SPDX-License-Identifier: Apache-2.0
/*
 * loader/sync/sync_batch.c against real kernel maps: a full sync's new frontends written in
 * batches leave the maps exactly as one write per entry does, over several batch groups and with
 * Maglev tables; a batch that fails part-way (a full lb4_slots) takes down only the frontends it
 * could not write, whole, and counts them failed.
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

#include "loader/desired/state.h"
#include "loader/sync/sync.h"
#include "maps/lb.h"
#include "tests/unit/map_fixture.h"

#define MAGLEV_M 251 /* the smallest table: the test is about batches, not Maglev */

/* N frontends 10.96.I/256.I%256:80, frontend I with 1 + I % BACKENDS backends of its own range. */
static void build_many(struct desired_state *out, size_t n, size_t backends)
{
	memset(out, 0, sizeof(*out));
	out->frontends = calloc(n, sizeof(*out->frontends));
	assert_non_null(out->frontends);
	out->n_frontends = n;
	for (size_t i = 0; i < n; i++) {
		struct lb_frontend *f = &out->frontends[i];
		size_t nb = 1 + i % backends;

		f->vip = htonl(0x0a600000u + (uint32_t)i + 16); /* 10.96.0.16 + i */
		f->port = htons(80);
		f->proto = IPPROTO_TCP;
		f->kind = LB_KIND_CLUSTER_IP;
		snprintf(f->name, sizeof(f->name), "bench/svc-%05zu:http", i);
		f->n_backends = nb;
		f->backends = calloc(nb, sizeof(*f->backends));
		assert_non_null(f->backends);
		for (size_t j = 0; j < nb; j++) {
			f->backends[j].address =
			    htonl(0x0af40000u + (uint32_t)(i % 64) * 8 + (uint32_t)j);
			f->backends[j].port = htons(8080);
		}
	}
}

static int setup_maglev(void **state)
{
	static const struct map_fixture_options options = {.maglev_size = MAGLEV_M};

	return map_fixture_setup(state, &options);
}

static int teardown(void **state)
{
	return map_fixture_teardown(state);
}

/* Every entry of map A is in map B with the same value, and both hold as many. */
static void assert_maps_equal(int a, int b, size_t key_size, size_t value_size, const char *name)
{
	static unsigned char va[4 * LB_MAGLEV_SIZE_MAX], vb[4 * LB_MAGLEV_SIZE_MAX];
	unsigned char key[64], next[64];
	size_t n = 0;
	void *prev = NULL;

	assert_true(key_size <= sizeof(key) && value_size <= sizeof(va));
	while (bpf_map_get_next_key(a, prev, next) == 0) {
		memcpy(key, next, key_size);
		prev = key;
		assert_int_equal(bpf_map_lookup_elem(a, key, va), 0);
		if (bpf_map_lookup_elem(b, key, vb)) {
			print_error("%s: entry %zu of one map is missing in the other\n", name, n);
			fail();
		}
		if (memcmp(va, vb, value_size)) {
			print_error("%s: entry %zu differs\n", name, n);
			fail();
		}
		n++;
	}
	assert_int_equal(n, map_fixture_count(b, key_size));
}

/* 600 frontends (ten batch groups) batched, then the same one by one: the same maps. */
static void test_batches_equal_single_writes(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state), *g;
	static const struct map_fixture_options options = {.maglev_size = MAGLEV_M};
	struct desired_state desired;
	struct sync_counts batched, single;
	void *other = NULL;

	assert_int_equal(map_fixture_setup(&other, &options), 0);
	g = other;
	assert_non_null(g);
	sync_set_batch_writes(g->sync, false);
	build_many(&desired, 600, 4);
	assert_int_equal(sync_apply(f->sync, &desired, &batched), 0);
	assert_int_equal(sync_apply(g->sync, &desired, &single), 0);
	assert_int_equal(batched.added, 600);
	assert_int_equal(batched.failed, 0);
	assert_int_equal(single.added, 600);
	assert_int_equal(batched.map_writes, single.map_writes);
	assert_int_equal(batched.backends_added, single.backends_added);
	assert_maps_equal(f->maps.lb4_svc, g->maps.lb4_svc, sizeof(struct lb4_key),
			  sizeof(struct lb4_service), "lb4_svc");
	assert_maps_equal(f->maps.lb4_slots, g->maps.lb4_slots, sizeof(struct lb4_slot_key),
			  sizeof(uint32_t), "lb4_slots");
	assert_maps_equal(f->maps.lb4_maglev, g->maps.lb4_maglev, sizeof(struct lb4_maglev_key),
			  MAGLEV_M * sizeof(uint32_t), "lb4_maglev");
	assert_maps_equal(f->maps.lb4_revnat, g->maps.lb4_revnat, sizeof(uint32_t),
			  sizeof(struct lb4_revnat), "lb4_revnat");
	assert_maps_equal(f->maps.lb4_vips, g->maps.lb4_vips, sizeof(uint32_t),
			  sizeof(struct lb4_vip), "lb4_vips");
	assert_maps_equal(f->maps.lb4_backends, g->maps.lb4_backends, sizeof(uint32_t),
			  sizeof(struct lb4_backend), "lb4_backends");
	/* The batched image is the one the next sync diffs against: nothing to write. */
	assert_int_equal(sync_apply(f->sync, &desired, &batched), 0);
	assert_int_equal(batched.unchanged, 600);
	assert_int_equal(batched.map_writes, 0);
	desired_state_free(&desired);
	map_fixture_teardown(&other);
}

static int setup_small_slots(void **state)
{
	/* Room for the slots of some of the frontends below, not all. */
	static const struct map_fixture_options options = {.maglev_size = MAGLEV_M,
							   .slots_size = 100};

	return map_fixture_setup(state, &options);
}

/*
 * 300 frontends of 1-4 backends do not fit 100 slots: a batch fails part-way. Those it could not
 * write are down whole (no frontend without its slots, table, rev-NAT and VIP); the others serve.
 */
static void test_failed_batch_takes_down_whole_frontends(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct desired_state desired;
	struct sync_counts c;
	size_t live = 0, slots = 0;

	build_many(&desired, 300, 4);
	assert_int_not_equal(sync_apply(f->sync, &desired, &c), 0);
	assert_int_equal(c.added + c.failed, 300);
	assert_true(c.added > 0 && c.failed > 0);
	for (size_t i = 0; i < desired.n_frontends; i++) {
		const struct lb_frontend *fe = &desired.frontends[i];
		struct lb4_key key;
		struct lb4_service svc;
		struct lb4_maglev_key mk;
		struct lb4_revnat revnat;
		static uint32_t table[MAGLEV_M];
		struct lb4_vip vip;

		memset(&key, 0, sizeof(key));
		key.address = fe->vip;
		key.port = fe->port;
		key.proto = fe->proto;
		if (bpf_map_lookup_elem(f->maps.lb4_svc, &key, &svc)) {
			assert_int_not_equal(bpf_map_lookup_elem(f->maps.lb4_vips, &fe->vip, &vip),
					     0);
			continue;
		}
		live++;
		assert_int_equal(svc.count, fe->n_backends);
		for (uint16_t j = 0; j < svc.count; j++) {
			struct lb4_slot_key sk;
			uint32_t id;

			memset(&sk, 0, sizeof(sk));
			sk.svc_id = svc.svc_id;
			sk.index = j;
			sk.gen = svc.gen;
			assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_slots, &sk, &id), 0);
			slots++;
		}
		memset(&mk, 0, sizeof(mk));
		mk.svc_id = svc.svc_id;
		mk.gen = svc.gen;
		assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_maglev, &mk, table), 0);
		assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_revnat, &svc.svc_id, &revnat), 0);
		assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_vips, &fe->vip, &vip), 0);
		assert_int_equal(vip.frontends, 1);
	}
	assert_int_equal(live, c.added);
	/* Nothing of a failed frontend is left behind. */
	assert_int_equal(map_fixture_count(f->maps.lb4_slots, sizeof(struct lb4_slot_key)), slots);
	assert_int_equal(map_fixture_count(f->maps.lb4_maglev, sizeof(struct lb4_maglev_key)),
			 live);
	assert_int_equal(map_fixture_count(f->maps.lb4_revnat, sizeof(uint32_t)), live);
	assert_int_equal(map_fixture_count(f->maps.lb4_vips, sizeof(uint32_t)), live);
	desired_state_free(&desired);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_batches_equal_single_writes, setup_maglev,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failed_batch_takes_down_whole_frontends,
					    setup_small_slots, teardown),
	};

	return cmocka_run_group_tests_name("sync_batch", tests, NULL, NULL);
}
