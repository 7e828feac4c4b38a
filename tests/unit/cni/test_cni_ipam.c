// SPDX-License-Identifier: Apache-2.0
/* Unit tests of sluice-cni's IPAM and of its config/environment validation (no netlink). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cni/cni.h"
#include "cni/cni_commands.h"
#include "cni/ipam.h"
#include "lib/node_ipam.h"

#define TEST_CHILDREN 20

struct fixture {
	char root[64]; /* temporary stateDir */
	char dir[128]; /* <root>/net */
	struct ipam_range range;
};

static void range_set(struct ipam_range *range, const char *cidr)
{
	assert_int_equal(cni_parse_cidr4(cidr, &range->subnet, &range->prefix), 0);
	range->gateway.s_addr = htonl(ntohl(range->subnet.s_addr) + 1);
	range->node = "n1";
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->root, "/tmp/sluice-test-cni-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_int_equal(ipam_dir(f->root, "net", f->dir, sizeof(f->dir)), 0);
	range_set(&f->range, "10.244.1.0/28");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static const char *addr_str(struct in_addr address)
{
	static char buf[INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, &address, buf, sizeof(buf));
}

static struct in_addr allocate_ok(struct fixture *f, const char *id, const char *ifname,
				  bool expect_new)
{
	struct cni_error err = {};
	struct in_addr address;
	bool is_new;

	assert_int_equal(
	    ipam_allocate(f->dir, &f->range, id, ifname, &address, &is_new, NULL, &err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(is_new, expect_new);
	return address;
}

static void test_allocate_skips_reserved(void **state)
{
	struct fixture *f = *state;
	char id[32];
	struct stat st;

	/* /28: .0 network, .1 gateway, .15 broadcast; .2 .. .14 are handed out in order. */
	for (int i = 2; i <= 14; i++) {
		snprintf(id, sizeof(id), "ctr%d", i);
		char want[32];

		snprintf(want, sizeof(want), "10.244.1.%d", i);
		assert_string_equal(addr_str(allocate_ok(f, id, "eth0", true)), want);
	}
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	char path[192];

	snprintf(path, sizeof(path), "%s/10.244.1.2", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_gateway_not_first(void **state)
{
	struct fixture *f = *state;

	/* A gateway elsewhere in the range is skipped there, and .1 is an ordinary host. */
	inet_pton(AF_INET, "10.244.1.2", &f->range.gateway);
	assert_string_equal(addr_str(allocate_ok(f, "a", "eth0", true)), "10.244.1.1");
	assert_string_equal(addr_str(allocate_ok(f, "b", "eth0", true)), "10.244.1.3");
}

static void test_idempotent_same_container(void **state)
{
	struct fixture *f = *state;
	struct in_addr first, again, other;
	char record[64] = "";
	char path[192];
	int fd;

	first = allocate_ok(f, "ctr-a", "eth0", true);
	again = allocate_ok(f, "ctr-a", "eth0", false);
	assert_int_equal(first.s_addr, again.s_addr);
	/* Same container, second interface: a different address. */
	other = allocate_ok(f, "ctr-a", "net1", true);
	assert_int_not_equal(first.s_addr, other.s_addr);

	snprintf(path, sizeof(path), "%s/%s", f->dir, addr_str(first));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_true(read(fd, record, sizeof(record) - 1) > 0);
	close(fd);
	/* Pending until the ADD has wired it: the owner's pid and start time are recorded. */
	assert_non_null(strstr(record, "ctr-a\neth0\npending "));
}

static void test_release_and_rotate(void **state)
{
	struct fixture *f = *state;
	struct in_addr a, b, c, found, released;

	a = allocate_ok(f, "a", "eth0", true);
	b = allocate_ok(f, "b", "eth0", true);
	assert_int_equal(ipam_find(f->dir, "a", "eth0", &found), 0);
	assert_int_equal(found.s_addr, a.s_addr);
	assert_int_equal(ipam_release(f->dir, "a", "eth0", &released), 0);
	assert_int_equal(released.s_addr, a.s_addr);
	assert_int_equal(ipam_find(f->dir, "a", "eth0", &found), -ENOENT);
	/* Releasing again, or something never allocated, reports -ENOENT (DEL treats it as done).
	 */
	assert_int_equal(ipam_release(f->dir, "a", "eth0", NULL), -ENOENT);
	assert_int_equal(ipam_release(f->dir, "nobody", "eth0", NULL), -ENOENT);
	/* Rotation: the next allocation continues after b instead of reusing a at once. */
	c = allocate_ok(f, "c", "eth0", true);
	assert_int_equal(ntohl(c.s_addr), ntohl(b.s_addr) + 1);
	/* Release of a missing state directory (DEL before any ADD) is not an error either. */
	assert_int_equal(ipam_release("/tmp/sluice-test-cni-does-not-exist/x", "a", "eth0", NULL),
			 -ENOENT);
}

static void test_exhaustion(void **state)
{
	struct fixture *f = *state;
	struct cni_error err = {};
	struct in_addr address;
	char id[32];
	bool is_new;

	assert_int_equal(ipam_capacity(&f->range), 13);
	for (int i = 0; i < 13; i++) {
		snprintf(id, sizeof(id), "ctr%d", i);
		allocate_ok(f, id, "eth0", true);
	}
	assert_int_equal(
	    ipam_allocate(f->dir, &f->range, "one-more", "eth0", &address, &is_new, NULL, &err),
	    -ENOSPC);
	assert_int_equal(err.code, CNI_ERR_TRY_AGAIN);
	assert_string_equal(
	    err.msg, "node n1: pod CIDR 10.244.1.0/28 exhausted (13 of 13 addresses in use)");
	/* An existing holder still gets its address back when the range is full. */
	allocate_ok(f, "ctr3", "eth0", false);
	/* After a release the freed address is the only one left, and it is found. */
	assert_int_equal(ipam_release(f->dir, "ctr5", "eth0", &address), 0);
	struct in_addr again = allocate_ok(f, "one-more", "eth0", true);

	assert_int_equal(again.s_addr, address.s_addr);
}

static void test_concurrent_children(void **state)
{
	struct fixture *f = *state;
	struct in_addr seen[TEST_CHILDREN];
	int pipes[TEST_CHILDREN][2];
	pid_t pids[TEST_CHILDREN];

	range_set(&f->range, "10.244.2.0/24");
	for (int i = 0; i < TEST_CHILDREN; i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct cni_error err = {};
			struct in_addr address = {};
			char id[32];
			bool is_new;

			snprintf(id, sizeof(id), "child%d", i);
			if (ipam_allocate(f->dir, &f->range, id, "eth0", &address, &is_new, NULL,
					  &err))
				_exit(1);
			_exit(write(pipes[i][1], &address, sizeof(address)) == sizeof(address) ? 0
											       : 2);
		}
		close(pipes[i][1]);
	}
	for (int i = 0; i < TEST_CHILDREN; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_int_equal(read(pipes[i][0], &seen[i], sizeof(seen[i])), sizeof(seen[i]));
		close(pipes[i][0]);
	}
	for (int i = 0; i < TEST_CHILDREN; i++) {
		uint32_t host = ntohl(seen[i].s_addr);

		assert_true(host > ntohl(f->range.gateway.s_addr) && host < 0x0af402ff);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(seen[i].s_addr, seen[j].s_addr);
	}
}

/* Allocate in a child that exits without committing: what a crash mid-ADD leaves behind. */
static struct in_addr allocate_and_die(struct fixture *f, const char *id, bool commit)
{
	struct in_addr address = {};
	int pipefd[2], status;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cni_error err = {};
		bool is_new;

		if (ipam_allocate(f->dir, &f->range, id, "eth0", &address, &is_new, NULL, &err))
			_exit(1);
		if (commit && ipam_commit(f->dir, id, "eth0", address))
			_exit(2);
		_exit(write(pipefd[1], &address, sizeof(address)) == sizeof(address) ? 0 : 3);
	}
	close(pipefd[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(read(pipefd[0], &address, sizeof(address)), sizeof(address));
	close(pipefd[0]);
	return address;
}

static void test_crashed_add_reclaimed(void **state)
{
	struct fixture *f = *state;
	struct ipam_reclaimed reclaimed = {};
	struct cni_error err = {};
	struct in_addr crashed, address;
	char id[32];
	bool is_new;

	/* 12 committed by processes that are gone, one left pending by a "crashed" ADD. */
	for (int i = 0; i < 12; i++) {
		snprintf(id, sizeof(id), "done%d", i);
		allocate_and_die(f, id, true);
	}
	crashed = allocate_and_die(f, "crashed", false);
	/* The range is full only by the crashed one: the next ADD takes its address back. */
	assert_int_equal(
	    ipam_allocate(f->dir, &f->range, "next", "eth0", &address, &is_new, &reclaimed, &err),
	    0);
	assert_true(is_new);
	assert_int_equal(address.s_addr, crashed.s_addr);
	assert_int_equal(reclaimed.count, 1);
	assert_string_equal(reclaimed.entries[0].container_id, "crashed");
	/* Committed records of exited processes are not touched: the range is full now. */
	assert_int_equal(
	    ipam_allocate(f->dir, &f->range, "more", "eth0", &address, &is_new, NULL, &err),
	    -ENOSPC);
	assert_int_equal(err.code, CNI_ERR_TRY_AGAIN);
}

static void test_crashed_add_retried(void **state)
{
	struct fixture *f = *state;
	struct cni_error err = {};
	struct in_addr crashed, address;
	bool is_new;

	crashed = allocate_and_die(f, "retry", false);
	/* The runtime retries the same ADD: it gets the same address and owns it now. */
	assert_int_equal(
	    ipam_allocate(f->dir, &f->range, "retry", "eth0", &address, &is_new, NULL, &err), 0);
	assert_int_equal(address.s_addr, crashed.s_addr);
	assert_true(is_new);
}

static bool only_keep(const char *container_id, const char *ifname, void *ctx)
{
	return !strcmp(container_id, ctx) && !strcmp(ifname, "eth0");
}

static void test_gc(void **state)
{
	struct fixture *f = *state;
	struct ipam_reclaimed removed = {};
	struct in_addr keep, found;
	unsigned int in_use;

	keep = allocate_and_die(f, "keep", true);
	allocate_and_die(f, "stale", true);
	allocate_ok(f, "running", "eth0", true); /* pending, owner alive: an ADD in flight */
	allocate_and_die(f, "crashed", false);
	assert_int_equal(ipam_gc(f->dir, &f->range, only_keep, "keep", &removed), 0);
	assert_int_equal(removed.count, 2);
	assert_int_equal(ipam_find(f->dir, "keep", "eth0", &found), 0);
	assert_int_equal(found.s_addr, keep.s_addr);
	assert_int_equal(ipam_find(f->dir, "running", "eth0", &found), 0);
	assert_int_equal(ipam_find(f->dir, "stale", "eth0", &found), -ENOENT);
	assert_int_equal(ipam_find(f->dir, "crashed", "eth0", &found), -ENOENT);
	assert_int_equal(ipam_usage(f->dir, &f->range, &in_use), 0);
	assert_int_equal(in_use, 2);
}

static struct node_ipam_cidr cidr(const char *text)
{
	struct node_ipam_cidr out = {.is_set = 1};
	struct in_addr network;
	unsigned int prefix;

	assert_int_equal(cni_parse_cidr4(text, &network, &prefix), 0);
	out.address = network.s_addr;
	out.prefix = (__u8)prefix;
	return out;
}

static void test_cidr_plan(void **state)
{
	struct cidr_plan plan = {};
	char msg[256];

	(void)state;
	plan.cluster[0] = cidr("10.244.0.0/16");
	plan.service[0] = cidr("10.96.0.0/12");
	plan.pod = cidr("10.244.1.0/24");
	inet_pton(AF_INET, "10.96.0.10", &plan.dns);
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), 0);

	plan.service[0] = cidr("10.244.128.0/20");
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg,
			    "cluster CIDR 10.244.0.0/16 overlaps service CIDR 10.244.128.0/20");

	plan.service[0] = cidr("10.96.0.0/12");
	plan.pod = cidr("10.245.1.0/24");
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "pod CIDR 10.245.1.0/24 is not inside cluster CIDR 10.244.0.0/16");

	plan.pod = cidr("10.244.1.0/24");
	inet_pton(AF_INET, "10.0.0.10", &plan.dns);
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "DNS service IP 10.0.0.10 is outside service CIDR 10.96.0.0/12");

	/* A pod CIDR inside the cluster CIDR may still not overlap the service CIDR. */
	inet_pton(AF_INET, "10.96.0.10", &plan.dns);
	plan.cluster[0] = cidr("10.0.0.0/8");
	plan.pod = cidr("10.96.0.0/24");
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "cluster CIDR 10.0.0.0/8 overlaps service CIDR 10.96.0.0/12");
	plan.cluster[0].is_set = 0;
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "pod CIDR 10.96.0.0/24 overlaps service CIDR 10.96.0.0/12");

	/* Several ranges (kube-controller-manager's list, ServiceCIDR objects): the pod CIDR in
	 * any cluster CIDR, the DNS IP in any service CIDR, no two ranges overlapping. */
	plan.cluster[0] = cidr("10.244.0.0/16");
	plan.cluster[1] = cidr("10.245.0.0/16");
	plan.service[1] = cidr("10.120.0.0/16");
	plan.pod = cidr("10.245.3.0/24");
	inet_pton(AF_INET, "10.120.0.10", &plan.dns);
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), 0);
	plan.pod = cidr("10.246.3.0/24");
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "pod CIDR 10.246.3.0/24 is not inside cluster CIDR "
				 "10.244.0.0/16,10.245.0.0/16");
	plan.pod = cidr("10.245.3.0/24");
	inet_pton(AF_INET, "10.121.0.10", &plan.dns);
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "DNS service IP 10.121.0.10 is outside service CIDR "
				 "10.96.0.0/12,10.120.0.0/16");
	inet_pton(AF_INET, "10.120.0.10", &plan.dns);
	plan.cluster[2] = cidr("10.245.128.0/17");
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg,
			    "cluster CIDR 10.245.0.0/16 overlaps cluster CIDR 10.245.128.0/17");
	plan.cluster[2].is_set = 0;
	plan.service[2] = cidr("10.96.0.0/16");
	assert_int_equal(cidr_plan_check(&plan, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "service CIDR 10.96.0.0/12 overlaps service CIDR 10.96.0.0/16");
}

/* ---- config validation ------------------------------------------------------------------ */

static int parse(const char *json, struct cni_config *cfg, struct cni_error *err)
{
	memset(err, 0, sizeof(*err));
	return cni_config_parse(json, strlen(json), cfg, err);
}

#define GOOD_IPAM "\"ipam\":{\"subnet\":\"10.244.1.0/24\"}"

static void test_config_valid(void **state)
{
	struct cni_config cfg;
	struct cni_error err;

	(void)state;
	assert_int_equal(parse("{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"type\":"
			       "\"sluice-cni\",\"node\":\"n1\",\"mtu\":1450," GOOD_IPAM
			       ",\"dns\":{\"nameservers\":[\"10.96.0.10\"]}}",
			       &cfg, &err),
			 0);
	assert_string_equal(cfg.name, "k8s-pod-network");
	assert_string_equal(cfg.bpffs, CNI_BPFFS_DEFAULT);
	assert_string_equal(cfg.state_dir, CNI_STATE_DIR_DEFAULT);
	assert_int_equal(cfg.mtu, 1450);
	assert_true(cfg.has_mtu);
	assert_int_equal(cfg.prefix, 24);
	assert_string_equal(addr_str(cfg.gateway), "10.244.1.1");
	assert_non_null(cfg.dns);
	cni_config_free(&cfg);

	assert_int_equal(parse("{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"ipam\":{\"subnet\":"
			       "\"10.0.0.0/8\",\"gateway\":\"10.0.0.254\"}}",
			       &cfg, &err),
			 0);
	assert_string_equal(addr_str(cfg.gateway), "10.0.0.254");
	assert_int_equal(cfg.mtu, CNI_MTU_DEFAULT);
	assert_false(cfg.has_mtu); /* the agent's pod MTU applies (cni_config_resolve_mtu) */
	cni_config_free(&cfg);

	/* IPv4's bounds: 68 (RFC 791) and 65535 are accepted. */
	assert_int_equal(
	    parse("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"mtu\":68," GOOD_IPAM "}", &cfg, &err),
	    0);
	assert_int_equal(cfg.mtu, 68);
	cni_config_free(&cfg);
	assert_int_equal(parse("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"mtu\":65535," GOOD_IPAM
			       "}",
			       &cfg, &err),
			 0);
	assert_int_equal(cfg.mtu, 65535);
	cni_config_free(&cfg);
}

static void test_config_invalid(void **state)
{
	static const struct {
		const char *json;
		int code;
		const char *msg_part;
	} cases[] = {
	    {"", CNI_ERR_DECODE, "nothing"},
	    {"{\"cniVersion\":", CNI_ERR_DECODE, "invalid JSON"},
	    {"{} trailing", CNI_ERR_DECODE, "JSON"},
	    {"[1]", CNI_ERR_DECODE, "not a JSON object"},
	    {"{\"name\":\"n\"}", CNI_ERR_INVALID_CONFIG, "cniVersion"},
	    {"{\"cniVersion\":\"0.2.0\",\"name\":\"n\"}", CNI_ERR_INCOMPATIBLE_VERSION, "0.2.0"},
	    {"{\"cniVersion\":7,\"name\":\"n\"}", CNI_ERR_INVALID_CONFIG, "cniVersion"},
	    {"{\"cniVersion\":\"1.0.0\"," GOOD_IPAM "}", CNI_ERR_INVALID_CONFIG, "name"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"../etc\"," GOOD_IPAM "}", CNI_ERR_INVALID_CONFIG,
	     "name"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"a/b\"," GOOD_IPAM "}", CNI_ERR_INVALID_CONFIG,
	     "name"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":[]}", CNI_ERR_INVALID_CONFIG,
	     "ipam"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"type\":\"host-local\"}}",
	     CNI_ERR_UNSUPPORTED_FIELD, "ipam.type"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"clusterCIDR\":\"10.244.0.1/"
	     "16\"}}",
	     CNI_ERR_INVALID_CONFIG, "ipam.clusterCIDR"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"nodeCidrSize\":31}}",
	     CNI_ERR_INVALID_CONFIG, "ipam.nodeCidrSize"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"gateway\":\"10.0.0.1\"}}",
	     CNI_ERR_INVALID_CONFIG, "ipam.gateway"},
	    {"{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"cni.dev/valid-attachments\":[{}]}",
	     CNI_ERR_INVALID_CONFIG, "valid-attachments[0]"},
	    {"{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"cniVersions\":\"1.1.0\"}",
	     CNI_ERR_INVALID_CONFIG, "cniVersions"},
	    {"{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"runtimeConfig\":1}",
	     CNI_ERR_INVALID_CONFIG, "runtimeConfig"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"subnet\":\"10.244.1.1/24\"}}",
	     CNI_ERR_INVALID_CONFIG, "ipam.subnet"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"subnet\":\"10.244.1.0/31\"}}",
	     CNI_ERR_INVALID_CONFIG, "prefix"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"subnet\":\"10.0.0.0/7\"}}",
	     CNI_ERR_INVALID_CONFIG, "prefix"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"subnet\":\"fd00::/64\"}}",
	     CNI_ERR_UNSUPPORTED_FIELD, "IPv6"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"subnet\":\"10.244.1.0/24\","
	     "\"gateway\":\"10.244.2.1\"}}",
	     CNI_ERR_INVALID_CONFIG, "ipam.gateway"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"ipam\":{\"subnet\":\"10.244.1.0/24\","
	     "\"gateway\":\"10.244.1.255\"}}",
	     CNI_ERR_INVALID_CONFIG, "ipam.gateway"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"mtu\":70000," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "mtu"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"mtu\":65536," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "mtu: 65536 is outside 68..65535"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"mtu\":67," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "mtu: 67 is outside 68..65535"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"mtu\":-1," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "mtu"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"mtu\":1400.5," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "mtu"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"mtu\":\"1500\"," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "mtu"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"bpffs\":\"relative\"," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "bpffs"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"stateDir\":\"/var/../etc\"," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "stateDir"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"node\":\"a b\"," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "node"},
	    {"{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"dns\":[]," GOOD_IPAM "}",
	     CNI_ERR_INVALID_CONFIG, "dns"},
	};
	struct cni_config cfg;
	struct cni_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = parse(cases[i].json, &cfg, &err);

		if (ret != -EINVAL || err.code != cases[i].code ||
		    !strstr(err.msg, cases[i].msg_part))
			fail_msg(
			    "config %s: got ret %d code %d msg \"%s\", want code %d and \"%s\"",
			    cases[i].json, ret, err.code, err.msg, cases[i].code,
			    cases[i].msg_part);
		assert_null(cfg.dns);
	}
}

static void test_config_size_cap(void **state)
{
	size_t len = CNI_MAX_CONFIG_BYTES + 1;
	char *big = malloc(len);
	struct cni_config cfg;
	struct cni_error err = {};

	(void)state;
	assert_non_null(big);
	memset(big, ' ', len);
	assert_int_equal(cni_config_parse(big, len, &cfg, &err), -EINVAL);
	assert_int_equal(err.code, CNI_ERR_DECODE);
	free(big);
}

/*
 * GC releases every attachment the runtime does not list, so the list is required: without it
 * (key missing, or null, under either name) GC fails with code 7 and releases nothing; an
 * empty list [] is a request, and releases everything.
 */
static void test_gc_needs_valid_attachments(void **state)
{
	static const char *const refused[] = {
	    "",
	    ",\"cni.dev/valid-attachments\":null",
	    ",\"cni.dev/attachments\":null",
	};
	struct fixture *f = *state;
	struct cni_config cfg;
	struct cni_error err;
	struct in_addr found;
	char json[512];

	allocate_and_die(f, "pod", true);
	for (size_t i = 0; i <= sizeof(refused) / sizeof(refused[0]); i++) {
		bool is_refused = i < sizeof(refused) / sizeof(refused[0]);

		snprintf(json, sizeof(json),
			 "{\"cniVersion\":\"1.1.0\",\"name\":\"net\",\"stateDir\":\"%s\","
			 "\"bpffs\":\"%s/no-agent\"%s}",
			 f->root, f->root,
			 is_refused ? refused[i] : ",\"cni.dev/valid-attachments\":[]");
		assert_int_equal(parse(json, &cfg, &err), 0);
		if (is_refused) {
			assert_null(cfg.valid_attachments);
			assert_int_equal(cni_cmd_gc(&cfg, false, &err), -EINVAL);
			if (err.code != CNI_ERR_INVALID_CONFIG ||
			    !strstr(err.msg, "cni.dev/valid-attachments: missing"))
				fail_msg("GC of %s: code %d msg \"%s\", want code 7", json,
					 err.code, err.msg);
			assert_int_equal(ipam_find(f->dir, "pod", "eth0", &found), 0);
		} else {
			assert_non_null(cfg.valid_attachments);
			assert_int_equal(json_object_array_length(cfg.valid_attachments), 0);
			assert_int_equal(cni_cmd_gc(&cfg, false, &err), 0);
			assert_int_equal(ipam_find(f->dir, "pod", "eth0", &found), -ENOENT);
		}
		cni_config_free(&cfg);
	}
}

/* ---- environment validation ------------------------------------------------------------- */

static const char *const *test_env;

static const char *test_getenv(const char *name)
{
	for (int i = 0; test_env[i]; i += 2)
		if (!strcmp(test_env[i], name))
			return test_env[i + 1];
	return NULL;
}

static int env_parse(const char *const *vars, struct cni_env *env, struct cni_error *err)
{
	test_env = vars;
	memset(err, 0, sizeof(*err));
	return cni_env_parse(test_getenv, env, err);
}

static void test_env_valid(void **state)
{
	const char *const add[] = {"CNI_COMMAND",
				   "ADD",
				   "CNI_CONTAINERID",
				   "abc123",
				   "CNI_NETNS",
				   "/var/run/netns/x",
				   "CNI_IFNAME",
				   "eth0",
				   "CNI_ARGS",
				   "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;"
				   "K8S_POD_INFRA_CONTAINER_ID=abc123;Other=x",
				   NULL};
	const char *const del[] = {"CNI_COMMAND", "DEL", "CNI_CONTAINERID", "abc123", "CNI_IFNAME",
				   "eth0",	  NULL};
	const char *const version[] = {"CNI_COMMAND", "VERSION", NULL};
	struct cni_env env;
	struct cni_error err;
	char name[16];

	(void)state;
	assert_int_equal(env_parse(add, &env, &err), 0);
	assert_int_equal(env.command, CNI_CMD_ADD);
	assert_string_equal(env.pod_namespace, "default");
	assert_string_equal(env.pod_name, "web-1");
	/* DEL without CNI_NETNS: the sandbox may already be gone. */
	assert_int_equal(env_parse(del, &env, &err), 0);
	assert_string_equal(env.netns, "");
	assert_int_equal(env_parse(version, &env, &err), 0);
	assert_int_equal(env.command, CNI_CMD_VERSION);

	cni_host_veth_name("abc123", "eth0", name);
	assert_int_equal(strlen(name), 14);
	/* Pinned: a plugin upgrade must find the veths the previous version made (DEL, CHECK). */
	assert_string_equal(name, "sl4fe06905ceb2");
	char other[16];

	cni_host_veth_name("abc123", "eth1", other);
	assert_string_not_equal(name, other);
}

static void test_env_invalid(void **state)
{
	char long_id[CNI_CONTAINER_ID_MAX + 2];
	const char *const cases[][13] = {
	    {NULL},
	    {"CNI_COMMAND", "FROB", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_NETNS", "/n", "CNI_IFNAME", "eth0", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", "a", "CNI_IFNAME", "eth0", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", "a", "CNI_NETNS", "/n", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", "a;rm", "CNI_NETNS", "/n", "CNI_IFNAME",
	     "eth0", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", "a", "CNI_NETNS", "/n", "CNI_IFNAME",
	     "eth0123456789abc", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", "a", "CNI_NETNS", "/n", "CNI_IFNAME", "../x",
	     NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", "a", "CNI_NETNS", "relative", "CNI_IFNAME",
	     "eth0", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", "a", "CNI_NETNS", "/n", "CNI_IFNAME", "eth0",
	     "CNI_ARGS", "Unknown=1", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", "a", "CNI_NETNS", "/n", "CNI_IFNAME", "eth0",
	     "CNI_ARGS", "K8S_POD_NAME=Bad_Name", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", "a", "CNI_NETNS", "/n", "CNI_IFNAME", "eth0",
	     "CNI_ARGS", "novalue", NULL},
	    {"CNI_COMMAND", "ADD", "CNI_CONTAINERID", long_id, "CNI_NETNS", "/n", "CNI_IFNAME",
	     "eth0", NULL},
	};
	struct cni_env env;
	struct cni_error err;

	(void)state;
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = env_parse(cases[i], &env, &err);

		if (ret != -EINVAL || err.code != CNI_ERR_INVALID_ENV || !strstr(err.msg, "CNI_"))
			fail_msg("env case %zu: got ret %d code %d msg \"%s\", want code 4", i, ret,
				 err.code, err.msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_allocate_skips_reserved, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gateway_not_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idempotent_same_container, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_and_rotate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exhaustion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_children, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crashed_add_reclaimed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crashed_add_retried, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
	    cmocka_unit_test(test_cidr_plan),
	    cmocka_unit_test(test_config_valid),
	    cmocka_unit_test(test_config_invalid),
	    cmocka_unit_test(test_config_size_cap),
	    cmocka_unit_test_setup_teardown(test_gc_needs_valid_attachments, setup, teardown),
	    cmocka_unit_test(test_env_valid),
	    cmocka_unit_test(test_env_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
