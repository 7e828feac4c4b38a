// SPDX-License-Identifier: Apache-2.0
/*
 * One manifest file read and loaded (by pieces when it can, whole otherwise, its last good
 * version kept when it cannot be read or parsed), and several files loaded at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/sources/manifest_internal.h"

/* From this size on, a fresh read buffer's pages are faulted in by one call, not one by one. */
#define MANIFEST_PREFAULT_MIN (1u << 20)

/*
 * Fault a big buffer's pages in at once (Linux 5.14's MADV_POPULATE_WRITE; older kernels refuse
 * and read() faults them as before): a page fault per 4 KiB page was a tenth of reading a 25 MB
 * file on a virtual machine, where each one is a trap. Only whole pages inside the buffer.
 */
static void prefault(char *buffer, size_t size)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), start, end;

	if (size < MANIFEST_PREFAULT_MIN || !page)
		return;
	start = ((uintptr_t)buffer + page - 1) & ~(page - 1);
	end = ((uintptr_t)buffer + size) & ~(page - 1);
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#else
	(void)buffer;
	(void)size;
#endif
}

/* Read a whole regular file of at most MANIFEST_MAX_FILE_SIZE bytes. */
static int read_file(int dir_fd, const char *name, struct read_buffer *spare, char **out,
		     size_t *size, size_t *out_capacity, bool *is_dir)
{
	char *buffer = NULL;
	size_t length = 0, capacity;
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
	if ((uint64_t)st.st_size > MANIFEST_MAX_FILE_SIZE) {
		err = -EFBIG; /* without reading it */
		goto cleanup;
	}
	/* Sized from fstat (with room to notice growth), not the cap: a big buffer per read
	 * costs page faults, and a file read in pieces keeps its text. */
	capacity = (size_t)st.st_size < MANIFEST_MAX_FILE_SIZE ? (size_t)st.st_size + 4096
							       : MANIFEST_MAX_FILE_SIZE + 1;
	if (spare && spare->data && spare->capacity >= capacity) {
		buffer = spare->data;
		capacity = spare->capacity;
		spare->data = NULL;
	} else {
		buffer = malloc(capacity);
	}
	if (!buffer) {
		err = -ENOMEM;
		goto cleanup;
	}
	prefault(buffer, capacity);
	/* Read one byte past the cap to notice a file that grew past it after fstat. */
	while (length <= MANIFEST_MAX_FILE_SIZE) {
		if (length == capacity) {
			char *grown;

			capacity = MANIFEST_MAX_FILE_SIZE + 1;
			grown = realloc(buffer, capacity);
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			buffer = grown;
		}
		n = read(fd, buffer + length, capacity - length);
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
	*out_capacity = capacity;
	buffer = NULL;
cleanup:
	free(buffer);
	close(fd);
	return err;
}

/* Same content as at the last load: same objects and same errors, without parsing again. */
static int file_reuse(struct manifest_file *file, const struct manifest_file *old)
{
	size_t i;

	for (i = 0; i < old->errors.count; i++)
		k8s_errors_add(&file->errors, "%s", old->errors.items[i]);
	file->errors.found = old->errors.found;
	file->n_rejected = old->n_rejected;
	return manifest_file_keep(file, old);
}

/* Forget what a failed attempt put in file, so it can be loaded again from scratch. */
static void file_reset(struct manifest_file *file)
{
	size_t i;

	for (i = 0; i < file->n_objects; i++) {
		if (!manifest_is_borrowed(file, i, false))
			k8s_object_put(file->objects[i]);
	}
	file->n_borrows = 0;
	file->n_objects = 0;
	file->n_rejected = 0;
	free(file->chunks);
	file->chunks = NULL;
	file->n_chunks = file->cap_chunks = 0;
	k8s_errors_free(&file->errors);
	file->errors.is_quiet = true;
}

/* Every piece gave its objects without an error or a refusal. */
static bool file_is_clean(const struct manifest_file *file)
{
	for (size_t k = 0; k < file->n_chunks; k++) {
		if (!file->chunks[k].is_clean)
			return false;
	}
	return true;
}

/* The text is old's: by its kept text when there is one, else by hash. */
static bool is_same_text(const struct manifest_file *old, const char *buffer, size_t size,
			 uint64_t *hash, bool *has_hash)
{
	if (!old)
		return false;
	if (old->content)
		return old->content_size == size && !memcmp(old->content, buffer, size);
	if (!old->has_content || old->size != size)
		return false;
	*hash = manifest_content_hash(buffer, size);
	*has_hash = true;
	return old->hash == *hash;
}

/*
 * What a way of loading only part of a file (manifest_load_diff, manifest_load_chunks) came to: 0
 * when it gave a clean file; -EAGAIN when the next way is to be tried (file reset for it); else err
 * (-EINVAL: a syntax error, -ENOMEM).
 */
static int load_partial(struct file_load *load, int err)
{
	if (!err && file_is_clean(load->file))
		return 0;
	if (err == -EINVAL || err == -ENOMEM)
		return err;
	file_reset(load->file);
	load->n_seen = 0;
	return -EAGAIN;
}

/*
 * Load one file into file (its objects and file->errors); on any problem with the file as a
 * whole, keep old's objects. A file read by pieces keeps its text for the next load's diff.
 */
static int load_file(int dir_fd, const char *name, struct read_buffer *spare,
		     struct manifest_file *file, const struct manifest_file *old, bool *is_dir)
{
	struct k8s_errors *errors = &file->errors;
	char message[YAML_TREE_ERROR_LEN] = "";
	unsigned int line = 0;
	struct file_load load = {
	    .errors = errors,
	    .name = name,
	    .file = file,
	    .old = old,
	    .error_line = &line,
	    .message = message,
	    .message_size = sizeof(message),
	};
	struct chunk_span *spans = NULL;
	char *buffer = NULL;
	size_t size = 0, capacity = 0, n_spans;
	uint64_t hash = 0;
	bool has_hash = false, is_chunked = false, is_reusable;
	int err;

	err = read_file(dir_fd, name, spare, &buffer, &size, &capacity, is_dir);
	if (err == -ENOMEM)
		goto cleanup;
	if (err == -EFBIG || err == -EBADFD) {
		if (err == -EFBIG)
			k8s_errors_add(errors,
				       "%s: file is larger than %u MiB (the limit per file)", name,
				       MANIFEST_MAX_FILE_SIZE >> 20);
		else
			k8s_errors_add(errors, "%s: not a regular file", name);
		err = manifest_file_keep(file, old);
		goto cleanup;
	}
	if (err) {
		k8s_errors_add(errors, "%s: cannot read: %s", name, strerror(-err));
		err = manifest_file_keep(file, old);
		goto cleanup;
	}
	if (*is_dir)
		goto cleanup;
	if (is_same_text(old, buffer, size, &hash, &has_hash)) {
		err = file_reuse(file, old);
		is_chunked = !err && old->content;
		goto cleanup;
	}
	/*
	 * Reuse only among clean pieces: an invalid object falls back to its last good version,
	 * which a reused piece may hold too, so a file with any error is parsed whole, in order,
	 * exactly as a first read.
	 */
	is_reusable = old && old->n_chunks && file_is_clean(old);
	if (is_reusable && old->content) {
		err = load_partial(&load, manifest_load_diff(&load, buffer, size));
		if (err != -EAGAIN)
			goto chunked;
	}
	n_spans = manifest_split_documents(buffer, size, &spans);
	if (n_spans == 1 && !has_hash) {
		/* One piece, the whole text: its hash is the file's (a 25 MB pass saved). */
		hash = spans[0].hash;
		has_hash = true;
	}
	if (n_spans && is_reusable) {
		err = load_partial(&load, manifest_load_chunks(&load, buffer, spans, n_spans));
		if (err != -EAGAIN)
			goto chunked;
	}
	if (n_spans)
		err = manifest_load_whole_chunks(&load, buffer, size, spans, n_spans);
	else
		err = manifest_read(&load, buffer, size, 1);
chunked:
	/* The text is kept for the next diff only when it has pieces to tell apart. */
	is_chunked = !err && file->n_chunks > 1;
	if (err != -EINVAL && err != -E2BIG)
		goto cleanup;
	/* Refused whole, wherever it failed: objects read before the error are dropped. */
	file_reset(file);
	k8s_errors_add(errors, "%s:%u: yaml: %s%s", name, line, message,
		       old ? "; keeping the file's last good version" : "");
	err = manifest_file_keep(file, old);
cleanup:
	if (!err && buffer) {
		file->has_content = true;
		file->size = size;
		if (is_chunked) {
			/* Kept for the next diff. */
			file->content = buffer;
			file->content_size = size;
			file->content_capacity = capacity;
			buffer = NULL;
		} else {
			file->hash = has_hash ? hash : manifest_content_hash(buffer, size);
		}
	}
	free(spans);
	free(buffer);
	return err;
}

#define MANIFEST_LOAD_THREADS 4 /* at most; as many as online CPUs */

struct load_pool {
	int dir_fd;
	struct read_buffer *spare; /* NULL when several threads load */
	struct load_task *tasks;
	size_t n_tasks;
	atomic_size_t next;
};

static void *load_worker(void *arg)
{
	struct load_pool *pool = arg;
	size_t i;

	while ((i = atomic_fetch_add(&pool->next, 1)) < pool->n_tasks) {
		struct load_task *t = &pool->tasks[i];

		t->err = load_file(pool->dir_fd, t->name, pool->spare, t->file, t->old, &t->is_dir);
	}
	return NULL;
}

/*
 * Load every task, on up to MANIFEST_LOAD_THREADS threads: parsing YAML is most of a full
 * load, and files are independent (each reads only its own last version; objects are shared
 * with no other file). Results are used in task order, so errors and "first wins" do not
 * depend on which thread finished first. Returns 0, or the first task's error in task order.
 */
int manifest_load_all(int dir_fd, struct read_buffer *spare, struct load_task *tasks, size_t n)
{
	struct load_pool pool = {.dir_fd = dir_fd, .spare = spare, .tasks = tasks, .n_tasks = n};
	pthread_t threads[MANIFEST_LOAD_THREADS - 1];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n_threads = 0, want;

	want = cpus > 1 ? (size_t)cpus : 1;
	if (want > MANIFEST_LOAD_THREADS)
		want = MANIFEST_LOAD_THREADS;
	if (want > n)
		want = n;
	atomic_init(&pool.next, 0);
	if (want > 1)
		pool.spare = NULL; /* one spare buffer: not for several readers */
	for (; n_threads + 1 < want; n_threads++) {
		if (pthread_create(&threads[n_threads], NULL, load_worker, &pool))
			break; /* fewer threads: the work still gets done */
	}
	load_worker(&pool);
	while (n_threads)
		pthread_join(threads[--n_threads], NULL);
	for (size_t i = 0; i < n; i++) {
		if (tasks[i].err)
			return tasks[i].err;
	}
	return 0;
}
