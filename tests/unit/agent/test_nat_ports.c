// SPDX-License-Identifier: Apache-2.0
/* The SNAT port range against the node's ephemeral ports: refused when they overlap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "loader/agent/nat_ports.h"
#include "maps/node.h"

static int check(const char *range, const char *reserved, char *error, size_t size)
{
	return nat_ports_check(range, reserved, NAT_PORT_MIN_DEFAULT, NAT_PORT_MAX_DEFAULT, error,
			       size);
}

/* Linux's default ephemeral range ends below the SNAT range. */
static void test_default_range_is_disjoint(void **state)
{
	char error[512] = "";

	(void)state;
	assert_int_equal(check("32768\t60999\n", "\n", error, sizeof(error)), 0);
	assert_int_equal(check("1024 60999", "", error, sizeof(error)), 0);
}

/* An ephemeral range reaching into the SNAT ports: refused, the message names both ranges. */
static void test_overlap_refused(void **state)
{
	char error[512] = "";

	(void)state;
	assert_int_equal(check("32768\t65000\n", "\n", error, sizeof(error)), -EADDRINUSE);
	assert_non_null(strstr(error, "SNAT ports 61000-65535"));
	assert_non_null(strstr(error, "ip_local_port_range 32768-65000"));
	assert_non_null(strstr(error, "61000-65000"));
	assert_int_equal(check("1024 65535", "", error, sizeof(error)), -EADDRINUSE);
	assert_int_equal(check("65535 65535", "", error, sizeof(error)), -EADDRINUSE);
}

/* Reserved ports are never handed out as ephemeral: an overlap they cover is fine. */
static void test_reserved_overlap_accepted(void **state)
{
	char error[512] = "";

	(void)state;
	assert_int_equal(check("32768 65535", "61000-65535\n", error, sizeof(error)), 0);
	assert_int_equal(check("32768 62000", "8080,61000-61999,62000", error, sizeof(error)), 0);
	/* One port left out of the reservation is enough to refuse, and it is named. */
	assert_int_equal(check("32768 62000", "61000-61499,61501-62000", error, sizeof(error)),
			 -EADDRINUSE);
	assert_non_null(strstr(error, "61500-61500"));
}

static void test_unparsable_refused(void **state)
{
	char error[512] = "";

	(void)state;
	assert_int_equal(check("", "", error, sizeof(error)), -EINVAL);
	assert_int_equal(check("60999 32768", "", error, sizeof(error)), -EINVAL);
	assert_int_equal(check("32768 60999", "61000-x", error, sizeof(error)), -EINVAL);
	assert_non_null(strstr(error, "ip_local_reserved_ports"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_range_is_disjoint),
	    cmocka_unit_test(test_overlap_refused),
	    cmocka_unit_test(test_reserved_overlap_accepted),
	    cmocka_unit_test(test_unparsable_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
