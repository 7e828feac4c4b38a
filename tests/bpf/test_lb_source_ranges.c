// SPDX-License-Identifier: Apache-2.0
/* loadBalancerSourceRanges: new flows from outside the ranges are dropped and counted. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

static bool ranges_setup(struct fixture *f)
{
	return fixture_setup(f, IPPROTO_TCP) &&
	       ASSERT_OK(fixture_set_service_options(f, TEST_VIP, TEST_VIP_PORT, IPPROTO_TCP,
						     LB_SVC_F_SOURCE_RANGES, 0),
			 "source ranges flag") &&
	       ASSERT_OK(fixture_set_source_range(f, TEST_SVC_ID, TEST_IP(10, 0, 1, 0), 24),
			 "admit 10.0.1.0/24");
}

void test_lb_source_range_admits(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP); /* from 10.0.1.5 */
	struct fixture f = {0};
	struct pkt in, out;
	int verdict;

	if (!ranges_setup(&f) ||
	    !ASSERT_OK(fixture_set_endpoint(&f, spec.saddr, TEST_INGRESS_IFINDEX, test_client_mac,
					    test_gateway_mac),
		       "the client, a pod on this node") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "ip.daddr of an admitted client");
	ASSERT_EQ(fixture_drop(&f, DROP_SOURCE_RANGE), 0, "drops outside source ranges");
cleanup:
	fixture_close(&f);
}

void test_lb_source_range_drops(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	struct pkt in, out;
	int verdict;

	spec.saddr = TEST_IP(10, 0, 2, 5); /* one bit outside 10.0.1.0/24 */
	if (!ranges_setup(&f) ||
	    !ASSERT_OK(fixture_set_endpoint(&f, spec.saddr, TEST_INGRESS_IFINDEX, test_client_mac,
					    test_gateway_mac),
		       "the client, a pod on this node") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "test run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict for a client outside the ranges");
	ASSERT_EQ(fixture_drop(&f, DROP_SOURCE_RANGE), 1, "drops outside source ranges");
	ASSERT_EQ(fixture_ct_count(&f), 0, "conntrack entries");
	if (ASSERT_EQ(out.len, in.len, "dropped packet length"))
		ASSERT_MEM_EQ(out.data, in.data, in.len, "dropped packet bytes (no rewrite)");
cleanup:
	fixture_close(&f);
}
