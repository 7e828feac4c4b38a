// SPDX-License-Identifier: Apache-2.0
/* The IPAM pins: this node's addressing record, its pod CIDR usage, the other nodes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "lib/bpffs.h"
#include "lib/map_walk.h"
#include "lib/node_ipam.h"

static int node_ipam_path(char *buf, size_t size, const char *bpffs, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", bpffs, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Open a pin, or create and pin the map when it is missing (a racing creator wins). */
static int node_ipam_open_or_create(const char *path, enum bpf_map_type type, const char *name,
				    __u32 key_size, __u32 value_size, __u32 max_entries,
				    __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd;

	fd = bpf_obj_get(path);
	if (fd < 0 && errno == ENOENT) {
		fd = bpf_map_create(type, name, key_size, value_size, max_entries, &opts);
		if (fd < 0)
			return -errno;
		if (bpf_obj_pin(fd, path)) { /* pins are created 0600: root-only */
			int err = -errno;

			close(fd);
			if (err != -EEXIST)
				return err;
			fd = bpf_obj_get(path);
		}
	}
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.key_size != key_size ||
	    info.value_size != value_size) {
		close(fd);
		return -EPROTO; /* an older layout: the name must change with the layout */
	}
	return fd;
}

static int node_ipam_open_array(const char *bpffs, const char *name, __u32 value_size, char *msg,
				size_t size)
{
	char path[4096];
	int ret = node_ipam_path(path, sizeof(path), bpffs, name);

	if (!ret)
		ret = node_ipam_open_or_create(path, BPF_MAP_TYPE_ARRAY, name, 4, value_size, 1, 0);
	if (ret < 0 && msg)
		snprintf(msg, size, "%s: %s", path, strerror(-ret));
	return ret;
}

/* The agent's records: write the one entry of <bpffs>/name, creating the pin. */
static int node_ipam_write_array(const char *bpffs, const char *name, const void *value,
				 __u32 value_size, char *msg, size_t size)
{
	__u32 zero = 0;
	int fd = node_ipam_open_array(bpffs, name, value_size, msg, size), ret = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_update_elem(fd, &zero, value, BPF_ANY)) {
		ret = -errno;
		snprintf(msg, size, "%s/%s: %s", bpffs, name, strerror(-ret));
	}
	close(fd);
	return ret;
}

int node_ipam_publish(const char *bpffs, const struct node_ipam_info *info, char *msg, size_t size)
{
	return node_ipam_write_array(bpffs, NODE_IPAM_MAP, info, sizeof(*info), msg, size);
}

void node_ipam_remove_legacy(const char *bpffs)
{
	char path[4096];

	if (!node_ipam_path(path, sizeof(path), bpffs, NODE_IPAM_LEGACY_MAP))
		unlink(path);
}

/* A pin of another value size (another layout) is refused: the lookup would overrun value. */
static int node_ipam_read_array(const char *bpffs, const char *name, void *value, size_t value_size)
{
	char path[4096];
	__u32 zero = 0;
	int fd, ret;

	ret = node_ipam_path(path, sizeof(path), bpffs, name);
	if (ret)
		return ret;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (!bpffs_is_record(fd, value_size))
		ret = -EPROTO;
	else
		ret = bpf_map_lookup_elem(fd, &zero, value) ? -errno : 0;
	close(fd);
	return ret;
}

int node_ipam_read(const char *bpffs, struct node_ipam_info *info)
{
	int ret = node_ipam_read_array(bpffs, NODE_IPAM_MAP, info, sizeof(*info));

	if (!ret) {
		info->node[sizeof(info->node) - 1] = '\0';
		info->reason[sizeof(info->reason) - 1] = '\0';
	}
	return ret;
}

int node_ipam_set_usage(const char *bpffs, const struct node_ipam_cidr *block, unsigned int in_use,
			unsigned int capacity)
{
	struct node_ipam_usage usage = {.block = *block, .in_use = in_use, .capacity = capacity};
	__u32 zero = 0;
	int fd = node_ipam_open_array(bpffs, NODE_IPAM_USAGE_MAP, sizeof(usage), NULL, 0), ret = 0;

	if (fd < 0)
		return fd;
	usage.usage_time = (__u64)time(NULL);
	/* The plugin's writes are serialised by its IPAM lock; the agent never writes here. */
	if (bpf_map_update_elem(fd, &zero, &usage, BPF_ANY))
		ret = -errno;
	close(fd);
	return ret;
}

int node_ipam_read_usage(const char *bpffs, struct node_ipam_usage *usage)
{
	int ret = node_ipam_read_array(bpffs, NODE_IPAM_USAGE_MAP, usage, sizeof(*usage));

	/* An array's entry exists from the start: all zero means nothing was recorded. */
	return !ret && !usage->usage_time ? -ENOENT : ret;
}

__u32 node_ipam_pod_mtu(__u32 underlay_mtu, __u32 overhead)
{
	if (underlay_mtu < overhead || underlay_mtu - overhead < NODE_IPAM_MTU_MIN)
		return NODE_IPAM_MTU_MIN;
	if (underlay_mtu - overhead > NODE_IPAM_MTU_MAX)
		return NODE_IPAM_MTU_MAX;
	return underlay_mtu - overhead;
}

int node_ipam_mtu_publish(const char *bpffs, const struct node_ipam_mtu *mtu, char *msg,
			  size_t size)
{
	return node_ipam_write_array(bpffs, NODE_IPAM_MTU_MAP, mtu, sizeof(*mtu), msg, size);
}

int node_ipam_mtu_read(const char *bpffs, struct node_ipam_mtu *mtu)
{
	int ret = node_ipam_read_array(bpffs, NODE_IPAM_MTU_MAP, mtu, sizeof(*mtu));

	if (ret)
		return ret;
	mtu->underlay[sizeof(mtu->underlay) - 1] = '\0';
	/* All zero: created but never written; out of range: not a record to trust. */
	if (mtu->pod_mtu < NODE_IPAM_MTU_MIN || mtu->pod_mtu > NODE_IPAM_MTU_MAX)
		return -ENOENT;
	return 0;
}

const char *node_ipam_mtu_source_name(__u8 source)
{
	switch (source) {
	case NODE_IPAM_MTU_SOURCE_UPLINK:
		return "--uplink";
	case NODE_IPAM_MTU_SOURCE_NODE_IP:
		return "the node address's device";
	case NODE_IPAM_MTU_SOURCE_DEFAULT:
		return "default";
	default:
		return "none";
	}
}

static int node_ipam_open_peers(const char *bpffs, bool is_create, char *msg, size_t size)
{
	char path[4096];
	int ret = node_ipam_path(path, sizeof(path), bpffs, NODE_IPAM_PEERS_MAP);

	if (ret)
		return ret;
	if (is_create)
		ret = node_ipam_open_or_create(
		    path, BPF_MAP_TYPE_HASH, NODE_IPAM_PEERS_MAP, sizeof(struct node_ipam_name),
		    sizeof(struct node_ipam_peer), NODE_IPAM_PEERS_MAX, BPF_F_NO_PREALLOC);
	else if ((ret = bpf_obj_get(path)) < 0)
		ret = -errno;
	if (ret < 0 && msg)
		snprintf(msg, size, "%s: %s", path, strerror(-ret));
	return ret;
}

static int node_ipam_peer_cmp(const void *a, const void *b)
{
	const struct node_ipam_peer_entry *x = a, *y = b;

	return strncmp(x->name.name, y->name.name, sizeof(x->name.name));
}

int node_ipam_peers_write(const char *bpffs, const struct node_ipam_peer_entry *peers, size_t n,
			  char *msg, size_t size)
{
	struct node_ipam_peer_entry *sorted = NULL, key;
	struct node_ipam_peer value;
	struct map_walk walk;
	int fd, ret = 0;
	size_t i;

	fd = node_ipam_open_peers(bpffs, true, msg, size);
	if (fd < 0)
		return fd;
	for (i = 0; i < n && !ret; i++) {
		if (bpf_map_update_elem(fd, &peers[i].name, &peers[i].peer, BPF_ANY)) {
			ret = -errno;
			snprintf(msg, size, "%s/%s: node %.253s: %s", bpffs, NODE_IPAM_PEERS_MAP,
				 peers[i].name.name, strerror(-ret));
		}
	}
	if (!ret && n) {
		sorted = malloc(n * sizeof(*sorted));
		if (!sorted)
			ret = -ENOMEM;
		else
			memcpy(sorted, peers, n * sizeof(*sorted));
		if (sorted)
			qsort(sorted, n, sizeof(*sorted), node_ipam_peer_cmp);
	}
	/* Then the entries of nodes that are gone (deleting during the walk is what it allows). */
	map_walk_start(&walk, fd, sizeof(key.name), sizeof(value));
	while (!ret && map_walk_next(&walk, &key.name, &value)) {
		if (n && bsearch(&key, sorted, n, sizeof(*sorted), node_ipam_peer_cmp))
			continue;
		if (bpf_map_delete_elem(fd, &key.name) && errno != ENOENT) {
			ret = -errno;
			snprintf(msg, size, "%s/%s: delete node %.253s: %s", bpffs,
				 NODE_IPAM_PEERS_MAP, key.name.name, strerror(-ret));
		}
	}
	free(sorted);
	close(fd);
	return ret;
}

int node_ipam_peers_read(const char *bpffs, struct node_ipam_peer_entry **out, size_t *n)
{
	struct node_ipam_peer_entry entry, *items = NULL, *grown;
	size_t count = 0, capacity = 0;
	struct map_walk walk;
	int fd = node_ipam_open_peers(bpffs, false, NULL, 0);

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return fd;
	map_walk_start(&walk, fd, sizeof(entry.name), sizeof(entry.peer));
	while (map_walk_next(&walk, &entry.name, &entry.peer)) {
		if (count == capacity) {
			capacity = capacity ? capacity * 2 : 16;
			grown = realloc(items, capacity * sizeof(*items));
			if (!grown) {
				free(items);
				close(fd);
				return -ENOMEM;
			}
			items = grown;
		}
		entry.name.name[sizeof(entry.name.name) - 1] = '\0';
		entry.peer.reason[sizeof(entry.peer.reason) - 1] = '\0';
		items[count++] = entry;
	}
	close(fd);
	if (count > 1)
		qsort(items, count, sizeof(*items), node_ipam_peer_cmp);
	*out = items;
	*n = count;
	return 0;
}

const char *node_ipam_peer_state_name(__u32 state)
{
	switch (state) {
	case NODE_IPAM_PEER_READY:
		return "ready";
	case NODE_IPAM_PEER_NO_POD_CIDR:
		return "no pod CIDR";
	case NODE_IPAM_PEER_REFUSED:
		return "refused";
	case NODE_IPAM_PEER_NO_ADDRESS:
		return "no address";
	default:
		return "unknown";
	}
}

static const char *node_ipam_source_name(__u8 source)
{
	switch (source) {
	case NODE_IPAM_SOURCE_NODE:
		return "Node spec.podCIDR";
	case NODE_IPAM_SOURCE_FLAG:
		return "--pod-cidr";
	default:
		return "none";
	}
}

/* ---- `sluice status`: the node's addressing and its pod CIDR usage ------------------------ */

int node_ipam_status(const char *bpffs, struct json_object *root, FILE *out)
{
	struct node_ipam_info info;
	struct node_ipam_usage usage;
	struct node_ipam_mtu mtu;
	struct node_ipam_peer_entry *peers = NULL;
	struct json_object *ipam;
	char cluster[CIDR_PLAN_LIST_LEN] = "-", service[CIDR_PLAN_LIST_LEN] = "-", block[24] = "-",
	     ip[INET_ADDRSTRLEN] = "-";
	size_t n_peers = 0, n_refused = 0, i;
	bool has_usage, has_mtu;
	int ret = node_ipam_read(bpffs, &info);

	if (ret) {
		if (root)
			json_object_object_add(root, "ipam", NULL);
		else
			fprintf(out, "ipam: %s/%s: %s\n", bpffs, NODE_IPAM_MAP, strerror(-ret));
		return ret;
	}
	if (info.cluster[0].is_set)
		cidr_plan_list_str(info.cluster, cluster, sizeof(cluster));
	if (info.service[0].is_set)
		cidr_plan_list_str(info.service, service, sizeof(service));
	if (info.block.is_set)
		node_ipam_cidr_str(&info.block, block, sizeof(block));
	if (info.node_ip)
		inet_ntop(AF_INET, &info.node_ip, ip, sizeof(ip));
	/* Usage of another block (before a restart with another pod CIDR) is not this one's. */
	has_usage = !node_ipam_read_usage(bpffs, &usage) && info.block.is_set &&
		    !memcmp(&usage.block, &info.block, sizeof(usage.block)) && usage.capacity;
	has_mtu = !node_ipam_mtu_read(bpffs, &mtu);
	node_ipam_peers_read(bpffs, &peers, &n_peers);
	for (i = 0; i < n_peers; i++)
		n_refused += peers[i].peer.state == NODE_IPAM_PEER_REFUSED;
	free(peers);
	if (root) {
		ipam = json_object_new_object();
		json_object_object_add(ipam, "node", json_object_new_string(info.node));
		json_object_object_add(ipam, "node_ip", json_object_new_string(ip));
		json_object_object_add(ipam, "cluster_cidr", json_object_new_string(cluster));
		json_object_object_add(ipam, "service_cidr", json_object_new_string(service));
		json_object_object_add(ipam, "pod_cidr",
				       info.block.is_set ? json_object_new_string(block) : NULL);
		json_object_object_add(
		    ipam, "pod_cidr_source",
		    json_object_new_string(node_ipam_source_name(info.block_source)));
		json_object_object_add(ipam, "pods_refused",
				       json_object_new_boolean(!info.block.is_set));
		json_object_object_add(ipam, "message", json_object_new_string(info.reason));
		json_object_object_add(ipam, "in_use",
				       json_object_new_int64(has_usage ? usage.in_use : 0));
		json_object_object_add(ipam, "capacity",
				       json_object_new_int64(has_usage ? usage.capacity : 0));
		/* The pod MTU a conflist without `mtu` gives: null when no agent published one. */
		json_object_object_add(ipam, "pod_mtu",
				       has_mtu ? json_object_new_int64(mtu.pod_mtu) : NULL);
		json_object_object_add(
		    ipam, "pod_mtu_source",
		    json_object_new_string(node_ipam_mtu_source_name(has_mtu ? mtu.source : 0)));
		json_object_object_add(ipam, "underlay",
				       json_object_new_string(has_mtu ? mtu.underlay : ""));
		json_object_object_add(ipam, "underlay_mtu",
				       json_object_new_int64(has_mtu ? mtu.underlay_mtu : 0));
		json_object_object_add(ipam, "encapsulation_overhead",
				       json_object_new_int64(has_mtu ? mtu.overhead : 0));
		json_object_object_add(ipam, "other_nodes",
				       json_object_new_int64((int64_t)n_peers));
		json_object_object_add(ipam, "other_nodes_refused",
				       json_object_new_int64((int64_t)n_refused));
		json_object_object_add(root, "ipam", ipam);
		return 0;
	}
	fprintf(out, "\nnode %s: address %s, cluster CIDR %s, service CIDR %s\n", info.node, ip,
		cluster, service);
	if (!info.block.is_set)
		fprintf(out, "pod CIDR: none: PODS REFUSED: %s\n", info.reason);
	else
		fprintf(out, "pod CIDR: %s (from %s)%s%s\n", block,
			node_ipam_source_name(info.block_source),
			info.reason[0] ? "; warning: " : "", info.reason);
	if (has_usage)
		fprintf(out, "ipam usage: %u of %u addresses in use (%u%%)%s\n", usage.in_use,
			usage.capacity, usage.in_use * 100 / usage.capacity,
			usage.in_use >= usage.capacity ? ": EXHAUSTED, ADD fails with code 11"
			: usage.in_use * 10 >= usage.capacity * 9 ? ": nearly exhausted"
								  : "");
	else if (info.block.is_set)
		fprintf(out, "ipam usage: no pod added yet\n");
	if (!has_mtu)
		fprintf(out, "pod MTU: not published: pods get the conflist's mtu, else %d\n",
			NODE_IPAM_MTU_UNDERLAY_DEFAULT);
	else if (mtu.source == NODE_IPAM_MTU_SOURCE_DEFAULT)
		fprintf(out,
			"pod MTU: %u: the default underlay MTU %u (no --uplink, no device holds "
			"the node's address) less %u of encapsulation; a conflist mtu wins\n",
			mtu.pod_mtu, mtu.underlay_mtu, mtu.overhead);
	else
		fprintf(out,
			"pod MTU: %u: %s's %u (%s) less %u of encapsulation; a conflist mtu wins\n",
			mtu.pod_mtu, mtu.underlay, mtu.underlay_mtu,
			node_ipam_mtu_source_name(mtu.source), mtu.overhead);
	fprintf(out, "other nodes: %zu (%zu refused; sluice node list)\n", n_peers, n_refused);
	return 0;
}
