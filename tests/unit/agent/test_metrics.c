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
	struct metrics *m = metrics_new("/nonexistent/bpffs", METRICS_SERVICE_TOP_DEFAULT);
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
	assert_null(strstr(page, "sluice_service_new_flows_total"));
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

/*
 * The per-Service series' bound: a Service port's frontends (ClusterIP, NodePort...) count as
 * one, and only the TOP ports with the most new flows are kept, most first, ties by name.
 */
static void test_service_top(void **state)
{
	struct metrics_service_flows items[] = {
	    {"default/web:http", 5}, {"default/db:5432", 9},   {"kube-system/dns:dns", 1},
	    {"default/web:http", 7}, {"default/api:8080", 12}, {"default/db:5432", 3},
	    {"default/idle:80", 0},
	};
	size_t n = sizeof(items) / sizeof(items[0]);

	(void)state;
	assert_int_equal(metrics_service_top(items, n, 2), 2);
	/* api, db and web tie at 12: by name, api and db; web is beyond the bound of 2. */
	assert_string_equal(items[0].name, "default/api:8080");
	assert_int_equal(items[0].flows, 12);
	assert_string_equal(items[1].name, "default/db:5432");
	assert_int_equal(items[1].flows, 12);
	assert_int_equal(metrics_service_top(items, 0, 2), 0);

	struct metrics_service_flows all[] = {
	    {"a/x:1", 1},
	    {"a/x:1", 1},
	    {"b/y:2", 4},
	    {"c/z:3", 0},
	};
	assert_int_equal(metrics_service_top(all, 4, METRICS_SERVICE_TOP_DEFAULT), 3);
	assert_string_equal(all[0].name, "b/y:2");
	assert_string_equal(all[1].name, "a/x:1");
	assert_int_equal(all[1].flows, 2);
	assert_string_equal(all[2].name, "c/z:3");
}

/* Every direction has its label value, as every reason does. */
static void test_every_direction_named(void **state)
{
	(void)state;
	for (int i = 0; i < DROP_DIR_MAX; i++)
		assert_non_null(drop_dir_ids[i]);
	assert_string_equal(drop_dir_ids[DROP_DIR_INGRESS], "ingress");
	assert_string_equal(drop_dir_ids[DROP_DIR_EGRESS], "egress");
	/* The array the datapath indexes is [direction][reason]. */
	assert_int_equal(DROPS_KEY(DROP_POLICY_EGRESS, DROP_DIR_EGRESS),
			 DROP_MAX + DROP_POLICY_EGRESS);
	assert_int_equal(DROPS_ENTRIES, 2 * DROP_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_counters),
	    cmocka_unit_test(test_every_reason_named),
	    cmocka_unit_test(test_every_direction_named),
	    cmocka_unit_test(test_service_top),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
