/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv4 fragments: a datagram's later fragments follow its first. The first fragment carries the
 * L4 header and goes the way of a whole packet (judged, translated, tracked); what it met is
 * remembered in frag4 under (source, destination, protocol, IP ID), with its ports, so each
 * later fragment is looked up in conntrack with the first one's tuple and gets the same verdict
 * and translation, of its IP header only (flow_later_fragment, nat4_rewrite_later_fragment).
 *
 * A later fragment that arrives before its first, or without one, is dropped: nothing says
 * where it belongs or whether policy admits it. Linux sends a datagram's fragments in order
 * and a veth keeps it; a network that reorders them costs those datagrams (as with Cilium).
 */
#ifndef SLUICE_BPF_FRAG_H
#define SLUICE_BPF_FRAG_H

#include "bpf/lib/common.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/parse.h"
#include "maps/frag.h"
#include "maps/stats.h"

static __always_inline void frag4_key_of(struct frag4_key *key, const struct pkt4 *pkt)
{
	key->saddr = pkt->saddr;
	key->daddr = pkt->daddr;
	key->id = pkt->ip_id;
	key->proto = pkt->proto;
}

/*
 * A later fragment (PKT_FRAG_LATER): gives PKT its first fragment's ports, so that it finds the
 * first one's flow. Returns 0, -DROP_FRAG_NO_FIRST when no live first fragment is known, or the
 * drop reason the first one met (a datagram whose first fragment policy denied is denied whole).
 */
static __always_inline int frag4_follow_first(struct pkt4 *pkt, __u64 now)
{
	struct frag4_key key = {};
	struct frag4_entry *entry;

	frag4_key_of(&key, pkt);
	entry = bpf_map_lookup_elem(&frag4, &key);
	if (!entry || entry->expires_ns < now)
		return -DROP_FRAG_NO_FIRST;
	if (entry->drop_reason)
		return -(int)entry->drop_reason;
	pkt->sport = entry->sport;
	pkt->dport = entry->dport;
	return 0;
}

/*
 * The entry point's record of a first fragment (PKT_FRAG_FIRST) once its handling is done: RET
 * is the program's outcome (a verdict, or -DROP_* when it is dropped). Every other packet costs
 * one test. The entry is written whatever the outcome, so a datagram that reuses the IP ID of
 * an earlier one never inherits that one's verdict.
 */
static __always_inline void frag4_remember_first(const struct pkt4 *pkt, int ret)
{
	struct frag4_key key = {};
	struct frag4_entry entry = {};

	if (likely(pkt->frag != PKT_FRAG_FIRST))
		return;
	frag4_key_of(&key, pkt);
	entry.expires_ns = ct_now() + FRAG4_LIFETIME * NSEC_PER_SEC;
	entry.sport = pkt->sport;
	entry.dport = pkt->dport;
	entry.drop_reason = ret < 0 ? (__u8)-ret : DROP_NONE;
	bpf_map_update_elem(&frag4, &key, &entry, BPF_ANY);
}

#endif
