// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's Prometheus page without a datapath: its own counters in the exposition format
 * (a cumulative histogram, counters by kind and source), and no datapath series at all when
 * nothing is pinned rather than zeros that would look like an idle node.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loader/agent/metrics.h"

/* Whether PAGE has the line LINE, whole. */
static bool has_line(const char *page, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = strstr(page, line); p; p = strstr(p + 1, line))
		if ((p == page || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void test_agent_counters(void **state)
{
	uint32_t rejected[METRICS_REJECT_COUNT] = {
	    [METRICS_REJECT_API] = 2, [METRICS_REJECT_CONFLICT] = 1};
	struct metrics *m = metrics_new("/nonexistent/bpffs");
	char *page = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(m);
	metrics_sync_done(m, 0.003, true);
	metrics_sync_done(m, 0.2, false);
	metrics_sync_done(m, 20, true);
	metrics_watch_events(m, K8S_KIND_SERVICE, 5, true);
	metrics_watch_events(m, K8S_KIND_SERVICE, 2, false);
	metrics_rejected(m, rejected);
	assert_int_equal(metrics_format(m, 1000, &page, &len), 0);
	assert_non_null(page);
	assert_int_equal(strlen(page), len);
	assert_true(has_line(page, "# TYPE sluice_sync_duration_seconds histogram"));
	assert_true(has_line(page, "sluice_sync_duration_seconds_bucket{le=\"0.001\"} 0"));
	assert_true(has_line(page, "sluice_sync_duration_seconds_bucket{le=\"0.005\"} 1"));
	assert_true(has_line(page, "sluice_sync_duration_seconds_bucket{le=\"0.25\"} 2"));
	assert_true(has_line(page, "sluice_sync_duration_seconds_bucket{le=\"10\"} 2"));
	assert_true(has_line(page, "sluice_sync_duration_seconds_bucket{le=\"+Inf\"} 3"));
	assert_true(has_line(page, "sluice_sync_duration_seconds_count 3"));
	assert_true(has_line(page, "sluice_sync_failures_total 1"));
	assert_true(has_line(page, "sluice_watch_events_total{kind=\"Service\"} 7"));
	assert_true(has_line(page, "sluice_watch_relists_total{kind=\"Service\"} 1"));
	assert_true(has_line(page, "sluice_watch_events_total{kind=\"Pod\"} 0"));
	assert_true(has_line(page, "sluice_objects_rejected{source=\"api\"} 2"));
	assert_true(has_line(page, "sluice_objects_rejected{source=\"conflict\"} 1"));
	/* Nothing pinned: no datapath series, not zeros. */
	assert_null(strstr(page, "sluice_packets_total"));
	assert_null(strstr(page, "sluice_conntrack_entries"));
	free(page);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
