// SPDX-License-Identifier: Apache-2.0
/*
 * SCTP through a ClusterIP: the destination address is translated and nothing else changes
 * (SCTP's CRC32c covers no addresses); a mapping that would change the port is dropped and
 * counted, never sent with a stale CRC.
 */
#include <netinet/in.h>
#include <string.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

/* A client -> VIP SCTP packet: a UDP frame relabelled (the 12-byte SCTP common header holds
 * the ports where UDP has them), with the IP checksum fixed for the new protocol byte. */
static bool sctp_packet(struct pkt *in)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_UDP);
	static const uint8_t chunk[16] = {0x01, 0, 0, 16}; /* an INIT-like chunk header */
	uint32_t sum = 0;

	spec.payload = chunk;
	spec.payload_len = sizeof(chunk);
	if (!ASSERT_OK(pkt_build(in, &spec), "build client packet"))
		return false;
	in->data[PKT_IP_OFF + 9] = IPPROTO_SCTP;
	/* Bytes 4-11 of the L4 header: verification tag and CRC32c, arbitrary but kept. */
	memcpy(&in->data[PKT_L4_OFF + 4], "\x12\x34\x56\x78\xca\xfe\xba\xbe", 8);
	in->data[PKT_IP_OFF + 10] = in->data[PKT_IP_OFF + 11] = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)in->data[PKT_IP_OFF + i] << 8 | in->data[PKT_IP_OFF + i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	in->data[PKT_IP_OFF + 10] = (uint8_t)(~sum >> 8);
	in->data[PKT_IP_OFF + 11] = (uint8_t)~sum;
	return true;
}

void test_lb_sctp_address_only(void)
{
	struct fixture f = {0};
	struct pkt in, out;
	int verdict;

	/* Backend A listens on the service's own port: nothing but the address changes. */
	if (!fixture_setup(&f, IPPROTO_SCTP) ||
	    !ASSERT_OK(fixture_set_backend(&f, TEST_BACKEND_A_ID, TEST_BACKEND_A, TEST_VIP_PORT,
					   IPPROTO_SCTP),
		       "backend A on port 80") ||
	    !sctp_packet(&in) || !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict (backend not a local pod)");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_VIP_PORT, "sctp dport");
	if (ASSERT_EQ(out.len, in.len, "length"))
		ASSERT_MEM_EQ(&out.data[PKT_L4_OFF], &in.data[PKT_L4_OFF], in.len - PKT_L4_OFF,
			      "SCTP header and chunks (CRC32c included) untouched");
	ASSERT_CSUMS_OK(out.data, out.len, "IP checksum");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 1, "stats service_new");
cleanup:
	fixture_close(&f);
}

void test_lb_sctp_port_change_dropped(void)
{
	struct fixture f = {0};
	struct pkt in, out;
	int verdict;

	/* The seeded backend listens on 8080: the CRC32c would go stale. */
	if (!fixture_setup(&f, IPPROTO_SCTP) || !sctp_packet(&in) ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict");
	ASSERT_EQ(fixture_drop(&f, DROP_UNSUPPORTED), 1, "drops unsupported protocol");
	if (ASSERT_EQ(out.len, in.len, "length"))
		ASSERT_MEM_EQ(out.data, in.data, in.len, "dropped packet bytes (no rewrite)");
cleanup:
	fixture_close(&f);
}
