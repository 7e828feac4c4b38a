// SPDX-License-Identifier: Apache-2.0
/* kube-proxy's iptables and nftables rulesets for the bench, written from a service list. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bench/kp_rules.h"

/* ---- SHA-256 (FIPS 180-4) and base32 (RFC 4648): kube-proxy's chain-name hash ------------ */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_block(uint32_t h[8], const uint8_t block[64])
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
		       (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (i = 0; i < 64; i++) {
		uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
		uint32_t t1 = hh + s1 + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
		uint32_t t2 = s0 + ((a & b) ^ (a & c) ^ (b & c));

		hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void sha256(const void *data, size_t len, uint8_t out[32])
{
	uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	const uint8_t *p = data;
	uint8_t block[64];
	uint64_t bits = (uint64_t)len * 8;
	size_t rest, i;

	for (; len >= 64; len -= 64, p += 64)
		sha256_block(h, p);
	rest = len;
	memset(block, 0, sizeof(block));
	memcpy(block, p, rest);
	block[rest] = 0x80;
	if (rest >= 56) {
		sha256_block(h, block);
		memset(block, 0, sizeof(block));
	}
	for (i = 0; i < 8; i++)
		block[63 - i] = (uint8_t)(bits >> (8 * i));
	sha256_block(h, block);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

void kp_hash(const char *text, size_t len, char *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t digest[32];
	size_t i;

	sha256(text, strlen(text), digest);
	/* Character i is bits [5i, 5i+5) of the digest, most significant first. */
	for (i = 0; i < len && i < 51; i++) {
		size_t bit = 5 * i, byte = bit / 8;
		unsigned int window = (unsigned int)digest[byte] << 8;

		if (byte + 1 < sizeof(digest))
			window |= digest[byte + 1];
		out[i] = alphabet[(window >> (11 - bit % 8)) & 31];
	}
	out[i] = '\0';
}

/* ---- names -------------------------------------------------------------------------------- */

static const char *proto_lower(int protocol)
{
	return protocol == IPPROTO_UDP ? "udp" : "tcp";
}

static void ip_text(uint32_t addr, char *out)
{
	struct in_addr in = {.s_addr = addr};

	inet_ntop(AF_INET, &in, out, INET_ADDRSTRLEN);
}

void kp_service_port_name(const struct kp_service *svc, char *out, size_t size)
{
	snprintf(out, size, "%s/%s%s%s", svc->namespace_name, svc->name,
		 svc->port_name[0] ? ":" : "", svc->port_name);
}

/* "IP:PORT", kube-proxy's endpoint string. */
static void endpoint_text(const struct kp_endpoint *ep, char *out, size_t size)
{
	char ip[INET_ADDRSTRLEN];

	ip_text(ep->addr, ip);
	snprintf(out, size, "%s:%u", ip, ep->port);
}

void kp_iptables_svc_chain(const struct kp_service *svc, char *out, size_t size)
{
	char spn[3 * KP_NAME_MAX + 4], text[sizeof(spn) + 8], hash[KP_HASH_LEN + 1];

	kp_service_port_name(svc, spn, sizeof(spn));
	snprintf(text, sizeof(text), "%s%s", spn, proto_lower(svc->protocol));
	kp_hash(text, KP_HASH_LEN, hash);
	snprintf(out, size, "KUBE-SVC-%s", hash);
}

void kp_iptables_sep_chain(const struct kp_service *svc, const struct kp_endpoint *ep, char *out,
			   size_t size)
{
	char spn[3 * KP_NAME_MAX + 4], ept[32], text[sizeof(spn) + 48], hash[KP_HASH_LEN + 1];

	kp_service_port_name(svc, spn, sizeof(spn));
	endpoint_text(ep, ept, sizeof(ept));
	snprintf(text, sizeof(text), "%s%s%s", spn, proto_lower(svc->protocol), ept);
	kp_hash(text, KP_HASH_LEN, hash);
	snprintf(out, size, "KUBE-SEP-%s", hash);
}

/* "HASH-ns/name/proto/port": nftables chains keep a readable name after a short hash. */
static void nft_chain_base(const struct kp_service *svc, char *out, size_t size)
{
	char spn[3 * KP_NAME_MAX + 4], text[sizeof(spn) + 8], hash[KP_NFT_HASH_LEN + 1];

	kp_service_port_name(svc, spn, sizeof(spn));
	snprintf(text, sizeof(text), "%s%s", spn, proto_lower(svc->protocol));
	kp_hash(text, KP_NFT_HASH_LEN, hash);
	snprintf(out, size, "%s-%s/%s/%s/%s", hash, svc->namespace_name, svc->name,
		 proto_lower(svc->protocol), svc->port_name);
}

void kp_nft_svc_chain(const struct kp_service *svc, char *out, size_t size)
{
	char base[KP_CHAIN_NAME_MAX];

	nft_chain_base(svc, base, sizeof(base));
	snprintf(out, size, "service-%s", base);
}

void kp_nft_ep_chain(const struct kp_service *svc, const struct kp_endpoint *ep, char *out,
		     size_t size)
{
	char spn[3 * KP_NAME_MAX + 4], ept[32], text[sizeof(spn) + 48], hash[KP_NFT_HASH_LEN + 1];
	char ip[INET_ADDRSTRLEN];

	kp_service_port_name(svc, spn, sizeof(spn));
	endpoint_text(ep, ept, sizeof(ept));
	snprintf(text, sizeof(text), "%s%s%s", spn, proto_lower(svc->protocol), ept);
	kp_hash(text, KP_NFT_HASH_LEN, hash);
	ip_text(ep->addr, ip);
	snprintf(out, size, "endpoint-%s-%s/%s/%s/%s__%s/%u", hash, svc->namespace_name, svc->name,
		 proto_lower(svc->protocol), svc->port_name, ip, ep->port);
}

static int write_status(FILE *f)
{
	return ferror(f) ? -EIO : 0;
}

/* ---- iptables ----------------------------------------------------------------------------- */

static void ipt_filter_table(FILE *f, const struct kp_options *opts)
{
	fputs("*filter\n"
	      ":KUBE-NODEPORTS - [0:0]\n"
	      ":KUBE-SERVICES - [0:0]\n"
	      ":KUBE-EXTERNAL-SERVICES - [0:0]\n"
	      ":KUBE-FORWARD - [0:0]\n"
	      ":KUBE-PROXY-FIREWALL - [0:0]\n",
	      f);
	if (opts->with_base_jumps) {
		static const char *const hooks[] = {"INPUT", "FORWARD", "OUTPUT"};

		for (size_t i = 0; i < 3; i++)
			fprintf(f,
				"-A %s -m conntrack --ctstate NEW -m comment --comment "
				"\"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n",
				hooks[i]);
		fputs(
		    "-A INPUT -m comment --comment \"kubernetes health check service ports\" "
		    "-j KUBE-NODEPORTS\n"
		    "-A INPUT -m conntrack --ctstate NEW -m comment --comment "
		    "\"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n"
		    "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" "
		    "-j KUBE-FORWARD\n"
		    "-A FORWARD -m conntrack --ctstate NEW -m comment --comment "
		    "\"kubernetes service portals\" -j KUBE-SERVICES\n"
		    "-A FORWARD -m conntrack --ctstate NEW -m comment --comment "
		    "\"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n"
		    "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "
		    "\"kubernetes service portals\" -j KUBE-SERVICES\n",
		    f);
	}
	fputs("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
	      "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" "
	      "-m mark --mark " KP_MASQ_MARK "/" KP_MASQ_MARK " -j ACCEPT\n"
	      "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" "
	      "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
	      "COMMIT\n",
	      f);
}

static void ipt_nat_fixed_chains(FILE *f)
{
	fputs("*nat\n"
	      ":KUBE-NODEPORTS - [0:0]\n"
	      ":KUBE-SERVICES - [0:0]\n"
	      ":KUBE-MARK-MASQ - [0:0]\n"
	      ":KUBE-POSTROUTING - [0:0]\n",
	      f);
}

static void ipt_nat_service_chains(FILE *f, const struct kp_service *svc)
{
	char chain[KP_CHAIN_NAME_MAX];

	kp_iptables_svc_chain(svc, chain, sizeof(chain));
	fprintf(f, ":%s - [0:0]\n", chain);
	for (size_t e = 0; e < svc->n_endpoints; e++) {
		kp_iptables_sep_chain(svc, &svc->endpoints[e], chain, sizeof(chain));
		fprintf(f, ":%s - [0:0]\n", chain);
	}
}

static void ipt_nat_fixed_rules(FILE *f, const struct kp_options *opts)
{
	if (opts->with_base_jumps)
		fputs("-A PREROUTING -m comment --comment \"kubernetes service portals\" "
		      "-j KUBE-SERVICES\n"
		      "-A OUTPUT -m comment --comment \"kubernetes service portals\" "
		      "-j KUBE-SERVICES\n"
		      "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" "
		      "-j KUBE-POSTROUTING\n",
		      f);
	fputs("-A KUBE-POSTROUTING -m mark ! --mark " KP_MASQ_MARK "/" KP_MASQ_MARK " -j RETURN\n"
	      "-A KUBE-POSTROUTING -j MARK --xor-mark " KP_MASQ_MARK "\n"
	      "-A KUBE-POSTROUTING -m comment --comment "
	      "\"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"
	      "-A KUBE-MARK-MASQ -j MARK --or-mark " KP_MASQ_MARK "\n",
	      f);
}

/*
 * The start of a rule in chain matching svc's cluster IP and port, which kube-proxy writes alike
 * for the KUBE-SERVICES jump and for the masquerade mark; the caller writes the rest.
 */
static void ipt_cluster_ip_match(FILE *f, const char *chain, const struct kp_service *svc)
{
	char spn[3 * KP_NAME_MAX + 4], vip[INET_ADDRSTRLEN];
	const char *proto = proto_lower(svc->protocol);

	kp_service_port_name(svc, spn, sizeof(spn));
	ip_text(svc->vip, vip);
	fprintf(f, "-A %s -m comment --comment \"%s cluster IP\" -m %s -p %s -d %s --dport %u ",
		chain, spn, proto, proto, vip, svc->port);
}

/* The service's rule in KUBE-SERVICES: where the linear walk of a new connection stops. */
static void ipt_services_rule(FILE *f, const struct kp_service *svc)
{
	char chain[KP_CHAIN_NAME_MAX];

	kp_iptables_svc_chain(svc, chain, sizeof(chain));
	ipt_cluster_ip_match(f, "KUBE-SERVICES", svc);
	fprintf(f, "-j %s\n", chain);
}

/*
 * kube-proxy's large cluster mode: above this many endpoints in all, the rules that pick an
 * endpoint (KUBE-SVC-*) and the endpoint chains' rules (KUBE-SEP-*) carry no comment, which
 * shrinks the restore; with iptables-nft each comment is also an xt match in the rule, which
 * costs at load and when the rule runs.
 */
#define KP_LARGE_CLUSTER_ENDPOINTS 1000 /* kube-proxy's largeClusterEndpointsThreshold */

bool kp_is_large_cluster(const struct kp_service *svcs, size_t n)
{
	size_t endpoints = 0;

	for (size_t i = 0; i < n; i++)
		endpoints += svcs[i].n_endpoints;
	return endpoints > KP_LARGE_CLUSTER_ENDPOINTS;
}

/* KUBE-SVC-*: masquerade off-cluster sources, then pick endpoint i with 1/(n-i). */
static void ipt_service_rules(FILE *f, const struct kp_service *svc, const struct kp_options *opts,
			      bool is_large)
{
	char spn[3 * KP_NAME_MAX + 4], chain[KP_CHAIN_NAME_MAX], sep[KP_CHAIN_NAME_MAX];
	char ept[32], ip[INET_ADDRSTRLEN], comment[sizeof(spn) + 64];
	const char *proto = proto_lower(svc->protocol);
	size_t n = svc->n_endpoints;

	kp_service_port_name(svc, spn, sizeof(spn));
	kp_iptables_svc_chain(svc, chain, sizeof(chain));
	ipt_cluster_ip_match(f, chain, svc);
	fprintf(f, "! -s %s -j KUBE-MARK-MASQ\n", opts->cluster_cidr);
	for (size_t e = 0; e < n; e++) {
		endpoint_text(&svc->endpoints[e], ept, sizeof(ept));
		kp_iptables_sep_chain(svc, &svc->endpoints[e], sep, sizeof(sep));
		comment[0] = '\0';
		if (!is_large)
			snprintf(comment, sizeof(comment), " -m comment --comment \"%s -> %s\"",
				 spn, ept);
		if (e + 1 < n)
			fprintf(f,
				"-A %s%s -m statistic --mode random --probability %0.10f -j %s\n",
				chain, comment, 1.0 / (double)(n - e), sep);
		else
			fprintf(f, "-A %s%s -j %s\n", chain, comment, sep);
	}
	comment[0] = '\0';
	if (!is_large)
		snprintf(comment, sizeof(comment), " -m comment --comment %s", spn);
	for (size_t e = 0; e < n; e++) {
		endpoint_text(&svc->endpoints[e], ept, sizeof(ept));
		ip_text(svc->endpoints[e].addr, ip);
		kp_iptables_sep_chain(svc, &svc->endpoints[e], sep, sizeof(sep));
		fprintf(f, "-A %s%s -s %s -j KUBE-MARK-MASQ\n", sep, comment, ip);
		fprintf(f, "-A %s%s -m %s -p %s -j DNAT --to-destination %s\n", sep, comment, proto,
			proto, ept);
	}
}

static void ipt_nodeports_rule(FILE *f)
{
	fputs(
	    "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must "
	    "be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n",
	    f);
}

int kp_iptables_write(FILE *f, const struct kp_service *svcs, size_t n,
		      const struct kp_options *opts)
{
	bool is_large = kp_is_large_cluster(svcs, n);
	size_t i;

	ipt_filter_table(f, opts);
	ipt_nat_fixed_chains(f);
	for (i = 0; i < n; i++)
		ipt_nat_service_chains(f, &svcs[i]);
	ipt_nat_fixed_rules(f, opts);
	for (i = 0; i < n; i++) {
		ipt_services_rule(f, &svcs[i]);
		ipt_service_rules(f, &svcs[i], opts, is_large);
	}
	ipt_nodeports_rule(f);
	fputs("COMMIT\n", f);
	return write_status(f);
}

static bool has_endpoint(const struct kp_service *svc, const struct kp_endpoint *ep)
{
	for (size_t e = 0; e < svc->n_endpoints; e++)
		if (svc->endpoints[e].addr == ep->addr && svc->endpoints[e].port == ep->port)
			return true;
	return false;
}

int kp_iptables_write_partial(FILE *f, const struct kp_service *svcs, size_t n, size_t changed,
			      const struct kp_service *old, const struct kp_options *opts)
{
	struct kp_options no_jumps = *opts;
	bool is_large = kp_is_large_cluster(svcs, n);
	char sep[KP_CHAIN_NAME_MAX];
	size_t i;

	if (changed >= n)
		return -EINVAL;
	no_jumps.with_base_jumps = 0; /* kube-proxy checks those with -C, not in the restore */
	ipt_filter_table(f, &no_jumps);
	ipt_nat_fixed_chains(f);
	ipt_nat_service_chains(f, &svcs[changed]);
	/* A chain is deleted empty: declaring it flushes it, -X at the end removes it. */
	for (i = 0; i < old->n_endpoints; i++) {
		if (has_endpoint(&svcs[changed], &old->endpoints[i]))
			continue;
		kp_iptables_sep_chain(old, &old->endpoints[i], sep, sizeof(sep));
		fprintf(f, ":%s - [0:0]\n", sep);
	}
	ipt_nat_fixed_rules(f, &no_jumps);
	for (i = 0; i < n; i++) {
		ipt_services_rule(f, &svcs[i]);
		if (i == changed)
			ipt_service_rules(f, &svcs[i], opts, is_large);
	}
	ipt_nodeports_rule(f);
	for (i = 0; i < old->n_endpoints; i++) {
		if (has_endpoint(&svcs[changed], &old->endpoints[i]))
			continue;
		kp_iptables_sep_chain(old, &old->endpoints[i], sep, sizeof(sep));
		fprintf(f, "-X %s\n", sep);
	}
	fputs("COMMIT\n", f);
	return write_status(f);
}

/* ---- nftables ----------------------------------------------------------------------------- */

#define NFT_T "ip kube-proxy"

static void nft_fixed(FILE *f, const struct kp_options *opts)
{
	/* Sets and maps first: a rule can only name a set that exists by then. */
	fputs(
	    "add table " NFT_T " { comment \"rules for kube-proxy\" ; }\n"
	    "add set " NFT_T " cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }\n"
	    "add set " NFT_T " nodeport-ips { type ipv4_addr ; "
	    "comment \"IPs that accept NodePort traffic\" ; }\n"
	    "add map " NFT_T " firewall-ips { type ipv4_addr . inet_proto . inet_service : "
	    "verdict ; comment \"destinations that are subject to LoadBalancerSourceRanges\" ; }\n"
	    "add map " NFT_T " no-endpoint-services { type ipv4_addr . inet_proto . inet_service "
	    ": verdict ; comment \"vmap to drop or reject packets to services with no "
	    "endpoints\" ; }\n"
	    "add map " NFT_T " no-endpoint-nodeports { type inet_proto . inet_service : verdict ; "
	    "comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ; "
	    "}\n"
	    "add map " NFT_T " service-ips { type ipv4_addr . inet_proto . inet_service : "
	    "verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }\n"
	    "add map " NFT_T " service-nodeports { type inet_proto . inet_service : verdict ; "
	    "comment \"NodePort traffic\" ; }\n"
	    "add chain " NFT_T " mark-for-masquerade\n"
	    "add rule " NFT_T " mark-for-masquerade mark set mark or " KP_MASQ_MARK "\n"
	    "add chain " NFT_T " masquerading\n"
	    "add rule " NFT_T " masquerading mark and " KP_MASQ_MARK " == 0 return\n"
	    "add rule " NFT_T " masquerading mark set mark xor " KP_MASQ_MARK "\n"
	    "add rule " NFT_T " masquerading masquerade fully-random\n"
	    "add chain " NFT_T " services\n"
	    "add rule " NFT_T " services ip daddr . meta l4proto . th dport vmap @service-ips\n"
	    "add rule " NFT_T " services fib daddr type local ip daddr != 127.0.0.0/8 "
	    "meta l4proto . th dport vmap @service-nodeports\n"
	    "add chain " NFT_T " service-endpoints-check\n"
	    "add rule " NFT_T " service-endpoints-check ip daddr . meta l4proto . th dport vmap "
	    "@no-endpoint-services\n"
	    "add chain " NFT_T " nodeport-endpoints-check\n"
	    "add rule " NFT_T " nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . "
	    "th dport vmap @no-endpoint-nodeports\n"
	    "add chain " NFT_T " firewall-check\n"
	    "add rule " NFT_T " firewall-check ip daddr . meta l4proto . th dport vmap "
	    "@firewall-ips\n"
	    "add chain " NFT_T " reject-chain { comment \"helper for @no-endpoint-services / "
	    "@no-endpoint-nodeports\" ; }\n"
	    "add rule " NFT_T " reject-chain reject\n"
	    "add chain " NFT_T " cluster-ips-check\n"
	    "add rule " NFT_T " cluster-ips-check ip daddr @cluster-ips reject comment "
	    "\"Reject traffic to invalid ports of ClusterIPs\"\n",
	    f);
	fprintf(f,
		"add rule " NFT_T " cluster-ips-check ip daddr { %s } drop comment "
		"\"Drop traffic to unallocated ClusterIPs\"\n",
		opts->service_cidr);
	fputs("add chain " NFT_T
	      " filter-prerouting { type filter hook prerouting priority -110 ; }\n"
	      "add rule " NFT_T " filter-prerouting ct state new jump firewall-check\n"
	      "add chain " NFT_T " filter-forward { type filter hook forward priority -110 ; }\n"
	      "add rule " NFT_T " filter-forward ct state new jump service-endpoints-check\n"
	      "add rule " NFT_T " filter-forward ct state new jump cluster-ips-check\n"
	      "add chain " NFT_T " filter-input { type filter hook input priority -110 ; }\n"
	      "add rule " NFT_T " filter-input ct state new jump nodeport-endpoints-check\n"
	      "add rule " NFT_T " filter-input ct state new jump service-endpoints-check\n"
	      "add chain " NFT_T " filter-output { type filter hook output priority -110 ; }\n"
	      "add rule " NFT_T " filter-output ct state new jump service-endpoints-check\n"
	      "add rule " NFT_T " filter-output ct state new jump firewall-check\n"
	      "add chain " NFT_T
	      " filter-output-post-dnat { type filter hook output priority -90 ; "
	      "}\n"
	      "add rule " NFT_T " filter-output-post-dnat ct state new jump cluster-ips-check\n"
	      "add chain " NFT_T " nat-output { type nat hook output priority -100 ; }\n"
	      "add rule " NFT_T " nat-output jump services\n"
	      "add chain " NFT_T " nat-postrouting { type nat hook postrouting priority 100 ; }\n"
	      "add rule " NFT_T " nat-postrouting jump masquerading\n"
	      "add chain " NFT_T " nat-prerouting { type nat hook prerouting priority -100 ; }\n"
	      "add rule " NFT_T " nat-prerouting jump services\n",
	      f);
}

/*
 * A service's chains and rules. IS_UPDATE: the chains exist, so they are flushed before their
 * rules are written again (kube-proxy's transaction for a changed service).
 */
static void nft_service(FILE *f, const struct kp_service *svc, const struct kp_options *opts,
			bool is_update)
{
	char chain[KP_CHAIN_NAME_MAX], ep_chain[KP_CHAIN_NAME_MAX];
	char vip[INET_ADDRSTRLEN], ip[INET_ADDRSTRLEN];
	const char *proto = proto_lower(svc->protocol);
	size_t e;

	kp_nft_svc_chain(svc, chain, sizeof(chain));
	ip_text(svc->vip, vip);
	fprintf(f, "add chain " NFT_T " %s\n", chain);
	if (is_update)
		fprintf(f, "flush chain " NFT_T " %s\n", chain);
	for (e = 0; e < svc->n_endpoints; e++) {
		kp_nft_ep_chain(svc, &svc->endpoints[e], ep_chain, sizeof(ep_chain));
		fprintf(f, "add chain " NFT_T " %s\n", ep_chain);
		if (is_update)
			fprintf(f, "flush chain " NFT_T " %s\n", ep_chain);
	}
	fprintf(f,
		"add rule " NFT_T " %s ip daddr %s %s dport %u ip saddr != %s jump "
		"mark-for-masquerade\n",
		chain, vip, proto, svc->port, opts->cluster_cidr);
	if (svc->n_endpoints) {
		fprintf(f, "add rule " NFT_T " %s numgen random mod %zu vmap {", chain,
			svc->n_endpoints);
		for (e = 0; e < svc->n_endpoints; e++) {
			kp_nft_ep_chain(svc, &svc->endpoints[e], ep_chain, sizeof(ep_chain));
			fprintf(f, "%s %zu : goto %s", e ? " ," : "", e, ep_chain);
		}
		fputs(" }\n", f);
	}
	for (e = 0; e < svc->n_endpoints; e++) {
		kp_nft_ep_chain(svc, &svc->endpoints[e], ep_chain, sizeof(ep_chain));
		ip_text(svc->endpoints[e].addr, ip);
		fprintf(f, "add rule " NFT_T " %s ip saddr %s jump mark-for-masquerade\n", ep_chain,
			ip);
		fprintf(f, "add rule " NFT_T " %s meta l4proto %s dnat to %s:%u\n", ep_chain, proto,
			ip, svc->endpoints[e].port);
	}
}

static void nft_service_elements(FILE *f, const struct kp_service *svc)
{
	char chain[KP_CHAIN_NAME_MAX], vip[INET_ADDRSTRLEN];

	kp_nft_svc_chain(svc, chain, sizeof(chain));
	ip_text(svc->vip, vip);
	fprintf(f, "add element " NFT_T " cluster-ips { %s }\n", vip);
	fprintf(f, "add element " NFT_T " service-ips { %s . %s . %u : goto %s }\n", vip,
		proto_lower(svc->protocol), svc->port, chain);
}

int kp_nft_write(FILE *f, const struct kp_service *svcs, size_t n, const struct kp_options *opts)
{
	nft_fixed(f, opts);
	for (size_t i = 0; i < n; i++) {
		nft_service(f, &svcs[i], opts, false);
		nft_service_elements(f, &svcs[i]);
	}
	return write_status(f);
}

int kp_nft_write_update(FILE *f, const struct kp_service *old, const struct kp_service *new_svc,
			const struct kp_options *opts)
{
	char ep_chain[KP_CHAIN_NAME_MAX];

	nft_service(f, new_svc, opts, true);
	for (size_t e = 0; e < old->n_endpoints; e++) {
		if (has_endpoint(new_svc, &old->endpoints[e]))
			continue;
		kp_nft_ep_chain(old, &old->endpoints[e], ep_chain, sizeof(ep_chain));
		fprintf(f, "delete chain " NFT_T " %s\n", ep_chain);
	}
	return write_status(f);
}
