// SPDX-License-Identifier: Apache-2.0
/* The packet helpers themselves: checksums against published packets, verify and diff. */
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"
#include "tests/bpf/pkt.h"

static int hex_decode(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned int byte;

	while (hex[0] && hex[1] && n < cap) {
		if (sscanf(hex, "%2x", &byte) != 1)
			return -1;
		out[n++] = (uint8_t)byte;
		hex += 2;
	}
	return (int)n;
}

/* The IPv4 header of the Wikipedia "IPv4 header checksum" example: checksum 0xb861. */
void test_pkt_csum_ipv4_reference(void)
{
	uint8_t header[20];

	hex_decode("450000730000400040110000c0a80001c0a800c7", header, sizeof(header));
	ASSERT_EQ((uint16_t)~pkt_csum_fold(pkt_csum_partial(header, 20, 0)), 0xb861,
		  "computed checksum");
	header[10] = 0xb8;
	header[11] = 0x61;
	ASSERT_TRUE(pkt_ip_csum_ok(header, 20), "reference header verifies");
	header[19] ^= 0x01;
	ASSERT_FALSE(pkt_ip_csum_ok(header, 20), "header with a flipped daddr bit verifies");
}

/*
 * A captured TCP SYN (192.168.0.101:59295 -> 192.30.252.154:80, 44 bytes with options) whose
 * checksum on the wire was 0x5823: checks the pseudo-header path of pkt_verify.
 */
void test_pkt_csum_tcp_reference(void)
{
	static const char segment_hex[] = "e79f00505eab226500000000b002ffff58230000020405b4"
					  "010303050101080a3a4dbdc50000000004020000";
	struct pkt_spec spec = {0};
	struct pkt frame;
	uint8_t segment[44];
	char why[256];

	if (!ASSERT_EQ(hex_decode(segment_hex, segment, sizeof(segment)), 44, "segment length"))
		return;
	/* Build an ICMP frame of the right size for the IP header, then swap in the segment. */
	spec.saddr = TEST_IP(192, 168, 0, 101);
	spec.daddr = TEST_IP(192, 30, 252, 154);
	spec.proto = IPPROTO_ICMP;
	spec.payload = segment;
	spec.payload_len = sizeof(segment) - 8;
	if (!ASSERT_OK(pkt_build(&frame, &spec), "build"))
		return;
	frame.data[PKT_IP_OFF + 9] = IPPROTO_TCP;
	pkt_fix_ip_csum(&frame);
	memcpy(frame.data + PKT_L4_OFF, segment, sizeof(segment));
	ASSERT_EQ(frame.len, PKT_L4_OFF + sizeof(segment), "frame length");
	if (!ASSERT_TRUE(pkt_verify(frame.data, frame.len, why, sizeof(why)), why))
		return;
	/* Same segment, destination one address further: the pseudo-header must catch it. */
	frame.data[PKT_IP_OFF + 19] ^= 0x01;
	pkt_fix_ip_csum(&frame);
	ASSERT_FALSE(pkt_verify(frame.data, frame.len, why, sizeof(why)),
		     "segment verifies under the wrong pseudo-header daddr");
	ASSERT_TRUE(strstr(why, "tcp.check") != NULL, "failure names tcp.check");
}

static bool every_flip_detected(const struct pkt *built, const char *what)
{
	struct pkt copy;
	char why[256], name[400];
	size_t i;
	int bit;

	if (!pkt_verify(built->data, built->len, why, sizeof(why))) {
		snprintf(name, sizeof(name), "%s: built frame verifies (%s)", what, why);
		return ASSERT_TRUE(false, name);
	}
	/* One's-complement sums catch every single-bit error past the Ethernet header. */
	for (i = PKT_IP_OFF; i < built->len; i++) {
		for (bit = 0; bit < 8; bit++) {
			copy = *built;
			copy.data[i] ^= (uint8_t)(1u << bit);
			if (pkt_verify(copy.data, copy.len, why, sizeof(why))) {
				snprintf(name, sizeof(name),
					 "%s: flip of bit %d at offset %zu (%s)", what, bit, i,
					 pkt_field_at(copy.data, copy.len, i).name);
				return ASSERT_TRUE(false, name);
			}
		}
	}
	return true;
}

void test_pkt_build_verify_detects_flips(void)
{
	static const uint8_t odd_payload[7] = {1, 2, 3, 4, 5, 6, 7};
	struct pkt_spec spec;
	struct pkt built, inner;

	spec = fixture_client_spec(IPPROTO_TCP);
	if (ASSERT_OK(pkt_build(&built, &spec), "build tcp"))
		every_flip_detected(&built, "tcp");

	spec = fixture_client_spec(IPPROTO_UDP);
	spec.payload = odd_payload; /* odd length: the zero pad byte of RFC 1071 */
	spec.payload_len = sizeof(odd_payload);
	if (ASSERT_OK(pkt_build(&built, &spec), "build udp"))
		every_flip_detected(&built, "udp odd length");

	spec = fixture_client_spec(IPPROTO_UDP);
	if (ASSERT_OK(pkt_build(&inner, &spec), "build quoted udp")) {
		spec = fixture_client_spec(IPPROTO_ICMP);
		spec.icmp_type = 3;
		spec.icmp_code = 3;
		spec.sport = spec.dport = 0;
		spec.payload = inner.data + PKT_IP_OFF;
		spec.payload_len = 28;
		if (ASSERT_OK(pkt_build(&built, &spec), "build icmp error"))
			every_flip_detected(&built, "icmp error");
	}

	spec = fixture_client_spec(IPPROTO_UDP);
	spec.udp_no_csum = true;
	if (ASSERT_OK(pkt_build(&built, &spec), "build udp without checksum")) {
		ASSERT_EQ(pkt_udp_check(&built), 0, "udp.check");
		ASSERT_TRUE(pkt_verify(built.data, built.len, NULL, 0), "udp checksum 0 accepted");
	}
}

void test_pkt_diff_names_fields(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct pkt a, b;
	long off;

	if (!ASSERT_OK(pkt_build(&a, &spec), "build"))
		return;
	spec.daddr = TEST_BACKEND_A;
	if (!ASSERT_OK(pkt_build(&b, &spec), "build rewritten"))
		return;
	off = pkt_diff(a.data, a.len, b.data, b.len);
	ASSERT_EQ(off, PKT_IP_OFF + 16 + 1, "first differing offset (10.96 vs 10.0)");
	ASSERT_TRUE(strcmp(pkt_field_at(b.data, b.len, (size_t)off).name, "ip.daddr") == 0,
		    "field is ip.daddr");

	/* Same bytes except the checksums: equal for pkt_diff. */
	b = a;
	b.data[PKT_IP_OFF + 10] ^= 0xff;
	b.data[PKT_L4_OFF + 16] ^= 0xff;
	ASSERT_EQ(pkt_diff(a.data, a.len, b.data, b.len), -1, "checksum-only difference");

	b = a;
	b.data[PKT_L4_OFF + 3] ^= 1;
	off = pkt_diff(a.data, a.len, b.data, b.len);
	ASSERT_TRUE(off >= 0 &&
			strcmp(pkt_field_at(b.data, b.len, (size_t)off).name, "tcp.dest") == 0,
		    "field is tcp.dest");
	ASSERT_EQ(pkt_diff(a.data, a.len, a.data, a.len - 1), -2, "length mismatch");
}
