// SPDX-License-Identifier: Apache-2.0
/* Owns the list commands: services, conntrack, endpoints, status and drops from pinned maps. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "lib/node_ipam.h"
#include "lib/bpffs.h"
#include "loader/agent/agent_status.h"
#include "loader/cli/cli.h"
#include "loader/cli/cli_internal.h"
#include "lib/log.h"
#include "loader/desired/state.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/lb.h"
#include "maps/stats.h"

/* Open a pinned map, or explain which pin is missing and what usually causes it. */
int cli_open_map(const struct cli_options *options, const char *name)
{
	int fd = bpffs_open_map(options->bpffs, name);

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
