/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Applies a desired state to the service maps as a diff against what they hold, ordered so a
 * packet sees either the old or the new backend set of a frontend, never a mix.
 */
#ifndef SLUICE_SYNC_H
#define SLUICE_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/bpffs.h"
#include "loader/desired/maglev.h"
#include "loader/desired/state.h"

/* What one sync_apply() did; also what the agent logs and tests assert on. */
struct sync_counts {
	unsigned int added;	/* frontends created */
	unsigned int changed;	/* frontends whose backend set, flags or name were rewritten */
	unsigned int removed;	/* frontends deleted */
	unsigned int unchanged; /* frontends left alone */
	unsigned int failed;	/* frontends refused or whose writes failed (old state kept) */
	unsigned int backends_added;
	unsigned int backends_removed;
	unsigned int ct_flushed;  /* UDP conntrack entries deleted with their backend */
	unsigned long map_writes; /* updates and deletes on lb4_svc/slots/maglev/backends/revnat */
	unsigned long policy_writes; /* updates and deletes on the policy maps */
};

struct sync_ctx;

/*
 * Adopt what the service maps of MAPS hold (lb4_svc, lb4_vips, lb4_slots, lb4_backends, lb4_revnat;
 * ct4 is used for UDP flushes), so the first sync is a diff against reality. Entries no service
 * reaches (left by an agent killed mid-sync) are deleted. The descriptors are borrowed and must
 * stay open until sync_close(). Returns 0 or -errno.
 */
int sync_open(const struct sluice_maps *maps, struct sync_ctx **out);
void sync_close(struct sync_ctx *ctx);

/*
 * Make the maps hold STATE. Frontends whose writes fail keep their previous state and are
 * counted in counts->failed. Returns 0, or the first -errno met (the rest was still applied).
 */
int sync_apply(struct sync_ctx *ctx, const struct desired_state *state, struct sync_counts *counts);

/*
 * Backend choice of the frontends from the next sync_apply() on (LB_ALGORITHM_MAGLEV until set).
 * A frontend programmed with the other one is rewritten by a generation flip, so a restart with
 * another --lb-algorithm converges without breaking established flows. Maglev needs the
 * lb4_maglev map; without it (older pins) every frontend picks at random.
 */
void sync_set_lb_algorithm(struct sync_ctx *ctx, enum lb_algorithm algorithm);
/* M of the Maglev tables (lb4_maglev's value size / 4), or 0 without the map. */
uint32_t sync_maglev_size(const struct sync_ctx *ctx);

/*
 * Apply a delta: UPSERTS are frontends new or rebuilt (compared with what the maps hold, as in
 * sync_apply()), REMOVED the keys (vip, port, proto, scope) no longer desired; every other
 * frontend is left alone without being looked at. From STATE only the node addresses and the
 * policy (NULL: unchanged) are used. Counts and return as sync_apply().
 */
int sync_apply_delta(struct sync_ctx *ctx, const struct desired_state *state,
		     const struct lb_frontend *const *upserts, size_t n_upserts,
		     const struct lb_frontend *removed, size_t n_removed,
		     struct sync_counts *counts);

/*
 * After a flip the old slot generation and its backends stay readable for a grace period, so a
 * packet that read the frontend just before the flip still finds them. They are deleted by the
 * first sync_apply() or sync_retire() after the grace period. Tests set 0 for immediate cleanup.
 */
#define SYNC_RETIRE_GRACE_NS 1000000000ull
void sync_set_retire_grace(struct sync_ctx *ctx, uint64_t grace_ns);
/*
 * A full sync writes its new frontends' entries in batches (BPF_MAP_UPDATE_BATCH), falling back
 * to one entry at a time where the kernel refuses them; false: one at a time from the start (the
 * tests compare both).
 */
void sync_set_batch_writes(struct sync_ctx *ctx, bool is_on);
/*
 * End retired generations whose grace period is over, deleting the backends only they held
 * (and flushing those backends' UDP flows). Call it when the grace period of the last sync is
 * over (sync_has_retired()) and periodically. Returns 0 or -errno.
 */
int sync_retire(struct sync_ctx *ctx, struct sync_counts *counts);
/* Whether some slot generation waits for the end of its grace period. */
bool sync_has_retired(const struct sync_ctx *ctx);

/* Frontends and backends currently programmed. */
size_t sync_service_count(const struct sync_ctx *ctx);
size_t sync_backend_count(const struct sync_ctx *ctx);
/* Map writes done by sync_open() to clean up unreachable entries. */
unsigned long sync_adopt_writes(const struct sync_ctx *ctx);

struct ct4_key;
struct ct_entry;

/* Picks the entries a sweep deletes; ARG is the sweep's. */
typedef bool (*sync_ct_is_stale_fn)(const struct ct4_key *key, const struct ct_entry *entry,
				    const void *arg);

/*
 * Walk ct4 and delete the entries IS_STALE picks, never one the datapath re-created on the same
 * tuple after the walk read it: IS_STALE is asked again about the entry the delete removed
 * (atomically, BPF_MAP_LOOKUP_AND_DELETE_ELEM, Linux 5.14), and an entry it no longer picks is
 * put back at once unless the datapath has written the key again meanwhile. Returns the number
 * deleted or -errno.
 */
int sync_ct_sweep(int ct4_fd, sync_ct_is_stale_fn is_stale, const void *arg);

/*
 * Delete ct4 entries that expired at least CT_GC_MARGIN_NS before NOW_NS (CLOCK_MONOTONIC, the
 * base of the datapath clock), by sync_ct_sweep; an entry early drop is deleting is its own.
 * KEPT, when not NULL, gets the number of entries the sweep left (the table's fill, as the
 * sweep saw it). Returns the number deleted or -errno.
 */
int sync_ct_expire(int ct4_fd, uint64_t now_ns, uint32_t *kept);

#endif
