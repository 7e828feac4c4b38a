// SPDX-License-Identifier: Apache-2.0
/*
 * Maglev backend choice: a frontend with LB_SVC_F_MAGLEV picks table[hash(5-tuple) % M] of its
 * live generation's lb4_maglev entry. Many flows spread over every backend, a 5-tuple always
 * gets the same one (the one the agent's hash predicts), and after a rewrite without one
 * backend only that backend's flows move (and the few entries Maglev itself reassigns).
 */
#include <errno.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "maps/hash.h"
#include "loader/desired/maglev.h"
#include "skel/tc_pod.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define MAGLEV_FLOWS 300 /* ~100 per backend: each gets >= 60 but by a 1e-5 fluke */
#define MAGLEV_M     LB_MAGLEV_SIZE_DEFAULT /* what the fixture's unconfigured object has */

/* Backend ID of the standard topology as the table sees it. */
static struct maglev_backend maglev_backend(__be32 address, uint32_t id)
{
	struct maglev_backend b = {address, TEST_BACKEND_PORT, IPPROTO_TCP, id};

	return b;
}

/* Writes the table of BACKENDS as (TEST_SVC_ID, gen) into lb4_maglev; fills TABLE with it. */
static bool maglev_write(struct fixture *f, uint8_t gen, const struct maglev_backend *backends,
			 size_t n, uint32_t *table)
{
	struct lb4_maglev_key key = {.svc_id = TEST_SVC_ID, .gen = gen};

	return ASSERT_OK(maglev_populate(backends, n, MAGLEV_M, table), "populate table") &&
	       ASSERT_OK(
		   bpf_map_update_elem(bpf_map__fd(f->skel->maps.lb4_maglev), &key, table, BPF_ANY),
		   "write table");
}

/*
 * The standard service as a Maglev frontend with A, B and C in generation 0. Its slots hold C
 * alone, so a program that ignored the table (random over the slots) would send all to C.
 */
static bool maglev_setup(struct fixture *f, uint32_t *table)
{
	const struct maglev_backend all[] = {maglev_backend(TEST_BACKEND_A, TEST_BACKEND_A_ID),
					     maglev_backend(TEST_BACKEND_B, TEST_BACKEND_B_ID),
					     maglev_backend(TEST_BACKEND_C, TEST_BACKEND_C_ID)};

	return fixture_setup(f, IPPROTO_TCP) &&
	       ASSERT_OK(fixture_set_slot(f, TEST_SVC_ID, 0, 0, TEST_BACKEND_C_ID), "slot 0") &&
	       ASSERT_OK(fixture_set_slot(f, TEST_SVC_ID, 0, 1, TEST_BACKEND_C_ID), "slot 1") &&
	       ASSERT_OK(fixture_set_slot(f, TEST_SVC_ID, 0, 2, TEST_BACKEND_C_ID), "slot 2") &&
	       ASSERT_OK(
		   fixture_set_service(f, TEST_VIP, TEST_VIP_PORT, IPPROTO_TCP, TEST_SVC_ID, 3, 0),
		   "service count 3") &&
	       ASSERT_OK(fixture_set_service_options(f, TEST_VIP, TEST_VIP_PORT, IPPROTO_TCP,
						     LB_SVC_F_MAGLEV, 0),
			 "maglev flag") &&
	       maglev_write(f, 0, all, 3, table);
}

static uint16_t maglev_sport(int i)
{
	return (uint16_t)(20000 + i * 7);
}

/* The backend id the agent's side of the hash says flow I gets from TABLE. */
static uint32_t maglev_predict(const uint32_t *table, int i)
{
	__u32 hash = hash_flow4(TEST_CLIENT_IP, TEST_VIP, htons(maglev_sport(i)), TEST_VIP_PORT,
				IPPROTO_TCP);

	return table[hash % MAGLEV_M];
}

static __be32 maglev_address(uint32_t id)
{
	return id == TEST_BACKEND_A_ID	 ? TEST_BACKEND_A
	       : id == TEST_BACKEND_B_ID ? TEST_BACKEND_B
	       : id == TEST_BACKEND_C_ID ? TEST_BACKEND_C
					 : 0;
}

/* Runs flow I (a SYN from its source port); returns the backend it went to, 0 on failure. */
static __be32 maglev_flow(struct fixture *f, int i)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct pkt in, out;
	int verdict;

	spec.sport = htons(maglev_sport(i));
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(fixture_run(f, &in, &out, &verdict), "test run") ||
	    !ASSERT_EQ(verdict, TC_ACT_OK, "verdict"))
		return 0;
	return pkt_ip_daddr(&out);
}

/* Empties ct4, so the next packet of a flow is a new flow again. */
static bool maglev_ct_clear(struct fixture *f)
{
	int fd = bpf_map__fd(f->skel->maps.ct4);
	struct ct4_key key;

	while (bpf_map_get_next_key(fd, NULL, &key) == 0)
		if (bpf_map_delete_elem(fd, &key))
			return ASSERT_OK(-errno, "delete ct4 entry");
	return ASSERT_EQ(fixture_ct_count(f), 0, "ct4 empty");
}

void test_lb_maglev_spread_and_stable(void)
{
	static uint32_t table[MAGLEV_M];
	__be32 first[MAGLEV_FLOWS], again;
	int i, to_a = 0, to_b = 0, to_c = 0, mispredicted = 0, moved = 0;
	struct fixture f = {0};
	char name[96];

	if (!maglev_setup(&f, table))
		goto cleanup;
	for (i = 0; i < MAGLEV_FLOWS; i++) {
		first[i] = maglev_flow(&f, i);
		to_a += first[i] == TEST_BACKEND_A;
		to_b += first[i] == TEST_BACKEND_B;
		to_c += first[i] == TEST_BACKEND_C;
		if (first[i] != maglev_address(maglev_predict(table, i)) && mispredicted++ == 0) {
			snprintf(name, sizeof(name), "flow %d: backend the agent's hash predicts",
				 i);
			ASSERT_IP_EQ(first[i], maglev_address(maglev_predict(table, i)), name);
		}
	}
	ASSERT_EQ(to_a + to_b + to_c, MAGLEV_FLOWS, "flows sent to A, B or C");
	ASSERT_TRUE(to_a >= 60, "backend A has >= 60 of 300 flows");
	ASSERT_TRUE(to_b >= 60, "backend B has >= 60 of 300 flows");
	ASSERT_TRUE(to_c >= 60, "backend C has >= 60 of 300 flows");
	ASSERT_EQ(mispredicted, 0, "flows whose backend differs from the agent's prediction");

	/* The same 5-tuples again, as new flows: the same backends. */
	if (!maglev_ct_clear(&f))
		goto cleanup;
	for (i = 0; i < MAGLEV_FLOWS; i++) {
		again = maglev_flow(&f, i);
		if (again != first[i] && moved++ == 0) {
			snprintf(name, sizeof(name), "flow %d again", i);
			ASSERT_IP_EQ(again, first[i], name);
		}
	}
	ASSERT_EQ(moved, 0, "flows that changed backend on a second run");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 2 * MAGLEV_FLOWS, "stats service_new");
cleanup:
	fixture_close(&f);
}

/*
 * B leaves: the agent writes generation 1 without it and flips. With conntrack cleared every
 * flow is new again: B's flows move to A or C, a flow whose table entry did not change keeps
 * its backend, and the flows of A and C that moved are the few entries Maglev reassigned (none
 * at all here is likely; at most 2 % of them is the bound).
 */
void test_lb_maglev_backend_removed(void)
{
	const struct maglev_backend rest[] = {maglev_backend(TEST_BACKEND_A, TEST_BACKEND_A_ID),
					      maglev_backend(TEST_BACKEND_C, TEST_BACKEND_C_ID)};
	static uint32_t table[MAGLEV_M], table_after[MAGLEV_M];
	__be32 before[MAGLEV_FLOWS], after;
	int i, kept = 0, stayers = 0, needless = 0, wrong = 0;
	struct fixture f = {0};
	char name[96];

	if (!maglev_setup(&f, table))
		goto cleanup;
	for (i = 0; i < MAGLEV_FLOWS; i++)
		before[i] = maglev_flow(&f, i);
	if (!maglev_write(&f, 1, rest, 2, table_after) ||
	    !ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 1, 0, TEST_BACKEND_C_ID), "slot 1/0") ||
	    !ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 1, 1, TEST_BACKEND_C_ID), "slot 1/1") ||
	    !ASSERT_OK(
		fixture_set_service(&f, TEST_VIP, TEST_VIP_PORT, IPPROTO_TCP, TEST_SVC_ID, 2, 1),
		"flip to generation 1") ||
	    !ASSERT_OK(fixture_set_service_options(&f, TEST_VIP, TEST_VIP_PORT, IPPROTO_TCP,
						   LB_SVC_F_MAGLEV, 0),
		       "maglev flag") ||
	    !maglev_ct_clear(&f))
		goto cleanup;
	for (i = 0; i < MAGLEV_FLOWS; i++) {
		bool is_entry_kept = maglev_predict(table, i) == maglev_predict(table_after, i);

		after = maglev_flow(&f, i);
		if (after == TEST_BACKEND_B || !after) {
			if (wrong++ == 0) {
				snprintf(name, sizeof(name), "flow %d after B left", i);
				ASSERT_IP_EQ(after, TEST_BACKEND_A, name);
			}
			continue;
		}
		if (before[i] == TEST_BACKEND_B)
			continue;
		stayers++;
		kept += after == before[i];
		needless += after != before[i];
		if (is_entry_kept && after != before[i] && wrong++ == 0) {
			snprintf(name, sizeof(name), "flow %d (table entry unchanged)", i);
			ASSERT_IP_EQ(after, before[i], name);
		}
	}
	ASSERT_EQ(wrong, 0, "flows sent to B, dropped, or moved with an unchanged entry");
	ASSERT_TRUE(stayers >= 2 * MAGLEV_FLOWS / 3 - 60, "flows on A and C before");
	ASSERT_TRUE(needless * 50 <= stayers, "flows of A and C that moved: at most 2 %");
cleanup:
	fixture_close(&f);
}

/* A Maglev frontend without a table (just after M changed) falls back to its slots. */
void test_lb_maglev_missing_table_uses_slots(void)
{
	static uint32_t table[MAGLEV_M];
	struct lb4_maglev_key key = {.svc_id = TEST_SVC_ID, .gen = 0};
	struct fixture f = {0};
	int i, to_c = 0;

	if (!maglev_setup(&f, table) ||
	    !ASSERT_OK(bpf_map_delete_elem(bpf_map__fd(f.skel->maps.lb4_maglev), &key),
		       "delete table"))
		goto cleanup;
	for (i = 0; i < 16; i++)
		to_c += maglev_flow(&f, i) == TEST_BACKEND_C;
	ASSERT_EQ(to_c, 16, "flows sent to C, the only backend in the slots");
cleanup:
	fixture_close(&f);
}
