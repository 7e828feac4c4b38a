// SPDX-License-Identifier: Apache-2.0
/*
 * The reference evaluator against the upstream Kubernetes e2e netpol suite's truth tables
 * (namespaces x, y, z x pods a, b, c, serving 80 and 81 over TCP, UDP and SCTP on ports named
 * serve-80-tcp ...), and NetworkPolicy validation messages.
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

#include "lib/ip_proto.h"
#include "lib/log.h"
#include "loader/k8s/netpol.h"
#include "loader/desired/netpol_compile.h"
#include "loader/desired/netpol_eval.h"
#include "loader/k8s/objects.h"
#include "loader/k8s/yaml_tree.h"

#define N_PODS 9

struct fixture {
	struct k8s_object *objects[64];
	size_t n_objects;
	struct k8s_errors errors;
	struct netpol_world world;
	bool expect[N_PODS][N_PODS];
	char pod_labels_extra[N_PODS][64]; /* extra "key: value" label line per pod */
};

static const char *const pod_names[N_PODS] = {"x/a", "x/b", "x/c", "y/a", "y/b",
					      "y/c", "z/a", "z/b", "z/c"};

static int setup(void **ctx)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_level = getenv("SLUICE_TEST_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR;
	f->errors.is_quiet = true;
	*ctx = f;
	return 0;
}

static void reset(struct fixture *f)
{
	size_t i;

	netpol_world_free(&f->world);
	for (i = 0; i < f->n_objects; i++)
		k8s_object_put(f->objects[i]);
	f->n_objects = 0;
	k8s_errors_free(&f->errors);
	f->errors.is_quiet = true;
}

static int teardown(void **ctx)
{
	struct fixture *f = *ctx;

	reset(f);
	free(f);
	return 0;
}

/* Decode every document of TEXT; returns how many were refused. */
static int add_yaml(struct fixture *f, const char *text)
{
	struct yaml_tree tree;
	char error[256];
	unsigned int line;
	size_t i;
	int refused = 0;

	yaml_tree_init(&tree);
	assert_int_equal(yaml_tree_parse(&tree, text, strlen(text), &line, error, sizeof(error)),
			 0);
	for (i = 0; i < tree.n_documents; i++) {
		struct k8s_object *object;
		enum k8s_kind kind;
		int err;

		if (k8s_object_kind(tree.documents[i], "test.yaml", &f->errors, &kind))
			continue;
		err = k8s_object_decode(tree.documents[i], kind, "test.yaml", &f->errors, &object);
		assert_int_not_equal(err, -ENOMEM);
		if (err) {
			k8s_object_put(object);
			refused++;
			continue;
		}
		assert_true(f->n_objects < 64);
		f->objects[f->n_objects++] = object;
	}
	yaml_tree_free(&tree);
	return refused;
}

/* Namespaces x, y, z and pods a, b, c in each (10.0.<ns>.<pod>), then POLICIES. */
static void build(struct fixture *f, const char *policies)
{
	char text[2048];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(text, sizeof(text),
			 "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %c\n  labels:\n"
			 "    ns: %c\n",
			 'x' + (int)i, 'x' + (int)i);
		assert_int_equal(add_yaml(f, text), 0);
	}
	for (i = 0; i < N_PODS; i++) {
		snprintf(text, sizeof(text),
			 "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %c\n  namespace: %c\n"
			 "  labels:\n    pod: %c\n    %s\nspec:\n  containers:\n  - name: c\n"
			 "    ports:\n"
			 "    - {name: serve-80-tcp, containerPort: 80, protocol: TCP}\n"
			 "    - {name: serve-81-tcp, containerPort: 81, protocol: TCP}\n"
			 "    - {name: serve-80-udp, containerPort: 80, protocol: UDP}\n"
			 "    - {name: serve-81-udp, containerPort: 81, protocol: UDP}\n"
			 "    - {name: serve-80-sctp, containerPort: 80, protocol: SCTP}\n"
			 "    - {name: serve-81-sctp, containerPort: 81, protocol: SCTP}\n"
			 "status:\n  podIP: 10.0.%zu.%zu\n",
			 pod_names[i][2], pod_names[i][0], pod_names[i][2],
			 f->pod_labels_extra[i][0] ? f->pod_labels_extra[i] : "app: test", i / 3,
			 i % 3 + 1);
		assert_int_equal(add_yaml(f, text), 0);
	}
	if (policies)
		assert_int_equal(add_yaml(f, policies), 0);
	assert_int_equal(netpol_world_build(f->objects, f->n_objects, &f->world), 0);
	assert_int_equal(f->world.n_pods, N_PODS);
	for (i = 0; i < N_PODS; i++)
		memset(f->expect[i], 1, sizeof(f->expect[i]));
}

/* Patterns: "x/a", "x/any", "any/a" or "*" (any: a star), matched against pod i. */
static bool pattern_match(const char *pattern, size_t i)
{
	if (!strcmp(pattern, "*"))
		return true;
	return (pattern[0] == '*' || pattern[0] == pod_names[i][0]) &&
	       (pattern[2] == '*' || pattern[2] == pod_names[i][2]);
}

static void expect(struct fixture *f, const char *from, const char *to, bool allowed)
{
	size_t s, d;

	for (s = 0; s < N_PODS; s++) {
		for (d = 0; d < N_PODS; d++) {
			if (pattern_match(from, s) && pattern_match(to, d))
				f->expect[s][d] = allowed;
		}
	}
}

/*
 * Compare the evaluator with the expectation (pod to itself excluded, as upstream does), and
 * what the datapath's compiled maps would decide with the evaluator.
 */
static void check(struct fixture *f, uint16_t port, uint8_t proto)
{
	struct policy_state *compiled;
	size_t s, d, wrong = 0;

	assert_int_equal(netpol_compile(f->objects, f->n_objects, &compiled), 0);
	for (s = 0; s < N_PODS; s++) {
		for (d = 0; d < N_PODS; d++) {
			bool got = netpol_eval_allowed(&f->world, s, d, port, proto);
			bool datapath = netpol_compiled_allows(compiled, f->world.pods[s].ip,
							       f->world.pods[d].ip, port, proto);

			if (datapath != got) {
				print_error("%s -> %s port %u/%u: compiled %s, evaluator %s\n",
					    pod_names[s], pod_names[d], port, proto,
					    datapath ? "allowed" : "denied",
					    got ? "allowed" : "denied");
				wrong++;
			}

			if (s == d) {
				if (!got)
					print_error("%s -> itself denied\n", pod_names[s]);
				wrong += !got;
				continue;
			}
			if (got != f->expect[s][d]) {
				print_error("%s -> %s port %u/%u: got %s, want %s\n", pod_names[s],
					    pod_names[d], port, proto, got ? "allowed" : "denied",
					    f->expect[s][d] ? "allowed" : "denied");
				wrong++;
			}
		}
	}
	policy_state_free(compiled);
	assert_int_equal(wrong, 0);
}

#define POLICY(ns, name)                                                                           \
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " name     \
	"\n  namespace: " ns "\nspec:\n"

static void test_no_policy(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, NULL);
	check(f, 80, IPPROTO_TCP);
	check(f, 81, IPPROTO_SCTP);
}

static void test_default_deny_ingress(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "deny-ingress") "  podSelector: {}\n  policyTypes: [Ingress]\n");
	expect(f, "*", "x/*", false);
	check(f, 80, IPPROTO_TCP);
	check(f, 81, IPPROTO_UDP);
}

static void test_default_deny_all(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "deny-all") "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n");
	expect(f, "*", "x/*", false);
	expect(f, "x/*", "*", false);
	check(f, 80, IPPROTO_TCP);
}

static void test_pod_selector_same_namespace(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "x-a-allows-x-b") "  podSelector: {matchLabels: {pod: a}}\n"
					       "  ingress:\n  - from:\n"
					       "    - podSelector: {matchLabels: {pod: b}}\n");
	expect(f, "*", "x/a", false);
	expect(f, "x/b", "x/a", true);
	check(f, 80, IPPROTO_TCP);
}

static void test_allow_target_over_deny(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "deny-all") "  podSelector: {}\n  policyTypes: [Ingress]\n" POLICY(
		     "x", "allow-all-to-a") "  podSelector: {matchLabels: {pod: a}}\n"
					    "  ingress:\n  - from:\n"
					    "    - {podSelector: {}, namespaceSelector: {}}\n");
	expect(f, "*", "x/b", false);
	expect(f, "*", "x/c", false);
	check(f, 80, IPPROTO_TCP);
}

static void test_namespace_selector(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x",
			"allow-from-y") "  podSelector: {matchLabels: {pod: a}}\n"
					"  ingress:\n  - from:\n    - namespaceSelector:\n"
					"        matchLabels: {kubernetes.io/metadata.name: y}\n");
	expect(f, "x/*", "x/a", false);
	expect(f, "z/*", "x/a", false);
	check(f, 80, IPPROTO_TCP);
}

static void test_match_expressions(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "expr") "  podSelector: {matchLabels: {pod: a}}\n"
				     "  ingress:\n  - from:\n    - podSelector:\n"
				     "        matchExpressions:\n"
				     "        - {key: pod, operator: In, values: [b]}\n");
	expect(f, "*", "x/a", false);
	expect(f, "x/b", "x/a", true);
	check(f, 80, IPPROTO_TCP);
}

static void test_pod_or_namespace(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "or") "  podSelector: {matchLabels: {pod: a}}\n"
				   "  ingress:\n  - from:\n    - namespaceSelector:\n"
				   "        matchExpressions:\n"
				   "        - {key: ns, operator: NotIn, values: [x]}\n"
				   "    - podSelector: {matchLabels: {pod: b}}\n");
	expect(f, "x/c", "x/a", false);
	check(f, 80, IPPROTO_TCP);
}

static void test_pod_and_namespace(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "and") "  podSelector: {matchLabels: {pod: a}}\n"
				    "  ingress:\n  - from:\n    - namespaceSelector:\n"
				    "        matchExpressions:\n"
				    "        - {key: ns, operator: NotIn, values: [x]}\n"
				    "      podSelector:\n"
				    "        matchExpressions:\n"
				    "        - {key: pod, operator: In, values: [b, c]}\n");
	expect(f, "*", "x/a", false);
	expect(f, "y/b", "x/a", true);
	expect(f, "y/c", "x/a", true);
	expect(f, "z/b", "x/a", true);
	expect(f, "z/c", "x/a", true);
	check(f, 80, IPPROTO_TCP);
}

static void test_exists_does_not_exist(void **ctx)
{
	struct fixture *f = *ctx;

	snprintf(f->pod_labels_extra[4], sizeof(f->pod_labels_extra[4]), "role: client");
	build(f, POLICY("x", "exists") "  podSelector: {matchLabels: {pod: a}}\n"
				       "  ingress:\n  - from:\n    - namespaceSelector: {}\n"
				       "      podSelector:\n        matchExpressions:\n"
				       "        - {key: role, operator: Exists}\n" POLICY(
					   "x",
					   "not-exists") "  podSelector: {matchLabels: {pod: b}}\n"
							 "  ingress:\n  - from:\n"
							 "    - podSelector:\n"
							 "        matchExpressions:\n"
							 "        - {key: app, operator: "
							 "DoesNotExist}\n");
	expect(f, "*", "x/a", false);
	expect(f, "y/b", "x/a", true);
	expect(f, "*", "x/b", false); /* every x pod has app except none */
	check(f, 80, IPPROTO_TCP);
}

static void test_named_port_ingress(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "named") "  podSelector: {matchLabels: {pod: a}}\n"
				      "  ingress:\n  - ports:\n    - port: serve-80-tcp\n");
	check(f, 80, IPPROTO_TCP);
	expect(f, "*", "x/a", false);
	check(f, 81, IPPROTO_TCP);
	check(f, 80, IPPROTO_UDP); /* the named port is TCP */
}

static void test_named_port_egress(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "named-egress") "  podSelector: {matchLabels: {pod: a}}\n"
					     "  policyTypes: [Egress]\n"
					     "  egress:\n  - ports:\n"
					     "    - {port: serve-80-udp, protocol: UDP}\n");
	check(f, 80, IPPROTO_UDP);
	expect(f, "x/a", "*", false);
	check(f, 81, IPPROTO_UDP);
	check(f, 80, IPPROTO_TCP);
}

static void test_port_and_stacked(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x",
			"p81") "  podSelector: {matchLabels: {pod: a}}\n"
			       "  ingress:\n  - from:\n    - namespaceSelector:\n"
			       "        matchLabels: {ns: y}\n    ports:\n    - port: 81\n" POLICY(
				   "x", "p80") "  podSelector: {matchLabels: {pod: a}}\n"
					       "  ingress:\n  - from:\n"
					       "    - namespaceSelector:\n"
					       "        matchLabels: {ns: z}\n"
					       "    ports:\n    - port: 80\n");
	expect(f, "*", "x/a", false);
	expect(f, "z/*", "x/a", true);
	check(f, 80, IPPROTO_TCP);
	expect(f, "z/*", "x/a", false);
	expect(f, "y/*", "x/a", true);
	check(f, 81, IPPROTO_TCP);
}

static void test_allow_all_precedence(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "deny") "  podSelector: {}\n  ingress: []\n" POLICY(
		     "x", "allow-all") "  podSelector: {}\n  ingress:\n  - {}\n");
	check(f, 80, IPPROTO_TCP);
	check(f, 81, IPPROTO_UDP);
}

static void test_ip_block_except(void **ctx)
{
	struct fixture *f = *ctx;

	/* x/a may only reach 10.0.0.0/16 except x/b (10.0.0.2). */
	build(f, POLICY("x", "cidr") "  podSelector: {matchLabels: {pod: a}}\n"
				     "  policyTypes: [Egress]\n"
				     "  egress:\n  - to:\n    - ipBlock:\n"
				     "        cidr: 10.0.0.0/16\n        except: [10.0.0.2/32]\n");
	expect(f, "x/a", "x/b", false);
	check(f, 80, IPPROTO_TCP);
	reset(f);
	build(f, POLICY("x", "cidr") "  podSelector: {matchLabels: {pod: a}}\n"
				     "  policyTypes: [Egress]\n"
				     "  egress:\n  - to:\n    - ipBlock:\n"
				     "        cidr: 10.0.1.0/24\n");
	expect(f, "x/a", "*", false);
	expect(f, "x/a", "y/*", true);
	check(f, 80, IPPROTO_TCP);
}

static void test_protocol_only(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "udp-only") "  podSelector: {matchLabels: {pod: a}}\n"
					 "  ingress:\n  - ports:\n    - protocol: UDP\n");
	check(f, 80, IPPROTO_UDP);
	check(f, 81, IPPROTO_UDP);
	expect(f, "*", "x/a", false);
	check(f, 80, IPPROTO_TCP);
	check(f, 81, IPPROTO_SCTP);
}

/*
 * ICMP and protocols without ports (GRE, 47): a rule without ports admits every protocol, a
 * rule with ports only its TCP/UDP/SCTP; the compiled maps agree (one rule for every protocol).
 */
static void test_protocols_without_ports(void **ctx)
{
	struct fixture *f = *ctx;

	build(
	    f,
	    POLICY("x", "deny-all") "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n" POLICY(
		"x",
		"a-from-b") "  podSelector: {matchLabels: {pod: a}}\n"
			    "  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}\n"
			    "  - ports:\n    - protocol: TCP\n" POLICY(
				"x", "b-to-a") "  podSelector: {matchLabels: {pod: b}}\n  "
					       "policyTypes: [Egress]\n"
					       "  egress:\n  - to:\n    - podSelector: "
					       "{matchLabels: {pod: a}}\n");
	expect(f, "*", "x/*", false);
	expect(f, "x/*", "*", false);
	expect(f, "x/b", "x/a", true);
	check(f, 0, IPPROTO_ICMP);
	check(f, 0, 47);
	/* TCP: x/a also admits every peer's, but of x only x/b may send. */
	expect(f, "y/*", "x/a", true);
	expect(f, "z/*", "x/a", true);
	check(f, 80, IPPROTO_TCP);
}

static void test_end_port(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "range") "  podSelector: {matchLabels: {pod: a}}\n"
				      "  policyTypes: [Egress]\n  egress:\n  - ports:\n"
				      "    - {port: 81, endPort: 90, protocol: SCTP}\n");
	check(f, 81, IPPROTO_SCTP);
	expect(f, "x/a", "*", false);
	check(f, 80, IPPROTO_SCTP);
	check(f, 81, IPPROTO_TCP);
}

/* A connection needs the source's egress and the destination's ingress. */
static void test_egress_and_ingress(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "egress-to-y") "  podSelector: {}\n  egress:\n  - to:\n"
					    "    - namespaceSelector: {matchLabels: {ns: y}}\n"
					    "  policyTypes: [Egress]\n" POLICY(
						"y",
						"a-from-x-b") "  podSelector: {matchLabels: {pod: "
							      "a}}\n"
							      "  ingress:\n  - from:\n"
							      "    - namespaceSelector: {}\n"
							      "      podSelector: {matchLabels: "
							      "{pod: b}}\n");
	expect(f, "x/*", "*", false);
	expect(f, "x/*", "y/*", true);
	expect(f, "*", "y/a", false);
	expect(f, "*/b", "y/a", true);
	check(f, 80, IPPROTO_TCP);
}

/* Each isolated pod identity names the policies isolating it, per direction, for explain. */
static void test_isolated_by(void **ctx)
{
	struct fixture *f = *ctx;
	struct policy_state *compiled;
	const char *x_a = NULL, *y_a = NULL;

	build(
	    f,
	    POLICY("x", "deny-all") "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n" POLICY(
		"x", "allow-a") "  podSelector: {matchLabels: {pod: a}}\n"
				"  ingress:\n  - from:\n    - podSelector: {}\n");
	assert_int_equal(netpol_compile(f->objects, f->n_objects, &compiled), 0);
	for (size_t i = 0; i < compiled->n_ipcache; i++) {
		const struct policy_ipcache *e = &compiled->ipcache[i];

		if (e->prefix_len != 32)
			continue;
		if (e->address == f->world.pods[0].ip) /* x/a */
			x_a = compiled->identities[e->identity].isolated_by;
		if (e->address == f->world.pods[3].ip) /* y/a */
			y_a = compiled->identities[e->identity].isolated_by;
	}
	assert_non_null(x_a);
	assert_string_equal(x_a, "ingress=x/deny-all,x/allow-a egress=x/deny-all");
	assert_null(y_a);
	policy_state_free(compiled);
}

/* Egress rules without policyTypes make the policy an egress one too. */
static void test_default_policy_types(void **ctx)
{
	struct fixture *f = *ctx;

	build(f, POLICY("x", "implicit") "  podSelector: {matchLabels: {pod: a}}\n"
					 "  egress:\n  - to:\n"
					 "    - podSelector: {matchLabels: {pod: b}}\n");
	expect(f, "*", "x/a", false); /* Ingress, always implied, with no rules */
	expect(f, "x/a", "*", false);
	expect(f, "x/a", "x/b", true);
	check(f, 80, IPPROTO_TCP);
}

/* Label updates: the same policy over relabelled pods gives the new answer. */
static void test_label_update(void **ctx)
{
	struct fixture *f = *ctx;
	const char *policy = POLICY("x", "from-green") "  podSelector: {matchLabels: {pod: a}}\n"
						       "  ingress:\n  - from:\n"
						       "    - namespaceSelector: {}\n"
						       "      podSelector: {matchLabels: {color: "
						       "green}}\n";

	build(f, policy);
	expect(f, "*", "x/a", false);
	check(f, 80, IPPROTO_TCP);
	reset(f);
	snprintf(f->pod_labels_extra[5], sizeof(f->pod_labels_extra[5]), "color: green");
	build(f, policy);
	expect(f, "*", "x/a", false);
	expect(f, "y/c", "x/a", true);
	check(f, 80, IPPROTO_TCP);
}

/* Bad policies are refused with the field at fault. */
static void test_validation(void **ctx)
{
	static const struct {
		const char *spec;
		const char *message;
	} cases[] = {
	    {"  podSelector: {}\n  ingress:\n  - froms: []\n",
	     "NetworkPolicy x/bad: spec.ingress[0]: unknown field \"froms\""},
	    {"  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.300/8}\n",
	     "spec.ingress[0].from[0].ipBlock.cidr: string \"10.0.0.300/8\" is not a valid CIDR"},
	    {"  podSelector: {}\n  egress:\n  - ports:\n    - {port: 90, endPort: 80}\n",
	     "spec.egress[0].ports[0].endPort: 80 must be greater than or equal to port 90"},
	    {"  podSelector: {}\n  egress:\n  - ports:\n    - {port: http, endPort: 80}\n",
	     "spec.egress[0].ports[0].endPort: may not be specified when port is a named port"},
	    {"  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/16, except: "
	     "[10.1.0.0/24]}\n",
	     "except[0]: \"10.1.0.0/24\" must be a strict subset of cidr 10.0.0.0/16"},
	    {"  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/16}\n"
	     "      podSelector: {}\n",
	     "spec.ingress[0].from[0]: may not specify both ipBlock and another peer"},
	    {"  podSelector: {}\n  ingress:\n  - from:\n    - {}\n",
	     "spec.ingress[0].from[0]: must specify a peer"},
	    {"  podSelector:\n    matchExpressions:\n    - {key: a, operator: In}\n",
	     "spec.podSelector.matchExpressions[0].values: must be non-empty for operator In"},
	    {"  podSelector:\n    matchExpressions:\n    - {key: a, operator: Is, values: [b]}\n",
	     "operator: string \"Is\" is not one of In, NotIn, Exists, DoesNotExist"},
	    {"  podSelector: {}\n  policyTypes: [Ingres]\n",
	     "spec.policyTypes[0]: string \"Ingres\" is not one of Ingress, Egress"},
	    {"  podSelector: {}\n  ingress:\n  - ports:\n    - {port: 80, protocol: ICMP}\n",
	     "spec.ingress[0].ports[0].protocol: string \"ICMP\" is not one of TCP, UDP, SCTP"},
	    {"  podSelector: {}\n  ingress:\n  - ports:\n    - port: 70000\n",
	     "spec.ingress[0].ports[0].port: 70000 is out of range 1-65535"},
	};
	struct fixture *f = *ctx;
	char text[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset(f);
		snprintf(text, sizeof(text), "%s%s", POLICY("x", "bad"), cases[i].spec);
		assert_int_equal(add_yaml(f, text), 1);
		assert_true(f->errors.count >= 1);
		if (!strstr(f->errors.items[0], cases[i].message))
			fail_msg("case %zu: %s\nwant: %s", i, f->errors.items[0], cases[i].message);
		assert_non_null(strstr(f->errors.items[0], "test.yaml: NetworkPolicy x/bad: "));
	}
	/* And a valid one decodes every field. */
	reset(f);
	assert_int_equal(
	    add_yaml(f, POLICY("x", "good") "  podSelector: {}\n  ingress:\n"
					    "  - from:\n    - ipBlock: {cidr: "
					    "10.0.0.7/16, except: [10.0.1.0/24]}\n"
					    "    ports:\n    - {port: 80, endPort: 82}\n"),
	    0);
	assert_int_equal(f->n_objects, 1);
	assert_int_equal(f->objects[0]->policy->ingress[0].peers[0].ip_block.cidr.address,
			 inet_addr("10.0.0.0"));
	assert_int_equal(f->objects[0]->policy->ingress[0].ports[0].end_port, 82);
	assert_true(f->objects[0]->policy->is_ingress);
	assert_false(f->objects[0]->policy->is_egress);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_no_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_deny_ingress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_deny_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pod_selector_same_namespace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_allow_target_over_deny, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_namespace_selector, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_match_expressions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pod_or_namespace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pod_and_namespace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exists_does_not_exist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_named_port_ingress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_named_port_egress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_port_and_stacked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_allow_all_precedence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ip_block_except, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_protocol_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_protocols_without_ports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_end_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_egress_and_ingress, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_isolated_by, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_policy_types, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_label_update, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
