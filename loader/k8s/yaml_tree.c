// SPDX-License-Identifier: Apache-2.0
/* Builds a struct yaml_tree from libyaml's event stream, with bounds on depth, size and anchors. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "loader/k8s/yaml_tree.h"

#define TAG_CORE "tag:yaml.org,2002:"
#define TAG_STR	 TAG_CORE "str"

/*
 * The arena's blocks: YAML_TREE_BLOCK_MIN bytes first, doubling up to YAML_TREE_BLOCK_MAX; a
 * request larger than a quarter of the block size it would come from gets a block of its own.
 */
#define YAML_TREE_BLOCK_MIN (16u << 10)
#define YAML_TREE_BLOCK_MAX (1u << 20)

struct yaml_tree_block {
	struct yaml_tree_block *next;
	size_t size, used; /* bytes of data */
	_Alignas(max_align_t) unsigned char data[];
};

void yaml_tree_init(struct yaml_tree *tree)
{
	memset(tree, 0, sizeof(*tree));
}

void yaml_tree_free(struct yaml_tree *tree)
{
	struct yaml_tree_block *block, *next;

	if (!tree)
		return;
	for (block = tree->blocks; block; block = next) {
		next = block->next;
		free(block);
	}
	free(tree->documents);
	yaml_tree_init(tree);
}

void yaml_tree_clear(struct yaml_tree *tree)
{
	struct yaml_tree_block *blocks = tree->blocks;

	free(tree->documents);
	yaml_tree_init(tree);
	tree->blocks = tree->current = blocks;
	if (blocks)
		blocks->used = 0;
}

/* SIZE bytes aligned for any node or array, from the tree's arena; NULL with errno ENOMEM. */
static void *tree_alloc(struct yaml_tree *tree, size_t size)
{
	const size_t align = _Alignof(max_align_t);
	struct yaml_tree_block *block = tree->current, *fresh;
	size_t want, next;

	size = (size + align - 1) & ~(align - 1);
	while (block && block->size - block->used < size && block->next) {
		/* Blocks kept by yaml_tree_clear(): reused in order. */
		block = block->next;
		block->used = 0;
	}
	if (!block || block->size - block->used < size) {
		next = block ? block->size * 2 : YAML_TREE_BLOCK_MIN;
		if (next > YAML_TREE_BLOCK_MAX)
			next = YAML_TREE_BLOCK_MAX;
		want = size > next / 4 ? size : next;
		fresh = malloc(sizeof(*fresh) + want);
		if (!fresh) {
			errno = ENOMEM;
			return NULL;
		}
		fresh->size = want;
		fresh->used = 0;
		fresh->next = NULL;
		if (block) {
			/* After the current block; a later kept block stays next in line. */
			fresh->next = block->next;
			block->next = fresh;
		} else {
			tree->blocks = fresh;
		}
		block = fresh;
	}
	tree->current = block;
	block->used += size;
	return block->data + block->used - size;
}

/*
 * Grow *array (of element size `size`, carved from tree) so that it holds at least count + 1
 * elements: a new array from the arena, twice as large, the old one left where it is (the waste
 * is at most the final size).
 */
static int grow(struct yaml_tree *tree, void **array, size_t *capacity, size_t count, size_t size)
{
	size_t next;
	void *p;

	if (count < *capacity)
		return 0;
	next = *capacity ? *capacity * 2 : 4;
	p = tree_alloc(tree, next * size);
	if (!p)
		return -ENOMEM;
	if (count)
		memcpy(p, *array, count * size);
	*array = p;
	*capacity = next;
	return 0;
}

static struct yaml_tree_node *tree_new_node(struct yaml_tree *tree, size_t extra)
{
	if (tree->n_nodes >= YAML_TREE_MAX_NODES) {
		errno = E2BIG;
		return NULL;
	}
	tree->n_nodes++;
	return tree_alloc(tree, sizeof(struct yaml_tree_node) + extra);
}

struct yaml_tree_node *yaml_tree_new_scalar(struct yaml_tree *tree, const char *value,
					    size_t length, enum yaml_tree_kind kind,
					    unsigned int line)
{
	struct yaml_tree_node *node;

	if (length > YAML_TREE_MAX_SCALAR) {
		errno = E2BIG;
		return NULL;
	}
	/* The value right after its node, in the arena. */
	node = tree_new_node(tree, length + 1);
	if (!node)
		return NULL;
	memset(node, 0, sizeof(*node));
	node->type = YAML_TREE_SCALAR;
	node->line = line;
	node->scalar.value = (char *)(node + 1);
	if (length)
		memcpy(node->scalar.value, value, length);
	node->scalar.value[length] = '\0';
	node->scalar.length = length;
	node->scalar.kind = kind;
	return node;
}

struct yaml_tree_node *yaml_tree_new_container(struct yaml_tree *tree, enum yaml_tree_type type,
					       unsigned int line)
{
	struct yaml_tree_node *node = tree_new_node(tree, 0);

	if (!node)
		return NULL;
	memset(node, 0, sizeof(*node));
	node->type = type;
	node->line = line;
	return node;
}

int yaml_tree_sequence_append(struct yaml_tree *tree, struct yaml_tree_node *sequence,
			      struct yaml_tree_node *item)
{
	void *items = sequence->sequence.items;

	if (grow(tree, &items, &sequence->sequence.capacity, sequence->sequence.count,
		 sizeof(item)))
		return -ENOMEM;
	sequence->sequence.items = items;
	sequence->sequence.items[sequence->sequence.count++] = item;
	return 0;
}

int yaml_tree_mapping_append(struct yaml_tree *tree, struct yaml_tree_node *mapping,
			     struct yaml_tree_node *key, struct yaml_tree_node *value)
{
	void *pairs = mapping->mapping.pairs;

	if (grow(tree, &pairs, &mapping->mapping.capacity, mapping->mapping.count,
		 sizeof(struct yaml_tree_pair)))
		return -ENOMEM;
	mapping->mapping.pairs = pairs;
	mapping->mapping.pairs[mapping->mapping.count].key = key;
	mapping->mapping.pairs[mapping->mapping.count].value = value;
	mapping->mapping.count++;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct yaml_tree_node *x = *(const struct yaml_tree_node *const *)a;
	const struct yaml_tree_node *y = *(const struct yaml_tree_node *const *)b;
	size_t n = x->scalar.length < y->scalar.length ? x->scalar.length : y->scalar.length;
	int c = memcmp(x->scalar.value, y->scalar.value, n);

	if (c)
		return c;
	return (x->scalar.length > y->scalar.length) - (x->scalar.length < y->scalar.length);
}

int yaml_tree_mapping_check_unique(const struct yaml_tree_node *mapping,
				   const struct yaml_tree_node **duplicate)
{
	const struct yaml_tree_node **keys;
	size_t i, n = mapping->mapping.count;
	int err = 0;

	if (n < 2)
		return 0;
	/* Sorting a copy keeps this O(n log n): a mapping may hold many thousand keys. */
	keys = malloc(n * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		keys[i] = mapping->mapping.pairs[i].key;
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 1; i < n; i++) {
		if (!key_cmp(&keys[i - 1], &keys[i])) {
			*duplicate = keys[i]->line > keys[i - 1]->line ? keys[i] : keys[i - 1];
			err = -EEXIST;
			break;
		}
	}
	free(keys);
	return err;
}

int yaml_tree_add_document(struct yaml_tree *tree, struct yaml_tree_node *root)
{
	struct yaml_tree_node **documents;

	if (tree->n_documents >= YAML_TREE_MAX_DOCUMENTS)
		return -E2BIG;
	/* Exact growth, outside the arena: documents are few. */
	documents = realloc(tree->documents, (tree->n_documents + 1) * sizeof(*documents));
	if (!documents)
		return -ENOMEM;
	tree->documents = documents;
	tree->documents[tree->n_documents++] = root;
	return 0;
}

static struct yaml_tree_node *tree_copy(struct yaml_tree *tree, const struct yaml_tree_node *node,
					unsigned int depth)
{
	struct yaml_tree_node *copy, *key, *value;
	size_t i;

	if (depth > YAML_TREE_MAX_DEPTH) {
		errno = E2BIG;
		return NULL;
	}
	if (node->type == YAML_TREE_SCALAR)
		return yaml_tree_new_scalar(tree, node->scalar.value, node->scalar.length,
					    node->scalar.kind, node->line);
	copy = yaml_tree_new_container(tree, node->type, node->line);
	if (!copy)
		return NULL;
	if (node->type == YAML_TREE_SEQUENCE) {
		for (i = 0; i < node->sequence.count; i++) {
			value = tree_copy(tree, node->sequence.items[i], depth + 1);
			if (!value)
				return NULL;
			if (yaml_tree_sequence_append(tree, copy, value)) {
				errno = ENOMEM;
				return NULL;
			}
		}
		return copy;
	}
	for (i = 0; i < node->mapping.count; i++) {
		key = tree_copy(tree, node->mapping.pairs[i].key, depth + 1);
		value = key ? tree_copy(tree, node->mapping.pairs[i].value, depth + 1) : NULL;
		if (!value)
			return NULL;
		if (yaml_tree_mapping_append(tree, copy, key, value)) {
			errno = ENOMEM;
			return NULL;
		}
	}
	return copy;
}

int yaml_tree_copy_document(struct yaml_tree *tree, const struct yaml_tree_node *node)
{
	struct yaml_tree_node *copy = tree_copy(tree, node, 0);

	if (!copy)
		return errno == E2BIG ? -E2BIG : -ENOMEM;
	return yaml_tree_add_document(tree, copy);
}

static bool all_in(const char *s, size_t n, const char *set)
{
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		if (!s[i] || !strchr(set, s[i]))
			return false;
	}
	return true;
}

static bool is_one_of(const char *s, size_t n, const char *const *words)
{
	/* The first byte first: this runs for every plain scalar of a manifest. */
	for (; *words; words++) {
		if ((*words)[0] == s[0] && strlen(*words) == n && !memcmp(s, *words, n))
			return true;
	}
	return false;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (!digits)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp = 0;

		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, exp++;
		if (!exp)
			return false;
	}
	return i == n;
}

enum yaml_tree_kind yaml_tree_resolve_plain(const char *s, size_t n)
{
	static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {"true",  "True",  "TRUE", "false",
					    "False", "FALSE", NULL};
	static const char *const specials[] = {".inf",	".Inf",	 ".INF",  "+.inf", "+.Inf",
					       "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
					       ".NaN",	".NAN",	 NULL};
	const char *digits = s;
	size_t nd = n;

	if (!n || is_one_of(s, n, nulls))
		return YAML_TREE_NULL;
	if (is_one_of(s, n, bools))
		return YAML_TREE_BOOL;
	if (n > 2 && s[0] == '0' && s[1] == 'x' && all_in(s + 2, n - 2, "0123456789abcdefABCDEF"))
		return YAML_TREE_INT;
	if (n > 2 && s[0] == '0' && s[1] == 'o' && all_in(s + 2, n - 2, "01234567"))
		return YAML_TREE_INT;
	if (s[0] == '-' || s[0] == '+')
		digits++, nd--;
	if (all_in(digits, nd, "0123456789")) {
		/* YAML 1.1 (and so kubectl) reads 010 as octal 8: refuse to guess. */
		if (nd > 1 && digits[0] == '0')
			return YAML_TREE_FLOAT;
		return YAML_TREE_INT;
	}
	if (is_float(s, n) || is_one_of(s, n, specials))
		return YAML_TREE_FLOAT;
	return YAML_TREE_STRING;
}

struct yaml_tree_node *yaml_tree_get(const struct yaml_tree_node *mapping, const char *key)
{
	size_t i, n;

	if (!mapping || mapping->type != YAML_TREE_MAPPING)
		return NULL;
	n = strlen(key);
	for (i = 0; i < mapping->mapping.count; i++) {
		const struct yaml_tree_node *k = mapping->mapping.pairs[i].key;

		if (k->scalar.length == n && !memcmp(k->scalar.value, key, n))
			return mapping->mapping.pairs[i].value;
	}
	return NULL;
}

bool yaml_tree_is_null(const struct yaml_tree_node *node)
{
	return !node || (node->type == YAML_TREE_SCALAR && node->scalar.kind == YAML_TREE_NULL);
}

const char *yaml_tree_string(const struct yaml_tree_node *node)
{
	if (!node || node->type != YAML_TREE_SCALAR || node->scalar.kind != YAML_TREE_STRING)
		return NULL;
	if (strlen(node->scalar.value) != node->scalar.length)
		return NULL;
	return node->scalar.value;
}

int yaml_tree_int(const struct yaml_tree_node *node, int64_t *out)
{
	const char *s;
	uint64_t value = 0, limit;
	unsigned int base = 10;
	bool negative = false;

	if (!node || node->type != YAML_TREE_SCALAR || node->scalar.kind != YAML_TREE_INT)
		return -EINVAL;
	s = node->scalar.value;
	if (*s == '-' || *s == '+')
		negative = *s++ == '-';
	else if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		base = s[1] == 'x' ? 16 : 8;
		s += 2;
	}
	limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++) {
		unsigned int d = *s >= 'a' ? *s - 'a' + 10 : *s >= 'A' ? *s - 'A' + 10 : *s - '0';

		if (value > (limit - d) / base)
			return -ERANGE;
		value = value * base + d;
	}
	if (negative)
		*out = value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
	else
		*out = (int64_t)value;
	return 0;
}

int yaml_tree_bool(const struct yaml_tree_node *node, bool *out)
{
	if (!node || node->type != YAML_TREE_SCALAR || node->scalar.kind != YAML_TREE_BOOL)
		return -EINVAL;
	*out = node->scalar.value[0] == 't' || node->scalar.value[0] == 'T';
	return 0;
}

const char *yaml_tree_describe(const struct yaml_tree_node *node)
{
	static const char *const kinds[] = {
	    [YAML_TREE_NULL] = "null",	   [YAML_TREE_BOOL] = "boolean",
	    [YAML_TREE_INT] = "integer",   [YAML_TREE_FLOAT] = "number",
	    [YAML_TREE_STRING] = "string",
	};

	if (!node)
		return "nothing";
	if (node->type == YAML_TREE_MAPPING)
		return "a mapping";
	if (node->type == YAML_TREE_SEQUENCE)
		return "a list";
	return kinds[node->scalar.kind];
}

/* ---- the event-driven builder ---------------------------------------------------------- */

struct anchor {
	char *name;
	struct yaml_tree_node *node;
};

struct frame {
	struct yaml_tree_node *node;
	struct yaml_tree_node *pending_key; /* mapping: key read, value not yet */
	char *anchor;			    /* registered when the container ends */
};

struct builder {
	struct yaml_tree *tree;		 /* where new nodes go: whole, document or item */
	struct yaml_tree *whole;	 /* yaml_tree_parse(): every document in one tree */
	struct yaml_tree document, item; /* yaml_tree_read(): one document, one List item */
	const struct yaml_tree_reader *reader;
	struct frame stack[YAML_TREE_MAX_DEPTH];
	size_t depth;
	size_t items_depth; /* depth inside a document's top-level "items" list; 0: not in one */
	struct yaml_tree_node *root, *item_root;
	struct anchor *anchors;
	size_t n_anchors, item_anchors; /* those made before the open item outlive it */
	unsigned int first_line, line;
	bool is_reader_error; /* the reader's own: it set the line and message */
	char *error;
	size_t error_size;
};

static int builder_fail(struct builder *b, int err, unsigned int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int builder_fail(struct builder *b, int err, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	b->line = line;
	va_start(ap, fmt);
	vsnprintf(b->error, b->error_size, fmt, ap);
	va_end(ap);
	return err;
}

static void builder_drop_anchors(struct builder *b, size_t keep)
{
	while (b->n_anchors > keep)
		free(b->anchors[--b->n_anchors].name);
	if (!keep) {
		free(b->anchors);
		b->anchors = NULL;
	}
}

static int builder_anchor(struct builder *b, const char *name, struct yaml_tree_node *node)
{
	struct anchor *anchors;

	if (!name)
		return 0;
	if (b->n_anchors >= YAML_TREE_MAX_ANCHORS)
		return builder_fail(b, -E2BIG, node->line,
				    "more than %d anchors in a document (the limit per document)",
				    YAML_TREE_MAX_ANCHORS);
	anchors = realloc(b->anchors, (b->n_anchors + 1) * sizeof(*anchors));
	if (!anchors)
		return -ENOMEM;
	b->anchors = anchors;
	anchors[b->n_anchors].name = strdup(name);
	if (!anchors[b->n_anchors].name)
		return -ENOMEM;
	anchors[b->n_anchors++].node = node;
	return 0;
}

static struct yaml_tree_node *builder_lookup(struct builder *b, const char *name)
{
	size_t i;

	/* From the end: YAML lets a later anchor of the same name replace an earlier one. */
	for (i = b->n_anchors; i-- > 0;) {
		if (!strcmp(b->anchors[i].name, name))
			return b->anchors[i].node;
	}
	return NULL;
}

static bool builder_at_item(const struct builder *b)
{
	return b->items_depth && b->depth == b->items_depth;
}

/* A node starts: directly in the "items" list, it is a new item with a tree of its own. */
static void builder_enter(struct builder *b)
{
	if (!builder_at_item(b))
		return;
	yaml_tree_clear(&b->item);
	b->tree = &b->item;
	b->item_anchors = b->n_anchors;
}

/* The open item is complete: handed over, then emptied (its arena kept) with its anchors. */
static int builder_item_done(struct builder *b)
{
	int err = b->reader->object(b->reader->context, b->item_root, true);

	b->is_reader_error = err != 0;
	yaml_tree_clear(&b->item);
	builder_drop_anchors(b, b->item_anchors);
	b->tree = &b->document;
	b->item_root = NULL;
	return err;
}

/* Hang a complete or just-opened node under the current container (or make it the root). */
static int builder_attach(struct builder *b, struct yaml_tree_node *node)
{
	struct yaml_tree_node *key;
	struct frame *top;

	if (!b->depth) {
		b->root = node;
		return 0;
	}
	if (builder_at_item(b)) {
		b->item_root = node; /* the document's "items" stays empty */
		return 0;
	}
	top = &b->stack[b->depth - 1];
	if (top->node->type == YAML_TREE_SEQUENCE)
		return yaml_tree_sequence_append(b->tree, top->node, node);
	if (!top->pending_key) {
		/* Kubernetes objects only have string keys; complex keys would only confuse
		 * lookups. */
		if (node->type != YAML_TREE_SCALAR)
			return builder_fail(b, -EINVAL, node->line,
					    "mapping key is %s, not a scalar",
					    yaml_tree_describe(node));
		top->pending_key = node;
		return 0;
	}
	key = top->pending_key;
	top->pending_key = NULL;
	return yaml_tree_mapping_append(b->tree, top->node, key, node);
}

/* A sequence about to open as the value of the document root's "items" key (or a run's root). */
static bool builder_is_items(const struct builder *b)
{
	const struct yaml_tree_node *key = b->depth == 1 ? b->stack[0].pending_key : NULL;

	if (!b->reader || b->items_depth)
		return false;
	if (b->reader->is_items_run)
		return b->depth == 0; /* the root sequence of a run of items */
	return key && key->scalar.length == 5 && !memcmp(key->scalar.value, "items", 5);
}

static enum yaml_tree_kind scalar_kind(const yaml_event_t *event)
{
	const char *value = (const char *)event->data.scalar.value;
	const char *tag = (const char *)event->data.scalar.tag;

	if (event->data.scalar.plain_implicit &&
	    event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		return yaml_tree_resolve_plain(value, event->data.scalar.length);
	/* An explicit core tag (!!int "80") types the value whatever its quoting. */
	if (tag && strcmp(tag, TAG_STR) && !strncmp(tag, TAG_CORE, strlen(TAG_CORE)))
		return yaml_tree_resolve_plain(value, event->data.scalar.length);
	return YAML_TREE_STRING;
}

static int builder_document(struct builder *b, bool is_start, unsigned int line)
{
	int err;

	if (is_start) {
		b->root = NULL;
		builder_drop_anchors(b, 0);
		if (b->whole) {
			b->tree = b->whole;
		} else {
			yaml_tree_clear(&b->document);
			b->tree = &b->document;
		}
		return 0;
	}
	if (!b->whole) {
		err = b->reader->object(b->reader->context, b->root, false);
		b->is_reader_error = err != 0;
		yaml_tree_clear(&b->document);
		return err;
	}
	err = yaml_tree_add_document(b->whole, b->root);
	if (err == -E2BIG)
		return builder_fail(b, err, line, "more than %d documents (the limit per file)",
				    YAML_TREE_MAX_DOCUMENTS);
	return err;
}

static int builder_open(struct builder *b, const yaml_event_t *event, unsigned int line)
{
	bool is_mapping = event->type == YAML_MAPPING_START_EVENT;
	const char *anchor = (const char *)(is_mapping ? event->data.mapping_start.anchor
						       : event->data.sequence_start.anchor);
	bool is_items = !is_mapping && builder_is_items(b);
	struct yaml_tree_node *node;
	struct frame *top;
	int err;

	/* A run of items sits one level higher than in its List: the same depth is refused. */
	if (b->depth + (b->reader && b->reader->is_items_run) >= YAML_TREE_MAX_DEPTH)
		return builder_fail(b, -E2BIG, line, "nesting deeper than %d levels (the limit)",
				    YAML_TREE_MAX_DEPTH);
	builder_enter(b);
	node = yaml_tree_new_container(b->tree, is_mapping ? YAML_TREE_MAPPING : YAML_TREE_SEQUENCE,
				       line);
	if (!node)
		return -errno;
	err = builder_attach(b, node);
	if (err)
		return err;
	top = &b->stack[b->depth++];
	top->node = node;
	top->pending_key = NULL;
	top->anchor = anchor ? strdup(anchor) : NULL;
	if (anchor && !top->anchor)
		return -ENOMEM;
	if (is_items)
		b->items_depth = b->depth;
	return 0;
}

static int builder_close(struct builder *b, unsigned int line)
{
	const struct yaml_tree_node *duplicate;
	struct yaml_tree_node *node;
	struct frame *top;
	int err = 0;

	if (!b->depth)
		return builder_fail(b, -EINVAL, line, "unbalanced end of collection");
	top = &b->stack[--b->depth];
	node = top->node;
	if (node->type == YAML_TREE_MAPPING) {
		err = yaml_tree_mapping_check_unique(node, &duplicate);
		if (err == -EEXIST)
			err = builder_fail(b, -EINVAL, duplicate->line, "duplicate key \"%.64s\"",
					   duplicate->scalar.value);
	}
	/* Registered only now, so an alias inside its own anchor cannot make a cycle. */
	if (!err)
		err = builder_anchor(b, top->anchor, node);
	free(top->anchor);
	top->anchor = NULL;
	if (!err && builder_at_item(b))
		err = builder_item_done(b);
	if (b->items_depth && b->depth < b->items_depth)
		b->items_depth = 0;
	return err;
}

static int builder_event(struct builder *b, yaml_event_t *event)
{
	unsigned int line = event->start_mark.line + b->first_line;
	struct yaml_tree_node *node;
	bool is_item;
	int err;

	switch (event->type) {
	case YAML_DOCUMENT_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
		return builder_document(b, event->type == YAML_DOCUMENT_START_EVENT, line);
	case YAML_SCALAR_EVENT:
		if (event->data.scalar.length > YAML_TREE_MAX_SCALAR)
			return builder_fail(b, -E2BIG, line,
					    "scalar longer than %d bytes (the limit)",
					    YAML_TREE_MAX_SCALAR);
		is_item = builder_at_item(b);
		builder_enter(b);
		node = yaml_tree_new_scalar(b->tree, (const char *)event->data.scalar.value,
					    event->data.scalar.length, scalar_kind(event), line);
		if (!node)
			return -errno;
		err = builder_attach(b, node);
		if (!err)
			err = builder_anchor(b, (const char *)event->data.scalar.anchor, node);
		if (!err && is_item)
			err = builder_item_done(b);
		return err;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return builder_open(b, event, line);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return builder_close(b, line);
	case YAML_ALIAS_EVENT:
		node = builder_lookup(b, (const char *)event->data.alias.anchor);
		if (!node)
			return builder_fail(b, -EINVAL, line, "unknown alias \"%.64s\"%s",
					    (const char *)event->data.alias.anchor,
					    b->items_depth ? " (a List item sees only its own "
							     "anchors and those before \"items\")"
							   : "");
		is_item = builder_at_item(b);
		builder_enter(b);
		err = builder_attach(b, node);
		if (!err && is_item)
			err = builder_item_done(b);
		return err;
	default:
		return 0;
	}
}

/* Feed libyaml's events to b until the stream ends or something fails. */
static int builder_run(struct builder *b, const char *buffer, size_t size, unsigned int *line)
{
	yaml_parser_t parser;
	yaml_event_t event;
	bool done = false;
	int err = 0;

	*line = 0;
	if (b->error_size)
		b->error[0] = '\0';
	yaml_tree_init(&b->document);
	yaml_tree_init(&b->item);
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buffer, size);
	while (!done) {
		if (!yaml_parser_parse(&parser, &event)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				err = -ENOMEM;
				break;
			}
			err = builder_fail(
			    b, -EINVAL, parser.problem_mark.line + b->first_line, "%s%s%s",
			    parser.problem ? parser.problem : "malformed input",
			    parser.context ? " " : "", parser.context ? parser.context : "");
			break;
		}
		done = event.type == YAML_STREAM_END_EVENT;
		err = builder_event(b, &event);
		yaml_event_delete(&event);
		if (err)
			break;
	}
	if (b->is_reader_error) {
		/* its line and message stand */
	} else if (err == -E2BIG && !b->error[0]) {
		builder_fail(b, err, parser.mark.line + b->first_line,
			     "more than %d YAML nodes in one %s (the limit)", YAML_TREE_MAX_NODES,
			     b->whole		   ? "file"
			     : b->tree == &b->item ? "List item"
						   : "document");
	} else if (err == -ENOMEM) {
		builder_fail(b, err, b->line, "out of memory");
	}
	if (!b->is_reader_error)
		*line = b->line;
	while (b->depth)
		free(b->stack[--b->depth].anchor);
	builder_drop_anchors(b, 0);
	yaml_tree_free(&b->item);
	yaml_tree_free(&b->document);
	yaml_parser_delete(&parser);
	return err;
}

int yaml_tree_parse(struct yaml_tree *tree, const char *buffer, size_t size, unsigned int *line,
		    char *error, size_t error_size)
{
	struct builder b = {
	    .whole = tree, .first_line = 1, .error = error, .error_size = error_size};
	int err;

	yaml_tree_init(tree);
	err = builder_run(&b, buffer, size, line);
	if (err)
		yaml_tree_free(tree);
	return err;
}

int yaml_tree_read(const char *buffer, size_t size, const struct yaml_tree_reader *reader,
		   unsigned int *line, char *error, size_t error_size)
{
	struct builder b = {
	    .reader = reader,
	    .first_line = reader->first_line ? reader->first_line : 1,
	    .error = error,
	    .error_size = error_size,
	};

	return builder_run(&b, buffer, size, line);
}
