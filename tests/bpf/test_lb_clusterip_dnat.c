// SPDX-License-Identifier: Apache-2.0
/* New flow to a ClusterIP: DNAT to the backend in slot 0 with valid checksums, two ct entries. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

/* Appends Ethernet padding to a frame, as a NIC does for frames under 60 bytes. */
static void pad_frame(struct pkt *p, size_t frame_len)
{
	while (p->len < frame_len)
		p->data[p->len++] = 0;
}

static void check_new_flow_dnat(uint8_t proto, size_t pad_to)
{
	struct pkt_spec spec = fixture_client_spec(proto), want;
	struct fixture f = {0};
	struct pkt in, out, expected;
	struct ct_entry entry;
	int verdict;

	if (!fixture_setup(&f, proto))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet"))
		goto cleanup;
	pad_frame(&in, pad_to);
	if (!ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
		goto cleanup;

	/* Backend A is not a local endpoint: the rewritten packet continues up the stack. */
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A,
		     "ip.daddr (slot 0 of the live generation)");
	ASSERT_NEQ(pkt_ip_daddr(&out), TEST_BACKEND_B, "ip.daddr is B (slot 1, beyond count 1)");
	ASSERT_NEQ(pkt_ip_daddr(&out), TEST_BACKEND_C, "ip.daddr is C (generation 1, not live)");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_BACKEND_PORT, "l4 dport");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_CLIENT_IP, "ip.saddr (no SNAT)");
	ASSERT_PORT_EQ(pkt_l4_sport(&out), TEST_CLIENT_PORT, "l4 sport");
	ASSERT_CSUMS_OK(out.data, out.len, "rewritten packet");

	/* Everything but the destination is untouched, padding included. */
	want = spec;
	want.daddr = TEST_BACKEND_A;
	want.dport = TEST_BACKEND_PORT;
	if (ASSERT_OK(pkt_build(&expected, &want), "build expected packet")) {
		pad_frame(&expected, pad_to);
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len, "rewritten packet");
	}

	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					TEST_VIP_PORT, proto, &entry),
		      "forward ct entry {client, VIP, cport, vport}")) {
		ASSERT_IP_EQ(entry.nat_daddr, TEST_BACKEND_A, "forward ct nat_daddr");
		ASSERT_PORT_EQ(entry.nat_dport, TEST_BACKEND_PORT, "forward ct nat_dport");
		ASSERT_IP_EQ(entry.nat_saddr, TEST_CLIENT_IP, "forward ct nat_saddr (no hairpin)");
		ASSERT_PORT_EQ(entry.nat_sport, TEST_CLIENT_PORT, "forward ct nat_sport");
		ASSERT_EQ(entry.ifindex, 0, "forward ct ifindex (backend not local)");
		ASSERT_EQ(entry.svc_id, TEST_SVC_ID, "forward ct svc_id");
		ASSERT_EQ(entry.backend_id, TEST_BACKEND_A_ID, "forward ct backend_id");
		ASSERT_EQ(entry.flags & (CT_F_REPLY | CT_F_HAIRPIN), 0, "forward ct flags");
		ASSERT_NEQ(entry.expires_ns, 0, "forward ct expires_ns");
	}
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_BACKEND_A, TEST_CLIENT_IP, TEST_BACKEND_PORT,
					TEST_CLIENT_PORT, proto, &entry),
		      "reply ct entry {backend, client, bport, cport}")) {
		ASSERT_EQ(entry.flags & (CT_F_REPLY | CT_F_HAIRPIN), CT_F_REPLY, "reply ct flags");
		ASSERT_EQ(entry.svc_id, TEST_SVC_ID, "reply ct svc_id");
		/* The reply leaves as VIP:vport -> client:cport, back into the client's pod. */
		ASSERT_IP_EQ(entry.nat_saddr, TEST_VIP, "reply ct nat_saddr");
		ASSERT_PORT_EQ(entry.nat_sport, TEST_VIP_PORT, "reply ct nat_sport");
		ASSERT_IP_EQ(entry.nat_daddr, TEST_CLIENT_IP, "reply ct nat_daddr");
		ASSERT_PORT_EQ(entry.nat_dport, TEST_CLIENT_PORT, "reply ct nat_dport");
		ASSERT_EQ(entry.ifindex, TEST_INGRESS_IFINDEX,
			  "reply ct ifindex (the client's veth)");
		ASSERT_MEM_EQ(entry.mac, test_client_mac, 6, "reply ct mac (the client's)");
		ASSERT_MEM_EQ(entry.host_mac, test_gateway_mac, 6, "reply ct host_mac");
	}
	ASSERT_EQ(fixture_ct_count(&f), 2, "ct entries");

	ASSERT_EQ(fixture_stats_total(&f), 1,
		  "stats over every outcome (one packet, counted once)");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 1, "stats service_new");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_FORWARD), 0, "stats ct_forward");
	ASSERT_EQ(fixture_stat(&f, STAT_PASS), 0, "stats pass");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

void test_lb_tcp_new_dnat(void)
{
	check_new_flow_dnat(IPPROTO_TCP, 0);
}

void test_lb_udp_new_dnat(void)
{
	check_new_flow_dnat(IPPROTO_UDP, 0);
}

/* A 54-byte SYN arrives padded to 60: the L4 length comes from the IP header, not the frame. */
void test_lb_tcp_new_dnat_eth_padding(void)
{
	check_new_flow_dnat(IPPROTO_TCP, 60);
}

/* IPv4 options move the UDP header: ports and checksum are found through ihl. */
void test_lb_udp_new_dnat_ip_options(void)
{
	static const uint8_t options[8] = {1, 1, 1, 1, 1, 1, 1, 0}; /* NOPs, end of list */
	struct pkt_spec spec = fixture_client_spec(IPPROTO_UDP), want;
	struct fixture f = {0};
	struct pkt in, out, expected;
	int verdict;

	spec.ip_options = options;
	spec.ip_options_len = sizeof(options);
	if (!fixture_setup(&f, IPPROTO_UDP))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict");
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
