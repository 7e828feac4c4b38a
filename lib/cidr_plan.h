/* SPDX-License-Identifier: Apache-2.0 */
/* CIDR planning: the cluster, service and pod CIDRs, the DNS IP and the node's own subnets. */
#ifndef SLUICE_LIB_CIDR_PLAN_H
#define SLUICE_LIB_CIDR_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>

#include "maps/ipam.h"

/*
 * The map layout's CIDR through lib/cidr: parse "a.b.c.d/n" without host bits (0 with is_set,
 * or -EINVAL), show it ("a.b.c.d/n" into buf, at least 19 bytes), compare two (false when
 * either is unset).
 */
int node_ipam_cidr_parse(const char *text, struct node_ipam_cidr *out);
const char *node_ipam_cidr_str(const struct node_ipam_cidr *cidr, char *buf, size_t size);
bool node_ipam_cidr_overlap(const struct node_ipam_cidr *a, const struct node_ipam_cidr *b);
bool node_ipam_cidr_contains(const struct node_ipam_cidr *outer,
			     const struct node_ipam_cidr *inner);

/* Cluster and service CIDRs a plan holds (kube-controller-manager takes a list, ServiceCIDR
 * objects add service ranges). */
#define CIDR_PLAN_MAX	   NODE_IPAM_CIDRS_MAX
#define CIDR_PLAN_LIST_LEN (CIDR_PLAN_MAX * 19 + 1) /* "a/n,b/n,..." */

/* What the CIDR planning check looks at; unset members are skipped. */
struct cidr_plan {
	struct node_ipam_cidr cluster[CIDR_PLAN_MAX];
	struct node_ipam_cidr service[CIDR_PLAN_MAX];
	struct node_ipam_cidr pod; /* a node's pod CIDR */
	struct in_addr dns;	   /* cluster DNS service IP, 0 when unknown */
	bool check_underlay;	   /* also compare with this netns' interface subnets */
};

/*
 * Cluster CIDRs, service CIDRs and the node's underlay subnets must not overlap (nor two of one
 * list), the pod CIDR must sit inside a cluster CIDR (and off the service CIDRs), the DNS
 * service IP inside a service CIDR. Returns 0, or -EINVAL with msg naming both ranges, e.g.
 * "cluster CIDR 10.244.0.0/16 overlaps service CIDR 10.244.128.0/20".
 */
int cidr_plan_check(const struct cidr_plan *plan, char *msg, size_t size);

/* The set entries of a CIDR_PLAN_MAX list as "a/n,b/n" into buf (CIDR_PLAN_LIST_LEN bytes). */
const char *cidr_plan_list_str(const struct node_ipam_cidr *list, char *buf, size_t size);

#endif
