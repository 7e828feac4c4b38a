// SPDX-License-Identifier: Apache-2.0
/* The one hash table: chained buckets, FNV-1a, keys copied into their entries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash_table.h"

#define HASH_TABLE_MIN_BUCKETS 64

uint64_t hash_fnv1a_more(uint64_t hash, const void *data, size_t len)
{
	const unsigned char *byte = data;

	while (len--)
		hash = (hash ^ *byte++) * 0x100000001b3ull;
	return hash;
}

uint64_t hash_fnv1a(const void *data, size_t len)
{
	return hash_fnv1a_more(HASH_FNV1A_INIT, data, len);
}

/* FNV-1a's low bits mix poorly for short keys: fold the high half in before masking. */
static size_t bucket_of(uint64_t hash, size_t n_buckets)
{
	return (size_t)(hash ^ (hash >> 32)) & (n_buckets - 1);
}

static struct hash_table_entry **slot_of(const struct hash_table *table, const void *key,
					 size_t key_len, uint64_t hash)
{
	struct hash_table_entry **slot = &table->buckets[bucket_of(hash, table->n_buckets)];

	while (*slot && ((*slot)->hash != hash || (*slot)->key_len != key_len ||
			 memcmp((*slot)->key, key, key_len)))
		slot = &(*slot)->next;
	return slot;
}

void *hash_table_get(const struct hash_table *table, const void *key, size_t key_len)
{
	struct hash_table_entry **slot;

	if (!table->n_buckets)
		return NULL;
	slot = slot_of(table, key, key_len, hash_fnv1a(key, key_len));
	return *slot ? (*slot)->value : NULL;
}

static int grow(struct hash_table *table)
{
	size_t n = table->n_buckets ? table->n_buckets * 2 : HASH_TABLE_MIN_BUCKETS, i;
	struct hash_table_entry **buckets = calloc(n, sizeof(*buckets));

	if (!buckets)
		return -ENOMEM;
	for (i = 0; i < table->n_buckets; i++) {
		struct hash_table_entry *e = table->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = buckets[bucket_of(e->hash, n)];
			buckets[bucket_of(e->hash, n)] = e;
		}
	}
	free(table->buckets);
	table->buckets = buckets;
	table->n_buckets = n;
	return 0;
}

int hash_table_put(struct hash_table *table, const void *key, size_t key_len, void *value)
{
	uint64_t hash = hash_fnv1a(key, key_len);
	struct hash_table_entry **slot, *e;

	/* Replacing never allocates, so it cannot fail: callers rely on that. */
	if (table->n_buckets) {
		slot = slot_of(table, key, key_len, hash);
		if (*slot) {
			(*slot)->value = value;
			return 0;
		}
	}
	if (table->count >= table->n_buckets && grow(table))
		return -ENOMEM;
	slot = slot_of(table, key, key_len, hash);
	e = malloc(sizeof(*e) + key_len);
	if (!e)
		return -ENOMEM;
	e->next = NULL;
	e->hash = hash;
	e->value = value;
	e->key_len = key_len;
	memcpy(e->key, key, key_len);
	*slot = e;
	table->count++;
	return 0;
}

void *hash_table_remove(struct hash_table *table, const void *key, size_t key_len)
{
	struct hash_table_entry **slot, *e;
	void *value;

	if (!table->n_buckets)
		return NULL;
	slot = slot_of(table, key, key_len, hash_fnv1a(key, key_len));
	e = *slot;
	if (!e)
		return NULL;
	*slot = e->next;
	value = e->value;
	free(e);
	table->count--;
	return value;
}

void hash_table_free(struct hash_table *table)
{
	size_t i;

	for (i = 0; i < table->n_buckets; i++) {
		struct hash_table_entry *e = table->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(table->buckets);
	memset(table, 0, sizeof(*table));
}
