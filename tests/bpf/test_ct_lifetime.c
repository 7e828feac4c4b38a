// SPDX-License-Identifier: Apache-2.0
/* Conntrack lifetimes: SYN, established, half-closed and closed deadlines; an expired entry is a
 * new flow. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "skel/tc_pod.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

#define NSEC_PER_SEC 1000000000ull
#define COARSE_SLACK (50 * 1000000ull) /* coarse clock lags CLOCK_MONOTONIC by a tick or so */

static uint64_t monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * NSEC_PER_SEC + (uint64_t)now.tv_nsec;
}

/* Sends one client packet and checks the forward entry's deadline is now + lifetime_s. */
static bool check_deadline(struct fixture *f, uint8_t tcp_flags, uint32_t seq, uint64_t lifetime_s,
			   const char *what)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct ct_entry entry;
	struct pkt in, out;
	uint64_t before, after;
	char name[160];
	int verdict;

	spec.tcp_flags = tcp_flags;
	spec.tcp_seq = htonl(seq);
	if (!ASSERT_OK(pkt_build(&in, &spec), what))
		return false;
	before = monotonic_ns();
	if (!ASSERT_OK(fixture_run(f, &in, &out, &verdict), what))
		return false;
	after = monotonic_ns();
	if (!ASSERT_OK(fixture_ct_lookup(f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					 TEST_VIP_PORT, IPPROTO_TCP, &entry),
		       what))
		return false;
	snprintf(name, sizeof(name), "%s: forward ct expires_ns - now is %.3f s, expected %llu s",
		 what, ((double)entry.expires_ns - (double)after) / 1e9,
		 (unsigned long long)lifetime_s);
	return ASSERT_TRUE(entry.expires_ns >= before - COARSE_SLACK + lifetime_s * NSEC_PER_SEC &&
			       entry.expires_ns <= after + lifetime_s * NSEC_PER_SEC,
			   name);
}

void test_ct_tcp_lifetimes(void)
{
	struct fixture f = {0};

	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	check_deadline(&f, PKT_TCP_SYN, 1000, CT_LIFETIME_TCP_SYN, "SYN");
	check_deadline(&f, PKT_TCP_ACK, 1001, CT_LIFETIME_TCP, "ACK (established)");
	check_deadline(&f, PKT_TCP_FIN | PKT_TCP_ACK, 1002, CT_LIFETIME_TCP_HALF_CLOSED,
		       "FIN (half-closed)");
	check_deadline(&f, PKT_TCP_RST | PKT_TCP_ACK, 1003, CT_LIFETIME_TCP_CLOSE, "RST");
cleanup:
	fixture_close(&f);
}

/* An entry past its deadline is a miss: the next packet is a new flow with a new choice. */
void test_ct_expired_entry_is_new_flow(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_UDP);
	struct fixture f = {0};
	struct ct4_key key;
	struct ct_entry entry;
	struct pkt in, out;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_UDP))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build client packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run first packet") ||
	    !ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "first packet ip.daddr"))
		goto cleanup;
	if (!ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					 TEST_VIP_PORT, IPPROTO_UDP, &entry),
		       "forward ct entry"))
		goto cleanup;
	memset(&key, 0, sizeof(key));
	key.saddr = TEST_CLIENT_IP;
	key.daddr = TEST_VIP;
	key.sport = TEST_CLIENT_PORT;
	key.dport = TEST_VIP_PORT;
	key.proto = IPPROTO_UDP;
	entry.expires_ns = 1;
	if (!ASSERT_OK(bpf_map_update_elem(bpf_map__fd(f.skel->maps.ct4), &key, &entry, BPF_EXIST),
		       "expire the forward entry") ||
	    !ASSERT_OK(fixture_set_slot(&f, TEST_SVC_ID, 0, 0, TEST_BACKEND_B_ID), "move slot 0"))
		goto cleanup;
	if (!ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run packet after expiry"))
		goto cleanup;
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_B, "ip.daddr after expiry (chosen again)");
	ASSERT_CSUMS_OK(out.data, out.len, "packet after expiry");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 2, "stats service_new");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_FORWARD), 0, "stats ct_forward");
cleanup:
	fixture_close(&f);
}

/* The loader starts the datapath clock by running tc_clock_start once; flows then use it. */
void test_ct_clock_start(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .repeat = 1);
	struct fixture f = {0};
	struct ct_entry entry;
	uint64_t before, after, value[8] = {0}, clock_ns;
	size_t value_size;
	struct pkt in, start, out;
	__u32 zero = 0;
	int verdict;

	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	value_size = bpf_map__value_size(f.skel->maps.clock);
	if (!ASSERT_TRUE(value_size >= 8 && value_size <= sizeof(value), "clock value size"))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&start, &spec), "build packet"))
		goto cleanup;
	opts.data_in = start.data;
	opts.data_size_in = (__u32)start.len;
	before = monotonic_ns();
	if (!ASSERT_OK(bpf_prog_test_run_opts(bpf_program__fd(f.skel->progs.tc_clock_start), &opts),
		       "run tc_clock_start"))
		goto cleanup;
	ASSERT_EQ(opts.retval, TC_ACT_OK, "tc_clock_start verdict");
	if (!ASSERT_OK(bpf_map_lookup_elem(bpf_map__fd(f.skel->maps.clock), &zero, value),
		       "read clock"))
		goto cleanup;
	clock_ns = value[value_size / 8 - 1]; /* now_ns follows the timer */
	after = monotonic_ns();
	ASSERT_TRUE(clock_ns >= before - COARSE_SLACK && clock_ns <= after,
		    "clock now_ns is CLOCK_MONOTONIC at start");

	in = start;
	if (!ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run SYN") ||
	    !ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					 TEST_VIP_PORT, IPPROTO_TCP, &entry),
		       "forward ct entry"))
		goto cleanup;
	after = monotonic_ns();
	ASSERT_TRUE(entry.expires_ns >= clock_ns + CT_LIFETIME_TCP_SYN * NSEC_PER_SEC &&
			entry.expires_ns <= after + CT_LIFETIME_TCP_SYN * NSEC_PER_SEC,
		    "SYN deadline from the datapath clock");
cleanup:
	fixture_close(&f);
}
