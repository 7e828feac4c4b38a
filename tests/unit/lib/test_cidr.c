// SPDX-License-Identifier: Apache-2.0
/* Unit tests of lib/cidr: the one IPv4 CIDR parser (each caller's flags), IPv6 recognition,
 * set operations and text. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/cidr.h"

static struct cidr4 cidr(const char *text)
{
	struct cidr4 out;

	assert_int_equal(cidr4_parse(text, 0, &out), 0);
	return out;
}

static uint32_t ip(const char *text)
{
	uint32_t out;

	assert_int_equal(inet_pton(AF_INET, text, &out), 1);
	return out;
}

static void test_parse_valid(void **state)
{
	struct cidr4 out;
	char buf[CIDR4_STR_LEN];

	(void)state;
	assert_int_equal(cidr4_parse("10.0.0.0/8", 0, &out), 0);
	assert_int_equal(out.address, ip("10.0.0.0"));
	assert_int_equal(out.prefix_len, 8);
	assert_int_equal(cidr4_parse("0.0.0.0/0", 0, &out), 0);
	assert_int_equal(out.prefix_len, 0);
	assert_int_equal(cidr4_parse("255.255.255.255/32", CIDR4_NO_LEADING_ZERO, &out), 0);
	assert_string_equal(cidr4_str(&out, buf, sizeof(buf)), "255.255.255.255/32");
	/* A leading zero in the prefix length: accepted unless the caller refuses it. */
	assert_int_equal(cidr4_parse("10.1.0.0/016", 0, &out), 0);
	assert_int_equal(out.prefix_len, 16);
	assert_int_equal(cidr4_parse("10.1.0.0/016", CIDR4_NO_LEADING_ZERO, &out), -EINVAL);
	assert_int_equal(cidr4_parse("0.0.0.0/00", CIDR4_NO_LEADING_ZERO, &out), -EINVAL);
	assert_int_equal(cidr4_parse("0.0.0.0/0", CIDR4_NO_LEADING_ZERO, &out), 0);
}

static void test_parse_host_bits(void **state)
{
	struct cidr4 out = {0};

	(void)state;
	assert_int_equal(cidr4_parse("10.1.2.3/16", 0, &out), -EINVAL);
	assert_int_equal(cidr4_parse("10.1.2.3/16", CIDR4_MASK_HOST_BITS, &out), 0);
	assert_int_equal(out.address, ip("10.1.0.0"));
	assert_int_equal(out.prefix_len, 16);
	assert_int_equal(cidr4_parse("10.1.2.3/0", CIDR4_MASK_HOST_BITS, &out), 0);
	assert_int_equal(out.address, 0);
	assert_int_equal(cidr4_parse("10.1.2.3/32", 0, &out), 0);
	assert_int_equal(out.address, ip("10.1.2.3"));
}

static void test_parse_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "10.0.0.0",
	    "10.0.0.0/",
	    "10.0.0.0/33",
	    "10.0.0.0/-1",
	    "10.0.0.0/+8",
	    "10.0.0.0/ 8",
	    "10.0.0.0/8 ",
	    "10.0.0.0/8/8",
	    "10.0.0/8",
	    "10.0.0.256/8",
	    "010.0.0.0/8",
	    " 10.0.0.0/8",
	    "10.0.0.0/0x8",
	    "fd00::/8",
	    "10.0.0.0/99999999999999999999",
	    "1.2.3.4.5.6.7.8.9.10.11.12.13.14/8",
	    "/8",
	};
	struct cidr4 out;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cidr4_parse(bad[i], CIDR4_MASK_HOST_BITS, &out) != -EINVAL)
			fail_msg("\"%s\" parsed", bad[i]);
	}
	assert_int_equal(cidr4_parse(NULL, 0, &out), -EINVAL);
}

static void test_is_ipv6(void **state)
{
	(void)state;
	assert_true(cidr_is_ipv6("fd00::/8"));
	assert_true(cidr_is_ipv6("fd00::1/64")); /* host bits allowed */
	assert_true(cidr_is_ipv6("::/0"));
	assert_true(cidr_is_ipv6("2001:db8::/128"));
	assert_false(cidr_is_ipv6("2001:db8::/129"));
	assert_false(cidr_is_ipv6("2001:db8::"));
	assert_false(cidr_is_ipv6("2001:db8::/x"));
	assert_false(cidr_is_ipv6("10.0.0.0/8"));
	assert_false(cidr_is_ipv6("garbage:/8"));
	assert_false(cidr_is_ipv6(NULL));
}

static void test_contains_overlap(void **state)
{
	struct cidr4 ten = cidr("10.0.0.0/8"), ten_one = cidr("10.1.0.0/16");
	struct cidr4 other = cidr("192.168.0.0/16"), all = cidr("0.0.0.0/0");

	(void)state;
	assert_true(cidr4_has_address(&ten, ip("10.255.0.1")));
	assert_false(cidr4_has_address(&ten, ip("11.0.0.0")));
	assert_true(cidr4_has_address(&all, ip("1.2.3.4")));
	assert_true(cidr4_contains(&ten, &ten_one));
	assert_false(cidr4_contains(&ten_one, &ten));
	assert_true(cidr4_contains(&ten, &ten));
	assert_true(cidr4_overlap(&ten, &ten_one));
	assert_true(cidr4_overlap(&ten_one, &ten));
	assert_false(cidr4_overlap(&ten, &other));
	assert_true(cidr4_overlap(&all, &other));
	assert_int_equal(cidr4_mask(0), 0);
	assert_int_equal(cidr4_mask(8), htonl(0xff000000));
	assert_int_equal(cidr4_mask(32), 0xffffffff);
}

static void test_str(void **state)
{
	struct cidr4 value = cidr("10.244.255.240/28");
	char buf[CIDR4_STR_LEN], small[8];

	(void)state;
	assert_string_equal(cidr4_str(&value, buf, sizeof(buf)), "10.244.255.240/28");
	assert_string_equal(cidr4_str(&value, small, sizeof(small)), "10.244.");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_valid),	     cmocka_unit_test(test_parse_host_bits),
	    cmocka_unit_test(test_parse_invalid),    cmocka_unit_test(test_is_ipv6),
	    cmocka_unit_test(test_contains_overlap), cmocka_unit_test(test_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
