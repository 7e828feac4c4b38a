// SPDX-License-Identifier: Apache-2.0
/* Reply from the backend: the source becomes the VIP:port again, checksums stay valid. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

static void check_reply(uint8_t proto)
{
	struct pkt_spec client = fixture_client_spec(proto), spec = fixture_reply_spec(proto), want;
	struct fixture f = {0};
	struct pkt in, out, expected;
	int verdict;

	if (!fixture_setup(&f, proto) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod on this node"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &client), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run client packet"))
		goto cleanup;
	if (!ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "client packet ip.daddr"))
		goto cleanup;

	if (!ASSERT_OK(pkt_build(&in, &spec), "build reply") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run reply"))
		goto cleanup;
	/* The client sent from a pod's veth: its reply goes straight back into that pod. */
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "reply verdict");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_VIP, "reply ip.saddr");
	ASSERT_PORT_EQ(pkt_l4_sport(&out), TEST_VIP_PORT, "reply sport");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_CLIENT_IP, "reply ip.daddr");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_CLIENT_PORT, "reply dport");
	ASSERT_CSUMS_OK(out.data, out.len, "reply");
	want = spec;
	memcpy(want.src_mac, test_gateway_mac, 6);
	memcpy(want.dst_mac, test_client_mac, 6);
	want.saddr = TEST_VIP;
	want.sport = TEST_VIP_PORT;
	if (ASSERT_OK(pkt_build(&expected, &want), "build expected reply"))
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len, "reply");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_REPLY), 1, "stats ct_reply");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 1, "stats service_new");
	ASSERT_EQ(fixture_stat(&f, STAT_PASS), 0, "stats pass");
	ASSERT_EQ(fixture_ct_count(&f), 2, "ct entries (the reply creates none)");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

void test_ct_reply_tcp(void)
{
	check_reply(IPPROTO_TCP);
}

void test_ct_reply_udp(void)
{
	check_reply(IPPROTO_UDP);
}
