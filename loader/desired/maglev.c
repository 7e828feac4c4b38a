// SPDX-License-Identifier: Apache-2.0
/* Maglev lookup tables: the population of the paper's section 3.4 over backend identities. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maps/hash.h"
#include "loader/desired/maglev.h"
#include "maps/lb.h"

const char *maglev_algorithm_name(enum lb_algorithm algorithm)
{
	switch (algorithm) {
	case LB_ALGORITHM_MAGLEV:
		return "maglev";
	case LB_ALGORITHM_RANDOM:
		return "random";
	}
	return NULL;
}

int maglev_algorithm_parse(const char *name, enum lb_algorithm *algorithm)
{
	if (strcmp(name, "maglev") == 0)
		*algorithm = LB_ALGORITHM_MAGLEV;
	else if (strcmp(name, "random") == 0)
		*algorithm = LB_ALGORITHM_RANDOM;
	else
		return -EINVAL;
	return 0;
}

bool maglev_size_is_valid(uint32_t m)
{
	if (m < LB_MAGLEV_SIZE_MIN || m > LB_MAGLEV_SIZE_MAX)
		return false;
	for (uint32_t d = 2; d * d <= m; d++)
		if (m % d == 0)
			return false;
	return true;
}

/* Order of identities: address, port, protocol (as stored; any fixed order would do). */
static int maglev_backend_cmp(const void *a, const void *b)
{
	const struct maglev_backend *x = a, *y = b;

	if (x->address != y->address)
		return x->address < y->address ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return 0;
}

int maglev_populate(const struct maglev_backend *backends, size_t n, uint32_t m, uint32_t *table)
{
	struct maglev_backend *sorted = NULL;
	uint32_t *position = NULL, *skip = NULL, filled = 0;
	int err = 0;

	if (!n || !maglev_size_is_valid(m))
		return -EINVAL;
	if (n > m)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (!backends[i].id)
			return -EINVAL;
	sorted = malloc(n * sizeof(*sorted));
	position = malloc(n * sizeof(*position));
	skip = malloc(n * sizeof(*skip));
	if (!sorted || !position || !skip) {
		err = -ENOMEM;
		goto cleanup;
	}
	memcpy(sorted, backends, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), maglev_backend_cmp);
	for (size_t i = 0; i < n; i++) {
		__u32 port_proto = (__u32)sorted[i].port << 16 | sorted[i].proto;

		/* permutation[j] = (offset + j * skip) % M; skip in 1..M-1 with M prime visits all.
		 */
		position[i] = hash_3words(sorted[i].address, port_proto, 0, HASH_SEED_OFFSET) % m;
		skip[i] =
		    hash_3words(sorted[i].address, port_proto, 0, HASH_SEED_SKIP) % (m - 1) + 1;
	}
	memset(table, 0, m * sizeof(*table)); /* 0: not taken yet (ids are never 0) */
	for (;;) {
		for (size_t i = 0; i < n; i++) {
			uint32_t at = position[i];

			/* The next entry of i's permutation; a subtraction, as skip < M. */
			while (table[at])
				at = at + skip[i] >= m ? at + skip[i] - m : at + skip[i];
			table[at] = sorted[i].id;
			position[i] = at + skip[i] >= m ? at + skip[i] - m : at + skip[i];
			if (++filled == m)
				goto cleanup;
		}
	}

cleanup:
	free(sorted);
	free(position);
	free(skip);
	return err;
}
