// SPDX-License-Identifier: Apache-2.0
/* Hairpin: a pod picked as its own service's backend sees the flow from hairpin_ip, and back. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

void test_lb_hairpin(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP), want;
	struct fixture f = {0};
	struct pkt in, out, expected;
	struct ct_entry entry;
	int verdict;

	/* Backend A's own pod is the client. */
	memcpy(spec.src_mac, test_backend_a_mac, 6);
	memcpy(spec.dst_mac, test_backend_a_host_mac, 6);
	spec.saddr = TEST_BACKEND_A;
	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	if (!ASSERT_OK(fixture_set_endpoint(&f, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					    test_backend_a_mac, test_backend_a_host_mac),
		       "seed ep4 for backend A"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run client packet"))
		goto cleanup;

	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "verdict (back into the same pod)");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_HAIRPIN_IP, "ip.saddr (hairpin_ip)");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr");
	ASSERT_PORT_EQ(pkt_l4_sport(&out), TEST_CLIENT_PORT, "tcp.source");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_BACKEND_PORT, "tcp.dest");
	ASSERT_CSUMS_OK(out.data, out.len, "hairpinned packet");
	want = spec;
	memcpy(want.src_mac, test_backend_a_host_mac, 6);
	memcpy(want.dst_mac, test_backend_a_mac, 6);
	want.saddr = TEST_HAIRPIN_IP;
	want.daddr = TEST_BACKEND_A;
	want.dport = TEST_BACKEND_PORT;
	if (ASSERT_OK(pkt_build(&expected, &want), "build expected packet"))
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len, "hairpinned packet");

	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_BACKEND_A, TEST_VIP, TEST_CLIENT_PORT,
					TEST_VIP_PORT, IPPROTO_TCP, &entry),
		      "forward ct entry {client, VIP, cport, vport}")) {
		ASSERT_IP_EQ(entry.nat_daddr, TEST_BACKEND_A, "forward ct nat_daddr");
		ASSERT_PORT_EQ(entry.nat_dport, TEST_BACKEND_PORT, "forward ct nat_dport");
		ASSERT_IP_EQ(entry.nat_saddr, TEST_HAIRPIN_IP, "forward ct nat_saddr");
		ASSERT_EQ(entry.flags & CT_F_REPLY, 0, "forward ct CT_F_REPLY");
	}
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_BACKEND_A, TEST_HAIRPIN_IP, TEST_BACKEND_PORT,
					TEST_CLIENT_PORT, IPPROTO_TCP, &entry),
		      "reply ct entry {backend, hairpin_ip, bport, cport}")) {
		ASSERT_EQ(entry.flags & (CT_F_REPLY | CT_F_HAIRPIN), CT_F_REPLY | CT_F_HAIRPIN,
			  "reply ct flags");
		ASSERT_IP_EQ(entry.nat_daddr, TEST_BACKEND_A, "reply ct nat_daddr (the client)");
		ASSERT_EQ(entry.svc_id, TEST_SVC_ID, "reply ct svc_id");
	}
	ASSERT_EQ(fixture_stat(&f, STAT_HAIRPIN), 1, "stats hairpin");

	/* The flow's next packet follows the forward entry, hairpin source included. */
	spec.tcp_flags = PKT_TCP_ACK;
	spec.tcp_seq = htonl(1001);
	want.tcp_flags = PKT_TCP_ACK;
	want.tcp_seq = htonl(1001);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build second packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run second packet"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "second packet verdict");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_HAIRPIN_IP, "second packet ip.saddr (hairpin_ip)");
	ASSERT_CSUMS_OK(out.data, out.len, "second hairpinned packet");
	if (ASSERT_OK(pkt_build(&expected, &want), "build expected second packet"))
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len,
			      "second hairpinned packet");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_FORWARD), 1, "stats ct_forward");

	/* The pod answers hairpin_ip; it must get VIP:port -> itself. */
	spec = fixture_reply_spec(IPPROTO_TCP);
	spec.daddr = TEST_HAIRPIN_IP;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build reply") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run reply"))
		goto cleanup;
	ASSERT_TRUE(verdict == TC_ACT_OK || verdict == TC_ACT_REDIRECT,
		    "reply verdict is TC_ACT_OK or TC_ACT_REDIRECT");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_VIP, "reply ip.saddr");
	ASSERT_PORT_EQ(pkt_l4_sport(&out), TEST_VIP_PORT, "reply tcp.source");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "reply ip.daddr (the client)");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_CLIENT_PORT, "reply tcp.dest");
	ASSERT_CSUMS_OK(out.data, out.len, "hairpinned reply");
	want = spec;
	if (verdict == TC_ACT_REDIRECT) {
		memcpy(want.src_mac, test_backend_a_host_mac, 6);
		memcpy(want.dst_mac, test_backend_a_mac, 6);
	}
	want.saddr = TEST_VIP;
	want.sport = TEST_VIP_PORT;
	want.daddr = TEST_BACKEND_A;
	if (ASSERT_OK(pkt_build(&expected, &want), "build expected reply"))
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len, "hairpinned reply");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_REPLY), 1, "stats ct_reply");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}
