// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes manifests to desired state: reads a directory of YAML files, decodes and validates
 * their objects (loader/k8s/objects.c), keeps the last good version of each file and object, and
 * builds the desired state from them (loader/desired/build.c).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "loader/sources/manifest.h"
#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "loader/desired/index.h"
#include "loader/k8s/yaml_tree.h"

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
	size_t n_seen;	     /* objects met, as load_document counts them */
	size_t n_nodes;	     /* YAML nodes, for the per-file bound */
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

/* A read buffer kept from a replaced file's text: re-reading a big file faults no pages in. */
struct read_buffer {
	char *data;
	size_t capacity;
};

struct manifest_set {
	struct manifest_file *files;
	size_t n_files;
	struct k8s_errors errors;
	struct desired_state desired; /* computed by each successful load */
	struct k8s_build_config config;
	uint32_t n_rejected;
	struct k8s_index *index; /* fed with every change instead of a full build; or NULL */
	struct read_buffer spare;
};

/* ---- objects and files ----------------------------------------------------------------- */

/* Is object i of file borrowed (when is_old: lent to successor)? */
static bool is_borrowed(const struct manifest_file *borrower, size_t i, bool is_old)
{
	for (size_t k = 0; borrower && k < borrower->n_borrows; k++) {
		size_t first = is_old ? borrower->borrows[k].old_first : borrower->borrows[k].first;

		if (i >= first && i - first < borrower->borrows[k].count)
			return true;
	}
	return false;
}

/* Free file; objects its successor borrowed keep the reference (it is the successor's now). */
static void file_clear_lent(struct manifest_file *file, const struct manifest_file *successor)
{
	size_t i;

	for (i = 0; i < file->n_objects; i++) {
		if (!is_borrowed(file, i, false) && !is_borrowed(successor, i, true))
			k8s_object_put(file->objects[i]);
	}
	free(file->objects);
	free(file->name);
	free(file->chunks);
	free(file->content);
	k8s_errors_free(&file->errors);
	memset(file, 0, sizeof(*file));
}

static void file_clear(struct manifest_file *file)
{
	file_clear_lent(file, NULL);
}

static int file_add(struct manifest_file *file, struct k8s_object *object)
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
static int file_keep(struct manifest_file *file, const struct manifest_file *old)
{
	size_t i;
	int err;

	if (!old)
		return 0;
	for (i = 0; i < old->n_objects; i++) {
		err = file_add(file, old->objects[i]);
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

/* A replaced file's text becomes the next read's buffer (the larger one is kept). */
static void file_recycle(struct manifest_set *set, struct manifest_file *file)
{
	if (!file->content || file->content_capacity <= set->spare.capacity)
		return;
	free(set->spare.data);
	set->spare.data = file->content;
	set->spare.capacity = file->content_capacity;
	file->content = NULL;
}

struct manifest_set *manifest_set_new(void)
{
	struct manifest_set *set = calloc(1, sizeof(struct manifest_set));

	/* Standalone by default: no EndpointSlice controller, so Pods give endpoints. */
	if (set) {
		k8s_build_config_init(&set->config, NULL);
		set->config.is_pod_endpoints = true;
	}
	return set;
}

void manifest_set_configure(struct manifest_set *set, const struct k8s_build_config *config)
{
	set->config = *config;
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

/* Every object of every file, in file order, into the builder. */
static int build_desired(const struct manifest_file *files, size_t n_files,
			 const struct k8s_build_config *config, struct k8s_errors *errors,
			 struct desired_state *out)
{
	struct k8s_object **objects = NULL;
	size_t i, j, n = 0;
	int err;

	for (i = 0; i < n_files; i++)
		n += files[i].n_objects;
	if (n) {
		objects = malloc(n * sizeof(*objects));
		if (!objects)
			return -ENOMEM;
	}
	n = 0;
	for (i = 0; i < n_files; i++) {
		for (j = 0; j < files[i].n_objects; j++)
			objects[n++] = files[i].objects[j];
	}
	err = k8s_build_desired(objects, n, config, errors, out);
	free(objects);
	return err;
}

static void files_free(struct manifest_file *files, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		file_clear(&files[i]);
	free(files);
}

void manifest_set_free(struct manifest_set *set)
{
	if (!set)
		return;
	files_free(set->files, set->n_files);
	k8s_errors_free(&set->errors);
	desired_state_free(&set->desired);
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

int manifest_set_desired(const struct manifest_set *set, struct desired_state *out)
{
	return desired_state_copy(out, &set->desired);
}

/* One file being loaded: its new object list and, for fallbacks, its last good one. */
struct file_load {
	struct k8s_errors *errors;
	const char *name;
	struct manifest_file *file;
	const struct manifest_file *old;
	size_t n_seen; /* objects met, List items included */
};

static int load_object(struct file_load *load, const struct yaml_tree_node *root,
		       enum k8s_kind kind)
{
	struct k8s_object *object, *previous;
	int err;

	err = k8s_object_decode(root, kind, load->name, load->errors, &object);
	if (err == -ENOMEM)
		return err;
	if (!err) {
		err = file_add(load->file, object);
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
		err = file_add(load->file, previous);
	}
cleanup:
	k8s_object_put(object);
	return err;
}

static int load_document(struct file_load *load, const struct yaml_tree_node *root, bool is_item)
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
	if (++load->n_seen > MANIFEST_MAX_OBJECTS) {
		if (load->n_seen == MANIFEST_MAX_OBJECTS + 1)
			k8s_errors_add(load->errors,
				       "%s:%u: more than %d objects, the rest is ignored",
				       load->name, root->line, MANIFEST_MAX_OBJECTS);
		return 0;
	}
	api_version = yaml_tree_string(yaml_tree_get(root, "apiVersion"));
	kind_name = yaml_tree_string(yaml_tree_get(root, "kind"));
	if (!api_version || !*api_version || !kind_name || !*kind_name) {
		k8s_errors_add(load->errors, "%s:%u: object has no %s", load->name, root->line,
			       !api_version || !*api_version ? "apiVersion" : "kind");
		return 0;
	}
	if (!strcmp(kind_name, "List") && !is_item) {
		items = yaml_tree_get(root, "items");
		if (yaml_tree_is_null(items))
			return 0;
		if (items->type != YAML_TREE_SEQUENCE) {
			k8s_errors_add(load->errors, "%s:%u: List: items: expected a list, got %s",
				       load->name, items->line, yaml_tree_describe(items));
			return 0;
		}
		for (i = 0; i < items->sequence.count; i++) {
			err = load_document(load, items->sequence.items[i], true);
			if (err)
				return err;
		}
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

/* Read a whole regular file of at most MANIFEST_MAX_FILE_SIZE bytes. */
static int read_file(int dir_fd, const char *name, struct read_buffer *spare, char **out,
		     size_t *size, size_t *out_capacity, bool *is_dir)
{
	char *buffer = NULL;
	size_t length = 0, capacity;
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	*is_dir = false;
	/* O_NONBLOCK: a FIFO named *.yaml must not hang the agent. Symlinks are followed, since
	 * a ConfigMap volume is a set of symlinks. */
	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (S_ISDIR(st.st_mode)) {
		*is_dir = true;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EBADFD;
		goto cleanup;
	}
	/* Sized from fstat (with room to notice growth), not the cap: a big buffer per read
	 * costs page faults, and a file read in pieces keeps its text. */
	capacity = (size_t)st.st_size < MANIFEST_MAX_FILE_SIZE ? (size_t)st.st_size + 4096
							       : MANIFEST_MAX_FILE_SIZE + 1;
	if (spare && spare->data && spare->capacity >= capacity) {
		buffer = spare->data;
		capacity = spare->capacity;
		spare->data = NULL;
	} else {
		buffer = malloc(capacity);
	}
	if (!buffer) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Read one byte past the cap to notice a file that grew past it after fstat. */
	while (length <= MANIFEST_MAX_FILE_SIZE) {
		if (length == capacity) {
			char *grown;

			capacity = MANIFEST_MAX_FILE_SIZE + 1;
			grown = realloc(buffer, capacity);
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			buffer = grown;
		}
		n = read(fd, buffer + length, capacity - length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (!n)
			break;
		length += n;
	}
	if (length > MANIFEST_MAX_FILE_SIZE) {
		err = -EFBIG;
		goto cleanup;
	}
	*out = buffer;
	*size = length;
	*out_capacity = capacity;
	buffer = NULL;
cleanup:
	free(buffer);
	close(fd);
	return err;
}

/*
 * Spots unchanged text (a file, a document): 64-bit words in four independent lanes, multiply
 * and fold, so a 1 MiB file hashes in well under a tenth of a millisecond. Whoever could forge
 * a collision can edit the file anyway.
 */
#define HASH_PRIME 0x9e3779b97f4a7c15ull

static uint64_t hash_mix(uint64_t hash, uint64_t word)
{
	hash = (hash ^ word) * HASH_PRIME;
	return hash ^ (hash >> 32);
}

static uint64_t content_hash(const char *data, size_t size)
{
	uint64_t lane[4] = {0xcbf29ce484222325ull ^ size, 1, 2, 3}, word[4];
	size_t i;

	for (i = 0; i + 32 <= size; i += 32) {
		memcpy(word, data + i, sizeof(word));
		for (int k = 0; k < 4; k++)
			lane[k] = hash_mix(lane[k], word[k]);
	}
	for (; i + 8 <= size; i += 8) {
		memcpy(&word[0], data + i, sizeof(word[0]));
		lane[0] = hash_mix(lane[0], word[0]);
	}
	word[0] = 0;
	memcpy(&word[0], data + i, size - i);
	lane[0] = hash_mix(lane[0], word[0]);
	return hash_mix(hash_mix(hash_mix(lane[0], lane[1]), lane[2]), lane[3]);
}

/* Same content as at the last load: same objects and same errors, without parsing again. */
static int file_reuse(struct manifest_file *file, const struct manifest_file *old)
{
	size_t i;

	for (i = 0; i < old->errors.count; i++)
		k8s_errors_add(&file->errors, "%s", old->errors.items[i]);
	file->errors.found = old->errors.found;
	file->n_rejected = old->n_rejected;
	return file_keep(file, old);
}

/* One document-aligned piece of a file's text. */
struct chunk_span {
	size_t offset, size;
	uint64_t hash;
};

static bool is_marker(const char *p, size_t left, char c)
{
	return left >= 3 && p[0] == c && p[1] == c && p[2] == c &&
	       (left == 3 || p[3] == ' ' || p[3] == '\t' || p[3] == '\r' || p[3] == '\n');
}

/*
 * Offset of the next '\n' at or after i, or size: eight bytes at a time (the lowest flagged
 * byte of the zero-byte test is exact), since manifest lines are short and a call per line of
 * memchr() or memmem() costs more than the scan itself.
 */
static size_t next_newline(const char *buffer, size_t i, size_t size)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

	for (; i + 8 <= size; i += 8) {
		uint64_t word, x, zero;

		memcpy(&word, buffer + i, sizeof(word));
		x = word ^ (ones * '\n');
		zero = (x - ones) & ~x & highs;
		if (zero)
			return i + (size_t)(__builtin_ctzll(zero) >> 3);
	}
#endif
	while (i < size && buffer[i] != '\n')
		i++;
	return i;
}

static int spans_push(struct chunk_span **spans, size_t *n, size_t *capacity, const char *buffer,
		      size_t start, size_t end)
{
	if (*n == *capacity) {
		size_t next = *capacity ? *capacity * 2 : 64;
		struct chunk_span *grown;

		if (next > 2 * YAML_TREE_MAX_DOCUMENTS)
			return -E2BIG;
		grown = realloc(*spans, next * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		*spans = grown;
		*capacity = next;
	}
	(*spans)[*n].offset = start;
	(*spans)[*n].size = end - start;
	(*spans)[*n].hash = content_hash(buffer + start, end - start);
	(*n)++;
	return 0;
}

/*
 * Split text before each "---" line: YAML forbids a document marker at the start of a line
 * inside any scalar, so the pieces parse alone as they parse together. Returns the count, or 0
 * when the file is to be parsed whole: directives ("%") and end markers ("...") reach across
 * documents, and a file over the per-file document bound must meet it as one stream.
 */
static size_t split_documents(const char *buffer, size_t size, struct chunk_span **out)
{
	struct chunk_span *spans = NULL;
	size_t n = 0, capacity = 0, start = 0, i = 0;

	*out = NULL;
	while (i < size) {
		const char *line = buffer + i;

		if (*line == '%' || is_marker(line, size - i, '.'))
			goto whole;
		if (i > start && is_marker(line, size - i, '-')) {
			if (spans_push(&spans, &n, &capacity, buffer, start, i))
				goto whole;
			start = i;
		}
		i = next_newline(buffer, i, size) + 1;
	}
	if (spans_push(&spans, &n, &capacity, buffer, start, size))
		goto whole;
	*out = spans;
	return n;
whole:
	free(spans);
	return 0;
}

/* Lines before offset, counted on from a known point (pieces are parsed in order). */
static unsigned int line_at(const char *buffer, size_t offset, size_t *from, unsigned int *line)
{
	unsigned int count = 0;

	for (size_t i = *from; i < offset; i++)
		count += buffer[i] == '\n';
	*line += count;
	*from = offset;
	return *line;
}

/* old's clean chunks by (hash, size): open addressing over a power-of-two table. */
struct chunk_table {
	size_t *slots; /* chunk index + 1; 0: empty */
	size_t mask;
};

static int chunk_table_build(struct chunk_table *t, const struct manifest_file *old)
{
	size_t cap = 16, i;

	while (cap < old->n_chunks * 2)
		cap *= 2;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = cap - 1;
	for (i = 0; i < old->n_chunks; i++) {
		size_t at = old->chunks[i].hash & t->mask;

		if (!old->chunks[i].is_clean)
			continue;
		while (t->slots[at])
			at = (at + 1) & t->mask;
		t->slots[at] = i + 1;
	}
	return 0;
}

/* An unused clean chunk of old with this text; taken (so equal documents pair up in order). */
static const struct manifest_chunk *
chunk_table_take(struct chunk_table *t, const struct manifest_file *old, uint64_t hash, size_t size)
{
	for (size_t at = hash & t->mask; t->slots[at]; at = (at + 1) & t->mask) {
		const struct manifest_chunk *c;

		if (t->slots[at] == SIZE_MAX)
			continue;
		c = &old->chunks[t->slots[at] - 1];
		if (c->hash == hash && c->size == size) {
			t->slots[at] = SIZE_MAX; /* a tombstone keeps the probe chain */
			return c;
		}
	}
	return NULL;
}

/* Parse one piece of text into load, lines numbered from the piece's place in the file. */
static int load_span(struct file_load *load, const char *buffer, const struct chunk_span *span,
		     unsigned int first_line, size_t *n_nodes, unsigned int *error_line,
		     char *message, size_t message_size)
{
	struct yaml_tree tree;
	size_t i;
	int err;

	yaml_tree_init(&tree);
	err = yaml_tree_parse(&tree, buffer + span->offset, span->size, error_line, message,
			      message_size);
	if (err) {
		*error_line += first_line - 1;
		return err;
	}
	for (i = 0; i < tree.n_nodes; i++)
		tree.nodes[i]->line += first_line - 1;
	*n_nodes = tree.n_nodes;
	for (i = 0; i < tree.n_documents && !err; i++)
		err = load_document(load, tree.documents[i], false);
	yaml_tree_free(&tree);
	return err;
}

/*
 * The file's documents one piece at a time: pieces whose text is unchanged since old's load
 * (and that gave no error) keep their objects; only the others are parsed. Returns 0, -EINVAL
 * (syntax error: *error_line and message set, the file is to keep its old version), -E2BIG
 * (a bound of the whole file is crossed: parse it whole for the exact message) or -ENOMEM.
 */
static int load_chunks(struct file_load *load, const char *buffer, const struct chunk_span *spans,
		       size_t n_spans, unsigned int *error_line, char *message, size_t message_size)
{
	const struct manifest_file *old = load->old;
	struct manifest_file *file = load->file;
	struct chunk_table table = {0};
	size_t i, j, total_nodes = 0, counted = 0;
	unsigned int line = 1;
	int err = 0;

	file->chunks = calloc(n_spans, sizeof(*file->chunks));
	if (!file->chunks)
		return -ENOMEM;
	file->cap_chunks = n_spans;
	if (old && old->n_chunks && chunk_table_build(&table, old))
		return -ENOMEM;
	for (i = 0; i < n_spans && !err; i++) {
		struct manifest_chunk *c = &file->chunks[file->n_chunks++];
		const struct manifest_chunk *was = NULL;
		size_t errors_before = load->errors->found;
		uint32_t rejected_before = file->n_rejected;

		c->hash = spans[i].hash;
		c->size = spans[i].size;
		c->offset = spans[i].offset;
		c->line = line_at(buffer, spans[i].offset, &counted, &line);
		c->first = file->n_objects;
		if (table.slots)
			was = chunk_table_take(&table, old, c->hash, c->size);
		if (was && load->n_seen + was->n_seen <= MANIFEST_MAX_OBJECTS) {
			for (j = 0; j < was->count && !err; j++)
				err = file_add(file, old->objects[was->first + j]);
			c->n_seen = was->n_seen;
			c->n_nodes = was->n_nodes;
			load->n_seen += was->n_seen;
		} else {
			size_t seen_before = load->n_seen;

			err = load_span(load, buffer, &spans[i], c->line, &c->n_nodes, error_line,
					message, message_size);
			c->n_seen = load->n_seen - seen_before;
		}
		c->count = file->n_objects - c->first;
		c->is_clean =
		    load->errors->found == errors_before && file->n_rejected == rejected_before;
		total_nodes += c->n_nodes;
		if (!err &&
		    (total_nodes > YAML_TREE_MAX_NODES || load->n_seen > MANIFEST_MAX_OBJECTS))
			err = -E2BIG;
	}
	free(table.slots);
	return err;
}

static struct manifest_chunk *chunk_push(struct manifest_file *file)
{
	if (file->n_chunks == file->cap_chunks) {
		size_t next = file->cap_chunks ? file->cap_chunks * 2 : 64;
		struct manifest_chunk *grown = realloc(file->chunks, next * sizeof(*grown));

		if (!grown)
			return NULL;
		file->chunks = grown;
		file->cap_chunks = next;
	}
	memset(&file->chunks[file->n_chunks], 0, sizeof(file->chunks[0]));
	return &file->chunks[file->n_chunks++];
}

/*
 * old's chunks [from, to) and their objects carried over to file, offsets and lines moved by
 * the given amounts (modulo arithmetic: a shift back is a wrapped add). In bulk: an edit near
 * the top of a big file carries thousands of them.
 */
static int chunks_carry(struct file_load *load, size_t from, size_t to, size_t offset_add,
			unsigned int line_add)
{
	const struct manifest_file *old = load->old;
	struct manifest_file *file = load->file;
	size_t n = to - from, first, count, k;

	if (!n)
		return 0;
	if (file->n_chunks + n > file->cap_chunks) {
		size_t next = file->n_chunks + n + 64;
		struct manifest_chunk *grown = realloc(file->chunks, next * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		file->chunks = grown;
		file->cap_chunks = next;
	}
	first = old->chunks[from].first;
	count = old->chunks[to - 1].first + old->chunks[to - 1].count - first;
	if (file->n_objects + count > file->capacity) {
		size_t next = file->n_objects + count + 8;
		struct k8s_object **grown = realloc(file->objects, next * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		file->objects = grown;
		file->capacity = next;
	}
	memcpy(&file->chunks[file->n_chunks], &old->chunks[from], n * sizeof(*file->chunks));
	for (k = 0; k < n; k++) {
		struct manifest_chunk *c = &file->chunks[file->n_chunks + k];

		c->offset += offset_add;
		c->line += line_add;
		c->first = c->first - first + file->n_objects;
		load->n_seen += c->n_seen;
	}
	file->n_chunks += n;
	memcpy(&file->objects[file->n_objects], &old->objects[first],
	       count * sizeof(*file->objects));
	if (file->n_borrows < sizeof(file->borrows) / sizeof(file->borrows[0])) {
		file->borrows[file->n_borrows].first = file->n_objects;
		file->borrows[file->n_borrows].old_first = first;
		file->borrows[file->n_borrows].count = count;
		file->n_borrows++;
	} else {
		for (k = 0; k < count; k++)
			old->objects[first + k]->refs++;
	}
	file->n_objects += count;
	return 0;
}

/* Parse text[start, end) as one piece starting at line. */
static int chunk_parse(struct file_load *load, const char *buffer, size_t start, size_t end,
		       unsigned int line, unsigned int *error_line, char *message,
		       size_t message_size)
{
	struct manifest_file *file = load->file;
	struct chunk_span span = {.offset = start, .size = end - start};
	size_t errors_before = load->errors->found, seen_before = load->n_seen;
	uint32_t rejected_before = file->n_rejected;
	struct manifest_chunk *c = chunk_push(file);
	size_t first = file->n_objects, n_nodes = 0;
	int err;

	if (!c)
		return -ENOMEM;
	err = load_span(load, buffer, &span, line, &n_nodes, error_line, message, message_size);
	c->offset = start;
	c->line = line;
	c->size = end - start;
	c->hash = content_hash(buffer + start, end - start);
	c->first = first;
	c->count = file->n_objects - first;
	c->n_seen = load->n_seen - seen_before;
	c->n_nodes = n_nodes;
	c->is_clean = load->errors->found == errors_before && file->n_rejected == rejected_before;
	return err;
}

/*
 * An edit in place: the text before the first and after the last changed byte is old's, so
 * the pieces wholly inside it keep their objects (those after the change at shifted offsets
 * and lines) and only the pieces around the change are split and parsed, whatever the size
 * of the file. Returns 0; -EAGAIN when this does not apply (old kept an error to report again,
 * or the new text needs the whole file parsed), then file is to be reset and loaded by
 * load_chunks(); or as load_chunks().
 */
#define DIFF_BLOCK 65536 /* bytes compared at once, first, when looking for the change */

static int load_diff(struct file_load *load, const char *buffer, size_t size,
		     unsigned int *error_line, char *message, size_t message_size)
{
	const struct manifest_file *old = load->old;
	const char *was = old->content;
	size_t n_old = old->content_size, shorter = size < n_old ? size : n_old;
	size_t prefix = 0, suffix = 0, a, b, k, start, old_end, new_end, i, nodes = 0;
	unsigned int line;
	int err = 0;

	for (k = 0; k < old->n_chunks; k++) {
		if (!old->chunks[k].is_clean)
			return -EAGAIN;
	}
	/* Big blocks, then small, then bytes: memcmp() runs at memory speed, a byte loop at a
	 * byte a cycle, and each call costs as much as comparing a few hundred bytes. */
	for (size_t block = DIFF_BLOCK; block; block /= 16) {
		while (prefix + block <= shorter && !memcmp(was + prefix, buffer + prefix, block))
			prefix += block;
	}
	for (size_t block = DIFF_BLOCK; block; block /= 16) {
		while (suffix + block <= shorter - prefix &&
		       !memcmp(was + n_old - suffix - block, buffer + size - suffix - block, block))
			suffix += block;
	}
	/* Kept before the change: pieces whose "---" line lies in the common head. */
	for (a = old->n_chunks - 1; a > 0 && old->chunks[a].offset + 4 > prefix; a--)
		;
	/* Kept after it: pieces whose preceding newline lies in the common tail. */
	for (b = a + 1; b < old->n_chunks && old->chunks[b].offset <= n_old - suffix; b++)
		;
	start = old->chunks[a].offset;
	old_end = b < old->n_chunks ? old->chunks[b].offset : n_old;
	new_end = old_end + size - n_old;
	if (new_end < start || new_end > size)
		return -EAGAIN;
	err = chunks_carry(load, 0, a, 0, 0);
	/* The changed stretch, split as split_documents() does. */
	line = old->chunks[a].line;
	for (i = start; !err && i < new_end;) {
		size_t piece = i, piece_line = line;

		do {
			const char *at = buffer + i;

			if (*at == '%' || is_marker(at, size - i, '.'))
				return -EAGAIN;
			if (i > piece && is_marker(at, size - i, '-'))
				break;
			i = next_newline(buffer, i, new_end) + 1;
			line++;
		} while (i < new_end);
		if (i > new_end)
			i = new_end; /* the stretch ended without a newline */
		err = chunk_parse(load, buffer, piece, i, (unsigned int)piece_line, error_line,
				  message, message_size);
	}
	if (!err && b < old->n_chunks)
		err =
		    chunks_carry(load, b, old->n_chunks, size - n_old, line - old->chunks[b].line);
	/*
	 * The pieces tile the new text, each after the first at a "---" line: else parse anew.
	 * Carried pieces hold the same bytes as in old's tiling, so only the edges of the parsed
	 * stretch are looked at (touching every piece's text would cost a cache miss each).
	 */
	for (k = 0, i = 0; !err && k < load->file->n_chunks; k++) {
		const struct manifest_chunk *c = &load->file->chunks[k];
		bool is_edge = k >= a && k <= a + load->file->n_chunks - old->n_chunks + (b - a);

		if (c->offset != i || (k && is_edge && !is_marker(buffer + i, size - i, '-')))
			err = -EAGAIN;
		i += c->size;
		nodes += c->n_nodes;
	}
	if (!err && i != size)
		err = -EAGAIN;
	if (!err && (nodes > YAML_TREE_MAX_NODES || load->n_seen > MANIFEST_MAX_OBJECTS ||
		     load->file->n_chunks > 2 * YAML_TREE_MAX_DOCUMENTS))
		err = -E2BIG;
	return err;
}

/*
 * A file with nothing to reuse: parsed whole (one parser, as fast as it gets), its documents
 * then assigned to the pieces split_documents() found, by line, so the next load can reuse
 * them. A piece holds at most one document: only a "---" line starts one. Returns 0, -EINVAL
 * (the whole file's parse failed: *error_line and message set) or -ENOMEM.
 */
static int load_whole_chunks(struct file_load *load, const char *buffer, size_t size,
			     const struct chunk_span *spans, size_t n_spans,
			     unsigned int *error_line, char *message, size_t message_size)
{
	struct manifest_file *file = load->file;
	struct yaml_tree tree;
	size_t d, k = 0, node = 0, counted = 0;
	unsigned int line = 1;
	int err;

	yaml_tree_init(&tree);
	err = yaml_tree_parse(&tree, buffer, size, error_line, message, message_size);
	if (err)
		return err == -ENOMEM ? err : -EINVAL;
	file->chunks = calloc(n_spans, sizeof(*file->chunks));
	if (!file->chunks) {
		yaml_tree_free(&tree);
		return -ENOMEM;
	}
	file->n_chunks = file->cap_chunks = n_spans;
	for (k = 0; k < n_spans; k++) {
		struct manifest_chunk *c = &file->chunks[k];

		c->offset = spans[k].offset;
		c->size = spans[k].size;
		c->hash = spans[k].hash;
		c->line = line_at(buffer, spans[k].offset, &counted, &line);
		c->is_clean = true;
	}
	k = 0;
	for (d = 0; d < tree.n_documents && !err; d++) {
		const struct yaml_tree_node *root = tree.documents[d];
		size_t errors_before = load->errors->found, seen_before = load->n_seen;
		size_t first = file->n_objects, next_node = tree.n_nodes;
		uint32_t rejected_before = file->n_rejected;
		struct manifest_chunk *c;

		if (!root)
			continue; /* an empty document: no objects, not counted */
		while (k + 1 < n_spans && file->chunks[k + 1].line <= root->line) {
			k++;
			file->chunks[k].first = file->n_objects;
		}
		c = &file->chunks[k];
		/* Nodes are made in document order: this one's run up to the next root. */
		while (node < tree.n_nodes && tree.nodes[node] != root)
			node++;
		for (size_t e = d + 1; e < tree.n_documents; e++) {
			if (tree.documents[e]) {
				for (next_node = node; next_node < tree.n_nodes &&
						       tree.nodes[next_node] != tree.documents[e];
				     next_node++)
					;
				break;
			}
		}
		c->n_nodes += next_node - node;
		err = load_document(load, root, false);
		c->count += file->n_objects - first;
		c->n_seen += load->n_seen - seen_before;
		if (load->errors->found != errors_before || file->n_rejected != rejected_before)
			c->is_clean = false;
	}
	while (++k < n_spans)
		file->chunks[k].first = file->n_objects;
	yaml_tree_free(&tree);
	return err;
}

/* Forget what a failed attempt put in file, so it can be loaded again from scratch. */
static void file_reset(struct manifest_file *file)
{
	size_t i;

	for (i = 0; i < file->n_objects; i++) {
		if (!is_borrowed(file, i, false))
			k8s_object_put(file->objects[i]);
	}
	file->n_borrows = 0;
	file->n_objects = 0;
	file->n_rejected = 0;
	free(file->chunks);
	file->chunks = NULL;
	file->n_chunks = file->cap_chunks = 0;
	k8s_errors_free(&file->errors);
	file->errors.is_quiet = true;
}

/* Every piece gave its objects without an error or a refusal. */
static bool file_is_clean(const struct manifest_file *file)
{
	for (size_t k = 0; k < file->n_chunks; k++) {
		if (!file->chunks[k].is_clean)
			return false;
	}
	return true;
}

/* The text is old's: by its kept text when there is one, else by hash. */
static bool is_same_text(const struct manifest_file *old, const char *buffer, size_t size,
			 uint64_t *hash, bool *has_hash)
{
	if (!old)
		return false;
	if (old->content)
		return old->content_size == size && !memcmp(old->content, buffer, size);
	if (!old->has_content || old->size != size)
		return false;
	*hash = content_hash(buffer, size);
	*has_hash = true;
	return old->hash == *hash;
}

/*
 * Load one file into file (its objects and file->errors); on any problem with the file as a
 * whole, keep old's objects. A file read by pieces keeps its text for the next load's diff.
 */
static int load_file(int dir_fd, const char *name, struct read_buffer *spare,
		     struct manifest_file *file, const struct manifest_file *old, bool *is_dir)
{
	struct k8s_errors *errors = &file->errors;
	struct file_load load = {
	    .errors = errors,
	    .name = name,
	    .file = file,
	    .old = old,
	};
	char message[YAML_TREE_ERROR_LEN];
	struct chunk_span *spans = NULL;
	struct yaml_tree tree;
	char *buffer = NULL;
	unsigned int line;
	size_t size = 0, capacity = 0, i, n_spans;
	uint64_t hash = 0;
	bool has_hash = false, is_chunked = false, is_reusable;
	int err;

	yaml_tree_init(&tree);
	err = read_file(dir_fd, name, spare, &buffer, &size, &capacity, is_dir);
	if (err == -ENOMEM)
		goto cleanup;
	if (err == -EFBIG || err == -EBADFD) {
		k8s_errors_add(errors, "%s: %s", name,
			       err == -EFBIG ? "file is larger than 4 MiB" : "not a regular file");
		err = file_keep(file, old);
		goto cleanup;
	}
	if (err) {
		k8s_errors_add(errors, "%s: cannot read: %s", name, strerror(-err));
		err = file_keep(file, old);
		goto cleanup;
	}
	if (*is_dir)
		goto cleanup;
	if (is_same_text(old, buffer, size, &hash, &has_hash)) {
		err = file_reuse(file, old);
		is_chunked = !err && old->content;
		goto cleanup;
	}
	/*
	 * Reuse only among clean pieces: an invalid object falls back to its last good version,
	 * which a reused piece may hold too, so a file with any error is parsed whole, in order,
	 * exactly as a first read.
	 */
	is_reusable = old && old->n_chunks && file_is_clean(old);
	if (is_reusable && old->content) {
		err = load_diff(&load, buffer, size, &line, message, sizeof(message));
		if (!err && file_is_clean(file)) {
			is_chunked = true;
			goto cleanup;
		}
		if (err == -EINVAL)
			goto syntax;
		if (err == -ENOMEM)
			goto cleanup;
		file_reset(file);
		load.n_seen = 0;
	}
	n_spans = split_documents(buffer, size, &spans);
	if (n_spans && is_reusable) {
		err = load_chunks(&load, buffer, spans, n_spans, &line, message, sizeof(message));
		if (!err && file_is_clean(file)) {
			is_chunked = true;
			goto cleanup;
		}
		if (err == -EINVAL)
			goto syntax;
		if (err == -ENOMEM)
			goto cleanup;
		file_reset(file);
		load.n_seen = 0;
	}
	if (n_spans) {
		err = load_whole_chunks(&load, buffer, size, spans, n_spans, &line, message,
					sizeof(message));
		if (!err)
			is_chunked = true;
		if (err == -EINVAL)
			goto syntax;
		goto cleanup;
	}
	err = yaml_tree_parse(&tree, buffer, size, &line, message, sizeof(message));
	if (err == -ENOMEM)
		goto cleanup;
	if (err)
		goto syntax;
	for (i = 0; i < tree.n_documents && !err; i++)
		err = load_document(&load, tree.documents[i], false);
	goto cleanup;
syntax:
	file_reset(file);
	k8s_errors_add(errors, "%s:%u: yaml: %s%s", name, line, message,
		       old ? "; keeping the file's last good version" : "");
	err = file_keep(file, old);
cleanup:
	if (!err && buffer) {
		file->has_content = true;
		file->size = size;
		if (is_chunked) {
			/* Kept for the next diff. */
			file->content = buffer;
			file->content_size = size;
			file->content_capacity = capacity;
			buffer = NULL;
		} else {
			file->hash = has_hash ? hash : content_hash(buffer, size);
		}
	}
	yaml_tree_free(&tree);
	free(spans);
	free(buffer);
	return err;
}

/* ---- loading several files at once ---------------------------------------------------- */

#define MANIFEST_LOAD_THREADS 4 /* at most; as many as online CPUs */

/* One file to load: load_file()'s arguments and results. */
struct load_task {
	const char *name;
	struct manifest_file *file;
	const struct manifest_file *old;
	bool is_dir;
	int err;
};

struct load_pool {
	int dir_fd;
	struct read_buffer *spare; /* NULL when several threads load */
	struct load_task *tasks;
	size_t n_tasks;
	atomic_size_t next;
};

static void *load_worker(void *arg)
{
	struct load_pool *pool = arg;
	size_t i;

	while ((i = atomic_fetch_add(&pool->next, 1)) < pool->n_tasks) {
		struct load_task *t = &pool->tasks[i];

		t->err = load_file(pool->dir_fd, t->name, pool->spare, t->file, t->old, &t->is_dir);
	}
	return NULL;
}

/*
 * Load every task, on up to MANIFEST_LOAD_THREADS threads: parsing YAML is most of a full
 * load, and files are independent (each reads only its own last version; objects are shared
 * with no other file). Results are used in task order, so errors and "first wins" do not
 * depend on which thread finished first.
 */
static void load_all(int dir_fd, struct read_buffer *spare, struct load_task *tasks, size_t n)
{
	struct load_pool pool = {.dir_fd = dir_fd, .spare = spare, .tasks = tasks, .n_tasks = n};
	pthread_t threads[MANIFEST_LOAD_THREADS - 1];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n_threads = 0, want;

	want = cpus > 1 ? (size_t)cpus : 1;
	if (want > MANIFEST_LOAD_THREADS)
		want = MANIFEST_LOAD_THREADS;
	if (want > n)
		want = n;
	atomic_init(&pool.next, 0);
	if (want > 1)
		pool.spare = NULL; /* one spare buffer: not for several readers */
	for (; n_threads + 1 < want; n_threads++) {
		if (pthread_create(&threads[n_threads], NULL, load_worker, &pool))
			break; /* fewer threads: the work still gets done */
	}
	load_worker(&pool);
	while (n_threads)
		pthread_join(threads[--n_threads], NULL);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_manifest_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

/* Sorted names of the manifest files in dir; -errno when dir cannot be read. */
static int list_dir(DIR *dir, char ***out, size_t *count, struct k8s_errors *errors,
		    const char *path)
{
	char **names = NULL, **grown;
	size_t n = 0, capacity = 0;
	struct dirent *entry;
	int err = 0;

	for (;;) {
		errno = 0;
		entry = readdir(dir);
		if (!entry) {
			err = -errno;
			break;
		}
		if (!is_manifest_name(entry->d_name))
			continue;
		if (n >= MANIFEST_MAX_FILES) {
			k8s_errors_add(errors,
				       "%s: more than %d manifest files, the rest is ignored", path,
				       MANIFEST_MAX_FILES);
			break;
		}
		if (n == capacity) {
			capacity = capacity ? capacity * 2 : 16;
			grown = realloc(names, capacity * sizeof(*names));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			names = grown;
		}
		names[n] = strdup(entry->d_name);
		if (!names[n]) {
			err = -ENOMEM;
			break;
		}
		n++;
	}
	if (err) {
		while (n)
			free(names[--n]);
		free(names);
		return err;
	}
	/* readdir order is arbitrary; sorting makes "first wins" and error order reproducible. */
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*count = n;
	return 0;
}

/* ---- the directory --------------------------------------------------------------------- */

static const struct manifest_file *set_find_file(const struct manifest_set *set, const char *name)
{
	size_t lo = 0, hi = set->n_files;

	/* Files are kept in name order. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->files[mid].name, name);

		if (!c)
			return &set->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- feeding the index ------------------------------------------------------------------ */

struct placed_object {
	struct k8s_object *object;
	uint32_t position;
};

static int placed_cmp(const void *a, const void *b)
{
	const struct placed_object *x = a, *y = b;

	return (x->object > y->object) - (x->object < y->object);
}

static struct placed_object *placed_sorted(struct k8s_object *const *objects, size_t first,
					   size_t last)
{
	struct placed_object *placed = calloc(last - first + 1, sizeof(*placed));
	size_t i;

	if (!placed)
		return NULL;
	for (i = first; i < last; i++) {
		placed[i - first].object = objects[i];
		placed[i - first].position = (uint32_t)i;
	}
	qsort(placed, last - first, sizeof(*placed), placed_cmp);
	return placed;
}

/*
 * Tell the index how one file's objects changed: an edit in place touches only the objects
 * between the common head and tail of the two lists; the tail is moved when its positions
 * shifted. Returns 0 or -ENOMEM.
 */
static int index_file(struct k8s_index *index, const struct manifest_file *old,
		      const struct manifest_file *new)
{
	size_t n_old = old ? old->n_objects : 0, n_new = new ? new->n_objects : 0;
	size_t head = 0, tail = 0, i, j;
	struct placed_object *a = NULL, *b = NULL;
	int err = 0;

	if (old && new && old->objects == new->objects)
		return 0; /* the same list: the file was not re-read */
	while (head < n_old && head < n_new && old->objects[head] == new->objects[head])
		head++;
	while (tail < n_old - head && tail < n_new - head &&
	       old->objects[n_old - 1 - tail] == new->objects[n_new - 1 - tail])
		tail++;
	a = placed_sorted(old ? old->objects : NULL, head, n_old - tail);
	b = placed_sorted(new ? new->objects : NULL, head, n_new - tail);
	if (!a || !b) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Withdrawn first, then moved, then added: the order the file now gives. */
	for (i = 0, j = 0; i < n_old - tail - head; i++) {
		while (j < n_new - tail - head && b[j].object < a[i].object)
			j++;
		if (j == n_new - tail - head || b[j].object != a[i].object)
			k8s_index_remove(index, a[i].object);
		else
			k8s_index_move(index, a[i].object, b[j].position);
	}
	for (i = 0; n_old != n_new && i < tail; i++)
		k8s_index_move(index, new->objects[n_new - 1 - i], (uint32_t)(n_new - 1 - i));
	for (i = 0, j = 0; !err && j < n_new - tail - head; j++) {
		while (i < n_old - tail - head && a[i].object < b[j].object)
			i++;
		if (i == n_old - tail - head || a[i].object != b[j].object)
			err = k8s_index_add(index, b[j].object, b[j].position);
	}
cleanup:
	free(a);
	free(b);
	return err;
}

/* Both lists sorted by name: each file compared with its namesake. */
static int index_files(struct k8s_index *index, const struct manifest_file *old, size_t n_old,
		       const struct manifest_file *new, size_t n_new)
{
	size_t i = 0, j = 0;
	int err = 0, c;

	while (!err && (i < n_old || j < n_new)) {
		c = i == n_old ? 1 : j == n_new ? -1 : strcmp(old[i].name, new[j].name);
		if (c < 0)
			err = index_file(index, &old[i++], NULL);
		else if (c > 0)
			err = index_file(index, NULL, &new[j++]);
		else
			err = index_file(index, &old[i++], &new[j++]);
	}
	return err;
}

int manifest_set_attach_index(struct manifest_set *set, struct k8s_index *index)
{
	set->index = index;
	return index ? index_files(index, NULL, 0, set->files, set->n_files) : 0;
}

int manifest_set_load_dir(struct manifest_set *set, const char *path)
{
	struct k8s_errors errors = {0};
	struct manifest_file *files = NULL;
	struct desired_state desired = {0};
	struct load_task *tasks = NULL;
	char **names = NULL;
	size_t n_names = 0, n_files = 0, i, j;
	DIR *dir;
	int err;

	dir = opendir(path);
	if (!dir) {
		err = -errno;
		log_warn("manifests %s: %s", path, strerror(-err));
		return err;
	}
	err = list_dir(dir, &names, &n_names, &errors, path);
	if (err) {
		log_warn("manifests %s: %s", path, strerror(-err));
		goto cleanup;
	}
	if (n_names) {
		files = calloc(n_names, sizeof(*files));
		if (!files) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	if (n_names) {
		tasks = calloc(n_names, sizeof(*tasks));
		if (!tasks) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < n_names; i++) {
		files[i].name = strdup(names[i]);
		if (!files[i].name) {
			n_files = i;
			err = -ENOMEM;
			goto cleanup;
		}
		files[i].errors.is_quiet = true;
		tasks[i].name = files[i].name;
		tasks[i].file = &files[i];
		tasks[i].old = set_find_file(set, names[i]);
	}
	n_files = n_names;
	load_all(dirfd(dir), &set->spare, tasks, n_names);
	for (i = 0; i < n_names; i++) {
		if (tasks[i].err) {
			err = tasks[i].err;
			goto cleanup;
		}
	}
	/* Directories named like manifests drop out; the rest keep their order. */
	for (i = 0, n_files = 0; i < n_names; i++) {
		struct manifest_file *file = &files[i];

		if (tasks[i].is_dir) {
			file_clear(file);
			continue;
		}
		if (n_files != i) {
			files[n_files] = *file;
			memset(file, 0, sizeof(*file));
		}
		file = &files[n_files++];
		for (j = 0; j < file->errors.count; j++)
			k8s_errors_add(&errors, "%s", file->errors.items[j]);
		errors.found += file->errors.found - file->errors.count;
	}
	if (!set->index) {
		err = build_desired(files, n_files, &set->config, &errors, &desired);
		if (err)
			goto cleanup;
	}
	if (errors.found > errors.count && errors.count)
		log_warn("manifests %s: %zu errors, only the first %zu are listed", path,
			 errors.found, errors.count);

	/* Commit: everything above only took references, so failing earlier changed nothing. */
	if (set->index)
		err = index_files(set->index, set->files, set->n_files, files, n_files);
	for (i = 0, j = 0; i < set->n_files; i++) {
		while (j < n_files && strcmp(files[j].name, set->files[i].name) < 0)
			j++;
		file_clear_lent(
		    &set->files[i],
		    j < n_files && !strcmp(files[j].name, set->files[i].name) ? &files[j] : NULL);
	}
	free(set->files);
	for (i = 0; i < n_files; i++)
		files[i].n_borrows = 0; /* the references are theirs now */
	set->files = files;
	set->n_files = n_files;
	files = NULL;
	n_files = 0;
	k8s_errors_free(&set->errors);
	set->errors = errors;
	memset(&errors, 0, sizeof(errors));
	desired_state_free(&set->desired);
	set->desired = desired;
	set->n_rejected = 0;
	for (i = 0; i < set->n_files; i++)
		set->n_rejected += set->files[i].n_rejected;
	set->desired.rejected_objects += set->n_rejected;
	if (!err)
		err = (int)(set->errors.found > 0x7fffffff ? 0x7fffffff : set->errors.found);
cleanup:
	files_free(files, n_files);
	free(tasks);
	k8s_errors_free(&errors);
	for (i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return err;
}

/* The file name of a directory entry, or NULL when the name is not a file to read now. */
static bool is_present(int dir_fd, const char *name)
{
	struct stat st;

	/* Followed, as read_file follows it: a ConfigMap volume is symlinks. */
	if (fstatat(dir_fd, name, &st, 0))
		return errno != ENOENT && errno != ENOTDIR;
	return !S_ISDIR(st.st_mode);
}

int manifest_set_load_files(struct manifest_set *set, const char *path, char *const *names,
			    size_t n_names)
{
	struct k8s_errors errors = {0};
	struct manifest_file *files = NULL;
	struct load_task *tasks = NULL;
	bool *is_fresh = NULL;
	char **sorted = NULL;
	size_t n_sorted = 0, n_files = 0, n_tasks = 0, i, j;
	int dir_fd, err = 0;

	if (!set->index)
		return manifest_set_load_dir(set, path);
	dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		err = -errno;
		log_warn("manifests %s: %s", path, strerror(-err));
		return err;
	}
	sorted = calloc(n_names + 1, sizeof(*sorted));
	files = calloc(set->n_files + n_names + 1, sizeof(*files));
	is_fresh = calloc(set->n_files + n_names + 1, sizeof(*is_fresh));
	tasks = calloc(n_names + 1, sizeof(*tasks));
	if (!sorted || !files || !is_fresh || !tasks) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n_names; i++) {
		if (is_manifest_name(names[i]))
			sorted[n_sorted++] = names[i];
	}
	if (n_sorted)
		qsort(sorted, n_sorted, sizeof(*sorted), name_cmp);
	/* Merge the current files with the changed names, both in name order. */
	for (i = 0, j = 0; i < set->n_files || j < n_sorted;) {
		int c = i == set->n_files ? 1
			: j == n_sorted	  ? -1
					  : strcmp(set->files[i].name, sorted[j]);
		const struct manifest_file *old = c <= 0 ? &set->files[i] : NULL;
		struct manifest_file *file = &files[n_files];

		if (c < 0) {
			files[n_files++] = set->files[i++]; /* untouched: shared until commit */
			continue;
		}
		if (c == 0)
			i++;
		for (j++; j < n_sorted && !strcmp(sorted[j], sorted[j - 1]); j++)
			; /* a name met twice is read once */
		if (!is_present(dir_fd, sorted[j - 1]))
			continue; /* deleted or moved away: its objects go */
		file->name = strdup(sorted[j - 1]);
		if (!file->name) {
			err = -ENOMEM;
			goto cleanup;
		}
		file->errors.is_quiet = true;
		is_fresh[n_files++] = true;
		tasks[n_tasks].name = file->name;
		tasks[n_tasks].old = old;
		tasks[n_tasks].file = file; /* files is not reallocated: sized for every name */
		n_tasks++;
	}
	load_all(dir_fd, &set->spare, tasks, n_tasks);
	for (i = 0; i < n_tasks; i++) {
		if (tasks[i].err) {
			err = tasks[i].err;
			goto cleanup;
		}
	}
	/* Directories named like manifests drop out; errors of the files read, in order. */
	for (i = 0, j = 0; i < n_files; i++) {
		struct manifest_file *file = &files[i];
		bool is_skipped = false;

		for (size_t t = 0; is_fresh[i] && t < n_tasks; t++) {
			if (tasks[t].file == file)
				is_skipped = tasks[t].is_dir;
		}
		if (is_skipped) {
			file_clear(file);
			is_fresh[i] = false;
			continue;
		}
		if (j != i) {
			files[j] = *file;
			is_fresh[j] = is_fresh[i];
			memset(file, 0, sizeof(*file));
			is_fresh[i] = false;
		}
		file = &files[j++];
		for (size_t k = 0; is_fresh[j - 1] && k < file->errors.count; k++)
			k8s_errors_add(&errors, "%s", file->errors.items[k]);
		if (is_fresh[j - 1])
			errors.found += file->errors.found - file->errors.count;
	}
	n_files = j;
	if (n_files > MANIFEST_MAX_FILES) {
		/* The bound keeps the first files by name: a full scan applies it exactly. */
		err = 1;
		goto cleanup;
	}

	/* Commit, as manifest_set_load_dir() does. */
	err = index_files(set->index, set->files, set->n_files, files, n_files);
	for (i = 0, j = 0; i < set->n_files; i++) {
		/* Old files not carried over as they were (re-read or gone) are freed. */
		while (j < n_files &&
		       (is_fresh[j] || strcmp(files[j].name, set->files[i].name) < 0))
			j++;
		if (j == n_files || files[j].name != set->files[i].name) {
			const struct manifest_file *successor = NULL;

			for (size_t k = 0; k < n_files; k++) {
				if (is_fresh[k] && !strcmp(files[k].name, set->files[i].name))
					successor = &files[k];
			}
			file_recycle(set, &set->files[i]);
			file_clear_lent(&set->files[i], successor);
		}
	}
	for (i = 0; i < n_files; i++) {
		if (is_fresh[i])
			files[i].n_borrows = 0; /* the references are theirs now */
	}
	free(set->files);
	set->files = files;
	set->n_files = n_files;
	files = NULL;
	n_files = 0;
	k8s_errors_free(&set->errors);
	set->errors = errors;
	memset(&errors, 0, sizeof(errors));
	set->n_rejected = 0;
	for (i = 0; i < set->n_files; i++)
		set->n_rejected += set->files[i].n_rejected;
	if (!err)
		err = (int)(set->errors.found > 0x7fffffff ? 0x7fffffff : set->errors.found);
cleanup:
	for (i = 0; files && i < n_files; i++) {
		if (is_fresh[i])
			file_clear(&files[i]);
	}
	free(files);
	free(is_fresh);
	free(tasks);
	free(sorted);
	k8s_errors_free(&errors);
	close(dir_fd);
	if (err == 1)
		return manifest_set_load_dir(set, path);
	return err;
}
