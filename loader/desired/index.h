/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Objects indexed by key, and the desired state kept current one Service at a time: a changed
 * object marks the Services it feeds, only those are rebuilt (with loader/desired/build.c's
 * rules), and the frontends they claim are weighed against other Services' claims exactly as
 * k8s_build_desired() weighs them. What changed since the last update is handed to
 * loader/sync/sync.c, so one change costs the same with 10 Services as with 10,000.
 */
#ifndef SLUICE_OBJECTS_INDEX_H
#define SLUICE_OBJECTS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "loader/desired/state.h"

struct k8s_index;

/* A new, empty index building with config (copied; config->node and node_ips are borrowed). */
struct k8s_index *k8s_index_new(const struct k8s_build_config *config);
void k8s_index_free(struct k8s_index *index);

/*
 * Candidates for an object's (kind, namespace, name). As in k8s_build_desired(), the first one
 * wins: manifest objects by (source file, position in it), all before the API's. The changes
 * below take effect at once in the index; the Services they feed are rebuilt by the next
 * k8s_index_update().
 *
 * k8s_index_add: a manifest object at position (a reference is taken). k8s_index_move: a new
 * position for it (its file was re-read, earlier documents came or went). k8s_index_remove:
 * withdraw it (the reference is dropped). Return 0 or -ENOMEM (add; nothing changed then).
 */
int k8s_index_add(struct k8s_index *index, struct k8s_object *object, uint32_t position);
void k8s_index_move(struct k8s_index *index, struct k8s_object *object, uint32_t position);
void k8s_index_remove(struct k8s_index *index, struct k8s_object *object);

/*
 * The API's version of kind namespace/name: object, whose reference passes to the index, or
 * NULL when the API has none. Returns the API object it replaces (or NULL), whose reference
 * passes back to the caller. On -ENOMEM (as *err) object was not taken and is returned.
 */
struct k8s_object *k8s_index_set_api(struct k8s_index *index, enum k8s_kind kind,
				     const char *namespace, const char *name,
				     struct k8s_object *object, int *err);

/*
 * Visit every API object the index holds (to release them, or to find those a re-list no
 * longer has). The callback must not change the index.
 */
void k8s_index_for_each_api(const struct k8s_index *index,
			    void (*visit)(void *ctx, struct k8s_object *object), void *ctx);

/* Rebuild every Service at the next update (a node-wide input changed outside the objects). */
void k8s_index_mark_all(struct k8s_index *index);

/* What one update changed, for loader/sync/sync.c; owned by the index until the next update. */
struct k8s_index_delta {
	const struct lb_frontend **upserts; /* frontends new or rebuilt (maybe equal to the maps) */
	size_t n_upserts;
	struct lb_frontend *removed; /* frontends no Service claims any more (key fields only) */
	size_t n_removed;
	size_t n_services;	/* Services rebuilt */
	bool is_node_changed;	/* node addresses changed */
	bool is_health_changed; /* the health checks changed */
	bool is_policy_changed; /* a Pod, Namespace or NetworkPolicy changed */
};

/*
 * Rebuild the Services marked since the last update and weigh their claims. Messages (refused
 * Services, second claims on a frontend or health check port) go to errors. Returns 0 or
 * -ENOMEM (the Services not rebuilt stay marked, and the delta lists what was done).
 */
int k8s_index_update(struct k8s_index *index, struct k8s_errors *errors,
		     const struct k8s_index_delta **delta);

/* The state after the last update. Borrowed until the next change. */
size_t k8s_index_frontend_count(const struct k8s_index *index);
const struct lb_health_check *k8s_index_health_checks(const struct k8s_index *index, size_t *n);
const uint32_t *k8s_index_node_addresses(const struct k8s_index *index, size_t *n);
uint32_t k8s_index_rejected(const struct k8s_index *index); /* Services the build refused */

/* NetworkPolicy compiled over the current Pods, Namespaces and policies (whole-state). */
int k8s_index_policy(const struct k8s_index *index, struct policy_state **out);

/*
 * The whole desired state after the last update, sorted as loader/desired/state.h asks and equal to
 * k8s_build_desired() over the same objects (rejected_objects counts the Services refused
 * here; policy included when is_policy). out is overwritten. Returns 0 or -ENOMEM.
 */
int k8s_index_desired(const struct k8s_index *index, bool is_policy, struct desired_state *out);

#endif
