// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes manifests to desired state: reads a directory of YAML files, decodes and validates
 * their objects (loader/objects.c), keeps the last good version of each file and object, and
 * builds the desired state from them (loader/objects_build.c).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/log.h"
#include "loader/manifest.h"
#include "loader/objects.h"
#include "loader/yaml_tree.h"

struct manifest_file {
	char *name;
	struct k8s_object **objects;
	size_t n_objects, capacity;
	/* What the file held when it was read, so an unchanged file is not parsed again: the
	 * outcome of a load depends only on the content and the file's previous objects. */
	bool has_content;
	size_t size;
	uint64_t hash;
	struct k8s_errors errors; /* found in this file at its last parse */
	uint32_t n_rejected;	  /* objects refused at its last parse */
};

struct manifest_set {
	struct manifest_file *files;
	size_t n_files;
	struct k8s_errors errors;
	struct desired_state desired; /* computed by each successful load */
	struct k8s_build_config config;
	uint32_t n_rejected;
};

/* ---- objects and files ----------------------------------------------------------------- */

static void file_clear(struct manifest_file *file)
{
	size_t i;

	for (i = 0; i < file->n_objects; i++)
		k8s_object_put(file->objects[i]);
	free(file->objects);
	free(file->name);
	k8s_errors_free(&file->errors);
	memset(file, 0, sizeof(*file));
}

static int file_add(struct manifest_file *file, struct k8s_object *object)
{
	struct k8s_object **objects;

	if (file->n_objects == file->capacity) {
		size_t next = file->capacity ? file->capacity * 2 : 8;

		objects = realloc(file->objects, next * sizeof(*objects));
		if (!objects)
			return -ENOMEM;
		file->objects = objects;
		file->capacity = next;
	}
	object->refs++;
	file->objects[file->n_objects++] = object;
	return 0;
}

/* Carry every object of the previous version of a file (it failed to read or parse). */
static int file_keep(struct manifest_file *file, const struct manifest_file *old)
{
	size_t i;
	int err;

	if (!old)
		return 0;
	for (i = 0; i < old->n_objects; i++) {
		err = file_add(file, old->objects[i]);
		if (err)
			return err;
	}
	return 0;
}

static struct k8s_object *file_find(const struct manifest_file *file, enum k8s_kind kind,
				    const char *namespace, const char *name)
{
	size_t i;

	if (!file)
		return NULL;
	for (i = 0; i < file->n_objects; i++) {
		struct k8s_object *o = file->objects[i];

		if (o->kind == kind && !strcmp(o->namespace, namespace) && !strcmp(o->name, name))
			return o;
	}
	return NULL;
}

struct manifest_set *manifest_set_new(void)
{
	struct manifest_set *set = calloc(1, sizeof(struct manifest_set));

	/* Standalone by default: no EndpointSlice controller, so Pods give endpoints. */
	if (set) {
		k8s_build_config_init(&set->config, NULL);
		set->config.is_pod_endpoints = true;
	}
	return set;
}

void manifest_set_configure(struct manifest_set *set, const struct k8s_build_config *config)
{
	set->config = *config;
}

uint32_t manifest_set_rejected(const struct manifest_set *set)
{
	return set->n_rejected;
}

int manifest_set_objects(const struct manifest_set *set, struct k8s_object ***out, size_t *count)
{
	size_t i, j, n = 0;

	*out = NULL;
	*count = 0;
	for (i = 0; i < set->n_files; i++)
		n += set->files[i].n_objects;
	if (!n)
		return 0;
	*out = malloc(n * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < set->n_files; i++) {
		for (j = 0; j < set->files[i].n_objects; j++)
			(*out)[(*count)++] = set->files[i].objects[j];
	}
	return 0;
}

/* Every object of every file, in file order, into the builder. */
static int build_desired(const struct manifest_file *files, size_t n_files,
			 const struct k8s_build_config *config, struct k8s_errors *errors,
			 struct desired_state *out)
{
	struct k8s_object **objects = NULL;
	size_t i, j, n = 0;
	int err;

	for (i = 0; i < n_files; i++)
		n += files[i].n_objects;
	if (n) {
		objects = malloc(n * sizeof(*objects));
		if (!objects)
			return -ENOMEM;
	}
	n = 0;
	for (i = 0; i < n_files; i++) {
		for (j = 0; j < files[i].n_objects; j++)
			objects[n++] = files[i].objects[j];
	}
	err = k8s_build_desired(objects, n, config, errors, out);
	free(objects);
	return err;
}

static void files_free(struct manifest_file *files, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		file_clear(&files[i]);
	free(files);
}

void manifest_set_free(struct manifest_set *set)
{
	if (!set)
		return;
	files_free(set->files, set->n_files);
	k8s_errors_free(&set->errors);
	desired_state_free(&set->desired);
	free(set);
}

size_t manifest_set_error_count(const struct manifest_set *set)
{
	return set->errors.count;
}

const char *manifest_set_error(const struct manifest_set *set, size_t i)
{
	return i < set->errors.count ? set->errors.items[i] : NULL;
}

int manifest_set_desired(const struct manifest_set *set, struct desired_state *out)
{
	return desired_state_copy(out, &set->desired);
}

/* One file being loaded: its new object list and, for fallbacks, its last good one. */
struct file_load {
	struct k8s_errors *errors;
	const char *name;
	struct manifest_file *file;
	const struct manifest_file *old;
	size_t n_seen; /* objects met, List items included */
};

static int load_object(struct file_load *load, const struct yaml_tree_node *root,
		       enum k8s_kind kind)
{
	struct k8s_object *object, *previous;
	int err;

	err = k8s_object_decode(root, kind, load->name, load->errors, &object);
	if (err == -ENOMEM)
		return err;
	if (!err) {
		err = file_add(load->file, object);
		goto cleanup;
	}
	/* Invalid: the last good version of this object in this file stays in force. */
	err = 0;
	load->file->n_rejected++;
	previous = object->name[0]
		       ? file_find(load->old, object->kind, object->namespace, object->name)
		       : NULL;
	if (previous &&
	    !file_find(load->file, previous->kind, previous->namespace, previous->name)) {
		log_info("%s: %s %s%s%s: keeping the last good version", load->name,
			 k8s_kind_names[kind], object->namespace, object->namespace[0] ? "/" : "",
			 object->name);
		err = file_add(load->file, previous);
	}
cleanup:
	k8s_object_put(object);
	return err;
}

static int load_document(struct file_load *load, const struct yaml_tree_node *root, bool is_item)
{
	const struct yaml_tree_node *items;
	const char *api_version, *kind_name;
	enum k8s_kind kind;
	size_t i;
	int err;

	if (yaml_tree_is_null(root))
		return 0; /* an empty document, e.g. after a trailing "---" */
	if (root->type != YAML_TREE_MAPPING) {
		k8s_errors_add(load->errors, "%s:%u: %s is %s, not a Kubernetes object", load->name,
			       root->line, is_item ? "List item" : "document",
			       yaml_tree_describe(root));
		return 0;
	}
	if (++load->n_seen > MANIFEST_MAX_OBJECTS) {
		if (load->n_seen == MANIFEST_MAX_OBJECTS + 1)
			k8s_errors_add(load->errors,
				       "%s:%u: more than %d objects, the rest is ignored",
				       load->name, root->line, MANIFEST_MAX_OBJECTS);
		return 0;
	}
	api_version = yaml_tree_string(yaml_tree_get(root, "apiVersion"));
	kind_name = yaml_tree_string(yaml_tree_get(root, "kind"));
	if (!api_version || !*api_version || !kind_name || !*kind_name) {
		k8s_errors_add(load->errors, "%s:%u: object has no %s", load->name, root->line,
			       !api_version || !*api_version ? "apiVersion" : "kind");
		return 0;
	}
	if (!strcmp(kind_name, "List") && !is_item) {
		items = yaml_tree_get(root, "items");
		if (yaml_tree_is_null(items))
			return 0;
		if (items->type != YAML_TREE_SEQUENCE) {
			k8s_errors_add(load->errors, "%s:%u: List: items: expected a list, got %s",
				       load->name, items->line, yaml_tree_describe(items));
			return 0;
		}
		for (i = 0; i < items->sequence.count; i++) {
			err = load_document(load, items->sequence.items[i], true);
			if (err)
				return err;
		}
		return 0;
	}
	err = k8s_object_kind(root, load->name, load->errors, &kind);
	if (err == -ENOENT) {
		log_debug("%s:%u: kind %.64s is not used, skipped", load->name, root->line,
			  kind_name);
		return 0;
	}
	if (err)
		return 0;
	return load_object(load, root, kind);
}

/* Read a whole regular file of at most MANIFEST_MAX_FILE_SIZE bytes. */
static int read_file(int dir_fd, const char *name, char **out, size_t *size, bool *is_dir)
{
	char *buffer = NULL;
	size_t length = 0;
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	*is_dir = false;
	/* O_NONBLOCK: a FIFO named *.yaml must not hang the agent. Symlinks are followed, since
	 * a ConfigMap volume is a set of symlinks. */
	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (S_ISDIR(st.st_mode)) {
		*is_dir = true;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EBADFD;
		goto cleanup;
	}
	buffer = malloc(MANIFEST_MAX_FILE_SIZE + 1);
	if (!buffer) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Read one byte past the cap to notice a file that grew past it after fstat. */
	while (length <= MANIFEST_MAX_FILE_SIZE) {
		n = read(fd, buffer + length, MANIFEST_MAX_FILE_SIZE + 1 - length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (!n)
			break;
		length += n;
	}
	if (length > MANIFEST_MAX_FILE_SIZE) {
		err = -EFBIG;
		goto cleanup;
	}
	*out = buffer;
	*size = length;
	buffer = NULL;
cleanup:
	free(buffer);
	close(fd);
	return err;
}

/* FNV-1a: spots an unchanged file; whoever could forge a collision can edit the file anyway. */
static uint64_t content_hash(const char *data, size_t size)
{
	uint64_t hash = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < size; i++)
		hash = (hash ^ (unsigned char)data[i]) * 0x100000001b3ull;
	return hash;
}

/* Same content as at the last load: same objects and same errors, without parsing again. */
static int file_reuse(struct manifest_file *file, const struct manifest_file *old)
{
	size_t i;

	for (i = 0; i < old->errors.count; i++)
		k8s_errors_add(&file->errors, "%s", old->errors.items[i]);
	file->errors.found = old->errors.found;
	file->n_rejected = old->n_rejected;
	return file_keep(file, old);
}

/*
 * Load one file into file (its objects and file->errors); on any problem with the file as a
 * whole, keep old's objects.
 */
static int load_file(int dir_fd, const char *name, struct manifest_file *file,
		     const struct manifest_file *old, bool *is_dir)
{
	struct k8s_errors *errors = &file->errors;
	struct file_load load = {
	    .errors = errors,
	    .name = name,
	    .file = file,
	    .old = old,
	};
	char message[YAML_TREE_ERROR_LEN];
	struct yaml_tree tree;
	char *buffer = NULL;
	unsigned int line;
	size_t size = 0, i;
	int err;

	yaml_tree_init(&tree);
	err = read_file(dir_fd, name, &buffer, &size, is_dir);
	if (err == -ENOMEM)
		goto cleanup;
	if (err == -EFBIG || err == -EBADFD) {
		k8s_errors_add(errors, "%s: %s", name,
			       err == -EFBIG ? "file is larger than 4 MiB" : "not a regular file");
		err = file_keep(file, old);
		goto cleanup;
	}
	if (err) {
		k8s_errors_add(errors, "%s: cannot read: %s", name, strerror(-err));
		err = file_keep(file, old);
		goto cleanup;
	}
	if (*is_dir)
		goto cleanup;
	file->has_content = true;
	file->size = size;
	file->hash = content_hash(buffer, size);
	if (old && old->has_content && old->size == size && old->hash == file->hash) {
		err = file_reuse(file, old);
		goto cleanup;
	}

	err = yaml_tree_parse(&tree, buffer, size, &line, message, sizeof(message));
	if (err == -ENOMEM)
		goto cleanup;
	if (err) {
		k8s_errors_add(errors, "%s:%u: yaml: %s%s", name, line, message,
			       old ? "; keeping the file's last good version" : "");
		err = file_keep(file, old);
		goto cleanup;
	}
	for (i = 0; i < tree.n_documents && !err; i++)
		err = load_document(&load, tree.documents[i], false);
cleanup:
	yaml_tree_free(&tree);
	free(buffer);
	return err;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_manifest_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

/* Sorted names of the manifest files in dir; -errno when dir cannot be read. */
static int list_dir(DIR *dir, char ***out, size_t *count, struct k8s_errors *errors,
		    const char *path)
{
	char **names = NULL, **grown;
	size_t n = 0, capacity = 0;
	struct dirent *entry;
	int err = 0;

	for (;;) {
		errno = 0;
		entry = readdir(dir);
		if (!entry) {
			err = -errno;
			break;
		}
		if (!is_manifest_name(entry->d_name))
			continue;
		if (n >= MANIFEST_MAX_FILES) {
			k8s_errors_add(errors,
				       "%s: more than %d manifest files, the rest is ignored", path,
				       MANIFEST_MAX_FILES);
			break;
		}
		if (n == capacity) {
			capacity = capacity ? capacity * 2 : 16;
			grown = realloc(names, capacity * sizeof(*names));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			names = grown;
		}
		names[n] = strdup(entry->d_name);
		if (!names[n]) {
			err = -ENOMEM;
			break;
		}
		n++;
	}
	if (err) {
		while (n)
			free(names[--n]);
		free(names);
		return err;
	}
	/* readdir order is arbitrary; sorting makes "first wins" and error order reproducible. */
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*count = n;
	return 0;
}

/* ---- the directory --------------------------------------------------------------------- */

static const struct manifest_file *set_find_file(const struct manifest_set *set, const char *name)
{
	size_t lo = 0, hi = set->n_files;

	/* Files are kept in name order. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->files[mid].name, name);

		if (!c)
			return &set->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int manifest_set_load_dir(struct manifest_set *set, const char *path)
{
	struct k8s_errors errors = {0};
	struct manifest_file *files = NULL;
	struct desired_state desired = {0};
	char **names = NULL;
	size_t n_names = 0, n_files = 0, i, j;
	DIR *dir;
	bool is_dir;
	int err;

	dir = opendir(path);
	if (!dir) {
		err = -errno;
		log_warn("manifests %s: %s", path, strerror(-err));
		return err;
	}
	err = list_dir(dir, &names, &n_names, &errors, path);
	if (err) {
		log_warn("manifests %s: %s", path, strerror(-err));
		goto cleanup;
	}
	if (n_names) {
		files = calloc(n_names, sizeof(*files));
		if (!files) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < n_names; i++) {
		struct manifest_file *file = &files[n_files];

		file->name = strdup(names[i]);
		if (!file->name) {
			err = -ENOMEM;
			goto cleanup;
		}
		file->errors.is_quiet = true;
		n_files++;
		err = load_file(dirfd(dir), names[i], file, set_find_file(set, names[i]), &is_dir);
		if (err)
			goto cleanup;
		if (is_dir) {
			file_clear(&files[--n_files]);
			continue;
		}
		for (j = 0; j < file->errors.count; j++)
			k8s_errors_add(&errors, "%s", file->errors.items[j]);
		errors.found += file->errors.found - file->errors.count;
	}
	err = build_desired(files, n_files, &set->config, &errors, &desired);
	if (err)
		goto cleanup;
	if (errors.found > errors.count && errors.count)
		log_warn("manifests %s: %zu errors, only the first %zu are listed", path,
			 errors.found, errors.count);

	/* Commit: everything above only took references, so failing earlier changed nothing. */
	files_free(set->files, set->n_files);
	set->files = files;
	set->n_files = n_files;
	files = NULL;
	n_files = 0;
	k8s_errors_free(&set->errors);
	set->errors = errors;
	memset(&errors, 0, sizeof(errors));
	desired_state_free(&set->desired);
	set->desired = desired;
	set->n_rejected = 0;
	for (i = 0; i < set->n_files; i++)
		set->n_rejected += set->files[i].n_rejected;
	set->desired.rejected_objects += set->n_rejected;
	err = (int)(set->errors.found > 0x7fffffff ? 0x7fffffff : set->errors.found);
cleanup:
	files_free(files, n_files);
	k8s_errors_free(&errors);
	for (i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return err;
}
