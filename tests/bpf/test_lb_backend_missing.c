// SPDX-License-Identifier: Apache-2.0
/* A slot naming a backend that is gone drops the packet, leaving no half-made flow behind. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

void test_lb_backend_missing_dropped(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	struct pkt in;

	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	/* The agent removed backend 99 between writing the slot and the packet's lookups. */
	if (!ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 0, 0, 99), "slot 0 -> backend 99"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet"))
		goto cleanup;
	fixture_expect_untouched(&f, &in, TC_ACT_SHOT, "packet to a vanished backend");
	ASSERT_EQ(fixture_drop(&f, DROP_BACKEND_MISSING), 1, "drops backend missing");
cleanup:
	fixture_close(&f);
}
