// SPDX-License-Identifier: Apache-2.0
/*
 * One big List (kubectl get -o yaml of a whole cluster) read on every core: its "items" cut into
 * runs at "- " lines, each run parsed and decoded by a thread of its own, then the objects put
 * together in file order. Used only when it gives exactly what one parser gives; anything else
 * (an error, a refusal, an object refused, a shape not recognised) and the file is read by one
 * parser as before, which then says what is wrong and where.
 *
 * Why it gives the same: kubectl prints a List as a root mapping at column 0 whose "items" is a
 * block sequence at column 0 ("items:" then "- " lines). There, a line that starts with "- " at
 * column 0 starts an item, or is inside a quoted scalar or a flow collection that an item opened
 * (no block scalar nor plain scalar of an item goes on at column 0, and "---", "..." and "%"
 * lines were excluded by manifest_split_documents). libyaml keeps the same state at the start of
 * each such line in both readings (indentation 0, no flow level, no scalar open, no simple key
 * pending), so a run that parses alone as a root sequence, ending with every construct closed,
 * gives the same items as the same text inside the file, and the next run starts where the
 * file's reading would be between items again. A run that ends inside a quoted scalar or a flow
 * collection fails alone (end of stream inside it): the file is then read whole. Aliases reach
 * only their own item's anchors in both (an alias to anything else fails the run; a file with an
 * anchor before its items is read whole, as those count against an item's bound), and an item's
 * depth is bounded as in the file (yaml_tree's is_items_run). The rest of
 * the file, the text before "items" and after the last item, is parsed as one document with
 * "items" empty, and its "items" key must be the root's, on the line the cut found.
 *
 * Objects are decoded with no last good version to fall back on (old is NULL) and quietly: the
 * runs' result is used only when no object was refused and nothing was reported, so every
 * message and every kept version come from the one-parser reading, in file order. Warnings about
 * valid objects (k8s_field_warn) are logged as their thread meets them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/sources/manifest_internal.h"

/* Below this the threads cost more than they save. */
#define MANIFEST_LIST_MIN_SIZE (1u << 20)
/* Runs (threads, the caller's included) at most; as many as online CPUs. */
#define MANIFEST_LIST_RUNS 4
/* The text around the items, parsed apart: kubectl's is a few lines. */
#define MANIFEST_LIST_REST_MAX (64u << 10)

struct list_run {
	const char *text;
	size_t size;
	size_t offset;		   /* of text in the file */
	const char *file_text;	   /* the file, for counting the lines before text */
	const char *name;	   /* the file's, for messages */
	struct manifest_file file; /* the run's objects, in order */
	struct file_load load;
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line;
	size_t n_items;
	bool is_bad; /* a document that is no empty root sequence */
	int err;
};

/* The line breaks in [p, p + n), as libyaml counts them for \n, \r\n and a lone \r. */
static unsigned int count_lines(const char *p, size_t n)
{
	unsigned int lines = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			lines++;
		else if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			lines++;
	}
	return lines;
}

static int run_object(void *context, const struct yaml_tree_node *root, bool is_item)
{
	struct list_run *run = context;

	if (!is_item) {
		/* The run's root: the sequence its items came from, emptied. */
		if (!root || root->type != YAML_TREE_SEQUENCE || root->sequence.count)
			run->is_bad = true;
		return run->is_bad ? -EINVAL : 0;
	}
	run->n_items++;
	return manifest_load_document(&run->load, root, true);
}

static void *run_parse(void *arg)
{
	struct list_run *run = arg;
	struct yaml_tree_reader reader = {
	    .object = run_object, .context = run, .is_items_run = true};

	reader.first_line = 1 + count_lines(run->file_text, run->offset);
	run->load.errors = &run->file.errors;
	run->load.name = run->name;
	run->load.file = &run->file;
	run->load.old = NULL; /* a refused object sends the file to the one-parser reading */
	run->load.error_line = &run->line;
	run->load.message = run->message;
	run->load.message_size = sizeof(run->message);
	run->file.errors.is_quiet = true;
	run->err = yaml_tree_read(run->text, run->size, &reader, &run->line, run->message,
				  sizeof(run->message));
	return NULL;
}

/* The run's outcome is the one-parser reading's: nothing failed, refused or reported. */
static bool run_is_clean(const struct list_run *run)
{
	return !run->err && !run->is_bad && !run->file.errors.found && !run->file.n_rejected;
}

/* Offset of the line after the one at i, or size. */
static size_t line_end(const char *buffer, size_t i, size_t size)
{
	const char *nl = memchr(buffer + i, '\n', size - i);

	return nl ? (size_t)(nl - buffer) + 1 : size;
}

static bool is_entry_line(const char *p, size_t left)
{
	return left >= 2 && p[0] == '-' && p[1] == ' ';
}

/* Blank, or a comment at column 0. */
static bool is_blank_line(const char *p, size_t left)
{
	size_t i = 0;

	if (left && p[0] == '#')
		return true;
	while (i < left && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	return i == left || p[i] == '\n' || p[i] == '#';
}

/* "items:" alone on its line at column 0 (spaces and a comment may follow). */
static bool is_items_line(const char *p, size_t left)
{
	if (left < 6 || memcmp(p, "items:", 6))
		return false;
	return left == 6 || p[6] == '\n' || p[6] == '\r' ||
	       ((p[6] == ' ' || p[6] == '\t') && is_blank_line(p + 6, left - 6));
}

/*
 * Where the cut goes: the "items:" line (items_at, its line number), the first item (first),
 * the starts of runs 1..n-1 (cuts), the end of the items (end: the first line after the last
 * run's start that is at column 0 and neither an item, a comment nor blank). Returns the runs
 * (at least 2), or 0 when the file is not a List of that shape or too small to be worth it.
 */
static size_t list_cut(const char *buffer, size_t size, size_t n_want, size_t *items_at,
		       size_t *first, size_t *cuts, size_t *end)
{
	size_t i = 0, n = 1, last;
	const char *p;

	/* "items:" within the text before the items, then blank lines up to the first item. */
	while (i < size && i < MANIFEST_LIST_REST_MAX && !is_items_line(buffer + i, size - i))
		i = line_end(buffer, i, size);
	if (i >= size || i >= MANIFEST_LIST_REST_MAX)
		return 0;
	/* Anchors before the items count against an item's bound in the file: not in a run. */
	if (memchr(buffer, '&', i))
		return 0;
	*items_at = i;
	for (i = line_end(buffer, i, size); i < size && !is_entry_line(buffer + i, size - i);
	     i = line_end(buffer, i, size)) {
		if (!is_blank_line(buffer + i, size - i))
			return 0;
	}
	if (i >= size)
		return 0;
	*first = i;
	/* The last item's line, from the end: "\n- ". */
	for (last = size; last > i + 1; last--) {
		if (buffer[last - 1] == '\n' && is_entry_line(buffer + last, size - last))
			break;
	}
	if (last <= i + 1)
		return 0;
	/* Runs of about equal size, each from an item's line ("\n- " found at or after a target).
	 */
	for (size_t k = 1, prev = *first; k < n_want; k++) {
		size_t target = *first + (last - *first) * k / n_want;

		if (target <= prev)
			target = prev + 1;
		if (target > last)
			break;
		/* A '\n' at target - 1 .. last - 1: the item's line starts by last at the latest.
		 */
		p = memmem(buffer + target - 1, last + 2 - (target - 1), "\n- ", 3);
		if (!p)
			break;
		prev = cuts[n - 1] = (size_t)(p - buffer) + 1;
		n++;
	}
	if (n < 2)
		return 0;
	/* The end of the items: after the last run's start, the first line of something else. */
	for (i = line_end(buffer, last, size); i < size; i = line_end(buffer, i, size)) {
		if (!is_entry_line(buffer + i, size - i) && !is_blank_line(buffer + i, size - i) &&
		    buffer[i] != ' ' && buffer[i] != '\t' &&
		    !(buffer[i] == '-' && i + 1 < size &&
		      (buffer[i + 1] == '\n' || buffer[i + 1] == '\r')))
			break;
	}
	*end = i;
	if (*items_at + (size - *end) > MANIFEST_LIST_REST_MAX)
		return 0;
	return n;
}

/* The document around the items, with "items" empty. */
struct list_rest {
	struct file_load *load;
	unsigned int items_line;
	size_t n_items;
	bool is_bad;
};

static int rest_object(void *context, const struct yaml_tree_node *root, bool is_item)
{
	struct list_rest *rest = context;
	const struct yaml_tree_node *items = NULL;

	if (is_item || !root || root->type != YAML_TREE_MAPPING) {
		rest->is_bad = true;
		return -EINVAL;
	}
	/* "items" is the root's own key, on the line cut at, with nothing in it. */
	for (size_t i = 0; i < root->mapping.count; i++) {
		const struct yaml_tree_node *key = root->mapping.pairs[i].key;

		if (key->scalar.length == 5 && !memcmp(key->scalar.value, "items", 5)) {
			items = root->mapping.pairs[i].value;
			if (key->line != rest->items_line)
				items = NULL;
			break;
		}
	}
	if (!items || !yaml_tree_is_null(items) || items->type != YAML_TREE_SCALAR ||
	    items->scalar.length) {
		rest->is_bad = true;
		return -EINVAL;
	}
	/* As the one-parser reading hands it over: after its items, counted. */
	rest->load->n_items = rest->n_items;
	return manifest_read_object(rest->load, root, false);
}

int manifest_load_list(struct file_load *load, const char *buffer, size_t size)
{
	struct list_run runs[MANIFEST_LIST_RUNS];
	pthread_t threads[MANIFEST_LIST_RUNS];
	bool has_thread[MANIFEST_LIST_RUNS] = {false};
	size_t cuts[MANIFEST_LIST_RUNS], items_at, first, end, head, n, n_items = 0, n_seen = 0;
	size_t n_objects = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct manifest_file *file = load->file;
	struct list_rest rest = {.load = load};
	struct yaml_tree_reader reader = {.object = rest_object, .context = &rest, .first_line = 1};
	struct k8s_errors *errors = load->errors;
	size_t found_before = errors->found, count_before = errors->count;
	size_t objects_before = file->n_objects;
	bool was_quiet = errors->is_quiet;
	char *text = NULL;
	int err = 0;

	if (size < MANIFEST_LIST_MIN_SIZE || cpus < 2)
		return -EAGAIN;
	n = list_cut(buffer, size, cpus < MANIFEST_LIST_RUNS ? (size_t)cpus : MANIFEST_LIST_RUNS,
		     &items_at, &first, cuts, &end);
	if (!n)
		return -EAGAIN;
	memset(runs, 0, sizeof(runs));
	for (size_t k = 0; k < n; k++) {
		runs[k].offset = k ? cuts[k - 1] : first;
		runs[k].size = (k + 1 < n ? cuts[k] : end) - runs[k].offset;
		runs[k].text = buffer + runs[k].offset;
		runs[k].file_text = buffer;
		runs[k].name = load->name;
	}
	for (size_t k = 1; k < n; k++)
		has_thread[k] = !pthread_create(&threads[k], NULL, run_parse, &runs[k]);
	run_parse(&runs[0]);
	for (size_t k = 1; k < n; k++) {
		if (has_thread[k])
			pthread_join(threads[k], NULL);
		else
			run_parse(&runs[k]); /* no thread: here, in turn */
	}
	for (size_t k = 0; k < n; k++) {
		if (!run_is_clean(&runs[k]))
			err = -EAGAIN;
		n_items += runs[k].n_items;
		n_seen += runs[k].load.n_seen;
		n_objects += runs[k].file.n_objects;
	}
	if (n_seen > MANIFEST_MAX_OBJECTS)
		err = -EAGAIN; /* the one-parser reading names the object past the limit */
	/*
	 * The objects in file order, then the document around them. The file's array is sized
	 * once and each run's freed as soon as it is copied: the arrays are the runs' only extra
	 * memory worth counting (8 bytes an object, twice).
	 */
	if (!err && file->capacity < file->n_objects + n_objects) {
		struct k8s_object **grown =
		    realloc(file->objects, (file->n_objects + n_objects) * sizeof(*grown));

		err = grown ? 0 : -ENOMEM;
		if (grown) {
			file->objects = grown;
			file->capacity = file->n_objects + n_objects;
		}
	}
	for (size_t k = 0; !err && k < n; k++) {
		for (size_t j = 0; !err && j < runs[k].file.n_objects; j++)
			err = manifest_file_add(file, runs[k].file.objects[j]);
		manifest_file_clear(&runs[k].file);
	}
	/* The "items:" line kept, and every line before it: line numbers as in the file. */
	head = line_end(buffer, items_at, size);
	if (!err) {
		text = malloc(head + (size - end) + 1);
		err = text ? 0 : -ENOMEM;
	}
	if (!err) {
		memcpy(text, buffer, head);
		memcpy(text + head, buffer + end, size - end);
		rest.items_line = 1 + count_lines(buffer, items_at);
		rest.n_items = n_items;
		load->n_seen += n_seen;
		errors->is_quiet = true; /* an error there: told by the one-parser reading */
		err = yaml_tree_read(text, head + (size - end), &reader, load->error_line,
				     load->message, load->message_size);
		errors->is_quiet = was_quiet;
		if (err || rest.is_bad || errors->found != found_before)
			err = err == -ENOMEM ? err : -EAGAIN;
	}
	for (size_t k = 0; k < n; k++)
		manifest_file_clear(&runs[k].file);
	free(text);
	if (err) {
		/* Back to the file as it was: the caller reads it with one parser. */
		while (file->n_objects > objects_before)
			k8s_object_put(file->objects[--file->n_objects]);
		while (errors->count > count_before)
			free(errors->items[--errors->count]);
		errors->found = found_before;
		load->n_seen = 0;
		load->n_items = 0;
		if (load->error_line)
			*load->error_line = 0;
		if (load->message_size)
			load->message[0] = '\0';
		return err == -ENOMEM ? -ENOMEM : -EAGAIN;
	}
	return 0;
}
