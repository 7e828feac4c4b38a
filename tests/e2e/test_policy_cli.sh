#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy through the agent's manifests, seen from the CLI: a denied connection is counted
# as "policy denied ingress" in sluice drops, sluice policy list shows the endpoint's identity,
# isolation and the rule with the policy that gave it, and a policy refused as invalid (endPort
# below port) leaves the previous policies in force.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init policy-cli
topo_require_all
topo_node n1 10.244.1.0/24
topo_agent n1 "$TOPO_DIR/manifests"
topo_pod n1 web
topo_pod n1 client
topo_pod n1 other
topo_echo web --tcp 8080
web=$(topo_pod_ip web)

policy_yaml() { # end port
	cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    ports: [{port: 8080, endPort: $1}]
EOF
}
{
	manifest_pod web "app: web"
	manifest_pod client "app: client"
	manifest_pod other "app: other"
} | write_file "$TOPO_DIR/manifests/pods.yaml"
policy_yaml 8081 | write_file "$TOPO_DIR/manifests/policy.yaml"

policy_ready() {
	topo_cli n1 policy list default/web -o json 2>/dev/null |
		jq -e '.endpoints[0].ingress_isolated and (.endpoints[0].rules | length > 0)' >/dev/null
}
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until policy_ready; do
	((SECONDS < deadline)) || topo_fatal "policy not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
	sleep 0.2
done

out=$(topo_probe client --tcp "$web:8080" -n 3 --timeout-ms 1000 || true)
check policy-cli/allowed "client -> web: $(tally "$out")" test "$(count_from web "$out")" -eq 3
out=$(topo_probe other --tcp "$web:8080" -n 2 --timeout-ms 500 || true)
check policy-cli/denied "other -> web: $(tally "$out")" test "$(count_errors "$out")" -eq 2
drops=$(topo_cli n1 drops -o json | jq -r '[.drops[] | select(.name == "policy denied ingress") | .packets] | add // 0' 2>/dev/null || echo 0)
check policy-cli/drops "policy denied ingress: $drops packets" test "$drops" -ge 2
topo_cli n1 drops | grep 'policy denied ingress' >&2 || true

json=$(topo_cli n1 policy list default/web -o json)
rule=$(jq -r '.endpoints[0].rules[0] | "\(.direction) \(.peer) \(.protocol) \(.ports) \(.policy)"' <<<"$json")
check policy-cli/list "rule: $rule" test "$rule" = "ingress default {app=client} TCP 8080-8081 default/web-from-client"
topo_cli n1 policy list default/web >&2

# endPort below port: refused with the field, and the old rule stays in force.
policy_yaml 80 | write_file "$TOPO_DIR/manifests/policy.yaml"
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until grep -q 'NetworkPolicy default/web-from-client: spec.ingress\[0\].ports\[0\].endPort: 80 must be greater than or equal to port 8080' "${TOPO_AGENT_LOG[n1]}"; do
	((SECONDS < deadline)) || break
	sleep 0.2
done
check policy-cli/invalid-logged "$(topo_log_tail "${TOPO_AGENT_LOG[n1]}")" \
	grep -q 'spec.ingress\[0\].ports\[0\].endPort: 80 must be greater than or equal to port 8080' "${TOPO_AGENT_LOG[n1]}"
json=$(topo_cli n1 policy list default/web -o json)
check policy-cli/invalid-keeps-last "rules: $(jq -c '.endpoints[0].rules' <<<"$json")" \
	test "$(jq -r '.endpoints[0].rules[0].ports' <<<"$json")" = "8080-8081"
out=$(topo_probe other --tcp "$web:8080" -n 1 --timeout-ms 500 || true)
check policy-cli/invalid-still-denies "other -> web: $(tally "$out")" test "$(count_errors "$out")" -eq 1
topo_finish
