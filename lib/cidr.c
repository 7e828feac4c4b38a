// SPDX-License-Identifier: Apache-2.0
/* IPv4 CIDRs: parsing (with inet_pton), set operations and text. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/cidr.h"

/* A prefix length: decimal digits only (no sign or space, unlike strtol), at most max. */
static int cidr_prefix_len(const char *text, unsigned int max, bool is_leading_zero_ok,
			   unsigned int *out)
{
	unsigned int value = 0;
	const char *p;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	if (!is_leading_zero_ok && text[0] == '0' && text[1])
		return -EINVAL;
	for (p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (value <= max) /* stays above max once there, without overflowing */
			value = value * 10 + (unsigned int)(*p - '0');
	}
	if (value > max)
		return -EINVAL;
	*out = value;
	return 0;
}

/* Split "addr/n" into address (NUL-terminated, shorter than size) and the text after '/'. */
static const char *cidr_split(const char *text, char *address, size_t size)
{
	const char *slash = text ? strchr(text, '/') : NULL;

	if (!slash || (size_t)(slash - text) >= size)
		return NULL;
	memcpy(address, text, (size_t)(slash - text));
	address[slash - text] = '\0';
	return slash + 1;
}

int cidr4_parse(const char *text, unsigned int flags, struct cidr4 *out)
{
	char address[INET_ADDRSTRLEN];
	const char *prefix = cidr_split(text, address, sizeof(address));
	unsigned int len;
	uint32_t value, mask;

	if (!prefix || cidr_prefix_len(prefix, 32, !(flags & CIDR4_NO_LEADING_ZERO), &len) ||
	    inet_pton(AF_INET, address, &value) != 1)
		return -EINVAL;
	mask = cidr4_mask(len);
	if ((value & ~mask) && !(flags & CIDR4_MASK_HOST_BITS))
		return -EINVAL;
	out->address = value & mask;
	out->prefix_len = (uint8_t)len;
	return 0;
}

bool cidr_is_ipv6(const char *text)
{
	char address[INET6_ADDRSTRLEN];
	unsigned char ipv6[16];
	const char *prefix = cidr_split(text, address, sizeof(address));
	unsigned int len;

	return prefix && !cidr_prefix_len(prefix, 128, true, &len) &&
	       inet_pton(AF_INET6, address, ipv6) == 1;
}

uint32_t cidr4_mask(unsigned int prefix_len)
{
	return prefix_len ? htonl(~0u << (32 - prefix_len)) : 0;
}

bool cidr4_has_address(const struct cidr4 *cidr, uint32_t address)
{
	return ((address ^ cidr->address) & cidr4_mask(cidr->prefix_len)) == 0;
}

bool cidr4_contains(const struct cidr4 *outer, const struct cidr4 *inner)
{
	return outer->prefix_len <= inner->prefix_len && cidr4_has_address(outer, inner->address);
}

bool cidr4_overlap(const struct cidr4 *a, const struct cidr4 *b)
{
	return a->prefix_len <= b->prefix_len ? cidr4_has_address(a, b->address)
					      : cidr4_has_address(b, a->address);
}

const char *cidr4_str(const struct cidr4 *cidr, char *buf, size_t size)
{
	char address[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &cidr->address, address, sizeof(address));
	snprintf(buf, size, "%s/%u", address, cidr->prefix_len);
	return buf;
}
