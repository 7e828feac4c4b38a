// SPDX-License-Identifier: Apache-2.0
/*
 * Flow events of the pod program (maps/events.h): a denied packet tells one drop with its
 * reason, tuple, identities and direction; a new Service flow tells its translation; a packet of
 * an established flow tells nothing unless tracing is on; a flood of drops is rate-limited, and
 * every drop is either told or counted lost.
 */
#include <netinet/in.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "maps/events.h"
#include "maps/policy.h"
#include "skel/tc_pod.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define ID_CLIENT  300u
#define ID_BACKEND 301u
static int run_spec(struct fixture *f, const struct pkt_spec *spec, int *verdict)
{
	struct pkt in, out;
	int err = pkt_build(&in, spec);

	return err ? err : fixture_run(f, &in, &out, verdict);
}

/* The client, egress-isolated without a rule, to backend A's pod address: denied. */
static bool events_setup_denied(struct fixture *f, struct pkt_spec *spec)
{
	*spec = fixture_client_spec(IPPROTO_TCP);
	spec->daddr = TEST_BACKEND_A;
	spec->dport = htons(8080);
	return fixture_setup(f, IPPROTO_TCP) &&
	       ASSERT_OK(fixture_policy_enable(f, true), "enable") &&
	       ASSERT_OK(fixture_policy_address(f, TEST_CLIENT_IP, 32, ID_CLIENT,
						IPCACHE_F_POD | IPCACHE_F_ISOLATED_EGRESS),
			 "ipcache client") &&
	       ASSERT_OK(fixture_policy_address(f, TEST_BACKEND_A, 32, ID_BACKEND, IPCACHE_F_POD),
			 "ipcache backend A");
}

void test_events_policy_drop(void)
{
	static struct fixture_events seen;
	struct fixture f = {0};
	struct pkt_spec spec;
	struct flow_event *event = &seen.events[0];
	int verdict;

	if (!events_setup_denied(&f, &spec) || !ASSERT_OK(run_spec(&f, &spec, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict");
	if (!fixture_events_read(&f, &seen) || !ASSERT_EQ(seen.count, 1, "events for one drop"))
		goto cleanup;
	ASSERT_EQ(event->kind, EVENT_DROP, "kind");
	ASSERT_EQ(event->reason, DROP_POLICY_EGRESS, "reason");
	ASSERT_EQ(event->direction, POLICY_DIR_EGRESS, "direction");
	ASSERT_EQ(event->policy, 0, "policy: default deny");
	ASSERT_EQ(event->proto, IPPROTO_TCP, "proto");
	ASSERT_IP_EQ(event->saddr, TEST_CLIENT_IP, "saddr");
	ASSERT_IP_EQ(event->daddr, TEST_BACKEND_A, "daddr");
	ASSERT_EQ(event->sport, TEST_CLIENT_PORT, "sport");
	ASSERT_EQ(event->dport, htons(8080), "dport");
	ASSERT_EQ(event->src_identity, ID_CLIENT, "source identity");
	ASSERT_EQ(event->dst_identity, ID_BACKEND, "destination identity");
	ASSERT_NEQ(event->time_ns, 0, "time");
	ASSERT_EQ(fixture_events_lost(&f, EVENTS_LOST_RING) +
		      fixture_events_lost(&f, EVENTS_LOST_RATE),
		  0, "events lost");
cleanup:
	fixture_close(&f);
}

void test_events_service_translated(void)
{
	static struct fixture_events seen;
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct flow_event *event = &seen.events[0];
	struct fixture f = {0};
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) || !ASSERT_OK(run_spec(&f, &spec, &verdict), "run"))
		goto cleanup;
	ASSERT_NEQ(verdict, TC_ACT_SHOT, "verdict");
	if (!fixture_events_read(&f, &seen) || !ASSERT_EQ(seen.count, 1, "events for one new flow"))
		goto cleanup;
	ASSERT_EQ(event->kind, EVENT_NEW_FLOW, "kind");
	ASSERT_EQ(event->flags & EVENT_F_TRANSLATED, EVENT_F_TRANSLATED, "translated");
	ASSERT_EQ(event->svc_id, TEST_SVC_ID, "service");
	ASSERT_EQ(event->backend_id, TEST_BACKEND_A_ID, "backend id");
	ASSERT_IP_EQ(event->saddr, TEST_CLIENT_IP, "saddr");
	ASSERT_IP_EQ(event->daddr, TEST_VIP, "daddr: the frontend");
	ASSERT_EQ(event->dport, TEST_VIP_PORT, "dport");
	ASSERT_IP_EQ(event->nat_saddr, TEST_CLIENT_IP, "leaves from the client");
	ASSERT_IP_EQ(event->nat_daddr, TEST_BACKEND_A, "leaves to backend A");
	ASSERT_EQ(event->nat_dport, TEST_BACKEND_PORT, "backend port");

	/* The flow's next packet is established: it tells nothing. */
	spec.tcp_flags = PKT_TCP_ACK;
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run established"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f, STAT_CT_FORWARD), 1, "counted established");
	if (fixture_events_read(&f, &seen))
		ASSERT_EQ(seen.count, 0, "events for an established packet");
cleanup:
	fixture_close(&f);
}

/* Tracing on (the events_cfg section, written as the CLI does), an established packet tells one
 * EVENT_TRACE. */
void test_events_trace_established(void)
{
	static struct fixture_events seen;
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct events_cfg cfg = {.flags = EVENTS_CFG_F_TRACE};
	struct fixture f = {0};
	__u32 zero = 0;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) || !ASSERT_OK(run_spec(&f, &spec, &verdict), "run") ||
	    !fixture_events_read(&f, &seen) ||
	    !ASSERT_OK(bpf_map_update_elem(bpf_map__fd(f.skel->maps.data_events_cfg), &zero, &cfg,
					   BPF_ANY),
		       "trace on"))
		goto cleanup;
	spec.tcp_flags = PKT_TCP_ACK;
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run established") ||
	    !fixture_events_read(&f, &seen) ||
	    !ASSERT_EQ(seen.count, 1, "events for a traced packet"))
		goto cleanup;
	ASSERT_EQ(seen.events[0].kind, EVENT_TRACE, "kind");
	ASSERT_IP_EQ(seen.events[0].daddr, TEST_VIP, "daddr as the packet came");
cleanup:
	fixture_close(&f);
}

/* A flood of one drop reason: at most a burst per CPU (and its refill) is told, the rest lost. */
void test_events_drop_rate_limited(void)
{
	static struct fixture_events seen;
	const uint64_t flood = 4000;
	struct fixture f = {0};
	struct pkt_spec spec;
	uint64_t lost;
	int verdict;

	if (!events_setup_denied(&f, &spec))
		goto cleanup;
	for (uint64_t i = 0; i < flood; i++)
		if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run"))
			goto cleanup;
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), flood, "drops counted");
	if (!fixture_events_read(&f, &seen))
		goto cleanup;
	lost = fixture_events_lost(&f, EVENTS_LOST_RATE);
	ASSERT_TRUE(seen.count >= EVENTS_DROP_BURST, "a burst is told");
	ASSERT_TRUE(seen.count < flood / 2, "the flood is limited");
	ASSERT_EQ(seen.count + lost, flood, "every drop told or counted lost");
	ASSERT_EQ(fixture_events_lost(&f, EVENTS_LOST_RING), 0, "ring never full");
cleanup:
	fixture_close(&f);
}

/* A Service without endpoints answers ICMP port unreachable: told once, as a rejected drop. */
void test_events_reject_no_endpoints(void)
{
	static struct fixture_events seen;
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct flow_event *event = &seen.events[0];
	struct fixture f = {0};
	int verdict;

	if (!fixture_setup(&f, 0) ||
	    !ASSERT_OK(
		fixture_set_service(&f, TEST_VIP, TEST_VIP_PORT, IPPROTO_TCP, TEST_SVC_ID, 0, 0),
		"service without endpoints") ||
	    !ASSERT_OK(run_spec(&f, &spec, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f, STAT_REJECT), 1, "rejected");
	if (!fixture_events_read(&f, &seen) || !ASSERT_EQ(seen.count, 1, "events for one reject"))
		goto cleanup;
	ASSERT_EQ(event->kind, EVENT_DROP, "kind");
	ASSERT_EQ(event->reason, DROP_NO_BACKEND, "reason");
	ASSERT_EQ(event->flags & EVENT_F_REJECTED, EVENT_F_REJECTED, "rejected");
	ASSERT_IP_EQ(event->saddr, TEST_CLIENT_IP, "saddr: the client's packet");
	ASSERT_IP_EQ(event->daddr, TEST_VIP, "daddr: the frontend");
	ASSERT_EQ(event->dport, TEST_VIP_PORT, "dport");
cleanup:
	fixture_close(&f);
}
