// SPDX-License-Identifier: Apache-2.0
/* The unit tests' kernel maps: small real maps, a sync context on them, and their teardown. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>

#include "lib/map_walk.h"
#include "maps/ct.h"
#include "maps/lb.h"
#include "maps/node.h"
#include "tests/unit/map_fixture.h"

int map_fixture_create(enum bpf_map_type type, const char *name, size_t key, size_t value,
		       uint32_t max)
{
	bool no_prealloc = type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_LPM_TRIE;
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = no_prealloc ? BPF_F_NO_PREALLOC : 0);
	int fd = bpf_map_create(type, name, (uint32_t)key, (uint32_t)value, max, &opts);

	if (fd >= 0)
		return fd;
	if (fd == -EPERM && geteuid() != 0) {
		print_message("# not root: bpf_map_create %s: %s; the map tests skip\n", name,
			      strerror(-fd));
		return fd;
	}
	fail_msg("bpf_map_create %s: %s (as uid %u)", name, strerror(-fd), (unsigned)geteuid());
	return fd;
}

int map_fixture_setup(void **state, const struct map_fixture_options *options)
{
	struct map_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	bpffs_maps_init(&f->maps);
	/* Small sizes: the layouts are what matters, and a test run must not pin memory. */
	f->maps.lb4_svc = map_fixture_create(BPF_MAP_TYPE_HASH, LB4_SVC_MAP, sizeof(struct lb4_key),
					     sizeof(struct lb4_service), 1024);
	if (f->maps.lb4_svc < 0) {
		free(f);
		*state = NULL;
		return 0; /* not root: every test skips (map_fixture_or_skip) */
	}
	/* From here a refusal fails the test in map_fixture_create(). */
	f->maps.lb4_slots =
	    map_fixture_create(BPF_MAP_TYPE_HASH, LB4_SLOTS_MAP, sizeof(struct lb4_slot_key),
			       sizeof(uint32_t), options->slots_size ? options->slots_size : 4096);
	f->maps.lb4_backends =
	    map_fixture_create(BPF_MAP_TYPE_HASH, LB4_BACKENDS_MAP, sizeof(uint32_t),
			       sizeof(struct lb4_backend), 4096);
	f->maps.lb4_revnat = map_fixture_create(BPF_MAP_TYPE_HASH, LB4_REVNAT_MAP, sizeof(uint32_t),
						sizeof(struct lb4_revnat), 1024);
	f->maps.lb4_vips = map_fixture_create(BPF_MAP_TYPE_HASH, LB4_VIPS_MAP, sizeof(uint32_t),
					      sizeof(struct lb4_vip), 1024);
	assert_true(f->maps.lb4_slots >= 0 && f->maps.lb4_backends >= 0 &&
		    f->maps.lb4_revnat >= 0 && f->maps.lb4_vips >= 0);
	if (options->has_conntrack) {
		/* Room for more entries than one batch of the conntrack sweep (SYNC_CT_BATCH). */
		f->maps.ct4 = map_fixture_create(BPF_MAP_TYPE_HASH, CT4_MAP, sizeof(struct ct4_key),
						 sizeof(struct ct_entry), 16384);
		f->maps.lb4_affinity = map_fixture_create(BPF_MAP_TYPE_LRU_HASH, LB4_AFFINITY_MAP,
							  sizeof(struct lb4_affinity_key),
							  sizeof(struct lb4_affinity), 1024);
		f->maps.lb4_src_ranges =
		    map_fixture_create(BPF_MAP_TYPE_LPM_TRIE, LB4_SRC_RANGES_MAP,
				       sizeof(struct lb4_src_range_key), sizeof(uint8_t), 1024);
		f->maps.node4_addrs =
		    map_fixture_create(BPF_MAP_TYPE_HASH, NODE4_ADDRS_MAP, sizeof(uint32_t),
				       sizeof(struct node4_addr), NODE_MAX_ADDRS);
		assert_true(f->maps.ct4 >= 0 && f->maps.lb4_affinity >= 0 &&
			    f->maps.lb4_src_ranges >= 0 && f->maps.node4_addrs >= 0);
	}
	if (options->maglev_size) {
		f->maps.lb4_maglev = map_fixture_create(
		    BPF_MAP_TYPE_HASH, LB4_MAGLEV_MAP, sizeof(struct lb4_maglev_key),
		    options->maglev_size * sizeof(uint32_t), 1024);
		assert_true(f->maps.lb4_maglev >= 0);
	}
	assert_int_equal(sync_open(&f->maps, &f->sync), 0);
	/* Cleanup right after each flip, so the tests see the maps settle in one sync; the grace
	 * period itself is test_retired_generation_stays_for_grace. */
	sync_set_retire_grace(f->sync, 0);
	*state = f;
	return 0;
}

int map_fixture_teardown(void **state)
{
	struct map_fixture *f = *state;

	if (!f)
		return 0;
	sync_close(f->sync);
	bpffs_close_maps(&f->maps);
	free(f);
	return 0;
}

struct map_fixture *map_fixture_or_skip(void **state)
{
	if (!*state)
		skip(); /* not root: setup said so, and as root it would have failed instead */
	return *state;
}

size_t map_fixture_count(int fd, size_t key_size)
{
	long n = map_walk_count(fd, key_size);

	assert_true(n >= 0);
	return (size_t)n;
}
