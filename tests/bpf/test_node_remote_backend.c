// SPDX-License-Identifier: Apache-2.0
/*
 * A flow from outside the node (tc_node) masqueraded to a backend on another node: it leaves by
 * the node's route to that node's pods (the tunnel device), not the uplink it came in on; a
 * packet of it too big for that device with DF is answered with ICMP fragmentation needed and
 * the device's MTU (the stack's MTU check, which bpf_redirect_neigh skips), one without DF goes
 * on; and the later fragments of a datagram to the node's address whose first went on to the
 * node's stack follow it there (another node's VXLAN datagram fragmented on the underlay).
 *
 * The route lookup and the MTU check ask the kernel, so each test runs in a network namespace
 * of its own (left again at the end): a veth as the uplink with the node's address and a
 * default route through it, and a veth with the tunnel's MTU (1450) holding the route to node
 * B's pod CIDR. Nothing is sent: BPF_PROG_TEST_RUN only returns the program's verdict.
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

#include "maps/node.h"
#include "skel/tc_node.skel.h"
#include "skel/tc_pod.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define RB_NODE_IP    TEST_IP(192, 0, 2, 1)
#define RB_CLIENT     TEST_IP(203, 0, 113, 7)
#define RB_NODE_PORT  htons(30080)
#define RB_SVC_ID     31u
#define RB_BACKEND    TEST_BACKEND_B /* 10.0.2.20: in node B's pod CIDR, behind the tunnel */
#define RB_TUNNEL     "slrb1"
#define RB_TUNNEL_MTU 1450
#define RB_FULL_SIZE  1460 /* TCP payload of a 1500-byte IPv4 packet (MSS 1460) */

struct rb_fixture {
	struct fixture pod;
	struct tc_node *node;
	int node_fd;
	int home_netns;
	unsigned int tunnel_ifindex;
};

/* The uplink and the tunnel's stand-in (see the file comment). */
#define RB_NETNS_SETUP                                                                             \
	"ip link set lo up && "                                                                    \
	"ip link add slrb0 type veth peer name slrb0p && "                                         \
	"ip link set slrb0p up && ip addr add 192.0.2.1/24 dev slrb0 && "                          \
	"ip link set slrb0 up && ip route add default via 192.0.2.254 && "                         \
	"ip link add " RB_TUNNEL " mtu 1450 type veth peer name slrb1p && "                        \
	"ip link set slrb1p up && ip link set " RB_TUNNEL " up && "                                \
	"ip route add 10.0.2.0/24 dev " RB_TUNNEL " && "                                           \
	"echo 1 > /proc/sys/net/ipv4/ip_forward"

/* The node's address, and a NodePort (Cluster: SNAT) for PROTO whose one backend is B. */
static bool rb_seed(struct rb_fixture *f, uint8_t proto)
{
	struct node4_addr self = {.snat = RB_NODE_IP, .flags = NODE4_F_ADDRESS};
	struct node4_addr snat = {.snat = RB_NODE_IP};
	__be32 node_ip = RB_NODE_IP, any = 0;
	uint32_t backend_id = TEST_BACKEND_B_ID;
	struct lb4_service value;
	struct lb4_slot_key slot;
	struct lb4_key key;
	struct lb4_vip vip = {.frontends = 1};

	memset(&key, 0, sizeof(key));
	memset(&value, 0, sizeof(value));
	memset(&slot, 0, sizeof(slot));
	key.port = RB_NODE_PORT;
	key.proto = proto;
	key.scope = LB4_SCOPE_EXTERNAL;
	value.svc_id = RB_SVC_ID;
	value.count = 1;
	value.flags = LB_SVC_F_NODE_PORT | LB_SVC_F_SNAT;
	slot.svc_id = RB_SVC_ID;
	return ASSERT_OK(fixture_map_update(f->pod.skel->maps.node4_addrs, &node_ip, &self),
			 "node address") &&
	       ASSERT_OK(fixture_map_update(f->pod.skel->maps.node4_addrs, &any, &snat),
			 "SNAT address") &&
	       ASSERT_OK(fixture_map_update(f->pod.skel->maps.lb4_vips, &node_ip, &vip),
			 "the node address is a frontend's") &&
	       ASSERT_OK(fixture_set_backend(&f->pod, TEST_BACKEND_B_ID, RB_BACKEND,
					     TEST_BACKEND_PORT, proto),
			 "backend B") &&
	       ASSERT_OK(fixture_map_update(f->pod.skel->maps.lb4_slots, &slot, &backend_id),
			 "slot") &&
	       ASSERT_OK(fixture_map_update(f->pod.skel->maps.lb4_svc, &key, &value), "NodePort") &&
	       ASSERT_OK(fixture_set_revnat(&f->pod, RB_SVC_ID, 0, RB_NODE_PORT, proto), "revnat");
}

static bool rb_setup(struct rb_fixture *f, uint8_t proto)
{
	memset(f, 0, sizeof(*f));
	f->node_fd = -1;
	f->home_netns = -1;
	if (!fixture_netns_enter(&f->home_netns, RB_NETNS_SETUP))
		return false;
	f->tunnel_ifindex = if_nametoindex(RB_TUNNEL);
	if (!ASSERT_TRUE(f->tunnel_ifindex != 0, "tunnel ifindex") ||
	    !fixture_setup(&f->pod, proto))
		return false;
	f->node = tc_node__open();
	if (!ASSERT_TRUE(f->node != NULL, "open tc_node") ||
	    !ASSERT_OK(fixture_share_maps(&f->pod, f->node->obj), "share maps with tc_pod") ||
	    !ASSERT_OK(tc_node__load(f->node), "load tc_node"))
		return false;
	f->node_fd = bpf_program__fd(f->node->progs.tc_node_ingress);
	return rb_seed(f, proto);
}

static void rb_close(struct rb_fixture *f)
{
	tc_node__destroy(f->node);
	fixture_close(&f->pod);
	fixture_netns_leave(&f->home_netns);
}

static int rb_run(struct rb_fixture *f, const struct pkt *in, struct pkt *out, int *verdict)
{
	int saved = f->pod.prog_fd, err;

	f->pod.prog_fd = f->node_fd;
	err = fixture_run(&f->pod, in, out, verdict);
	f->pod.prog_fd = saved;
	return err;
}

/* The outside client's PROTO packet to the NodePort, from client port SPORT, PAYLOAD_LEN bytes. */
static struct pkt_spec rb_spec(uint8_t proto, __be16 sport, uint8_t tcp_flags, size_t payload_len)
{
	static const uint8_t filler[RB_FULL_SIZE + 12];
	struct pkt_spec spec = fixture_client_spec(proto);

	spec.saddr = RB_CLIENT;
	spec.daddr = RB_NODE_IP;
	spec.sport = sport;
	spec.dport = RB_NODE_PORT;
	spec.tcp_flags = tcp_flags;
	spec.payload = filler;
	spec.payload_len = payload_len;
	return spec;
}

/* SPEC through tc_node translated to backend B and sent on (bpf_redirect_neigh). */
static bool rb_expect_forwarded(struct rb_fixture *f, const struct pkt *in, const char *what)
{
	struct pkt out;
	char name[128];
	int verdict;

	snprintf(name, sizeof(name), "%s: test run", what);
	if (!ASSERT_OK(rb_run(f, in, &out, &verdict), name))
		return false;
	snprintf(name, sizeof(name), "%s: verdict (bpf_redirect_neigh)", what);
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, name);
	snprintf(name, sizeof(name), "%s: ip.daddr is backend B", what);
	ASSERT_IP_EQ(pkt_ip_daddr(&out), RB_BACKEND, name);
	snprintf(name, sizeof(name), "%s: ip.saddr is the node's", what);
	return ASSERT_IP_EQ(pkt_ip_saddr(&out), RB_NODE_IP, name);
}

/*
 * IN answered with ICMP fragmentation needed, the tunnel's MTU, from the address it was sent to,
 * quoting IN as it arrived, back out of the device it came in on.
 */
static void rb_expect_frag_needed(struct rb_fixture *f, const struct pkt *in, const char *what)
{
	struct pkt out;
	char name[256], why[96];
	int verdict;

	snprintf(name, sizeof(name), "%s: test run", what);
	if (!ASSERT_OK(rb_run(f, in, &out, &verdict), name))
		return;
	snprintf(name, sizeof(name), "%s: verdict (bpf_redirect back out)", what);
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, name);
	snprintf(name, sizeof(name), "%s: ICMP", what);
	if (!ASSERT_EQ(pkt_ip_proto(&out), IPPROTO_ICMP, name))
		return;
	snprintf(name, sizeof(name), "%s: type 3 code 4", what);
	ASSERT_EQ(pkt_get16(&out, PKT_L4_OFF), htons(3 << 8 | 4), name);
	snprintf(name, sizeof(name), "%s: next-hop MTU", what);
	ASSERT_EQ(ntohs(pkt_get16(&out, PKT_L4_OFF + 6)), RB_TUNNEL_MTU, name);
	snprintf(name, sizeof(name), "%s: from the node address called", what);
	ASSERT_IP_EQ(pkt_ip_saddr(&out), RB_NODE_IP, name);
	snprintf(name, sizeof(name), "%s: to the client", what);
	ASSERT_IP_EQ(pkt_ip_daddr(&out), RB_CLIENT, name);
	snprintf(name, sizeof(name), "%s: quote is the packet as sent", what);
	ASSERT_EQ(memcmp(out.data + PKT_L4_OFF + 8, in->data + PKT_IP_OFF, 28), 0, name);
	snprintf(name, sizeof(name), "%s: checksums (%s)", what, why);
	ASSERT_TRUE(pkt_verify(out.data, out.len, why, sizeof(why)), name);
}

/* The NodePort flow to a backend on another node leaves by the route to it: the tunnel. */
void test_node_remote_backend_by_route(void)
{
	struct pkt_spec spec = rb_spec(IPPROTO_TCP, TEST_CLIENT_PORT, 0, 0);
	struct rb_fixture f;
	struct ct_entry entry;
	struct pkt in;

	if (!rb_setup(&f, IPPROTO_TCP) || !ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !rb_expect_forwarded(&f, &in, "SYN"))
		goto cleanup;
	if (ASSERT_OK(fixture_ct_lookup(&f.pod, RB_CLIENT, RB_NODE_IP, TEST_CLIENT_PORT,
					RB_NODE_PORT, IPPROTO_TCP, &entry),
		      "forward entry")) {
		ASSERT_EQ(entry.flags & (CT_F_SNAT | CT_F_NEIGH), CT_F_SNAT | CT_F_NEIGH,
			  "forward flags (SNAT, out by the neighbour table)");
		ASSERT_EQ(entry.ifindex, f.tunnel_ifindex,
			  "forward leaves by the tunnel (the route to B's pods), not the uplink");
	}
	ASSERT_EQ(fixture_stat(&f.pod, STAT_EXT_SNAT), 1, "stats external_new_snat");
cleanup:
	rb_close(&f);
}

/*
 * Full-size packets for the tunnel: with DF, ICMP fragmentation needed with its MTU, for an
 * established flow and for a flow's first packet; one that fits, and one without DF, go on.
 */
void test_node_remote_backend_frag_needed(void)
{
	struct pkt_spec spec = rb_spec(IPPROTO_TCP, TEST_CLIENT_PORT, 0, 0);
	struct rb_fixture f;
	struct pkt in;

	if (!rb_setup(&f, IPPROTO_TCP) || !ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !rb_expect_forwarded(&f, &in, "SYN"))
		goto cleanup;

	spec = rb_spec(IPPROTO_TCP, TEST_CLIENT_PORT, PKT_TCP_ACK, RB_FULL_SIZE);
	if (ASSERT_OK(pkt_build(&in, &spec), "build a 1500-byte segment"))
		rb_expect_frag_needed(&f, &in, "1500 bytes, DF");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_FRAG_NEEDED), 1, "stats icmp_frag_needed");

	spec.payload_len = RB_TUNNEL_MTU - 40;
	if (ASSERT_OK(pkt_build(&in, &spec), "build a 1450-byte segment"))
		rb_expect_forwarded(&f, &in, "1450 bytes, DF");

	spec.payload_len = RB_FULL_SIZE;
	if (ASSERT_OK(pkt_build(&in, &spec), "build a 1500-byte segment without DF")) {
		in.data[PKT_IP_OFF + 6] &= (uint8_t)~0x40;
		pkt_fix_ip_csum(&in);
		rb_expect_forwarded(&f, &in, "1500 bytes, no DF (the tunnel fragments)");
	}

	spec = rb_spec(IPPROTO_TCP, htons(40001), 0, RB_FULL_SIZE);
	if (ASSERT_OK(pkt_build(&in, &spec), "build a 1500-byte first packet"))
		rb_expect_frag_needed(&f, &in, "first packet, 1500 bytes, DF");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_FRAG_NEEDED), 2, "stats icmp_frag_needed");
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "no drop");
cleanup:
	rb_close(&f);
}

/*
 * A datagram to the node's address on a port no Service serves, in two fragments (another
 * node's VXLAN datagram, fragmented on the underlay): the first goes on to the stack, and the
 * later one follows it instead of being dropped as a fragment to a frontend's address.
 */
void test_node_fragment_to_node_address(void)
{
	struct pkt_spec spec = rb_spec(IPPROTO_UDP, htons(40002), 0, 1200);
	struct pkt whole, first, later, out;
	struct rb_fixture f;
	int verdict;

	spec.dport = htons(8472);
	if (!rb_setup(&f, IPPROTO_UDP) || !ASSERT_OK(pkt_build(&whole, &spec), "build datagram") ||
	    !ASSERT_OK(pkt_fragment(&whole, 800, &first, &later), "fragment it"))
		goto cleanup;
	if (ASSERT_OK(rb_run(&f, &first, &out, &verdict), "first fragment: test run"))
		ASSERT_EQ(verdict, TC_ACT_OK, "first fragment: on to the node's stack");
	if (ASSERT_OK(rb_run(&f, &later, &out, &verdict), "later fragment: test run")) {
		ASSERT_EQ(verdict, TC_ACT_OK, "later fragment: follows it");
		ASSERT_EQ(pkt_diff(out.data, out.len, later.data, later.len), -1,
			  "later fragment: untouched");
	}
	ASSERT_EQ(fixture_drop(&f.pod, DROP_FRAGMENT), 0, "drops: fragment to service");
cleanup:
	rb_close(&f);
}
