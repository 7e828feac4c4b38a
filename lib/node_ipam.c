// SPDX-License-Identifier: Apache-2.0
/* Overlay IPAM across nodes: per-node pod CIDR blocks cut from the cluster CIDR, CIDR planning. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <json-c/json.h>

#include "lib/cidr.h"
#include "lib/hash_table.h"
#include "lib/map_walk.h"
#include "lib/node_ipam.h"

/* The map layout's CIDR as lib/cidr's (is_set aside). */
static struct cidr4 node_ipam_cidr4(const struct node_ipam_cidr *cidr)
{
	struct cidr4 out = {.address = cidr->address, .prefix_len = cidr->prefix};

	return out;
}

int node_ipam_cidr_parse(const char *text, struct node_ipam_cidr *out)
{
	struct cidr4 cidr;
	int err = cidr4_parse(text, 0, &cidr);

	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	out->address = cidr.address;
	out->prefix = cidr.prefix_len;
	out->is_set = 1;
	return 0;
}

const char *node_ipam_cidr_str(const struct node_ipam_cidr *cidr, char *buf, size_t size)
{
	struct cidr4 value = node_ipam_cidr4(cidr);

	return cidr4_str(&value, buf, size);
}

bool node_ipam_cidr_overlap(const struct node_ipam_cidr *a, const struct node_ipam_cidr *b)
{
	struct cidr4 x = node_ipam_cidr4(a), y = node_ipam_cidr4(b);

	return a->is_set && b->is_set && cidr4_overlap(&x, &y);
}

bool node_ipam_cidr_contains(const struct node_ipam_cidr *outer, const struct node_ipam_cidr *inner)
{
	struct cidr4 x = node_ipam_cidr4(outer), y = node_ipam_cidr4(inner);

	return outer->is_set && inner->is_set && cidr4_contains(&x, &y);
}

int node_ipam_block(const struct node_ipam_cidr *cluster, unsigned int node_prefix, uint32_t index,
		    struct node_ipam_cidr *out)
{
	unsigned int bits = node_prefix - cluster->prefix;

	if (node_prefix < cluster->prefix || node_prefix > 32 ||
	    (bits < 32 && index >= (1u << bits)))
		return -ERANGE;
	memset(out, 0, sizeof(*out));
	out->address = htonl(ntohl(cluster->address) +
			     (node_prefix == 32 ? index : index << (32 - node_prefix)));
	out->prefix = (__u8)node_prefix;
	out->is_set = 1;
	return 0;
}

/* Underlay subnets: global IPv4 addresses of this netns, except loopback and sluice's devices. */
static int cidr_plan_underlay(const struct cidr_plan *plan, char *msg, size_t size)
{
	const struct node_ipam_cidr *ranges[] = {&plan->cluster, &plan->service, &plan->pod};
	const char *names[] = {"cluster CIDR", "service CIDR", "pod CIDR"};
	struct ifaddrs *list, *ifa;
	char a[24], b[24];
	int ret = 0;

	if (getifaddrs(&list))
		return 0; /* nothing to compare with is not a planning error */
	for (ifa = list; ifa && !ret; ifa = ifa->ifa_next) {
		struct node_ipam_cidr net = {.is_set = 1};
		uint32_t mask;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET || !ifa->ifa_netmask ||
		    (ifa->ifa_flags & IFF_LOOPBACK))
			continue;
		/* sluice0 holds the pod gateways; sl<hash> are pod veths; both live in the overlay.
		 */
		if (!strncmp(ifa->ifa_name, "sl", 2))
			continue;
		mask = ntohl(((struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr);
		net.prefix = (__u8)__builtin_popcount(mask);
		net.address =
		    htonl(ntohl(((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr) & mask);
		for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
			if (!node_ipam_cidr_overlap(&net, ranges[i]))
				continue;
			snprintf(msg, size, "node subnet %s (%s) overlaps %s %s",
				 node_ipam_cidr_str(&net, a, sizeof(a)), ifa->ifa_name, names[i],
				 node_ipam_cidr_str(ranges[i], b, sizeof(b)));
			ret = -EINVAL;
			break;
		}
	}
	freeifaddrs(list);
	return ret;
}

int cidr_plan_check(const struct cidr_plan *plan, char *msg, size_t size)
{
	char a[24], b[24], dns[INET_ADDRSTRLEN];

	if (node_ipam_cidr_overlap(&plan->cluster, &plan->service)) {
		snprintf(msg, size, "cluster CIDR %s overlaps service CIDR %s",
			 node_ipam_cidr_str(&plan->cluster, a, sizeof(a)),
			 node_ipam_cidr_str(&plan->service, b, sizeof(b)));
		return -EINVAL;
	}
	if (plan->pod.is_set && plan->cluster.is_set &&
	    !node_ipam_cidr_contains(&plan->cluster, &plan->pod)) {
		snprintf(msg, size, "pod CIDR %s is not inside cluster CIDR %s",
			 node_ipam_cidr_str(&plan->pod, a, sizeof(a)),
			 node_ipam_cidr_str(&plan->cluster, b, sizeof(b)));
		return -EINVAL;
	}
	if (node_ipam_cidr_overlap(&plan->pod, &plan->service)) {
		snprintf(msg, size, "pod CIDR %s overlaps service CIDR %s",
			 node_ipam_cidr_str(&plan->pod, a, sizeof(a)),
			 node_ipam_cidr_str(&plan->service, b, sizeof(b)));
		return -EINVAL;
	}
	if (plan->dns.s_addr && plan->service.is_set) {
		struct node_ipam_cidr host = {
		    .address = plan->dns.s_addr, .prefix = 32, .is_set = 1};

		if (!node_ipam_cidr_contains(&plan->service, &host)) {
			inet_ntop(AF_INET, &plan->dns, dns, sizeof(dns));
			snprintf(msg, size, "DNS service IP %s is outside service CIDR %s", dns,
				 node_ipam_cidr_str(&plan->service, b, sizeof(b)));
			return -EINVAL;
		}
	}
	if (plan->check_underlay)
		return cidr_plan_underlay(plan, msg, size);
	return 0;
}

static int node_ipam_path(char *buf, size_t size, const char *bpffs, const char *name, bool parent)
{
	const char *slash = strrchr(bpffs, '/');
	int n;

	if (parent) {
		if (!slash || slash == bpffs)
			return -EINVAL; /* the registry needs a directory of its own above bpffs */
		n = snprintf(buf, size, "%.*s/%s", (int)(slash - bpffs), bpffs, name);
	} else {
		n = snprintf(buf, size, "%s/%s", bpffs, name);
	}
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

/* Find the block node holds in the registry, or claim a free one starting at hash(node). */
static int node_ipam_claim(int fd, const char *node, const struct node_ipam_cidr *cluster,
			   unsigned int node_prefix, struct node_ipam_cidr *block, char *msg,
			   size_t size)
{
	struct node_ipam_owner owner = {}, other;
	__u32 key, blocks, start;
	unsigned int bits = node_prefix - cluster->prefix;
	struct map_walk walk;
	char a[24];

	blocks = bits >= 16 ? NODE_IPAM_REGISTRY_MAX : 1u << bits;
	snprintf(owner.node, sizeof(owner.node), "%s", node);
	owner.cluster = *cluster;
	owner.node_prefix = node_prefix;
	map_walk_start(&walk, fd, sizeof(key), sizeof(other));
	while (map_walk_next(&walk, &key, &other)) {
		if (strncmp(other.node, node, sizeof(other.node)))
			continue;
		if (memcmp(&other.cluster, &owner.cluster, sizeof(other.cluster)) ||
		    other.node_prefix != node_prefix) {
			snprintf(
			    msg, size,
			    "node %s: holds a block of another cluster CIDR or node CIDR size "
			    "(was /%u in %s); every agent must use the same --cluster-cidr and "
			    "--node-cidr-size",
			    node, other.node_prefix,
			    node_ipam_cidr_str(&other.cluster, a, sizeof(a)));
			return -EINVAL;
		}
		return node_ipam_block(cluster, node_prefix, key, block);
	}
	start = (uint32_t)(hash_fnv1a(node, strlen(node)) % blocks);
	for (uint32_t i = 0; i < blocks; i++) {
		key = (start + i) % blocks;
		if (!bpf_map_update_elem(fd, &key, &owner, BPF_NOEXIST))
			return node_ipam_block(cluster, node_prefix, key, block);
		if (errno != EEXIST) {
			snprintf(msg, size, "node %s: claim block %u: %s", node, key,
				 strerror(errno));
			return -errno;
		}
	}
	snprintf(msg, size, "node %s: cluster CIDR %s exhausted: all %u blocks of /%u are taken",
		 node, node_ipam_cidr_str(cluster, a, sizeof(a)), blocks, node_prefix);
	return -ENOSPC;
}

int node_ipam_publish(const char *bpffs, const char *node, const struct node_ipam_cidr *cluster,
		      unsigned int node_prefix, const struct node_ipam_cidr *service,
		      const struct node_ipam_cidr *block, struct node_ipam_info *out, char *msg,
		      size_t size)
{
	struct node_ipam_info info = {};
	char path[4096];
	__u32 zero = 0;
	int fd = -1, registry = -1, ret;

	ret = node_ipam_path(path, sizeof(path), bpffs, NODE_IPAM_MAP, false);
	if (!ret)
		fd = ret = node_ipam_open_or_create(path, BPF_MAP_TYPE_ARRAY, NODE_IPAM_MAP, 4,
						    sizeof(info), 1, 0);
	if (ret < 0) {
		snprintf(msg, size, "%s: %s", path, strerror(-ret));
		goto cleanup;
	}
	/* Keep the usage the plugin recorded: a restarted agent does not forget the pods. */
	if (bpf_map_lookup_elem(fd, &zero, &info))
		memset(&info, 0, sizeof(info));
	snprintf(info.node, sizeof(info.node), "%s", node);
	memset(&info.cluster, 0, sizeof(info.cluster));
	memset(&info.service, 0, sizeof(info.service));
	memset(&info.block, 0, sizeof(info.block));
	if (service && service->is_set)
		info.service = *service;
	if (cluster && cluster->is_set)
		info.cluster = *cluster;
	if (block && block->is_set) {
		info.block = *block;
	} else if (cluster && cluster->is_set) {
		ret = node_ipam_path(path, sizeof(path), bpffs, NODE_IPAM_REGISTRY, true);
		if (!ret)
			registry = ret =
			    node_ipam_open_or_create(path, BPF_MAP_TYPE_HASH, NODE_IPAM_REGISTRY, 4,
						     sizeof(struct node_ipam_owner),
						     NODE_IPAM_REGISTRY_MAX, BPF_F_NO_PREALLOC);
		if (ret < 0) {
			snprintf(msg, size, "%s: %s", path, strerror(-ret));
			goto cleanup;
		}
		ret = node_ipam_claim(registry, node, cluster, node_prefix, &info.block, msg, size);
		if (ret)
			goto cleanup;
	}
	if (bpf_map_update_elem(fd, &zero, &info, BPF_ANY)) {
		ret = -errno;
		snprintf(msg, size, "%s/%s: %s", bpffs, NODE_IPAM_MAP, strerror(-ret));
		goto cleanup;
	}
	if (out)
		*out = info;
	ret = 0;

cleanup:
	if (registry >= 0)
		close(registry);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int node_ipam_open(const char *bpffs)
{
	char path[4096];
	int fd, ret;

	ret = node_ipam_path(path, sizeof(path), bpffs, NODE_IPAM_MAP, false);
	if (ret)
		return ret;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int node_ipam_read(const char *bpffs, struct node_ipam_info *info)
{
	__u32 zero = 0;
	int fd = node_ipam_open(bpffs), ret = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, info))
		ret = -errno;
	close(fd);
	return ret;
}

int node_ipam_set_usage(const char *bpffs, unsigned int in_use, unsigned int capacity)
{
	struct node_ipam_info info;
	__u32 zero = 0;
	int fd = node_ipam_open(bpffs), ret = 0;

	if (fd < 0)
		return fd;
	/* The agent writes only at its start; the plugin's writes are serialised by its IPAM lock.
	 */
	if (bpf_map_lookup_elem(fd, &zero, &info)) {
		ret = -errno;
	} else {
		info.in_use = in_use;
		info.capacity = capacity;
		info.usage_time = (__u64)time(NULL);
		if (bpf_map_update_elem(fd, &zero, &info, BPF_ANY))
			ret = -errno;
	}
	close(fd);
	return ret;
}

int node_ipam_registry_walk(const char *bpffs,
			    void (*fn)(uint32_t index, const struct node_ipam_owner *owner,
				       void *ctx),
			    void *ctx)
{
	struct node_ipam_owner owner;
	char path[4096];
	struct map_walk walk;
	int fd, n = 0, ret;
	__u32 key;

	ret = node_ipam_path(path, sizeof(path), bpffs, NODE_IPAM_REGISTRY, true);
	if (ret)
		return ret;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	map_walk_start(&walk, fd, sizeof(key), sizeof(owner));
	while (map_walk_next(&walk, &key, &owner)) {
		owner.node[sizeof(owner.node) - 1] = '\0';
		fn(key, &owner, ctx);
		n++;
	}
	close(fd);
	return n;
}

/* ---- `sluice status`: the node's pod CIDR usage and the blocks of every node ------------- */

struct node_ipam_status_ctx {
	const char *bpffs;
	struct json_object *nodes; /* JSON output, or NULL for text */
	FILE *out;
};

/* Usage of a node whose agent pins beside ours (<parent>/<node>): the multi-node layout. */
static void node_ipam_status_node(uint32_t index, const struct node_ipam_owner *owner, void *ctx)
{
	struct node_ipam_status_ctx *c = ctx;
	struct node_ipam_info info;
	struct node_ipam_cidr block;
	const char *slash = strrchr(c->bpffs, '/');
	char path[4096], cidr[24];
	bool has_usage;

	if (node_ipam_block(&owner->cluster, owner->node_prefix, index, &block))
		return;
	snprintf(path, sizeof(path), "%.*s/%s", slash ? (int)(slash - c->bpffs) : 0, c->bpffs,
		 owner->node);
	has_usage = !node_ipam_read(path, &info) && info.capacity &&
		    !memcmp(&info.block, &block, sizeof(block));
	node_ipam_cidr_str(&block, cidr, sizeof(cidr));
	if (c->nodes) {
		struct json_object *obj = json_object_new_object();

		json_object_object_add(obj, "node", json_object_new_string(owner->node));
		json_object_object_add(obj, "pod_cidr", json_object_new_string(cidr));
		if (has_usage) {
			json_object_object_add(obj, "in_use", json_object_new_int64(info.in_use));
			json_object_object_add(obj, "capacity",
					       json_object_new_int64(info.capacity));
		}
		json_object_array_add(c->nodes, obj);
	} else if (has_usage) {
		fprintf(c->out, "  %-24s %-18s %6u of %-6u in use (%u%%)\n", owner->node, cidr,
			info.in_use, info.capacity, info.in_use * 100 / info.capacity);
	} else {
		fprintf(c->out, "  %-24s %-18s %16s\n", owner->node, cidr, "usage unknown");
	}
}

int node_ipam_status(const char *bpffs, struct json_object *root, FILE *out)
{
	struct node_ipam_status_ctx ctx = {.bpffs = bpffs, .out = out};
	struct node_ipam_info info;
	struct json_object *ipam = NULL;
	char cluster[24] = "-", service[24] = "-", block[24] = "-";
	int ret = node_ipam_read(bpffs, &info);

	if (ret) {
		if (root)
			json_object_object_add(root, "ipam", NULL);
		else
			fprintf(out, "ipam: %s/%s: %s\n", bpffs, NODE_IPAM_MAP, strerror(-ret));
		return ret;
	}
	info.node[sizeof(info.node) - 1] = '\0';
	if (info.cluster.is_set)
		node_ipam_cidr_str(&info.cluster, cluster, sizeof(cluster));
	if (info.service.is_set)
		node_ipam_cidr_str(&info.service, service, sizeof(service));
	if (info.block.is_set)
		node_ipam_cidr_str(&info.block, block, sizeof(block));
	if (root) {
		ipam = json_object_new_object();
		json_object_object_add(ipam, "node", json_object_new_string(info.node));
		json_object_object_add(ipam, "cluster_cidr", json_object_new_string(cluster));
		json_object_object_add(ipam, "service_cidr", json_object_new_string(service));
		json_object_object_add(ipam, "pod_cidr", json_object_new_string(block));
		json_object_object_add(ipam, "in_use", json_object_new_int64(info.in_use));
		json_object_object_add(ipam, "capacity", json_object_new_int64(info.capacity));
		ctx.nodes = json_object_new_array();
		json_object_object_add(ipam, "nodes", ctx.nodes);
		json_object_object_add(root, "ipam", ipam);
	} else {
		fprintf(out, "\nipam node %s: cluster CIDR %s, service CIDR %s, pod CIDR %s\n",
			info.node, cluster, service, block);
		if (info.capacity)
			fprintf(out, "ipam usage: %u of %u addresses in use (%u%%)%s\n",
				info.in_use, info.capacity, info.in_use * 100 / info.capacity,
				info.in_use >= info.capacity ? ": EXHAUSTED, ADD fails with code 11"
				: info.in_use * 10 >= info.capacity * 9 ? ": nearly exhausted"
									: "");
		else
			fprintf(out, "ipam usage: no pod added yet\n");
	}
	if (info.cluster.is_set) {
		if (!root)
			fprintf(out, "ipam blocks of %s:\n", cluster);
		node_ipam_registry_walk(bpffs, node_ipam_status_node, &ctx);
	}
	return 0;
}
