#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy on traffic that does not start in a pod of the node: a client outside the node
# (a namespace behind the uplink up0) reaching a pod through a NodePort and straight at its
# address, and the node itself reaching its pods (what kubelet probes do). An isolated pod's
# ingress judges the outside client (as it arrived, before the NodePort's masquerade); the
# node may always reach its pods and they it, as Kubernetes defines; replies of allowed flows
# pass an isolated egress.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init policy-ext
topo_require_all

NODE_IP=192.168.78.1
CLIENT_IP=192.168.78.2

topo_node n1 10.244.1.0/24
# Pod addresses are routed through the node, as another node or a router would.
topo_uplink_client n1 "$NODE_IP" "$CLIENT_IP" 10.244.1.0/24
client_ns=$UPLINK_CLIENT_NS

topo_agent n1 "$TOPO_DIR/manifests" --uplink up0 --node-ip "$NODE_IP"
topo_pod n1 web
topo_pod n1 other
topo_echo web --tcp 8080
topo_echo other --tcp 8080
web=$(topo_pod_ip web)
other=$(topo_pod_ip other)

{
	manifest_pod web "app: web"
	manifest_pod other "app: other"
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.30
  selector: {app: web}
  externalTrafficPolicy: Cluster
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30090}]
EOF
} | write_file "$TOPO_DIR/manifests/pods.yaml"

# policy_yaml INGRESS-RULES [EGRESS]: the only policy selecting app=web.
policy_yaml() {
	cat <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress${2:+, Egress}]
  ingress: $1
EOF
}

# wait_policy EGRESS PEER: the agent has applied the policy: web isolated (egress as EGRESS),
# with rules whose peers are exactly PEER and web's own identity (pods inside an ipBlock).
wait_policy() {
	local egress=$1 peer=$2 deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	until topo_cli n1 policy list default/web -o json 2>/dev/null |
		jq -e --argjson e "$egress" --arg p "$peer" \
			'.endpoints[0] | .ingress_isolated and .egress_isolated == $e and
			 ([.rules[].peer | select(startswith("default ") | not)] | unique) ==
			 (if $p == "" then [] else [$p] end)' >/dev/null; do
		((SECONDS < deadline)) || topo_fatal "policy not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
		sleep 0.2
	done
}

client_probe() {
	timeout 30 nsenter --net="/var/run/netns/$client_ns" -- "$SL_TOOLS/sl_probe" "$@"
}
node_probe() {
	topo_in_node n1 timeout 30 "$SL_TOOLS/sl_probe" "$@"
}
drops_ingress() {
	topo_cli n1 drops -o json 2>/dev/null |
		jq -r '[.drops[] | select(.name == "policy denied ingress") | .packets] | add // 0' 2>/dev/null ||
		echo 0
}

wait_service_backends n1 10.96.0.30 80 1 ||
	topo_fatal "service not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"

# 1. Default deny ingress for web.
policy_yaml "[]" | write_file "$TOPO_DIR/manifests/policy.yaml"
wait_policy false ""
before=$(drops_ingress)
out=$(client_probe --tcp "$NODE_IP:30090" -n 2 --timeout-ms 700 || true)
check policy-ext/nodeport_denied "outside -> NodePort -> web: $(tally "$out")" \
	test "$(count_errors "$out")" -eq 2
out=$(client_probe --tcp "$web:8080" -n 2 --timeout-ms 700 || true)
check policy-ext/direct_denied "outside -> web: $(tally "$out")" test "$(count_errors "$out")" -eq 2
after=$(drops_ingress)
check policy-ext/denied_counted "policy denied ingress: $before -> $after packets" \
	test "$after" -ge $((before + 4))
out=$(client_probe --tcp "$other:8080" -n 3 --timeout-ms 2000 || true)
check policy-ext/unisolated_reached "outside -> other: $(tally "$out")" \
	test "$(count_from other "$out")" -eq 3
out=$(node_probe --tcp "$web:8080" -n 3 --timeout-ms 2000 || true)
check policy-ext/node_reaches_isolated_pod "node -> web: $(tally "$out")" \
	test "$(count_from web "$out")" -eq 3

# 2. Ingress from the outside client's network: the NodePort (masqueraded to the node's
#    address after the check) and the pod's own address both answer; 10.0.0.0/8 alone does not.
policy_yaml "[{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]" | write_file "$TOPO_DIR/manifests/policy.yaml"
wait_policy false 10.0.0.0/8
out=$(client_probe --tcp "$NODE_IP:30090" -n 2 --timeout-ms 700 || true)
check policy-ext/nodeport_other_block_denied "outside -> NodePort, ipBlock 10/8: $(tally "$out")" \
	test "$(count_errors "$out")" -eq 2
policy_yaml "[{from: [{ipBlock: {cidr: 192.168.78.0/24}}], ports: [{port: 8080}]}]" |
	write_file "$TOPO_DIR/manifests/policy.yaml"
wait_policy false 192.168.78.0/24
out=$(client_probe --tcp "$NODE_IP:30090" -n 5 --timeout-ms 2000 || true)
check policy-ext/nodeport_allowed "outside -> NodePort -> web: $(tally "$out")" \
	test "$(count_from web "$out")" -eq 5
out=$(client_probe --tcp "$web:8080" -n 5 --timeout-ms 2000 || true)
check policy-ext/direct_allowed "outside -> web: $(tally "$out")" test "$(count_from web "$out")" -eq 5

# 3. Egress isolated too, allowing nothing: replies of allowed flows still leave, and the node
#    still reaches the pod (its probes' replies are not judged).
policy_yaml "[{from: [{ipBlock: {cidr: 192.168.78.0/24}}], ports: [{port: 8080}]}]" egress |
	write_file "$TOPO_DIR/manifests/policy.yaml"
wait_policy true 192.168.78.0/24
out=$(client_probe --tcp "$web:8080" -n 5 --timeout-ms 2000 || true)
check policy-ext/reply_passes_isolated_egress "outside -> web: $(tally "$out")" \
	test "$(count_from web "$out")" -eq 5
out=$(node_probe --tcp "$web:8080" -n 3 --timeout-ms 2000 || true)
check policy-ext/node_reaches_egress_isolated_pod "node -> web: $(tally "$out")" \
	test "$(count_from web "$out")" -eq 3
out=$(topo_probe web --tcp "$other:8080" -n 2 --timeout-ms 700 || true)
check policy-ext/egress_still_enforced "web -> other: $(tally "$out")" \
	test "$(count_errors "$out")" -eq 2

topo_finish
