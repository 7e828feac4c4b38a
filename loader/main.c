// SPDX-License-Identifier: Apache-2.0
/* `sluice`: the node agent and the CLI over its pinned maps, one subcommand table. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "loader/agent/agent.h"
#include "loader/agent/health.h"
#include "loader/agent/metrics.h"
#include "lib/bpffs.h"
#include "loader/cli/cli.h"
#include "loader/lab/lab.h"
#include "lib/log.h"
#include "lib/node_ipam.h"
#include "loader/desired/maglev.h"
#include "loader/sync/kernel_probe.h"
#include "loader/sync/sock_lb.h"
#include "maps/ct.h"
#include "maps/lb.h"
#include "maps/types.h"

/* Flags every subcommand takes, anywhere on the command line. */
struct main_globals {
	const char *bpffs;
	enum cli_output output;
	const char *html; /* -o html FILE: only `sluice lab` writes one */
};

struct main_command {
	const char *noun;
	const char *verb; /* NULL: the noun is the whole command */
	int (*handler)(int argc, char **argv, const struct main_globals *globals);
	const char *help;
};

static void main_usage(FILE *out);

/* Strict unsigned parse: digits only, within [min, max]. */
static int main_parse_u32(const char *flag, const char *text, unsigned long min, unsigned long max,
			  uint32_t *out)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || value < min || value > max)
		return log_fail("%s %s: expected a number from %lu to %lu", flag, text, min, max);
	*out = (uint32_t)value;
	return 0;
}

/*
 * ADDR:PORT of a listening socket (kube-proxy's --healthz-bind-address form): an IPv4 address
 * (empty: 0.0.0.0) and a port; "" or port 0 turns the endpoint off (*port 0).
 */
static int main_parse_address_port(const char *flag, const char *text, uint32_t *address,
				   uint16_t *port)
{
	const char *colon = strrchr(text, ':');
	char host[INET_ADDRSTRLEN] = "";
	struct in_addr in = {0};
	uint32_t value;
	size_t n;

	if (!text[0]) {
		*port = 0;
		return 0;
	}
	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return log_fail("%s %s: expected ADDRESS:PORT, e.g. 0.0.0.0:10256", flag, text);
	n = (size_t)(colon - text);
	memcpy(host, text, n);
	host[n] = '\0';
	if (n && inet_pton(AF_INET, host, &in) != 1)
		return log_fail("%s %s: %s is not an IPv4 address", flag, text, host);
	if (main_parse_u32(flag, colon + 1, 0, 65535, &value))
		return -EINVAL;
	*address = in.s_addr;
	*port = (uint16_t)value;
	return 0;
}

/*
 * A comma-separated list of CIDRs (kube-controller-manager's --cluster-cidr form, dual stack
 * included) added to list, NODE_IPAM_CIDRS_MAX at most over every use of the flag; an IPv6
 * entry is skipped with a warning, as sluice serves IPv4 only.
 */
static int main_parse_cidrs(const char *flag, const char *text, struct node_ipam_cidr *list)
{
	char copy[256], *save = NULL, *item;
	size_t n = 0;

	if (strlen(text) >= sizeof(copy))
		return log_fail("%s %.32s...: too long", flag, text);
	snprintf(copy, sizeof(copy), "%s", text);
	while (n < NODE_IPAM_CIDRS_MAX && list[n].is_set)
		n++;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (strchr(item, ':')) {
			log_warn("%s %s: IPv6 skipped (sluice serves IPv4)", flag, item);
			continue;
		}
		if (n == NODE_IPAM_CIDRS_MAX)
			return log_fail("%s: at most %d IPv4 CIDRs", flag, NODE_IPAM_CIDRS_MAX);
		if (node_ipam_cidr_parse(item, &list[n]))
			return log_fail("%s %s: expected A.B.C.D/N without host bits", flag, item);
		n++;
	}
	return 0;
}

/*
 * --masquerade, --host-lb or --socket-lb true|false, or the environment default of the latter
 * two; FLAG is "--host-lb " or "SLUICE_HOST_LB=" (and so on). Sets *IS_OFF.
 */
static int main_parse_on_off(const char *flag, const char *text, bool *is_off)
{
	if (strcmp(text, "true") && strcmp(text, "false"))
		return log_fail("%s%s: expected true or false", flag, text);
	*is_off = strcmp(text, "false") == 0;
	return 0;
}

static int do_agent(int argc, char **argv, const struct main_globals *globals)
{
	enum {
		OPT_NODE = 256,
		OPT_MANIFESTS,
		OPT_CT_SIZE,
		OPT_HAIRPIN_IP,
		OPT_CLUSTER_CIDR,
		OPT_SERVICE_CIDR,
		OPT_NODE_CIDR_SIZE,
		OPT_KUBECONFIG,
		OPT_IN_CLUSTER,
		OPT_NODE_IP,
		OPT_NODE_PORT_RANGE,
		OPT_UPLINK,
		OPT_CLUSTER_DNS,
		OPT_LB_ALGORITHM,
		OPT_MAGLEV_TABLE_SIZE,
		OPT_POD_CIDR,
		OPT_MASQUERADE,
		OPT_NON_MASQUERADE_CIDR,
		OPT_HEALTHZ_ADDR,
		OPT_METRICS_ADDR,
		OPT_METRICS_SERVICE_TOP,
		OPT_K8S_API_SERVER,
		OPT_ROUTING,
		OPT_TUNNEL,
		OPT_HOST_LB,
		OPT_SOCKET_LB,
		OPT_CGROUP_ROOT,
	};
	static const struct option options[] = {
	    {"node", required_argument, NULL, OPT_NODE},
	    {"manifests", required_argument, NULL, OPT_MANIFESTS},
	    {"ct-size", required_argument, NULL, OPT_CT_SIZE},
	    {"hairpin-ip", required_argument, NULL, OPT_HAIRPIN_IP},
	    {"cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR},
	    {"service-cidr", required_argument, NULL, OPT_SERVICE_CIDR},
	    {"node-cidr-size", required_argument, NULL, OPT_NODE_CIDR_SIZE},
	    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
	    {"in-cluster", no_argument, NULL, OPT_IN_CLUSTER},
	    {"node-ip", required_argument, NULL, OPT_NODE_IP},
	    {"node-port-range", required_argument, NULL, OPT_NODE_PORT_RANGE},
	    {"uplink", required_argument, NULL, OPT_UPLINK},
	    {"cluster-dns", required_argument, NULL, OPT_CLUSTER_DNS},
	    {"lb-algorithm", required_argument, NULL, OPT_LB_ALGORITHM},
	    {"maglev-table-size", required_argument, NULL, OPT_MAGLEV_TABLE_SIZE},
	    {"pod-cidr", required_argument, NULL, OPT_POD_CIDR},
	    {"masquerade", required_argument, NULL, OPT_MASQUERADE},
	    {"non-masquerade-cidr", required_argument, NULL, OPT_NON_MASQUERADE_CIDR},
	    {"healthz-addr", required_argument, NULL, OPT_HEALTHZ_ADDR},
	    {"metrics-addr", required_argument, NULL, OPT_METRICS_ADDR},
	    {"metrics-service-top", required_argument, NULL, OPT_METRICS_SERVICE_TOP},
	    {"k8s-api-server", required_argument, NULL, OPT_K8S_API_SERVER},
	    {"routing", required_argument, NULL, OPT_ROUTING},
	    {"tunnel", required_argument, NULL, OPT_TUNNEL},
	    {"host-lb", required_argument, NULL, OPT_HOST_LB},
	    {"socket-lb", required_argument, NULL, OPT_SOCKET_LB},
	    {"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},
	    {NULL, 0, NULL, 0},
	};
	struct agent_config config = {
	    .bpffs = globals->bpffs,
	    .ct_size = CT_DEFAULT_ENTRIES,
	    .node_cidr_size = AGENT_NODE_CIDR_SIZE_DEFAULT,
	    .lb_algorithm = LB_ALGORITHM_MAGLEV,
	    .maglev_size = LB_MAGLEV_SIZE_DEFAULT,
	    .healthz_port = HEALTH_PROXY_PORT_DEFAULT,
	    .metrics_port = METRICS_PORT_DEFAULT,
	    .metrics_service_top = METRICS_SERVICE_TOP_DEFAULT,
	};
	struct in_addr hairpin;
	uint32_t value;
	int opt, err;

	if (getenv(AGENT_HOST_LB_ENV) && getenv(AGENT_HOST_LB_ENV)[0] &&
	    main_parse_on_off(AGENT_HOST_LB_ENV "=", getenv(AGENT_HOST_LB_ENV),
			      &config.is_host_lb_off))
		return -EINVAL;
	if (getenv(AGENT_SOCKET_LB_ENV) && getenv(AGENT_SOCKET_LB_ENV)[0] &&
	    main_parse_on_off(AGENT_SOCKET_LB_ENV "=", getenv(AGENT_SOCKET_LB_ENV),
			      &config.is_socket_lb_off))
		return -EINVAL;
	inet_pton(AF_INET, SLUICE_HAIRPIN_IP_DEFAULT, &hairpin);
	config.hairpin_ip = hairpin.s_addr;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_NODE:
			config.node = optarg;
			break;
		case OPT_MANIFESTS:
			config.manifests = optarg;
			break;
		case OPT_CT_SIZE:
			/* A floor that leaves early drop (bpf/lib/ct.h) some room to work in. */
			err = main_parse_u32("--ct-size", optarg, 1024, 1u << 26, &config.ct_size);
			if (err)
				return err;
			config.is_ct_size_set = true;
			break;
		case OPT_HAIRPIN_IP:
			if (inet_pton(AF_INET, optarg, &hairpin) != 1 || !hairpin.s_addr)
				return log_fail("--hairpin-ip %s: not an IPv4 address", optarg);
			config.hairpin_ip = hairpin.s_addr;
			break;
		case OPT_CLUSTER_CIDR:
			err = main_parse_cidrs("--cluster-cidr", optarg, config.cluster_cidr);
			if (err)
				return err;
			break;
		case OPT_SERVICE_CIDR:
			err = main_parse_cidrs("--service-cidr", optarg, config.service_cidr);
			if (err)
				return err;
			break;
		case OPT_NODE_CIDR_SIZE:
			err = main_parse_u32("--node-cidr-size", optarg, 1, 32, &value);
			if (err)
				return err;
			config.node_cidr_size = value;
			config.is_node_cidr_size_set = true;
			break;
		case OPT_POD_CIDR:
			if (node_ipam_cidr_parse(optarg, &config.pod_cidr))
				return log_fail(
				    "--pod-cidr %s: expected A.B.C.D/N without host bits", optarg);
			if (config.pod_cidr.prefix < 8 || config.pod_cidr.prefix > 30)
				return log_fail(
				    "--pod-cidr %s: prefix length must be 8 to 30 (room "
				    "for a gateway and pods)",
				    optarg);
			break;
		case OPT_KUBECONFIG:
			config.kubeconfig = optarg;
			break;
		case OPT_IN_CLUSTER:
			config.is_in_cluster = true;
			break;
		case OPT_NODE_IP: {
			struct in_addr node_ip;

			if (inet_pton(AF_INET, optarg, &node_ip) != 1 || !node_ip.s_addr)
				return log_fail("--node-ip %s: not an IPv4 address", optarg);
			if (config.n_node_ips == AGENT_MAX_NODE_IPS)
				return log_fail("--node-ip: at most %d", AGENT_MAX_NODE_IPS);
			config.node_ips[config.n_node_ips++] = node_ip.s_addr;
			break;
		}
		case OPT_NODE_PORT_RANGE: {
			unsigned int low, high;
			int used = 0;

			if (sscanf(optarg, "%u-%u%n", &low, &high, &used) != 2 || optarg[used] ||
			    !low || low > high || high > 65535)
				return log_fail("--node-port-range %s: expected LOW-HIGH within "
						"1-65535",
						optarg);
			config.node_port_min = (uint16_t)low;
			config.node_port_max = (uint16_t)high;
			break;
		}
		case OPT_UPLINK:
			config.uplink = optarg;
			break;
		case OPT_CLUSTER_DNS:
			if (inet_pton(AF_INET, optarg, &config.cluster_dns) != 1 ||
			    !config.cluster_dns.s_addr)
				return log_fail("--cluster-dns %s: not an IPv4 address", optarg);
			break;
		case OPT_LB_ALGORITHM:
			if (maglev_algorithm_parse(optarg, &config.lb_algorithm))
				return log_fail("--lb-algorithm %s: expected maglev or random",
						optarg);
			break;
		case OPT_MAGLEV_TABLE_SIZE:
			err = main_parse_u32("--maglev-table-size", optarg, LB_MAGLEV_SIZE_MIN,
					     LB_MAGLEV_SIZE_MAX, &config.maglev_size);
			if (err)
				return err;
			if (!maglev_size_is_valid(config.maglev_size))
				return log_fail(
				    "--maglev-table-size %s: not a prime (e.g. 491, 997, "
				    "2029, 4079, 8171, 16363)",
				    optarg);
			break;
		case OPT_MASQUERADE:
			if (main_parse_on_off("--masquerade ", optarg, &config.is_masquerade_off))
				return -EINVAL;
			break;
		case OPT_NON_MASQUERADE_CIDR:
			if (config.n_non_masquerade == MASQ4_MAX_LISTED)
				return log_fail("--non-masquerade-cidr: at most %d",
						MASQ4_MAX_LISTED);
			if (cidr4_parse(optarg, 0, &config.non_masquerade[config.n_non_masquerade]))
				return log_fail(
				    "--non-masquerade-cidr %s: expected A.B.C.D/N without "
				    "host bits",
				    optarg);
			config.n_non_masquerade++;
			break;
		case OPT_HEALTHZ_ADDR:
			err =
			    main_parse_address_port("--healthz-addr", optarg,
						    &config.healthz_address, &config.healthz_port);
			if (err)
				return err;
			break;
		case OPT_METRICS_ADDR:
			err =
			    main_parse_address_port("--metrics-addr", optarg,
						    &config.metrics_address, &config.metrics_port);
			if (err)
				return err;
			break;
		case OPT_METRICS_SERVICE_TOP:
			err = main_parse_u32("--metrics-service-top", optarg, 0,
					     METRICS_SERVICE_TOP_MAX, &config.metrics_service_top);
			if (err)
				return err;
			break;
		case OPT_K8S_API_SERVER:
			config.k8s_api_server = optarg;
			break;
		case OPT_HOST_LB:
			if (main_parse_on_off("--host-lb ", optarg, &config.is_host_lb_off))
				return -EINVAL;
			break;
		case OPT_SOCKET_LB:
			if (main_parse_on_off("--socket-lb ", optarg, &config.is_socket_lb_off))
				return -EINVAL;
			break;
		case OPT_CGROUP_ROOT:
			config.cgroup_root = optarg;
			break;
		case OPT_ROUTING:
			if (!strcmp(optarg, "tunnel"))
				config.routing = AGENT_ROUTING_TUNNEL;
			else if (!strcmp(optarg, "native"))
				config.routing = AGENT_ROUTING_NATIVE;
			else
				return log_fail("--routing %s: expected tunnel or native", optarg);
			break;
		case OPT_TUNNEL:
			if (!strcmp(optarg, "vxlan"))
				config.tunnel = AGENT_TUNNEL_VXLAN;
			else if (!strcmp(optarg, "geneve"))
				config.tunnel = AGENT_TUNNEL_GENEVE;
			else
				return log_fail("--tunnel %s: expected vxlan or geneve", optarg);
			break;
		case ':':
			return log_fail("agent: %s needs a value", argv[optind - 1]);
		default:
			return log_fail("agent: unknown flag %s (see sluice --help)",
					argv[optind - 1]);
		}
	}
	if (optind < argc)
		return log_fail("agent: unexpected argument %s", argv[optind]);
	if (!config.node)
		return log_fail("agent: --node NAME is required");
	if (config.kubeconfig && config.is_in_cluster)
		return log_fail("agent: --kubeconfig and --in-cluster exclude each other");
	/* Refused before anything is loaded, like every other bad flag. */
	if (config.cgroup_root && !(config.is_host_lb_off && config.is_socket_lb_off) &&
	    sock_lb_check_root(config.cgroup_root))
		return -EINVAL;
	if (!config.k8s_api_server && getenv(AGENT_K8S_API_SERVER_ENV) &&
	    getenv(AGENT_K8S_API_SERVER_ENV)[0])
		config.k8s_api_server = getenv(AGENT_K8S_API_SERVER_ENV);
	return agent_run(&config);
}

/* List commands take no arguments of their own beyond the global flags. */
static int main_no_args(int argc, char **argv)
{
	if (argc > 1)
		return log_fail("%s: unexpected argument %s", argv[0], argv[1]);
	return 0;
}

static struct cli_options main_cli_options(const struct main_globals *globals)
{
	struct cli_options options = {.bpffs = globals->bpffs, .output = globals->output};

	return options;
}

static int do_service_list(int argc, char **argv, const struct main_globals *globals)
{
	struct cli_options options = main_cli_options(globals);

	if (main_no_args(argc, argv))
		return -EINVAL;
	return cli_service_list(&options);
}

static int do_ct_list(int argc, char **argv, const struct main_globals *globals)
{
	struct cli_options options = main_cli_options(globals);

	if (main_no_args(argc, argv))
		return -EINVAL;
	return cli_ct_list(&options);
}

static int do_endpoint_list(int argc, char **argv, const struct main_globals *globals)
{
	struct cli_options options = main_cli_options(globals);

	if (main_no_args(argc, argv))
		return -EINVAL;
	return cli_endpoint_list(&options);
}

static int do_status(int argc, char **argv, const struct main_globals *globals)
{
	struct cli_options options = main_cli_options(globals);

	if (main_no_args(argc, argv))
		return -EINVAL;
	return cli_status(&options);
}

static int do_drops(int argc, char **argv, const struct main_globals *globals)
{
	struct cli_options options = main_cli_options(globals);

	if (main_no_args(argc, argv))
		return -EINVAL;
	return cli_drops(&options);
}

static int do_node_list(int argc, char **argv, const struct main_globals *globals)
{
	struct cli_options options = main_cli_options(globals);

	if (main_no_args(argc, argv))
		return -EINVAL;
	return cli_node_list(&options);
}

static int do_policy_list(int argc, char **argv, const struct main_globals *globals)
{
	struct cli_options options = main_cli_options(globals);

	if (argc > 2)
		return log_fail("%s: unexpected argument %s", argv[0], argv[2]);
	return cli_policy_list(&options, argc > 1 ? argv[1] : NULL);
}

static int do_explain(int argc, char **argv, const struct main_globals *globals)
{
	struct cli_options options = main_cli_options(globals);

	if (argc == 2 && !strcmp(argv[1], "-"))
		return cli_explain_batch(&options, stdin);
	if (argc != 4)
		return log_fail("explain: expected FROM TO PORT[/PROTO], e.g. default/client "
				"10.96.0.10 80/tcp, or - for one such line per line of stdin");
	return cli_explain(&options, argv[1], argv[2], argv[3]);
}

static int do_observe(int argc, char **argv, const struct main_globals *globals)
{
	struct cli_options options = main_cli_options(globals);

	return cli_observe(&options, argc, argv);
}

static int do_lab(int argc, char **argv, const struct main_globals *globals)
{
	static const struct option options[] = {
	    {"watch", no_argument, NULL, 'w'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"nodes", required_argument, NULL, 'n'},
	    {"explain", no_argument, NULL, 'e'},
	    {NULL, 0, NULL, 0},
	};
	struct lab_options lab = {
	    .is_json = globals->output == CLI_OUTPUT_JSON,
	    .cni = getenv("SLUICE_CNI"),
	    .agent = getenv("SLUICE_LAB_AGENT"),
	    .timeout_ms = 1000,
	    .html = globals->html,
	};
	uint32_t value;
	int opt, err;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'w':
			lab.is_watch = true;
			break;
		case 'e':
			lab.is_explain = true;
			break;
		case 't':
			err = main_parse_u32("--timeout-ms", optarg, 50, 60000, &value);
			if (err)
				return err;
			lab.timeout_ms = value;
			break;
		case 'n':
			err = main_parse_u32("--nodes", optarg, 1, LAB_MAX_NODES, &value);
			if (err)
				return err;
			lab.n_nodes = value;
			break;
		default:
			return log_fail("lab: unknown flag %s (see sluice --help)",
					argv[optind - 1]);
		}
	}
	if (optind == argc && lab.html)
		return log_fail("lab: expected the lab FILE besides the page -o html writes (%s): "
				"sluice lab FILE -o html OUT.html",
				lab.html);
	if (optind != argc - 1)
		return log_fail("lab: expected one FILE");
	lab.file = argv[optind];
	err = lab_run(&lab);
	/* 1: a mismatch (already reported); anything else failed before a verdict. */
	return err == 1 ? -EPROTO : err;
}

static int do_help(int argc, char **argv, const struct main_globals *globals)
{
	(void)argc;
	(void)argv;
	(void)globals;
	main_usage(stdout);
	return 0;
}

static int do_kernel_check(int argc, char **argv, const struct main_globals *globals)
{
	struct utsname name;
	int err;

	(void)globals;
	if (main_no_args(argc, argv))
		return -EINVAL;
	err = kernel_probe_check();
	if (err)
		return err;
	uname(&name);
	printf("kernel %s: has what sluice needs (Linux %s or later)\n", name.release,
	       KERNEL_PROBE_MINIMUM);
	return 0;
}

static const struct main_command main_commands[] = {
    {"agent", NULL, do_agent,
     "--node NAME [--manifests DIR] [--kubeconfig FILE | --in-cluster]\n"
     "        [--k8s-api-server URL]\n"
     "        [--node-ip IP]... [--node-port-range LOW-HIGH] [--uplink IFNAME]\n"
     "        [--ct-size N] [--hairpin-ip IP]\n"
     "        [--cluster-cidr CIDR[,CIDR]]... [--service-cidr CIDR[,CIDR]]...\n"
     "        [--node-cidr-size N] [--pod-cidr CIDR]\n"
     "        [--cluster-dns IP] [--lb-algorithm maglev|random]\n"
     "        [--maglev-table-size M] [--masquerade true|false]\n"
     "        [--non-masquerade-cidr CIDR]... [--routing tunnel|native]\n"
     "        [--tunnel vxlan|geneve] [--healthz-addr ADDR:PORT]\n"
     "        [--metrics-addr ADDR:PORT] [--metrics-service-top N]\n"
     "        [--host-lb true|false] [--socket-lb true|false] [--cgroup-root DIR]"},
    {"service", "list", do_service_list, "frontends, their ids and backends"},
    {"ct", "list", do_ct_list, "conntrack entries, forward and reply"},
    {"endpoint", "list", do_endpoint_list, "pods on this node (from the CNI plugin)"},
    {"node", "list", do_node_list, "this node and the others: addresses, pod CIDRs, routing"},
    {"status", NULL, do_status, "pinned maps, entry counts, packet and drop counters"},
    {"drops", NULL, do_drops, "drop counters by reason"},
    {"kernel", "check", do_kernel_check,
     "does this kernel have the BPF features sluice needs (one line; exit 1 if not)"},
    {"policy", "list", do_policy_list,
     "[ENDPOINT]  NetworkPolicy per pod: identity, isolation, rules and why"},
    {"explain", NULL, do_explain,
     "FROM TO PORT[/PROTO]  what a new flow would meet: service, backends, policy, verdict"},
    {"observe", NULL, do_observe,
     "[-f] [--pod NS/NAME] [--namespace NS] [--service NS/NAME] [--verdict V] [--reason WORDS] "
     "[--since DURATION]  flow events: drops, new flows"},
    {"lab", NULL, do_lab,
     "FILE [--nodes N] [--explain] [--watch] [--timeout-ms N]  network-policy lab: pods\n"
     "        of FILE (spread over N nodes, default 1), probed pair by pair; --explain:\n"
     "        each denied cell's reason from sluice explain; -o html OUT.html: also\n"
     "        the matrices as one self-contained page, each cell's reason on hover"},
    {"help", NULL, do_help, "this text"},
};

static void main_usage(FILE *out)
{
	fprintf(out, "usage: sluice [--bpffs DIR] [-o json] [-v] COMMAND\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(main_commands) / sizeof(main_commands[0]); i++) {
		const struct main_command *c = &main_commands[i];

		fprintf(out, "  %s%s%s  %s\n", c->noun, c->verb ? " " : "", c->verb ? c->verb : "",
			c->help);
	}
	fprintf(out,
		"\nglobal flags (anywhere on the line):\n"
		"  --bpffs DIR   pin directory of the node's agent (default %s)\n"
		"  -o json       one JSON object on stdout instead of a table\n"
		"  -o html FILE  (lab only) the report also as one HTML page, written to FILE\n"
		"  -v            debug logging, libbpf's included\n",
		BPFFS_DEFAULT_DIR);
}

/*
 * Take the global flags out of argv wherever they are, so `sluice -o json service list` and
 * `sluice service list -o json` both work. Returns the new argc or -EINVAL.
 */
static int main_take_globals(int argc, char **argv, struct main_globals *globals)
{
	int out = 1;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = NULL;

		if (strcmp(arg, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
			log_level = LOG_LEVEL_DEBUG;
			continue;
		}
		if (strncmp(arg, "--bpffs=", 8) == 0 || strncmp(arg, "--output=", 9) == 0) {
			value = strchr(arg, '=') + 1;
		} else if (strcmp(arg, "--bpffs") == 0 || strcmp(arg, "-o") == 0 ||
			   strcmp(arg, "--output") == 0) {
			if (i + 1 >= argc)
				return log_fail("%s needs a value", arg);
			value = argv[++i];
		} else {
			argv[out++] = argv[i];
			continue;
		}
		if (arg[2] == 'b') {
			if (value[0] != '/')
				return log_fail("--bpffs %s: must be an absolute path", value);
			globals->bpffs = value;
		} else if (strcmp(value, "json") == 0) {
			globals->output = CLI_OUTPUT_JSON;
			globals->html = NULL;
		} else if (strcmp(value, "text") == 0 || strcmp(value, "table") == 0) {
			globals->output = CLI_OUTPUT_TEXT;
			globals->html = NULL;
		} else if (strcmp(value, "html") == 0) {
			/* A page is a file, not stdout: the next word names it. */
			if (i + 1 >= argc || !argv[i + 1][0] || argv[i + 1][0] == '-')
				return log_fail(
				    "-o html needs the FILE to write: sluice lab LABFILE "
				    "-o html OUT.html");
			globals->output = CLI_OUTPUT_TEXT;
			globals->html = argv[++i];
		} else {
			return log_fail("-o %s: expected json, text or html FILE", value);
		}
	}
	argv[out] = NULL;
	return out;
}

int main(int argc, char **argv)
{
	struct main_globals globals = {.bpffs = BPFFS_DEFAULT_DIR, .output = CLI_OUTPUT_TEXT};
	int err;

	argc = main_take_globals(argc, argv, &globals);
	if (argc < 0)
		return 2;
	log_setup_libbpf();
	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		return do_help(argc, argv, &globals);
	for (size_t i = 0; i < sizeof(main_commands) / sizeof(main_commands[0]); i++) {
		const struct main_command *c = &main_commands[i];
		int skip = 1;

		if (strcmp(argv[1], c->noun) != 0)
			continue;
		if (c->verb) {
			if (argc < 3 || strcmp(argv[2], c->verb) != 0)
				continue;
			skip = 2;
		}
		if (globals.html && c->handler != do_lab) {
			log_fail("-o html: only sluice lab writes HTML");
			return 2;
		}
		/* The handler sees its own name as argv[0], as getopt expects. */
		err = c->handler(argc - skip, argv + skip, &globals);
		return err ? 1 : 0;
	}
	log_fail("unknown command \"%s%s%s\" (see sluice --help)", argv[1], argc > 2 ? " " : "",
		 argc > 2 ? argv[2] : "");
	return 2;
}
