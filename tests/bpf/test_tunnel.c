// SPDX-License-Identifier: Apache-2.0
/*
 * Between nodes through the VXLAN tunnel (bpf/tc_tunnel.bpf.c). Encapsulation: a packet for
 * another node's pod gets that node as its remote and the source pod's identity as its VNI (the
 * node's own address and unknown sources carry none); a destination in no node's pod CIDR, and
 * a frame that is not IPv4, are dropped and counted. Decapsulation: a packet from an address
 * that is no known node, or whose inner source is neither that node nor in its pod CIDR, is
 * dropped and counted; a new flow to a pod here is judged by the identity the VNI carries (not
 * the ipcache's) and delivered into the pod with its MACs; a reply of a service flow translated
 * here comes back reverse-translated into the client.
 *
 * BPF_PROG_TEST_RUN gives no tunnel key, so tests/bpf/tunnel_key.bpf.c sets one and tail-calls
 * into tc_tunnel_ingress, and reads back the one tc_tunnel_egress's tunnel_encap sets.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/bpf.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "maps/policy.h"
#include "maps/tunnel.h"
#include "skel/tc_pod.skel.h"
#include "skel/tc_tunnel.skel.h"
#include "skel/tunnel_key.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

/*
 * This node holds the fixture's pods (10.0.1.0/24: the client, backend A). Node B holds
 * 10.0.2.0/24 (backend B, TEST_BACKEND_B, among them), node C 10.0.3.0/24.
 */
#define TUN_NODE_SELF  TEST_IP(192, 0, 2, 1)
#define TUN_NODE_B     TEST_IP(198, 51, 100, 2)
#define TUN_NODE_C     TEST_IP(198, 51, 100, 3)
#define TUN_STRANGER   TEST_IP(198, 51, 100, 99) /* no node */
#define TUN_POD_B      TEST_BACKEND_B		 /* 10.0.2.20, a pod on node B */
#define TUN_POD_C      TEST_BACKEND_C		 /* 10.0.3.30, a pod on node C */
#define TUN_ID_CLIENT  300u
#define TUN_ID_ALLOWED 400u /* admitted into backend A on its port */
#define TUN_ID_DENIED  500u
#define TUN_ID_A       600u
#define TUN_VNI_BIG    0x1000000u /* one past 24 bits */

/* The frame from the sending node's tunnel device, as it reaches this one's. */
static const uint8_t peer_vxlan_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x77, 0x02};
static const uint8_t self_vxlan_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x77, 0x01};

struct tun_fixture {
	struct fixture pod;
	struct tc_tunnel *tun;
	struct tunnel_key *key;
};

static int tun_set(struct tun_fixture *f, __be32 address, uint32_t prefix_len, __be32 node,
		   uint32_t flags)
{
	struct tunnel4_key key = {.prefix_len = prefix_len, .address = address};
	struct tunnel4_value value = {.node_address = node, .flags = flags};

	return fixture_map_update(f->tun->maps.tunnel4, &key, &value);
}

/* tunnel4 as the agent writes it for nodes B and C. */
static bool tun_seed(struct tun_fixture *f)
{
	return ASSERT_OK(tun_set(f, TEST_IP(10, 0, 2, 0), 24, TUN_NODE_B, TUNNEL4_F_POD_CIDR),
			 "node B's pod CIDR") &&
	       ASSERT_OK(tun_set(f, TUN_NODE_B, 32, TUN_NODE_B, TUNNEL4_F_NODE), "node B") &&
	       ASSERT_OK(tun_set(f, TEST_IP(10, 0, 3, 0), 24, TUN_NODE_C, TUNNEL4_F_POD_CIDR),
			 "node C's pod CIDR") &&
	       ASSERT_OK(tun_set(f, TUN_NODE_C, 32, TUN_NODE_C, TUNNEL4_F_NODE), "node C");
}

/* tc_pod (fixture, the standard service), tc_tunnel and the test programs on the same maps. */
static bool tun_setup(struct tun_fixture *f)
{
	int ingress_fd;
	__u32 zero = 0;

	memset(f, 0, sizeof(*f));
	if (!fixture_setup(&f->pod, IPPROTO_TCP))
		return false;
	f->tun = tc_tunnel__open();
	if (!ASSERT_TRUE(f->tun != NULL, "open tc_tunnel") ||
	    !ASSERT_OK(fixture_share_maps(&f->pod, f->tun->obj), "share maps with tc_pod") ||
	    !ASSERT_OK(tc_tunnel__load(f->tun), "load tc_tunnel"))
		return false;
	f->key = tunnel_key__open();
	if (!ASSERT_TRUE(f->key != NULL, "open tunnel_key") ||
	    !ASSERT_OK(fixture_share_maps(&f->pod, f->key->obj), "share maps with tc_pod") ||
	    !ASSERT_OK(bpf_map__reuse_fd(f->key->maps.tunnel4, bpf_map__fd(f->tun->maps.tunnel4)),
		       "share tunnel4") ||
	    !ASSERT_OK(tunnel_key__load(f->key), "load tunnel_key"))
		return false;
	ingress_fd = bpf_program__fd(f->tun->progs.tc_tunnel_ingress);
	if (!ASSERT_OK(fixture_map_update(f->key->maps.tunnel_ingress_prog, &zero, &ingress_fd),
		       "tc_tunnel_ingress in the tail-call array"))
		return false;
	return tun_seed(f) &&
	       ASSERT_OK(fixture_set_endpoint_backend_a(&f->pod), "backend A a pod here");
}

static void tun_close(struct tun_fixture *f)
{
	tunnel_key__destroy(f->key);
	tc_tunnel__destroy(f->tun);
	fixture_close(&f->pod);
}

static int tun_run_prog(struct tun_fixture *f, struct bpf_program *prog, const struct pkt *in,
			struct pkt *out, int *verdict)
{
	int saved = f->pod.prog_fd, err;

	f->pod.prog_fd = bpf_program__fd(prog);
	err = fixture_run_on(&f->pod, TEST_INGRESS_IFINDEX, in, out, verdict);
	f->pod.prog_fd = saved;
	return err;
}

/* tc_tunnel_ingress on IN, as if it came out of the tunnel from REMOTE with VNI. */
static int tun_decap(struct tun_fixture *f, __be32 remote, uint32_t vni, const struct pkt *in,
		     struct pkt *out, int *verdict)
{
	f->key->bss->decap_remote = ntohl(remote);
	f->key->bss->decap_vni = vni;
	f->key->bss->decap_is_keyed = 1;
	return tun_run_prog(f, f->key->progs.test_tunnel_decap, in, out, verdict);
}

/* SADDR:40000 -> DADDR:DPORT TCP SYN as the sending node's tunnel device framed it. */
static struct pkt_spec tun_spec(__be32 saddr, __be32 daddr, __be16 dport)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);

	memcpy(spec.src_mac, peer_vxlan_mac, 6);
	memcpy(spec.dst_mac, peer_vxlan_mac, 6);
	spec.saddr = saddr;
	spec.daddr = daddr;
	spec.dport = dport;
	return spec;
}

/* A pod's packet for node B's pod goes to node B with the pod's identity. */
void test_tunnel_encap_pod_identity(void)
{
	struct pkt_spec spec = tun_spec(TEST_CLIENT_IP, TUN_POD_B, TEST_BACKEND_PORT);
	struct tun_fixture f;
	struct pkt in, out;
	int verdict;

	if (!tun_setup(&f) ||
	    !ASSERT_OK(
		fixture_policy_address(&f.pod, TEST_CLIENT_IP, 32, TUN_ID_CLIENT, IPCACHE_F_POD),
		"client identity") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build SYN"))
		goto cleanup;
	if (ASSERT_OK(tun_run_prog(&f, f.tun->progs.tc_tunnel_egress, &in, &out, &verdict),
		      "test run tc_tunnel_egress")) {
		struct pkt expected = in;

		memset(expected.data + 6, 0, 6);
		ASSERT_EQ(verdict, TC_ACT_OK, "verdict: on into the VXLAN device");
		ASSERT_EQ(
		    pkt_diff(out.data, out.len, expected.data, expected.len), -1,
		    "frame: inner eth.source zero (never the receiver's own MAC), rest untouched");
		ASSERT_EQ(fixture_stat(&f.pod, STAT_TUNNEL_OUT), 1, "stats tunnel_out");
		ASSERT_EQ(fixture_drops_total(&f.pod), 0, "no drop");
	}
	if (ASSERT_OK(tun_run_prog(&f, f.key->progs.test_tunnel_encap, &in, &out, &verdict),
		      "test run tunnel_encap")) {
		ASSERT_EQ(verdict, TC_ACT_OK, "tunnel_encap verdict");
		ASSERT_EQ(f.key->bss->encap_key_err, 0, "a tunnel key was set");
		ASSERT_IP_EQ(htonl(f.key->bss->encap_remote), TUN_NODE_B, "remote: node B");
		ASSERT_EQ(f.key->bss->encap_vni, TUN_ID_CLIENT, "VNI: the client's identity");
		ASSERT_EQ(f.key->bss->encap_ttl, 64, "outer TTL");
	}
	/* Node C's pods go to node C. */
	spec.daddr = TUN_POD_C;
	if (ASSERT_OK(pkt_build(&in, &spec), "build SYN to C") &&
	    ASSERT_OK(tun_run_prog(&f, f.key->progs.test_tunnel_encap, &in, &out, &verdict),
		      "test run tunnel_encap (C)")) {
		ASSERT_EQ(verdict, TC_ACT_OK, "tunnel_encap verdict (C)");
		ASSERT_IP_EQ(htonl(f.key->bss->encap_remote), TUN_NODE_C, "remote: node C");
	}
cleanup:
	tun_close(&f);
}

/* The VNI a source gets: NO_IDENTITY for the node, a source the ipcache does not know as a pod,
 * and an identity too large for 24 bits. */
void test_tunnel_encap_no_identity(void)
{
	struct {
		const char *what;
		__be32 saddr;
		uint32_t identity; /* 0: no ipcache entry */
		uint32_t flags;
	} cases[] = {
	    {"the node's address", TUN_NODE_SELF, IDENTITY_HOST, IPCACHE_F_HOST},
	    {"an ipBlock address, no pod", TEST_IP(10, 0, 1, 77), 700, 0},
	    {"no ipcache entry", TEST_IP(10, 0, 1, 78), 0, 0},
	    {"identity beyond 24 bits", TEST_IP(10, 0, 1, 79), TUN_VNI_BIG, IPCACHE_F_POD},
	    {"identity at 24 bits", TEST_IP(10, 0, 1, 80), TUNNEL_VNI_MAX, IPCACHE_F_POD},
	};
	struct tun_fixture f;
	struct pkt in, out;
	char name[128];
	int verdict;

	if (!tun_setup(&f))
		goto cleanup;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_spec spec = tun_spec(cases[i].saddr, TUN_POD_B, TEST_BACKEND_PORT);
		uint32_t expected = cases[i].flags & IPCACHE_F_POD && cases[i].identity <= 0xffffff
					? cases[i].identity
					: TUNNEL_VNI_NO_IDENTITY;

		snprintf(name, sizeof(name), "%s: ipcache", cases[i].what);
		if (cases[i].identity &&
		    !ASSERT_OK(fixture_policy_address(&f.pod, cases[i].saddr, 32, cases[i].identity,
						      cases[i].flags),
			       name))
			continue;
		snprintf(name, sizeof(name), "%s: test run", cases[i].what);
		if (!ASSERT_OK(pkt_build(&in, &spec), name) ||
		    !ASSERT_OK(
			tun_run_prog(&f, f.key->progs.test_tunnel_encap, &in, &out, &verdict),
			name))
			continue;
		snprintf(name, sizeof(name), "%s: verdict", cases[i].what);
		ASSERT_EQ(verdict, TC_ACT_OK, name);
		snprintf(name, sizeof(name), "%s: remote", cases[i].what);
		ASSERT_IP_EQ(htonl(f.key->bss->encap_remote), TUN_NODE_B, name);
		snprintf(name, sizeof(name), "%s: VNI", cases[i].what);
		ASSERT_EQ(f.key->bss->encap_vni, expected, name);
	}
cleanup:
	tun_close(&f);
}

/* Into the tunnel, but to no other node's pods or address (nor IPv4): dropped and counted. */
void test_tunnel_encap_unknown_destination(void)
{
	static const uint8_t ipv6[40] = {0x60, 0, 0, 0, 0, 0, 58, 64};
	__be32 nowhere[] = {TEST_OTHER_IP, TUN_STRANGER, TEST_IP(203, 0, 113, 7)};
	struct tun_fixture f;
	struct pkt in, out;
	char name[128];
	int verdict;

	if (!tun_setup(&f))
		goto cleanup;
	for (size_t i = 0; i < sizeof(nowhere) / sizeof(nowhere[0]); i++) {
		struct pkt_spec spec = tun_spec(TEST_CLIENT_IP, nowhere[i], TEST_BACKEND_PORT);

		snprintf(name, sizeof(name), "to %s: test run", pkt_ip_str(nowhere[i]));
		if (!ASSERT_OK(pkt_build(&in, &spec), name) ||
		    !ASSERT_OK(tun_run_prog(&f, f.tun->progs.tc_tunnel_egress, &in, &out, &verdict),
			       name))
			continue;
		snprintf(name, sizeof(name), "to %s: dropped", pkt_ip_str(nowhere[i]));
		ASSERT_EQ(verdict, TC_ACT_SHOT, name);
	}
	ASSERT_EQ(fixture_drop(&f.pod, DROP_NO_TUNNEL), 3, "drops: no node for tunnel destination");
	/* Leaving the node into the tunnel: egress. */
	ASSERT_EQ(fixture_drop_dir(&f.pod, DROP_NO_TUNNEL, DROP_DIR_EGRESS), 3,
		  "drops: no node for tunnel destination, egress");
	if (ASSERT_OK(
		pkt_build_raw(&in, peer_vxlan_mac, self_vxlan_mac, 0x86dd, ipv6, sizeof(ipv6)),
		"build IPv6") &&
	    ASSERT_OK(tun_run_prog(&f, f.tun->progs.tc_tunnel_egress, &in, &out, &verdict),
		      "test run IPv6")) {
		ASSERT_EQ(verdict, TC_ACT_SHOT, "IPv6 dropped");
		ASSERT_EQ(fixture_drop(&f.pod, DROP_TUNNEL_NOT_IPV4), 1,
			  "drops: tunnel frame not IPv4");
	}
	ASSERT_EQ(fixture_stat(&f.pod, STAT_TUNNEL_OUT), 0, "nothing sent into the tunnel");
cleanup:
	tun_close(&f);
}

/* Out of the tunnel from an address that is no node (or with no key at all): dropped. */
void test_tunnel_decap_unknown_node(void)
{
	struct pkt_spec spec = tun_spec(TUN_POD_B, TEST_BACKEND_A, TEST_BACKEND_PORT);
	/* A stranger; a pod CIDR's address (no node entry); a node's neighbour in no entry. */
	__be32 remotes[] = {TUN_STRANGER, TEST_IP(10, 0, 2, 1), TEST_IP(198, 51, 100, 4)};
	struct tun_fixture f;
	struct pkt in, out;
	char name[128];
	int verdict;

	if (!tun_setup(&f) || !ASSERT_OK(pkt_build(&in, &spec), "build SYN"))
		goto cleanup;
	for (size_t i = 0; i < sizeof(remotes) / sizeof(remotes[0]); i++) {
		snprintf(name, sizeof(name), "from %s: test run", pkt_ip_str(remotes[i]));
		if (!ASSERT_OK(tun_decap(&f, remotes[i], TUN_ID_ALLOWED, &in, &out, &verdict),
			       name))
			continue;
		snprintf(name, sizeof(name), "from %s: dropped", pkt_ip_str(remotes[i]));
		ASSERT_EQ(verdict, TC_ACT_SHOT, name);
	}
	f.key->bss->decap_is_keyed = 0;
	if (ASSERT_OK(tun_run_prog(&f, f.key->progs.test_tunnel_decap, &in, &out, &verdict),
		      "no key: test run"))
		ASSERT_EQ(verdict, TC_ACT_SHOT, "no key: dropped");
	ASSERT_EQ(fixture_drop(&f.pod, DROP_UNKNOWN_NODE), 4,
		  "drops: tunnel packet from unknown node");
	/* Out of the tunnel, arriving at the node: ingress. */
	ASSERT_EQ(fixture_drop_dir(&f.pod, DROP_UNKNOWN_NODE, DROP_DIR_INGRESS), 4,
		  "drops: tunnel packet from unknown node, ingress");
	ASSERT_EQ(fixture_drops_total(&f.pod), 4, "no other drop");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "no conntrack entry");
cleanup:
	tun_close(&f);
}

/* A node speaks only as itself and for its own pods. */
void test_tunnel_decap_spoofed_source(void)
{
	/* From node B: C's pod, C itself, this node's pod, an outside address. */
	__be32 sources[] = {TUN_POD_C, TUN_NODE_C, TEST_CLIENT_IP, TEST_IP(203, 0, 113, 7)};
	struct tun_fixture f;
	struct pkt in, out;
	char name[128];
	int verdict;

	if (!tun_setup(&f))
		goto cleanup;
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		struct pkt_spec spec = tun_spec(sources[i], TEST_BACKEND_A, TEST_BACKEND_PORT);

		snprintf(name, sizeof(name), "as %s: test run", pkt_ip_str(sources[i]));
		if (!ASSERT_OK(pkt_build(&in, &spec), name) ||
		    !ASSERT_OK(tun_decap(&f, TUN_NODE_B, TUN_ID_ALLOWED, &in, &out, &verdict),
			       name))
			continue;
		snprintf(name, sizeof(name), "as %s: dropped", pkt_ip_str(sources[i]));
		ASSERT_EQ(verdict, TC_ACT_SHOT, name);
	}
	ASSERT_EQ(fixture_drop(&f.pod, DROP_SPOOFED), 4, "drops: source address not the pod's");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "no conntrack entry");
	/* The same packet from C's pod, sent by node C, is C's to send. */
	{
		struct pkt_spec spec = tun_spec(TUN_POD_C, TEST_BACKEND_A, TEST_BACKEND_PORT);

		if (ASSERT_OK(pkt_build(&in, &spec), "build from C") &&
		    ASSERT_OK(tun_decap(&f, TUN_NODE_C, TUN_ID_ALLOWED, &in, &out, &verdict),
			      "from node C: test run"))
			ASSERT_EQ(verdict, TC_ACT_REDIRECT, "from node C: delivered");
	}
cleanup:
	tun_close(&f);
}

/* Asserts a frame delivered into backend A: its MACs, nothing else changed. */
static void tun_expect_into_backend_a(const struct pkt *in, const struct pkt *out, int verdict,
				      const char *what)
{
	struct pkt expected = *in;
	char name[128];

	memcpy(expected.data, test_backend_a_mac, 6);
	memcpy(expected.data + 6, test_backend_a_host_mac, 6);
	snprintf(name, sizeof(name), "%s: verdict (bpf_redirect_peer)", what);
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, name);
	snprintf(name, sizeof(name), "%s: frame (backend A's MACs, rest untouched)", what);
	ASSERT_EQ(pkt_diff(out->data, out->len, expected.data, expected.len), -1, name);
}

/* Without policy: a new flow from node B's pod goes straight into backend A, untracked. */
void test_tunnel_decap_into_pod(void)
{
	struct pkt_spec spec = tun_spec(TUN_POD_B, TEST_BACKEND_A, TEST_BACKEND_PORT);
	struct tun_fixture f;
	struct pkt in, out;
	int verdict;

	if (!tun_setup(&f) || !ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !ASSERT_OK(tun_decap(&f, TUN_NODE_B, TUN_ID_ALLOWED, &in, &out, &verdict), "test run"))
		goto cleanup;
	tun_expect_into_backend_a(&in, &out, verdict, "from B's pod");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_TUNNEL_IN), 1, "stats tunnel_in");
	ASSERT_EQ(fixture_ct_count(&f.pod), 0, "untracked: no policy isolates anything");
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "no drop");

	/* To the node itself (no pod here): the node's stack. */
	spec = tun_spec(TUN_NODE_B, TUN_NODE_SELF, htons(10250));
	if (ASSERT_OK(pkt_build(&in, &spec), "build to the node") &&
	    ASSERT_OK(tun_decap(&f, TUN_NODE_B, 0, &in, &out, &verdict), "to the node: test run")) {
		ASSERT_EQ(verdict, TC_ACT_OK, "to the node: on to the stack");
		ASSERT_EQ(pkt_diff(out.data, out.len, in.data, in.len), -1,
			  "to the node: untouched");
		ASSERT_EQ(fixture_stat(&f.pod, STAT_PASS), 1, "stats pass");
	}
cleanup:
	tun_close(&f);
}

/*
 * Backend A is isolated for ingress and admits TUN_ID_ALLOWED on its port. The identity the VNI
 * carries decides, whatever the ipcache says of the source; a VNI of none looks it up; a node
 * cannot lend its own traffic a pod's identity.
 */
void test_tunnel_decap_policy_by_vni(void)
{
	struct {
		const char *what;
		__be32 remote;
		__be32 saddr;
		uint32_t ipcache_id; /* the source's identity in this node's ipcache */
		uint32_t vni;
		bool is_allowed;
	} cases[] = {
	    {"VNI allowed, ipcache denied", TUN_NODE_B, TUN_POD_B, TUN_ID_DENIED, TUN_ID_ALLOWED,
	     true},
	    {"VNI denied, ipcache allowed", TUN_NODE_B, TEST_IP(10, 0, 2, 21), TUN_ID_ALLOWED,
	     TUN_ID_DENIED, false},
	    {"no VNI identity, ipcache allowed", TUN_NODE_B, TEST_IP(10, 0, 2, 22), TUN_ID_ALLOWED,
	     TUNNEL_VNI_NO_IDENTITY, true},
	    {"no VNI identity, ipcache denied", TUN_NODE_B, TEST_IP(10, 0, 2, 23), TUN_ID_DENIED,
	     TUNNEL_VNI_NO_IDENTITY, false},
	    {"the node itself with an allowed VNI", TUN_NODE_B, TUN_NODE_B, TUN_ID_DENIED,
	     TUN_ID_ALLOWED, false},
	};
	struct tun_fixture f;
	struct ct_entry entry;
	struct pkt in, out;
	uint64_t denied = 0;
	char name[160];
	int verdict;

	if (!tun_setup(&f) || !ASSERT_OK(fixture_policy_enable(&f.pod, true), "policy on") ||
	    !ASSERT_OK(fixture_policy_address(&f.pod, TEST_BACKEND_A, 32, TUN_ID_A,
					      IPCACHE_F_POD | IPCACHE_F_ISOLATED_INGRESS),
		       "backend A isolated") ||
	    !ASSERT_OK(fixture_policy_rule(&f.pod, TUN_ID_A, TUN_ID_ALLOWED, POLICY_DIR_INGRESS,
					   IPPROTO_TCP, ntohs(TEST_BACKEND_PORT), 16),
		       "rule: allowed identity on backend A's port"))
		goto cleanup;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_spec spec = tun_spec(cases[i].saddr, TEST_BACKEND_A, TEST_BACKEND_PORT);

		snprintf(name, sizeof(name), "%s: setup", cases[i].what);
		if (!ASSERT_OK(
			fixture_policy_address(&f.pod, cases[i].saddr, 32, cases[i].ipcache_id,
					       cases[i].saddr == TUN_NODE_B ? 0 : IPCACHE_F_POD),
			name) ||
		    !ASSERT_OK(pkt_build(&in, &spec), name) ||
		    !ASSERT_OK(tun_decap(&f, cases[i].remote, cases[i].vni, &in, &out, &verdict),
			       name))
			continue;
		if (cases[i].is_allowed) {
			tun_expect_into_backend_a(&in, &out, verdict, cases[i].what);
			snprintf(name, sizeof(name), "%s: tracked, into backend A's veth",
				 cases[i].what);
			if (ASSERT_OK(fixture_ct_lookup(&f.pod, cases[i].saddr, TEST_BACKEND_A,
							TEST_CLIENT_PORT, TEST_BACKEND_PORT,
							IPPROTO_TCP, &entry),
				      name)) {
				ASSERT_EQ(entry.ifindex, TEST_BACKEND_A_IFINDEX, name);
				ASSERT_EQ(entry.policy, CT_POLICY_ALLOWED, name);
			}
		} else {
			denied++;
			snprintf(name, sizeof(name), "%s: dropped", cases[i].what);
			ASSERT_EQ(verdict, TC_ACT_SHOT, name);
			snprintf(name, sizeof(name), "%s: drops policy denied ingress",
				 cases[i].what);
			ASSERT_EQ(fixture_drop(&f.pod, DROP_POLICY_INGRESS), denied, name);
		}
	}
	ASSERT_EQ(fixture_stat(&f.pod, STAT_POLICY_NEW), 2, "stats policy_new (the allowed two)");
	ASSERT_EQ(fixture_drops_total(&f.pod), denied, "no other drop");
cleanup:
	tun_close(&f);
}

/*
 * The client here reaches the service whose backend is node B's pod: tc_pod translates it and
 * leaves it to the node's routing (into the tunnel); the backend's answer comes out of the
 * tunnel and goes into the client as from the VIP.
 */
void test_tunnel_decap_service_reply(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP), back;
	struct tun_fixture f;
	struct pkt in, out, reply, delivered;
	int verdict;

	if (!tun_setup(&f) ||
	    !ASSERT_OK(fixture_set_slot(&f.pod, TEST_SVC_ID, 0, 0, TEST_BACKEND_B_ID),
		       "the service's backend: node B's pod") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run tc_pod"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "SYN: on to the node's routing");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TUN_POD_B, "SYN translated to node B's pod");
	if (!ASSERT_OK(tun_run_prog(&f, f.key->progs.test_tunnel_encap, &out, &reply, &verdict),
		       "test run tunnel_encap"))
		goto cleanup;
	ASSERT_IP_EQ(htonl(f.key->bss->encap_remote), TUN_NODE_B, "SYN to node B");

	back = tun_spec(TUN_POD_B, TEST_CLIENT_IP, TEST_CLIENT_PORT);
	back.sport = TEST_BACKEND_PORT;
	back.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
	if (!ASSERT_OK(pkt_build(&reply, &back), "build SYN-ACK") ||
	    !ASSERT_OK(tun_decap(&f, TUN_NODE_B, TUN_ID_DENIED, &reply, &delivered, &verdict),
		       "test run SYN-ACK"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "SYN-ACK into the client (bpf_redirect_peer)");
	ASSERT_IP_EQ(pkt_ip_saddr(&delivered), TEST_VIP, "SYN-ACK from the VIP");
	ASSERT_PORT_EQ(pkt_l4_sport(&delivered), TEST_VIP_PORT, "from the VIP's port");
	ASSERT_IP_EQ(pkt_ip_daddr(&delivered), TEST_CLIENT_IP, "to the client");
	ASSERT_TRUE(memcmp(delivered.data, test_client_mac, 6) == 0, "eth.dest: the client's MAC");
	ASSERT_TRUE(memcmp(delivered.data + 6, test_gateway_mac, 6) == 0,
		    "eth.source: the client's host veth");
	ASSERT_CSUMS_OK(delivered.data, delivered.len, "reverse-translated SYN-ACK");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_CT_REPLY), 1, "stats ct_reply");
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "no drop");
cleanup:
	tun_close(&f);
}

/*
 * A new flow from an ingress-isolated pod of node B into backend A, which no policy isolates: the
 * VNI's identity is judged, and the source's isolation, as this node's ipcache knows it, tracks
 * the flow both ways, so that A's reply is not judged as a new flow by the source's ingress
 * policy when it leaves A. A source that nothing isolates stays untracked.
 */
void test_tunnel_decap_tracks_isolated_source(void)
{
	struct pkt_spec spec = tun_spec(TUN_POD_B, TEST_BACKEND_A, TEST_BACKEND_PORT);
	struct tun_fixture f;
	struct pkt in, out;
	int verdict;

	if (!tun_setup(&f) || !ASSERT_OK(fixture_policy_enable(&f.pod, true), "policy on") ||
	    !ASSERT_OK(fixture_policy_address(&f.pod, TEST_BACKEND_A, 32, TUN_ID_A, IPCACHE_F_POD),
		       "backend A, not isolated") ||
	    !ASSERT_OK(fixture_policy_address(&f.pod, TUN_POD_B, 32, TUN_ID_ALLOWED,
					      IPCACHE_F_POD | IPCACHE_F_ISOLATED_INGRESS),
		       "B's pod isolated for ingress") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !ASSERT_OK(tun_decap(&f, TUN_NODE_B, TUN_ID_ALLOWED, &in, &out, &verdict), "test run"))
		goto cleanup;
	tun_expect_into_backend_a(&in, &out, verdict, "isolated source");
	ASSERT_EQ(fixture_ct_count(&f.pod), 2, "isolated source: tracked both ways");
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "isolated source: no drop");

	spec = tun_spec(TEST_IP(10, 0, 2, 24), TEST_BACKEND_A, TEST_BACKEND_PORT);
	if (ASSERT_OK(fixture_policy_address(&f.pod, TEST_IP(10, 0, 2, 24), 32, TUN_ID_ALLOWED,
					     IPCACHE_F_POD),
		      "a pod of B nothing isolates") &&
	    ASSERT_OK(pkt_build(&in, &spec), "build second SYN") &&
	    ASSERT_OK(tun_decap(&f, TUN_NODE_B, TUN_ID_ALLOWED, &in, &out, &verdict),
		      "second test run")) {
		tun_expect_into_backend_a(&in, &out, verdict, "source not isolated");
		ASSERT_EQ(fixture_ct_count(&f.pod), 2, "source not isolated: untracked");
	}
cleanup:
	tun_close(&f);
}

/*
 * A flow node B sent with its own address (its own traffic, or a NodePort flow it masqueraded to
 * a backend here): tracked even without policy, its reply entry back into the tunnel device it
 * came out of; backend A's reply goes there from tc_pod, and tc_tunnel_egress sends it to node B
 * with A's identity. Routed instead, it would leave by the underlay with A's pod address.
 */
void test_tunnel_node_flow_reply_into_tunnel(void)
{
	struct pkt_spec spec = tun_spec(TUN_NODE_B, TEST_BACKEND_A, TEST_BACKEND_PORT);
	struct tun_fixture f;
	struct ct_entry entry;
	struct pkt in, out;
	int verdict;

	if (!tun_setup(&f) ||
	    !ASSERT_OK(fixture_policy_address(&f.pod, TEST_BACKEND_A, 32, TUN_ID_A, IPCACHE_F_POD),
		       "backend A in the ipcache") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !ASSERT_OK(tun_decap(&f, TUN_NODE_B, TUNNEL_VNI_NO_IDENTITY, &in, &out, &verdict),
		       "test run"))
		goto cleanup;
	tun_expect_into_backend_a(&in, &out, verdict, "from node B itself");
	if (ASSERT_OK(fixture_ct_lookup(&f.pod, TEST_BACKEND_A, TUN_NODE_B, TEST_BACKEND_PORT,
					TEST_CLIENT_PORT, IPPROTO_TCP, &entry),
		      "reply entry (A -> node B)")) {
		ASSERT_EQ(entry.flags & (CT_F_REPLY | CT_F_NEIGH | CT_F_DIRECT),
			  CT_F_REPLY | CT_F_NEIGH | CT_F_DIRECT,
			  "reply flags (untranslated, out of a device by its neighbour table)");
		ASSERT_EQ(entry.ifindex, TEST_INGRESS_IFINDEX, "reply into the tunnel device");
	}

	/* A's SYN-ACK: tc_pod sends it into the tunnel device, untranslated. */
	spec = fixture_reply_spec(IPPROTO_TCP);
	spec.saddr = TEST_BACKEND_A;
	spec.daddr = TUN_NODE_B;
	spec.sport = TEST_BACKEND_PORT;
	spec.dport = TEST_CLIENT_PORT;
	if (ASSERT_OK(pkt_build(&in, &spec), "build SYN-ACK") &&
	    ASSERT_OK(fixture_run_on(&f.pod, TEST_BACKEND_A_IFINDEX, &in, &out, &verdict),
		      "SYN-ACK: test run tc_pod")) {
		ASSERT_EQ(verdict, TC_ACT_REDIRECT, "SYN-ACK: verdict (bpf_redirect_neigh)");
		ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_BACKEND_A, "SYN-ACK: ip.saddr kept");
		ASSERT_IP_EQ(pkt_ip_daddr(&out), TUN_NODE_B, "SYN-ACK: ip.daddr kept");
	}

	/* tc_tunnel_egress: to node B's address, with A's identity. */
	if (ASSERT_OK(tun_run_prog(&f, f.key->progs.test_tunnel_encap, &out, &in, &verdict),
		      "encap: test run")) {
		ASSERT_EQ(verdict, TC_ACT_OK, "encap: verdict");
		ASSERT_IP_EQ(htonl(f.key->bss->encap_remote), TUN_NODE_B,
			     "encap: remote is node B");
		ASSERT_EQ(f.key->bss->encap_vni, TUN_ID_A, "encap: VNI is A's identity");
	}
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "no drop");
cleanup:
	tun_close(&f);
}
