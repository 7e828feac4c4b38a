// SPDX-License-Identifier: Apache-2.0
/*
 * sluice-pktbench: per-packet cost of the pod program through BPF_PROG_TEST_RUN, for a new
 * flow, an established flow, a reply and non-service traffic, with N services present.
 * Each figure is the median of --runs runs of --repeat packets; the wrapper's own cost
 * (bench/pkt_wrap.bpf.c tail-calling a no-op) is measured in the same way and subtracted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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

#include "loader/datapath.h"
#include "loader/log.h"
#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/lb.h"
#include "skel/pkt_wrap.skel.h"
#include "skel/tc_pod.skel.h"

#define FRAME_LEN   64 /* BENCH_FRAME_LEN in bench/pkt_wrap.bpf.c */
#define MAX_RUNS    101
#define TC_REDIRECT 7

struct bench_opts {
	unsigned int services;
	unsigned int backends;
	unsigned int repeat;
	unsigned int runs;
	unsigned int ct_size;
	bool json;
};

struct bench_case {
	const char *name;
	const char *metric; /* results.json metric name, see bench issue */
	bool vary_flow;
	int expect_retval;
	__u32 saddr, daddr;
	__u16 sport, dport;
	__u8 tcp_flags;
	double median, min, max;
};

static __u16 csum_fold_sum(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __u32 csum_add_bytes(__u32 sum, const void *data, size_t len)
{
	const __u8 *bytes = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (__u32)bytes[i] << 8 | bytes[i + 1];
	if (len & 1)
		sum += (__u32)bytes[len - 1] << 8;
	return sum;
}

/* An Ethernet + IPv4 + TCP frame of FRAME_LEN bytes with valid checksums. */
static void frame_build_tcp(__u8 *frame, const struct bench_case *c)
{
	struct ethhdr *eth = (struct ethhdr *)frame;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct tcphdr *tcp = (struct tcphdr *)(ip + 1);
	__u16 l4_len = FRAME_LEN - sizeof(*eth) - sizeof(*ip);
	__u32 sum;

	memset(frame, 0, FRAME_LEN);
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(FRAME_LEN - sizeof(*eth));
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = c->saddr;
	ip->daddr = c->daddr;
	ip->check = htons(csum_fold_sum(csum_add_bytes(0, ip, sizeof(*ip))));
	tcp->source = htons(c->sport);
	tcp->dest = htons(c->dport);
	tcp->doff = 5;
	((__u8 *)tcp)[13] = c->tcp_flags;
	tcp->window = htons(65535);
	sum = csum_add_bytes(0, &ip->saddr, 8);
	sum += IPPROTO_TCP + l4_len;
	tcp->check = htons(csum_fold_sum(csum_add_bytes(sum, tcp, l4_len)));
}

static __u32 ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

static int map_put(struct bpf_map *map, const void *key, const void *value)
{
	return bpf_map__update_elem(map, key, bpf_map__key_size(map), value,
				    bpf_map__value_size(map), BPF_ANY);
}

/* Service i: VIP 10.96.x.y:80/TCP with `backends` backends 10.(128+...).x.y:8080. */
static int seed_services(struct tc_pod *skel, const struct bench_opts *o, __u32 *target_vip)
{
	__u32 backend_id = 1;
	int err;

	for (unsigned int i = 0; i < o->services; i++) {
		__u32 svc_id = i + 1, vip = ip4(10, 96 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
		struct lb4_key key = {.address = vip, .port = htons(80), .proto = IPPROTO_TCP};
		struct lb4_service svc = {.svc_id = svc_id, .count = o->backends};
		struct lb4_revnat revnat = {
		    .address = vip, .port = htons(80), .proto = IPPROTO_TCP};
		struct lb4_vip vip_value = {.frontends = 1};

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
				return err;
			if (i + 1 == o->services) {
				/* The target service's backends are pods on this node. */
				struct ep4_key ep_key = {.address = backend.address};
				struct ep4_info ep = {.ifindex = 1};

				err = map_put(skel->maps.ep4, &ep_key, &ep);
				if (err)
					return err;
			}
		}
		snprintf(revnat.name, sizeof(revnat.name), "bench/svc-%u:http", i);
		err = map_put(skel->maps.lb4_revnat, &svc_id, &revnat);
		err = err ?: map_put(skel->maps.lb4_vips, &vip, &vip_value);
		err = err ?: map_put(skel->maps.lb4_svc, &key, &svc);
		if (err)
			return err;
		*target_vip = vip;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Runs the wrapper `runs` times; fills median/min/max of the kernel's ns per repeat. */
static int bench_run(struct pkt_wrap *wrap, const struct bench_opts *o, struct bench_case *c)
{
	double samples[MAX_RUNS];
	__u8 out[256];
	int prog_fd = bpf_program__fd(wrap->progs.bench_wrap);
	int err;

	frame_build_tcp(wrap->bss->frame, c);
	wrap->bss->vary_sport = c->vary_flow;
	for (unsigned int r = 0; r < o->runs; r++) {
		LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = wrap->bss->frame,
			    .data_size_in = FRAME_LEN, .data_out = out,
			    .data_size_out = sizeof(out), .repeat = o->repeat);

		err = bpf_prog_test_run_opts(prog_fd, &topts);
		if (err)
			return err;
		if (c->expect_retval >= 0 && (int)topts.retval != c->expect_retval) {
			log_error("%s: program returned %u, expected %d", c->name, topts.retval,
				  c->expect_retval);
			return -EPROTO;
		}
		samples[r] = topts.duration;
	}
	qsort(samples, o->runs, sizeof(samples[0]), cmp_double);
	c->median = samples[o->runs / 2];
	c->min = samples[0];
	c->max = samples[o->runs - 1];
	return 0;
}

/* The backend conntrack recorded for a flow of case c. */
static int backend_of_flow(struct tc_pod *skel, const struct bench_case *c, __u32 *backend)
{
	struct ct4_key key = {
	    .saddr = c->saddr,
	    .daddr = c->daddr,
	    .sport = htons(c->sport),
	    .dport = htons(c->dport),
	    .proto = IPPROTO_TCP,
	};
	struct ct_entry entry;
	int err;

	err = bpf_map__lookup_elem(skel->maps.ct4, &key, sizeof(key), &entry, sizeof(entry), 0);
	if (err)
		return err;
	*backend = entry.nat_daddr;
	return 0;
}

static int set_target(struct pkt_wrap *wrap, int prog_fd)
{
	__u32 zero = 0;

	return bpf_map__update_elem(wrap->maps.bench_target, &zero, sizeof(zero), &prog_fd,
				    sizeof(prog_fd), BPF_ANY);
}

static void usage(void)
{
	fprintf(stderr, "usage: sluice-pktbench [--services N] [--backends N] [--repeat N] "
			"[--runs N] [--ct-size N] [-o json]\n");
}

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
	    {"services", required_argument, NULL, 's'},
	    {"backends", required_argument, NULL, 'b'},
	    {"repeat", required_argument, NULL, 'r'},
	    {"runs", required_argument, NULL, 'n'},
	    {"ct-size", required_argument, NULL, 'c'},
	    {"output", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		char *end = NULL;
		unsigned long value = 0;

		if (opt != 'o') {
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
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {.services = 10,
			       .backends = 10,
			       .repeat = 1000000,
			       .runs = 5,
			       .ct_size = CT_DEFAULT_ENTRIES};
	__u32 client = ip4(10, 245, 0, 1), vip = 0;
	/* The wrapper's cost without and with the per-run flow rewrite new-flow runs need. */
	struct bench_case baseline[2] = {
	    {.name = "wrapper", .expect_retval = 0},
	    {.name = "wrapper (new flow)", .expect_retval = 0, .vary_flow = true},
	};
	struct pkt_wrap *wrap = NULL;
	struct tc_pod *skel = NULL;
	struct bpf_map *map;
	int err;

	log_setup_libbpf();
	err = parse_opts(argc, argv, &o);
	if (err)
		return 2;

	skel = tc_pod__open();
	if (!skel) {
		err = -errno;
		log_error("open tc_pod: %s", strerror(-err));
		goto cleanup;
	}
	/* Private maps: the bench must never touch a running agent's pinned state. */
	bpf_object__for_each_map(map, skel->obj) bpf_map__set_pin_path(map, NULL);
	skel->rodata->hairpin_ip = inet_addr(SLUICE_HAIRPIN_IP_DEFAULT);
	err = bpf_map__set_max_entries(skel->maps.ct4, o.ct_size);
	if (err)
		goto cleanup;
	err = tc_pod__load(skel);
	if (err) {
		log_error("load tc_pod: %s", strerror(-err));
		goto cleanup;
	}
	err = datapath_clock_start(bpf_program__fd(skel->progs.tc_clock_start));
	if (err) {
		log_error("start datapath clock: %s", strerror(-err));
		goto cleanup;
	}
	err = seed_services(skel, &o, &vip);
	if (err) {
		log_error("seed %u services: %s", o.services, strerror(-err));
		goto cleanup;
	}
	{
		struct ep4_key ep_key = {.address = client};
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
	     .saddr = client,
	     .daddr = vip,
	     .sport = 40000,
	     .dport = 80,
	     .tcp_flags = 0x02},
	    {.name = "established (client -> VIP)",
	     .metric = "ns_per_packet_established",
	     .expect_retval = TC_REDIRECT,
	     .saddr = client,
	     .daddr = vip,
	     .sport = 40000,
	     .dport = 80,
	     .tcp_flags = 0x10},
	    /* Source filled in from the backend the established flow was given. */
	    {.name = "reply (backend -> client)",
	     .metric = "ns_per_packet_reply",
	     .expect_retval = TC_REDIRECT,
	     .daddr = client,
	     .sport = 8080,
	     .dport = 40000,
	     .tcp_flags = 0x10},
	    {.name = "not a service (pass)",
	     .metric = "ns_per_packet_pass",
	     .expect_retval = 0,
	     .saddr = client,
	     .daddr = ip4(10, 245, 0, 9),
	     .sport = 40000,
	     .dport = 80,
	     .tcp_flags = 0x10},
	};
	size_t n_cases = sizeof(cases) / sizeof(cases[0]);

	err = set_target(wrap, bpf_program__fd(wrap->progs.bench_nop));
	err = err ?: bench_run(wrap, &o, &baseline[0]);
	err = err ?: bench_run(wrap, &o, &baseline[1]);
	err = err ?: set_target(wrap, bpf_program__fd(skel->progs.tc_pod_ingress));
	if (err)
		goto cleanup;
	for (size_t i = 0; i < n_cases; i++) {
		if (i == 2) {
			err = backend_of_flow(skel, &cases[1], &cases[2].saddr);
			if (err) {
				log_error("established flow has no conntrack entry");
				goto cleanup;
			}
		}
		err = bench_run(wrap, &o, &cases[i]);
		if (err) {
			log_error("%s: %s", cases[i].name, strerror(-err));
			goto cleanup;
		}
	}

	if (o.json) {
		printf("{\"services\": %u, \"backends\": %u, \"repeat\": %u, \"runs\": %u, "
		       "\"wrapper_ns\": %.1f, \"results\": [",
		       o.services, o.backends, o.repeat, o.runs, baseline[0].median);
		for (size_t i = 0; i < n_cases; i++) {
			double base = baseline[cases[i].vary_flow].median;

			printf("%s{\"metric\": \"%s\", \"median\": %.1f, \"min\": %.1f, "
			       "\"max\": %.1f, \"repeats\": %u}",
			       i ? ", " : "", cases[i].metric, cases[i].median - base,
			       cases[i].min - base, cases[i].max - base, o.runs);
		}
		printf("]}\n");
	} else {
		printf("sluice pod program, BPF_PROG_TEST_RUN: %u services x %u backends, "
		       "median of %u runs x %u packets\n",
		       o.services, o.backends, o.runs, o.repeat);
		printf("wrapper (restore frame + tail call), subtracted below: %.0f ns "
		       "(%.0f ns with the new-flow rewrite)\n",
		       baseline[0].median, baseline[1].median);
		printf("%-30s %10s %10s %10s\n", "path", "ns/packet", "min", "max");
		for (size_t i = 0; i < n_cases; i++) {
			double base = baseline[cases[i].vary_flow].median;

			printf("%-30s %10.0f %10.0f %10.0f\n", cases[i].name,
			       cases[i].median - base, cases[i].min - base, cases[i].max - base);
		}
	}
cleanup:
	pkt_wrap__destroy(wrap);
	tc_pod__destroy(skel);
	return err ? 1 : 0;
}
