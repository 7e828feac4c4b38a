// SPDX-License-Identifier: Apache-2.0
/*
 * The policy maps (ipcache4 and its exact-match copy ipcache4_exact with ipcache4_lens, policy4,
 * policy_cfg, policy_names) made to hold a policy_state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/log.h"
#include "lib/map_walk.h"
#include "loader/sync/policy_sync.h"
#include "maps/policy.h"

struct policy_number {
	char *key;
	uint32_t number;
	uint64_t epoch; /* last apply that used it */
};

struct policy_sync {
	/* The caller's descriptors; ipcache4_exact and ipcache4_lens are -1 on pins without
	 * them: the LPM alone then. */
	struct sluice_maps maps;
	size_t n_numbers, cap_numbers;
	struct policy_number *numbers; /* identity keys and policy names ("\x01" + name) */
	uint32_t next_number;
	uint64_t epoch;
	uint32_t node_addresses[POLICY_MAX_HOST_ADDRS]; /* from the desired state, network order */
	size_t n_node_addresses;
};

int policy_sync_open(const struct sluice_maps *maps, struct policy_sync **out)
{
	struct policy_sync *sync;

	*out = NULL;
	if (maps->ipcache4 < 0 || maps->policy4 < 0 || maps->policy_cfg < 0 ||
	    maps->policy_names < 0)
		return 0;
	sync = calloc(1, sizeof(*sync));
	if (!sync)
		return -ENOMEM;
	sync->maps = *maps;
	sync->next_number = IDENTITY_FIRST;
	*out = sync;
	return 0;
}

void policy_sync_close(struct policy_sync *sync)
{
	size_t i;

	if (!sync)
		return;
	for (i = 0; i < sync->n_numbers; i++)
		free(sync->numbers[i].key);
	free(sync->numbers);
	free(sync);
}

static struct policy_number *policy_number_find(const struct policy_sync *sync, const char *key)
{
	size_t i;

	for (i = 0; i < sync->n_numbers; i++) {
		if (!strcmp(sync->numbers[i].key, key))
			return &sync->numbers[i];
	}
	return NULL;
}

uint32_t policy_sync_identity(const struct policy_sync *sync, const char *key)
{
	const struct policy_number *found = policy_number_find(sync, key);

	return found ? found->number : 0;
}

static bool policy_number_is_used(const struct policy_sync *sync, uint32_t number)
{
	size_t i;

	for (i = 0; i < sync->n_numbers; i++) {
		if (sync->numbers[i].number == number)
			return true;
	}
	return false;
}

/* KEY's number, kept from earlier applies or allocated; 0 on -ENOMEM. */
static uint32_t policy_number(struct policy_sync *sync, const char *key)
{
	struct policy_number *found = policy_number_find(sync, key);

	if (found) {
		found->epoch = sync->epoch;
		return found->number;
	}
	if (sync->n_numbers == sync->cap_numbers) {
		size_t cap = sync->cap_numbers ? sync->cap_numbers * 2 : 64;
		struct policy_number *grown = realloc(sync->numbers, cap * sizeof(*grown));

		if (!grown)
			return 0;
		sync->numbers = grown;
		sync->cap_numbers = cap;
	}
	found = &sync->numbers[sync->n_numbers];
	found->key = strdup(key);
	if (!found->key)
		return 0;
	if (!strcmp(key, "world")) {
		found->number = IDENTITY_WORLD;
	} else {
		while (policy_number_is_used(sync, sync->next_number) ||
		       sync->next_number < IDENTITY_FIRST ||
		       sync->next_number >= POLICY_NAME_F_ISOLATION)
			sync->next_number = sync->next_number + 1 >= POLICY_NAME_F_ISOLATION
						? IDENTITY_FIRST
						: sync->next_number + 1;
		found->number = sync->next_number++;
	}
	found->epoch = sync->epoch;
	sync->n_numbers++;
	return found->number;
}

struct policy_kv {
	struct policy4_key key;
	struct policy4_value value;
};

static int policy_kv_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct policy_kv *)a)->key, &((const struct policy_kv *)b)->key,
		      sizeof(struct policy4_key));
}

struct ipcache_kv {
	struct ipcache4_key key;
	struct ipcache4_value value;
};

static int ipcache_kv_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct ipcache_kv *)a)->key, &((const struct ipcache_kv *)b)->key,
		      sizeof(struct ipcache4_key));
}

/* Write each desired entry the map lacks or holds differently. */
static int policy_sync_write(int fd, const void *entries, size_t n, size_t entry_size,
			     size_t key_size, unsigned long *writes)
{
	char current[sizeof(struct policy_name)]; /* the largest value of the four maps */
	size_t i;
	int err = 0;

	if (entry_size - key_size > sizeof(current))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const char *entry = (const char *)entries + i * entry_size;

		if (!bpf_map_lookup_elem(fd, entry, current) &&
		    !memcmp(current, entry + key_size, entry_size - key_size))
			continue;
		if (bpf_map_update_elem(fd, entry, entry + key_size, BPF_ANY)) {
			if (!err)
				err = -errno;
			continue;
		}
		(*writes)++;
	}
	return err;
}

/* Delete every key of the map not among the desired (sorted) entries. */
static int policy_sync_prune(int fd, const void *entries, size_t n, size_t entry_size,
			     size_t key_size, int (*cmp)(const void *, const void *),
			     unsigned long *writes)
{
	char key[MAP_WALK_KEY_MAX], probe[64];
	char *stale = NULL;
	size_t n_stale = 0, cap = 0, i;
	struct map_walk walk;
	int err = 0;

	map_walk_start(&walk, fd, key_size, 0);
	while (map_walk_next(&walk, key, NULL)) {
		memset(probe, 0, sizeof(probe));
		memcpy(probe, key, key_size);
		if (n && bsearch(probe, entries, n, entry_size, cmp))
			continue;
		if (n_stale == cap) {
			char *grown;

			cap = cap ? cap * 2 : 64;
			grown = realloc(stale, cap * key_size);
			if (!grown) {
				free(stale);
				return -ENOMEM;
			}
			stale = grown;
		}
		memcpy(stale + n_stale++ * key_size, key, key_size);
	}
	for (i = 0; i < n_stale; i++) {
		if (bpf_map_delete_elem(fd, stale + i * key_size) && errno != ENOENT) {
			if (!err)
				err = -errno;
			continue;
		}
		(*writes)++;
	}
	free(stale);
	return err ? err : walk.err; /* a failed walk still deletes the stale keys it saw */
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * The distinct prefix lengths of ENTRIES, longest first, into *lengths; count 0 (the LPM
 * answers) when there are more than IPCACHE_MAX_LENGTHS.
 */
static void ipcache_lengths(const struct ipcache_kv *entries, size_t n,
			    struct ipcache4_lengths *lengths)
{
	bool is_used[33] = {false};
	size_t i;
	int len;

	memset(lengths, 0, sizeof(*lengths));
	for (i = 0; i < n; i++)
		is_used[entries[i].key.prefix_len <= 32 ? entries[i].key.prefix_len : 32] = true;
	for (len = 32; len >= 0; len--) {
		if (!is_used[len])
			continue;
		if (lengths->count == IPCACHE_MAX_LENGTHS) {
			memset(lengths, 0, sizeof(*lengths));
			return;
		}
		lengths->lengths[lengths->count++] = (__u8)len;
	}
}

/*
 * The lengths to probe while the exact copy holds old and new entries: both sets (longest
 * first), or count 0 (the LPM answers) when the old one is already 0 or the union is too long.
 */
static void ipcache_lengths_union(const struct ipcache4_lengths *old,
				  const struct ipcache4_lengths *new, struct ipcache4_lengths *out)
{
	bool is_used[33] = {false};
	uint32_t i;
	int len;

	memset(out, 0, sizeof(*out));
	if (!old->count || old->count > IPCACHE_MAX_LENGTHS || !new->count)
		return;
	for (i = 0; i < old->count; i++)
		is_used[old->lengths[i] <= 32 ? old->lengths[i] : 32] = true;
	for (i = 0; i < new->count; i++)
		is_used[new->lengths[i]] = true;
	for (len = 32; len >= 0; len--) {
		if (!is_used[len])
			continue;
		if (out->count == IPCACHE_MAX_LENGTHS) {
			memset(out, 0, sizeof(*out));
			return;
		}
		out->lengths[out->count++] = (__u8)len;
	}
}

/* Write ipcache4_lens[0] when it differs from *current (then updated). */
static int ipcache_lengths_set(struct policy_sync *sync, struct ipcache4_lengths *current,
			       const struct ipcache4_lengths *lengths)
{
	uint32_t zero = 0;

	if (!memcmp(current, lengths, sizeof(*lengths)))
		return 0;
	if (bpf_map_update_elem(sync->maps.ipcache4_lens, &zero, lengths, BPF_ANY))
		return -errno;
	*current = *lengths;
	return 0;
}

void policy_sync_set_node_addresses(struct policy_sync *sync, const uint32_t *addresses, size_t n)
{
	if (!sync)
		return;
	if (n > POLICY_MAX_HOST_ADDRS)
		n = POLICY_MAX_HOST_ADDRS;
	if (n)
		memcpy(sync->node_addresses, addresses, n * sizeof(*addresses));
	sync->n_node_addresses = n;
}

static bool host_has(const struct ipcache_kv *hosts, size_t n, uint32_t address)
{
	for (size_t i = 0; i < n; i++)
		if (hosts[i].key.address == address)
			return true;
	return false;
}

/*
 * The node's own addresses as host ipcache entries (/32, IDENTITY_HOST, IPCACHE_F_HOST): every
 * IPv4 address on an interface of the agent's network namespace (the node's: its uplink, the
 * pods' gateway device, loopback) and the Node's addresses from the desired state. Returns how
 * many were written to OUT (at most POLICY_MAX_HOST_ADDRS).
 */
static size_t host_entries(const struct policy_sync *sync, struct ipcache_kv *out)
{
	struct ifaddrs *list = NULL, *ifa;
	size_t n = 0;

	for (size_t i = 0; i < sync->n_node_addresses && n < POLICY_MAX_HOST_ADDRS; i++) {
		if (host_has(out, n, sync->node_addresses[i]))
			continue;
		out[n].key.prefix_len = 32;
		out[n].key.address = sync->node_addresses[i];
		out[n].value.identity = IDENTITY_HOST;
		out[n].value.flags = IPCACHE_F_HOST;
		n++;
	}
	if (getifaddrs(&list)) {
		log_warn("policy: list the node's addresses: %s; only its Node addresses count as "
			 "the host",
			 strerror(errno));
		return n;
	}
	for (ifa = list; ifa && n < POLICY_MAX_HOST_ADDRS; ifa = ifa->ifa_next) {
		uint32_t address;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		address =
		    ((const struct sockaddr_in *)(const void *)ifa->ifa_addr)->sin_addr.s_addr;
		if (host_has(out, n, address))
			continue;
		out[n].key.prefix_len = 32;
		out[n].key.address = address;
		out[n].value.identity = IDENTITY_HOST;
		out[n].value.flags = IPCACHE_F_HOST;
		n++;
	}
	freeifaddrs(list);
	return n;
}

/*
 * Sorted ENTRIES with a host entry among them: a pod or ipBlock /32 with a host's address
 * gives way to the host entry (the node is always allowed). Returns the new count.
 */
static size_t ipcache_dedup_hosts(struct ipcache_kv *entries, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		if (kept && !ipcache_kv_cmp(&entries[kept - 1], &entries[i])) {
			if (entries[i].value.flags & IPCACHE_F_HOST)
				entries[kept - 1] = entries[i];
			continue;
		}
		entries[kept++] = entries[i];
	}
	return kept;
}

struct name_kv {
	uint32_t key;
	struct policy_name value;
};

/* TEXT as a policy_names value; cut at a comma with "..." when it is longer than fits. */
static void policy_name_set(struct policy_name *value, const char *text)
{
	size_t n = strlen(text);
	char *cut;

	snprintf(value->name, sizeof(value->name), "%s", text);
	if (n < sizeof(value->name))
		return;
	value->name[sizeof(value->name) - 4] = '\0';
	cut = strrchr(value->name, ',');
	snprintf(cut ? cut : value->name + sizeof(value->name) - 4, 4, ",..");
}

int policy_sync_apply(struct policy_sync *sync, const struct policy_state *state,
		      unsigned long *writes)
{
	struct policy_kv *rules = NULL;
	struct ipcache_kv *ipcache = NULL, *exact = NULL;
	struct ipcache4_lengths lengths, current = {0}, interim;
	struct name_kv *names = NULL;
	uint32_t *identity_numbers = NULL, *policy_numbers = NULL;
	struct policy_cfg cfg = {.flags = state->is_enabled ? POLICY_CFG_F_ENABLED : 0};
	size_t i, n_rules = 0, n_names = 0, n_ipcache;
	uint32_t zero = 0;
	char key[POLICY_NAME_LEN + 2];
	int err = 0, ret;

	sync->epoch++;
	identity_numbers = calloc(state->n_identities + 1, sizeof(*identity_numbers));
	policy_numbers = calloc(state->n_policies + 1, sizeof(*policy_numbers));
	rules = calloc(state->n_rules + 1, sizeof(*rules));
	ipcache = calloc(state->n_ipcache + POLICY_MAX_HOST_ADDRS, sizeof(*ipcache));
	exact = calloc(state->n_ipcache + POLICY_MAX_HOST_ADDRS, sizeof(*exact));
	names = calloc(2 * state->n_identities + state->n_policies + 2, sizeof(*names));
	if (!identity_numbers || !policy_numbers || !rules || !ipcache || !exact || !names) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < state->n_identities; i++) {
		identity_numbers[i] = policy_number(sync, state->identities[i].key);
		if (!identity_numbers[i]) {
			err = -ENOMEM;
			goto out;
		}
		names[n_names].key = identity_numbers[i];
		snprintf(names[n_names].value.name, POLICY_NAME_LEN, "%s",
			 state->identities[i].name);
		n_names++;
		if (state->identities[i].isolated_by) {
			names[n_names].key = POLICY_NAME_F_ISOLATION | identity_numbers[i];
			policy_name_set(&names[n_names].value, state->identities[i].isolated_by);
			n_names++;
		}
	}
	for (i = 0; i < state->n_policies; i++) {
		snprintf(key, sizeof(key), "\x01%s", state->policies[i]);
		policy_numbers[i] = policy_number(sync, key);
		if (!policy_numbers[i]) {
			err = -ENOMEM;
			goto out;
		}
		names[n_names].key = POLICY_NAME_F_POLICY | policy_numbers[i];
		snprintf(names[n_names].value.name, POLICY_NAME_LEN, "%s", state->policies[i]);
		n_names++;
	}
	for (i = 0; i < state->n_rules; i++) {
		const struct policy_rule *r = &state->rules[i];
		struct policy_kv *kv = &rules[n_rules++];

		kv->key.prefix_len = r->proto == POLICY_PROTO_ANY
					 ? POLICY4_ANY_PROTO_BITS
					 : POLICY4_FIXED_BITS + r->port_bits;
		kv->key.subject = htonl(identity_numbers[r->subject]);
		kv->key.peer =
		    htonl(r->peer == POLICY_PEER_ANY ? IDENTITY_ANY : identity_numbers[r->peer]);
		kv->key.direction = r->direction;
		kv->key.proto = r->proto;
		kv->key.port = htons(r->port);
		kv->value.policy = POLICY_NAME_F_POLICY | policy_numbers[r->policy];
	}
	qsort(rules, n_rules, sizeof(*rules), policy_kv_cmp);
	for (i = 0; i < state->n_ipcache; i++) {
		ipcache[i].key.prefix_len = state->ipcache[i].prefix_len;
		ipcache[i].key.address = state->ipcache[i].address;
		ipcache[i].value.identity = identity_numbers[state->ipcache[i].identity];
		ipcache[i].value.flags = state->ipcache[i].flags;
	}
	n_ipcache = state->n_ipcache + host_entries(sync, ipcache + state->n_ipcache);
	qsort(ipcache, n_ipcache, sizeof(*ipcache), ipcache_kv_cmp);
	n_ipcache = ipcache_dedup_hosts(ipcache, n_ipcache);
	/* The exact-match copy: the same entries, host bits cleared as the datapath's probes do. */
	for (i = 0; i < n_ipcache; i++) {
		uint8_t len = ipcache[i].key.prefix_len;

		exact[i] = ipcache[i];
		exact[i].key.address &= len ? htonl(~0u << (32 - len)) : 0;
	}
	qsort(exact, n_ipcache, sizeof(*exact), ipcache_kv_cmp);
	ipcache_lengths(exact, n_ipcache, &lengths);
	names[n_names].key = IDENTITY_HOST;
	snprintf(names[n_names].value.name, POLICY_NAME_LEN, "host (this node)");
	n_names++;
	qsort(names, n_names, sizeof(*names), u32_cmp);

	/* New rules first, then addresses, then what is gone: a moving pod never loses both. */
	ret = policy_sync_write(sync->maps.policy_names, names, n_names, sizeof(*names),
				sizeof(uint32_t), writes);
	err = err ? err : ret;
	ret = policy_sync_write(sync->maps.policy4, rules, n_rules, sizeof(*rules),
				sizeof(struct policy4_key), writes);
	err = err ? err : ret;
	/*
	 * While the ipcache changes, the exact copy is probed at the old and the new lengths (or
	 * the LPM answers), so either map gives the longest of the old and new prefixes, as the
	 * LPM always did; the new lengths alone once the stale entries are gone.
	 */
	if (sync->maps.ipcache4_lens >= 0) {
		if (bpf_map_lookup_elem(sync->maps.ipcache4_lens, &zero, &current))
			memset(&current, 0xff, sizeof(current)); /* unknown: always rewritten */
		ipcache_lengths_union(&current, &lengths, &interim);
		ret = ipcache_lengths_set(sync, &current, &interim);
		err = err ? err : ret;
	}
	ret = policy_sync_write(sync->maps.ipcache4, ipcache, n_ipcache, sizeof(*ipcache),
				sizeof(struct ipcache4_key), writes);
	err = err ? err : ret;
	if (sync->maps.ipcache4_exact >= 0) {
		ret = policy_sync_write(sync->maps.ipcache4_exact, exact, n_ipcache, sizeof(*exact),
					sizeof(struct ipcache4_key), writes);
		err = err ? err : ret;
	}
	if (bpf_map_update_elem(sync->maps.policy_cfg, &zero, &cfg, BPF_ANY))
		err = err ? err : -errno;
	ret = policy_sync_prune(sync->maps.ipcache4, ipcache, n_ipcache, sizeof(*ipcache),
				sizeof(struct ipcache4_key), ipcache_kv_cmp, writes);
	err = err ? err : ret;
	if (sync->maps.ipcache4_exact >= 0) {
		ret = policy_sync_prune(sync->maps.ipcache4_exact, exact, n_ipcache, sizeof(*exact),
					sizeof(struct ipcache4_key), ipcache_kv_cmp, writes);
		err = err ? err : ret;
		if (!err && sync->maps.ipcache4_lens >= 0)
			err = ipcache_lengths_set(sync, &current, &lengths);
	}
	ret = policy_sync_prune(sync->maps.policy4, rules, n_rules, sizeof(*rules),
				sizeof(struct policy4_key), policy_kv_cmp, writes);
	err = err ? err : ret;
	ret = policy_sync_prune(sync->maps.policy_names, names, n_names, sizeof(*names),
				sizeof(uint32_t), u32_cmp, writes);
	err = err ? err : ret;

	/* Numbers of keys no longer in use are free again. */
	for (i = 0; i < sync->n_numbers;) {
		if (sync->numbers[i].epoch == sync->epoch) {
			i++;
			continue;
		}
		free(sync->numbers[i].key);
		sync->numbers[i] = sync->numbers[--sync->n_numbers];
	}
out:
	if (err)
		log_warn("policy maps: %s", strerror(-err));
	free(identity_numbers);
	free(policy_numbers);
	free(rules);
	free(ipcache);
	free(exact);
	free(names);
	return err;
}
