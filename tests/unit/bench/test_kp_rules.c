// SPDX-License-Identifier: Apache-2.0
/* bench/kp_rules.c: a known service set gives kube-proxy's iptables and nftables text. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/kp_rules.h"

static uint32_t ip(const char *text)
{
	struct in_addr in;

	assert_int_equal(inet_pton(AF_INET, text, &in), 1);
	return in.s_addr;
}

/* Write through GEN into a memory stream and return the text (caller frees). */
#define CAPTURE(call)                                                                              \
	({                                                                                         \
		char *buf_ = NULL;                                                                 \
		size_t len_ = 0;                                                                   \
		FILE *f_ = open_memstream(&buf_, &len_);                                           \
		assert_non_null(f_);                                                               \
		assert_int_equal((call), 0);                                                       \
		fclose(f_);                                                                        \
		buf_;                                                                              \
	})

static const struct kp_options opts = {.cluster_cidr = "10.244.0.0/16",
				       .service_cidr = "10.96.0.0/12"};

/* kube-proxy's chain names of well-known services, as every cluster shows them. */
static void test_chain_hash_matches_kube_proxy(void **state)
{
	struct kp_service kubernetes = {.namespace_name = "default",
					.name = "kubernetes",
					.port_name = "https",
					.protocol = IPPROTO_TCP};
	struct kp_service dns = {.namespace_name = "kube-system",
				 .name = "kube-dns",
				 .port_name = "dns",
				 .protocol = IPPROTO_UDP};
	char chain[KP_CHAIN_NAME_MAX];

	(void)state;
	kp_iptables_svc_chain(&kubernetes, chain, sizeof(chain));
	assert_string_equal(chain, "KUBE-SVC-NPX46M4PTMTKRN6Y");
	kp_iptables_svc_chain(&dns, chain, sizeof(chain));
	assert_string_equal(chain, "KUBE-SVC-TCOU7JCQXEZGVUNU");
	snprintf(dns.port_name, sizeof(dns.port_name), "dns-tcp");
	dns.protocol = IPPROTO_TCP;
	kp_iptables_svc_chain(&dns, chain, sizeof(chain));
	assert_string_equal(chain, "KUBE-SVC-ERIFXISQEP7F7OF4");
	/* A wrong protocol gives another chain: the hash covers it. */
	dns.protocol = IPPROTO_UDP;
	kp_iptables_svc_chain(&dns, chain, sizeof(chain));
	assert_string_not_equal(chain, "KUBE-SVC-ERIFXISQEP7F7OF4");
}

static struct kp_endpoint two_eps[2];
static struct kp_service web;

static void setup_web(void)
{
	two_eps[0] = (struct kp_endpoint){.addr = ip("10.244.1.5"), .port = 8080};
	two_eps[1] = (struct kp_endpoint){.addr = ip("10.244.1.6"), .port = 8080};
	web = (struct kp_service){.namespace_name = "default",
				  .name = "web",
				  .port_name = "http",
				  .vip = ip("10.96.0.10"),
				  .port = 80,
				  .protocol = IPPROTO_TCP,
				  .endpoints = two_eps,
				  .n_endpoints = 2};
}

static void test_iptables_full(void **state)
{
	char svc[KP_CHAIN_NAME_MAX], sep0[KP_CHAIN_NAME_MAX], sep1[KP_CHAIN_NAME_MAX];
	char expected[8192];
	char *text;

	(void)state;
	setup_web();
	kp_iptables_svc_chain(&web, svc, sizeof(svc));
	kp_iptables_sep_chain(&web, &two_eps[0], sep0, sizeof(sep0));
	kp_iptables_sep_chain(&web, &two_eps[1], sep1, sizeof(sep1));
	text = CAPTURE(kp_iptables_write(f_, &web, 1, &opts));
	snprintf(
	    expected, sizeof(expected),
	    "*filter\n"
	    ":KUBE-NODEPORTS - [0:0]\n"
	    ":KUBE-SERVICES - [0:0]\n"
	    ":KUBE-EXTERNAL-SERVICES - [0:0]\n"
	    ":KUBE-FORWARD - [0:0]\n"
	    ":KUBE-PROXY-FIREWALL - [0:0]\n"
	    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
	    "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark "
	    "0x4000/0x4000 -j ACCEPT\n"
	    "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m "
	    "conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
	    "COMMIT\n"
	    "*nat\n"
	    ":KUBE-NODEPORTS - [0:0]\n"
	    ":KUBE-SERVICES - [0:0]\n"
	    ":KUBE-MARK-MASQ - [0:0]\n"
	    ":KUBE-POSTROUTING - [0:0]\n"
	    ":%s - [0:0]\n"
	    ":%s - [0:0]\n"
	    ":%s - [0:0]\n"
	    "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
	    "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
	    "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring "
	    "SNAT\" "
	    "-j MASQUERADE --random-fully\n"
	    "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n"
	    "-A KUBE-SERVICES -m comment --comment \"default/web:http cluster IP\" -m tcp -p tcp "
	    "-d "
	    "10.96.0.10 --dport 80 -j %s\n"
	    "-A %s -m comment --comment \"default/web:http cluster IP\" -m tcp -p tcp -d "
	    "10.96.0.10 "
	    "--dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ\n"
	    "-A %s -m comment --comment \"default/web:http -> 10.244.1.5:8080\" -m statistic "
	    "--mode "
	    "random --probability 0.5000000000 -j %s\n"
	    "-A %s -m comment --comment \"default/web:http -> 10.244.1.6:8080\" -j %s\n"
	    "-A %s -m comment --comment default/web:http -s 10.244.1.5 -j KUBE-MARK-MASQ\n"
	    "-A %s -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination "
	    "10.244.1.5:8080\n"
	    "-A %s -m comment --comment default/web:http -s 10.244.1.6 -j KUBE-MARK-MASQ\n"
	    "-A %s -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination "
	    "10.244.1.6:8080\n"
	    "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must "
	    "be "
	    "the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"
	    "COMMIT\n",
	    svc, sep0, sep1, svc, svc, svc, sep0, svc, sep1, sep0, sep0, sep1, sep1);
	assert_string_equal(text, expected);
	assert_string_equal(svc, "KUBE-SVC-CDGGSHYLG3RE2FKL");
	free(text);
}

/* Probabilities 1/n, 1/(n-1), ... 1/2, then the last endpoint unconditionally. */
static void test_iptables_probabilities(void **state)
{
	struct kp_endpoint eps[4];
	struct kp_service svc;
	char *text;

	(void)state;
	setup_web();
	for (int i = 0; i < 4; i++)
		eps[i] = (struct kp_endpoint){.addr = htonl(0x0af40100u + 10 + (uint32_t)i),
					      .port = 8080};
	svc = web;
	svc.endpoints = eps;
	svc.n_endpoints = 4;
	text = CAPTURE(kp_iptables_write(f_, &svc, 1, &opts));
	assert_non_null(strstr(text, "--probability 0.2500000000 -j KUBE-SEP-"));
	assert_non_null(strstr(text, "--probability 0.3333333333 -j KUBE-SEP-"));
	assert_non_null(strstr(text, "--probability 0.5000000000 -j KUBE-SEP-"));
	assert_null(strstr(text, "--probability 1.0"));
	free(text);
}

/* The target's position in KUBE-SERVICES is its index in the service list. */
static void test_iptables_order(void **state)
{
	struct kp_service svcs[3];
	char *text, *a, *b, *c;

	(void)state;
	setup_web();
	for (int i = 0; i < 3; i++) {
		svcs[i] = web;
		snprintf(svcs[i].name, sizeof(svcs[i].name), "svc-%d", i);
		svcs[i].vip = htonl(0x0a600010u + (uint32_t)i);
	}
	text = CAPTURE(kp_iptables_write(f_, svcs, 3, &opts));
	a = strstr(text, "-A KUBE-SERVICES -m comment --comment \"default/svc-0:http");
	b = strstr(text, "-A KUBE-SERVICES -m comment --comment \"default/svc-1:http");
	c = strstr(text, "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a < b && b < c);
	free(text);
}

static void test_iptables_partial(void **state)
{
	struct kp_endpoint changed_eps[2];
	struct kp_service svcs[2], old;
	char sep_gone[KP_CHAIN_NAME_MAX], line[KP_CHAIN_NAME_MAX + 16];
	char *text;

	(void)state;
	setup_web();
	changed_eps[0] = two_eps[0];
	changed_eps[1] = (struct kp_endpoint){.addr = ip("10.244.1.7"), .port = 8080};
	old = web;
	svcs[0] = web;
	svcs[0].endpoints = changed_eps;
	svcs[1] = web;
	snprintf(svcs[1].name, sizeof(svcs[1].name), "other");
	text = CAPTURE(kp_iptables_write_partial(f_, svcs, 2, 0, &old, &opts));
	kp_iptables_sep_chain(&old, &two_eps[1], sep_gone, sizeof(sep_gone));
	/* The stale chain is flushed (declared) and deleted; the other service is only in
	 * KUBE-SERVICES; nothing touches the built-in chains. */
	snprintf(line, sizeof(line), ":%s - [0:0]\n", sep_gone);
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof(line), "-X %s\n", sep_gone);
	assert_non_null(strstr(text, line));
	assert_non_null(strstr(text, "--comment \"default/other:http cluster IP\" -m tcp -p tcp -d "
				     "10.96.0.10 --dport 80 -j KUBE-SVC-"));
	assert_null(strstr(text, "default/other:http -> "));
	assert_non_null(strstr(text, "--to-destination 10.244.1.7:8080"));
	assert_null(strstr(text, "--to-destination 10.244.1.6:8080"));
	assert_null(strstr(text, "-A PREROUTING"));
	assert_null(strstr(text, "-A FORWARD"));
	free(text);
}

/*
 * Over 1,000 endpoints in all (kube-proxy's large cluster mode) the rules that pick and the
 * endpoint chains carry no comment, in the full and the partial restore; at 1,000 they do.
 */
static void test_iptables_large_cluster(void **state)
{
	struct kp_endpoint *eps = calloc(1001, sizeof(*eps));
	struct kp_service svc, old;
	char sep[KP_CHAIN_NAME_MAX], line[KP_CHAIN_NAME_MAX + 64];
	char *text;

	(void)state;
	assert_non_null(eps);
	setup_web();
	for (uint32_t i = 0; i < 1001; i++)
		eps[i] = (struct kp_endpoint){.addr = htonl(0x0af40000u + 10 + i), .port = 8080};
	svc = web;
	svc.endpoints = eps;
	svc.n_endpoints = 1000;
	assert_false(kp_is_large_cluster(&svc, 1));
	text = CAPTURE(kp_iptables_write(f_, &svc, 1, &opts));
	assert_non_null(strstr(text, "--comment \"default/web:http -> 10.244.0.10:8080\""));
	free(text);

	svc.n_endpoints = 1001;
	assert_true(kp_is_large_cluster(&svc, 1));
	kp_iptables_sep_chain(&svc, &eps[0], sep, sizeof(sep));
	old = svc;
	old.n_endpoints = 1000;
	for (int partial = 0; partial < 2; partial++) {
		text = partial ? CAPTURE(kp_iptables_write_partial(f_, &svc, 1, 0, &old, &opts))
			       : CAPTURE(kp_iptables_write(f_, &svc, 1, &opts));
		assert_null(strstr(text, " -> "));
		snprintf(line, sizeof(line), "-A %s -s 10.244.0.10 -j KUBE-MARK-MASQ\n", sep);
		assert_non_null(strstr(text, line));
		snprintf(line, sizeof(line),
			 "-A %s -m tcp -p tcp -j DNAT --to-destination 10.244.0.10:8080\n", sep);
		assert_non_null(strstr(text, line));
		/* The service's own rules keep theirs. */
		assert_non_null(strstr(text, "-A KUBE-SERVICES -m comment --comment "
					     "\"default/web:http cluster IP\""));
		free(text);
	}
	free(eps);
}

static void test_nft_service(void **state)
{
	char svc[KP_CHAIN_NAME_MAX], ep0[KP_CHAIN_NAME_MAX], ep1[KP_CHAIN_NAME_MAX];
	char expected[4096], *text, *body;

	(void)state;
	setup_web();
	kp_nft_svc_chain(&web, svc, sizeof(svc));
	kp_nft_ep_chain(&web, &two_eps[0], ep0, sizeof(ep0));
	kp_nft_ep_chain(&web, &two_eps[1], ep1, sizeof(ep1));
	/* "service-HASH8-ns/name/proto/port", "endpoint-HASH8-ns/name/proto/port__IP/PORT";
	 * the hash is the iptables chain's, shortened. */
	assert_string_equal(svc, "service-CDGGSHYL-default/web/tcp/http");
	assert_int_equal(strncmp(ep0, "endpoint-", 9), 0);
	assert_string_equal(ep0 + 17, "-default/web/tcp/http__10.244.1.5/8080");
	text = CAPTURE(kp_nft_write(f_, &web, 1, &opts));
	assert_non_null(
	    strstr(text, "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n"));
	assert_non_null(strstr(text,
			       "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto "
			       ". inet_service : verdict ;"));
	assert_non_null(strstr(text, "add rule ip kube-proxy services ip daddr . meta l4proto . th "
				     "dport vmap @service-ips\n"));
	assert_non_null(strstr(text, "add chain ip kube-proxy nat-prerouting { type nat hook "
				     "prerouting priority -100 ; }\n"));
	assert_non_null(strstr(text, "ip daddr { 10.96.0.0/12 } drop"));
	body = strstr(text, "add chain ip kube-proxy service-CDGGSHYL");
	assert_non_null(body);
	snprintf(
	    expected, sizeof(expected),
	    "add chain ip kube-proxy %s\n"
	    "add chain ip kube-proxy %s\n"
	    "add chain ip kube-proxy %s\n"
	    "add rule ip kube-proxy %s ip daddr 10.96.0.10 tcp dport 80 ip saddr != "
	    "10.244.0.0/16 jump mark-for-masquerade\n"
	    "add rule ip kube-proxy %s numgen random mod 2 vmap { 0 : goto %s , 1 : goto %s }\n"
	    "add rule ip kube-proxy %s ip saddr 10.244.1.5 jump mark-for-masquerade\n"
	    "add rule ip kube-proxy %s meta l4proto tcp dnat to 10.244.1.5:8080\n"
	    "add rule ip kube-proxy %s ip saddr 10.244.1.6 jump mark-for-masquerade\n"
	    "add rule ip kube-proxy %s meta l4proto tcp dnat to 10.244.1.6:8080\n"
	    "add element ip kube-proxy cluster-ips { 10.96.0.10 }\n"
	    "add element ip kube-proxy service-ips { 10.96.0.10 . tcp . 80 : goto %s }\n",
	    svc, ep0, ep1, svc, svc, ep0, ep1, ep0, ep0, ep1, ep1, svc);
	assert_string_equal(body, expected);
	free(text);
}

static void test_nft_update(void **state)
{
	struct kp_endpoint changed_eps[2];
	struct kp_service changed;
	char gone[KP_CHAIN_NAME_MAX], line[KP_CHAIN_NAME_MAX + 32], svc[KP_CHAIN_NAME_MAX];
	char *text;

	(void)state;
	setup_web();
	changed_eps[0] = two_eps[0];
	changed_eps[1] = (struct kp_endpoint){.addr = ip("10.244.1.7"), .port = 8080};
	changed = web;
	changed.endpoints = changed_eps;
	text = CAPTURE(kp_nft_write_update(f_, &web, &changed, &opts));
	kp_nft_svc_chain(&web, svc, sizeof(svc));
	kp_nft_ep_chain(&web, &two_eps[1], gone, sizeof(gone));
	snprintf(line, sizeof(line), "flush chain ip kube-proxy %s\n", svc);
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof(line), "delete chain ip kube-proxy %s\n", gone);
	assert_non_null(strstr(text, line));
	assert_non_null(strstr(text, "dnat to 10.244.1.7:8080\n"));
	assert_null(strstr(text, "dnat to 10.244.1.6:8080"));
	assert_null(strstr(text, "add table"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_hash_matches_kube_proxy),
	    cmocka_unit_test(test_iptables_full),
	    cmocka_unit_test(test_iptables_probabilities),
	    cmocka_unit_test(test_iptables_order),
	    cmocka_unit_test(test_iptables_partial),
	    cmocka_unit_test(test_iptables_large_cluster),
	    cmocka_unit_test(test_nft_service),
	    cmocka_unit_test(test_nft_update),
	};

	return cmocka_run_group_tests_name("kp_rules", tests, NULL, NULL);
}
