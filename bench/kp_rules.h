// SPDX-License-Identifier: Apache-2.0
/*
 * kube-proxy's rules, regenerated for the bench: the iptables-restore text of its iptables mode
 * and the `nft -f` text of its nftables mode for a set of ClusterIP services, in the shapes
 * kube-proxy writes (chain names hashed the way it hashes them), so the comparison modes of
 * `make bench` run the same ruleset a node with N services would run.
 */
#ifndef SLUICE_BENCH_KP_RULES_H
#define SLUICE_BENCH_KP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KP_NAME_MAX	  64
#define KP_HASH_LEN	  16 /* characters of base32(sha256) kube-proxy keeps for iptables chains */
#define KP_NFT_HASH_LEN	  8  /* ... and for nftables chains */
#define KP_MASQ_MARK	  "0x4000" /* kube-proxy's default --iptables-masquerade-bit 14 */
#define KP_CHAIN_NAME_MAX 256

struct kp_endpoint {
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
};

/* One service port: kube-proxy makes one KUBE-SVC chain (or service- chain) per service port. */
struct kp_service {
	char namespace_name[KP_NAME_MAX];
	char name[KP_NAME_MAX];
	char port_name[KP_NAME_MAX]; /* may be empty */
	uint32_t vip;		     /* network order */
	uint16_t port;		     /* host order */
	int protocol;		     /* IPPROTO_TCP or IPPROTO_UDP */
	const struct kp_endpoint *endpoints;
	size_t n_endpoints;
};

struct kp_options {
	const char *cluster_cidr; /* --cluster-cidr: sources outside it are masqueraded */
	const char *service_cidr; /* nftables mode drops traffic to unallocated ClusterIPs in it */
	int with_base_jumps;	  /* iptables: also the jumps from the built-in chains */
};

/* "ns/name:port" (":port" only when the port is named), as kube-proxy prints a service port. */
void kp_service_port_name(const struct kp_service *svc, char *out, size_t size);

/* First LEN characters of base32(sha256(TEXT)), standard alphabet: kube-proxy's chain hash. */
void kp_hash(const char *text, size_t len, char *out);

/* KUBE-SVC-<hash>, KUBE-SEP-<hash> (iptables) and service-/endpoint- chains (nftables). */
void kp_iptables_svc_chain(const struct kp_service *svc, char *out, size_t size);
void kp_iptables_sep_chain(const struct kp_service *svc, const struct kp_endpoint *ep, char *out,
			   size_t size);
void kp_nft_svc_chain(const struct kp_service *svc, char *out, size_t size);
void kp_nft_ep_chain(const struct kp_service *svc, const struct kp_endpoint *ep, char *out,
		     size_t size);

/*
 * kube-proxy's large cluster mode (over 1,000 endpoints in SVCS): the iptables writers then leave
 * the comments out of the endpoint-picking and endpoint chains' rules, as kube-proxy does.
 */
bool kp_is_large_cluster(const struct kp_service *svcs, size_t n);

/*
 * The full iptables-restore input of a sync (filter and nat tables, every service), in SVCS
 * order: KUBE-SERVICES matches its rules top to bottom, so a service's index is its position.
 * Returns 0 or -errno (a write error of F).
 */
int kp_iptables_write(FILE *f, const struct kp_service *svcs, size_t n,
		      const struct kp_options *opts);

/*
 * A partial sync after service CHANGED's endpoints went from OLD to SVCS[CHANGED]: what
 * kube-proxy (>= 1.28, MinimizeIPTablesRestore) writes with --noflush: the fixed chains,
 * KUBE-SERVICES in full, the changed service's chains, and -X for the chains it no longer uses.
 */
int kp_iptables_write_partial(FILE *f, const struct kp_service *svcs, size_t n, size_t changed,
			      const struct kp_service *old, const struct kp_options *opts);

/* The full `nft -f` input: table ip kube-proxy, its base chains, maps and every service. */
int kp_nft_write(FILE *f, const struct kp_service *svcs, size_t n, const struct kp_options *opts);

/*
 * The transaction kube-proxy's nftables mode sends when one service's endpoints change from
 * OLD to NEW: the service chain rewritten, new endpoint chains added, unused ones deleted
 * (map elements are unchanged: the service keeps its chain name).
 */
int kp_nft_write_update(FILE *f, const struct kp_service *old, const struct kp_service *new_svc,
			const struct kp_options *opts);

#endif
