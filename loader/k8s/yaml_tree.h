/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A generic, read-only document tree built from YAML with libyaml's event parser, so object
 * decoders (Service, EndpointSlice, later Pod, Namespace, ...) look fields up by path instead of
 * following parser events. A JSON source (json-c, API server) can build the same tree through
 * yaml_tree_add_*() and reuse the decoders unchanged.
 *
 * Ownership: a struct yaml_tree owns every node of every document it holds, carved with its
 * scalar values and container arrays from the tree's own blocks of memory (an arena), and
 * containers hold borrowed pointers. That is what lets an alias simply point at its anchor's node:
 * nothing is copied, so an alias bomb costs one pointer per alias, and freeing is one loop over
 * the blocks. A malloc() and a free() per node were a fifth of reading a cluster-sized file.
 */
#ifndef SLUICE_YAML_TREE_H
#define SLUICE_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds that keep hostile input cheap; Kubernetes objects sit far below each of them. */
#define YAML_TREE_MAX_DEPTH 64 /* nesting of mappings and sequences */
/* Nodes per tree, ~12 MiB at most: one object (document or List item) for yaml_tree_read(),
 * the whole text for yaml_tree_parse(). An EndpointSlice of 1,000 endpoints is ~30,000. */
#define YAML_TREE_MAX_NODES	262144
#define YAML_TREE_MAX_DOCUMENTS 4096	/* documents per yaml_tree_parse() (kubeconfig, lab) */
#define YAML_TREE_MAX_ANCHORS	1024	/* anchors per document; lookup is linear */
#define YAML_TREE_MAX_SCALAR	1048576 /* bytes per scalar (annotations stay below 256 KiB) */
#define YAML_TREE_ERROR_LEN	256

enum yaml_tree_type {
	YAML_TREE_SCALAR = 0,
	YAML_TREE_MAPPING,
	YAML_TREE_SEQUENCE,
};

/* How a scalar resolves under the YAML 1.2 core schema; quoted or !!str scalars are strings. */
enum yaml_tree_kind {
	YAML_TREE_NULL = 0,
	YAML_TREE_BOOL,
	YAML_TREE_INT,
	YAML_TREE_FLOAT, /* also ambiguous numbers such as 080, which YAML 1.1 reads as octal */
	YAML_TREE_STRING,
};

struct yaml_tree_node;

struct yaml_tree_pair {
	struct yaml_tree_node *key; /* always a scalar */
	struct yaml_tree_node *value;
};

struct yaml_tree_node {
	enum yaml_tree_type type;
	unsigned int line; /* 1-based line of the node's start in its source, 0 if unknown */
	union {
		struct {
			char *value;   /* NUL-terminated; may hold inner NULs (see length) */
			size_t length; /* bytes before the terminating NUL */
			enum yaml_tree_kind kind;
		} scalar;
		struct {
			struct yaml_tree_pair *pairs; /* in document order, keys unique */
			size_t count, capacity;
		} mapping;
		struct {
			struct yaml_tree_node **items;
			size_t count, capacity;
		} sequence;
	};
};

struct yaml_tree_block; /* a piece of a tree's arena (yaml_tree.c) */

struct yaml_tree {
	struct yaml_tree_node **documents; /* root of each document; NULL for an empty one */
	size_t n_documents;
	size_t n_nodes; /* made so far, against YAML_TREE_MAX_NODES */
	/* The arena: every block in order; new memory is carved from current, then its successors.
	 */
	struct yaml_tree_block *blocks, *current;
};

void yaml_tree_init(struct yaml_tree *tree);
void yaml_tree_free(struct yaml_tree *tree);
/*
 * Empty the tree but keep its arena for the next one: reading a file tree after tree then
 * allocates nothing once the largest so far fits (memory still follows the largest object).
 */
void yaml_tree_clear(struct yaml_tree *tree);

/*
 * Parse a whole YAML stream. Returns 0, -EINVAL on a syntax or structure error (with the
 * 1-based line in *line and a message in error), -E2BIG when a bound above is exceeded (also
 * with a message), or -ENOMEM. On failure the tree is left empty.
 */
int yaml_tree_parse(struct yaml_tree *tree, const char *buffer, size_t size, unsigned int *line,
		    char *error, size_t error_size);

/*
 * A stream read one object at a time, so memory follows the largest object, not the file.
 * object() gets each document's root (a null scalar for an empty one) in a tree of its own, freed
 * when it returns. A document whose root mapping has an "items" list (a List; its kind comes
 * only after its items in kubectl's output, so the caller checks it) hands each item over on its
 * own as soon as it ends, is_item true, and then the document with "items" left empty. An alias
 * in an item reaches only its item's anchors and those before "items". Nonzero from object()
 * stops the read and is returned; the caller then sets the line and message itself.
 */
struct yaml_tree_reader {
	int (*object)(void *context, const struct yaml_tree_node *root, bool is_item);
	void *context;
	unsigned int first_line; /* line of buffer's first byte, for pieces of a file; 0 is 1 */
	/*
	 * The text is a run of a List's items cut from its file ("- " entries at column 0): a
	 * root sequence's entries are handed over as items, as those of "items" are, and the
	 * root, left empty, as the document.
	 */
	bool is_items_run;
};

/* Returns as yaml_tree_parse(), or what object() returned. */
int yaml_tree_read(const char *buffer, size_t size, const struct yaml_tree_reader *reader,
		   unsigned int *line, char *error, size_t error_size);

/* Builders, for the parser and for other sources (JSON). They return NULL only on -ENOMEM/-E2BIG.
 */
struct yaml_tree_node *yaml_tree_new_scalar(struct yaml_tree *tree, const char *value,
					    size_t length, enum yaml_tree_kind kind,
					    unsigned int line);
struct yaml_tree_node *yaml_tree_new_container(struct yaml_tree *tree, enum yaml_tree_type type,
					       unsigned int line);
/* Containers grow in TREE's arena: the tree that holds them. */
int yaml_tree_sequence_append(struct yaml_tree *tree, struct yaml_tree_node *sequence,
			      struct yaml_tree_node *item);
/* Does not check key uniqueness; yaml_tree_mapping_check_unique() does, once, at the end. */
int yaml_tree_mapping_append(struct yaml_tree *tree, struct yaml_tree_node *mapping,
			     struct yaml_tree_node *key, struct yaml_tree_node *value);
/* Returns 0 or -EEXIST with the duplicated key in *duplicate. */
int yaml_tree_mapping_check_unique(const struct yaml_tree_node *mapping,
				   const struct yaml_tree_node **duplicate);
int yaml_tree_add_document(struct yaml_tree *tree, struct yaml_tree_node *root);
/*
 * Deep-copy node (of any tree) into tree, as a new document. Aliases are expanded, so the
 * node bound (YAML_TREE_MAX_NODES) applies to the copy. Returns 0, -E2BIG or -ENOMEM (the
 * nodes copied so far stay owned by tree).
 */
int yaml_tree_copy_document(struct yaml_tree *tree, const struct yaml_tree_node *node);

/* Resolve a plain (unquoted, untagged) scalar's kind under the core schema. */
enum yaml_tree_kind yaml_tree_resolve_plain(const char *value, size_t length);

/* Accessors. All accept NULL and return NULL/false for it, so lookups chain. */
struct yaml_tree_node *yaml_tree_get(const struct yaml_tree_node *mapping, const char *key);
bool yaml_tree_is_null(const struct yaml_tree_node *node); /* absent or an explicit null */
/* The value of a string scalar without inner NULs, else NULL. */
const char *yaml_tree_string(const struct yaml_tree_node *node);
/* 0, -EINVAL when not an integer scalar, -ERANGE when it does not fit in int64_t. */
int yaml_tree_int(const struct yaml_tree_node *node, int64_t *out);
/* 0, -EINVAL when not a boolean scalar. */
int yaml_tree_bool(const struct yaml_tree_node *node, bool *out);
/* "mapping", "sequence", "string", "integer", ... for error messages. */
const char *yaml_tree_describe(const struct yaml_tree_node *node);

#endif
