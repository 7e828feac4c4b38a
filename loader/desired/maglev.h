/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI 2016, section 3.4): the lookup table of one frontend, computed from its
 * backends' stable identities so every node computes the same table.
 */
#ifndef SLUICE_MAGLEV_H
#define SLUICE_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Backend choice of a frontend (sluice agent --lb-algorithm). */
enum lb_algorithm {
	LB_ALGORITHM_MAGLEV = 0, /* consistent hashing of the 5-tuple (the default) */
	LB_ALGORITHM_RANDOM,	 /* uniformly at random among the backends */
};

/* "maglev" / "random"; NULL for an unknown value. */
const char *maglev_algorithm_name(enum lb_algorithm algorithm);
/* Parses NAME into *algorithm. Returns 0 or -EINVAL. */
int maglev_algorithm_parse(const char *name, enum lb_algorithm *algorithm);

/* A backend as the table sees it: its identity (wire order, as in lb4_backends) and its id. */
struct maglev_backend {
	uint32_t address;
	uint16_t port;
	uint8_t proto;
	uint32_t id; /* what the table holds; never 0 */
};

/* Is M an accepted table size: a prime in [LB_MAGLEV_SIZE_MIN, LB_MAGLEV_SIZE_MAX]? */
bool maglev_size_is_valid(uint32_t m);

/*
 * Fill TABLE (M entries) with backend ids by the Maglev population: each backend walks its own
 * permutation of 0..M-1 (offset and skip from two hashes of address:port:proto) and, in turn,
 * takes the next entry not yet taken, until all M are. Backends are taken in the order of their
 * identities, so the result depends only on the set, not on the order of BACKENDS. Every backend
 * gets floor(M/N) or ceil(M/N) entries. Returns 0, -EINVAL (no backends, an id of 0, M not
 * valid), -E2BIG (more backends than M) or -ENOMEM.
 */
int maglev_populate(const struct maglev_backend *backends, size_t n, uint32_t m, uint32_t *table);

#endif
