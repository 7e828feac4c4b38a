// SPDX-License-Identifier: Apache-2.0
/* The one place a sluice tc program is attached to a device (clsact), by the agent and the plugin.
 */
#include <errno.h>

#include <bpf/libbpf.h>

#include "lib/tc_attach.h"

int tc_attach(int ifindex, bool is_egress, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = is_egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_ATTACH_HANDLE, .priority = TC_ATTACH_PRIORITY,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	/* One clsact qdisc holds both hooks: the second attach, a retried CNI ADD or an agent
	 * restart finds it there. */
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

int tc_attach_query(int ifindex, bool is_egress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = is_egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_ATTACH_HANDLE, .priority = TC_ATTACH_PRIORITY);

	return bpf_tc_query(&hook, &opts);
}
