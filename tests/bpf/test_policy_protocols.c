// SPDX-License-Identifier: Apache-2.0
/*
 * NetworkPolicy judges every IP protocol, not only TCP/UDP/SCTP: under isolation an ICMP echo,
 * an ICMP error about no tracked flow and a packet of a protocol without ports (253, for tests)
 * pass only by a rule without ports (prefix POLICY4_ANY_PROTO_BITS, every protocol); a rule with
 * ports never admits them. An allowed echo is tracked by its id, so its reply passes an
 * isolated egress; ICMP errors about a tracked flow pass as its replies do.
 */
#include <netinet/in.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "maps/policy.h"
#include "skel/tc_pod.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define ID_CLIENT  300u
#define ID_BACKEND 301u

#define PROTO_TEST 253 /* RFC 3692: for experimentation and testing */
#define ECHO_ID	   htons(0x4d2)
#define ECHO_SEQ   htons(7)
#define ICMP_OFF   PKT_L4_OFF
#define INNER_OFF  (PKT_L4_OFF + 8) /* quoted IPv4 header in an ICMP error frame */

/* A rule without ports, as the agent writes it: every protocol and port. */
static int rule_any_proto(struct fixture *f, uint32_t subject, uint32_t peer, uint8_t direction)
{
	struct policy4_key key = {
	    .prefix_len = POLICY4_ANY_PROTO_BITS,
	    .subject = htonl(subject),
	    .peer = htonl(peer),
	    .direction = direction,
	    .proto = POLICY_PROTO_ANY,
	};
	struct policy4_value value = {.policy = POLICY_NAME_F_POLICY | 1};

	return bpf_map_update_elem(bpf_map__fd(f->skel->maps.policy4), &key, &value, BPF_ANY);
}

/* Client and backend A as pods with identities (A on this node); no service. */
static bool setup(struct fixture *f, uint32_t client_flags, uint32_t backend_flags)
{
	return fixture_setup(f, 0) && ASSERT_OK(fixture_policy_enable(f, true), "enable") &&
	       ASSERT_OK(fixture_policy_address(f, TEST_CLIENT_IP, 32, ID_CLIENT,
						IPCACHE_F_POD | client_flags),
			 "ipcache client") &&
	       ASSERT_OK(fixture_policy_address(f, TEST_BACKEND_A, 32, ID_BACKEND,
						IPCACHE_F_POD | backend_flags),
			 "ipcache backend A") &&
	       ASSERT_OK(fixture_set_endpoint(f, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					      test_backend_a_mac, test_backend_a_host_mac),
			 "endpoint A");
}

/* ICMP of TYPE from the client to backend A (echo: id ECHO_ID, sequence ECHO_SEQ). */
static struct pkt_spec client_icmp(uint8_t type)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_ICMP);

	spec.daddr = TEST_BACKEND_A;
	spec.icmp_type = type;
	spec.sport = ECHO_ID;
	spec.dport = ECHO_SEQ;
	return spec;
}

/* The same from backend A's pod to the client. */
static struct pkt_spec backend_icmp(uint8_t type)
{
	struct pkt_spec spec = client_icmp(type);

	memcpy(spec.src_mac, test_backend_a_mac, 6);
	memcpy(spec.dst_mac, test_backend_a_host_mac, 6);
	spec.saddr = TEST_BACKEND_A;
	spec.daddr = TEST_CLIENT_IP;
	return spec;
}

/* Protocol 253 from the client to backend A, 8 bytes of payload and no ports. */
static struct pkt_spec client_raw(void)
{
	static const char payload[] = "sluice!!";
	struct pkt_spec spec = fixture_client_spec(PROTO_TEST);

	spec.daddr = TEST_BACKEND_A;
	spec.payload = payload;
	spec.payload_len = sizeof(payload) - 1;
	return spec;
}

static int run(struct fixture *f, const struct pkt_spec *spec, struct pkt *out, int *verdict)
{
	struct pkt in;
	int err = pkt_build(&in, spec);

	return err ? err : fixture_run(f, &in, out, verdict);
}

/* OUT is IN with only the MACs of delivery changed, every checksum still valid. */
static void expect_delivered_unchanged(const struct pkt_spec *spec, const struct pkt *out,
				       const char *what)
{
	struct pkt in;

	if (!ASSERT_OK(pkt_build(&in, spec), "build expected"))
		return;
	ASSERT_EQ(out->len, in.len, what);
	ASSERT_MEM_EQ(out->data + PKT_IP_OFF, in.data + PKT_IP_OFF, in.len - PKT_IP_OFF, what);
	ASSERT_CSUMS_OK(out->data, out->len, what);
}

/* Echo into an ingress-isolated pod with no rule at all: dropped and counted, nothing tracked. */
void test_policy_icmp_echo_denied(void)
{
	struct pkt_spec spec = client_icmp(8);
	struct fixture f = {0};
	struct pkt out;
	int verdict;

	if (!setup(&f, 0, IPCACHE_F_ISOLATED_INGRESS) ||
	    !ASSERT_OK(run(&f, &spec, &out, &verdict), "run echo"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "echo verdict");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_INGRESS), 1, "drops policy ingress");
	ASSERT_EQ(fixture_ct_count(&f), 0, "conntrack entries");
cleanup:
	fixture_close(&f);
}

/*
 * A rule without ports from the client admits the echo, tracked by its id; the reply passes
 * A's isolated egress by the reply entry, byte for byte. A's own echo request with the same id
 * is not that reply: A's egress judges it (no rule: dropped).
 */
void test_policy_icmp_echo_allowed_and_reply(void)
{
	struct pkt_spec echo = client_icmp(8), reply = backend_icmp(0), request = backend_icmp(8);
	struct fixture f = {0};
	struct ct_entry entry;
	struct pkt out;
	int verdict;

	if (!setup(&f, 0, IPCACHE_F_ISOLATED_INGRESS | IPCACHE_F_ISOLATED_EGRESS) ||
	    !ASSERT_OK(rule_any_proto(&f, ID_BACKEND, ID_CLIENT, POLICY_DIR_INGRESS), "rule") ||
	    !ASSERT_OK(run(&f, &echo, &out, &verdict), "run echo"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "echo verdict: into backend A's pod");
	ASSERT_EQ(fixture_stat(&f, STAT_POLICY_NEW), 1, "stats policy_new");
	expect_delivered_unchanged(&echo, &out, "echo as delivered");
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_BACKEND_A, 0, ECHO_ID,
					IPPROTO_ICMP, &entry),
		      "forward entry (id as destination port)")) {
		ASSERT_EQ(entry.flags & CT_F_DIRECT, CT_F_DIRECT, "forward entry untranslated");
		ASSERT_EQ(entry.policy, CT_POLICY_ALLOWED, "forward entry verdict");
	}
	ASSERT_OK(
	    fixture_ct_lookup(&f, TEST_BACKEND_A, TEST_CLIENT_IP, ECHO_ID, 0, IPPROTO_ICMP, &entry),
	    "reply entry (id as source port)");

	if (!ASSERT_OK(run(&f, &reply, &out, &verdict), "run reply"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "reply verdict: back into the client");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_REPLY), 1, "stats ct_reply");
	expect_delivered_unchanged(&reply, &out, "reply as delivered");

	/* The echo again: the forward entry, no new lookup. */
	if (!ASSERT_OK(run(&f, &echo, &out, &verdict), "run echo again"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "second echo verdict");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_FORWARD), 1, "stats ct_forward");
	expect_delivered_unchanged(&echo, &out, "second echo as delivered");

	if (!ASSERT_OK(run(&f, &request, &out, &verdict), "run A's request"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "A's own echo request with the same id");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 1, "drops policy egress");
	ASSERT_EQ(fixture_ct_count(&f), 2, "conntrack entries (the echo's two)");
cleanup:
	fixture_close(&f);
}

/* Rules with ports (TCP every port, UDP 53) admit no ICMP: Kubernetes ports name TCP/UDP/SCTP. */
void test_policy_icmp_rule_with_ports_drops(void)
{
	struct pkt_spec echo = client_icmp(8);
	struct fixture f = {0};
	struct pkt out;
	int verdict;

	if (!setup(&f, 0, IPCACHE_F_ISOLATED_INGRESS) ||
	    !ASSERT_OK(fixture_policy_rule(&f, ID_BACKEND, ID_CLIENT, POLICY_DIR_INGRESS,
					   IPPROTO_TCP, 0, 0),
		       "rule TCP") ||
	    !ASSERT_OK(fixture_policy_rule(&f, ID_BACKEND, IDENTITY_ANY, POLICY_DIR_INGRESS,
					   IPPROTO_UDP, 53, 16),
		       "rule UDP 53") ||
	    !ASSERT_OK(run(&f, &echo, &out, &verdict), "run echo"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "echo verdict");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_INGRESS), 1, "drops policy ingress");
	ASSERT_EQ(fixture_ct_count(&f), 0, "conntrack entries");
cleanup:
	fixture_close(&f);
}

/* The source's egress too: an isolated client may ping nobody without a rule without ports. */
void test_policy_icmp_echo_egress(void)
{
	struct pkt_spec echo = client_icmp(8);
	struct fixture f = {0};
	struct pkt out;
	int verdict;

	if (!setup(&f, IPCACHE_F_ISOLATED_EGRESS, 0) ||
	    !ASSERT_OK(run(&f, &echo, &out, &verdict), "run echo to A"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "echo to a pod");
	echo.daddr = TEST_OTHER_IP;
	if (!ASSERT_OK(run(&f, &echo, &out, &verdict), "run echo outside"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "echo to an address outside the cluster");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 2, "drops policy egress");

	echo.daddr = TEST_BACKEND_A;
	if (!ASSERT_OK(rule_any_proto(&f, ID_CLIENT, IDENTITY_ANY, POLICY_DIR_EGRESS), "rule") ||
	    !ASSERT_OK(run(&f, &echo, &out, &verdict), "run echo allowed"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "echo to a pod with a rule to any peer");
cleanup:
	fixture_close(&f);
}

/* Neither end isolated (another pod is): an echo passes untouched and untracked, as before. */
void test_policy_icmp_echo_unisolated(void)
{
	struct pkt_spec echo = client_icmp(8);
	struct fixture f = {0};
	struct pkt in;

	if (!setup(&f, 0, 0) || !ASSERT_OK(pkt_build(&in, &echo), "build"))
		goto cleanup;
	fixture_expect_untouched(&f, &in, TC_ACT_OK, "echo between unisolated pods");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}

/*
 * A protocol without ports (253): judged by rules without ports alone, tracked by addresses,
 * its reverse passing an isolated egress; a TCP rule for every port does not admit it.
 */
void test_policy_other_protocol(void)
{
	struct pkt_spec spec = client_raw(), reverse = client_raw();
	struct fixture f = {0};
	struct ct_entry entry;
	struct pkt out;
	int verdict;

	memcpy(reverse.src_mac, test_backend_a_mac, 6);
	memcpy(reverse.dst_mac, test_backend_a_host_mac, 6);
	reverse.saddr = TEST_BACKEND_A;
	reverse.daddr = TEST_CLIENT_IP;
	if (!setup(&f, 0, IPCACHE_F_ISOLATED_INGRESS | IPCACHE_F_ISOLATED_EGRESS) ||
	    !ASSERT_OK(run(&f, &spec, &out, &verdict), "run without a rule"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict without a rule");
	if (!ASSERT_OK(fixture_policy_rule(&f, ID_BACKEND, ID_CLIENT, POLICY_DIR_INGRESS,
					   IPPROTO_TCP, 0, 0),
		       "rule TCP") ||
	    !ASSERT_OK(run(&f, &spec, &out, &verdict), "run with a TCP rule"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict with a rule for TCP");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_INGRESS), 2, "drops policy ingress");

	if (!ASSERT_OK(rule_any_proto(&f, ID_BACKEND, ID_CLIENT, POLICY_DIR_INGRESS), "rule") ||
	    !ASSERT_OK(run(&f, &spec, &out, &verdict), "run with a rule without ports"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "verdict with a rule without ports");
	expect_delivered_unchanged(&spec, &out, "protocol 253 as delivered");
	ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_BACKEND_A, 0, 0, PROTO_TEST, &entry),
		  "forward entry");
	if (!ASSERT_OK(run(&f, &reverse, &out, &verdict), "run reverse"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "reverse verdict: back into the client");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_REPLY), 1, "stats ct_reply");
	expect_delivered_unchanged(&reverse, &out, "reverse as delivered");
cleanup:
	fixture_close(&f);
}

/* An ICMP error from A to the client quoting the first 28 bytes of QUOTED (an IPv4 packet). */
static int build_error(struct pkt *p, uint8_t type, const struct pkt *quoted)
{
	struct pkt_spec spec = backend_icmp(type);

	spec.icmp_code = type == 3 ? 3 : 0; /* port unreachable, or TTL exceeded in transit */
	spec.sport = spec.dport = 0;
	spec.payload = quoted->data + PKT_IP_OFF;
	spec.payload_len = 28;
	return pkt_build(p, &spec);
}

/*
 * ICMP errors under isolation: about a tracked flow (a TCP connection, an echo) they pass as
 * its replies do, untranslated (nothing to translate); about no tracked flow they are judged
 * like any packet: A's isolated egress drops them.
 */
void test_policy_icmp_error_about_tracked_flow(void)
{
	struct pkt_spec tcp = fixture_client_spec(IPPROTO_TCP), echo = client_icmp(8);
	struct fixture f = {0};
	struct pkt tcp_pkt, echo_pkt, error, out;
	int verdict;

	tcp.daddr = TEST_BACKEND_A;
	tcp.dport = TEST_BACKEND_PORT;
	if (!setup(&f, 0, IPCACHE_F_ISOLATED_INGRESS | IPCACHE_F_ISOLATED_EGRESS) ||
	    !ASSERT_OK(rule_any_proto(&f, ID_BACKEND, ID_CLIENT, POLICY_DIR_INGRESS), "rule") ||
	    !ASSERT_OK(pkt_build(&tcp_pkt, &tcp), "build tcp") ||
	    !ASSERT_OK(pkt_build(&echo_pkt, &echo), "build echo"))
		goto cleanup;

	/* Not yet tracked: A's error is judged by A's egress, which has no rule. */
	if (!ASSERT_OK(build_error(&error, 3, &tcp_pkt), "build error") ||
	    !ASSERT_OK(fixture_run(&f, &error, &out, &verdict), "run untracked error"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "error about no tracked flow");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 1, "drops policy egress");

	if (!ASSERT_OK(fixture_run(&f, &tcp_pkt, &out, &verdict), "run tcp") ||
	    !ASSERT_OK(fixture_run(&f, &echo_pkt, &out, &verdict), "run echo"))
		goto cleanup;
	ASSERT_EQ(fixture_ct_count(&f), 4, "conntrack entries (two flows)");

	if (!ASSERT_OK(fixture_run(&f, &error, &out, &verdict), "run error about tcp"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "error about the TCP flow: into the client");
	ASSERT_MEM_EQ(out.data + PKT_IP_OFF, error.data + PKT_IP_OFF, error.len - PKT_IP_OFF,
		      "error about the TCP flow as delivered");

	if (!ASSERT_OK(build_error(&error, 11, &echo_pkt), "build error about echo") ||
	    !ASSERT_OK(fixture_run(&f, &error, &out, &verdict), "run error about echo"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "error about the echo: into the client");
	ASSERT_MEM_EQ(out.data + PKT_IP_OFF, error.data + PKT_IP_OFF, error.len - PKT_IP_OFF,
		      "error about the echo as delivered");
	ASSERT_EQ(fixture_stat(&f, STAT_ICMP_XLATE), 2, "stats icmp_translated");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 1, "drops policy egress (the first only)");
cleanup:
	fixture_close(&f);
}

/*
 * A message that opens no flow (an echo reply without its request, allowed by a rule without
 * ports) passes judged but untracked: it must not let A's requests back in later.
 */
void test_policy_icmp_untracked_message(void)
{
	struct pkt_spec reply = client_icmp(0);
	struct fixture f = {0};
	struct pkt out;
	int verdict;

	if (!setup(&f, 0, IPCACHE_F_ISOLATED_INGRESS) ||
	    !ASSERT_OK(rule_any_proto(&f, ID_BACKEND, ID_CLIENT, POLICY_DIR_INGRESS), "rule") ||
	    !ASSERT_OK(run(&f, &reply, &out, &verdict), "run reply"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "echo reply without a request, allowed");
	ASSERT_EQ(fixture_ct_count(&f), 0, "conntrack entries");
	ASSERT_EQ(fixture_stat(&f, STAT_PASS), 1, "stats pass");
cleanup:
	fixture_close(&f);
}
