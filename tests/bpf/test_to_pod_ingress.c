// SPDX-License-Identifier: Apache-2.0
/*
 * tc_to_pod, at the egress of a pod's host veth (issue 13): what the node's stack hands a pod
 * meets the pod's ingress policy. A new flow from an address whose identity no rule admits is
 * dropped and counted; an admitted one passes and is tracked so the pod's replies pass its
 * egress policy; the node's own address always passes; packets of tracked flows pass (a reply
 * of the pod's own flow reverse-translated, an ICMP error about it untouched), never redirected;
 * a packet for another address than the veth's pod is dropped; with no policy in force every
 * packet passes untouched and uncounted. The pod is the fixture's client, on the test device
 * (ifindex TEST_INGRESS_IFINDEX), which is the veth the program runs on.
 */
#include <netinet/in.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "maps/policy.h"
#include "skel/tc_pod.skel.h"
#include "skel/tc_to_pod.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define POD_IP	   TEST_CLIENT_IP
#define POD_PORT   htons(8080)
#define OUTSIDE_IP TEST_IP(203, 0, 113, 7) /* a host beyond the uplink */
#define ALLOWED_IP TEST_IP(203, 0, 113, 8)
#define NODE_IP	   TEST_IP(198, 51, 100, 1)
#define ROUTER_IP  TEST_IP(192, 0, 2, 1)
#define OUTSIDE_ID 500u
#define ALLOWED_ID 501u
#define POD_ID	   300u
#define OUTER_PORT htons(45000)

static const uint8_t node_mac[6] = {0x02, 0x00, 0x00, 0x00, 0xfe, 0x05}; /* the host veth */

struct to_pod_fixture {
	struct fixture pod; /* the maps' owner */
	struct tc_to_pod *to_pod;
	struct fixture view; /* pod's maps, tc_to_pod's program: for fixture_run_on() */
};

static bool to_pod_setup(struct to_pod_fixture *f, uint8_t proto)
{
	memset(f, 0, sizeof(*f));
	if (!fixture_setup(&f->pod, proto))
		return false;
	f->to_pod = tc_to_pod__open();
	if (!ASSERT_TRUE(f->to_pod != NULL, "open tc_to_pod") ||
	    !ASSERT_OK(fixture_share_maps(&f->pod, f->to_pod->obj), "share maps with tc_pod") ||
	    !ASSERT_OK(tc_to_pod__load(f->to_pod), "load tc_to_pod"))
		return false;
	f->view = f->pod;
	f->view.prog_fd = bpf_program__fd(f->to_pod->progs.tc_to_pod);
	return true;
}

/* The pod isolated for ingress (and FLAGS), OUTSIDE_IP and ALLOWED_IP as ipBlock identities. */
static bool to_pod_policy(struct to_pod_fixture *f, uint32_t flags)
{
	return ASSERT_OK(fixture_policy_enable(&f->pod, true), "enable policies") &&
	       ASSERT_OK(fixture_policy_address(&f->pod, POD_IP, 32, POD_ID,
						IPCACHE_F_POD | IPCACHE_F_ISOLATED_INGRESS | flags),
			 "ipcache pod") &&
	       ASSERT_OK(fixture_policy_address(&f->pod, OUTSIDE_IP, 32, OUTSIDE_ID, 0),
			 "ipcache outside") &&
	       ASSERT_OK(fixture_policy_address(&f->pod, ALLOWED_IP, 32, ALLOWED_ID, 0),
			 "ipcache allowed") &&
	       ASSERT_OK(
		   fixture_policy_address(&f->pod, NODE_IP, 32, IDENTITY_HOST, IPCACHE_F_HOST),
		   "ipcache node") &&
	       ASSERT_OK(fixture_policy_rule(&f->pod, POD_ID, ALLOWED_ID, POLICY_DIR_INGRESS,
					     IPPROTO_TCP, 8080, 16),
			 "rule: ALLOWED_IP to the pod's TCP 8080");
}

static void to_pod_close(struct to_pod_fixture *f)
{
	tc_to_pod__destroy(f->to_pod);
	fixture_close(&f->pod);
}

/* SADDR -> the pod's TCP 8080, as the node's stack sends it out of the host veth. */
static struct pkt_spec to_pod_spec(__be32 saddr, uint8_t tcp_flags)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);

	memcpy(spec.src_mac, node_mac, 6);
	memcpy(spec.dst_mac, test_client_mac, 6);
	spec.saddr = saddr;
	spec.daddr = POD_IP;
	spec.sport = OUTER_PORT;
	spec.dport = POD_PORT;
	spec.tcp_flags = tcp_flags;
	return spec;
}

/* Runs SPEC through tc_to_pod on the pod's veth. */
static int to_pod_run(struct to_pod_fixture *f, const struct pkt_spec *spec, struct pkt *in,
		      struct pkt *out, int *verdict)
{
	int err = pkt_build(in, spec);

	return err ? err : fixture_run_on(&f->view, 0, in, out, verdict);
}

void test_to_pod_denied_source_dropped(void)
{
	struct pkt_spec spec = to_pod_spec(OUTSIDE_IP, PKT_TCP_SYN);
	struct to_pod_fixture f;
	struct pkt in, out;
	int verdict;

	if (!to_pod_setup(&f, 0) || !to_pod_policy(&f, 0) ||
	    !ASSERT_OK(to_pod_run(&f, &spec, &in, &out, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict: no rule admits OUTSIDE_ID");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 1, "drops policy ingress");
	ASSERT_EQ(fixture_drop_dir(&f.pod, DROP_POLICY_INGRESS, DROP_DIR_INGRESS), 1,
		  "drops policy ingress, ingress");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "conntrack entries");

	/* An address in no ipcache prefix is the world: no rule admits it either. */
	spec.saddr = TEST_IP(203, 0, 113, 99);
	if (!ASSERT_OK(to_pod_run(&f, &spec, &in, &out, &verdict), "run from the world"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict from the world");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 2, "drops policy ingress (both)");
cleanup:
	to_pod_close(&f);
}

/*
 * An admitted flow passes untouched (not redirected: at egress the packet is already on its way
 * into the pod) and is tracked both ways: its next packets pass by conntrack, and the pod's
 * reply passes tc_pod although the pod's egress admits nothing.
 */
void test_to_pod_allowed_tracked(void)
{
	struct pkt_spec spec = to_pod_spec(ALLOWED_IP, PKT_TCP_SYN), reply;
	struct to_pod_fixture f;
	struct ct_entry entry;
	struct pkt in, out;
	int verdict;

	if (!to_pod_setup(&f, 0) || !to_pod_policy(&f, IPCACHE_F_ISOLATED_EGRESS) ||
	    !ASSERT_OK(to_pod_run(&f, &spec, &in, &out, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict: admitted, goes on into the pod");
	ASSERT_EQ(out.len, in.len, "output length");
	ASSERT_MEM_EQ(out.data, in.data, in.len, "output untouched");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_POLICY_NEW), 1, "stats policy_new");
	if (ASSERT_OK(fixture_ct_lookup(&f.pod, ALLOWED_IP, POD_IP, OUTER_PORT, POD_PORT,
					IPPROTO_TCP, &entry),
		      "forward entry")) {
		ASSERT_EQ(entry.policy, CT_POLICY_ALLOWED, "forward entry verdict");
		ASSERT_EQ(entry.flags & CT_F_DIRECT, CT_F_DIRECT, "forward entry untranslated");
		ASSERT_EQ(entry.ifindex, TEST_INGRESS_IFINDEX, "forward entry: into this pod");
	}
	if (ASSERT_OK(fixture_ct_lookup(&f.pod, POD_IP, ALLOWED_IP, POD_PORT, OUTER_PORT,
					IPPROTO_TCP, &entry),
		      "reply entry"))
		ASSERT_EQ(entry.ifindex, 0, "reply entry: to the node's routing, as it came");

	/* The next packet of the flow: conntrack, no lookup, still not redirected. */
	spec.tcp_flags = PKT_TCP_ACK;
	if (!ASSERT_OK(to_pod_run(&f, &spec, &in, &out, &verdict), "run ACK"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "ACK verdict");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_CT_FORWARD), 1, "stats ct_forward");

	/* The pod answers through tc_pod: its egress admits nothing, the reply entry does. */
	reply = spec;
	memcpy(reply.src_mac, test_client_mac, 6);
	memcpy(reply.dst_mac, test_gateway_mac, 6);
	reply.saddr = POD_IP;
	reply.daddr = ALLOWED_IP;
	reply.sport = POD_PORT;
	reply.dport = OUTER_PORT;
	reply.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
	if (!ASSERT_OK(pkt_build(&in, &reply), "build reply") ||
	    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "run reply through tc_pod"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "reply verdict: to the node's routing");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_CT_REPLY), 1, "stats ct_reply");
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "drops");

	/* The same source on a port no rule admits is a new flow, and denied. */
	spec = to_pod_spec(ALLOWED_IP, PKT_TCP_SYN);
	spec.dport = htons(9090);
	if (!ASSERT_OK(to_pod_run(&f, &spec, &in, &out, &verdict), "run to port 9090"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "port 9090 verdict");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 1, "drops policy ingress");
cleanup:
	to_pod_close(&f);
}

/* The node reaches its pods whatever their policies say (Kubernetes: kubelet probes). */
void test_to_pod_from_node(void)
{
	struct pkt_spec spec = to_pod_spec(NODE_IP, PKT_TCP_SYN);
	struct to_pod_fixture f;
	struct pkt in, out;
	int verdict;

	if (!to_pod_setup(&f, 0) || !to_pod_policy(&f, 0) ||
	    !ASSERT_OK(to_pod_run(&f, &spec, &in, &out, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict from the node");
	ASSERT_MEM_EQ(out.data, in.data, in.len, "output untouched");
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "drops");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "conntrack entries: host flows are not tracked");
cleanup:
	to_pod_close(&f);
}

/*
 * The pod's own flow to a Service whose backend is on another node: the backend's reply comes
 * back through the node's stack (no tc_node), and tc_to_pod translates it back to the VIP
 * though the pod's ingress admits no one; an ICMP error from a router about the flow passes too.
 */
/*
 * The pod's TCP request to the VIP through tc_pod, translated to a backend on another node
 * (*REQUEST, as it left), then the backend's reply as the stack hands it to the pod through
 * tc_to_pod: it must pass, not redirected, with the VIP as its source. False when a step failed.
 */
static bool to_pod_service_reply(struct to_pod_fixture *f, struct pkt *request)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct pkt in, out;
	int verdict;

	if (!ASSERT_OK(pkt_build(&in, &spec), "build request") ||
	    !ASSERT_OK(fixture_run(&f->pod, &in, request, &verdict), "run request through tc_pod"))
		return false;
	ASSERT_EQ(verdict, TC_ACT_OK, "request: routed to the backend's node");
	spec = fixture_reply_spec(IPPROTO_TCP);
	memcpy(spec.src_mac, node_mac, 6);
	memcpy(spec.dst_mac, test_client_mac, 6);
	if (!ASSERT_OK(to_pod_run(f, &spec, &in, &out, &verdict), "run reply"))
		return false;
	ASSERT_EQ(verdict, TC_ACT_OK, "reply verdict: on into the pod, not redirected");
	ASSERT_EQ(pkt_ip_saddr(&out), TEST_VIP, "reply source: the VIP");
	ASSERT_EQ(pkt_get16(&out, PKT_L4_OFF), TEST_VIP_PORT, "reply source port: the VIP's");
	return true;
}

void test_to_pod_tracked_reply_translated(void)
{
	struct pkt_spec other = to_pod_spec(POD_IP, PKT_TCP_SYN), error;
	struct to_pod_fixture f;
	struct pkt in, out, quoted, other_pkt;
	int verdict;

	if (!to_pod_setup(&f, IPPROTO_TCP) || !to_pod_policy(&f, 0) ||
	    !to_pod_service_reply(&f, &quoted))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f.pod, STAT_CT_REPLY), 1, "stats ct_reply");

	/* A router's "fragmentation needed" about the request as it left: translated back. */
	memset(&error, 0, sizeof(error));
	memcpy(error.src_mac, node_mac, 6);
	memcpy(error.dst_mac, test_client_mac, 6);
	error.saddr = ROUTER_IP;
	error.daddr = POD_IP;
	error.proto = IPPROTO_ICMP;
	error.icmp_type = 3;
	error.icmp_code = 4;
	error.payload = quoted.data + PKT_IP_OFF;
	error.payload_len = 28;
	if (!ASSERT_OK(to_pod_run(&f, &error, &in, &out, &verdict), "run ICMP error"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "ICMP error about the flow passes");
	ASSERT_EQ(pkt_get32(&out, PKT_L4_OFF + 8 + 16), TEST_VIP,
		  "quoted destination: the VIP the pod sent to");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_ICMP_XLATE), 1, "stats icmp_translated");

	/* The same error about no flow of the pod's is judged: the router is the world. */
	other.daddr = TEST_IP(192, 0, 2, 77);
	if (!ASSERT_OK(pkt_build(&other_pkt, &other), "build quoted"))
		goto cleanup;
	error.payload = other_pkt.data + PKT_IP_OFF;
	if (!ASSERT_OK(to_pod_run(&f, &error, &in, &out, &verdict), "run untracked ICMP error"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "ICMP error about no tracked flow: judged, denied");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 1, "drops policy ingress");
cleanup:
	to_pod_close(&f);
}

/*
 * The veth's pod is the only destination: a packet the stack routes here for another address
 * (another pod's, behind another veth) is dropped; an ARP from the node passes.
 */
void test_to_pod_other_destination_dropped(void)
{
	static const uint8_t arp[28] = {0,   1,	 8,   0, 6, 4, 0, 1, 2, 0, 0,  0, 0xfe, 5,
					198, 51, 100, 1, 0, 0, 0, 0, 0, 0, 10, 0, 1,	5};
	struct pkt_spec spec = to_pod_spec(NODE_IP, PKT_TCP_SYN);
	struct to_pod_fixture f;
	struct pkt in, out;
	int verdict;

	spec.daddr = TEST_BACKEND_A;
	if (!to_pod_setup(&f, 0) || !to_pod_policy(&f, 0) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f.pod), "endpoint A") ||
	    !ASSERT_OK(to_pod_run(&f, &spec, &in, &out, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict: not this veth's pod");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 1, "drops policy ingress");

	if (!ASSERT_OK(pkt_build_raw(&in, test_client_mac, node_mac, 0x0806, arp, sizeof(arp)),
		       "build ARP") ||
	    !ASSERT_OK(fixture_run_on(&f.view, 0, &in, &out, &verdict), "run ARP"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "ARP from the node passes");
	ASSERT_EQ(fixture_drops_total(&f.pod), 1, "drops (the first packet only)");
cleanup:
	to_pod_close(&f);
}

/* A datagram whose first fragment was denied is denied whole (frag.h). */
void test_to_pod_fragments_follow_first(void)
{
	static const uint8_t payload[64] = {1};
	struct pkt_spec spec = to_pod_spec(OUTSIDE_IP, 0);
	struct to_pod_fixture f;
	struct pkt whole, first, later, out;
	int verdict;

	spec.proto = IPPROTO_UDP;
	spec.payload = payload;
	spec.payload_len = sizeof(payload);
	if (!to_pod_setup(&f, 0) || !to_pod_policy(&f, 0) ||
	    !ASSERT_OK(pkt_build(&whole, &spec), "build") ||
	    !ASSERT_OK(pkt_fragment(&whole, 32, &first, &later), "fragment") ||
	    !ASSERT_OK(fixture_run_on(&f.view, 0, &first, &out, &verdict), "run first"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "first fragment denied");
	if (!ASSERT_OK(fixture_run_on(&f.view, 0, &later, &out, &verdict), "run later"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "later fragment follows it");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), 2, "drops policy ingress");
cleanup:
	to_pod_close(&f);
}

/* No policy in force: every packet passes untouched, uncounted, untracked. */
void test_to_pod_policies_off(void)
{
	struct pkt_spec spec = to_pod_spec(OUTSIDE_IP, PKT_TCP_SYN);
	struct to_pod_fixture f;
	struct pkt in, out;
	int verdict;

	if (!to_pod_setup(&f, 0) || !to_pod_policy(&f, 0) ||
	    !ASSERT_OK(fixture_policy_enable(&f.pod, false), "disable policies") ||
	    !ASSERT_OK(to_pod_run(&f, &spec, &in, &out, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict");
	ASSERT_EQ(out.len, in.len, "output length");
	ASSERT_MEM_EQ(out.data, in.data, in.len, "output untouched");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "conntrack entries");
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "drops");
	ASSERT_EQ(fixture_stats_total(&f.pod), 0, "stats");
cleanup:
	to_pod_close(&f);
}

/*
 * Without any policy the reply of a pod's Service flow to a backend on another node, routed
 * back through the stack (--routing native, no tc_node), is still translated back to the VIP.
 */
void test_to_pod_policies_off_reply_translated(void)
{
	struct to_pod_fixture f;
	struct pkt request;

	if (!to_pod_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_policy_enable(&f.pod, false), "policies off") ||
	    !to_pod_service_reply(&f, &request))
		goto cleanup;
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "drops");
cleanup:
	to_pod_close(&f);
}
