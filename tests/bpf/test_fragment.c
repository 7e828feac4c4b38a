// SPDX-License-Identifier: Apache-2.0
/* IPv4 fragments to a VIP are dropped: later fragments carry no ports to translate. */
#include <netinet/in.h>

#include "tests/bpf/fixture.h"
#include "tests/bpf/harness.h"

/* frag_off in host order: 0x2000 is MF, the low 13 bits the offset in 8-byte units. */
static void set_frag_off(struct pkt *p, uint16_t frag_off)
{
	p->data[PKT_IP_OFF + 6] = frag_off >> 8;
	p->data[PKT_IP_OFF + 7] = frag_off & 0xff;
	pkt_fix_ip_csum(p);
}

static void check_fragment(__be32 daddr, uint16_t frag_off, int verdict, const char *what)
{
	struct pkt_spec spec = fixture_client_spec(IPPROTO_TCP);
	struct fixture f = {0};
	struct pkt in;

	spec.daddr = daddr;
	if (!fixture_setup(&f, IPPROTO_TCP))
		goto cleanup;
	if (!ASSERT_OK(pkt_build(&in, &spec), "build packet"))
		goto cleanup;
	/* A later fragment's first bytes here still spell ports 40000 -> 80, like payload can. */
	set_frag_off(&in, frag_off);
	fixture_expect_untouched(&f, &in, verdict, what);
	ASSERT_EQ(fixture_drop(&f, DROP_FRAGMENT), verdict == TC_ACT_SHOT ? 1 : 0,
		  "drops fragment to service");
cleanup:
	fixture_close(&f);
}

void test_fragment_first_to_vip(void)
{
	check_fragment(TEST_VIP, 0x2000, TC_ACT_SHOT, "first fragment (MF) to the VIP");
}

void test_fragment_later_to_vip(void)
{
	check_fragment(TEST_VIP, 0x0010, TC_ACT_SHOT, "last fragment (offset 128) to the VIP");
}

void test_fragment_non_vip_pass(void)
{
	check_fragment(TEST_OTHER_IP, 0x2000, TC_ACT_OK, "first fragment to a non-VIP");
	check_fragment(TEST_OTHER_IP, 0x0010, TC_ACT_OK, "last fragment to a non-VIP");
}
