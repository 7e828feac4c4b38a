// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer: YAML bytes -> yaml_tree, read one object at a time as manifests are (List items
 * split off) and whole as kubeconfig files are -> object decoders -> desired state. Nothing may
 * crash.
 */
#include <stddef.h>
#include <stdint.h>

#include "lib/log.h"
#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "loader/k8s/yaml_tree.h"

#define FUZZ_MAX_OBJECTS 64

struct fuzz_read {
	struct k8s_object *objects[FUZZ_MAX_OBJECTS];
	size_t n;
	struct k8s_errors errors;
};

static int fuzz_object(void *context, const struct yaml_tree_node *root, bool is_item)
{
	struct fuzz_read *r = context;
	struct k8s_object *object;
	enum k8s_kind kind;

	(void)is_item;
	if (!root || r->n == FUZZ_MAX_OBJECTS || k8s_object_kind(root, "fuzz", &r->errors, &kind))
		return 0;
	if (!k8s_object_decode(root, kind, "fuzz", &r->errors, &object))
		r->objects[r->n++] = object;
	else
		k8s_object_put(object);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_read r = {.errors = {.is_quiet = true}};
	struct yaml_tree_reader reader = {.object = fuzz_object, .context = &r};
	struct desired_build_config config;
	struct desired_state state;
	char message[YAML_TREE_ERROR_LEN];
	struct yaml_tree tree;
	unsigned int line;
	size_t i;

	log_level = LOG_LEVEL_ERROR;
	if (!yaml_tree_parse(&tree, (const char *)data, size, &line, message, sizeof(message)))
		yaml_tree_free(&tree);
	if (!yaml_tree_read((const char *)data, size, &reader, &line, message, sizeof(message))) {
		desired_build_config_init(&config, "n1");
		config.is_pod_endpoints = size & 1;
		if (!desired_build(r.objects, r.n, &config, &r.errors, &state))
			desired_state_free(&state);
	}
	for (i = 0; i < r.n; i++)
		k8s_object_put(r.objects[i]);
	k8s_errors_free(&r.errors);
	return 0;
}
