/* SPDX-License-Identifier: Apache-2.0 */
/* Test packets: build Ethernet/IPv4/TCP/UDP/ICMP frames with valid checksums, verify and diff
 * outputs. */
#ifndef SLUICE_TESTS_PKT_H
#define SLUICE_TESTS_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linux/types.h>

/* Big enough for any frame a test builds and for what the program may grow it to. */
#define PKT_MAX 1600

#define PKT_ETH_LEN 14
#define PKT_IP_OFF  PKT_ETH_LEN
#define PKT_L4_OFF  (PKT_ETH_LEN + 20) /* builders always emit ihl = 5 */

/* TCP flag bits (byte 13 of the header). */
#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10

struct pkt {
	uint8_t data[PKT_MAX];
	size_t len;
};

/*
 * What a test asks for. Addresses and ports are in network byte order, as on the wire.
 * For ICMP, sport/dport fill the four "rest of header" bytes (echo id/sequence; leave them 0
 * for errors) and the payload follows the 8-byte ICMP header.
 */
struct pkt_spec {
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	uint8_t proto;	   /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, or any other: payload only */
	uint8_t tcp_flags; /* PKT_TCP_*; 0 means SYN */
	uint8_t ttl;	   /* 0 means 64 */
	uint8_t icmp_type;
	uint8_t icmp_code;
	bool udp_no_csum;	/* send UDP with checksum 0 ("none", RFC 768) */
	const void *ip_options; /* IPv4 options, a multiple of 4 bytes up to 40; ihl follows */
	size_t ip_options_len;
	__be32 tcp_seq;
	const void *payload;
	size_t payload_len;
};

/*
 * Builds eth + IPv4 (DF; ihl 5 unless options are given) + L4 with every checksum computed.
 * Returns 0 or -ENOSPC/-EINVAL.
 */
int pkt_build(struct pkt *p, const struct pkt_spec *spec);

/* Builds an Ethernet frame of another ethertype (ARP, IPv6) with the given L3 bytes. */
int pkt_build_raw(struct pkt *p, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		  uint16_t ethertype, const void *l3, size_t l3_len);

/*
 * Splits an IPv4 frame (ihl 5, not yet a fragment) in two as a sender's stack does: FIRST holds
 * the first FIRST_LEN bytes of the IP payload (a multiple of 8) with MF set, LATER the rest at
 * that offset. Both keep the frame's IP ID; the L4 checksum stays the whole datagram's.
 * Returns 0 or -EINVAL.
 */
int pkt_fragment(const struct pkt *whole, size_t first_len, struct pkt *first, struct pkt *later);

/*
 * Puts two fragments back together as a receiver does, into WHOLE (not a fragment, IP checksum
 * recomputed): they must agree on addresses, protocol and IP ID, and LATER must start where
 * FIRST ends. Returns 0, or -EINVAL with the mismatch in why.
 */
int pkt_reassemble(const struct pkt *first, const struct pkt *later, struct pkt *whole, char *why,
		   size_t why_len);

/* Internet checksum pieces (RFC 1071). csum_partial returns an unfolded 32-bit sum. */
uint32_t pkt_csum_partial(const void *data, size_t len, uint32_t sum);
uint16_t pkt_csum_fold(uint32_t sum);

/* Recomputes the IPv4 header checksum of a frame (after a test mutates the header). */
void pkt_fix_ip_csum(struct pkt *p);

/* Sum of an IPv4 header over ihl*4 bytes folds to 0xffff. */
bool pkt_ip_csum_ok(const uint8_t *ip, size_t len);

/*
 * Verifies an IPv4 frame as a receiver would: IPv4 header checksum, total length equal to the
 * frame's IP bytes, TCP/UDP checksum over the pseudo-header, ICMP checksum over the message,
 * and for an ICMP error the quoted IPv4 header's checksum. UDP checksum 0 is accepted.
 * Returns true, or false with the first problem in why.
 */
bool pkt_verify(const uint8_t *frame, size_t len, char *why, size_t why_len);

/* Names the header field at a frame offset ("ip.daddr", "icmp.inner.tcp.dest"). */
struct pkt_field {
	const char *name;
	size_t off; /* field start in the frame */
	size_t len;
};
struct pkt_field pkt_field_at(const uint8_t *frame, size_t len, size_t off);

/*
 * Compares two frames byte for byte, except checksum fields (IPv4, TCP, UDP unless expected is
 * 0, ICMP, quoted IPv4), which pkt_verify covers: an incremental update may legitimately give
 * 0xffff where a full computation gives 0. Returns -1 when equal, -2 on a length mismatch,
 * else the first differing offset.
 */
long pkt_diff(const uint8_t *actual, size_t actual_len, const uint8_t *expected,
	      size_t expected_len);

/* Unaligned-safe field reads (network order); the pkt_l4_* ones assume ihl 5. */
static inline uint16_t pkt_get16(const struct pkt *p, size_t off)
{
	uint16_t value = 0;

	if (off + 2 <= p->len)
		memcpy(&value, p->data + off, 2);
	return value;
}

static inline uint32_t pkt_get32(const struct pkt *p, size_t off)
{
	uint32_t value = 0;

	if (off + 4 <= p->len)
		memcpy(&value, p->data + off, 4);
	return value;
}

#define pkt_ip_saddr(p)	 pkt_get32((p), PKT_IP_OFF + 12)
#define pkt_ip_daddr(p)	 pkt_get32((p), PKT_IP_OFF + 16)
#define pkt_ip_proto(p)	 ((p)->len > PKT_IP_OFF + 9 ? (p)->data[PKT_IP_OFF + 9] : 0)
#define pkt_l4_sport(p)	 pkt_get16((p), PKT_L4_OFF)
#define pkt_l4_dport(p)	 pkt_get16((p), PKT_L4_OFF + 2)
#define pkt_udp_check(p) pkt_get16((p), PKT_L4_OFF + 6)

/* Formats an IPv4 address (network order) into a static rotating buffer, for messages. */
const char *pkt_ip_str(__be32 address);

/* Writes a hex dump, 16 bytes a line, to stderr with a label. */
void pkt_dump(const char *label, const uint8_t *data, size_t len);

#endif
