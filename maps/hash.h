/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A jhash-style hash (Bob Jenkins' lookup3 mix and final rounds) over 32-bit words, shared by the
 * datapath (flow -> Maglev index) and the agent (a backend's Maglev offset and skip), so both
 * sides of a table agree on every node. Plain arithmetic: no helpers, no loops.
 */
#ifndef SLUICE_BPF_HASH_H
#define SLUICE_BPF_HASH_H

#ifdef __bpf__
#define HASH_INLINE static __always_inline
#else
#include <linux/types.h>
#define HASH_INLINE static inline
#endif

/* lookup3's starting value, 0xdeadbeef, plus the key length in bytes as it adds. */
#define HASH_INIT 0xdeadbeefu

/* Seeds of the flow hash and of the two backend hashes; changing one reshuffles every table. */
#define HASH_SEED_FLOW	 0x5111ce00u
#define HASH_SEED_OFFSET 0x6d61676cu /* "magl" */
#define HASH_SEED_SKIP	 0x65767369u /* "evsi" */

HASH_INLINE __u32 hash_rol32(__u32 word, unsigned int shift)
{
	return (word << shift) | (word >> ((32 - shift) & 31));
}

/* lookup3's mix(): reversible, every input bit reaches every output bit of (a, b, c). */
HASH_INLINE void hash_mix(__u32 *a, __u32 *b, __u32 *c)
{
	*a -= *c, *a ^= hash_rol32(*c, 4), *c += *b;
	*b -= *a, *b ^= hash_rol32(*a, 6), *a += *c;
	*c -= *b, *c ^= hash_rol32(*b, 8), *b += *a;
	*a -= *c, *a ^= hash_rol32(*c, 16), *c += *b;
	*b -= *a, *b ^= hash_rol32(*a, 19), *a += *c;
	*c -= *b, *c ^= hash_rol32(*b, 4), *b += *a;
}

/* lookup3's final(): folds (a, b, c) into c. */
HASH_INLINE __u32 hash_final(__u32 a, __u32 b, __u32 c)
{
	c ^= b, c -= hash_rol32(b, 14);
	a ^= c, a -= hash_rol32(c, 11);
	b ^= a, b -= hash_rol32(a, 25);
	c ^= b, c -= hash_rol32(b, 16);
	a ^= c, a -= hash_rol32(c, 4);
	b ^= a, b -= hash_rol32(a, 14);
	c ^= b, c -= hash_rol32(b, 24);
	return c;
}

/* Three words: one final round. */
HASH_INLINE __u32 hash_3words(__u32 w0, __u32 w1, __u32 w2, __u32 seed)
{
	__u32 init = HASH_INIT + 12 + seed;

	return hash_final(init + w0, init + w1, init + w2);
}

/* Four words: one mix round, then the fourth word and a final round. */
HASH_INLINE __u32 hash_4words(__u32 w0, __u32 w1, __u32 w2, __u32 w3, __u32 seed)
{
	__u32 a = HASH_INIT + 16 + seed, b = a, c = a;

	a += w0, b += w1, c += w2;
	hash_mix(&a, &b, &c);
	a += w3;
	return hash_final(a, b, c);
}

/*
 * A flow's 5-tuple as the client sent it (addresses and ports in wire order, as they sit in the
 * packet), so the same flow hashes alike on every node.
 */
HASH_INLINE __u32 hash_flow4(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport, __u8 proto)
{
	return hash_4words(saddr, daddr, (__u32)sport << 16 | dport, proto, HASH_SEED_FLOW);
}

#endif
