// SPDX-License-Identifier: Apache-2.0
/*
 * Conntrack under pressure: a full ct4 makes room by early drop of a flow nobody answered (the
 * oldest first), never of a confirmed live one; with only confirmed flows the new flow is
 * dropped and counted, and every entry stays as it was. TCP is confirmed by its handshake, not
 * by the SYN-ACK alone, and a closed flow goes like an unconfirmed one. An insert that finds the
 * table full makes the next new flows of that clock tick early-drop before they insert.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define NSEC_PER_SEC 1000000000ull
#define T0	     (1000 * NSEC_PER_SEC)
#define FLOWS	     16 /* what the small table holds: two entries each */
#define PORT_BASE    41000

/* Client port PORT_BASE + i sends a packet of PROTO (TCP: FLAGS) to the VIP. */
static bool client_sends(struct fixture *f, uint8_t proto, int i, uint8_t flags, int *verdict,
			 struct pkt *out)
{
	struct pkt_spec spec = fixture_client_spec(proto);
	struct pkt in;

	spec.sport = htons(PORT_BASE + i);
	spec.tcp_flags = flags;
	return ASSERT_OK(pkt_build(&in, &spec), "build client packet") &&
	       ASSERT_OK(fixture_run(f, &in, out, verdict), "test run client packet");
}

/* Backend A answers client port PORT_BASE + i (TCP: FLAGS), from its own veth. */
static bool backend_answers(struct fixture *f, uint8_t proto, int i, uint8_t flags)
{
	struct pkt_spec spec = fixture_reply_spec(proto);
	struct pkt in, out;
	int verdict;

	spec.dport = htons(PORT_BASE + i);
	spec.tcp_flags = flags;
	return ASSERT_OK(pkt_build(&in, &spec), "build backend packet") &&
	       ASSERT_OK(fixture_run(f, &in, &out, &verdict), "test run backend packet") &&
	       ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_VIP, "backend's answer leaves from the VIP");
}

/* A new flow from client port PORT_BASE + i, translated to backend A. */
static bool open_flow(struct fixture *f, uint8_t proto, int i)
{
	struct pkt out;
	int verdict;

	return client_sends(f, proto, i, PKT_TCP_SYN, &verdict, &out) &&
	       ASSERT_NEQ(verdict, TC_ACT_SHOT, "new flow not dropped") &&
	       ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "new flow translated to A");
}

/* New flows from client ports PORT_BASE + first .. PORT_BASE + end - 1, each translated. */
static bool open_flows(struct fixture *f, uint8_t proto, int first, int end)
{
	for (int i = first; i < end; i++)
		if (!open_flow(f, proto, i))
			return false;
	return true;
}

/* How many of flow i's two entries ct4 holds. */
static int flow_entries(struct fixture *f, uint8_t proto, int i)
{
	struct ct_entry entry;
	__be16 port = htons(PORT_BASE + i);

	return !fixture_ct_lookup(f, TEST_CLIENT_IP, TEST_VIP, port, TEST_VIP_PORT, proto, &entry) +
	       !fixture_ct_lookup(f, TEST_BACKEND_A, TEST_CLIENT_IP, TEST_BACKEND_PORT, port, proto,
				  &entry);
}

static int reply_confirmed(struct fixture *f, uint8_t proto, int i)
{
	struct ct_entry entry;

	if (fixture_ct_lookup(f, TEST_BACKEND_A, TEST_CLIENT_IP, TEST_BACKEND_PORT,
			      htons(PORT_BASE + i), proto, &entry))
		return -1;
	return entry.confirmed;
}

/* A table of FLOWS flows, backend A a pod here, the clock at T0. */
static bool pressure_setup(struct fixture *f, uint8_t proto, uint32_t ct_entries)
{
	f->ct_entries = ct_entries;
	return fixture_setup(f, proto) &&
	       ASSERT_OK(fixture_set_endpoint_backend_a(f), "backend A, a pod here") &&
	       ASSERT_OK(fixture_set_clock(f, T0), "clock");
}

/* pressure_setup with room for FLOWS UDP flows, all of them open (0 .. FLOWS - 1): full. */
static bool pressure_setup_full(struct fixture *f)
{
	return pressure_setup(f, IPPROTO_UDP, 2 * FLOWS) && open_flows(f, IPPROTO_UDP, 0, FLOWS);
}

static bool expect_pressure(struct fixture *f, uint64_t early_drops, uint64_t insert_failed)
{
	uint64_t drops = 0, failed = 0;

	return ASSERT_OK(fixture_ct_pressure(f, &drops, &failed), "read ct4_ring") &&
	       ASSERT_EQ(drops, early_drops, "early drops") &&
	       ASSERT_EQ(failed, insert_failed, "insert failures");
}

/* A flood nobody answers fills the table: each new flow takes the oldest one's entries. */
void test_ct_pressure_unconfirmed_recycled(void)
{
	struct fixture f = {0};
	int i;

	if (!pressure_setup_full(&f))
		goto cleanup;
	ASSERT_EQ(fixture_ct_count(&f), 2 * FLOWS, "the table is full");
	if (!open_flow(&f, IPPROTO_UDP, FLOWS))
		goto cleanup;
	ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, 0), 0, "the oldest flow went, both entries");
	for (i = 1; i <= FLOWS; i++)
		if (!ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, i), 2, "every other flow whole"))
			break;
	expect_pressure(&f, 1, 0);
	if (!open_flows(&f, IPPROTO_UDP, FLOWS + 1, 3 * FLOWS + 1))
		goto cleanup;
	ASSERT_EQ(fixture_ct_count(&f), 2 * FLOWS, "still full, never more");
	ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, 3 * FLOWS), 2, "the newest flow whole");
	expect_pressure(&f, 2 * FLOWS + 1, 0);
	ASSERT_EQ(fixture_drops_total(&f), 0, "no packet dropped");
cleanup:
	fixture_close(&f);
}

struct saved_entry {
	struct ct4_key key;
	struct ct_entry entry;
};

/* Flow i's two entries, forward then reply, into SAVED. */
static void save_flow(struct fixture *f, int i, struct saved_entry *saved)
{
	__be16 port = htons(PORT_BASE + i);
	struct ct4_key forward = {TEST_CLIENT_IP, TEST_VIP, port, TEST_VIP_PORT, IPPROTO_UDP, {0}};
	struct ct4_key reply = {TEST_BACKEND_A, TEST_CLIENT_IP, TEST_BACKEND_PORT,
				port,		IPPROTO_UDP,	{0}};

	memset(saved, 0, 2 * sizeof(*saved));
	saved[0].key = forward;
	saved[1].key = reply;
	for (int d = 0; d < 2; d++)
		fixture_ct_lookup(f, saved[d].key.saddr, saved[d].key.daddr, saved[d].key.sport,
				  saved[d].key.dport, IPPROTO_UDP, &saved[d].entry);
}

/* Every flow answered: a new one finds nothing to drop, is dropped, and nothing else moves. */
void test_ct_pressure_confirmed_kept(void)
{
	struct saved_entry before[2 * FLOWS];
	struct fixture f = {0};
	struct ct_entry entry;
	struct pkt out;
	int verdict, i;

	if (!pressure_setup(&f, IPPROTO_UDP, 2 * FLOWS))
		goto cleanup;
	for (i = 0; i < FLOWS; i++)
		if (!open_flow(&f, IPPROTO_UDP, i) || !backend_answers(&f, IPPROTO_UDP, i, 0))
			goto cleanup;
	ASSERT_EQ(reply_confirmed(&f, IPPROTO_UDP, 0), 1, "an answered flow is confirmed");
	for (i = 0; i < FLOWS; i++)
		save_flow(&f, i, &before[2 * i]);

	for (int attempt = 0; attempt < 3; attempt++) {
		if (!client_sends(&f, IPPROTO_UDP, FLOWS + attempt, 0, &verdict, &out))
			goto cleanup;
		ASSERT_EQ(verdict, TC_ACT_SHOT, "new flow dropped: the table is full");
		ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, FLOWS + attempt), 0,
			  "no entry of the dropped flow");
	}
	ASSERT_EQ(fixture_drop(&f, DROP_CT_FULL), 3, "drops: conntrack full");
	expect_pressure(&f, 0, 3);
	ASSERT_EQ(fixture_ct_count(&f), 2 * FLOWS, "entries");
	for (i = 0; i < 2 * FLOWS; i++) {
		struct ct4_key *k = &before[i].key;

		if (!ASSERT_OK(fixture_ct_lookup(&f, k->saddr, k->daddr, k->sport, k->dport,
						 k->proto, &entry),
			       "a confirmed flow's entry is still there") ||
		    !ASSERT_MEM_EQ(&entry, &before[i].entry, sizeof(entry),
				   "a confirmed flow's entry is unchanged"))
			break;
	}
	if (client_sends(&f, IPPROTO_UDP, 0, 0, &verdict, &out))
		ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "an established flow still flows");
cleanup:
	fixture_close(&f);
}

/* The oldest flow is answered after it entered the ring: early drop passes it over. */
void test_ct_pressure_victim_confirmed_meanwhile(void)
{
	struct fixture f = {0};

	if (!pressure_setup_full(&f))
		goto cleanup;
	if (!backend_answers(&f, IPPROTO_UDP, 0, 0) || !open_flow(&f, IPPROTO_UDP, FLOWS))
		goto cleanup;
	ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, 0), 2, "the answered flow stays");
	ASSERT_EQ(reply_confirmed(&f, IPPROTO_UDP, 0), 1, "and is confirmed");
	ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, 1), 0, "the next oldest, unanswered, went");
	ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, FLOWS), 2, "the new flow is whole");
	expect_pressure(&f, 1, 0);
cleanup:
	fixture_close(&f);
}

/*
 * TCP: a SYN-ACK alone does not confirm (a SYN flood from forged sources gets SYN-ACKs), the
 * client's ACK after it does; a reset flow is closed and goes although confirmed.
 */
void test_ct_pressure_tcp_handshake_confirms(void)
{
	struct fixture f = {0};
	struct pkt out;
	int verdict;

	if (!pressure_setup(&f, IPPROTO_TCP, 6))
		goto cleanup;
	/* Flow 0: answered, never acknowledged. Flows 1 and 2: handshakes; then 2 is reset. */
	for (int i = 0; i < 3; i++)
		if (!open_flow(&f, IPPROTO_TCP, i) ||
		    !backend_answers(&f, IPPROTO_TCP, i, PKT_TCP_SYN | PKT_TCP_ACK))
			goto cleanup;
	for (int i = 1; i < 3; i++)
		if (!client_sends(&f, IPPROTO_TCP, i, PKT_TCP_ACK, &verdict, &out))
			goto cleanup;
	ASSERT_EQ(reply_confirmed(&f, IPPROTO_TCP, 0), 0, "SYN-ACK alone: not confirmed");
	ASSERT_EQ(reply_confirmed(&f, IPPROTO_TCP, 1), 1, "handshake done: confirmed");
	if (!client_sends(&f, IPPROTO_TCP, 2, PKT_TCP_RST | PKT_TCP_ACK, &verdict, &out))
		goto cleanup;

	if (!open_flow(&f, IPPROTO_TCP, 3))
		goto cleanup;
	ASSERT_EQ(flow_entries(&f, IPPROTO_TCP, 0), 0, "the unacknowledged flow went first");
	if (!open_flow(&f, IPPROTO_TCP, 4))
		goto cleanup;
	ASSERT_EQ(flow_entries(&f, IPPROTO_TCP, 1), 2, "the established flow stays");
	ASSERT_EQ(flow_entries(&f, IPPROTO_TCP, 2), 0, "the reset flow went next");
	expect_pressure(&f, 2, 0);
cleanup:
	fixture_close(&f);
}

/* Flow i's two entries go, as the agent's GC deletes an expired flow. */
static bool gc_deletes_flow(struct fixture *f, int i)
{
	__be16 port = htons(PORT_BASE + i);

	return ASSERT_OK(
		   fixture_ct_delete(f, TEST_CLIENT_IP, TEST_VIP, port, TEST_VIP_PORT, IPPROTO_UDP),
		   "delete the forward entry") &&
	       ASSERT_OK(fixture_ct_delete(f, TEST_BACKEND_A, TEST_CLIENT_IP, TEST_BACKEND_PORT,
					   port, IPPROTO_UDP),
			 "delete the reply entry");
}

/*
 * An insert that finds the table full marks it full for the rest of the clock tick, and the new
 * flows of that tick early-drop before they insert: the table stays exactly as full as it was
 * even when the GC freed entries meanwhile, and only until the tick ends; then a new flow takes
 * free room without early drop.
 */
void test_ct_pressure_full_hint(void)
{
	struct fixture f = {0};
	uint64_t full_until = 1;

	if (!pressure_setup_full(&f))
		goto cleanup;
	if (ASSERT_OK(fixture_ct_full_until(&f, &full_until), "read ct4_ring"))
		ASSERT_EQ(full_until, 0, "filling: not marked full");
	if (!open_flow(&f, IPPROTO_UDP, FLOWS))
		goto cleanup;
	if (ASSERT_OK(fixture_ct_full_until(&f, &full_until), "read ct4_ring"))
		ASSERT_EQ(full_until, T0 + CT_FULL_HINT_NS, "marked full until the tick ends");
	ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, 0), 0, "the oldest flow went");
	expect_pressure(&f, 1, 0);

	/* The GC frees flows 1 and 2; the tick goes on: flow 3 makes room all the same. */
	if (!gc_deletes_flow(&f, 1) || !gc_deletes_flow(&f, 2) ||
	    !open_flow(&f, IPPROTO_UDP, FLOWS + 1))
		goto cleanup;
	ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, 3), 0, "within the tick: early drop first");
	ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, FLOWS + 1), 2, "the new flow is whole");
	ASSERT_EQ(fixture_ct_count(&f), 2 * FLOWS - 4, "the table no fuller, no emptier");
	expect_pressure(&f, 2, 0);

	/* The next tick: free room is taken without early drop, and the mark stays as it was. */
	if (!ASSERT_OK(fixture_set_clock(&f, T0 + CT_FULL_HINT_NS), "next tick") ||
	    !open_flow(&f, IPPROTO_UDP, FLOWS + 2))
		goto cleanup;
	ASSERT_EQ(flow_entries(&f, IPPROTO_UDP, 4), 2, "the next oldest flow stays");
	ASSERT_EQ(fixture_ct_count(&f), 2 * FLOWS - 2, "the new flow took free room");
	expect_pressure(&f, 2, 0);
	if (ASSERT_OK(fixture_ct_full_until(&f, &full_until), "read ct4_ring"))
		ASSERT_EQ(full_until, T0 + CT_FULL_HINT_NS, "no insert failed: the mark is old");
	ASSERT_EQ(fixture_drops_total(&f), 0, "no packet dropped");
cleanup:
	fixture_close(&f);
}
