// SPDX-License-Identifier: Apache-2.0
/* CIDR planning: the cluster, service and pod CIDRs, the DNS IP and the node's own subnets. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "lib/cidr.h"
#include "lib/cidr_plan.h"

/* The map layout's CIDR as lib/cidr's (is_set aside). */
static struct cidr4 node_ipam_cidr4(const struct node_ipam_cidr *cidr)
{
	struct cidr4 out = {.address = cidr->address, .prefix_len = cidr->prefix};

	return out;
}

int node_ipam_cidr_parse(const char *text, struct node_ipam_cidr *out)
{
	struct cidr4 cidr;
	int err = cidr4_parse(text, 0, &cidr);

	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	out->address = cidr.address;
	out->prefix = cidr.prefix_len;
	out->is_set = 1;
	return 0;
}

const char *node_ipam_cidr_str(const struct node_ipam_cidr *cidr, char *buf, size_t size)
{
	struct cidr4 value = node_ipam_cidr4(cidr);

	return cidr4_str(&value, buf, size);
}

bool node_ipam_cidr_overlap(const struct node_ipam_cidr *a, const struct node_ipam_cidr *b)
{
	struct cidr4 x = node_ipam_cidr4(a), y = node_ipam_cidr4(b);

	return a->is_set && b->is_set && cidr4_overlap(&x, &y);
}

bool node_ipam_cidr_contains(const struct node_ipam_cidr *outer, const struct node_ipam_cidr *inner)
{
	struct cidr4 x = node_ipam_cidr4(outer), y = node_ipam_cidr4(inner);

	return outer->is_set && inner->is_set && cidr4_contains(&x, &y);
}

/* Underlay subnets: global IPv4 addresses of this netns, except loopback and sluice's devices. */
static int cidr_plan_underlay(const struct cidr_plan *plan, char *msg, size_t size)
{
	struct ifaddrs *list, *ifa;
	char a[24], b[24];
	int ret = 0;

	if (getifaddrs(&list))
		return 0; /* nothing to compare with is not a planning error */
	for (ifa = list; ifa && !ret; ifa = ifa->ifa_next) {
		struct node_ipam_cidr net = {.is_set = 1};
		const struct node_ipam_cidr *hit = NULL;
		const char *name = NULL;
		uint32_t mask;
		size_t i;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET || !ifa->ifa_netmask ||
		    (ifa->ifa_flags & IFF_LOOPBACK))
			continue;
		/* sluice0 holds the pod gateways; sl<hash> are pod veths; both live in the overlay.
		 */
		if (!strncmp(ifa->ifa_name, "sl", 2))
			continue;
		mask = ntohl(((struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr);
		net.prefix = (__u8)__builtin_popcount(mask);
		net.address =
		    htonl(ntohl(((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr) & mask);
		for (i = 0; !hit && i < CIDR_PLAN_MAX; i++) {
			if (node_ipam_cidr_overlap(&net, &plan->cluster[i]))
				hit = &plan->cluster[i], name = "cluster CIDR";
			else if (node_ipam_cidr_overlap(&net, &plan->service[i]))
				hit = &plan->service[i], name = "service CIDR";
		}
		if (!hit && node_ipam_cidr_overlap(&net, &plan->pod))
			hit = &plan->pod, name = "pod CIDR";
		if (!hit)
			continue;
		snprintf(msg, size, "node subnet %s (%s) overlaps %s %s",
			 node_ipam_cidr_str(&net, a, sizeof(a)), ifa->ifa_name, name,
			 node_ipam_cidr_str(hit, b, sizeof(b)));
		ret = -EINVAL;
	}
	freeifaddrs(list);
	return ret;
}

/* Two ranges of a list overlap: "cluster CIDR A overlaps cluster CIDR B". */
static int cidr_plan_overlap(const struct node_ipam_cidr *x, const char *x_name,
			     const struct node_ipam_cidr *y, const char *y_name, char *msg,
			     size_t size)
{
	char a[24], b[24];

	if (!node_ipam_cidr_overlap(x, y))
		return 0;
	snprintf(msg, size, "%s %s overlaps %s %s", x_name, node_ipam_cidr_str(x, a, sizeof(a)),
		 y_name, node_ipam_cidr_str(y, b, sizeof(b)));
	return -EINVAL;
}

/* Whether list holds a set entry, and whether one of them contains inner. */
static bool cidr_plan_has(const struct node_ipam_cidr *list, const struct node_ipam_cidr *inner,
			  bool *is_inside)
{
	bool has = false;

	*is_inside = false;
	for (size_t i = 0; i < CIDR_PLAN_MAX; i++) {
		has |= list[i].is_set;
		*is_inside |= node_ipam_cidr_contains(&list[i], inner);
	}
	return has;
}

const char *cidr_plan_list_str(const struct node_ipam_cidr *list, char *buf, size_t size)
{
	size_t used = 0;
	char one[24];

	buf[0] = '\0';
	for (size_t i = 0; i < CIDR_PLAN_MAX && used < size; i++) {
		if (!list[i].is_set)
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "," : "",
					 node_ipam_cidr_str(&list[i], one, sizeof(one)));
	}
	return buf;
}

int cidr_plan_check(const struct cidr_plan *plan, char *msg, size_t size)
{
	char a[24], b[CIDR_PLAN_LIST_LEN], dns[INET_ADDRSTRLEN];
	bool is_inside;
	size_t i, j;
	int err = 0;

	for (i = 0; !err && i < CIDR_PLAN_MAX; i++) {
		for (j = 0; !err && j < CIDR_PLAN_MAX; j++)
			err = cidr_plan_overlap(&plan->cluster[i], "cluster CIDR",
						&plan->service[j], "service CIDR", msg, size);
		for (j = i + 1; !err && j < CIDR_PLAN_MAX; j++)
			err = cidr_plan_overlap(&plan->cluster[i], "cluster CIDR",
						&plan->cluster[j], "cluster CIDR", msg, size);
		for (j = i + 1; !err && j < CIDR_PLAN_MAX; j++)
			err = cidr_plan_overlap(&plan->service[i], "service CIDR",
						&plan->service[j], "service CIDR", msg, size);
	}
	if (err)
		return err;
	if (plan->pod.is_set && cidr_plan_has(plan->cluster, &plan->pod, &is_inside) &&
	    !is_inside) {
		snprintf(msg, size, "pod CIDR %s is not inside cluster CIDR %s",
			 node_ipam_cidr_str(&plan->pod, a, sizeof(a)),
			 cidr_plan_list_str(plan->cluster, b, sizeof(b)));
		return -EINVAL;
	}
	for (i = 0; !err && i < CIDR_PLAN_MAX; i++)
		err = cidr_plan_overlap(&plan->pod, "pod CIDR", &plan->service[i], "service CIDR",
					msg, size);
	if (err)
		return err;
	if (plan->dns.s_addr) {
		struct node_ipam_cidr host = {
		    .address = plan->dns.s_addr, .prefix = 32, .is_set = 1};

		if (cidr_plan_has(plan->service, &host, &is_inside) && !is_inside) {
			inet_ntop(AF_INET, &plan->dns, dns, sizeof(dns));
			snprintf(msg, size, "DNS service IP %s is outside service CIDR %s", dns,
				 cidr_plan_list_str(plan->service, b, sizeof(b)));
			return -EINVAL;
		}
	}
	if (plan->check_underlay)
		return cidr_plan_underlay(plan, msg, size);
	return 0;
}
