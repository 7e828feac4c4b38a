// SPDX-License-Identifier: Apache-2.0
/* Established flow: later packets follow the conntrack entry, not the (changed) slots. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

static void check_established(uint8_t proto)
{
	struct pkt_spec spec = fixture_client_spec(proto), want;
	struct fixture f = {0};
	struct pkt in, out, expected;
	int verdict;

	if (!fixture_setup(&f, proto))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build first packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run first packet"))
		goto cleanup;
	if (!ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "first packet ip.daddr"))
		goto cleanup;

	/* The EndpointSlice changed: slot 0 now names B. The open flow must stay on A. */
	if (!ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 0, 0, TEST_BACKEND_B_ID), "move slot 0"))
		goto cleanup;
	spec.tcp_flags = PKT_TCP_ACK;
	spec.tcp_seq = htonl(1001);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build second packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run second packet"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "second packet verdict");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "second packet ip.daddr (ct backend)");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_BACKEND_PORT, "second packet dport");
	ASSERT_CSUMS_OK(out.data, out.len, "second packet");
	want = spec;
	want.daddr = TEST_BACKEND_A;
	want.dport = TEST_BACKEND_PORT;
	if (ASSERT_OK(pkt_build(&expected, &want), "build expected packet"))
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len, "second packet");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_FORWARD), 1, "stats ct_forward");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 1, "stats service_new after 2 packets");
	ASSERT_EQ(fixture_ct_count(&f), 2, "ct entries after 2 packets");

	/* Control: a new flow does see the moved slot, so the check above can fail. */
	spec.sport = htons(40001);
	spec.tcp_flags = PKT_TCP_SYN;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build new-flow packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run new-flow packet"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_B, "new flow ip.daddr (moved slot)");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 2, "stats service_new after the new flow");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

void test_ct_established_tcp(void)
{
	check_established(IPPROTO_TCP);
}

void test_ct_established_udp(void)
{
	check_established(IPPROTO_UDP);
}
