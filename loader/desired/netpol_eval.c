// SPDX-License-Identifier: Apache-2.0
/* The reference NetworkPolicy evaluator: Kubernetes' semantics, pair by pair, no shortcuts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/desired/netpol_eval.h"

/* ---- the world --------------------------------------------------------------------------- */

static int netpol_label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

ssize_t netpol_world_namespace(const struct netpol_world *world, const char *name)
{
	size_t i;

	for (i = 0; i < world->n_namespaces; i++) {
		if (!strcmp(world->namespaces[i].name, name))
			return (ssize_t)i;
	}
	return -1;
}

/* Adds namespace NAME (with LABELS, may be NULL) unless present; returns its index or -ENOMEM. */
static ssize_t netpol_world_add_namespace(struct netpol_world *world, const char *name,
					  const struct k8s_labels *labels, size_t capacity)
{
	struct netpol_namespace *ns;
	ssize_t found = netpol_world_namespace(world, name);
	size_t i, n = labels ? labels->count : 0;

	if (found >= 0)
		return found;
	if (world->n_namespaces == capacity)
		return -ENOMEM; /* never: capacity counts every object */
	ns = &world->namespaces[world->n_namespaces];
	snprintf(ns->name, sizeof(ns->name), "%s", name);
	ns->labels.items = calloc(n + 1, sizeof(*ns->labels.items));
	if (!ns->labels.items)
		return -ENOMEM;
	world->n_namespaces++;
	for (i = 0; i < n; i++) {
		if (!strcmp(labels->items[i].key, K8S_NAMESPACE_NAME_LABEL))
			continue; /* Kubernetes overwrites it with the name */
		ns->labels.items[ns->labels.count].key = strdup(labels->items[i].key);
		ns->labels.items[ns->labels.count].value = strdup(labels->items[i].value);
		ns->labels.count++;
		if (!ns->labels.items[ns->labels.count - 1].key ||
		    !ns->labels.items[ns->labels.count - 1].value)
			return -ENOMEM;
	}
	ns->labels.items[ns->labels.count].key = strdup(K8S_NAMESPACE_NAME_LABEL);
	ns->labels.items[ns->labels.count].value = strdup(name);
	ns->labels.count++;
	if (!ns->labels.items[ns->labels.count - 1].key ||
	    !ns->labels.items[ns->labels.count - 1].value)
		return -ENOMEM;
	qsort(ns->labels.items, ns->labels.count, sizeof(*ns->labels.items), netpol_label_cmp);
	return (ssize_t)(world->n_namespaces - 1);
}

struct netpol_object_ref {
	const struct k8s_object *object;
	size_t index;
};

/* Objects by (kind, namespace, name), then by position: the first of equals comes first. */
static int netpol_object_ref_cmp(const void *a, const void *b)
{
	const struct netpol_object_ref *x = a, *y = b;
	int c = (int)x->object->kind - (int)y->object->kind;

	if (!c)
		c = strcmp(x->object->namespace, y->object->namespace);
	if (!c)
		c = strcmp(x->object->name, y->object->name);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/*
 * is_duplicate[i]: an earlier object has the same kind, namespace and name (the first one
 * wins, as everywhere else). Sorting keeps it O(n log n): a pairwise scan took seconds with
 * 10,000 Pods. Returns 0 or -ENOMEM.
 */
static int netpol_mark_duplicates(struct k8s_object *const *objects, size_t n, bool *is_duplicate)
{
	struct netpol_object_ref *refs = malloc(n * sizeof(*refs));
	size_t i;

	if (!refs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		refs[i].object = objects[i];
		refs[i].index = i;
	}
	qsort(refs, n, sizeof(*refs), netpol_object_ref_cmp);
	for (i = 1; i < n; i++)
		is_duplicate[refs[i].index] =
		    !netpol_object_ref_cmp(&(struct netpol_object_ref){refs[i - 1].object, 0},
					   &(struct netpol_object_ref){refs[i].object, 0});
	free(refs);
	return 0;
}

int netpol_world_build(struct k8s_object *const *objects, size_t n_objects,
		       struct netpol_world *out)
{
	size_t i, capacity = n_objects;
	bool *is_duplicate = NULL;
	ssize_t ns;
	int pass;

	memset(out, 0, sizeof(*out));
	if (!n_objects)
		return 0;
	out->namespaces = calloc(capacity, sizeof(*out->namespaces));
	out->pods = calloc(capacity, sizeof(*out->pods));
	out->policies = calloc(capacity, sizeof(*out->policies));
	is_duplicate = calloc(n_objects, sizeof(*is_duplicate));
	if (!out->namespaces || !out->pods || !out->policies || !is_duplicate ||
	    netpol_mark_duplicates(objects, n_objects, is_duplicate))
		goto oom;
	/* Declared namespaces first, so their labels win over the implied ones. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n_objects; i++) {
			const struct k8s_object *o = objects[i];

			if (is_duplicate[i])
				continue;
			if (pass == 0 && o->kind == K8S_KIND_NAMESPACE) {
				if (netpol_world_add_namespace(out, o->name, &o->labels, capacity) <
				    0)
					goto oom;
			} else if (pass == 1 && o->kind == K8S_KIND_POD) {
				if (!o->pod.has_ip || o->pod.is_host_network || o->pod.is_finished)
					continue;
				ns = netpol_world_add_namespace(out, o->namespace, NULL, capacity);
				if (ns < 0)
					goto oom;
				out->pods[out->n_pods].object = o;
				out->pods[out->n_pods].namespace = (size_t)ns;
				out->pods[out->n_pods].ip = o->pod.ip;
				out->n_pods++;
			} else if (pass == 1 && o->kind == K8S_KIND_NETWORK_POLICY && o->policy) {
				if (netpol_world_add_namespace(out, o->namespace, NULL, capacity) <
				    0)
					goto oom;
				out->policies[out->n_policies++] = o->policy;
			}
		}
	}
	free(is_duplicate);
	return 0;
oom:
	free(is_duplicate);
	netpol_world_free(out);
	return -ENOMEM;
}

void netpol_world_free(struct netpol_world *world)
{
	size_t i, j;

	for (i = 0; i < world->n_namespaces; i++) {
		for (j = 0; j < world->namespaces[i].labels.count; j++) {
			free(world->namespaces[i].labels.items[j].key);
			free(world->namespaces[i].labels.items[j].value);
		}
		free(world->namespaces[i].labels.items);
	}
	free(world->namespaces);
	free(world->pods);
	free(world->policies);
	memset(world, 0, sizeof(*world));
}

/* ---- the semantics ----------------------------------------------------------------------- */

/* spec.podSelector of a policy in the pod's own namespace picks the pod. */
static bool netpol_selects(const struct netpol_world *world, const struct netpol *policy,
			   const struct netpol_pod *pod)
{
	return !strcmp(policy->namespace, world->namespaces[pod->namespace].name) &&
	       netpol_selector_match(&policy->pod_selector, &pod->object->labels);
}

bool netpol_eval_is_isolated(const struct netpol_world *world, size_t pod, bool is_ingress)
{
	size_t i;

	for (i = 0; i < world->n_policies; i++) {
		const struct netpol *policy = world->policies[i];

		if ((is_ingress ? policy->is_ingress : policy->is_egress) &&
		    netpol_selects(world, policy, &world->pods[pod]))
			return true;
	}
	return false;
}

/* Is PEER (the other end of the connection) one of the rule's from/to entries? */
static bool netpol_peer_matches(const struct netpol_world *world, const struct netpol *policy,
				const struct netpol_peer *peer, const struct netpol_pod *pod)
{
	const struct netpol_namespace *ns = &world->namespaces[pod->namespace];

	if (peer->has_ip_block)
		return netpol_ip_block_contains(&peer->ip_block, pod->ip);
	if (peer->has_namespace_selector &&
	    !netpol_selector_match(&peer->namespace_selector, &ns->labels))
		return false;
	if (!peer->has_namespace_selector && strcmp(ns->name, policy->namespace))
		return false; /* a podSelector alone stays in the policy's namespace */
	return !peer->has_pod_selector ||
	       netpol_selector_match(&peer->pod_selector, &pod->object->labels);
}

/*
 * A ports entry admits port/proto on the server pod DST. A named port is looked up among the
 * destination pod's container ports (for ingress that is the policy's own pod, for egress the
 * peer), with the entry's protocol.
 */
static bool netpol_port_matches(const struct netpol_port *entry, const struct netpol_pod *dst,
				uint16_t port, uint8_t proto)
{
	size_t i;

	if (entry->proto != proto)
		return false;
	if (entry->name[0]) {
		for (i = 0; i < dst->object->pod.n_ports; i++) {
			const struct k8s_container_port *p = &dst->object->pod.ports[i];

			if (!strcmp(p->name, entry->name) && p->proto == proto && p->port == port)
				return true;
		}
		return false;
	}
	return !entry->port || (port >= entry->port && port <= entry->end_port);
}

static bool netpol_rule_allows(const struct netpol_world *world, const struct netpol *policy,
			       const struct netpol_rule *rule, const struct netpol_pod *peer,
			       const struct netpol_pod *dst, uint16_t port, uint8_t proto)
{
	bool is_peer = !rule->n_peers, is_port = !rule->n_ports;
	size_t i;

	for (i = 0; i < rule->n_peers && !is_peer; i++)
		is_peer = netpol_peer_matches(world, policy, &rule->peers[i], peer);
	for (i = 0; i < rule->n_ports && !is_port; i++)
		is_port = netpol_port_matches(&rule->ports[i], dst, port, proto);
	return is_peer && is_port;
}

/*
 * One direction at SUBJECT (the source for egress, the destination for ingress): allowed when
 * no policy of that type selects it, or when some rule of some selecting policy admits PEER.
 */
static bool netpol_direction_allows(const struct netpol_world *world, bool is_ingress,
				    const struct netpol_pod *subject, const struct netpol_pod *peer,
				    const struct netpol_pod *dst, uint16_t port, uint8_t proto)
{
	bool is_isolated = false;
	size_t i, r;

	for (i = 0; i < world->n_policies; i++) {
		const struct netpol *policy = world->policies[i];
		const struct netpol_rule *rules = is_ingress ? policy->ingress : policy->egress;
		size_t n_rules = is_ingress ? policy->n_ingress : policy->n_egress;

		if (!(is_ingress ? policy->is_ingress : policy->is_egress) ||
		    !netpol_selects(world, policy, subject))
			continue;
		is_isolated = true;
		for (r = 0; r < n_rules; r++) {
			if (netpol_rule_allows(world, policy, &rules[r], peer, dst, port, proto))
				return true;
		}
	}
	return !is_isolated;
}

bool netpol_eval_allowed(const struct netpol_world *world, size_t src, size_t dst, uint16_t port,
			 uint8_t proto)
{
	const struct netpol_pod *s = &world->pods[src], *d = &world->pods[dst];

	if (src == dst)
		return true; /* a pod's traffic to itself is never blocked */
	return netpol_direction_allows(world, false, s, d, d, port, proto) &&
	       netpol_direction_allows(world, true, d, s, d, port, proto);
}
