// SPDX-License-Identifier: Apache-2.0
/*
 * Replies of a flow that was open when its service was deleted keep coming from the VIP: the
 * conntrack entry carries the frontend, as kube-proxy's conntrack entries keep TCP flows going.
 */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

void test_ct_reply_after_service_delete(void)
{
	struct pkt_spec client = fixture_client_spec(IPPROTO_TCP),
			spec = fixture_reply_spec(IPPROTO_TCP);
	struct fixture f = {0};
	struct pkt in, out;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod on this node"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &client), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run client packet"))
		goto cleanup;
	if (!ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "client packet ip.daddr"))
		goto cleanup;
	if (!ASSERT_OK(fixture_delete_revnat(&f, TEST_SVC_ID), "delete lb4_revnat entry"))
		goto cleanup;

	if (!ASSERT_OK(pkt_build(&in, &spec), "build reply") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run reply"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "reply verdict (into the client pod)");
	ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_VIP, "reply ip.saddr is the VIP");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_REPLY), 1, "stats ct_reply");
	ASSERT_CSUMS_OK(out.data, out.len, "reply checksums");
cleanup:
	fixture_close(&f);
}
