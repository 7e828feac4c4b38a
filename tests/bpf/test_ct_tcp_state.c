// SPDX-License-Identifier: Apache-2.0
/*
 * TCP state per direction: a half-closed flow lives while it is used, RST and FIN both ways
 * close it, a handshake that never finishes lives briefly. The tests set the datapath clock, so
 * every deadline is exact.
 */
#include <netinet/in.h>
#include <stdio.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define NSEC_PER_SEC 1000000000ull
#define T0	     (1000 * NSEC_PER_SEC) /* the datapath clock at the first packet */

/* Sends a client -> VIP packet at the datapath time NOW; it must reach backend A. */
static bool client_sends(struct fixture *f, uint64_t now, uint8_t tcp_flags, const char *what)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct pkt in, out;
	int verdict;

	spec.tcp_flags = tcp_flags;
	return ASSERT_OK(fixture_set_clock(f, now), what) &&
	       ASSERT_OK(pkt_build(&in, &spec), what) &&
	       ASSERT_OK(fixture_run(f, &in, &out, &verdict), what) &&
	       ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, what);
}

/* Sends a backend A -> client packet at NOW; it must be translated back to the VIP. */
static bool backend_sends(struct fixture *f, uint64_t now, uint8_t tcp_flags, const char *what)
{
	struct pkt_spec spec = fixture_reply_spec(IPPROTO_TCP);
	struct pkt in, out;
	int verdict;

	spec.tcp_flags = tcp_flags;
	return ASSERT_OK(fixture_set_clock(f, now), what) &&
	       ASSERT_OK(pkt_build(&in, &spec), what) &&
	       ASSERT_OK(fixture_run(f, &in, &out, &verdict), what) &&
	       ASSERT_EQ(verdict, TC_ACT_REDIRECT, what) &&
	       ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_VIP, what);
}

/* Both entries of the flow: forward (client -> VIP) and reply (backend A -> client). */
static bool read_pair(struct fixture *f, struct ct_entry *forward, struct ct_entry *reply)
{
	return ASSERT_OK(fixture_ct_lookup(f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					   TEST_VIP_PORT, IPPROTO_TCP, forward),
			 "forward ct entry") &&
	       ASSERT_OK(fixture_ct_lookup(f, TEST_BACKEND_A, TEST_CLIENT_IP, TEST_BACKEND_PORT,
					   TEST_CLIENT_PORT, IPPROTO_TCP, reply),
			 "reply ct entry");
}

/* Both directions' deadlines are exactly AT + LIFETIME_S. */
static void expect_deadlines(struct fixture *f, uint64_t at, uint64_t lifetime_s, const char *what)
{
	struct ct_entry forward, reply;
	char name[160];

	if (!read_pair(f, &forward, &reply))
		return;
	snprintf(name, sizeof(name), "%s: forward lifetime (s)", what);
	ASSERT_EQ((forward.expires_ns - at) / NSEC_PER_SEC, lifetime_s, name);
	snprintf(name, sizeof(name), "%s: reply lifetime (s)", what);
	ASSERT_EQ((reply.expires_ns - at) / NSEC_PER_SEC, lifetime_s, name);
}

/* SYN, SYN-ACK, ACK at T0, T0 + 1 ms, T0 + 2 ms: established both ways. */
static bool handshake(struct fixture *f)
{
	return client_sends(f, T0, PKT_TCP_SYN, "SYN") &&
	       backend_sends(f, T0 + 1000000, PKT_TCP_SYN | PKT_TCP_ACK, "SYN-ACK") &&
	       client_sends(f, T0 + 2000000, PKT_TCP_ACK, "ACK");
}

/*
 * The client shuts its write side down (FIN); the server answers 15 s later, and keeps sending
 * for minutes: a half-closed connection is still a connection.
 */
void test_ct_tcp_half_closed_answered_later(void)
{
	struct fixture f = {0};
	struct ct_entry forward, reply;
	uint64_t fin_at = T0 + 3 * NSEC_PER_SEC, now;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod here") ||
	    !handshake(&f) || !client_sends(&f, fin_at, PKT_TCP_FIN | PKT_TCP_ACK, "client FIN"))
		goto cleanup;
	expect_deadlines(&f, fin_at, CT_LIFETIME_TCP_HALF_CLOSED, "half-closed");
	if (read_pair(&f, &forward, &reply)) {
		ASSERT_TRUE(forward.flags & CT_F_CLOSING, "forward entry CT_F_CLOSING");
		ASSERT_TRUE(forward.tcp_flags & PKT_TCP_FIN, "forward entry saw its FIN");
		ASSERT_TRUE(reply.flags & CT_F_PEER_FIN, "reply entry knows the peer's FIN");
		ASSERT_FALSE(reply.flags & CT_F_RST, "reply entry CT_F_RST");
	}

	/* 15 s later the server answers, the client ACKs: both still translated. */
	now = fin_at + 15 * NSEC_PER_SEC;
	if (!backend_sends(&f, now, PKT_TCP_ACK | PKT_TCP_PSH, "server data 15 s after the FIN") ||
	    !client_sends(&f, now + 1000000, PKT_TCP_ACK, "client ACK of that data"))
		goto cleanup;
	/* Used, it lives on: 100 s after that, past the first deadline, still translated. */
	now += 100 * NSEC_PER_SEC;
	if (!backend_sends(&f, now, PKT_TCP_ACK | PKT_TCP_PSH, "server data 115 s after the FIN") ||
	    !client_sends(&f, now + 1000000, PKT_TCP_ACK, "client ACK 115 s after the FIN"))
		goto cleanup;
	now += 100 * NSEC_PER_SEC;
	if (!backend_sends(&f, now, PKT_TCP_ACK | PKT_TCP_PSH, "server data 215 s after the FIN"))
		goto cleanup;

	/* The server's FIN closes the flow: both directions short-lived. */
	now += NSEC_PER_SEC;
	if (!backend_sends(&f, now, PKT_TCP_FIN | PKT_TCP_ACK, "server FIN"))
		goto cleanup;
	expect_deadlines(&f, now, CT_LIFETIME_TCP_CLOSE, "closed by FIN both ways");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
	ASSERT_EQ(fixture_stat(&f, STAT_PASS), 0, "stats pass (nothing left untranslated)");
cleanup:
	fixture_close(&f);
}

/* A half-closed flow nobody uses is gone after the half-closed lifetime, not before. */
void test_ct_tcp_half_closed_idle_expires(void)
{
	struct pkt_spec spec = fixture_reply_spec(IPPROTO_TCP);
	struct fixture f = {0};
	uint64_t fin_at = T0 + 3 * NSEC_PER_SEC;
	struct pkt in, out;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod here") ||
	    !handshake(&f) || !client_sends(&f, fin_at, PKT_TCP_FIN | PKT_TCP_ACK, "client FIN") ||
	    !backend_sends(&f, fin_at + (CT_LIFETIME_TCP_HALF_CLOSED - 1) * NSEC_PER_SEC,
			   PKT_TCP_ACK | PKT_TCP_PSH, "server data just before the deadline"))
		goto cleanup;
	/* The reply entry was renewed by that packet; the client's entry was not. */
	if (!ASSERT_OK(
		fixture_set_clock(&f, fin_at + (CT_LIFETIME_TCP_HALF_CLOSED + 1) * NSEC_PER_SEC),
		"clock past the forward deadline"))
		goto cleanup;
	spec.tcp_flags = PKT_TCP_ACK | PKT_TCP_PSH;
	if (ASSERT_OK(pkt_build(&in, &spec), "build") &&
	    ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "server data after 121 s"))
		ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_VIP, "reply entry renewed: still translated");
	spec.tcp_flags = PKT_TCP_ACK;
	if (ASSERT_OK(fixture_set_clock(&f, fin_at + (2 * CT_LIFETIME_TCP_HALF_CLOSED + 5) *
							 NSEC_PER_SEC),
		      "clock past every deadline") &&
	    ASSERT_OK(pkt_build(&in, &spec), "build") &&
	    ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "server data after 245 s")) {
		ASSERT_EQ(verdict, TC_ACT_OK, "idle half-closed flow gone: verdict");
		ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_BACKEND_A, "gone: not translated");
	}
cleanup:
	fixture_close(&f);
}

/* RST from either side closes both directions at once. */
void test_ct_tcp_rst_closes_both(void)
{
	struct fixture f = {0};
	struct ct_entry forward, reply;
	uint64_t rst_at = T0 + 5 * NSEC_PER_SEC;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod here") ||
	    !handshake(&f) || !backend_sends(&f, rst_at, PKT_TCP_RST | PKT_TCP_ACK, "server RST"))
		goto cleanup;
	expect_deadlines(&f, rst_at, CT_LIFETIME_TCP_CLOSE, "RST");
	if (read_pair(&f, &forward, &reply)) {
		ASSERT_TRUE(forward.flags & CT_F_RST, "forward entry CT_F_RST");
		ASSERT_TRUE(reply.flags & CT_F_RST, "reply entry CT_F_RST");
	}
cleanup:
	fixture_close(&f);
}

/*
 * A handshake that never finishes lives briefly in both directions, also when the backend
 * answers the SYN (a SYN flood through a Service must not leave 6 h reply entries); the
 * client's first ACK makes both established.
 */
void test_ct_tcp_unfinished_handshake_is_short(void)
{
	struct fixture f = {0};
	uint64_t syn_ack_at = T0 + 1000000, ack_at = T0 + 2 * NSEC_PER_SEC;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod here") ||
	    !client_sends(&f, T0, PKT_TCP_SYN, "SYN"))
		goto cleanup;
	expect_deadlines(&f, T0, CT_LIFETIME_TCP_SYN, "SYN");
	if (!backend_sends(&f, syn_ack_at, PKT_TCP_SYN | PKT_TCP_ACK, "SYN-ACK"))
		goto cleanup;
	{
		struct ct_entry forward, reply;

		if (read_pair(&f, &forward, &reply)) {
			ASSERT_EQ((forward.expires_ns - T0) / NSEC_PER_SEC, CT_LIFETIME_TCP_SYN,
				  "after SYN-ACK: forward lifetime (s)");
			ASSERT_EQ((reply.expires_ns - syn_ack_at) / NSEC_PER_SEC,
				  CT_LIFETIME_TCP_SYN, "after SYN-ACK: reply lifetime (s)");
		}
	}
	/* The server says nothing after its SYN-ACK (it waits for a request): the client's ACK
	 * makes its reply entry established all the same. */
	if (!client_sends(&f, ack_at, PKT_TCP_ACK, "ACK"))
		goto cleanup;
	expect_deadlines(&f, ack_at, CT_LIFETIME_TCP, "after the client's ACK");
cleanup:
	fixture_close(&f);
}
