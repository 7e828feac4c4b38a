// SPDX-License-Identifier: Apache-2.0
/* NetworkPolicy -> identities, ipcache and identity-keyed rules for the datapath. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ip_proto.h"
#include "loader/k8s/netpol.h"
#include "loader/desired/netpol_compile.h"
#include "loader/desired/netpol_eval.h"
#include "maps/policy.h"

/* ---- the state --------------------------------------------------------------------------- */

void policy_state_free(struct policy_state *state)
{
	size_t i;

	if (!state)
		return;
	for (i = 0; i < state->n_identities; i++) {
		free(state->identities[i].key);
		free(state->identities[i].name);
		free(state->identities[i].isolated_by);
	}
	for (i = 0; i < state->n_policies; i++)
		free(state->policies[i]);
	free(state->identities);
	free(state->ipcache);
	free(state->rules);
	free(state->policies);
	free(state);
}

int policy_state_copy(struct policy_state **out, const struct policy_state *src)
{
	struct policy_state *dst = calloc(1, sizeof(*dst));
	bool is_oom = false;
	size_t i;
	int err = 0;

	*out = NULL;
	if (!dst)
		return -ENOMEM;
	dst->is_enabled = src->is_enabled;
	dst->ipcache = desired_array_dup(src->ipcache, src->n_ipcache, sizeof(*src->ipcache), &err);
	dst->n_ipcache = dst->ipcache ? src->n_ipcache : 0;
	dst->rules = desired_array_dup(src->rules, src->n_rules, sizeof(*src->rules), &err);
	dst->n_rules = dst->rules ? src->n_rules : 0;
	dst->identities = calloc(src->n_identities + 1, sizeof(*dst->identities));
	dst->policies = calloc(src->n_policies + 1, sizeof(*dst->policies));
	if (err || !dst->identities || !dst->policies)
		is_oom = true;
	for (i = 0; !is_oom && i < src->n_identities; i++) {
		dst->identities[i].key = strdup(src->identities[i].key);
		dst->identities[i].name = strdup(src->identities[i].name);
		dst->n_identities++;
		is_oom = !dst->identities[i].key || !dst->identities[i].name;
		if (src->identities[i].isolated_by) {
			dst->identities[i].isolated_by = strdup(src->identities[i].isolated_by);
			is_oom |= !dst->identities[i].isolated_by;
		}
	}
	for (i = 0; !is_oom && i < src->n_policies; i++) {
		dst->policies[i] = strdup(src->policies[i]);
		dst->n_policies++;
		is_oom = !dst->policies[i];
	}
	if (is_oom) {
		policy_state_free(dst);
		return -ENOMEM;
	}
	*out = dst;
	return 0;
}

/* ---- building ---------------------------------------------------------------------------- */

struct compile_identity {
	char *key;
	char *name;
	char *isolated_by; /* policy_identity.isolated_by */
	bool is_pod;
	size_t pod; /* a world pod holding it (is_pod): namespace, labels, ports */
};

struct compile {
	const struct netpol_world *world;
	size_t n_blocks;
	const struct netpol_ip_block **blocks; /* every IPv4 ipBlock of every policy */
	size_t n_identities, cap_identities;
	struct compile_identity *identities;
	size_t *pod_identity; /* per world pod */
	size_t n_rules, cap_rules;
	struct policy_rule *rules;
	bool is_oom;
};

static bool compile_prefix_within(const struct cidr4 *inner, const struct cidr4 *outer)
{
	return cidr4_contains(outer, inner);
}

/* Which blocks hold every address of PREFIX (IPv4), as '0'/'1' per block. */
static void compile_prefix_membership(const struct compile *c, const struct cidr4 *prefix,
				      char *bits)
{
	size_t b, e;

	for (b = 0; b < c->n_blocks; b++) {
		const struct netpol_ip_block *block = c->blocks[b];
		bool is_in = compile_prefix_within(prefix, &block->cidr);

		for (e = 0; is_in && e < block->n_except; e++)
			is_in = !compile_prefix_within(prefix, &block->except[e]);
		bits[b] = is_in ? '1' : '0';
	}
	bits[c->n_blocks] = '\0';
}

/* Index of the identity with KEY, added (taking ownership of key and name) when new. */
static size_t compile_identity(struct compile *c, char *key, char *name, bool is_pod, size_t pod)
{
	size_t i;

	if (!key || !name) {
		free(key);
		free(name);
		c->is_oom = true;
		return 0;
	}
	for (i = 0; i < c->n_identities; i++) {
		if (!strcmp(c->identities[i].key, key)) {
			free(key);
			free(name);
			return i;
		}
	}
	if (c->n_identities == c->cap_identities) {
		size_t cap = c->cap_identities ? c->cap_identities * 2 : 16;
		struct compile_identity *grown = realloc(c->identities, cap * sizeof(*grown));

		if (!grown) {
			free(key);
			free(name);
			c->is_oom = true;
			return 0;
		}
		c->identities = grown;
		c->cap_identities = cap;
	}
	c->identities[c->n_identities] =
	    (struct compile_identity){.key = key, .name = name, .is_pod = is_pod, .pod = pod};
	return c->n_identities++;
}

/* A growing string for keys and names. */
struct compile_text {
	char *buf;
	size_t len, cap;
};

static void text_add(struct compile *c, struct compile_text *t, const char *s)
{
	size_t n = strlen(s);

	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *grown = realloc(t->buf, cap);

		if (!grown) {
			c->is_oom = true;
			return;
		}
		t->buf = grown;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n + 1);
	t->len += n;
}

static char *compile_pod_key(struct compile *c, size_t p, const char *bits, bool is_name)
{
	const struct netpol_pod *pod = &c->world->pods[p];
	const struct k8s_labels *labels = &pod->object->labels;
	struct compile_text t = {0};
	char port[64];
	size_t i;

	text_add(c, &t, is_name ? "" : "pod\x01");
	text_add(c, &t, c->world->namespaces[pod->namespace].name);
	text_add(c, &t, is_name ? " {" : "\x01");
	for (i = 0; i < labels->count; i++) {
		text_add(c, &t, i ? (is_name ? ", " : "\x02") : "");
		text_add(c, &t, labels->items[i].key);
		text_add(c, &t, "=");
		text_add(c, &t, labels->items[i].value);
	}
	text_add(c, &t, is_name ? "}" : "\x01");
	for (i = 0; !is_name && i < pod->object->pod.n_ports; i++) {
		const struct k8s_container_port *cp = &pod->object->pod.ports[i];

		if (!cp->name[0])
			continue; /* only named ports make pods differ to policies */
		snprintf(port, sizeof(port), "%s/%u/%u\x02", cp->name, cp->proto, cp->port);
		text_add(c, &t, port);
	}
	if (!is_name) {
		text_add(c, &t, "\x01");
		text_add(c, &t, bits);
	}
	if (!t.buf)
		c->is_oom = true;
	return t.buf;
}

/*
 * Walk every ipBlock peer of every policy: returns how many there are, and appends the IPv4
 * ones to c->blocks when it is allocated (a first walk sizes it, a second fills it).
 */
static size_t compile_walk_blocks(struct compile *c)
{
	const struct netpol_world *w = c->world;
	size_t p, r, e, n = 0;

	for (p = 0; p < w->n_policies; p++) {
		for (int dir = 0; dir < 2; dir++) {
			const struct netpol_rule *rules =
			    dir ? w->policies[p]->egress : w->policies[p]->ingress;
			size_t n_rules = dir ? w->policies[p]->n_egress : w->policies[p]->n_ingress;

			for (r = 0; r < n_rules; r++) {
				for (e = 0; e < rules[r].n_peers; e++) {
					const struct netpol_peer *peer = &rules[r].peers[e];

					n += peer->has_ip_block;
					if (c->blocks && peer->has_ip_block &&
					    !peer->ip_block.is_ipv6)
						c->blocks[c->n_blocks++] = &peer->ip_block;
				}
			}
		}
	}
	return n;
}

static void compile_blocks(struct compile *c)
{
	size_t n = compile_walk_blocks(c);

	c->blocks = calloc(n + 1, sizeof(*c->blocks));
	if (!c->blocks) {
		c->is_oom = true;
		return;
	}
	compile_walk_blocks(c);
}

static size_t compile_block_index(const struct compile *c, const struct netpol_ip_block *block)
{
	size_t b;

	for (b = 0; b < c->n_blocks && c->blocks[b] != block; b++)
		;
	return b;
}

static int compile_ipcache_cmp(const void *a, const void *b)
{
	const struct policy_ipcache *x = a, *y = b;
	uint32_t xa = ntohl(x->address), ya = ntohl(y->address);

	if (xa != ya)
		return xa < ya ? -1 : 1;
	return (x->prefix_len > y->prefix_len) - (x->prefix_len < y->prefix_len);
}

/* The ipcache: every ipBlock prefix (cidr and except) and every pod address. */
static void compile_ipcache(struct compile *c, struct policy_state *out, size_t world_identity)
{
	const struct netpol_world *w = c->world;
	size_t b, e, i, n = 0, max = w->n_pods;
	char *bits = calloc(c->n_blocks + 1, 1);

	for (b = 0; b < c->n_blocks; b++)
		max += 1 + c->blocks[b]->n_except;
	out->ipcache = calloc(max + 1, sizeof(*out->ipcache));
	c->pod_identity = calloc(w->n_pods + 1, sizeof(*c->pod_identity));
	if (!bits || !out->ipcache || !c->pod_identity) {
		free(bits);
		c->is_oom = true;
		return;
	}
	for (b = 0; b < c->n_blocks; b++) {
		for (e = 0; e <= c->blocks[b]->n_except; e++) {
			const struct cidr4 *prefix =
			    e ? &c->blocks[b]->except[e - 1] : &c->blocks[b]->cidr;
			struct policy_ipcache *entry = &out->ipcache[n++];
			char name[64];

			compile_prefix_membership(c, prefix, bits);
			entry->address = prefix->address;
			entry->prefix_len = prefix->prefix_len;
			if (!strchr(bits, '1')) {
				entry->identity = (uint32_t)world_identity;
				continue;
			}
			cidr4_str(prefix, name, sizeof(name));
			{
				size_t len = strlen(bits) + 8;
				char *key = malloc(len);

				if (key)
					snprintf(key, len, "cidr\x01%s", bits);
				entry->identity =
				    (uint32_t)compile_identity(c, key, strdup(name), false, 0);
			}
		}
	}
	for (i = 0; i < w->n_pods; i++) {
		struct policy_ipcache *entry = &out->ipcache[n++];
		struct cidr4 host = {.address = w->pods[i].ip, .prefix_len = 32};

		compile_prefix_membership(c, &host, bits);
		c->pod_identity[i] = compile_identity(c, compile_pod_key(c, i, bits, false),
						      compile_pod_key(c, i, bits, true), true, i);
		entry->address = w->pods[i].ip;
		entry->prefix_len = 32;
		entry->identity = (uint32_t)c->pod_identity[i];
		entry->flags = IPCACHE_F_POD;
	}
	free(bits);
	/* Duplicates (a prefix in two blocks, a pod address equal to a /32): the first stays. */
	qsort(out->ipcache, n, sizeof(*out->ipcache), compile_ipcache_cmp);
	for (i = 0; i < n; i++) {
		if (out->n_ipcache &&
		    !compile_ipcache_cmp(&out->ipcache[out->n_ipcache - 1], &out->ipcache[i])) {
			/* A pod's own entry wins: it carries the pod's identity and flags. */
			if (out->ipcache[i].flags & IPCACHE_F_POD)
				out->ipcache[out->n_ipcache - 1] = out->ipcache[i];
			continue;
		}
		out->ipcache[out->n_ipcache++] = out->ipcache[i];
	}
}

static void compile_rule_add(struct compile *c, uint32_t subject, uint32_t peer, int direction,
			     uint8_t proto, uint16_t port, uint8_t bits, uint32_t policy)
{
	if (c->n_rules == c->cap_rules) {
		size_t cap = c->cap_rules ? c->cap_rules * 2 : 64;
		struct policy_rule *grown = realloc(c->rules, cap * sizeof(*grown));

		if (!grown) {
			c->is_oom = true;
			return;
		}
		c->rules = grown;
		c->cap_rules = cap;
	}
	c->rules[c->n_rules++] = (struct policy_rule){
	    .subject = subject,
	    .peer = peer,
	    .direction = (uint8_t)direction,
	    .proto = proto,
	    .port = port,
	    .port_bits = bits,
	    .policy = policy,
	};
}

/* [low, high] as the fewest aligned port prefixes. */
static void compile_port_range(struct compile *c, uint32_t subject, uint32_t peer, int direction,
			       uint8_t proto, uint32_t low, uint32_t high, uint32_t policy)
{
	while (low <= high) {
		uint32_t size = 1;
		uint8_t bits = 16;

		/* Widen while low stays aligned and the block stays inside the range. */
		while (bits > 0 && !(low & (size * 2 - 1)) && low + size * 2 - 1 <= high) {
			size *= 2;
			bits--;
		}
		compile_rule_add(c, subject, peer, direction, proto, (uint16_t)low, bits, policy);
		low += size;
	}
}

/* The pod behind identity ID has container port NAME/proto: its number, or 0. */
static uint16_t compile_named_port(const struct compile *c, size_t id, const char *name,
				   uint8_t proto)
{
	const struct compile_identity *identity = &c->identities[id];
	const struct k8s_pod *pod;
	size_t i;

	if (!identity->is_pod)
		return 0;
	pod = &c->world->pods[identity->pod].object->pod;
	for (i = 0; i < pod->n_ports; i++) {
		if (!strcmp(pod->ports[i].name, name) && pod->ports[i].proto == proto)
			return pod->ports[i].port;
	}
	return 0;
}

/* Does pod identity ID (namespace, labels) fall under peer entry PEER of POLICY? */
static bool compile_peer_selects(const struct compile *c, const struct netpol *policy,
				 const struct netpol_peer *peer, size_t id, bool *has_block)
{
	const struct compile_identity *identity = &c->identities[id];
	const struct netpol_pod *pod;
	const struct netpol_namespace *ns;

	*has_block = false;
	if (peer->has_ip_block) {
		size_t b = compile_block_index(c, &peer->ip_block);
		const char *bits = strrchr(identity->key, '\x01');

		/* Membership is the last field of every key; IPv6 blocks hold nothing. */
		*has_block = true;
		return b < c->n_blocks && bits && bits[1 + b] == '1';
	}
	if (!identity->is_pod)
		return false;
	pod = &c->world->pods[identity->pod];
	ns = &c->world->namespaces[pod->namespace];
	if (peer->has_namespace_selector) {
		if (!netpol_selector_match(&peer->namespace_selector, &ns->labels))
			return false;
	} else if (strcmp(ns->name, policy->namespace)) {
		return false;
	}
	return !peer->has_pod_selector ||
	       netpol_selector_match(&peer->pod_selector, &pod->object->labels);
}

/*
 * spec.podSelector of a policy in the pod's own namespace picks the pod (the evaluator has its
 * own copy of this rule on purpose: the compiler is written apart from it).
 */
static bool compile_policy_selects(const struct netpol_world *w, const struct netpol *policy,
				   const struct netpol_pod *pod)
{
	return !strcmp(policy->namespace, w->namespaces[pod->namespace].name) &&
	       netpol_selector_match(&policy->pod_selector, &pod->object->labels);
}

/*
 * Rules of one ports list for (subject, peer); peer may be POLICY_PEER_ANY. No ports: one rule
 * for every protocol (POLICY_PROTO_ANY), ICMP and the protocols without ports included.
 */
static void compile_ports(struct compile *c, const struct netpol_rule *rule, size_t subject,
			  uint32_t peer, int direction, uint32_t policy)
{
	size_t i, d;

	if (!rule->n_ports) {
		compile_rule_add(c, (uint32_t)subject, peer, direction, POLICY_PROTO_ANY, 0, 0,
				 policy);
		return;
	}
	for (i = 0; i < rule->n_ports; i++) {
		const struct netpol_port *port = &rule->ports[i];

		if (!port->name[0]) {
			if (!port->port)
				compile_rule_add(c, (uint32_t)subject, peer, direction, port->proto,
						 0, 0, policy);
			else
				compile_port_range(c, (uint32_t)subject, peer, direction,
						   port->proto, port->port, port->end_port, policy);
			continue;
		}
		/* Named: the destination's number, so per destination identity. */
		if (direction == POLICY_DIR_INGRESS) {
			uint16_t number = compile_named_port(c, subject, port->name, port->proto);

			if (number)
				compile_rule_add(c, (uint32_t)subject, peer, direction, port->proto,
						 number, 16, policy);
			continue;
		}
		for (d = 0; d < c->n_identities; d++) {
			uint16_t number;

			if (peer != POLICY_PEER_ANY && peer != d)
				continue;
			number = compile_named_port(c, d, port->name, port->proto);
			if (number)
				compile_rule_add(c, (uint32_t)subject, (uint32_t)d, direction,
						 port->proto, number, 16, policy);
		}
	}
}

static void compile_rules(struct compile *c, struct policy_state *out)
{
	const struct netpol_world *w = c->world;
	size_t s, p, r, e, id;

	for (s = 0; s < c->n_identities; s++) {
		const struct compile_identity *subject = &c->identities[s];
		const struct netpol_pod *pod;

		if (!subject->is_pod)
			continue;
		pod = &w->pods[subject->pod];
		for (p = 0; p < w->n_policies; p++) {
			const struct netpol *policy = w->policies[p];

			if (!compile_policy_selects(w, policy, pod))
				continue;
			for (int dir = 0; dir < 2; dir++) {
				const struct netpol_rule *rules =
				    dir == POLICY_DIR_EGRESS ? policy->egress : policy->ingress;
				size_t n_rules =
				    dir == POLICY_DIR_EGRESS ? policy->n_egress : policy->n_ingress;

				if (!(dir == POLICY_DIR_EGRESS ? policy->is_egress
							       : policy->is_ingress))
					continue;
				for (r = 0; r < n_rules; r++) {
					const struct netpol_rule *rule = &rules[r];

					if (!rule->n_peers) {
						compile_ports(c, rule, s, POLICY_PEER_ANY, dir,
							      (uint32_t)p);
						continue;
					}
					for (id = 0; id < c->n_identities; id++) {
						bool is_peer = false, has_block;

						for (e = 0; e < rule->n_peers && !is_peer; e++)
							is_peer = compile_peer_selects(
							    c, policy, &rule->peers[e], id,
							    &has_block);
						if (is_peer)
							compile_ports(c, rule, s, (uint32_t)id, dir,
								      (uint32_t)p);
					}
				}
			}
		}
	}
	(void)out;
}

static int compile_rule_cmp(const void *a, const void *b)
{
	const struct policy_rule *x = a, *y = b;

#define CMP(f)                                                                                     \
	if (x->f != y->f)                                                                          \
		return x->f < y->f ? -1 : 1;
	CMP(subject)
	CMP(peer)
	CMP(direction)
	CMP(proto)
	CMP(port)
	CMP(port_bits)
#undef CMP
	return 0;
}

/*
 * "ingress=ns/a,ns/b egress=ns/c": the policies isolating POD, for people; NULL when none does
 * (or without memory: the text is for people only).
 */
static char *compile_isolated_by(const struct netpol_world *w, const struct netpol_pod *pod)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (int egress = 0; egress < 2; egress++) {
		const char *sep = egress ? (ftell(f) ? " egress=" : "egress=") : "ingress=";

		for (size_t p = 0; p < w->n_policies; p++) {
			const struct netpol *policy = w->policies[p];

			if (!(egress ? policy->is_egress : policy->is_ingress) ||
			    !compile_policy_selects(w, policy, pod))
				continue;
			fprintf(f, "%s%s/%s", sep, policy->namespace, policy->name);
			sep = ",";
		}
	}
	if (fclose(f) || !text || !text[0]) {
		free(text);
		return NULL;
	}
	return text;
}

/* The isolation flags of each pod identity, onto its pods' ipcache entries. */
static void compile_isolation(struct compile *c, struct policy_state *out)
{
	const struct netpol_world *w = c->world;
	size_t i, p;

	for (i = 0; i < out->n_ipcache; i++) {
		struct policy_ipcache *entry = &out->ipcache[i];
		const struct compile_identity *identity = &c->identities[entry->identity];
		const struct netpol_pod *pod;

		if (!(entry->flags & IPCACHE_F_POD))
			continue;
		pod = &w->pods[identity->pod];
		for (p = 0; p < w->n_policies; p++) {
			const struct netpol *policy = w->policies[p];

			if (!compile_policy_selects(w, policy, pod))
				continue;
			if (policy->is_ingress)
				entry->flags |= IPCACHE_F_ISOLATED_INGRESS;
			if (policy->is_egress)
				entry->flags |= IPCACHE_F_ISOLATED_EGRESS;
		}
		if (entry->flags & (IPCACHE_F_ISOLATED_INGRESS | IPCACHE_F_ISOLATED_EGRESS)) {
			struct compile_identity *named = &c->identities[entry->identity];

			out->is_enabled = true;
			if (!named->isolated_by)
				named->isolated_by = compile_isolated_by(w, pod);
		}
	}
}

int netpol_compile(struct k8s_object *const *objects, size_t n_objects, struct policy_state **out)
{
	struct netpol_world world;
	struct compile c = {.world = &world};
	struct policy_state *state;
	size_t i, world_identity;
	int err;

	*out = NULL;
	err = netpol_world_build(objects, n_objects, &world);
	if (err)
		return err;
	state = calloc(1, sizeof(*state));
	if (!state) {
		netpol_world_free(&world);
		return -ENOMEM;
	}
	world_identity = compile_identity(&c, strdup("world"), strdup("world"), false, 0);
	compile_blocks(&c);
	if (!c.is_oom)
		compile_ipcache(&c, state, world_identity);
	if (!c.is_oom)
		compile_isolation(&c, state);
	if (!c.is_oom)
		compile_rules(&c, state);
	if (!c.is_oom && c.n_rules) {
		qsort(c.rules, c.n_rules, sizeof(*c.rules), compile_rule_cmp);
		state->rules = c.rules;
		for (i = 0; i < c.n_rules; i++) {
			if (state->n_rules &&
			    !compile_rule_cmp(&state->rules[state->n_rules - 1], &c.rules[i]))
				continue;
			state->rules[state->n_rules++] = c.rules[i];
		}
		c.rules = NULL;
	}
	state->identities = calloc(c.n_identities + 1, sizeof(*state->identities));
	state->policies = calloc(world.n_policies + 1, sizeof(*state->policies));
	if (!state->identities || !state->policies)
		c.is_oom = true;
	for (i = 0; i < c.n_identities; i++) {
		if (state->identities) {
			state->identities[i].key = c.identities[i].key;
			state->identities[i].name = c.identities[i].name;
			state->identities[i].isolated_by = c.identities[i].isolated_by;
			state->n_identities++;
		} else {
			free(c.identities[i].key);
			free(c.identities[i].name);
			free(c.identities[i].isolated_by);
		}
	}
	for (i = 0; state->policies && i < world.n_policies; i++) {
		char name[K8S_DNS_LABEL_MAX + K8S_DNS_SUBDOMAIN_MAX + 2];

		snprintf(name, sizeof(name), "%s/%s", world.policies[i]->namespace,
			 world.policies[i]->name);
		state->policies[i] = strdup(name);
		state->n_policies++;
		c.is_oom |= !state->policies[i];
	}
	free(c.identities);
	free(c.blocks);
	free(c.pod_identity);
	free(c.rules);
	netpol_world_free(&world);
	if (c.is_oom) {
		policy_state_free(state);
		return -ENOMEM;
	}
	*out = state;
	return 0;
}

/* ---- reading it back as the datapath does ------------------------------------------------ */

static const struct policy_ipcache *compiled_ipcache(const struct policy_state *state,
						     uint32_t address)
{
	const struct policy_ipcache *best = NULL;
	size_t i;

	for (i = 0; i < state->n_ipcache; i++) {
		const struct policy_ipcache *entry = &state->ipcache[i];
		struct cidr4 cidr = {.address = entry->address, .prefix_len = entry->prefix_len};

		if (cidr4_has_address(&cidr, address) &&
		    (!best || entry->prefix_len > best->prefix_len))
			best = entry;
	}
	return best;
}

static bool compiled_rule(const struct policy_state *state, uint32_t subject, uint32_t peer,
			  int direction, uint8_t proto, uint16_t port)
{
	size_t i;

	for (i = 0; i < state->n_rules; i++) {
		const struct policy_rule *r = &state->rules[i];
		uint16_t mask = r->port_bits ? (uint16_t)(0xffffu << (16 - r->port_bits)) : 0;

		if (r->subject == subject && (r->peer == peer || r->peer == POLICY_PEER_ANY) &&
		    r->direction == direction &&
		    (r->proto == proto || r->proto == POLICY_PROTO_ANY) &&
		    (port & mask) == (r->port & mask))
			return true;
	}
	return false;
}

bool netpol_compiled_allows(const struct policy_state *state, uint32_t saddr, uint32_t daddr,
			    uint16_t port, uint8_t proto)
{
	const struct policy_ipcache *src = compiled_ipcache(state, saddr);
	const struct policy_ipcache *dst = compiled_ipcache(state, daddr);
	uint32_t src_id = src ? src->identity : 0; /* identity 0 is "world" */
	uint32_t dst_id = dst ? dst->identity : 0;

	if (!state->is_enabled || saddr == daddr)
		return true;
	if (src && (src->flags & IPCACHE_F_ISOLATED_EGRESS) &&
	    !compiled_rule(state, src_id, dst_id, POLICY_DIR_EGRESS, proto, port))
		return false;
	if (dst && (dst->flags & IPCACHE_F_POD) && (dst->flags & IPCACHE_F_ISOLATED_INGRESS) &&
	    !compiled_rule(state, dst_id, src_id, POLICY_DIR_INGRESS, proto, port))
		return false;
	return true;
}
