/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Constants the kernel's uapi defines as macros (absent from vmlinux.h) and shared verdicts. */
#ifndef SLUICE_BPF_COMMON_H
#define SLUICE_BPF_COMMON_H

#define AF_INET 2

#define ETH_P_IP 0x0800
#define ETH_ALEN 6
#define ETH_HLEN 14

#define ETH_P_ARP 0x0806 /* a pod's ARP is checked like its IPv4 (ep4_check_source) */

#define IP_DF	  0x4000
#define IP_MF	  0x2000
#define IP_OFFSET 0x1fff

#define ICMP_DEST_UNREACH  3
#define ICMP_PORT_UNREACH  3
#define ICMP_FRAG_NEEDED   4
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

#define PACKET_HOST 0 /* skb->pkt_type: to us (bpf_skb_change_type) */

#define TC_ACT_OK	0
#define TC_ACT_SHOT	2
#define TC_ACT_REDIRECT 7

/* Handlers return this for traffic that is none of sluice's business; the entry point counts
 * it and lets it continue as TC_ACT_OK. Not a tc verdict value. */
#define VERDICT_PASS 0x100
/* flow_begin: the packet opens a flow not in conntrack; the program's own path decides. */
#define VERDICT_NEW_FLOW 0x101

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

#define CLOCK_MONOTONIC 1
#define EBUSY		16
#define E2BIG		7  /* a full hash map's update */
#define EEXIST		17 /* BPF_NOEXIST on a key that is held */

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#endif
