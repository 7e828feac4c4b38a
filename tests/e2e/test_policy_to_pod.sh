#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Ingress policy wherever a packet arrives (issue 13): a node WITHOUT --uplink (no tc_node), and
# an outside host (203.0.113.1) whose fabric routes the pod CIDR to the node's underlay address,
# so its packets reach the pods through the node's own stack. tc_to_pod, on the egress of every
# pod's host veth, judges them: an isolated pod is unreachable from the outside (the drops are
# counted), reachable once an ipBlock admits the outside host; the node itself always reaches
# it; the replies of the pod's own flow to the outside, which come back through the stack,
# arrive; and a pod reaching itself through its Service (delivered by bpf_redirect_peer, with
# the hairpin source address no rule admits) still works: redirect_peer skips that hook.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init policy-to-pod
topo_require_all

SUBNET=10.244.1.0/24
VIP=10.96.0.40

topo_fabric_node n1 1 "$SUBNET"
NODE_IP=$(topo_node_ip n1)
# The fabric routes the pod CIDR to the node, as a routed underlay (or another node) does.
ip -n "$TOPO_FABRIC_NS" route add "$SUBNET" via "$NODE_IP" || topo_fatal "fabric route to $SUBNET"

topo_agent n1 "$TOPO_DIR/manifests"
topo_pod n1 web
topo_pod n1 other
topo_echo web --tcp 8080
topo_echo other --tcp 8080
web=$(topo_pod_ip web)
other=$(topo_pod_ip other)

# An echo server on the outside host, for the pod's own flow out.
topo_echo_in "$TOPO_OUTSIDE_NS" outside --tcp 9000

{
	manifest_pod web "app: web"
	manifest_pod other "app: other"
	echo "---"
	manifest_service web "$VIP" 80:8080/TCP
	echo "---"
	manifest_slice web 80:8080/TCP web
} | write_file "$TOPO_DIR/manifests/pods.yaml"

# policy_yaml INGRESS-RULES: the only policy, selecting app=web, for Ingress.
policy_yaml() {
	cat <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: $1
YAML
}

# wait_policy PEER: web is ingress-isolated with rules whose non-pod peers are exactly PEER.
wait_policy() {
	local peer=$1 deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	until topo_cli n1 policy list default/web -o json 2>/dev/null |
		jq -e --arg p "$peer" \
			'.endpoints[0] | .ingress_isolated and
			 ([.rules[].peer | select(startswith("default ") | not)] | unique) ==
			 (if $p == "" then [] else [$p] end)' >/dev/null; do
		((SECONDS < deadline)) || topo_fatal "policy not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
		sleep 0.2
	done
}

outside_probe() { topo_in_outside timeout 30 "$SL_TOOLS/sl_probe" "$@"; }
node_probe() { topo_in_node n1 timeout 30 "$SL_TOOLS/sl_probe" "$@"; }
drops_ingress() {
	topo_cli n1 drops -o json 2>/dev/null |
		jq -r '[.drops[] | select(.name == "policy denied ingress") | .packets] | add // 0' 2>/dev/null ||
		echo 0
}

wait_service_backends n1 "$VIP" 80 1 ||
	topo_fatal "service not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
check policy-to-pod/no_uplink_program "the node runs no tc program on its uplink eth0" \
	test -z "$(topo_in_node n1 tc filter show dev eth0 ingress 2>/dev/null)"

check policy-to-pod/status_names_program "sluice status: $(topo_cli n1 status -o json 2>/dev/null | jq -c .to_pod_program)" \
	jq -e '.to_pod_program.pin == "tc_to_pod" and .to_pod_program.name == "tc_to_pod"' \
	<(topo_cli n1 status -o json 2>/dev/null)

# 0. Before any policy: the outside host reaches the pod through the node's stack.
out=$(outside_probe --tcp "$web:8080" -n 3 --timeout-ms 2000 || true)
check policy-to-pod/reached_without_policy "outside -> web: $(tally "$out")" \
	test "$(count_from web "$out")" -eq 3

# 1. Default deny ingress for web.
policy_yaml "[]" | write_file "$TOPO_DIR/manifests/policy.yaml"
wait_policy ""
before=$(drops_ingress)
out=$(outside_probe --tcp "$web:8080" -n 2 --timeout-ms 700 || true)
check policy-to-pod/outside_denied "outside -> web (isolated): $(tally "$out")" \
	test "$(count_errors "$out")" -eq 2
after=$(drops_ingress)
check policy-to-pod/denied_counted "policy denied ingress: $before -> $after packets" \
	test "$after" -ge $((before + 2))
out=$(outside_probe --tcp "$other:8080" -n 3 --timeout-ms 2000 || true)
check policy-to-pod/unisolated_reached "outside -> other: $(tally "$out")" \
	test "$(count_from other "$out")" -eq 3
out=$(node_probe --tcp "$web:8080" -n 3 --timeout-ms 2000 || true)
check policy-to-pod/node_reaches_isolated_pod "node -> web: $(tally "$out")" \
	test "$(count_from web "$out")" -eq 3
out=$(topo_probe web --tcp "$SL_OUTSIDE_IP:9000" -n 3 --timeout-ms 2000 || true)
check policy-to-pod/own_flow_reply_arrives "web -> outside, replies through the stack: $(tally "$out")" \
	test "$(count_from outside "$out")" -eq 3
before=$(drops_ingress)
out=$(topo_probe web --tcp "$VIP:80" -n 3 --timeout-ms 2000 || true)
after=$(drops_ingress)
hairpin_ok() { [[ $(count_from web "$out") -eq 3 && $after -eq $before ]]; }
check policy-to-pod/redirect_peer_skips_hook "web -> its own Service (hairpin): $(tally "$out"), drops $before -> $after" \
	hairpin_ok

# The pods of an older plugin have no egress filter: without it the outside host gets through
# (so that filter is what judges), and an agent start attaches it to every pod in ep4.
node_ns=$(topo_ns_node n1)
veth=$(ip -n "$node_ns" -o route get "$web" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
tc -n "$node_ns" filter del dev "$veth" egress || topo_fatal "remove the egress filter of $veth"
out=$(outside_probe --tcp "$web:8080" -n 2 --timeout-ms 2000 || true)
check policy-to-pod/unjudged_without_hook "outside -> web, no filter on $veth egress: $(tally "$out")" \
	test "$(count_from web "$out")" -eq 2
topo_agent_stop n1
topo_agent_restart n1
check policy-to-pod/agent_attaches_existing "filter on $veth egress after the agent's start" \
	grep -q tc_to_pod <(tc -n "$node_ns" filter show dev "$veth" egress)
wait_policy ""
out=$(outside_probe --tcp "$web:8080" -n 2 --timeout-ms 700 || true)
check policy-to-pod/denied_after_restart "outside -> web (isolated): $(tally "$out")" \
	test "$(count_errors "$out")" -eq 2

# 2. An ipBlock holding the outside host admits it (on the pod's port only).
policy_yaml "[{from: [{ipBlock: {cidr: 203.0.113.0/24}}], ports: [{port: 8080}]}]" |
	write_file "$TOPO_DIR/manifests/policy.yaml"
wait_policy 203.0.113.0/24
out=$(outside_probe --tcp "$web:8080" -n 5 --timeout-ms 2000 || true)
check policy-to-pod/outside_allowed "outside -> web (ipBlock): $(tally "$out")" \
	test "$(count_from web "$out")" -eq 5
# flows_to_web: forward conntrack entries outside host -> web:8080, as tc_to_pod opens them (the
# pod's answer, judged in tc_pod, would make only a reply entry with that key).
flows_to_web() {
	topo_cli n1 ct list -o json 2>/dev/null |
		jq --arg s "$SL_OUTSIDE_IP" --arg d "$web" \
			'[.connections[] | select(.src == $s and .dst == $d and .dport == 8080 and
			 (.flags | index("reply") | not))] | length' \
			2>/dev/null || echo 0
}
check policy-to-pod/allowed_tracked "conntrack entries outside -> web:8080: $(flows_to_web)" \
	test "$(flows_to_web)" -ge 5

topo_finish
