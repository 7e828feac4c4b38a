// SPDX-License-Identifier: Apache-2.0
/* Node addressing as a pure function: this node's pod CIDR, the other nodes, their refusals. */
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
#include "loader/desired/nodes.h"
#include "loader/k8s/objects.h"
#include "loader/k8s/yaml_tree.h"

#define MAX_NODES 16

struct fixture {
	struct k8s_object *nodes[MAX_NODES];
	size_t n;
	struct desired_nodes_config config;
	struct desired_nodes previous, plan;
	bool has_previous;
};

static struct node_ipam_cidr cidr(const char *text)
{
	struct node_ipam_cidr out;

	assert_int_equal(node_ipam_cidr_parse(text, &out), 0);
	return out;
}

static const char *str(const struct node_ipam_cidr *c)
{
	static char buf[4][24];
	static int i;

	i = (i + 1) % 4;
	return c->is_set ? node_ipam_cidr_str(c, buf[i], sizeof(buf[i])) : "-";
}

static int setup(void **ctx)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_level = LOG_LEVEL_ERROR;
	f->config.node = "n1";
	f->config.cluster[0] = cidr("10.244.0.0/16");
	f->config.service[0] = cidr("10.96.0.0/12");
	*ctx = f;
	return 0;
}

static void clear_nodes(struct fixture *f)
{
	while (f->n)
		k8s_object_put(f->nodes[--f->n]);
}

static int teardown(void **ctx)
{
	struct fixture *f = *ctx;

	clear_nodes(f);
	desired_nodes_free(&f->previous);
	desired_nodes_free(&f->plan);
	free(f);
	return 0;
}

/* A Node NAME with InternalIP IP and spec.podCIDR POD (either may be NULL). */
static void add_node(struct fixture *f, const char *name, const char *ip, const char *pod)
{
	char text[512], message[YAML_TREE_ERROR_LEN];
	struct k8s_errors errors = {.is_quiet = true};
	struct yaml_tree tree;
	struct k8s_object *object;
	unsigned int line;

	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Node\nmetadata: {name: %s}\nspec: {%s%s}\n"
		 "status: {addresses: [%s%s%s]}\n",
		 name, pod ? "podCIDR: " : "", pod ? pod : "",
		 ip ? "{type: InternalIP, address: " : "", ip ? ip : "", ip ? "}" : "");
	assert_int_equal(
	    yaml_tree_parse(&tree, text, strlen(text), &line, message, sizeof(message)), 0);
	assert_int_equal(
	    k8s_object_decode(tree.documents[0], K8S_KIND_NODE, "test", &errors, &object), 0);
	yaml_tree_free(&tree);
	k8s_errors_free(&errors);
	assert_true(f->n < MAX_NODES);
	f->nodes[f->n++] = object;
}

/* Plan with the last plan in force (after the first). */
static void plan(struct fixture *f)
{
	if (f->has_previous || f->plan.block.is_set || f->plan.n_peers || f->plan.reason[0]) {
		desired_nodes_free(&f->previous);
		f->previous = f->plan;
		memset(&f->plan, 0, sizeof(f->plan));
		f->has_previous = true;
	}
	assert_int_equal(desired_nodes_plan(&f->config, (const struct k8s_object *const *)f->nodes,
					    f->n, f->has_previous ? &f->previous : NULL, &f->plan),
			 0);
}

static const struct desired_node_peer *peer(const struct fixture *f, const char *name)
{
	const struct desired_node_peer *p = desired_nodes_find(&f->plan, name);

	if (!p)
		fail_msg("node %s is not in the plan", name);
	return p;
}

static void test_self_from_node_object(void **ctx)
{
	struct fixture *f = *ctx;

	add_node(f, "n1", "198.51.100.1", "10.244.1.0/24");
	add_node(f, "n2", "198.51.100.2", "10.244.2.0/24");
	plan(f);
	assert_string_equal(str(&f->plan.block), "10.244.1.0/24");
	assert_int_equal(f->plan.block_source, NODE_IPAM_SOURCE_NODE);
	assert_int_equal(f->plan.node_ip, inet_addr("198.51.100.1"));
	assert_string_equal(f->plan.reason, "");
	assert_int_equal(f->plan.n_peers, 1);
	assert_int_equal(peer(f, "n2")->state, NODE_IPAM_PEER_READY);
	assert_int_equal(peer(f, "n2")->internal_ip, inet_addr("198.51.100.2"));

	/* --node-ip wins over the InternalIP as the node's address. */
	f->config.node_ip = inet_addr("192.0.2.1");
	plan(f);
	assert_int_equal(f->plan.node_ip, inet_addr("192.0.2.1"));
}

static void test_self_missing(void **ctx)
{
	struct fixture *f = *ctx;

	plan(f);
	assert_false(f->plan.block.is_set);
	assert_string_equal(f->plan.reason, "node n1: no pod CIDR: there is no Node object n1 and "
					    "the agent has no --pod-cidr");
	add_node(f, "n1", "198.51.100.1", NULL);
	plan(f);
	assert_false(f->plan.block.is_set);
	assert_string_equal(f->plan.reason, "node n1: no pod CIDR: Node n1 has no spec.podCIDR and "
					    "the agent has no --pod-cidr");
	/* Then kube-controller-manager allocates one: picked up. */
	clear_nodes(f);
	add_node(f, "n1", "198.51.100.1", "10.244.1.0/24");
	plan(f);
	assert_string_equal(str(&f->plan.block), "10.244.1.0/24");
	assert_string_equal(f->plan.reason, "");
}

static void test_self_flag(void **ctx)
{
	struct fixture *f = *ctx;

	f->config.pod_cidr = cidr("10.244.6.0/24");
	plan(f);
	assert_string_equal(str(&f->plan.block), "10.244.6.0/24");
	assert_int_equal(f->plan.block_source, NODE_IPAM_SOURCE_FLAG);

	/* A Node with another podCIDR after the flag's is in force: refused, the flag's kept. */
	add_node(f, "n1", "198.51.100.1", "10.244.60.0/24");
	plan(f);
	assert_string_equal(str(&f->plan.block), "10.244.6.0/24");
	assert_non_null(strstr(f->plan.reason, "Node n1: spec.podCIDR 10.244.60.0/24 refused: pod "
					       "CIDR 10.244.6.0/24 is in force"));

	/* Both known at the first plan and different: the Node's wins, with a warning. */
	desired_nodes_free(&f->plan);
	memset(&f->plan, 0, sizeof(f->plan));
	desired_nodes_free(&f->previous);
	f->has_previous = false;
	plan(f);
	assert_string_equal(str(&f->plan.block), "10.244.60.0/24");
	assert_int_equal(f->plan.block_source, NODE_IPAM_SOURCE_NODE);
	assert_string_equal(f->plan.reason,
			    "--pod-cidr 10.244.6.0/24 ignored: Node n1 has spec.podCIDR "
			    "10.244.60.0/24, which the cluster routes to this node");
}

/* The plan kept across a restart with another --pod-cidr (pods hold the old block). */
static void test_self_flag_changed(void **ctx)
{
	struct fixture *f = *ctx;

	f->config.pod_cidr = cidr("10.244.6.0/24");
	plan(f);
	f->config.pod_cidr = cidr("10.244.16.0/24");
	plan(f);
	assert_string_equal(str(&f->plan.block), "10.244.6.0/24");
	assert_int_equal(f->plan.block_source, NODE_IPAM_SOURCE_FLAG);
	assert_non_null(strstr(f->plan.reason, "--pod-cidr 10.244.16.0/24 refused: pod CIDR "
					       "10.244.6.0/24 is in force"));
}

static void test_self_change_refused(void **ctx)
{
	struct fixture *f = *ctx;

	add_node(f, "n1", "198.51.100.1", "10.244.1.0/24");
	plan(f);
	clear_nodes(f);
	add_node(f, "n1", "198.51.100.1", "10.244.9.0/24");
	plan(f);
	assert_string_equal(str(&f->plan.block), "10.244.1.0/24");
	assert_non_null(strstr(f->plan.reason, "spec.podCIDR 10.244.9.0/24 refused"));
	/* The Node gone: the pod CIDR stays too. */
	clear_nodes(f);
	plan(f);
	assert_string_equal(str(&f->plan.block), "10.244.1.0/24");
	assert_string_equal(f->plan.reason, "Node n1: Node object deleted; pod CIDR 10.244.1.0/24 "
					    "stays in force until the agent restarts");
	/* Back as it was: no warning. */
	add_node(f, "n1", "198.51.100.1", "10.244.1.0/24");
	plan(f);
	assert_string_equal(f->plan.reason, "");
}

static void test_self_plan_check(void **ctx)
{
	struct fixture *f = *ctx;

	add_node(f, "n1", NULL, "10.245.1.0/24");
	plan(f);
	assert_false(f->plan.block.is_set);
	assert_string_equal(f->plan.reason,
			    "node n1: pod CIDR 10.245.1.0/24 (from Node spec.podCIDR) refused: pod "
			    "CIDR 10.245.1.0/24 is not inside cluster CIDR 10.244.0.0/16");
	clear_nodes(f);
	add_node(f, "n1", NULL, "10.244.1.0/25");
	f->config.node_cidr_size = 24;
	plan(f);
	assert_false(f->plan.block.is_set);
	assert_non_null(
	    strstr(f->plan.reason, "prefix length /25 differs from --node-cidr-size 24"));
}

static void test_peers_overlap(void **ctx)
{
	struct fixture *f = *ctx;

	add_node(f, "n1", "198.51.100.1", "10.244.1.0/24");
	add_node(f, "n2", "198.51.100.2", "10.244.2.0/24");
	add_node(f, "n3", "198.51.100.3", "10.244.1.128/25"); /* overlaps this node */
	add_node(f, "n4", "198.51.100.4", "10.250.0.0/24");   /* outside the cluster CIDR */
	add_node(f, "n5", "198.51.100.5", "10.244.0.0/23");   /* overlaps n1 (self) and n2 */
	add_node(f, "n6", NULL, "10.244.6.0/24");
	add_node(f, "n7", "198.51.100.7", NULL);
	plan(f);
	assert_int_equal(f->plan.n_peers, 6);
	assert_int_equal(peer(f, "n2")->state, NODE_IPAM_PEER_READY);
	assert_int_equal(peer(f, "n3")->state, NODE_IPAM_PEER_REFUSED);
	assert_string_equal(peer(f, "n3")->reason,
			    "spec.podCIDR 10.244.1.128/25 overlaps this node "
			    "n1's pod CIDR 10.244.1.0/24");
	assert_int_equal(peer(f, "n4")->state, NODE_IPAM_PEER_REFUSED);
	assert_string_equal(peer(f, "n4")->reason, "spec.podCIDR: pod CIDR 10.250.0.0/24 is not "
						   "inside cluster CIDR 10.244.0.0/16");
	assert_int_equal(peer(f, "n5")->state, NODE_IPAM_PEER_REFUSED);
	assert_int_equal(peer(f, "n6")->state, NODE_IPAM_PEER_NO_ADDRESS);
	assert_int_equal(peer(f, "n7")->state, NODE_IPAM_PEER_NO_POD_CIDR);
}

/* Of two nodes that overlap, the one accepted first keeps its CIDR, whatever the names. */
static void test_peers_first_keeps(void **ctx)
{
	struct fixture *f = *ctx;

	add_node(f, "n1", "198.51.100.1", "10.244.1.0/24");
	add_node(f, "zz", "198.51.100.9", "10.244.9.0/24");
	plan(f);
	assert_int_equal(peer(f, "zz")->state, NODE_IPAM_PEER_READY);
	add_node(f, "aa", "198.51.100.8", "10.244.9.128/25");
	plan(f);
	assert_int_equal(peer(f, "zz")->state, NODE_IPAM_PEER_READY);
	assert_int_equal(peer(f, "aa")->state, NODE_IPAM_PEER_REFUSED);
	assert_string_equal(peer(f, "aa")->reason,
			    "spec.podCIDR 10.244.9.128/25 overlaps node zz's 10.244.9.0/24");
	/* Without a history (a restart), by name: aa first. */
	desired_nodes_free(&f->plan);
	memset(&f->plan, 0, sizeof(f->plan));
	desired_nodes_free(&f->previous);
	f->has_previous = false;
	plan(f);
	assert_int_equal(peer(f, "aa")->state, NODE_IPAM_PEER_READY);
	assert_int_equal(peer(f, "zz")->state, NODE_IPAM_PEER_REFUSED);
	/* The winner gone: the other is accepted at the next change. */
	k8s_object_put(f->nodes[2]);
	f->n = 2;
	plan(f);
	assert_int_equal(peer(f, "zz")->state, NODE_IPAM_PEER_READY);
	assert_null(desired_nodes_find(&f->plan, "aa"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_self_from_node_object, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_flag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_flag_changed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_change_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_plan_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peers_overlap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peers_first_keeps, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
