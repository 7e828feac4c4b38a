// SPDX-License-Identifier: Apache-2.0
/*
 * `sluice observe`: the flow events of the node's agent (drops, new flows, traced packets) for a
 * person or a script, names resolved from the pinned maps: pods (ep4), the node's addresses,
 * identities and policies (policy_names), Services (lb4_revnat).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/bpffs.h"
#include "lib/dp_counters.h"
#include "lib/hash_table.h"
#include "lib/ip_proto.h"
#include "lib/log.h"
#include "lib/observe.h"
#include "loader/cli/cli_internal.h"
#include "maps/endpoints.h"
#include "maps/events.h"
#include "maps/lb.h"
#include "maps/node.h"
#include "maps/policy.h"
#include "maps/stats.h"

/* What `sluice observe` shows: every filter given must match. */
struct observe_filter {
	const char *pod;       /* "ns/name": source, destination or backend */
	const char *namespace; /* any of those, or the Service, in it */
	const char *service;   /* "ns/name" or "ns/name:port" */
	const char *verdict;   /* DROPPED, FORWARDED, TRANSLATED (any case) */
	const char *reason;    /* words the reason contains (any case) */
};

/*
 * Names read from the maps are kept OBSERVE_CACHE_NS, in OBSERVE_CACHE_SLOTS slots (a slot is
 * overwritten by the next name hashed to it): a follower at 100,000 events a second would
 * otherwise spend several map lookups, each a system call, per event on the same few addresses
 * and Services. A pod renamed shows under its new name within that time.
 */
#define OBSERVE_CACHE_SLOTS 1024
#define OBSERVE_CACHE_NS    1000000000ull
#define OBSERVE_NAME_LEN    (SLUICE_NAME_LEN + 16)

enum observe_cache_kind {
	OBSERVE_CACHE_ADDRESS = 1, /* observe_name() of an address */
	OBSERVE_CACHE_SERVICE,	   /* lb4_revnat's name of a svc_id */
};

struct observe_cached {
	uint64_t key; /* kind << 32 | address or svc_id; 0: empty */
	uint64_t until_ns;
	char name[OBSERVE_NAME_LEN];
};

/* Pinned maps names are read from; -1 when missing (older pins): names fall back to IPs. */
struct observe_names {
	int ep4, node4_addrs, ipcache4, policy_names, revnat, lost, svc;
	struct observe_cached *cache; /* OBSERVE_CACHE_SLOTS, or NULL: every name read afresh */
};

/* An event with its names, as printed. */
struct observe_view {
	const struct flow_event *event;
	const char *verdict;
	char src[OBSERVE_NAME_LEN], dst[OBSERVE_NAME_LEN], backend[OBSERVE_NAME_LEN];
	char src_ip[16], dst_ip[16], backend_ip[16], snat_ip[16];
	char service[SLUICE_NAME_LEN];
	char policy[512]; /* "default deny of ns/a, ns/b" */
	char time[40];
};

/* NAME into BUF of LEN bytes, cut to fit. */
static void observe_copy(char *buf, size_t len, const char *name)
{
	size_t n = strnlen(name, len - 1);

	memcpy(buf, name, n);
	buf[n] = '\0';
}

static uint64_t observe_now_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/* The slot of KIND's VALUE in the cache, or NULL without a cache. *IS_HIT: its name is current. */
static struct observe_cached *observe_cache_slot(const struct observe_names *names,
						 enum observe_cache_kind kind, uint32_t value,
						 uint64_t now, bool *is_hit)
{
	uint64_t key = (uint64_t)kind << 32 | value;
	struct observe_cached *slot;

	*is_hit = false;
	if (!names->cache)
		return NULL;
	slot = &names->cache[hash_fnv1a(&key, sizeof(key)) % OBSERVE_CACHE_SLOTS];
	*is_hit = slot->key == key && now < slot->until_ns;
	if (!*is_hit) {
		slot->key = key;
		slot->until_ns = now + OBSERVE_CACHE_NS;
	}
	return slot;
}

/* "ns/pod" of a pod of this node, "node" for this node's addresses, else the address. */
static void observe_name(const struct observe_names *names, __be32 address, char *buf, size_t len)
{
	struct ep4_key key = {.address = address};
	struct ep4_info ep;
	struct node4_addr node;
	char ip[16];
	bool is_hit;
	struct observe_cached *slot =
	    observe_cache_slot(names, OBSERVE_CACHE_ADDRESS, address, observe_now_ns(), &is_hit);

	if (is_hit) {
		observe_copy(buf, len, slot->name);
		return;
	}
	if (names->ep4 >= 0 && !bpf_map_lookup_elem(names->ep4, &key, &ep) && ep.name[0]) {
		ep.name[sizeof(ep.name) - 1] = '\0';
		snprintf(buf, len, "%s", ep.name);
	} else if (names->node4_addrs >= 0 && address &&
		   !bpf_map_lookup_elem(names->node4_addrs, &address, &node) &&
		   (node.flags & NODE4_F_ADDRESS)) {
		snprintf(buf, len, "node");
	} else {
		snprintf(buf, len, "%s", cli_ip(address, ip));
	}
	if (slot)
		observe_copy(slot->name, sizeof(slot->name), buf);
}

/* lb4_revnat's name of SVC_ID into BUF ("" when it has none). */
static void observe_service_name(const struct observe_names *names, __u32 svc_id, char *buf,
				 size_t len)
{
	struct lb4_revnat revnat;
	bool is_hit;
	struct observe_cached *slot =
	    observe_cache_slot(names, OBSERVE_CACHE_SERVICE, svc_id, observe_now_ns(), &is_hit);

	if (is_hit) {
		observe_copy(buf, len, slot->name);
		return;
	}
	buf[0] = '\0';
	if (names->revnat >= 0 && !bpf_map_lookup_elem(names->revnat, &svc_id, &revnat)) {
		revnat.name[sizeof(revnat.name) - 1] = '\0';
		snprintf(buf, len, "%s", revnat.name);
	}
	if (slot)
		observe_copy(slot->name, sizeof(slot->name), buf);
}

/*
 * The policies isolating IDENTITY in DIRECTION, whose default deny dropped the flow ("default
 * deny of ns/a, ns/b"), as the agent records them for each isolated identity in policy_names
 * (POLICY_NAME_F_ISOLATION: "ingress=ns/a,ns/b egress=ns/c"); "default deny" without it.
 */
static void observe_policy(const struct observe_names *names, __u32 identity, __u8 direction,
			   char *buf, size_t len)
{
	char by[POLICY_NAME_LEN * 2];

	if (cli_policy_isolated_by(names->policy_names, identity, direction == POLICY_DIR_INGRESS,
				   by, sizeof(by)))
		snprintf(buf, len, "default deny of %s", by);
	else
		snprintf(buf, len, "default deny");
}

static void observe_time(__u64 time_ns, char *buf, size_t len)
{
	struct timespec mono, real;
	struct tm tm;
	int64_t wall_ns;
	size_t n;
	time_t seconds;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	wall_ns = (int64_t)real.tv_sec * 1000000000 + real.tv_nsec -
		  ((int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec - (int64_t)time_ns);
	seconds = (time_t)(wall_ns / 1000000000);
	gmtime_r(&seconds, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(wall_ns % 1000000000 / 1000000) % 1000);
}

/* The name of the Service of frontend KEY into BUF. Returns whether there is one. */
static bool observe_frontend_name(const struct observe_names *names, const struct lb4_key *key,
				  char *buf, size_t len)
{
	struct lb4_service svc;
	struct lb4_revnat revnat;

	if (bpf_map_lookup_elem(names->svc, key, &svc) ||
	    bpf_map_lookup_elem(names->revnat, &svc.svc_id, &revnat))
		return false;
	revnat.name[sizeof(revnat.name) - 1] = '\0';
	snprintf(buf, len, "%s", revnat.name);
	return true;
}

/*
 * The name of the Service with frontend daddr:dport/proto (either scope; a NodePort when daddr
 * is an address of the node, as node_lookup_service() finds it), or "".
 */
static void observe_service(const struct observe_names *names, const struct flow_event *event,
			    char *buf, size_t len)
{
	struct lb4_key key = {.address = event->daddr, .port = event->dport, .proto = event->proto};
	struct node4_addr addr;

	if (names->svc < 0 || names->revnat < 0)
		return;
	for (__u8 scope = LB4_SCOPE_INTERNAL; scope <= LB4_SCOPE_EXTERNAL; scope++) {
		key.scope = scope;
		if (observe_frontend_name(names, &key, buf, len))
			return;
	}
	if (names->node4_addrs >= 0 &&
	    !bpf_map_lookup_elem(names->node4_addrs, &event->daddr, &addr) &&
	    (addr.flags & NODE4_F_ADDRESS)) {
		key.address = 0;
		observe_frontend_name(names, &key, buf, len);
	}
}

/* Drops a frontend's own rules decided: the Service is named by its frontend. */
static bool observe_is_service_drop(const struct flow_event *event)
{
	return (event->flags & EVENT_F_REJECTED) || event->reason == DROP_SOURCE_RANGE ||
	       event->reason == DROP_NO_LOCAL_ENDPOINT || event->reason == DROP_NO_BACKEND;
}

static void observe_resolve(const struct observe_names *names, const struct flow_event *event,
			    struct observe_view *view)
{
	memset(view, 0, sizeof(*view));
	view->event = event;
	observe_time(event->time_ns, view->time, sizeof(view->time));
	cli_ip(event->saddr, view->src_ip);
	cli_ip(event->daddr, view->dst_ip);
	observe_name(names, event->saddr, view->src, sizeof(view->src));
	observe_name(names, event->daddr, view->dst, sizeof(view->dst));
	if (event->kind == EVENT_DROP) {
		view->verdict = "DROPPED";
		if (observe_is_service_drop(event))
			observe_service(names, event, view->service, sizeof(view->service));
		if (event->reason == DROP_POLICY_INGRESS || event->reason == DROP_POLICY_EGRESS)
			observe_policy(names,
				       event->direction == POLICY_DIR_EGRESS ? event->src_identity
									     : event->dst_identity,
				       event->direction, view->policy, sizeof(view->policy));
		return;
	}
	view->verdict = event->flags & EVENT_F_TRANSLATED ? "TRANSLATED" : "FORWARDED";
	if (event->kind != EVENT_NEW_FLOW)
		return;
	if (event->svc_id)
		observe_service_name(names, event->svc_id, view->service, sizeof(view->service));
	if (event->svc_id) {
		cli_ip(event->nat_daddr, view->backend_ip);
		observe_name(names, event->nat_daddr, view->backend, sizeof(view->backend));
	}
	if (event->flags & EVENT_F_SNAT)
		cli_ip(event->nat_saddr, view->snat_ip);
}

static bool observe_has_prefix(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(name, prefix, n) == 0 && name[n] == '/';
}

static bool observe_matches(const struct observe_filter *filter, const struct observe_view *view)
{
	const struct flow_event *event = view->event;

	if (filter->verdict && strcasecmp(filter->verdict, view->verdict))
		return false;
	if (filter->reason && (event->kind != EVENT_DROP || event->reason >= DROP_MAX ||
			       !strcasestr(drop_names[event->reason], filter->reason)))
		return false;
	if (filter->pod && strcmp(filter->pod, view->src) && strcmp(filter->pod, view->dst) &&
	    strcmp(filter->pod, view->backend))
		return false;
	if (filter->namespace && !observe_has_prefix(view->src, filter->namespace) &&
	    !observe_has_prefix(view->dst, filter->namespace) &&
	    !observe_has_prefix(view->backend, filter->namespace) &&
	    !observe_has_prefix(view->service, filter->namespace))
		return false;
	if (filter->service) {
		size_t n = strlen(filter->service);

		if (strncmp(view->service, filter->service, n) ||
		    (view->service[n] != ':' && view->service[n] != '\0'))
			return false;
	}
	return true;
}

static const char *observe_kind(__u8 kind)
{
	return kind == EVENT_DROP ? "drop" : kind == EVENT_NEW_FLOW ? "new_flow" : "trace";
}

static void observe_print_json(const struct observe_view *view)
{
	const struct flow_event *event = view->event;
	struct json_object *obj = json_object_new_object();

	if (!obj)
		return;
	cli_json_set(obj, "time", json_object_new_string(view->time));
	cli_json_set(obj, "verdict", json_object_new_string(view->verdict));
	cli_json_set(obj, "event", json_object_new_string(observe_kind(event->kind)));
	cli_json_set(obj, "protocol", json_object_new_string(ip_proto_name(event->proto)));
	cli_json_set(obj, "source", json_object_new_string(view->src));
	cli_json_set(obj, "source_ip", json_object_new_string(view->src_ip));
	cli_json_set(obj, "source_port", json_object_new_int(ntohs(event->sport)));
	cli_json_set(obj, "destination", json_object_new_string(view->dst));
	cli_json_set(obj, "destination_ip", json_object_new_string(view->dst_ip));
	cli_json_set(obj, "destination_port", json_object_new_int(ntohs(event->dport)));
	cli_json_set(obj, "ifindex", json_object_new_int64(event->ifindex));
	if (event->kind == EVENT_DROP) {
		cli_json_set(obj, "reason",
			     json_object_new_string(
				 event->reason < DROP_MAX ? drop_names[event->reason] : "?"));
		cli_json_set(obj, "reason_id", json_object_new_int(event->reason));
		if (event->flags & EVENT_F_REJECTED)
			cli_json_set(obj, "rejected", json_object_new_boolean(1));
		cli_json_set(obj, "source_identity", json_object_new_int64(event->src_identity));
		cli_json_set(obj, "destination_identity",
			     json_object_new_int64(event->dst_identity));
	}
	if (view->policy[0]) {
		cli_json_set(obj, "policy", json_object_new_string(view->policy));
		cli_json_set(obj, "policy_direction",
			     json_object_new_string(
				 event->direction == POLICY_DIR_EGRESS ? "egress" : "ingress"));
	}
	if (view->service[0])
		cli_json_set(obj, "service", json_object_new_string(view->service));
	if (view->backend_ip[0]) {
		cli_json_set(obj, "backend", json_object_new_string(view->backend));
		cli_json_set(obj, "backend_ip", json_object_new_string(view->backend_ip));
		cli_json_set(obj, "backend_port", json_object_new_int(ntohs(event->nat_dport)));
	}
	if (view->snat_ip[0]) {
		cli_json_set(obj, "snat_ip", json_object_new_string(view->snat_ip));
		cli_json_set(obj, "snat_port", json_object_new_int(ntohs(event->nat_sport)));
	}
	printf("%s\n", json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
}

static void observe_print_text(const struct observe_view *view)
{
	const struct flow_event *event = view->event;

	printf("%s %-10s %-4s %s:%u -> %s:%u", view->time, view->verdict,
	       ip_proto_name(event->proto), view->src, ntohs(event->sport), view->dst,
	       ntohs(event->dport));
	if (event->kind == EVENT_DROP)
		printf("  %s", event->reason < DROP_MAX ? drop_names[event->reason] : "?");
	if (event->flags & EVENT_F_REJECTED)
		printf(" (rejected: ICMP port unreachable)");
	if (view->policy[0])
		printf(": %s (%s)", view->policy,
		       event->direction == POLICY_DIR_EGRESS ? "egress" : "ingress");
	if (view->service[0])
		printf("  service %s", view->service);
	if (view->backend_ip[0])
		printf("  backend %s (%s:%u)", view->backend, view->backend_ip,
		       ntohs(event->nat_dport));
	if (view->snat_ip[0])
		printf("  snat %s:%u", view->snat_ip, ntohs(event->nat_sport));
	if (event->kind == EVENT_TRACE)
		printf("  traced%s", event->flags & EVENT_F_REPLY ? " reply" : "");
	printf("\n");
}

/* Lost events: the datapath's (ring full, rate-limited, summed over CPUs) and this reader's. */
static void observe_print_lost(const struct cli_options *options, const struct observe_names *names,
			       uint64_t reader_lost)
{
	__u64 lost[EVENTS_LOST_MAX] = {0};

	if (names->lost < 0 || dp_percpu_sum_u64(names->lost, EVENTS_LOST_MAX, 1, lost))
		memset(lost, 0, sizeof(lost));
	if (options->output == CLI_OUTPUT_JSON)
		printf("{\"lost\":{\"ring_full\":%llu,\"rate_limited\":%llu,\"reader\":%llu}}\n",
		       (unsigned long long)lost[EVENTS_LOST_RING],
		       (unsigned long long)lost[EVENTS_LOST_RATE], (unsigned long long)reader_lost);
	else
		printf("events lost: %llu ring full, %llu rate-limited, %llu by this reader\n",
		       (unsigned long long)lost[EVENTS_LOST_RING],
		       (unsigned long long)lost[EVENTS_LOST_RATE], (unsigned long long)reader_lost);
}

/* "500ms", "30s", "5m", "2h" (a bare number is seconds) in ns, or 0 when malformed. */
static uint64_t observe_parse_duration(const char *text)
{
	char *end;
	unsigned long long value;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || end == text || !isdigit((unsigned char)text[0]))
		return 0;
	if (!*end || !strcmp(end, "s"))
		return value * 1000000000ull;
	if (!strcmp(end, "ms"))
		return value * 1000000ull;
	if (!strcmp(end, "m"))
		return value * 60000000000ull;
	if (!strcmp(end, "h"))
		return value * 3600000000000ull;
	return 0;
}

/* --trace on|off: every packet of established flows as events too, or not (the default). */
static int observe_set_trace(const struct cli_options *options, const char *value)
{
	struct events_cfg cfg = {0};
	__u32 zero = 0;
	int fd, err;

	if (strcmp(value, "on") && strcmp(value, "off"))
		return log_fail("--trace %s: expected on or off", value);
	fd = cli_open_map(options, EVENTS_CFG_MAP);
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, &cfg))
		memset(&cfg, 0, sizeof(cfg));
	if (!strcmp(value, "on"))
		cfg.flags |= EVENTS_CFG_F_TRACE;
	else
		cfg.flags &= ~EVENTS_CFG_F_TRACE;
	err = bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY) ? -errno : 0;
	close(fd);
	if (err)
		return log_fail("%s/%s: %s", options->bpffs, EVENTS_CFG_MAP, strerror(-err));
	printf("tracing of established flows %s\n", value);
	return 0;
}

static int observe_connect(const struct cli_options *options, uint64_t since_ns, bool is_follow)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct observe_request request = {.since_ns = since_ns};
	int fd, err;

	if (observe_socket_path(options->bpffs, addr.sun_path, sizeof(addr.sun_path)))
		return log_fail("--bpffs %s: too long for a socket path", options->bpffs);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_fail("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		err = -errno;
		close(fd);
		log_fail("%s: %s (is the agent running with --bpffs %s?)", addr.sun_path,
			 strerror(-err), options->bpffs);
		return err;
	}
	request.flags = is_follow ? OBSERVE_F_FOLLOW : 0;
	if (send(fd, &request, sizeof(request), MSG_NOSIGNAL) != (ssize_t)sizeof(request)) {
		err = -errno;
		close(fd);
		log_fail("%s: %s", addr.sun_path, strerror(-err));
		return err;
	}
	return fd;
}

static void observe_open_names(const struct cli_options *options, struct observe_names *names)
{
	names->ep4 = bpffs_open_map(options->bpffs, EP4_MAP);
	names->node4_addrs = bpffs_open_map(options->bpffs, NODE4_ADDRS_MAP);
	names->ipcache4 = bpffs_open_map(options->bpffs, IPCACHE4_MAP);
	names->policy_names = bpffs_open_map(options->bpffs, POLICY_NAMES_MAP);
	names->revnat = bpffs_open_map(options->bpffs, LB4_REVNAT_MAP);
	names->lost = bpffs_open_map(options->bpffs, EVENTS_LOST_MAP);
	names->svc = bpffs_open_map(options->bpffs, LB4_SVC_MAP);
	names->cache = calloc(OBSERVE_CACHE_SLOTS, sizeof(*names->cache));
}

static void observe_close_names(struct observe_names *names)
{
	int *fds[] = {&names->ep4,    &names->node4_addrs, &names->ipcache4, &names->policy_names,
		      &names->revnat, &names->lost,	   &names->svc};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	free(names->cache);
}

static void observe_usage(FILE *out)
{
	fprintf(out,
		"usage: sluice observe [-f] [--pod NS/NAME] [--namespace NS] [--service NS/NAME]\n"
		"         [--verdict dropped|forwarded|translated] [--reason WORDS]\n"
		"         [--since DURATION] [-o json]\n"
		"       sluice observe --trace on|off\n");
}

int cli_observe(const struct cli_options *options, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"follow", no_argument, NULL, 'f'},
	    {"pod", required_argument, NULL, 'p'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"service", required_argument, NULL, 's'},
	    {"verdict", required_argument, NULL, 'V'},
	    {"reason", required_argument, NULL, 'r'},
	    {"since", required_argument, NULL, 'S'},
	    {"trace", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct observe_filter filter = {0};
	struct observe_names names;
	struct flow_event batch[OBSERVE_BATCH];
	uint64_t since_ns = 0, reader_lost = 0, duration;
	struct timespec mono;
	bool is_follow = false, is_end = false;
	int opt, fd, err = 0;
	ssize_t n;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			is_follow = true;
			break;
		case 'p':
			filter.pod = optarg;
			break;
		case 'n':
			filter.namespace = optarg;
			break;
		case 's':
			filter.service = optarg;
			break;
		case 'V':
			if (strcasecmp(optarg, "dropped") && strcasecmp(optarg, "forwarded") &&
			    strcasecmp(optarg, "translated"))
				return log_fail("--verdict %s: expected dropped, forwarded or "
						"translated",
						optarg);
			filter.verdict = optarg;
			break;
		case 'r':
			filter.reason = optarg;
			break;
		case 'S':
			duration = observe_parse_duration(optarg);
			if (!duration)
				return log_fail("--since %s: expected a duration such as 500ms, "
						"30s, 5m or 1h",
						optarg);
			clock_gettime(CLOCK_MONOTONIC, &mono);
			since_ns = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
			since_ns = since_ns > duration ? since_ns - duration : 1;
			break;
		case 't':
			return observe_set_trace(options, optarg);
		case 'h':
			observe_usage(stdout);
			return 0;
		default:
			observe_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc)
		return log_fail("observe: unexpected argument %s", argv[optind]);
	err = cli_check_layout(options);
	if (err)
		return err;
	fd = observe_connect(options, since_ns, is_follow);
	if (fd < 0)
		return fd;
	observe_open_names(options, &names);
	/* Written out after each message of up to OBSERVE_BATCH events, not after each line. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	while (!is_end) {
		n = recv(fd, batch, sizeof(batch), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? log_fail("observe: %s", strerror(errno)) : 0;
			if (!err && !is_follow)
				err = log_fail("observe: the agent closed the stream early");
			break;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(batch[0]); i++) {
			struct observe_view view;

			if (batch[i].kind == EVENT_END) {
				is_end = true;
				break;
			}
			if (batch[i].kind == EVENT_LOST) {
				reader_lost += batch[i].policy;
				if (is_follow)
					observe_print_lost(options, &names, reader_lost);
				continue;
			}
			observe_resolve(&names, &batch[i], &view);
			if (!observe_matches(&filter, &view))
				continue;
			if (options->output == CLI_OUTPUT_JSON)
				observe_print_json(&view);
			else
				observe_print_text(&view);
		}
		fflush(stdout);
	}
	if (is_end)
		observe_print_lost(options, &names, reader_lost);
	observe_close_names(&names);
	close(fd);
	return err;
}
