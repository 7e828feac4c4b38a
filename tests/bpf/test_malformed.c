// SPDX-License-Identifier: Apache-2.0
/* Malformed IPv4 is never rewritten: dropped when it is aimed at a VIP, else passed untouched. */
#include <errno.h>
#include <stdio.h>

#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

typedef void (*mangle_fn)(struct pkt *p);

/*
 * Builds the client's packet (to the VIP, or to TEST_OTHER_IP), damages it, and expects a drop
 * counted under DROP_MALFORMED for the VIP and an untouched pass otherwise.
 */
static void check_malformed(uint8_t proto, mangle_fn mangle, const char *what)
{
	static const __be32 destinations[2] = {TEST_VIP, TEST_OTHER_IP};
	struct pkt_spec spec;
	struct fixture f = {0};
	struct pkt in;
	char name[160];
	int i;

	for (i = 0; i < 2; i++) {
		bool to_vip = destinations[i] == TEST_VIP;

		if (!fixture_setup(&f, proto))
			goto cleanup;
		spec = fixture_client_spec(proto);
		spec.daddr = destinations[i];
		if (!ASSERT_OK(pkt_build(&in, &spec), "build packet"))
			goto cleanup;
		mangle(&in);
		snprintf(name, sizeof(name), "%s to %s", what, to_vip ? "the VIP" : "a non-VIP");
		fixture_expect_untouched(&f, &in, to_vip ? TC_ACT_SHOT : TC_ACT_OK, name);
		snprintf(name, sizeof(name), "%s: drops malformed", what);
		ASSERT_EQ(fixture_drop(&f, DROP_MALFORMED), to_vip ? 1 : 0, name);
		fixture_close(&f);
	}
cleanup:
	fixture_close(&f);
}

/* IPv4 header cut inside the source address: the destination cannot be read at all. */
static void cut_before_daddr(struct pkt *p)
{
	p->len = PKT_IP_OFF + 14;
}

static void cut_inside_daddr(struct pkt *p)
{
	p->len = PKT_IP_OFF + 18;
}

/*
 * Kernels since about 6.x refuse such frames in BPF_PROG_TEST_RUN itself (EINVAL for an IPv4
 * ethertype with under 20 header bytes), so the case only runs where the kernel allows it.
 */
static void check_too_short(void (*cut)(struct pkt *p), const char *what)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	struct pkt in, out;
	int verdict, err;

	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build packet"))
		goto cleanup;
	cut(&in);
	err = fixture_run(&f, &in, &out, &verdict);
	if (err == -EINVAL) {
		/* Only the short frame may be refused: the same frame uncut must run. */
		if (!ASSERT_OK(pkt_build(&in, &spec), "build packet") ||
		    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "uncut frame: test run"))
			goto cleanup;
		test_skip("this kernel's BPF_PROG_TEST_RUN rejects IPv4 frames shorter than an "
			  "IPv4 header (EINVAL)");
		goto cleanup;
	}
	fixture_expect_untouched(&f, &in, TC_ACT_OK, what);
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

void test_malformed_too_short_for_dst(void)
{
	check_too_short(cut_before_daddr, "IPv4 cut at 14 bytes");
	check_too_short(cut_inside_daddr, "IPv4 cut at 18 bytes");
}

/* ihl 6 announces 4 option bytes, but the frame ends 2 bytes into them. */
static void truncate_options(struct pkt *p)
{
	p->data[PKT_IP_OFF] = 0x46;
	p->data[PKT_IP_OFF + 2] = 0;
	p->data[PKT_IP_OFF + 3] = 22;
	p->len = PKT_IP_OFF + 22;
	pkt_fix_ip_csum(p);
}

void test_malformed_ip_options_truncated(void)
{
	check_malformed(IPPROTO_TCP, truncate_options, "IPv4 header cut inside its options");
}

static void ihl_four(struct pkt *p)
{
	p->data[PKT_IP_OFF] = 0x44;
	pkt_fix_ip_csum(p);
}

/* Both protocols: read at ihl*4 = 16, "ports" are the daddr bytes and TCP's doff would be 0. */
void test_malformed_ihl_below_5(void)
{
	check_malformed(IPPROTO_TCP, ihl_four, "TCP in IPv4 ihl 4");
	check_malformed(IPPROTO_UDP, ihl_four, "UDP in IPv4 ihl 4");
}

/* 12 of 20 TCP header bytes: the ports are there, the checksum is not. */
static void cut_tcp_header(struct pkt *p)
{
	p->len = PKT_L4_OFF + 12;
	p->data[PKT_IP_OFF + 2] = 0;
	p->data[PKT_IP_OFF + 3] = 20 + 12;
	pkt_fix_ip_csum(p);
}

void test_malformed_tcp_truncated(void)
{
	check_malformed(IPPROTO_TCP, cut_tcp_header, "TCP header cut at 12 bytes");
}

/* 6 of 8 UDP header bytes: the checksum is missing. */
static void cut_udp_header(struct pkt *p)
{
	p->len = PKT_L4_OFF + 6;
	p->data[PKT_IP_OFF + 2] = 0;
	p->data[PKT_IP_OFF + 3] = 20 + 6;
	pkt_fix_ip_csum(p);
}

void test_malformed_udp_truncated(void)
{
	check_malformed(IPPROTO_UDP, cut_udp_header, "UDP header cut at 6 bytes");
}

/* The IP header claims one byte more than the frame carries: the boundary. */
static void inflate_tot_len(struct pkt *p)
{
	uint16_t claimed = (uint16_t)(p->len - PKT_IP_OFF + 1);

	p->data[PKT_IP_OFF + 2] = claimed >> 8;
	p->data[PKT_IP_OFF + 3] = claimed & 0xff;
	pkt_fix_ip_csum(p);
}

void test_malformed_tot_len_beyond_packet(void)
{
	check_malformed(IPPROTO_TCP, inflate_tot_len, "IPv4 tot_len beyond the frame");
}

/* doff 4: the TCP header claims to end before its own checksum field. */
static void tcp_doff_four(struct pkt *p)
{
	p->data[PKT_L4_OFF + 12] = 4 << 4;
}

void test_malformed_tcp_doff_below_5(void)
{
	check_malformed(IPPROTO_TCP, tcp_doff_four, "TCP doff 4");
}

/* Version 6 in an IPv4 ethertype frame: not a header the datapath may interpret. */
static void ip_version_six(struct pkt *p)
{
	p->data[PKT_IP_OFF] = 0x65;
	pkt_fix_ip_csum(p);
}

void test_malformed_ip_version(void)
{
	check_malformed(IPPROTO_UDP, ip_version_six, "IP version 6 under ethertype IPv4");
}
