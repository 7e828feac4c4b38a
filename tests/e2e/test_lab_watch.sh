#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `sluice lab --watch`: a label update and a new policy in the file are re-probed on the live
# datapath (pods keep their namespaces; the agent applies the change), an invalid edit keeps the
# previous policies in force, and Ctrl-C (SIGINT) ends the lab with every namespace removed.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
	skip lab-watch "needs root (network namespaces, bpffs)"
	exit 0
fi
topo_require "$SLUICE" "$SLUICE_CNI"
export SLUICE_CNI
dir=$(mktemp -d)
pid=
cleanup() {
	if [[ -n $pid ]]; then
		kill -INT "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

write_lab() { # $1: labels of b, $2: extra policy text
	cat >"$dir/tmp.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {$1}}
spec: {containers: [{name: c, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y, labels: {pod: c}}
spec: {containers: [{name: c, ports: [{containerPort: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-green, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchLabels: {color: green}}
    ports: [{port: http}]
$2
EOF
	mv "$dir/tmp.yaml" "$dir/lab.yaml"
}

# Rounds are JSON objects, one after another, in $dir/out.
rounds() { jq -s 'length' "$dir/out" 2>/dev/null || echo 0; }
wait_rounds() {
	local want=$1 i
	for ((i = 0; i < 300; i++)); do
		(($(rounds) >= want)) && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
verdict() { # round from to
	jq -s -r --argjson r "$1" --arg f "$2" --arg t "$3" \
		'.[$r].probes[] | select(.from == $f and .to == $t) | "\(.observed)/\(.expected)"' "$dir/out"
}
mismatches() { jq -s -r --argjson r "$1" '.[$r].mismatches' "$dir/out"; }

write_lab "pod: b" ""
"$SLUICE" lab --watch -o json "$dir/lab.yaml" >"$dir/out" 2>"$dir/err" &
pid=$!
wait_rounds 1 || {
	sed 's/^/#   /' "$dir/err" >&2
	topo_fatal "no first round"
}
check lab-watch/initial "x/b -> x/a: $(verdict 0 x/b x/a), $(mismatches 0) mismatches" \
	test "$(verdict 0 x/b x/a)/$(mismatches 0)" = "denied/denied/0"

write_lab "pod: b, color: green" ""
wait_rounds 2 || topo_fatal "no round after the label update"
check lab-watch/label-update "x/b -> x/a: $(verdict 1 x/b x/a), $(mismatches 1) mismatches" \
	test "$(verdict 1 x/b x/a)/$(mismatches 1)" = "allowed/allowed/0"

write_lab "pod: b, color: green" "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-deny-egress, namespace: y}
spec: {podSelector: {}, policyTypes: [Egress]}"
wait_rounds 3 || topo_fatal "no round after adding a policy"
check lab-watch/new-policy "y/c -> x/b: $(verdict 2 y/c x/b), $(mismatches 2) mismatches" \
	test "$(verdict 2 y/c x/b)/$(mismatches 2)" = "denied/denied/0"

# An invalid policy (endPort below port) is refused: no new round, the lab says why.
write_lab "pod: b, color: green" "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: y}
spec: {podSelector: {}, egress: [{ports: [{port: 90, endPort: 80}]}]}"
sleep 1.5
check lab-watch/invalid-refused "$(tail -3 "$dir/err" | tr '\n' ' ')" \
	grep -q 'NetworkPolicy y/bad: spec.egress\[0\].ports\[0\].endPort: 80 must be greater than or equal to port 90' "$dir/err"
check lab-watch/invalid-keeps-last "rounds: $(rounds)" test "$(rounds)" -eq 3

kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
pid=
check lab-watch/ctrl-c "exit status $rc" test "$rc" -ne 0
leftover=$(ip netns list | awk '$1 ~ /^sllab/ { print $1 }' | tr '\n' ' ')
check lab-watch/cleanup "left behind: $leftover" test -z "$leftover"
pins=$(find /sys/fs/bpf -maxdepth 1 -name 'sllab*' | tr '\n' ' ')
check lab-watch/cleanup-pins "left behind: $pins" test -z "$pins"
topo_finish
