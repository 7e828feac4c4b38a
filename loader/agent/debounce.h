/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When the agent applies what changed: a fixed delay after the first change not yet applied.
 * Later changes join that sync without moving it, so no stream of wakeups (manifest edits,
 * API events) can hold a change back for longer than the delay.
 */
#ifndef SLUICE_DEBOUNCE_H
#define SLUICE_DEBOUNCE_H

#include <stdbool.h>
#include <stdint.h>

struct debounce {
	uint64_t due_ms; /* when the pending changes are applied; 0: none pending */
};

/* A change at NOW_MS: due DELAY_MS later, unless one is pending already (its time stands). */
void debounce_note(struct debounce *d, uint64_t now_ms, uint64_t delay_ms);
/* The pending changes are due at NOW_MS: true once, and nothing is pending any more. */
bool debounce_take(struct debounce *d, uint64_t now_ms);

#endif
