// SPDX-License-Identifier: Apache-2.0
/*
 * A pod sends only as itself (issue 12): tc_pod drops, and counts as DROP_SPOOFED, every IPv4
 * packet and every ARP from a pod's veth whose source is not the address ep4 registers for that
 * veth, before conntrack is read or written. The victim, on its own veth, is unaffected.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

/* The attacker: another pod on this node, with its own address and veth. */
#define ATTACKER_IP	 TEST_IP(10, 0, 1, 66)
#define ATTACKER_IFINDEX 66
static const uint8_t attacker_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x42};
static const uint8_t attacker_host_mac[6] = {0x02, 0x00, 0x00, 0x00, 0xfe, 0x42};

/* Standard service, and the attacker registered beside the client (the victim). */
static bool spoof_setup(struct fixture *f, uint8_t proto)
{
	return fixture_setup(f, proto) &&
	       ASSERT_OK(fixture_set_endpoint(f, ATTACKER_IP, ATTACKER_IFINDEX, attacker_mac,
					      attacker_host_mac),
			 "attacker endpoint");
}

/*
 * Runs IN from the attacker's veth and expects it dropped as spoofed, byte for byte unchanged,
 * with nothing else counted and conntrack still holding CT_ENTRIES entries.
 */
static bool expect_spoofed(struct fixture *f, const struct pkt *in, int ct_entries,
			   uint64_t spoofed_so_far, const char *what)
{
	char name[160];
	struct pkt out;
	int verdict;
	bool ok = true;

	snprintf(name, sizeof(name), "%s: test run", what);
	if (!ASSERT_OK(fixture_run_on(f, ATTACKER_IFINDEX, in, &out, &verdict), name))
		return false;
	snprintf(name, sizeof(name), "%s: verdict", what);
	ok &= ASSERT_EQ(verdict, TC_ACT_SHOT, name);
	snprintf(name, sizeof(name), "%s: drops source address not the pod's", what);
	ok &= ASSERT_EQ(fixture_drop(f, DROP_SPOOFED), spoofed_so_far + 1, name);
	snprintf(name, sizeof(name), "%s: drops over every reason", what);
	ok &= ASSERT_EQ(fixture_drops_total(f), spoofed_so_far + 1, name);
	snprintf(name, sizeof(name), "%s: conntrack entries", what);
	ok &= ASSERT_EQ(fixture_ct_count(f), ct_entries, name);
	snprintf(name, sizeof(name), "%s: output length", what);
	if (ASSERT_EQ(out.len, in->len, name)) {
		snprintf(name, sizeof(name), "%s: output bytes (no rewrite)", what);
		ok &= ASSERT_MEM_EQ(out.data, in->data, in->len, name);
	} else {
		ok = false;
	}
	return ok;
}

/* A new flow to a Service with the victim's address, from the attacker's veth. */
static void check_new_flow_to_service(uint8_t proto)
{
	struct pkt_spec spec = fixture_client_spec(proto);
	struct fixture f = {0};
	struct pkt in, out;
	int verdict;

	memcpy(spec.src_mac, attacker_mac, 6);
	if (!spoof_setup(&f, proto) || !ASSERT_OK(pkt_build(&in, &spec), "build packet"))
		goto cleanup;
	if (!expect_spoofed(&f, &in, 0, 0, "victim's source to the VIP"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 0, "stats service_new");
	ASSERT_EQ(fixture_stats_total(&f), 0, "stats over every outcome");

	/* The victim itself, on its own veth, still reaches the service. */
	spec = fixture_client_spec(proto);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build victim's packet") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run victim's packet"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "victim: verdict (routed to backend A)");
	ASSERT_IP_EQ(pkt_ip_daddr(&out), TEST_BACKEND_A, "victim: ip.daddr");
	ASSERT_EQ(fixture_stat(&f, STAT_SVC_NEW), 1, "victim: stats service_new");
	ASSERT_EQ(fixture_drop(&f, DROP_SPOOFED), 1, "victim: no further spoofed drop");
cleanup:
	fixture_close(&f);
}

void test_pod_spoofed_tcp_to_service_dropped(void)
{
	check_new_flow_to_service(IPPROTO_TCP);
}

void test_pod_spoofed_udp_to_service_dropped(void)
{
	check_new_flow_to_service(IPPROTO_UDP);
}

/*
 * Sources that are no pod of this veth: another pod's (to a pod directly, with and without a
 * policy isolating it), an address no pod has, 0.0.0.0 (a DHCP discover: pods get their
 * address from the CNI plugin), and an ICMP echo and a non-TCP/UDP protocol, which the flow
 * code passes without parsing ports.
 */
void test_pod_spoofed_sources_dropped(void)
{
	struct pkt_spec spec;
	struct fixture f = {0};
	struct pkt in;
	uint64_t spoofed = 0;

	if (!spoof_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod on this node"))
		goto cleanup;

	spec = fixture_client_spec(IPPROTO_TCP);
	spec.daddr = TEST_BACKEND_A;
	spec.dport = TEST_BACKEND_PORT;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build") ||
	    !expect_spoofed(&f, &in, 0, spoofed++, "victim's source straight to pod A"))
		goto cleanup;

	spec.saddr = TEST_OTHER_IP;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build") ||
	    !expect_spoofed(&f, &in, 0, spoofed++, "an address no pod has"))
		goto cleanup;

	spec = fixture_client_spec(IPPROTO_UDP);
	spec.saddr = 0;
	spec.daddr = 0xffffffff;
	spec.sport = htons(68);
	spec.dport = htons(67);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build") ||
	    !expect_spoofed(&f, &in, 0, spoofed++, "DHCP discover from 0.0.0.0"))
		goto cleanup;

	spec = fixture_client_spec(IPPROTO_ICMP);
	spec.daddr = TEST_BACKEND_A;
	spec.icmp_type = 8; /* echo request */
	spec.sport = spec.dport = 0;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build") ||
	    !expect_spoofed(&f, &in, 0, spoofed++, "ICMP echo with the victim's source"))
		goto cleanup;

	/* Same frame, protocol 47 (GRE): the flow code would pass it without a look at ports. */
	in.data[PKT_IP_OFF + 9] = 47;
	pkt_fix_ip_csum(&in);
	if (!expect_spoofed(&f, &in, 0, spoofed++, "GRE with the victim's source"))
		goto cleanup;

	/* Policy on and isolating A: still the source check that drops, not the policy. */
	if (!ASSERT_OK(fixture_policy_enable(&f, true), "enable policy") ||
	    !ASSERT_OK(fixture_policy_address(&f, TEST_BACKEND_A, 32, 301, 0), "ipcache A"))
		goto cleanup;
	spec = fixture_client_spec(IPPROTO_TCP);
	spec.daddr = TEST_BACKEND_A;
	spec.dport = TEST_BACKEND_PORT;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build"))
		goto cleanup;
	expect_spoofed(&f, &in, 0, spoofed++, "victim's source to an isolated pod");
	ASSERT_EQ(fixture_drop(&f, DROP_POLICY_INGRESS), 0, "drops policy ingress");
cleanup:
	fixture_close(&f);
}

/*
 * A packet that matches an established flow's entry (the victim's, or a reply entry of backend
 * A) but comes from the attacker's veth is dropped before conntrack: a forged RST does not
 * close the victim's flow, and a forged reply is not delivered into the victim.
 */
void test_pod_spoofed_established_flow_dropped(void)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct ct_entry before, after;
	struct fixture f = {0};
	struct pkt in, out;
	int verdict;

	if (!spoof_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(fixture_set_endpoint_backend_a(&f), "backend A, a pod on this node") ||
	    !ASSERT_OK(pkt_build(&in, &spec), "build victim's SYN") ||
	    !ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run victim's SYN") ||
	    !ASSERT_EQ(verdict, TC_ACT_REDIRECT, "victim's SYN: into backend A") ||
	    !ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					 TEST_VIP_PORT, IPPROTO_TCP, &before),
		       "victim's forward entry"))
		goto cleanup;

	spec.tcp_flags = PKT_TCP_RST | PKT_TCP_ACK;
	memcpy(spec.src_mac, attacker_mac, 6);
	if (!ASSERT_OK(pkt_build(&in, &spec), "build forged RST") ||
	    !expect_spoofed(&f, &in, 2, 0, "forged RST on the victim's flow"))
		goto cleanup;
	if (ASSERT_OK(fixture_ct_lookup(&f, TEST_CLIENT_IP, TEST_VIP, TEST_CLIENT_PORT,
					TEST_VIP_PORT, IPPROTO_TCP, &after),
		      "victim's forward entry after the forged RST"))
		ASSERT_MEM_EQ(&after, &before, sizeof(after), "victim's forward entry unchanged");

	spec = fixture_reply_spec(IPPROTO_TCP);
	spec.tcp_flags = PKT_TCP_ACK;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build forged reply") ||
	    !expect_spoofed(&f, &in, 2, 1, "backend A's reply from the attacker's veth"))
		goto cleanup;
	ASSERT_EQ(fixture_stat(&f, STAT_CT_FORWARD), 0, "stats ct_forward");
	ASSERT_EQ(fixture_stat(&f, STAT_CT_REPLY), 0, "stats ct_reply");

	/* Backend A's real reply, on its own veth, reaches the victim. */
	if (ASSERT_OK(fixture_run(&f, &in, &out, &verdict), "run A's reply")) {
		ASSERT_EQ(verdict, TC_ACT_REDIRECT, "A's reply: into the victim");
		ASSERT_IP_EQ(pkt_ip_saddr(&out), TEST_VIP, "A's reply: ip.saddr");
		ASSERT_EQ(fixture_stat(&f, STAT_CT_REPLY), 1, "stats ct_reply");
	}
cleanup:
	fixture_close(&f);
}

/* Ethernet/IPv4 ARP request, "who has TARGET tell SENDER" from SENDER_MAC. */
static int build_arp(struct pkt *p, const uint8_t sender_mac[6], __be32 sender, __be32 target)
{
	uint8_t arp[28] = {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01};

	memcpy(arp + 8, sender_mac, 6);
	memcpy(arp + 14, &sender, 4);
	memcpy(arp + 24, &target, 4);
	return pkt_build_raw(p, (const uint8_t[6]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, sender_mac,
			     0x0806, arp, sizeof(arp));
}

/*
 * ARP: a request or gratuitous ARP whose sender address is not the pod's would teach the node
 * (or a neighbour) the victim's address at the attacker's MAC; dropped and counted. The
 * attacker's own ARP passes. A header too short to hold the sender address, or of another
 * layout, is dropped as malformed (the kernel drops such ARP too).
 */
void test_pod_spoofed_arp_dropped(void)
{
	struct fixture f = {0};
	struct pkt in, out;
	int verdict;

	if (!spoof_setup(&f, IPPROTO_TCP))
		goto cleanup;
	if (!ASSERT_OK(build_arp(&in, attacker_mac, TEST_CLIENT_IP, TEST_IP(10, 0, 1, 1)),
		       "build ARP") ||
	    !expect_spoofed(&f, &in, 0, 0, "ARP with the victim's sender address"))
		goto cleanup;
	if (!ASSERT_OK(build_arp(&in, attacker_mac, TEST_CLIENT_IP, TEST_CLIENT_IP),
		       "build gratuitous ARP") ||
	    !expect_spoofed(&f, &in, 0, 1, "gratuitous ARP for the victim's address"))
		goto cleanup;
	if (!ASSERT_OK(build_arp(&in, attacker_mac, 0, ATTACKER_IP), "build ARP probe") ||
	    !expect_spoofed(&f, &in, 0, 2, "ARP probe from 0.0.0.0"))
		goto cleanup;

	if (!ASSERT_OK(build_arp(&in, attacker_mac, ATTACKER_IP, TEST_IP(10, 0, 1, 1)),
		       "build attacker's own ARP") ||
	    !ASSERT_OK(fixture_run_on(&f, ATTACKER_IFINDEX, &in, &out, &verdict),
		       "run attacker's own ARP"))
		goto cleanup;
	ASSERT_EQ(verdict, TC_ACT_OK, "attacker's own ARP: verdict");
	ASSERT_EQ(fixture_stat(&f, STAT_PASS), 1, "attacker's own ARP: stats pass");

	/* IPv6 addresses in an ARP (plen 16): the sender address is not where IPv4's would be. */
	if (!ASSERT_OK(build_arp(&in, attacker_mac, ATTACKER_IP, TEST_IP(10, 0, 1, 1)),
		       "build ARP"))
		goto cleanup;
	in.data[14 + 5] = 16;
	if (ASSERT_OK(fixture_run_on(&f, ATTACKER_IFINDEX, &in, &out, &verdict), "run")) {
		ASSERT_EQ(verdict, TC_ACT_SHOT, "ARP with 16-byte addresses: verdict");
		ASSERT_EQ(fixture_drop(&f, DROP_MALFORMED), 1, "drops malformed");
	}
cleanup:
	fixture_close(&f);
}

/*
 * Neither IPv4 nor ARP: an IPv6 packet (pods are given no IPv6 address, and the node's stack
 * would route one past NetworkPolicy with whatever source it carries) and an unknown ethertype
 * are dropped untouched and counted as such, never mistaken for IPv4 service traffic.
 */
void test_pod_non_ipv4_dropped(void)
{
	/* fd00::5 -> fd00::a, UDP 40000 -> 80; bytes 16..19 spell the VIP (IPv4 daddr's place). */
	uint8_t ipv6[40 + 8 + 4] = {0x60, 0, 0, 0, 0, 12, 17, 64};
	struct fixture f = {0};
	struct pkt in;

	ipv6[8] = 0xfd;
	ipv6[23] = 5;
	ipv6[24] = 0xfd;
	ipv6[39] = 0x0a;
	ipv6[40] = 40000 >> 8;
	ipv6[41] = 40000 & 0xff;
	ipv6[43] = 80;
	ipv6[45] = 12;
	memcpy(ipv6 + 16, &(__be32){TEST_VIP}, 4);
	if (!fixture_setup(&f, IPPROTO_TCP) ||
	    !ASSERT_OK(
		pkt_build_raw(&in, test_gateway_mac, test_client_mac, 0x86dd, ipv6, sizeof(ipv6)),
		"build IPv6 UDP"))
		goto cleanup;
	fixture_expect_untouched(&f, &in, TC_ACT_SHOT, "IPv6 UDP from a pod");
	ASSERT_EQ(fixture_drop(&f, DROP_NOT_IPV4), 1, "IPv6: drops neither IPv4 nor ARP");

	if (!ASSERT_OK(
		pkt_build_raw(&in, test_gateway_mac, test_client_mac, 0x88b5, ipv6, sizeof(ipv6)),
		"build local experimental ethertype"))
		goto cleanup;
	fixture_expect_untouched(&f, &in, TC_ACT_SHOT, "ethertype 0x88b5 from a pod");
	ASSERT_EQ(fixture_drop(&f, DROP_NOT_IPV4), 2, "0x88b5: drops neither IPv4 nor ARP");
	ASSERT_EQ(fixture_drops_total(&f), 2, "drops over every reason");
	ASSERT_EQ(fixture_stats_total(&f), 0, "stats over every outcome");
cleanup:
	fixture_close(&f);
}
