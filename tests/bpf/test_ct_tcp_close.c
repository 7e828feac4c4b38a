// SPDX-License-Identifier: Apache-2.0
/* FIN marks both directions closing; the tuple's next SYN is a new connection and chooses again. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

static bool send_client(struct fixture *f, uint8_t tcp_flags, uint32_t seq, struct pkt *out,
			const char *what)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct pkt in;
	int verdict;

	spec.tcp_flags = tcp_flags;
	spec.tcp_seq = htonl(seq);
	return ASSERT_OK(pkt_build(&in, &spec), what) &&
	       ASSERT_OK(fixture_run(f, &in, out, &verdict), what) &&
	       ASSERT_EQ(verdict, TC_ACT_OK, what) && ASSERT_CSUMS_OK(out->data, out->len, what);
}

void test_ct_tcp_fin_then_new_syn(void)
{
	struct fixture f = {0};
	struct ct_entry forward, reply;
	struct pkt out;

	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	if (!send_client(&f, PKT_TCP_SYN, 1000, &out, "SYN") ||
	    !ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "SYN ip.daddr") ||
	    !send_client(&f, PKT_TCP_FIN | PKT_TCP_ACK, 1001, &out, "FIN"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "FIN ip.daddr");
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					TEST_VIP_PORT, IPPROTO_TCP, &forward),
		      "forward ct entry after FIN"))
		ASSERT_TRUE(forward.flags & CT_F_CLOSING, "forward entry CT_F_CLOSING after FIN");
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_BACKEND_A, TEST_CLIENT_IP, TEST_BACKEND_PORT,
					TEST_CLIENT_PORT, IPPROTO_TCP, &reply),
		      "reply ct entry after FIN"))
		ASSERT_TRUE(reply.flags & CT_F_CLOSING, "reply entry CT_F_CLOSING after FIN");

	/* Slot 0 now names B: the closing flow's last ACK stays, a new SYN moves. */
	if (!ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 0, 0, TEST_BACKEND_B_ID), "move slot 0") ||
	    !send_client(&f, PKT_TCP_ACK, 1002, &out, "last ACK"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "last ACK ip.daddr");
	if (!send_client(&f, PKT_TCP_SYN, 9000, &out, "new SYN on the same tuple"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_B, "new SYN ip.daddr (chosen again)");
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					TEST_VIP_PORT, IPPROTO_TCP, &forward),
		      "forward ct entry after the new SYN")) {
		ASSERT_IP_EQ(forward.nat_daddr, TEST_BACKEND_B, "forward ct nat_daddr");
		ASSERT_FALSE(forward.flags & CT_F_CLOSING, "forward entry CT_F_CLOSING");
	}
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 2, "stats service_new");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_FORWARD), 2, "stats ct_forward");
cleanup:
	fixture_close(&f);
}
