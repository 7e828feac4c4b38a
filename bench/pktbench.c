// SPDX-License-Identifier: Apache-2.0
/*
 * sluice-pktbench: per-packet cost of the pod program through BPF_PROG_TEST_RUN, for a new
 * flow, an established flow, a reply and non-service traffic, with N services present; with
 * --policy-cidrs N, then also for new flows a NetworkPolicy of N ipBlock rules judges (seeded
 * through the agent's own compiler and map writer, so the maps hold what an agent would write);
 * then for new flows at a full conntrack table: full of flows nobody answered (each new flow
 * early-drops the oldest), and full of confirmed flows (each new flow is dropped). First of
 * all, new flows into a table that never fills: the new-flow case itself fills the table
 * within its first run at the default sizes, so most of its packets meet a full one.
 * Then new flows whose events are all told: runs short enough for the events ring to hold their
 * events, drained between runs (the new-flow case above fills the ring within its first run, so
 * its events mostly find it full); with --events off, the same rows with tc_pod telling no event
 * (the cost of events is the difference of two such runs).
 * Last, egress masquerade (a second tc_pod with masquerade on, in a network namespace of the
 * bench's own whose FIB sends the outside through an uplink veth): a new masqueraded flow and
 * a packet of an established one.
 * Each figure is the median of --runs runs of --repeat packets; the wrapper's own cost
 * (bench/pkt_wrap.bpf.c tail-calling a no-op) is measured in the same way and subtracted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/bpffs.h"
#include "lib/dp_counters.h"
#include "loader/sync/datapath.h"
#include "lib/log.h"
#include "loader/desired/maglev.h"
#include "loader/desired/netpol_compile.h"
#include "loader/k8s/objects.h"
#include "loader/sync/policy_sync.h"
#include "loader/k8s/yaml_tree.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/events.h"
#include "maps/lb.h"
#include "maps/masq.h"
#include "maps/node.h"
#include "maps/policy.h"
#include "bench/pkt_run.h"
#include "skel/pkt_wrap.skel.h"
#include "skel/tc_pod.skel.h"

/* ipBlock i is (16 + i / 256).(i % 256).0.0/16: 16.0.0.0 - 31.255.0.0, clear of the pods. */
#define POLICY_MAX_CIDRS 4096
/* Egress rules per generated policy: NETPOL_MAX_RULES caps one policy, so more take several. */
#define POLICY_RULES_PER_POLICY 200
/* Allowed new flows vary the destination's low 16 bits as 1 + run / 60000 (pkt_wrap): they
 * stay inside the first half of a /16 (its except is the second) below this many packets. */
#define POLICY_MAX_ALLOWED_PACKETS (60000ull * 32000)

/*
 * Packets a run of the events row: their events (64 bytes and an 8-byte header each) fit the
 * 1 MiB ring, about 14,500, so none finds it full before the drain that follows the run.
 */
#define EVENTS_REPEAT 10000

/* Egress masquerade's rows, in the bench's own network namespace (bench_masq_netns). */
#define MASQ_UPLINK  "slbench0"
#define MASQ_NODE_IP ip4(192, 0, 2, 1)
#define MASQ_OUTSIDE ip4(203, 0, 113, 7)

/*
 * New-flow runs give each packet its own (source, port) to miss conntrack: pkt_wrap sets the
 * source's low 16 bits to 1 + n / 60000 for the n-th packet, n counting over the new-flow
 * wrapper baseline and the new-flow case, runs x repeat packets each. Every such source must be
 * a pod of this node (tc_pod drops a source ep4 does not register for the ingress device).
 */
static unsigned long long bench_new_flow_sources(const struct bench_opts *o)
{
	/* The baseline and new-flow cases, the two full-table cases, the events row, the table's
	 * filling and the filling case (bench_filling_repeat()). */
	return 2 + (4ull * o->runs * o->repeat + (unsigned long long)o->runs * EVENTS_REPEAT +
		    o->ct_size + o->ct_size / 4) /
		       60000;
}

/*
 * Service i: VIP 10.96.x.y:80/TCP with `backends` backends 10.(128+...).x.y:8080; with Maglev,
 * each with its table (generation 0), as the agent writes them.
 */
static int seed_services(struct tc_pod *skel, const struct bench_opts *o, __u32 *target_vip)
{
	struct maglev_backend *identities = calloc(o->backends, sizeof(*identities));
	__u32 *table = calloc(LB_MAGLEV_SIZE_DEFAULT, sizeof(*table));
	__u32 backend_id = 1;
	int err = 0;

	if (!identities || !table) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (unsigned int i = 0; i < o->services; i++) {
		__u32 svc_id = i + 1, vip = ip4(10, 96 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
		struct lb4_key key = {.address = vip, .port = htons(80), .proto = IPPROTO_TCP};
		struct lb4_service svc = {.svc_id = svc_id, .count = o->backends};
		struct lb4_revnat revnat = {
		    .address = vip, .port = htons(80), .proto = IPPROTO_TCP};
		struct lb4_vip vip_value = {.frontends = 1};
		struct lb4_maglev_key maglev_key = {.svc_id = svc_id};

		for (unsigned int b = 0; b < o->backends; b++, backend_id++) {
			struct lb4_slot_key slot = {.svc_id = svc_id, .index = b};
			struct lb4_backend backend = {
			    .address = ip4(10, 128 + (backend_id >> 16), (backend_id >> 8) & 0xff,
					   backend_id & 0xff),
			    .port = htons(8080),
			    .proto = IPPROTO_TCP,
			};

			err = map_put(skel->maps.lb4_backends, &backend_id, &backend);
			err = err ?: map_put(skel->maps.lb4_slots, &slot, &backend_id);
			if (err)
				goto cleanup;
			identities[b].address = backend.address;
			identities[b].port = backend.port;
			identities[b].proto = backend.proto;
			identities[b].id = backend_id;
			if (i + 1 == o->services && !o->is_tunnel) {
				/* The target service's backends are pods on this node (with
				 * --tunnel, no backend is: they are node B's). */
				struct ep4_key ep_key = {.address = backend.address};
				struct ep4_info ep = {.ifindex = 1};

				err = map_put(skel->maps.ep4, &ep_key, &ep);
				if (err)
					goto cleanup;
			}
		}
		if (o->algorithm == LB_ALGORITHM_MAGLEV) {
			svc.flags |= LB_SVC_F_MAGLEV;
			err =
			    maglev_populate(identities, o->backends, LB_MAGLEV_SIZE_DEFAULT, table);
			err = err ?: map_put(skel->maps.lb4_maglev, &maglev_key, table);
			if (err)
				goto cleanup;
		}
		snprintf(revnat.name, sizeof(revnat.name), "bench/svc-%u:http", i);
		err = map_put(skel->maps.lb4_revnat, &svc_id, &revnat);
		err = err ?: map_put(skel->maps.lb4_vips, &vip, &vip_value);
		err = err ?: map_put(skel->maps.lb4_svc, &key, &svc);
		if (err)
			goto cleanup;
		*target_vip = vip;
	}

cleanup:
	free(identities);
	free(table);
	return err;
}

/* The address of ipBlock i's cidr (a /16; its second half, a /17, is the except). */
static __u32 policy_block(unsigned int i)
{
	return ip4(16 + i / 256, i % 256, 0, 0);
}

/*
 * Pods CLIENT (app=client) and SERVER (app=server) in namespace bench, and policies isolating
 * the client's egress with `cidrs` rules in all, each one ipBlock (a /16 less its upper /17)
 * on TCP 443: what a cluster with that many ipBlock rules gives the agent. Compiled and written
 * by loader/desired/netpol_compile.c and loader/sync/policy_sync.c into the skeleton's maps.
 */
static int seed_policy(struct tc_pod *skel, unsigned int cidrs, __u32 client, __u32 server)
{
	struct k8s_object **objects = NULL;
	struct k8s_errors errors = {.is_quiet = true};
	struct policy_state *state = NULL;
	struct policy_sync *sync = NULL;
	struct sluice_maps maps;
	struct yaml_tree tree;
	char *text = NULL, error[256], address[INET_ADDRSTRLEN];
	size_t len = 0, n_objects = 0, i;
	unsigned long writes = 0;
	unsigned int line = 0;
	FILE *out;
	int err;

	yaml_tree_init(&tree);
	out = open_memstream(&text, &len);
	if (!out)
		return -errno;
	fprintf(out, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n");
	inet_ntop(AF_INET, &client, address, sizeof(address));
	fprintf(out,
		"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: client\n  namespace: bench\n"
		"  labels:\n    app: client\nstatus:\n  podIP: %s\n",
		address);
	inet_ntop(AF_INET, &server, address, sizeof(address));
	fprintf(out,
		"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: server\n  namespace: bench\n"
		"  labels:\n    app: server\nstatus:\n  podIP: %s\n",
		address);
	for (unsigned int b = 0; b < cidrs; b++) {
		__u32 cidr = ntohl(policy_block(b));

		if (b % POLICY_RULES_PER_POLICY == 0)
			fprintf(out,
				"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
				"metadata:\n  name: egress-%u\n  namespace: bench\nspec:\n"
				"  podSelector:\n    matchLabels:\n      app: client\n"
				"  policyTypes: [Egress]\n  egress:\n",
				b / POLICY_RULES_PER_POLICY);

		fprintf(out,
			"  - to:\n    - ipBlock:\n        cidr: %u.%u.0.0/16\n"
			"        except: [%u.%u.128.0/17]\n    ports:\n    - {protocol: TCP, port: "
			"443}\n",
			cidr >> 24, (cidr >> 16) & 0xff, cidr >> 24, (cidr >> 16) & 0xff);
	}
	if (fclose(out))
		return -errno;

	err = yaml_tree_parse(&tree, text, len, &line, error, sizeof(error));
	if (err) {
		log_error("policy manifest line %u: %s", line, error);
		goto cleanup;
	}
	objects = calloc(tree.n_documents + 1, sizeof(*objects));
	if (!objects) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < tree.n_documents; i++) {
		enum k8s_kind kind;

		err = k8s_object_kind(tree.documents[i], "bench", &errors, &kind);
		err = err
			  ?: k8s_object_decode(tree.documents[i], kind, "bench", &errors,
					       &objects[n_objects]);
		if (objects[n_objects])
			n_objects++;
		if (err) {
			log_error("policy manifest: %s",
				  errors.count ? errors.items[0] : "refused");
			goto cleanup;
		}
	}
	err = netpol_compile(objects, n_objects, &state);
	if (err)
		goto cleanup;
	bpffs_maps_init(&maps);
	maps.ipcache4 = bpf_map__fd(skel->maps.ipcache4);
	maps.policy4 = bpf_map__fd(skel->maps.policy4);
	maps.policy_cfg = bpf_map__fd(skel->maps.policy_cfg);
	maps.policy_names = bpf_map__fd(skel->maps.policy_names);
	maps.ipcache4_exact = bpf_map__fd(skel->maps.ipcache4_exact);
	maps.ipcache4_lens = bpf_map__fd(skel->maps.ipcache4_lens);
	err = policy_sync_open(&maps, &sync);
	err = err ?: policy_sync_apply(sync, state, &writes);
	if (!err && (!state->is_enabled || state->n_ipcache < 2 * (size_t)cidrs + 2)) {
		log_error("policy: %zu ipcache entries for %u ipBlocks", state->n_ipcache, cidrs);
		err = -EPROTO;
	}
cleanup:
	policy_sync_close(sync);
	policy_state_free(state);
	for (i = 0; i < n_objects; i++)
		k8s_object_put(objects[i]);
	free(objects);
	k8s_errors_free(&errors);
	yaml_tree_free(&tree);
	free(text);
	return err;
}

/* The last flow of a vary_daddr case was tracked as allowed by policy (see pkt_wrap). */
static bool flow_is_policy_allowed(struct tc_pod *skel, struct pkt_wrap *wrap,
				   const struct bench_case *c)
{
	__u32 n = wrap->bss->sport_next - 1;
	struct ct4_key key = {
	    .saddr = c->saddr,
	    .daddr = c->daddr | htonl(1 + n / 60000),
	    .sport = htons(1024 + n % 60000),
	    .dport = htons(c->dport),
	    .proto = IPPROTO_TCP,
	};
	struct ct_entry entry;

	return !bpf_map__lookup_elem(skel->maps.ct4, &key, sizeof(key), &entry, sizeof(entry), 0) &&
	       entry.policy == CT_POLICY_ALLOWED;
}

/* Packets per run of the filling case: its runs together fill ct4 to half its size. */
static unsigned int bench_filling_repeat(const struct bench_opts *o)
{
	unsigned int repeat = o->ct_size / 4 / o->runs;

	return repeat < 1 ? 1 : repeat < o->repeat ? repeat : o->repeat;
}

/*
 * Every key of ct4 into *keys (malloc'd; the caller frees it), *n of them. Keys first, then
 * the caller's deletes or updates: an update moves the element in its bucket, which a key walk
 * would revisit. 0 or -ENOMEM.
 */
static int bench_ct_keys(struct tc_pod *skel, struct ct4_key **keys, __u32 *n)
{
	int fd = bpf_map__fd(skel->maps.ct4);
	__u32 max = bpf_map__max_entries(skel->maps.ct4);
	void *previous = NULL;

	*n = 0;
	*keys = calloc(max, sizeof(**keys));
	if (!*keys)
		return -ENOMEM;
	while (*n < max && !bpf_map_get_next_key(fd, previous, &(*keys)[*n])) {
		previous = &(*keys)[*n];
		(*n)++;
	}
	return 0;
}

/* Deletes every entry of ct4 (after the filling case): the cases that follow start from an
 * empty table, as before it. */
static int bench_flush_ct(struct tc_pod *skel)
{
	int fd = bpf_map__fd(skel->maps.ct4), err;
	struct ct4_key *keys;
	__u32 n;

	err = bench_ct_keys(skel, &keys, &n);
	if (err)
		return err;
	for (__u32 i = 0; i < n && !err; i++)
		if (bpf_map_delete_elem(fd, &keys[i]))
			err = -errno;
	free(keys);
	return err;
}

/*
 * New flows until ct4 is full: CASE's flows, ct_size / 2 of them (two entries each) and a few
 * more, none answered. Not timed.
 */
static int bench_fill_table(struct pkt_wrap *wrap, const struct bench_opts *o,
			    const struct bench_case *c)
{
	struct bench_opts fill = *o;
	struct bench_case filler = *c;

	fill.runs = 1;
	fill.repeat = o->ct_size / 2 + 64;
	filler.expect_retval = -1;
	return bench_run(wrap, &fill, &filler);
}

/* Marks every reply entry of ct4 confirmed, as if each flow had been answered. */
static int bench_confirm_all(struct tc_pod *skel)
{
	int fd = bpf_map__fd(skel->maps.ct4), err;
	struct ct_entry entry;
	struct ct4_key *keys;
	__u32 n;

	err = bench_ct_keys(skel, &keys, &n);
	if (err)
		return err;
	for (__u32 i = 0; i < n && !err; i++) {
		if (bpf_map_lookup_elem(fd, &keys[i], &entry) || !(entry.flags & CT_F_REPLY))
			continue;
		entry.confirmed = 1;
		if (bpf_map_update_elem(fd, &keys[i], &entry, BPF_EXIST))
			err = -errno;
	}
	free(keys);
	return err;
}

/* The events row's reader: the ring, what it told, and events_lost's ring-full count. */
struct bench_events {
	struct ring_buffer *ring;
	int lost_fd;
	unsigned long long told;
};

static int bench_on_event(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	((struct bench_events *)ctx)->told++;
	return 0;
}

/* bench_case.after_run of the events row: empty the ring for the next run. */
static int bench_drain_events(void *ctx)
{
	int n = ring_buffer__consume(((struct bench_events *)ctx)->ring);

	return n < 0 ? n : 0;
}

static __u64 bench_events_lost(const struct bench_events *events)
{
	__u64 lost[EVENTS_LOST_MAX] = {0};

	dp_percpu_sum_u64(events->lost_fd, EVENTS_LOST_MAX, 1, lost);
	return lost[EVENTS_LOST_RING];
}

/*
 * The events row C: new flows on an empty table, EVENTS_REPEAT a run, the ring drained before
 * and after each run. Checks every flow told its event (none with --events off) and none found
 * the ring full; *TOLD is how many were. Returns 0 or -errno.
 */
static int bench_events_row(struct pkt_wrap *wrap, struct tc_pod *skel, const struct bench_opts *o,
			    struct bench_case *c, unsigned long long *told)
{
	struct bench_events events = {.lost_fd = bpf_map__fd(skel->maps.events_lost)};
	struct bench_opts row_opts = *o;
	unsigned long long want;
	__u64 lost;
	int err;

	row_opts.repeat = o->repeat < EVENTS_REPEAT ? o->repeat : EVENTS_REPEAT;
	want = o->is_events_off ? 0 : (unsigned long long)row_opts.runs * row_opts.repeat;
	events.ring =
	    ring_buffer__new(bpf_map__fd(skel->maps.events), bench_on_event, &events, NULL);
	if (!events.ring)
		return -errno;
	err = bench_drain_events(&events);
	events.told = 0;
	lost = bench_events_lost(&events);
	c->after_run = bench_drain_events;
	c->after_ctx = &events;
	err = err ?: bench_run(wrap, &row_opts, c);
	if (!err && (events.told != want || bench_events_lost(&events) != lost)) {
		log_error("%s: %llu events told of %llu new flows, %llu found the ring full",
			  c->name, events.told, want,
			  (unsigned long long)(bench_events_lost(&events) - lost));
		err = -EPROTO;
	}
	*told = events.told;
	ring_buffer__free(events.ring);
	return err;
}

/*
 * Masquerade asks the kernel's FIB where a flow goes: the bench moves into a network namespace
 * of its own (gone when it exits; nothing else sees it) with the veth MASQ_UPLINK as the uplink,
 * MASQ_NODE_IP on it and the default route through it, and forwarding on. Nothing is sent:
 * BPF_PROG_TEST_RUN only returns the verdict. Returns the uplink's ifindex or -errno.
 */
static int bench_masq_netns(void)
{
	unsigned int ifindex;

	if (unshare(CLONE_NEWNET)) {
		int err = -errno;

		log_error("masquerade: unshare(CLONE_NEWNET): %s", strerror(-err));
		return err;
	}
	if (system("ip link set lo up && "
		   "ip link add " MASQ_UPLINK " type veth peer name " MASQ_UPLINK "p && "
		   "ip link set " MASQ_UPLINK "p up && "
		   "ip addr add 192.0.2.1/24 dev " MASQ_UPLINK " && "
		   "ip link set " MASQ_UPLINK " up && "
		   "ip route add default via 192.0.2.254 dev " MASQ_UPLINK " && "
		   "echo 1 > /proc/sys/net/ipv4/ip_forward")) {
		log_error("masquerade: the uplink " MASQ_UPLINK " in the bench's netns failed");
		return -EIO;
	}
	ifindex = if_nametoindex(MASQ_UPLINK);
	return ifindex ? (int)ifindex : -errno;
}

/*
 * The masquerade rows (CASES, two: new flow, established) on a tc_pod of their own, seeded as
 * the agent writes a node with --uplink and --cluster-cidr: the client a pod, node4_addrs the
 * node's address (and it as the SNAT address), masq4_skip the cluster and service CIDRs. The
 * new flows each go to another destination, NEW_REPEAT a run, so no SNAT port range and no
 * table fills. Returns 0 or -errno.
 */
static int bench_masq(struct pkt_wrap *wrap, const struct bench_opts *o, unsigned int new_repeat,
		      struct bench_case *cases)
{
	struct node4_addr self = {.snat = MASQ_NODE_IP, .flags = NODE4_F_ADDRESS};
	struct node4_addr snat = {.snat = MASQ_NODE_IP};
	struct masq4_key cluster = {.prefix_len = 16,
				    .address = cases[0].saddr & htonl(0xffff0000)};
	struct masq4_key service = {.prefix_len = 12, .address = ip4(10, 96, 0, 0)};
	struct masq4_skip_value cluster_kind = {.kind = MASQ4_KIND_CLUSTER};
	struct masq4_skip_value service_kind = {.kind = MASQ4_KIND_SERVICE};
	struct ep4_key client = {.address = cases[0].saddr};
	struct ep4_info ep = {.ifindex = 1};
	struct bench_opts new_opts = *o, prime_opts = *o;
	struct bench_case prime = cases[1];
	__u32 node_ip = MASQ_NODE_IP, any = 0;
	struct tc_pod *skel = NULL;
	int ifindex = bench_masq_netns(), err;

	if (ifindex < 0)
		return ifindex;
	err = bench_load_pod(o, (__u32)ifindex, &skel);
	if (err)
		return err;
	err = map_put(skel->maps.ep4, &client, &ep);
	err = err ?: map_put(skel->maps.node4_addrs, &node_ip, &self);
	err = err ?: map_put(skel->maps.node4_addrs, &any, &snat);
	err = err ?: map_put(skel->maps.masq4_skip, &cluster, &cluster_kind);
	err = err ?: map_put(skel->maps.masq4_skip, &service, &service_kind);
	err = err ?: set_target(wrap, bpf_program__fd(skel->progs.tc_pod_ingress));
	new_opts.repeat = new_repeat;
	err = err ?: bench_run(wrap, &new_opts, &cases[0]);
	/* The established flow's SYN first, once, untimed. */
	prime.tcp_flags = TCP_SYN;
	prime_opts.runs = 1;
	prime_opts.repeat = 1;
	err = err ?: bench_run(wrap, &prime_opts, &prime);
	err = err ?: bench_run(wrap, o, &cases[1]);
	if (!err) {
		/* What was timed is the masquerade: the flow leaves with the node's address. */
		struct ct_entry entry;

		if (flow_entry(skel, &prime, &entry) || !(entry.flags & CT_F_SNAT) ||
		    entry.nat_saddr != MASQ_NODE_IP) {
			log_error("masquerade: the established flow is not masqueraded");
			err = -EPROTO;
		}
	}
	tc_pod__destroy(skel);
	return err;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sluice-pktbench [--services N] [--backends N] [--repeat N] "
		"[--runs N] [--ct-size N] [--policy-cidrs N] [--lb-algorithm maglev|random] "
		"[--tunnel] [--events on|off] "
		"[-o json]\n"
		"       sluice-pktbench --generate-events RATE --seconds N --bpffs DIR\n");
}

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
	    {"services", required_argument, NULL, 's'},
	    {"backends", required_argument, NULL, 'b'},
	    {"repeat", required_argument, NULL, 'r'},
	    {"runs", required_argument, NULL, 'n'},
	    {"ct-size", required_argument, NULL, 'c'},
	    {"policy-cidrs", required_argument, NULL, 'p'},
	    {"tunnel", no_argument, NULL, 't'},
	    {"output", required_argument, NULL, 'o'},
	    {"lb-algorithm", required_argument, NULL, 'l'},
	    {"events", required_argument, NULL, 'e'},
	    {"generate-events", required_argument, NULL, 'g'},
	    {"seconds", required_argument, NULL, 'S'},
	    {"bpffs", required_argument, NULL, 'B'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		char *end = NULL;
		unsigned long value = 0;

		if (opt != 'o' && opt != 'l' && opt != 't' && opt != 'e' && opt != 'B') {
			errno = 0;
			value = strtoul(optarg, &end, 10);
			if (errno || !end || *end || value == 0 || value > 1000000000ul) {
				log_error("-%c: '%s' is not a positive number", opt, optarg);
				return -EINVAL;
			}
		}
		switch (opt) {
		case 's':
			o->services = value;
			break;
		case 'b':
			o->backends = value;
			break;
		case 'r':
			o->repeat = value;
			break;
		case 'n':
			o->runs = value;
			break;
		case 'c':
			o->ct_size = value;
			break;
		case 'p':
			o->policy_cidrs = value;
			break;
		case 't':
			o->is_tunnel = true;
			break;
		case 'l':
			if (maglev_algorithm_parse(optarg, &o->algorithm)) {
				log_error("--lb-algorithm: '%s' is neither maglev nor random",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'g':
			o->event_rate = value;
			break;
		case 'S':
			o->event_seconds = value;
			break;
		case 'B':
			o->bpffs = optarg;
			break;
		case 'e':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				log_error("--events: '%s' is neither on nor off", optarg);
				return -EINVAL;
			}
			o->is_events_off = !strcmp(optarg, "off");
			break;
		case 'o':
			if (strcmp(optarg, "json")) {
				log_error("-o: unknown format '%s' (json)", optarg);
				return -EINVAL;
			}
			o->json = true;
			break;
		default:
			usage();
			return -EINVAL;
		}
	}
	if (o->services > LB_MAX_SERVICES || o->backends > 1000 || o->runs > MAX_RUNS ||
	    (unsigned long)o->services * o->backends > LB_MAX_BACKENDS - 1) {
		log_error("at most %u services, 1000 backends each, %u backends in all, %u runs",
			  LB_MAX_SERVICES, LB_MAX_BACKENDS - 1, MAX_RUNS);
		return -EINVAL;
	}
	if (bench_new_flow_sources(o) > EP_MAX_ENDPOINTS - 1 - o->backends) {
		log_error("runs x repeat at most %llu: new flows come from pods of this node, %u "
			  "of them at most",
			  (unsigned long long)(EP_MAX_ENDPOINTS - 3 - o->backends) * 30000,
			  EP_MAX_ENDPOINTS - 1 - o->backends);
		return -EINVAL;
	}
	if (o->event_rate && (!o->bpffs || !o->event_seconds || o->event_rate > 10000000)) {
		log_error("--generate-events: at most 10,000,000 a second, with --seconds and "
			  "--bpffs (the bench's own agent's)");
		return -EINVAL;
	}
	if (o->policy_cidrs > POLICY_MAX_CIDRS ||
	    (o->policy_cidrs &&
	     (unsigned long long)o->runs * o->repeat > POLICY_MAX_ALLOWED_PACKETS)) {
		log_error("--policy-cidrs: at most %u, and runs x repeat at most %llu",
			  POLICY_MAX_CIDRS, POLICY_MAX_ALLOWED_PACKETS);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {.services = 10,
			       .backends = 10,
			       .repeat = 1000000,
			       .runs = 5,
			       .ct_size = CT_DEFAULT_ENTRIES};
	__u32 client = ip4(10, 245, 0, 1), server = ip4(10, 245, 0, 9), vip = 0;
	/* The wrapper's cost without and with the per-run flow rewrite new-flow runs need. */
	struct bench_case baseline[2] = {
	    {.name = "wrapper", .expect_retval = 0},
	    {.name = "wrapper (new flow)", .expect_retval = 0, .vary_flow = true},
	};
	struct pkt_wrap *wrap = NULL;
	struct tc_pod *skel = NULL;
	int err;

	log_setup_libbpf();
	err = parse_opts(argc, argv, &o);
	if (err)
		return 2;

	if (o.event_rate)
		return pkt_events_generate(&o, o.bpffs, client, ip4(10, 96, 0, 10),
					   ip4(10, 244, 1, 5))
			   ? 1
			   : 0;
	err = bench_load_pod(&o, 0, &skel);
	if (err)
		goto cleanup;
	err = seed_services(skel, &o, &vip);
	if (err) {
		log_error("seed %u services: %s", o.services, strerror(-err));
		goto cleanup;
	}
	/* The client, and the sources its new-flow runs take (bench_new_flow_sources()). */
	for (__u32 host = 1; host <= bench_new_flow_sources(&o); host++) {
		struct ep4_key ep_key = {.address = (client & htonl(0xffff0000)) | htonl(host)};
		struct ep4_info ep = {.ifindex = 1};

		err = map_put(skel->maps.ep4, &ep_key, &ep);
		if (err)
			goto cleanup;
	}

	wrap = pkt_wrap__open_and_load();
	if (!wrap) {
		err = -errno;
		log_error("load pkt_wrap: %s", strerror(-err));
		goto cleanup;
	}

	struct bench_case cases[] = {
	    {.name = "new flow (SYN to VIP)",
	     .metric = "ns_per_packet_new",
	     .vary_flow = true,
	     .expect_retval = TC_REDIRECT,
	     BENCH_TCP(client, vip, 40000, 80, TCP_SYN)},
	    {.name = "established (client -> VIP)",
	     .metric = "ns_per_packet_established",
	     .expect_retval = TC_REDIRECT,
	     BENCH_TCP(client, vip, 40000, 80, TCP_ACK)},
	    /* Source filled in from the backend the established flow was given. */
	    {.name = "reply (backend -> client)",
	     .metric = "ns_per_packet_reply",
	     .expect_retval = TC_REDIRECT,
	     BENCH_TCP(0, client, 8080, 40000, TCP_ACK)},
	    {.name = "not a service (pass)",
	     .metric = "ns_per_packet_pass",
	     .expect_retval = 0,
	     BENCH_TCP(client, server, 40000, 80, TCP_ACK)},
	    /*
	     * With --policy-cidrs, after seed_policy(): the client's new flows, judged by its
	     * egress policy. Denied: every lookup, then the drop, no conntrack insert (so no
	     * flow rewrite is needed); to an address of the middle ipBlock's except (identity
	     * world), then to a pod no rule names. Allowed: into the middle ipBlock on its port,
	     * tracked in conntrack like every flow an isolated pod starts.
	     */
	    {.name = "new flow, policy denied",
	     .metric = "ns_per_packet_policy_denied",
	     .expect_retval = TC_SHOT,
	     BENCH_TCP(client, policy_block(o.policy_cidrs / 2) | htonl(200 << 8 | 1), 40000, 443,
		       TCP_SYN)},
	    {.name = "new flow, policy denied (pod)",
	     .metric = "ns_per_packet_policy_denied_pod",
	     .expect_retval = TC_SHOT,
	     BENCH_TCP(client, server, 40000, 80, TCP_SYN)},
	    {.name = "new flow, policy allowed",
	     .metric = "ns_per_packet_policy_allowed",
	     .vary_flow = true,
	     .vary_daddr = BENCH_VARY_DADDR,
	     .expect_retval = 0,
	     BENCH_TCP(client, policy_block(o.policy_cidrs / 2), 40000, 443, TCP_SYN)},
	};
	size_t n_cases = o.policy_cidrs ? sizeof(cases) / sizeof(cases[0]) : 4;
	/*
	 * Last, since they leave the table full: a new flow's cost when every insert needs room
	 * (early drop of the oldest flow nobody answered), and when there is none to make (every
	 * flow confirmed: the flow is dropped).
	 */
	struct bench_case full[] = {
	    {.name = "new flow, full table",
	     .metric = "ns_per_packet_new_full",
	     .vary_flow = true,
	     .expect_retval = TC_REDIRECT,
	     BENCH_TCP(client, vip, 40000, 80, TCP_SYN)},
	    {.name = "new flow, full of confirmed",
	     .metric = "ns_per_packet_new_full_confirmed",
	     .vary_flow = true,
	     .expect_retval = TC_SHOT,
	     BENCH_TCP(client, vip, 40000, 80, TCP_SYN)},
	};
	size_t n_full = sizeof(full) / sizeof(full[0]);
	/* First, on the empty table: new flows that never meet a full one. */
	struct bench_case filling = {.name = "new flow, table filling",
				     .metric = "ns_per_packet_new_filling",
				     .vary_flow = true,
				     .expect_retval = TC_REDIRECT,
				     BENCH_TCP(client, vip, 40000, 80, TCP_SYN)};
	struct bench_opts filling_opts = o;
	char note[64] = ""; /* the runs of the filling and masquerade new-flow cases */
	struct bench_case events_row = {.name = "new flow, events told",
					.metric = "ns_per_packet_new_events",
					.vary_flow = true,
					.expect_retval = TC_REDIRECT,
					BENCH_TCP(client, vip, 40000, 80, TCP_SYN)};
	unsigned long long events_told = 0;
	char events_note[96] = "";
	struct bench_case masq[] = {
	    {.name = "masquerade, new flow",
	     .metric = "ns_per_packet_masq_new",
	     .vary_flow = true,
	     .vary_daddr = BENCH_VARY_DADDR_EACH,
	     .expect_retval = TC_REDIRECT,
	     BENCH_TCP(client, MASQ_OUTSIDE, 40000, 443, TCP_SYN)},
	    {.name = "masquerade, established",
	     .metric = "ns_per_packet_masq_established",
	     .expect_retval = TC_REDIRECT,
	     BENCH_TCP(client, MASQ_OUTSIDE, 40000, 443, TCP_ACK)},
	};

	err = set_target(wrap, bpf_program__fd(wrap->progs.bench_nop));
	err = err ?: bench_run(wrap, &o, &baseline[0]);
	err = err ?: bench_run(wrap, &o, &baseline[1]);
	if (!err && o.is_tunnel) {
		double base[2] = {baseline[0].median, baseline[1].median};

		err = pkt_tunnel_run(wrap, skel, &o, client, server, vip, base);
		goto cleanup;
	}
	err = err ?: set_target(wrap, bpf_program__fd(skel->progs.tc_pod_ingress));
	filling_opts.repeat = bench_filling_repeat(&o);
	err = err ?: bench_run(wrap, &filling_opts, &filling);
	err = err ?: bench_flush_ct(skel);
	err = err ?: bench_events_row(wrap, skel, &o, &events_row, &events_told);
	err = err ?: bench_flush_ct(skel);
	if (err)
		goto cleanup;
	for (size_t i = 0; i < n_cases; i++) {
		if (i == 2) {
			struct ct_entry entry;

			err = flow_entry(skel, &cases[1], &entry);
			if (err) {
				log_error("established flow has no conntrack entry");
				goto cleanup;
			}
			cases[2].saddr = entry.nat_daddr;
		}
		if (i == 4) {
			err = seed_policy(skel, o.policy_cidrs, client, server);
			if (err) {
				log_error("seed %u ipBlock rules: %s", o.policy_cidrs,
					  strerror(-err));
				goto cleanup;
			}
		}
		err = bench_run(wrap, &o, &cases[i]);
		if (err) {
			log_error("%s: %s", cases[i].name, strerror(-err));
			goto cleanup;
		}
		if (cases[i].vary_daddr && !flow_is_policy_allowed(skel, wrap, &cases[i])) {
			log_error("%s: the first flow has no conntrack entry allowed by policy",
				  cases[i].name);
			err = -EPROTO;
			goto cleanup;
		}
	}

	/* Past every flow the cases above made (the policy cases restart the count). */
	wrap->bss->sport_next = 2 * o.runs * o.repeat;
	err = bench_fill_table(wrap, &o, &full[0]);
	err = err ?: bench_run(wrap, &o, &full[0]);
	err = err ?: bench_confirm_all(skel);
	err = err ?: bench_run(wrap, &o, &full[1]);
	if (err) {
		log_error("full-table cases: %s", strerror(-err));
		goto cleanup;
	}
	/* Last: it moves the bench into a network namespace of its own. */
	err = bench_masq(wrap, &o, filling_opts.repeat, masq);
	if (err) {
		log_error("masquerade cases: %s", strerror(-err));
		goto cleanup;
	}

	if (o.json) {
		printf("{\"services\": %u, \"backends\": %u, \"policy_cidrs\": %u, "
		       "\"lb_algorithm\": \"%s\", \"repeat\": %u, \"runs\": %u, "
		       "\"events\": \"%s\", \"events_told\": %llu, "
		       "\"wrapper_ns\": %.1f, \"results\": [",
		       o.services, o.backends, o.policy_cidrs, maglev_algorithm_name(o.algorithm),
		       o.repeat, o.runs, o.is_events_off ? "off" : "on", events_told,
		       baseline[0].median);
	} else {
		printf("sluice pod program, BPF_PROG_TEST_RUN: %u services x %u backends (%s), "
		       "median of %u runs x %u packets\n",
		       o.services, o.backends, maglev_algorithm_name(o.algorithm), o.runs,
		       o.repeat);
		if (o.policy_cidrs)
			printf("policy cases: the client's egress isolated by %u ipBlock rules\n",
			       o.policy_cidrs);
		printf("wrapper (restore frame + tail call), subtracted below: %.0f ns "
		       "(%.0f ns with the new-flow rewrite)\n",
		       baseline[0].median, baseline[1].median);
		if (o.is_events_off)
			printf("--events off: tc_pod tells no flow event\n");
		printf("%-30s %10s %10s %10s\n", "path", "ns/packet", "min", "max");
		snprintf(note, sizeof(note), "   (%u packets a run)", filling_opts.repeat);
	}
	print_row(&o, &filling, baseline[1].median, true, note);
	if (!o.json)
		snprintf(events_note, sizeof(events_note),
			 "   (%u packets a run, %llu events told)",
			 o.repeat < EVENTS_REPEAT ? o.repeat : EVENTS_REPEAT, events_told);
	print_row(&o, &events_row, baseline[1].median, false, events_note);
	for (size_t i = 0; i < n_cases; i++)
		print_row(&o, &cases[i], baseline[cases[i].vary_flow].median, false, "");
	for (size_t i = 0; i < n_full; i++)
		print_row(&o, &full[i], baseline[1].median, false, "");
	for (size_t i = 0; i < sizeof(masq) / sizeof(masq[0]); i++)
		print_row(&o, &masq[i], baseline[masq[i].vary_flow].median, false,
			  i == 0 ? note : "");
	if (o.json)
		printf("]}\n");
cleanup:
	pkt_wrap__destroy(wrap);
	tc_pod__destroy(skel);
	return err ? 1 : 0;
}
