#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Node addressing through the API server: two nodes on the fabric, each agent following one fake
# API server (in the fabric namespace, as one API server serves a cluster) with --kubeconfig. Each
# agent takes its pod CIDR from its Node object; a Node that gets its podCIDR later through a
# watch event is picked up and its pods are then served; a Node added by a watch event appears on
# every node, one that overlaps another's block is refused by name on every node, a deleted one
# goes.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init multinode_apiserver
topo_require_all
CLUSTER_CIDR=10.244.0.0/16

both_see() { node_list_is n1 "$1" "$2" "$3" && node_list_is n2 "$1" "$2" "$3"; }
# ms_until CMD...: milliseconds until CMD succeeds (or -1 after SL_SYNC_TIMEOUT).
ms_until() {
	local t0
	t0=$(date +%s%N)
	wait_until "$@" || {
		echo -1
		return
	}
	echo $((($(date +%s%N) - t0) / 1000000))
}

topo_fabric_nodes 2
{
	manifest_node n1 198.51.100.1 10.244.1.0/24
	manifest_node n2 198.51.100.2
	manifest_namespace default
} >"$TOPO_DIR/cluster.yaml"
topo_fabric_apiserver "$TOPO_DIR/cluster.yaml"
mkdir -p "$TOPO_DIR/empty"
for node in n1 n2; do
	topo_agent "$node" "$TOPO_DIR/empty" --kubeconfig "$TOPO_KUBECONFIG" --cluster-cidr "$CLUSTER_CIDR" \
		--service-cidr 10.96.0.0/12
done
out=$(topo_in_node n2 timeout 20 kubectl --kubeconfig "$TOPO_KUBECONFIG" get nodes -o name 2>&1 || true)
check multinode_api/kubectl_from_another_node "kubectl get nodes on n2: $out" grep -qx node/n2 <<<"$out"

check multinode_api/pod_cidr_from_api "n1: $(ipam_field n1 pod_cidr) from $(ipam_field n1 pod_cidr_source)" \
	test "$(ipam_field n1 pod_cidr) $(ipam_field n1 pod_cidr_source)" = "10.244.1.0/24 Node spec.podCIDR"
topo_pod_try n1 a1
check multinode_api/pod_in_n1_block "rc $rc: $out" pod_added_in 10.244.1.0/24
topo_pod_try n2 b1
check multinode_api/no_pod_cidr_refused "rc $rc: $out" \
	test "$rc" != 0 -a "$(jq -r .msg <<<"$out")" = "node n2: no pod CIDR: Node n2 has no spec.podCIDR and the agent has no --pod-cidr"

# kube-controller-manager allocates n2's block: a MODIFIED event.
manifest_node n2 198.51.100.2 10.244.2.0/24 | api_apply
ms=$(ms_until ipam_is n2 pod_cidr 10.244.2.0/24)
check multinode_api/pod_cidr_from_watch "n2 after ${ms} ms: $(ipam_field n2 pod_cidr): $(ipam_field n2 message)" test "$ms" -ge 0
info "n2 took its podCIDR $ms ms after the API change"
topo_pod_try n2 b1
check multinode_api/pod_after_watch "rc $rc: $out" pod_added_in 10.244.2.0/24
check multinode_api/peer_sees_change "n1 sees n2: $(node_list_field n1 n2 state) $(node_list_field n1 n2 pod_cidr)" \
	wait_until node_list_is n1 n2 pod_cidr 10.244.2.0/24

# A Node added: every node lists it.
manifest_node n3 198.51.100.3 10.244.3.0/24 | api_apply
ms=$(ms_until both_see n3 state ready)
check multinode_api/node_added_everywhere "after ${ms} ms: n1 sees $(node_list_field n1 n3 state), n2 $(node_list_field n2 n3 state)" test "$ms" -ge 0
info "n3 listed by both agents $ms ms after the API change"

# A Node overlapping n2's block: refused by name on both nodes, the others unchanged.
manifest_node n4 198.51.100.4 10.244.2.128/25 | api_apply
check multinode_api/overlap_refused_on_n1 "n1 sees n4: $(node_list_field n1 n4 state): $(node_list_field n1 n4 reason)" \
	wait_until node_list_is n1 n4 reason "spec.podCIDR 10.244.2.128/25 overlaps node n2's 10.244.2.0/24"
check multinode_api/overlap_refused_on_n2 "n2 sees n4: $(node_list_field n2 n4 reason)" \
	wait_until node_list_is n2 n4 reason "spec.podCIDR 10.244.2.128/25 overlaps this node n2's pod CIDR 10.244.2.0/24"
check multinode_api/others_unchanged "n1 sees n2 $(node_list_field n1 n2 state), n3 $(node_list_field n1 n3 state)" \
	test "$(node_list_field n1 n2 state) $(node_list_field n1 n3 state)" = "ready ready"

# A Node deleted: gone everywhere.
api_delete Node "" n3
check multinode_api/node_deleted_everywhere "n1 sees n3: $(node_list_field n1 n3 state), n2: $(node_list_field n2 n3 state)" \
	wait_until both_see n3 state ""

topo_finish
