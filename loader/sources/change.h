/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a source of objects hands on: the objects added, changed and removed since it was last
 * asked, in the order they happened. Manifests (loader/sources/manifest.h) and the API
 * (loader/sources/k8s_client.h) emit the same list; loader/agent/feed.c applies it to the index.
 */
#ifndef SLUICE_SOURCES_CHANGE_H
#define SLUICE_SOURCES_CHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "loader/k8s/objects.h"

enum k8s_change_type {
	K8S_CHANGE_ADDED,   /* manifests: a new candidate .object at .position */
	K8S_CHANGE_CHANGED, /* manifests: the same .object at a new .position; API: its version */
	K8S_CHANGE_REMOVED, /* manifests: the candidate .object withdrawn; API: no good version */
};

/*
 * Who emitted a list, which says what identifies an object: a manifest candidate is one object
 * of one file (the same key may have several, the first by file and position wins), an API
 * object is its key (one version each).
 */
enum k8s_change_source {
	K8S_SOURCE_MANIFESTS,
	K8S_SOURCE_API,
};

/* One object added, changed or removed. */
struct k8s_change {
	enum k8s_change_type type;
	enum k8s_kind kind;
	char namespace[K8S_DNS_LABEL_MAX + 1]; /* "" for cluster-scoped kinds */
	char name[K8S_DNS_SUBDOMAIN_MAX + 1];
	struct k8s_object *object; /* a reference the list holds; NULL only for the API's REMOVED */
	uint32_t position;	   /* manifests: the object's place in its file */
};

struct k8s_change_list {
	enum k8s_change_source source;
	struct k8s_change *items;
	size_t count, capacity;
	/*
	 * API: kinds listed anew (bit 1 << kind). Every object the list has of such a kind is in
	 * items; whatever else the index holds of it from the API is gone.
	 */
	unsigned int relisted;
};

/*
 * Append a change named by kind, namespace and name, taking a reference to object (when not
 * NULL). Returns 0 or -ENOMEM (nothing appended).
 */
int k8s_change_list_push(struct k8s_change_list *list, enum k8s_change_type type,
			 enum k8s_kind kind, const char *namespace, const char *name,
			 struct k8s_object *object, uint32_t position);

/* Forget the changes from count on, dropping their references. */
void k8s_change_list_truncate(struct k8s_change_list *list, size_t count);

/*
 * Drop every reference and free the items; the list is left empty, with its source. Objects
 * shared with other threads (the API's) are released under their lock: the caller holds it.
 */
void k8s_change_list_free(struct k8s_change_list *list);

#endif
