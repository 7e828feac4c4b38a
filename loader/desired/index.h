/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Objects indexed by key, and the desired state kept current one Service at a time: a changed
 * object marks the Services it feeds, only those are rebuilt (with loader/desired/build.c's
 * rules), and the frontends they claim are weighed against other Services' claims exactly as
 * desired_build() weighs them. What changed since the last update is handed to
 * loader/sync/sync.c, so one change costs the same with 10 Services as with 10,000.
 */
#ifndef SLUICE_DESIRED_INDEX_H
#define SLUICE_DESIRED_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "loader/desired/state.h"

struct desired_index;

/* A new, empty index building with config (copied; config->node and node_ips are borrowed). */
struct desired_index *desired_index_new(const struct desired_build_config *config);
void desired_index_free(struct desired_index *index);

/*
 * Candidates for an object's (kind, namespace, name). As in desired_build(), the first one
 * wins: manifest objects by (source file, position in it), all before the API's. The changes
 * below take effect at once in the index; the Services they feed are rebuilt by the next
 * desired_index_update().
 *
 * desired_index_add: a manifest object at position (a reference is taken). desired_index_move: a
 * new position for it (its file was re-read, earlier documents came or went). desired_index_remove:
 * withdraw it (the reference is dropped). Return 0 or -ENOMEM (add; nothing changed then).
 */
int desired_index_add(struct desired_index *index, struct k8s_object *object, uint32_t position);
void desired_index_move(struct desired_index *index, struct k8s_object *object, uint32_t position);
void desired_index_remove(struct desired_index *index, struct k8s_object *object);

/*
 * The API's version of kind namespace/name: object, whose reference passes to the index, or
 * NULL when the API has none. Returns the API object it replaces (or NULL), whose reference
 * passes back to the caller. On -ENOMEM (as *err) object was not taken and is returned.
 */
struct k8s_object *desired_index_set_api(struct desired_index *index, enum k8s_kind kind,
					 const char *namespace, const char *name,
					 struct k8s_object *object, int *err);

/*
 * Visit every API object the index holds (to release them, or to find those a re-list no
 * longer has). The callback must not change the index.
 */
void desired_index_for_each_api(const struct desired_index *index,
				void (*visit)(void *ctx, struct k8s_object *object), void *ctx);

/* Rebuild every Service at the next update (a node-wide input changed outside the objects). */
void desired_index_mark_all(struct desired_index *index);

/* What one update changed, for loader/sync/sync.c; owned by the index until the next update. */
struct desired_index_delta {
	const struct lb_frontend **upserts; /* frontends new or rebuilt (maybe equal to the maps) */
	size_t n_upserts;
	struct lb_frontend *removed; /* frontends no Service claims any more (key fields only) */
	size_t n_removed;
	size_t n_services;     /* Services rebuilt */
	bool is_node_changed;  /* node addresses changed */
	bool is_nodes_changed; /* some Node object changed (or the first update): node addressing */
	bool is_health_changed; /* the health checks changed */
	bool is_policy_changed; /* a Pod, Namespace or NetworkPolicy changed */
};

/*
 * Rebuild the Services marked since the last update and weigh their claims. Messages (refused
 * Services, second claims on a frontend or health check port) go to errors. Returns 0 or
 * -ENOMEM (the Services not rebuilt stay marked, and the delta lists what was done).
 */
int desired_index_update(struct desired_index *index, struct k8s_errors *errors,
			 const struct desired_index_delta **delta);

/* The state after the last update. Borrowed until the next change. */
size_t desired_index_frontend_count(const struct desired_index *index);
const struct lb_health_check *desired_index_health_checks(const struct desired_index *index,
							  size_t *n);
const uint32_t *desired_index_node_addresses(const struct desired_index *index, size_t *n);
uint32_t desired_index_rejected(const struct desired_index *index); /* Services the build refused */
/* Every Node object in force, sorted by name (for node addressing, loader/desired/nodes.h). */
const struct k8s_object *const *desired_index_nodes(const struct desired_index *index, size_t *n);

/* NetworkPolicy compiled over the current Pods, Namespaces and policies (whole-state). */
int desired_index_policy(const struct desired_index *index, struct policy_state **out);

/*
 * The whole desired state after the last update, sorted as loader/desired/state.h asks and equal to
 * desired_build() over the same objects (rejected_objects counts the Services refused
 * here; policy included when is_policy). out is overwritten. Returns 0 or -ENOMEM.
 */
int desired_index_desired(const struct desired_index *index, bool is_policy,
			  struct desired_state *out);

#endif
