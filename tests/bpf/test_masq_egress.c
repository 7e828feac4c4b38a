// SPDX-License-Identifier: Apache-2.0
/*
 * Egress masquerade (bpf/lib/masq.h): a pod's flow out of the cluster leaves tc_pod with the
 * node's address and a port of the SNAT range, with both conntrack entries; its reply on the
 * uplink (tc_node) goes back into the pod; TCP, UDP, ICMP echo and SCTP (address only); the
 * cluster CIDR, the service CIDR, a --non-masquerade-cidr and the node itself are left alone; no
 * free port and no node address are counted drops; a protocol it cannot translate is dropped.
 *
 * The decision asks the kernel's FIB where the packet would go, so each test runs in a network
 * namespace of its own (left again at the end): a veth as the uplink with the node's address and a
 * default route through it, and forwarding on. Nothing is sent: BPF_PROG_TEST_RUN only returns
 * the program's verdict.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "maps/masq.h"
#include "maps/node.h"
#include "maps/policy.h"
#include "maps/tunnel.h"
#include "skel/tc_node.skel.h"
#include "skel/tc_pod.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define MASQ_NODE_IP	TEST_IP(192, 0, 2, 1) /* the node's address on its uplink */
#define MASQ_ROUTER_IP	TEST_IP(192, 0, 2, 254)
#define MASQ_OUTSIDE	TEST_IP(203, 0, 113, 7)
#define MASQ_LISTED	TEST_IP(198, 51, 100, 9) /* in a --non-masquerade-cidr */
#define MASQ_SERVICE_IP TEST_IP(10, 96, 200, 1)	 /* in the service CIDR, no frontend */
#define MASQ_ELSEWHERE	TEST_IP(198, 18, 0, 9)	 /* routed out of another device */
#define MASQ_OTHER_NODE TEST_IP(192, 0, 2, 2)	 /* another node, on the uplink's subnet */
#define MASQ_UPLINK	"slmasq0"
#define MASQ_OTHER_DEV	"slmasq1"

static const uint8_t router_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x99, 0x01};
static const uint8_t uplink_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x99, 0x02};

struct masq_fixture {
	struct fixture pod;
	struct tc_node *node;
	int node_fd;
	int home_netns; /* the test runner's namespace, entered again at the end */
};

/* The node's uplink and another device (see the file comment). */
#define MASQ_NETNS_SETUP                                                                           \
	"ip link set lo up && "                                                                    \
	"ip link add " MASQ_UPLINK " type veth peer name " MASQ_UPLINK "p && "                     \
	"ip link set " MASQ_UPLINK "p up && "                                                      \
	"ip addr add 192.0.2.1/24 dev " MASQ_UPLINK " && "                                         \
	"ip link set " MASQ_UPLINK " up && "                                                       \
	"ip route add default via 192.0.2.254 dev " MASQ_UPLINK " && "                             \
	"ip link add " MASQ_OTHER_DEV " type veth peer name " MASQ_OTHER_DEV "p && "               \
	"ip link set " MASQ_OTHER_DEV "p up && "                                                   \
	"ip addr add 198.18.0.1/24 dev " MASQ_OTHER_DEV " && "                                     \
	"ip link set " MASQ_OTHER_DEV " up && "                                                    \
	"echo 1 > /proc/sys/net/ipv4/ip_forward"

/*
 * The agent's writes: node4_addrs (the node address, and it as the SNAT address) and masq4_skip
 * (cluster 10.0.0.0/16, as the fixture's pods; service 10.96.0.0/12; listed 198.51.100.0/24).
 * IS_ADDRESS false leaves the node without a SNAT address.
 */
static bool masq_seed(struct masq_fixture *f, bool is_address)
{
	struct node4_addr self = {.snat = MASQ_NODE_IP, .flags = NODE4_F_ADDRESS};
	struct node4_addr snat = {.snat = MASQ_NODE_IP};
	__be32 node_ip = MASQ_NODE_IP, any = 0;
	struct {
		struct masq4_key key;
		struct masq4_skip_value value;
	} skip[] = {
	    {{16, TEST_IP(10, 0, 0, 0)}, {MASQ4_KIND_CLUSTER}},
	    {{12, TEST_IP(10, 96, 0, 0)}, {MASQ4_KIND_SERVICE}},
	    {{24, TEST_IP(198, 51, 100, 0)}, {MASQ4_KIND_LISTED}},
	};

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (!ASSERT_OK(fixture_map_update(f->pod.skel->maps.masq4_skip, &skip[i].key,
						  &skip[i].value),
			       "masq4_skip entry"))
			return false;
	if (!is_address)
		return true;
	return ASSERT_OK(fixture_map_update(f->pod.skel->maps.node4_addrs, &node_ip, &self),
			 "node address") &&
	       ASSERT_OK(fixture_map_update(f->pod.skel->maps.node4_addrs, &any, &snat),
			 "SNAT address");
}

static bool masq_setup_with(struct masq_fixture *f, bool is_address)
{
	unsigned int ifindex;

	memset(f, 0, sizeof(*f));
	f->node_fd = -1;
	f->home_netns = -1;
	if (!fixture_netns_enter(&f->home_netns, MASQ_NETNS_SETUP))
		return false;
	ifindex = if_nametoindex(MASQ_UPLINK);
	if (!ASSERT_TRUE(ifindex != 0, "uplink ifindex"))
		return false;
	f->pod.masq_ifindex = ifindex;
	if (!fixture_setup(&f->pod, IPPROTO_TCP))
		return false;
	f->node = tc_node__open();
	if (!ASSERT_TRUE(f->node != NULL, "open tc_node"))
		return false;
	f->node->rodata->masq_ifindex = ifindex;
	if (!ASSERT_OK(fixture_share_maps(&f->pod, f->node->obj), "share maps with tc_pod") ||
	    !ASSERT_OK(tc_node__load(f->node), "load tc_node"))
		return false;
	f->node_fd = bpf_program__fd(f->node->progs.tc_node_ingress);
	return masq_seed(f, is_address);
}

static bool masq_setup(struct masq_fixture *f)
{
	return masq_setup_with(f, true);
}

static void masq_close(struct masq_fixture *f)
{
	tc_node__destroy(f->node);
	fixture_close(&f->pod);
	fixture_netns_leave(&f->home_netns);
}

/* The client pod (fixture) sends PROTO to daddr:dport. */
static struct pkt_spec masq_pod_spec(uint8_t proto, __be32 daddr, __be16 dport)
{
	struct pkt_spec spec = fixture_client_spec(proto);

	spec.daddr = daddr;
	spec.dport = dport;
	return spec;
}

/* The outside host's answer to a masqueraded packet OUT, as it arrives on the uplink. */
static struct pkt_spec masq_reply_spec(const struct pkt *out, uint8_t proto, uint8_t tcp_flags)
{
	struct pkt_spec spec = {0};

	memcpy(spec.src_mac, router_mac, 6);
	memcpy(spec.dst_mac, uplink_mac, 6);
	spec.saddr = pkt_ip_daddr(out);
	spec.daddr = pkt_ip_saddr(out);
	spec.sport = pkt_l4_dport(out);
	spec.dport = pkt_l4_sport(out);
	spec.proto = proto;
	spec.tcp_flags = tcp_flags;
	return spec;
}

static int masq_run_node(struct masq_fixture *f, const struct pkt *in, struct pkt *out,
			 int *verdict)
{
	int saved = f->pod.prog_fd, err;

	f->pod.prog_fd = f->node_fd;
	err = fixture_run_on(&f->pod, TEST_INGRESS_IFINDEX, in, out, verdict);
	f->pod.prog_fd = saved;
	return err;
}

static bool masq_port_in_range(__be16 port)
{
	return ntohs(port) >= NAT_PORT_MIN_DEFAULT; /* the range ends at 65535 */
}

/*
 * SPEC (WHAT names it in failures) through tc_pod from the client pod (IS_IN false): masqueraded
 * out by the uplink with the node's address; or through tc_node from the uplink (IS_IN true):
 * de-NAT'd into the client pod. Either with right checksums; OUT is the result. False once
 * reported.
 */
static bool masq_expect(struct masq_fixture *f, const struct pkt_spec *spec, bool is_in,
			struct pkt *out, const char *what)
{
	char name[128];
	struct pkt in;
	int verdict;
	bool ok;

	if (!ASSERT_OK(pkt_build(&in, spec), what) ||
	    !ASSERT_OK(is_in ? masq_run_node(f, &in, out, &verdict)
			     : fixture_run(&f->pod, &in, out, &verdict),
		       what))
		return false;
	snprintf(name, sizeof(name), "%s: verdict (%s)", what,
		 is_in ? "into the pod" : "bpf_redirect_neigh to the uplink");
	if (!ASSERT_EQ(verdict, TC_ACT_REDIRECT, name))
		return false;
	if (is_in) {
		snprintf(name, sizeof(name), "%s: ip.daddr is the pod", what);
		ok = ASSERT_IP_EQ(pkt_ip_daddr(out), TEST_CLIENT_IP, name);
	} else {
		snprintf(name, sizeof(name), "%s: ip.saddr is the node's address", what);
		ok = ASSERT_IP_EQ(pkt_ip_saddr(out), MASQ_NODE_IP, name);
	}
	snprintf(name, sizeof(name), "%s: checksums", what);
	return ASSERT_CSUMS_OK(out->data, out->len, name) && ok;
}

static bool masq_expect_out(struct masq_fixture *f, const struct pkt_spec *spec, struct pkt *out,
			    const char *what)
{
	return masq_expect(f, spec, false, out, what);
}

static bool masq_expect_in(struct masq_fixture *f, const struct pkt_spec *spec,
			   struct pkt *delivered, const char *what)
{
	return masq_expect(f, spec, true, delivered, what);
}

/* A router's ICMP error (TYPE, CODE) about the masqueraded packet OUT, sent to the node. */
static struct pkt_spec masq_icmp_error_spec(const struct pkt *out, uint8_t type, uint8_t code)
{
	struct pkt_spec spec = {0};

	memcpy(spec.src_mac, router_mac, 6);
	memcpy(spec.dst_mac, uplink_mac, 6);
	spec.saddr = MASQ_ROUTER_IP;
	spec.daddr = MASQ_NODE_IP;
	spec.proto = IPPROTO_ICMP;
	spec.icmp_type = type;
	spec.icmp_code = code;
	spec.payload = out->data + PKT_IP_OFF; /* the quoted IPv4 header and 8 bytes */
	spec.payload_len = 20 + 8;
	return spec;
}

/* TCP out and back: the SYN masqueraded, its SYN-ACK into the pod, the ACK with the same port. */
void test_masq_tcp_out_and_reply(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_TCP, MASQ_OUTSIDE, htons(80)), back;
	struct masq_fixture f;
	struct ct_entry entry;
	struct pkt out, delivered;
	__be16 port;

	if (!masq_setup(&f) || !masq_expect_out(&f, &spec, &out, "SYN"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), MASQ_OUTSIDE, "ip.daddr kept");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), htons(80), "tcp.dest kept");
	port = pkt_l4_sport(&out);
	ASSERT_TRUE(masq_port_in_range(port), "tcp.source in the SNAT range");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_EGRESS_SNAT), 1, "stats egress_new_snat");
	if (ASSERT_OK(fixture_ct_lookup(&f.pod, TEST_CLIENT_IP, MASQ_OUTSIDE, TEST_CLIENT_PORT,
					htons(80), IPPROTO_TCP, &entry),
		      "forward entry")) {
		ASSERT_EQ(entry.flags & (CT_F_SNAT | CT_F_NEIGH | CT_F_REPLY),
			  CT_F_SNAT | CT_F_NEIGH,
			  "forward flags (SNAT, out by the neighbour table)");
		ASSERT_EQ(entry.ifindex, f.pod.masq_ifindex, "forward leaves by the uplink");
		ASSERT_IP_EQ(entry.nat_saddr, MASQ_NODE_IP, "forward nat_saddr");
		ASSERT_PORT_EQ(entry.nat_sport, port, "forward nat_sport");
	}
	if (ASSERT_OK(fixture_ct_lookup(&f.pod, MASQ_OUTSIDE, MASQ_NODE_IP, htons(80), port,
					IPPROTO_TCP, &entry),
		      "reply entry (the port's claim)")) {
		ASSERT_EQ(entry.flags & (CT_F_SNAT | CT_F_REPLY), CT_F_SNAT | CT_F_REPLY,
			  "reply flags");
		ASSERT_IP_EQ(entry.nat_daddr, TEST_CLIENT_IP, "reply goes to the pod");
		ASSERT_EQ(entry.ifindex, TEST_INGRESS_IFINDEX, "reply into the pod's veth");
	}

	back = masq_reply_spec(&out, IPPROTO_TCP, PKT_TCP_SYN | PKT_TCP_ACK);
	if (!masq_expect_in(&f, &back, &delivered, "SYN-ACK"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_saddr(&delivered), MASQ_OUTSIDE, "reply ip.saddr kept");
	ASSERT_PORT_EQ(pkt_l4_dport(&delivered), TEST_CLIENT_PORT, "reply tcp.dest is the pod's");
	ASSERT_MEM_EQ(delivered.data, test_client_mac, 6, "reply eth.dst is the pod's MAC");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_CT_REPLY), 1, "stats ct_reply");

	spec.tcp_flags = PKT_TCP_ACK;
	if (masq_expect_out(&f, &spec, &out, "ACK"))
		ASSERT_PORT_EQ(pkt_l4_sport(&out), port, "ACK leaves with the SYN's port");
cleanup:
	masq_close(&f);
}

/* UDP out and back, and a second flow from another port gets a port of its own. */
void test_masq_udp_out_and_reply(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_UDP, MASQ_OUTSIDE, htons(53)), back;
	struct masq_fixture f;
	struct pkt out, delivered, second;

	if (!masq_setup(&f) || !masq_expect_out(&f, &spec, &out, "datagram"))
		goto cleanup;
	ASSERT_TRUE(masq_port_in_range(pkt_l4_sport(&out)), "udp.source in the SNAT range");

	spec.sport = htons(40001);
	if (masq_expect_out(&f, &spec, &second, "second datagram"))
		ASSERT_NEQ(pkt_l4_sport(&second), pkt_l4_sport(&out), "another flow, another port");

	back = masq_reply_spec(&out, IPPROTO_UDP, 0);
	if (masq_expect_in(&f, &back, &delivered, "answer"))
		ASSERT_PORT_EQ(pkt_l4_dport(&delivered), TEST_CLIENT_PORT,
			       "answer udp.dest is the pod's");
cleanup:
	masq_close(&f);
}

/* ICMP echo: the id is the port; the reply gets the pod's id back. */
void test_masq_icmp_echo(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_ICMP, MASQ_OUTSIDE, 0), back;
	struct masq_fixture f;
	struct pkt out, delivered;
	const __be16 id = htons(0x1234), seq = htons(7);
	__be16 new_id;

	spec.icmp_type = 8; /* echo request */
	spec.sport = id;
	spec.dport = seq;
	if (!masq_setup(&f) || !masq_expect_out(&f, &spec, &out, "echo request"))
		goto cleanup;
	new_id = pkt_get16(&out, PKT_L4_OFF + 4);
	ASSERT_TRUE(masq_port_in_range(new_id), "echo id in the SNAT range");
	ASSERT_PORT_EQ(pkt_get16(&out, PKT_L4_OFF + 6), seq, "echo sequence kept");

	back = masq_reply_spec(&out, IPPROTO_ICMP, 0);
	back.icmp_type = 0; /* echo reply */
	back.sport = new_id;
	back.dport = seq;
	if (masq_expect_in(&f, &back, &delivered, "echo reply"))
		ASSERT_PORT_EQ(pkt_get16(&delivered, PKT_L4_OFF + 4), id,
			       "echo reply has the pod's id");
cleanup:
	masq_close(&f);
}

/* SCTP: the address alone (CRC32c covers the ports, not the addresses); the port is kept. */
void test_masq_sctp_address_only(void)
{
	/* A UDP frame relabelled: SCTP's common header holds the ports where UDP has them. */
	struct pkt_spec spec = masq_pod_spec(IPPROTO_UDP, MASQ_OUTSIDE, htons(3868));
	static const uint8_t chunk[16] = {0x01, 0, 0, 16}; /* an INIT-like chunk header */
	struct masq_fixture f;
	struct pkt in, out;
	int verdict;

	spec.payload = chunk;
	spec.payload_len = sizeof(chunk);
	if (!masq_setup(&f) || !ASSERT_OK(pkt_build(&in, &spec), "build SCTP INIT"))
		goto cleanup;
	in.data[PKT_IP_OFF + 9] = IPPROTO_SCTP;
	/* Verification tag and CRC32c: arbitrary, and kept. */
	memcpy(&in.data[PKT_L4_OFF + 4], "\x12\x34\x56\x78\xca\xfe\xba\xbe", 8);
	pkt_fix_ip_csum(&in);
	if (!ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run tc_pod"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "SCTP verdict");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), MASQ_NODE_IP, "ip.saddr is the node's address");
	ASSERT_PORT_EQ(pkt_l4_sport(&out), TEST_CLIENT_PORT, "sctp.source kept");
	ASSERT_MEM_EQ(out.data + PKT_L4_OFF, in.data + PKT_L4_OFF, in.len - PKT_L4_OFF,
		      "SCTP header and chunks (CRC32c included) untouched");
	ASSERT_TRUE(pkt_ip_csum_ok(out.data + PKT_IP_OFF, 20), "ip.check");

	/* Another pod's association from the same port to the same peer: that tuple is taken. */
	in.data[PKT_IP_OFF + 15] = 6; /* 10.0.1.6 */
	pkt_fix_ip_csum(&in);
	if (ASSERT_OK(fixture_set_endpoint(&f.pod, TEST_IP(10, 0, 1, 6), 77, test_client_mac,
					   test_gateway_mac),
		      "second pod") &&
	    ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run second pod")) {
		ASSERT_EQ(verdict, TC_ACT_SHOT, "second association dropped");
		ASSERT_EQ(fixture_drop(&f.pod, DROP_NAT_NO_PORT), 1, "drops: no free SNAT port");
	}
cleanup:
	masq_close(&f);
}

/* The cluster CIDR, the service CIDR, a listed CIDR, the node itself, another device: untouched. */
void test_masq_untouched_destinations(void)
{
	const struct {
		__be32 daddr;
		const char *what;
	} cases[] = {
	    {TEST_OTHER_IP, "a pod address (cluster CIDR)"},
	    {MASQ_SERVICE_IP, "the service CIDR"},
	    {MASQ_LISTED, "a --non-masquerade-cidr"},
	    {MASQ_NODE_IP, "the node's own address"},
	    {MASQ_ELSEWHERE, "a network routed out of another device"},
	};
	struct masq_fixture f;
	struct pkt in;

	if (!masq_setup(&f))
		goto cleanup;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_spec spec = masq_pod_spec(IPPROTO_TCP, cases[i].daddr, htons(80));

		if (ASSERT_OK(pkt_build(&in, &spec), "build SYN"))
			fixture_expect_untouched(&f.pod, &in, TC_ACT_OK, cases[i].what);
	}
	ASSERT_EQ(fixture_stat(&f.pod, STAT_EGRESS_SNAT), 0, "nothing masqueraded");

	/* A TCP packet that opens nothing (no SYN): not a new connection of the pod's. */
	{
		struct pkt_spec spec = masq_pod_spec(IPPROTO_TCP, MASQ_OUTSIDE, htons(80));

		spec.tcp_flags = PKT_TCP_ACK;
		if (ASSERT_OK(pkt_build(&in, &spec), "build ACK"))
			fixture_expect_untouched(&f.pod, &in, TC_ACT_OK, "an ACK of no flow");
	}
cleanup:
	masq_close(&f);
}

/*
 * Another node's address is outside the cluster CIDR: a pod's own flow to it (its kubelet, a
 * NodePort there) leaves with this node's address, as the underlay knows only node addresses.
 * What that node opens to the pod with its own address (tc_node tracks it, masquerade being on)
 * is answered with the pod's address: the answer meets its conntrack entry first.
 */
void test_masq_other_node(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_TCP, MASQ_OTHER_NODE, htons(10250)), back;
	struct tunnel4_key node_key = {.prefix_len = 32, .address = MASQ_OTHER_NODE};
	struct tunnel4_value node = {.node_address = MASQ_OTHER_NODE, .flags = TUNNEL4_F_NODE};
	struct masq_fixture f;
	struct pkt in, out, delivered;
	int verdict;

	if (!masq_setup(&f) ||
	    !ASSERT_OK(fixture_map_update(f.pod.skel->maps.tunnel4, &node_key, &node),
		       "another node in tunnel4"))
		goto cleanup;
	if (!masq_expect_out(&f, &spec, &out, "SYN to another node"))
		goto cleanup;
	back = masq_reply_spec(&out, IPPROTO_TCP, PKT_TCP_SYN | PKT_TCP_ACK);
	if (masq_expect_in(&f, &back, &delivered, "its SYN-ACK"))
		ASSERT_PORT_EQ(pkt_l4_dport(&delivered), TEST_CLIENT_PORT, "into the pod's port");

	/* The other node's own connection to the pod, in from the uplink, then the pod's answer. */
	back = (struct pkt_spec){0};
	memcpy(back.src_mac, router_mac, 6);
	memcpy(back.dst_mac, uplink_mac, 6);
	back.saddr = MASQ_OTHER_NODE;
	back.daddr = TEST_CLIENT_IP;
	back.sport = htons(45000);
	back.dport = htons(8080);
	back.proto = IPPROTO_TCP;
	back.tcp_flags = PKT_TCP_SYN;
	if (!ASSERT_OK(pkt_build(&in, &back), "build the node's SYN") ||
	    !ASSERT_OK(masq_run_node(&f, &in, &delivered, &verdict), "the node's SYN"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "the node's SYN into the pod");
	spec = masq_pod_spec(IPPROTO_TCP, MASQ_OTHER_NODE, htons(45000));
	spec.sport = htons(8080);
	spec.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
	if (ASSERT_OK(pkt_build(&in, &spec), "build the pod's SYN-ACK") &&
	    ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "the pod's SYN-ACK"))
		ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_CLIENT_IP,
			     "the answer keeps the pod's address");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_EGRESS_SNAT), 1, "one flow masqueraded");
cleanup:
	masq_close(&f);
}

/*
 * A Service whose backend is out of the cluster (the API server behind `kubernetes`): the pod's
 * SYN to the VIP leaves translated to the backend and masqueraded to the node's address, and
 * the backend's SYN-ACK, in from the uplink, reaches the pod from the VIP.
 */
void test_masq_service_backend_outside(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_TCP, TEST_VIP, TEST_VIP_PORT), back;
	struct masq_fixture f;
	struct pkt out, delivered;

	if (!masq_setup(&f) ||
	    !ASSERT_OK(fixture_set_backend(&f.pod, TEST_BACKEND_A_ID, MASQ_OUTSIDE, htons(6443),
					   IPPROTO_TCP),
		       "backend A out of the cluster") ||
	    !masq_expect_out(&f, &spec, &out, "SYN to the VIP"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), MASQ_OUTSIDE, "ip.daddr is the backend");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), htons(6443), "tcp.dest is the backend's port");
	ASSERT_TRUE(masq_port_in_range(pkt_l4_sport(&out)), "tcp.source in the SNAT range");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_SVC_NEW), 1, "counted as a new service flow");
	back = masq_reply_spec(&out, IPPROTO_TCP, PKT_TCP_SYN | PKT_TCP_ACK);
	if (masq_expect_in(&f, &back, &delivered, "the backend's SYN-ACK")) {
		ASSERT_IP_EQ(pkt_ip_saddr(&delivered), TEST_VIP, "the answer comes from the VIP");
		ASSERT_PORT_EQ(pkt_l4_sport(&delivered), TEST_VIP_PORT, "from the VIP's port");
		ASSERT_PORT_EQ(pkt_l4_dport(&delivered), TEST_CLIENT_PORT, "to the pod's port");
	}
	/* A backend in the cluster CIDR is reached with the pod's own address, as before. */
	if (ASSERT_OK(fixture_set_backend(&f.pod, TEST_BACKEND_A_ID, TEST_BACKEND_A,
					  TEST_BACKEND_PORT, IPPROTO_TCP),
		      "backend A back in the cluster")) {
		int verdict;
		struct pkt in;

		spec.sport = htons(40100);
		if (ASSERT_OK(pkt_build(&in, &spec), "build a second SYN") &&
		    ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "second SYN"))
			ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_CLIENT_IP, "keeps the pod's address");
	}
cleanup:
	masq_close(&f);
}

/* The same program with masquerade off (masq_ifindex 0): the outside is untouched too. */
void test_masq_off(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_TCP, MASQ_OUTSIDE, htons(80));
	struct fixture f = {0};
	struct pkt in;

	if (!fixture_setup(&f, IPPROTO_TCP) || !ASSERT_OK(pkt_build(&in, &spec), "build SYN"))
		goto cleanup;
	fixture_expect_untouched(&f, &in, TC_ACT_OK, "masquerade off");
cleanup:
	fixture_close(&f);
}

/* Every port of the range held for this destination: a counted drop, nothing left behind. */
void test_masq_port_exhaustion(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_TCP, MASQ_OUTSIDE, htons(80));
	struct ct_entry held = {0};
	struct ct4_key key = {0};
	struct masq_fixture f;
	struct pkt in, out;
	int verdict, count;

	if (!masq_setup(&f) || !ASSERT_OK(fixture_set_clock(&f.pod, 1000000000ull), "clock"))
		goto cleanup;
	/* Live reply entries (claims) of other flows on every port, as NodePort flows would. */
	held.expires_ns = 1000000000ull * 3600;
	held.flags = CT_F_REPLY | CT_F_SNAT;
	held.confirmed = 1;
	key.saddr = MASQ_OUTSIDE;
	key.daddr = MASQ_NODE_IP;
	key.sport = htons(80);
	key.proto = IPPROTO_TCP;
	for (uint32_t port = NAT_PORT_MIN_DEFAULT; port <= NAT_PORT_MAX_DEFAULT; port++) {
		key.dport = htons((uint16_t)port);
		if (!ASSERT_OK(bpf_map_update_elem(bpf_map__fd(f.pod.skel->maps.ct4), &key, &held,
						   BPF_NOEXIST)
				   ? -errno
				   : 0,
			       "hold a port"))
			goto cleanup;
	}
	count = fixture_ct_count(&f.pod);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "SYN dropped");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_NAT_NO_PORT), 1, "drops: no free SNAT port");
	ASSERT_EQ(fixture_ct_count(&f.pod), count, "no conntrack entry of the flow");

	/* Another destination port is another tuple: its ports are free. */
	spec.dport = htons(443);
	if (ASSERT_OK(pkt_build(&in, &spec), "build SYN to 443") &&
	    ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run 443"))
		ASSERT_EQ(verdict, TC_ACT_REDIRECT, "SYN to another port masqueraded");
cleanup:
	masq_close(&f);
}

/* No node address to masquerade to, a protocol it cannot translate: counted drops. */
void test_masq_drops(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_TCP, MASQ_OUTSIDE, htons(80));
	struct masq_fixture f;
	struct pkt in, out;
	int verdict;

	if (!masq_setup_with(&f, false) || !ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "SYN without a node address dropped");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_NAT_NO_ADDRESS), 1, "drops: no node address");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "no conntrack entry");

	spec = masq_pod_spec(47 /* GRE */, MASQ_OUTSIDE, 0);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build GRE") ||
	    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run GRE"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "GRE out of the cluster dropped");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_UNSUPPORTED), 1, "drops: unsupported protocol");
cleanup:
	masq_close(&f);
}

/*
 * A pod cannot send to the VXLAN port from its node's address: out of the cluster (masquerade
 * would give it the node's address) nor to another node's address, where tc_tunnel_ingress would
 * believe its VNI. Another UDP port to that node, and the outside, still work.
 */
void test_masq_tunnel_port_closed(void)
{
	struct tunnel4_key node_key = {.prefix_len = 32, .address = MASQ_OTHER_NODE};
	struct tunnel4_value node = {.node_address = MASQ_OTHER_NODE, .flags = TUNNEL4_F_NODE};
	static const struct {
		__be32 daddr;
		uint16_t dport;
		bool is_dropped;
		const char *what;
	} cases[] = {
	    {MASQ_OUTSIDE, TUNNEL_VXLAN_PORT, true, "to the outside's VXLAN port"},
	    {MASQ_OTHER_NODE, TUNNEL_VXLAN_PORT, true, "to another node's VXLAN port"},
	    {MASQ_OTHER_NODE, 53, false, "to another node's port 53"},
	    {MASQ_OUTSIDE, 53, false, "to the outside's port 53"},
	};
	struct masq_fixture f;
	struct pkt_spec spec;
	struct pkt in, out;
	uint64_t drops = 0;
	int verdict;

	if (!masq_setup(&f) ||
	    !ASSERT_OK(fixture_map_update(f.pod.skel->maps.tunnel4, &node_key, &node),
		       "another node in tunnel4"))
		goto cleanup;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		spec = masq_pod_spec(IPPROTO_UDP, cases[i].daddr, htons(cases[i].dport));
		if (!ASSERT_OK(pkt_build(&in, &spec), cases[i].what) ||
		    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), cases[i].what))
			goto cleanup;
		drops += cases[i].is_dropped;
		ASSERT_EQ(verdict == TC_ACT_SHOT, cases[i].is_dropped, cases[i].what);
		ASSERT_EQ(fixture_drop(&f.pod, DROP_TUNNEL_PORT), drops, "drops: tunnel port");
	}
	ASSERT_EQ(fixture_stat(&f.pod, STAT_EGRESS_SNAT), 2,
		  "only the two datagrams to port 53 masqueraded");
cleanup:
	masq_close(&f);
}

/*
 * An ICMP error about a masqueraded flow (a router on the path: fragmentation needed) arrives
 * on the uplink addressed to the node; tc_node translates it (icmp4_handle) into the pod.
 */
void test_masq_icmp_error_to_pod(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_UDP, MASQ_OUTSIDE, htons(53)), error;
	const size_t inner = PKT_L4_OFF + 8; /* the quoted IPv4 header */
	struct masq_fixture f;
	struct pkt out, delivered;

	if (!masq_setup(&f) || !masq_expect_out(&f, &spec, &out, "datagram"))
		goto cleanup;
	error = masq_icmp_error_spec(&out, 3 /* unreachable */, 4 /* fragmentation needed */);
	if (!masq_expect_in(&f, &error, &delivered, "ICMP error"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_saddr(&delivered), MASQ_ROUTER_IP, "ip.saddr (the router) kept");
	ASSERT_IP_EQ(pkt_get32(&delivered, inner + 12), TEST_CLIENT_IP,
		     "icmp.inner.ip.saddr is the pod");
	ASSERT_PORT_EQ(pkt_get16(&delivered, inner + 20), TEST_CLIENT_PORT,
		       "icmp.inner sport is the pod's");
	ASSERT_IP_EQ(pkt_get32(&delivered, inner + 16), MASQ_OUTSIDE, "icmp.inner.ip.daddr kept");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_ICMP_XLATE), 1, "stats icmp_translated");
cleanup:
	masq_close(&f);
}

/* A router's time exceeded about a masqueraded echo (traceroute -I): into the pod, its id back. */
void test_masq_icmp_error_about_echo(void)
{
	struct pkt_spec spec = masq_pod_spec(IPPROTO_ICMP, MASQ_OUTSIDE, 0), error;
	const size_t inner = PKT_L4_OFF + 8; /* the quoted IPv4 header */
	const __be16 id = htons(0x4321);
	struct masq_fixture f;
	struct pkt out, delivered;

	spec.icmp_type = 8; /* echo request */
	spec.sport = id;
	spec.dport = htons(1);
	if (!masq_setup(&f) || !masq_expect_out(&f, &spec, &out, "echo request"))
		goto cleanup;
	error = masq_icmp_error_spec(&out, 11 /* time exceeded */, 0);
	if (!masq_expect_in(&f, &error, &delivered, "ICMP error"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_get32(&delivered, inner + 12), TEST_CLIENT_IP,
		     "icmp.inner.ip.saddr is the pod");
	ASSERT_PORT_EQ(pkt_get16(&delivered, inner + 20 + 4), id,
		       "icmp.inner echo id is the pod's");
cleanup:
	masq_close(&f);
}

/*
 * NetworkPolicy judges before the SNAT, with the pod's identity and the real destination: an
 * egress ipBlock of the outside address admits the flow (then masqueraded), and without it the
 * flow is dropped as policy denied egress, leaving no conntrack entry.
 */
void test_masq_policy_before_snat(void)
{
	const uint32_t id_client = 300u, id_outside = 400u;
	struct pkt_spec spec = masq_pod_spec(IPPROTO_TCP, MASQ_OUTSIDE, htons(80));
	struct masq_fixture f;
	struct pkt in, out;
	int verdict;

	if (!masq_setup(&f) || !ASSERT_OK(fixture_policy_enable(&f.pod, true), "enable policy") ||
	    !ASSERT_OK(fixture_policy_address(&f.pod, TEST_CLIENT_IP, 32, id_client,
					      IPCACHE_F_POD | IPCACHE_F_ISOLATED_EGRESS),
		       "client isolated for egress") ||
	    !ASSERT_OK(fixture_policy_address(&f.pod, MASQ_OUTSIDE, 32, id_outside, 0),
		       "ipBlock 203.0.113.7/32") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build SYN"))
		goto cleanup;
	if (!ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run without a rule"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "denied before any SNAT");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_EGRESS), 1, "drops policy denied egress");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "no conntrack entry, no port claimed");

	if (!ASSERT_OK(fixture_policy_rule(&f.pod, id_client, id_outside, POLICY_DIR_EGRESS,
					   IPPROTO_TCP, 0, 0),
		       "egress rule to the ipBlock") ||
	    !masq_expect_out(&f, &spec, &out, "SYN admitted by the rule"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f.pod, STAT_EGRESS_SNAT), 1, "stats egress_new_snat");
cleanup:
	masq_close(&f);
}
