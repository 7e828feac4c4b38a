// SPDX-License-Identifier: Apache-2.0
/* What the running kernel offers the datapath (kernel_probe.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/log.h"
#include "loader/sync/kernel_probe.h"

enum probe_kind {
	PROBE_HELPER, /* a helper of a program type */
	PROBE_PROG,   /* a program type */
	PROBE_MAP,    /* a map type */
};

struct probe {
	struct kernel_feature feature;
	enum probe_kind kind;
	enum bpf_prog_type prog_type;
	enum bpf_func_id helper;
	enum bpf_map_type map_type;
};

/* What bpf/ uses; `grep -ohE 'bpf_[a-z_0-9]+\(' bpf/ -r` lists the helpers. */
static const struct probe probes[] = {
    {{"tc programs (sched_cls)", "4.1", true, NULL}, PROBE_PROG, BPF_PROG_TYPE_SCHED_CLS, 0, 0},
    {{"LPM trie maps (ipcache, masquerade, tunnel)", "4.11", true, NULL},
     PROBE_MAP,
     0,
     0,
     BPF_MAP_TYPE_LPM_TRIE},
    {{"LRU hash maps (affinity)", "4.10", true, NULL}, PROBE_MAP, 0, 0, BPF_MAP_TYPE_LRU_HASH},
    {{"bpf_fib_lookup (masquerade, routing)", "4.18", true, NULL},
     PROBE_HELPER,
     BPF_PROG_TYPE_SCHED_CLS,
     BPF_FUNC_fib_lookup,
     0},
    {{"bpf_redirect_peer (delivery into pods)", "5.10", true, NULL},
     PROBE_HELPER,
     BPF_PROG_TYPE_SCHED_CLS,
     BPF_FUNC_redirect_peer,
     0},
    {{"bpf_redirect_neigh (masqueraded replies)", "5.10", true, NULL},
     PROBE_HELPER,
     BPF_PROG_TYPE_SCHED_CLS,
     BPF_FUNC_redirect_neigh,
     0},
    {{"bpf_ktime_get_coarse_ns (conntrack's clock)", "5.11", true, NULL},
     PROBE_HELPER,
     BPF_PROG_TYPE_SCHED_CLS,
     BPF_FUNC_ktime_get_coarse_ns,
     0},
    {{"bpf_check_mtu (pods' packets into the tunnel)", "5.12", true, NULL},
     PROBE_HELPER,
     BPF_PROG_TYPE_SCHED_CLS,
     BPF_FUNC_check_mtu,
     0},
    {{"bpf_timer (conntrack's clock tick)", "5.15", true, NULL},
     PROBE_HELPER,
     BPF_PROG_TYPE_SCHED_CLS,
     BPF_FUNC_timer_init,
     0},
    {{"XDP programs (the uplink's fast path)", "4.8", false,
      "NodePorts and LoadBalancer IPs served by tc_node alone"},
     PROBE_PROG,
     BPF_PROG_TYPE_XDP,
     0,
     0},
    {{"cgroup socket hooks (the node's own traffic to Services)", "5.8", false,
      "the node and hostNetwork pods reach no Service (--host-lb)"},
     PROBE_PROG,
     BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
     0,
     0},
    {{"bpf_set_retval in socket hooks", "5.18", false,
      "the node's connect() to a Service without endpoints fails with EPERM, not ECONNREFUSED"},
     PROBE_HELPER,
     BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
     BPF_FUNC_set_retval,
     0},
};

#define N_PROBES (sizeof(probes) / sizeof(probes[0]))

size_t kernel_probe_count(void)
{
	return N_PROBES;
}

/*
 * May this process load a tc program at all? Without the capabilities every probe below fails
 * as an absent feature would, and the verdict would blame the kernel. A kernel without tc
 * programs answers EINVAL, not EPERM. Returns 0, or -EPERM.
 */
static int kernel_probe_permission(void)
{
	const struct bpf_insn ret0[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, NULL, "GPL", ret0, 2, NULL);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == EPERM || errno == EACCES ? -EPERM : 0;
}

int kernel_probe_run(struct kernel_probe_result *results, size_t n)
{
	int err = kernel_probe_permission();

	if (err)
		return err;
	for (size_t i = 0; i < n && i < N_PROBES; i++) {
		const struct probe *p = &probes[i];
		int ret;

		switch (p->kind) {
		case PROBE_HELPER:
			ret = libbpf_probe_bpf_helper(p->prog_type, p->helper, NULL);
			/* The program type itself missing reads as -EOPNOTSUPP: so is the helper.
			 */
			if (ret == -EOPNOTSUPP)
				ret = 0;
			break;
		case PROBE_PROG:
			ret = libbpf_probe_bpf_prog_type(p->prog_type, NULL);
			break;
		default:
			ret = libbpf_probe_bpf_map_type(p->map_type, NULL);
			break;
		}
		if (ret < 0)
			return ret;
		results[i] =
		    (struct kernel_probe_result){.feature = &p->feature, .is_present = ret > 0};
	}
	return 0;
}

/* Append ", NAME (Linux SINCE)" (the first without the comma) to buf at *used. */
static void append_feature(char *buf, size_t len, size_t *used, const struct kernel_feature *f,
			   bool is_with_fallback)
{
	int n;

	if (*used >= len)
		return;
	n = snprintf(buf + *used, len - *used, "%s%s (Linux %s%s%s)", buf[0] ? ", " : "", f->name,
		     f->since, is_with_fallback ? "; " : "",
		     is_with_fallback && f->fallback ? f->fallback : "");
	if (n > 0)
		*used += (size_t)n;
}

int kernel_probe_verdict(const char *release, const struct kernel_probe_result *results, size_t n,
			 char *buf, size_t len)
{
	char missing[512] = "", optional[512] = "";
	size_t used = 0, used_optional = 0;

	for (size_t i = 0; i < n; i++) {
		if (results[i].is_present)
			continue;
		if (results[i].feature->is_required)
			append_feature(missing, sizeof(missing), &used, results[i].feature, false);
		else
			append_feature(optional, sizeof(optional), &used_optional,
				       results[i].feature, true);
	}
	if (missing[0]) {
		snprintf(buf, len, "kernel %s: sluice needs Linux %s or later; missing: %s",
			 release, KERNEL_PROBE_MINIMUM, missing);
		return -ENOTSUP;
	}
	snprintf(buf, len, "%s", optional);
	return 0;
}

int kernel_probe_check(void)
{
	struct kernel_probe_result results[N_PROBES];
	struct utsname name;
	char line[1024];
	int err;

	if (uname(&name))
		snprintf(name.release, sizeof(name.release), "(unknown)");
	err = kernel_probe_run(results, N_PROBES);
	if (err == -EPERM) {
		log_error("kernel %s not checked: this process may not load BPF programs (uid %u); "
			  "run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON",
			  name.release, (unsigned)geteuid());
		return err;
	}
	if (err) {
		log_error("kernel %s: cannot probe its BPF features: %s", name.release,
			  strerror(-err));
		return err;
	}
	err = kernel_probe_verdict(name.release, results, N_PROBES, line, sizeof(line));
	if (err)
		log_error("%s", line);
	else if (line[0])
		log_warn("kernel %s: without %s", name.release, line);
	return err;
}
