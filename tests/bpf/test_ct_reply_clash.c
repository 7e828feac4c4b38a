// SPDX-License-Identifier: Apache-2.0
/*
 * A new flow's reply entry never overwrites another live flow's: a client that reuses its
 * source port towards a second Service on the same backend is dropped (counted) instead of
 * stealing the first flow's reverse translation; an expired or closed flow's tuple is taken
 * over, and a new SYN on the flow's own tuple rewrites its own entry.
 */
#include <errno.h>
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define NSEC_PER_SEC 1000000000ull
#define T0	     (1000 * NSEC_PER_SEC)
#define VIP2	     TEST_IP(10, 96, 0, 11) /* a second Service, also backed by A:8080 */
#define SVC2_ID	     8u

static bool seed_second_service(struct fixture *f)
{
	int err = fixture_set_slot(f, SVC2_ID, 0, 0, TEST_BACKEND_A_ID);

	err = err ?: fixture_set_revnat(f, SVC2_ID, VIP2, TEST_VIP_PORT, IPPROTO_TCP);
	err = err ?: fixture_set_service(f, VIP2, TEST_VIP_PORT, IPPROTO_TCP, SVC2_ID, 1, 0);
	return ASSERT_OK(err, "second service on backend A");
}

/* The client sends TCP_FLAGS from TEST_CLIENT_PORT to VIP:80 at datapath time NOW. */
static int client_sends(struct fixture *f, __be32 vip, uint64_t now, uint8_t tcp_flags,
			struct pkt *out, int *verdict)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct pkt in;
	int err;

	spec.daddr = vip;
	spec.tcp_flags = tcp_flags;
	err = fixture_set_clock(f, now);
	err = err ?: pkt_build(&in, &spec);
	return err ?: fixture_run(f, &in, out, verdict);
}

/* Backend A's packet to the client: whose VIP does it come back from? */
static bool backend_reply_from(struct fixture *f, uint64_t now, __be32 vip, const char *what)
{
	struct pkt_spec spec = fixture_reply_spec(IPPROTO_TCP);
	struct pkt in, out;
	int verdict;

	spec.tcp_flags = PKT_TCP_ACK;
	return ASSERT_OK(fixture_set_clock(f, now), what) &&
	       ASSERT_OK(pkt_build(&in, &spec), what) &&
	       ASSERT_OK(fixture_run(f, &in, &out, &verdict), what) &&
	       ASSERT_IP_EQ(pkt_ip_saddr(&out), vip, what);
}

static bool reply_entry(struct fixture *f, struct ct_entry *entry)
{
	return ASSERT_OK(fixture_ct_lookup(f, TEST_BACKEND_A, TEST_CLIENT_IP, TEST_BACKEND_PORT,
					   TEST_CLIENT_PORT, IPPROTO_TCP, entry),
			 "reply entry (A:8080 -> client:40000)");
}

/* Flow 1 is live: the same client port towards the second Service must not take its replies. */
void test_ct_reply_clash_live_flow_kept(void)
{
	struct fixture f = {0};
	struct ct_entry entry;
	struct pkt out;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod here") ||
	    !seed_second_service(&f))
		goto cleanup;
	if (!ASSERT_OK(client_sends(&f, TEST_VIP, T0, PKT_TCP_SYN, &out, &verdict), "flow 1 SYN") ||
	    !ASSERT_OK(client_sends(&f, TEST_VIP, T0 + 1000000, PKT_TCP_ACK, &out, &verdict),
		       "flow 1 ACK"))
		goto cleanup;
	if (!ASSERT_OK(client_sends(&f, VIP2, T0 + NSEC_PER_SEC, PKT_TCP_SYN, &out, &verdict),
		       "flow 2 SYN, same client port, other Service, same backend"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "flow 2 dropped");
	ASSERT_EQ(fixture_drop(&f, DROP_CT_CLASH), 1, "drops: conntrack tuple held by a live flow");
	if (reply_entry(&f, &entry))
		ASSERT_IP_EQ(entry.nat_saddr, TEST_VIP,
			     "reply entry still translates to flow 1's VIP");
	backend_reply_from(&f, T0 + 2 * NSEC_PER_SEC, TEST_VIP, "flow 1's reply source");
	ASSERT_EQ(fixture_ct_lookup(&f, TEST_CLIENT_IP, VIP2, TEST_CLIENT_PORT, TEST_VIP_PORT,
				    IPPROTO_TCP, &entry),
		  -ENOENT, "no forward entry of the dropped flow");
cleanup:
	fixture_close(&f);
}

/* Flow 1 was reset: its tuple is free for the new flow at once. */
void test_ct_reply_clash_closed_taken_over(void)
{
	struct fixture f = {0};
	struct ct_entry entry;
	struct pkt out;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod here") ||
	    !seed_second_service(&f))
		goto cleanup;
	if (!ASSERT_OK(client_sends(&f, TEST_VIP, T0, PKT_TCP_SYN, &out, &verdict), "flow 1 SYN") ||
	    !ASSERT_OK(client_sends(&f, TEST_VIP, T0 + 1000000, PKT_TCP_ACK, &out, &verdict),
		       "flow 1 ACK") ||
	    !ASSERT_OK(
		client_sends(&f, TEST_VIP, T0 + 2000000, PKT_TCP_RST | PKT_TCP_ACK, &out, &verdict),
		"flow 1 RST"))
		goto cleanup;
	if (!ASSERT_OK(client_sends(&f, VIP2, T0 + NSEC_PER_SEC, PKT_TCP_SYN, &out, &verdict),
		       "flow 2 SYN"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "flow 2 translated to A");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
	if (reply_entry(&f, &entry)) {
		ASSERT_IP_EQ(entry.nat_saddr, VIP2, "reply entry now flow 2's");
		ASSERT_FALSE(entry.flags & CT_F_CLOSING, "flow 2's reply entry is not closing");
	}
	backend_reply_from(&f, T0 + 2 * NSEC_PER_SEC, VIP2, "flow 2's reply source");
cleanup:
	fixture_close(&f);
}

/* Flow 1 expired (its SYN was never answered): its tuple is taken over. */
void test_ct_reply_clash_expired_taken_over(void)
{
	struct fixture f = {0};
	struct ct_entry entry;
	struct pkt out;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod here") ||
	    !seed_second_service(&f))
		goto cleanup;
	if (!ASSERT_OK(client_sends(&f, TEST_VIP, T0, PKT_TCP_SYN, &out, &verdict), "flow 1 SYN") ||
	    !ASSERT_OK(client_sends(&f, VIP2, T0 + (CT_LIFETIME_TCP_SYN + 1) * NSEC_PER_SEC,
				    PKT_TCP_SYN, &out, &verdict),
		       "flow 2 SYN after flow 1 expired"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "flow 2 translated to A");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
	if (reply_entry(&f, &entry)) {
		ASSERT_IP_EQ(entry.nat_saddr, VIP2, "reply entry now flow 2's");
		ASSERT_EQ(entry.expires_ns, T0 + (2 * CT_LIFETIME_TCP_SYN + 1) * NSEC_PER_SEC,
			  "reply entry deadline is flow 2's");
	}
cleanup:
	fixture_close(&f);
}

/* A new SYN on the flow's own tuple (the client reused its port to the same Service). */
void test_ct_reply_same_flow_rewritten(void)
{
	struct fixture f = {0};
	struct ct_entry entry;
	struct pkt out;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod here"))
		goto cleanup;
	if (!ASSERT_OK(client_sends(&f, TEST_VIP, T0, PKT_TCP_SYN, &out, &verdict), "SYN") ||
	    !ASSERT_OK(client_sends(&f, TEST_VIP, T0 + 1000000, PKT_TCP_ACK, &out, &verdict),
		       "ACK") ||
	    !ASSERT_OK(client_sends(&f, TEST_VIP, T0 + NSEC_PER_SEC, PKT_TCP_SYN, &out, &verdict),
		       "new SYN on the same tuple"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "new SYN translated to A");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 2, "stats service_new");
	if (reply_entry(&f, &entry))
		ASSERT_EQ(entry.expires_ns, T0 + NSEC_PER_SEC + CT_LIFETIME_TCP_SYN * NSEC_PER_SEC,
			  "reply entry rewritten for the new handshake");
cleanup:
	fixture_close(&f);
}
