/* SPDX-License-Identifier: Apache-2.0 */
/* Loading the node's BPF datapath: maps created or adopted under bpffs, program pinned and
 * attached. */
#ifndef SLUICE_DATAPATH_H
#define SLUICE_DATAPATH_H

#include <stdbool.h>
#include <stdint.h>

/* One masq4_skip entry: a destination CIDR pod traffic keeps its address to (maps/masq.h). */
struct datapath_masq_skip {
	uint32_t address; /* network byte order, host bits zero */
	uint8_t prefix_len;
	uint8_t kind; /* enum masq4_kind */
};

struct datapath_opts {
	const char *bpffs;    /* pin directory; must already be on bpffs (bpffs_ensure) */
	uint32_t hairpin_ip;  /* network byte order */
	uint32_t ct_size;     /* ct4 max entries */
	bool is_ct_size_set;  /* given on the command line: a pinned ct4 of another size is an error
			       */
	const char *uplink;   /* --uplink IFNAME: the node's device to the outside, or NULL */
	uint32_t maglev_size; /* --maglev-table-size M (a prime; 0: LB_MAGLEV_SIZE_DEFAULT) */
	/*
	 * Egress masquerade out of the uplink (needs uplink): both tc programs get the uplink's
	 * ifindex as masq_ifindex, and masq4_skip is made to hold exactly SKIP (n_skip entries).
	 * Off: masq_ifindex 0, and masq4_skip is emptied.
	 */
	bool is_masquerade;
	const struct datapath_masq_skip *skip;
	size_t n_skip;
	/*
	 * Sockets to Services translated at connect() (loader/sync/sock_lb.h): the node's own
	 * (--host-lb), this node's pods' TCP (--socket-lb, where the kernel allows), --cgroup-root.
	 */
	bool is_host_lb;
	bool is_socket_lb;
	const char *cgroup_root; /* cgroup v2 directory; NULL: where cgroup2 is mounted */
	/* --routing tunnel: the tunnel device's ifindex, for the tunnel programs (tc_pod finds it
	 * in tunnel_dev); 0 without one (native routing, or no node address yet). */
	uint32_t tunnel_ifindex;
};

struct datapath_result {
	uint32_t ct_size;	 /* ct4 size in force */
	unsigned int reattached; /* host veths moved to the new programs (ingress and egress) */
	unsigned int reattach_failed;
	bool is_adopted;    /* maps were already pinned (restart or upgrade) */
	bool is_uplink_xdp; /* xdp_node runs on the uplink in native mode (tc_node always does) */
	bool is_maglev_resized; /* lb4_maglev was pinned with another M and has been remade */
};

/*
 * Open the tc_pod object with rodata and sizes from OPTS, create its maps at bpffs/<name> or
 * reuse the pinned ones, load it and tc_to_pod, pin the programs at bpffs/tc_pod and
 * bpffs/tc_to_pod (atomically replacing old pins) and move every host veth in ep4 to them (tc_pod
 * at its ingress, tc_to_pod at its egress; lib/tc_attach.h). The objects are closed again: pins
 * and tc filters hold the programs and maps. Returns 0 or -errno; errors are logged with the
 * object at fault.
 */
int datapath_load(const struct datapath_opts *opts, struct datapath_result *result);

/*
 * The uplink programs: tc_node (clsact ingress, same handle and priority as the pod program)
 * and, in front of it, xdp_node in native (driver) mode when the device supports it; without
 * native XDP the uplink runs tc alone. Part of datapath_load() when opts->uplink is set; also
 * loads the node objects (creating node4_addrs) when it is NULL. Returns 0 or -errno.
 */
int datapath_load_node(const struct datapath_opts *opts, struct datapath_result *result);

/*
 * The tunnel device's programs (tc_tunnel): loaded always, so tunnel4 is created or adopted at
 * bpffs/tunnel4 in either routing mode; attached at clsact ingress and egress of
 * opts->tunnel_ifindex (same handle and priority as the pod program) when it is set. Part of
 * datapath_load(). Returns 0 or -errno.
 */
int datapath_load_tunnel(const struct datapath_opts *opts, struct datapath_result *result);

/*
 * Start the datapath clock's BPF timer by running the object's tc_clock_start program once
 * (BPF_PROG_TEST_RUN). Idempotent: a clock already ticking is left running. Returns 0 or -errno.
 */
int datapath_clock_start(int clock_prog_fd);

#endif
