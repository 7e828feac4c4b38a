#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# internalTrafficPolicy and trafficDistribution on real nodes: two nodes on the fabric, in zones
# z1 and z2 (their Nodes' topology.kubernetes.io/zone), one agent each following one API server,
# a client and a backend on each node, the EndpointSlices saying where each backend runs
# (nodeName, zone, hints) as the EndpointSlice controller writes them.
# - internalTrafficPolicy Local: each node's client reaches only its own node's backend; with
#   the local backend gone from the slice, a client there is dropped (kube-proxy's behaviour),
#   the other node's client still served.
# - internalTrafficPolicy Cluster: both backends, across the tunnel.
# - trafficDistribution PreferClose: each client reaches its own zone's backend; with z1's
#   backend gone, z1 has no hinted endpoint and its client falls back to every endpoint.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init multinode_traffic_policy
topo_require_all
NODES=(n1 n2)

topo_fabric_nodes 2
{
	manifest_node n1 198.51.100.1 10.244.1.0/24 z1
	manifest_node n2 198.51.100.2 10.244.2.0/24 z2
	manifest_namespace default
} >"$TOPO_DIR/cluster.yaml"
topo_fabric_apiserver "$TOPO_DIR/cluster.yaml"
mkdir -p "$TOPO_DIR/empty"
for node in "${NODES[@]}"; do
	TOPO_AGENT_NO_WAIT=1 topo_agent "$node" "$TOPO_DIR/empty" --kubeconfig "$TOPO_KUBECONFIG" \
		--cluster-cidr 10.244.0.0/16
done
for node in "${NODES[@]}"; do topo_agent_wait "$node"; done

topo_pod n1 client1
topo_pod n2 client2
topo_pod n1 web1
topo_pod n2 web2
topo_echo web1 --tcp 8080
topo_echo web2 --tcp 8080
{
	manifest_pod web1 "app: web"
	manifest_pod web2 "app: web"
} | api_apply

W1=$(slice_endpoint web1 node=n1 zone=z1)
W2=$(slice_endpoint web2 node=n2 zone=z2)
W1_HINTED=$(slice_endpoint web1 node=n1 zone=z1 hint=z1)
W2_HINTED=$(slice_endpoint web2 node=n2 zone=z2 hint=z2)
services() {
	api_service_yaml itp-local 10.96.4.10 '  internalTrafficPolicy: Local' "$1"
	api_service_yaml itp-cluster 10.96.4.11 '  internalTrafficPolicy: Cluster' "$W1
$W2"
	api_service_yaml close 10.96.4.12 '  trafficDistribution: PreferClose' "$2"
}
services "$W1
$W2" "$W1_HINTED
$W2_HINTED" | api_apply
for node in "${NODES[@]}"; do
	wait_service_backends "$node" 10.96.4.11 80 2 ||
		topo_fatal "$node: itp-cluster not programmed: $(topo_log_tail "${TOPO_AGENT_LOG[$node]}")"
done

# probe FROM TARGET COUNT: the sorted tally of COUNT connections ("web1=10 web2=10 ").
probe() {
	local out
	out=$(topo_probe "$1" --tcp "$2" -n "$3" --timeout-ms "${PROBE_TIMEOUT_MS:-2000}" || true)
	awk '{ print ($1 == "ERR" ? $1 "-" $2 : $1) }' <<<"$out" | tally "$(cat)" | tr ' ' '\n' | sort | tr '\n' ' '
}
both='^web1=[0-9]+ web2=[0-9]+ $'
matches() { [[ $1 =~ $2 ]]; }

# 1. Each node serves its own clients from its own node or zone.
got=$(probe client1 10.96.4.10:80 12)
check multinode_traffic_policy/itp_local_n1 "client1 (n1) -> itp-local: $got" test "$got" = "web1=12 "
got=$(probe client2 10.96.4.10:80 12)
check multinode_traffic_policy/itp_local_n2 "client2 (n2) -> itp-local: $got" test "$got" = "web2=12 "
got=$(probe client1 10.96.4.11:80 30)
check multinode_traffic_policy/itp_cluster_both "client1 (n1) -> itp-cluster: $got" matches "$got" "$both"
got=$(probe client1 10.96.4.12:80 12)
check multinode_traffic_policy/prefer_close_z1 "client1 (z1) -> close: $got" test "$got" = "web1=12 "
got=$(probe client2 10.96.4.12:80 12)
check multinode_traffic_policy/prefer_close_z2 "client2 (z2) -> close: $got" test "$got" = "web2=12 "

# 2. web1 leaves both slices: n1 has no local endpoint (dropped), z1 no hinted one (all serve).
services "$W2" "$W2_HINTED" | api_apply
backends_are() { [[ $(service_backends "$1" "$2" 80) == "$3" ]]; }
for node in "${NODES[@]}"; do
	wait_until backends_are "$node" 10.96.4.12 1 ||
		topo_fatal "$node: close not updated: $(topo_log_tail "${TOPO_AGENT_LOG[$node]}")"
done
got=$(PROBE_TIMEOUT_MS=1000 probe client1 10.96.4.10:80 3)
check multinode_traffic_policy/itp_local_none_dropped "client1 (n1) -> itp-local without web1: $got (kube-proxy drops)" \
	test "$got" = "ERR-ETIMEDOUT=3 "
got=$(probe client2 10.96.4.10:80 6)
check multinode_traffic_policy/itp_local_other_node_served "client2 (n2) -> itp-local: $got" test "$got" = "web2=6 "
got=$(probe client1 10.96.4.12:80 6)
check multinode_traffic_policy/prefer_close_fallback "client1 (z1) -> close without a z1 endpoint: $got" \
	test "$got" = "web2=6 "

topo_finish
