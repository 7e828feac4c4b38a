/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The index's insides, shared by loader/desired/index*.c and by nothing else: its tables and
 * what they hold, and the functions one part of the index calls in another.
 */
#ifndef SLUICE_DESIRED_INDEX_INTERNAL_H
#define SLUICE_DESIRED_INDEX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/hash_table.h"
#include "loader/desired/index.h"

/* A growable array of pointers. */
struct index_vec {
	void **items;
	size_t count, capacity;
};

/* ---- the index ------------------------------------------------------------------------------ */

/* One version of an object: from a manifest file at a position, or from the API. */
struct index_candidate {
	struct k8s_object *object;
	uint32_t position;
	bool is_api;
};

/* Everything known under one (kind, namespace, name). */
struct index_object {
	struct index_candidate *candidates;
	size_t n_candidates, capacity;
	struct k8s_object *effective; /* the winning candidate's object, or NULL */
};

/* Objects of one group (slices of one Service, Pods of one namespace), by name. */
struct index_group {
	struct k8s_object **items;
	size_t count, capacity;
};

struct index_service {
	char namespace[K8S_DNS_LABEL_MAX + 1];
	char name[K8S_DNS_SUBDOMAIN_MAX + 1];
	struct k8s_object *object; /* the Service now, NULL once it is gone */
	struct desired_service_build build;
	char *selector_key; /* where the service is registered for Pods, or NULL */
	bool is_dirty;
};

struct index_claim {
	struct index_service *service;
	size_t seq; /* index into service->build.frontends */
};

/* Claims on one (vip, port, proto, scope). */
struct index_frontend {
	char key[24];
	struct index_claim *claims;
	size_t n_claims, capacity;
	bool is_published; /* in the desired state now */
	bool is_touched;
	struct lb_frontend removed_key;
};

struct desired_index {
	struct desired_build_config config;
	struct desired_build_lookup lookup;
	struct hash_table objects;   /* "kind/namespace/name" -> index_object */
	struct hash_table services;  /* "namespace/name" -> index_service */
	struct hash_table slices;    /* "namespace/service" -> index_group */
	struct hash_table pods;	     /* "namespace" -> index_group */
	struct hash_table nodes;     /* "" -> index_group: every Node, by name */
	struct hash_table selectors; /* "namespace\x1fkey=value" (first term) -> index_vec */
	struct hash_table frontends; /* frontend key -> index_frontend */
	struct hash_table ports;     /* health check port -> index_vec of index_service */
	struct index_vec all;	     /* every index_service */
	struct index_vec dirty;	     /* index_service to rebuild */
	struct index_vec touched;    /* index_frontend whose claims changed */
	bool is_node_dirty, is_health_dirty, is_policy_dirty;
	bool is_nodes_dirty; /* some Node object changed (node addressing) */
	bool is_all_dirty;
	uint32_t *node_addresses;
	size_t n_node_addresses;
	char *zone;
	size_t n_frontends; /* published */
	uint32_t n_rejected;
	struct lb_health_check *health_checks;
	size_t n_health_checks;
	struct desired_index_delta delta;
	size_t cap_upserts, cap_removed;
};

#define INDEX_KEY_LEN (K8S_DNS_LABEL_MAX * 2 + K8S_DNS_SUBDOMAIN_MAX + 16)

/* index.c: the index, its groups, and which Services a changed object marks. */
int index_vec_push(struct index_vec *vec, void *item);
bool index_vec_remove(struct index_vec *vec, const void *item); /* false when absent */
void index_vec_free(void *vec);
void index_object_key(char *buf, size_t size, enum k8s_kind kind, const char *namespace,
		      const char *name);
const struct k8s_object *index_lookup_node(void *ctx, const char *name);
const char *index_node_zone(const struct k8s_object *node);
int index_service_mark(struct desired_index *index, struct index_service *svc);
void index_service_unregister(struct desired_index *index, struct index_service *svc);
/* The winner of a key changed from old to new: update the groups, mark what they feed. */
int index_effective_changed(struct desired_index *index, enum k8s_kind kind,
			    const struct k8s_object *old, struct k8s_object *new);

/* index_candidates.c: the versions of each object, and the winner among them. */
void index_object_free(void *o);

/* index_claims.c: what each Service claims, and rebuilding one Service. */
void index_frontend_free(void *fe);
int index_claim_cmp(const struct index_claim *a, const struct index_claim *b);
/* Rebuild one marked Service: withdraw its old claims, build, claim again. */
int index_service_rebuild(struct desired_index *index, struct index_service *svc,
			  struct k8s_errors *errors);

/* index_update.c: weighing the claims into what the update hands to sync. */
const struct index_claim *index_frontend_winner(const struct index_frontend *fe);

#endif
