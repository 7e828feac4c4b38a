/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPv4 CIDRs: the one type, parser and set operations of the agent's flags, the Kubernetes
 * decoders, the desired state and the CNI plugin's config.
 */
#ifndef SLUICE_LIB_CIDR_H
#define SLUICE_LIB_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An IPv4 CIDR, address in network byte order. */
struct cidr4 {
	uint32_t address;
	uint8_t prefix_len;
};

/* "255.255.255.255/32" and its NUL. */
#define CIDR4_STR_LEN 19

/* cidr4_parse() flags. Without any: host bits refused, a prefix length such as "08" accepted. */
#define CIDR4_MASK_HOST_BITS  (1u << 0) /* host bits accepted and cleared (Kubernetes' fields) */
#define CIDR4_NO_LEADING_ZERO (1u << 1) /* prefix length "08" refused (the CNI config) */

/*
 * "a.b.c.d/n", n of decimal digits only, 0-32. Host bits are refused (a typo, most likely, as
 * kube-apiserver says of --service-cluster-ip-range) unless CIDR4_MASK_HOST_BITS clears them.
 * Returns 0 with *out set, or -EINVAL (text may be NULL).
 */
int cidr4_parse(const char *text, unsigned int flags, struct cidr4 *out);

/* text is an IPv6 CIDR "addr/n", n 0-128, host bits allowed: fields that accept both families
 * note it and program nothing. */
bool cidr_is_ipv6(const char *text);

/* The netmask of prefix_len (0-32), network byte order. */
uint32_t cidr4_mask(unsigned int prefix_len);
/* address (network order) lies in cidr. */
bool cidr4_has_address(const struct cidr4 *cidr, uint32_t address);
/* Every address of inner lies in outer. */
bool cidr4_contains(const struct cidr4 *outer, const struct cidr4 *inner);
/* Some address lies in both: the shorter prefix contains the other's network. */
bool cidr4_overlap(const struct cidr4 *a, const struct cidr4 *b);
/* "10.0.0.0/8" into buf (CIDR4_STR_LEN bytes hold any); returns buf. */
const char *cidr4_str(const struct cidr4 *cidr, char *buf, size_t size);

#endif
