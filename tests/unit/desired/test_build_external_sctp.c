// SPDX-License-Identifier: Apache-2.0
/*
 * SCTP from outside the node (loader/desired/build_frontends.c): with externalTrafficPolicy
 * Cluster the masquerade would give each flow a new source port, which the datapath cannot
 * write into SCTP, so such a port gets no external frontend and one error line, while its
 * ClusterIP, its internal frontends, the Service's other ports and Local policy are served.
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

#include <cmocka.h>

#include "lib/log.h"
#include "loader/desired/build.h"
#include "loader/k8s/objects.h"
#include "loader/k8s/yaml_tree.h"

struct fixture {
	struct k8s_object *objects[8];
	size_t n_objects;
	struct k8s_errors errors;
	struct desired_build_config config;
	struct desired_state state;
};

/* The Service web (SPEC after its ports) with an SCTP port 9000 and a TCP port 80, and a slice. */
#define WEB(SPEC)                                                                                  \
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"               \
	"spec: {clusterIP: 10.96.0.10, ports: [{name: assoc, port: 9000, protocol: SCTP"           \
	"}, {name: http, port: 80}], " SPEC "\n---\n"                                              \
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"                                   \
	"metadata: {name: web-1, namespace: default, labels: "                                     \
	"{kubernetes.io/service-name: web}}\naddressType: IPv4\n"                                  \
	"ports: [{name: assoc, port: 9000, protocol: SCTP}, {name: http, port: 80}]\n"             \
	"endpoints: [{addresses: [10.244.1.5], nodeName: n1, conditions: {ready: true}}]\n"

static void build(struct fixture *f, const char *text)
{
	char message[YAML_TREE_ERROR_LEN];
	struct yaml_tree tree;
	unsigned int line;

	assert_int_equal(
	    yaml_tree_parse(&tree, text, strlen(text), &line, message, sizeof(message)), 0);
	for (size_t i = 0; i < tree.n_documents; i++) {
		struct k8s_object *object;
		enum k8s_kind kind;

		assert_int_equal(k8s_object_kind(tree.documents[i], "test.yaml", &f->errors, &kind),
				 0);
		assert_int_equal(
		    k8s_object_decode(tree.documents[i], kind, "test.yaml", &f->errors, &object),
		    0);
		f->objects[f->n_objects++] = object;
	}
	yaml_tree_free(&tree);
	assert_int_equal(f->errors.count, 0);
	assert_int_equal(desired_build(f->objects, f->n_objects, &f->config, &f->errors, &f->state),
			 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_level = LOG_LEVEL_ERROR;
	f->errors.is_quiet = true;
	desired_build_config_init(&f->config, "n1");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < f->n_objects; i++)
		k8s_object_put(f->objects[i]);
	k8s_errors_free(&f->errors);
	desired_state_free(&f->state);
	free(f);
	return 0;
}

/* The frontend (vip, port, proto, scope), or NULL. */
static const struct lb_frontend *find(const struct fixture *f, const char *vip, uint16_t port,
				      uint8_t proto, enum lb_scope scope)
{
	uint32_t address = 0;

	if (vip)
		assert_int_equal(inet_pton(AF_INET, vip, &address), 1);
	for (size_t i = 0; i < f->state.n_frontends; i++) {
		const struct lb_frontend *fe = &f->state.frontends[i];

		if (fe->vip == address && fe->port == htons(port) && fe->proto == proto &&
		    fe->scope == scope)
			return fe;
	}
	return NULL;
}

/* Exactly one error, naming the Service, the port and the policy; the Service is not rejected. */
static void assert_one_sctp_error(const struct fixture *f)
{
	if (f->errors.count != 1 ||
	    !strstr(
		f->errors.items[0],
		"test.yaml: Service default/web: spec.ports[0]: SCTP port 9000 gets no external "
		"frontend: externalTrafficPolicy Cluster masquerades"))
		fail_msg("want one error on the SCTP port, got %zu: %s", f->errors.count,
			 f->errors.count ? f->errors.items[0] : "");
	assert_int_equal(f->state.rejected_objects, 0);
}

static void test_external_ip_cluster(void **state)
{
	struct fixture *f = *state;
	const struct lb_frontend *fe;

	build(f, WEB("externalIPs: [192.0.2.10]}"));
	assert_one_sctp_error(f);
	assert_null(find(f, "192.0.2.10", 9000, IPPROTO_SCTP, LB_SCOPE_EXTERNAL));
	/* Pods reach it without a masquerade; the ClusterIP and the TCP port are untouched. */
	assert_non_null(find(f, "192.0.2.10", 9000, IPPROTO_SCTP, LB_SCOPE_INTERNAL));
	assert_non_null(find(f, "10.96.0.10", 9000, IPPROTO_SCTP, LB_SCOPE_INTERNAL));
	fe = find(f, "192.0.2.10", 80, IPPROTO_TCP, LB_SCOPE_EXTERNAL);
	assert_non_null(fe);
	assert_int_equal(fe->flags, LB_FE_F_SNAT);
	assert_int_equal(fe->n_backends, 1);
}

static void test_load_balancer_cluster(void **state)
{
	struct fixture *f = *state;

	build(f,
	      WEB("type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.7}]}}"));
	assert_one_sctp_error(f);
	assert_null(find(f, "203.0.113.7", 9000, IPPROTO_SCTP, LB_SCOPE_EXTERNAL));
	assert_non_null(find(f, "203.0.113.7", 80, IPPROTO_TCP, LB_SCOPE_EXTERNAL));
	assert_non_null(find(f, "10.96.0.10", 9000, IPPROTO_SCTP, LB_SCOPE_INTERNAL));
}

static void test_node_port_cluster(void **state)
{
	struct fixture *f = *state;
	size_t i;

	build(f, "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
		 "spec: {type: NodePort, clusterIP: 10.96.0.10, ports: [{name: assoc, port: 9000, "
		 "nodePort: 30900, protocol: SCTP}, {name: http, port: 80, nodePort: 30080}]}\n");
	assert_one_sctp_error(f);
	for (i = 0; i < f->state.n_frontends; i++)
		if (f->state.frontends[i].proto == IPPROTO_SCTP)
			assert_int_equal(f->state.frontends[i].scope, LB_SCOPE_INTERNAL);
	assert_non_null(find(f, NULL, 30080, IPPROTO_TCP, LB_SCOPE_EXTERNAL));
}

static void test_local_is_served(void **state)
{
	struct fixture *f = *state;
	const struct lb_frontend *fe;

	build(f, WEB("externalIPs: [192.0.2.10], externalTrafficPolicy: Local}"));
	assert_int_equal(f->errors.count, 0);
	fe = find(f, "192.0.2.10", 9000, IPPROTO_SCTP, LB_SCOPE_EXTERNAL);
	assert_non_null(fe);
	assert_int_equal(fe->flags, LB_FE_F_LOCAL_ONLY);
	assert_int_equal(fe->n_backends, 1);
}

static void test_cluster_ip_only_is_quiet(void **state)
{
	struct fixture *f = *state;

	build(f, WEB("type: ClusterIP}"));
	assert_int_equal(f->errors.count, 0);
	assert_non_null(find(f, "10.96.0.10", 9000, IPPROTO_SCTP, LB_SCOPE_INTERNAL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_external_ip_cluster, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_balancer_cluster, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node_port_cluster, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_is_served, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_ip_only_is_quiet, setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
