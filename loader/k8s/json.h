/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON (the API server's wire format, parsed with json-c) to the yaml_tree document model, so
 * the object decoders of loader/k8s/objects.c read API objects and manifests alike.
 */
#ifndef SLUICE_K8S_JSON_H
#define SLUICE_K8S_JSON_H

#include <stddef.h>

#include <json-c/json.h>

#include "loader/k8s/yaml_tree.h"

/* Nesting accepted from the API server; objects sit far below it. */
#define K8S_JSON_MAX_DEPTH 64

/*
 * Append value as a new document of tree. Returns 0, -E2BIG when a yaml_tree bound is hit
 * (nodes, depth, scalar size), or -ENOMEM. On failure the tree may hold part of it.
 */
int k8s_json_to_tree(struct yaml_tree *tree, struct json_object *value);

/*
 * Parse size bytes of JSON text (one value, nothing but spaces after it). Returns the value
 * (release with json_object_put) or NULL with a message in error.
 */
struct json_object *k8s_json_parse(const char *text, size_t size, char *error, size_t error_size);

#endif
