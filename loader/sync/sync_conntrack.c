// SPDX-License-Identifier: Apache-2.0
/* Conntrack sweeps over ct4: expiry (the agent's GC) and the UDP flush of removed backends. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "lib/map_walk.h"
#include "loader/sync/sync_internal.h"

/* Entries fetched per BPF_MAP_LOOKUP_BATCH call while sweeping ct4. */
#define SYNC_CT_BATCH 4096

/*
 * Delete KEY if IS_STALE still picks it now. The sweep read the entry a while ago (up to a
 * batch of syscalls), and the datapath may since have written a new flow's entry on the same
 * tuple: a forward entry over an expired one, or a reply entry taken over (ct4_take_over).
 * BPF maps have no compare-and-delete from userspace, so the delete takes the entry and its
 * value in one step and judges that value: a live one goes back with BPF_NOEXIST (a key the
 * datapath wrote yet again meanwhile keeps the datapath's entry). Residual window: a packet of
 * such a re-created flow in the microseconds between the two syscalls misses its entry (a
 * forward packet starts the flow again, a reply passes untranslated); only entries re-created
 * during this very sweep are exposed. Kernels without lookup-and-delete on hash maps (before
 * 5.14) re-read, judge and delete instead: there the window is the one between those two
 * syscalls, and an entry re-created in it is lost. Returns 1 when deleted, else 0.
 */
static int sync_ct_delete_stale(int ct4_fd, const struct ct4_key *key, sync_ct_is_stale_fn is_stale,
				const void *arg)
{
	struct ct_entry entry;
	int err;

	err = bpf_map_lookup_and_delete_elem(ct4_fd, key, &entry);
	if (err == 0) {
		if (is_stale(key, &entry, arg))
			return 1;
		bpf_map_update_elem(ct4_fd, key, &entry, BPF_NOEXIST);
		return 0;
	}
	if (err == -ENOENT)
		return 0;
	if (bpf_map_lookup_elem(ct4_fd, key, &entry) || !is_stale(key, &entry, arg))
		return 0;
	return bpf_map_delete_elem(ct4_fd, key) == 0;
}

/*
 * Walk ct4 one key at a time and delete the entries IS_STALE() picks: the fallback for kernels
 * without batch operations on the map (map_walk fetches the successor before the entry it hands
 * out is deleted).
 */
static int sync_ct_walk_keys(int ct4_fd, sync_ct_is_stale_fn is_stale, const void *arg)
{
	struct ct4_key key;
	struct ct_entry entry;
	struct map_walk walk;
	int deleted = 0;

	map_walk_start(&walk, ct4_fd, sizeof(key), sizeof(entry));
	while (map_walk_next(&walk, &key, &entry))
		if (is_stale(&key, &entry, arg))
			deleted += sync_ct_delete_stale(ct4_fd, &key, is_stale, arg);
	return walk.err ? walk.err : deleted;
}

/*
 * Batches of SYNC_CT_BATCH entries per syscall: a key-by-key walk costs two syscalls per entry,
 * ~0.5 s of CPU for a full table of 262,144, taken from the packets of the same node every
 * sweep. Entries written meanwhile may be missed or seen twice (the kernel walks bucket by
 * bucket), which a sweep tolerates; each delete is judged again (sync_ct_delete_stale).
 */
int sync_ct_sweep(int ct4_fd, sync_ct_is_stale_fn is_stale, const void *arg)
{
	struct ct4_key *keys = malloc(SYNC_CT_BATCH * sizeof(*keys));
	struct ct_entry *entries = malloc(SYNC_CT_BATCH * sizeof(*entries));
	__u32 batch = 0, count;
	bool is_first = true, is_done = false;
	int deleted = 0, err = 0;

	if (!keys || !entries) {
		free(keys);
		free(entries);
		return sync_ct_walk_keys(ct4_fd, is_stale, arg);
	}
	while (!is_done) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		count = SYNC_CT_BATCH;
		err = bpf_map_lookup_batch(ct4_fd, is_first ? NULL : &batch, &batch, keys, entries,
					   &count, &opts);
		if (err && err != -ENOENT) {
			if (is_first && (err == -EINVAL || err == -EOPNOTSUPP || err == -524)) {
				err = 0; /* no batch operations here (524: ENOTSUPP) */
				deleted = sync_ct_walk_keys(ct4_fd, is_stale, arg);
			}
			break;
		}
		is_done = err == -ENOENT;
		err = 0;
		is_first = false;
		for (__u32 i = 0; i < count; i++)
			if (is_stale(&keys[i], &entries[i], arg))
				deleted += sync_ct_delete_stale(ct4_fd, &keys[i], is_stale, arg);
	}
	free(keys);
	free(entries);
	return err ? err : deleted;
}

struct sync_ct_expiry {
	uint64_t now_ns;
	uint32_t *kept; /* entries judged live */
};

/*
 * Expired CT_GC_MARGIN_NS ago: no datapath clock still sees it live. An entry marked
 * CT_EXPIRES_DROPPING belongs to the CPU early-dropping it (bpf/lib/ct.h), which deletes it or
 * puts its deadline back.
 */
static bool sync_ct_is_expired(const struct ct4_key *key, const struct ct_entry *entry,
			       const void *arg)
{
	const struct sync_ct_expiry *expiry = arg;

	(void)key;
	if (entry->expires_ns != CT_EXPIRES_DROPPING &&
	    entry->expires_ns + CT_GC_MARGIN_NS < expiry->now_ns)
		return true;
	(*expiry->kept)++;
	return false;
}

int sync_ct_expire(int ct4_fd, uint64_t now_ns, uint32_t *kept)
{
	uint32_t count = 0;
	struct sync_ct_expiry expiry = {.now_ns = now_ns, .kept = &count};
	int ret = sync_ct_sweep(ct4_fd, sync_ct_is_expired, &expiry);

	if (kept)
		*kept = count;
	return ret;
}

static bool sync_ct_is_removed_udp(const struct ct4_key *key, const struct ct_entry *entry,
				   const void *arg)
{
	return key->proto == IPPROTO_UDP && entry->backend_id &&
	       hash_table_get_u64(arg, entry->backend_id) != NULL;
}

/* Delete the UDP entries of ct4 whose backend id is a key of BACKEND_IDS: the deleted or -errno. */
int sync_ct_flush_udp(int ct4_fd, const struct hash_table *backend_ids)
{
	return sync_ct_sweep(ct4_fd, sync_ct_is_removed_udp, backend_ids);
}
