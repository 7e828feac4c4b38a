// SPDX-License-Identifier: Apache-2.0
/*
 * yaml_tree_read(), the streaming reader manifests use: one tree per document, one per item of
 * a List's "items", each handed over and freed before the next is built; limits per object;
 * errors with their line.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/log.h"
#include "loader/k8s/yaml_tree.h"

#define SEEN_MAX 64

/* What object() was handed, in order: "I name@line" for an item, "D kind@line" else. */
struct seen {
	char what[SEEN_MAX][96];
	size_t n, n_calls;
	int fail_at; /* 1-based call that returns -ECANCELED; 0: none */
};

static int record(void *context, const struct yaml_tree_node *root, bool is_item)
{
	struct seen *s = context;
	const struct yaml_tree_node *metadata = yaml_tree_get(root, "metadata");
	const char *name = yaml_tree_string(yaml_tree_get(metadata, "name"));
	const char *kind = yaml_tree_string(yaml_tree_get(root, "kind"));
	const struct yaml_tree_node *items = yaml_tree_get(root, "items");

	s->n_calls++;
	if (s->fail_at && s->n_calls == (size_t)s->fail_at)
		return -ECANCELED;
	if (s->n == SEEN_MAX)
		return 0;
	if (yaml_tree_is_null(root))
		snprintf(s->what[s->n++], sizeof(s->what[0]), "D empty");
	else if (is_item)
		snprintf(s->what[s->n++], sizeof(s->what[0]), "I %s@%u", name ? name : "?",
			 root->line);
	else
		snprintf(s->what[s->n++], sizeof(s->what[0]), "D %s@%u%s", kind ? kind : "?",
			 root->line,
			 items && items->type == YAML_TREE_SEQUENCE && !items->sequence.count
			     ? " items:[]"
			     : "");
	return 0;
}

static int read_text(const char *text, struct seen *s, unsigned int first_line, unsigned int *line,
		     char *message, size_t message_size)
{
	struct yaml_tree_reader reader = {.object = record, .context = s, .first_line = first_line};

	return yaml_tree_read(text, strlen(text), &reader, line, message, message_size);
}

static void assert_seen(const struct seen *s, ...)
{
	const char *expected;
	size_t i = 0;
	va_list ap;

	va_start(ap, s);
	while ((expected = va_arg(ap, const char *))) {
		if (i >= s->n)
			fail_msg("call %zu: nothing, expected \"%s\"", i, expected);
		if (strcmp(s->what[i], expected))
			fail_msg("call %zu: \"%s\", expected \"%s\"", i, s->what[i], expected);
		i++;
	}
	va_end(ap);
	if (i != s->n)
		fail_msg("%zu calls, expected %zu (next: \"%s\")", s->n, i, s->what[i]);
}

/* kubectl prints keys sorted: a List's items come before its kind. */
static void test_list_items_one_by_one(void **ctx)
{
	const char *text = "apiVersion: v1\n"
			   "items:\n"
			   "- apiVersion: v1\n"
			   "  kind: Service\n"
			   "  metadata: {name: a}\n"
			   "- apiVersion: v1\n"
			   "  kind: Service\n"
			   "  metadata:\n"
			   "    name: b\n"
			   "- 42\n"
			   "kind: List\n"
			   "metadata: {resourceVersion: \"\"}\n";
	struct seen s = {0};
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line;

	(void)ctx;
	assert_int_equal(read_text(text, &s, 0, &line, message, sizeof(message)), 0);
	assert_seen(&s, "I a@3", "I b@6", "I ?@10", "D List@1 items:[]", NULL);
}

/* Only the document root's "items" is split; deeper ones, and non-lists, stay in the tree. */
static void test_only_top_level_items_split(void **ctx)
{
	const char *text = "kind: ServiceList\n"
			   "items:\n"
			   "- kind: List\n"
			   "  metadata: {name: inner}\n"
			   "  items: [{kind: Service, metadata: {name: deep}}]\n"
			   "---\n"
			   "kind: Thing\n"
			   "items: {a: b}\n"
			   "spec: {items: [1, 2]}\n";
	struct seen s = {0};
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line;

	(void)ctx;
	assert_int_equal(read_text(text, &s, 0, &line, message, sizeof(message)), 0);
	assert_seen(&s, "I inner@3", "D ServiceList@1 items:[]", "D Thing@7", NULL);
}

static void test_documents_and_empty_ones(void **ctx)
{
	const char *text = "---\n"
			   "---\n"
			   "# only a comment\n"
			   "---\n"
			   "kind: Service\n"
			   "metadata: {name: a}\n"
			   "---\n"
			   "kind: EndpointSlice\n"
			   "---\n";
	struct seen s = {0};
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line;

	(void)ctx;
	/* Numbered as a piece of a file starting at line 100. */
	assert_int_equal(read_text(text, &s, 100, &line, message, sizeof(message)), 0);
	assert_seen(&s, "D empty", "D empty", "D Service@104", "D EndpointSlice@107", "D empty",
		    NULL);
	s = (struct seen){0};
	assert_int_equal(read_text("", &s, 0, &line, message, sizeof(message)), 0);
	assert_seen(&s, NULL);
}

/* `kubectl get -o json`: JSON is YAML, and its List splits the same way. */
static void test_json_list(void **ctx)
{
	const char *text =
	    "{\n"
	    "    \"apiVersion\": \"v1\",\n"
	    "    \"items\": [\n"
	    "        {\n"
	    "            \"apiVersion\": \"v1\",\n"
	    "            \"kind\": \"Service\",\n"
	    "            \"metadata\": {\"name\": \"a\", \"namespace\": \"default\"},\n"
	    "            \"spec\": {\"ports\": [{\"port\": 80, \"protocol\": \"TCP\"}]}\n"
	    "        },\n"
	    "        {\"kind\":\"Service\",\"metadata\":{\"name\":\"b\"}}\n"
	    "    ],\n"
	    "    \"kind\": \"List\",\n"
	    "    \"metadata\": {\"resourceVersion\": \"\"}\n"
	    "}\n";
	struct seen s = {0};
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line;

	(void)ctx;
	assert_int_equal(read_text(text, &s, 0, &line, message, sizeof(message)), 0);
	assert_seen(&s, "I a@4", "I b@10", "D List@1 items:[]", NULL);
}

/* Bounded per object: many small items pass where one big one is refused, naming the limit. */
static void test_limit_per_object(void **ctx)
{
	size_t n = (size_t)YAML_TREE_MAX_NODES + 10, i, j = 0;
	char *text = malloc(n * 8 + 256);
	char message[YAML_TREE_ERROR_LEN];
	struct seen s = {0};
	unsigned int line;

	(void)ctx;
	assert_non_null(text);
	/* More nodes than the limit in all, few in each item. */
	j += (size_t)sprintf(text + j, "kind: List\nitems:\n");
	for (i = 0; i < n / 4; i++)
		j += (size_t)sprintf(text + j, "- [1, 2]\n");
	assert_int_equal(read_text(text, &s, 0, &line, message, sizeof(message)), 0);
	assert_int_equal(s.n_calls, n / 4 + 1);

	/* One item over it, after a good one, on line 4. */
	j = (size_t)sprintf(text,
			    "kind: List\nitems:\n- {kind: Service, metadata: {name: a}}\n- [");
	for (i = 0; i < n; i++)
		j += (size_t)sprintf(text + j, "1,");
	sprintf(text + j, "1]\n");
	s = (struct seen){0};
	assert_int_equal(read_text(text, &s, 0, &line, message, sizeof(message)), -E2BIG);
	assert_string_equal(message, "more than 262144 YAML nodes in one List item (the limit)");
	assert_int_equal(line, 4);
	assert_seen(&s, "I a@3", NULL);
	free(text);
}

static void test_errors_name_their_line(void **ctx)
{
	const char *unclosed = "kind: List\n"
			       "items:\n"
			       "- kind: Service\n"
			       "  metadata: {name: a}\n"
			       "- kind: Service\n"
			       "  metadata: {name: [b}\n"
			       "kind: List\n";
	const char *duplicate = "kind: Service\nmetadata: {name: a}\nkind: Pod\n";
	const char *alias = "kind: List\n"
			    "items:\n"
			    "- &first {kind: Service, metadata: {name: a}}\n"
			    "- {kind: Service, metadata: &m {name: b}, spec: {x: *m}}\n"
			    "- *first\n";
	struct seen s = {0};
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line;

	(void)ctx;
	/* libyaml's position of a syntax error, numbered from the piece's first line. */
	assert_int_equal(read_text(unclosed, &s, 0, &line, message, sizeof(message)), -EINVAL);
	assert_int_equal(line, 6);
	assert_true(strlen(message) > 0);
	assert_seen(&s, "I a@3", NULL);
	s = (struct seen){0};
	assert_int_equal(read_text(unclosed, &s, 11, &line, message, sizeof(message)), -EINVAL);
	assert_int_equal(line, 16);

	s = (struct seen){0};
	assert_int_equal(read_text(duplicate, &s, 0, &line, message, sizeof(message)), -EINVAL);
	assert_int_equal(line, 3);
	assert_string_equal(message, "duplicate key \"kind\"");

	/* An alias reaches within its item; one to another item's anchor (freed) is refused. */
	s = (struct seen){0};
	assert_int_equal(read_text(alias, &s, 0, &line, message, sizeof(message)), -EINVAL);
	assert_int_equal(line, 5);
	assert_non_null(strstr(message, "unknown alias \"first\""));
	assert_non_null(strstr(message, "its own anchors"));
	assert_seen(&s, "I a@3", "I b@4", NULL);

	/* What object() returns stops the read, as is. */
	s = (struct seen){.fail_at = 2};
	assert_int_equal(read_text(alias, &s, 0, &line, message, sizeof(message)), -ECANCELED);
	assert_int_equal(s.n_calls, 2);
}

/*
 * A run of a List's items cut from its file (is_items_run): the root sequence's entries are
 * handed over as items, at their file lines, then the emptied root; an item nests as deep as it
 * may in its List, no deeper.
 */
static void test_items_run(void **ctx)
{
	struct yaml_tree_reader reader = {.object = record, .first_line = 40, .is_items_run = true};
	const char *text = "- apiVersion: v1\n"
			   "  kind: Service\n"
			   "  metadata: {name: a}\n"
			   "- {apiVersion: v1, kind: Service, metadata: {name: b}}\n";
	char message[YAML_TREE_ERROR_LEN], deep[4 * YAML_TREE_MAX_DEPTH + 64];
	struct seen s = {0};
	unsigned int line;
	size_t j, depth;

	(void)ctx;
	reader.context = &s;
	assert_int_equal(
	    yaml_tree_read(text, strlen(text), &reader, &line, message, sizeof(message)), 0);
	assert_seen(&s, "I a@40", "I b@43", "D ?@40", NULL);
	/* In a List, an item's content may nest YAML_TREE_MAX_DEPTH - 2 levels deep. */
	for (depth = YAML_TREE_MAX_DEPTH - 2; depth <= YAML_TREE_MAX_DEPTH - 1; depth++) {
		for (int is_run = 0; is_run < 2; is_run++) {
			struct yaml_tree_reader list = {.object = record, .context = &s};
			int err;

			j = (size_t)sprintf(deep, "%s- ", is_run ? "" : "items:\n");
			for (size_t i = 0; i < depth; i++)
				deep[j++] = '[';
			for (size_t i = 0; i < depth; i++)
				deep[j++] = ']';
			sprintf(deep + j, "\n");
			memset(&s, 0, sizeof(s));
			err = yaml_tree_read(deep, strlen(deep), is_run ? &reader : &list, &line,
					     message, sizeof(message));
			assert_int_equal(err, depth == YAML_TREE_MAX_DEPTH - 2 ? 0 : -E2BIG);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_items_one_by_one),
	    cmocka_unit_test(test_items_run),
	    cmocka_unit_test(test_only_top_level_items_split),
	    cmocka_unit_test(test_documents_and_empty_ones),
	    cmocka_unit_test(test_json_list),
	    cmocka_unit_test(test_limit_per_object),
	    cmocka_unit_test(test_errors_name_their_line),
	};

	log_level = LOG_LEVEL_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
