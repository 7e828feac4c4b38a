/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes manifests (a directory of YAML files) to objects, and a list of what each load
 * changed in them (loader/sources/change.h) for loader/agent/feed.c to apply to the index.
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
#include "loader/sources/change.h"

/*
 * Bounds on what one directory may make us read and keep. A file is read one object at a time
 * (yaml_tree_read), so the per-file bounds only cap the text held while it is read (the size)
 * and the decoded objects (the count): a 10,000-Service cluster's dump is ~25 MB and 20,000
 * objects. Per object, loader/k8s/yaml_tree.h's bounds apply.
 */
#define MANIFEST_MAX_FILE_SIZE	 (256u << 20)	/* bytes per file */
#define MANIFEST_MAX_FILES	 65536		/* *.yaml / *.yml files per directory */
#define MANIFEST_MAX_OBJECTS	 1000000	/* objects per file, List items included */
#define MANIFEST_MAX_ERRORS	 K8S_MAX_ERRORS /* errors kept for listing; more are only counted */
#define MANIFEST_MAX_SVC_PORTS	 K8S_MAX_SVC_PORTS
#define MANIFEST_MAX_SLICE_PORTS K8S_MAX_SLICE_PORTS
#define MANIFEST_ERROR_LEN	 K8S_ERROR_LEN

struct manifest_set; /* objects per file, with each file's last good version */

/* A name the set reads: *.yaml or *.yml, not a dotfile. */
bool manifest_is_file_name(const char *name);

struct manifest_set *manifest_set_new(void);
void manifest_set_free(struct manifest_set *set);

/*
 * Re-read every *.yaml / *.yml file directly in dir (sorted by name, dotfiles skipped). Returns
 * the number of errors found (0 = clean), or -errno when dir itself cannot be read (then nothing
 * changes, not even the error list), or -ENOMEM (then the set keeps its previous content).
 */
int manifest_set_load_dir(struct manifest_set *set, const char *dir);

/*
 * Re-read only the named files of dir (inotify's names: created, written, moved or deleted;
 * names that are not *.yaml / *.yml are ignored, a missing name drops the file). Within a
 * re-read file only the documents whose text changed are parsed. When the directory's file
 * bound is reached, the whole directory is read instead. Returns as manifest_set_load_dir(),
 * the errors being those of the files read.
 */
int manifest_set_load_files(struct manifest_set *set, const char *dir, char *const *names,
			    size_t n_names);

/* Errors of the last load, in the order found. Only the first MANIFEST_MAX_ERRORS are kept. */
size_t manifest_set_error_count(const struct manifest_set *set);
const char *manifest_set_error(const struct manifest_set *set, size_t i);

/*
 * What the loads since the last call changed (the first call: every object held now), in
 * order: per file by name, candidates withdrawn, then moved, then added. A candidate is one
 * object of one file at its position in it; the same key may have several (the first by file
 * and position wins). *out takes the list and its references; free it with
 * k8s_change_list_free().
 */
void manifest_set_changes(struct manifest_set *set, struct k8s_change_list *out);

/* Objects refused at the last load (their last good version, if any, stays in force). */
uint32_t manifest_set_rejected(const struct manifest_set *set);

/*
 * The current objects of every file (borrowed: valid until the next load or free), so another
 * source can build from them together with its own. *out is malloc'd. Returns 0 or -ENOMEM.
 */
int manifest_set_objects(const struct manifest_set *set, struct k8s_object ***out, size_t *count);

#endif
