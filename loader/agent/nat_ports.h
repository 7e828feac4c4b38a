/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SNAT port range (maps/node.h) against the node's own ephemeral ports: a masqueraded flow
 * and a connection the node opens must never take the same (node address, port, backend).
 */
#ifndef SLUICE_NAT_PORTS_H
#define SLUICE_NAT_PORTS_H

#include <stddef.h>
#include <stdint.h>

#define NAT_PORTS_SYSCTL_RANGE	  "/proc/sys/net/ipv4/ip_local_port_range"
#define NAT_PORTS_SYSCTL_RESERVED "/proc/sys/net/ipv4/ip_local_reserved_ports"

/*
 * Checks [NAT_MIN, NAT_MAX] against RANGE (the text of net.ipv4.ip_local_port_range, "low high")
 * and RESERVED (of net.ipv4.ip_local_reserved_ports, "a,b-c,..." or empty): the SNAT ports the
 * kernel may hand out as ephemeral ports are those inside the range and not reserved. Returns 0
 * when there are none, -EADDRINUSE when there are (ERROR names both ranges and the first such
 * port span), -EINVAL when a text does not parse (ERROR says which).
 */
int nat_ports_check(const char *range, const char *reserved, uint16_t nat_min, uint16_t nat_max,
		    char *error, size_t error_size);

/*
 * nat_ports_check on this network namespace's sysctls, logging the refusal. Returns 0, or
 * -EADDRINUSE / -EINVAL / -errno of reading them.
 */
int nat_ports_check_node(uint16_t nat_min, uint16_t nat_max);

#endif
