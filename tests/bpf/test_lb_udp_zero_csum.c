// SPDX-License-Identifier: Apache-2.0
/* UDP sent without a checksum (0) keeps 0 after DNAT: an update would invent a wrong one. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

void test_lb_udp_zero_csum_kept(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_UDP), want;
	struct fixture f = {0};
	struct pkt in, out, expected;
	int verdict;

	spec.udp_no_csum = true;
	if (!fixture_setup(&f, IPPROTO_UDP))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet"))
		goto cleanup;
	if (!ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
		goto cleanup;

	ASSERT_EQ(verdict, TC_ACT_OK, "verdict");
	ASSERT_EQ(pkt_udp_check(&out), 0, "udp.check");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_BACKEND_PORT, "udp.dest");
	ASSERT_CSUMS_OK(out.data, out.len, "rewritten packet");
	want = spec;
	want.daddr = TEST_BACKEND_A;
	want.dport = TEST_BACKEND_PORT;
	if (ASSERT_OK(pkt_build(&expected, &want), "build expected packet"))
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len, "rewritten packet");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 1, "stats service_new");
cleanup:
	fixture_close(&f);
}
