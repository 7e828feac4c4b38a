// SPDX-License-Identifier: Apache-2.0
/*
 * New flows per Service frontend (svc_flows, sluice_service_new_flows_total): a translated new
 * flow counts once under its frontend's svc_id; its later packets, flows to no Service and a
 * Service without endpoints (rejected) count nothing; another frontend counts apart.
 */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define OTHER_VIP    TEST_IP(10, 96, 0, 20)
#define OTHER_SVC_ID 8u
#define EMPTY_VIP    TEST_IP(10, 96, 0, 30)
#define EMPTY_SVC_ID 9u

static int run_spec(struct fixture *f, const struct pkt_spec *spec, int *verdict)
{
	struct pkt in, out;
	int err = pkt_build(&in, spec);

	return err ? err : fixture_run(f, &in, &out, verdict);
}

void test_lb_service_flows_counted(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	ASSERT_EQ(fixture_service_flows(&f, TEST_SVC_ID), 0, "before any flow");
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run SYN"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict");
	ASSERT_EQ(fixture_service_flows(&f, TEST_SVC_ID), 1, "the new flow");

	/* The same flow's next packet: established, not counted again. */
	spec.tcp_flags = PKT_TCP_ACK;
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run ACK"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f, STAT_CT_FORWARD), 1, "stats ct_forward");
	ASSERT_EQ(fixture_service_flows(&f, TEST_SVC_ID), 1, "after an established packet");

	/* Another connection (another source port): a second new flow. */
	spec.tcp_flags = PKT_TCP_SYN;
	spec.sport = htons(40001);
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run second SYN"))
		goto cleanup;
	ASSERT_EQ(fixture_service_flows(&f, TEST_SVC_ID), 2, "the second new flow");

	/* Not a Service: nothing counted anywhere. */
	spec.daddr = TEST_OTHER_IP;
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run to no Service"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f, STAT_PASS), 1, "stats pass");
	ASSERT_EQ(fixture_service_flows(&f, TEST_SVC_ID), 2, "after a flow to no Service");
	ASSERT_EQ(fixture_service_flows(&f, 0), 0, "nothing under svc_id 0");
cleanup:
	fixture_close(&f);
}

void test_lb_service_flows_per_frontend(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_revnat(&f, OTHER_SVC_ID, OTHER_VIP, TEST_VIP_PORT, IPPROTO_TCP),
		       "other revnat") ||
	    !ASSERT_OK(fixture_set_slot(&f, OTHER_SVC_ID, 0, 0, TEST_BACKEND_A_ID), "other slot") ||
	    !ASSERT_OK(
		fixture_set_service(&f, OTHER_VIP, TEST_VIP_PORT, IPPROTO_TCP, OTHER_SVC_ID, 1, 0),
		"other frontend") ||
	    !ASSERT_OK(fixture_set_revnat(&f, EMPTY_SVC_ID, EMPTY_VIP, TEST_VIP_PORT, IPPROTO_TCP),
		       "empty revnat") ||
	    !ASSERT_OK(
		fixture_set_service(&f, EMPTY_VIP, TEST_VIP_PORT, IPPROTO_TCP, EMPTY_SVC_ID, 0, 0),
		"frontend without endpoints"))
		goto cleanup;
	spec.daddr = OTHER_VIP;
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run to the other VIP"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 1, "stats service_new");
	ASSERT_EQ(fixture_service_flows(&f, OTHER_SVC_ID), 1, "other frontend");
	ASSERT_EQ(fixture_service_flows(&f, TEST_SVC_ID), 0, "standard frontend untouched");

	/* No endpoints: rejected (ICMP port unreachable), no flow. */
	spec.daddr = EMPTY_VIP;
	spec.sport = htons(40002);
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run to the empty VIP"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f, STAT_REJECT), 1, "stats reject_no_endpoints");
	ASSERT_EQ(fixture_service_flows(&f, EMPTY_SVC_ID), 0, "no flow counted for a reject");
cleanup:
	fixture_close(&f);
}
