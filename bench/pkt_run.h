/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-pktbench's runner, shared by its rows (bench/pktbench.c: the pod program;
 * bench/pkt_tunnel.c: the tunnel programs): a case's frame, its runs through the measurement
 * wrapper (bench/pkt_wrap.bpf.c) and BPF_PROG_TEST_RUN, and its result row.
 */
#ifndef SLUICE_BENCH_PKT_RUN_H
#define SLUICE_BENCH_PKT_RUN_H

#include <stdbool.h>
#include <linux/types.h>

#include <bpf/libbpf.h>

#include "loader/desired/maglev.h"

#define FRAME_LEN   64 /* BENCH_FRAME_LEN in bench/pkt_wrap.bpf.c */
#define MAX_RUNS    101
#define TC_OK	    0
#define TC_REDIRECT 7
#define TC_SHOT	    2
#define TCP_SYN	    0x02
#define TCP_ACK	    0x10
/* A case's packet: TCP from SADDR:SPORT to DADDR:DPORT with FLAGS. */
#define BENCH_TCP(saddr_, daddr_, sport_, dport_, flags_)                                          \
	.saddr = (saddr_), .daddr = (daddr_), .sport = (sport_), .dport = (dport_),                \
	.tcp_flags = (flags_)

/* pkt_wrap's vary_daddr: a new destination every 60000 flows, or every flow. */
#define BENCH_VARY_DADDR      1
#define BENCH_VARY_DADDR_EACH 2

struct bench_opts {
	unsigned int services;
	unsigned int backends;
	unsigned int repeat;
	unsigned int runs;
	unsigned int ct_size;
	unsigned int policy_cidrs; /* 0: no policy cases */
	bool json;
	bool is_tunnel;	    /* --tunnel: the tunnel rows only, every backend on another node */
	bool is_events_off; /* --events off: tc_pod tells no flow event (its events_off) */
	/* --generate-events RATE --seconds N --bpffs DIR: bench/pkt_events.c, nothing else */
	unsigned int event_rate;
	unsigned int event_seconds;
	const char *bpffs;
	enum lb_algorithm algorithm; /* --lb-algorithm: maglev (tables seeded) or random */
};

struct bench_case {
	const char *name;
	const char *metric; /* results.json metric name, see bench issue */
	bool vary_flow;
	/* vary_flow on the destination's low half instead of the source's: BENCH_VARY_* */
	__u32 vary_daddr;
	int expect_retval; /* negative: any */
	__u32 saddr, daddr;
	__u16 sport, dport;
	__u8 tcp_flags;
	/* Called after each run, untimed (the events row drains the ring); 0 or -errno. */
	int (*after_run)(void *ctx);
	void *after_ctx;
	double median, min, max;
};

struct pkt_wrap;
struct tc_pod;

/* a.b.c.d in network order. */
__u32 ip4(unsigned a, unsigned b, unsigned c, unsigned d);

/* One element of MAP (key and value of the map's sizes). 0 or -errno. */
int map_put(struct bpf_map *map, const void *key, const void *value);

/* The wrapper's tail-call target: the program under test (or its no-op). 0 or -errno. */
int set_target(struct pkt_wrap *wrap, int prog_fd);

/*
 * Runs case C through the wrapper `runs` times of `repeat` packets; fills its median/min/max
 * of the kernel's ns per packet. -EPROTO when the program's verdict is not the expected one.
 */
int bench_run(struct pkt_wrap *wrap, const struct bench_opts *o, struct bench_case *c);

/*
 * One result row: case c less the wrapper's cost base, as a JSON object (after the first, led
 * by a comma) or a line of the table, NOTE after it.
 */
void print_row(const struct bench_opts *o, const struct bench_case *c, double base, bool is_first,
	       const char *note);

/*
 * tc_pod with private maps (the bench must never touch a running agent's pinned state), its
 * clock ticking; egress masquerade out of MASQ_IFINDEX, off when 0; no flow events with
 * --events off. Returns 0 or -errno.
 */
int bench_load_pod(const struct bench_opts *o, __u32 masq_ifindex, struct tc_pod **out);

struct ct_entry;

/* Conntrack's forward entry of case c's flow (not a vary_flow one). 0 or -errno. */
int flow_entry(struct tc_pod *skel, const struct bench_case *c, struct ct_entry *entry);

/*
 * The tunnel rows (bench/pkt_tunnel.c), after the wrapper's baselines BASE (plain, new flow) on
 * POD, whose services all have their backends on another node, VIP the last one's: a pod's new
 * flow to that service, tc_tunnel_egress on a packet to another node's pod, tc_tunnel_ingress on
 * a new flow into a pod here and on a reply of a service flow translated here. Prints them (with
 * their header, or as the JSON document). Returns 0 or -errno.
 */
int pkt_tunnel_run(struct pkt_wrap *wrap, struct tc_pod *pod, const struct bench_opts *o,
		   __u32 client, __u32 server, __u32 vip, const double base[2]);

/*
 * New flows from CLIENT's pods to VIP:80 (its backend BACKEND, on this node) through the tc_pod
 * pinned under O's bpffs, O's event_rate a second for event_seconds (bench/pkt_events.c); prints
 * what was sent as one JSON line. Returns 0 or -errno.
 */
int pkt_events_generate(const struct bench_opts *o, const char *bpffs, __u32 client, __u32 vip,
			__u32 backend);

#endif
