// SPDX-License-Identifier: Apache-2.0
/* Backends come only from slots 0..count-1 of the live generation, and every one is used. */
#include <stdio.h>

#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define SELECTION_FLOWS 64 /* chance that 2 backends get all of them by luck alone: 2^-63 */

void test_lb_backend_selection(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	struct pkt in, out;
	int verdict, i, to_a = 0, to_b = 0, elsewhere = 0, errors = 0;
	char name[96];
	__be32 daddr;

	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	/* Generation 1 is live with A and B; C sits in generation 0 and at index 2 (>= count). */
	if (!ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 1, 0, TEST_BACKEND_A_ID), "slot 1/0") ||
	    !ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 1, 1, TEST_BACKEND_B_ID), "slot 1/1") ||
	    !ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 1, 2, TEST_BACKEND_C_ID), "slot 1/2") ||
	    !ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 0, 0, TEST_BACKEND_C_ID), "slot 0/0") ||
	    !ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 0, 1, TEST_BACKEND_C_ID), "slot 0/1") ||
	    !ASSERT_OK(
		fixture_set_service(&f, TEST_VIP, TEST_VIP_PORT, IPPROTO_TCP, TEST_SVC_ID, 2, 1),
		"service count 2, generation 1"))
		goto cleanup;

	for (i = 0; i < SELECTION_FLOWS; i++) {
		spec.sport = htons((uint16_t)(41000 + i));
		if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
		    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
			goto cleanup;
		daddr = pkt_ip_daddr(&out);
		if (daddr == TEST_BACKEND_A)
			to_a++;
		else if (daddr == TEST_BACKEND_B)
			to_b++;
		else if (elsewhere++ == 0)
			ASSERT_IP_EQ(daddr, TEST_BACKEND_A, "ip.daddr of a flow (A or B)");
		if (errors == 0 &&
		    (verdict != TC_ACT_OK || pkt_l4_dport(&out) != TEST_BACKEND_PORT ||
		     !pkt_verify(out.data, out.len, NULL, 0))) {
			errors++;
			snprintf(name, sizeof(name), "flow from port %d", 41000 + i);
			ASSERT_EQ(verdict, TC_ACT_OK, name);
			ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_BACKEND_PORT, name);
			ASSERT_CSUMS_OK(out.data, out.len, name);
		}
	}
	ASSERT_EQ(elsewhere, 0, "flows sent outside {A, B}");
	ASSERT_TRUE(to_a > 0, "backend A chosen by some flow");
	ASSERT_TRUE(to_b > 0, "backend B chosen by some flow");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), SELECTION_FLOWS, "stats service_new");
	ASSERT_EQ(fixture_ct_count(&f), 2 * SELECTION_FLOWS, "ct entries");
cleanup:
	fixture_close(&f);
}
