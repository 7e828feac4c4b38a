// SPDX-License-Identifier: Apache-2.0
/* json-c values to yaml_tree documents, through the tree's public builder, with bounds. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "loader/k8s/json.h"

static struct yaml_tree_node *convert(struct yaml_tree *tree, struct json_object *value,
				      unsigned int depth)
{
	struct yaml_tree_node *node, *key, *item;
	char number[64];
	const char *text;
	size_t i, n;

	if (depth > K8S_JSON_MAX_DEPTH) {
		errno = E2BIG;
		return NULL;
	}
	switch (json_object_get_type(value)) {
	case json_type_null:
		return yaml_tree_new_scalar(tree, "", 0, YAML_TREE_NULL, 0);
	case json_type_boolean:
		text = json_object_get_boolean(value) ? "true" : "false";
		return yaml_tree_new_scalar(tree, text, strlen(text), YAML_TREE_BOOL, 0);
	case json_type_int:
		/* json-c saturates integers beyond int64; the decoders' ranges refuse those. */
		snprintf(number, sizeof(number), "%" PRId64, json_object_get_int64(value));
		return yaml_tree_new_scalar(tree, number, strlen(number), YAML_TREE_INT, 0);
	case json_type_double:
		snprintf(number, sizeof(number), "%.17g", json_object_get_double(value));
		return yaml_tree_new_scalar(tree, number, strlen(number), YAML_TREE_FLOAT, 0);
	case json_type_string:
		return yaml_tree_new_scalar(tree, json_object_get_string(value),
					    (size_t)json_object_get_string_len(value),
					    YAML_TREE_STRING, 0);
	case json_type_array:
		node = yaml_tree_new_container(tree, YAML_TREE_SEQUENCE, 0);
		if (!node)
			return NULL;
		n = json_object_array_length(value);
		for (i = 0; i < n; i++) {
			item = convert(tree, json_object_array_get_idx(value, i), depth + 1);
			if (!item)
				return NULL;
			if (yaml_tree_sequence_append(tree, node, item)) {
				errno = ENOMEM;
				return NULL;
			}
		}
		return node;
	case json_type_object:
		node = yaml_tree_new_container(tree, YAML_TREE_MAPPING, 0);
		if (!node)
			return NULL;
		json_object_object_foreach(value, name, child)
		{
			key = yaml_tree_new_scalar(tree, name, strlen(name), YAML_TREE_STRING, 0);
			item = key ? convert(tree, child, depth + 1) : NULL;
			if (!item)
				return NULL;
			if (yaml_tree_mapping_append(tree, node, key, item)) {
				errno = ENOMEM;
				return NULL;
			}
		}
		return node;
	}
	errno = EINVAL;
	return NULL;
}

int k8s_json_to_tree(struct yaml_tree *tree, struct json_object *value)
{
	struct yaml_tree_node *root;

	errno = 0;
	root = convert(tree, value, 0);
	if (!root)
		return errno == ENOMEM ? -ENOMEM : -E2BIG;
	return yaml_tree_add_document(tree, root);
}

struct json_object *k8s_json_parse(const char *text, size_t size, char *error, size_t error_size)
{
	struct json_tokener *tokener;
	struct json_object *value = NULL;
	enum json_tokener_error jerr;
	size_t offset, i;

	if (error_size)
		error[0] = '\0';
	if (size > INT32_MAX) {
		snprintf(error, error_size, "document of %zu bytes is too large", size);
		return NULL;
	}
	tokener = json_tokener_new_ex(K8S_JSON_MAX_DEPTH);
	if (!tokener) {
		snprintf(error, error_size, "out of memory");
		return NULL;
	}
	/* Strict: no comments, no trailing commas, valid UTF-8, as the API server writes. */
	json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	value = json_tokener_parse_ex(tokener, text, (int)size);
	jerr = json_tokener_get_error(tokener);
	offset = json_tokener_get_parse_end(tokener);
	if (jerr == json_tokener_continue) {
		snprintf(error, error_size, "truncated JSON (%zu bytes)", size);
		json_object_put(value);
		value = NULL;
	} else if (jerr != json_tokener_success) {
		snprintf(error, error_size, "JSON error at byte %zu: %s", offset,
			 json_tokener_error_desc(jerr));
		value = NULL;
	} else {
		for (i = offset; i < size; i++) {
			if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t')
				break;
		}
		if (i < size) {
			snprintf(error, error_size,
				 "unexpected data after the JSON value at byte %zu", i);
			json_object_put(value);
			value = NULL;
		}
	}
	if (!value && !error[0])
		snprintf(error, error_size, "not a JSON value");
	json_tokener_free(tokener);
	return value;
}
