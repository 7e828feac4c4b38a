// SPDX-License-Identifier: Apache-2.0
/*
 * A SYN straight to a backend from the port a closed service flow used retires that flow, and
 * only it: a forward entry the client meanwhile re-created for a new flow on its tuple stays.
 */
#include <errno.h>
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

/* The client sends TCP_FLAGS from TEST_CLIENT_PORT to DADDR:DPORT. */
static bool client_sends(struct fixture *f, __be32 daddr, __be16 dport, uint8_t tcp_flags,
			 struct pkt *out, const char *what)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct pkt in;
	int verdict;

	spec.daddr = daddr;
	spec.dport = dport;
	spec.tcp_flags = tcp_flags;
	return ASSERT_OK(pkt_build(&in, &spec), what) &&
	       ASSERT_OK(fixture_run(f, &in, out, &verdict), what) &&
	       ASSERT_NEQ(verdict, TC_ACT_SHOT, what);
}

/* Backend A answers the client's port with TCP_FLAGS. */
static bool backend_a_sends(struct fixture *f, uint8_t tcp_flags, const char *what)
{
	struct pkt_spec spec = fixture_reply_spec(IPPROTO_TCP);
	struct pkt in, out;
	int verdict;

	spec.tcp_flags = tcp_flags;
	return ASSERT_OK(pkt_build(&in, &spec), what) &&
	       ASSERT_OK(fixture_run(f, &in, &out, &verdict), what);
}

/* A service flow client:40000 -> VIP -> A, handshake done, then reset by the client. */
static bool closed_flow_to_a(struct fixture *f)
{
	struct pkt out;

	return client_sends(f, TEST_VIP, TEST_VIP_PORT, PKT_TCP_SYN, &out, "SYN") &&
	       ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "SYN to A") &&
	       backend_a_sends(f, PKT_TCP_SYN | PKT_TCP_ACK, "SYN-ACK") &&
	       client_sends(f, TEST_VIP, TEST_VIP_PORT, PKT_TCP_ACK, &out, "ACK") &&
	       client_sends(f, TEST_VIP, TEST_VIP_PORT, PKT_TCP_RST | PKT_TCP_ACK, &out, "RST");
}

static int reply_a_entries(struct fixture *f)
{
	struct ct_entry entry;

	return !fixture_ct_lookup(f, TEST_BACKEND_A, TEST_CLIENT_IP, TEST_BACKEND_PORT,
				  TEST_CLIENT_PORT, IPPROTO_TCP, &entry);
}

/* The closed flow's two entries go when the client opens a connection straight to A. */
void test_ct_retire_closed_flow(void)
{
	struct fixture f = {0};
	struct ct_entry entry;
	struct pkt out;

	if (!fixture_setup(&f, IPPROTO_TCP) || !closed_flow_to_a(&f))
		goto cleanup;
	if (!client_sends(&f, TEST_BACKEND_A, TEST_BACKEND_PORT, PKT_TCP_SYN, &out,
			  "SYN straight to A"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "the direct SYN is not translated");
	ASSERT_EQ(reply_a_entries(&f), 0, "the closed flow's reply entry went");
	ASSERT_EQ(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT, TEST_VIP_PORT,
				    IPPROTO_TCP, &entry),
		  -ENOENT, "the closed flow's forward entry went");
	ASSERT_EQ(fixture_ct_count(&f), 0, "nothing else in conntrack");
cleanup:
	fixture_close(&f);
}

/*
 * The client reopened its tuple to the VIP and landed on B: the forward entry under the closed
 * flow's forward key is the new flow's now. Retiring the closed flow must leave it, or the new
 * flow's next packet would start over without it.
 */
void test_ct_retire_closed_keeps_new_forward(void)
{
	struct fixture f = {0};
	struct ct_entry entry;
	struct pkt out;

	if (!fixture_setup(&f, IPPROTO_TCP) || !closed_flow_to_a(&f))
		goto cleanup;
	if (!ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 0, 0, TEST_BACKEND_B_ID), "slot 0: B") ||
	    !client_sends(&f, TEST_VIP, TEST_VIP_PORT, PKT_TCP_SYN, &out, "new SYN to the VIP"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_B, "the new flow goes to B");
	ASSERT_EQ(reply_a_entries(&f), 1, "the closed flow's reply entry is still there");
	if (!client_sends(&f, TEST_BACKEND_A, TEST_BACKEND_PORT, PKT_TCP_SYN, &out,
			  "SYN straight to A"))
		goto cleanup;
	ASSERT_EQ(reply_a_entries(&f), 0, "the closed flow's reply entry went");
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					TEST_VIP_PORT, IPPROTO_TCP, &entry),
		      "the new flow's forward entry stays"))
		ASSERT_IP_EQ(entry.nat_daddr, TEST_BACKEND_B, "and still leads to B");
	ASSERT_OK(fixture_ct_lookup(&f, TEST_BACKEND_B, TEST_CLIENT_IP, TEST_BACKEND_PORT,
				    TEST_CLIENT_PORT, IPPROTO_TCP, &entry),
		  "the new flow's reply entry stays");
cleanup:
	fixture_close(&f);
}
