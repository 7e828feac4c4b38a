// SPDX-License-Identifier: Apache-2.0
/* Runner for the BPF packet tests: each test of the generated table, then a summary line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "tests/bpf/harness.h"
/* The test table, generated from the test_*.c files (Makefile: build/tests/bpf_tests.h). */
#include "tests/bpf_tests.h"

struct test {
	const char *name;
	void (*run)(void);
};

#define TEST_ENTRY(name) {#name, test_##name},
static const struct test tests[] = {BPF_TESTS(TEST_ENTRY)};

/* State of the running test. */
static int failures;
static char first_failure[1024];
static bool skipped;
static char skip_reason[256];
static int verbose;		 /* -v: packet dumps on failure; -vv: libbpf debug output too */
static char more_failures[4096]; /* failures after the first, printed below the FAIL line */

void test_fail(const char *file, int line, const char *fmt, ...)
{
	char message[900];
	const char *base = strrchr(file, '/');
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (failures++ == 0)
		snprintf(first_failure, sizeof(first_failure), "%s (%s:%d)", message,
			 base ? base + 1 : file, line);
	else {
		size_t used = strlen(more_failures);

		snprintf(more_failures + used, sizeof(more_failures) - used,
			 "    also: %s (%s:%d)\n", message, base ? base + 1 : file, line);
	}
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
	skipped = true;
}

bool assert_mem_eq(const char *file, int line, const void *actual, const void *expected, size_t len,
		   const char *name)
{
	const uint8_t *a = actual, *e = expected;
	size_t i;

	for (i = 0; i < len; i++) {
		if (a[i] != e[i]) {
			test_fail(file, line, "%s: byte %zu is 0x%02x, expected 0x%02x", name, i,
				  a[i], e[i]);
			return false;
		}
	}
	return true;
}

static void format_bytes(char *out, size_t out_len, const uint8_t *data, size_t len)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < len && used + 3 < out_len; i++)
		used += (size_t)snprintf(out + used, out_len - used, "%02x", data[i]);
}

bool assert_pkt_eq(const char *file, int line, const uint8_t *actual, size_t actual_len,
		   const uint8_t *expected, size_t expected_len, const char *name)
{
	long off = pkt_diff(actual, actual_len, expected, expected_len);
	char actual_hex[64], expected_hex[64];
	struct pkt_field field;

	if (off == -1)
		return true;
	if (off == -2) {
		test_fail(file, line, "%s: frame is %zu bytes, expected %zu", name, actual_len,
			  expected_len);
	} else {
		field = pkt_field_at(expected, expected_len, (size_t)off);
		if (field.off + field.len > actual_len || field.len > 16)
			field.off = (size_t)off, field.len = 1;
		format_bytes(actual_hex, sizeof(actual_hex), actual + field.off, field.len);
		format_bytes(expected_hex, sizeof(expected_hex), expected + field.off, field.len);
		test_fail(file, line, "%s: %s (offset %ld) is %s, expected %s", name, field.name,
			  off, actual_hex, expected_hex);
	}
	if (verbose) {
		pkt_dump("actual", actual, actual_len);
		pkt_dump("expected", expected, expected_len);
	}
	return false;
}

bool assert_csums_ok(const char *file, int line, const uint8_t *frame, size_t len, const char *name)
{
	char why[256];

	if (pkt_verify(frame, len, why, sizeof(why)))
		return true;
	test_fail(file, line, "%s: %s", name, why);
	if (verbose)
		pkt_dump("frame", frame, len);
	return false;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && verbose < 2)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* The name check_harness_outcomes reports under. */
#define HARNESS_CHECK "harness_outcomes"

enum outcome { OUTCOME_PASS, OUTCOME_FAIL, OUTCOME_SKIP };

/*
 * Runs one test on fresh state and decides its outcome. Any recorded failure wins over a skip,
 * whichever came first: a test that failed and then found a feature missing still failed. A skip
 * must say which kernel feature is missing (or that we are not root); one without a reason fails.
 */
static enum outcome run_test(void (*run)(void))
{
	failures = 0;
	skipped = false;
	first_failure[0] = skip_reason[0] = more_failures[0] = '\0';
	run();
	if (skipped && !skip_reason[0])
		test_fail(__FILE__, __LINE__, "skipped without naming the missing kernel feature");
	if (failures)
		return OUTCOME_FAIL;
	return skipped ? OUTCOME_SKIP : OUTCOME_PASS;
}

static void report(const char *name, enum outcome outcome, int *passed, int *failed, int *skips)
{
	switch (outcome) {
	case OUTCOME_FAIL:
		printf("FAIL %s: %s\n%s", name, first_failure, more_failures);
		(*failed)++;
		break;
	case OUTCOME_SKIP:
		printf("SKIP %s: %s\n", name, skip_reason);
		(*skips)++;
		break;
	case OUTCOME_PASS:
		printf("PASS %s\n", name);
		(*passed)++;
		break;
	}
}

/* Bookkeeping cases for harness_outcomes: what each one records, in order. */
static void outcome_pass(void)
{
}

static void outcome_fail(void)
{
	test_fail(__FILE__, __LINE__, "planted failure");
}

static void outcome_fail_then_skip(void)
{
	test_fail(__FILE__, __LINE__, "planted failure");
	test_skip("planted skip: the kernel lacks a feature");
}

static void outcome_skip_then_fail(void)
{
	test_skip("planted skip: the kernel lacks a feature");
	test_fail(__FILE__, __LINE__, "planted failure");
}

static void outcome_skip(void)
{
	test_skip("planted skip: the kernel lacks a feature");
}

static void outcome_skip_without_reason(void)
{
	test_skip("%s", "");
}

/*
 * The runner's own check, harness_outcomes, run before the tests: planted cases go through
 * run_test() and must come out as expected, so a change that lets a skip hide a failure fails
 * here. It runs no BPF, and runs through run_test() itself (this resets the state it clobbered).
 */
static void check_harness_outcomes(void)
{
	static const struct {
		const char *name;
		void (*run)(void);
		enum outcome expected;
	} cases[] = {
	    {"pass", outcome_pass, OUTCOME_PASS},
	    {"fail", outcome_fail, OUTCOME_FAIL},
	    {"fail_then_skip", outcome_fail_then_skip, OUTCOME_FAIL},
	    {"skip_then_fail", outcome_skip_then_fail, OUTCOME_FAIL},
	    {"skip", outcome_skip, OUTCOME_SKIP},
	    {"skip_without_reason", outcome_skip_without_reason, OUTCOME_FAIL},
	};
	static const char *const names[] = {"PASS", "FAIL", "SKIP"};
	char wrong[512] = "";
	size_t i, used = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum outcome outcome = run_test(cases[i].run);

		if (outcome != cases[i].expected && used < sizeof(wrong))
			used += (size_t)snprintf(wrong + used, sizeof(wrong) - used,
						 "%s%s is %s, expected %s", used ? "; " : "",
						 cases[i].name, names[outcome],
						 names[cases[i].expected]);
	}
	/* The outcome of this check itself, on the state the cases left behind. */
	failures = 0;
	skipped = false;
	first_failure[0] = skip_reason[0] = more_failures[0] = '\0';
	if (wrong[0])
		test_fail(__FILE__, __LINE__, "%s", wrong);
}

static void usage(const char *argv0)
{
	fprintf(
	    stderr,
	    "usage: %s [-v] [-l] [FILTER]\n"
	    "  runs the tests whose name contains FILTER (all by default)\n"
	    "  -v  hex dumps of the packets a failed assertion compared (-vv: libbpf debug too)\n"
	    "  -l  list test names\n",
	    argv0);
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	int passed = 0, failed = 0, skips = 0, opt;
	size_t i;

	while ((opt = getopt(argc, argv, "vlh")) != -1) {
		switch (opt) {
		case 'v':
			verbose++;
			break;
		case 'l':
			printf("%s\n", HARNESS_CHECK);
			for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
				printf("%s\n", tests[i].name);
			return 0;
		default:
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind < argc)
		filter = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print);

	if (!filter || strstr(HARNESS_CHECK, filter))
		report(HARNESS_CHECK, run_test(check_harness_outcomes), &passed, &failed, &skips);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (filter && !strstr(tests[i].name, filter))
			continue;
		report(tests[i].name, run_test(tests[i].run), &passed, &failed, &skips);
	}
	if (passed + failed + skips == 0) {
		fprintf(stderr, "no test name contains \"%s\" (-l lists them)\n", filter);
		return 2;
	}
	if (skips)
		printf("%d passed, %d failed, %d skipped\n", passed, failed, skips);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
