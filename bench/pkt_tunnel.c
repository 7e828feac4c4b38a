// SPDX-License-Identifier: Apache-2.0
/*
 * sluice-pktbench --tunnel: per-packet cost of what sluice adds to a flow between nodes, through
 * BPF_PROG_TEST_RUN: tc_pod's new flow to a Service whose backends are on another node (passed
 * to the node's routing), tc_tunnel_egress on a packet to another node's pod (the tunnel key:
 * remote node and identity), and tc_tunnel_ingress on what the VXLAN device hands up: a new flow
 * into a pod of this node and a reply of a service flow translated here. The VXLAN encapsulation
 * itself is the kernel's, the same for bare VXLAN, and not timed here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench/pkt_run.h"
#include "lib/log.h"
#include "maps/ct.h"
#include "maps/tunnel.h"
#include "skel/pkt_wrap.skel.h"
#include "skel/tc_pod.skel.h"
#include "skel/tc_tunnel.skel.h"

/* Node B: its address, and its pod CIDR, which holds every backend seed_services() makes. */
#define TUNNEL_NODE_B	   ip4(198, 51, 100, 2)
#define TUNNEL_NODE_B_PODS ip4(10, 128, 0, 0)
#define TUNNEL_NODE_B_LEN  10
#define TUNNEL_REMOTE_POD  ip4(10, 128, 200, 1)

/* tc_tunnel on POD's maps (by name; not the object's own data sections). Returns 0 or -errno. */
static int tunnel_load(struct tc_pod *pod, struct tc_tunnel **out)
{
	struct tc_tunnel *tun = tc_tunnel__open();
	struct bpf_map *map, *same;
	int err = 0;

	*out = NULL;
	if (!tun) {
		err = -errno;
		log_error("open tc_tunnel: %s", strerror(-err));
		return err;
	}
	bpf_object__for_each_map(map, tun->obj)
	{
		err = bpf_map__set_pin_path(map, NULL);
		same = bpf_object__find_map_by_name(pod->obj, bpf_map__name(map));
		if (!err && same && !strchr(bpf_map__name(map), '.'))
			err = bpf_map__reuse_fd(map, bpf_map__fd(same));
		if (err)
			break;
	}
	if (!err && (err = tc_tunnel__load(tun)))
		log_error("load tc_tunnel: %s", strerror(-err));
	if (err) {
		tc_tunnel__destroy(tun);
		return err;
	}
	*out = tun;
	return 0;
}

/* tunnel4 as the agent writes it for node B: its pod CIDR and its address. */
static int tunnel_seed(struct tc_tunnel *tun)
{
	struct tunnel4_key pods = {.prefix_len = TUNNEL_NODE_B_LEN, .address = TUNNEL_NODE_B_PODS};
	struct tunnel4_key node = {.prefix_len = 32, .address = TUNNEL_NODE_B};
	struct tunnel4_value pods_value = {.node_address = TUNNEL_NODE_B,
					   .flags = TUNNEL4_F_POD_CIDR};
	struct tunnel4_value node_value = {.node_address = TUNNEL_NODE_B, .flags = TUNNEL4_F_NODE};

	return map_put(tun->maps.tunnel4, &pods, &pods_value)
		   ?: map_put(tun->maps.tunnel4, &node, &node_value);
}

/* Case C on PROG, with the tunnel key of a packet from node B when IS_DECAP. */
static int tunnel_case(struct pkt_wrap *wrap, const struct bench_opts *o, struct bpf_program *prog,
		       bool is_decap, struct bench_case *c)
{
	int err;

	wrap->bss->tunnel_remote = is_decap ? ntohl(TUNNEL_NODE_B) : 0;
	wrap->bss->tunnel_key_err = 0;
	err = set_target(wrap, bpf_program__fd(prog)) ?: bench_run(wrap, o, c);
	if (wrap->bss->tunnel_key_err) {
		log_error(
		    "%s: bpf_skb_set_tunnel_key: %s (a key with local_ipv4 needs Linux >= 6.0)",
		    c->name, strerror((int)-wrap->bss->tunnel_key_err));
		return (int)wrap->bss->tunnel_key_err;
	}
	if (err)
		log_error("%s: %s", c->name, strerror(-err));
	return err;
}

int pkt_tunnel_run(struct pkt_wrap *wrap, struct tc_pod *pod, const struct bench_opts *o,
		   __u32 client, __u32 server, __u32 vip, const double base[2])
{
	struct bench_case keyed = {.name = "wrapper (tunnel key)", .expect_retval = TC_OK};
	struct bench_case cases[] = {
	    {.name = "new flow, remote backend",
	     .metric = "ns_per_packet_tunnel_new_remote",
	     .vary_flow = true,
	     .expect_retval = TC_OK,
	     BENCH_TCP(client, vip, 40000, 80, TCP_SYN)},
	    {.name = "encap (to a remote pod)",
	     .metric = "ns_per_packet_tunnel_encap",
	     .expect_retval = TC_OK,
	     BENCH_TCP(client, TUNNEL_REMOTE_POD, 40000, 8080, TCP_ACK)},
	    {.name = "decap, new flow into a pod",
	     .metric = "ns_per_packet_tunnel_decap_new",
	     .expect_retval = TC_REDIRECT,
	     BENCH_TCP(TUNNEL_REMOTE_POD, server, 40000, 8080, TCP_SYN)},
	    /* Source filled in from the backend the primed flow was given. */
	    {.name = "decap, service reply",
	     .metric = "ns_per_packet_tunnel_decap_reply",
	     .expect_retval = TC_REDIRECT,
	     BENCH_TCP(0, client, 8080, 40001, TCP_ACK)},
	};
	struct bench_case prime = {.name = "service flow (untimed)",
				   .expect_retval = TC_OK,
				   BENCH_TCP(client, vip, 40001, 80, TCP_SYN)};
	struct bench_opts once = *o;
	struct tc_tunnel *tun = NULL;
	struct ct_entry entry;
	size_t n = sizeof(cases) / sizeof(cases[0]);
	int err;

	once.runs = 1;
	once.repeat = 1;
	err = tunnel_load(pod, &tun);
	err = err ?: tunnel_seed(tun);
	err = err ?: set_target(wrap, bpf_program__fd(wrap->progs.bench_nop));
	wrap->bss->tunnel_remote = ntohl(TUNNEL_NODE_B);
	err = err ?: bench_run(wrap, o, &keyed);
	err = err ?: tunnel_case(wrap, o, pod->progs.tc_pod_ingress, false, &cases[0]);
	err = err ?: tunnel_case(wrap, o, tun->progs.tc_tunnel_egress, false, &cases[1]);
	err = err ?: tunnel_case(wrap, o, tun->progs.tc_tunnel_ingress, true, &cases[2]);
	/* A service flow to node B, then its reply out of the tunnel. */
	err = err ?: tunnel_case(wrap, &once, pod->progs.tc_pod_ingress, false, &prime);
	if (!err &&
	    (flow_entry(pod, &prime, &entry) ||
	     (entry.nat_daddr & htonl(~0u << (32 - TUNNEL_NODE_B_LEN))) != TUNNEL_NODE_B_PODS)) {
		log_error("the service flow has no conntrack entry translating it to node B's pod");
		err = -EPROTO;
	}
	if (!err)
		cases[3].saddr = entry.nat_daddr;
	err = err ?: tunnel_case(wrap, o, tun->progs.tc_tunnel_ingress, true, &cases[3]);
	wrap->bss->tunnel_remote = 0;
	tc_tunnel__destroy(tun);
	if (err)
		return err;

	if (o->json)
		printf("{\"services\": %u, \"backends\": %u, \"repeat\": %u, \"runs\": %u, "
		       "\"wrapper_ns\": %.1f, \"wrapper_tunnel_key_ns\": %.1f, \"results\": [",
		       o->services, o->backends, o->repeat, o->runs, base[0], keyed.median);
	else
		printf("sluice between nodes, BPF_PROG_TEST_RUN: %u services x %u backends on node "
		       "B, median of %u runs x %u packets\nwrapper, subtracted below: %.0f ns "
		       "(%.0f ns new flow, %.0f ns with a tunnel key)\n%-30s %10s %10s %10s\n",
		       o->services, o->backends, o->runs, o->repeat, base[0], base[1], keyed.median,
		       "path", "ns/packet", "min", "max");
	for (size_t i = 0; i < n; i++)
		print_row(o, &cases[i], i >= 2 ? keyed.median : base[cases[i].vary_flow], i == 0,
			  "");
	if (o->json)
		printf("]}\n");
	return 0;
}
