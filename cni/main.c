// SPDX-License-Identifier: Apache-2.0
/* sluice-cni entry point: read config and environment, run one CNI command, print JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cni/cni.h"
#include "cni/cni_commands.h"
#include "cni/cni_install.h"
#include "cni/cni_result.h"
#include "cni/ipam.h"
#include "lib/log.h"

/* Read at most limit + 1 bytes so an oversized config is detected, not truncated. */
static int cni_read_stdin(char **buf, size_t *len, size_t limit)
{
	size_t cap = 4096;
	ssize_t n;

	*len = 0;
	*buf = malloc(cap);
	if (!*buf)
		return -ENOMEM;
	for (;;) {
		if (*len == cap) {
			char *grown;

			if (cap > limit)
				break;
			cap *= 2;
			grown = realloc(*buf, cap);
			if (!grown)
				return -ENOMEM;
			*buf = grown;
		}
		n = read(STDIN_FILENO, *buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return 0;
}

static const char *cni_getenv(const char *name)
{
	return getenv(name);
}

/* VERSION answers in the version the caller asked for, when it sent one we know. */
static void cni_requested_version(const char *buf, size_t len, char *out, size_t size)
{
	struct json_object *root, *val;

	out[0] = '\0';
	if (!len || len > CNI_MAX_CONFIG_BYTES)
		return;
	root = json_tokener_parse(buf);
	if (root && json_object_object_get_ex(root, "cniVersion", &val) &&
	    json_object_is_type(val, json_type_string))
		snprintf(out, size, "%s", json_object_get_string(val));
	json_object_put(root);
}

int main(int argc, char **argv)
{
	struct cni_config cfg = {};
	struct cni_env env = {};
	struct cni_error err = {}, config_err = {};
	char version[16];
	char *buf = NULL;
	size_t len = 0;
	int ret;

	log_level = getenv("SLUICE_CNI_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN;
	log_setup_libbpf();
	/* A runtime passes no arguments (CNI_* variables only): an argument is an operator's. */
	if (argc > 1 && !strcmp(argv[1], "install"))
		return cni_install_main(argc - 1, argv + 1);

	ret = cni_read_stdin(&buf, &len, CNI_MAX_CONFIG_BYTES);
	if (ret) {
		cni_error_set(&err, CNI_ERR_IO, "read network config from stdin: %s",
			      strerror(-ret));
		goto cleanup;
	}
	if (buf && len < CNI_MAX_CONFIG_BYTES + 1) {
		/* json-c wants the terminator for json_tokener_parse in cni_requested_version. */
		char *terminated = realloc(buf, len + 1);

		if (!terminated) {
			ret = -ENOMEM;
			cni_error_set(&err, CNI_ERR_IO, "out of memory");
			goto cleanup;
		}
		buf = terminated;
		buf[len] = '\0';
	}
	ret = cni_env_parse(cni_getenv, &env, &err);
	if (env.command == CNI_CMD_VERSION) {
		cni_requested_version(buf, len, version, sizeof(version));
		ret = cni_print_version(stdout, version);
		if (ret)
			cni_error_set(&err, CNI_ERR_IO, "write result: %s", strerror(-ret));
		goto cleanup;
	}
	/* Parse the config even after an env error: the error object carries its cniVersion. */
	if (cni_config_parse(buf, len, &cfg, &config_err) && !ret) {
		err = config_err;
		ret = -EINVAL;
	}
	if (ret)
		goto cleanup;
	/* Usage goes to <bpffs>/ipam_usage, so `sluice status` shows it. */
	ipam_set_usage_sink(cfg.bpffs);
	/* The pod CIDR (config or agent) and the CIDR plan, for the commands that allocate. */
	/* STATUS and GC are new in 1.1: an older config cannot have asked for them. */
	if ((env.command == CNI_CMD_STATUS || env.command == CNI_CMD_GC) &&
	    (!cni_version_is_1x(cfg.cni_version) || !strcmp(cfg.cni_version, "1.0.0"))) {
		ret = -EINVAL;
		cni_error_set(&err, CNI_ERR_INCOMPATIBLE_VERSION,
			      "%s: not defined for cniVersion %s (needs 1.1.0)",
			      env.command == CNI_CMD_GC ? "GC" : "STATUS", cfg.cni_version);
		goto cleanup;
	}
	if (env.command == CNI_CMD_ADD || env.command == CNI_CMD_STATUS) {
		ret = cni_config_resolve_subnet(&cfg, &err);
		if (!ret && env.command == CNI_CMD_ADD)
			ret = cni_config_resolve_mtu(&cfg, &err);
		if (ret && env.command == CNI_CMD_STATUS)
			err.code = CNI_ERR_NOT_AVAILABLE;
		if (ret)
			goto cleanup;
	}

	switch (env.command) {
	case CNI_CMD_ADD:
		ret = cni_cmd_add(&cfg, &env, stdout, &err);
		break;
	case CNI_CMD_DEL:
		ret = cni_cmd_del(&cfg, &env, &err);
		break;
	case CNI_CMD_CHECK:
		if (!cni_version_is_1x(cfg.cni_version) && strcmp(cfg.cni_version, "0.4.0")) {
			ret = -EINVAL;
			cni_error_set(&err, CNI_ERR_INCOMPATIBLE_VERSION,
				      "CHECK: not defined for cniVersion %s (needs 0.4.0 or later)",
				      cfg.cni_version);
			break;
		}
		ret = cni_cmd_check(&cfg, &env, &err);
		break;
	case CNI_CMD_STATUS:
		ret = cni_cmd_status(&cfg, &err);
		break;
	case CNI_CMD_GC: {
		struct cni_error ignored = {};
		bool has_range = !cni_config_resolve_subnet(&cfg, &ignored);

		ret = cni_cmd_gc(&cfg, has_range, &err);
		break;
	}
	default:
		ret = -EINVAL;
		cni_error_set(&err, CNI_ERR_INVALID_ENV, "CNI_COMMAND: not a CNI command");
		break;
	}

cleanup:
	if (ret) {
		if (!err.code)
			cni_error_set(&err, CNI_ERR_IO, "%s", strerror(-ret));
		cni_print_error(stdout, cfg.cni_version[0] ? cfg.cni_version : NULL, &err);
		log_debug("%s", err.msg);
	}
	cni_config_free(&cfg);
	free(buf);
	return ret ? 1 : 0;
}
