// SPDX-License-Identifier: Apache-2.0
/* The one walk over a BPF map's entries: successor fetched first, bounded by max_entries. */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/map_walk.h"

int map_walk_start(struct map_walk *walk, int fd, size_t key_size, size_t value_size)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(walk, 0, sizeof(*walk));
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return walk->err = -errno;
	if (info.key_size != key_size || key_size > MAP_WALK_KEY_MAX ||
	    (value_size && value_size < info.value_size))
		return walk->err = -EINVAL;
	walk->fd = fd;
	walk->key_size = info.key_size;
	walk->value_size = info.value_size;
	walk->left = info.max_entries;
	return 0;
}

/* End the walk with ERR (0 or -errno). */
static bool map_walk_end(struct map_walk *walk, int err)
{
	walk->err = err;
	walk->left = 0;
	return false;
}

bool map_walk_next(struct map_walk *walk, void *key, void *value)
{
	void *entry, *next;

	while (walk->left) {
		if (!walk->is_started) {
			walk->is_started = true;
			if (bpf_map_get_next_key(walk->fd, NULL, walk->keys[0].bytes))
				return map_walk_end(walk, errno == ENOENT ? 0 : -errno);
			walk->current = 0;
		} else if (!walk->has_next) {
			return map_walk_end(walk, 0);
		} else {
			walk->current ^= 1;
		}
		entry = walk->keys[walk->current].bytes;
		next = walk->keys[walk->current ^ 1].bytes;
		/* The successor first: the caller may delete ENTRY before asking for the next. */
		walk->has_next = bpf_map_get_next_key(walk->fd, entry, next) == 0;
		if (!walk->has_next && errno != ENOENT)
			return map_walk_end(walk, -errno);
		walk->left--;
		if (value && bpf_map_lookup_elem(walk->fd, entry, value))
			continue; /* deleted since its key was listed */
		memcpy(key, entry, walk->key_size);
		return true;
	}
	return false;
}

long map_walk_count(int fd, size_t key_size)
{
	unsigned char key[MAP_WALK_KEY_MAX];
	struct map_walk walk;
	long n = 0;

	map_walk_start(&walk, fd, key_size, 0);
	while (map_walk_next(&walk, key, NULL))
		n++;
	return walk.err ? walk.err : n;
}
