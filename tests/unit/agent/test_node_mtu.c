// SPDX-License-Identifier: Apache-2.0
/* The pod MTU: which underlay it follows, less the encapsulation under --routing tunnel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/node_ipam.h"
#include "loader/agent/node_mtu.h"
#include "maps/tunnel.h"

/* A 1500 underlay: 1450 under the VXLAN tunnel, 1500 routed natively. */
static void test_tunnel_and_native(void **state)
{
	struct node_mtu_link eth0 = {"eth0", 1500};
	struct node_ipam_mtu mtu;

	(void)state;
	node_mtu_choose(NULL, &eth0, AGENT_ROUTING_TUNNEL, &mtu);
	assert_int_equal(mtu.pod_mtu, 1450);
	assert_int_equal(mtu.underlay_mtu, 1500);
	assert_int_equal(mtu.overhead, TUNNEL_VXLAN_OVERHEAD);
	assert_int_equal(mtu.source, NODE_IPAM_MTU_SOURCE_NODE_IP);
	assert_string_equal(mtu.underlay, "eth0");
	node_mtu_choose(NULL, &eth0, AGENT_ROUTING_NATIVE, &mtu);
	assert_int_equal(mtu.pod_mtu, 1500);
	assert_int_equal(mtu.overhead, 0);
}

/* --uplink wins over the device holding the node's address; jumbo frames carry through. */
static void test_uplink_first(void **state)
{
	struct node_mtu_link uplink = {"bond0", 9000}, eth0 = {"eth0", 1500};
	struct node_ipam_mtu mtu;

	(void)state;
	node_mtu_choose(&uplink, &eth0, AGENT_ROUTING_TUNNEL, &mtu);
	assert_int_equal(mtu.pod_mtu, 8950);
	assert_int_equal(mtu.source, NODE_IPAM_MTU_SOURCE_UPLINK);
	assert_string_equal(mtu.underlay, "bond0");
	/* An --uplink that could not be read (no MTU) is passed over. */
	uplink.mtu = 0;
	node_mtu_choose(&uplink, &eth0, AGENT_ROUTING_TUNNEL, &mtu);
	assert_int_equal(mtu.source, NODE_IPAM_MTU_SOURCE_NODE_IP);
	assert_int_equal(mtu.pod_mtu, 1450);
}

/* Neither device known: the default underlay MTU, said so by the source. */
static void test_default(void **state)
{
	struct node_mtu_link none = {NULL, 0};
	struct node_ipam_mtu mtu;

	(void)state;
	node_mtu_choose(&none, &none, AGENT_ROUTING_TUNNEL, &mtu);
	assert_int_equal(mtu.source, NODE_IPAM_MTU_SOURCE_DEFAULT);
	assert_int_equal(mtu.underlay_mtu, NODE_IPAM_MTU_UNDERLAY_DEFAULT);
	assert_int_equal(mtu.pod_mtu, NODE_IPAM_MTU_UNDERLAY_DEFAULT - TUNNEL_VXLAN_OVERHEAD);
	assert_string_equal(mtu.underlay, "");
	node_mtu_choose(NULL, NULL, AGENT_ROUTING_NATIVE, &mtu);
	assert_int_equal(mtu.pod_mtu, NODE_IPAM_MTU_UNDERLAY_DEFAULT);
}

/* The pod MTU stays within what IPv4 allows, whatever the underlay says. */
static void test_bounds(void **state)
{
	(void)state;
	assert_int_equal(node_ipam_pod_mtu(1500, 50), 1450);
	assert_int_equal(node_ipam_pod_mtu(118, 50), 68);
	assert_int_equal(node_ipam_pod_mtu(100, 50), NODE_IPAM_MTU_MIN);
	assert_int_equal(node_ipam_pod_mtu(20, 50), NODE_IPAM_MTU_MIN);
	assert_int_equal(node_ipam_pod_mtu(65536, 0), NODE_IPAM_MTU_MAX);
	assert_int_equal(node_ipam_pod_mtu(65585, 50), 65535);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tunnel_and_native),
	    cmocka_unit_test(test_uplink_first),
	    cmocka_unit_test(test_default),
	    cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
