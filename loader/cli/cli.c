// SPDX-License-Identifier: Apache-2.0
/*
 * What the list commands share (cli_internal.h): opening a pin with a hint when it is missing,
 * and JSON output. The commands are cli_service.c, cli_ct.c, cli_endpoint.c, cli_status.c and
 * cli_policy.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "lib/bpffs.h"
#include "lib/log.h"
#include "loader/cli/cli_internal.h"

/* Whether the pins under the CLI's --bpffs are of this build's layout; said once. */
int cli_check_layout(const struct cli_options *options)
{
	static bool is_checked;
	static int result;
	char msg[1024];

	if (!is_checked) {
		is_checked = true;
		result = bpffs_layout_check(options->bpffs, msg, sizeof(msg));
		if (result)
			log_fail("%s", msg);
	}
	return result;
}

/* Open a pinned map, or explain which pin is missing and what usually causes it. */
int cli_open_map(const struct cli_options *options, const char *name)
{
	int fd = cli_check_layout(options);

	if (fd)
		return fd;
	fd = bpffs_open_map(options->bpffs, name);

	if (fd == -ENOENT)
		log_fail("%s/%s: %s (is the agent running with --bpffs %s?)", options->bpffs, name,
			 strerror(-fd), options->bpffs);
	else if (fd < 0)
		log_fail("%s/%s: %s", options->bpffs, name, strerror(-fd));
	return fd;
}

const char *cli_ip(uint32_t address, char *buf)
{
	return inet_ntop(AF_INET, &address, buf, INET_ADDRSTRLEN);
}

int cli_json_print(struct json_object *root)
{
	const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								    JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!text)
		return -ENOMEM;
	puts(text);
	return 0;
}

/* Set KEY on OBJ; json-c reports allocation failure only through the return value. */
int cli_json_set(struct json_object *obj, const char *key, struct json_object *value)
{
	if (!value || json_object_object_add(obj, key, value)) {
		json_object_put(value);
		return -ENOMEM;
	}
	return 0;
}

int cli_json_append(struct json_object *array, struct json_object *value)
{
	if (!value || json_object_array_add(array, value)) {
		json_object_put(value);
		return -ENOMEM;
	}
	return 0;
}
