// SPDX-License-Identifier: Apache-2.0
/* What the agent decides from its flags alone, before anything is loaded: checks and plans. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/cidr.h"
#include "lib/cidr_plan.h"
#include "lib/log.h"
#include "loader/agent/agent.h"
#include "loader/agent/agent_internal.h"

int agent_config_validate(const struct agent_config *config)
{
	if (!config->node || !config->node[0]) {
		log_error("--node: required (the name of this node)");
		return -EINVAL;
	}
	if (config->node_cidr_size < 1 || config->node_cidr_size > 32) {
		log_error("--node-cidr-size %u: must be between 1 and 32", config->node_cidr_size);
		return -EINVAL;
	}
	for (size_t i = 0; i < NODE_IPAM_CIDRS_MAX; i++) {
		const struct node_ipam_cidr *cluster = &config->cluster_cidr[i];

		if (cluster->is_set && config->node_cidr_size < cluster->prefix) {
			log_error("--node-cidr-size %u: shorter than the --cluster-cidr prefix /%u",
				  config->node_cidr_size, cluster->prefix);
			return -EINVAL;
		}
	}
	if (!config->ct_size) {
		log_error("--ct-size: must be at least 1");
		return -EINVAL;
	}
	return 0;
}

int agent_cidr_plan_check(const struct agent_config *config)
{
	struct cidr_plan plan = {.check_underlay = true};
	char msg[320];

	memcpy(plan.cluster, config->cluster_cidr, sizeof(plan.cluster));
	memcpy(plan.service, config->service_cidr, sizeof(plan.service));
	plan.dns = config->cluster_dns;
	plan.pod = config->pod_cidr;
	if (cidr_plan_check(&plan, msg, sizeof(msg))) {
		log_error("CIDR plan: %s%s", config->pod_cidr.is_set ? "--pod-cidr: " : "", msg);
		return -EINVAL;
	}
	if (config->pod_cidr.is_set && config->is_node_cidr_size_set &&
	    config->pod_cidr.prefix != config->node_cidr_size) {
		log_error("--pod-cidr: prefix length /%u differs from --node-cidr-size %u",
			  config->pod_cidr.prefix, config->node_cidr_size);
		return -EINVAL;
	}
	return 0;
}

bool agent_masquerade_plan(const struct agent_config *config,
			   struct datapath_masq_skip skip[MASQ4_MAX_CIDRS], size_t *n_skip)
{
	char text[CIDR4_STR_LEN], list[MASQ4_MAX_CIDRS * (CIDR4_STR_LEN + 2)] = "";
	size_t n = 0, used = 0;

	*n_skip = 0;
	if (config->is_masquerade_off) {
		log_info("egress masquerade off (--masquerade=false): pod traffic leaving the "
			 "cluster keeps its pod address");
		return false;
	}
	if (!config->uplink || !config->cluster_cidr[0].is_set) {
		const char *why = !config->uplink
				      ? "no --uplink: replies could not be translated back in BPF"
				      : "no --cluster-cidr to tell pods from the outside";

		if (config->n_non_masquerade)
			log_warn(
			    "egress masquerade off (%s): pod traffic leaving the cluster keeps "
			    "its pod address, --non-masquerade-cidr has no effect",
			    why);
		else
			log_info(
			    "egress masquerade off (%s): pod traffic leaving the cluster keeps "
			    "its pod address",
			    why);
		return false;
	}
	/* Every cluster and service CIDR (set entries first), then the listed ones. */
	_Static_assert(2 * NODE_IPAM_CIDRS_MAX + MASQ4_MAX_LISTED <= MASQ4_MAX_CIDRS,
		       "masq4_skip holds every CIDR the flags may give");
	for (size_t i = 0; i < NODE_IPAM_CIDRS_MAX && config->cluster_cidr[i].is_set; i++)
		skip[n++] =
		    (struct datapath_masq_skip){.address = config->cluster_cidr[i].address,
						.prefix_len = config->cluster_cidr[i].prefix,
						.kind = MASQ4_KIND_CLUSTER};
	for (size_t i = 0; i < NODE_IPAM_CIDRS_MAX && config->service_cidr[i].is_set; i++)
		skip[n++] =
		    (struct datapath_masq_skip){.address = config->service_cidr[i].address,
						.prefix_len = config->service_cidr[i].prefix,
						.kind = MASQ4_KIND_SERVICE};
	for (size_t i = 0; i < config->n_non_masquerade && n < MASQ4_MAX_CIDRS; i++)
		skip[n++] =
		    (struct datapath_masq_skip){.address = config->non_masquerade[i].address,
						.prefix_len = config->non_masquerade[i].prefix_len,
						.kind = MASQ4_KIND_LISTED};
	for (size_t i = 0; i < n; i++) {
		struct cidr4 cidr = {.address = skip[i].address, .prefix_len = skip[i].prefix_len};
		int len = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
				   cidr4_str(&cidr, text, sizeof(text)));

		if (len > 0 && (size_t)len < sizeof(list) - used)
			used += (size_t)len;
	}
	*n_skip = n;
	log_info("egress masquerade on: pod traffic routed out of %s is SNAT'd to the node "
		 "address, except to %s",
		 config->uplink, list);
	return true;
}
