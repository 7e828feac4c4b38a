// SPDX-License-Identifier: Apache-2.0
/* The agent's debounce: a change is applied a fixed delay after the first one pending. */
#include "loader/agent/debounce.h"

void debounce_note(struct debounce *d, uint64_t now_ms, uint64_t delay_ms)
{
	if (d->due_ms)
		return; /* not extended: the first pending change sets when all are applied */
	d->due_ms = now_ms + delay_ms;
	if (!d->due_ms)
		d->due_ms = 1; /* 0 means none pending */
}

bool debounce_take(struct debounce *d, uint64_t now_ms)
{
	if (!d->due_ms || now_ms < d->due_ms)
		return false;
	d->due_ms = 0;
	return true;
}
