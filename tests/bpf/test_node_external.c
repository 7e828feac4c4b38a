// SPDX-License-Identifier: Apache-2.0
/*
 * Traffic from outside the node through the uplink programs (tc_node, xdp_node): NodePort on a
 * node address, LoadBalancer and external IPs, Local (client kept) and Cluster (SNAT with
 * distinct ports), source ranges, no endpoints, and the pod program's reverse translation of a
 * masqueraded flow's reply, and a masqueraded flow's port claim kept when conntrack is full. The
 * node objects share every map with the fixture's tc_pod object.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/bpf.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "maps/hash.h"
#include "loader/desired/maglev.h"
#include "maps/node.h"
#include "maps/policy.h"
#include "skel/tc_node.skel.h"
#include "skel/tc_pod.skel.h"
#include "skel/xdp_node.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define NODE_IP	       TEST_IP(192, 168, 50, 1)
#define NODE_IP_2      TEST_IP(192, 168, 60, 1) /* a second address of the node */
#define NOT_NODE_IP    TEST_IP(192, 168, 50, 9)
#define LB_IP	       TEST_IP(198, 51, 100, 10)
#define EXTERNAL_IP    TEST_IP(198, 51, 100, 20)
#define CLIENT_1       TEST_IP(203, 0, 113, 7)
#define CLIENT_2       TEST_IP(203, 0, 113, 8)
#define NODE_PORT      htons(30080)
#define EXT_SVC_ID     21u
#define UPLINK_IFINDEX TEST_INGRESS_IFINDEX

static const uint8_t router_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x99, 0x01};
static const uint8_t uplink_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x99, 0x02};

struct node_fixture {
	struct fixture pod; /* the maps' owner; pod.prog_fd is tc_pod */
	struct tc_node *node;
	struct xdp_node *xdp;
	int node_fd, xdp_fd;
};

/* CT_ENTRIES: ct4's size, 0 for the fixture's. */
static bool node_setup_sized(struct node_fixture *f, uint32_t ct_entries)
{
	memset(f, 0, sizeof(*f));
	f->node_fd = f->xdp_fd = -1;
	f->pod.ct_entries = ct_entries;
	if (!fixture_setup(&f->pod, IPPROTO_TCP))
		return false;
	f->node = tc_node__open();
	if (!ASSERT_TRUE(f->node != NULL, "open tc_node") ||
	    !ASSERT_OK(fixture_share_maps(&f->pod, f->node->obj), "share maps with tc_pod") ||
	    !ASSERT_OK(tc_node__load(f->node), "load tc_node"))
		return false;
	f->node_fd = bpf_program__fd(f->node->progs.tc_node_ingress);
	f->xdp = xdp_node__open();
	if (!ASSERT_TRUE(f->xdp != NULL, "open xdp_node") ||
	    !ASSERT_OK(fixture_share_maps(&f->pod, f->xdp->obj), "share maps (xdp)") ||
	    !ASSERT_OK(
		bpf_map__reuse_fd(f->xdp->maps.node4_addrs, bpf_map__fd(f->node->maps.node4_addrs)),
		"share node4_addrs") ||
	    !ASSERT_OK(xdp_node__load(f->xdp), "load xdp_node"))
		return false;
	f->xdp_fd = bpf_program__fd(f->xdp->progs.xdp_node_ingress);
	return true;
}

static bool node_setup(struct node_fixture *f)
{
	return node_setup_sized(f, 0);
}

static void node_close(struct node_fixture *f)
{
	xdp_node__destroy(f->xdp);
	tc_node__destroy(f->node);
	fixture_close(&f->pod);
}

static int node_set_address(struct node_fixture *f, __be32 address, __be32 snat, uint32_t flags)
{
	struct node4_addr value = {.snat = snat, .flags = flags};

	return bpf_map_update_elem(bpf_map__fd(f->node->maps.node4_addrs), &address, &value,
				   BPF_ANY)
		   ? -errno
		   : 0;
}

/* The node's addresses as sync writes them: NODE_IP (first, SNAT source) and NODE_IP_2. */
static bool node_seed_addresses(struct node_fixture *f)
{
	return ASSERT_OK(node_set_address(f, NODE_IP, NODE_IP, NODE4_F_ADDRESS), "node address") &&
	       ASSERT_OK(node_set_address(f, NODE_IP_2, NODE_IP_2, NODE4_F_ADDRESS),
			 "second node address") &&
	       ASSERT_OK(node_set_address(f, 0, NODE_IP, 0), "SNAT address");
}

/* An external-scope frontend with backend A in slot 0 (A is seeded by the fixture). */
static int node_set_frontend(struct node_fixture *f, __be32 address, __be16 port, uint16_t flags,
			     uint16_t count)
{
	struct lb4_key key;
	struct lb4_service value;
	uint32_t backend_id = TEST_BACKEND_A_ID;
	struct lb4_slot_key slot;

	memset(&key, 0, sizeof(key));
	memset(&value, 0, sizeof(value));
	memset(&slot, 0, sizeof(slot));
	key.address = address;
	key.port = port;
	key.proto = IPPROTO_TCP;
	key.scope = LB4_SCOPE_EXTERNAL;
	value.svc_id = EXT_SVC_ID;
	value.count = count;
	value.flags = flags;
	slot.svc_id = EXT_SVC_ID;
	if (bpf_map_update_elem(bpf_map__fd(f->pod.skel->maps.lb4_slots), &slot, &backend_id,
				BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(f->pod.skel->maps.lb4_svc), &key, &value, BPF_ANY))
		return -errno;
	return fixture_set_revnat(&f->pod, EXT_SVC_ID, address, port, IPPROTO_TCP);
}

static struct pkt_spec node_client_spec(__be32 client, __be32 daddr, __be16 dport)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);

	memcpy(spec.src_mac, router_mac, 6);
	memcpy(spec.dst_mac, uplink_mac, 6);
	spec.saddr = client;
	spec.daddr = daddr;
	spec.dport = dport;
	return spec;
}

static int node_run(struct node_fixture *f, int prog_fd, const struct pkt *in, struct pkt *out,
		    int *verdict)
{
	int saved = f->pod.prog_fd, err;

	f->pod.prog_fd = prog_fd;
	err = fixture_run(&f->pod, in, out, verdict);
	f->pod.prog_fd = saved;
	return err;
}

/* IN through xdp_node REPEAT times (at least once). */
static int xdp_run(struct node_fixture *f, const struct pkt *in, uint32_t repeat, int *verdict)
{
	uint8_t out[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data, .data_size_in = (__u32)in->len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);
	int err = bpf_prog_test_run_opts(f->xdp_fd, &opts);

	*verdict = (int)opts.retval;
	return err;
}

/*
 * Sends client:40000 -> daddr:dport through tc_node and checks a Local (no SNAT) translation
 * to backend A in its pod: redirect, client kept, checksums, both conntrack entries.
 */
static void expect_local_dnat(struct node_fixture *f, __be32 daddr, __be16 dport, const char *what)
{
	struct pkt_spec spec = node_client_spec(CLIENT_1, daddr, dport);
	struct ct_entry entry;
	struct pkt in, out;
	char name[128];
	int verdict;

	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(node_run(f, f->node_fd, &in, &out, &verdict), "test run tc_node"))
		return;
	snprintf(name, sizeof(name), "%s: verdict (redirect into backend A's pod)", what);
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, name);
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr (backend A)");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_BACKEND_PORT, "tcp.dest (target port)");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), CLIENT_1, "ip.saddr (client kept: Local)");
	ASSERT_PORT_EQ(pkt_l4_sport(&out), TEST_CLIENT_PORT, "tcp.source (client port kept)");
	ASSERT_MEM_EQ(out.data, test_backend_a_mac, 6, "eth.dst (backend pod)");
	ASSERT_CSUMS_OK(out.data, out.len, "translated packet");
	if (ASSERT_OK(fixture_ct_lookup(&f->pod, TEST_BACKEND_A, CLIENT_1, TEST_BACKEND_PORT,
					TEST_CLIENT_PORT, IPPROTO_TCP, &entry),
		      "reply ct entry (backend -> client)")) {
		ASSERT_IP_EQ(entry.nat_saddr, daddr, "reply leaves from the address called");
		ASSERT_PORT_EQ(entry.nat_sport, dport, "reply leaves from the port called");
		ASSERT_IP_EQ(entry.nat_daddr, CLIENT_1, "reply goes to the client");
		ASSERT_EQ(entry.flags & (CT_F_REPLY | CT_F_NEIGH | CT_F_SNAT),
			  CT_F_REPLY | CT_F_NEIGH, "reply flags (neighbour delivery, no SNAT)");
		ASSERT_EQ(entry.ifindex, UPLINK_IFINDEX, "reply leaves by the uplink");
	}
	ASSERT_OK(fixture_ct_lookup(&f->pod, CLIENT_1, daddr, TEST_CLIENT_PORT, dport, IPPROTO_TCP,
				    &entry),
		  "forward ct entry");
}

void test_node_nodeport_local(void)
{
	struct pkt_spec spec;
	struct node_fixture f;
	struct pkt in;

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(
		node_set_frontend(&f, 0, NODE_PORT, LB_SVC_F_NODE_PORT | LB_SVC_F_LOCAL_ONLY, 1),
		"NodePort frontend") ||
	    !ASSERT_OK(fixture_set_endpoint(&f.pod, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					    test_backend_a_mac, test_backend_a_host_mac),
		       "backend A is local"))
		goto cleanup;
	expect_local_dnat(&f, NODE_IP_2, NODE_PORT, "NodePort on the second node address");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_EXT_NEW), 1, "stats external_new");
	ASSERT_EQ(fixture_service_flows(&f.pod, EXT_SVC_ID), 1, "new flows of the NodePort");

	/* Negative: the same port on an address that is not the node's passes untouched. */
	spec = node_client_spec(CLIENT_2, NOT_NODE_IP, NODE_PORT);
	if (ASSERT_OK(pkt_build(&in, &spec), "build packet to another address")) {
		int before = fixture_ct_count(&f.pod), verdict;
		struct pkt out;

		if (ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run")) {
			ASSERT_EQ(verdict, TC_ACT_OK, "verdict for a non-node address");
			ASSERT_MEM_EQ(out.data, in.data, in.len, "packet untouched");
			ASSERT_EQ(fixture_ct_count(&f.pod), before, "no conntrack entry");
		}
	}
cleanup:
	node_close(&f);
}

void test_node_lb_and_external_ip(void)
{
	struct pkt_spec spec;
	struct node_fixture f;
	struct pkt in, out;
	int verdict;

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(fixture_set_endpoint(&f.pod, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					    test_backend_a_mac, test_backend_a_host_mac),
		       "backend A is local") ||
	    !ASSERT_OK(node_set_frontend(&f, LB_IP, htons(80),
					 LB_SVC_F_LOAD_BALANCER | LB_SVC_F_LOCAL_ONLY, 1),
		       "LoadBalancer frontend"))
		goto cleanup;
	expect_local_dnat(&f, LB_IP, htons(80), "LoadBalancer IP");
	if (!ASSERT_OK(bpf_map_delete_elem(bpf_map__fd(f.pod.skel->maps.ct4),
					   &(struct ct4_key){.saddr = TEST_BACKEND_A,
							     .daddr = CLIENT_1,
							     .sport = TEST_BACKEND_PORT,
							     .dport = TEST_CLIENT_PORT,
							     .proto = IPPROTO_TCP})
			   ? -errno
			   : 0,
		       "forget the first flow's reply entry") ||
	    !ASSERT_OK(node_set_frontend(&f, EXTERNAL_IP, htons(80),
					 LB_SVC_F_EXTERNAL_IP | LB_SVC_F_LOCAL_ONLY, 1),
		       "external IP frontend"))
		goto cleanup;
	expect_local_dnat(&f, EXTERNAL_IP, htons(80), "external IP");

	/* The ClusterIP's frontend is internal scope: from outside it is nobody's business. */
	spec = node_client_spec(CLIENT_2, TEST_VIP, TEST_VIP_PORT);
	if (ASSERT_OK(pkt_build(&in, &spec), "build packet to the ClusterIP") &&
	    ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run")) {
		ASSERT_EQ(verdict, TC_ACT_OK, "ClusterIP from outside: verdict");
		ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_VIP,
			     "ClusterIP from outside: not translated");
	}
cleanup:
	node_close(&f);
}

/* Cluster policy: two clients with the same source port get distinct node ports. */
void test_node_snat_distinct_ports(void)
{
	__be16 ports[2] = {0, 0};
	__be32 clients[2] = {CLIENT_1, CLIENT_2};
	struct node_fixture f;
	struct ct_entry entry;
	int verdict;

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(node_set_frontend(&f, 0, NODE_PORT, LB_SVC_F_NODE_PORT | LB_SVC_F_SNAT, 1),
		       "NodePort frontend (Cluster)"))
		goto cleanup;
	for (int i = 0; i < 2; i++) {
		struct pkt_spec spec = node_client_spec(clients[i], NODE_IP, NODE_PORT);
		struct pkt in, out;

		if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
		    !ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run"))
			goto cleanup;
		ASSERT_EQ(verdict, TC_ACT_OK, "verdict (backend not local: routed)");
		ASSERT_IP_EQ(pkt_ip_saddr(&out), NODE_IP,
			     "ip.saddr masqueraded to the node address");
		ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr (backend A)");
		ASSERT_CSUMS_OK(out.data, out.len, "masqueraded packet");
		ports[i] = pkt_l4_sport(&out);
		ASSERT_TRUE(ntohs(ports[i]) >= NAT_PORT_MIN_DEFAULT, "SNAT port in range");
		if (ASSERT_OK(fixture_ct_lookup(&f.pod, TEST_BACKEND_A, NODE_IP, TEST_BACKEND_PORT,
						ports[i], IPPROTO_TCP, &entry),
			      "reply entry claims (node, port, backend)")) {
			ASSERT_IP_EQ(entry.nat_daddr, clients[i], "reply goes back to its client");
			ASSERT_EQ(entry.flags & CT_F_SNAT, CT_F_SNAT, "reply entry marked SNAT");
		}
	}
	ASSERT_NEQ(ports[0], ports[1], "two clients with source port 40000: distinct SNAT ports");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_EXT_SNAT), 2, "stats external_new_snat");

	/* The established flow keeps its port: the handshake's ACK leaves like the SYN. */
	{
		struct pkt_spec spec = node_client_spec(CLIENT_1, NODE_IP, NODE_PORT);
		struct pkt in, out;

		spec.tcp_flags = PKT_TCP_ACK;
		if (ASSERT_OK(pkt_build(&in, &spec), "build ACK") &&
		    ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run ACK")) {
			ASSERT_PORT_EQ(pkt_l4_sport(&out), ports[0],
				       "ACK leaves with the SYN's port");
			ASSERT_EQ(fixture_stat(&f.pod, STAT_CT_FORWARD), 1, "stats ct_forward");
		}
	}
cleanup:
	node_close(&f);
}

/* The backend's answer to a masqueraded flow, seen by the pod program on the backend's veth. */
void test_node_snat_reply_in_pod_program(void)
{
	struct pkt_spec spec = node_client_spec(CLIENT_1, NODE_IP, NODE_PORT), reply;
	struct node_fixture f;
	struct pkt in, out, back;
	int verdict;
	__be16 port;

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(node_set_frontend(&f, 0, NODE_PORT, LB_SVC_F_NODE_PORT | LB_SVC_F_SNAT, 1),
		       "NodePort frontend (Cluster)") ||
	    !ASSERT_OK(fixture_set_endpoint(&f.pod, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					    test_backend_a_mac, test_backend_a_host_mac),
		       "backend A is local") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run tc_node"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "SYN redirected into backend A");
	port = pkt_l4_sport(&out);

	reply = fixture_reply_spec(IPPROTO_TCP);
	reply.daddr = NODE_IP;
	reply.dport = port;
	if (!ASSERT_OK(pkt_build(&back, &reply), "build backend reply") ||
	    !ASSERT_OK(node_run(&f, f.pod.prog_fd, &back, &out, &verdict), "test run tc_pod"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "reply verdict (bpf_redirect_neigh to the uplink)");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), NODE_IP, "reply ip.saddr (the node address called)");
	ASSERT_PORT_EQ(pkt_l4_sport(&out), NODE_PORT, "reply tcp.source (the NodePort)");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), CLIENT_1, "reply ip.daddr (the client)");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_CLIENT_PORT, "reply tcp.dest (the client's port)");
	ASSERT_CSUMS_OK(out.data, out.len, "reverse-translated reply");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_CT_REPLY), 1, "stats ct_reply");
cleanup:
	node_close(&f);
}

void test_node_source_range_drop(void)
{
	struct pkt_spec spec = node_client_spec(CLIENT_1, LB_IP, htons(80));
	struct node_fixture f;
	struct pkt in, out;
	int verdict;

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(node_set_frontend(
			   &f, LB_IP, htons(80),
			   LB_SVC_F_LOAD_BALANCER | LB_SVC_F_SNAT | LB_SVC_F_SOURCE_RANGES, 1),
		       "LoadBalancer frontend with source ranges") ||
	    !ASSERT_OK(fixture_set_source_range(&f.pod, EXT_SVC_ID, TEST_IP(203, 0, 113, 8), 32),
		       "admit 203.0.113.8/32"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build packet from 203.0.113.7") ||
	    !ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "tc verdict for a client outside the ranges");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_SOURCE_RANGE), 1, "drops outside source ranges");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "no conntrack entry");
	if (ASSERT_OK(xdp_run(&f, &in, 1, &verdict), "xdp test run"))
		ASSERT_EQ(verdict, XDP_DROP, "xdp verdict for a client outside the ranges");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_SOURCE_RANGE), 2, "drops counted by xdp too");
	/* Arriving from the uplink, at either program: ingress. */
	ASSERT_EQ(fixture_drop_dir(&f.pod, DROP_SOURCE_RANGE, DROP_DIR_INGRESS), 2,
		  "drops outside source ranges, ingress");
	ASSERT_EQ(fixture_drop_dir(&f.pod, DROP_SOURCE_RANGE, DROP_DIR_EGRESS), 0,
		  "drops outside source ranges, egress");

	/* The admitted client gets through, masqueraded to the node's SNAT address. */
	spec.saddr = CLIENT_2;
	if (ASSERT_OK(pkt_build(&in, &spec), "build packet from 203.0.113.8")) {
		if (ASSERT_OK(xdp_run(&f, &in, 1, &verdict), "xdp test run"))
			ASSERT_EQ(verdict, XDP_PASS, "xdp passes an admitted client to tc");
		if (ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run")) {
			ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "admitted: ip.daddr");
			ASSERT_IP_EQ(pkt_ip_saddr(&out), NODE_IP,
				     "admitted: SNAT to the first address");
		}
	}
cleanup:
	node_close(&f);
}

/*
 * A drop at XDP tells one drop event, built from the tuple XDP parsed, with the reason tc would
 * give; an admitted client tells none; a flood of them is rate-limited like tc's, every drop
 * told or counted lost.
 */
void test_node_xdp_drop_event(void)
{
	static struct fixture_events seen;
	const uint64_t flood = 2000;
	struct pkt_spec spec = node_client_spec(CLIENT_1, LB_IP, htons(80));
	struct flow_event *event = &seen.events[0];
	struct node_fixture f;
	struct pkt in;
	int verdict;

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(node_set_frontend(
			   &f, LB_IP, htons(80),
			   LB_SVC_F_LOAD_BALANCER | LB_SVC_F_SNAT | LB_SVC_F_SOURCE_RANGES, 1),
		       "LoadBalancer frontend with source ranges") ||
	    !ASSERT_OK(fixture_set_source_range(&f.pod, EXT_SVC_ID, CLIENT_2, 32),
		       "admit 203.0.113.8/32") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build packet from 203.0.113.7") ||
	    !ASSERT_OK(xdp_run(&f, &in, 1, &verdict), "xdp test run"))
		goto cleanup;
	ASSERT_EQ(verdict, XDP_DROP, "xdp verdict for a client outside the ranges");
	if (!fixture_events_read(&f.pod, &seen) || !ASSERT_EQ(seen.count, 1, "events for one drop"))
		goto cleanup;
	ASSERT_EQ(event->kind, EVENT_DROP, "kind");
	ASSERT_EQ(event->reason, DROP_SOURCE_RANGE, "reason");
	ASSERT_EQ(event->proto, IPPROTO_TCP, "proto");
	ASSERT_IP_EQ(event->saddr, CLIENT_1, "saddr");
	ASSERT_IP_EQ(event->daddr, LB_IP, "daddr");
	ASSERT_EQ(event->sport, TEST_CLIENT_PORT, "sport");
	ASSERT_EQ(event->dport, htons(80), "dport");
	ASSERT_EQ(event->src_identity, IDENTITY_WORLD, "source identity: outside");
	ASSERT_NEQ(event->ifindex, 0, "ifindex: the device XDP ran on");
	ASSERT_NEQ(event->time_ns, 0, "time");

	spec.saddr = CLIENT_2;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build packet from 203.0.113.8") ||
	    !ASSERT_OK(xdp_run(&f, &in, 1, &verdict), "xdp test run (admitted)"))
		goto cleanup;
	ASSERT_EQ(verdict, XDP_PASS, "xdp passes an admitted client to tc");
	if (fixture_events_read(&f.pod, &seen))
		ASSERT_EQ(seen.count, 0, "events for a packet XDP passes");

	spec.saddr = CLIENT_1;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build the flood's packet") ||
	    !ASSERT_OK(xdp_run(&f, &in, (uint32_t)flood, &verdict), "xdp flood"))
		goto cleanup;
	if (!fixture_events_read(&f.pod, &seen))
		goto cleanup;
	ASSERT_TRUE(seen.count < flood / 2, "the flood is limited");
	ASSERT_EQ(seen.count + fixture_events_lost(&f.pod, EVENTS_LOST_RATE), flood,
		  "every drop told or counted lost");
cleanup:
	node_close(&f);
}

void test_node_no_endpoints(void)
{
	struct pkt_spec spec = node_client_spec(CLIENT_1, NODE_IP, NODE_PORT);
	struct node_fixture f;
	struct pkt in, out;
	int verdict;

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(
		node_set_frontend(&f, 0, NODE_PORT, LB_SVC_F_NODE_PORT | LB_SVC_F_LOCAL_ONLY, 0),
		"NodePort frontend, Local, no local endpoint") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build client packet"))
		goto cleanup;
	if (ASSERT_OK(xdp_run(&f, &in, 1, &verdict), "xdp test run"))
		ASSERT_EQ(verdict, XDP_DROP, "xdp drops Local without local endpoints");
	if (ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run"))
		ASSERT_EQ(verdict, TC_ACT_SHOT, "Local without local endpoints: dropped");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_NO_LOCAL_ENDPOINT), 2, "drops no local endpoint");

	/* Cluster policy without any endpoint: ICMP port unreachable back out of the uplink. */
	if (!ASSERT_OK(node_set_frontend(&f, 0, NODE_PORT, LB_SVC_F_NODE_PORT | LB_SVC_F_SNAT, 0),
		       "NodePort frontend, Cluster, no endpoint") ||
	    !ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "Cluster without endpoints: reject sent back");
	ASSERT_EQ(out.data[PKT_IP_OFF + 9], IPPROTO_ICMP, "reject is ICMP");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), NODE_IP, "reject comes from the node address");
	ASSERT_MEM_EQ(out.data, router_mac, 6, "reject eth.dst (back to the sender)");
	ASSERT_CSUMS_OK(out.data, out.len, "reject");
cleanup:
	node_close(&f);
}

/* ---- NetworkPolicy on traffic from outside the node and from the node itself --------------- */

#define ID_BACKEND_A 301u
#define ID_CLIENTS   400u /* an ipBlock holding CLIENT_1 and CLIENT_2 (203.0.113.0/24) */

/* Policy on, backend A a pod of this node with FLAGS, the clients' /24 an ipBlock identity. */
static bool node_policy_setup(struct node_fixture *f, uint32_t flags)
{
	return ASSERT_OK(fixture_policy_enable(&f->pod, true), "enable policy") &&
	       ASSERT_OK(fixture_policy_address(&f->pod, TEST_BACKEND_A, 32, ID_BACKEND_A,
						IPCACHE_F_POD | flags),
			 "ipcache backend A") &&
	       ASSERT_OK(
		   fixture_policy_address(&f->pod, TEST_IP(203, 0, 113, 0), 24, ID_CLIENTS, 0),
		   "ipcache clients' ipBlock") &&
	       ASSERT_OK(fixture_set_endpoint(&f->pod, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					      test_backend_a_mac, test_backend_a_host_mac),
			 "backend A is local");
}

/* Runs CLIENT -> daddr:dport through tc_node; returns the verdict or -1. */
static int node_send(struct node_fixture *f, __be32 client, __be32 daddr, __be16 dport,
		     struct pkt *out)
{
	struct pkt_spec spec = node_client_spec(client, daddr, dport);
	struct pkt in;
	int verdict;

	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(node_run(f, f->node_fd, &in, out, &verdict), "test run tc_node"))
		return -1;
	return verdict;
}

/*
 * A NodePort to a backend on this node whose ingress is isolated: the client (as it arrived,
 * before any masquerade) needs a rule; without one the SYN is dropped and counted.
 */
void test_node_policy_ingress_nodeport(void)
{
	struct node_fixture f;
	struct ct_entry entry;
	struct pkt out;

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(node_set_frontend(&f, 0, NODE_PORT, LB_SVC_F_NODE_PORT | LB_SVC_F_SNAT, 1),
		       "NodePort frontend (Cluster: SNAT)") ||
	    !node_policy_setup(&f, IPCACHE_F_ISOLATED_INGRESS))
		goto cleanup;

	ASSERT_EQ(node_send(&f, CLIENT_1, NODE_IP, NODE_PORT, &out), TC_ACT_SHOT,
		  "no ingress rule: verdict");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 1, "drops policy_ingress");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "no conntrack entry for a denied flow");

	/* ingress: from ipBlock 203.0.113.0/24 on TCP 8080 (the target port). */
	if (!ASSERT_OK(fixture_policy_rule(&f.pod, ID_BACKEND_A, ID_CLIENTS, POLICY_DIR_INGRESS,
					   IPPROTO_TCP, ntohs(TEST_BACKEND_PORT), 16),
		       "ingress rule"))
		goto cleanup;
	ASSERT_EQ(node_send(&f, CLIENT_1, NODE_IP, NODE_PORT, &out), TC_ACT_REDIRECT,
		  "client in the ipBlock: verdict (into backend A)");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr (backend A)");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), NODE_IP, "ip.saddr (masqueraded after the check)");
	if (ASSERT_OK(fixture_ct_lookup(&f.pod, CLIENT_1, NODE_IP, TEST_CLIENT_PORT, NODE_PORT,
					IPPROTO_TCP, &entry),
		      "forward ct entry"))
		ASSERT_EQ(entry.policy, CT_POLICY_ALLOWED, "verdict cached in conntrack");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 1, "no new drop");

	/* A client outside the ipBlock is still refused. */
	ASSERT_EQ(node_send(&f, TEST_IP(198, 18, 0, 1), NODE_IP, NODE_PORT, &out), TC_ACT_SHOT,
		  "client outside the ipBlock: verdict");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 2, "drops policy_ingress");
cleanup:
	node_close(&f);
}

/*
 * Straight to a pod's address from outside the node (another node's pod, a routed client): the
 * pod's ingress policy decides, an allowed flow is tracked untranslated, and the pod's reply
 * passes even though its egress is isolated too.
 */
void test_node_policy_direct_to_pod(void)
{
	struct pkt_spec spec;
	struct node_fixture f;
	struct ct_entry entry;
	struct pkt in, out;
	int verdict;

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !node_policy_setup(&f, IPCACHE_F_ISOLATED_INGRESS | IPCACHE_F_ISOLATED_EGRESS))
		goto cleanup;

	ASSERT_EQ(node_send(&f, CLIENT_1, TEST_BACKEND_A, TEST_BACKEND_PORT, &out), TC_ACT_SHOT,
		  "no ingress rule: verdict");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 1, "drops policy_ingress");

	if (!ASSERT_OK(fixture_policy_rule(&f.pod, ID_BACKEND_A, ID_CLIENTS, POLICY_DIR_INGRESS,
					   IPPROTO_TCP, ntohs(TEST_BACKEND_PORT), 16),
		       "ingress rule"))
		goto cleanup;
	ASSERT_EQ(node_send(&f, CLIENT_1, TEST_BACKEND_A, TEST_BACKEND_PORT, &out), TC_ACT_REDIRECT,
		  "allowed: verdict (into the pod)");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr untouched");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), CLIENT_1, "ip.saddr untouched");
	ASSERT_MEM_EQ(out.data, test_backend_a_mac, 6, "eth.dst (the pod)");
	if (ASSERT_OK(fixture_ct_lookup(&f.pod, TEST_BACKEND_A, CLIENT_1, TEST_BACKEND_PORT,
					TEST_CLIENT_PORT, IPPROTO_TCP, &entry),
		      "reply ct entry")) {
		ASSERT_EQ(entry.flags & (CT_F_REPLY | CT_F_DIRECT), CT_F_REPLY | CT_F_DIRECT,
			  "reply entry: direct, untranslated");
		ASSERT_EQ(entry.ifindex, 0, "reply entry: to the node's routing");
	}

	/* The pod answers: its egress allows nothing, but this is a reply. */
	spec = fixture_reply_spec(IPPROTO_TCP);
	spec.daddr = CLIENT_1;
	if (ASSERT_OK(pkt_build(&in, &spec), "build reply") &&
	    ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run tc_pod")) {
		ASSERT_EQ(verdict, TC_ACT_OK, "reply: verdict (to the node's routing)");
		ASSERT_IP_EQ(pkt_ip_daddr(&out), CLIENT_1, "reply: ip.daddr untouched");
	}
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_EGRESS), 0, "no egress drop for the reply");

	/* Negative: the same flow from a client the rule does not name is refused. */
	ASSERT_EQ(node_send(&f, TEST_IP(198, 18, 0, 1), TEST_BACKEND_A, TEST_BACKEND_PORT, &out),
		  TC_ACT_SHOT, "client outside the ipBlock: verdict");
cleanup:
	node_close(&f);
}

/* Without any policy, traffic from outside to a pod passes untouched and untracked. */
void test_node_policy_off_passes(void)
{
	struct node_fixture f;
	struct pkt out;

	if (!node_setup(&f) || !node_seed_addresses(&f) || !node_policy_setup(&f, 0) ||
	    !ASSERT_OK(fixture_policy_enable(&f.pod, false), "policy off"))
		goto cleanup;
	ASSERT_EQ(node_send(&f, CLIENT_1, TEST_BACKEND_A, TEST_BACKEND_PORT, &out), TC_ACT_OK,
		  "verdict");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "no conntrack entry");
cleanup:
	node_close(&f);
}

/*
 * A pod and its node may always reach each other (Kubernetes: kubelet probes, host daemons):
 * the node's addresses are the host identity, which no policy judges. Another address is.
 */
void test_policy_host_always_allowed(void)
{
	struct pkt_spec spec = fixture_reply_spec(IPPROTO_TCP);
	struct node_fixture f;
	struct pkt in, out;
	int verdict;

	if (!node_setup(&f) ||
	    !node_policy_setup(&f, IPCACHE_F_ISOLATED_INGRESS | IPCACHE_F_ISOLATED_EGRESS) ||
	    !ASSERT_OK(fixture_policy_address(&f.pod, NODE_IP, 32, IDENTITY_HOST, IPCACHE_F_HOST),
		       "ipcache: the node's address is the host"))
		goto cleanup;

	/* Backend A answers a probe the node sent (an untracked SYN-ACK) and opens its own. */
	spec.daddr = NODE_IP;
	if (ASSERT_OK(pkt_build(&in, &spec), "build pod -> node") &&
	    ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run tc_pod"))
		ASSERT_EQ(verdict, TC_ACT_OK, "pod -> node: verdict");
	spec.tcp_flags = PKT_TCP_SYN;
	if (ASSERT_OK(pkt_build(&in, &spec), "build pod -> node SYN") &&
	    ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run tc_pod"))
		ASSERT_EQ(verdict, TC_ACT_OK, "pod -> node SYN: verdict");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_EGRESS), 0, "no egress drop to the node");

	/* Negative: the same packet to an address that is not the node's is refused. */
	spec.daddr = NOT_NODE_IP;
	if (ASSERT_OK(pkt_build(&in, &spec), "build pod -> elsewhere") &&
	    ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run tc_pod"))
		ASSERT_EQ(verdict, TC_ACT_SHOT, "pod -> not the node: verdict");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_EGRESS), 1, "drops policy_egress");
cleanup:
	node_close(&f);
}

/*
 * tc_node picks by Maglev too: a LoadBalancer frontend (Local, A and B in this node's pods) with
 * a table over A and B and slot 0 -> A alone. Each flow from outside goes to the backend the
 * agent's hash of its 5-tuple (client, LB IP, ports) predicts, and some go to B, which the slots
 * would never give.
 */
#define NODE_MAGLEV_FLOWS      32
#define TEST_BACKEND_B_IFINDEX 43

void test_node_maglev_choice(void)
{
	static const uint8_t b_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x02, 0x14};
	static uint32_t table[LB_MAGLEV_SIZE_DEFAULT];
	struct maglev_backend backends[2] = {
	    {TEST_BACKEND_A, TEST_BACKEND_PORT, IPPROTO_TCP, TEST_BACKEND_A_ID},
	    {TEST_BACKEND_B, TEST_BACKEND_PORT, IPPROTO_TCP, TEST_BACKEND_B_ID},
	};
	struct lb4_maglev_key key = {.svc_id = EXT_SVC_ID};
	int i, verdict, wrong = 0, to_b = 0;
	struct node_fixture f;
	struct pkt in, out;
	char name[96];

	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(fixture_set_endpoint(&f.pod, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					    test_backend_a_mac, test_backend_a_host_mac),
		       "backend A is local") ||
	    !ASSERT_OK(
		fixture_set_endpoint(&f.pod, TEST_BACKEND_B, TEST_BACKEND_B_IFINDEX, b_mac, b_mac),
		"backend B is local") ||
	    !ASSERT_OK(node_set_frontend(
			   &f, LB_IP, htons(80),
			   LB_SVC_F_LOAD_BALANCER | LB_SVC_F_LOCAL_ONLY | LB_SVC_F_MAGLEV, 2),
		       "LoadBalancer frontend, Maglev") ||
	    !ASSERT_OK(maglev_populate(backends, 2, LB_MAGLEV_SIZE_DEFAULT, table), "populate") ||
	    !ASSERT_OK(
		bpf_map_update_elem(bpf_map__fd(f.pod.skel->maps.lb4_maglev), &key, table, BPF_ANY),
		"write table"))
		goto cleanup;
	for (i = 0; i < NODE_MAGLEV_FLOWS; i++) {
		struct pkt_spec spec = node_client_spec(CLIENT_1, LB_IP, htons(80));
		uint32_t id;
		__be32 want;

		spec.sport = htons((uint16_t)(30000 + i));
		id = table[hash_flow4(CLIENT_1, LB_IP, spec.sport, htons(80), IPPROTO_TCP) %
			   LB_MAGLEV_SIZE_DEFAULT];
		want = id == TEST_BACKEND_A_ID ? TEST_BACKEND_A : TEST_BACKEND_B;
		if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
		    !ASSERT_OK(node_run(&f, f.node_fd, &in, &out, &verdict), "test run tc_node"))
			goto cleanup;
		to_b += pkt_ip_daddr(&out) == TEST_BACKEND_B;
		if ((verdict != TC_ACT_REDIRECT || pkt_ip_daddr(&out) != want) && wrong++ == 0) {
			snprintf(name, sizeof(name), "flow from port %d: verdict", 30000 + i);
			ASSERT_EQ(verdict, TC_ACT_REDIRECT, name);
			snprintf(name, sizeof(name), "flow from port %d: the predicted backend",
				 30000 + i);
			ASSERT_IP_EQ(pkt_ip_daddr(&out), want, name);
		}
	}
	ASSERT_EQ(wrong, 0, "flows not sent to the predicted backend");
	ASSERT_TRUE(to_b > 0, "some flows to B (only in the table)");
cleanup:
	node_close(&f);
}

/*
 * A fragmented datagram from outside to a NodePort (Local): tc_node translates the first
 * fragment and, by its frag4 entry, the later one to the same backend; A's fragmented answer is
 * reverse-translated on A's veth; XDP leaves every fragment to tc. A later fragment from another
 * client, whose first never came, is dropped and counted.
 */
void test_node_nodeport_fragments(void)
{
	static const uint8_t data[96] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	struct pkt_spec spec = node_client_spec(CLIENT_1, NODE_IP, NODE_PORT);
	struct pkt whole, first, later, first_out, later_out;
	struct node_fixture f;
	char why[256] = "";
	int verdict;

	spec.tcp_flags = PKT_TCP_SYN;
	spec.payload = data;
	spec.payload_len = sizeof(data);
	if (!node_setup(&f) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(
		node_set_frontend(&f, 0, NODE_PORT, LB_SVC_F_NODE_PORT | LB_SVC_F_LOCAL_ONLY, 1),
		"NodePort frontend") ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f.pod), "backend A is local") ||
	    !ASSERT_OK(pkt_build(&whole, &spec), "build datagram") ||
	    !ASSERT_OK(pkt_fragment(&whole, 32, &first, &later), "fragment it"))
		goto cleanup;
	if (ASSERT_OK(xdp_run(&f, &first, 1, &verdict), "xdp first fragment"))
		ASSERT_EQ(verdict, XDP_PASS, "xdp passes the first fragment to tc");
	if (ASSERT_OK(xdp_run(&f, &later, 1, &verdict), "xdp later fragment"))
		ASSERT_EQ(verdict, XDP_PASS, "xdp passes the later fragment to tc");
	if (!ASSERT_OK(node_run(&f, f.node_fd, &first, &first_out, &verdict), "run first") ||
	    !ASSERT_EQ(verdict, TC_ACT_REDIRECT, "first fragment into backend A") ||
	    !ASSERT_OK(node_run(&f, f.node_fd, &later, &later_out, &verdict), "run later") ||
	    !ASSERT_EQ(verdict, TC_ACT_REDIRECT, "later fragment into backend A"))
		goto cleanup;
	if (ASSERT_OK(pkt_reassemble(&first_out, &later_out, &whole, why, sizeof(why)),
		      "reassemble the request")) {
		ASSERT_CSUMS_OK(whole.data, whole.len, "reassembled request");
		ASSERT_IP_EQ(pkt_ip_daddr(&whole), TEST_BACKEND_A, "request ip.daddr");
		ASSERT_PORT_EQ(pkt_l4_dport(&whole), TEST_BACKEND_PORT, "request tcp.dest");
	}

	/* A's answer, from its veth (the pod program): from the NodePort again, by the uplink. */
	spec = node_client_spec(TEST_BACKEND_A, CLIENT_1, TEST_CLIENT_PORT);
	memcpy(spec.src_mac, test_backend_a_mac, 6);
	memcpy(spec.dst_mac, test_backend_a_host_mac, 6);
	spec.sport = TEST_BACKEND_PORT;
	spec.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
	spec.payload = data;
	spec.payload_len = sizeof(data);
	if (!ASSERT_OK(pkt_build(&whole, &spec), "build answer") ||
	    !ASSERT_OK(pkt_fragment(&whole, 32, &first, &later), "fragment the answer") ||
	    !ASSERT_OK(fixture_run(&f.pod, &first, &first_out, &verdict), "run first answer") ||
	    !ASSERT_EQ(verdict, TC_ACT_REDIRECT, "first answer fragment out of the uplink") ||
	    !ASSERT_OK(fixture_run(&f.pod, &later, &later_out, &verdict), "run later answer") ||
	    !ASSERT_EQ(verdict, TC_ACT_REDIRECT, "later answer fragment out of the uplink"))
		goto cleanup;
	if (ASSERT_OK(pkt_reassemble(&first_out, &later_out, &whole, why, sizeof(why)),
		      "reassemble the answer")) {
		ASSERT_CSUMS_OK(whole.data, whole.len, "reassembled answer");
		ASSERT_IP_EQ(pkt_ip_saddr(&whole), NODE_IP, "answer ip.saddr (the node address)");
		ASSERT_PORT_EQ(pkt_l4_sport(&whole), NODE_PORT, "answer tcp.source (the NodePort)");
	}

	/* Negative: another client's later fragment, its first never seen. */
	spec = node_client_spec(CLIENT_2, NODE_IP, NODE_PORT);
	spec.payload = data;
	spec.payload_len = sizeof(data);
	if (ASSERT_OK(pkt_build(&whole, &spec), "build another datagram") &&
	    ASSERT_OK(pkt_fragment(&whole, 32, &first, &later), "fragment it") &&
	    ASSERT_OK(node_run(&f, f.node_fd, &later, &later_out, &verdict), "run its later"))
		ASSERT_EQ(verdict, TC_ACT_SHOT, "later fragment without first");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_FRAG_NO_FIRST), 1, "drops fragment without first");
cleanup:
	if (why[0])
		fprintf(stderr, "    %s\n", why);
	node_close(&f);
}

/* PROG_FD runs SPEC with TCP FLAGS; false (asserted) when it cannot run. */
static bool node_send_flags(struct node_fixture *f, int prog_fd, struct pkt_spec spec,
			    uint8_t flags, struct pkt *out, int *verdict)
{
	struct pkt in;

	spec.tcp_flags = flags;
	return ASSERT_OK(pkt_build(&in, &spec), "build packet") &&
	       ASSERT_OK(node_run(f, prog_fd, &in, out, verdict), "test run");
}

/*
 * A full ct4 of confirmed flows, a masqueraded one and a pod's: new flows of either kind are
 * dropped and counted (conntrack full), and the masqueraded flow keeps its claim and its port.
 */
void test_node_snat_kept_when_ct_full(void)
{
	struct pkt_spec snat = node_client_spec(CLIENT_1, NODE_IP, NODE_PORT);
	struct pkt_spec snat_reply = fixture_reply_spec(IPPROTO_TCP);
	struct pkt_spec pod = fixture_client_spec(IPPROTO_TCP);
	struct pkt_spec pod_reply = fixture_reply_spec(IPPROTO_TCP);
	struct ct_entry claim, claim_after;
	uint64_t early_drops = 1, insert_failed = 0;
	struct node_fixture f;
	struct pkt out;
	int verdict;
	__be16 port;

	if (!node_setup_sized(&f, 4) || !node_seed_addresses(&f) ||
	    !ASSERT_OK(node_set_frontend(&f, 0, NODE_PORT, LB_SVC_F_NODE_PORT | LB_SVC_F_SNAT, 1),
		       "NodePort frontend (Cluster)") ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f.pod), "backend A, a pod here"))
		goto cleanup;
	/* The masqueraded flow's handshake: SYN and ACK through tc_node, SYN-ACK from A. */
	if (!node_send_flags(&f, f.node_fd, snat, PKT_TCP_SYN, &out, &verdict))
		goto cleanup;
	port = pkt_l4_sport(&out);
	snat_reply.daddr = NODE_IP;
	snat_reply.dport = port;
	if (!node_send_flags(&f, f.pod.prog_fd, snat_reply, PKT_TCP_SYN | PKT_TCP_ACK, &out,
			     &verdict) ||
	    !node_send_flags(&f, f.node_fd, snat, PKT_TCP_ACK, &out, &verdict))
		goto cleanup;
	/* The pod's flow through its Service: the same handshake in tc_pod. */
	if (!node_send_flags(&f, f.pod.prog_fd, pod, PKT_TCP_SYN, &out, &verdict) ||
	    !node_send_flags(&f, f.pod.prog_fd, pod_reply, PKT_TCP_SYN | PKT_TCP_ACK, &out,
			     &verdict) ||
	    !node_send_flags(&f, f.pod.prog_fd, pod, PKT_TCP_ACK, &out, &verdict))
		goto cleanup;
	if (!ASSERT_EQ(fixture_ct_count(&f.pod), 4, "the table is full") ||
	    !ASSERT_OK(fixture_ct_lookup(&f.pod, TEST_BACKEND_A, NODE_IP, TEST_BACKEND_PORT, port,
					 IPPROTO_TCP, &claim),
		       "the masqueraded flow's claim"))
		goto cleanup;
	ASSERT_EQ(claim.confirmed, 1, "the masqueraded flow is confirmed");

	snat.saddr = CLIENT_2;
	if (node_send_flags(&f, f.node_fd, snat, PKT_TCP_SYN, &out, &verdict))
		ASSERT_EQ(verdict, TC_ACT_SHOT, "a new masqueraded flow is dropped");
	pod.sport = htons(40001);
	if (node_send_flags(&f, f.pod.prog_fd, pod, PKT_TCP_SYN, &out, &verdict))
		ASSERT_EQ(verdict, TC_ACT_SHOT, "a new pod flow is dropped");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_CT_FULL), 2, "drops: conntrack full");
	if (ASSERT_OK(fixture_ct_pressure(&f.pod, &early_drops, &insert_failed), "read ct4_ring")) {
		ASSERT_EQ(early_drops, 0, "early drops");
		ASSERT_EQ(insert_failed, 2, "insert failures");
	}
	ASSERT_EQ(fixture_ct_count(&f.pod), 4, "entries");
	if (ASSERT_OK(fixture_ct_lookup(&f.pod, TEST_BACKEND_A, NODE_IP, TEST_BACKEND_PORT, port,
					IPPROTO_TCP, &claim_after),
		      "the claim is still there"))
		ASSERT_MEM_EQ(&claim_after, &claim, sizeof(claim), "the claim is unchanged");
	snat.saddr = CLIENT_1;
	if (node_send_flags(&f, f.node_fd, snat, PKT_TCP_ACK | PKT_TCP_PSH, &out, &verdict))
		ASSERT_PORT_EQ(pkt_l4_sport(&out), port, "the masqueraded flow keeps its port");
cleanup:
	node_close(&f);
}
