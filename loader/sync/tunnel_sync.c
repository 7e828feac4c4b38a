// SPDX-License-Identifier: Apache-2.0
/* tunnel4: other nodes' pod CIDRs and addresses, diffed against the map. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/log.h"
#include "lib/map_walk.h"
#include "loader/sync/tunnel_sync.h"

static int tunnel_sync_compare(const void *a, const void *b)
{
	const struct tunnel4_key *x = a, *y = b;

	if (x->prefix_len != y->prefix_len)
		return x->prefix_len < y->prefix_len ? -1 : 1;
	return memcmp(&x->address, &y->address, sizeof(x->address));
}

/* Every entry FD holds, sorted, into *out (malloc'd; NULL when empty). 0 or -errno. */
static int tunnel_sync_read(int fd, struct tunnel_sync_entry **out, size_t *n)
{
	struct tunnel_sync_entry *held = NULL, *grown, entry;
	struct map_walk walk;
	size_t cap = 0;

	*n = 0;
	map_walk_start(&walk, fd, sizeof(entry.key), sizeof(entry.value));
	while (map_walk_next(&walk, &entry.key, &entry.value)) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(held, cap * sizeof(*held));
			if (!grown) {
				free(held);
				return -ENOMEM;
			}
			held = grown;
		}
		held[(*n)++] = entry;
	}
	if (walk.err) {
		free(held);
		return walk.err;
	}
	if (*n)
		qsort(held, *n, sizeof(*held), tunnel_sync_compare);
	*out = held;
	return 0;
}

int tunnel_sync_write(int fd, struct tunnel_sync_entry *want, size_t n,
		      struct tunnel_sync_counts *counts)
{
	struct tunnel_sync_entry *held = NULL;
	const struct tunnel_sync_entry *at;
	size_t n_held = 0;
	int err;

	if (n)
		qsort(want, n, sizeof(*want), tunnel_sync_compare);
	/* Exact keys: an LPM lookup would answer a shorter prefix holding the address. */
	err = tunnel_sync_read(fd, &held, &n_held);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		at = n_held ? bsearch(&want[i], held, n_held, sizeof(*held), tunnel_sync_compare)
			    : NULL;
		if (at && !memcmp(&at->value, &want[i].value, sizeof(at->value)))
			continue;
		if (bpf_map_update_elem(fd, &want[i].key, &want[i].value, BPF_ANY)) {
			int ret = -errno;

			log_warn("%s: write entry: %s", TUNNEL4_MAP, strerror(-ret));
			counts->failed++;
			err = err ?: ret;
			continue;
		}
		counts->written++;
	}
	free(held);
	return err;
}

int tunnel_sync_prune(int fd, const struct tunnel_sync_entry *want, size_t n,
		      struct tunnel_sync_counts *counts)
{
	struct tunnel4_key key;
	struct tunnel4_value value;
	struct map_walk walk;
	int err = 0;

	map_walk_start(&walk, fd, sizeof(key), sizeof(value));
	while (map_walk_next(&walk, &key, &value)) {
		if (n && bsearch(&key, want, n, sizeof(*want), tunnel_sync_compare))
			continue;
		if (bpf_map_delete_elem(fd, &key) && errno != ENOENT) {
			int ret = -errno;

			log_warn("%s: delete entry: %s", TUNNEL4_MAP, strerror(-ret));
			counts->failed++;
			err = err ?: ret;
			continue;
		}
		counts->deleted++;
	}
	return err ?: walk.err;
}

int tunnel_sync_device(int fd, uint32_t ifindex)
{
	struct tunnel_device device = {.ifindex = ifindex};
	uint32_t zero = 0;

	return bpf_map_update_elem(fd, &zero, &device, BPF_ANY) ? -errno : 0;
}
