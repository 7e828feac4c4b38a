// SPDX-License-Identifier: Apache-2.0
/* libFuzzer: YAML bytes -> yaml_tree -> object decoders -> desired state. Nothing may crash. */
#include <stddef.h>
#include <stdint.h>

#include "lib/log.h"
#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "loader/k8s/yaml_tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_object *objects[64];
	struct k8s_errors errors = {.is_quiet = true};
	struct desired_build_config config;
	struct desired_state state;
	char message[YAML_TREE_ERROR_LEN];
	struct yaml_tree tree;
	unsigned int line;
	size_t i, n = 0;

	log_level = LOG_LEVEL_ERROR;
	if (yaml_tree_parse(&tree, (const char *)data, size, &line, message, sizeof(message)))
		return 0;
	for (i = 0; i < tree.n_documents && n < 64; i++) {
		struct k8s_object *object;
		enum k8s_kind kind;

		if (k8s_object_kind(tree.documents[i], "fuzz", &errors, &kind))
			continue;
		if (!k8s_object_decode(tree.documents[i], kind, "fuzz", &errors, &object))
			objects[n++] = object;
		else
			k8s_object_put(object);
	}
	desired_build_config_init(&config, "n1");
	config.is_pod_endpoints = size & 1;
	if (!desired_build(objects, n, &config, &errors, &state))
		desired_state_free(&state);
	for (i = 0; i < n; i++)
		k8s_object_put(objects[i]);
	k8s_errors_free(&errors);
	yaml_tree_free(&tree);
	return 0;
}
