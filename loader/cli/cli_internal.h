/* SPDX-License-Identifier: Apache-2.0 */
/* What the list commands of loader/cli/ share: opening a pin, addresses and JSON output. */
#ifndef SLUICE_CLI_INTERNAL_H
#define SLUICE_CLI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "loader/cli/cli.h"
#include "maps/lb.h"

/* Open a pinned map, or explain which pin is missing and what usually causes it. */
/* 0, or -EPROTO (said) when the pins are of another layout version than this build's. */
int cli_check_layout(const struct cli_options *options);
int cli_open_map(const struct cli_options *options, const char *name);

/* ADDRESS (network order) as a dotted quad in BUF, which holds INET_ADDRSTRLEN bytes. */
const char *cli_ip(uint32_t address, char *buf);

/* Print ROOT on stdout, pretty. Returns 0 or -ENOMEM. */
int cli_json_print(struct json_object *root);

/* Set KEY on OBJ; json-c reports allocation failure only through the return value. */
int cli_json_set(struct json_object *obj, const char *key, struct json_object *value);

/* Append VALUE to ARRAY, as cli_json_set() does. */
int cli_json_append(struct json_object *array, struct json_object *value);

/*
 * The policy_names name of KEY (an identity, or POLICY_NAME_F_POLICY | a policy): "any", "world",
 * the agent's name, else "#N".
 */
void cli_policy_name(int names_fd, uint32_t key, char *buf, size_t len);
/*
 * The policies isolating IDENTITY for ingress (IS_INGRESS) or egress, as the agent records them
 * under POLICY_NAME_F_ISOLATION, into BUF as "ns/a, ns/b". Returns false when none is recorded.
 */
bool cli_policy_isolated_by(int names_fd, uint32_t identity, bool is_ingress, char *buf,
			    size_t len);

/* One frontend of lb4_svc as the CLI reads it: its live backends and name. */
struct cli_service {
	struct lb4_key key;
	struct lb4_service value;
	char name[SLUICE_NAME_LEN];
	uint32_t n_backends;
	uint32_t *backend_ids; /* distinct, in slot order */
	struct lb4_backend *backends;
	bool has_table; /* LB_SVC_F_MAGLEV and its live generation's table is in lb4_maglev */
};

/*
 * Read the live generation of SVC (key and value set): its distinct backends in slot order
 * (backend_ids and backends, malloc'd: the caller frees them). Returns 0 or -ENOMEM.
 */
int cli_service_read_backends(struct cli_service *svc, int slots_fd, int backends_fd);

#endif
