#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy judges ICMP too: ping into a pod isolated for ingress is dropped and counted as
# "policy denied ingress" when only a rule with ports (TCP 8080) admits the client, and
# answered once a rule without ports (every protocol) admits it, the echo reply passing the
# pod's isolated egress by conntrack; another peer stays refused, and an unisolated pod answers
# as before. Needs ping (iputils-ping, installed by tests/deps.sh).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init policy-icmp
topo_require_all
command -v ping >/dev/null || topo_fatal "ping is not installed (tests/deps.sh installs iputils-ping)"
topo_node n1 10.244.1.0/24
topo_agent n1 "$TOPO_DIR/manifests"
topo_pod n1 web
topo_pod n1 client
topo_pod n1 other
topo_pod n1 plain
topo_echo web --tcp 8080
web=$(topo_pod_ip web)
plain=$(topo_pod_ip plain)

# pings POD ADDRESS COUNT: how many echo replies POD got (0.2 s apart, 1 s for the last).
pings() {
	local out
	out=$(topo_in_pod "$1" ping -n -c "$3" -i 0.2 -W 1 "$2" 2>&1 || true)
	sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out" | grep . || echo 0
}
denied_ingress() {
	topo_cli n1 drops -o json 2>/dev/null |
		jq -r '[.drops[] | select(.name == "policy denied ingress") | .packets] | add // 0' ||
		echo 0
}
# Waits until default/web's rules show SELECTOR (a jq test on .endpoints[0].rules).
wait_rules() {
	local deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	until topo_cli n1 policy list default/web -o json 2>/dev/null |
		jq -e ".endpoints[0].ingress_isolated and (.endpoints[0].rules | $1)" >/dev/null; do
		((SECONDS < deadline)) || topo_fatal "policy not applied ($1): $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
		sleep 0.2
	done
}

{
	manifest_pod web "app: web"
	manifest_pod client "app: client"
	manifest_pod other "app: other"
	manifest_pod plain "app: plain"
} | write_file "$TOPO_DIR/manifests/pods.yaml"

# No policy yet: everyone answers.
check policy-icmp/before "client -> web: $(pings client "$web" 2) of 2 replies" \
	test "$(pings client "$web" 2)" -eq 2

# web isolated for ingress and egress; the client admitted on TCP 8080 only.
cat <<EOF | write_file "$TOPO_DIR/manifests/policy.yaml"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-tcp-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    ports: [{port: 8080}]
EOF
wait_rules 'length > 0'
before=$(denied_ingress)
n=$(pings client "$web" 3)
after=$(denied_ingress)
check policy-icmp/ports-only-drops "client -> web with a TCP-only rule: $n of 3 replies" test "$n" -eq 0
check policy-icmp/counted "policy denied ingress: $before -> $after packets" test "$((after - before))" -ge 3
out=$(topo_probe client --tcp "$web:8080" -n 2 --timeout-ms 1000 || true)
check policy-icmp/tcp-still-allowed "client -> web:8080: $(tally "$out")" test "$(count_from web "$out")" -eq 2

# A rule without ports from the client: every protocol, ping included; its reply leaves web's
# isolated egress as a tracked flow.
cat <<EOF | write_file "$TOPO_DIR/manifests/policy-any.yaml"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-any-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
EOF
wait_rules 'any(.protocol == "any")'
n=$(pings client "$web" 3)
check policy-icmp/portless-allows "client -> web with a rule without ports: $n of 3 replies" test "$n" -eq 3
icmp=$(topo_cli n1 ct list -o json 2>/dev/null |
	jq --arg ip "$web" '[.connections[] | select(.proto == "ICMP" and ([.src, .dst] | index($ip)))] | length' ||
	echo 0)
check policy-icmp/echo-tracked "conntrack: $icmp ICMP entries with web" test "$icmp" -ge 2
before=$(denied_ingress)
n=$(pings other "$web" 2)
after=$(denied_ingress)
check policy-icmp/other-peer-drops "other -> web: $n of 2 replies" test "$n" -eq 0
check policy-icmp/other-counted "policy denied ingress: $before -> $after packets" test "$((after - before))" -ge 2

# A pod no policy selects answers anyone, as before.
n=$(pings other "$plain" 2)
check policy-icmp/unisolated "other -> plain: $n of 2 replies" test "$n" -eq 2
topo_cli n1 policy list default/web >&2 || true
topo_finish
