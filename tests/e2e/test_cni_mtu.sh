#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The pod MTU (issue 13): without a conflist `mtu`, a pod's veth (both ends) gets the node's
# underlay MTU less the encapsulation: on the fabric of shared/DESIGN.md (eth0 1500 holding the
# node's address) 1450 under --routing tunnel, 1500 under --routing native; --uplink's MTU comes
# first; with neither device known the default 1500 is assumed and logged. A conflist `mtu` wins;
# an invalid one (outside 68..65535, not an integer) is CNI code 7 naming the field. `sluice
# status` shows the pod MTU and where it came from; the 1.1 result reports it per interface.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init cni_mtu
topo_require_all
CLUSTER_CIDR=10.244.0.0/16

# mtu_of NODE POD: "POD-SIDE HOST-SIDE" MTUs of the pod's veth (the host side named by $out).
mtu_of() {
	local host
	host=$(jq -r '.interfaces[0].name' <<<"$out")
	echo "$(ip -n "$(topo_ns_pod "$2")" -j link show eth0 | jq '.[0].mtu')" \
		"$(ip -n "$(topo_ns_node "$1")" -j link show "$host" | jq '.[0].mtu')"
}
# result_mtus: the mtu of each interface of the last ADD's (1.1) result.
result_mtus() { jq -r '[.interfaces[].mtu] | join(" ")' <<<"$out"; }
v11='.cniVersion = "1.1.0"'

# n1 tunnel (the default), n2 native: both take their address from their Node object, on eth0.
topo_fabric_nodes 2
{ manifest_node n1 198.51.100.1 10.244.1.0/24; manifest_node n2 198.51.100.2 10.244.2.0/24; } |
	write_file "$TOPO_DIR/manifests/nodes.yaml"
topo_agent n1 "$TOPO_DIR/manifests" --cluster-cidr "$CLUSTER_CIDR"
topo_agent n2 "$TOPO_DIR/manifests" --cluster-cidr "$CLUSTER_CIDR" --routing native
check mtu/underlay_is_1500 "n1 eth0: $(ip -n "$(topo_ns_node n1)" -j link show eth0 | jq '.[0].mtu')" \
	test "$(ip -n "$(topo_ns_node n1)" -j link show eth0 | jq '.[0].mtu')" = 1500

# The agent publishes once it knows the node's address (from its Node object).
pod_mtu_is() { ipam_is "$1" pod_mtu "$2"; }
check mtu/tunnel_status "n1: $(topo_cli n1 status -o json | jq -c .ipam)" wait_until pod_mtu_is n1 1450
check mtu/tunnel_status_source "n1: $(ipam_field n1 pod_mtu_source) $(ipam_field n1 underlay)" \
	test "$(ipam_field n1 pod_mtu_source) $(ipam_field n1 underlay) $(ipam_field n1 underlay_mtu) $(ipam_field n1 encapsulation_overhead)" = "the node address's device eth0 1500 50"
text=$(topo_cli n1 status 2>/dev/null || true)
check mtu/tunnel_status_text "$(grep 'pod MTU' <<<"$text")" \
	grep -qF "pod MTU: 1450: eth0's 1500 (the node address's device) less 50 of encapsulation" <<<"$text"
check mtu/tunnel_logged "$(grep 'pod MTU' "${TOPO_AGENT_LOG[n1]}")" \
	grep -qF "node n1: pod MTU 1450: eth0's MTU 1500 (the node address's device) less 50" "${TOPO_AGENT_LOG[n1]}"

topo_pod_try n1 a1 "$v11"
check mtu/tunnel_pod_1450 "rc $rc, veth MTUs $(mtu_of n1 a1): $out" test "$rc $(mtu_of n1 a1)" = "0 1450 1450"
check mtu/tunnel_result_mtu "result mtus: $(result_mtus)" test "$(result_mtus)" = "1450 1450"

check mtu/native_status "n2: $(topo_cli n2 status -o json | jq -c .ipam)" wait_until pod_mtu_is n2 1500
topo_pod_try n2 a2 "$v11"
check mtu/native_pod_1500 "rc $rc, veth MTUs $(mtu_of n2 a2): $out" test "$rc $(mtu_of n2 a2)" = "0 1500 1500"

# A conflist mtu always wins, under either routing.
topo_pod_try n1 b1 "$v11 | .mtu = 1400"
check mtu/conflist_wins_tunnel "rc $rc, veth MTUs $(mtu_of n1 b1): $out" test "$rc $(mtu_of n1 b1)" = "0 1400 1400"
check mtu/conflist_result_mtu "result mtus: $(result_mtus)" test "$(result_mtus)" = "1400 1400"
topo_pod_try n2 b2 '.mtu = 1400'
check mtu/conflist_wins_native "rc $rc, veth MTUs $(mtu_of n2 b2): $out" test "$rc $(mtu_of n2 b2)" = "0 1400 1400"

# An invalid mtu: code 7 naming the field, and nothing made.
for bad in 67 65536 -1 '"1400"' 1400.5; do
	topo_pod_try n1 "bad$RANDOM" ".mtu = $bad"
	check "mtu/invalid_refused_${bad//[^0-9a-z]/_}" "rc $rc: $out" \
		test "$rc" != 0 -a "$(jq -r .code <<<"$out")" = 7 -a "$(jq -r '.msg | startswith("mtu: ")' <<<"$out")" = true
done
topo_pod_try n1 bad67 '.mtu = 67'
check mtu/invalid_message "$out" grep -qF 'mtu: 67 is outside 68..65535' <<<"$out"

# --uplink comes first: a 9000-byte uplink beside the 1500 eth0 holding the address.
topo_fabric_node n3 3
ip -n "$(topo_ns_node n3)" link add up0 mtu 9000 type veth peer name up0p mtu 9000
ip -n "$(topo_ns_node n3)" link set up0p up
ip -n "$(topo_ns_node n3)" link set up0 up
{ manifest_node n1 198.51.100.1 10.244.1.0/24; manifest_node n2 198.51.100.2 10.244.2.0/24
  manifest_node n3 198.51.100.3 10.244.3.0/24; } | write_file "$TOPO_DIR/manifests/nodes.yaml"
topo_agent n3 "$TOPO_DIR/manifests" --cluster-cidr "$CLUSTER_CIDR" --uplink up0
check mtu/uplink_status "n3: $(topo_cli n3 status -o json | jq -c .ipam)" wait_until pod_mtu_is n3 8950
check mtu/uplink_source "n3: $(ipam_field n3 pod_mtu_source) $(ipam_field n3 underlay)" \
	test "$(ipam_field n3 pod_mtu_source) $(ipam_field n3 underlay)" = "--uplink up0"
topo_pod_try n3 a3
check mtu/uplink_pod_8950 "rc $rc, veth MTUs $(mtu_of n3 a3): $out" test "$rc $(mtu_of n3 a3)" = "0 8950 8950"

# Neither: no --uplink and no address known (no Node object, no --node-ip): the default, logged.
topo_node n4 10.250.4.0/24
topo_agent n4 "$TOPO_DIR/tmp"
check mtu/default_status "n4: $(topo_cli n4 status -o json | jq -c .ipam)" \
	test "$(ipam_field n4 pod_mtu) $(ipam_field n4 pod_mtu_source) $(ipam_field n4 underlay_mtu)" = "1450 default 1500"
check mtu/default_logged "$(grep 'pod MTU' "${TOPO_AGENT_LOG[n4]}")" \
	grep -qF "node n4: pod MTU 1450: no --uplink and no device holds the node's address (-): the underlay MTU is taken to be the default 1500" "${TOPO_AGENT_LOG[n4]}"
topo_pod_try n4 a4
check mtu/default_pod_1450 "rc $rc, veth MTUs $(mtu_of n4 a4): $out" test "$rc $(mtu_of n4 a4)" = "0 1450 1450"

# An agent of an earlier build publishes no ipam_mtu: the plugin keeps 1500, as before.
rm -f "$(topo_node_bpffs n1)/ipam_mtu"
topo_pod_try n1 c1
check mtu/no_record_default "rc $rc, veth MTUs $(mtu_of n1 c1): $out" test "$rc $(mtu_of n1 c1)" = "0 1500 1500"

topo_finish
