// SPDX-License-Identifier: Apache-2.0
/* loader/sync/sync.c against real kernel maps: ordering results, diffs, adoption, UDP conntrack
 * flush.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>

#include "lib/bpffs.h"
#include "loader/desired/state.h"
#include "loader/sync/sync.h"
#include "maps/ct.h"
#include "maps/lb.h"
#include "maps/node.h"
#include "tests/unit/map_fixture.h"

#define VIP "10.96.0.10"

/* ---- helpers -------------------------------------------------------------------------- */

static uint32_t ip(const char *text)
{
	struct in_addr in;

	assert_int_equal(inet_pton(AF_INET, text, &in), 1);
	return in.s_addr;
}

static int setup(void **state)
{
	static const struct map_fixture_options options = {.has_conntrack = true};

	return map_fixture_setup(state, &options);
}

static int teardown(void **state)
{
	return map_fixture_teardown(state);
}

/* A desired state of up to 4 frontends built from static tables. */
struct test_frontend {
	const char *vip;
	uint16_t port;
	uint8_t proto;
	const char *name;
	const char *backends[8]; /* "a.b.c.d:port", NULL-terminated */
};

static void build_state(struct desired_state *out, const struct test_frontend *in, size_t n)
{
	memset(out, 0, sizeof(*out));
	out->frontends = calloc(n ? n : 1, sizeof(*out->frontends));
	assert_non_null(out->frontends);
	out->n_frontends = n;
	for (size_t i = 0; i < n; i++) {
		struct lb_frontend *f = &out->frontends[i];
		size_t nb = 0;

		while (nb < 8 && in[i].backends[nb])
			nb++;
		f->vip = ip(in[i].vip);
		f->port = htons(in[i].port);
		f->proto = in[i].proto;
		snprintf(f->name, sizeof(f->name), "%s", in[i].name);
		f->n_backends = nb;
		f->backends = calloc(nb ? nb : 1, sizeof(*f->backends));
		assert_non_null(f->backends);
		for (size_t j = 0; j < nb; j++) {
			char addr[32];
			const char *colon = strchr(in[i].backends[j], ':');

			assert_non_null(colon);
			memcpy(addr, in[i].backends[j], (size_t)(colon - in[i].backends[j]));
			addr[colon - in[i].backends[j]] = '\0';
			f->backends[j].address = ip(addr);
			f->backends[j].port = htons((uint16_t)atoi(colon + 1));
		}
	}
}

static struct sync_counts apply(struct map_fixture *f, const struct test_frontend *in, size_t n)
{
	struct desired_state desired;
	struct sync_counts counts;

	build_state(&desired, in, n);
	assert_int_equal(sync_apply(f->sync, &desired, &counts), 0);
	desired_state_free(&desired);
	return counts;
}

/* apply() with loadBalancerSourceRanges ("a.b.c.d/len") and an affinity timeout on every
 * frontend. */
static struct sync_counts apply_options(struct map_fixture *f, const struct test_frontend *in,
					size_t n, const char *const *ranges, size_t n_ranges,
					uint32_t affinity_timeout_s)
{
	struct desired_state desired;
	struct sync_counts counts;

	build_state(&desired, in, n);
	for (size_t i = 0; i < n; i++) {
		struct lb_frontend *fe = &desired.frontends[i];

		fe->affinity_timeout_s = affinity_timeout_s;
		fe->n_source_ranges = n_ranges;
		fe->source_ranges = calloc(n_ranges ? n_ranges : 1, sizeof(*fe->source_ranges));
		assert_non_null(fe->source_ranges);
		for (size_t j = 0; j < n_ranges; j++) {
			char addr[32];
			const char *slash = strchr(ranges[j], '/');

			assert_non_null(slash);
			snprintf(addr, sizeof(addr), "%.*s", (int)(slash - ranges[j]), ranges[j]);
			fe->source_ranges[j].address = ip(addr);
			fe->source_ranges[j].prefix_len = (uint8_t)atoi(slash + 1);
		}
	}
	assert_int_equal(sync_apply(f->sync, &desired, &counts), 0);
	desired_state_free(&desired);
	return counts;
}

static struct lb4_service lookup_svc(struct map_fixture *f, const char *vip, uint16_t port,
				     uint8_t proto, int *err)
{
	struct lb4_key key;
	struct lb4_service value;

	memset(&key, 0, sizeof(key));
	memset(&value, 0, sizeof(value));
	key.address = ip(vip);
	key.port = htons(port);
	key.proto = proto;
	*err = bpf_map_lookup_elem(f->maps.lb4_svc, &key, &value) ? -errno : 0;
	return value;
}

/* Backend ("a.b.c.d:port") of slot INDEX of the live generation, checked on the way. */
/* Backend id in slot INDEX of the live generation. */
static uint32_t slot_backend_id(struct map_fixture *f, const struct lb4_service *svc,
				uint16_t index)
{
	struct lb4_slot_key key;
	uint32_t id = 0;

	memset(&key, 0, sizeof(key));
	key.svc_id = svc->svc_id;
	key.index = index;
	key.gen = svc->gen;
	assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_slots, &key, &id), 0);
	assert_int_not_equal(id, 0);
	return id;
}

static struct lb4_backend slot_backend(struct map_fixture *f, const struct lb4_service *svc,
				       uint16_t index)
{
	struct lb4_backend backend;
	uint32_t id = slot_backend_id(f, svc, index);

	assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_backends, &id, &backend), 0);
	return backend;
}

static int slot_exists(struct map_fixture *f, uint32_t svc_id, uint8_t gen, uint16_t index)
{
	struct lb4_slot_key key;
	uint32_t id;

	memset(&key, 0, sizeof(key));
	key.svc_id = svc_id;
	key.index = index;
	key.gen = gen;
	return bpf_map_lookup_elem(f->maps.lb4_slots, &key, &id) == 0;
}

static const struct test_frontend web_two[] = {
    {VIP, 80, IPPROTO_TCP, "default/web:http", {"10.244.1.3:8080", "10.244.1.4:8080"}},
};
static const struct test_frontend web_changed[] = {
    {VIP,
     80,
     IPPROTO_TCP,
     "default/web:http",
     {"10.244.1.5:8080", "10.244.1.3:8080", "10.244.1.6:8080"}},
};

/* ---- tests ---------------------------------------------------------------------------- */

static void test_new_service_writes_everything(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct sync_counts c = apply(f, web_two, 1);
	struct lb4_service svc;
	struct lb4_revnat revnat;
	struct lb4_backend b;
	struct lb4_vip vip;
	uint32_t vip_key = ip(VIP);
	int err;

	assert_int_equal(c.added, 1);
	assert_int_equal(c.backends_added, 2);
	svc = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	assert_int_equal(err, 0);
	assert_int_not_equal(svc.svc_id, 0);
	assert_int_equal(svc.count, 2);
	assert_int_equal(svc.gen, 0);
	assert_int_equal(svc.flags, LB_SVC_F_CLUSTER_IP);
	b = slot_backend(f, &svc, 0);
	assert_int_equal(b.address, ip("10.244.1.3"));
	assert_int_equal(b.port, htons(8080));
	assert_int_equal(b.proto, IPPROTO_TCP);
	b = slot_backend(f, &svc, 1);
	assert_int_equal(b.address, ip("10.244.1.4"));
	assert_false(slot_exists(f, svc.svc_id, 0, 2));
	assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_revnat, &svc.svc_id, &revnat), 0);
	assert_int_equal(revnat.address, ip(VIP));
	assert_int_equal(revnat.port, htons(80));
	assert_int_equal(revnat.proto, IPPROTO_TCP);
	assert_string_equal(revnat.name, "default/web:http");
	assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_vips, &vip_key, &vip), 0);
	assert_int_equal(vip.frontends, 1);
	assert_int_equal(map_fixture_count(f->maps.lb4_slots, sizeof(struct lb4_slot_key)), 2);
	assert_int_equal(map_fixture_count(f->maps.lb4_backends, sizeof(uint32_t)), 2);
}

static void test_change_flips_generation(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct lb4_service before, after;
	struct sync_counts c;
	int err;

	apply(f, web_two, 1);
	before = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	c = apply(f, web_changed, 1);
	assert_int_equal(c.changed, 1);
	assert_int_equal(c.backends_added, 2);	 /* .5 and .6 */
	assert_int_equal(c.backends_removed, 1); /* .4 */
	after = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	assert_int_equal(err, 0);
	assert_int_equal(after.svc_id, before.svc_id);
	assert_int_equal(after.gen, before.gen ^ 1);
	assert_int_equal(after.count, 3);
	/* Sorted by address: .3, .5, .6. */
	assert_int_equal(slot_backend(f, &after, 0).address, ip("10.244.1.3"));
	assert_int_equal(slot_backend(f, &after, 1).address, ip("10.244.1.5"));
	assert_int_equal(slot_backend(f, &after, 2).address, ip("10.244.1.6"));
	/* No slot of the old generation is left behind. */
	for (uint16_t i = 0; i < 4; i++)
		assert_false(slot_exists(f, after.svc_id, before.gen, i));
	assert_int_equal(map_fixture_count(f->maps.lb4_slots, sizeof(struct lb4_slot_key)), 3);
	assert_int_equal(map_fixture_count(f->maps.lb4_backends, sizeof(uint32_t)), 3);

	/* And back: the generation flips again and .5/.6 go. */
	c = apply(f, web_two, 1);
	assert_int_equal(c.changed, 1);
	assert_int_equal(lookup_svc(f, VIP, 80, IPPROTO_TCP, &err).gen, before.gen);
	assert_int_equal(map_fixture_count(f->maps.lb4_slots, sizeof(struct lb4_slot_key)), 2);
	assert_int_equal(map_fixture_count(f->maps.lb4_backends, sizeof(uint32_t)), 2);
}

/*
 * A packet that read the frontend just before a flip still finds the old generation's slots and
 * backends: they stay for the grace period and go at the first sync or sync_retire() after it.
 */
static void test_retired_generation_stays_for_grace(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct lb4_service before, after;
	struct sync_counts c;
	int err;

	sync_set_retire_grace(f->sync, 200000000ull); /* 200 ms */
	apply(f, web_two, 1);
	before = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	c = apply(f, web_changed, 1);
	after = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	assert_int_equal(after.gen, before.gen ^ 1);
	assert_int_equal(c.backends_removed, 0);
	for (uint16_t i = 0; i < before.count; i++)
		assert_true(slot_exists(f, before.svc_id, before.gen, i));
	assert_int_equal(slot_backend(f, &before, 1).address, ip("10.244.1.4"));

	/* Within the grace period nothing goes; after it, sync_retire() cleans up. */
	assert_int_equal(sync_retire(f->sync, &c), 0);
	assert_true(slot_exists(f, before.svc_id, before.gen, 0));
	usleep(250000);
	assert_int_equal(sync_retire(f->sync, &c), 0);
	assert_int_equal(c.backends_removed, 1); /* .4 */
	for (uint16_t i = 0; i < before.count; i++)
		assert_false(slot_exists(f, before.svc_id, before.gen, i));
	assert_int_equal(map_fixture_count(f->maps.lb4_slots, sizeof(struct lb4_slot_key)), 3);
	assert_int_equal(map_fixture_count(f->maps.lb4_backends, sizeof(uint32_t)), 3);
}

static bool range_admitted(struct map_fixture *f, uint32_t svc_id, const char *client)
{
	struct lb4_src_range_key key = {.prefix_len = 64, .svc_id = htonl(svc_id)};
	uint8_t value;

	key.address = ip(client);
	return bpf_map_lookup_elem(f->maps.lb4_src_ranges, &key, &value) == 0;
}

/* loadBalancerSourceRanges follow the frontend, survive an agent restart, and go with it. */
static void test_source_ranges_follow_frontend(void **state)
{
	static const char *const two[] = {"10.0.1.0/24", "192.168.7.9/32"};
	static const char *const one[] = {"192.168.7.9/32"};
	struct map_fixture *f = map_fixture_or_skip(state);
	struct sync_ctx *second = NULL;
	struct lb4_service svc;
	struct sync_counts c;
	int err;

	apply_options(f, web_two, 1, two, 2, 0);
	svc = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	assert_int_equal(err, 0);
	assert_true(svc.flags & LB_SVC_F_SOURCE_RANGES);
	assert_int_equal(
	    map_fixture_count(f->maps.lb4_src_ranges, sizeof(struct lb4_src_range_key)), 2);
	assert_true(range_admitted(f, svc.svc_id, "10.0.1.77"));
	assert_true(range_admitted(f, svc.svc_id, "192.168.7.9"));
	assert_false(range_admitted(f, svc.svc_id, "10.0.2.1"));
	assert_false(range_admitted(f, svc.svc_id + 1, "10.0.1.77")); /* other services */

	/* A restarted agent reads the ranges back and so still drops the one that goes. */
	assert_int_equal(sync_open(&f->maps, &second), 0);
	sync_set_retire_grace(second, 0);
	sync_close(f->sync);
	f->sync = second;
	c = apply_options(f, web_two, 1, two, 2, 0);
	assert_int_equal(c.unchanged, 1);
	assert_int_equal(c.map_writes, 0);
	c = apply_options(f, web_two, 1, one, 1, 0);
	assert_int_equal(c.changed, 1);
	assert_false(range_admitted(f, svc.svc_id, "10.0.1.77"));
	assert_true(range_admitted(f, svc.svc_id, "192.168.7.9"));

	/* No ranges: the flag goes, then the entries. */
	apply_options(f, web_two, 1, NULL, 0, 0);
	svc = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	assert_false(svc.flags & LB_SVC_F_SOURCE_RANGES);
	assert_int_equal(
	    map_fixture_count(f->maps.lb4_src_ranges, sizeof(struct lb4_src_range_key)), 0);
}

/* Clients stuck to a backend that leaves the service are forgotten; the others keep theirs. */
static void test_affinity_forgets_removed_backend(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct lb4_affinity_key to_kept = {.client = ip("10.244.9.1")},
				to_gone = {.client = ip("10.244.9.2")};
	struct lb4_affinity value = {0};
	struct lb4_service svc;
	uint32_t kept_id, gone_id;
	int err;

	apply_options(f, web_two, 1, NULL, 0, 10800); /* backends .3 and .4 */
	svc = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	assert_int_equal(err, 0);
	assert_true(svc.flags & LB_SVC_F_AFFINITY);
	assert_int_equal(svc.affinity_timeout_s, 10800);
	kept_id = slot_backend_id(f, &svc, 0); /* .3 stays in web_changed */
	gone_id = slot_backend_id(f, &svc, 1); /* .4 goes */
	to_kept.svc_id = to_gone.svc_id = svc.svc_id;
	value.backend_id = kept_id;
	assert_int_equal(bpf_map_update_elem(f->maps.lb4_affinity, &to_kept, &value, BPF_ANY), 0);
	value.backend_id = gone_id;
	assert_int_equal(bpf_map_update_elem(f->maps.lb4_affinity, &to_gone, &value, BPF_ANY), 0);

	apply_options(f, web_changed, 1, NULL, 0, 10800);
	assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_affinity, &to_kept, &value), 0);
	assert_int_equal(value.backend_id, kept_id);
	assert_int_not_equal(bpf_map_lookup_elem(f->maps.lb4_affinity, &to_gone, &value), 0);

	/* The service going takes every affinity entry of it. */
	apply(f, NULL, 0);
	assert_int_not_equal(bpf_map_lookup_elem(f->maps.lb4_affinity, &to_kept, &value), 0);
}

/* SCTP is programmed only with targetPort == port: the datapath cannot recompute its CRC32c. */
static void test_sctp_port_change_refused(void **state)
{
	static const struct test_frontend sctp_mapped[] = {
	    {VIP, 80, IPPROTO_SCTP, "default/sig:sctp", {"10.244.1.3:8080"}},
	};
	static const struct test_frontend sctp_same[] = {
	    {VIP, 80, IPPROTO_SCTP, "default/sig:sctp", {"10.244.1.3:80"}},
	};
	struct map_fixture *f = map_fixture_or_skip(state);
	struct desired_state desired;
	struct sync_counts c;
	int err;

	build_state(&desired, sctp_mapped, 1);
	assert_int_equal(sync_apply(f->sync, &desired, &c), -EPROTONOSUPPORT);
	desired_state_free(&desired);
	assert_int_equal(c.failed, 1);
	lookup_svc(f, VIP, 80, IPPROTO_SCTP, &err);
	assert_int_equal(err, -ENOENT);

	c = apply(f, sctp_same, 1);
	assert_int_equal(c.added, 1);
	lookup_svc(f, VIP, 80, IPPROTO_SCTP, &err);
	assert_int_equal(err, 0);
}

static void test_remove_deletes_everything(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct sync_counts c;

	apply(f, web_two, 1);
	c = apply(f, NULL, 0);
	assert_int_equal(c.removed, 1);
	assert_int_equal(c.backends_removed, 2);
	assert_int_equal(map_fixture_count(f->maps.lb4_svc, sizeof(struct lb4_key)), 0);
	assert_int_equal(map_fixture_count(f->maps.lb4_slots, sizeof(struct lb4_slot_key)), 0);
	assert_int_equal(map_fixture_count(f->maps.lb4_backends, sizeof(uint32_t)), 0);
	assert_int_equal(map_fixture_count(f->maps.lb4_revnat, sizeof(uint32_t)), 0);
	assert_int_equal(map_fixture_count(f->maps.lb4_vips, sizeof(uint32_t)), 0);
	assert_int_equal(sync_service_count(f->sync), 0);
	assert_int_equal(sync_backend_count(f->sync), 0);
}

static const struct test_frontend mixed[] = {
    {VIP, 53, IPPROTO_UDP, "kube-system/dns:dns", {"10.244.1.7:5353", "10.244.1.8:5353"}},
    {VIP, 80, IPPROTO_TCP, "default/web:http", {"10.244.1.3:8080", "10.244.1.4:8080"}},
    {"10.96.0.11", 443, IPPROTO_TCP, "default/api:https", {"10.244.1.3:8443"}},
    {"10.96.0.12", 80, IPPROTO_TCP, "default/empty:http", {NULL}},
};

static void test_unchanged_sync_writes_nothing(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct sync_counts c;
	int err;

	c = apply(f, mixed, 4);
	assert_int_equal(c.added, 4);
	assert_true(c.map_writes > 0);
	/* A frontend without endpoints is live with count 0: the datapath rejects. */
	assert_int_equal(lookup_svc(f, "10.96.0.12", 80, IPPROTO_TCP, &err).count, 0);
	assert_int_equal(err, 0);
	c = apply(f, mixed, 4);
	assert_int_equal(c.unchanged, 4);
	assert_int_equal(c.added + c.changed + c.removed + c.failed, 0);
	assert_int_equal(c.map_writes, 0);

	/* Only the one frontend that changes is written. */
	struct test_frontend one_changed[4];

	memcpy(one_changed, mixed, sizeof(one_changed));
	one_changed[2].backends[0] = "10.244.1.9:8443";
	c = apply(f, one_changed, 4);
	assert_int_equal(c.changed, 1);
	assert_int_equal(c.unchanged, 3);
	/* backend + slot + svc flip + old slot + old backend */
	assert_int_equal(c.map_writes, 5);
}

static void test_adoption_sees_same_state(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct sync_ctx *second = NULL;
	struct desired_state desired;
	struct sync_counts c;
	struct lb4_service before, after;
	int err;

	apply(f, mixed, 4);
	apply(f, web_changed, 1); /* leaves web at gen 1 */
	apply(f, mixed, 4);	  /* and back to gen 0, others re-added */
	before = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);

	assert_int_equal(sync_open(&f->maps, &second), 0);
	sync_set_retire_grace(second, 0);
	assert_int_equal(sync_adopt_writes(second), 0);
	assert_int_equal(sync_service_count(second), sync_service_count(f->sync));
	assert_int_equal(sync_backend_count(second), sync_backend_count(f->sync));
	build_state(&desired, mixed, 4);
	assert_int_equal(sync_apply(second, &desired, &c), 0);
	desired_state_free(&desired);
	assert_int_equal(c.unchanged, 4);
	assert_int_equal(c.map_writes, 0);

	/* The adopted context flips from the adopted generation and reuses no live id. */
	build_state(&desired, web_changed, 1);
	assert_int_equal(sync_apply(second, &desired, &c), 0);
	desired_state_free(&desired);
	assert_int_equal(c.changed, 1);
	assert_int_equal(c.removed, 3);
	after = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	assert_int_equal(after.svc_id, before.svc_id);
	assert_int_equal(after.gen, before.gen ^ 1);
	assert_int_equal(map_fixture_count(f->maps.lb4_slots, sizeof(struct lb4_slot_key)), 3);
	assert_int_equal(map_fixture_count(f->maps.lb4_backends, sizeof(uint32_t)), 3);
	assert_int_equal(map_fixture_count(f->maps.lb4_revnat, sizeof(uint32_t)), 1);
	sync_close(second);
}

static void test_adoption_removes_half_written_state(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct sync_ctx *second = NULL;
	struct lb4_service svc;
	struct lb4_slot_key slot;
	struct lb4_backend backend = {.address = 0x01020304, .port = htons(1), .proto = 6};
	uint32_t stray_id = 999, orphan_svc = 777, id;
	struct lb4_revnat revnat;
	int err;

	apply(f, web_two, 1);
	svc = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	/* What an agent killed mid-update leaves: a next generation never flipped to, a backend
	 * nothing uses, the rev-NAT of a frontend already deleted. */
	memset(&slot, 0, sizeof(slot));
	slot.svc_id = svc.svc_id;
	slot.gen = svc.gen ^ 1;
	slot.index = 0;
	assert_int_equal(bpf_map_update_elem(f->maps.lb4_backends, &stray_id, &backend, 0), 0);
	assert_int_equal(bpf_map_update_elem(f->maps.lb4_slots, &slot, &stray_id, 0), 0);
	memset(&revnat, 0, sizeof(revnat));
	assert_int_equal(bpf_map_update_elem(f->maps.lb4_revnat, &orphan_svc, &revnat, 0), 0);

	assert_int_equal(sync_open(&f->maps, &second), 0);
	sync_set_retire_grace(second, 0);
	assert_int_equal(sync_adopt_writes(second), 3);
	assert_int_not_equal(bpf_map_lookup_elem(f->maps.lb4_slots, &slot, &id), 0);
	assert_int_not_equal(bpf_map_lookup_elem(f->maps.lb4_backends, &stray_id, &backend), 0);
	assert_int_not_equal(bpf_map_lookup_elem(f->maps.lb4_revnat, &orphan_svc, &revnat), 0);
	assert_int_equal(sync_service_count(second), 1);
	assert_int_equal(sync_backend_count(second), 2);
	sync_close(second);
}

static void put_ct(struct map_fixture *f, uint8_t proto, const char *src, uint16_t sport,
		   uint32_t backend_id, uint64_t expires_ns)
{
	struct ct4_key key;
	struct ct_entry entry;

	memset(&key, 0, sizeof(key));
	memset(&entry, 0, sizeof(entry));
	key.saddr = ip(src);
	key.daddr = ip(VIP);
	key.sport = htons(sport);
	key.dport = htons(proto == IPPROTO_UDP ? 53 : 80);
	key.proto = proto;
	entry.backend_id = backend_id;
	entry.expires_ns = expires_ns;
	entry.svc_id = 1;
	assert_int_equal(bpf_map_update_elem(f->maps.ct4, &key, &entry, 0), 0);
}

static int has_ct(struct map_fixture *f, uint8_t proto, const char *src, uint16_t sport)
{
	struct ct4_key key;
	struct ct_entry entry;

	memset(&key, 0, sizeof(key));
	key.saddr = ip(src);
	key.daddr = ip(VIP);
	key.sport = htons(sport);
	key.dport = htons(proto == IPPROTO_UDP ? 53 : 80);
	key.proto = proto;
	return bpf_map_lookup_elem(f->maps.ct4, &key, &entry) == 0;
}

static uint32_t backend_id_of(struct map_fixture *f, const char *vip, uint16_t port, uint8_t proto,
			      uint16_t index)
{
	struct lb4_slot_key key;
	struct lb4_service svc;
	uint32_t id = 0;
	int err;

	svc = lookup_svc(f, vip, port, proto, &err);
	assert_int_equal(err, 0);
	memset(&key, 0, sizeof(key));
	key.svc_id = svc.svc_id;
	key.gen = svc.gen;
	key.index = index;
	assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_slots, &key, &id), 0);
	return id;
}

static void test_udp_conntrack_flushed_tcp_kept(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	static const struct test_frontend both[] = {
	    {VIP, 53, IPPROTO_UDP, "kube-system/dns:dns", {"10.244.1.7:53", "10.244.1.8:53"}},
	    {VIP, 80, IPPROTO_TCP, "default/web:http", {"10.244.1.7:80", "10.244.1.8:80"}},
	};
	static const struct test_frontend without_7[] = {
	    {VIP, 53, IPPROTO_UDP, "kube-system/dns:dns", {"10.244.1.8:53"}},
	    {VIP, 80, IPPROTO_TCP, "default/web:http", {"10.244.1.8:80"}},
	};
	uint64_t later = UINT64_MAX / 2;
	struct sync_counts c;

	apply(f, both, 2);
	uint32_t udp7 = backend_id_of(f, VIP, 53, IPPROTO_UDP, 0);
	uint32_t udp8 = backend_id_of(f, VIP, 53, IPPROTO_UDP, 1);
	uint32_t tcp7 = backend_id_of(f, VIP, 80, IPPROTO_TCP, 0);

	put_ct(f, IPPROTO_UDP, "10.244.2.1", 40000, udp7, later); /* to the removed backend */
	put_ct(f, IPPROTO_UDP, "10.244.2.1", 40001, udp8, later); /* to a kept one */
	put_ct(f, IPPROTO_TCP, "10.244.2.1", 40002, tcp7, later); /* TCP to the removed one */
	c = apply(f, without_7, 2);
	assert_int_equal(c.changed, 2);
	assert_int_equal(c.backends_removed, 2);
	assert_int_equal(c.ct_flushed, 1);
	assert_false(has_ct(f, IPPROTO_UDP, "10.244.2.1", 40000));
	assert_true(has_ct(f, IPPROTO_UDP, "10.244.2.1", 40001));
	assert_true(has_ct(f, IPPROTO_TCP, "10.244.2.1", 40002));
}

static void test_ct_expire_deletes_only_expired(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (uint16_t i = 0; i < 100; i++)
		put_ct(f, IPPROTO_TCP, "10.244.2.1", (uint16_t)(1000 + i), 1,
		       i % 2 ? now - 1000000000ull : now + 60000000000ull);
	assert_int_equal(sync_ct_expire(f->maps.ct4, now, NULL), 50);
	assert_int_equal(map_fixture_count(f->maps.ct4, sizeof(struct ct4_key)), 50);
	assert_true(has_ct(f, IPPROTO_TCP, "10.244.2.1", 1000));
	assert_false(has_ct(f, IPPROTO_TCP, "10.244.2.1", 1001));
}

/* More entries than one batch of the sweep holds: every expired one goes, no live one does. */
static void test_ct_expire_many_batches(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct timespec ts;
	uint64_t now;
	char client[32];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (unsigned int i = 0; i < 10000; i++) {
		snprintf(client, sizeof(client), "10.244.%u.%u", 2 + i / 250, 1 + i % 250);
		put_ct(f, IPPROTO_TCP, client, 40000, 1,
		       i % 3 ? now - 1000000000ull : now + 60000000000ull);
	}
	assert_int_equal(map_fixture_count(f->maps.ct4, sizeof(struct ct4_key)), 10000);
	assert_int_equal(sync_ct_expire(f->maps.ct4, now, NULL), 6666);
	assert_int_equal(map_fixture_count(f->maps.ct4, sizeof(struct ct4_key)), 3334);
	assert_true(has_ct(f, IPPROTO_TCP, "10.244.2.1", 40000));
	assert_false(has_ct(f, IPPROTO_TCP, "10.244.2.2", 40000));
	assert_int_equal(sync_ct_expire(f->maps.ct4, now, NULL), 0);
}

/*
 * The datapath's clock lags CLOCK_MONOTONIC by up to a tick: an entry that expired a moment ago
 * by the agent's clock may still be live for a packet, and stays until CT_GC_MARGIN_NS passed.
 */
static void test_ct_expire_spares_just_expired(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	put_ct(f, IPPROTO_TCP, "10.244.2.1", 1000, 1, now - CLOCK_TICK_NS); /* a tick ago */
	put_ct(f, IPPROTO_TCP, "10.244.2.1", 1001, 1, now - CT_GC_MARGIN_NS - 1);
	assert_int_equal(sync_ct_expire(f->maps.ct4, now, NULL), 1);
	assert_true(has_ct(f, IPPROTO_TCP, "10.244.2.1", 1000));
	assert_false(has_ct(f, IPPROTO_TCP, "10.244.2.1", 1001));
}

struct recreate {
	struct map_fixture *f;
	uint64_t now;
	int calls;
};

/*
 * Answers from the entry it is handed (expired: stale) but, the first time, writes a live entry
 * on the same key first: what the datapath does when a new flow takes the tuple between the
 * sweep's read and its delete.
 */
static bool recreate_then_judge(const struct ct4_key *key, const struct ct_entry *entry,
				const void *arg)
{
	struct recreate *r = (struct recreate *)arg;
	struct ct_entry live = *entry;

	if (r->calls++ == 0) {
		live.expires_ns = r->now + 60000000000ull;
		live.backend_id = 2;
		assert_int_equal(bpf_map_update_elem(r->f->maps.ct4, key, &live, BPF_EXIST), 0);
	}
	return entry->expires_ns < r->now;
}

/* A sweep never deletes the entry of a new flow written on the tuple after it read the old. */
static void test_ct_sweep_spares_recreated_entry(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct recreate r = {.f = f};
	struct timespec ts;
	struct ct4_key key;
	struct ct_entry entry;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	r.now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	put_ct(f, IPPROTO_TCP, "10.244.2.1", 1000, 1, r.now - 10000000000ull);
	assert_int_equal(sync_ct_sweep(f->maps.ct4, recreate_then_judge, &r), 0);
	memset(&key, 0, sizeof(key));
	key.saddr = ip("10.244.2.1");
	key.daddr = ip(VIP);
	key.sport = htons(1000);
	key.dport = htons(80);
	key.proto = IPPROTO_TCP;
	assert_int_equal(bpf_map_lookup_elem(f->maps.ct4, &key, &entry), 0);
	assert_int_equal(entry.backend_id, 2); /* the new flow's entry, intact */
	assert_true(entry.expires_ns > r.now);
	/* Once really stale it goes. */
	entry.expires_ns = r.now - 10000000000ull;
	assert_int_equal(bpf_map_update_elem(f->maps.ct4, &key, &entry, BPF_EXIST), 0);
	assert_int_equal(sync_ct_sweep(f->maps.ct4, recreate_then_judge, &r), 1);
	assert_false(has_ct(f, IPPROTO_TCP, "10.244.2.1", 1000));
}

static void test_invalid_frontend_keeps_old_state(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct desired_state desired;
	struct sync_counts c;
	struct lb4_service before, after;
	int err;

	apply(f, web_two, 1);
	before = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	/* More backends than a frontend may have: refused, the old set stays live. */
	build_state(&desired, web_two, 1);
	free(desired.frontends[0].backends);
	desired.frontends[0].n_backends = LB_MAX_BACKENDS_PER_SVC + 1;
	desired.frontends[0].backends =
	    calloc(desired.frontends[0].n_backends, sizeof(struct lb_backend_addr));
	assert_non_null(desired.frontends[0].backends);
	assert_int_equal(sync_apply(f->sync, &desired, &c), -E2BIG);
	desired_state_free(&desired);
	assert_int_equal(c.failed, 1);
	assert_int_equal(c.removed, 0);
	assert_int_equal(c.map_writes, 0);
	after = lookup_svc(f, VIP, 80, IPPROTO_TCP, &err);
	assert_memory_equal(&before, &after, sizeof(before));
}

/* A NodePort frontend (external scope, Cluster policy) on the node addresses ADDRS. */
static struct sync_counts apply_node_port(struct map_fixture *f, const char *const *addrs, size_t n)
{
	static const struct test_frontend node_port[] = {
	    {"0.0.0.0", 30080, IPPROTO_TCP, "default/web:http", {"10.0.1.10:8080"}},
	};
	struct desired_state desired;
	struct sync_counts counts;

	build_state(&desired, node_port, 1);
	desired.frontends[0].scope = LB_SCOPE_EXTERNAL;
	desired.frontends[0].kind = LB_KIND_NODE_PORT;
	desired.frontends[0].flags = LB_FE_F_SNAT;
	desired.node_addresses = calloc(n ? n : 1, sizeof(uint32_t));
	assert_non_null(desired.node_addresses);
	for (size_t i = 0; i < n; i++)
		desired.node_addresses[i] = ip(addrs[i]);
	desired.n_node_addresses = n;
	assert_int_equal(sync_apply(f->sync, &desired, &counts), 0);
	desired_state_free(&desired);
	return counts;
}

static int node_entry(struct map_fixture *f, const char *address, struct node4_addr *value)
{
	uint32_t key = ip(address);

	return bpf_map_lookup_elem(f->maps.node4_addrs, &key, value);
}

static void test_node_addresses_follow_state(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	const char *two[] = {"192.168.77.1", "10.0.0.1"}, *one[] = {"10.0.0.1"};
	struct node4_addr value;
	struct lb4_key key;
	struct lb4_service svc;

	apply_node_port(f, two, 2);
	assert_int_equal(map_fixture_count(f->maps.node4_addrs, sizeof(uint32_t)), 3);
	assert_int_equal(node_entry(f, "192.168.77.1", &value), 0);
	assert_int_equal(value.flags, NODE4_F_ADDRESS);
	assert_int_equal(value.snat, ip("192.168.77.1"));
	assert_int_equal(node_entry(f, "10.0.0.1", &value), 0);
	assert_int_equal(node_entry(f, "0.0.0.0", &value), 0);
	assert_int_equal(value.flags, 0);		  /* not an address NodePorts answer on */
	assert_int_equal(value.snat, ip("192.168.77.1")); /* the first address masquerades */

	/* The NodePort frontend: address 0, external scope, NodePort + SNAT flags. */
	memset(&key, 0, sizeof(key));
	key.port = htons(30080);
	key.proto = IPPROTO_TCP;
	key.scope = LB4_SCOPE_EXTERNAL;
	assert_int_equal(bpf_map_lookup_elem(f->maps.lb4_svc, &key, &svc), 0);
	assert_int_equal(svc.flags, LB_SVC_F_NODE_PORT | LB_SVC_F_SNAT);
	key.scope = LB4_SCOPE_INTERNAL;
	assert_int_not_equal(bpf_map_lookup_elem(f->maps.lb4_svc, &key, &svc), 0);

	/* Nothing changed: nothing written. */
	assert_int_equal(apply_node_port(f, two, 2).map_writes, 0);

	/* An address leaves: its entry goes, the SNAT address moves to the first one left. */
	apply_node_port(f, one, 1);
	assert_int_equal(map_fixture_count(f->maps.node4_addrs, sizeof(uint32_t)), 2);
	assert_int_not_equal(node_entry(f, "192.168.77.1", &value), 0);
	assert_int_equal(node_entry(f, "0.0.0.0", &value), 0);
	assert_int_equal(value.snat, ip("10.0.0.1"));

	/* A restarted agent adopts the entries: the same state writes nothing. */
	sync_close(f->sync);
	assert_int_equal(sync_open(&f->maps, &f->sync), 0);
	sync_set_retire_grace(f->sync, 0);
	assert_int_equal(apply_node_port(f, one, 1).map_writes, 0);

	/* No addresses at all: the map empties. */
	apply_node_port(f, NULL, 0);
	assert_int_equal(map_fixture_count(f->maps.node4_addrs, sizeof(uint32_t)), 0);
}

/* A delta names what changed; the rest is neither compared nor written. */
static void test_delta_touches_only_named_frontends(void **state)
{
	struct map_fixture *f = map_fixture_or_skip(state);
	struct test_frontend one_changed[4];
	struct desired_state desired, full;
	const struct lb_frontend *upserts[1];
	struct sync_counts c;
	int err;

	c = apply(f, mixed, 4);
	assert_int_equal(c.added, 4);
	memcpy(one_changed, mixed, sizeof(one_changed));
	one_changed[2].backends[0] = "10.244.1.9:8443";
	build_state(&desired, one_changed, 4);
	upserts[0] = &desired.frontends[2];
	assert_int_equal(sync_apply_delta(f->sync, &desired, upserts, 1, NULL, 0, &c), 0);
	assert_int_equal(c.changed, 1);
	assert_int_equal(c.unchanged + c.added + c.removed + c.failed, 0);
	/* backend + slot + svc flip + old slot + old backend, as the full sync writes */
	assert_int_equal(c.map_writes, 5);
	/* The same frontend again is compared and left alone. */
	assert_int_equal(sync_apply_delta(f->sync, &desired, upserts, 1, NULL, 0, &c), 0);
	assert_int_equal(c.unchanged, 1);
	assert_int_equal(c.map_writes, 0);
	/* A removal by key; a key not programmed is ignored. */
	assert_int_equal(sync_apply_delta(f->sync, &desired, NULL, 0, &desired.frontends[3], 1, &c),
			 0);
	assert_int_equal(c.removed, 1);
	lookup_svc(f, "10.96.0.12", 80, IPPROTO_TCP, &err);
	assert_int_equal(err, -ENOENT);
	assert_int_equal(sync_apply_delta(f->sync, &desired, NULL, 0, &desired.frontends[3], 1, &c),
			 0);
	assert_int_equal(c.removed, 0);
	/* The full sync of the same state finds nothing left to do. */
	build_state(&full, one_changed, 3);
	assert_int_equal(sync_apply(f->sync, &full, &c), 0);
	assert_int_equal(c.unchanged, 3);
	assert_int_equal(c.map_writes, 0);
	desired_state_free(&full);
	desired_state_free(&desired);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_service_writes_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_change_flips_generation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retired_generation_stays_for_grace, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_source_ranges_follow_frontend, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_affinity_forgets_removed_backend, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sctp_port_change_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_deletes_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unchanged_sync_writes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_adoption_sees_same_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_adoption_removes_half_written_state, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_udp_conntrack_flushed_tcp_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ct_expire_deletes_only_expired, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ct_expire_spares_just_expired, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ct_sweep_spares_recreated_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ct_expire_many_batches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_frontend_keeps_old_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node_addresses_follow_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delta_touches_only_named_frontends, setup,
					    teardown),
	};

	return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
