/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-cni commands: ADD, DEL, CHECK, STATUS and GC on validated config and environment. */
#ifndef SLUICE_CNI_COMMANDS_H
#define SLUICE_CNI_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

#include "cni/cni.h"

/* CHECK found the attachment different from what ADD made (plugin-specific code, spec: 100+). */
#define CNI_ERR_CHECK_FAILED 100

/*
 * Each takes a config and environment that passed cni_config_parse() and cni_env_parse().
 * Returns 0 (ADD has printed its result to out) or -errno with err set. ADD undoes everything
 * it did before returning an error; DEL succeeds for what is already gone.
 */
int cni_cmd_add(const struct cni_config *cfg, const struct cni_env *env, FILE *out,
		struct cni_error *err);
int cni_cmd_del(const struct cni_config *cfg, const struct cni_env *env, struct cni_error *err);
int cni_cmd_check(const struct cni_config *cfg, const struct cni_env *env, struct cni_error *err);
/* 0 when ADD can be served; else code 50 naming why (agent not pinned, block exhausted). */
int cni_cmd_status(const struct cni_config *cfg, struct cni_error *err);
/*
 * GC: release every address, endpoint and host veth of an attachment that is not in
 * cfg->valid_attachments (an empty list: all of them), and of ADDs that crashed mid-way.
 * Without the list (key missing or null) it releases nothing and fails with code 7.
 * has_range: cfg's subnet was resolved (usage is then reported to the agent's map).
 */
int cni_cmd_gc(const struct cni_config *cfg, bool has_range, struct cni_error *err);

#endif
