// SPDX-License-Identifier: Apache-2.0
/*
 * tc_pod's direct way into the tunnel (bpf/lib/tunnel.h, tunnel_redirect): a pod's packet for
 * another node's pod, straight or through a Service translated to a backend there, is
 * redirected to the tunnel device (TC_ACT_REDIRECT) with its TTL less one, a valid IP checksum,
 * the inner source MAC cleared and the key tc_tunnel_egress would set (that node, the source's
 * identity as VNI); tc_tunnel_egress keeps a key it finds. A packet too big for the device, one
 * whose TTL runs out, one for no other node's pod, and any packet without a tunnel device go to
 * the node's routing untouched (TC_ACT_OK), so the kernel answers what must be answered (ICMP
 * fragmentation needed, time exceeded): nothing is dropped.
 *
 * bpf_check_mtu reads the device's MTU, so each test runs in a network namespace of its own
 * (left again at the end) holding a collect-metadata VXLAN device of MTU 1450, as the agent makes
 * sluice_vxlan on a 1500-byte underlay. Nothing is sent: BPF_PROG_TEST_RUN only returns the
 * verdict.
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

#include "maps/policy.h"
#include "maps/tunnel.h"
#include "skel/tc_pod.skel.h"
#include "skel/tunnel_key.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define RDR_DEVICE	 "sltun0"
#define RDR_MTU		 1450 /* a 1500-byte underlay less VXLAN's 50 */
#define RDR_NODE_B	 TEST_IP(198, 51, 100, 2)
#define RDR_NODE_C	 TEST_IP(198, 51, 100, 3)
#define RDR_POD_B	 TEST_BACKEND_B /* 10.0.2.20, a pod on node B */
#define RDR_ID_CLIENT	 300u
#define RDR_VERDICT_PASS 0x100 /* bpf/lib/common.h's VERDICT_PASS: to the node's routing */

struct rdr_fixture {
	struct fixture pod;
	struct tunnel_key *key;
	unsigned int ifindex; /* the VXLAN device */
	int home_netns;	      /* the test runner's namespace, entered again at the end */
};

static int rdr_tunnel_set(struct rdr_fixture *f, __be32 address, uint32_t prefix_len, __be32 node,
			  uint32_t flags)
{
	struct tunnel4_key key = {.prefix_len = prefix_len, .address = address};
	struct tunnel4_value value = {.node_address = node, .flags = flags};

	return fixture_map_update(f->pod.skel->maps.tunnel4, &key, &value);
}

/*
 * The namespace and its device; tc_pod with the device in tunnel_dev, and the
 * key-reading program (tunnel_encap and tunnel_redirect in it) on its maps; tunnel4 as the agent
 * writes it for nodes B (10.0.2.0/24) and C (10.0.3.0/24), and the client's identity in the
 * ipcache.
 */
static bool rdr_setup(struct rdr_fixture *f)
{
	struct tunnel_device device = {0};
	uint32_t zero = 0;

	memset(f, 0, sizeof(*f));
	if (!fixture_netns_enter(&f->home_netns, "ip link add " RDR_DEVICE
						 " mtu 1450 type vxlan external dstport 8472 "
						 "&& ip link set " RDR_DEVICE " up"))
		return false;
	f->ifindex = if_nametoindex(RDR_DEVICE);
	if (!ASSERT_TRUE(f->ifindex > 0, "the device's ifindex") ||
	    !fixture_setup(&f->pod, IPPROTO_TCP))
		return false;
	device.ifindex = f->ifindex;
	if (!ASSERT_OK(fixture_map_update(f->pod.skel->maps.tunnel_dev, &zero, &device),
		       "tunnel_dev: the device"))
		return false;
	f->key = tunnel_key__open();
	if (!ASSERT_TRUE(f->key != NULL, "open tunnel_key") ||
	    !ASSERT_OK(fixture_share_maps(&f->pod, f->key->obj), "share maps with tunnel_key") ||
	    !ASSERT_OK(tunnel_key__load(f->key), "load tunnel_key"))
		return false;
	return ASSERT_OK(
		   rdr_tunnel_set(f, TEST_IP(10, 0, 2, 0), 24, RDR_NODE_B, TUNNEL4_F_POD_CIDR),
		   "node B's pod CIDR") &&
	       ASSERT_OK(rdr_tunnel_set(f, RDR_NODE_B, 32, RDR_NODE_B, TUNNEL4_F_NODE), "node B") &&
	       ASSERT_OK(
		   rdr_tunnel_set(f, TEST_IP(10, 0, 3, 0), 24, RDR_NODE_C, TUNNEL4_F_POD_CIDR),
		   "node C's pod CIDR") &&
	       ASSERT_OK(fixture_policy_address(&f->pod, TEST_CLIENT_IP, 32, RDR_ID_CLIENT,
						IPCACHE_F_POD),
			 "client identity");
}

static void rdr_close(struct rdr_fixture *f)
{
	tunnel_key__destroy(f->key);
	fixture_close(&f->pod);
	fixture_netns_leave(&f->home_netns);
}

static int rdr_run_prog(struct rdr_fixture *f, struct bpf_program *prog, const struct pkt *in,
			struct pkt *out, int *verdict)
{
	int saved = f->pod.prog_fd, err;

	f->pod.prog_fd = bpf_program__fd(prog);
	err = fixture_run(&f->pod, in, out, verdict);
	f->pod.prog_fd = saved;
	return err;
}

/* A client SYN to DADDR:DPORT with IP_LEN bytes of IPv4 (DF, TTL TTL; 0: 64). */
static struct pkt_spec rdr_spec(__be32 daddr, __be16 dport, size_t ip_len, uint8_t ttl)
{
	static uint8_t payload[PKT_MAX];
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);

	spec.daddr = daddr;
	spec.dport = dport;
	spec.ttl = ttl;
	spec.tcp_flags = PKT_TCP_ACK;
	spec.payload = payload;
	spec.payload_len = ip_len > 40 ? ip_len - 40 : 0;
	return spec;
}

/*
 * Asserts the frame OUT tc_pod redirected into the tunnel: IN (translated as the test put into
 * EXPECTED already) with its inner source MAC zero, TTL one less and every checksum valid.
 */
static void rdr_expect_redirected(const struct pkt *out, int verdict, struct pkt expected,
				  const char *what)
{
	char name[160], why[128] = "";

	memset(expected.data + 6, 0, 6);
	expected.data[PKT_IP_OFF + 8]--;
	snprintf(name, sizeof(name), "%s: verdict (redirected into the tunnel)", what);
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, name);
	snprintf(name, sizeof(name), "%s: frame (source MAC zero, TTL - 1, rest untouched)", what);
	ASSERT_EQ(pkt_diff(out->data, out->len, expected.data, expected.len), -1, name);
	snprintf(name, sizeof(name), "%s: checksums (%s)", what, why);
	ASSERT_TRUE(pkt_verify(out->data, out->len, why, sizeof(why)), name);
}

/* A pod's packet for node B's pod: into the tunnel, keyed for node B with the pod's identity. */
void test_tunnel_redirect_pod_to_pod(void)
{
	struct pkt_spec spec = rdr_spec(RDR_POD_B, TEST_BACKEND_PORT, 60, 0);
	struct rdr_fixture f;
	struct pkt in, out;
	int verdict;

	if (!rdr_setup(&f) || !ASSERT_OK(pkt_build(&in, &spec), "build"))
		goto cleanup;
	if (ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run tc_pod")) {
		rdr_expect_redirected(&out, verdict, in, "to node B's pod");
		ASSERT_EQ(fixture_stat(&f.pod, STAT_PASS), 1, "counted once by tc_pod, as before");
		ASSERT_EQ(fixture_drops_total(&f.pod), 0, "no drop");
		ASSERT_EQ(fixture_ct_count(&f.pod), 0, "no policy: untracked, as before");
	}
	if (ASSERT_OK(rdr_run_prog(&f, f.key->progs.test_tunnel_redirect, &in, &out, &verdict),
		      "test run tunnel_redirect")) {
		ASSERT_EQ(verdict, TC_ACT_REDIRECT, "tunnel_redirect verdict");
		ASSERT_EQ(f.key->bss->encap_key_err, 0, "a tunnel key was set");
		ASSERT_IP_EQ(htonl(f.key->bss->encap_remote), RDR_NODE_B, "remote: node B");
		ASSERT_EQ(f.key->bss->encap_vni, RDR_ID_CLIENT, "VNI: the client's identity");
		ASSERT_EQ(f.key->bss->encap_ttl, 64, "outer TTL");
	}
	/* The largest packet the device takes (its MTU) still goes. */
	spec = rdr_spec(TEST_BACKEND_C, TEST_BACKEND_PORT, RDR_MTU, 0);
	if (ASSERT_OK(pkt_build(&in, &spec), "build 1450") &&
	    ASSERT_OK(rdr_run_prog(&f, f.key->progs.test_tunnel_redirect, &in, &out, &verdict),
		      "test run 1450 bytes to node C's pod")) {
		ASSERT_EQ(verdict, TC_ACT_REDIRECT, "1450 bytes (the MTU): redirected");
		ASSERT_IP_EQ(htonl(f.key->bss->encap_remote), RDR_NODE_C, "remote: node C");
	}
cleanup:
	rdr_close(&f);
}

/*
 * Through a Service whose backend is node B's pod: translated, tracked as before, and into the
 * tunnel; the flow's next packet too.
 */
void test_tunnel_redirect_service(void)
{
	struct pkt_spec spec = rdr_spec(TEST_VIP, TEST_VIP_PORT, 60, 0);
	struct rdr_fixture f;
	struct ct_entry entry;
	struct pkt in, out, expected;
	int verdict;

	spec.tcp_flags = PKT_TCP_SYN;
	if (!rdr_setup(&f) ||
	    !ASSERT_OK(fixture_set_slot(&f.pod, TEST_SVC_ID, 0, 0, TEST_BACKEND_B_ID),
		       "the service's backend: node B's pod") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run SYN"))
		goto cleanup;
	spec.daddr = RDR_POD_B;
	spec.dport = TEST_BACKEND_PORT;
	if (!ASSERT_OK(pkt_build(&expected, &spec), "build the translated SYN"))
		goto cleanup;
	rdr_expect_redirected(&out, verdict, expected, "SYN to the VIP");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_SVC_NEW), 1, "stats service_new");
	ASSERT_OK(fixture_ct_lookup(&f.pod, RDR_POD_B, TEST_CLIENT_IP, TEST_BACKEND_PORT,
				    TEST_CLIENT_PORT, IPPROTO_TCP, &entry),
		  "the reply's conntrack entry");
	ASSERT_EQ(fixture_ct_count(&f.pod), 2, "conntrack entries: both directions, as before");

	spec = rdr_spec(TEST_VIP, TEST_VIP_PORT, 600, 0);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build data") ||
	    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run data"))
		goto cleanup;
	spec.daddr = RDR_POD_B;
	spec.dport = TEST_BACKEND_PORT;
	if (ASSERT_OK(pkt_build(&expected, &spec), "build the translated data"))
		rdr_expect_redirected(&out, verdict, expected, "data to the VIP");
	ASSERT_EQ(fixture_stat(&f.pod, STAT_CT_FORWARD), 1, "stats ct_forward");
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "no drop");
cleanup:
	rdr_close(&f);
}

/*
 * Too big for the device (DF set): to the node's routing untouched, which answers ICMP
 * fragmentation needed; through a Service translated, as before, and to the routing too.
 */
void test_tunnel_redirect_too_big(void)
{
	struct pkt_spec spec = rdr_spec(RDR_POD_B, TEST_BACKEND_PORT, RDR_MTU + 1, 0);
	struct rdr_fixture f;
	struct pkt in, out;
	int verdict;

	if (!rdr_setup(&f) || !ASSERT_OK(pkt_build(&in, &spec), "build 1451"))
		goto cleanup;
	fixture_expect_untouched(&f.pod, &in, TC_ACT_OK, "1451 bytes to node B's pod");
	spec = rdr_spec(RDR_POD_B, TEST_BACKEND_PORT, 1500, 0);
	if (ASSERT_OK(pkt_build(&in, &spec), "build 1500"))
		fixture_expect_untouched(&f.pod, &in, TC_ACT_OK, "1500 bytes to node B's pod");
	if (ASSERT_OK(rdr_run_prog(&f, f.key->progs.test_tunnel_redirect, &in, &out, &verdict),
		      "test run tunnel_redirect 1500")) {
		ASSERT_EQ(verdict, RDR_VERDICT_PASS, "tunnel_redirect: to the node's routing");
		ASSERT_NEQ(f.key->bss->encap_key_err, 0, "no tunnel key set");
	}
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "no drop");

	spec = rdr_spec(TEST_VIP, TEST_VIP_PORT, 60, 0);
	spec.tcp_flags = PKT_TCP_SYN;
	if (!ASSERT_OK(fixture_set_slot(&f.pod, TEST_SVC_ID, 0, 0, TEST_BACKEND_B_ID),
		       "the service's backend: node B's pod") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build SYN") ||
	    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run SYN"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "SYN to the VIP: into the tunnel");
	spec = rdr_spec(TEST_VIP, TEST_VIP_PORT, 1500, 0);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build 1500 to the VIP") ||
	    !ASSERT_OK(fixture_run(&f.pod, &in, &out, &verdict), "test run 1500 to the VIP"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "1500 bytes to the VIP: to the node's routing");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), RDR_POD_B, "translated to node B's pod");
	ASSERT_EQ(out.data[PKT_IP_OFF + 8], 64, "TTL untouched (the routing decrements it)");
	ASSERT_TRUE(memcmp(out.data + 6, test_client_mac, 6) == 0, "source MAC untouched");
	ASSERT_CSUMS_OK(out.data, out.len, "translated 1500 bytes");
	ASSERT_EQ(fixture_drops_total(&f.pod), 0, "no drop");
cleanup:
	rdr_close(&f);
}

/*
 * Not for the tunnel: a TTL that runs out, a destination in no other node's pod CIDR (another
 * node's own address, a pod here, outside), and everything when there is no tunnel device.
 */
void test_tunnel_redirect_not_taken(void)
{
	struct {
		const char *what;
		__be32 daddr;
		uint8_t ttl;
	} cases[] = {
	    {"TTL 1 to node B's pod", RDR_POD_B, 1},
	    {"to node B itself", RDR_NODE_B, 0},
	    {"to a pod of no node", TEST_OTHER_IP, 0},
	    {"outside the cluster", TEST_IP(203, 0, 113, 7), 0},
	};
	struct rdr_fixture f;
	struct pkt in;
	char name[128];

	if (!rdr_setup(&f))
		goto cleanup;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_spec spec =
		    rdr_spec(cases[i].daddr, TEST_BACKEND_PORT, 60, cases[i].ttl);

		snprintf(name, sizeof(name), "%s: build", cases[i].what);
		if (ASSERT_OK(pkt_build(&in, &spec), name))
			fixture_expect_untouched(&f.pod, &in, TC_ACT_OK, cases[i].what);
	}
	/* No tunnel device (native routing): node B's pod is the routing's, as before. */
	{
		struct pkt_spec spec = rdr_spec(RDR_POD_B, TEST_BACKEND_PORT, 60, 0);
		struct tunnel_device none = {0};
		uint32_t zero = 0;

		if (ASSERT_OK(fixture_map_update(f.pod.skel->maps.tunnel_dev, &zero, &none),
			      "tunnel_dev: none") &&
		    ASSERT_OK(pkt_build(&in, &spec), "build"))
			fixture_expect_untouched(&f.pod, &in, TC_ACT_OK, "without a tunnel");
	}
cleanup:
	rdr_close(&f);
}

/* tc_tunnel_egress keeps the key a redirected packet carries (it set none of its own). */
void test_tunnel_redirect_keyed_kept(void)
{
	struct pkt_spec spec = rdr_spec(RDR_POD_B, TEST_BACKEND_PORT, 60, 0);
	struct rdr_fixture f;
	struct pkt in, out;
	int verdict;

	if (!rdr_setup(&f) || !ASSERT_OK(pkt_build(&in, &spec), "build"))
		goto cleanup;
	f.key->bss->is_prekeyed = 1;
	f.key->bss->prekey_remote = ntohl(RDR_NODE_C);
	f.key->bss->prekey_vni = 4242;
	if (ASSERT_OK(rdr_run_prog(&f, f.key->progs.test_tunnel_redirect, &in, &out, &verdict),
		      "test run tunnel_encap on a keyed packet")) {
		ASSERT_EQ(verdict, TC_ACT_OK, "verdict: on into the VXLAN device");
		ASSERT_IP_EQ(htonl(f.key->bss->encap_remote), RDR_NODE_C, "remote: the key's");
		ASSERT_EQ(f.key->bss->encap_vni, 4242, "VNI: the key's");
		ASSERT_EQ(fixture_stat(&f.pod, STAT_TUNNEL_OUT), 1, "stats tunnel_out");
	}
cleanup:
	rdr_close(&f);
}
