/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the running kernel offers the datapath, probed with libbpf before anything is loaded, so
 * that a kernel too old is refused in one line (which kernel, the minimum, what is missing)
 * instead of a verifier dump and "Invalid argument".
 */
#ifndef SLUICE_SYNC_KERNEL_PROBE_H
#define SLUICE_SYNC_KERNEL_PROBE_H

#include <stdbool.h>
#include <stddef.h>

/* The oldest kernel that has every required feature (bpf_timer). */
#define KERNEL_PROBE_MINIMUM "5.15"

/* One feature the datapath uses: the BPF helper, program or map type that stands for it. */
struct kernel_feature {
	const char *name;     /* as a person reads it: "bpf_timer (conntrack's clock tick)" */
	const char *since;    /* first Linux version that has it */
	bool is_required;     /* false: sluice falls back without it */
	const char *fallback; /* for an optional one: what happens without it */
};

struct kernel_probe_result {
	const struct kernel_feature *feature;
	bool is_present;
};

/* How many features kernel_probe_run() probes. */
size_t kernel_probe_count(void);

/*
 * Probe every feature on this kernel into results (n entries, kernel_probe_count()). Returns
 * 0; -EPERM when this process may not load a tc program (no CAP_BPF/CAP_NET_ADMIN), which
 * would otherwise read as every feature missing; another -errno when probing itself failed.
 */
int kernel_probe_run(struct kernel_probe_result *results, size_t n);

/*
 * The verdict on RESULTS for kernel RELEASE (uname -r): 0 when every required feature is
 * present, else -ENOTSUP with one line in buf: "kernel 5.10.0-26-amd64: sluice needs Linux 5.15
 * or later; missing: bpf_ktime_get_coarse_ns (conntrack's clock) (Linux 5.11), ...". After a 0,
 * buf lists the optional features missing and what sluice does without them ("" when none).
 */
int kernel_probe_verdict(const char *release, const struct kernel_probe_result *results, size_t n,
			 char *buf, size_t len);

/* Probe this kernel and say the verdict: 0 (optional losses logged) or -errno, logged. */
int kernel_probe_check(void);

#endif
