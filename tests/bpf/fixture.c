// SPDX-License-Identifier: Apache-2.0
/* A fresh, unpinned tc_pod object per test, seeded through its map fds. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/dp_counters.h"
#include "maps/policy.h"
#include "skel/tc_pod.skel.h"
#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

/* Small conntrack table: tests create a handful of flows, and a fresh map is preallocated. */
#define FIXTURE_CT_ENTRIES 16384

const uint8_t test_client_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x05};
const uint8_t test_gateway_mac[6] = {0x02, 0x00, 0x00, 0x00, 0xfe, 0x05};
const uint8_t test_backend_a_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x0a};
const uint8_t test_backend_a_host_mac[6] = {0x02, 0x00, 0x00, 0x00, 0xfe, 0x0a};

int fixture_open(struct fixture *f)
{
	struct bpf_map *map;
	int err;

	f->prog_fd = -1;
	f->skel = tc_pod__open();
	if (!f->skel) {
		err = -errno;
		goto fail;
	}
	/* Pinning by name would share (and clobber) a running agent's maps in /sys/fs/bpf. */
	bpf_object__for_each_map(map, f->skel->obj)
	{
		err = bpf_map__set_pin_path(map, NULL);
		if (err)
			goto fail;
	}
	err = bpf_map__set_max_entries(f->skel->maps.ct4,
				       f->ct_entries ? f->ct_entries : FIXTURE_CT_ENTRIES);
	if (err)
		goto fail;
	f->skel->rodata->hairpin_ip = TEST_HAIRPIN_IP;
	f->skel->rodata->masq_ifindex = f->masq_ifindex;
	err = tc_pod__load(f->skel);
	if (err)
		goto fail;
	f->prog_fd = bpf_program__fd(f->skel->progs.tc_pod_ingress);
	/* The client is a pod on the test device: tc_pod accepts only registered senders. */
	err = fixture_set_endpoint(f, TEST_CLIENT_IP, TEST_INGRESS_IFINDEX, test_client_mac,
				   test_gateway_mac);
	if (err)
		goto fail;
	return 0;
fail:
	fixture_close(f);
	return err;
}

void fixture_close(struct fixture *f)
{
	tc_pod__destroy(f->skel);
	f->skel = NULL;
	f->prog_fd = -1;
}

int fixture_share_maps(struct fixture *f, struct bpf_object *obj)
{
	struct bpf_map *map, *same;
	int err;

	bpf_object__for_each_map(map, obj)
	{
		err = bpf_map__set_pin_path(map, NULL);
		if (err)
			return err;
		same = bpf_object__find_map_by_name(f->skel->obj, bpf_map__name(map));
		if (same && strstr(bpf_map__name(map), ".rodata") == NULL &&
		    strstr(bpf_map__name(map), ".bss") == NULL) {
			err = bpf_map__reuse_fd(map, bpf_map__fd(same));
			if (err)
				return err;
		}
	}
	return 0;
}

/* The ep4 ifindex of the frame's IPv4 source or ARP sender, or TEST_INGRESS_IFINDEX. */
static uint32_t fixture_sender_ifindex(struct fixture *f, const struct pkt *in)
{
	struct ep4_key key = {0};
	struct ep4_info info;
	uint16_t ethertype;
	size_t off;

	if (in->len < 14)
		return TEST_INGRESS_IFINDEX;
	ethertype = (uint16_t)(in->data[12] << 8 | in->data[13]);
	off = ethertype == 0x0800 ? 14 + 12 : ethertype == 0x0806 ? 14 + 14 : 0;
	if (!off || in->len < off + 4)
		return TEST_INGRESS_IFINDEX;
	memcpy(&key.address, in->data + off, 4);
	if (bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.ep4), &key, &info))
		return TEST_INGRESS_IFINDEX;
	return info.ifindex;
}

int fixture_run(struct fixture *f, const struct pkt *in, struct pkt *out, int *verdict)
{
	return fixture_run_on(f, fixture_sender_ifindex(f, in), in, out, verdict);
}

int fixture_run_on(struct fixture *f, uint32_t ingress_ifindex, const struct pkt *in,
		   struct pkt *out, int *verdict)
{
	/*
	 * The skb arrives on loopback (the device BPF_PROG_TEST_RUN needs); ingress_ifindex, the
	 * device the source check compares, is the sender's veth.
	 */
	struct __sk_buff ctx = {
	    .ifindex = TEST_INGRESS_IFINDEX,
	    .ingress_ifindex = ingress_ifindex,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data, .data_size_in = (__u32)in->len,
		    .data_out = out->data, .data_size_out = sizeof(out->data), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err;

	memset(out, 0, sizeof(*out));
	err = bpf_prog_test_run_opts(f->prog_fd, &opts);
	if (err)
		return err;
	out->len = opts.data_size_out;
	*verdict = (int)opts.retval;
	return 0;
}

int fixture_map_update(struct bpf_map *map, const void *key, const void *value)
{
	return bpf_map_update_elem(bpf_map__fd(map), key, value, BPF_ANY) ? -errno : 0;
}

bool fixture_netns_enter(int *home_netns, const char *setup)
{
	*home_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (!ASSERT_TRUE(*home_netns >= 0, "open the runner's netns") ||
	    !ASSERT_OK(unshare(CLONE_NEWNET) ? -errno : 0, "unshare(CLONE_NEWNET)"))
		return false;
	return ASSERT_OK(system(setup) == 0 ? 0 : -EIO, "devices in the test's netns");
}

void fixture_netns_leave(int *home_netns)
{
	if (*home_netns < 0)
		return;
	if (setns(*home_netns, CLONE_NEWNET))
		test_fail(__FILE__, __LINE__, "setns back to the runner's netns: %s",
			  strerror(errno));
	close(*home_netns);
	*home_netns = -1;
}

/* A frontend's key, its padding zero (it is part of the hash). */
static struct lb4_key fixture_lb_key(__be32 vip, __be16 port, uint8_t proto)
{
	struct lb4_key key;

	memset(&key, 0, sizeof(key));
	key.address = vip;
	key.port = port;
	key.proto = proto;
	return key;
}

int fixture_set_service(struct fixture *f, __be32 vip, __be16 port, uint8_t proto, uint32_t svc_id,
			uint16_t count, uint8_t gen)
{
	struct lb4_key key = fixture_lb_key(vip, port, proto);
	struct lb4_service value;
	struct lb4_vip vip_value = {0};
	bool existed;
	int err;

	memset(&value, 0, sizeof(value));
	existed = bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.lb4_svc), &key, &value) == 0;
	memset(&value, 0, sizeof(value));
	value.svc_id = svc_id;
	value.count = count;
	value.gen = gen;
	value.flags = LB_SVC_F_CLUSTER_IP;
	err = fixture_map_update(f->skel->maps.lb4_svc, &key, &value);
	if (err)
		return err;
	/* As the agent does: the address is a frontend, for packets whose ports are unreadable. */
	if (bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.lb4_vips), &vip, &vip_value))
		vip_value.frontends = 0;
	if (!existed)
		vip_value.frontends++;
	return fixture_map_update(f->skel->maps.lb4_vips, &vip, &vip_value);
}

int fixture_set_slot(struct fixture *f, uint32_t svc_id, uint8_t gen, uint16_t index,
		     uint32_t backend_id)
{
	struct lb4_slot_key key;

	memset(&key, 0, sizeof(key));
	key.svc_id = svc_id;
	key.index = index;
	key.gen = gen;
	return fixture_map_update(f->skel->maps.lb4_slots, &key, &backend_id);
}

int fixture_set_service_options(struct fixture *f, __be32 vip, __be16 port, uint8_t proto,
				uint16_t flags, uint32_t affinity_timeout_s)
{
	struct lb4_key key = fixture_lb_key(vip, port, proto);
	struct lb4_service value;
	int err;

	err = bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.lb4_svc), &key, &value);
	if (err)
		return -errno;
	value.flags |= flags;
	value.affinity_timeout_s = affinity_timeout_s;
	return fixture_map_update(f->skel->maps.lb4_svc, &key, &value);
}

int fixture_set_source_range(struct fixture *f, uint32_t svc_id, __be32 address, uint8_t prefix_len)
{
	struct lb4_src_range_key key;
	uint8_t one = 1;

	memset(&key, 0, sizeof(key));
	key.prefix_len = 32 + prefix_len;
	key.svc_id = htonl(svc_id);
	key.address = address;
	return fixture_map_update(f->skel->maps.lb4_src_ranges, &key, &one);
}

int fixture_set_backend(struct fixture *f, uint32_t backend_id, __be32 address, __be16 port,
			uint8_t proto)
{
	struct lb4_backend value;

	memset(&value, 0, sizeof(value));
	value.address = address;
	value.port = port;
	value.proto = proto;
	return fixture_map_update(f->skel->maps.lb4_backends, &backend_id, &value);
}

int fixture_set_revnat(struct fixture *f, uint32_t svc_id, __be32 vip, __be16 port, uint8_t proto)
{
	struct lb4_revnat value;

	memset(&value, 0, sizeof(value));
	value.address = vip;
	value.port = port;
	value.proto = proto;
	strncpy(value.name, "default/web:http", sizeof(value.name) - 1);
	return fixture_map_update(f->skel->maps.lb4_revnat, &svc_id, &value);
}

int fixture_delete_revnat(struct fixture *f, uint32_t svc_id)
{
	return bpf_map_delete_elem(bpf_map__fd(f->skel->maps.lb4_revnat), &svc_id) ? -errno : 0;
}

int fixture_set_endpoint_backend_a(struct fixture *f)
{
	return fixture_set_endpoint(f, TEST_BACKEND_A, TEST_BACKEND_A_IFINDEX, test_backend_a_mac,
				    test_backend_a_host_mac);
}

int fixture_set_endpoint(struct fixture *f, __be32 address, uint32_t ifindex, const uint8_t mac[6],
			 const uint8_t host_mac[6])
{
	struct ep4_key key;
	struct ep4_info value;

	memset(&key, 0, sizeof(key));
	memset(&value, 0, sizeof(value));
	key.address = address;
	value.ifindex = ifindex;
	memcpy(value.mac, mac, 6);
	memcpy(value.host_mac, host_mac, 6);
	strncpy(value.name, "default/pod", sizeof(value.name) - 1);
	return fixture_map_update(f->skel->maps.ep4, &key, &value);
}

int fixture_seed_service(struct fixture *f, uint8_t proto)
{
	int err;

	err = fixture_set_backend(f, TEST_BACKEND_A_ID, TEST_BACKEND_A, TEST_BACKEND_PORT, proto);
	err = err
		  ?: fixture_set_backend(f, TEST_BACKEND_B_ID, TEST_BACKEND_B, TEST_BACKEND_PORT,
					 proto);
	err = err
		  ?: fixture_set_backend(f, TEST_BACKEND_C_ID, TEST_BACKEND_C, TEST_BACKEND_PORT,
					 proto);
	err = err ?: fixture_set_slot(f, TEST_SVC_ID, 0, 0, TEST_BACKEND_A_ID);
	err = err ?: fixture_set_slot(f, TEST_SVC_ID, 0, 1, TEST_BACKEND_B_ID);
	err = err ?: fixture_set_slot(f, TEST_SVC_ID, 1, 0, TEST_BACKEND_C_ID);
	err = err ?: fixture_set_revnat(f, TEST_SVC_ID, TEST_VIP, TEST_VIP_PORT, proto);
	err = err ?: fixture_set_service(f, TEST_VIP, TEST_VIP_PORT, proto, TEST_SVC_ID, 1, 0);
	return err;
}

static uint64_t percpu_sum(struct bpf_map *map, uint32_t key)
{
	int cpus = libbpf_num_possible_cpus();
	struct stat_value *values;
	uint64_t sum = 0;
	int i;

	if (cpus <= 0)
		return UINT64_MAX;
	values = calloc((size_t)cpus, sizeof(*values));
	if (!values)
		return UINT64_MAX;
	if (bpf_map_lookup_elem(bpf_map__fd(map), &key, values)) {
		free(values);
		return UINT64_MAX;
	}
	for (i = 0; i < cpus; i++)
		sum += values[i].packets;
	free(values);
	return sum;
}

uint64_t fixture_stat(struct fixture *f, enum stat_id id)
{
	return percpu_sum(f->skel->maps.stats, id);
}

uint64_t fixture_drop_dir(struct fixture *f, enum drop_reason reason, enum drop_dir dir)
{
	return percpu_sum(f->skel->maps.drops, DROPS_KEY(reason, dir));
}

uint64_t fixture_drop(struct fixture *f, enum drop_reason reason)
{
	uint64_t ingress = fixture_drop_dir(f, reason, DROP_DIR_INGRESS);
	uint64_t egress = fixture_drop_dir(f, reason, DROP_DIR_EGRESS);

	return ingress == UINT64_MAX || egress == UINT64_MAX ? UINT64_MAX : ingress + egress;
}

uint64_t fixture_service_flows(struct fixture *f, uint32_t svc_id)
{
	int cpus = libbpf_num_possible_cpus();
	uint64_t *values, sum = 0;

	if (cpus <= 0)
		return UINT64_MAX;
	values = calloc((size_t)cpus, sizeof(*values));
	if (!values)
		return UINT64_MAX;
	if (bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.svc_flows), &svc_id, values)) {
		free(values);
		return 0; /* no flow yet: the datapath adds the entry at the first */
	}
	for (int i = 0; i < cpus; i++)
		sum += values[i];
	free(values);
	return sum;
}

static int fixture_on_event(void *ctx, void *data, size_t size)
{
	struct fixture_events *seen = ctx;

	if (size == sizeof(struct flow_event) && seen->count < FIXTURE_MAX_EVENTS)
		memcpy(&seen->events[seen->count], data, size);
	seen->count++;
	return 0;
}

bool fixture_events_read(struct fixture *f, struct fixture_events *seen)
{
	struct ring_buffer *ring;
	int n;

	seen->count = 0;
	ring = ring_buffer__new(bpf_map__fd(f->skel->maps.events), fixture_on_event, seen, NULL);
	if (!ASSERT_TRUE(ring != NULL, "ring_buffer__new"))
		return false;
	n = ring_buffer__consume(ring);
	ring_buffer__free(ring);
	return ASSERT_TRUE(n >= 0, "ring_buffer__consume");
}

uint64_t fixture_events_lost(struct fixture *f, uint32_t id)
{
	__u64 lost[EVENTS_LOST_MAX];

	if (id >= EVENTS_LOST_MAX ||
	    dp_percpu_sum_u64(bpf_map__fd(f->skel->maps.events_lost), EVENTS_LOST_MAX, 1, lost))
		return UINT64_MAX;
	return lost[id];
}

uint64_t fixture_drops_total(struct fixture *f)
{
	uint64_t sum = 0, value;
	int reason;

	for (reason = 0; reason < DROP_MAX; reason++) {
		value = fixture_drop(f, (enum drop_reason)reason);
		if (value == UINT64_MAX)
			return UINT64_MAX;
		sum += value;
	}
	return sum;
}

uint64_t fixture_stats_total(struct fixture *f)
{
	uint64_t sum = 0, value;
	int id;

	for (id = 0; id < STAT_MAX; id++) {
		value = fixture_stat(f, (enum stat_id)id);
		if (value == UINT64_MAX)
			return UINT64_MAX;
		sum += value;
	}
	return sum;
}

/* A conntrack key, its padding zero (it is part of the hash). */
static struct ct4_key fixture_ct_key(__be32 saddr, __be32 daddr, __be16 sport, __be16 dport,
				     uint8_t proto)
{
	struct ct4_key key;

	memset(&key, 0, sizeof(key));
	key.saddr = saddr;
	key.daddr = daddr;
	key.sport = sport;
	key.dport = dport;
	key.proto = proto;
	return key;
}

int fixture_ct_lookup(struct fixture *f, __be32 saddr, __be32 daddr, __be16 sport, __be16 dport,
		      uint8_t proto, struct ct_entry *entry)
{
	struct ct4_key key = fixture_ct_key(saddr, daddr, sport, dport, proto);

	return bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.ct4), &key, entry) ? -errno : 0;
}

int fixture_ct_count(struct fixture *f)
{
	struct ct4_key key, next;
	int fd = bpf_map__fd(f->skel->maps.ct4), count = 0;
	void *previous = NULL;

	while (bpf_map_get_next_key(fd, previous, &next) == 0) {
		count++;
		key = next;
		previous = &key;
	}
	return errno == ENOENT ? count : -errno;
}

/* ct4_ring's one entry into *ring (malloc'd: the ring is large); free it. 0 or -errno. */
static int fixture_ct_ring_read(struct fixture *f, struct ct4_ring **ring)
{
	__u32 zero = 0;

	*ring = malloc(sizeof(**ring));
	if (!*ring)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(f->skel->maps.ct4_ring), &zero, *ring)) {
		int err = -errno;

		free(*ring);
		*ring = NULL;
		return err;
	}
	return 0;
}

int fixture_ct_pressure(struct fixture *f, uint64_t *early_drops, uint64_t *insert_failed)
{
	struct ct4_ring *ring;
	int err = fixture_ct_ring_read(f, &ring);

	if (err)
		return err;
	*early_drops = ring->early_drops;
	*insert_failed = ring->insert_failed;
	free(ring);
	return 0;
}

int fixture_ct_full_until(struct fixture *f, uint64_t *full_until)
{
	struct ct4_ring *ring;
	int err = fixture_ct_ring_read(f, &ring);

	if (err)
		return err;
	*full_until = ring->full_until;
	free(ring);
	return 0;
}

int fixture_ct_delete(struct fixture *f, __be32 saddr, __be32 daddr, __be16 sport, __be16 dport,
		      uint8_t proto)
{
	struct ct4_key key = fixture_ct_key(saddr, daddr, sport, dport, proto);

	return bpf_map_delete_elem(bpf_map__fd(f->skel->maps.ct4), &key) ? -errno : 0;
}

int fixture_set_clock(struct fixture *f, uint64_t now_ns)
{
	uint64_t value[8] = {0};
	size_t value_size = bpf_map__value_size(f->skel->maps.clock);
	__u32 zero = 0;

	if (value_size < 8 || value_size > sizeof(value) || value_size % 8)
		return -EINVAL;
	/* now_ns follows the timer; the kernel leaves the timer itself alone on update. */
	value[value_size / 8 - 1] = now_ns;
	return bpf_map_update_elem(bpf_map__fd(f->skel->maps.clock), &zero, value, BPF_ANY) ? -errno
											    : 0;
}

struct pkt_spec fixture_client_spec(uint8_t proto)
{
	static const char payload[] = "GET / HTTP/1.1\r\n";
	struct pkt_spec spec;

	memset(&spec, 0, sizeof(spec));
	memcpy(spec.src_mac, test_client_mac, 6);
	memcpy(spec.dst_mac, test_gateway_mac, 6);
	spec.saddr = TEST_CLIENT_IP;
	spec.daddr = TEST_VIP;
	spec.sport = TEST_CLIENT_PORT;
	spec.dport = TEST_VIP_PORT;
	spec.proto = proto;
	spec.tcp_flags = PKT_TCP_SYN;
	spec.tcp_seq = htonl(1000);
	if (proto == IPPROTO_UDP) {
		spec.payload = payload;
		spec.payload_len = sizeof(payload) - 1;
	}
	return spec;
}

bool fixture_setup(struct fixture *f, uint8_t proto)
{
	int err = fixture_open(f);

	/* As root (where make test runs them) a refused load is a failure with its errno. */
	if (err == -EPERM && geteuid() != 0) {
		test_skip("not root: loading BPF needs CAP_BPF and CAP_NET_ADMIN");
		return false;
	}
	if (!ASSERT_OK(err, "open and load tc_pod"))
		return false;
	if (proto && !ASSERT_OK(fixture_seed_service(f, proto), "seed the service maps"))
		return false;
	return true;
}

bool fixture_expect_untouched(struct fixture *f, const struct pkt *in, int verdict,
			      const char *what)
{
	char name[128];
	struct pkt out;
	int actual;
	bool ok = true;

	snprintf(name, sizeof(name), "%s: test run", what);
	if (!ASSERT_OK(fixture_run(f, in, &out, &actual), name))
		return false;
	snprintf(name, sizeof(name), "%s: verdict", what);
	ok &= ASSERT_EQ(actual, verdict, name);
	snprintf(name, sizeof(name), "%s: output length", what);
	if (ASSERT_EQ(out.len, in->len, name)) {
		snprintf(name, sizeof(name), "%s: output bytes", what);
		ok &= ASSERT_MEM_EQ(out.data, in->data, in->len, name);
	} else {
		ok = false;
	}
	snprintf(name, sizeof(name), "%s: conntrack entries", what);
	ok &= ASSERT_EQ(fixture_ct_count(f), 0, name);
	snprintf(name, sizeof(name), "%s: stats service_new", what);
	ok &= ASSERT_EQ(fixture_stat(f, STAT_SVC_NEW), 0, name);
	return ok;
}

struct pkt_spec fixture_reply_spec(uint8_t proto)
{
	struct pkt_spec spec = fixture_client_spec(proto);

	memcpy(spec.src_mac, test_backend_a_mac, 6);
	memcpy(spec.dst_mac, test_backend_a_host_mac, 6);
	spec.saddr = TEST_BACKEND_A;
	spec.daddr = TEST_CLIENT_IP;
	spec.sport = TEST_BACKEND_PORT;
	spec.dport = TEST_CLIENT_PORT;
	spec.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
	spec.tcp_seq = htonl(5000);
	return spec;
}

int fixture_policy_enable(struct fixture *f, bool is_enabled)
{
	struct policy_cfg cfg = {.flags = is_enabled ? POLICY_CFG_F_ENABLED : 0};
	uint32_t zero = 0;

	return bpf_map_update_elem(bpf_map__fd(f->skel->maps.policy_cfg), &zero, &cfg, BPF_ANY);
}

int fixture_policy_address(struct fixture *f, __be32 address, uint32_t prefix_len,
			   uint32_t identity, uint32_t flags)
{
	struct ipcache4_key key = {.prefix_len = prefix_len, .address = address};
	struct ipcache4_value value = {.identity = identity, .flags = flags};

	return bpf_map_update_elem(bpf_map__fd(f->skel->maps.ipcache4), &key, &value, BPF_ANY);
}

int fixture_policy_rule(struct fixture *f, uint32_t subject, uint32_t peer, uint8_t direction,
			uint8_t proto, uint16_t port, uint8_t port_bits)
{
	struct policy4_key key = {
	    .prefix_len = POLICY4_FIXED_BITS + port_bits,
	    .subject = htonl(subject),
	    .peer = htonl(peer),
	    .direction = direction,
	    .proto = proto,
	    .port = htons(port),
	};
	struct policy4_value value = {.policy = POLICY_NAME_F_POLICY | 1};

	return bpf_map_update_elem(bpf_map__fd(f->skel->maps.policy4), &key, &value, BPF_ANY);
}
