// SPDX-License-Identifier: Apache-2.0
/*
 * The SNAT port range against the node's ephemeral ports. The agent refuses to start rather than
 * write ip_local_reserved_ports itself: the sysctl belongs to the node's administrator (other
 * software reserves ports there too), and a silent rewrite would outlive the agent.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "loader/agent/nat_ports.h"

/* Parses "N" or "N-M" (ports) at *P, moving *P past it. */
static bool nat_ports_parse_span(const char **p, unsigned long *low, unsigned long *high)
{
	char *end;

	*low = strtoul(*p, &end, 10);
	if (end == *p || *low > 65535)
		return false;
	*high = *low;
	if (*end == '-') {
		const char *next = end + 1;

		*high = strtoul(next, &end, 10);
		if (end == next || *high > 65535 || *high < *low)
			return false;
	}
	*p = end;
	return true;
}

/* Whether PORT is in the RESERVED list (already validated by nat_ports_check). */
static bool nat_ports_is_reserved(const char *reserved, unsigned long port)
{
	const char *p = reserved;
	unsigned long low, high;

	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p || !nat_ports_parse_span(&p, &low, &high))
			break;
		if (port >= low && port <= high)
			return true;
	}
	return false;
}

int nat_ports_check(const char *range, const char *reserved, uint16_t nat_min, uint16_t nat_max,
		    char *error, size_t error_size)
{
	unsigned long low, high, first = 0, last = 0, a, b;
	const char *p = reserved, *text = range;
	bool is_found = false;
	char *end;

	low = strtoul(range, &end, 10);
	if (end == range || low > 65535)
		goto bad_range;
	range = end;
	high = strtoul(range, &end, 10);
	if (end == range || high > 65535 || high < low)
		goto bad_range;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (*p && !nat_ports_parse_span(&p, &a, &b)) {
			snprintf(error, error_size,
				 "net.ipv4.ip_local_reserved_ports: cannot parse '%s'", reserved);
			return -EINVAL;
		}
	}
	for (unsigned long port = nat_min > low ? nat_min : low;
	     port <= (nat_max < high ? nat_max : high); port++) {
		if (nat_ports_is_reserved(reserved, port)) {
			if (is_found)
				break;
			continue;
		}
		if (!is_found)
			first = port;
		is_found = true;
		last = port;
	}
	if (!is_found)
		return 0;
	snprintf(
	    error, error_size,
	    "SNAT ports %u-%u overlap the node's ephemeral ports (net.ipv4.ip_local_port_range "
	    "%lu-%lu), e.g. %lu-%lu, not in net.ipv4.ip_local_reserved_ports: a masqueraded "
	    "flow could take the tuple of a connection the node opens; end "
	    "ip_local_port_range below %u or reserve the overlap",
	    nat_min, nat_max, low, high, first, last, nat_min);
	return -EADDRINUSE;

bad_range:
	snprintf(error, error_size, "net.ipv4.ip_local_port_range: cannot parse '%s'", text);
	return -EINVAL;
}

/* Reads a sysctl's text into BUF (NUL-terminated, may be empty). Returns 0 or -errno. */
static int nat_ports_read(const char *path, char *buf, size_t size)
{
	FILE *file = fopen(path, "re");
	size_t len;

	if (!file)
		return -errno;
	len = fread(buf, 1, size - 1, file);
	buf[len] = '\0';
	fclose(file);
	return 0;
}

int nat_ports_check_node(uint16_t nat_min, uint16_t nat_max)
{
	char range[64], reserved[4096], error[512];
	int err;

	err = nat_ports_read(NAT_PORTS_SYSCTL_RANGE, range, sizeof(range));
	if (err) {
		log_error("%s: %s", NAT_PORTS_SYSCTL_RANGE, strerror(-err));
		return err;
	}
	if (nat_ports_read(NAT_PORTS_SYSCTL_RESERVED, reserved, sizeof(reserved)))
		reserved[0] = '\0'; /* absent: nothing reserved */
	err = nat_ports_check(range, reserved, nat_min, nat_max, error, sizeof(error));
	if (err)
		log_error("%s", error);
	return err;
}
