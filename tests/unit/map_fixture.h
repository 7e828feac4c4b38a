/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The unit tests' kernel maps: a struct sluice_maps of small real maps, a sync context opened on
 * them, and their teardown, for the tests that drive loader/sync/ (cmocka setup/teardown).
 */
#ifndef SLUICE_TESTS_UNIT_MAP_FIXTURE_H
#define SLUICE_TESTS_UNIT_MAP_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/bpf.h>

#include "lib/bpffs.h"
#include "loader/sync/sync.h"

struct map_fixture {
	struct sluice_maps maps;
	struct sync_ctx *sync;
};

/* The maps beside the five every fixture has (lb4_svc, lb4_slots, lb4_backends, lb4_revnat,
 * lb4_vips). */
struct map_fixture_options {
	bool has_conntrack;   /* ct4, lb4_affinity, lb4_src_ranges and node4_addrs */
	uint32_t maglev_size; /* lb4_maglev with tables of this many entries; 0: no lb4_maglev */
	uint32_t slots_size;  /* lb4_slots' max_entries; 0: 4096 */
};

/*
 * A small map (BPF_F_NO_PREALLOC where the type takes it) for a unit test, or -errno. make test
 * runs as root on a kernel with BPF, so a refusal fails the test with NAME and the errno, except
 * EPERM when not root: that is said on a "# not root" line and the caller skips.
 */
int map_fixture_create(enum bpf_map_type type, const char *name, size_t key, size_t value,
		       uint32_t max);
/*
 * cmocka setup: the maps of OPTIONS, then sync_open() on them with no retire grace (each flip
 * settles within its sync). As root a map the kernel refuses fails the setup with its errno;
 * when not root *state is NULL and the tests skip through map_fixture_or_skip(). Returns 0.
 */
int map_fixture_setup(void **state, const struct map_fixture_options *options);
/* cmocka teardown: sync_close() and the maps closed. Returns 0. */
int map_fixture_teardown(void **state);
/* The fixture of STATE, or skip the test when setup found we are not root. */
struct map_fixture *map_fixture_or_skip(void **state);
/* Entries in the map FD (keys of KEY_SIZE bytes); fails the test when the walk fails. */
size_t map_fixture_count(int fd, size_t key_size);

#endif
