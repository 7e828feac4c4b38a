// SPDX-License-Identifier: Apache-2.0
/* `sluice-cni install` (cni/cni_install.h): the DaemonSet's init step, done by the plugin itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cni/cni.h"
#include "cni/cni_install.h"
#include "lib/file_atomic.h"

#define CNI_INSTALL_BINARY_MAX (64 << 20) /* the static plugin is ~2 MiB */

/* The whole of PATH, at most LIMIT bytes, into *BUF (NUL-terminated). Returns 0 or -errno. */
static int cni_install_read(const char *path, size_t limit, char **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > limit) {
		err = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		err = -ENOMEM;
		goto out;
	}
	while (*len < (size_t)st.st_size) {
		n = read(fd, *buf + *len, (size_t)st.st_size - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO; /* shorter than fstat said: changed under us */
			goto out;
		}
		*len += (size_t)n;
	}
	(*buf)[*len] = '\0';
out:
	close(fd);
	if (err) {
		free(*buf);
		*buf = NULL;
	}
	return err;
}

/*
 * The conflist in BUF as a runtime would use it: a JSON object with a name, a cniVersion and a
 * "plugins" list holding a sluice-cni entry, which (with the list's name and version, as the
 * runtime hands it over) the plugin's own parser accepts. WHY gets the reason. Returns 0 or
 * -EINVAL.
 */
static int cni_install_check_conflist(const char *buf, char *why, size_t why_len)
{
	struct json_object *root, *plugins, *entry, *type, *name, *version, *config;
	struct cni_config cfg = {};
	struct cni_error err = {};
	const char *text;
	size_t i, n_sluice = 0;
	int ret = -EINVAL;

	root = json_tokener_parse(buf);
	if (!root || !json_object_is_type(root, json_type_object)) {
		snprintf(why, why_len, "not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(root, "name", &name) ||
	    !json_object_is_type(name, json_type_string) ||
	    !json_object_object_get_ex(root, "cniVersion", &version) ||
	    !json_object_is_type(version, json_type_string)) {
		snprintf(why, why_len, "no \"name\" or \"cniVersion\" string");
		goto out;
	}
	if (!json_object_object_get_ex(root, "plugins", &plugins) ||
	    !json_object_is_type(plugins, json_type_array)) {
		snprintf(why, why_len, "no \"plugins\" list");
		goto out;
	}
	for (i = 0; i < json_object_array_length(plugins); i++) {
		entry = json_object_array_get_idx(plugins, i);
		if (!json_object_is_type(entry, json_type_object) ||
		    !json_object_object_get_ex(entry, "type", &type) ||
		    !json_object_is_type(type, json_type_string) ||
		    strcmp(json_object_get_string(type), "sluice-cni"))
			continue;
		n_sluice++;
		config = NULL;
		if (json_object_deep_copy(entry, &config, NULL) ||
		    json_object_object_add(config, "name", json_object_get(name)) ||
		    json_object_object_add(config, "cniVersion", json_object_get(version))) {
			json_object_put(config);
			snprintf(why, why_len, "out of memory");
			goto out;
		}
		text = json_object_to_json_string_ext(config, JSON_C_TO_STRING_PLAIN);
		if (cni_config_parse(text, strlen(text), &cfg, &err)) {
			snprintf(why, why_len, "plugins[%zu]: %s", i, err.msg);
			json_object_put(config);
			cni_config_free(&cfg);
			goto out;
		}
		cni_config_free(&cfg);
		json_object_put(config);
	}
	if (!n_sluice) {
		snprintf(why, why_len, "no plugin of type sluice-cni in \"plugins\"");
		goto out;
	}
	ret = 0;
out:
	json_object_put(root);
	return ret;
}

/* Write BUF to DIR/NAME (tmp + rename, synced). Prints the line a log of the init step shows. */
static int cni_install_file(const char *dir, const char *name, const char *buf, size_t len,
			    mode_t mode)
{
	int dir_fd, err;

	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		err = -errno;
		fprintf(stderr, "sluice-cni install: %s: %s\n", dir, strerror(-err));
		return err;
	}
	err = file_write_atomic(dir_fd, name, buf, len, mode, true);
	if (!err && fsync(dir_fd)) /* the rename itself, before the next file depends on it */
		err = -errno;
	close(dir_fd);
	if (err)
		fprintf(stderr, "sluice-cni install: %s/%s: %s\n", dir, name, strerror(-err));
	else
		printf("installed %s/%s (%zu bytes)\n", dir, name, len);
	return err;
}

int cni_install_main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"bin-dir", required_argument, NULL, 'b'},
	    {"conf-dir", required_argument, NULL, 'c'},
	    {"conflist", required_argument, NULL, 'l'},
	    {},
	};
	const char *bin_dir = CNI_INSTALL_BIN_DIR, *conf_dir = CNI_INSTALL_CONF_DIR;
	const char *conflist = CNI_INSTALL_CONFLIST, *base;
	char *binary = NULL, *list = NULL, why[768];
	size_t binary_len, list_len;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'b':
			bin_dir = optarg;
			break;
		case 'c':
			conf_dir = optarg;
			break;
		case 'l':
			conflist = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc)
		goto usage;
	base = strrchr(conflist, '/') ? strrchr(conflist, '/') + 1 : conflist;
	if (!*base)
		goto usage;

	err = cni_install_read(conflist, CNI_MAX_CONFIG_BYTES, &list, &list_len);
	if (err) {
		fprintf(stderr, "sluice-cni install: %s: %s\n", conflist, strerror(-err));
		goto out;
	}
	err = cni_install_check_conflist(list, why, sizeof(why));
	if (err) {
		fprintf(stderr, "sluice-cni install: %s: %s; nothing installed\n", conflist, why);
		goto out;
	}
	err = cni_install_read("/proc/self/exe", CNI_INSTALL_BINARY_MAX, &binary, &binary_len);
	if (err) {
		fprintf(stderr, "sluice-cni install: /proc/self/exe: %s\n", strerror(-err));
		goto out;
	}
	err = cni_install_file(bin_dir, "sluice-cni", binary, binary_len, 0755);
	if (!err)
		err = cni_install_file(conf_dir, base, list, list_len, 0644);
out:
	free(binary);
	free(list);
	return err ? 1 : 0;
usage:
	fprintf(stderr,
		"usage: sluice-cni install [--bin-dir DIR] [--conf-dir DIR] [--conflist FILE]\n"
		"  defaults: " CNI_INSTALL_BIN_DIR ", " CNI_INSTALL_CONF_DIR
		", " CNI_INSTALL_CONFLIST "\n");
	return 2;
}
