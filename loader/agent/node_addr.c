// SPDX-License-Identifier: Apache-2.0
/* Node addressing in the agent: plan, log what changed once, publish the pins. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/node_ipam.h"
#include "loader/agent/node_addr.h"
#include "loader/agent/node_mtu.h"
#include "loader/desired/nodes.h"

struct node_addr {
	const struct agent_config *config;
	struct desired_nodes_config plan_config;
	struct desired_nodes current; /* the plan published */
	bool is_planned;	      /* current holds a plan (not the start-up record) */
	bool is_pending;	      /* the last update failed: plan again at the next sync */
	/* The pod CIDR the agent before a restart left pinned while pods still hold addresses
	 * of it: in force as if this agent had planned it (is_restored). */
	struct desired_nodes restored;
	bool is_restored;
	struct node_ipam_mtu mtu; /* the pod MTU published (pod_mtu 0: none yet) */
};

/*
 * The pod MTU for the node's address as planned: published, logged when it changes. The start
 * record's default is not logged: the Node object may give the address a moment later.
 */
static int node_addr_publish_mtu(struct node_addr *addr, __be32 node_ip, bool is_start)
{
	const struct agent_config *config = addr->config;
	struct node_ipam_mtu mtu;
	char msg[512], ip[INET_ADDRSTRLEN] = "-";
	int err = node_mtu_read(config, node_ip, &mtu);

	if (err) {
		log_error("node %s: pod MTU: %s", config->node, strerror(-err));
		return err;
	}
	mtu.update_time = (__u64)time(NULL);
	err = node_ipam_mtu_publish(config->bpffs, &mtu, msg, sizeof(msg));
	if (err) {
		log_error("node %s: pod MTU: %s", config->node, msg);
		return err;
	}
	if (is_start && mtu.source == NODE_IPAM_MTU_SOURCE_DEFAULT)
		return 0;
	if (mtu.pod_mtu != addr->mtu.pod_mtu || mtu.source != addr->mtu.source ||
	    strcmp(mtu.underlay, addr->mtu.underlay)) {
		if (node_ip)
			inet_ntop(AF_INET, &node_ip, ip, sizeof(ip));
		if (mtu.source == NODE_IPAM_MTU_SOURCE_DEFAULT)
			log_warn("node %s: pod MTU %u: no --uplink and no device holds the node's "
				 "address (%s): the underlay MTU is taken to be the default %u, "
				 "less %u of encapsulation; set --uplink or the conflist's mtu",
				 config->node, mtu.pod_mtu, ip, mtu.underlay_mtu, mtu.overhead);
		else
			log_info("node %s: pod MTU %u: %s's MTU %u (%s) less %u of encapsulation",
				 config->node, mtu.pod_mtu, mtu.underlay, mtu.underlay_mtu,
				 node_ipam_mtu_source_name(mtu.source), mtu.overhead);
	}
	addr->mtu = mtu;
	return 0;
}

/* is_start: the record before the first plan. */
static int node_addr_publish(struct node_addr *addr, const struct desired_nodes *plan,
			     bool is_start)
{
	const struct agent_config *config = addr->config;
	struct node_ipam_info info = {0};
	struct node_ipam_peer_entry *peers = NULL;
	char msg[512];
	size_t i;
	int err;

	memcpy(info.cluster, config->cluster_cidr, sizeof(info.cluster));
	memcpy(info.service, config->service_cidr, sizeof(info.service));
	info.block = plan->block;
	info.block_source = plan->block_source;
	info.node_ip = plan->node_ip;
	info.update_time = (__u64)time(NULL);
	snprintf(info.node, sizeof(info.node), "%s", config->node);
	snprintf(info.reason, sizeof(info.reason), "%s", plan->reason);
	if (plan->n_peers && !(peers = calloc(plan->n_peers, sizeof(*peers))))
		return -ENOMEM;
	for (i = 0; i < plan->n_peers; i++) {
		const struct desired_node_peer *p = &plan->peers[i];

		snprintf(peers[i].name.name, sizeof(peers[i].name.name), "%s", p->name);
		peers[i].peer.internal_ip = p->internal_ip;
		peers[i].peer.pod_cidr = p->pod_cidr;
		peers[i].peer.state = p->state;
		snprintf(peers[i].peer.reason, sizeof(peers[i].peer.reason), "%s", p->reason);
	}
	/* The other nodes and the MTU first: the record's update tells a reader the whole plan
	 * is in. */
	err = node_ipam_peers_write(config->bpffs, peers, plan->n_peers, msg, sizeof(msg));
	if (err)
		log_error("node addressing: %s", msg);
	free(peers);
	if (!err)
		err = node_addr_publish_mtu(addr, plan->node_ip, is_start);
	if (!err && (err = node_ipam_publish(config->bpffs, &info, msg, sizeof(msg))))
		log_error("node addressing: %s", msg);
	return err;
}

/*
 * After a restart: the pod CIDR the last agent pinned stays in force when pods still hold
 * addresses of it (the plugin's usage of that block is not zero), as it would have without the
 * restart. Returns whether it does.
 */
static bool node_addr_restore(struct node_addr *addr)
{
	struct node_ipam_info before;
	struct node_ipam_usage usage;
	char cidr[24];

	if (node_ipam_read(addr->config->bpffs, &before) || !before.block.is_set ||
	    node_ipam_read_usage(addr->config->bpffs, &usage) || !usage.in_use ||
	    memcmp(&usage.block, &before.block, sizeof(usage.block)))
		return false;
	addr->restored.block = before.block;
	addr->restored.block_source = before.block_source;
	addr->is_restored = true;
	log_info("node %s: pod CIDR %s stays in force from before the restart: %u pods hold "
		 "addresses of it",
		 addr->config->node, node_ipam_cidr_str(&before.block, cidr, sizeof(cidr)),
		 usage.in_use);
	return true;
}

int node_addr_start(const struct agent_config *config, struct node_addr **out)
{
	struct node_addr *addr = calloc(1, sizeof(*addr));
	struct desired_nodes waiting = {0};
	int err;

	*out = NULL;
	if (!addr)
		return -ENOMEM;
	addr->config = config;
	addr->plan_config.node = config->node;
	memcpy(addr->plan_config.cluster, config->cluster_cidr, sizeof(addr->plan_config.cluster));
	memcpy(addr->plan_config.service, config->service_cidr, sizeof(addr->plan_config.service));
	addr->plan_config.dns = config->cluster_dns;
	addr->plan_config.pod_cidr = config->pod_cidr;
	addr->plan_config.node_cidr_size =
	    config->is_node_cidr_size_set ? config->node_cidr_size : 0;
	addr->plan_config.node_ip = config->n_node_ips ? config->node_ips[0] : 0;
	addr->plan_config.check_underlay = true;
	node_ipam_remove_legacy(config->bpffs);
	waiting.node_ip = addr->plan_config.node_ip;
	if (node_addr_restore(addr)) {
		/* Pods keep being served through the restart, from the same block. */
		waiting.block = addr->restored.block;
		waiting.block_source = addr->restored.block_source;
	} else {
		snprintf(waiting.reason, sizeof(waiting.reason),
			 "node %s: no pod CIDR yet: the agent has not read the Node objects",
			 config->node);
	}
	err = node_addr_publish(addr, &waiting, true);
	if (err) {
		free(addr);
		return err;
	}
	*out = addr;
	return 0;
}

static void node_addr_log_peer(const struct desired_node_peer *p, const char *verb)
{
	char ip[INET_ADDRSTRLEN] = "-", cidr[24] = "-";

	if (p->internal_ip)
		inet_ntop(AF_INET, &p->internal_ip, ip, sizeof(ip));
	if (p->pod_cidr.is_set)
		node_ipam_cidr_str(&p->pod_cidr, cidr, sizeof(cidr));
	if (p->state == NODE_IPAM_PEER_REFUSED)
		log_warn("Node %s: refused: %s; the other nodes keep working", p->name, p->reason);
	else
		log_info("node %s %s: address %s, pod CIDR %s (%s)", p->name, verb, ip, cidr,
			 node_ipam_peer_state_name(p->state));
}

/* One line per change: this node's pod CIDR or reason, a node's state, a node gone. */
static void node_addr_log(const struct node_addr *addr, const struct desired_nodes *plan)
{
	const struct desired_nodes *old = addr->is_planned ? &addr->current : NULL;
	const char *node = addr->config->node;
	char cidr[24], ip[INET_ADDRSTRLEN] = "-";
	size_t i, ready = 0, refused = 0;

	if (plan->node_ip)
		inet_ntop(AF_INET, &plan->node_ip, ip, sizeof(ip));
	if (plan->block.is_set && (!old || !old->block.is_set))
		log_info("node %s: address %s, pod CIDR %s (from %s)", node, ip,
			 node_ipam_cidr_str(&plan->block, cidr, sizeof(cidr)),
			 plan->block_source == NODE_IPAM_SOURCE_NODE ? "its Node's spec.podCIDR"
								     : "--pod-cidr");
	if (plan->reason[0] && (!old || strcmp(old->reason, plan->reason))) {
		if (plan->block.is_set)
			log_warn("%s", plan->reason);
		else
			log_error("%s; Services are served, pods are refused until it has one",
				  plan->reason);
	}
	for (i = 0; i < plan->n_peers; i++) {
		const struct desired_node_peer *p = &plan->peers[i];
		const struct desired_node_peer *before = desired_nodes_find(old, p->name);

		ready += p->state == NODE_IPAM_PEER_READY;
		refused += p->state == NODE_IPAM_PEER_REFUSED;
		if (before && before->state == p->state && before->internal_ip == p->internal_ip &&
		    !memcmp(&before->pod_cidr, &p->pod_cidr, sizeof(p->pod_cidr)) &&
		    !strcmp(before->reason, p->reason))
			continue;
		/* At start only the refused ones, one by one: a large cluster is a summary. */
		if (old || p->state == NODE_IPAM_PEER_REFUSED)
			node_addr_log_peer(p, before ? "changed" : "added");
	}
	for (i = 0; old && i < old->n_peers; i++) {
		if (!desired_nodes_find(plan, old->peers[i].name))
			log_info("node %s removed", old->peers[i].name);
	}
	if (!old)
		log_info("other nodes: %zu (%zu ready, %zu refused)", plan->n_peers, ready,
			 refused);
}

int node_addr_update(struct node_addr *addr, const struct k8s_object *const *nodes, size_t n)
{
	struct desired_nodes plan;
	int err;

	addr->is_pending = true;
	err = desired_nodes_plan(&addr->plan_config, nodes, n,
				 addr->is_planned    ? &addr->current
				 : addr->is_restored ? &addr->restored
						     : NULL,
				 &plan);
	if (err) {
		log_warn("node addressing: %s; the last plan stays", strerror(-err));
		return err;
	}
	err = node_addr_publish(addr, &plan, false);
	if (err) {
		desired_nodes_free(&plan);
		return err;
	}
	node_addr_log(addr, &plan); /* once published: a retried plan logs its changes once */
	addr->is_pending = false;
	desired_nodes_free(&addr->current);
	addr->current = plan;
	addr->is_planned = true;
	return 0;
}

bool node_addr_is_pending(const struct node_addr *addr)
{
	return addr && addr->is_pending;
}

void node_addr_free(struct node_addr *addr)
{
	if (!addr)
		return;
	desired_nodes_free(&addr->current);
	free(addr);
}
