#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `sluice explain FROM TO PORT[/PROTO]` says what a new flow would meet, from the maps the
# datapath reads, and what it says is what the traffic then does: with no policy a ClusterIP
# flow is allowed at both backends; a policy admitting app=client to app=web on TCP 8080 makes
# the client allowed ("a rule of default/web-from-client") and another pod denied ("default deny
# of default/web-from-client", policy_ingress); an egress policy on the client refuses it a pod
# ("default deny of default/client-egress", policy_egress); a rule admitting only web-1 makes the
# Service "partly allowed"; a Service without endpoints is "rejected". Each verdict is checked
# against real connections. Bad arguments get one line naming what is wrong.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init explain
topo_standard
topo_pod n1 other
topo_echo other
other=$(topo_pod_ip other)
{
	manifest_pod client "app: client"
	manifest_pod other "app: other"
	manifest_pod web-1 "app: web, name: web-1"
	manifest_pod web-2 "app: web, name: web-2"
} | write_file "$TOPO_DIR/manifests/pods.yaml"

# explain FROM TO PORT: the JSON model.
explain() { topo_cli n1 -o json explain "$@"; }
verdict() { explain "$@" | jq -r .verdict; }
# connects POD TARGET:PORT N: how many of N TCP connections were answered.
connects() {
	local out
	out=$(topo_probe "$1" --tcp "$2" -n "$3" --timeout-ms 1000 2>&1 || true)
	echo $(($3 - $(count_errors "$out")))
}
# wait_isolated POD DIRECTION: until the ipcache says POD is isolated in DIRECTION.
wait_isolated() {
	local deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	until explain "$1" "$SL_VIP" 80 2>/dev/null | jq -e ".from.${2}_isolated or (.paths | any(.destination.${2}_isolated))" >/dev/null; do
		((SECONDS < deadline)) || topo_fatal "policy not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
		sleep 0.2
	done
}

# 1. No policy: both backends, allowed, not judged.
m=$(explain default/client "$SL_VIP" 80/tcp)
check explain/service_found "service $(jq -c .service <<<"$m")" \
	jq -e '.service.name == "default/web:tcp-80" and .service.type == "ClusterIP" and .service.backends == 2' <<<"$m"
check explain/no_policy_allowed "verdict $(jq -r .verdict <<<"$m")" \
	jq -e '.verdict == "allowed" and (.paths | length == 2) and all(.paths[]; .ingress.judged == false)' <<<"$m"
check explain/backends_named "backends $(jq -c '[.paths[].destination.pod]' <<<"$m")" \
	jq -e '[.paths[].destination.pod] | sort == ["default/web-1", "default/web-2"]' <<<"$m"
text=$(topo_cli n1 explain client default/web 80)
check explain/service_by_name "explain client default/web 80: $(sed -n 2p <<<"$text")" \
	grep -q '^to .*: service default/web:tcp-80 (ClusterIP' <<<"$text"
check explain/text "text output ends with the verdict: $(tail -1 <<<"$text")" grep -q '^verdict  allowed' <<<"$text"

# 2. Ingress: web admits app=client on TCP 8080 only.
cat <<EOF | write_file "$TOPO_DIR/manifests/policy-web.yaml"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080}]
EOF
wait_isolated client ingress
m=$(explain client "$SL_VIP" 80)
check explain/rule_allows "client: $(jq -c '[.verdict, .paths[0].ingress.policy, .paths[0].ingress.reason]' <<<"$m")" \
	jq -e '.verdict == "allowed" and all(.paths[]; .ingress.judged and .ingress.policy == "default/web-from-client")' <<<"$m"
n=$(connects client "$SL_VIP:80" 6)
check explain/rule_allows_observed "client -> VIP: $n of 6 answered" test "$n" -eq 6
m=$(explain other "$SL_VIP" 80)
check explain/default_deny_ingress "other: $(jq -c '[.verdict, .paths[0].ingress.reason, .paths[0].drop_reason]' <<<"$m")" \
	jq -e '.verdict == "denied" and all(.paths[]; .drop_reason == "policy_ingress" and .ingress.policy == "default/web-from-client" and (.ingress.reason | startswith("default deny of default/web-from-client")))' <<<"$m"
n=$(connects other "$SL_VIP:80" 4)
check explain/default_deny_observed "other -> VIP: $n of 4 answered" test "$n" -eq 0
check explain/port_not_admitted "client to web-1 on 8090: $(verdict client web-1 8090)" \
	test "$(verdict client web-1 8090)" = denied
n=$(connects client "$(topo_pod_ip web-1):8090" 2)
check explain/port_not_admitted_observed "client -> web-1:8090: $n of 2 answered" test "$n" -eq 0

# 3. Egress: the client may reach app=web only.
cat <<EOF | write_file "$TOPO_DIR/manifests/policy-client.yaml"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: web}}}]
EOF
wait_isolated client egress
m=$(explain client other 8080)
check explain/default_deny_egress "client -> other: $(jq -c '[.verdict, .paths[0].egress.reason]' <<<"$m")" \
	jq -e '.verdict == "denied" and .paths[0].drop_reason == "policy_egress" and .paths[0].egress.policy == "default/client-egress" and .service == null' <<<"$m"
n=$(connects client "$other:8080" 2)
check explain/default_deny_egress_observed "client -> other:8080: $n of 2 answered" test "$n" -eq 0
check explain/egress_rule_allows "client -> VIP: $(verdict client "$SL_VIP" 80)" test "$(verdict client "$SL_VIP" 80)" = allowed

# 4. Only web-1 admits the client, web-2 nothing: the Service is partly allowed, the backends
# say which (NetworkPolicies add up, so the client's rule must not select web-2).
cat <<EOF | write_file "$TOPO_DIR/manifests/policy-web.yaml"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {name: web-1}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-2-closed, namespace: default}
spec:
  podSelector: {matchLabels: {name: web-2}}
  ingress: []
EOF
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until [[ $(verdict client "$SL_VIP" 80) == "partly allowed" ]] || ((SECONDS >= deadline)); do sleep 0.2; done
m=$(explain client "$SL_VIP" 80)
check explain/partly_allowed "$(jq -c '[.verdict, [.paths[] | [.destination.pod, .allowed]]]' <<<"$m")" \
	jq -e '.verdict == "partly allowed" and ([.paths[] | select(.allowed) | .destination.pod] == ["default/web-1"])' <<<"$m"
check explain/partly_allowed_names_policy "web-2's denial: $(jq -r '.paths[] | select(.allowed | not) | .ingress.policy' <<<"$m")" \
	jq -e '.paths[] | select(.allowed | not) | .ingress.policy == "default/web-2-closed"' <<<"$m"
n1=$(connects client "$(topo_pod_ip web-1):8080" 2)
n2=$(connects client "$(topo_pod_ip web-2):8080" 2)
check explain/partly_allowed_observed "client -> web-1:8080: $n1 of 2 answered, web-2: $n2 of 2" \
	test "$n1:$n2" = 2:0

# 5. A Service without endpoints: rejected.
manifest_service empty 10.96.0.20 80:8080/TCP | write_file "$TOPO_DIR/manifests/empty.yaml"
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until [[ $(verdict client 10.96.0.20 80 2>/dev/null) == rejected ]] || ((SECONDS >= deadline)); do sleep 0.2; done
check explain/no_endpoints_rejected "client -> empty: $(verdict client 10.96.0.20 80)" \
	test "$(verdict client 10.96.0.20 80)" = rejected

# 6. Batch: one question per line of stdin, one JSON line each, the same answers.
batch=$(printf 'client %s 80\nother %s 8080\n\nclient 10.96.0.20 80\n' "$SL_VIP" "$other" |
	timeout 10 nsenter --net="/var/run/netns/$(topo_ns_node n1)" -- "$SLUICE" --bpffs "$(topo_node_bpffs n1)" -o json explain -)
want="$(verdict client "$SL_VIP" 80),$(verdict other "$other" 8080),rejected"
check explain/batch "stdin answers: $(jq -r .verdict <<<"$batch" | paste -sd,) (one by one: $want)" \
	test "$(jq -r .verdict <<<"$batch" | paste -sd,)" = "$want"

# 7. Bad arguments: one line naming what is wrong, exit status non-zero.
err=$(topo_cli n1 explain default/nobody "$SL_VIP" 80 2>&1) && rc=0 || rc=$?
check explain/unknown_pod "rc $rc: $err" bash -c '[[ $1 != 0 && $2 == *"default/nobody"* ]]' _ "$rc" "$err"
err=$(topo_cli n1 explain client "$SL_VIP" 80/xyz 2>&1) && rc=0 || rc=$?
check explain/bad_protocol "rc $rc: $err" bash -c '[[ $1 != 0 && $2 == *"80/xyz"* ]]' _ "$rc" "$err"

topo_finish
