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
 * first one's flow, and *IS_PASSED whether the first went on to the stack untranslated. Returns
 * 0, -DROP_FRAG_NO_FIRST when no live first fragment is known, or the drop reason the first one
 * met (a datagram whose first fragment policy denied is denied whole).
 */
static __always_inline int frag4_follow_first(struct pkt4 *pkt, __u64 now, bool *is_passed)
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
	*is_passed = entry->is_passed;
	return 0;
}

/*
 * A first fragment (PKT_FRAG_FIRST), parsed: opens its datagram's entry with the ports, pending
 * (a later fragment that races it is dropped as without its first) until the entry point
 * settles it with the outcome (frag4_settle_first). The entry is written whatever comes next,
 * so a datagram that reuses an earlier one's IP ID never inherits that one's verdict. Returns
 * the entry, or NULL when it could not be written (its later fragments are then dropped).
 */
static __always_inline struct frag4_entry *frag4_open_first(const struct pkt4 *pkt, __u64 now)
{
	struct frag4_key key = {};
	struct frag4_entry entry = {
	    .expires_ns = now + FRAG4_LIFETIME * NSEC_PER_SEC,
	    .sport = pkt->sport,
	    .dport = pkt->dport,
	    .drop_reason = DROP_FRAG_NO_FIRST,
	};

	frag4_key_of(&key, pkt);
	if (bpf_map_update_elem(&frag4, &key, &entry, BPF_ANY))
		return NULL;
	return bpf_map_lookup_elem(&frag4, &key);
}

/*
 * The entry point's last word on a first fragment (FIRST from frag4_open_first, NULL for every
 * other packet): RET is the program's outcome, a verdict or -DROP_* when it was dropped, which
 * its later fragments then share. Only a pointer lives until here, so whole packets pay a test.
 */
static __always_inline void frag4_settle_first(struct frag4_entry *first, int ret)
{
	if (likely(!first))
		return;
	first->drop_reason = ret < 0 ? (__u8)-ret : DROP_NONE;
	first->is_passed = ret == VERDICT_PASS;
}

#endif
