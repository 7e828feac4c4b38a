#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kube-proxy's health endpoint, which cloud load balancers probe for externalTrafficPolicy
# Cluster: /healthz and /livez on --healthz-addr (default 0.0.0.0:10256) with kube-proxy's status
# codes and JSON fields. A node its Node object marks as leaving (the cluster autoscaler's taint,
# a deletionTimestamp) fails /healthz so the load balancer drains it, while /livez stays 200.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init healthz
topo_standard
node_ip=198.51.100.1
topo_in_node n1 ip addr add "$node_ip/24" dev lo

# get NODE HOST:PORT PATH: "CODE BODY" of GET http://HOST:PORT/PATH from inside NODE.
get() {
	topo_in_node "$1" curl -sS -m 3 -o - -w ' %{http_code}' "http://$2$3" 2>&1 || true
}
code_of() { echo "${1##* }"; }
body_of() { echo "${1% *}"; }

# wait_code NODE HOST:PORT PATH CODE: until the endpoint answers CODE (bounded).
wait_code() {
	local deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	while [[ $(code_of "$(get "$1" "$2" "$3")") != "$4" ]]; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# 1. Synced and attached: 200 with kube-proxy's fields, on the node's addresses.
r=$(get n1 127.0.0.1:10256 /healthz)
check healthz/ok_200 "GET /healthz: $r" test "$(code_of "$r")" = 200
body=$(body_of "$r")
check healthz/json_fields "body: $body" \
	jq -e '(.lastUpdated | test("^20[0-9-]+ [0-9:.]+ \\+0000 UTC$")) and (.currentTime | type == "string") and .nodeEligible == true and .healthy == true' <<<"$body"
r=$(get n1 "$node_ip:10256" /livez)
check healthz/livez_200 "GET /livez on the node address: $r" test "$(code_of "$r")" = 200
r=$(get n1 127.0.0.1:10256 /metrics)
check healthz/other_path_404 "GET /metrics: $r" test "$(code_of "$r")" = 404

# 2. The autoscaler marks the node for deletion: /healthz 503, nodeEligible false; /livez 200.
# write_node [TAINTS]: n1's Node object, with TAINTS (a flow-style list) when given.
write_node() {
	heredoc <<YAML | write_file "$TOPO_DIR/manifests/node.yaml"
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {kubernetes.io/hostname: n1}}
spec:
  podCIDR: ${TOPO_NODE_SUBNET[n1]}
  podCIDRs: [${TOPO_NODE_SUBNET[n1]}]
  taints: ${1:-[]}
status:
  addresses: [{type: InternalIP, address: $node_ip}]
YAML
}
write_node
check healthz/node_object_eligible "GET /healthz with a plain Node: 200" wait_code n1 127.0.0.1:10256 /healthz 200
write_node '[{key: ToBeDeletedByClusterAutoscaler, value: "1796283600", effect: NoSchedule}]'
check healthz/autoscaler_taint_503 "GET /healthz with the autoscaler's taint: $(get n1 127.0.0.1:10256 /healthz)" \
	wait_code n1 127.0.0.1:10256 /healthz 503
check healthz/autoscaler_taint_not_eligible "body says nodeEligible false" \
	jq -e '.nodeEligible == false and .healthy == true' <<<"$(body_of "$(get n1 127.0.0.1:10256 /healthz)")"
r=$(get n1 127.0.0.1:10256 /livez)
check healthz/autoscaler_taint_livez_200 "GET /livez: $r" test "$(code_of "$r")" = 200

# 3. The taint lifted: eligible again.
write_node
check healthz/taint_lifted_200 "GET /healthz after the taint went" wait_code n1 127.0.0.1:10256 /healthz 200

# 4. A restart with --healthz-addr on another port, and "" turning it off.
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --healthz-addr 127.0.0.1:10299
check healthz/flag_port "GET :10299/healthz" wait_code n1 127.0.0.1:10299 /healthz 200
r=$(get n1 127.0.0.1:10256 /healthz)
check healthz/flag_port_default_closed "GET :10256 after moving: $r" test "$(code_of "$r")" = 000
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --healthz-addr ""
r=$(get n1 127.0.0.1:10299 /healthz)
check healthz/flag_off "GET :10299 with --healthz-addr \"\": $r" test "$(code_of "$r")" = 000

topo_finish
