/* SPDX-License-Identifier: Apache-2.0 */
/* Type and map-definition plumbing shared by every map family header, for BPF and userspace. */
#ifndef SLUICE_MAPS_TYPES_H
#define SLUICE_MAPS_TYPES_H

#ifdef __bpf__
/* BPF code gets the kernel types from vmlinux.h, included first by every program. */
#include <bpf/bpf_helpers.h>
#else
#include <linux/types.h>
#include <assert.h>
#endif

/* Same spelling on both sides; static_assert is only reachable through _Static_assert in BPF. */
#define SLUICE_ASSERT_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " layout")

/* Length of the owner names kept in map values for the CLI ("namespace/name:port"). */
#define SLUICE_NAME_LEN 64

/*
 * Version of the pinned maps' layout: what every key and value of every pin means. Bump it with
 * any change a reader of an older pin would misread (sizes alone are also checked at load). The
 * agent records it in <bpffs>/SLUICE_LAYOUT_MAP (an array of one __u32, userspace only) and
 * refuses pins of another version; the CLI refuses to read them. Pins without the record were
 * made before it existed, by builds of layout 1.
 */
/* 2: ct4 is a preallocated hash (was an LRU), ct_entry.confirmed (was padding), ct4_ring. */
/* 3: drops counts by reason and direction (maps/stats.h DROPS_KEY), svc_flows. */
#define SLUICE_LAYOUT_VERSION 3
#define SLUICE_LAYOUT_MAP     "maps_layout"
/*
 * The oldest layout the agent upgrades in place (bpffs_layout_upgrade): from 2 only counters
 * changed, and counters restart at zero rather than keep an agent from starting. The CLI reads
 * only its own layout.
 */
#define SLUICE_LAYOUT_UPGRADE_MIN 2

/* Pin name of the pod program under the node's bpffs directory; the CNI plugin attaches it. */
#define SLUICE_PROG_PIN "tc_pod"
/*
 * Pin name of the program for the egress of the same veths (ingress policy of what the node's
 * stack hands the pod); the CNI plugin attaches it beside SLUICE_PROG_PIN.
 */
#define SLUICE_TO_POD_PIN "tc_to_pod"

/*
 * Source address given to a hairpin flow (a pod reaching its own service and picked as the
 * backend): the kernel drops packets whose source is one of its own addresses, so the pod sees
 * the connection coming from this link-local address instead. Loader may override it.
 */
#define SLUICE_HAIRPIN_IP_DEFAULT "169.254.42.1"

#endif
