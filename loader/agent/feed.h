/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one way objects enter the index: each source's change list (loader/sources/change.h),
 * taken from the source and applied to the index in the order it was emitted.
 */
#ifndef SLUICE_AGENT_FEED_H
#define SLUICE_AGENT_FEED_H

#include <stdint.h>

#include "loader/agent/metrics.h"
#include "loader/desired/index.h"
#include "loader/sources/k8s_client.h"
#include "loader/sources/manifest.h"

/*
 * Apply what the manifest loads since the last call changed (the first call: every object
 * held) to the index. Returns 0 or -ENOMEM (the index may then miss a change: read the
 * directory again).
 */
int feed_manifests(struct desired_index *index, struct manifest_set *manifests);

/*
 * Fold what changed in the API's store into the index: each changed object replaces the API's
 * version of its key; after a re-list, API objects of that kind the list no longer has go.
 * *rejected gets the store's invalid latest versions; METRICS (may be NULL) counts the
 * changes by kind. Returns 0, -EAGAIN before every resource
 * is listed once, or -ENOMEM (some changes apply at their next change).
 */
int feed_api(struct desired_index *index, struct k8s_client *api, uint32_t *rejected,
	     struct metrics *metrics);

/* Give every API object the index holds back to the client (before freeing either). */
void feed_api_release(struct desired_index *index, struct k8s_client *api);

#endif
