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
	const struct node_ipam_cidr *ranges[] = {&plan->cluster, &plan->service, &plan->pod};
	const char *names[] = {"cluster CIDR", "service CIDR", "pod CIDR"};
	struct ifaddrs *list, *ifa;
	char a[24], b[24];
	int ret = 0;

	if (getifaddrs(&list))
		return 0; /* nothing to compare with is not a planning error */
	for (ifa = list; ifa && !ret; ifa = ifa->ifa_next) {
		struct node_ipam_cidr net = {.is_set = 1};
		uint32_t mask;

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
		for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
			if (!node_ipam_cidr_overlap(&net, ranges[i]))
				continue;
			snprintf(msg, size, "node subnet %s (%s) overlaps %s %s",
				 node_ipam_cidr_str(&net, a, sizeof(a)), ifa->ifa_name, names[i],
				 node_ipam_cidr_str(ranges[i], b, sizeof(b)));
			ret = -EINVAL;
			break;
		}
	}
	freeifaddrs(list);
	return ret;
}

int cidr_plan_check(const struct cidr_plan *plan, char *msg, size_t size)
{
	char a[24], b[24], dns[INET_ADDRSTRLEN];

	if (node_ipam_cidr_overlap(&plan->cluster, &plan->service)) {
		snprintf(msg, size, "cluster CIDR %s overlaps service CIDR %s",
			 node_ipam_cidr_str(&plan->cluster, a, sizeof(a)),
			 node_ipam_cidr_str(&plan->service, b, sizeof(b)));
		return -EINVAL;
	}
	if (plan->pod.is_set && plan->cluster.is_set &&
	    !node_ipam_cidr_contains(&plan->cluster, &plan->pod)) {
		snprintf(msg, size, "pod CIDR %s is not inside cluster CIDR %s",
			 node_ipam_cidr_str(&plan->pod, a, sizeof(a)),
			 node_ipam_cidr_str(&plan->cluster, b, sizeof(b)));
		return -EINVAL;
	}
	if (node_ipam_cidr_overlap(&plan->pod, &plan->service)) {
		snprintf(msg, size, "pod CIDR %s overlaps service CIDR %s",
			 node_ipam_cidr_str(&plan->pod, a, sizeof(a)),
			 node_ipam_cidr_str(&plan->service, b, sizeof(b)));
		return -EINVAL;
	}
	if (plan->dns.s_addr && plan->service.is_set) {
		struct node_ipam_cidr host = {
		    .address = plan->dns.s_addr, .prefix = 32, .is_set = 1};

		if (!node_ipam_cidr_contains(&plan->service, &host)) {
			inet_ntop(AF_INET, &plan->dns, dns, sizeof(dns));
			snprintf(msg, size, "DNS service IP %s is outside service CIDR %s", dns,
				 node_ipam_cidr_str(&plan->service, b, sizeof(b)));
			return -EINVAL;
		}
	}
	if (plan->check_underlay)
		return cidr_plan_underlay(plan, msg, size);
	return 0;
}
