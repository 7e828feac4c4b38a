// SPDX-License-Identifier: Apache-2.0
/*
 * The incremental desired state (loader/desired/index.c) against the full build: random
 * sequences of object changes (manifest candidates added, moved and withdrawn, API versions set
 * and deleted), and after each step the index's state, and the maps' image its deltas produce,
 * must equal desired_build() over the same objects.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/log.h"
#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "loader/desired/index.h"
#include "loader/k8s/yaml_tree.h"

#define MAX_CANDIDATES 256
#define MAX_SHADOW     1024

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33) % n;
}

/* A manifest candidate as the test placed it. */
struct placed {
	struct k8s_object *object;
	uint32_t position;
};

/* The API's current version per key, by the test's own key numbering. */
struct api_slot {
	enum k8s_kind kind;
	char namespace[8];
	char name[8];
	struct k8s_object *object;
};

struct world {
	struct desired_build_config config;
	uint32_t node_ip;
	struct desired_index *index;
	struct placed placed[MAX_CANDIDATES];
	size_t n_placed;
	struct api_slot api[64];
	size_t n_api;
	uint32_t next_position;
	/* What loader/sync/sync.c would hold after applying every delta: frontends by key. */
	struct lb_frontend shadow[MAX_SHADOW];
	size_t n_shadow;
};

static const char *const namespaces[] = {"a", "b"};

static struct k8s_object *decode(const char *text, const char *source)
{
	char message[YAML_TREE_ERROR_LEN];
	struct k8s_errors errors = {.is_quiet = true};
	struct k8s_object *object = NULL;
	struct yaml_tree tree;
	enum k8s_kind kind;
	unsigned int line;
	int err;

	err = yaml_tree_parse(&tree, text, strlen(text), &line, message, sizeof(message));
	if (err)
		fail_msg("yaml line %u: %s\n%s", line, message, text);
	assert_int_equal(tree.n_documents, 1);
	assert_int_equal(k8s_object_kind(tree.documents[0], source, &errors, &kind), 0);
	err = k8s_object_decode(tree.documents[0], kind, source, &errors, &object);
	if (err) {
		/* The generator only writes valid objects: a refusal is a test bug. */
		fail_msg("decode: %s\n%s", errors.count ? errors.items[0] : "?", text);
	}
	yaml_tree_free(&tree);
	k8s_errors_free(&errors);
	return object;
}

/* A random object of a random kind and key, valid, drawn from small pools so they collide. */
static struct k8s_object *random_object(const char *source, enum k8s_kind *kind_out,
					const char **ns_out, char *name_out)
{
	char text[4096], extra[1024] = "", ports[512];
	const char *ns = namespaces[rnd(2)];
	uint32_t pick = rnd(100);
	int n = 0;

	if (pick < 35) {
		static const char *const types[] = {"ClusterIP", "NodePort", "LoadBalancer"};
		const char *type = types[rnd(3)];
		bool is_external = strcmp(type, "ClusterIP") != 0;
		bool is_local = is_external && rnd(2);

		*kind_out = K8S_KIND_SERVICE;
		snprintf(name_out, 8, "s%u", rnd(5));
		if (rnd(4))
			n += snprintf(extra + n, sizeof(extra) - (size_t)n,
				      "  selector: {app: x%u}\n", rnd(3));
		if (is_local)
			n += snprintf(extra + n, sizeof(extra) - (size_t)n,
				      "  externalTrafficPolicy: Local\n");
		if (is_local && !strcmp(type, "LoadBalancer"))
			n += snprintf(extra + n, sizeof(extra) - (size_t)n,
				      "  healthCheckNodePort: %u\n", 30100 + rnd(2));
		if (!rnd(4))
			n += snprintf(extra + n, sizeof(extra) - (size_t)n,
				      "  internalTrafficPolicy: Local\n");
		if (!rnd(3))
			n += snprintf(extra + n, sizeof(extra) - (size_t)n,
				      "  trafficDistribution: PreferClose\n");
		if (!rnd(4))
			n += snprintf(extra + n, sizeof(extra) - (size_t)n,
				      "  sessionAffinity: ClientIP\n");
		if (!rnd(4))
			n += snprintf(extra + n, sizeof(extra) - (size_t)n,
				      "  externalIPs: [\"192.0.2.%u\"]\n", 1 + rnd(2));
		if (!strcmp(type, "LoadBalancer") && rnd(2))
			n += snprintf(extra + n, sizeof(extra) - (size_t)n,
				      "  loadBalancerSourceRanges: [\"10.%u.0.0/16\"]\n", rnd(3));
		snprintf(ports, sizeof(ports),
			 "  - {name: http, protocol: TCP, port: %u, targetPort: %s%s}\n%s",
			 80 + rnd(2), rnd(2) ? "8080" : "web",
			 !is_external  ? ""
			 : rnd(5) == 0 ? ", nodePort: 40000" /* out of range: refused */
			 : rnd(2) == 0 ? ", nodePort: 30001"
				       : ", nodePort: 30002",
			 rnd(3) ? ""
				: "  - {name: dns, protocol: UDP, port: 53, targetPort: 53}\n");
		snprintf(text, sizeof(text),
			 "apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\n"
			 "spec:\n  type: %s\n  clusterIP: 10.96.0.%u\n%s  ports:\n%s"
			 "status: {loadBalancer: {ingress: [{ip: 198.51.100.%u}]}}\n",
			 name_out, ns, type, 1 + rnd(4), extra, ports, 1 + rnd(2));
	} else if (pick < 65) {
		uint32_t i, count = rnd(4);

		*kind_out = K8S_KIND_ENDPOINT_SLICE;
		snprintf(name_out, 8, "e%u", rnd(6));
		for (i = 0; i < count; i++) {
			uint32_t ready = rnd(3) != 0, terminating = !ready && rnd(2);

			n += snprintf(extra + n, sizeof(extra) - (size_t)n,
				      "- addresses: [\"10.244.0.%u\"]\n"
				      "  conditions: {ready: %s, serving: %s, terminating: %s}\n"
				      "  nodeName: n%u\n  zone: z%u\n%s",
				      1 + rnd(6), ready ? "true" : "false",
				      ready || rnd(2) ? "true" : "false",
				      terminating ? "true" : "false", 1 + rnd(2), 1 + rnd(2),
				      rnd(2) ? "" : "  hints: {forZones: [{name: z1}]}\n");
		}
		snprintf(text, sizeof(text),
			 "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			 "metadata:\n  name: %s\n  namespace: %s\n"
			 "  labels: {kubernetes.io/service-name: s%u}\n"
			 "addressType: IPv4\nports: [{name: http, protocol: TCP, port: %u}]\n"
			 "endpoints:%s\n%s",
			 name_out, ns, rnd(5), 8080 + rnd(2), count ? "" : " []", extra);
	} else if (pick < 90) {
		*kind_out = K8S_KIND_POD;
		snprintf(name_out, 8, "p%u", rnd(6));
		snprintf(text, sizeof(text),
			 "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n"
			 "  labels: {app: x%u%s}\n%s"
			 "spec:\n  nodeName: n%u\n  containers:\n  - name: c\n"
			 "    ports: [{name: %s, containerPort: %u, protocol: TCP}]\n"
			 "status:\n  podIP: 10.244.1.%u\n"
			 "  conditions: [{type: Ready, status: \"%s\"}]\n",
			 name_out, ns, rnd(3), rnd(2) ? ", tier: t" : "",
			 rnd(6) ? "" : "  deletionTimestamp: \"2024-01-01T00:00:00Z\"\n",
			 1 + rnd(2), rnd(3) ? "web" : "other", 8080 + rnd(2), 1 + rnd(6),
			 rnd(4) ? "True" : "False");
	} else {
		*kind_out = K8S_KIND_NODE;
		ns = "";
		snprintf(name_out, 8, "n%u", 1 + rnd(2));
		snprintf(text, sizeof(text),
			 "apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n"
			 "  labels: {topology.kubernetes.io/zone: z%u}\n"
			 "status: {addresses: [{type: InternalIP, address: 192.168.0.%u}]}\n",
			 name_out, 1 + rnd(2), 1 + rnd(3));
	}
	*ns_out = ns;
	return decode(text, source);
}

/* ---- the maps' image, from deltas ------------------------------------------------------- */

static void shadow_apply(struct world *w, const struct desired_index_delta *delta)
{
	size_t i, j;

	for (i = 0; i < delta->n_removed; i++) {
		for (j = 0; j < w->n_shadow; j++) {
			if (!lb_frontend_cmp(&w->shadow[j], &delta->removed[i]))
				break;
		}
		assert_true(j < w->n_shadow); /* removed what it published */
		free(w->shadow[j].backends);
		free(w->shadow[j].source_ranges);
		w->shadow[j] = w->shadow[--w->n_shadow];
	}
	for (i = 0; i < delta->n_upserts; i++) {
		const struct lb_frontend *from = delta->upserts[i];
		struct lb_frontend *to;

		for (j = 0; j < w->n_shadow; j++) {
			if (!lb_frontend_cmp(&w->shadow[j], from))
				break;
		}
		if (j == w->n_shadow) {
			assert_true(w->n_shadow < MAX_SHADOW);
			w->n_shadow++;
		} else {
			free(w->shadow[j].backends);
			free(w->shadow[j].source_ranges);
		}
		to = &w->shadow[j];
		*to = *from;
		to->backends = NULL;
		to->source_ranges = NULL;
		if (from->n_backends) {
			to->backends = malloc(from->n_backends * sizeof(*to->backends));
			assert_non_null(to->backends);
			memcpy(to->backends, from->backends,
			       from->n_backends * sizeof(*to->backends));
		}
		if (from->n_source_ranges) {
			to->source_ranges =
			    malloc(from->n_source_ranges * sizeof(*to->source_ranges));
			assert_non_null(to->source_ranges);
			memcpy(to->source_ranges, from->source_ranges,
			       from->n_source_ranges * sizeof(*to->source_ranges));
		}
	}
}

static int shadow_cmp(const void *a, const void *b)
{
	return lb_frontend_cmp(a, b);
}

/* ---- comparison ------------------------------------------------------------------------ */

static void assert_frontend_equal(const struct lb_frontend *a, const struct lb_frontend *b,
				  const char *what, unsigned int step)
{
	size_t i;

	if (lb_frontend_cmp(a, b) || a->kind != b->kind || a->flags != b->flags ||
	    a->affinity_timeout_s != b->affinity_timeout_s || strcmp(a->name, b->name) ||
	    a->n_backends != b->n_backends || a->n_source_ranges != b->n_source_ranges)
		fail_msg("step %u (%s): frontend %s vs %s: key, kind %u/%u, flags %u/%u, "
			 "backends %zu/%zu",
			 step, what, a->name, b->name, a->kind, b->kind, a->flags, b->flags,
			 a->n_backends, b->n_backends);
	for (i = 0; i < a->n_backends; i++) {
		if (a->backends[i].address != b->backends[i].address ||
		    a->backends[i].port != b->backends[i].port ||
		    a->backends[i].flags != b->backends[i].flags)
			fail_msg("step %u (%s): %s: backend %zu differs", step, what, a->name, i);
	}
	for (i = 0; i < a->n_source_ranges; i++) {
		if (a->source_ranges[i].address != b->source_ranges[i].address ||
		    a->source_ranges[i].prefix_len != b->source_ranges[i].prefix_len)
			fail_msg("step %u (%s): %s: source range %zu differs", step, what, a->name,
				 i);
	}
}

static int placed_cmp(const void *a, const void *b)
{
	const struct placed *x = a, *y = b;
	int c = strcmp(x->object->source, y->object->source);

	return c ? c : (x->position > y->position) - (x->position < y->position);
}

/* The reference: every candidate in the build's order (manifests by file and position, API). */
static void check(struct world *w, unsigned int step)
{
	struct k8s_object *all[MAX_CANDIDATES + 64];
	struct placed sorted[MAX_CANDIDATES];
	struct k8s_errors errors = {.is_quiet = true};
	struct desired_state ref, got;
	const struct desired_index_delta *delta;
	size_t i, n = 0;

	assert_int_equal(desired_index_update(w->index, &errors, &delta), 0);
	shadow_apply(w, delta);
	memcpy(sorted, w->placed, w->n_placed * sizeof(*sorted));
	qsort(sorted, w->n_placed, sizeof(*sorted), placed_cmp);
	for (i = 0; i < w->n_placed; i++)
		all[n++] = sorted[i].object;
	for (i = 0; i < w->n_api; i++) {
		if (w->api[i].object)
			all[n++] = w->api[i].object;
	}
	assert_int_equal(desired_build(all, n, &w->config, &errors, &ref), 0);
	assert_int_equal(desired_index_desired(w->index, false, &got), 0);

	if (ref.n_frontends != got.n_frontends)
		fail_msg("step %u: %zu frontends, the full build has %zu", step, got.n_frontends,
			 ref.n_frontends);
	assert_int_equal(desired_index_frontend_count(w->index), ref.n_frontends);
	for (i = 0; i < ref.n_frontends; i++)
		assert_frontend_equal(&got.frontends[i], &ref.frontends[i], "state", step);
	if (w->n_shadow != ref.n_frontends)
		fail_msg("step %u: deltas leave %zu frontends, the full build has %zu", step,
			 w->n_shadow, ref.n_frontends);
	qsort(w->shadow, w->n_shadow, sizeof(*w->shadow), shadow_cmp);
	for (i = 0; i < ref.n_frontends; i++)
		assert_frontend_equal(&w->shadow[i], &ref.frontends[i], "deltas", step);
	assert_int_equal(got.n_health_checks, ref.n_health_checks);
	for (i = 0; i < ref.n_health_checks; i++) {
		assert_int_equal(got.health_checks[i].port, ref.health_checks[i].port);
		assert_string_equal(got.health_checks[i].name, ref.health_checks[i].name);
		assert_int_equal(got.health_checks[i].local_endpoints,
				 ref.health_checks[i].local_endpoints);
	}
	assert_int_equal(got.n_node_addresses, ref.n_node_addresses);
	for (i = 0; i < ref.n_node_addresses; i++)
		assert_int_equal(got.node_addresses[i], ref.node_addresses[i]);
	assert_int_equal(got.rejected_objects, ref.rejected_objects);
	desired_state_free(&ref);
	desired_state_free(&got);
	k8s_errors_free(&errors);
}

/* ---- steps ------------------------------------------------------------------------------ */

static void step_manifest_add(struct world *w)
{
	static const char *const files[] = {"f1.yaml", "f2.yaml", "f3.yaml"};
	enum k8s_kind kind;
	const char *ns;
	char name[8];
	struct k8s_object *o;

	if (w->n_placed == MAX_CANDIDATES)
		return;
	o = random_object(files[rnd(3)], &kind, &ns, name);
	w->placed[w->n_placed].object = o;
	w->placed[w->n_placed].position = w->next_position++;
	assert_int_equal(desired_index_add(w->index, o, w->placed[w->n_placed].position), 0);
	w->n_placed++;
}

static void step_manifest_remove(struct world *w)
{
	size_t i;

	if (!w->n_placed)
		return;
	i = rnd((uint32_t)w->n_placed);
	desired_index_remove(w->index, w->placed[i].object);
	k8s_object_put(w->placed[i].object);
	w->placed[i] = w->placed[--w->n_placed];
}

static void step_manifest_move(struct world *w)
{
	size_t i;

	if (!w->n_placed)
		return;
	i = rnd((uint32_t)w->n_placed);
	w->placed[i].position = w->next_position++;
	desired_index_move(w->index, w->placed[i].object, w->placed[i].position);
}

static void step_api(struct world *w)
{
	struct k8s_object *o = NULL, *old;
	enum k8s_kind kind;
	const char *ns;
	char name[8];
	size_t i;
	int err;

	if (w->n_api && rnd(3) == 0) {
		i = rnd((uint32_t)w->n_api); /* delete */
	} else {
		o = random_object("api", &kind, &ns, name);
		for (i = 0; i < w->n_api; i++) {
			if (w->api[i].kind == kind && !strcmp(w->api[i].namespace, ns) &&
			    !strcmp(w->api[i].name, name))
				break;
		}
		if (i == w->n_api) {
			assert_true(w->n_api < 64);
			w->api[i].kind = kind;
			snprintf(w->api[i].namespace, sizeof(w->api[i].namespace), "%s", ns);
			snprintf(w->api[i].name, sizeof(w->api[i].name), "%s", name);
			w->api[i].object = NULL;
			w->n_api++;
		}
	}
	/* The test keeps its own reference; the index gets one of its own. */
	if (o)
		k8s_object_get(o);
	old = desired_index_set_api(w->index, w->api[i].kind, w->api[i].namespace, w->api[i].name,
				    o, &err);
	assert_int_equal(err, 0);
	assert_ptr_equal(old, w->api[i].object);
	k8s_object_put(old);		  /* the index's */
	k8s_object_put(w->api[i].object); /* the test's */
	w->api[i].object = o;
}

static void release_api(void *ctx, struct k8s_object *object)
{
	(void)ctx;
	k8s_object_put(object);
}

static void run(uint64_t seed, bool is_pod_endpoints, unsigned int steps)
{
	struct world *w = calloc(1, sizeof(*w));
	unsigned int step;
	size_t i;

	assert_non_null(w);
	rng_state = seed;
	desired_build_config_init(&w->config, "n1");
	w->config.is_pod_endpoints = is_pod_endpoints;
	w->node_ip = htonl(0x0a000001);
	if (seed & 1) {
		w->config.node_ips = &w->node_ip;
		w->config.n_node_ips = 1;
	}
	w->index = desired_index_new(&w->config);
	assert_non_null(w->index);
	for (step = 0; step < steps; step++) {
		uint32_t what = rnd(10);
		unsigned int burst = 1 + rnd(3), k;

		/* A few changes between updates, as a debounced burst would bring. */
		for (k = 0; k < burst; k++) {
			if (what < 4 || w->n_placed < 4)
				step_manifest_add(w);
			else if (what < 6)
				step_manifest_remove(w);
			else if (what < 7)
				step_manifest_move(w);
			else
				step_api(w);
			what = rnd(10);
		}
		if (!rnd(50))
			desired_index_mark_all(w->index);
		check(w, step);
	}
	/* Withdraw everything: nothing may remain published. */
	while (w->n_placed)
		step_manifest_remove(w);
	for (i = 0; i < w->n_api; i++) {
		int err;
		struct k8s_object *old = desired_index_set_api(
		    w->index, w->api[i].kind, w->api[i].namespace, w->api[i].name, NULL, &err);

		k8s_object_put(old);
		k8s_object_put(w->api[i].object);
		w->api[i].object = NULL;
	}
	check(w, steps);
	assert_int_equal(desired_index_frontend_count(w->index), 0);
	desired_index_for_each_api(w->index, release_api, NULL);
	desired_index_free(w->index);
	for (i = 0; i < w->n_shadow; i++) {
		free(w->shadow[i].backends);
		free(w->shadow[i].source_ranges);
	}
	free(w);
}

static void test_random_slices(void **ctx)
{
	(void)ctx;
	for (uint64_t seed = 1; seed <= 6; seed++)
		run(seed, false, 300);
}

static void test_random_pods(void **ctx)
{
	(void)ctx;
	for (uint64_t seed = 101; seed <= 106; seed++)
		run(seed, true, 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_slices),
	    cmocka_unit_test(test_random_pods),
	};

	log_level = getenv("SLUICE_TEST_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR;
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
