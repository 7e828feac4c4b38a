// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Measurement wrapper for BPF_PROG_TEST_RUN. The kernel runs a program `repeat` times on the
 * same skb, so after one pass the packet is already translated and later passes would measure
 * a different path. This wrapper puts the original frame back (and, for new-flow runs, gives
 * it a fresh source port) before tail-calling the program under test. Its own cost is measured
 * by tail-calling bench_nop instead and subtracted by sluice-pktbench.
 * With tunnel_remote set it also gives the packet the key a VXLAN device hands tc_tunnel_ingress
 * (BPF_PROG_TEST_RUN gives none): tunnel_remote as the outer source, tunnel_vni as the VNI.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define BENCH_FRAME_LEN 64

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_target SEC(".maps");

__u8 frame[BENCH_FRAME_LEN];
__u32 vary_sport; /* non-zero: each run is a new flow */
/* With vary_sport: vary the destination's low half, not the source's; 2: another destination
 * every run (then the port every 60000), so no destination gets more than a few flows. */
__u32 vary_daddr;
__u32 sport_next;
/* Host order; 0: no tunnel key. */
__u32 tunnel_remote;
__u32 tunnel_vni;
/* bpf_skb_set_tunnel_key's error (the whole key, local_ipv4 included, needs Linux >= 6.0). */
long tunnel_key_err;

SEC("tc")
int bench_wrap(struct __sk_buff *skb)
{
	if (bpf_skb_store_bytes(skb, 0, frame, BENCH_FRAME_LEN, 0))
		return 2;
	if (vary_sport) {
		/* A unique (source address, source port) per run, so every run misses conntrack:
		 * the port at 14 + 20, the low half of the source address at 14 + 12 + 2 (or of
		 * the destination's at 14 + 16 + 2, for a source that must stay one pod). */
		__u32 n = sport_next++;
		__be16 sport = bpf_htons(1024 + (vary_daddr == 2 ? n / 60000 : n % 60000));
		__be16 shost = bpf_htons(1 + (vary_daddr == 2 ? n % 60000 : n / 60000));

		if (bpf_skb_store_bytes(skb, 34, &sport, sizeof(sport), 0) ||
		    bpf_skb_store_bytes(skb, vary_daddr ? 32 : 28, &shost, sizeof(shost), 0))
			return 2;
	}
	if (tunnel_remote) {
		/*
		 * The key is written as a transmit key and read back as a received one, local and
		 * remote swapped: the remote node goes in local_ipv4 (tests/bpf/tunnel_key.bpf.c).
		 */
		struct bpf_tunnel_key key = {
		    .local_ipv4 = tunnel_remote, .tunnel_id = tunnel_vni, .tunnel_ttl = 64};

		tunnel_key_err = bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0);
		if (tunnel_key_err)
			return 2;
	}
	bpf_tail_call(skb, &bench_target, 0);
	return 2;
}

SEC("tc")
int bench_nop(struct __sk_buff *skb)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
