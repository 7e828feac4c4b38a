// SPDX-License-Identifier: Apache-2.0
/* sluice-cni commands: ADD, DEL, CHECK, STATUS and GC on validated config and environment. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/rtnetlink.h>

#include <json-c/json.h>
#include <netlink/socket.h>

#include "cni/cni_commands.h"
#include "cni/cni_datapath.h"
#include "cni/ipam.h"
#include "cni/cni_netlink.h"
#include "cni/cni_result.h"
#include "lib/log.h"
#include "lib/tc_attach.h"

static const struct in_addr cni_any = {0};

/*
 * Crash injection for the tests of crash recovery: SLUICE_CNI_FAULT=<point> kills the plugin
 * with SIGKILL at that point of ADD, leaving exactly what a crash there leaves. Points:
 * "after-ipam" (address reserved, nothing wired), "after-wire" (wired, record still pending).
 */
static void cni_fault(const char *point)
{
	const char *want = getenv("SLUICE_CNI_FAULT");

	if (want && !strcmp(want, point))
		raise(SIGKILL);
}

/*
 * Undo what a dead attachment left on the node: the endpoints pointing at its host veth, then
 * the veth (its pod end, routes and tc filter go with it). Matching by ifindex, not by address,
 * never touches a pod that has been given the address since.
 */
static void cni_unwire_stale(struct nl_sock *node, int map_fd, const char *container_id,
			     const char *ifname)
{
	char host[16];
	int ifindex;

	cni_host_veth_name(container_id, ifname, host);
	if (cni_link_get(node, host, &ifindex, NULL, NULL))
		return;
	if (map_fd >= 0)
		cni_endpoint_delete_ifindex(map_fd, (unsigned int)ifindex);
	cni_link_delete(node, host);
	log_info("removed stale attachment %.12s/%s (host veth %s)", container_id, ifname, host);
}

static void cni_ipam_range(const struct cni_config *cfg, struct ipam_range *range)
{
	range->node = cfg->node;
	range->subnet = cfg->subnet;
	range->prefix = cfg->prefix;
	range->gateway = cfg->gateway;
}

/*
 * What a command holds open: every command starts from cni_handles_init(), opens what it needs
 * and ends with cni_handles_close(), which releases whatever was opened.
 */
struct cni_handles {
	struct nl_sock *node;	/* route socket in the node's namespace */
	struct nl_sock *pod;	/* route socket in CNI_NETNS */
	int pod_ns;		/* CNI_NETNS itself (the veth peer is created in it) */
	struct cni_progs progs; /* the agent's pinned tc programs */
	int map_fd;		/* the agent's pinned endpoints map */
};

static void cni_handles_init(struct cni_handles *handles)
{
	*handles = (struct cni_handles){
	    .pod_ns = -1, .progs = {.pod_fd = -1, .to_pod_fd = -1}, .map_fd = -1};
}

static void cni_handles_close(struct cni_handles *handles)
{
	cni_nl_close(handles->pod);
	cni_nl_close(handles->node);
	if (handles->pod_ns >= 0)
		close(handles->pod_ns);
	cni_progs_close(&handles->progs);
	if (handles->map_fd >= 0)
		close(handles->map_fd);
	cni_handles_init(handles);
}

/* A route socket in the node's namespace; an error is I/O (code 5). */
static int cni_open_node(const struct cni_config *cfg, struct cni_handles *handles,
			 struct cni_error *err)
{
	int ret = cni_nl_open(&handles->node);

	if (ret)
		cni_error_set(err, CNI_ERR_IO, "node %s: netlink: %s", cfg->node, strerror(-ret));
	return ret;
}

/* Open CNI_NETNS and a route socket inside it; errors name the variable (code 4) or I/O (5). */
static int cni_open_pod(const struct cni_env *env, struct cni_handles *handles,
			struct cni_error *err)
{
	int ret = cni_nl_open_netns(env->netns, &handles->pod_ns, &handles->pod);

	if (ret == -ENOENT || ret == -EINVAL)
		cni_error_set(err, CNI_ERR_INVALID_ENV, "CNI_NETNS: %s: %s", env->netns,
			      ret == -EINVAL ? "not a network namespace" : strerror(-ret));
	else if (ret)
		cni_error_set(err, CNI_ERR_IO, "CNI_NETNS: %s: %s", env->netns, strerror(-ret));
	return ret;
}

/* Pod side: /32 on ifname, links up, a link route to the gateway and the default route via it. */
static int cni_wire_pod(struct nl_sock *pod, const struct cni_config *cfg,
			const struct cni_env *env, struct in_addr address,
			struct cni_add_result *result, struct cni_error *err)
{
	const char *step;
	int ifindex, ret;

	step = "find";
	ret = cni_link_get(pod, env->ifname, &ifindex, result->pod_mac, NULL);
	if (ret)
		goto fail;
	step = "add address to";
	ret = cni_addr_add(pod, ifindex, address, 32);
	if (ret)
		goto fail;
	step = "set up";
	ret = cni_link_set_up(pod, env->ifname);
	if (ret)
		goto fail;
	step = "set up lo beside";
	ret = cni_link_set_up(pod, "lo");
	if (ret)
		goto fail;
	/* The pod's address is /32: the gateway is reachable only through this link route. */
	step = "add gateway route on";
	ret = cni_route_replace(pod, ifindex, cfg->gateway, 32, NULL, RT_SCOPE_LINK);
	if (ret)
		goto fail;
	step = "add default route on";
	ret = cni_route_replace(pod, ifindex, cni_any, 0, &cfg->gateway, RT_SCOPE_UNIVERSE);
	if (ret)
		goto fail;
	return 0;

fail:
	cni_error_set(err, CNI_ERR_IO, "node %s: %s pod interface %s in %s: %s", cfg->node, step,
		      env->ifname, env->netns, strerror(-ret));
	return ret;
}

/*
 * Node side, once tc_pod and the endpoint are in place (cni_arm_source_check): host veth up and
 * routed, gateway device, forwarding on, no strict rp_filter.
 */
static int cni_wire_node(struct nl_sock *node, const struct cni_config *cfg, struct in_addr address,
			 struct cni_add_result *result, int ifindex, struct cni_error *err)
{
	char sysctl[64];
	const char *step;
	int ret;

	step = "set up host veth";
	ret = cni_link_set_up(node, result->host_ifname);
	if (ret)
		goto fail;
	step = "route pod address to host veth";
	ret = cni_route_replace(node, ifindex, address, 32, NULL, RT_SCOPE_LINK);
	if (ret)
		goto fail;
	/* The gateway lives on a dummy device so that every host veth answers ARP for it. */
	step = "set up gateway device " CNI_GATEWAY_DEVICE;
	ret = cni_gateway_device_ensure(node, CNI_GATEWAY_DEVICE, cfg->gateway);
	if (ret)
		goto fail;
	step = "enable net.ipv4.ip_forward";
	ret = cni_sysctl_write("net/ipv4/ip_forward", "1");
	if (ret)
		goto fail;
	/*
	 * Pod traffic arrives from addresses routed back out other veths, which strict mode drops.
	 * Source validation is tc_pod's (ep4_check_source): a pod sends only as itself.
	 */
	step = "disable rp_filter on host veth";
	snprintf(sysctl, sizeof(sysctl), "net/ipv4/conf/%s/rp_filter", result->host_ifname);
	ret = cni_sysctl_write(sysctl, "0");
	if (ret)
		goto fail;
	return 0;

fail:
	cni_error_set(err, CNI_ERR_IO, "node %s: %s %s: %s", cfg->node, step, result->host_ifname,
		      strerror(-ret));
	return ret;
}

/*
 * Arms the source check of the pod behind the new host veth, while that veth is still down (so
 * the pod can send nothing yet): every ep4 entry still naming its ifindex goes (a deleted pod's
 * stale entry must not let a new pod on a reused ifindex send as the old address), tc_pod is
 * attached and the pod's address registered. Sets *has_endpoint once the entry is written.
 */
static int cni_arm_source_check(const struct cni_config *cfg, const struct cni_env *env,
				struct cni_handles *handles, struct cni_add_result *result,
				int *host_ifindex, bool *has_endpoint, struct cni_error *err)
{
	struct ep4_info info = {};
	char address_str[INET_ADDRSTRLEN];
	int ret;

	inet_ntop(AF_INET, &result->address, address_str, sizeof(address_str));
	ret =
	    cni_link_get(handles->node, result->host_ifname, host_ifindex, result->host_mac, NULL);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: find host veth %s: %s", cfg->node,
			      result->host_ifname, strerror(-ret));
		return ret;
	}
	ret = cni_endpoint_delete_ifindex(handles->map_fd, (unsigned int)*host_ifindex);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: stale endpoints of %s in %s/%s: %s",
			      cfg->node, result->host_ifname, cfg->bpffs, EP4_MAP, strerror(-ret));
		return ret;
	}
	ret = tc_attach(*host_ifindex, false, handles->progs.pod_fd);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: attach %s/%s to tc ingress of %s: %s",
			      cfg->node, cfg->bpffs, SLUICE_PROG_PIN, result->host_ifname,
			      strerror(-ret));
		return ret;
	}
	/* Ingress policy for whatever reaches the pod through the node's stack. */
	ret = tc_attach(*host_ifindex, true, handles->progs.to_pod_fd);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: attach %s/%s to tc egress of %s: %s",
			      cfg->node, cfg->bpffs, SLUICE_TO_POD_PIN, result->host_ifname,
			      strerror(-ret));
		return ret;
	}
	info.ifindex = (__u32)*host_ifindex;
	memcpy(info.mac, result->pod_mac, sizeof(info.mac));
	memcpy(info.host_mac, result->host_mac, sizeof(info.host_mac));
	cni_endpoint_name(env, info.name);
	ret = cni_endpoint_update(handles->map_fd, result->address, &info);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: endpoint %s (%s) into %s/%s: %s",
			      cfg->node, address_str, info.name, cfg->bpffs, EP4_MAP,
			      strerror(-ret));
		return ret;
	}
	*has_endpoint = true;
	return 0;
}

int cni_cmd_add(const struct cni_config *cfg, const struct cni_env *env, FILE *out,
		struct cni_error *err)
{
	struct cni_add_result result = {
	    .netns = env->netns, .mtu = cfg->mtu, .gateway = cfg->gateway};
	struct cni_handles handles;
	struct ipam_range range;
	struct ipam_reclaimed reclaimed = {};
	char dir[CNI_PATH_MAX + CNI_NAME_MAX + 2], address_str[INET_ADDRSTRLEN];
	int host_ifindex = 0, ret;
	bool is_new_address = false, has_veth = false, has_endpoint = false;

	cni_handles_init(&handles);
	snprintf(result.pod_ifname, sizeof(result.pod_ifname), "%s", env->ifname);
	cni_host_veth_name(env->container_id, env->ifname, result.host_ifname);
	cni_ipam_range(cfg, &range);

	/* Refuse before touching anything when the agent is not there to serve the pod. */
	ret = cni_datapath_open(cfg->bpffs, cfg->node, &handles.map_fd, &handles.progs, err);
	if (ret)
		goto cleanup;
	ret = cni_open_pod(env, &handles, err);
	if (ret)
		goto cleanup;
	ret = cni_open_node(cfg, &handles, err);
	if (ret)
		goto cleanup;
	ret = ipam_dir(cfg->state_dir, cfg->name, dir, sizeof(dir));
	if (ret) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "stateDir: too long");
		goto cleanup;
	}
	ret = ipam_allocate(dir, &range, env->container_id, env->ifname, &result.address,
			    &is_new_address, &reclaimed, err);
	if (ret)
		goto cleanup;
	inet_ntop(AF_INET, &result.address, address_str, sizeof(address_str));
	for (unsigned int i = 0; i < reclaimed.count && i < IPAM_RECLAIMED_MAX; i++)
		cni_unwire_stale(handles.node, handles.map_fd, reclaimed.entries[i].container_id,
				 reclaimed.entries[i].ifname);
	cni_fault("after-ipam");

	/* Same (container, ifname) hashes to the same name: a leftover is from an earlier ADD. */
	ret = cni_link_delete(handles.node, result.host_ifname);
	if (!ret)
		log_warn("node %s: removed stale host veth %s", cfg->node, result.host_ifname);
	ret = cni_veth_create(handles.node, result.host_ifname, env->ifname, handles.pod_ns,
			      cfg->mtu);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: create veth %s <-> %s in %s: %s%s",
			      cfg->node, result.host_ifname, env->ifname, env->netns,
			      strerror(-ret),
			      ret == -EEXIST ? " (CNI_IFNAME already in use in the pod)" : "");
		goto cleanup;
	}
	has_veth = true;

	ret = cni_wire_pod(handles.pod, cfg, env, result.address, &result, err);
	if (ret)
		goto cleanup;
	/* The host veth is still down: nothing the pod sends reaches the node before this. */
	ret = cni_arm_source_check(cfg, env, &handles, &result, &host_ifindex, &has_endpoint, err);
	if (ret)
		goto cleanup;
	/* The netlink socket lives in CNI_NETNS: its netns cookie is the pod's. */
	cni_pod_netns_record(cfg->bpffs, nl_socket_get_fd(handles.pod), result.address,
			     host_ifindex);
	ret = cni_wire_node(handles.node, cfg, result.address, &result, host_ifindex, err);
	if (ret)
		goto cleanup;

	cni_fault("after-wire");
	ret = ipam_commit(dir, env->container_id, env->ifname, result.address);
	if (ret) {
		cni_error_set(err, CNI_ERR_IO, "node %s: IPAM state %s/%s: %s", cfg->node, dir,
			      address_str, strerror(-ret));
		goto cleanup;
	}
	ret = cni_print_result(out, cfg, &result);
	if (ret)
		cni_error_set(err, CNI_ERR_IO, "write result: %s", strerror(-ret));

cleanup:
	if (ret) {
		/* Roll back in reverse; the veth takes its peer, routes and tc filter with it. */
		if (has_endpoint) {
			cni_endpoint_delete(handles.map_fd, result.address);
			cni_pod_netns_forget(cfg->bpffs, result.address);
		}
		if (has_veth && cni_link_delete(handles.node, result.host_ifname) == -EPERM)
			log_warn("rollback: delete %s: %s", result.host_ifname, strerror(EPERM));
		if (is_new_address)
			ipam_release(dir, env->container_id, env->ifname, NULL);
	}
	cni_handles_close(&handles);
	return ret;
}

int cni_cmd_del(const struct cni_config *cfg, const struct cni_env *env, struct cni_error *err)
{
	struct cni_error ignored = {};
	struct cni_handles handles;
	struct in_addr address;
	char dir[CNI_PATH_MAX + CNI_NAME_MAX + 2], host[16];
	int host_ifindex = 0, ret;
	bool has_address;

	cni_handles_init(&handles);
	cni_host_veth_name(env->container_id, env->ifname, host);
	ret = ipam_dir(cfg->state_dir, cfg->name, dir, sizeof(dir));
	if (ret) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "stateDir: too long");
		goto cleanup;
	}
	ret = ipam_find(dir, env->container_id, env->ifname, &address);
	if (ret && ret != -ENOENT) {
		cni_error_set(err, CNI_ERR_IO, "node %s: IPAM state %s: %s", cfg->node, dir,
			      strerror(-ret));
		goto cleanup;
	}
	has_address = !ret;

	ret = cni_open_node(cfg, &handles, err);
	if (ret)
		goto cleanup;
	if (cni_link_get(handles.node, host, &host_ifindex, NULL, NULL))
		host_ifindex = 0;

	/* Without an agent there is no endpoint to remove; the rest must still go. */
	if (!cni_datapath_open(cfg->bpffs, cfg->node, &handles.map_fd, NULL, &ignored)) {
		/*
		 * Before the veth and the address go: from here the pod's packets are dropped
		 * (tc_pod finds no endpoint), and an address handed out again is never accepted
		 * from this pod. Every entry naming the veth goes, under any address.
		 */
		if (has_address) {
			cni_pod_netns_forget(cfg->bpffs, address);
			ret = cni_endpoint_delete(handles.map_fd, address);
		}
		if (!ret && host_ifindex)
			ret =
			    cni_endpoint_delete_ifindex(handles.map_fd, (unsigned int)host_ifindex);
		if (ret) {
			cni_error_set(err, CNI_ERR_IO, "node %s: delete endpoint from %s/%s: %s",
				      cfg->node, cfg->bpffs, EP4_MAP, strerror(-ret));
			goto cleanup;
		}
	} else {
		log_info("DEL: %s", ignored.msg);
	}

	ret = cni_link_delete(handles.node, host);
	if (ret && ret != -ENODEV) {
		cni_error_set(err, CNI_ERR_IO, "node %s: delete host veth %s: %s", cfg->node, host,
			      strerror(-ret));
		goto cleanup;
	}
	/* Released last, so the address is not handed out while its endpoint may still exist. */
	ret = ipam_release(dir, env->container_id, env->ifname, NULL);
	if (ret && ret != -ENOENT) {
		cni_error_set(err, CNI_ERR_IO, "node %s: release address in %s: %s", cfg->node, dir,
			      strerror(-ret));
		goto cleanup;
	}
	ret = 0;

cleanup:
	cni_handles_close(&handles);
	return ret;
}

/* CHECK gets the ADD's result as prevResult: its first address must be the one we hold. */
static int cni_check_prev_result(const struct cni_config *cfg, const char *address,
				 struct cni_error *err)
{
	struct json_object *ips, *ip, *val;
	char want[INET_ADDRSTRLEN + 4];

	if (!cfg->prev_result)
		return 0;
	snprintf(want, sizeof(want), "%s/32", address);
	if (!json_object_object_get_ex(cfg->prev_result, "ips", &ips) ||
	    !json_object_is_type(ips, json_type_array) || !json_object_array_length(ips) ||
	    !(ip = json_object_array_get_idx(ips, 0)) ||
	    !json_object_object_get_ex(ip, "address", &val) ||
	    !json_object_is_type(val, json_type_string) ||
	    strcmp(json_object_get_string(val), want)) {
		cni_error_set(
		    err, CNI_ERR_CHECK_FAILED,
		    "prevResult.ips[0].address: not %s, the address this attachment holds", want);
		return -ESTALE;
	}
	return 0;
}

int cni_cmd_check(const struct cni_config *cfg, const struct cni_env *env, struct cni_error *err)
{
	struct cni_handles handles;
	struct ep4_info info;
	struct in_addr address;
	char dir[CNI_PATH_MAX + CNI_NAME_MAX + 2], host[16], address_str[INET_ADDRSTRLEN];
	int host_ifindex, pod_ifindex, ret;
	bool is_up;

	cni_handles_init(&handles);
	cni_host_veth_name(env->container_id, env->ifname, host);
	ret = ipam_dir(cfg->state_dir, cfg->name, dir, sizeof(dir));
	if (!ret)
		ret = ipam_find(dir, env->container_id, env->ifname, &address);
	if (ret) {
		cni_error_set(err, CNI_ERR_UNKNOWN_CONTAINER,
			      "container %.12s ifname %s: no address allocated in %s",
			      env->container_id, env->ifname, dir);
		goto cleanup;
	}
	inet_ntop(AF_INET, &address, address_str, sizeof(address_str));
	ret = cni_check_prev_result(cfg, address_str, err);
	if (ret)
		goto cleanup;
	ret = cni_datapath_open(cfg->bpffs, cfg->node, &handles.map_fd, &handles.progs, err);
	if (ret)
		goto cleanup;
	ret = cni_open_node(cfg, &handles, err);
	if (ret)
		goto cleanup;
	ret = cni_link_get(handles.node, host, &host_ifindex, NULL, &is_up);
	if (ret || !is_up) {
		ret = ret ? ret : -ENETDOWN;
		cni_error_set(err, CNI_ERR_CHECK_FAILED, "node %s: host veth %s: %s", cfg->node,
			      host, strerror(-ret));
		goto cleanup;
	}
	ret = cni_endpoint_lookup(handles.map_fd, address, &info);
	if (ret || info.ifindex != (__u32)host_ifindex) {
		ret = ret ? ret : -ESTALE;
		cni_error_set(err, CNI_ERR_CHECK_FAILED, "node %s: endpoint %s in %s/%s: %s",
			      cfg->node, address_str, cfg->bpffs, EP4_MAP,
			      ret == -ESTALE ? "points at another interface" : strerror(-ret));
		goto cleanup;
	}
	ret = tc_attach_query(host_ifindex, false);
	if (ret) {
		cni_error_set(err, CNI_ERR_CHECK_FAILED, "node %s: tc ingress filter on %s: %s",
			      cfg->node, host, strerror(-ret));
		goto cleanup;
	}
	ret = tc_attach_query(host_ifindex, true);
	if (ret) {
		cni_error_set(err, CNI_ERR_CHECK_FAILED, "node %s: tc egress filter on %s: %s",
			      cfg->node, host, strerror(-ret));
		goto cleanup;
	}
	ret = cni_open_pod(env, &handles, err);
	if (ret)
		goto cleanup;
	ret = cni_link_get(handles.pod, env->ifname, &pod_ifindex, NULL, NULL);
	if (!ret)
		ret = cni_addr_has(handles.pod, pod_ifindex, address);
	if (ret) {
		cni_error_set(err, CNI_ERR_CHECK_FAILED,
			      "node %s: pod interface %s with %s/32 in %s: %s", cfg->node,
			      env->ifname, address_str, env->netns, strerror(-ret));
		goto cleanup;
	}

cleanup:
	cni_handles_close(&handles);
	return ret;
}

int cni_cmd_status(const struct cni_config *cfg, struct cni_error *err)
{
	struct cni_handles handles;
	struct ipam_range range;
	char dir[CNI_PATH_MAX + CNI_NAME_MAX + 2], subnet[INET_ADDRSTRLEN];
	unsigned int in_use = 0;
	int ret;

	cni_handles_init(&handles);
	/* STATUS has its own codes: 50 = cannot serve ADD now. */
	ret = cni_datapath_open(cfg->bpffs, cfg->node, &handles.map_fd, &handles.progs, err);
	if (ret) {
		err->code = CNI_ERR_NOT_AVAILABLE;
		goto cleanup;
	}
	cni_ipam_range(cfg, &range);
	ret = ipam_dir(cfg->state_dir, cfg->name, dir, sizeof(dir));
	if (!ret)
		ret = ipam_usage(dir, &range, &in_use);
	if (ret == -ENOENT)
		ret = 0; /* no pod yet */
	if (!ret && in_use >= ipam_capacity(&range)) {
		ret = -ENOSPC;
		inet_ntop(AF_INET, &cfg->subnet, subnet, sizeof(subnet));
		cni_error_set(err, CNI_ERR_NOT_AVAILABLE,
			      "node %s: pod CIDR %s/%u exhausted (%u of %u addresses in use)",
			      cfg->node, subnet, cfg->prefix, in_use, ipam_capacity(&range));
	} else if (ret) {
		cni_error_set(err, CNI_ERR_NOT_AVAILABLE, "node %s: IPAM state %s: %s", cfg->node,
			      dir, strerror(-ret));
	}

cleanup:
	cni_handles_close(&handles);
	return ret;
}

/* Whether (container_id, ifname) is in GC's cni.dev/valid-attachments. */
static bool cni_gc_is_valid(const char *container_id, const char *ifname, void *ctx)
{
	struct json_object *list = ctx, *entry, *id, *name;

	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		entry = json_object_array_get_idx(list, i);
		if (json_object_object_get_ex(entry, "containerID", &id) &&
		    json_object_object_get_ex(entry, "ifname", &name) &&
		    !strcmp(json_object_get_string(id), container_id) &&
		    !strcmp(json_object_get_string(name), ifname))
			return true;
	}
	return false;
}

int cni_cmd_gc(const struct cni_config *cfg, bool has_range, struct cni_error *err)
{
	struct ipam_reclaimed removed = {};
	struct ipam_range range;
	struct cni_error ignored = {};
	struct cni_handles handles;
	char dir[CNI_PATH_MAX + CNI_NAME_MAX + 2];
	int ret;

	cni_handles_init(&handles);
	/*
	 * Everything not listed is released, so a GC that lists nothing would take every pod of
	 * the node: the spec makes the list required (SPEC.md, GC), and a runtime that means
	 * "none is valid" says so with []. A missing or null list is a config missing a required
	 * field, code 7 as libcni's skel answers a missing "name"; nothing is touched.
	 */
	if (!cfg->valid_attachments) {
		ret = -EINVAL;
		cni_error_set(err, CNI_ERR_INVALID_CONFIG,
			      "cni.dev/valid-attachments: missing or null: GC releases every "
			      "attachment not listed, so it needs the list ([] releases all); "
			      "nothing was released");
		goto cleanup;
	}
	cni_ipam_range(cfg, &range);
	ret = ipam_dir(cfg->state_dir, cfg->name, dir, sizeof(dir));
	if (ret) {
		cni_error_set(err, CNI_ERR_INVALID_CONFIG, "stateDir: too long");
		goto cleanup;
	}
	ret = cni_open_node(cfg, &handles, err);
	if (ret)
		goto cleanup;
	if (cni_datapath_open(cfg->bpffs, cfg->node, &handles.map_fd, NULL, &ignored))
		log_info("GC: %s", ignored.msg); /* veths and addresses still go */
	/* Rounds of IPAM_RECLAIMED_MAX: each round unwires what the previous one removed. */
	for (int round = 0; round < CNI_ATTACHMENTS_MAX / IPAM_RECLAIMED_MAX; round++) {
		memset(&removed, 0, sizeof(removed));
		ret = ipam_gc(dir, has_range ? &range : NULL, cni_gc_is_valid,
			      cfg->valid_attachments, &removed);
		if (ret == -ENOENT) {
			ret = 0; /* no state: nothing was ever allocated */
			break;
		}
		if (ret) {
			cni_error_set(err, CNI_ERR_IO, "node %s: GC of IPAM state %s: %s",
				      cfg->node, dir, strerror(-ret));
			break;
		}
		for (unsigned int i = 0; i < removed.count && i < IPAM_RECLAIMED_MAX; i++) {
			char address[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &removed.entries[i].address, address, sizeof(address));
			log_info("GC: released %s of %.12s/%s", address,
				 removed.entries[i].container_id, removed.entries[i].ifname);
			cni_unwire_stale(handles.node, handles.map_fd,
					 removed.entries[i].container_id,
					 removed.entries[i].ifname);
			cni_pod_netns_forget(cfg->bpffs, removed.entries[i].address);
		}
		if (removed.count < IPAM_RECLAIMED_MAX)
			break;
	}

cleanup:
	cni_handles_close(&handles);
	return ret;
}
