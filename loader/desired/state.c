// SPDX-License-Identifier: Apache-2.0
/* Desired state: freeing, copying and the canonical order of frontends and backends. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loader/desired/state.h"

void desired_state_free(struct desired_state *state)
{
	size_t i;

	if (!state)
		return;
	for (i = 0; i < state->n_frontends; i++) {
		free(state->frontends[i].backends);
		free(state->frontends[i].source_ranges);
	}
	free(state->frontends);
	free(state->health_checks);
	free(state->node_addresses);
	policy_state_free(state->policy);
	memset(state, 0, sizeof(*state));
}

static int cmp_u32(uint32_t a, uint32_t b)
{
	return (a > b) - (a < b);
}

int lb_backend_addr_cmp(const struct lb_backend_addr *a, const struct lb_backend_addr *b)
{
	int c = cmp_u32(ntohl(a->address), ntohl(b->address));

	return c ? c : cmp_u32(ntohs(a->port), ntohs(b->port));
}

int lb_frontend_cmp(const struct lb_frontend *a, const struct lb_frontend *b)
{
	int c = cmp_u32(ntohl(a->vip), ntohl(b->vip));

	if (!c)
		c = cmp_u32(ntohs(a->port), ntohs(b->port));
	if (!c)
		c = cmp_u32(a->proto, b->proto);
	return c ? c : cmp_u32(a->scope, b->scope);
}

int lb_health_check_qsort_cmp(const void *a, const void *b)
{
	const struct lb_health_check *x = a, *y = b;

	return (x->port > y->port) - (x->port < y->port);
}

static int backend_qsort_cmp(const void *a, const void *b)
{
	return lb_backend_addr_cmp(a, b);
}

size_t lb_backends_normalize(struct lb_backend_addr *backends, size_t count)
{
	size_t i, out = 0;

	if (!count)
		return 0;
	qsort(backends, count, sizeof(*backends), backend_qsort_cmp);
	for (i = 1; i < count; i++) {
		if (lb_backend_addr_cmp(&backends[out], &backends[i]))
			backends[++out] = backends[i];
	}
	return out + 1;
}

void *desired_array_dup(const void *from, size_t n, size_t size, int *err)
{
	void *to;

	if (!n)
		return NULL;
	to = malloc(n * size);
	if (!to)
		*err = -ENOMEM;
	else
		memcpy(to, from, n * size);
	return to;
}

int desired_state_copy(struct desired_state *dst, const struct desired_state *src)
{
	int err = 0;
	size_t i;

	*dst = *src;
	dst->frontends = NULL;
	dst->n_frontends = 0;
	dst->health_checks = desired_array_dup(src->health_checks, src->n_health_checks,
					       sizeof(*src->health_checks), &err);
	dst->n_health_checks = dst->health_checks ? src->n_health_checks : 0;
	dst->node_addresses = desired_array_dup(src->node_addresses, src->n_node_addresses,
						sizeof(*src->node_addresses), &err);
	dst->n_node_addresses = dst->node_addresses ? src->n_node_addresses : 0;
	dst->policy = NULL;
	if (src->policy && policy_state_copy(&dst->policy, src->policy))
		err = -ENOMEM;
	if (!err && src->n_frontends) {
		dst->frontends = calloc(src->n_frontends, sizeof(*dst->frontends));
		if (!dst->frontends)
			err = -ENOMEM;
	}
	for (i = 0; !err && i < src->n_frontends; i++) {
		const struct lb_frontend *from = &src->frontends[i];
		struct lb_frontend *to = &dst->frontends[i];

		*to = *from;
		dst->n_frontends = i + 1;
		to->backends = desired_array_dup(from->backends, from->n_backends,
						 sizeof(*from->backends), &err);
		to->n_backends = to->backends ? from->n_backends : 0;
		to->source_ranges = desired_array_dup(from->source_ranges, from->n_source_ranges,
						      sizeof(*from->source_ranges), &err);
		to->n_source_ranges = to->source_ranges ? from->n_source_ranges : 0;
	}
	if (err)
		desired_state_free(dst);
	return err;
}
