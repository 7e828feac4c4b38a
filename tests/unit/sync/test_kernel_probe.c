// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel check (loader/sync/kernel_probe.c): the one line that refuses a kernel without a
 * required feature, the warning for an optional one, and the probes on this kernel.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "loader/sync/kernel_probe.h"

static const struct kernel_feature timer = {"bpf_timer (conntrack's clock tick)", "5.15", true,
					    NULL};
static const struct kernel_feature coarse = {"bpf_ktime_get_coarse_ns (conntrack's clock)", "5.11",
					     true, NULL};
static const struct kernel_feature peer = {"bpf_redirect_peer (delivery into pods)", "5.10", true,
					   NULL};
static const struct kernel_feature xdp = {"XDP programs (the uplink's fast path)", "4.8", false,
					  "NodePorts served by tc_node alone"};

/* Debian 11's 5.10: no coarse clock, no timer; one line names the kernel, minimum and both. */
static void test_refusal_line(void **state)
{
	const struct kernel_probe_result results[] = {
	    {&peer, true}, {&coarse, false}, {&timer, false}, {&xdp, true}};
	char line[512];

	(void)state;
	assert_int_equal(kernel_probe_verdict("5.10.0-26-amd64", results, 4, line, sizeof(line)),
			 -ENOTSUP);
	assert_string_equal(line,
			    "kernel 5.10.0-26-amd64: sluice needs Linux 5.15 or later; "
			    "missing: bpf_ktime_get_coarse_ns (conntrack's clock) (Linux 5.11), "
			    "bpf_timer (conntrack's clock tick) (Linux 5.15)");
	assert_null(strchr(line, '\n'));
}

/* An optional feature missing is no refusal: the line says what sluice does without it. */
static void test_optional_missing(void **state)
{
	const struct kernel_probe_result results[] = {
	    {&peer, true}, {&coarse, true}, {&timer, true}, {&xdp, false}};
	char line[512];

	(void)state;
	assert_int_equal(kernel_probe_verdict("6.1.0", results, 4, line, sizeof(line)), 0);
	assert_string_equal(line, "XDP programs (the uplink's fast path) (Linux 4.8; NodePorts "
				  "served by tc_node alone)");
	const struct kernel_probe_result all[] = {{&peer, true}, {&xdp, true}};

	assert_int_equal(kernel_probe_verdict("6.1.0", all, 2, line, sizeof(line)), 0);
	assert_string_equal(line, "");
}

/* This kernel (the test machine's, 5.15 or later) has every required feature. */
static void test_this_kernel(void **state)
{
	struct kernel_probe_result results[32];
	size_t n = kernel_probe_count();
	char line[1024];

	(void)state;
	if (getuid() != 0)
		skip();
	assert_true(n <= 32);
	assert_int_equal(kernel_probe_run(results, n), 0);
	for (size_t i = 0; i < n; i++)
		if (results[i].feature->is_required && !results[i].is_present)
			fail_msg("this kernel lacks %s", results[i].feature->name);
	assert_int_equal(kernel_probe_verdict("this", results, n, line, sizeof(line)), 0);
}

/*
 * Without the capabilities (root turned nobody drops them), the probes say so instead of
 * blaming the kernel: each of them would fail as a missing feature does.
 */
static void test_no_permission(void **state)
{
	struct kernel_probe_result results[32];
	int status;
	pid_t pid;

	(void)state;
	if (getuid() != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		_exit(kernel_probe_run(results, kernel_probe_count()) == -EPERM &&
			      kernel_probe_check() == -EPERM
			  ? 0
			  : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refusal_line),
	    cmocka_unit_test(test_optional_missing),
	    cmocka_unit_test(test_this_kernel),
	    cmocka_unit_test(test_no_permission),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
