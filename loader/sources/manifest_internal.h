/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The manifest source's insides, shared by its files: manifest.c (the set, its files and
 * objects, documents to objects), manifest_chunks.c (a file's text in document pieces),
 * manifest_file.c (reading files, several at once) and manifest_dir.c (the directory, the
 * loads and what they changed). Not for other modules.
 */
#ifndef SLUICE_MANIFEST_INTERNAL_H
#define SLUICE_MANIFEST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loader/k8s/yaml_tree.h"
#include "loader/sources/manifest.h"

/*
 * Documents of a file as its text splits them (at "---" lines), so a file re-read after an edit
 * parses only the documents whose text changed and keeps the objects of the others.
 */
struct manifest_chunk {
	size_t offset;	   /* in the text it was read from */
	unsigned int line; /* of its first byte, 1-based */
	uint64_t hash;
	size_t size;
	size_t first, count; /* the objects it gave: file->objects[first, first + count) */
	size_t n_seen;	     /* objects met, as manifest_load_document counts them */
	bool is_clean;	     /* no error and no refusal: reusable whatever its line */
};

struct manifest_file {
	char *name;
	struct k8s_object **objects;
	size_t n_objects, capacity;
	/* What the file held when it was read, so an unchanged file is not parsed again: the
	 * outcome of a load depends only on the content and the file's previous objects. */
	bool has_content;
	size_t size;
	uint64_t hash;
	struct k8s_errors errors;      /* found in this file at its last parse */
	uint32_t n_rejected;	       /* objects refused at its last parse */
	struct manifest_chunk *chunks; /* NULL: parsed whole (or unread) */
	size_t n_chunks, cap_chunks;
	char *content; /* the text the chunks were read from, for the next diff; or NULL */
	size_t content_size, content_capacity;
	/*
	 * Objects carried in bulk from the file's last version without references of their own:
	 * that version's references pass to this one at commit (it then skips them), and a load
	 * that is thrown away skips them too. Touching thousands of cold objects twice per edit
	 * was a tenth of its cost.
	 */
	struct {
		size_t first, old_first, count;
	} borrows[2];
	size_t n_borrows;
};

/*
 * A read buffer kept from a replaced file's text: re-reading a big file faults no pages in. Up
 * to MANIFEST_SPARE_MAX: beyond, it would be a second copy of a cluster-sized file's text.
 */
#define MANIFEST_SPARE_MAX (16u << 20)

struct read_buffer {
	char *data;
	size_t capacity;
};

struct manifest_set {
	struct manifest_file *files;
	size_t n_files;
	struct k8s_errors errors;
	uint32_t n_rejected;
	struct k8s_change_list changes; /* since the last manifest_set_changes() */
	struct read_buffer spare;
};

/*
 * Pieces of a file beyond which it is read whole, without pieces: each costs a struct, and a
 * file of empty documents should cost nothing.
 */
#define MANIFEST_MAX_CHUNKS (MANIFEST_MAX_OBJECTS + 1)

/* One file being loaded: its new object list and, for fallbacks, its last good one. */
struct file_load {
	struct k8s_errors *errors;
	const char *name;
	struct manifest_file *file;
	const struct manifest_file *old;
	size_t n_seen;	/* objects met, List items included */
	size_t n_items; /* items of the document being read, handed over before it */
	/* Where a refusal of the whole file (a bound crossed, a misplaced "items") is told. */
	unsigned int *error_line;
	char *message;
	size_t message_size;
};

/* One document-aligned piece of a file's text. */
struct chunk_span {
	size_t offset, size;
	uint64_t hash;
};

/* One file to load: load_file()'s arguments and results. */
struct load_task {
	const char *name;
	struct manifest_file *file;
	const struct manifest_file *old;
	bool is_dir;
	int err;
};

/* A file's objects (manifest.c). */
bool manifest_is_borrowed(const struct manifest_file *borrower, size_t i, bool is_old);
void manifest_file_clear_lent(struct manifest_file *file, const struct manifest_file *successor);
void manifest_file_clear(struct manifest_file *file);
int manifest_file_add(struct manifest_file *file, struct k8s_object *object);
int manifest_file_keep(struct manifest_file *file, const struct manifest_file *old);
void manifest_file_recycle(struct manifest_set *set, struct manifest_file *file);
void manifest_files_free(struct manifest_file *files, size_t n);
int manifest_load_document(struct file_load *load, const struct yaml_tree_node *root, bool is_item);
int manifest_read_object(void *load, const struct yaml_tree_node *root, bool is_item);
int manifest_read(struct file_load *load, const char *buffer, size_t size, unsigned int first_line);

/* A file's text in document pieces (manifest_chunks.c). */
uint64_t manifest_content_hash(const char *data, size_t size);
size_t manifest_split_documents(const char *buffer, size_t size, struct chunk_span **out);
int manifest_load_chunks(struct file_load *load, const char *buffer, const struct chunk_span *spans,
			 size_t n_spans);
int manifest_load_diff(struct file_load *load, const char *buffer, size_t size);
int manifest_load_whole_chunks(struct file_load *load, const char *buffer, size_t size,
			       const struct chunk_span *spans, size_t n_spans);

/*
 * A file that is one List of at least MANIFEST_LIST_MIN_SIZE bytes, its items read on every core
 * (manifest_list.c): 0 when that gave exactly the one-parser reading's outcome (its objects added
 * to load's file), -EAGAIN when the file is to be read by one parser (load as it was), -ENOMEM.
 */
int manifest_load_list(struct file_load *load, const char *buffer, size_t size);

/* Reading files (manifest_file.c). */
int manifest_load_all(int dir_fd, struct read_buffer *spare, struct load_task *tasks, size_t n);

#endif
