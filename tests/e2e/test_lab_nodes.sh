#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The network-policy lab on two nodes (`sluice lab --nodes 2`): the lab files of tests/lab/ with
# their pods spread round-robin over lab-1 and lab-2 (one agent each, a fabric between them, peers
# learnt from Node objects), so that most pairs cross the tunnel; the matrix must equal the
# reference evaluator's, both nodes must hold pods and some probes must cross nodes. A pod's
# spec.nodeName places it on that node; one naming no lab node is refused by name before
# anything is made. The lab must leave no namespace and no pin directory. The files are split
# in two halves for the time limit: this script the first (example, default-deny, ipblock) and
# the nodeName checks, test_lab_nodes_upstream.sh (LAB_NODES_PART=2) the other three.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
	skip lab-nodes "needs root (network namespaces, bpffs)"
	exit 0
fi
topo_require "$SLUICE" "$SLUICE_CNI"
export SLUICE_CNI
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PARALLEL=2 # labs at once: most of a lab's time is waiting for its agents to start
PART=${LAB_NODES_PART:-1}
if ((PART == 1)); then
	files=("$SL_ROOT"/tests/lab/{example,upstream-default-deny,upstream-ipblock}.yaml)
else
	files=("$SL_ROOT"/tests/lab/{upstream-ports,upstream-selectors,upstream-stacked}.yaml)
fi
# Every file of tests/lab/ is in one half.
all=$(cd "$SL_ROOT/tests/lab" && ls -- *.yaml | wc -l)
((all == 6)) || fail lab-nodes/files "tests/lab/ holds $all files: give the new ones to a half"

# lab NAME FILE ARGS...: the lab's JSON report in $work/NAME.json, its stderr in .err, its exit
# status in .rc.
lab() {
	local name=$1 file=$2 rc=0
	shift 2
	timeout 150 "$SLUICE" lab -o json "$@" "$file" >"$work/$name.json" 2>"$work/$name.err" || rc=$?
	echo "$rc" >"$work/$name.rc"
}
show_failure() {
	jq -r '.probes[] | select(.observed != .expected)
		| "#   \(.from) -> \(.to) \(.protocol)/\(.port): observed \(.observed), expected \(.expected)"' \
		"$work/$1.json" 2>/dev/null | head -20 >&2 || true
	sed 's/^/#   /' "$work/$1.err" | tail -20 >&2
}

# spec.nodeName: the example's pods all on lab-2 of two.
sed 's/^  containers:$/  nodeName: lab-2\n  containers:/' "$SL_ROOT/tests/lab/example.yaml" >"$work/placed.yaml"
names=()
((PART != 1)) || files+=("$work/placed.yaml")
for file in "${files[@]}"; do
	name=$(basename "$file" .yaml)
	names+=("$name")
	while (($(jobs -rp | wc -l) >= PARALLEL)); do wait -n || true; done
	lab "$name" "$file" --nodes 2 &
done
wait

for name in "${names[@]}"; do
	[[ $name != placed ]] || continue
	json=$work/$name.json
	rc=$(cat "$work/$name.rc")
	mismatches=$(jq -r '.mismatches' "$json" 2>/dev/null || echo "?")
	probes=$(jq -r '.probes | length' "$json" 2>/dev/null || echo 0)
	denied=$(jq -r '[.probes[] | select(.expected == "denied")] | length' "$json" 2>/dev/null || echo 0)
	nodes=$(jq -r '[.pods[].node] | unique | join(" ")' "$json" 2>/dev/null || echo "")
	# Probes whose two pods are on different nodes.
	crossing=$(jq -r '(.pods | map({(.pod): .node}) | add) as $on
		| [.probes[] | select($on[.from] != $on[.to])] | length' "$json" 2>/dev/null || echo 0)
	if [[ $rc -ne 0 || $mismatches != 0 ]]; then
		show_failure "$name"
		fail "lab-nodes/$name" "exit $rc, $mismatches mismatches of $probes probes"
	elif [[ $nodes != "lab-1 lab-2" ]] || ((crossing == 0)); then
		fail "lab-nodes/$name" "pods on nodes '$nodes', $crossing probes between nodes"
	elif ((denied == 0)); then
		fail "lab-nodes/$name" "nothing denied: the file tests no policy"
	else
		pass "lab-nodes/$name ($probes probes, $crossing between nodes, $denied denied, 0 mismatches)"
	fi
done

if ((PART == 1)); then
	nodes=$(jq -r '[.pods[].node] | unique | join(" ")' "$work/placed.json" 2>/dev/null || echo "")
	check lab-nodes/node_name_places "exit $(cat "$work/placed.rc"), pods on '$nodes'" \
		test "$(cat "$work/placed.rc") $nodes $(jq -r .mismatches "$work/placed.json" 2>/dev/null)" = "0 lab-2 0"

	# A nodeName that is no lab node: refused with one line naming the pod, nothing made.
	sed -i 's/nodeName: lab-2/nodeName: lab-3/' "$work/placed.yaml"
	before=$(ip netns list | grep -c '^sllab' || true)
	lab unknown "$work/placed.yaml" --nodes 2
	check lab-nodes/node_name_unknown_refused "$(head -c 300 "$work/unknown.err")" \
		grep -q 'pod shop/web: spec.nodeName "lab-3" is not a lab node (lab-1 to lab-2)' "$work/unknown.err"
	check lab-nodes/node_name_unknown_exit "exit $(cat "$work/unknown.rc")" test "$(cat "$work/unknown.rc")" -ne 0
	check lab-nodes/node_name_unknown_makes_nothing "namespaces $before -> $(ip netns list | grep -c '^sllab' || true)" \
		test "$(ip netns list | grep -c '^sllab' || true)" = "$before"

	# --nodes out of range: refused.
	lab many "$work/placed.yaml" --nodes 9
	check lab-nodes/too_many_nodes_refused "exit $(cat "$work/many.rc"): $(head -c 200 "$work/many.err")" \
		grep -q -- '--nodes' "$work/many.err"
fi

leftover=$(ip netns list | awk '$1 ~ /^sllab/ { print $1 }' | tr '\n' ' ')
check lab-nodes/cleanup_netns "left behind: $leftover" test -z "$leftover"
leftover=$(find /sys/fs/bpf -maxdepth 1 -name 'sllab*' 2>/dev/null | tr '\n' ' ')
check lab-nodes/cleanup_pins "left behind: $leftover" test -z "$leftover"
topo_finish
