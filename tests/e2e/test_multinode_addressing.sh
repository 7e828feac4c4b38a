#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Node addressing on several nodes: the fabric of shared/DESIGN.md (nodes n1..n4 on
# 198.51.100.0/24, an outside host 203.0.113.1) with one agent per node, all reading one manifest
# directory of Node objects. Each agent takes its pod CIDR from its Node's spec.podCIDR and pods
# wired by sluice-cni with one config without ipam.subnet get addresses of their own node's
# block; a Node without podCIDR refuses pods with the message naming it (CNI code 11, logged once,
# in `sluice status`) while Services are served; a Node whose podCIDR overlaps another's, or lies
# outside the cluster CIDR, is refused by name and the others keep working; a podCIDR added later
# is picked up, a changed one refused with the old one kept; --pod-cidr serves a node without a
# Node object; ipam.subnet that disagrees with the agent is code 7.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init multinode_addressing
topo_require_all
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/12
NODES=$TOPO_DIR/manifests/nodes.yaml

quiet() { "$@" >/dev/null 2>&1; }
message_has() { [[ $(ipam_field "$1" message) == *"$2"* ]]; }
both_in() { in_cidr "$1" "$3" && in_cidr "$2" "$3"; }
write_nodes() { { for spec in "$@"; do eval "manifest_node $spec"; done; } | write_file "$NODES"; }

# ---- the fabric -----------------------------------------------------------------------------
topo_fabric_nodes 3
command -v ping >/dev/null || topo_fatal "ping is not installed (make deps installs iputils-ping)"
check multinode/fabric_node_to_node "n1 cannot ping 198.51.100.2" \
	quiet topo_in_node n1 ping -c 1 -W 2 198.51.100.2
check multinode/fabric_node_to_outside "n3 cannot ping $SL_OUTSIDE_IP" \
	quiet topo_in_node n3 ping -c 1 -W 2 "$SL_OUTSIDE_IP"
check multinode/fabric_outside_to_node "the outside host cannot ping 198.51.100.1" \
	quiet topo_in_outside ping -c 1 -W 2 198.51.100.1

# ---- three agents, one manifest directory of Node objects -----------------------------------
write_nodes "n1 198.51.100.1 10.244.1.0/24" "n2 198.51.100.2 10.244.2.0/24" "n3 198.51.100.3"
manifest_service web "$SL_VIP" 80:8080/TCP | write_file "$TOPO_DIR/manifests/web-service.yaml"
for node in n1 n2 n3; do
	topo_agent "$node" "$TOPO_DIR/manifests" --cluster-cidr "$CLUSTER_CIDR" --service-cidr "$SERVICE_CIDR"
done
check multinode/n1_pod_cidr_from_node "n1: $(ipam_field n1 pod_cidr) from $(ipam_field n1 pod_cidr_source)" \
	test "$(ipam_field n1 pod_cidr) $(ipam_field n1 pod_cidr_source)" = "10.244.1.0/24 Node spec.podCIDR"
check multinode/n2_pod_cidr_from_node "n2: $(ipam_field n2 pod_cidr)" ipam_is n2 pod_cidr 10.244.2.0/24
check multinode/node_ip_from_internal_ip "n2: $(ipam_field n2 node_ip)" ipam_is n2 node_ip "$(topo_node_ip n2)"

# One config for every node, without ipam.subnet: each pod in its own node's block.
topo_pod n1 a1
topo_pod n2 a2
topo_pod n2 a3
check multinode/pod_in_n1_block "a1 $(topo_pod_ip a1)" in_cidr "$(topo_pod_ip a1)" 10.244.1.0/24
check multinode/pods_in_n2_block "a2 $(topo_pod_ip a2), a3 $(topo_pod_ip a3)" \
	both_in "$(topo_pod_ip a2)" "$(topo_pod_ip a3)" 10.244.2.0/24

# A node whose Node has no podCIDR: pods refused, naming it; Services still served.
msg="node n3: no pod CIDR: Node n3 has no spec.podCIDR and the agent has no --pod-cidr"
topo_pod_try n3 b3
check multinode/no_pod_cidr_add_refused "rc $rc: $out" test "$rc" != 0 -a "$(jq -r .code <<<"$out")" = 11
check multinode/no_pod_cidr_message "$out" test "$(jq -r .msg <<<"$out")" = "$msg"
check multinode/no_pod_cidr_in_status "$(ipam_field n3 message)" \
	test "$(ipam_field n3 pods_refused) $(ipam_field n3 message)" = "true $msg"
check multinode/no_pod_cidr_logged_once "$(grep -c 'no pod CIDR: Node n3' "${TOPO_AGENT_LOG[n3]}") lines" \
	test "$(grep -c 'no pod CIDR: Node n3' "${TOPO_AGENT_LOG[n3]}")" = 1
check multinode/no_pod_cidr_services_served "n3: web not programmed" \
	test "$(service_backends n3 "$SL_VIP" 80)" = 0
text=$(topo_cli n3 status 2>/dev/null || true)
check multinode/no_pod_cidr_status_text "$(grep 'pod CIDR' <<<"$text")" grep -qF "PODS REFUSED: $msg" <<<"$text"

# The other nodes, as each agent sees them.
check multinode/node_list_peer "n1 sees n2: $(node_list_field n1 n2 state) $(node_list_field n1 n2 internal_ip) $(node_list_field n1 n2 pod_cidr)" \
	test "$(node_list_field n1 n2 state) $(node_list_field n1 n2 internal_ip) $(node_list_field n1 n2 pod_cidr)" = "ready 198.51.100.2 10.244.2.0/24"
check multinode/node_list_no_pod_cidr "n2 sees n3: $(node_list_field n2 n3 state)" node_list_is n2 n3 state "no pod CIDR"
text=$(topo_cli n2 node list 2>/dev/null || true)
show_output "$text"
check multinode/node_list_text "$text" grep -qE '^n1 +198\.51\.100\.1 +10\.244\.1\.0/24 +ready' <<<"$text"

# ---- refused Nodes: an overlap and a CIDR outside the cluster; the others keep working --------
write_nodes "n1 198.51.100.1 10.244.1.0/24" "n2 198.51.100.2 10.244.2.0/24" "n3 198.51.100.3" \
	"n4 198.51.100.4 10.244.1.128/25" "n5 198.51.100.5 10.250.0.0/24" "n7 198.51.100.7 10.244.7.0/24"
check multinode/overlap_refused "n2 sees n4: $(node_list_field n2 n4 state): $(node_list_field n2 n4 reason)" \
	wait_until node_list_is n2 n4 reason "spec.podCIDR 10.244.1.128/25 overlaps node n1's 10.244.1.0/24"
check multinode/overlap_with_self_refused "n1 sees n4: $(node_list_field n1 n4 reason)" \
	node_list_is n1 n4 reason "spec.podCIDR 10.244.1.128/25 overlaps this node n1's pod CIDR 10.244.1.0/24"
check multinode/outside_cluster_refused "n2 sees n5: $(node_list_field n2 n5 reason)" \
	node_list_is n2 n5 reason "spec.podCIDR: pod CIDR 10.250.0.0/24 is not inside cluster CIDR $CLUSTER_CIDR"
check multinode/refusal_logged_by_name "$(grep 'Node n4' "${TOPO_AGENT_LOG[n2]}" | head -2)" \
	grep -q 'Node n4: refused: spec.podCIDR 10.244.1.128/25 overlaps node n1' "${TOPO_AGENT_LOG[n2]}"
check multinode/others_keep_working "n2 sees n1 $(node_list_field n2 n1 state), n7 $(node_list_field n2 n7 state)" \
	test "$(node_list_field n2 n1 state) $(node_list_field n2 n7 state)" = "ready ready"
topo_pod_try n1 a4
check multinode/pods_still_served "rc $rc: $out" test "$rc" = 0

# ---- a podCIDR added later is picked up; a changed one is refused, the old kept -----------------
write_nodes "n1 198.51.100.1 10.244.9.0/24" "n2 198.51.100.2 10.244.2.0/24" "n3 198.51.100.3 10.244.3.0/24" \
	"n7 198.51.100.7 10.244.7.0/24"
check multinode/pod_cidr_added "n3: $(ipam_field n3 pod_cidr)" wait_until ipam_is n3 pod_cidr 10.244.3.0/24
topo_pod_try n3 b3
check multinode/pod_after_pod_cidr_added "rc $rc: $out" pod_added_in 10.244.3.0/24
check multinode/peer_change_seen "n2 sees n3: $(node_list_field n2 n3 pod_cidr) $(node_list_field n2 n3 state)" \
	wait_until node_list_is n2 n3 pod_cidr 10.244.3.0/24
check multinode/removed_node_gone "n2 still lists n4: $(node_list_field n2 n4 state)" \
	test -z "$(node_list_field n2 n4 state)"
check multinode/pod_cidr_change_refused "n1: $(ipam_field n1 message)" \
	wait_until message_has n1 "spec.podCIDR 10.244.9.0/24 refused: pod CIDR 10.244.1.0/24 is in force"
check multinode/pod_cidr_change_kept "n1: $(ipam_field n1 pod_cidr)" ipam_is n1 pod_cidr 10.244.1.0/24
topo_pod_try n1 a5
check multinode/pod_after_change_in_old_block "rc $rc: $out" pod_added_in 10.244.1.0/24
check multinode/change_logged "$(grep -c 'spec.podCIDR 10.244.9.0/24 refused' "${TOPO_AGENT_LOG[n1]}") lines" \
	test "$(grep -c 'spec.podCIDR 10.244.9.0/24 refused' "${TOPO_AGENT_LOG[n1]}")" = 1

# A restart while pods hold addresses of the old block keeps it (and the refusal).
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --cluster-cidr "$CLUSTER_CIDR" --service-cidr "$SERVICE_CIDR"
check multinode/restart_keeps_pod_cidr "n1: $(ipam_field n1 pod_cidr): $(ipam_field n1 message)" \
	test "$(ipam_field n1 pod_cidr)" = 10.244.1.0/24 -a -n "$(ipam_field n1 message | grep -F 'spec.podCIDR 10.244.9.0/24 refused')"
check multinode/restart_logged "$(grep 'stays in force from before the restart' "${TOPO_AGENT_LOG[n1]}")" \
	grep -q 'pod CIDR 10.244.1.0/24 stays in force from before the restart: 3 pods hold' "${TOPO_AGENT_LOG[n1]}"

# ---- ipam.subnet set: it must agree with the agent's -------------------------------------------
topo_pod_try n2 c2 '.ipam = {subnet: "10.244.7.0/24"}'
check multinode/subnet_disagrees_code_7 "rc $rc: $out" test "$rc" != 0 -a "$(jq -r .code <<<"$out")" = 7
check multinode/subnet_disagrees_message "$out" grep -qF "ipam.subnet: 10.244.7.0/24 differs from node n2's pod CIDR 10.244.2.0/24" <<<"$out"
topo_pod_try n2 c2 '.ipam = {subnet: "10.244.2.0/24"}'
check multinode/subnet_agrees "rc $rc: $out" test "$rc" = 0

# ---- --pod-cidr: a node without a Node object; a later Node with another podCIDR ----------------
# Its cluster CIDRs as kube-controller-manager takes them: a list, the IPv6 one skipped.
topo_fabric_node n6 6
topo_agent n6 "$TOPO_DIR/manifests" --cluster-cidr "$CLUSTER_CIDR,fd00:10::/48" \
	--cluster-cidr 10.250.0.0/16 --service-cidr "$SERVICE_CIDR" --pod-cidr 10.250.6.0/24 \
	--node-ip 198.51.100.6
check multinode/flag_pod_cidr "n6: $(ipam_field n6 pod_cidr) from $(ipam_field n6 pod_cidr_source)" \
	test "$(ipam_field n6 pod_cidr) $(ipam_field n6 pod_cidr_source)" = "10.250.6.0/24 --pod-cidr"
check multinode/cluster_cidr_list "n6: $(ipam_field n6 cluster_cidr)" \
	ipam_is n6 cluster_cidr "$CLUSTER_CIDR,10.250.0.0/16"
topo_pod n6 d6
check multinode/flag_pod_in_block "d6 $(topo_pod_ip d6)" in_cidr "$(topo_pod_ip d6)" 10.250.6.0/24
write_nodes "n1 198.51.100.1 10.244.9.0/24" "n2 198.51.100.2 10.244.2.0/24" "n3 198.51.100.3 10.244.3.0/24" \
	"n6 198.51.100.6 10.244.60.0/24"
check multinode/flag_conflict_refused "n6: $(ipam_field n6 message)" \
	wait_until message_has n6 "spec.podCIDR 10.244.60.0/24 refused"
check multinode/flag_conflict_kept "n6: $(ipam_field n6 pod_cidr)" ipam_is n6 pod_cidr 10.250.6.0/24

topo_finish
