/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one walk over a BPF map's entries (bpf_map_get_next_key, then a lookup), for the hash,
 * LRU and LPM maps both binaries read back. Not for per-CPU maps (their values are per CPU).
 */
#ifndef SLUICE_LIB_MAP_WALK_H
#define SLUICE_LIB_MAP_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest key a walk takes, in bytes. */
#define MAP_WALK_KEY_MAX 256 /* ipam_nodes: a Node name (maps/ipam.h) */

/*
 * A walk in progress. The successor of an entry is fetched before the entry is handed out, so
 * the caller may delete the entry it holds: a hash map (and an LPM trie) asked for the
 * successor of a key it no longer holds answers with its first key, and the walk would start
 * over. An entry deleted by someone else just before its turn still makes the kernel start over
 * (entries are then seen twice); the walk is bounded by the map's max_entries so it ends anyway.
 */
struct map_walk {
	int fd;
	uint32_t key_size, value_size;
	uint32_t left; /* entries still allowed before the bound ends the walk */
	int err;       /* 0, or the -errno that ended the walk */
	bool is_started, has_next;
	union {
		uint64_t align;
		unsigned char bytes[MAP_WALK_KEY_MAX];
	} keys[2];
	unsigned int current; /* index in keys of the entry handed out last */
};

/*
 * Start a walk over FD, whose keys must be KEY_SIZE bytes and values (when map_walk_next() is
 * given a buffer) at most VALUE_SIZE. Returns 0, -EINVAL when the sizes do not match the map,
 * or -errno from the map's info; a walk that failed to start has no entries and keeps the error.
 */
int map_walk_start(struct map_walk *walk, int fd, size_t key_size, size_t value_size);

/*
 * The next entry: its key into KEY and, when VALUE is not NULL, its value into VALUE (an entry
 * that vanishes between the two is skipped). False at the end of the walk, at its bound or on
 * an error; walk->err then tells which (0 or -errno).
 */
bool map_walk_next(struct map_walk *walk, void *key, void *value);

/* Entries in FD (keys of KEY_SIZE bytes), or -errno. */
long map_walk_count(int fd, size_t key_size);

#endif
