/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPv4 fragments: what the first fragment of a datagram decided, for its later fragments, which
 * carry no L4 header (bpf/lib/frag.h).
 */
#ifndef SLUICE_MAPS_FRAG_H
#define SLUICE_MAPS_FRAG_H

#include "maps/types.h"

#define FRAG4_MAP "frag4"

/*
 * Datagrams whose later fragments are awaited. An entry is only needed between a datagram's
 * first and last fragment (microseconds on a node), so an LRU of this size holds every datagram
 * in flight unless thousands are fragmented at once; one pushed out too early costs its datagram
 * (its later fragments are dropped), never a wrong verdict. Cilium's default is the same.
 */
#define FRAG4_MAX_ENTRIES 8192
/*
 * Seconds an entry serves later fragments: Linux's reassembly timeout (net.ipv4.ipfrag_time,
 * 30 s). Past it the receiver has given the datagram up, and an entry left by a datagram whose
 * IP ID is reused would only let stray fragments through.
 */
#define FRAG4_LIFETIME 30

/* A datagram, as on the wire at the program that saw its first fragment (before any rewrite). */
struct frag4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id; /* IP identification */
	__u8 proto;
	__u8 pad;
};
SLUICE_ASSERT_SIZE(struct frag4_key, 12);

/* The first fragment's flow tuple ports and verdict. */
struct frag4_entry {
	__u64 expires_ns; /* on the datapath clock (maps/ct.h) */
	__be16 sport;	  /* as parse_pkt4() read them: ports, or an ICMP echo's id */
	__be16 dport;
	/*
	 * DROP_* the first fragment met, which later ones share; 0: it passed. DROP_FRAG_NO_FIRST
	 * while the first is still being handled.
	 */
	__u8 drop_reason;
	/*
	 * 1: the first fragment went on to the node's stack untranslated (no flow), and later ones
	 * follow it there, even to a frontend's address (a node address, for the stack itself).
	 */
	__u8 is_passed;
	__u8 pad[2];
};
SLUICE_ASSERT_SIZE(struct frag4_entry, 16);

#ifdef __bpf__
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FRAG4_MAX_ENTRIES);
	__type(key, struct frag4_key);
	__type(value, struct frag4_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} frag4 SEC(".maps");
#endif

#endif
