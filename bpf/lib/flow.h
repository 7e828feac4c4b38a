/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packets of tracked flows, shared by the pod and uplink programs: rewrite and deliver. */
#ifndef SLUICE_BPF_FLOW_H
#define SLUICE_BPF_FLOW_H

#include "bpf/lib/common.h"
#include "bpf/lib/ct.h"
#include "bpf/lib/ep.h"
#include "bpf/lib/nat.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/stats.h"

/*
 * A packet of a known flow, either direction: it leaves with the tuple its conntrack entry
 * recorded (backend for client -> VIP, VIP for replies) and goes where the entry delivers.
 */
static __always_inline int flow_established(struct __sk_buff *skb, const struct pkt4 *pkt,
					    struct ct_entry *entry, __u64 now)
{
	struct nat4_tuple out = {
	    .saddr = entry->nat_saddr,
	    .daddr = entry->nat_daddr,
	    .sport = entry->nat_sport,
	    .dport = entry->nat_dport,
	};
	int ret;

	ct4_refresh(entry, pkt, now);
	if (unlikely(pkt->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)))
		ct4_close_peer(entry, pkt, now);
	ret = nat4_rewrite(skb, pkt, &out);
	if (ret)
		return ret;
	stats_count((entry->flags & CT_F_REPLY) ? STAT_CT_REPLY : STAT_CT_FORWARD, skb->len);
	return ep4_deliver(skb, entry);
}

/*
 * A SYN without ACK on a forward entry whose connection got past its handshake, or is closing,
 * opens a new connection on a reused tuple: it gets a fresh backend choice. Retransmitted SYNs
 * of the same handshake keep theirs.
 */
static __always_inline bool flow_is_new_syn(const struct ct_entry *entry, const struct pkt4 *pkt)
{
	return (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN &&
	       ((entry->flags & CT_F_CLOSING) || (entry->tcp_flags & TCP_FLAG_ACK));
}

#endif
