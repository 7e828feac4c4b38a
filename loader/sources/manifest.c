// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes manifests to objects: the set of files and their objects, and YAML documents
 * decoded and validated into objects (loader/k8s/objects.c), an invalid one keeping its last
 * good version. Reading is in manifest_file.c, the directory and what a load changed
 * (loader/sources/change.h) in manifest_dir.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "loader/sources/manifest_internal.h"

/* Is object i of file borrowed (when is_old: lent to successor)? */
bool manifest_is_borrowed(const struct manifest_file *borrower, size_t i, bool is_old)
{
	for (size_t k = 0; borrower && k < borrower->n_borrows; k++) {
		size_t first = is_old ? borrower->borrows[k].old_first : borrower->borrows[k].first;

		if (i >= first && i - first < borrower->borrows[k].count)
			return true;
	}
	return false;
}

/* Free file; objects its successor borrowed keep the reference (it is the successor's now). */
void manifest_file_clear_lent(struct manifest_file *file, const struct manifest_file *successor)
{
	size_t i;

	for (i = 0; i < file->n_objects; i++) {
		if (!manifest_is_borrowed(file, i, false) &&
		    !manifest_is_borrowed(successor, i, true))
			k8s_object_put(file->objects[i]);
	}
	free(file->objects);
	free(file->name);
	free(file->chunks);
	free(file->content);
	k8s_errors_free(&file->errors);
	memset(file, 0, sizeof(*file));
}

void manifest_file_clear(struct manifest_file *file)
{
	manifest_file_clear_lent(file, NULL);
}

int manifest_file_add(struct manifest_file *file, struct k8s_object *object)
{
	struct k8s_object **objects;

	if (file->n_objects == file->capacity) {
		size_t next = file->capacity ? file->capacity * 2 : 8;

		objects = realloc(file->objects, next * sizeof(*objects));
		if (!objects)
			return -ENOMEM;
		file->objects = objects;
		file->capacity = next;
	}
	object->refs++;
	file->objects[file->n_objects++] = object;
	return 0;
}

/* Carry every object of the previous version of a file (it failed to read or parse). */
int manifest_file_keep(struct manifest_file *file, const struct manifest_file *old)
{
	size_t i;
	int err;

	if (!old)
		return 0;
	for (i = 0; i < old->n_objects; i++) {
		err = manifest_file_add(file, old->objects[i]);
		if (err)
			return err;
	}
	free(file->chunks);
	file->chunks = NULL;
	file->n_chunks = 0;
	if (old->n_chunks) {
		file->chunks = malloc(old->n_chunks * sizeof(*file->chunks));
		if (!file->chunks)
			return -ENOMEM;
		memcpy(file->chunks, old->chunks, old->n_chunks * sizeof(*file->chunks));
		file->n_chunks = file->cap_chunks = old->n_chunks;
	}
	return 0;
}

static struct k8s_object *file_find(const struct manifest_file *file, enum k8s_kind kind,
				    const char *namespace, const char *name)
{
	size_t i;

	if (!file)
		return NULL;
	for (i = 0; i < file->n_objects; i++) {
		struct k8s_object *o = file->objects[i];

		if (o->kind == kind && !strcmp(o->namespace, namespace) && !strcmp(o->name, name))
			return o;
	}
	return NULL;
}

/* A replaced file's text becomes the next read's buffer (the larger one, up to a bound). */
void manifest_file_recycle(struct manifest_set *set, struct manifest_file *file)
{
	if (!file->content || file->content_capacity <= set->spare.capacity ||
	    file->content_capacity > MANIFEST_SPARE_MAX)
		return;
	free(set->spare.data);
	set->spare.data = file->content;
	set->spare.capacity = file->content_capacity;
	file->content = NULL;
}

struct manifest_set *manifest_set_new(void)
{
	struct manifest_set *set = calloc(1, sizeof(struct manifest_set));

	if (set)
		set->changes.source = K8S_SOURCE_MANIFESTS;
	return set;
}

uint32_t manifest_set_rejected(const struct manifest_set *set)
{
	return set->n_rejected;
}

int manifest_set_objects(const struct manifest_set *set, struct k8s_object ***out, size_t *count)
{
	size_t i, j, n = 0;

	*out = NULL;
	*count = 0;
	for (i = 0; i < set->n_files; i++)
		n += set->files[i].n_objects;
	if (!n)
		return 0;
	*out = malloc(n * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < set->n_files; i++) {
		for (j = 0; j < set->files[i].n_objects; j++)
			(*out)[(*count)++] = set->files[i].objects[j];
	}
	return 0;
}

void manifest_files_free(struct manifest_file *files, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		manifest_file_clear(&files[i]);
	free(files);
}

void manifest_set_free(struct manifest_set *set)
{
	if (!set)
		return;
	manifest_files_free(set->files, set->n_files);
	k8s_errors_free(&set->errors);
	k8s_change_list_free(&set->changes);
	free(set->spare.data);
	free(set);
}

size_t manifest_set_error_count(const struct manifest_set *set)
{
	return set->errors.count;
}

const char *manifest_set_error(const struct manifest_set *set, size_t i)
{
	return i < set->errors.count ? set->errors.items[i] : NULL;
}

void manifest_set_changes(struct manifest_set *set, struct k8s_change_list *out)
{
	*out = set->changes;
	memset(&set->changes, 0, sizeof(set->changes));
	set->changes.source = K8S_SOURCE_MANIFESTS;
}

static int load_object(struct file_load *load, const struct yaml_tree_node *root,
		       enum k8s_kind kind)
{
	struct k8s_object *object, *previous;
	int err;

	err = k8s_object_decode(root, kind, load->name, load->errors, &object);
	if (err == -ENOMEM)
		return err;
	if (!err) {
		err = manifest_file_add(load->file, object);
		goto cleanup;
	}
	/* Invalid: the last good version of this object in this file stays in force. */
	err = 0;
	load->file->n_rejected++;
	previous = object->name[0]
		       ? file_find(load->old, object->kind, object->namespace, object->name)
		       : NULL;
	if (previous &&
	    !file_find(load->file, previous->kind, previous->namespace, previous->name)) {
		log_info("%s: %s %s%s%s: keeping the last good version", load->name,
			 k8s_kind_names[kind], object->namespace, object->namespace[0] ? "/" : "",
			 object->name);
		err = manifest_file_add(load->file, previous);
	}
cleanup:
	k8s_object_put(object);
	return err;
}

/* List, or a typed list as kubectl prints one (ServiceList, EndpointSliceList, ...). */
static bool is_list_kind(const char *kind)
{
	size_t n = strlen(kind);

	return n >= 4 && !strcmp(kind + n - 4, "List");
}

/* Refuse the whole file: the message and line go where load_file() reports them. */
static int load_refuse(struct file_load *load, int err, unsigned int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int load_refuse(struct file_load *load, int err, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	*load->error_line = line;
	va_start(ap, fmt);
	vsnprintf(load->message, load->message_size, fmt, ap);
	va_end(ap);
	return err;
}

int manifest_load_document(struct file_load *load, const struct yaml_tree_node *root, bool is_item)
{
	const struct yaml_tree_node *items;
	const char *api_version, *kind_name;
	enum k8s_kind kind;
	size_t i;
	int err;

	if (yaml_tree_is_null(root))
		return 0; /* an empty document, e.g. after a trailing "---" */
	if (root->type != YAML_TREE_MAPPING) {
		k8s_errors_add(load->errors, "%s:%u: %s is %s, not a Kubernetes object", load->name,
			       root->line, is_item ? "List item" : "document",
			       yaml_tree_describe(root));
		return 0;
	}
	api_version = yaml_tree_string(yaml_tree_get(root, "apiVersion"));
	kind_name = yaml_tree_string(yaml_tree_get(root, "kind"));
	if (kind_name && is_list_kind(kind_name)) {
		/* Streamed items came before (load->n_items); these are a nested List's. */
		items = yaml_tree_get(root, "items");
		if (yaml_tree_is_null(items))
			return 0;
		if (items->type != YAML_TREE_SEQUENCE) {
			k8s_errors_add(load->errors, "%s:%u: %s: items: expected a list, got %s",
				       load->name, items->line, kind_name,
				       yaml_tree_describe(items));
			return 0;
		}
		for (i = 0; i < items->sequence.count; i++) {
			err = manifest_load_document(load, items->sequence.items[i], true);
			if (err)
				return err;
		}
		return 0;
	}
	if (++load->n_seen > MANIFEST_MAX_OBJECTS)
		return load_refuse(load, -E2BIG, root->line,
				   "more than %d objects in the file (the limit)",
				   MANIFEST_MAX_OBJECTS);
	if (!api_version || !*api_version || !kind_name || !*kind_name) {
		k8s_errors_add(load->errors, "%s:%u: object has no %s", load->name, root->line,
			       !api_version || !*api_version ? "apiVersion" : "kind");
		return 0;
	}
	err = k8s_object_kind(root, load->name, load->errors, &kind);
	if (err == -ENOENT) {
		log_debug("%s:%u: kind %.64s is not used, skipped", load->name, root->line,
			  kind_name);
		return 0;
	}
	if (err)
		return 0;
	return load_object(load, root, kind);
}

/*
 * yaml_tree_read()'s callback: one object at a time into the load. A List's items arrive
 * before the List itself, whose kind is known only then: a document that handed over items
 * and is no List refuses the file, as its items have been loaded already.
 */
int manifest_read_object(void *context, const struct yaml_tree_node *root, bool is_item)
{
	struct file_load *load = context;
	const char *kind;
	size_t n_items;

	if (is_item) {
		load->n_items++;
		return manifest_load_document(load, root, true);
	}
	n_items = load->n_items;
	load->n_items = 0;
	kind = yaml_tree_string(yaml_tree_get(root, "kind"));
	if (n_items && !(kind && is_list_kind(kind)))
		return load_refuse(load, -EINVAL, root->line,
				   "a document with %zu \"items\" is not a List (kind List, or "
				   "ServiceList, ...)",
				   n_items);
	return manifest_load_document(load, root, false);
}

/* Text (a file, or a piece of one starting at first_line) into the load, object by object. */
int manifest_read(struct file_load *load, const char *buffer, size_t size, unsigned int first_line)
{
	struct yaml_tree_reader reader = {
	    .object = manifest_read_object, .context = load, .first_line = first_line};

	load->n_items = 0;
	return yaml_tree_read(buffer, size, &reader, load->error_line, load->message,
			      load->message_size);
}
