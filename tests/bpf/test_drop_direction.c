// SPDX-License-Identifier: Apache-2.0
/*
 * Drops are counted by reason and direction (maps/stats.h enum drop_dir), on the side of the pod
 * the program serves: what a pod sends and tc_pod drops is egress; a NetworkPolicy drop is on
 * its policy's side, so a local destination's ingress policy judged in the sender's tc_pod is
 * ingress. tc_to_pod, the tunnel's ingress and the uplink programs count ingress, the tunnel's
 * egress egress (test_to_pod_ingress.c, test_tunnel.c, test_node_external.c).
 */
#include <netinet/in.h>
#include <string.h>

#include "maps/policy.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define ID_CLIENT  200u
#define ID_BACKEND 201u

static int run_spec(struct fixture *f, const struct pkt_spec *spec, int *verdict)
{
	struct pkt in, out;
	int err = pkt_build(&in, spec);

	return err ? err : fixture_run(f, &in, &out, verdict);
}

/* REASON counted INGRESS times ingress and EGRESS times egress, and nothing else dropped. */
static void expect_drops(struct fixture *f, enum drop_reason reason, uint64_t ingress,
			 uint64_t egress)
{
	ASSERT_EQ(fixture_drop_dir(f, reason, DROP_DIR_INGRESS), ingress, "drops, ingress");
	ASSERT_EQ(fixture_drop_dir(f, reason, DROP_DIR_EGRESS), egress, "drops, egress");
	ASSERT_EQ(fixture_drops_total(f), ingress + egress, "drops over every reason");
}

/* A pod's packet with another source than its own: egress, the side of the pod that sent it. */
void test_drop_direction_pod_sends_egress(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	int verdict;

	spec.saddr = TEST_IP(10, 0, 1, 66); /* not the client's address, on the client's veth */
	if (!fixture_setup(&f, IPPROTO_TCP) || !ASSERT_OK(run_spec(&f, &spec, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict");
	expect_drops(&f, DROP_SPOOFED, 0, 1);
cleanup:
	fixture_close(&f);
}

/* Client and backend A as pods of this node with identities, ISOLATION on one of them. */
static bool policy_setup(struct fixture *f, uint32_t client_flags, uint32_t backend_flags)
{
	return fixture_setup(f, IPPROTO_TCP) &&
	       ASSERT_OK(fixture_policy_enable(f, true), "enable") &&
	       ASSERT_OK(fixture_policy_address(f, TEST_CLIENT_IP, 32, ID_CLIENT,
						IPCACHE_F_POD | client_flags),
			 "ipcache client") &&
	       ASSERT_OK(fixture_policy_address(f, TEST_BACKEND_A, 32, ID_BACKEND,
						IPCACHE_F_POD | backend_flags),
			 "ipcache backend A") &&
	       ASSERT_OK(fixture_set_endpoint_backend_a(f), "endpoint A");
}

/*
 * The client's flow to backend A, on this node, through the Service and straight to the pod:
 * A's ingress policy denies it in the client's tc_pod, and the drop is A's ingress.
 */
void test_drop_direction_policy_ingress_in_sender(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	int verdict;

	if (!policy_setup(&f, 0, IPCACHE_F_ISOLATED_INGRESS) ||
	    !ASSERT_OK(run_spec(&f, &spec, &verdict), "run to the VIP"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict to the VIP");
	expect_drops(&f, DROP_POLICY_INGRESS, 1, 0);
	spec.daddr = TEST_BACKEND_A;
	spec.dport = TEST_BACKEND_PORT;
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run to the pod"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict to the pod");
	expect_drops(&f, DROP_POLICY_INGRESS, 2, 0);
cleanup:
	fixture_close(&f);
}

/* The client's own egress policy denies: egress. */
void test_drop_direction_policy_egress(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	int verdict;

	if (!policy_setup(&f, IPCACHE_F_ISOLATED_EGRESS, 0) ||
	    !ASSERT_OK(run_spec(&f, &spec, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict");
	expect_drops(&f, DROP_POLICY_EGRESS, 0, 1);
cleanup:
	fixture_close(&f);
}
