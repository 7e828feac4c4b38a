// SPDX-License-Identifier: Apache-2.0
/* sluice-pktbench's runner (bench/pkt_run.h): frames, runs through the wrapper, result rows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench/pkt_run.h"
#include "lib/log.h"
#include "loader/sync/datapath.h"
#include "maps/ct.h"
#include "maps/lb.h"
#include "skel/pkt_wrap.skel.h"
#include "skel/tc_pod.skel.h"

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

__u32 ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

int map_put(struct bpf_map *map, const void *key, const void *value)
{
	return bpf_map__update_elem(map, key, bpf_map__key_size(map), value,
				    bpf_map__value_size(map), BPF_ANY);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Runs the wrapper `runs` times; fills median/min/max of the kernel's ns per repeat. */
int bench_run(struct pkt_wrap *wrap, const struct bench_opts *o, struct bench_case *c)
{
	double samples[MAX_RUNS];
	__u8 out[256];
	int prog_fd = bpf_program__fd(wrap->progs.bench_wrap);
	int err;

	frame_build_tcp(wrap->bss->frame, c);
	wrap->bss->vary_sport = c->vary_flow;
	wrap->bss->vary_daddr = c->vary_daddr;
	if (c->vary_daddr)
		wrap->bss->sport_next = 0; /* see POLICY_MAX_ALLOWED_PACKETS */
	for (unsigned int r = 0; r < o->runs; r++) {
		/* From a pod on loopback: tc_pod checks the source against the ingress device. */
		struct __sk_buff ctx = {.ifindex = 1, .ingress_ifindex = 1};
		LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = wrap->bss->frame,
			    .data_size_in = FRAME_LEN, .data_out = out,
			    .data_size_out = sizeof(out), .repeat = o->repeat, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx));

		err = bpf_prog_test_run_opts(prog_fd, &topts);
		if (err)
			return err;
		if (c->expect_retval >= 0 && (int)topts.retval != c->expect_retval) {
			log_error("%s: program returned %u, expected %d", c->name, topts.retval,
				  c->expect_retval);
			return -EPROTO;
		}
		samples[r] = topts.duration;
		if (c->after_run) {
			err = c->after_run(c->after_ctx);
			if (err)
				return err;
		}
	}
	qsort(samples, o->runs, sizeof(samples[0]), cmp_double);
	c->median = samples[o->runs / 2];
	c->min = samples[0];
	c->max = samples[o->runs - 1];
	return 0;
}

void print_row(const struct bench_opts *o, const struct bench_case *c, double base, bool is_first,
	       const char *note)
{
	if (o->json)
		printf("%s{\"metric\": \"%s\", \"median\": %.1f, \"min\": %.1f, \"max\": %.1f, "
		       "\"repeats\": %u}",
		       is_first ? "" : ", ", c->metric, c->median - base, c->min - base,
		       c->max - base, o->runs);
	else
		printf("%-30s %10.0f %10.0f %10.0f%s\n", c->name, c->median - base, c->min - base,
		       c->max - base, note);
}

int bench_load_pod(const struct bench_opts *o, __u32 masq_ifindex, struct tc_pod **out)
{
	struct tc_pod *skel = tc_pod__open();
	struct bpf_map *map;
	int err;

	*out = NULL;
	if (!skel) {
		err = -errno;
		log_error("open tc_pod: %s", strerror(-err));
		return err;
	}
	bpf_object__for_each_map(map, skel->obj) bpf_map__set_pin_path(map, NULL);
	skel->rodata->hairpin_ip = inet_addr(SLUICE_HAIRPIN_IP_DEFAULT);
	skel->rodata->masq_ifindex = masq_ifindex;
	skel->rodata->events_off = o->is_events_off;
	err = bpf_map__set_max_entries(skel->maps.ct4, o->ct_size);
	if (!err && (err = tc_pod__load(skel)))
		log_error("load tc_pod: %s", strerror(-err));
	if (!err && (err = datapath_clock_start(bpf_program__fd(skel->progs.tc_clock_start))))
		log_error("start datapath clock: %s", strerror(-err));
	if (err) {
		tc_pod__destroy(skel);
		return err;
	}
	*out = skel;
	return 0;
}

int set_target(struct pkt_wrap *wrap, int prog_fd)
{
	__u32 zero = 0;

	return bpf_map__update_elem(wrap->maps.bench_target, &zero, sizeof(zero), &prog_fd,
				    sizeof(prog_fd), BPF_ANY);
}

int flow_entry(struct tc_pod *skel, const struct bench_case *c, struct ct_entry *entry)
{
	struct ct4_key key = {
	    .saddr = c->saddr,
	    .daddr = c->daddr,
	    .sport = htons(c->sport),
	    .dport = htons(c->dport),
	    .proto = IPPROTO_TCP,
	};

	return bpf_map__lookup_elem(skel->maps.ct4, &key, sizeof(key), entry, sizeof(*entry), 0);
}
