// SPDX-License-Identifier: Apache-2.0
/* Objects to desired state (kube-proxy's rules) and the JSON decoders, as pure functions. */
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

#include "lib/ip_proto.h"
#include "loader/sources/k8s_client.h"
#include "loader/k8s/json.h"
#include "lib/log.h"
#include "loader/k8s/objects.h"
#include "loader/desired/build.h"
#include "loader/k8s/yaml_tree.h"

/* One build: the objects decoded from YAML or JSON, and what came out. */
struct fixture {
	struct k8s_object *objects[64];
	size_t n_objects;
	uint32_t rejected;
	struct k8s_errors errors;
	struct desired_build_config config;
	uint32_t node_ips[2];
	struct desired_state state;
};

static int setup(void **ctx)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_level = getenv("SLUICE_TEST_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR;
	f->errors.is_quiet = true;
	desired_build_config_init(&f->config, "n1");
	*ctx = f;
	return 0;
}

static void reset(struct fixture *f)
{
	size_t i;

	for (i = 0; i < f->n_objects; i++)
		k8s_object_put(f->objects[i]);
	f->n_objects = 0;
	f->rejected = 0;
	k8s_errors_free(&f->errors);
	f->errors.is_quiet = true;
	desired_state_free(&f->state);
}

static int teardown(void **ctx)
{
	struct fixture *f = *ctx;

	reset(f);
	free(f);
	return 0;
}

static void add_root(struct fixture *f, const struct yaml_tree_node *root, const char *source)
{
	struct k8s_object *object;
	enum k8s_kind kind;
	int err;

	if (k8s_object_kind(root, source, &f->errors, &kind))
		return;
	err = k8s_object_decode(root, kind, source, &f->errors, &object);
	assert_int_not_equal(err, -ENOMEM);
	if (err) {
		f->rejected++;
		k8s_object_put(object);
		return;
	}
	assert_true(f->n_objects < 64);
	f->objects[f->n_objects++] = object;
}

/* Decode every document of a YAML text into the fixture. */
static void add_yaml(struct fixture *f, const char *text)
{
	char message[YAML_TREE_ERROR_LEN];
	struct yaml_tree tree;
	unsigned int line;
	size_t i;

	assert_int_equal(
	    yaml_tree_parse(&tree, text, strlen(text), &line, message, sizeof(message)), 0);
	for (i = 0; i < tree.n_documents; i++)
		add_root(f, tree.documents[i], "test.yaml");
	yaml_tree_free(&tree);
}

/* The same through the API's format: JSON, json-c, the adapter. */
static void add_json(struct fixture *f, const char *text)
{
	char error[128];
	struct json_object *value = k8s_json_parse(text, strlen(text), error, sizeof(error));
	struct yaml_tree tree;

	if (!value)
		fail_msg("JSON: %s", error);
	yaml_tree_init(&tree);
	assert_int_equal(k8s_json_to_tree(&tree, value), 0);
	add_root(f, tree.documents[0], "api");
	yaml_tree_free(&tree);
	json_object_put(value);
}

static void build(struct fixture *f)
{
	desired_state_free(&f->state);
	assert_int_equal(desired_build(f->objects, f->n_objects, &f->config, &f->errors, &f->state),
			 0);
	f->state.rejected_objects += f->rejected;
}

static bool has_error(const struct fixture *f, ...)
{
	size_t i;

	for (i = 0; i < f->errors.count; i++) {
		const char *needle;
		bool is_match = true;
		va_list ap;

		va_start(ap, f);
		while ((needle = va_arg(ap, const char *)))
			is_match &= strstr(f->errors.items[i], needle) != NULL;
		va_end(ap);
		if (is_match)
			return true;
	}
	for (i = 0; i < f->errors.count; i++)
		print_message("  error: %s\n", f->errors.items[i]);
	return false;
}

static uint32_t ip(const char *text)
{
	uint32_t address;

	assert_int_equal(inet_pton(AF_INET, text, &address), 1);
	return address;
}

static const struct lb_frontend *frontend(const struct fixture *f, const char *vip, uint16_t port,
					  uint8_t proto, enum lb_scope scope)
{
	size_t i;

	for (i = 0; i < f->state.n_frontends; i++) {
		const struct lb_frontend *fe = &f->state.frontends[i];

		if (fe->vip == ip(vip) && fe->port == htons(port) && fe->proto == proto &&
		    fe->scope == scope)
			return fe;
	}
	fail_msg("no frontend %s:%u/%u scope %d", vip, port, proto, scope);
	return NULL;
}

/* Assert the backends are exactly the "a.b.c.d:port" strings given, in order. */
static void assert_backends(const struct lb_frontend *fe, ...)
{
	const char *expected;
	size_t i = 0;
	va_list ap;

	assert_non_null(fe);
	va_start(ap, fe);
	while ((expected = va_arg(ap, const char *))) {
		char address[32];
		const char *colon = strchr(expected, ':');

		snprintf(address, sizeof(address), "%.*s", (int)(colon - expected), expected);
		if (i >= fe->n_backends)
			fail_msg("%s: %zu backends, wanted %s too", fe->name, fe->n_backends,
				 expected);
		assert_int_equal(fe->backends[i].address, ip(address));
		assert_int_equal(fe->backends[i].port, htons((uint16_t)atoi(colon + 1)));
		i++;
	}
	va_end(ap);
	assert_int_equal(fe->n_backends, i);
}

/* A Service in YAML flow style; spec is the inside of spec: {...}. */
#define SVC(name, spec)                                                                            \
	"apiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: default}\n"          \
	"spec: {" spec "}\n---\n"

/* Three endpoints: .1 on n1 (this node, zone a), .2 on n2 (zone b), .3 on n3 (zone a). */
#define SLICE3(service, e1, e2, e3)                                                                \
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"                                   \
	"metadata: {name: " service "-x, labels: {kubernetes.io/service-name: " service "}}\n"     \
	"addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n"                       \
	"- {addresses: [10.0.0.1], nodeName: n1, zone: a" e1 "}\n"                                 \
	"- {addresses: [10.0.0.2], nodeName: n2, zone: b" e2 "}\n"                                 \
	"- {addresses: [10.0.0.3], nodeName: n3, zone: a" e3 "}\n---\n"

#define NODE_N1                                                                                    \
	"apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: "                                \
	"{topology.kubernetes.io/zone: a}}\n"                                                      \
	"status: {addresses: [{type: Hostname, address: n1}, {type: ExternalIP, address: "         \
	"203.0.113.1}, {type: InternalIP, address: 192.168.1.1}]}\n---\n"

static void test_cluster_ip_yaml_and_json(void **ctx)
{
	struct fixture *f = *ctx;
	const struct lb_frontend *fe;

	add_yaml(f, SVC("web", "clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: "
			       "http}]") SLICE3("web", "", "", ""));
	build(f);
	assert_int_equal(f->state.n_frontends, 1);
	fe = frontend(f, "10.96.0.10", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->kind, LB_KIND_CLUSTER_IP);
	assert_int_equal(fe->flags, 0);
	assert_int_equal(fe->affinity_timeout_s, 0);
	assert_string_equal(fe->name, "default/web:http");
	assert_backends(fe, "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", NULL);
	assert_int_equal(fe->backends[0].flags, LB_BACKEND_F_LOCAL);
	assert_int_equal(fe->backends[1].flags, 0);

	/* The same objects as the API server sends them. */
	reset(f);
	add_json(f, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
		    "\"namespace\":\"default\",\"resourceVersion\":\"12\"},\"spec\":{\"clusterIP\":"
		    "\"10.96.0.10\",\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\","
		    "\"targetPort\":\"http\"}],\"sessionAffinity\":\"ClientIP\"},\"status\":{}}");
	add_json(f, "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
		    "\"metadata\":{\"name\":\"web-x\",\"namespace\":\"default\",\"labels\":{"
		    "\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
		    "\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}],"
		    "\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],\"conditions\":{\"ready\":true,"
		    "\"serving\":true,\"terminating\":false},\"nodeName\":\"n1\"},"
		    "{\"addresses\":[\"10.0.0.2\"],\"conditions\":{\"ready\":null}}]}");
	build(f);
	assert_int_equal(f->state.n_frontends, 1);
	fe = frontend(f, "10.96.0.10", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->affinity_timeout_s, K8S_AFFINITY_DEFAULT_S);
	assert_backends(fe, "10.0.0.1:8080", "10.0.0.2:8080", NULL);
}

static void test_node_port(void **ctx)
{
	struct fixture *f = *ctx;
	const struct lb_frontend *fe;

	add_yaml(f, NODE_N1 SVC("np", "type: NodePort, clusterIP: 10.96.0.11, ports: [{name: "
				      "http, port: 80, nodePort: 30080}]") SLICE3("np", "", "", "")
			SVC("bad", "type: NodePort, clusterIP: 10.96.0.12, ports: [{port: 80, "
				   "nodePort: 8080}]"));
	build(f);
	/* ClusterIP, NodePort from outside (any node address) and from pods (one per node
	 * address, since pods' packets are looked up by destination); "bad" is refused. */
	assert_int_equal(f->state.n_frontends, 4);
	assert_int_equal(f->state.rejected_objects, 1);
	assert_true(has_error(f, "Service default/bad", "spec.ports[0].nodePort: 8080 is outside",
			      "30000-32767", NULL));
	fe = frontend(f, "192.168.1.1", 30080, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->kind, LB_KIND_NODE_PORT);
	assert_int_equal(fe->flags, 0);
	assert_backends(fe, "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", NULL);
	fe = frontend(f, "203.0.113.1", 30080, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->kind, LB_KIND_NODE_PORT);
	fe = frontend(f, "0.0.0.0", 30080, IPPROTO_TCP, LB_SCOPE_EXTERNAL);
	assert_int_equal(fe->flags, LB_FE_F_SNAT);
	assert_backends(fe, "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", NULL);
	/* Node addresses from the Node object: InternalIP first. */
	assert_int_equal(f->state.n_node_addresses, 2);
	assert_int_equal(f->state.node_addresses[0], ip("192.168.1.1"));
	assert_int_equal(f->state.node_addresses[1], ip("203.0.113.1"));

	/* A wider range (kube-apiserver --service-node-port-range) accepts it; --node-ip adds. */
	f->config.node_port_min = 1;
	f->node_ips[0] = ip("10.1.1.1");
	f->node_ips[1] = ip("192.168.1.1");
	f->config.node_ips = f->node_ips;
	f->config.n_node_ips = 2;
	build(f);
	assert_int_equal(f->state.rejected_objects, 0);
	/* Two services x (ClusterIP + NodePort from outside + one per each of 3 addresses). */
	assert_int_equal(f->state.n_frontends, 10);
	assert_int_equal(f->state.n_node_addresses, 3);
	assert_int_equal(f->state.node_addresses[0], ip("10.1.1.1"));
	assert_int_equal(f->state.node_addresses[2], ip("203.0.113.1"));
}

static void test_load_balancer_local(void **ctx)
{
	struct fixture *f = *ctx;
	const struct lb_frontend *fe;

	add_yaml(f, NODE_N1
		 "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\n"
		 "spec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.20\n"
		 "  externalTrafficPolicy: Local\n  healthCheckNodePort: 31000\n"
		 "  loadBalancerSourceRanges: [192.0.2.0/24, 198.51.100.7/32]\n"
		 "  externalIPs: [198.51.100.50]\n"
		 "  ports: [{name: http, port: 80, nodePort: 30090}]\n"
		 "status:\n  loadBalancer:\n    ingress:\n"
		 "    - {ip: 203.0.113.10}\n    - {ip: 203.0.113.11, ipMode: VIP}\n"
		 "    - {ip: 203.0.113.12, ipMode: Proxy}\n    - {hostname: lb.example.com}\n"
		 "---\n" SLICE3("lb", "", "", ""));
	build(f);
	/* ClusterIP; 1 external IP, 2 LB IPs (Proxy skipped), each in two scopes; NodePort from
	 * outside and from pods on the node's 2 addresses. */
	assert_int_equal(f->state.n_frontends, 1 + 2 * 3 + 1 + 2);
	fe = frontend(f, "10.96.0.20", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_backends(fe, "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", NULL);
	assert_int_equal(fe->n_source_ranges, 0);
	/* From outside: local endpoints only, client address kept (no SNAT). */
	fe = frontend(f, "203.0.113.10", 80, IPPROTO_TCP, LB_SCOPE_EXTERNAL);
	assert_int_equal(fe->kind, LB_KIND_LOAD_BALANCER);
	assert_int_equal(fe->flags, LB_FE_F_LOCAL_ONLY);
	assert_backends(fe, "10.0.0.1:8080", NULL);
	assert_int_equal(fe->n_source_ranges, 2);
	assert_int_equal(fe->source_ranges[0].address, ip("192.0.2.0"));
	assert_int_equal(fe->source_ranges[0].prefix_len, 24);
	/* From pods: short-circuited to the Cluster set; source ranges still apply. */
	fe = frontend(f, "203.0.113.11", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->flags, 0);
	assert_int_equal(fe->n_source_ranges, 2);
	assert_backends(fe, "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", NULL);
	fe = frontend(f, "198.51.100.50", 80, IPPROTO_TCP, LB_SCOPE_EXTERNAL);
	assert_int_equal(fe->kind, LB_KIND_EXTERNAL_IP);
	assert_int_equal(fe->n_source_ranges, 0);
	assert_backends(fe, "10.0.0.1:8080", NULL);
	fe = frontend(f, "0.0.0.0", 30090, IPPROTO_TCP, LB_SCOPE_EXTERNAL);
	assert_int_equal(fe->flags, LB_FE_F_LOCAL_ONLY);
	assert_backends(fe, "10.0.0.1:8080", NULL);
	assert_int_equal(f->state.n_health_checks, 1);
	assert_int_equal(f->state.health_checks[0].port, 31000);
	assert_int_equal(f->state.health_checks[0].local_endpoints, 1);
	assert_string_equal(f->state.health_checks[0].name, "default/lb");

	/* Another node: no local endpoint, so external frontends are empty and the check 503s. */
	f->config.node = "n9";
	build(f);
	assert_backends(frontend(f, "203.0.113.10", 80, IPPROTO_TCP, LB_SCOPE_EXTERNAL), NULL);
	assert_int_equal(f->state.health_checks[0].local_endpoints, 0);
}

static void test_internal_traffic_policy_local(void **ctx)
{
	struct fixture *f = *ctx;
	const struct lb_frontend *fe;

	add_yaml(f, SVC("itp", "clusterIP: 10.96.0.30, internalTrafficPolicy: Local, "
			       "sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: "
			       "{timeoutSeconds: 60}}, ports: [{name: http, port: 80}]")
			SLICE3("itp", "", "", ""));
	build(f);
	fe = frontend(f, "10.96.0.30", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->flags, LB_FE_F_LOCAL_ONLY);
	assert_int_equal(fe->affinity_timeout_s, 60);
	assert_backends(fe, "10.0.0.1:8080", NULL);
}

/*
 * A Local frontend with endpoints elsewhere only drops (LOCAL_ONLY, no backends); with no usable
 * endpoint anywhere it rejects like any empty frontend, as kube-proxy's "has no endpoints".
 */
static void test_local_without_endpoints(void **ctx)
{
	struct fixture *f = *ctx;
	const struct lb_frontend *fe;

	add_yaml(f, SVC("remote", "clusterIP: 10.96.0.31, internalTrafficPolicy: Local, "
				  "ports: [{name: http, port: 80}]")
			SVC("none", "clusterIP: 10.96.0.32, internalTrafficPolicy: Local, "
				    "ports: [{name: http, port: 80}]")
			    SLICE3("remote", ", conditions: {ready: false, serving: false}", "", "")
				SLICE3("none", ", conditions: {ready: false, serving: false}",
				       ", conditions: {ready: false, serving: false}",
				       ", conditions: {ready: false, serving: false}"));
	build(f);
	fe = frontend(f, "10.96.0.31", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->flags, LB_FE_F_LOCAL_ONLY);
	assert_int_equal(fe->n_backends, 0);
	fe = frontend(f, "10.96.0.32", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->flags, 0);
	assert_int_equal(fe->n_backends, 0);
}

/* kube-proxy's fallback, computed separately for the Cluster and the Local set. */
static void test_terminating_fallback_per_policy(void **ctx)
{
	struct fixture *f = *ctx;
	const struct lb_frontend *fe;

	/* Local: only a serving+terminating endpoint; elsewhere a ready one. */
	add_yaml(f,
		 SVC("t", "type: NodePort, clusterIP: 10.96.0.40, externalTrafficPolicy: Local, "
			  "ports: [{name: http, port: 80, nodePort: 30040}]")
		     SLICE3("t", ", conditions: {ready: false, serving: true, terminating: true}",
			    "", ", conditions: {ready: false, serving: false, terminating: true}"));
	build(f);
	assert_backends(frontend(f, "10.96.0.40", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL),
			"10.0.0.2:8080", NULL);
	fe = frontend(f, "0.0.0.0", 30040, IPPROTO_TCP, LB_SCOPE_EXTERNAL);
	assert_backends(fe, "10.0.0.1:8080", NULL);
	assert_int_equal(fe->backends[0].flags, LB_BACKEND_F_LOCAL | LB_BACKEND_F_TERMINATING);

	/* Nothing ready anywhere: the Cluster set falls back too, to serving ones only. */
	reset(f);
	add_yaml(f, SVC("t", "clusterIP: 10.96.0.40, ports: [{name: http, port: 80}]") SLICE3(
			"t", ", conditions: {ready: false, serving: true, terminating: true}",
			", conditions: {ready: false, serving: true, terminating: true}",
			", conditions: {ready: false, serving: false, terminating: true}"));
	build(f);
	assert_backends(frontend(f, "10.96.0.40", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL),
			"10.0.0.1:8080", "10.0.0.2:8080", NULL);

	/* Not ready and not terminating: nothing serves, the frontend rejects. */
	reset(f);
	add_yaml(f, SVC("t", "clusterIP: 10.96.0.40, ports: [{name: http, port: 80}]")
			SLICE3("t", ", conditions: {ready: false}", ", conditions: {ready: false}",
			       ", conditions: {ready: false}"));
	build(f);
	assert_backends(frontend(f, "10.96.0.40", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL), NULL);
}

static void test_prefer_close(void **ctx)
{
	struct fixture *f = *ctx;
	const struct lb_frontend *fe;

	/* Hinted: zone a is ours, so .1 and .3; the Local set ignores topology. */
	add_yaml(f, NODE_N1 SVC("pc", "type: NodePort, clusterIP: 10.96.0.50, "
				      "trafficDistribution: PreferClose, ports: [{name: http, "
				      "port: 80, nodePort: 30050}]")
			SLICE3("pc", ", hints: {forZones: [{name: a}]}",
			       ", hints: {forZones: [{name: b}]}",
			       ", hints: {forZones: [{name: a}]}"));
	build(f);
	fe = frontend(f, "10.96.0.50", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->flags, LB_FE_F_PREFER_CLOSE);
	assert_backends(fe, "10.0.0.1:8080", "10.0.0.3:8080", NULL);
	assert_int_equal(fe->backends[1].flags, LB_BACKEND_F_SAME_ZONE);
	fe = frontend(f, "0.0.0.0", 30050, IPPROTO_TCP, LB_SCOPE_EXTERNAL);
	assert_int_equal(fe->flags, LB_FE_F_SNAT | LB_FE_F_PREFER_CLOSE);

	/* One ready endpoint without hints: kube-proxy ignores topology, all of them serve. */
	reset(f);
	add_yaml(f, NODE_N1 SVC("pc", "clusterIP: 10.96.0.50, trafficDistribution: PreferClose, "
				      "ports: [{name: http, port: 80}]")
			SLICE3("pc", ", hints: {forZones: [{name: a}]}", "",
			       ", hints: {forZones: [{name: a}]}"));
	build(f);
	fe = frontend(f, "10.96.0.50", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_int_equal(fe->flags, 0);
	assert_backends(fe, "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", NULL);

	/* No endpoint hinted for our zone: fall back to all. */
	reset(f);
	add_yaml(f, NODE_N1 SVC("pc", "clusterIP: 10.96.0.50, ports: [{name: http, port: 80}]")
			SLICE3("pc", ", hints: {forZones: [{name: c}]}",
			       ", hints: {forZones: [{name: b}]}",
			       ", hints: {forZones: [{name: b}]}"));
	build(f);
	assert_backends(frontend(f, "10.96.0.50", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL),
			"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", NULL);

	/* Manifests (no controller): PreferClose hints each endpoint for its own zone. */
	reset(f);
	f->config.is_pod_endpoints = true;
	add_yaml(f, NODE_N1 SVC("pc", "clusterIP: 10.96.0.50, trafficDistribution: PreferClose, "
				      "ports: [{name: http, port: 80}]") SLICE3("pc", "", "", ""));
	build(f);
	assert_backends(frontend(f, "10.96.0.50", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL),
			"10.0.0.1:8080", "10.0.0.3:8080", NULL);

	/* Our Node has no zone label: no topology. */
	reset(f);
	add_yaml(f, SVC("pc", "clusterIP: 10.96.0.50, ports: [{name: http, port: 80}]") SLICE3(
			"pc", ", hints: {forZones: [{name: a}]}",
			", hints: {forZones: [{name: b}]}", ", hints: {forZones: [{name: a}]}"));
	build(f);
	assert_int_equal(frontend(f, "10.96.0.50", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL)->n_backends,
			 3);
}

#define POD(name, labels, ip, node, ready, extra, ports)                                           \
	"apiVersion: v1\nkind: Pod\nmetadata: {name: " name ", labels: {" labels "}" extra "}\n"   \
	"spec: {nodeName: " node ", containers: [{name: c, ports: [" ports "]}]}\n"                \
	"status: {podIP: " ip ", conditions: [{type: Ready, status: '" ready "'}]}\n---\n"

static void test_pod_endpoints(void **ctx)
{
	struct fixture *f = *ctx;
	const struct lb_frontend *fe;

	f->config.is_pod_endpoints = true;
	add_yaml(f,
		 SVC("web", "clusterIP: 10.96.0.60, selector: {app: web}, ports: [{name: http, "
			    "port: 80, targetPort: http}, {name: raw, port: 81, targetPort: 9000, "
			    "protocol: UDP}]") POD("web-1", "app: web", "10.0.1.1", "n1", "True",
						   "", "{name: http, containerPort: 8080}")
		     POD("web-2", "app: web, tier: x", "10.0.1.2", "n2", "True", "",
			 "{name: http, containerPort: 8081}")
			 POD("web-3", "app: web", "10.0.1.3", "n2", "False", "",
			     "{name: http, containerPort: 8080}")
			     POD("web-4", "app: web", "10.0.1.4", "n2", "True", "",
				 "{name: other, containerPort: 8080}")
				 POD("db-1", "app: db", "10.0.1.5", "n1", "True", "",
				     "{name: http, containerPort: 8080}"));
	build(f);
	/* Named ports resolve per pod; not ready and unmatched pods are out; web-4 lacks the
	 * port name, so it only serves the numeric one. */
	fe = frontend(f, "10.96.0.60", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_backends(fe, "10.0.1.1:8080", "10.0.1.2:8081", NULL);
	assert_int_equal(fe->backends[0].flags, LB_BACKEND_F_LOCAL);
	assert_backends(frontend(f, "10.96.0.60", 81, IPPROTO_UDP, LB_SCOPE_INTERNAL),
			"10.0.1.1:9000", "10.0.1.2:9000", "10.0.1.4:9000", NULL);

	/* An EndpointSlice for the service wins over the pods. */
	add_yaml(f, SLICE3("web", "", "", ""));
	build(f);
	assert_backends(frontend(f, "10.96.0.60", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL),
			"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", NULL);

	/* With the API source (a controller makes slices), pods are not used. */
	reset(f);
	f->config.is_pod_endpoints = false;
	add_yaml(f, SVC("web", "clusterIP: 10.96.0.60, selector: {app: web}, ports: [{name: "
			       "http, port: 80}]") POD("web-1", "app: web", "10.0.1.1", "n1",
						       "True", "", "{containerPort: 80}"));
	build(f);
	assert_backends(frontend(f, "10.96.0.60", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL), NULL);

	/* Terminating pods serve only through the fallback. */
	reset(f);
	f->config.is_pod_endpoints = true;
	add_yaml(f, SVC("web", "clusterIP: 10.96.0.60, selector: {app: web}, ports: [{name: "
			       "http, port: 80}]")
			POD("web-1", "app: web", "10.0.1.1", "n1", "True",
			    ", deletionTimestamp: '2024-01-01T00:00:00Z'", "{containerPort: 80}"));
	build(f);
	fe = frontend(f, "10.96.0.60", 80, IPPROTO_TCP, LB_SCOPE_INTERNAL);
	assert_backends(fe, "10.0.1.1:80", NULL);
	assert_int_equal(fe->backends[0].flags, LB_BACKEND_F_LOCAL | LB_BACKEND_F_TERMINATING);
}

static void test_nothing_programmed(void **ctx)
{
	struct fixture *f = *ctx;

	add_yaml(f, SVC("headless", "clusterIP: None, ports: [{port: 80}]")
			SVC("ext", "type: ExternalName, externalName: example.com")
			    SVC("multi",
				"clusterIP: 10.96.0.70, ports: [{name: a, port: 80, protocol: "
				"SCTP}, {name: b, port: 80, protocol: UDP}, {name: c, port: 80}]"));
	build(f);
	assert_int_equal(f->state.n_frontends, 3);
	assert_int_equal(f->state.frontends[0].proto, IPPROTO_TCP);
	assert_int_equal(f->state.frontends[1].proto, IPPROTO_UDP);
	assert_int_equal(f->state.frontends[2].proto, IPPROTO_SCTP);
}

/* Bad input: refused with namespace/name and field; the rest stays in force. */
static void test_rejections(void **ctx)
{
	static const struct {
		const char *spec;
		const char *field;
	} cases[] = {
	    {"clusterIP: 10.96.1.1, ports: [{port: 70000}]", "spec.ports[0].port: 70000 is out"},
	    {"clusterIP: 10.96.1.1, externalIPs: [1.2.3], ports: [{port: 80}]",
	     "spec.externalIPs[0]: \"1.2.3\" is not a valid IP"},
	    {"clusterIP: 10.96.1.1, ports: [{port: 80, protocol: ICMP}]",
	     "spec.ports[0].protocol: \"ICMP\" is not one of TCP, UDP, SCTP"},
	    {"clusterIP: 10.96.1.1, ports: [{name: a, port: 80}, {name: a, port: 81}]",
	     "spec.ports[1].name: duplicate port name \"a\""},
	    {"clusterIP: 10.96.1.1, loadBalancerSourceRanges: [10.0.0.0/33], ports: [{port: 80}]",
	     "spec.loadBalancerSourceRanges[0]: \"10.0.0.0/33\" is not a valid CIDR"},
	    {"clusterIP: 10.96.1.1, externalTrafficPolicy: Nearby, ports: [{port: 80}]",
	     "spec.externalTrafficPolicy: \"Nearby\" is not one of Cluster, Local"},
	    {"clusterIP: 10.96.1.1, sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: "
	     "{timeoutSeconds: 0}}, ports: [{port: 80}]",
	     "spec.sessionAffinityConfig.clientIP.timeoutSeconds: 0 is out of range 1-86400"},
	    {"clusterIP: 10.96.1.1, externalIPs: [1.1.1.1, 1.1.1.2, 1.1.1.3, 1.1.1.4, 1.1.1.5, "
	     "1.1.1.6, 1.1.1.7, 1.1.1.8, 1.1.1.9, 1.1.1.10, 1.1.1.11, 1.1.1.12, 1.1.1.13, "
	     "1.1.1.14, "
	     "1.1.1.15, 1.1.1.16, 1.1.1.17, 1.1.1.18, 1.1.1.19, 1.1.1.20, 1.1.1.21, 1.1.1.22, "
	     "1.1.1.23, 1.1.1.24, 1.1.1.25, 1.1.1.26, 1.1.1.27, 1.1.1.28, 1.1.1.29, 1.1.1.30, "
	     "1.1.1.31, 1.1.1.32, 1.1.1.33, 1.1.1.34, 1.1.1.35, 1.1.1.36, 1.1.1.37, 1.1.1.38, "
	     "1.1.1.39, 1.1.1.40, 1.1.1.41, 1.1.1.42, 1.1.1.43, 1.1.1.44, 1.1.1.45, 1.1.1.46, "
	     "1.1.1.47, 1.1.1.48, 1.1.1.49, 1.1.1.50, 1.1.1.51, 1.1.1.52, 1.1.1.53, 1.1.1.54, "
	     "1.1.1.55, 1.1.1.56, 1.1.1.57, 1.1.1.58, 1.1.1.59, 1.1.1.60, 1.1.1.61, 1.1.1.62, "
	     "1.1.1.63, 1.1.1.64, 1.1.1.65], ports: [{port: 80}]",
	     "spec.externalIPs: 65 items exceed the limit of 64"},
	};
	struct fixture *f = *ctx;
	char yaml[2048];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset(f);
		snprintf(yaml, sizeof(yaml),
			 SVC("good", "clusterIP: 10.96.1.2, ports: [{port: 80}]") SVC("bad", "%s"),
			 cases[i].spec);
		add_yaml(f, yaml);
		build(f);
		if (!has_error(f, "test.yaml: Service default/bad: ", cases[i].field, NULL))
			fail_msg("case %zu: no error with \"%s\"", i, cases[i].field);
		assert_int_equal(f->state.rejected_objects, 1);
		assert_int_equal(f->state.n_frontends, 1);
	}
	/* From the API, the message names the source "api". */
	reset(f);
	add_json(f, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"x\","
		    "\"namespace\":\"prod\"},\"spec\":{\"clusterIP\":\"10.96.0.1\",\"ports\":"
		    "[{\"port\":80,\"targetPort\":\"80\"}]}}");
	assert_int_equal(f->rejected, 1);
	assert_true(has_error(f, "api: Service prod/x: spec.ports[0].targetPort", NULL));
}

/* Node: the pod CIDR (spec.podCIDR, the IPv4 entry of spec.podCIDRs) and the InternalIP. */
static void test_node_pod_cidr(void **ctx)
{
	static const struct {
		const char *spec;
		const char *field;
	} bad[] = {
	    {"podCIDR: 10.244.1.0/33", "spec.podCIDR: \"10.244.1.0/33\" is not a CIDR"},
	    {"podCIDR: 10.244.1.0/31", "spec.podCIDR: \"10.244.1.0/31\": prefix length /31"},
	    {"podCIDR: 10.244.1.0/24, podCIDRs: [10.244.2.0/24]",
	     "spec.podCIDRs[0]: \"10.244.2.0/24\" differs from spec.podCIDR"},
	    {"podCIDRs: [10.244.1.0/24, 10.244.2.0/24]", "spec.podCIDRs[1]: a second IPv4 CIDR"},
	    {"podCIDRs: [10.244.1.0/24, fd00::/64, 10.1.0.0/24]",
	     "spec.podCIDRs: 3 items exceed the limit of 2"},
	    {"podCIDR: [10.244.1.0/24]", "spec.podCIDR: expected a string"},
	};
	struct fixture *f = *ctx;
	const struct k8s_node *node;
	char yaml[512], buf[CIDR4_STR_LEN];
	size_t i;

	add_yaml(f, "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\n"
		    "spec: {podCIDR: 10.244.2.0/24, podCIDRs: [10.244.2.0/24, fd00:2::/64]}\n"
		    "status: {addresses: [{type: ExternalIP, address: 203.0.113.2}, "
		    "{type: InternalIP, address: 198.51.100.2}]}\n---\n"
		    "apiVersion: v1\nkind: Node\nmetadata: {name: n3}\n"
		    "spec: {podCIDRs: [\"fd00:3::/64\", 10.244.3.7/24]}\n---\n"
		    "apiVersion: v1\nkind: Node\nmetadata: {name: n4}\nspec: {podCIDR: \"\"}\n");
	assert_int_equal(f->n_objects, 3);
	node = &f->objects[0]->node;
	assert_true(node->has_pod_cidr);
	assert_string_equal(cidr4_str(&node->pod_cidr, buf, sizeof(buf)), "10.244.2.0/24");
	assert_int_equal(node->internal_ip, ip("198.51.100.2"));
	/* IPv6 first: the IPv4 entry is taken, its host bits cleared as the API server allows. */
	node = &f->objects[1]->node;
	assert_true(node->has_pod_cidr);
	assert_string_equal(cidr4_str(&node->pod_cidr, buf, sizeof(buf)), "10.244.3.0/24");
	assert_int_equal(node->internal_ip, 0);
	assert_false(f->objects[2]->node.has_pod_cidr);

	/* The API's JSON decodes the same. */
	reset(f);
	add_json(f, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n5\"},"
		    "\"spec\":{\"podCIDR\":\"10.244.5.0/24\",\"podCIDRs\":[\"10.244.5.0/24\"]},"
		    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":"
		    "\"198.51.100.5\"}]}}");
	assert_int_equal(f->n_objects, 1);
	assert_true(f->objects[0]->node.has_pod_cidr);
	assert_string_equal(cidr4_str(&f->objects[0]->node.pod_cidr, buf, sizeof(buf)),
			    "10.244.5.0/24");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset(f);
		snprintf(yaml, sizeof(yaml),
			 "apiVersion: v1\nkind: Node\nmetadata: {name: bad}\nspec: {%s}\n",
			 bad[i].spec);
		add_yaml(f, yaml);
		assert_int_equal(f->rejected, 1);
		if (!has_error(f, "test.yaml: Node bad: ", bad[i].field, NULL))
			fail_msg("case %zu: no error with \"%s\"", i, bad[i].field);
	}
}

/* Node: leaving when deleted or tainted by the cluster autoscaler (kube-proxy's nodeEligible). */
static void test_node_leaving(void **ctx)
{
	struct fixture *f = *ctx;

	add_yaml(f,
		 "apiVersion: v1\nkind: Node\nmetadata: {name: stays}\n"
		 "spec: {taints: [{key: node.kubernetes.io/unschedulable, effect: NoSchedule}]}\n"
		 "---\napiVersion: v1\nkind: Node\nmetadata: {name: scaled-down}\n"
		 "spec: {taints: [{key: a, effect: NoExecute}, "
		 "{key: ToBeDeletedByClusterAutoscaler, value: \"1796283600\", "
		 "effect: NoSchedule}]}\n"
		 "---\napiVersion: v1\nkind: Node\nmetadata: {name: deleted, "
		 "deletionTimestamp: \"2026-12-03T07:40:00Z\"}\n"
		 "---\napiVersion: v1\nkind: Node\nmetadata: {name: bare}\n");
	assert_int_equal(f->n_objects, 4);
	assert_false(f->objects[0]->node.is_leaving);
	assert_true(f->objects[1]->node.is_leaving);
	assert_true(f->objects[2]->node.is_leaving);
	assert_false(f->objects[3]->node.is_leaving);

	reset(f);
	add_yaml(
	    f, "apiVersion: v1\nkind: Node\nmetadata: {name: bad}\nspec: {taints: [{key: [1]}]}\n");
	assert_int_equal(f->rejected, 1);
	assert_true(has_error(f, "test.yaml: Node bad: ", "spec.taints[0].key", NULL));
}

static void test_json_adapter(void **ctx)
{
	static const char *const garbage[] = {
	    "",	     "{",    "{\"a\":",	   "[1,2",     "{\"a\":1}x",	       "nul",
	    "\"\\u", "[1,]", "{\"a\":1,}", "\xff\xfe", "{\"a\":\"\xc3\x28\"}",
	};
	char error[128], deep[200];
	struct json_object *value;
	struct yaml_tree tree;
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		value = k8s_json_parse(garbage[i], strlen(garbage[i]), error, sizeof(error));
		if (value)
			fail_msg("garbage %zu parsed", i);
		assert_true(error[0] != '\0');
	}
	/* Types survive: integers stay integers, strings stay strings, null is null. */
	value = k8s_json_parse("{\"n\":80,\"s\":\"80\",\"b\":true,\"z\":null,\"f\":1.5,"
			       "\"u\":\"a\\u0000b\",\"l\":[1,{\"k\":[]}]}",
			       strlen("{\"n\":80,\"s\":\"80\",\"b\":true,\"z\":null,\"f\":1.5,"
				      "\"u\":\"a\\u0000b\",\"l\":[1,{\"k\":[]}]}"),
			       error, sizeof(error));
	assert_non_null(value);
	yaml_tree_init(&tree);
	assert_int_equal(k8s_json_to_tree(&tree, value), 0);
	{
		const struct yaml_tree_node *root = tree.documents[0];
		int64_t n;
		bool b;

		assert_int_equal(yaml_tree_int(yaml_tree_get(root, "n"), &n), 0);
		assert_int_equal(n, 80);
		assert_string_equal(yaml_tree_string(yaml_tree_get(root, "s")), "80");
		assert_int_equal(yaml_tree_int(yaml_tree_get(root, "s"), &n), -EINVAL);
		assert_int_equal(yaml_tree_bool(yaml_tree_get(root, "b"), &b), 0);
		assert_true(b);
		assert_true(yaml_tree_is_null(yaml_tree_get(root, "z")));
		assert_int_equal(yaml_tree_int(yaml_tree_get(root, "f"), &n), -EINVAL);
		/* A string holding NUL is no usable string. */
		assert_null(yaml_tree_string(yaml_tree_get(root, "u")));
		assert_int_equal(yaml_tree_get(root, "l")->sequence.count, 2);
	}
	yaml_tree_free(&tree);
	json_object_put(value);

	/* Nesting beyond the bound is refused by the parser, not the stack. */
	for (i = 0; i < 100; i++)
		deep[i] = '[';
	for (; i < 200; i++)
		deep[i] = ']';
	assert_null(k8s_json_parse(deep, sizeof(deep), error, sizeof(error)));
}

static void write_text(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");

	assert_non_null(file);
	fputs(text, file);
	assert_int_equal(fclose(file), 0);
}

static void test_kubeconfig(void **ctx)
{
	char dir[] = "/tmp/sluice-kubeconfig-XXXXXX", path[128], error[512], command[160];
	struct k8s_api_config config;

	(void)ctx;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	/* The current context picks cluster and user; relative paths are the file's; data is
	 * base64 ("aGVsbG8=" is "hello"). */
	write_text(path, "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
			 "clusters:\n- {name: c1, cluster: {server: 'https://10.0.0.1:6443'}}\n"
			 "- {name: c2, cluster: {server: 'https://api.example:443/', "
			 "certificate-authority: ca.crt}}\n"
			 "contexts:\n- {name: a, context: {cluster: c1, user: u1}}\n"
			 "- {name: b, context: {cluster: c2, user: u2}}\n"
			 "users:\n- {name: u1, user: {token: one}}\n"
			 "- {name: u2, user: {client-certificate-data: aGVsbG8=, client-key: "
			 "/etc/k.pem, tokenFile: tok}}\n");
	assert_int_equal(k8s_kubeconfig_load(path, &config, error, sizeof(error)), 0);
	assert_string_equal(config.server, "https://api.example:443");
	snprintf(command, sizeof(command), "%s/ca.crt", dir);
	assert_string_equal(config.ca_file, command);
	assert_int_equal(config.cert_data_len, 5);
	assert_memory_equal(config.cert_data, "hello", 5);
	assert_string_equal(config.key_file, "/etc/k.pem");
	snprintf(command, sizeof(command), "%s/tok", dir);
	assert_string_equal(config.token_file, command);
	assert_null(config.token);
	k8s_api_config_free(&config);

	write_text(path, "current-context: a\nclusters: [{name: c, cluster: {server: "
			 "'https://x'}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
			 "users: [{name: u, user: {exec: {command: aws}}}]\n");
	assert_int_equal(k8s_kubeconfig_load(path, &config, error, sizeof(error)), -EINVAL);
	assert_non_null(strstr(error, "users[u]: exec and auth-provider plugins are not"));
	write_text(path, "clusters: []\n");
	assert_int_equal(k8s_kubeconfig_load(path, &config, error, sizeof(error)), -EINVAL);
	assert_non_null(strstr(error, "current-context: is required"));
	write_text(path, "current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
			 "clusters: [{name: c, cluster: {server: 'ftp://x'}}]\n");
	assert_int_equal(k8s_kubeconfig_load(path, &config, error, sizeof(error)), -EINVAL);
	assert_non_null(strstr(error, "clusters[c].server"));
	write_text(path, "current-context: [\n");
	assert_int_equal(k8s_kubeconfig_load(path, &config, error, sizeof(error)), -EINVAL);
	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	assert_int_equal(system(command), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cluster_ip_yaml_and_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_balancer_local, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_without_endpoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_internal_traffic_policy_local, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_terminating_fallback_per_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prefer_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pod_endpoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_programmed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rejections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node_pod_cidr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node_leaving, setup, teardown),
	    cmocka_unit_test(test_json_adapter),
	    cmocka_unit_test(test_kubeconfig),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
