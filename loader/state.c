// SPDX-License-Identifier: Apache-2.0
/* Desired state: freeing, copying and the canonical order of frontends and backends. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loader/manifest.h"
#include "loader/state.h"

void desired_state_free(struct desired_state *state)
{
	size_t i;

	if (!state)
		return;
	for (i = 0; i < state->n_frontends; i++)
		free(state->frontends[i].backends);
	free(state->frontends);
	state->frontends = NULL;
	state->n_frontends = 0;
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
	return c ? c : cmp_u32(a->proto, b->proto);
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

int desired_state_copy(struct desired_state *dst, const struct desired_state *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	if (!src->n_frontends)
		return 0;
	dst->frontends = calloc(src->n_frontends, sizeof(*dst->frontends));
	if (!dst->frontends)
		return -ENOMEM;
	for (i = 0; i < src->n_frontends; i++) {
		const struct lb_frontend *from = &src->frontends[i];
		struct lb_frontend *to = &dst->frontends[i];

		*to = *from;
		to->backends = NULL;
		dst->n_frontends = i + 1;
		if (!from->n_backends)
			continue;
		to->backends = malloc(from->n_backends * sizeof(*to->backends));
		if (!to->backends) {
			to->n_backends = 0;
			desired_state_free(dst);
			return -ENOMEM;
		}
		memcpy(to->backends, from->backends, from->n_backends * sizeof(*to->backends));
	}
	return 0;
}
