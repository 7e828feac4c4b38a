// SPDX-License-Identifier: Apache-2.0
/*
 * A manifest file's text in document pieces (split at "---" lines), so a file re-read after an
 * edit parses only the pieces whose text changed and keeps the objects of the others.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loader/sources/manifest_internal.h"

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

uint64_t manifest_content_hash(const char *data, size_t size)
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

		if (next > MANIFEST_MAX_CHUNKS)
			return -E2BIG;
		grown = realloc(*spans, next * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		*spans = grown;
		*capacity = next;
	}
	(*spans)[*n].offset = start;
	(*spans)[*n].size = end - start;
	(*spans)[*n].hash = manifest_content_hash(buffer + start, end - start);
	(*n)++;
	return 0;
}

/*
 * Split text before each "---" line: YAML forbids a document marker at the start of a line
 * inside any scalar, so the pieces parse alone as they parse together. Returns the count, or 0
 * when the file is to be parsed whole: directives ("%") and end markers ("...") reach across
 * documents, and a file of more pieces than MANIFEST_MAX_CHUNKS is not worth them.
 */
size_t manifest_split_documents(const char *buffer, size_t size, struct chunk_span **out)
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

/*
 * old's clean chunks by (hash, size): open addressing over a power-of-two table. Not
 * lib/hash_table.h: the keys are already hashes (no FNV over them, nothing to copy), a file
 * may hold the same document several times and each copy must be kept and handed out once, in
 * order (a take leaves a tombstone), and the table lives for one load of one file.
 */
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
		     unsigned int first_line)
{
	return manifest_read(load, buffer + span->offset, span->size, first_line);
}

/*
 * The file's documents one piece at a time: pieces whose text is unchanged since old's load
 * (and that gave no error) keep their objects; only the others are parsed. Returns 0, -EINVAL
 * (syntax error: load's line and message set, the file is to keep its old version), -E2BIG
 * (a bound is crossed: parse it whole for the exact message) or -ENOMEM.
 */
int manifest_load_chunks(struct file_load *load, const char *buffer, const struct chunk_span *spans,
			 size_t n_spans)
{
	const struct manifest_file *old = load->old;
	struct manifest_file *file = load->file;
	struct chunk_table table = {0};
	size_t i, j, counted = 0;
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
				err = manifest_file_add(file, old->objects[was->first + j]);
			c->n_seen = was->n_seen;
			load->n_seen += was->n_seen;
		} else {
			size_t seen_before = load->n_seen;

			err = load_span(load, buffer, &spans[i], c->line);
			c->n_seen = load->n_seen - seen_before;
		}
		c->count = file->n_objects - c->first;
		c->is_clean =
		    load->errors->found == errors_before && file->n_rejected == rejected_before;
		if (!err && load->n_seen > MANIFEST_MAX_OBJECTS)
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
		       unsigned int line)
{
	struct manifest_file *file = load->file;
	struct chunk_span span = {.offset = start, .size = end - start};
	size_t errors_before = load->errors->found, seen_before = load->n_seen;
	uint32_t rejected_before = file->n_rejected;
	struct manifest_chunk *c = chunk_push(file);
	size_t first = file->n_objects;
	int err;

	if (!c)
		return -ENOMEM;
	err = load_span(load, buffer, &span, line);
	c->offset = start;
	c->line = line;
	c->size = end - start;
	c->hash = manifest_content_hash(buffer + start, end - start);
	c->first = first;
	c->count = file->n_objects - first;
	c->n_seen = load->n_seen - seen_before;
	c->is_clean = load->errors->found == errors_before && file->n_rejected == rejected_before;
	return err;
}

/*
 * An edit in place: the text before the first and after the last changed byte is old's, so
 * the pieces wholly inside it keep their objects (those after the change at shifted offsets
 * and lines) and only the pieces around the change are split and parsed, whatever the size
 * of the file. Returns 0; -EAGAIN when this does not apply (old kept an error to report again,
 * or the new text needs the whole file parsed), then file is to be reset and loaded by
 * manifest_load_chunks(); or as manifest_load_chunks().
 */
#define DIFF_BLOCK 65536 /* bytes compared at once, first, when looking for the change */

int manifest_load_diff(struct file_load *load, const char *buffer, size_t size)
{
	const struct manifest_file *old = load->old;
	const char *was = old->content;
	size_t n_old = old->content_size, shorter = size < n_old ? size : n_old;
	size_t prefix = 0, suffix = 0, a, b, k, start, old_end, new_end, i;
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
	/* The changed stretch, split as manifest_split_documents() does. */
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
		err = chunk_parse(load, buffer, piece, i, (unsigned int)piece_line);
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
	}
	if (!err && i != size)
		err = -EAGAIN;
	if (!err &&
	    (load->n_seen > MANIFEST_MAX_OBJECTS || load->file->n_chunks > MANIFEST_MAX_CHUNKS))
		err = -E2BIG;
	return err;
}

/* The objects of a whole-file read, each put in the piece its line falls in. */
struct whole_read {
	struct file_load *load;
	size_t k; /* the piece being filled */
};

static int whole_object(void *context, const struct yaml_tree_node *root, bool is_item)
{
	struct whole_read *w = context;
	struct file_load *load = w->load;
	struct manifest_file *file = load->file;
	size_t errors_before = load->errors->found, seen_before = load->n_seen;
	size_t first = file->n_objects;
	uint32_t rejected_before = file->n_rejected;
	struct manifest_chunk *c;
	int err;

	if (root) {
		/* A List's items come before the List, all within its piece. */
		while (w->k + 1 < file->n_chunks && file->chunks[w->k + 1].line <= root->line) {
			w->k++;
			file->chunks[w->k].first = file->n_objects;
		}
	}
	c = &file->chunks[w->k];
	err = manifest_read_object(load, root, is_item);
	c->count += file->n_objects - first;
	c->n_seen += load->n_seen - seen_before;
	if (load->errors->found != errors_before || file->n_rejected != rejected_before)
		c->is_clean = false;
	return err;
}

/*
 * A file with nothing to reuse: read whole (one parser, as fast as it gets), its objects put in
 * the pieces manifest_split_documents() found, by line, so the next load can reuse them. A
 * piece holds at most one document: only a "---" line starts one. Returns 0, -EINVAL or -E2BIG
 * (the file is refused: load's line and message set) or -ENOMEM.
 */
int manifest_load_whole_chunks(struct file_load *load, const char *buffer, size_t size,
			       const struct chunk_span *spans, size_t n_spans)
{
	struct manifest_file *file = load->file;
	struct whole_read w = {.load = load};
	struct yaml_tree_reader reader = {.object = whole_object, .context = &w};
	size_t k, counted = 0;
	unsigned int line = 1;
	int err;

	file->chunks = calloc(n_spans, sizeof(*file->chunks));
	if (!file->chunks)
		return -ENOMEM;
	file->n_chunks = file->cap_chunks = n_spans;
	for (k = 0; k < n_spans; k++) {
		struct manifest_chunk *c = &file->chunks[k];

		c->offset = spans[k].offset;
		c->size = spans[k].size;
		c->hash = spans[k].hash;
		c->line = line_at(buffer, spans[k].offset, &counted, &line);
		c->is_clean = true;
	}
	load->n_items = 0;
	if (n_spans == 1) {
		/* One document: a cluster-sized List is read on every core when it can be. */
		err = manifest_load_list(load, buffer, size);
		if (err != -EAGAIN) {
			file->chunks[0].count = file->n_objects;
			file->chunks[0].n_seen = load->n_seen;
			return err;
		}
	}
	err = yaml_tree_read(buffer, size, &reader, load->error_line, load->message,
			     load->message_size);
	while (++w.k < n_spans)
		file->chunks[w.k].first = file->n_objects;
	return err;
}
