// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test-only programs around tc_tunnel (tests/bpf/test_tunnel.c). BPF_PROG_TEST_RUN gives a
 * program no tunnel key and keeps none for the test to read, so: test_tunnel_decap sets the key
 * the VXLAN device would hand tc_tunnel_ingress from the test's values and tail-calls into the
 * real program; test_tunnel_encap runs tc_tunnel_egress's tunnel_encap and reads back the key it
 * set.
 *
 * The key helpers are made for a device's two directions: bpf_skb_set_tunnel_key writes the
 * transmit key (remote_ipv4 as the outer destination, local_ipv4 as the source) and
 * bpf_skb_get_tunnel_key reads a received one (the outer source as remote_ipv4, the destination
 * as local_ipv4). So the decap side sets the remote node as local_ipv4, and the encap side finds
 * the remote it set in local_ipv4: both need the whole struct (local_ipv4 came in 6.0), which a
 * test on this kernel may use.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps/policy.h"
#include "maps/stats.h"
#include "maps/tunnel.h"

#include "bpf/lib/common.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/policy.h"
#include "bpf/lib/stats.h"
#include "bpf/lib/tunnel.h"

/* The outer source (host order) and VNI the decap side sees; no key at all unless is_keyed. */
__u32 decap_remote = 0;
__u32 decap_vni = 0;
__u32 decap_is_keyed = 0;

/* What test_tunnel_encap read back: the remote (host order), VNI, TTL, and the helper's return. */
__u32 encap_remote = 0;
__u32 encap_vni = 0;
__u32 encap_ttl = 0;
long encap_key_err = 0;

#define TEST_TAIL_CALL_FAILED 0x7e57

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tunnel_ingress_prog SEC(".maps");

SEC("tc")
int test_tunnel_decap(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {
	    .local_ipv4 = decap_remote,
	    .tunnel_id = decap_vni,
	    .tunnel_ttl = TUNNEL_TTL,
	};

	if (decap_is_keyed && bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0))
		return TEST_TAIL_CALL_FAILED;
	bpf_tail_call(skb, &tunnel_ingress_prog, 0);
	return TEST_TAIL_CALL_FAILED;
}

SEC("tc")
int test_tunnel_encap(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	int ret = tunnel_encap(skb);

	encap_key_err = 1;
	if (ret != TC_ACT_OK)
		return TC_ACT_SHOT;
	encap_key_err = bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0);
	encap_remote = key.local_ipv4;
	encap_vni = key.tunnel_id;
	encap_ttl = key.tunnel_ttl;
	return ret;
}

/*
 * tc_pod's tunnel_redirect (into the device tunnel_dev names), then the key it set read back as
 * above (encap_*, encap_key_err 1 when it passed the packet on instead). With is_prekeyed, a key
 * the test chose (prekey_remote, prekey_vni) is set first and tunnel_encap runs instead: a packet
 * keyed already keeps its key.
 */
__u32 is_prekeyed = 0;
__u32 prekey_remote = 0;
__u32 prekey_vni = 0;

SEC("tc")
int test_tunnel_redirect(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	int ret;

	if (is_prekeyed) {
		key.remote_ipv4 = prekey_remote;
		key.tunnel_id = prekey_vni;
		if (bpf_skb_set_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, 0))
			return TC_ACT_SHOT;
		ret = tunnel_encap(skb);
	} else {
		ret = tunnel_redirect(skb);
	}
	encap_key_err = 1;
	if (ret != TC_ACT_REDIRECT && ret != TC_ACT_OK)
		return ret;
	__builtin_memset(&key, 0, sizeof(key));
	encap_key_err = bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0);
	encap_remote = key.local_ipv4;
	encap_vni = key.tunnel_id;
	encap_ttl = key.tunnel_ttl;
	return ret;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
