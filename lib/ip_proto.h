/* SPDX-License-Identifier: Apache-2.0 */
/* IP protocol numbers by the names Kubernetes and the CLI print them with. */
#ifndef SLUICE_LIB_IP_PROTO_H
#define SLUICE_LIB_IP_PROTO_H

#include <netinet/in.h>
#include <stdint.h>

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* "TCP", "UDP", "SCTP", "ICMP", or "?" for any other protocol. */
static inline const char *ip_proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_SCTP:
		return "SCTP";
	case IPPROTO_ICMP:
		return "ICMP";
	default:
		return "?";
	}
}

#endif
