/* SPDX-License-Identifier: Apache-2.0 */
/* Assertions for the BPF packet tests: each prints name, actual and expected, and returns a bool.
 */
#ifndef SLUICE_TESTS_HARNESS_H
#define SLUICE_TESTS_HARNESS_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tests/bpf/pkt.h"

/*
 * A test is a function returning nothing: it fails when any assertion failed, even if it also
 * called test_skip(), before or after. It is skipped only when it called test_skip() and recorded
 * no failure; the reason names the missing kernel feature (docs/tests.md lists the legitimate
 * skips), and a skip with an empty reason fails. The first failure becomes the runner's
 * "FAIL name: why"; later ones are printed indented below it.
 */
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define ASSERT_TRUE(cond, name)                                                                    \
	({                                                                                         \
		bool ___ok = (cond);                                                               \
		if (!___ok)                                                                        \
			test_fail(__FILE__, __LINE__, "%s: is false", name);                       \
		___ok;                                                                             \
	})

#define ASSERT_FALSE(cond, name)                                                                   \
	({                                                                                         \
		bool ___ok = !(cond);                                                              \
		if (!___ok)                                                                        \
			test_fail(__FILE__, __LINE__, "%s: is true", name);                        \
		___ok;                                                                             \
	})

#define ASSERT_EQ(actual, expected, name)                                                          \
	({                                                                                         \
		unsigned long long ___a = (unsigned long long)(actual);                            \
		unsigned long long ___e = (unsigned long long)(expected);                          \
		bool ___ok = ___a == ___e;                                                         \
		if (!___ok)                                                                        \
			test_fail(__FILE__, __LINE__,                                              \
				  "%s: actual %lld (0x%llx), expected %lld (0x%llx)", name,        \
				  (long long)___a, ___a, (long long)___e, ___e);                   \
		___ok;                                                                             \
	})

#define ASSERT_NEQ(actual, unexpected, name)                                                       \
	({                                                                                         \
		unsigned long long ___a = (unsigned long long)(actual);                            \
		unsigned long long ___u = (unsigned long long)(unexpected);                        \
		bool ___ok = ___a != ___u;                                                         \
		if (!___ok)                                                                        \
			test_fail(__FILE__, __LINE__,                                              \
				  "%s: actual %lld (0x%llx), expected anything else", name,        \
				  (long long)___a, ___a);                                          \
		___ok;                                                                             \
	})

/* 0 or -errno from a libbpf or helper call. */
#define ASSERT_OK(err, name)                                                                       \
	({                                                                                         \
		int ___err = (err);                                                                \
		bool ___ok = ___err == 0;                                                          \
		if (!___ok)                                                                        \
			test_fail(__FILE__, __LINE__, "%s: error %d (%s)", name, ___err,           \
				  strerror(___err < 0 ? -___err : ___err));                        \
		___ok;                                                                             \
	})

/* IPv4 addresses in network byte order, printed dotted. */
#define ASSERT_IP_EQ(actual, expected, name)                                                       \
	({                                                                                         \
		__be32 ___a = (actual), ___e = (expected);                                         \
		bool ___ok = ___a == ___e;                                                         \
		if (!___ok)                                                                        \
			test_fail(__FILE__, __LINE__, "%s: actual %s, expected %s", name,          \
				  pkt_ip_str(___a), pkt_ip_str(___e));                             \
		___ok;                                                                             \
	})

/* Ports in network byte order, printed in host order. */
#define ASSERT_PORT_EQ(actual, expected, name)                                                     \
	({                                                                                         \
		__be16 ___a = (actual), ___e = (expected);                                         \
		bool ___ok = ___a == ___e;                                                         \
		if (!___ok)                                                                        \
			test_fail(__FILE__, __LINE__, "%s: actual %u, expected %u", name,          \
				  ntohs(___a), ntohs(___e));                                       \
		___ok;                                                                             \
	})

#define ASSERT_MEM_EQ(actual, expected, len, name)                                                 \
	assert_mem_eq(__FILE__, __LINE__, (actual), (expected), (len), name)

/* Frames equal except checksum fields (pkt_diff); the message names the first field. */
#define ASSERT_PKT_EQ(actual, actual_len, expected, expected_len, name)                            \
	assert_pkt_eq(__FILE__, __LINE__, (actual), (actual_len), (expected), (expected_len), name)

/* Every checksum and length of an IPv4 frame is what a receiver accepts (pkt_verify). */
#define ASSERT_CSUMS_OK(frame, len, name) assert_csums_ok(__FILE__, __LINE__, (frame), (len), name)

bool assert_mem_eq(const char *file, int line, const void *actual, const void *expected, size_t len,
		   const char *name);
bool assert_pkt_eq(const char *file, int line, const uint8_t *actual, size_t actual_len,
		   const uint8_t *expected, size_t expected_len, const char *name);
bool assert_csums_ok(const char *file, int line, const uint8_t *frame, size_t len,
		     const char *name);

#endif
