// SPDX-License-Identifier: Apache-2.0
/* sessionAffinity ClientIP: a client's new flows stick to one backend until the entry expires. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <stdio.h>

#include "skel/tc_pod.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define AFFINITY_FLOWS 32 /* chance that random choice over 2 backends agrees by luck: 2^-31 */

/* A and B live in generation 0 (count 2), affinity with the given timeout. */
static bool affinity_setup(struct fixture *f, uint32_t timeout_s)
{
	return fixture_setup(f, IPPROTO_TCP) &&
	       ASSERT_OK(
		   fixture_set_service(f, TEST_VIP, TEST_VIP_PORT, IPPROTO_TCP, TEST_SVC_ID, 2, 0),
		   "service count 2") &&
	       ASSERT_OK(fixture_set_service_options(f, TEST_VIP, TEST_VIP_PORT, IPPROTO_TCP,
						     LB_SVC_F_AFFINITY, timeout_s),
			 "affinity flag");
}

/* Runs one new flow from sport; returns the backend it went to (0 on failure). */
static __be32 affinity_flow(struct fixture *f, __be32 saddr, uint16_t sport)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct pkt in, out;
	int verdict;

	spec.saddr = saddr;
	spec.sport = htons(sport);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(fixture_run(f, &in, &out, &verdict), "test run"))
		return 0;
	return pkt_ip_daddr(&out);
}

void test_lb_affinity_sticks(void)
{
	struct lb4_affinity_key key = {.svc_id = TEST_SVC_ID, .client = TEST_CLIENT_IP};
	struct lb4_affinity entry;
	struct fixture f = {0};
	__be32 first, backend;
	int i, moved = 0;

	if (!affinity_setup(&f, 10800))
		goto cleanup;
	first = affinity_flow(&f, TEST_CLIENT_IP, 41000);
	if (!ASSERT_TRUE(first == TEST_BACKEND_A || first == TEST_BACKEND_B,
			 "first flow to A or B"))
		goto cleanup;
	for (i = 1; i < AFFINITY_FLOWS; i++) {
		backend = affinity_flow(&f, TEST_CLIENT_IP, (uint16_t)(41000 + i));
		if (backend != first && moved++ == 0)
			ASSERT_IP_EQ(backend, first, "a later flow of the same client");
	}
	ASSERT_EQ(moved, 0, "flows that left the client's backend");
	if (ASSERT_OK(bpf_map_lookup_elem(bpf_map__fd(f.skel->maps.lb4_affinity), &key, &entry),
		      "affinity entry of the client"))
		ASSERT_EQ(entry.backend_id,
			  first == TEST_BACKEND_A ? TEST_BACKEND_A_ID : TEST_BACKEND_B_ID,
			  "affinity entry's backend");
cleanup:
	fixture_close(&f);
}

/* An entry older than the timeout is ignored: the flow is balanced over the live set. */
void test_lb_affinity_expires(void)
{
	struct lb4_affinity_key key = {.svc_id = TEST_SVC_ID, .client = TEST_CLIENT_IP};
	/* Backend C is in lb4_backends but outside the live set: only a stale entry leads there. */
	struct lb4_affinity stale = {.last_used_ns = 1, .backend_id = TEST_BACKEND_C_ID};
	struct fixture f = {0};
	__be32 backend;
	int i, to_c = 0;

	if (!affinity_setup(&f, 1) ||
	    !ASSERT_OK(
		bpf_map_update_elem(bpf_map__fd(f.skel->maps.lb4_affinity), &key, &stale, BPF_ANY),
		"seed a stale affinity entry"))
		goto cleanup;
	for (i = 0; i < 8; i++) {
		backend = affinity_flow(&f, TEST_CLIENT_IP, (uint16_t)(42000 + i));
		if (backend == TEST_BACKEND_C && to_c++ == 0)
			ASSERT_TRUE(backend != TEST_BACKEND_C, "flow sent by an expired entry");
	}
	ASSERT_EQ(to_c, 0, "flows sent to the expired entry's backend");
cleanup:
	fixture_close(&f);
}
