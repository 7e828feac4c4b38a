// SPDX-License-Identifier: Apache-2.0
/* The Kubernetes field toolkit: message text of both describers, getters, labels, syntax rules. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/ip_proto.h"
#include "lib/log.h"
#include "loader/k8s/fields.h"
#include "loader/k8s/yaml_tree.h"

static const char document[] = "port: 80\n"
			       "name: web\n"
			       "nothing: null\n"
			       "list: [1, 2, 3]\n"
			       "map: {a: b}\n"
			       "protocol: ICMP\n"
			       "labels: {tier: 1, app: web, empty: null, 'b': x}\n";

struct fixture {
	struct yaml_tree tree;
	const struct yaml_tree_node *root;
	struct k8s_errors errors;
	struct k8s_field_ctx ctx;
};

static int setup(void **state)
{
	static struct fixture f;
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line;

	log_level = LOG_LEVEL_ERROR;
	memset(&f, 0, sizeof(f));
	yaml_tree_init(&f.tree);
	assert_int_equal(
	    yaml_tree_parse(&f.tree, document, strlen(document), &line, message, sizeof(message)),
	    0);
	f.root = f.tree.documents[0];
	f.errors.is_quiet = true;
	f.ctx.errors = &f.errors;
	f.ctx.source = "f.yaml";
	f.ctx.kind = "Service";
	strcpy(f.ctx.who, "default/web");
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	k8s_errors_free(&f->errors);
	yaml_tree_free(&f->tree);
	return 0;
}

static void test_error_and_describe(void **state)
{
	struct fixture *f = *state;
	const struct yaml_tree_node *port = yaml_tree_get(f->root, "port");
	char text[64];

	assert_string_equal(k8s_field_describe(&f->ctx, port, text, sizeof(text)), "integer 80");
	assert_string_equal(
	    k8s_field_describe(&f->ctx, yaml_tree_get(f->root, "name"), text, sizeof(text)),
	    "string \"web\"");
	assert_string_equal(
	    k8s_field_describe(&f->ctx, yaml_tree_get(f->root, "list"), text, sizeof(text)),
	    "a list");
	f->ctx.is_quoted = true; /* NetworkPolicy's messages */
	assert_string_equal(k8s_field_describe(&f->ctx, port, text, sizeof(text)),
			    "integer \"80\"");
	f->ctx.is_quoted = false;

	assert_int_equal(k8s_field_error(&f->ctx, "spec", "ports", "bad %d", 1), -EINVAL);
	assert_int_equal(k8s_field_error(&f->ctx, "", "spec", "bad"), -EINVAL);
	assert_int_equal(k8s_field_error(&f->ctx, "spec.ports[0]", NULL, "bad"), -EINVAL);
	assert_int_equal(f->errors.count, 3);
	assert_int_equal(f->ctx.n_errors, 3);
	assert_string_equal(f->errors.items[0], "f.yaml: Service default/web: spec.ports: bad 1");
	assert_string_equal(f->errors.items[1], "f.yaml: Service default/web: spec: bad");
	assert_string_equal(f->errors.items[2], "f.yaml: Service default/web: spec.ports[0]: bad");
}

static void test_getters(void **state)
{
	struct fixture *f = *state;
	const struct yaml_tree_node *node;
	const char *text;
	uint16_t port;
	uint8_t proto;
	int64_t value;

	assert_int_equal(k8s_field_port(&f->ctx, f->root, "", "port", true, &port), 0);
	assert_int_equal(port, 80);
	assert_int_equal(k8s_field_int(&f->ctx, f->root, "", "port", true, 1, 10, &value), -EINVAL);
	assert_int_equal(k8s_field_string(&f->ctx, f->root, "", "nothing", &text), 0);
	assert_null(text);
	assert_int_equal(k8s_field_string(&f->ctx, f->root, "", "port", &text), -EINVAL);
	assert_int_equal(k8s_field_list(&f->ctx, f->root, "", "list", 3, &node), 0);
	assert_non_null(node);
	assert_int_equal(k8s_field_list(&f->ctx, f->root, "", "list", 2, &node), -EINVAL);
	assert_null(node);
	assert_string_equal(f->errors.items[f->errors.count - 1],
			    "f.yaml: Service default/web: list: 3 items exceed the limit of 2");
	assert_int_equal(k8s_field_list_of(&f->ctx, f->root, "spec", "list", 2, "ports", &node),
			 -EINVAL);
	assert_string_equal(
	    f->errors.items[f->errors.count - 1],
	    "f.yaml: Service default/web: spec.list: 3 ports exceed the limit of 2");
	assert_int_equal(
	    k8s_field_container(&f->ctx, f->root, "", "list", YAML_TREE_MAPPING, &node), -EINVAL);
	assert_int_equal(k8s_field_protocol(&f->ctx, f->root, "", &proto), -EINVAL);
	assert_int_equal(proto, IPPROTO_TCP);
	assert_string_equal(f->errors.items[f->errors.count - 1],
			    "f.yaml: Service default/web: protocol: \"ICMP\" is not one of TCP, "
			    "UDP, SCTP");
	assert_string_equal(f->errors.items[f->errors.count - 2],
			    "f.yaml: Service default/web: list: expected a mapping, got a list");
}

static void test_labels(void **state)
{
	struct fixture *f = *state;
	struct k8s_labels labels = {0}, selector = {0};
	static const char *const known[] = {"port", "name", NULL};

	assert_int_equal(k8s_field_labels(&f->ctx, f->root, "metadata", "labels", &labels), 0);
	assert_int_equal(labels.count, 4);
	assert_string_equal(labels.items[0].key, "app"); /* sorted */
	assert_string_equal(k8s_labels_get(&labels, "tier"), "1");
	assert_string_equal(k8s_labels_get(&labels, "empty"), "");
	assert_null(k8s_labels_get(&labels, "zone"));
	assert_true(k8s_labels_match(&selector, &labels));
	assert_true(k8s_labels_match(&labels, &labels));
	k8s_labels_free(&labels);
	assert_int_equal(labels.count, 0);
	assert_false(k8s_field_known(&f->ctx, f->root, "(root)", known));
}

static void test_syntax(void **state)
{
	uint32_t address;
	uint8_t proto;

	(void)state;
	assert_true(k8s_is_dns1123_label("web-1", 5));
	assert_false(k8s_is_dns1123_label("-web", 4));
	assert_true(k8s_is_dns1035_label("web"));
	assert_false(k8s_is_dns1035_label("1web"));
	assert_true(k8s_is_dns1123_subdomain("a.b-c.d"));
	assert_false(k8s_is_dns1123_subdomain("a..b"));
	assert_true(k8s_is_iana_svc_name("http-alt"));
	assert_false(k8s_is_iana_svc_name("8080"));
	assert_false(k8s_is_iana_svc_name("a--b"));
	assert_false(k8s_is_iana_svc_name("sixteen-letters1"));
	assert_true(k8s_is_label_key("app.kubernetes.io/name"));
	assert_true(k8s_is_label_key("App_1"));
	assert_false(k8s_is_label_key("Bad.Prefix/name"));
	assert_false(k8s_is_label_key("/name"));
	assert_true(k8s_is_label_value(""));
	assert_true(k8s_is_label_value("v1.2_b-c"));
	assert_false(k8s_is_label_value("-v"));
	inet_pton(AF_INET, "10.0.0.1", &address);
	assert_true(k8s_is_usable_ipv4(address));
	inet_pton(AF_INET, "169.254.1.1", &address);
	assert_false(k8s_is_usable_ipv4(address));
	assert_true(k8s_is_ipv6_text("fd00::1"));
	assert_false(k8s_is_ipv6_text("10.0.0.1"));
	assert_true(k8s_protocol_parse("SCTP", &proto));
	assert_string_equal(ip_proto_name(proto), "SCTP");
	assert_false(k8s_protocol_parse("tcp", &proto));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_error_and_describe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_getters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
	    cmocka_unit_test(test_syntax),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
