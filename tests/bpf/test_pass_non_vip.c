// SPDX-License-Identifier: Apache-2.0
/* Anything that is not service traffic leaves the program byte for byte as it came in. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

/* Runs spec through a program with the standard TCP service and expects it untouched. */
static void check_spec_passes(const struct pkt_spec *spec, uint8_t service_proto, const char *what)
{
	struct fixture f = {0};
	struct pkt in;

	/* Backend A is a pod on this node: a packet from it comes in on its own veth. */
	if (!fixture_setup(&f, service_proto) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod on this node"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, spec), "build packet"))
		goto cleanup;
	fixture_expect_untouched(&f, &in, TC_ACT_OK, what);
	ASSERT_EQ(fixture_stat(&f, STAT_PASS), 1, "stats pass");
	ASSERT_EQ(fixture_stats_total(&f), 1,
		  "stats over every outcome (one packet, counted once)");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

void test_pass_other_dst(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);

	spec.daddr = TEST_OTHER_IP;
	check_spec_passes(&spec, IPPROTO_TCP, "TCP to a non-VIP address, VIP port");
}

void test_pass_other_port(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);

	spec.dport = htons(81);
	check_spec_passes(&spec, IPPROTO_TCP, "TCP to the VIP, port 81");
}

void test_pass_other_proto(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_UDP);

	check_spec_passes(&spec, IPPROTO_TCP, "UDP to the VIP:port of a TCP-only service");
}

void test_pass_icmp_echo_to_vip(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_ICMP);

	spec.icmp_type = 8; /* echo request */
	spec.sport = htons(0x1234);
	spec.dport = htons(1);
	check_spec_passes(&spec, IPPROTO_TCP, "ICMP echo to the VIP");
}

void test_pass_direct_to_pod(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);

	spec.daddr = TEST_BACKEND_A;
	spec.dport = TEST_BACKEND_PORT;
	check_spec_passes(&spec, IPPROTO_TCP, "TCP straight to backend A's pod IP");
}

/* Looks like a backend reply, but conntrack never saw the flow: not ours to rewrite. */
void test_pass_reply_without_ct(void)
{
	struct pkt_spec spec = fixture_reply_spec(IPPROTO_TCP);

	check_spec_passes(&spec, IPPROTO_TCP, "backend reply without a ct entry");
}

static void check_raw_passes(uint16_t ethertype, const uint8_t *l3, size_t l3_len, const char *what)
{
	struct fixture f = {0};
	struct pkt in;

	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	if (!ASSERT_OK(pkt_build_raw(&in, test_gateway_mac, test_client_mac, ethertype, l3, l3_len),
		       "build frame"))
		goto cleanup;
	fixture_expect_untouched(&f, &in, TC_ACT_OK, what);
	ASSERT_EQ(fixture_stat(&f, STAT_PASS), 1, "stats pass");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

void test_pass_arp(void)
{
	/* Who has 10.96.0.10 (the VIP)? tell 10.0.1.5: ARP must not be mistaken for IPv4. */
	static const uint8_t arp[28] = {
	    0x00, 0x01, 0x08, 0x00, 6,	  4,	0x00, 0x01,	   /* Ethernet/IPv4 request */
	    0x02, 0x00, 0x00, 0x00, 0x01, 0x05, 10,   0,    1, 5,  /* sender */
	    0,	  0,	0,    0,    0,	  0,	10,   96,   0, 10, /* target */
	};

	check_raw_passes(0x0806, arp, sizeof(arp), "ARP request for the VIP");
}
