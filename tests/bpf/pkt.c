// SPDX-License-Identifier: Apache-2.0
/* Test packets: builders with full checksums, a receiver-side verifier and a field-aware diff. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>

#include <linux/if_ether.h>

#include "tests/bpf/pkt.h"

#define PKT_TCP_HDR_LEN	 20
#define PKT_UDP_HDR_LEN	 8
#define PKT_ICMP_HDR_LEN 8

/* ICMP error types that quote the offending datagram (RFC 792). */
#define ICMP_DEST_UNREACH  3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

uint32_t pkt_csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *bytes = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)bytes[i] << 8 | bytes[i + 1];
	if (len & 1)
		sum += (uint32_t)bytes[len - 1] << 8; /* odd length: pad with a zero byte */
	return sum;
}

uint16_t pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Sum of the TCP/UDP pseudo-header (RFC 793 / RFC 768), unfolded. */
static uint32_t pseudo_header_sum(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
	uint32_t sum = pkt_csum_partial(ip + 12, 8, 0); /* saddr, daddr */

	sum += proto;
	sum += (uint32_t)l4_len;
	return sum;
}

static void put16(uint8_t *p, uint16_t host_value)
{
	p[0] = host_value >> 8;
	p[1] = host_value & 0xff;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void write_ip_header(uint8_t *ip, const struct pkt_spec *spec, size_t l4_len)
{
	size_t header_len = 20 + spec->ip_options_len;

	memset(ip, 0, header_len);
	ip[0] = (uint8_t)(0x40 | header_len / 4);
	put16(ip + 2, (uint16_t)(header_len + l4_len));
	put16(ip + 4, 0x1234);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = spec->ttl ? spec->ttl : 64;
	ip[9] = spec->proto;
	memcpy(ip + 12, &spec->saddr, 4);
	memcpy(ip + 16, &spec->daddr, 4);
	if (spec->ip_options_len)
		memcpy(ip + 20, spec->ip_options, spec->ip_options_len);
	put16(ip + 10, (uint16_t)~pkt_csum_fold(pkt_csum_partial(ip, header_len, 0)));
}

int pkt_build(struct pkt *p, const struct pkt_spec *spec)
{
	size_t header_len, l4_len;
	uint8_t *ip, *l4;
	uint16_t csum;

	switch (spec->proto) {
	case IPPROTO_TCP:
		header_len = PKT_TCP_HDR_LEN;
		break;
	case IPPROTO_UDP:
		header_len = PKT_UDP_HDR_LEN;
		break;
	case IPPROTO_ICMP:
		header_len = PKT_ICMP_HDR_LEN;
		break;
	default:
		header_len = 0; /* another protocol (GRE, 253): the payload is all of it */
		break;
	}
	if (spec->ip_options_len % 4 || spec->ip_options_len > 40)
		return -EINVAL;
	l4_len = header_len + spec->payload_len;
	if (PKT_L4_OFF + spec->ip_options_len + l4_len > sizeof(p->data))
		return -ENOSPC;

	memset(p, 0, sizeof(*p));
	memcpy(p->data, spec->dst_mac, 6);
	memcpy(p->data + 6, spec->src_mac, 6);
	put16(p->data + 12, ETH_P_IP);
	ip = p->data + PKT_IP_OFF;
	l4 = p->data + PKT_L4_OFF + spec->ip_options_len;
	write_ip_header(ip, spec, l4_len);
	if (spec->payload_len)
		memcpy(l4 + header_len, spec->payload, spec->payload_len);

	switch (spec->proto) {
	case IPPROTO_TCP:
		memcpy(l4, &spec->sport, 2);
		memcpy(l4 + 2, &spec->dport, 2);
		memcpy(l4 + 4, &spec->tcp_seq, 4);
		l4[12] = (PKT_TCP_HDR_LEN / 4) << 4;
		l4[13] = spec->tcp_flags ? spec->tcp_flags : PKT_TCP_SYN;
		put16(l4 + 14, 64240);
		csum = ~pkt_csum_fold(
		    pkt_csum_partial(l4, l4_len, pseudo_header_sum(ip, IPPROTO_TCP, l4_len)));
		put16(l4 + 16, csum);
		break;
	case IPPROTO_UDP:
		memcpy(l4, &spec->sport, 2);
		memcpy(l4 + 2, &spec->dport, 2);
		put16(l4 + 4, (uint16_t)l4_len);
		if (!spec->udp_no_csum) {
			csum = ~pkt_csum_fold(pkt_csum_partial(
			    l4, l4_len, pseudo_header_sum(ip, IPPROTO_UDP, l4_len)));
			put16(l4 + 6, csum ? csum : 0xffff); /* 0 means "no checksum" (RFC 768) */
		}
		break;
	case IPPROTO_ICMP:
		l4[0] = spec->icmp_type;
		l4[1] = spec->icmp_code;
		memcpy(l4 + 4, &spec->sport, 2);
		memcpy(l4 + 6, &spec->dport, 2);
		put16(l4 + 2, (uint16_t)~pkt_csum_fold(pkt_csum_partial(l4, l4_len, 0)));
		break;
	}
	p->len = (size_t)(l4 - p->data) + l4_len;
	return 0;
}

int pkt_build_raw(struct pkt *p, const uint8_t dst_mac[6], const uint8_t src_mac[6],
		  uint16_t ethertype, const void *l3, size_t l3_len)
{
	if (PKT_ETH_LEN + l3_len > sizeof(p->data))
		return -ENOSPC;
	memset(p, 0, sizeof(*p));
	memcpy(p->data, dst_mac, 6);
	memcpy(p->data + 6, src_mac, 6);
	put16(p->data + 12, ethertype);
	memcpy(p->data + PKT_ETH_LEN, l3, l3_len);
	p->len = PKT_ETH_LEN + l3_len;
	return 0;
}

void pkt_fix_ip_csum(struct pkt *p)
{
	uint8_t *ip = p->data + PKT_IP_OFF;
	size_t ihl_len = (size_t)(ip[0] & 0x0f) * 4;

	if (p->len < PKT_IP_OFF + ihl_len || ihl_len < 20)
		ihl_len = 20; /* malformed on purpose: checksum the fixed part we wrote */
	if (p->len < PKT_IP_OFF + ihl_len)
		return;
	ip[10] = ip[11] = 0;
	put16(ip + 10, (uint16_t)~pkt_csum_fold(pkt_csum_partial(ip, ihl_len, 0)));
}

bool pkt_ip_csum_ok(const uint8_t *ip, size_t len)
{
	size_t ihl_len;

	if (len < 20)
		return false;
	ihl_len = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl_len < 20 || ihl_len > len)
		return false;
	return pkt_csum_fold(pkt_csum_partial(ip, ihl_len, 0)) == 0xffff;
}

#define WHY(...)                                                                                   \
	do {                                                                                       \
		if (why && why_len)                                                                \
			snprintf(why, why_len, __VA_ARGS__);                                       \
	} while (0)

int pkt_fragment(const struct pkt *whole, size_t first_len, struct pkt *first, struct pkt *later)
{
	const uint8_t *ip = whole->data + PKT_IP_OFF;
	size_t header_len = PKT_L4_OFF, payload_len;

	if (whole->len < header_len || (ip[0] & 0x0f) != 5 || first_len % 8)
		return -EINVAL;
	payload_len = get16(ip + 2) - 20;
	if (!first_len || first_len >= payload_len || header_len + payload_len > whole->len)
		return -EINVAL;

	memset(first, 0, sizeof(*first));
	memcpy(first->data, whole->data, header_len + first_len);
	first->len = header_len + first_len;
	put16(first->data + PKT_IP_OFF + 2, (uint16_t)(20 + first_len));
	put16(first->data + PKT_IP_OFF + 6, 0x2000); /* MF, offset 0 */
	pkt_fix_ip_csum(first);

	memset(later, 0, sizeof(*later));
	memcpy(later->data, whole->data, header_len);
	memcpy(later->data + header_len, whole->data + header_len + first_len,
	       payload_len - first_len);
	later->len = header_len + payload_len - first_len;
	put16(later->data + PKT_IP_OFF + 2, (uint16_t)(20 + payload_len - first_len));
	put16(later->data + PKT_IP_OFF + 6, (uint16_t)(first_len / 8)); /* last: no MF */
	pkt_fix_ip_csum(later);
	return 0;
}

int pkt_reassemble(const struct pkt *first, const struct pkt *later, struct pkt *whole, char *why,
		   size_t why_len)
{
	const uint8_t *ip1 = first->data + PKT_IP_OFF, *ip2 = later->data + PKT_IP_OFF;
	size_t len1, len2;

	if (first->len < PKT_L4_OFF || later->len < PKT_L4_OFF) {
		WHY("fragment shorter than its headers");
		return -EINVAL;
	}
	len1 = get16(ip1 + 2) - 20;
	len2 = get16(ip2 + 2) - 20;
	if (memcmp(ip1 + 12, ip2 + 12, 8) || ip1[9] != ip2[9] || get16(ip1 + 4) != get16(ip2 + 4)) {
		WHY("fragments of different datagrams: %s -> %s proto %u id %u and %s -> %s proto "
		    "%u id %u",
		    pkt_ip_str(pkt_get32(first, PKT_IP_OFF + 12)),
		    pkt_ip_str(pkt_get32(first, PKT_IP_OFF + 16)), ip1[9], get16(ip1 + 4),
		    pkt_ip_str(pkt_get32(later, PKT_IP_OFF + 12)),
		    pkt_ip_str(pkt_get32(later, PKT_IP_OFF + 16)), ip2[9], get16(ip2 + 4));
		return -EINVAL;
	}
	if (get16(ip1 + 6) != 0x2000 || (size_t)(get16(ip2 + 6) & 0x1fff) * 8 != len1 ||
	    PKT_L4_OFF + len1 + len2 > sizeof(whole->data)) {
		WHY("fragments do not join: frag_off 0x%04x (%zu bytes) then 0x%04x",
		    get16(ip1 + 6), len1, get16(ip2 + 6));
		return -EINVAL;
	}
	memset(whole, 0, sizeof(*whole));
	memcpy(whole->data, first->data, PKT_L4_OFF + len1);
	memcpy(whole->data + PKT_L4_OFF + len1, later->data + PKT_L4_OFF, len2);
	whole->len = PKT_L4_OFF + len1 + len2;
	put16(whole->data + PKT_IP_OFF + 2, (uint16_t)(20 + len1 + len2));
	put16(whole->data + PKT_IP_OFF + 6, 0);
	pkt_fix_ip_csum(whole);
	return 0;
}

bool pkt_verify(const uint8_t *frame, size_t len, char *why, size_t why_len)
{
	const uint8_t *ip, *l4;
	size_t ihl_len, total_len, l4_len;
	uint16_t folded;

	if (len < PKT_ETH_LEN + 20) {
		WHY("frame of %zu bytes has no IPv4 header", len);
		return false;
	}
	if (get16(frame + 12) != ETH_P_IP) {
		WHY("ethertype 0x%04x is not IPv4", get16(frame + 12));
		return false;
	}
	ip = frame + PKT_IP_OFF;
	ihl_len = (size_t)(ip[0] & 0x0f) * 4;
	if ((ip[0] >> 4) != 4 || ihl_len < 20 || PKT_IP_OFF + ihl_len > len) {
		WHY("bad IPv4 version/ihl byte 0x%02x", ip[0]);
		return false;
	}
	if (!pkt_ip_csum_ok(ip, len - PKT_IP_OFF)) {
		WHY("ip.check 0x%04x is wrong (header sums to 0x%04x, want 0xffff)", get16(ip + 10),
		    pkt_csum_fold(pkt_csum_partial(ip, ihl_len, 0)));
		return false;
	}
	/* Bytes past tot_len are Ethernet padding (frames shorter than 60 bytes). */
	total_len = get16(ip + 2);
	if (total_len > len - PKT_IP_OFF || total_len < ihl_len) {
		WHY("ip.tot_len %zu, but the frame carries %zu IP bytes", total_len,
		    len - PKT_IP_OFF);
		return false;
	}
	if (get16(ip + 6) & 0x3fff)
		return true; /* fragment: the L4 checksum covers the reassembled datagram */
	l4 = ip + ihl_len;
	l4_len = total_len - ihl_len;

	switch (ip[9]) {
	case IPPROTO_TCP:
		if (l4_len < PKT_TCP_HDR_LEN) {
			WHY("TCP segment of %zu bytes", l4_len);
			return false;
		}
		folded = pkt_csum_fold(
		    pkt_csum_partial(l4, l4_len, pseudo_header_sum(ip, IPPROTO_TCP, l4_len)));
		if (folded != 0xffff) {
			WHY("tcp.check 0x%04x is wrong (pseudo-header + segment sum to 0x%04x, "
			    "want 0xffff)",
			    get16(l4 + 16), folded);
			return false;
		}
		break;
	case IPPROTO_UDP:
		if (l4_len < PKT_UDP_HDR_LEN) {
			WHY("UDP datagram of %zu bytes", l4_len);
			return false;
		}
		if (get16(l4 + 4) != l4_len) {
			WHY("udp.len %u, IP carries %zu L4 bytes", get16(l4 + 4), l4_len);
			return false;
		}
		if (get16(l4 + 6) == 0)
			break; /* no checksum */
		folded = pkt_csum_fold(
		    pkt_csum_partial(l4, l4_len, pseudo_header_sum(ip, IPPROTO_UDP, l4_len)));
		if (folded != 0xffff) {
			WHY("udp.check 0x%04x is wrong (pseudo-header + datagram sum to 0x%04x, "
			    "want 0xffff)",
			    get16(l4 + 6), folded);
			return false;
		}
		break;
	case IPPROTO_ICMP:
		if (l4_len < PKT_ICMP_HDR_LEN) {
			WHY("ICMP message of %zu bytes", l4_len);
			return false;
		}
		folded = pkt_csum_fold(pkt_csum_partial(l4, l4_len, 0));
		if (folded != 0xffff) {
			WHY("icmp.checksum 0x%04x is wrong (message sums to 0x%04x, want 0xffff)",
			    get16(l4 + 2), folded);
			return false;
		}
		/* Errors quote the offending IPv4 header: it must still be consistent. */
		if ((l4[0] == ICMP_DEST_UNREACH || l4[0] == ICMP_TIME_EXCEEDED ||
		     l4[0] == ICMP_PARAMETERPROB) &&
		    l4_len >= PKT_ICMP_HDR_LEN + 20 &&
		    !pkt_ip_csum_ok(l4 + PKT_ICMP_HDR_LEN, l4_len - PKT_ICMP_HDR_LEN)) {
			WHY("icmp.inner.ip.check 0x%04x is wrong",
			    get16(l4 + PKT_ICMP_HDR_LEN + 10));
			return false;
		}
		break;
	}
	return true;
}

/* ---- field names, for failure messages -------------------------------------------------- */

struct field_def {
	uint8_t off;
	uint8_t len;
	const char *name;
};

static const struct field_def eth_fields[] = {
    {0, 6, "eth.dst"},
    {6, 6, "eth.src"},
    {12, 2, "eth.proto"},
    {0, 0, NULL},
};
static const struct field_def ip_fields[] = {
    {0, 1, "ip.version_ihl"}, {1, 1, "ip.tos"},	   {2, 2, "ip.tot_len"},  {4, 2, "ip.id"},
    {6, 2, "ip.frag_off"},    {8, 1, "ip.ttl"},	   {9, 1, "ip.protocol"}, {10, 2, "ip.check"},
    {12, 4, "ip.saddr"},      {16, 4, "ip.daddr"}, {0, 0, NULL},
};
static const struct field_def tcp_fields[] = {
    {0, 2, "tcp.source"},  {2, 2, "tcp.dest"},	      {4, 4, "tcp.seq"},
    {8, 4, "tcp.ack_seq"}, {12, 2, "tcp.doff_flags"}, {14, 2, "tcp.window"},
    {16, 2, "tcp.check"},  {18, 2, "tcp.urg_ptr"},    {0, 0, NULL},
};
static const struct field_def udp_fields[] = {
    {0, 2, "udp.source"}, {2, 2, "udp.dest"}, {4, 2, "udp.len"}, {6, 2, "udp.check"}, {0, 0, NULL},
};
static const struct field_def icmp_fields[] = {
    {0, 1, "icmp.type"}, {1, 1, "icmp.code"}, {2, 2, "icmp.checksum"},
    {4, 4, "icmp.rest"}, {0, 0, NULL},
};

static bool find_field(const struct field_def *defs, size_t base, size_t off, struct pkt_field *out)
{
	for (; defs->name; defs++) {
		if (off >= base + defs->off && off < base + defs->off + defs->len) {
			out->name = defs->name;
			out->off = base + defs->off;
			out->len = defs->len;
			return true;
		}
	}
	return false;
}

/* Names a field inside an IPv4 packet starting at ip_base; inner marks a quoted packet. */
static struct pkt_field ip_field_at(const uint8_t *frame, size_t len, size_t ip_base, size_t off,
				    bool inner)
{
	static const char *const inner_names[] = {"icmp.inner.ip", "icmp.inner.l4",
						  "icmp.inner.payload"};
	struct pkt_field field = {"payload", off, 1};
	const uint8_t *ip = frame + ip_base;
	size_t ihl_len, l4_base;
	const struct field_def *l4_defs = NULL;

	if (ip_base + 20 > len) {
		field.name = "ip.truncated";
		return field;
	}
	if (off < ip_base + 20) {
		find_field(ip_fields, ip_base, off, &field);
		if (inner)
			field.name = inner_names[0];
		return field;
	}
	ihl_len = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl_len < 20)
		ihl_len = 20;
	if (off < ip_base + ihl_len) {
		field.name = inner ? inner_names[0] : "ip.options";
		return field;
	}
	l4_base = ip_base + ihl_len;
	switch (ip[9]) {
	case IPPROTO_TCP:
		l4_defs = tcp_fields;
		break;
	case IPPROTO_UDP:
		l4_defs = udp_fields;
		break;
	case IPPROTO_ICMP:
		l4_defs = icmp_fields;
		break;
	}
	if (l4_defs && find_field(l4_defs, l4_base, off, &field)) {
		if (inner)
			field.name = inner_names[1];
		return field;
	}
	if (!inner && ip[9] == IPPROTO_ICMP && off >= l4_base + PKT_ICMP_HDR_LEN) {
		field = ip_field_at(frame, len, l4_base + PKT_ICMP_HDR_LEN, off, true);
		return field;
	}
	field.name = inner ? inner_names[2] : "payload";
	return field;
}

struct pkt_field pkt_field_at(const uint8_t *frame, size_t len, size_t off)
{
	struct pkt_field field = {"beyond end", off, 1};

	if (off >= len)
		return field;
	if (find_field(eth_fields, 0, off, &field))
		return field;
	if (len >= PKT_ETH_LEN && get16(frame + 12) == ETH_P_IP)
		return ip_field_at(frame, len, PKT_IP_OFF, off, false);
	field.name = "l3";
	return field;
}

/* Zeroes the checksum fields pkt_verify owns, in a scratch copy. */
static void clear_checksums(uint8_t *frame, size_t len, const uint8_t *expected,
			    size_t expected_len)
{
	uint8_t *ip = frame + PKT_IP_OFF, *l4;
	size_t ihl_len;

	if (len < PKT_IP_OFF + 20 || get16(frame + 12) != ETH_P_IP)
		return;
	ihl_len = (size_t)(ip[0] & 0x0f) * 4;
	ip[10] = ip[11] = 0;
	if (ihl_len < 20 || PKT_IP_OFF + ihl_len > len)
		return;
	l4 = ip + ihl_len;
	switch (ip[9]) {
	case IPPROTO_TCP:
		if (l4 + 18 <= frame + len)
			l4[16] = l4[17] = 0;
		break;
	case IPPROTO_UDP:
		/* An expected 0 means "no checksum", and the output must keep it. */
		if (l4 + 8 <= frame + len && (size_t)(l4 - frame) + 8 <= expected_len &&
		    get16(expected + (l4 - frame) + 6) != 0)
			l4[6] = l4[7] = 0;
		break;
	case IPPROTO_ICMP:
		if (l4 + 4 <= frame + len)
			l4[2] = l4[3] = 0;
		if (l4 + PKT_ICMP_HDR_LEN + 12 <= frame + len)
			l4[PKT_ICMP_HDR_LEN + 10] = l4[PKT_ICMP_HDR_LEN + 11] = 0;
		break;
	}
}

long pkt_diff(const uint8_t *actual, size_t actual_len, const uint8_t *expected,
	      size_t expected_len)
{
	static uint8_t a[PKT_MAX], e[PKT_MAX];
	size_t i, n = actual_len < expected_len ? actual_len : expected_len;

	if (n > PKT_MAX)
		n = PKT_MAX;
	memcpy(a, actual, n);
	memcpy(e, expected, n);
	clear_checksums(a, n, expected, expected_len);
	clear_checksums(e, n, expected, expected_len);
	for (i = 0; i < n; i++)
		if (a[i] != e[i])
			return (long)i;
	return actual_len == expected_len ? -1 : -2;
}

const char *pkt_ip_str(__be32 address)
{
	static char buffers[4][INET_ADDRSTRLEN];
	static unsigned int next;
	char *buffer = buffers[next++ % 4];

	inet_ntop(AF_INET, &address, buffer, INET_ADDRSTRLEN);
	return buffer;
}

void pkt_dump(const char *label, const uint8_t *data, size_t len)
{
	size_t i;

	fprintf(stderr, "    %s (%zu bytes):", label, len);
	for (i = 0; i < len; i++)
		fprintf(stderr, "%s%02x", i % 16 ? " " : "\n      ", data[i]);
	fputc('\n', stderr);
}
