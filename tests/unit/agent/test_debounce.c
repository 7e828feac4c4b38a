// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's debounce: a change is applied AGENT_DEBOUNCE_MS after the first one pending, however
 * many wakeups follow; a burst is one sync; after a sync the next change opens a new window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "loader/agent/agent.h"
#include "loader/agent/debounce.h"

/* A burst within the delay: one sync, AGENT_DEBOUNCE_MS after its first change. */
static void test_burst_is_one_sync(void **state)
{
	struct debounce d = {0};
	uint64_t t;
	int syncs = 0;

	(void)state;
	for (t = 1000; t < 1000 + AGENT_DEBOUNCE_MS; t++) {
		if (t % 7 == 0)
			debounce_note(&d, t, AGENT_DEBOUNCE_MS);
		syncs += debounce_take(&d, t);
	}
	assert_int_equal(syncs, 0);
	for (; t < 1000 + 10 * AGENT_DEBOUNCE_MS; t++)
		syncs += debounce_take(&d, t);
	assert_int_equal(syncs, 1);
}

/*
 * A wakeup every 10 ms for 10 s (watch events, bookmarks, editor writes): every change is applied
 * within AGENT_DEBOUNCE_MS of when it came, never held back by the ones after it (a trailing
 * debounce restarted by each wakeup would not sync until the stream stops).
 */
static void test_stream_never_postpones(void **state)
{
	struct debounce d = {0};
	uint64_t oldest = 0; /* the first change not yet applied, 0: none */
	uint64_t worst = 0;
	int syncs = 0;

	(void)state;
	for (uint64_t t = 1; t <= 10000; t++) {
		if (t % 10 == 0) {
			debounce_note(&d, t, AGENT_DEBOUNCE_MS);
			if (!oldest)
				oldest = t;
		}
		if (debounce_take(&d, t)) {
			syncs++;
			assert_true(oldest > 0);
			if (t - oldest > worst)
				worst = t - oldest;
			oldest = 0;
		}
	}
	assert_int_equal(worst, AGENT_DEBOUNCE_MS);
	assert_true(syncs >= 10000 / (AGENT_DEBOUNCE_MS + 10));
}

/* Nothing pending: nothing due, whatever the time; a take consumes the pending sync. */
static void test_take_once(void **state)
{
	struct debounce d = {0};

	(void)state;
	assert_false(debounce_take(&d, 0));
	assert_false(debounce_take(&d, UINT64_MAX));
	debounce_note(&d, 5, 0);
	assert_true(debounce_take(&d, 5));
	assert_false(debounce_take(&d, 6));
	debounce_note(&d, 50, AGENT_DEBOUNCE_MS);
	debounce_note(&d, 120, AGENT_DEBOUNCE_MS);
	assert_false(debounce_take(&d, 50 + AGENT_DEBOUNCE_MS - 1));
	assert_true(debounce_take(&d, 50 + AGENT_DEBOUNCE_MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_is_one_sync),
	    cmocka_unit_test(test_stream_never_postpones),
	    cmocka_unit_test(test_take_once),
	};

	return cmocka_run_group_tests_name("debounce", tests, NULL, NULL);
}
