// SPDX-License-Identifier: Apache-2.0
/*
 * sluice-kpgen: the bench's service set, written as kube-proxy's iptables-restore input, as its
 * nftables input, or as Service + EndpointSlice YAML for the sluice agent, so every mode of
 * `make bench` is given the same services.
 *
 *   sluice-kpgen --services N --endpoints IP,IP,... --format FORMAT [--change] [--new-endpoint IP]
 *
 * The set: N ClusterIP services bench/svc-NNNNN (TCP port 80 "http", VIP 10.96.0.16 + index),
 * each with every --endpoints address on port 8080. Index N/2 is bench/target (the service the
 * load goes to: kube-proxy writes KUBE-SERVICES in Go map order, so its expected position is the
 * middle), index N/2 + 1 is bench/iperf (port 5201, the first address only: iperf3's control and
 * data connections must reach the same server). --change replaces the last endpoint of service 0
 * with --new-endpoint (default 10.244.250.250, no pod's): one endpoint change, the update the
 * bench times; the bench names a pod of its own, whose first answer ends the change's probe.
 *
 * Formats: iptables (full restore input), iptables-partial (the partial sync of the change),
 * nft (full), nft-update (the change's transaction), manifests (YAML), list (one List, as
 * `kubectl get services,endpointslices -A -o yaml` prints a cluster: every Service, then every
 * EndpointSlice, with the metadata, defaults and status the API server fills in), vip (the VIP
 * of service --index).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/kp_rules.h"

#define GEN_MAX_SERVICES  200000
#define GEN_MAX_ENDPOINTS 64
#define GEN_VIP_BASE	  0x0a600010u /* 10.96.0.16: first bench VIP, in 10.96.0.0/12 */
#define GEN_TARGET_PORT	  8080
#define GEN_IPERF_PORT	  5201
#define GEN_CHANGED_ADDR  "10.244.250.250" /* default --new-endpoint: no bench pod has it */

struct gen {
	struct kp_service *svcs;
	size_t n;
	struct kp_endpoint endpoints[GEN_MAX_ENDPOINTS];
	size_t n_endpoints;
	struct kp_endpoint iperf_endpoint;
	struct kp_endpoint changed_endpoints[GEN_MAX_ENDPOINTS];
	const char *node;
};

static void usage(void)
{
	fprintf(stderr, "usage: sluice-kpgen --services N --endpoints IP[,IP...] --format "
			"iptables|iptables-partial|nft|nft-update|manifests|list|vip [--change] "
			"[--new-endpoint IP] [--index I] [--node NAME] [--cluster-cidr CIDR] "
			"[--service-cidr CIDR] [--base-jumps]\n");
}

static int parse_endpoints(struct gen *g, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct in_addr in;

		if (g->n_endpoints == GEN_MAX_ENDPOINTS || inet_pton(AF_INET, tok, &in) != 1) {
			fprintf(stderr, "--endpoints: %s: not an IPv4 address (or more than %d)\n",
				tok, GEN_MAX_ENDPOINTS);
			err = -EINVAL;
			break;
		}
		g->endpoints[g->n_endpoints].addr = in.s_addr;
		g->endpoints[g->n_endpoints].port = GEN_TARGET_PORT;
		g->n_endpoints++;
	}
	free(copy);
	if (!err && !g->n_endpoints) {
		fprintf(stderr, "--endpoints: no address\n");
		err = -EINVAL;
	}
	return err;
}

static size_t gen_target(size_t n)
{
	return n / 2;
}

/* Service I of the set; IS_CHANGED gives service 0 its changed endpoint list. */
static void gen_service(struct gen *g, size_t i, bool is_changed, struct kp_service *svc)
{
	memset(svc, 0, sizeof(*svc));
	snprintf(svc->namespace_name, sizeof(svc->namespace_name), "bench");
	svc->vip = htonl(GEN_VIP_BASE + (uint32_t)i);
	svc->protocol = IPPROTO_TCP;
	if (i == gen_target(g->n) + 1) {
		snprintf(svc->name, sizeof(svc->name), "iperf");
		snprintf(svc->port_name, sizeof(svc->port_name), "iperf");
		svc->port = GEN_IPERF_PORT;
		svc->endpoints = &g->iperf_endpoint;
		svc->n_endpoints = 1;
		return;
	}
	if (i == gen_target(g->n))
		snprintf(svc->name, sizeof(svc->name), "target");
	else
		snprintf(svc->name, sizeof(svc->name), "svc-%05zu", i);
	snprintf(svc->port_name, sizeof(svc->port_name), "http");
	svc->port = 80;
	svc->endpoints = is_changed && i == 0 ? g->changed_endpoints : g->endpoints;
	svc->n_endpoints = g->n_endpoints;
}

/* One Service and one EndpointSlice document per service, in the agent's manifest format. */
static int write_manifests(FILE *f, const struct gen *g)
{
	char vip[INET_ADDRSTRLEN], ip[INET_ADDRSTRLEN];

	for (size_t i = 0; i < g->n; i++) {
		const struct kp_service *svc = &g->svcs[i];
		struct in_addr in = {.s_addr = svc->vip};

		inet_ntop(AF_INET, &in, vip, sizeof(vip));
		fprintf(
		    f,
		    "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: "
		    "%s\nspec:\n  type: ClusterIP\n  clusterIP: %s\n  selector:\n    app: %s\n"
		    "  ports:\n  - name: %s\n    protocol: TCP\n    port: %u\n    targetPort: %u\n",
		    svc->name, svc->namespace_name, vip, svc->name, svc->port_name, svc->port,
		    svc->endpoints[0].port);
		fprintf(
		    f,
		    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
		    "  name: %s-1\n  namespace: %s\n  labels:\n    kubernetes.io/service-name: %s\n"
		    "addressType: IPv4\nports:\n- name: %s\n  protocol: TCP\n  port: %u\n"
		    "endpoints:\n",
		    svc->name, svc->namespace_name, svc->name, svc->port_name,
		    svc->endpoints[0].port);
		for (size_t e = 0; e < svc->n_endpoints; e++) {
			in.s_addr = svc->endpoints[e].addr;
			inet_ntop(AF_INET, &in, ip, sizeof(ip));
			fprintf(f,
				"- addresses: [\"%s\"]\n  conditions:\n    ready: true\n"
				"  nodeName: %s\n",
				ip, g->node);
		}
	}
	return ferror(f) ? -EIO : 0;
}

/* A uid the way the API server prints one, made from what it names. */
static void gen_uid(char *out, size_t size, unsigned int kind, size_t i)
{
	snprintf(out, size, "%08zx-%04x-4%03x-8%03x-%012zx", i * 2654435761u & 0xffffffffu, kind,
		 (unsigned int)(i & 0xfff), (unsigned int)(i >> 12 & 0xfff), i * 40503u);
}

static void write_list_service(FILE *f, const struct kp_service *svc, size_t i, const char *vip)
{
	char uid[40];

	gen_uid(uid, sizeof(uid), 1, i);
	fprintf(f,
		"- apiVersion: v1\n  kind: Service\n  metadata:\n"
		"    creationTimestamp: \"2026-11-02T10:%02zu:%02zuZ\"\n    labels:\n"
		"      app: %s\n    name: %s\n    namespace: %s\n"
		"    resourceVersion: \"%zu\"\n    uid: %s\n"
		"  spec:\n    clusterIP: %s\n    clusterIPs:\n    - %s\n"
		"    internalTrafficPolicy: Cluster\n    ipFamilies:\n    - IPv4\n"
		"    ipFamilyPolicy: SingleStack\n    ports:\n    - name: %s\n      port: %u\n"
		"      protocol: TCP\n      targetPort: %u\n    selector:\n      app: %s\n"
		"    sessionAffinity: None\n    type: ClusterIP\n  status:\n    loadBalancer: {}\n",
		i / 60 % 60, i % 60, svc->name, svc->name, svc->namespace_name, 100000 + 2 * i, uid,
		vip, vip, svc->port_name, svc->port, svc->endpoints[0].port, svc->name);
}

static void write_list_slice(FILE *f, const struct kp_service *svc, size_t i, const char *node)
{
	char uid[40], owner[40], pod[40], ip[INET_ADDRSTRLEN];

	gen_uid(uid, sizeof(uid), 2, i);
	gen_uid(owner, sizeof(owner), 1, i);
	fprintf(f, "- addressType: IPv4\n  apiVersion: discovery.k8s.io/v1\n  endpoints:\n");
	for (size_t e = 0; e < svc->n_endpoints; e++) {
		struct in_addr in = {.s_addr = svc->endpoints[e].addr};

		inet_ntop(AF_INET, &in, ip, sizeof(ip));
		gen_uid(pod, sizeof(pod), 3, i * 64 + e);
		fprintf(f,
			"  - addresses:\n    - %s\n    conditions:\n      ready: true\n"
			"      serving: true\n      terminating: false\n    nodeName: %s\n"
			"    targetRef:\n      kind: Pod\n      name: %s-6f7d9c8b5d-%05zu\n"
			"      namespace: %s\n      uid: %s\n",
			ip, node, svc->name, e, svc->namespace_name, pod);
	}
	fprintf(f,
		"  kind: EndpointSlice\n  metadata:\n    annotations:\n"
		"      endpoints.kubernetes.io/last-change-trigger-time: "
		"\"2026-11-02T10:%02zu:%02zuZ\"\n"
		"    creationTimestamp: \"2026-11-02T10:%02zu:%02zuZ\"\n"
		"    generateName: %s-\n    generation: 1\n    labels:\n"
		"      app: %s\n"
		"      endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n"
		"      kubernetes.io/service-name: %s\n    name: %s-x%04zx\n    namespace: %s\n"
		"    ownerReferences:\n    - apiVersion: v1\n      blockOwnerDeletion: true\n"
		"      controller: true\n      kind: Service\n      name: %s\n      uid: %s\n"
		"    resourceVersion: \"%zu\"\n    uid: %s\n"
		"  ports:\n  - name: %s\n    port: %u\n    protocol: TCP\n",
		i / 60 % 60, i % 60, i / 60 % 60, i % 60, svc->name, svc->name, svc->name,
		svc->name, i & 0xffff, svc->namespace_name, svc->name, owner, 100001 + 2 * i, uid,
		svc->port_name, svc->endpoints[0].port);
}

/* The set as one List, the shape of a cluster's `kubectl get ... -o yaml` (keys sorted). */
static int write_list(FILE *f, const struct gen *g)
{
	char vip[INET_ADDRSTRLEN];

	fprintf(f, "apiVersion: v1\nitems:\n");
	for (size_t i = 0; i < g->n; i++) {
		struct in_addr in = {.s_addr = g->svcs[i].vip};

		inet_ntop(AF_INET, &in, vip, sizeof(vip));
		write_list_service(f, &g->svcs[i], i, vip);
	}
	for (size_t i = 0; i < g->n; i++)
		write_list_slice(f, &g->svcs[i], i, g->node);
	fprintf(f, "kind: List\nmetadata:\n  resourceVersion: \"\"\n");
	return ferror(f) ? -EIO : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"services", required_argument, NULL, 's'},
	    {"endpoints", required_argument, NULL, 'e'},
	    {"format", required_argument, NULL, 'f'},
	    {"change", no_argument, NULL, 'c'},
	    {"index", required_argument, NULL, 'i'},
	    {"node", required_argument, NULL, 'N'},
	    {"cluster-cidr", required_argument, NULL, 'C'},
	    {"service-cidr", required_argument, NULL, 'S'},
	    {"base-jumps", no_argument, NULL, 'b'},
	    {"new-endpoint", required_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	struct kp_options opts = {.cluster_cidr = "10.244.0.0/16", .service_cidr = "10.96.0.0/12"};
	struct gen g = {.node = "n1"};
	struct kp_service old;
	const char *format = NULL, *new_endpoint = GEN_CHANGED_ADDR;
	bool is_change = false;
	unsigned long n = 0, index = 0;
	int opt, err = 0;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'e':
			if (parse_endpoints(&g, optarg))
				return 2;
			break;
		case 'f':
			format = optarg;
			break;
		case 'c':
			is_change = true;
			break;
		case 'i':
			index = strtoul(optarg, NULL, 10);
			break;
		case 'N':
			g.node = optarg;
			break;
		case 'C':
			opts.cluster_cidr = optarg;
			break;
		case 'S':
			opts.service_cidr = optarg;
			break;
		case 'b':
			opts.with_base_jumps = 1;
			break;
		case 'a':
			new_endpoint = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!format || n < 3 || n > GEN_MAX_SERVICES || !g.n_endpoints) {
		fprintf(stderr,
			"sluice-kpgen: --services 3..%d, --endpoints and --format are "
			"required\n",
			GEN_MAX_SERVICES);
		usage();
		return 2;
	}
	g.n = n;
	g.iperf_endpoint =
	    (struct kp_endpoint){.addr = g.endpoints[0].addr, .port = GEN_IPERF_PORT};
	memcpy(g.changed_endpoints, g.endpoints, sizeof(g.endpoints));
	if (inet_pton(AF_INET, new_endpoint, &g.changed_endpoints[g.n_endpoints - 1].addr) != 1) {
		fprintf(stderr, "sluice-kpgen: --new-endpoint %s: not an IPv4 address\n",
			new_endpoint);
		return 2;
	}
	if (!strcmp(format, "vip")) {
		struct in_addr in = {.s_addr = htonl(GEN_VIP_BASE + (uint32_t)index)};

		printf("%s\n", inet_ntoa(in));
		return 0;
	}
	g.svcs = calloc(n, sizeof(*g.svcs));
	if (!g.svcs)
		return 1;
	for (size_t i = 0; i < n; i++)
		gen_service(&g, i, is_change, &g.svcs[i]);
	/* The state a change starts from: the other variant of service 0. */
	gen_service(&g, 0, !is_change, &old);

	if (!strcmp(format, "iptables"))
		err = kp_iptables_write(stdout, g.svcs, n, &opts);
	else if (!strcmp(format, "iptables-partial"))
		err = kp_iptables_write_partial(stdout, g.svcs, n, 0, &old, &opts);
	else if (!strcmp(format, "nft"))
		err = kp_nft_write(stdout, g.svcs, n, &opts);
	else if (!strcmp(format, "nft-update"))
		err = kp_nft_write_update(stdout, &old, &g.svcs[0], &opts);
	else if (!strcmp(format, "manifests"))
		err = write_manifests(stdout, &g);
	else if (!strcmp(format, "list"))
		err = write_list(stdout, &g);
	else {
		fprintf(stderr, "sluice-kpgen: --format %s: unknown\n", format);
		err = -EINVAL;
	}
	if (!err && fflush(stdout))
		err = -errno;
	free(g.svcs);
	if (err) {
		fprintf(stderr, "sluice-kpgen: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
