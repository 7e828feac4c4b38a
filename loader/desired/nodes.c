// SPDX-License-Identifier: Apache-2.0
/* Node addressing: this node's address and pod CIDR, and the other nodes', validated. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/desired/nodes.h"

static struct node_ipam_cidr nodes_cidr(const struct cidr4 *cidr)
{
	struct node_ipam_cidr out = {
	    .address = cidr->address, .prefix = cidr->prefix_len, .is_set = 1};

	return out;
}

static bool nodes_cidr_equal(const struct node_ipam_cidr *a, const struct node_ipam_cidr *b)
{
	return a->is_set == b->is_set &&
	       (!a->is_set || (a->address == b->address && a->prefix == b->prefix));
}

/* A node's pod CIDR against the plan; 0 or -EINVAL with msg. */
static int nodes_check_cidr(const struct desired_nodes_config *config,
			    const struct node_ipam_cidr *cidr, bool is_self, char *msg, size_t size)
{
	struct cidr_plan plan = {.pod = *cidr};

	memcpy(plan.cluster, config->cluster, sizeof(plan.cluster));
	memcpy(plan.service, config->service, sizeof(plan.service));
	if (is_self) {
		plan.dns = config->dns;
		plan.check_underlay = config->check_underlay;
	}
	if (config->node_cidr_size && cidr->prefix != config->node_cidr_size) {
		snprintf(msg, size, "prefix length /%u differs from --node-cidr-size %u",
			 cidr->prefix, config->node_cidr_size);
		return -EINVAL;
	}
	return cidr_plan_check(&plan, msg, size);
}

/* This node: its address, its pod CIDR in force or why there is none. */
static void nodes_plan_self(const struct desired_nodes_config *config,
			    const struct k8s_object *self, const struct desired_nodes *previous,
			    struct desired_nodes *out)
{
	const struct node_ipam_cidr *flag = &config->pod_cidr;
	struct node_ipam_cidr candidate = {0};
	const struct node_ipam_cidr *kept =
	    previous && previous->block.is_set ? &previous->block : NULL;
	char a[24], b[24], msg[320];
	uint8_t source = NODE_IPAM_SOURCE_NONE;

	out->node_ip = config->node_ip ? config->node_ip : self ? self->node.internal_ip : 0;
	if (self && self->node.has_pod_cidr) {
		candidate = nodes_cidr(&self->node.pod_cidr);
		source = NODE_IPAM_SOURCE_NODE;
	} else if (flag->is_set) {
		candidate = *flag;
		source = NODE_IPAM_SOURCE_FLAG;
	}
	if (kept) {
		/* In force until the agent restarts: pods hold addresses of it. */
		out->block = *kept;
		out->block_source = previous->block_source;
		node_ipam_cidr_str(kept, a, sizeof(a));
		if (source == NODE_IPAM_SOURCE_NODE && !nodes_cidr_equal(&candidate, kept))
			snprintf(out->reason, sizeof(out->reason),
				 "Node %s: spec.podCIDR %s refused: pod CIDR %s is in force and "
				 "pods hold its addresses; it stays until the agent restarts "
				 "(kube-controller-manager never changes a podCIDR: delete and "
				 "re-register the Node to move it)",
				 config->node, node_ipam_cidr_str(&candidate, b, sizeof(b)), a);
		else if (source == NODE_IPAM_SOURCE_FLAG && !nodes_cidr_equal(&candidate, kept))
			snprintf(out->reason, sizeof(out->reason),
				 "--pod-cidr %s refused: pod CIDR %s is in force and pods hold its "
				 "addresses; it stays until they are gone and the agent restarts",
				 node_ipam_cidr_str(&candidate, b, sizeof(b)), a);
		else if (source != NODE_IPAM_SOURCE_NODE &&
			 previous->block_source == NODE_IPAM_SOURCE_NODE)
			snprintf(out->reason, sizeof(out->reason),
				 "Node %s: %s; pod CIDR %s stays in force until the agent restarts",
				 config->node,
				 self ? "spec.podCIDR removed" : "Node object deleted", a);
		return;
	}
	if (source == NODE_IPAM_SOURCE_NONE) {
		if (!self)
			snprintf(out->reason, sizeof(out->reason),
				 "node %s: no pod CIDR: there is no Node object %s and the agent "
				 "has no --pod-cidr",
				 config->node, config->node);
		else
			snprintf(out->reason, sizeof(out->reason),
				 "node %s: no pod CIDR: Node %s has no spec.podCIDR and the agent "
				 "has no --pod-cidr",
				 config->node, config->node);
		return;
	}
	if (nodes_check_cidr(config, &candidate, true, msg, sizeof(msg))) {
		snprintf(out->reason, sizeof(out->reason),
			 "node %s: pod CIDR %s (from %s) refused: %s", config->node,
			 node_ipam_cidr_str(&candidate, a, sizeof(a)),
			 source == NODE_IPAM_SOURCE_NODE ? "Node spec.podCIDR" : "--pod-cidr", msg);
		return;
	}
	out->block = candidate;
	out->block_source = source;
	/* Both given and different: the Node's wins, as kubelet's --pod-cidr yields to the API. */
	if (source == NODE_IPAM_SOURCE_NODE && flag->is_set && !nodes_cidr_equal(flag, &candidate))
		snprintf(out->reason, sizeof(out->reason),
			 "--pod-cidr %s ignored: Node %s has spec.podCIDR %s, which the cluster "
			 "routes to this node",
			 node_ipam_cidr_str(flag, a, sizeof(a)), config->node,
			 node_ipam_cidr_str(&candidate, b, sizeof(b)));
}

/* Decide peer against this node's block and the peers accepted so far. */
static void nodes_plan_peer(const struct desired_nodes_config *config,
			    const struct desired_nodes *out, struct desired_node_peer *peer,
			    const bool *is_accepted)
{
	char a[24], b[24], msg[320];
	size_t i;

	if (nodes_check_cidr(config, &peer->pod_cidr, false, msg, sizeof(msg))) {
		peer->state = NODE_IPAM_PEER_REFUSED;
		snprintf(peer->reason, sizeof(peer->reason), "spec.podCIDR: %.200s", msg);
		return;
	}
	if (node_ipam_cidr_overlap(&peer->pod_cidr, &out->block)) {
		peer->state = NODE_IPAM_PEER_REFUSED;
		snprintf(peer->reason, sizeof(peer->reason),
			 "spec.podCIDR %s overlaps this node %.64s's pod CIDR %s",
			 node_ipam_cidr_str(&peer->pod_cidr, a, sizeof(a)), config->node,
			 node_ipam_cidr_str(&out->block, b, sizeof(b)));
		return;
	}
	for (i = 0; i < out->n_peers; i++) {
		const struct desired_node_peer *other = &out->peers[i];

		if (other == peer || !is_accepted[i] ||
		    !node_ipam_cidr_overlap(&peer->pod_cidr, &other->pod_cidr))
			continue;
		peer->state = NODE_IPAM_PEER_REFUSED;
		snprintf(peer->reason, sizeof(peer->reason),
			 "spec.podCIDR %s overlaps node %.64s's %s",
			 node_ipam_cidr_str(&peer->pod_cidr, a, sizeof(a)), other->name,
			 node_ipam_cidr_str(&other->pod_cidr, b, sizeof(b)));
		return;
	}
	peer->state = peer->internal_ip ? NODE_IPAM_PEER_READY : NODE_IPAM_PEER_NO_ADDRESS;
}

static int nodes_peer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct desired_node_peer *)a)->name,
		      ((const struct desired_node_peer *)b)->name);
}

const struct desired_node_peer *desired_nodes_find(const struct desired_nodes *nodes,
						   const char *name)
{
	struct desired_node_peer key;

	if (!nodes || !nodes->n_peers)
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, nodes->peers, nodes->n_peers, sizeof(key), nodes_peer_cmp);
}

int desired_nodes_plan(const struct desired_nodes_config *config,
		       const struct k8s_object *const *nodes, size_t n,
		       const struct desired_nodes *previous, struct desired_nodes *out)
{
	const struct k8s_object *self = NULL;
	bool *is_accepted = NULL;
	size_t i, pass;

	memset(out, 0, sizeof(*out));
	if (n) {
		out->peers = calloc(n, sizeof(*out->peers));
		is_accepted = calloc(n, sizeof(*is_accepted));
		if (!out->peers || !is_accepted) {
			free(out->peers);
			free(is_accepted);
			out->peers = NULL;
			return -ENOMEM;
		}
	}
	for (i = 0; i < n; i++) {
		const struct k8s_object *o = nodes[i];
		struct desired_node_peer *peer;

		if (config->node && !strcmp(o->name, config->node)) {
			self = o;
			continue;
		}
		peer = &out->peers[out->n_peers++];
		snprintf(peer->name, sizeof(peer->name), "%s", o->name);
		peer->internal_ip = o->node.internal_ip;
		if (o->node.has_pod_cidr)
			peer->pod_cidr = nodes_cidr(&o->node.pod_cidr);
		peer->state = NODE_IPAM_PEER_NO_POD_CIDR;
	}
	if (out->n_peers > 1)
		qsort(out->peers, out->n_peers, sizeof(*out->peers), nodes_peer_cmp);
	nodes_plan_self(config, self, previous, out);
	/*
	 * Pass 0: nodes accepted before with the same CIDR keep it (a newcomer that overlaps one
	 * must not take its place); pass 1: the rest, by name.
	 */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < out->n_peers; i++) {
			struct desired_node_peer *peer = &out->peers[i];
			const struct desired_node_peer *before =
			    desired_nodes_find(previous, peer->name);
			bool was_accepted = before && before->state != NODE_IPAM_PEER_REFUSED &&
					    before->state != NODE_IPAM_PEER_NO_POD_CIDR &&
					    nodes_cidr_equal(&before->pod_cidr, &peer->pod_cidr);

			if (!peer->pod_cidr.is_set || is_accepted[i] || (pass == 0) != was_accepted)
				continue;
			nodes_plan_peer(config, out, peer, is_accepted);
			is_accepted[i] = peer->state != NODE_IPAM_PEER_REFUSED;
		}
	}
	free(is_accepted);
	return 0;
}

void desired_nodes_free(struct desired_nodes *nodes)
{
	free(nodes->peers);
	nodes->peers = NULL;
	nodes->n_peers = 0;
}
