// SPDX-License-Identifier: Apache-2.0
/*
 * NetworkPolicy lookups of the pod program: identities from the ipcache (LPM, or its exact-match
 * copy probed per prefix length), rules by
 * (subject, peer or any, direction, protocol, port prefix), egress at the source and ingress at
 * the destination, the verdict cached in conntrack so replies pass, drops counted by reason.
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
#define ID_CIDR	   400u

/* An entry of the ipcache's exact-match copy (address already masked to prefix_len). */
static int policy_exact(struct fixture *f, __be32 address, uint32_t prefix_len, uint32_t identity,
			uint32_t flags)
{
	struct ipcache4_key key = {.prefix_len = prefix_len, .address = address};
	struct ipcache4_value value = {.identity = identity, .flags = flags};

	return bpf_map_update_elem(bpf_map__fd(f->skel->maps.ipcache4_exact), &key, &value,
				   BPF_ANY);
}

static int policy_lengths(struct fixture *f, const uint8_t *lengths, uint32_t count)
{
	struct ipcache4_lengths value = {.count = count};
	uint32_t zero = 0;

	memcpy(value.lengths, lengths, count);
	return bpf_map_update_elem(bpf_map__fd(f->skel->maps.ipcache4_lens), &zero, &value,
				   BPF_ANY);
}

/* Client and backend A as pods with identities; A is on this node. */
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
	       ASSERT_OK(fixture_set_endpoint(f, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX,
					      test_backend_a_mac, test_backend_a_host_mac),
			 "endpoint A");
}

/* Client -> backend A's pod address directly, on PORT. */
static struct pkt_spec direct_spec(uint8_t proto, uint16_t port)
{
	struct pkt_spec spec = fixture_client_spec(proto);

	spec.daddr = TEST_BACKEND_A;
	spec.dport = htons(port);
	return spec;
}

static int run_spec(struct fixture *f, const struct pkt_spec *spec, int *verdict)
{
	struct pkt in, out;
	int err = pkt_build(&in, spec);

	return err ? err : fixture_run(f, &in, &out, verdict);
}

void test_policy_egress_denied(void)
{
	struct pkt_spec spec = direct_spec(IPPROTO_TCP, 8080);
	struct fixture f = {0};
	int verdict;

	if (!policy_setup(&f, IPCACHE_F_ISOLATED_EGRESS, 0) ||
	    !ASSERT_OK(run_spec(&f, &spec, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict without an egress rule");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 1, "drops policy egress");
	ASSERT_EQ(fixture_ct_count(&f), 0, "conntrack entries");
cleanup:
	fixture_close(&f);
}

/* A port range (8080-8087, one /13 prefix) admits 8087, not 8088; the reply passes by ct. */
void test_policy_egress_port_range_and_reply(void)
{
	struct pkt_spec spec = direct_spec(IPPROTO_TCP, 8087), reply;
	struct fixture f = {0};
	struct ct_entry entry;
	int verdict;

	/* Backend A is egress-isolated with no rule: only conntrack lets its reply out. */
	if (!policy_setup(&f, IPCACHE_F_ISOLATED_EGRESS, IPCACHE_F_ISOLATED_EGRESS) ||
	    !ASSERT_OK(fixture_policy_rule(&f, ID_CLIENT, ID_BACKEND, POLICY_DIR_EGRESS,
					   IPPROTO_TCP, 8080, 13),
		       "rule") ||
	    !ASSERT_OK(run_spec(&f, &spec, &verdict), "run"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "verdict: into backend A's pod");
	ASSERT_EQ(fixture_stat(&f, STAT_POLICY_NEW), 1, "stats policy_new");
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_BACKEND_A, TEST_CLIENT_PORT,
					htons(8087), IPPROTO_TCP, &entry),
		      "forward entry")) {
		ASSERT_EQ(entry.policy, CT_POLICY_ALLOWED, "forward entry verdict");
		ASSERT_EQ(entry.flags & CT_F_DIRECT, CT_F_DIRECT, "forward entry untranslated");
	}
	reply = spec;
	reply.saddr = TEST_BACKEND_A;
	reply.daddr = TEST_CLIENT_IP;
	reply.sport = htons(8087);
	reply.dport = TEST_CLIENT_PORT;
	reply.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
	if (!ASSERT_OK(run_spec(&f, &reply, &verdict), "run reply"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "reply verdict: back into the client");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_REPLY), 1, "stats ct_reply");

	spec.dport = htons(8088);
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run 8088"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict for 8088, outside the range");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 1, "drops policy egress");
cleanup:
	fixture_close(&f);
}

/* Ingress of the destination: a rule for any peer on UDP admits UDP only. */
void test_policy_ingress_any_peer(void)
{
	struct pkt_spec tcp = direct_spec(IPPROTO_TCP, 8080), udp = direct_spec(IPPROTO_UDP, 8080);
	struct fixture f = {0};
	int verdict;

	if (!policy_setup(&f, 0, IPCACHE_F_ISOLATED_INGRESS) ||
	    !ASSERT_OK(fixture_policy_rule(&f, ID_BACKEND, IDENTITY_ANY, POLICY_DIR_INGRESS,
					   IPPROTO_UDP, 0, 0),
		       "rule") ||
	    !ASSERT_OK(run_spec(&f, &tcp, &verdict), "run tcp"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "TCP verdict");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_INGRESS), 1, "drops policy ingress");
	if (!ASSERT_OK(run_spec(&f, &udp, &verdict), "run udp"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_REDIRECT, "UDP verdict");
	ASSERT_EQ(fixture_ct_count(&f), 2, "conntrack entries (both directions)");
cleanup:
	fixture_close(&f);
}

/* ipBlock 10.0.9.0/24 except 10.0.9.128/25: the LPM gives the except range the world. */
void test_policy_ip_block_except(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	int verdict;

	if (!policy_setup(&f, IPCACHE_F_ISOLATED_EGRESS, 0) ||
	    !ASSERT_OK(fixture_policy_address(&f, TEST_IP(10, 0, 9, 0), 24, ID_CIDR, 0), "cidr") ||
	    !ASSERT_OK(fixture_policy_address(&f, TEST_IP(10, 0, 9, 128), 25, IDENTITY_WORLD, 0),
		       "except") ||
	    !ASSERT_OK(
		fixture_policy_rule(&f, ID_CLIENT, ID_CIDR, POLICY_DIR_EGRESS, IPPROTO_TCP, 0, 0),
		"rule"))
		goto cleanup;
	spec.daddr = TEST_OTHER_IP; /* 10.0.9.9 */
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run inside"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict inside the block (routed: not a local pod)");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 0, "drops inside the block");
	spec.daddr = TEST_IP(10, 0, 9, 200);
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run except"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict in the except range");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 1, "drops in the except range");
cleanup:
	fixture_close(&f);
}

/*
 * The same ipBlock in the exact-match copy alone (the LPM empty): probed at /32, /25, /24, the
 * longest hit wins as in the LPM. With no lengths the LPM answers: nothing is isolated then.
 */
void test_policy_ip_block_exact(void)
{
	static const uint8_t lengths[] = {32, 25, 24};
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_policy_enable(&f, true), "enable") ||
	    !ASSERT_OK(policy_exact(&f, TEST_CLIENT_IP, 32, ID_CLIENT,
				    IPCACHE_F_POD | IPCACHE_F_ISOLATED_EGRESS),
		       "client") ||
	    !ASSERT_OK(policy_exact(&f, TEST_IP(10, 0, 9, 0), 24, ID_CIDR, 0), "cidr") ||
	    !ASSERT_OK(policy_exact(&f, TEST_IP(10, 0, 9, 128), 25, IDENTITY_WORLD, 0), "except") ||
	    !ASSERT_OK(
		fixture_policy_rule(&f, ID_CLIENT, ID_CIDR, POLICY_DIR_EGRESS, IPPROTO_TCP, 0, 0),
		"rule") ||
	    !ASSERT_OK(policy_lengths(&f, lengths, 3), "lengths"))
		goto cleanup;
	spec.daddr = TEST_OTHER_IP; /* 10.0.9.9 */
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run inside"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict inside the block");
	ASSERT_EQ(fixture_stat(&f, STAT_POLICY_NEW), 1, "stats policy_new (allowed, tracked)");
	spec.daddr = TEST_IP(10, 0, 9, 200);
	if (!ASSERT_OK(run_spec(&f, &spec, &verdict), "run except"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict in the except range");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 1, "drops in the except range");

	/* count 0: the (empty) LPM answers, the client is nobody, nothing is checked. */
	spec.sport = htons(ntohs(spec.sport) + 1);
	if (!ASSERT_OK(policy_lengths(&f, lengths, 0), "no lengths") ||
	    !ASSERT_OK(run_spec(&f, &spec, &verdict), "run with the LPM"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "verdict when the LPM answers");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_EGRESS), 1, "drops when the LPM answers");
cleanup:
	fixture_close(&f);
}

/* A service flow is checked against the backend it is translated to. */
void test_policy_service_backend(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	struct ct_entry entry;
	int verdict;

	if (!policy_setup(&f, 0, IPCACHE_F_ISOLATED_INGRESS) ||
	    !ASSERT_OK(run_spec(&f, &spec, &verdict), "run denied"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_SHOT, "verdict without an ingress rule for the backend");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_INGRESS), 1, "drops policy ingress");
	ASSERT_EQ(fixture_ct_count(&f), 0, "conntrack entries after the drop");
	if (!ASSERT_OK(fixture_policy_rule(&f, ID_BACKEND, ID_CLIENT, POLICY_DIR_INGRESS,
					   IPPROTO_TCP, 8080, 16),
		       "rule") ||
	    !ASSERT_OK(run_spec(&f, &spec, &verdict), "run allowed"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 1, "stats service_new");
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					TEST_VIP_PORT, IPPROTO_TCP, &entry),
		      "forward entry"))
		ASSERT_EQ(entry.policy, CT_POLICY_ALLOWED, "forward entry verdict");
cleanup:
	fixture_close(&f);
}

/* With policies off the ipcache is not even read: traffic passes untouched, untracked. */
void test_policy_disabled_passes(void)
{
	struct pkt_spec spec = direct_spec(IPPROTO_TCP, 8080);
	struct fixture f = {0};
	struct pkt in;

	if (!policy_setup(&f, IPCACHE_F_ISOLATED_EGRESS, IPCACHE_F_ISOLATED_INGRESS) ||
	    !ASSERT_OK(fixture_policy_enable(&f, false), "disable") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build"))
		goto cleanup;
	fixture_expect_untouched(&f, &in, TC_ACT_OK, "direct TCP with policies off");
	ASSERT_EQ(fixture_drops_total(&f), 0, "drops");
cleanup:
	fixture_close(&f);
}
