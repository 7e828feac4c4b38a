// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer: API server bytes (a list, a watch event or one object) -> json-c -> yaml_tree ->
 * object decoders -> desired state, the path every API response takes. Nothing may crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "loader/k8s/json.h"
#include "lib/log.h"
#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "loader/k8s/yaml_tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(struct json_object *value, struct k8s_object **objects, size_t *n,
		   struct k8s_errors *errors)
{
	struct k8s_object *object;
	struct yaml_tree tree;
	enum k8s_kind kind;

	if (*n >= 64)
		return;
	yaml_tree_init(&tree);
	if (!k8s_json_to_tree(&tree, value) &&
	    !k8s_object_kind(tree.documents[0], "api", errors, &kind)) {
		if (!k8s_object_decode(tree.documents[0], kind, "api", errors, &object))
			objects[(*n)++] = object;
		else
			k8s_object_put(object);
	}
	yaml_tree_free(&tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_object *objects[64];
	struct k8s_errors errors = {.is_quiet = true};
	struct desired_build_config config;
	struct desired_state state;
	struct json_object *value, *items, *object;
	char error[128];
	size_t i, n = 0;

	log_level = LOG_LEVEL_ERROR;
	value = k8s_json_parse((const char *)data, size, error, sizeof(error));
	if (!value)
		return 0;
	if (json_object_object_get_ex(value, "items", &items) &&
	    json_object_is_type(items, json_type_array)) {
		for (i = 0; i < json_object_array_length(items); i++)
			decode(json_object_array_get_idx(items, i), objects, &n, &errors);
	} else if (json_object_object_get_ex(value, "object", &object)) {
		decode(object, objects, &n, &errors);
	} else {
		decode(value, objects, &n, &errors);
	}
	desired_build_config_init(&config, "n1");
	if (!desired_build(objects, n, &config, &errors, &state))
		desired_state_free(&state);
	for (i = 0; i < n; i++)
		k8s_object_put(objects[i]);
	k8s_errors_free(&errors);
	json_object_put(value);
	return 0;
}
