// SPDX-License-Identifier: Apache-2.0
/* ICMP errors from a backend about a translated flow are translated back to the VIP. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define QUOTED_LEN (20 + 8)
#define INNER_OFF  (PKT_L4_OFF + 8) /* quoted IPv4 header in an ICMP error frame */

/* An ICMP error from backend A to the client quoting the first QUOTED_LEN bytes of ip. */
static int build_error(struct pkt *p, uint8_t code, const uint8_t *quoted_ip)
{
	struct pkt_spec spec = fixture_reply_spec(IPPROTO_ICMP);

	spec.icmp_type = 3; /* destination unreachable */
	spec.icmp_code = code;
	spec.sport = spec.dport = 0;
	spec.payload = quoted_ip;
	spec.payload_len = QUOTED_LEN;
	return pkt_build(p, &spec);
}

static void check_icmp_error_xlate(uint8_t proto, uint8_t code)
{
	struct pkt_spec client = fixture_client_spec(proto);
	struct fixture f = {0};
	struct pkt original, translated, in, out, expected;
	int verdict;

	if (!fixture_setup(&f, proto) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod on this node"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&original, &client), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &original, &translated, &verdict), "run client packet"))
		goto cleanup;
	if (!ASSERT_IP_EQ(pkt_ip_daddr(&translated), TEST_BACKEND_A, "client packet ip.daddr"))
		goto cleanup;

	/* Backend A refuses the packet it received (client -> A:bport) and tells the client. */
	if (!ASSERT_OK(build_error(&in, code, translated.data + PKT_IP_OFF), "build ICMP error") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run ICMP error"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "verdict (into the client's pod)");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_VIP, "ip.saddr (the VIP)");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_CLIENT_IP, "ip.daddr");
	ASSERT_IP_EQ(pkt_get32(&out, INNER_OFF + 16), TEST_VIP, "icmp.inner.ip.daddr");
	ASSERT_IP_EQ(pkt_get32(&out, INNER_OFF + 12), TEST_CLIENT_IP, "icmp.inner.ip.saddr");
	ASSERT_PORT_EQ(pkt_get16(&out, INNER_OFF + 22), TEST_VIP_PORT, "icmp.inner dport");
	ASSERT_PORT_EQ(pkt_get16(&out, INNER_OFF + 20), TEST_CLIENT_PORT, "icmp.inner sport");
	ASSERT_CSUMS_OK(out.data, out.len, "translated ICMP error (outer, ICMP and inner IP)");

	/* The client must see exactly the error about the packet it sent to the VIP. */
	if (ASSERT_OK(build_error(&expected, code, original.data + PKT_IP_OFF),
		      "build expected ICMP error")) {
		memcpy(expected.data + PKT_IP_OFF + 12, &(__be32){TEST_VIP}, 4);
		memcpy(expected.data, test_client_mac, 6);
		memcpy(expected.data + 6, test_gateway_mac, 6);
		if (proto == IPPROTO_UDP && out.len >= INNER_OFF + 28)
			/* The quoted UDP checksum cannot be checked by the client (truncated
			 * datagram): updating it or not are both fine. */
			memcpy(expected.data + INNER_OFF + 26, out.data + INNER_OFF + 26, 2);
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len,
			      "translated ICMP error");
	}
	ASSERT_EQ(fixture_stat(&f, STAT_ICMP_XLATE), 1, "stats icmp_translated");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

void test_icmp_error_xlate_tcp(void)
{
	check_icmp_error_xlate(IPPROTO_TCP, 1 /* host unreachable */);
}

void test_icmp_error_xlate_udp(void)
{
	check_icmp_error_xlate(IPPROTO_UDP, 3 /* port unreachable */);
}

/* An ICMP error about a flow conntrack never saw (client -> A:9999 directly) passes untouched. */
void test_icmp_error_untracked_pass(void)
{
	struct pkt_spec direct = fixture_client_spec(IPPROTO_UDP);
	struct fixture f = {0};
	struct pkt quoted, in;

	direct.daddr = TEST_BACKEND_A;
	direct.dport = htons(9999);
	if (!fixture_setup(&f, IPPROTO_UDP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod on this node"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&quoted, &direct), "build quoted packet") ||
	    !ASSERT_OK(build_error(&in, 3, quoted.data + PKT_IP_OFF), "build ICMP error"))
		goto cleanup;
	fixture_expect_untouched(&f, &in, TC_ACT_OK, "untracked ICMP error");
	ASSERT_EQ(fixture_stat(&f, STAT_ICMP_XLATE), 0, "stats icmp_translated");
cleanup:
	fixture_close(&f);
}

/*
 * The client closed its UDP socket and answers the backend's (translated) reply with port
 * unreachable, to the VIP: the error must reach backend A, quoting A:bport -> client.
 */
void test_icmp_error_from_client_xlate(void)
{
	struct pkt_spec client = fixture_client_spec(IPPROTO_UDP);
	struct pkt_spec reply = fixture_reply_spec(IPPROTO_UDP), spec;
	struct fixture f = {0};
	struct pkt first, seen_by_client, in, out, expected, quoted_by_backend;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_UDP))
		goto cleanup;
	/*
	 * Backend A's reply comes in on its own veth, so A is registered; only after the client's
	 * packet, whose forward entry then keeps routing to A: what follows checks the error's
	 * translation and routed delivery.
	 */
	if (!ASSERT_OK(pkt_build(&in, &client), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &first, &verdict), "run client packet") ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod on this node") ||
	    !ASSERT_OK(pkt_build(&in, &reply), "build reply") ||
	    !ASSERT_OK(fixture_run(&f, &in, &seen_by_client, &verdict), "run reply"))
		goto cleanup;
	if (!ASSERT_IP_EQ(pkt_ip_saddr(&seen_by_client), TEST_VIP, "reply ip.saddr"))
		goto cleanup;

	spec = fixture_client_spec(IPPROTO_ICMP);
	spec.icmp_type = 3;
	spec.icmp_code = 3;
	spec.sport = spec.dport = 0;
	spec.payload = seen_by_client.data + PKT_IP_OFF;
	spec.payload_len = QUOTED_LEN;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build ICMP error") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run ICMP error"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_CLIENT_IP, "ip.saddr");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr (the backend)");
	ASSERT_IP_EQ(pkt_get32(&out, INNER_OFF + 12), TEST_BACKEND_A, "icmp.inner.ip.saddr");
	ASSERT_PORT_EQ(pkt_get16(&out, INNER_OFF + 20), TEST_BACKEND_PORT, "icmp.inner sport");
	ASSERT_IP_EQ(pkt_get32(&out, INNER_OFF + 16), TEST_CLIENT_IP, "icmp.inner.ip.daddr");
	ASSERT_PORT_EQ(pkt_get16(&out, INNER_OFF + 22), TEST_CLIENT_PORT, "icmp.inner dport");
	ASSERT_CSUMS_OK(out.data, out.len, "translated ICMP error");

	/* What the backend sent, quoted back to it (its UDP checksum aside, as above). */
	if (!ASSERT_OK(pkt_build(&quoted_by_backend, &reply), "build backend's reply"))
		goto cleanup;
	spec.daddr = TEST_BACKEND_A;
	spec.payload = quoted_by_backend.data + PKT_IP_OFF;
	if (ASSERT_OK(pkt_build(&expected, &spec), "build expected ICMP error")) {
		if (out.len >= INNER_OFF + 28)
			memcpy(expected.data + INNER_OFF + 26, out.data + INNER_OFF + 26, 2);
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len,
			      "translated ICMP error");
	}
	ASSERT_EQ(fixture_stat(&f, STAT_ICMP_XLATE), 1, "stats icmp_translated");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

/* Hairpin: the pod, as backend, refuses what it got from hairpin_ip; as client it must see
 * an error from the VIP about the packet it sent to the VIP. */
void test_icmp_error_hairpin_xlate(void)
{
	struct pkt_spec client = fixture_client_spec(IPPROTO_UDP), spec, want;
	struct fixture f = {0};
	struct pkt original, hairpinned, in, out, expected;
	int verdict;

	memcpy(client.src_mac, test_backend_a_mac, 6);
	memcpy(client.dst_mac, test_backend_a_host_mac, 6);
	client.saddr = TEST_BACKEND_A;
	if (!fixture_setup(&f, IPPROTO_UDP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod on this node"))
		goto cleanup;
	if (!ASSERT_OK(fixture_set_endpoint(&f, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					    test_backend_a_mac, test_backend_a_host_mac),
		       "seed ep4 for backend A"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&original, &client), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &original, &hairpinned, &verdict), "run client packet"))
		goto cleanup;
	if (!ASSERT_IP_EQ(pkt_ip_saddr(&hairpinned), TEST_HAIRPIN_IP, "hairpinned ip.saddr"))
		goto cleanup;

	spec = fixture_reply_spec(IPPROTO_ICMP);
	spec.daddr = TEST_HAIRPIN_IP;
	spec.icmp_type = 3;
	spec.icmp_code = 3;
	spec.sport = spec.dport = 0;
	spec.payload = hairpinned.data + PKT_IP_OFF;
	spec.payload_len = QUOTED_LEN;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build ICMP error") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run ICMP error"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "verdict (back into the pod)");
	ASSERT_CSUMS_OK(out.data, out.len, "translated ICMP error");
	want = spec;
	memcpy(want.src_mac, test_backend_a_host_mac, 6);
	memcpy(want.dst_mac, test_backend_a_mac, 6);
	want.saddr = TEST_VIP;
	want.daddr = TEST_BACKEND_A;
	want.payload = original.data + PKT_IP_OFF;
	if (ASSERT_OK(pkt_build(&expected, &want), "build expected ICMP error")) {
		if (out.len >= INNER_OFF + 28)
			memcpy(expected.data + INNER_OFF + 26, out.data + INNER_OFF + 26, 2);
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len,
			      "translated ICMP error");
	}
	ASSERT_EQ(fixture_stat(&f, STAT_ICMP_XLATE), 1, "stats icmp_translated");
cleanup:
	fixture_close(&f);
}
