// SPDX-License-Identifier: Apache-2.0
/*
 * A directory of manifests: the files to read, the whole directory or the ones inotify named,
 * and what a load changed in the objects, listed for loader/agent/feed.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "loader/sources/manifest_internal.h"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool manifest_is_file_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

/*
 * Sorted names of the manifest files in dir; -errno when dir cannot be read, -E2BIG (logged
 * here, naming the limit) when it holds more than MANIFEST_MAX_FILES of them.
 */
static int list_dir(DIR *dir, char ***out, size_t *count, const char *path)
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
		if (!manifest_is_file_name(entry->d_name))
			continue;
		if (n >= MANIFEST_MAX_FILES) {
			/* Reading only some would withdraw the objects of the rest: refuse all. */
			log_warn("manifests %s: more than %d *.yaml/*.yml files (the limit per "
				 "directory): none read, the last good state stays in force",
				 path, MANIFEST_MAX_FILES);
			err = -E2BIG;
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

struct placed_object {
	struct k8s_object *object;
	uint32_t position;
};

static int placed_cmp(const void *a, const void *b)
{
	const struct placed_object *x = a, *y = b;

	return (x->object > y->object) - (x->object < y->object);
}

static struct placed_object *placed_sorted(struct k8s_object *const *objects, size_t first,
					   size_t last)
{
	struct placed_object *placed = calloc(last - first + 1, sizeof(*placed));
	size_t i;

	if (!placed)
		return NULL;
	for (i = first; i < last; i++) {
		placed[i - first].object = objects[i];
		placed[i - first].position = (uint32_t)i;
	}
	qsort(placed, last - first, sizeof(*placed), placed_cmp);
	return placed;
}

static int change_push(struct k8s_change_list *changes, enum k8s_change_type type,
		       struct k8s_object *object, size_t position)
{
	return k8s_change_list_push(changes, type, object->kind, object->namespace, object->name,
				    object, (uint32_t)position);
}

/*
 * List how one file's objects changed: an edit in place touches only the objects between the
 * common head and tail of the two lists; the tail is moved when its positions shifted. Returns
 * 0 or -ENOMEM.
 */
static int changes_file(struct k8s_change_list *changes, const struct manifest_file *old,
			const struct manifest_file *new)
{
	size_t n_old = old ? old->n_objects : 0, n_new = new ? new->n_objects : 0;
	size_t head = 0, tail = 0, i, j;
	struct placed_object *a = NULL, *b = NULL;
	int err = 0;

	if (old && new && old->objects == new->objects)
		return 0; /* the same list: the file was not re-read */
	while (head < n_old && head < n_new && old->objects[head] == new->objects[head])
		head++;
	while (tail < n_old - head && tail < n_new - head &&
	       old->objects[n_old - 1 - tail] == new->objects[n_new - 1 - tail])
		tail++;
	a = placed_sorted(old ? old->objects : NULL, head, n_old - tail);
	b = placed_sorted(new ? new->objects : NULL, head, n_new - tail);
	if (!a || !b) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Withdrawn first, then moved, then added: the order the file now gives. */
	for (i = 0, j = 0; i < n_old - tail - head; i++) {
		while (j < n_new - tail - head && b[j].object < a[i].object)
			j++;
		if (j == n_new - tail - head || b[j].object != a[i].object)
			err = change_push(changes, K8S_CHANGE_REMOVED, a[i].object, 0);
		else
			err = change_push(changes, K8S_CHANGE_CHANGED, a[i].object, b[j].position);
		if (err)
			goto cleanup;
	}
	for (i = 0; !err && n_old != n_new && i < tail; i++)
		err = change_push(changes, K8S_CHANGE_CHANGED, new->objects[n_new - 1 - i],
				  n_new - 1 - i);
	for (i = 0, j = 0; !err && j < n_new - tail - head; j++) {
		while (i < n_old - tail - head && a[i].object < b[j].object)
			i++;
		if (i == n_old - tail - head || a[i].object != b[j].object)
			err = change_push(changes, K8S_CHANGE_ADDED, b[j].object, b[j].position);
	}
cleanup:
	free(a);
	free(b);
	return err;
}

/*
 * Append to set->changes how the files changed from old to new, both sorted by name: each file
 * compared with its namesake. Returns 0, or -ENOMEM with set->changes as it was.
 */
static int changes_files(struct manifest_set *set, const struct manifest_file *old, size_t n_old,
			 const struct manifest_file *new, size_t n_new)
{
	size_t i = 0, j = 0, count = set->changes.count;
	int err = 0, c;

	while (!err && (i < n_old || j < n_new)) {
		c = i == n_old ? 1 : j == n_new ? -1 : strcmp(old[i].name, new[j].name);
		if (c < 0)
			err = changes_file(&set->changes, &old[i++], NULL);
		else if (c > 0)
			err = changes_file(&set->changes, NULL, &new[j++]);
		else
			err = changes_file(&set->changes, &old[i++], &new[j++]);
	}
	if (err)
		k8s_change_list_truncate(&set->changes, count);
	return err;
}

/*
 * Make files (sorted by name; the set's old files already freed, or carried in files) the
 * set's, with the load's errors: both are taken. Returns the error count.
 */
static int set_commit(struct manifest_set *set, struct manifest_file *files, size_t n_files,
		      struct k8s_errors *errors)
{
	size_t i;

	free(set->files);
	set->files = files;
	set->n_files = n_files;
	set->n_rejected = 0;
	for (i = 0; i < n_files; i++) {
		/* The references are theirs now (carried files have lent nothing since theirs). */
		files[i].n_borrows = 0;
		set->n_rejected += files[i].n_rejected;
	}
	k8s_errors_free(&set->errors);
	set->errors = *errors;
	memset(errors, 0, sizeof(*errors));
	return (int)(set->errors.found > 0x7fffffff ? 0x7fffffff : set->errors.found);
}

int manifest_set_load_dir(struct manifest_set *set, const char *path)
{
	struct k8s_errors errors = {0};
	struct manifest_file *files = NULL;
	struct load_task *tasks = NULL;
	char **names = NULL;
	size_t n_names = 0, n_files = 0, i, j;
	DIR *dir;
	int err;

	dir = opendir(path);
	if (!dir) {
		err = -errno;
		log_warn("manifests %s: %s", path, strerror(-err));
		return err;
	}
	err = list_dir(dir, &names, &n_names, path);
	if (err) {
		if (err != -E2BIG)
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
	if (n_names) {
		tasks = calloc(n_names, sizeof(*tasks));
		if (!tasks) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	for (i = 0; i < n_names; i++) {
		files[i].name = strdup(names[i]);
		if (!files[i].name) {
			n_files = i;
			err = -ENOMEM;
			goto cleanup;
		}
		files[i].errors.is_quiet = true;
		tasks[i].name = files[i].name;
		tasks[i].file = &files[i];
		tasks[i].old = set_find_file(set, names[i]);
	}
	n_files = n_names;
	err = manifest_load_all(dirfd(dir), &set->spare, tasks, n_names);
	if (err)
		goto cleanup;
	/* Directories named like manifests drop out; the rest keep their order. */
	for (i = 0, n_files = 0; i < n_names; i++) {
		struct manifest_file *file = &files[i];

		if (tasks[i].is_dir) {
			manifest_file_clear(file);
			continue;
		}
		if (n_files != i) {
			files[n_files] = *file;
			memset(file, 0, sizeof(*file));
		}
		file = &files[n_files++];
		for (j = 0; j < file->errors.count; j++)
			k8s_errors_add(&errors, "%s", file->errors.items[j]);
		errors.found += file->errors.found - file->errors.count;
	}
	if (errors.found > errors.count && errors.count)
		log_warn("manifests %s: %zu errors, only the first %zu are listed", path,
			 errors.found, errors.count);
	err = changes_files(set, set->files, set->n_files, files, n_files);
	if (err)
		goto cleanup;

	/* Commit: everything above only took references, so failing earlier changed nothing. */
	for (i = 0, j = 0; i < set->n_files; i++) {
		while (j < n_files && strcmp(files[j].name, set->files[i].name) < 0)
			j++;
		manifest_file_clear_lent(
		    &set->files[i],
		    j < n_files && !strcmp(files[j].name, set->files[i].name) ? &files[j] : NULL);
	}
	err = set_commit(set, files, n_files, &errors);
	files = NULL;
	n_files = 0;
cleanup:
	manifest_files_free(files, n_files);
	free(tasks);
	k8s_errors_free(&errors);
	for (i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return err;
}

/* The file name of a directory entry, or NULL when the name is not a file to read now. */
static bool is_present(int dir_fd, const char *name)
{
	struct stat st;

	/* Followed, as read_file follows it: a ConfigMap volume is symlinks. */
	if (fstatat(dir_fd, name, &st, 0))
		return errno != ENOENT && errno != ENOTDIR;
	return !S_ISDIR(st.st_mode);
}

int manifest_set_load_files(struct manifest_set *set, const char *path, char *const *names,
			    size_t n_names)
{
	struct k8s_errors errors = {0};
	struct manifest_file *files = NULL;
	struct load_task *tasks = NULL;
	bool *is_fresh = NULL;
	char **sorted = NULL;
	size_t n_sorted = 0, n_files = 0, n_tasks = 0, i, j;
	int dir_fd, err = 0;

	dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		err = -errno;
		log_warn("manifests %s: %s", path, strerror(-err));
		return err;
	}
	sorted = calloc(n_names + 1, sizeof(*sorted));
	files = calloc(set->n_files + n_names + 1, sizeof(*files));
	is_fresh = calloc(set->n_files + n_names + 1, sizeof(*is_fresh));
	tasks = calloc(n_names + 1, sizeof(*tasks));
	if (!sorted || !files || !is_fresh || !tasks) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n_names; i++) {
		if (manifest_is_file_name(names[i]))
			sorted[n_sorted++] = names[i];
	}
	if (n_sorted)
		qsort(sorted, n_sorted, sizeof(*sorted), name_cmp);
	/* Merge the current files with the changed names, both in name order. */
	for (i = 0, j = 0; i < set->n_files || j < n_sorted;) {
		int c = i == set->n_files ? 1
			: j == n_sorted	  ? -1
					  : strcmp(set->files[i].name, sorted[j]);
		const struct manifest_file *old = c <= 0 ? &set->files[i] : NULL;
		struct manifest_file *file = &files[n_files];

		if (c < 0) {
			files[n_files++] = set->files[i++]; /* untouched: shared until commit */
			continue;
		}
		if (c == 0)
			i++;
		for (j++; j < n_sorted && !strcmp(sorted[j], sorted[j - 1]); j++)
			; /* a name met twice is read once */
		if (!is_present(dir_fd, sorted[j - 1]))
			continue; /* deleted or moved away: its objects go */
		file->name = strdup(sorted[j - 1]);
		if (!file->name) {
			err = -ENOMEM;
			goto cleanup;
		}
		file->errors.is_quiet = true;
		is_fresh[n_files++] = true;
		tasks[n_tasks].name = file->name;
		tasks[n_tasks].old = old;
		tasks[n_tasks].file = file; /* files is not reallocated: sized for every name */
		n_tasks++;
	}
	err = manifest_load_all(dir_fd, &set->spare, tasks, n_tasks);
	if (err)
		goto cleanup;
	/* Directories named like manifests drop out; errors of the files read, in order. */
	for (i = 0, j = 0; i < n_files; i++) {
		struct manifest_file *file = &files[i];
		bool is_skipped = false;

		for (size_t t = 0; is_fresh[i] && t < n_tasks; t++) {
			if (tasks[t].file == file)
				is_skipped = tasks[t].is_dir;
		}
		if (is_skipped) {
			manifest_file_clear(file);
			is_fresh[i] = false;
			continue;
		}
		if (j != i) {
			files[j] = *file;
			is_fresh[j] = is_fresh[i];
			memset(file, 0, sizeof(*file));
			is_fresh[i] = false;
		}
		file = &files[j++];
		for (size_t k = 0; is_fresh[j - 1] && k < file->errors.count; k++)
			k8s_errors_add(&errors, "%s", file->errors.items[k]);
		if (is_fresh[j - 1])
			errors.found += file->errors.found - file->errors.count;
	}
	n_files = j;
	if (n_files > MANIFEST_MAX_FILES) {
		/* The bound keeps the first files by name: a full scan applies it exactly. */
		err = 1;
		goto cleanup;
	}

	err = changes_files(set, set->files, set->n_files, files, n_files);
	if (err)
		goto cleanup;

	/* Commit, as manifest_set_load_dir() does. */
	for (i = 0, j = 0; i < set->n_files; i++) {
		/* Old files not carried over as they were (re-read or gone) are freed. */
		while (j < n_files &&
		       (is_fresh[j] || strcmp(files[j].name, set->files[i].name) < 0))
			j++;
		if (j == n_files || files[j].name != set->files[i].name) {
			const struct manifest_file *successor = NULL;

			for (size_t k = 0; k < n_files; k++) {
				if (is_fresh[k] && !strcmp(files[k].name, set->files[i].name))
					successor = &files[k];
			}
			manifest_file_recycle(set, &set->files[i]);
			manifest_file_clear_lent(&set->files[i], successor);
		}
	}
	err = set_commit(set, files, n_files, &errors);
	files = NULL;
	n_files = 0;
cleanup:
	for (i = 0; files && i < n_files; i++) {
		if (is_fresh[i])
			manifest_file_clear(&files[i]);
	}
	free(files);
	free(is_fresh);
	free(tasks);
	free(sorted);
	k8s_errors_free(&errors);
	close(dir_fd);
	if (err == 1)
		return manifest_set_load_dir(set, path);
	return err;
}
