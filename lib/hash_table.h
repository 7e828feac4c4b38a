/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one hash table of the userspace: byte-string keys (copied into the entry) to pointers,
 * chained, growing at load 1, hashed by FNV-1a. Values belong to the caller. Not thread-safe.
 */
#ifndef SLUICE_LIB_HASH_TABLE_H
#define SLUICE_LIB_HASH_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* FNV-1a, 64 bit: stable across runs, builds and machines (names derived from it persist). */
#define HASH_FNV1A_INIT 0xcbf29ce484222325ull
uint64_t hash_fnv1a(const void *data, size_t len);
/* Continue a hash over more bytes: hash_fnv1a(ab) == hash_fnv1a_more(hash_fnv1a(a), b). */
uint64_t hash_fnv1a_more(uint64_t hash, const void *data, size_t len);

struct hash_table_entry {
	struct hash_table_entry *next;
	uint64_t hash;
	void *value;
	size_t key_len;
	unsigned char key[];
};

struct hash_table {
	struct hash_table_entry **buckets;
	size_t n_buckets; /* power of two, or 0 before the first insert */
	size_t count;
};

/* The value under key, or NULL. */
void *hash_table_get(const struct hash_table *table, const void *key, size_t key_len);
/*
 * Insert key -> value (value not NULL), or replace the value of a present key (which never
 * fails). Returns 0 or -ENOMEM.
 */
int hash_table_put(struct hash_table *table, const void *key, size_t key_len, void *value);
/* Remove key; returns the value it had, or NULL when absent. */
void *hash_table_remove(struct hash_table *table, const void *key, size_t key_len);
/* Free the entries (not the values) and leave an empty table. */
void hash_table_free(struct hash_table *table);

/* Every entry, in no particular order; the body may not insert or remove. */
#define HASH_TABLE_FOR_EACH(table, entry, i)                                                       \
	for ((i) = 0; (i) < (table)->n_buckets; (i)++)                                             \
		for ((entry) = (table)->buckets[(i)]; (entry); (entry) = (entry)->next)

/* NUL-terminated string keys (the terminator is not part of the key). */
static inline void *hash_table_get_str(const struct hash_table *table, const char *key)
{
	return hash_table_get(table, key, strlen(key));
}

static inline int hash_table_put_str(struct hash_table *table, const char *key, void *value)
{
	return hash_table_put(table, key, strlen(key), value);
}

static inline void *hash_table_remove_str(struct hash_table *table, const char *key)
{
	return hash_table_remove(table, key, strlen(key));
}

/* 64-bit integer keys (in host order: a table's keys never leave the process). */
static inline void *hash_table_get_u64(const struct hash_table *table, uint64_t key)
{
	return hash_table_get(table, &key, sizeof(key));
}

static inline int hash_table_put_u64(struct hash_table *table, uint64_t key, void *value)
{
	return hash_table_put(table, &key, sizeof(key), value);
}

static inline void *hash_table_remove_u64(struct hash_table *table, uint64_t key)
{
	return hash_table_remove(table, &key, sizeof(key));
}

#endif
