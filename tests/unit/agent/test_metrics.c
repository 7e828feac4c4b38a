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
#include "maps/stats.h"

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

/* Every outcome and drop reason has a label value: a new one without it would read "unknown". */
static void test_every_reason_named(void **state)
{
	(void)state;
	for (int i = 0; i < STAT_MAX; i++)
		assert_non_null(stat_names[i]);
	for (int i = DROP_NONE + 1; i < DROP_MAX; i++) {
		assert_non_null(drop_ids[i]);
		assert_non_null(drop_names[i]);
		for (const char *c = drop_ids[i]; *c; c++)
			assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
				    *c == '_');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_counters),
	    cmocka_unit_test(test_every_reason_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
