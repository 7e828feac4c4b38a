/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes manifests (a directory of YAML files) to the desired state of loader/desired/state.h.
 *
 * Bad input never half-applies: a file that does not parse keeps the objects of its last good
 * load, an object that fails validation keeps its last good version from the same file, and
 * every problem is logged with log_warn and kept so the CLI can list it.
 */
#ifndef SLUICE_MANIFEST_H
#define SLUICE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/k8s/objects.h"
#include "loader/desired/state.h"

/* Bounds on what one directory may make us read and keep. */
#define MANIFEST_MAX_FILE_SIZE	 (4u << 20)	/* bytes per file */
#define MANIFEST_MAX_FILES	 4096		/* *.yaml / *.yml files per directory */
#define MANIFEST_MAX_OBJECTS	 4096		/* objects per file, List items included */
#define MANIFEST_MAX_ERRORS	 K8S_MAX_ERRORS /* errors kept for listing; more are only counted */
#define MANIFEST_MAX_SVC_PORTS	 K8S_MAX_SVC_PORTS
#define MANIFEST_MAX_SLICE_PORTS K8S_MAX_SLICE_PORTS
#define MANIFEST_ERROR_LEN	 K8S_ERROR_LEN

struct k8s_build_config; /* loader/desired/build.h */
struct manifest_set;	 /* objects per file, with each file's last good version */

/* A new set builds as a standalone node would: no node name, endpoints from Pods. */
struct manifest_set *manifest_set_new(void);
void manifest_set_free(struct manifest_set *set);
/* Build options for the next loads (node name, NodePort range, ...); copied. */
void manifest_set_configure(struct manifest_set *set, const struct k8s_build_config *config);

/*
 * Re-read every *.yaml / *.yml file directly in dir (sorted by name, dotfiles skipped). Returns
 * the number of errors found (0 = clean), or -errno when dir itself cannot be read (then nothing
 * changes, not even the error list), or -ENOMEM (then the set keeps its previous content).
 */
int manifest_set_load_dir(struct manifest_set *set, const char *dir);

struct k8s_index;

/*
 * Feed index (borrowed, or NULL to stop) with every object change from now on, starting with
 * the objects held now; loads then skip the whole build (manifest_set_desired() is empty) and
 * their error count covers the files read. Returns 0 or -ENOMEM (then re-attach a new index).
 */
int manifest_set_attach_index(struct manifest_set *set, struct k8s_index *index);

/*
 * Re-read only the named files of dir (inotify's names: created, written, moved or deleted;
 * names that are not *.yaml / *.yml are ignored, a missing name drops the file). Within a
 * re-read file only the documents whose text changed are parsed. Without an attached index,
 * or when the directory's file bound is reached, the whole directory is read instead. Returns
 * as manifest_set_load_dir(), the errors being those of the files read.
 */
int manifest_set_load_files(struct manifest_set *set, const char *dir, char *const *names,
			    size_t n_names);

/* Errors of the last load, in the order found. Only the first MANIFEST_MAX_ERRORS are kept. */
size_t manifest_set_error_count(const struct manifest_set *set);
const char *manifest_set_error(const struct manifest_set *set, size_t i);

/*
 * Build the desired state from the current objects: deterministic, sorted per
 * loader/desired/state.h. out is overwritten (not freed first); free it with desired_state_free().
 * Returns 0 or -ENOMEM.
 */
int manifest_set_desired(const struct manifest_set *set, struct desired_state *out);

/* Objects refused at the last load (their last good version, if any, stays in force). */
uint32_t manifest_set_rejected(const struct manifest_set *set);

/*
 * The current objects of every file (borrowed: valid until the next load or free), so another
 * source can build from them together with its own. *out is malloc'd. Returns 0 or -ENOMEM.
 */
int manifest_set_objects(const struct manifest_set *set, struct k8s_object ***out, size_t *count);

#endif
