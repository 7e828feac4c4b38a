// SPDX-License-Identifier: Apache-2.0
/* A backend that is a pod on this node gets the packet by redirect, with its MACs written. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

void test_lb_local_backend_redirect(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP), want;
	struct fixture f = {0};
	struct pkt in, out, expected;
	struct ct_entry entry;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	if (!ASSERT_OK(fixture_set_endpoint(&f, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					    test_backend_a_mac, test_backend_a_host_mac),
		       "seed ep4 for backend A"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet"))
		goto cleanup;
	if (!ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
		goto cleanup;

	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "verdict (bpf_redirect_peer to backend A's veth)");
	ASSERT_MEM_EQ(out.data, test_backend_a_mac, 6, "eth.dst (backend pod's MAC)");
	ASSERT_MEM_EQ(out.data + 6, test_backend_a_host_mac, 6, "eth.src (its host-side veth)");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr");
	ASSERT_PORT_EQ(pkt_l4_dport(&out), TEST_BACKEND_PORT, "tcp.dest");
	ASSERT_CSUMS_OK(out.data, out.len, "redirected packet");
	want = spec;
	memcpy(want.src_mac, test_backend_a_host_mac, 6);
	memcpy(want.dst_mac, test_backend_a_mac, 6);
	want.daddr = TEST_BACKEND_A;
	want.dport = TEST_BACKEND_PORT;
	if (ASSERT_OK(pkt_build(&expected, &want), "build expected packet"))
		ASSERT_PKT_EQ(out.data, out.len, expected.data, expected.len, "redirected packet");
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					TEST_VIP_PORT, IPPROTO_TCP, &entry),
		      "forward ct entry")) {
		ASSERT_EQ(entry.ifindex, TEST_BACKEND_A_IFINDEX, "forward ct ifindex");
		ASSERT_MEM_EQ(entry.mac, test_backend_a_mac, 6, "forward ct mac");
		ASSERT_MEM_EQ(entry.host_mac, test_backend_a_host_mac, 6, "forward ct host_mac");
	}
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 1, "stats service_new");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}
