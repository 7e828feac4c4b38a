/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Internet checksum arithmetic (RFC 1071/1624) for headers the kernel never offloads. */
#ifndef SLUICE_BPF_CSUM_H
#define SLUICE_BPF_CSUM_H

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), on 16-bit words as they sit in memory. */
static __always_inline __u16 csum_replace4(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum += (~from & 0xffff) + (~from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	return csum_fold(sum);
}

static __always_inline __u16 csum_replace2(__u16 check, __u16 from, __u16 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~from;
	sum += to;
	return csum_fold(sum);
}

/* Checksum of nwords 16-bit words; nwords must be a constant so the loop unrolls. */
static __always_inline __u16 csum_words(const __u16 *words, const int nwords)
{
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < nwords; i++)
		sum += words[i];
	return csum_fold(sum);
}

#endif
