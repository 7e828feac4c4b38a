/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of loader/sync/ share: the in-memory image of the service maps (struct sync_ctx)
 * and the functions one file calls in another. Not for use outside loader/sync/.
 */
#ifndef SLUICE_SYNC_INTERNAL_H
#define SLUICE_SYNC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/hash_table.h"
#include "loader/desired/maglev.h"
#include "loader/desired/state.h"
#include "loader/sync/policy_sync.h"
#include "loader/sync/sync.h"
#include "maps/ct.h"
#include "maps/lb.h"
#include "maps/node.h"

/*
 * Ids are handed out from a cursor that only moves forward (wrapping below this bound), so a
 * released svc_id or backend id is reused as late as possible: conntrack entries still carry
 * old ids, and an early reuse would give their replies another service's rev-NAT.
 */
#define SYNC_ID_LIMIT (1u << 24)

/* ---- in-memory image of the maps ---------------------------------------------------------- */

struct sync_backend {
	struct lb4_backend value; /* as in lb4_backends */
	uint32_t id;
	uint32_t refcount; /* services whose backend set holds this backend */
	bool is_pending;   /* on the delete-at-end-of-sync list */
};

struct sync_service {
	struct lb4_key key;
	uint32_t svc_id;
	uint8_t gen;	/* live slot generation */
	uint16_t flags; /* LB_SVC_F_* */
	uint32_t affinity_timeout_s;
	uint32_t n_slots;     /* lb4_service.count: slots 0..n_slots-1 of gen are live */
	struct cidr4 *ranges; /* loadBalancerSourceRanges in lb4_src_ranges, sorted */
	size_t n_ranges;
	uint32_t n_backends;
	uint32_t *backend_ids; /* the backend set, sorted by (address, port), distinct */
	char name[SLUICE_NAME_LEN];
	uint64_t epoch; /* last sync that saw this frontend in the desired state */
	bool is_dirty;	/* adopted slots are inconsistent: rewrite on the next sync */
	bool is_revnat_dirty;
	/*
	 * The generation a flip retired. Packets that read the frontend just before the flip may
	 * still pick from it, so its slots and backend references live on for the grace period.
	 */
	uint32_t retired_slots; /* slots 0..retired_slots-1 of retired_gen */
	uint32_t *retired_ids;	/* backend references the retired generation holds; NULL: none */
	uint32_t n_retired_ids;
	uint64_t retired_at_ns;
	uint8_t retired_gen;
	/* A write of its batch failed (sync_batch.c): the -errno, and the next such frontend. */
	int batch_err;
	struct sync_service *batch_next;
};

/* ---- the full sync's batched writes (sync_batch.c) ----------------------------------------- */

/*
 * Frontends per batch group: with Maglev tables of 4 KiB, about 270 KiB queued (256 made a peak
 * RSS 0.8 MB higher than one write per entry), and 10,000 frontends still take ~800 calls.
 */
#define SYNC_BATCH_FRONTENDS 64

/* The maps whose entries a new frontend owns alone, in the order they are written. */
enum {
	SYNC_QUEUE_SLOTS,
	SYNC_QUEUE_MAGLEV,
	SYNC_QUEUE_REVNAT,
	SYNC_QUEUE_VIPS,
	SYNC_QUEUE_SVC, /* last: the frontend goes live once everything it reads is there */
	SYNC_QUEUES,
};

struct sync_queue {
	int fd;
	const char *name;
	size_t key_size, value_size;
	unsigned char *keys, *values;
	struct sync_service **owners;
	size_t n, cap;
};

struct sync_batch {
	bool is_on;		    /* between sync_batch_begin() and sync_batch_end() */
	bool is_unsupported;	    /* the kernel refused a batch update: one by one since */
	struct sync_service *owner; /* the frontend being added: its writes are queued */
	size_t n_owners;	    /* frontends in the open group */
	struct sync_service *failed;
	unsigned long calls; /* batch updates made, ever */
	struct sync_queue queues[SYNC_QUEUES];
};

struct sync_ctx {
	/* The pinned maps' descriptors, the caller's (not closed here); node4_addrs and lb4_maglev
	 * are -1 on older pins. */
	struct sluice_maps maps;
	struct hash_table vips;	       /* VIP -> frontends on it (as uintptr_t) */
	struct hash_table services;    /* lb4_key -> sync_service */
	struct hash_table service_ids; /* svc_id -> sync_service */
	struct hash_table backends;    /* (address, port, proto) -> sync_backend */
	struct hash_table backend_ids; /* id -> sync_backend */
	uint32_t next_svc_id, next_backend_id;
	uint64_t epoch;
	unsigned long writes;	       /* lb4_* updates and deletes, ever */
	unsigned long adopt_writes;    /* of which done at open */
	struct sync_backend **pending; /* released to refcount 0 during this sync */
	size_t n_pending, cap_pending;
	struct lb_backend_addr *scratch; /* sorted copy of a desired backend list */
	size_t cap_scratch;
	struct hash_table retired;  /* svc_id -> sync_service with a retired generation */
	uint64_t retire_grace_ns;   /* how long a retired generation stays readable */
	struct policy_sync *policy; /* NetworkPolicy maps, NULL on pins without them */
	/* What node4_addrs holds (key 0.0.0.0 included), adopted at open, diffed at apply. */
	uint32_t node_keys[NODE_MAX_ADDRS];
	struct node4_addr node_values[NODE_MAX_ADDRS];
	size_t n_node;
	/* Maglev (maps/lb.h): its table size M and a table-sized buffer. */
	uint32_t maglev_size;
	uint32_t *maglev_table;
	struct maglev_backend *maglev_backends; /* scratch: one frontend's backends */
	size_t cap_maglev_backends;
	enum lb_algorithm algorithm; /* --lb-algorithm */
	struct sync_batch batch;
};

static inline uint64_t sync_svc_key(const struct lb4_key *key)
{
	return (uint64_t)key->address << 32 | (uint64_t)key->port << 16 |
	       (uint64_t)key->scope << 8 | key->proto;
}

static inline uint64_t sync_backend_key(uint32_t address, uint16_t port, uint8_t proto)
{
	return (uint64_t)address << 32 | (uint64_t)port << 16 | proto;
}

/* ---- sync_write.c -------------------------------------------------------------------------- */

int sync_update(struct sync_ctx *ctx, int fd, const void *key, const void *value);
int sync_delete(struct sync_ctx *ctx, int fd, const void *key);
int sync_slot_write(struct sync_ctx *ctx, uint32_t svc_id, uint8_t gen, uint32_t index,
		    uint32_t backend_id);
void sync_slots_delete(struct sync_ctx *ctx, uint32_t svc_id, uint8_t gen, uint32_t n);
int sync_revnat_write(struct sync_ctx *ctx, const struct sync_service *svc);
int sync_svc_write(struct sync_ctx *ctx, const struct lb4_key *key, uint32_t svc_id, uint32_t count,
		   uint8_t gen, uint16_t flags, uint32_t affinity_timeout_s);

/* ---- sync_batch.c -------------------------------------------------------------------------- */
/* Queue the writes of new frontends from here (sync_apply). */
void sync_batch_begin(struct sync_ctx *ctx);
/* The frontend SVC (or NULL: none) owns the writes that follow until the next call. */
void sync_batch_own(struct sync_ctx *ctx, struct sync_service *svc);
/* SVC's add failed: its queued writes are dropped. */
void sync_batch_cancel(struct sync_ctx *ctx, struct sync_service *svc);
/* When a group is open for an owner and FD is one of its maps: queued (*queued), 0 or -ENOMEM. */
int sync_batch_queue(struct sync_ctx *ctx, int fd, const void *key, const void *value,
		     bool *queued);
bool sync_batch_is_full(const struct sync_ctx *ctx);
/*
 * Write the open group; a frontend with a failed entry is removed and counted failed (added one
 * less). Returns 0 or the first failure's -errno.
 */
int sync_batch_flush(struct sync_ctx *ctx, struct sync_counts *counts);
/* Back to single writes; the queues' memory freed. */
void sync_batch_end(struct sync_ctx *ctx);

/* ---- sync_maglev.c ------------------------------------------------------------------------- */

void sync_maglev_delete(struct sync_ctx *ctx, uint32_t svc_id, uint8_t gen);
int sync_maglev_fill(struct sync_ctx *ctx, const uint32_t *ids, uint32_t n);
int sync_maglev_write(struct sync_ctx *ctx, uint32_t svc_id, uint8_t gen, const uint32_t *ids,
		      uint32_t n);
bool sync_is_maglev(const struct sync_ctx *ctx, const struct lb_frontend *frontend, size_t n);
int sync_maglev_open(struct sync_ctx *ctx);

/* ---- sync_ranges.c ------------------------------------------------------------------------- */

int sync_cidr_cmp(const void *a, const void *b);
int sync_ranges_sorted(const struct lb_frontend *frontend, struct cidr4 **out, size_t *n_out);
int sync_ranges_write(struct sync_ctx *ctx, uint32_t svc_id, const struct cidr4 *ranges, size_t n);
void sync_ranges_delete(struct sync_ctx *ctx, uint32_t svc_id, const struct cidr4 *old,
			size_t n_old, const struct cidr4 *keep, size_t n_keep);
void sync_affinity_forget(struct sync_ctx *ctx, uint32_t svc_id, const uint32_t *keep,
			  uint32_t n_keep);
int sync_vip_write(struct sync_ctx *ctx, uint32_t vip, uintptr_t frontends);
int sync_vip_ref(struct sync_ctx *ctx, uint32_t vip);
void sync_vip_unref(struct sync_ctx *ctx, uint32_t vip);
bool sync_ranges_equal(const struct sync_service *svc, const struct lb_frontend *frontend);

/* ---- sync_backends.c ----------------------------------------------------------------------- */

uint32_t sync_id_alloc(const struct hash_table *used, uint32_t *cursor);
void sync_backends_release(struct sync_ctx *ctx, const uint32_t *ids, uint32_t n);
int sync_backends_acquire(struct sync_ctx *ctx, const struct lb_backend_addr *addrs, size_t n,
			  uint8_t proto, struct sync_counts *counts, uint32_t **out);
int sync_backends_collect(struct sync_ctx *ctx, struct sync_counts *counts);

/* ---- sync_frontends.c ---------------------------------------------------------------------- */

uint16_t sync_frontend_flags(const struct sync_ctx *ctx, const struct lb_frontend *frontend,
			     size_t n);
void sync_service_free(struct sync_service *svc);
bool sync_backends_equal(const struct sync_ctx *ctx, const struct sync_service *svc,
			 const struct lb_backend_addr *addrs, size_t n);
int sync_service_add(struct sync_ctx *ctx, const struct lb4_key *key,
		     const struct lb_frontend *frontend, const struct lb_backend_addr *addrs,
		     size_t n, struct sync_counts *counts);
uint64_t sync_now_ns(void);
void sync_retire_expired(struct sync_ctx *ctx, uint64_t now_ns);
int sync_service_update(struct sync_ctx *ctx, struct sync_service *svc,
			const struct lb_frontend *frontend, const struct lb_backend_addr *addrs,
			size_t n, struct sync_counts *counts);
int sync_service_remove(struct sync_ctx *ctx, struct sync_service *svc);

/* ---- sync_conntrack.c ---------------------------------------------------------------------- */

int sync_ct_flush_udp(int ct4_fd, const struct hash_table *backend_ids);

/* ---- sync_node.c --------------------------------------------------------------------------- */

int sync_node_addrs(struct sync_ctx *ctx, const struct desired_state *state);
int sync_adopt_node_addrs(struct sync_ctx *ctx);

/* ---- sync_adopt.c -------------------------------------------------------------------------- */

int sync_adopt(struct sync_ctx *ctx);

/* ---- datapath.c: what another object's loader (sock_lb.c) shares with the uplink's ---------- */
struct bpf_map;
struct bpf_object;
struct datapath_opts;
struct datapath_result;

/* Size lb4_maglev (and RODATA_SIZE, the programs' index bound, unless NULL) for opts' M. */
int datapath_set_maglev(struct bpf_map *maglev, __u32 *rodata_size,
			const struct datapath_opts *opts);
/* Size ct4 as the pod object did and compare every map of OBJ with its pin. 0 or -errno. */
int datapath_prepare_object(struct bpf_object *obj, struct bpf_map *ct4,
			    const struct datapath_opts *opts, struct datapath_result *result);

#endif
