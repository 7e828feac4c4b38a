/* SPDX-License-Identifier: Apache-2.0 */
/* A fresh, unpinned tc_pod object per test, the map seeding helpers and the test topology. */
#ifndef SLUICE_TESTS_FIXTURE_H
#define SLUICE_TESTS_FIXTURE_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/pkt_cls.h> /* TC_ACT_* */
#include <linux/types.h>

#include "maps/ct.h"
#include "maps/endpoints.h"
#include "maps/events.h"
#include "maps/lb.h"
#include "maps/stats.h"
#include "tests/bpf/pkt.h"

/* a.b.c.d in network byte order, usable in static initializers (htonl is not constant). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TEST_IP(a, b, c, d) ((uint32_t)(d) << 24 | (uint32_t)(c) << 16 | (uint32_t)(b) << 8 | (a))
#else
#define TEST_IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#endif

/*
 * The topology every test shares: a client pod sends to a ClusterIP service whose backends are
 * A (chosen), B (present but outside the live count) and C (only in the other generation).
 */
#define TEST_CLIENT_IP	       TEST_IP(10, 0, 1, 5)
#define TEST_OTHER_IP	       TEST_IP(10, 0, 9, 9) /* neither VIP nor pod */
#define TEST_VIP	       TEST_IP(10, 96, 0, 10)
#define TEST_VIP_PORT	       htons(80)
#define TEST_BACKEND_A	       TEST_IP(10, 0, 1, 10)
#define TEST_BACKEND_B	       TEST_IP(10, 0, 2, 20)
#define TEST_BACKEND_C	       TEST_IP(10, 0, 3, 30)
#define TEST_BACKEND_PORT      htons(8080)
#define TEST_CLIENT_PORT       htons(40000)
#define TEST_HAIRPIN_IP	       TEST_IP(169, 254, 42, 1)
#define TEST_SVC_ID	       7u
#define TEST_BACKEND_A_ID      1u
#define TEST_BACKEND_B_ID      2u
#define TEST_BACKEND_C_ID      3u
#define TEST_INGRESS_IFINDEX   1 /* loopback: the device BPF_PROG_TEST_RUN gives the skb */
#define TEST_BACKEND_A_IFINDEX 42

extern const uint8_t test_client_mac[6];    /* client pod's eth0 */
extern const uint8_t test_gateway_mac[6];   /* client's host-side veth */
extern const uint8_t test_backend_a_mac[6]; /* backend A pod's eth0 */
extern const uint8_t test_backend_a_host_mac[6];

struct tc_pod;
struct bpf_object;
struct bpf_map;

struct fixture {
	struct tc_pod *skel;
	int prog_fd;
	uint32_t ct_entries;   /* ct4's size, set before fixture_open(); 0: FIXTURE_CT_ENTRIES */
	uint32_t masq_ifindex; /* tc_pod's masq_ifindex (egress masquerade), set before open */
};

/*
 * Opens the skeleton with every map unpinned (nothing in /sys/fs/bpf is created or reused),
 * sets hairpin_ip and loads it. Returns 0, or -errno.
 */
int fixture_open(struct fixture *f);
void fixture_close(struct fixture *f);
/*
 * Before another program's object (tc_node, xdp_node, tc_to_pod) is loaded: every map of OBJ
 * that tc_pod also has becomes tc_pod's, the others are created unpinned. Returns 0 or -errno.
 */
int fixture_share_maps(struct fixture *f, struct bpf_object *obj);

/*
 * One BPF_PROG_TEST_RUN pass (repeat = 1) of in; the output frame lands in out. The frame comes
 * in on its sender's veth: the ep4 ifindex of its IPv4 source (or ARP sender) when that is
 * registered, else TEST_INGRESS_IFINDEX. fixture_open() registers the client there.
 */
int fixture_run(struct fixture *f, const struct pkt *in, struct pkt *out, int *verdict);
/* The same, coming in on the veth with this ifindex whatever its source claims. */
int fixture_run_on(struct fixture *f, uint32_t ingress_ifindex, const struct pkt *in,
		   struct pkt *out, int *verdict);

/* One entry of any of the fixture's maps (BPF_ANY). Returns 0 or -errno. */
int fixture_map_update(struct bpf_map *map, const void *key, const void *value);
/*
 * For programs that ask the kernel (route lookups, MTU checks): a network namespace of the
 * test's own, entered after saving the runner's in *home_netns, then SETUP (a shell command: the
 * devices, addresses and routes) run in it. Asserts each step; false when one failed. Nothing
 * is left behind: the namespace goes with its last user.
 */
bool fixture_netns_enter(int *home_netns, const char *setup);
/* Back into the runner's namespace, *home_netns closed and -1; nothing when it is already. */
void fixture_netns_leave(int *home_netns);

int fixture_set_service(struct fixture *f, __be32 vip, __be16 port, uint8_t proto, uint32_t svc_id,
			uint16_t count, uint8_t gen);
/* Adds LB_SVC_F_* flags (and the affinity timeout) to an existing service. */
int fixture_set_service_options(struct fixture *f, __be32 vip, __be16 port, uint8_t proto,
				uint16_t flags, uint32_t affinity_timeout_s);
/* Admits address/prefix_len for svc_id in lb4_src_ranges. */
int fixture_set_source_range(struct fixture *f, uint32_t svc_id, __be32 address,
			     uint8_t prefix_len);
int fixture_set_slot(struct fixture *f, uint32_t svc_id, uint8_t gen, uint16_t index,
		     uint32_t backend_id);
int fixture_set_backend(struct fixture *f, uint32_t backend_id, __be32 address, __be16 port,
			uint8_t proto);
int fixture_set_revnat(struct fixture *f, uint32_t svc_id, __be32 vip, __be16 port, uint8_t proto);
int fixture_delete_revnat(struct fixture *f, uint32_t svc_id);
int fixture_set_endpoint(struct fixture *f, __be32 address, uint32_t ifindex, const uint8_t mac[6],
			 const uint8_t host_mac[6]);
/*
 * Backend A as a pod on this node, behind veth TEST_BACKEND_A_IFINDEX: its packets (replies,
 * ICMP errors) come in on that veth, the only place tc_pod accepts them from.
 */
int fixture_set_endpoint_backend_a(struct fixture *f);

/*
 * The standard service TEST_VIP:TEST_VIP_PORT/proto, id TEST_SVC_ID, count 1 in generation 0:
 * slot 0 -> A. Decoys that a correct program never picks: generation 0 slot 1 -> B (beyond
 * count) and generation 1 slot 0 -> C (not live). Rev-NAT entry included.
 */
int fixture_seed_service(struct fixture *f, uint8_t proto);

/* Counters summed over every possible CPU; UINT64_MAX when the map cannot be read. */
uint64_t fixture_stat(struct fixture *f, enum stat_id id);
/* A reason's drops in both directions, and in one. */
uint64_t fixture_drop(struct fixture *f, enum drop_reason reason);
uint64_t fixture_drop_dir(struct fixture *f, enum drop_reason reason, enum drop_dir dir);
/* New flows counted under the frontend SVC_ID (svc_flows); 0 when it has none. */
uint64_t fixture_service_flows(struct fixture *f, uint32_t svc_id);
uint64_t fixture_drops_total(struct fixture *f);
/* Sum over every stat_id: each packet is counted once, under its outcome. */
uint64_t fixture_stats_total(struct fixture *f);

/* Flow events read from the events ring (maps/events.h). */
#define FIXTURE_MAX_EVENTS 4096
struct fixture_events {
	struct flow_event events[FIXTURE_MAX_EVENTS];
	size_t count; /* may exceed FIXTURE_MAX_EVENTS: only the first are kept */
};

/* Everything in the ring since the last read, into SEEN (emptied first). Asserts it worked. */
bool fixture_events_read(struct fixture *f, struct fixture_events *seen);

/* events_lost[ID] summed over every CPU; UINT64_MAX when it cannot be read. */
uint64_t fixture_events_lost(struct fixture *f, uint32_t id);

/* Looks up a conntrack entry by its wire tuple. Returns 0 or -ENOENT. */
int fixture_ct_lookup(struct fixture *f, __be32 saddr, __be32 daddr, __be16 sport, __be16 dport,
		      uint8_t proto, struct ct_entry *entry);
/* Number of entries in ct4, or -errno. */
int fixture_ct_count(struct fixture *f);
/* The early-drop ring's counters (maps/ct.h). Returns 0 or -errno. */
int fixture_ct_pressure(struct fixture *f, uint64_t *early_drops, uint64_t *insert_failed);
/* The time until which the datapath takes ct4 to be full (ct4_ring.full_until). 0 or -errno. */
int fixture_ct_full_until(struct fixture *f, uint64_t *full_until);
/* Deletes a conntrack entry by its wire tuple, as the agent's GC would. Returns 0 or -errno. */
int fixture_ct_delete(struct fixture *f, __be32 saddr, __be32 daddr, __be16 sport, __be16 dport,
		      uint8_t proto);
/*
 * Sets the datapath clock (the clock map's now_ns, which the programs read instead of the
 * kernel's while it is not 0): a test chooses "now" and can move it on. Returns 0 or -errno.
 */
int fixture_set_clock(struct fixture *f, uint64_t now_ns);

/*
 * Opens the fixture and, when proto is not 0, seeds the standard service; asserts each step. Only
 * a load refused with EPERM when not root skips the test (saying so); as root it fails.
 */
bool fixture_setup(struct fixture *f, uint8_t proto);

/*
 * Runs in and asserts the verdict, a byte-identical output frame, no conntrack entry created and
 * no translation counted. what names the case in messages.
 */
bool fixture_expect_untouched(struct fixture *f, const struct pkt *in, int verdict,
			      const char *what);

/* NetworkPolicy maps (maps/policy.h) as the agent writes them. Each returns 0 or -errno. */
int fixture_policy_enable(struct fixture *f, bool is_enabled);
/* An ipcache4 (LPM) entry. */
int fixture_policy_address(struct fixture *f, __be32 address, uint32_t prefix_len,
			   uint32_t identity, uint32_t flags);
/* A policy4 rule admitting PEER to SUBJECT in DIRECTION on proto/port (first port_bits bits). */
int fixture_policy_rule(struct fixture *f, uint32_t subject, uint32_t peer, uint8_t direction,
			uint8_t proto, uint16_t port, uint8_t port_bits);

/* A client -> VIP spec for the standard topology (TCP SYN or UDP with a small payload). */
struct pkt_spec fixture_client_spec(uint8_t proto);
/* Backend A's answer to fixture_client_spec(proto), as it leaves backend A's pod. */
struct pkt_spec fixture_reply_spec(uint8_t proto);

#endif
