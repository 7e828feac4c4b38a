// SPDX-License-Identifier: Apache-2.0
/*
 * Manifests to desired state: decoding, validation, last-good fallbacks and hostile input. The
 * state is built from the set's objects by the full build, or by the index their change lists
 * feed (loader/agent/feed.c), as the agent does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/log.h"
#include "loader/agent/feed.h"
#include "loader/sources/manifest.h"
#include "loader/desired/index.h"
#include "loader/desired/build.h"
#include "loader/k8s/yaml_tree.h"
#include "maps/lb.h"

struct fixture {
	char dir[PATH_MAX];
	struct manifest_set *set;
	struct desired_build_config config; /* as a standalone node builds: endpoints from Pods */
	struct desired_state state;
	struct k8s_errors errors; /* the last load's, then its build's */
};

static int setup(void **ctx)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-manifest-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->set = manifest_set_new();
	assert_non_null(f->set);
	desired_build_config_init(&f->config, NULL);
	f->config.is_pod_endpoints = true;
	/* Errors are asserted through the API; keep the log for debugging only. */
	log_level = getenv("SLUICE_TEST_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR;
	*ctx = f;
	return 0;
}

static int teardown(void **ctx)
{
	struct fixture *f = *ctx;
	char command[PATH_MAX + 16];

	desired_state_free(&f->state);
	k8s_errors_free(&f->errors);
	manifest_set_free(f->set);
	snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
	if (system(command))
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

static void write_bytes(struct fixture *f, const char *name, const void *data, size_t size)
{
	char path[PATH_MAX + 64];
	FILE *file;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	file = fopen(path, "wb");
	assert_non_null(file);
	assert_int_equal(fwrite(data, 1, size, file), size);
	assert_int_equal(fclose(file), 0);
}

static void write_file(struct fixture *f, const char *name, const char *text)
{
	write_bytes(f, name, text, strlen(text));
}

static void remove_file(struct fixture *f, const char *name)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(unlink(path), 0);
}

/*
 * Rebuild f->state from the set's objects with the full build; f->errors gets the set's errors
 * (found of them in all), then the build's. Returns the count of both.
 */
static int build(struct fixture *f, size_t found)
{
	struct k8s_change_list changes;
	struct k8s_object **objects;
	size_t i, n;

	/* Built from every object here: the changes are not needed. */
	manifest_set_changes(f->set, &changes);
	k8s_change_list_free(&changes);
	k8s_errors_free(&f->errors);
	for (i = 0; i < manifest_set_error_count(f->set); i++)
		k8s_errors_add(&f->errors, "%s", manifest_set_error(f->set, i));
	f->errors.found += found - f->errors.count;
	desired_state_free(&f->state);
	assert_int_equal(manifest_set_objects(f->set, &objects, &n), 0);
	assert_int_equal(desired_build(objects, n, &f->config, &f->errors, &f->state), 0);
	free(objects);
	f->state.rejected_objects += manifest_set_rejected(f->set);
	assert_int_equal(f->errors.count, f->errors.found < MANIFEST_MAX_ERRORS
					      ? f->errors.found
					      : MANIFEST_MAX_ERRORS);
	return (int)f->errors.found;
}

/* Load the directory and rebuild f->state; returns the error count, the build's included. */
static int load(struct fixture *f)
{
	int n = manifest_set_load_dir(f->set, f->dir);

	assert_true(n >= 0);
	assert_int_equal(manifest_set_error_count(f->set),
			 n < MANIFEST_MAX_ERRORS ? n : MANIFEST_MAX_ERRORS);
	return build(f, (size_t)n);
}

static void dump_errors(const struct fixture *f)
{
	size_t i;

	for (i = 0; i < f->errors.count; i++)
		print_message("  error: %s\n", f->errors.items[i]);
}

/* True when some error of the last load contains every one of the given strings. */
static bool has_error(const struct fixture *f, ...)
{
	size_t i;

	for (i = 0; i < f->errors.count; i++) {
		const char *error = f->errors.items[i];
		const char *needle;
		bool is_match = true;
		va_list ap;

		va_start(ap, f);
		while ((needle = va_arg(ap, const char *)))
			is_match &= strstr(error, needle) != NULL;
		va_end(ap);
		if (is_match)
			return true;
	}
	dump_errors(f);
	return false;
}

static uint32_t ip(const char *text)
{
	uint32_t address;

	assert_int_equal(inet_pton(AF_INET, text, &address), 1);
	return address;
}

static const struct lb_frontend *find_frontend(const struct fixture *f, const char *vip,
					       uint16_t port, uint8_t proto)
{
	size_t i;

	for (i = 0; i < f->state.n_frontends; i++) {
		const struct lb_frontend *fe = &f->state.frontends[i];

		if (fe->vip == ip(vip) && fe->port == htons(port) && fe->proto == proto)
			return fe;
	}
	return NULL;
}

/* Assert fe's backends are exactly the "a.b.c.d:port" strings given, in order. */
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

		assert_non_null(colon);
		snprintf(address, sizeof(address), "%.*s", (int)(colon - expected), expected);
		assert_true(i < fe->n_backends);
		assert_int_equal(fe->backends[i].address, ip(address));
		assert_int_equal(fe->backends[i].port, htons((uint16_t)atoi(colon + 1)));
		i++;
	}
	va_end(ap);
	assert_int_equal(fe->n_backends, i);
}

#define SVC_WEB                                                                                    \
	"apiVersion: v1\n"                                                                         \
	"kind: Service\n"                                                                          \
	"metadata:\n"                                                                              \
	"  name: web\n"                                                                            \
	"  namespace: default\n"                                                                   \
	"spec:\n"                                                                                  \
	"  type: ClusterIP\n"                                                                      \
	"  clusterIP: 10.96.0.10\n"                                                                \
	"  ports:\n"                                                                               \
	"  - port: 80\n"                                                                           \
	"    targetPort: 8080\n"

#define SLICE_WEB                                                                                  \
	"apiVersion: discovery.k8s.io/v1\n"                                                        \
	"kind: EndpointSlice\n"                                                                    \
	"metadata:\n"                                                                              \
	"  name: web-abc12\n"                                                                      \
	"  labels:\n"                                                                              \
	"    kubernetes.io/service-name: web\n"                                                    \
	"addressType: IPv4\n"                                                                      \
	"ports:\n"                                                                                 \
	"- port: 8080\n"                                                                           \
	"  protocol: TCP\n"                                                                        \
	"endpoints:\n"                                                                             \
	"- addresses: [\"10.0.0.2\"]\n"                                                            \
	"  conditions: {ready: true}\n"                                                            \
	"- addresses: [\"10.0.0.10\"]\n"                                                           \
	"- addresses: [\"10.0.0.1\"]\n"

static void test_clusterip_with_slice(void **ctx)
{
	struct fixture *f = *ctx;
	const struct lb_frontend *fe;

	write_file(f, "web.yaml", SVC_WEB "---\n" SLICE_WEB);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 1);
	fe = &f->state.frontends[0];
	assert_int_equal(fe->vip, htonl(0x0a60000a));
	assert_int_equal(fe->port, htons(80));
	assert_int_equal(fe->proto, IPPROTO_TCP);
	assert_string_equal(fe->name, "default/web:80");
	/* Numeric order, not string order: .2 before .10. */
	assert_backends(fe, "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.10:8080", NULL);

	/* A same-size rewrite right away is still seen (files are compared by content). */
	write_file(f, "web.yaml", SVC_WEB "---\n" SLICE_WEB "- addresses: [\"10.0.0.3\"]\n");
	assert_int_equal(load(f), 0);
	write_file(f, "web.yaml", SVC_WEB "---\n" SLICE_WEB "- addresses: [\"10.0.0.4\"]\n");
	assert_int_equal(load(f), 0);
	assert_backends(&f->state.frontends[0], "10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.4:8080",
			"10.0.0.10:8080", NULL);
}

static void test_multiport_name_matching(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(f, "svc.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\n"
		   "spec:\n  clusterIP: 10.96.1.1\n  ports:\n"
		   "  - {name: http, port: 80, targetPort: http}\n"
		   "  - {name: metrics, port: 9090, targetPort: 9100}\n");
	/* Two slices carrying different resolved numbers for "http"; B has no "metrics". */
	write_file(f, "slices.yml",
		   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		   "metadata: {name: api-a, namespace: shop, labels: "
		   "{kubernetes.io/service-name: api}}\n"
		   "addressType: IPv4\n"
		   "ports: [{name: http, port: 8080}, {name: metrics, port: 9100}]\n"
		   "endpoints: [{addresses: [10.1.0.1]}]\n"
		   "---\n"
		   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		   "metadata: {name: api-b, namespace: shop, labels: "
		   "{kubernetes.io/service-name: api}}\n"
		   "addressType: IPv4\n"
		   "ports: [{name: http, port: 8081}]\n"
		   "endpoints: [{addresses: [10.1.0.2]}]\n"
		   "---\n"
		   "# same service name, other namespace: not ours\n"
		   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		   "metadata: {name: api-c, namespace: other, labels: "
		   "{kubernetes.io/service-name: api}}\n"
		   "addressType: IPv4\n"
		   "ports: [{name: http, port: 7000}]\n"
		   "endpoints: [{addresses: [10.9.9.9]}]\n");
	write_file(f, ".hidden.yaml", "this is: [not even read\n");
	write_file(f, "notes.txt", "not a manifest\n");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 2);
	assert_string_equal(find_frontend(f, "10.96.1.1", 80, IPPROTO_TCP)->name, "shop/api:http");
	assert_backends(find_frontend(f, "10.96.1.1", 80, IPPROTO_TCP), "10.1.0.1:8080",
			"10.1.0.2:8081", NULL);
	/* Slice B has no "metrics" port: the numeric targetPort stands in. */
	assert_backends(find_frontend(f, "10.96.1.1", 9090, IPPROTO_TCP), "10.1.0.1:9100",
			"10.1.0.2:9100", NULL);
}

static void test_named_target_without_slice_port(void **ctx)
{
	struct fixture *f = *ctx;

	/* A named targetPort and a slice without that port name: nothing to resolve it with. */
	write_file(f, "a.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
		   "spec: {clusterIP: 10.96.2.1, ports: [{port: 80, targetPort: web}]}\n---\n"
		   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		   "metadata: {name: a-1, labels: {kubernetes.io/service-name: a}}\n"
		   "addressType: IPv4\nports: [{name: other, port: 8080}]\n"
		   "endpoints: [{addresses: [10.1.0.1]}]\n");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 1);
	assert_backends(find_frontend(f, "10.96.2.1", 80, IPPROTO_TCP), NULL);
}

static void test_ready_and_terminating_fallback(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(f, "svc.yaml", SVC_WEB);
	write_file(f, "slice.yaml",
		   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		   "metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}\n"
		   "addressType: IPv4\nports: [{port: 8080}]\n"
		   "endpoints:\n"
		   "- {addresses: [10.0.0.1], conditions: {ready: true}}\n"
		   "- {addresses: [10.0.0.2], conditions: {ready: false}}\n"
		   "- {addresses: [10.0.0.3], conditions: {ready: false, serving: true, "
		   "terminating: true}}\n");
	assert_int_equal(load(f), 0);
	assert_backends(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP), "10.0.0.1:8080", NULL);

	/* None ready in any slice: serving and terminating endpoints take over. */
	write_file(f, "slice.yaml",
		   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		   "metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}\n"
		   "addressType: IPv4\nports: [{port: 8080}]\n"
		   "endpoints:\n"
		   "- {addresses: [10.0.0.2], conditions: {ready: false}}\n"
		   "- {addresses: [10.0.0.3], conditions: {ready: false, serving: true, "
		   "terminating: true}}\n"
		   "- {addresses: [10.0.0.4], conditions: {ready: false, serving: false, "
		   "terminating: true}}\n");
	assert_int_equal(load(f), 0);
	assert_backends(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP), "10.0.0.3:8080", NULL);

	/* A ready endpoint in another slice of the service disables the fallback. */
	write_file(f, "slice2.yaml",
		   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		   "metadata: {name: web-2, labels: {kubernetes.io/service-name: web}}\n"
		   "addressType: IPv4\nports: [{port: 8080}]\n"
		   "endpoints: [{addresses: [10.0.0.9]}]\n");
	assert_int_equal(load(f), 0);
	assert_backends(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP), "10.0.0.9:8080", NULL);
}

static void test_headless_external_name_ipv6_sctp(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(
	    f, "misc.yaml",
	    "apiVersion: v1\nkind: Service\nmetadata: {name: headless}\n"
	    "spec: {clusterIP: None, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\n"
	    "spec: {type: ExternalName, externalName: example.com, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six}\n"
	    "spec: {clusterIP: 'fd00::10', ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: noip}\n"
	    "spec: {ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: sctp}\n"
	    "spec:\n  type: NodePort\n  clusterIP: 10.96.3.3\n  ports:\n"
	    "  - {name: s, port: 80, protocol: SCTP}\n"
	    "  - {name: t, port: 81, nodePort: 30081}\n");
	assert_int_equal(load(f), 0);
	/* The NodePort service: both ports on the clusterIP (SCTP included), and the TCP port's
	 * nodePort from outside on every node address (vip 0, external). From pods a NodePort is
	 * one frontend per node address, and without a Node object or --node-ip there is none. */
	assert_int_equal(f->state.n_frontends, 3);
	assert_non_null(find_frontend(f, "10.96.3.3", 80, IPPROTO_SCTP));
	assert_non_null(find_frontend(f, "10.96.3.3", 81, IPPROTO_TCP));
	assert_int_equal(f->state.frontends[0].vip, 0);
	assert_int_equal(f->state.frontends[0].port, htons(30081));
	assert_int_equal(f->state.frontends[0].kind, LB_KIND_NODE_PORT);
	assert_int_equal(f->state.frontends[0].scope, LB_SCOPE_EXTERNAL);
	assert_int_equal(f->state.frontends[0].flags, LB_FE_F_SNAT);
}

static void test_udp(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(f, "dns.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: kube-system}\n"
		   "spec:\n  clusterIP: 10.96.0.53\n  ports:\n"
		   "  - {name: dns, port: 53, protocol: UDP}\n"
		   "  - {name: dns-tcp, port: 53, protocol: TCP}\n---\n"
		   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		   "metadata: {name: dns-x, namespace: kube-system, labels: "
		   "{kubernetes.io/service-name: dns}}\n"
		   "addressType: IPv4\n"
		   "ports: [{name: dns, port: 5353, protocol: UDP}, "
		   "{name: dns-tcp, port: 5354, protocol: TCP}]\n"
		   "endpoints: [{addresses: [10.2.0.1]}, {addresses: [10.2.0.1]}]\n");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 2);
	/* Sorted by (vip, port, proto): TCP (6) before UDP (17). */
	assert_int_equal(f->state.frontends[0].proto, IPPROTO_TCP);
	assert_int_equal(f->state.frontends[1].proto, IPPROTO_UDP);
	assert_string_equal(f->state.frontends[1].name, "kube-system/dns:dns");
	/* The duplicate endpoint is folded. */
	assert_backends(find_frontend(f, "10.96.0.53", 53, IPPROTO_UDP), "10.2.0.1:5353", NULL);
	assert_backends(find_frontend(f, "10.96.0.53", 53, IPPROTO_TCP), "10.2.0.1:5354", NULL);
}

/* Each invalid field class: the error names the file, the object and the field. */
static void test_invalid_fields(void **ctx)
{
	static const struct {
		const char *yaml;
		const char *object;
		const char *field;
	} cases[] = {
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{port: 70000}]}\n",
	     "Service default/web", "spec.ports[0].port: 70000 is out of range 1-65535"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{port: 0}]}\n",
	     "Service default/web", "spec.ports[0].port: 0 is out of range"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.300, ports: [{port: 80}]}\n",
	     "Service default/web", "spec.clusterIP: \"10.96.0.300\" is not a valid IPv4"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 127.0.0.1, ports: [{port: 80}]}\n",
	     "Service default/web", "spec.clusterIP: 127.0.0.1 is not a usable"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{port: 80, protocol: ICMP}]}\n",
	     "Service default/web", "spec.ports[0].protocol: \"ICMP\" is not one of"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{name: a, port: 80}, {name: a, port: 81}]}\n",
	     "Service default/web", "spec.ports[1].name: duplicate port name \"a\""},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{name: a, port: 80}, {port: 81}]}\n",
	     "Service default/web", "spec.ports[1].name: is required"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{name: a, port: 80}, {name: b, port: 80}]}\n",
	     "Service default/web", "spec.ports[1].port: 80/TCP is already listed"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{port: \"80\"}]}\n",
	     "Service default/web", "spec.ports[0].port: expected an integer, got string \"80\""},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{port: 080}]}\n",
	     "Service default/web", "spec.ports[0].port: expected an integer"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{port: 80, targetPort: 8080.5}]}\n",
	     "Service default/web", "spec.ports[0].targetPort: expected a number or a name"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: [{port: 80, targetPort: \"8080\"}]}\n",
	     "Service default/web", "spec.ports[0].targetPort: \"8080\" is neither"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {clusterIP: 10.96.0.10, ports: {port: 80}}\n",
	     "Service default/web", "spec.ports: expected a list, got a mapping"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {type: Magic, clusterIP: 10.96.0.10}\n",
	     "Service default/web", "spec.type: \"Magic\" is not one of"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: Web_1}\nspec: {}\n",
	     "Service default/Web_1", "metadata.name: \"Web_1\" is not a DNS-1035 label"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {namespace: prod}\nspec: {}\n",
	     "Service prod/?", "metadata.name: is required"},
	    {"apiVersion: v1\nkind: Service\nmetadata: {name: 42}\nspec: {}\n", "Service default/?",
	     "metadata.name: expected a string, got integer 42"},
	    {"apiVersion: v2\nkind: Service\nmetadata: {name: web}\nspec: {}\n",
	     "Service default/web", "apiVersion: \"v2\" is not supported (want v1)"},
	    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	     "metadata: {name: web-1, namespace: prod}\naddressType: IPv4\n"
	     "endpoints: [{addresses: [10.0.0.999]}]\n",
	     "EndpointSlice prod/web-1",
	     "endpoints[0].addresses[0]: \"10.0.0.999\" is not a valid IPv4"},
	    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	     "metadata: {name: web-1}\naddressType: IPv4\n"
	     "endpoints: [{addresses: [10.0.0.1], conditions: {ready: \"yes\"}}]\n",
	     "EndpointSlice default/web-1",
	     "endpoints[0].conditions.ready: expected true or false, got string \"yes\""},
	    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	     "metadata: {name: web-1}\naddressType: IPv4\n"
	     "ports: [{port: 65536}]\nendpoints: []\n",
	     "EndpointSlice default/web-1", "ports[0].port: 65536 is out of range"},
	    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	     "metadata: {name: web-1}\naddressType: Magic\n",
	     "EndpointSlice default/web-1", "addressType: \"Magic\" is not one of"},
	    {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	     "metadata: {name: web-1}\naddressType: IPv4\n"
	     "endpoints: [{addresses: []}]\n",
	     "EndpointSlice default/web-1", "endpoints[0].addresses: needs at least one"},
	};
	struct fixture *f = *ctx;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(f, "web.yaml", cases[i].yaml);
		if (load(f) < 1 ||
		    !has_error(f, "web.yaml: ", cases[i].object, cases[i].field, NULL))
			fail_msg("case %zu: no error with \"%s\" and \"%s\"", i, cases[i].object,
				 cases[i].field);
		assert_int_equal(f->state.n_frontends, 0);
	}
}

static void test_document_errors_and_kinds(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(f, "mixed.yaml",
		   "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: skip-me}\n---\n"
		   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: skip-me}\ndata: {a: b}\n---\n"
		   "apiVersion: v1\nkind: Pod\nmetadata: {name: later}\n---\n"
		   "---\n"
		   "metadata: {name: nokind}\n---\n"
		   "- just\n- a list\n---\n"
		   "apiVersion: v1\nkind: List\nitems:\n"
		   "- "
		   "apiVersion: v1\n  kind: Service\n  metadata: {name: listed}\n"
		   "  spec: {clusterIP: 10.96.9.9, ports: [{port: 443}]}\n");
	assert_int_equal(load(f), 2);
	assert_true(has_error(f, "mixed.yaml:15: object has no apiVersion", NULL));
	assert_true(has_error(f, "mixed.yaml:17: document is a list", NULL));
	assert_int_equal(f->state.n_frontends, 1);
	assert_string_equal(f->state.frontends[0].name, "default/listed:443");
}

static void test_invalid_object_keeps_previous(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(f, "web.yaml", SVC_WEB "---\n" SLICE_WEB);
	assert_int_equal(load(f), 0);

	/* The Service turns invalid and a new valid one appears in the same file. */
	write_file(f, "web.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
		   "spec: {clusterIP: 10.96.0.10, ports: [{port: 70000}]}\n---\n"
		   "apiVersion: v1\nkind: Service\nmetadata: {name: other}\n"
		   "spec: {clusterIP: 10.96.0.11, ports: [{port: 80}]}\n---\n"
		   "apiVersion: v1\nkind: Service\nmetadata: {name: never}\n"
		   "spec: {clusterIP: 10.96.0.12, ports: [{port: -1}]}\n---\n" SLICE_WEB);
	assert_int_equal(load(f), 2);
	assert_true(has_error(f, "web.yaml: Service default/web: spec.ports[0].port: 70000", NULL));
	assert_true(has_error(f, "web.yaml: Service default/never: spec.ports[0].port: -1", NULL));
	assert_int_equal(f->state.n_frontends, 2);
	assert_backends(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP), "10.0.0.1:8080",
			"10.0.0.2:8080", "10.0.0.10:8080", NULL);
	assert_non_null(find_frontend(f, "10.96.0.11", 80, IPPROTO_TCP));
	assert_null(find_frontend(f, "10.96.0.12", 80, IPPROTO_TCP));

	/* Still invalid on the next reload: the same last good version stays. */
	assert_int_equal(load(f), 2);
	assert_non_null(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP));

	/* Fixed: the new version applies. */
	write_file(f, "web.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
		   "spec: {clusterIP: 10.96.0.10, ports: [{port: 81, targetPort: 8080}]}\n"
		   "---\n" SLICE_WEB);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 1);
	assert_non_null(find_frontend(f, "10.96.0.10", 81, IPPROTO_TCP));

	/* An invalid object does not borrow a good one from another file. */
	write_file(f, "web2.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
		   "spec: {clusterIP: 10.96.0.10, ports: [{port: 99999}]}\n");
	assert_int_equal(load(f), 1);
	assert_int_equal(f->state.n_frontends, 1);
}

static void test_syntax_error_keeps_file(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(f, "a.yaml", SVC_WEB);
	write_file(f, "b.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
		   "spec: {clusterIP: 10.96.0.20, ports: [{port: 80}]}\n");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 2);

	write_file(f, "a.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: [web\n");
	write_file(f, "b.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
		   "spec: {clusterIP: 10.96.0.20, ports: [{port: 8000}]}\n");
	write_file(f, "c.yaml", "key: value\n  bad indent: here\n");
	assert_int_equal(load(f), 2);
	assert_true(has_error(f, "a.yaml:", ": yaml: ", NULL));
	assert_true(has_error(f, "c.yaml:2: yaml: ", NULL));
	/* a.yaml keeps its last good content, b.yaml applies, c.yaml never had any. */
	assert_int_equal(f->state.n_frontends, 2);
	assert_non_null(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP));
	assert_non_null(find_frontend(f, "10.96.0.20", 8000, IPPROTO_TCP));

	/* Duplicate keys are a structural error too, at the key's line. */
	write_file(f, "b.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
		   "spec: {clusterIP: 10.96.0.20, ports: [{port: 8001}]}\nkind: Service\n");
	assert_int_equal(load(f), 3);
	assert_true(has_error(f, "b.yaml:5: yaml: duplicate key \"kind\"", NULL));
	assert_non_null(find_frontend(f, "10.96.0.20", 8000, IPPROTO_TCP));
}

static void test_removed_file(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(f, "a.yaml", SVC_WEB);
	write_file(f, "b.yaml", SLICE_WEB);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.frontends[0].n_backends, 3);
	remove_file(f, "b.yaml");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 1);
	assert_int_equal(f->state.frontends[0].n_backends, 0);
	remove_file(f, "a.yaml");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 0);
}

static void test_conflicts_and_duplicates(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(f, "a.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: zeta}\n"
		   "spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n");
	write_file(
	    f, "b.yaml",
	    "apiVersion: v1\nkind: Service\nmetadata: {name: alpha}\n"
	    "spec: {clusterIP: 10.96.0.10, ports: [{name: a, port: 80}, {name: b, port: 81}]}\n");
	assert_int_equal(load(f), 1);
	/* alpha sorts first, so it keeps 10.96.0.10:80 even though its file comes later. */
	assert_true(has_error(f, "a.yaml: Service default/zeta: spec.ports[0]:",
			      "10.96.0.10:80/TCP is already used by Service default/alpha", NULL));
	assert_int_equal(f->state.n_frontends, 2);
	assert_string_equal(f->state.frontends[0].name, "default/alpha:a");
	assert_string_equal(f->state.frontends[1].name, "default/alpha:b");

	/* The same object in two files: the first file wins. */
	write_file(f, "c.yaml",
		   "apiVersion: v1\nkind: Service\nmetadata: {name: alpha}\n"
		   "spec: {clusterIP: 10.96.0.99, ports: [{port: 80}]}\n");
	assert_int_equal(load(f), 2);
	assert_true(has_error(f, "c.yaml: Service default/alpha: also defined in b.yaml", NULL));
	assert_null(find_frontend(f, "10.96.0.99", 80, IPPROTO_TCP));
}

static void test_backend_cap(void **ctx)
{
	struct fixture *f = *ctx;
	size_t n = LB_MAX_BACKENDS_PER_SVC + 10, i, used = 0, size = 64 * n + 512;
	char *text = malloc(size);
	char *slice = malloc(size);

	assert_non_null(text);
	assert_non_null(slice);
	/* Five slices: one EndpointSlice holds at most 1000 endpoints. */
	for (int s = 0; s < 5; s++) {
		char name[32];

		used = (size_t)snprintf(
		    slice, size,
		    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		    "metadata: {name: web-%d, labels: {kubernetes.io/service-name: web}}\n"
		    "addressType: IPv4\nports: [{port: 8080}]\nendpoints:\n",
		    s);
		for (i = s * n / 5; i < (s + 1) * n / 5; i++)
			used += (size_t)snprintf(slice + used, size - used,
						 "- addresses: [10.%zu.%zu.%zu]\n", (i + 1) >> 16,
						 ((i + 1) >> 8) & 255, (i + 1) & 255);
		snprintf(name, sizeof(name), "s%d.yaml", s);
		write_file(f, name, slice);
	}
	write_file(f, "web.yaml", SVC_WEB);
	assert_int_equal(load(f), 1);
	assert_true(has_error(
	    f, "web.yaml: Service default/web: spec.ports[0]:", "exceed the limit", NULL));
	assert_int_equal(f->state.frontends[0].n_backends, LB_MAX_BACKENDS_PER_SVC);
	free(text);
	free(slice);
}

static void test_missing_dir_changes_nothing(void **ctx)
{
	struct fixture *f = *ctx;
	char missing[PATH_MAX + 16];

	write_file(f, "web.yaml", SVC_WEB);
	assert_int_equal(load(f), 0);
	snprintf(missing, sizeof(missing), "%s/nope", f->dir);
	assert_int_equal(manifest_set_load_dir(f->set, missing), -ENOENT);
	assert_int_equal(build(f, manifest_set_error_count(f->set)), 0);
	assert_int_equal(f->state.n_frontends, 1);
}

static void test_unreadable_and_huge_files(void **ctx)
{
	struct fixture *f = *ctx;
	char path[PATH_MAX + 64];

	write_file(f, "web.yaml", SVC_WEB);
	assert_int_equal(load(f), 0);
	/* Sparse: refused by its size, never read. */
	snprintf(path, sizeof(path), "%s/web.yaml", f->dir);
	assert_int_equal(truncate(path, (off_t)MANIFEST_MAX_FILE_SIZE + 100), 0);
	snprintf(path, sizeof(path), "%s/dir.yaml", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/fifo.yaml", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(load(f), 2);
	assert_true(
	    has_error(f, "web.yaml: file is larger than 256 MiB (the limit per file)", NULL));
	assert_true(has_error(f, "fifo.yaml: not a regular file", NULL));
	assert_int_equal(f->state.n_frontends, 1);
}

/* Hostile input: nothing may crash, leak or hang; files that fail keep nothing. */
static void test_garbage_does_not_crash(void **ctx)
{
	struct fixture *f = *ctx;
	static const char *const texts[] = {
	    "a: &a [*a]\n",
	    "a: *nope\n",
	    "? [complex, key]\n: value\n",
	    "apiVersion: v1\nkind: Service\nmetadata: &m {name: x}\nspec: *m\n",
	    "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [1, 2, 3]}\n",
	    "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: [1]\n",
	    "apiVersion: v1\nkind: Service\nmetadata: []\n",
	    "apiVersion: v1\nkind: [Service]\n",
	    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: "
	    "{kubernetes.io/service-name: [x]}}\naddressType: IPv4\nendpoints: [1, [2], {}]\n",
	    "apiVersion: v1\nkind: Service\nmetadata: {name: \"a\\0b\"}\n",
	    "\xff\xfe\x00\x00garbage",
	    "%YAML 9.9\n---\nx\n",
	    "!!binary AAAA\n",
	    "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
	    "spec: {clusterIP: 10.96.0.1, ports: [{port: 99999999999999999999999}]}\n",
	    "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"
	    "spec: {clusterIP: 10.96.0.1, ports: [{port: -9223372036854775808}]}\n",
	    "",
	    "---\n---\n---\n",
	};
	struct yaml_tree tree;
	char message[YAML_TREE_ERROR_LEN];
	unsigned int line, seed = 12345;
	size_t i, j, n;
	char *buffer;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		write_bytes(f, "g.yaml", texts[i], strlen(texts[i]) + (i == 10 ? 9 : 0));
		load(f);
		assert_int_equal(f->state.n_frontends, 0);
	}

	n = 1 << 20;
	buffer = malloc(n * 4 + 64);
	assert_non_null(buffer);

	/* Deep nesting: refused at YAML_TREE_MAX_DEPTH, not after a million frames. */
	memset(buffer, '[', n);
	write_bytes(f, "g.yaml", buffer, n);
	assert_int_equal(load(f), 1);
	assert_true(has_error(f, "g.yaml:1: yaml: nesting deeper than", NULL));

	/* Billion laughs: aliases are pointers, so this is small and fast. */
	j = (size_t)sprintf(buffer, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (i = 1; i < 30; i++)
		j += (size_t)sprintf(buffer + j,
				     "a%zu: &a%zu [*a%zu, *a%zu, *a%zu, *a%zu, *a%zu, "
				     "*a%zu, *a%zu, *a%zu, *a%zu, *a%zu]\n",
				     i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
				     i - 1, i - 1);
	write_bytes(f, "g.yaml", buffer, j);
	assert_int_equal(load(f), 1); /* no apiVersion */

	/* A huge scalar. */
	memset(buffer, 'x', 2 * YAML_TREE_MAX_SCALAR);
	write_bytes(f, "g.yaml", buffer, 2 * YAML_TREE_MAX_SCALAR);
	assert_int_equal(load(f), 1);

	/* Too many nodes. */
	buffer[0] = '[';
	for (i = 0; i < YAML_TREE_MAX_NODES + 10; i++)
		memcpy(buffer + 1 + 2 * i, "1,", 2);
	buffer[1 + 2 * i] = ']';
	write_bytes(f, "g.yaml", buffer, 2 + 2 * i);
	assert_int_equal(load(f), 1);
	assert_true(has_error(
	    f, "g.yaml:", ": yaml: more than 262144 YAML nodes in one document (the limit)", NULL));

	/* Random bytes, and random mutations of a valid manifest, straight through the parser. */
	for (i = 0; i < 300; i++) {
		const char *base = SVC_WEB "---\n" SLICE_WEB;
		size_t len = strlen(base);

		if (i % 2) {
			len = rand_r(&seed) % 4096;
			for (j = 0; j < len; j++)
				buffer[j] = (char)rand_r(&seed);
		} else {
			memcpy(buffer, base, len);
			for (j = 0; j < 4; j++)
				buffer[rand_r(&seed) % len] =
				    "{}[]:,-&*!|>'\"%@`#\n \t\0aZ9"[rand_r(&seed) % 25];
		}
		if (yaml_tree_parse(&tree, buffer, len, &line, message, sizeof(message)) == 0)
			yaml_tree_free(&tree);
		if (i % 10 == 0) {
			write_bytes(f, "g.yaml", buffer, len);
			load(f);
		}
	}
	free(buffer);
}

/* A kubectl dump's shape: one List, every item's keys sorted, so kind comes after items. */
#define LIST_DUMP                                                                                  \
	"apiVersion: v1\n"                                                                         \
	"items:\n"                                                                                 \
	"- apiVersion: v1\n"                                                                       \
	"  kind: Service\n"                                                                        \
	"  metadata: {name: web, namespace: default, uid: 5f1c, resourceVersion: \"7\"}\n"         \
	"  spec:\n"                                                                                \
	"    clusterIP: 10.96.0.10\n"                                                              \
	"    clusterIPs: [10.96.0.10]\n"                                                           \
	"    ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]\n"                   \
	"    type: ClusterIP\n"                                                                    \
	"  status: {loadBalancer: {}}\n"                                                           \
	"- addressType: IPv4\n"                                                                    \
	"  apiVersion: discovery.k8s.io/v1\n"                                                      \
	"  endpoints:\n"                                                                           \
	"  - addresses: [10.0.0.1]\n"                                                              \
	"    conditions: {ready: true, serving: true, terminating: false}\n"                       \
	"  kind: EndpointSlice\n"                                                                  \
	"  metadata:\n"                                                                            \
	"    labels: {kubernetes.io/service-name: web}\n"                                          \
	"    name: web-x1\n"                                                                       \
	"    namespace: default\n"                                                                 \
	"  ports: [{name: http, port: 8080, protocol: TCP}]\n"                                     \
	"kind: List\n"                                                                             \
	"metadata: {resourceVersion: \"\"}\n"

/* Lists as kubectl prints them (List, ServiceList, ...), nested ones, and empty documents. */
static void test_list_dumps(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(f, "dump.yaml",
		   "# kubectl get services,endpointslices -A -o yaml\n" LIST_DUMP "---\n---\n"
		   "apiVersion: v1\nitems:\n"
		   "- {apiVersion: v1, kind: Service, metadata: {name: api},\n"
		   "   spec: {clusterIP: 10.96.0.11, ports: [{port: 443, targetPort: 8443}]}}\n"
		   "- apiVersion: v1\n  kind: List\n  items:\n"
		   "  - {apiVersion: v1, kind: Service, metadata: {name: nested},\n"
		   "     spec: {clusterIP: 10.96.0.12, ports: [{port: 53, protocol: UDP}]}}\n"
		   "kind: ServiceList\nmetadata: {}\n"
		   "---\n"
		   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSliceList\nitems:\n"
		   "- apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n"
		   "  metadata: {name: api-1, labels: {kubernetes.io/service-name: api}}\n"
		   "  addressType: IPv4\n  ports: [{port: 8443}]\n"
		   "  endpoints: [{addresses: [10.0.0.7]}]\n"
		   "---\n"
		   "apiVersion: v1\nkind: List\nitems: []\n"
		   "---\n# nothing but a comment\n---\n");
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 3);
	assert_backends(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP), "10.0.0.1:8080", NULL);
	assert_backends(find_frontend(f, "10.96.0.11", 443, IPPROTO_TCP), "10.0.0.7:8443", NULL);
	assert_non_null(find_frontend(f, "10.96.0.12", 53, IPPROTO_UDP));

	/* An item of the List turned invalid keeps its last good version, as a document does. */
	write_file(f, "dump.yaml", LIST_DUMP);
	assert_int_equal(load(f), 0);
	assert_int_equal(f->state.n_frontends, 1);
	write_file(f, "empty.yaml", "---\n---\n# comment\n---\n");
	assert_int_equal(load(f), 0);
}

/* `kubectl get -o json` output is YAML too: the same dump in JSON loads the same. */
static void test_json_dump(void **ctx)
{
	struct fixture *f = *ctx;

	write_file(
	    f, "dump.yaml",
	    "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n        {\n"
	    "            \"apiVersion\": \"v1\",\n            \"kind\": \"Service\",\n"
	    "            \"metadata\": {\n                \"name\": \"web\",\n"
	    "                \"namespace\": \"default\"\n            },\n"
	    "            \"spec\": {\n                \"clusterIP\": \"10.96.0.10\",\n"
	    "                \"ports\": [\n                    {\n"
	    "                        \"name\": \"http\",\n                        \"port\": 80,\n"
	    "                        \"protocol\": \"TCP\",\n"
	    "                        \"targetPort\": 8080\n                    }\n"
	    "                ],\n                \"type\": \"ClusterIP\"\n            },\n"
	    "            \"status\": {\"loadBalancer\": {}}\n        },\n"
	    "        {\"addressType\":\"IPv4\",\"apiVersion\":\"discovery.k8s.io/v1\","
	    "\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],\"conditions\":{\"ready\":true}}],"
	    "\"kind\":\"EndpointSlice\",\"metadata\":{\"labels\":{\"kubernetes.io/service-name\":"
	    "\"web\"},\"name\":\"web-x1\",\"namespace\":\"default\"},"
	    "\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}\n"
	    "    ],\n    \"kind\": \"List\",\n"
	    "    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n");
	assert_int_equal(load(f), 0);
	assert_backends(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP), "10.0.0.1:8080", NULL);
}

/*
 * A file with an error anywhere is refused whole, with its line, and its last good version
 * stays: items read before the error are not applied, whatever their number.
 */
static void test_list_refused_whole(void **ctx)
{
	struct fixture *f = *ctx;
	size_t n = YAML_TREE_MAX_NODES, i, j = 0;
	char *text = malloc(n * 4 + 4096);

	assert_non_null(text);
	write_file(f, "dump.yaml", LIST_DUMP);
	assert_int_equal(load(f), 0);

	/* A syntax error after a changed item: the change is not applied. */
	j = (size_t)sprintf(text, "%s", LIST_DUMP);
	memcpy(strstr(text, "port: 80,"), "port: 81,", 9);
	strcpy(strstr(text, "kind: List\n"), "- {kind: [Service\nkind: List\n");
	write_file(f, "dump.yaml", text);
	assert_int_equal(load(f), 1);
	assert_true(
	    has_error(f, "dump.yaml:24: yaml: ", "keeping the file's last good version", NULL));
	assert_non_null(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP));
	assert_null(find_frontend(f, "10.96.0.11", 81, IPPROTO_TCP));

	/* One item over the per-object limit, named with its value. */
	j = (size_t)sprintf(text, "apiVersion: v1\nkind: List\nitems:\n%s", strchr(LIST_DUMP, '-'));
	j = (size_t)(strstr(text, "kind: List\nmetadata: {resourceVersion") - text);
	j += (size_t)sprintf(text + j, "- [");
	for (i = 0; i < n; i++)
		j += (size_t)sprintf(text + j, "1,");
	sprintf(text + j, "1]\n");
	write_file(f, "dump.yaml", text);
	assert_int_equal(load(f), 1);
	assert_true(has_error(f,
			      "dump.yaml:24: yaml: more than 262144 YAML nodes in one List item "
			      "(the limit)",
			      NULL));
	assert_non_null(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP));

	/* Items under a document that turns out to be no List. */
	write_file(f, "dump.yaml",
		   "apiVersion: v1\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: x},"
		   " spec: {clusterIP: 10.96.0.30, ports: [{port: 80}]}}\nkind: Service\n"
		   "metadata: {name: y}\n");
	assert_int_equal(load(f), 1);
	assert_true(
	    has_error(f, "dump.yaml:1: yaml: a document with 1 \"items\" is not a List", NULL));
	assert_null(find_frontend(f, "10.96.0.30", 80, IPPROTO_TCP));
	assert_non_null(find_frontend(f, "10.96.0.10", 80, IPPROTO_TCP));

	/* The file bound is on objects, not on nodes: a List of more nodes than one object may
	 * hold loads, and a file of more objects than MANIFEST_MAX_OBJECTS is refused whole. */
	j = (size_t)sprintf(text, "apiVersion: v1\nkind: List\nitems:\n");
	for (i = 0; i < n / 8; i++)
		j += (size_t)sprintf(text + j, "- {a: [1, 2, 3]}\n");
	write_file(f, "dump.yaml", text);
	assert_int_equal(load(f), (int)(n / 8));
	assert_true(has_error(f, "object has no apiVersion", NULL));
	free(text);
	text = malloc((MANIFEST_MAX_OBJECTS + 10) * 5 + 64);
	assert_non_null(text);
	j = (size_t)sprintf(text, "kind: List\nitems:\n");
	for (i = 0; i <= MANIFEST_MAX_OBJECTS; i++, j += 5)
		memcpy(text + j, "- {}\n", 5);
	write_bytes(f, "dump.yaml", text, j);
	assert_int_equal(load(f), 1);
	assert_true(has_error(f,
			      "dump.yaml:1000003: yaml: more than 1000000 objects in the file "
			      "(the limit)",
			      NULL));
	free(text);
}

static void test_yaml_tree_scalars(void **ctx)
{
	static const struct {
		const char *text;
		enum yaml_tree_kind kind;
	} cases[] = {
	    {"", YAML_TREE_NULL},	{"~", YAML_TREE_NULL},	   {"null", YAML_TREE_NULL},
	    {"true", YAML_TREE_BOOL},	{"False", YAML_TREE_BOOL}, {"yes", YAML_TREE_STRING},
	    {"0", YAML_TREE_INT},	{"-12", YAML_TREE_INT},	   {"0x1F", YAML_TREE_INT},
	    {"0o17", YAML_TREE_INT},	{"080", YAML_TREE_FLOAT},  {"1.5", YAML_TREE_FLOAT},
	    {"1e3", YAML_TREE_FLOAT},	{".inf", YAML_TREE_FLOAT}, {"10.0.0.1", YAML_TREE_STRING},
	    {"http", YAML_TREE_STRING}, {"-", YAML_TREE_STRING},   {"1e", YAML_TREE_STRING},
	};
	struct yaml_tree tree;
	char message[YAML_TREE_ERROR_LEN];
	const char *text = "a: 0x10\nb: '0x10'\nc: !!str 12\nd: 9223372036854775808\n"
			   "e: -9223372036854775808\n";
	unsigned int line;
	int64_t value;
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (yaml_tree_resolve_plain(cases[i].text, strlen(cases[i].text)) != cases[i].kind)
			fail_msg("\"%s\" resolved wrongly", cases[i].text);
	}
	assert_int_equal(
	    yaml_tree_parse(&tree, text, strlen(text), &line, message, sizeof(message)), 0);
	assert_int_equal(tree.n_documents, 1);
	assert_int_equal(yaml_tree_int(yaml_tree_get(tree.documents[0], "a"), &value), 0);
	assert_int_equal(value, 16);
	assert_string_equal(yaml_tree_string(yaml_tree_get(tree.documents[0], "b")), "0x10");
	assert_string_equal(yaml_tree_string(yaml_tree_get(tree.documents[0], "c")), "12");
	assert_int_equal(yaml_tree_int(yaml_tree_get(tree.documents[0], "d"), &value), -ERANGE);
	assert_int_equal(yaml_tree_int(yaml_tree_get(tree.documents[0], "e"), &value), 0);
	assert_true(value == INT64_MIN);
	assert_null(yaml_tree_get(tree.documents[0], "missing"));
	yaml_tree_free(&tree);
}

/* The fixtures directory: what a user would write, checked from the source tree. */
static void test_fixture_dir(void **ctx)
{
	struct fixture *f = *ctx;
	char dir[PATH_MAX];
	const char *slash = strrchr(__FILE__, '/');
	struct stat st;

	snprintf(dir, sizeof(dir), "%.*s/fixtures/manifests/demo",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	/* The fixtures are committed beside this file: a missing one is a broken tree, not a skip.
	 */
	if (stat(dir, &st))
		fail_msg("%s: %s", dir, strerror(errno));
	assert_int_equal(manifest_set_load_dir(f->set, dir), 0);
	assert_int_equal(build(f, 0), 0);
	assert_int_equal(f->state.n_frontends, 2);
	assert_string_equal(f->state.frontends[0].name, "default/echo:http");
	assert_backends(&f->state.frontends[0], "10.244.0.11:8080", "10.244.0.12:8080", NULL);
	assert_string_equal(f->state.frontends[1].name, "default/echo:udp");
	assert_backends(&f->state.frontends[1], "10.244.0.11:9000", "10.244.0.12:9000", NULL);
}

/* ---- incremental loads against full ones ------------------------------------------------ */

#define INC_FILES 4
#define INC_DOCS  12

static uint64_t inc_rng = 7;

static uint32_t inc_rnd(uint32_t n)
{
	inc_rng = inc_rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(inc_rng >> 33) % n;
}

/*
 * A random document; a few are invalid (port 70000) or not YAML, rarely enough that most files
 * stay clean and take the in-place diff.
 */
static void inc_document(char *out, size_t size)
{
	uint32_t pick = inc_rnd(60) < 3 ? inc_rnd(3) : 3 + inc_rnd(17);

	if (pick == 0) {
		snprintf(out, size, "apiVersion: v1\nkind: Service\nmetadata: {name: [oops\n");
	} else if (pick < 3) {
		snprintf(out, size,
			 "apiVersion: v1\nkind: Service\nmetadata: {name: s%u, namespace: a}\n"
			 "spec:\n  clusterIP: 10.96.0.%u\n  ports: [{port: 70000}]\n",
			 inc_rnd(4), 1 + inc_rnd(3));
	} else if (pick < 9) {
		snprintf(out, size,
			 "apiVersion: v1\nkind: Service\nmetadata: {name: s%u, namespace: a}\n"
			 "spec:\n  clusterIP: 10.96.0.%u\n  selector: {app: x%u}\n"
			 "  ports: [{name: http, port: %u, targetPort: 8080}]\n",
			 inc_rnd(4), 1 + inc_rnd(3), inc_rnd(2), 80 + inc_rnd(2));
	} else if (pick < 14) {
		snprintf(
		    out, size,
		    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
		    "  name: e%u\n  namespace: a\n  labels: {kubernetes.io/service-name: s%u}\n"
		    "addressType: IPv4\nports: [{name: http, protocol: TCP, port: 8080}]\n"
		    "endpoints:\n- addresses: [\"10.244.0.%u\"]\n  conditions: {ready: %s}\n",
		    inc_rnd(4), inc_rnd(4), 1 + inc_rnd(5), inc_rnd(3) ? "true" : "false");
	} else {
		snprintf(out, size,
			 "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p%u\n  namespace: a\n"
			 "  labels: {app: x%u}\nspec: {nodeName: n1}\n"
			 "status:\n  podIP: 10.244.1.%u\n  conditions: [{type: Ready, status: "
			 "\"True\"}]\n",
			 inc_rnd(4), inc_rnd(2), 1 + inc_rnd(5));
	}
}

struct inc_file {
	char docs[INC_DOCS][512];
	size_t n_docs;
	bool is_present;
	bool is_leading_marker; /* "---" before the first document too */
};

static void inc_write(struct fixture *f, const char *name, const struct inc_file *file)
{
	char text[INC_DOCS * 520] = "";
	size_t i, n = 0;

	if (!file->is_present) {
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/%s", f->dir, name);
		unlink(path);
		return;
	}
	for (i = 0; i < file->n_docs; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s# a document\n%s",
				      i || inc_rnd(2) ? "---\n" : "", file->docs[i]);
	write_file(f, name, text);
}

static void assert_same_frontends(const struct desired_state *got, const struct desired_state *ref,
				  unsigned int step)
{
	size_t i, j;

	if (got->n_frontends != ref->n_frontends)
		fail_msg("step %u: %zu frontends incrementally, %zu in full", step,
			 got->n_frontends, ref->n_frontends);
	for (i = 0; i < ref->n_frontends; i++) {
		const struct lb_frontend *a = &got->frontends[i], *b = &ref->frontends[i];

		if (lb_frontend_cmp(a, b) || a->flags != b->flags || strcmp(a->name, b->name) ||
		    a->n_backends != b->n_backends)
			fail_msg("step %u: frontend %s differs from %s", step, a->name, b->name);
		for (j = 0; j < a->n_backends; j++) {
			if (a->backends[j].address != b->backends[j].address ||
			    a->backends[j].port != b->backends[j].port ||
			    a->backends[j].flags != b->backends[j].flags)
				fail_msg("step %u: %s: backend %zu differs", step, a->name, j);
		}
	}
	assert_int_equal(got->rejected_objects, ref->rejected_objects);
}

/* Both sets hold the same objects, file by file, in order (by key and labels). */
static void assert_same_objects(const struct manifest_set *a, const struct manifest_set *b,
				unsigned int step)
{
	struct k8s_object **x, **y;
	size_t nx, ny, i;

	assert_int_equal(manifest_set_objects(a, &x, &nx), 0);
	assert_int_equal(manifest_set_objects(b, &y, &ny), 0);
	if (nx != ny)
		fail_msg("step %u: %zu objects incrementally, %zu in full", step, nx, ny);
	for (i = 0; i < nx; i++) {
		if (x[i]->kind != y[i]->kind || strcmp(x[i]->name, y[i]->name) ||
		    strcmp(x[i]->source, y[i]->source) ||
		    x[i]->labels.count != y[i]->labels.count ||
		    (x[i]->labels.count &&
		     strcmp(x[i]->labels.items[0].value, y[i]->labels.items[0].value)))
			fail_msg("step %u: object %zu: %s %s vs %s %s", step, i, x[i]->source,
				 x[i]->name, y[i]->source, y[i]->name);
	}
	free(x);
	free(y);
}

/*
 * The same directory read two ways after every random edit: re-reading the edited files only
 * into an index, and re-reading everything into a full build. Same frontends, backends, flags
 * and refusals, with invalid objects and files keeping their last good versions both ways.
 */
static void test_incremental_load_matches_full(void **ctx)
{
	struct fixture *f = *ctx;
	static struct inc_file files[INC_FILES];
	struct manifest_set *incremental = manifest_set_new();
	struct desired_build_config config;
	struct desired_index *index;
	unsigned int step;
	size_t i;

	assert_non_null(incremental);
	desired_build_config_init(&config, "n1");
	config.is_pod_endpoints = true;
	f->config = config;
	index = desired_index_new(&config);
	assert_non_null(index);
	assert_int_equal(feed_manifests(index, incremental), 0);
	memset(files, 0, sizeof(files));
	for (step = 0; step < 1500; step++) {
		char name[INC_FILES][16], *changed[INC_FILES];
		size_t n_changed = 0;
		struct k8s_errors errors = {.is_quiet = true};
		const struct desired_index_delta *delta;
		struct desired_state got;
		uint32_t edits = 1 + inc_rnd(2), e;

		for (e = 0; e < edits; e++) {
			uint32_t k = inc_rnd(INC_FILES), what = inc_rnd(10);
			struct inc_file *file = &files[k];

			if (!file->is_present || what == 0) {
				file->is_present = !file->is_present || inc_rnd(3) != 0;
				file->is_leading_marker = inc_rnd(2);
				file->n_docs = file->is_present ? 1 + inc_rnd(4) : 0;
				for (i = 0; i < file->n_docs; i++)
					inc_document(file->docs[i], sizeof(file->docs[i]));
			} else if (what < 6 && file->n_docs) {
				inc_document(file->docs[inc_rnd((uint32_t)file->n_docs)],
					     sizeof(file->docs[0]));
			} else if (what < 8 && file->n_docs < INC_DOCS) {
				size_t at = inc_rnd((uint32_t)file->n_docs + 1);

				memmove(file->docs[at + 1], file->docs[at],
					(file->n_docs - at) * sizeof(file->docs[0]));
				inc_document(file->docs[at], sizeof(file->docs[0]));
				file->n_docs++;
			} else if (what < 9 && file->n_docs > 1) {
				size_t at = inc_rnd((uint32_t)file->n_docs);

				memmove(file->docs[at], file->docs[at + 1],
					(file->n_docs - at - 1) * sizeof(file->docs[0]));
				file->n_docs--;
			} /* else: rewritten as it was */
			snprintf(name[n_changed], sizeof(name[0]), "f%u.yaml", k);
			inc_write(f, name[n_changed], file);
			changed[n_changed] = name[n_changed];
			n_changed++;
		}
		assert_true(manifest_set_load_files(incremental, f->dir, changed, n_changed) >= 0);
		assert_int_equal(feed_manifests(index, incremental), 0);
		assert_int_equal(desired_index_update(index, &errors, &delta), 0);
		assert_int_equal(desired_index_desired(index, false, &got), 0);
		got.rejected_objects += manifest_set_rejected(incremental);
		load(f);
		assert_same_frontends(&got, &f->state, step);
		assert_same_objects(incremental, f->set, step);
		desired_state_free(&got);
		k8s_errors_free(&errors);
	}
	manifest_set_free(incremental);
	desired_index_free(index);
}

/*
 * A List of N Services and their EndpointSlices as kubectl prints it (over 1 MiB from N = 2,500:
 * read on every core, manifest_list.c). SERIAL adds an anchor before "items", which makes the
 * reader take one parser: the reference. TRICKY gives every Service an annotation whose quoted
 * value runs over a line "- two: 2" at column 0, which libyaml reads as part of the scalar: a
 * cut there must not make it an item.
 */
static char *list_text(size_t n, bool is_serial, bool is_tricky)
{
	size_t cap = n * 900 + 256, j = 0;
	char *text = malloc(cap);

	assert_non_null(text);
	j +=
	    (size_t)sprintf(text + j, "apiVersion: v1\n%sitems:\n", is_serial ? "x: &one 1\n" : "");
	for (size_t i = 0; i < n; i++) {
		j += (size_t)sprintf(
		    text + j,
		    "- apiVersion: v1\n  kind: Service\n  metadata:\n"
		    "    name: svc-%05zu\n    namespace: bench\n%s"
		    "  spec:\n    clusterIP: 10.96.%zu.%zu\n    ports:\n"
		    "    - name: http\n      port: 80\n      targetPort: 8080\n"
		    "- apiVersion: discovery.k8s.io/v1\n  kind: EndpointSlice\n"
		    "  metadata:\n    name: svc-%05zu-x\n    namespace: bench\n"
		    "    labels:\n      kubernetes.io/service-name: svc-%05zu\n"
		    "  addressType: IPv4\n  endpoints:\n"
		    "  - addresses: [10.244.%zu.%zu]\n    conditions: {ready: true}\n"
		    "  ports:\n  - name: http\n    port: 8080\n",
		    i,
		    is_tricky ? "    annotations:\n      note: \"one\n- two: 2\n  three\"\n" : "",
		    (i + 16) / 256, (i + 16) % 256, i, i, i / 250, i % 250 + 2);
		assert_true(j < cap - 1024);
	}
	sprintf(text + j, "kind: List\nmetadata:\n  resourceVersion: \"\"\n");
	return text;
}

/* Load TEXT as dump.yaml in a directory of its own; the set and its state for comparing. */
static void load_other(struct fixture *g, const char *text)
{
	snprintf(g->dir, sizeof(g->dir), "/tmp/sluice-manifest-XXXXXX");
	assert_non_null(mkdtemp(g->dir));
	g->set = manifest_set_new();
	assert_non_null(g->set);
	desired_build_config_init(&g->config, NULL);
	g->config.is_pod_endpoints = true;
	write_file(g, "dump.yaml", text);
	assert_int_equal(load(g), 0);
}

/*
 * A cluster-sized List read on every core gives the objects, in order, and the frontends of the
 * one-parser reading: with plain items, and with quoted scalars running over "- " lines wherever
 * the cuts fall (four sizes move them).
 */
static void test_list_on_every_core(void **ctx)
{
	struct fixture *f = *ctx;

	for (size_t n = 2500; n < 2504; n++) {
		for (int tricky = 0; tricky < 2; tricky++) {
			struct fixture *g = calloc(1, sizeof(*g));
			char *text = list_text(n, false, tricky), *ref = list_text(n, true, tricky);

			assert_non_null(g);
			assert_true(strlen(text) > (1u << 20));
			write_file(f, "dump.yaml", text);
			assert_int_equal(load(f), 0);
			assert_int_equal(f->state.n_frontends, n);
			load_other(g, ref);
			assert_same_objects(f->set, g->set, (unsigned int)(n * 2 + (size_t)tricky));
			assert_same_frontends(&f->state, &g->state, (unsigned int)n);
			assert_backends(find_frontend(f, "10.96.9.112", 80, IPPROTO_TCP),
					"10.244.9.152:8080", NULL);
			teardown((void **)&g);
			free(text);
			free(ref);
		}
	}
}

/* Errors in a cluster-sized List are told as by one parser: a syntax error at its line. */
static void test_list_on_every_core_errors(void **ctx)
{
	struct fixture *f = *ctx;
	char *text = list_text(3000, false, false), *at, *bad;
	size_t line, total = strlen(text);
	unsigned int lines = 1;

	/* A syntax error past the middle: refused whole, its line named. */
	at = strstr(text + total * 2 / 3, "\n- apiVersion: v1\n") + 1;
	for (const char *p = text; p < at; p++)
		lines += *p == '\n';
	bad = malloc(total + 256);
	assert_non_null(bad);
	sprintf(bad, "%.*s- {kind: [Service\n%s", (int)(at - text), text, at);
	write_file(f, "dump.yaml", text);
	assert_int_equal(load(f), 0);
	write_file(f, "dump.yaml", bad);
	assert_int_equal(load(f), 1);
	line = lines + 1;
	{
		char want[64];

		snprintf(want, sizeof(want), "dump.yaml:%zu: yaml: ", line);
		assert_true(has_error(f, want, "keeping the file's last good version", NULL));
	}
	assert_int_equal(f->state.n_frontends, 3000);

	/* An invalid Service past the middle: it alone is refused, named. */
	sprintf(bad,
		"%.*s- {apiVersion: v1, kind: Service, metadata: {name: bad}, spec: "
		"{clusterIP: 10.96.0.999, ports: [{port: 80}]}}\n%s",
		(int)(at - text), text, at);
	write_file(f, "dump.yaml", bad);
	assert_int_equal(load(f), 1);
	assert_true(has_error(f, "dump.yaml: Service default/bad: spec.clusterIP", NULL));
	assert_int_equal(f->state.n_frontends, 3000);
	free(bad);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_clusterip_with_slice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multiport_name_matching, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_named_target_without_slice_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ready_and_terminating_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headless_external_name_ipv6_sctp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_udp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_document_errors_and_kinds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_object_keeps_previous, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_syntax_error_keeps_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_removed_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conflicts_and_duplicates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backend_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_dir_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_and_huge_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_does_not_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_dumps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_dump, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_refused_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_on_every_core, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_on_every_core_errors, setup, teardown),
	    cmocka_unit_test(test_yaml_tree_scalars),
	    cmocka_unit_test_setup_teardown(test_fixture_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incremental_load_matches_full, setup, teardown),
	};

	return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
