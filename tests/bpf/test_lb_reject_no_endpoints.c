// SPDX-License-Identifier: Apache-2.0
/* A service without endpoints answers ICMP port unreachable from the VIP, as kube-proxy does. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define QUOTED_LEN (20 + 8) /* original IPv4 header + first 8 bytes of L4 (RFC 792) */
#define REJECT_LEN (PKT_L4_OFF + 8 + QUOTED_LEN)

static void check_reject(uint8_t proto, size_t payload_len)
{
	static const uint8_t payload[1000];
	struct pkt_spec spec = fixture_client_spec(proto);
	struct fixture f = {0};
	struct pkt in, out;
	int verdict;

	if (payload_len) {
		spec.payload = payload;
		spec.payload_len = payload_len;
	}
	if (!fixture_setup(&f, proto))
		goto cleanup;
	if (!ASSERT_OK(fixture_set_service(&f, TEST_VIP, TEST_VIP_PORT, proto, TEST_SVC_ID, 0, 0),
		       "service with count 0"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
		goto cleanup;

	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "verdict (back out of the ingress veth)");
	ASSERT_EQ(out.len, REJECT_LEN, "reject frame length");
	ASSERT_MEM_EQ(out.data, test_client_mac, 6, "eth.dst (the client)");
	ASSERT_MEM_EQ(out.data + 6, test_gateway_mac, 6, "eth.src (the client's gateway)");
	ASSERT_EQ(pkt_get16(&out, 12), htons(0x0800), "eth.proto");
	if (out.len < PKT_L4_OFF + 8)
		goto cleanup;
	ASSERT_EQ(out.data[PKT_IP_OFF], 0x45, "ip version/ihl");
	ASSERT_EQ(ntohs(pkt_get16(&out, PKT_IP_OFF + 2)), out.len - PKT_IP_OFF, "ip.tot_len");
	ASSERT_EQ(ntohs(pkt_get16(&out, PKT_IP_OFF + 6)) & 0x3fff, 0, "ip.frag_off (no fragment)");
	ASSERT_NEQ(out.data[PKT_IP_OFF + 8], 0, "ip.ttl");
	ASSERT_EQ(pkt_ip_proto(&out), IPPROTO_ICMP, "ip.protocol");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_VIP, "ip.saddr (the VIP)");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_CLIENT_IP, "ip.daddr (the client)");
	ASSERT_EQ(out.data[PKT_L4_OFF], 3, "icmp.type (destination unreachable)");
	ASSERT_EQ(out.data[PKT_L4_OFF + 1], 3, "icmp.code (port unreachable)");
	ASSERT_EQ(pkt_get32(&out, PKT_L4_OFF + 4), 0, "icmp.rest (unused, zero)");
	ASSERT_CSUMS_OK(out.data, out.len, "reject");
	if (out.len >= REJECT_LEN)
		ASSERT_MEM_EQ(out.data + PKT_L4_OFF + 8, in.data + PKT_IP_OFF, QUOTED_LEN,
			      "icmp payload (quoted original header + 8 bytes)");

	ASSERT_EQ(fixture_stat(&f, STAT_REJECT), 1, "stats reject_no_endpoints");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 0, "stats service_new");
	ASSERT_EQ(fixture_ct_count(&f), 0, "ct entries");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

/* The 54-byte SYN grows to the 70-byte reject. */
void test_lb_reject_tcp(void)
{
	check_reject(IPPROTO_TCP, 0);
}

void test_lb_reject_udp(void)
{
	check_reject(IPPROTO_UDP, 0);
}

/* A 1042-byte datagram shrinks to the 70-byte reject, quoting only its first 28 IP bytes. */
void test_lb_reject_udp_large(void)
{
	check_reject(IPPROTO_UDP, 1000);
}
