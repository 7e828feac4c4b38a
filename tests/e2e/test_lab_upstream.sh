#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The network-policy lab on every lab file of tests/lab/ (the upstream Kubernetes netpol suite's
# cases, x/y/z x a/b/c on 80/81 TCP and UDP, and the bundled example): the datapath's matrix,
# probed with real connections, must equal the reference evaluator's, every file must deny
# something (a lab that allows everything proves nothing), `sluice explain` (asked about every
# probe from the source's node) must agree with every observed cell and give each denied one a
# reason, and the lab must leave no namespace.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
	skip lab-upstream "needs root (network namespaces, bpffs)"
	exit 0
fi
topo_require "$SLUICE" "$SLUICE_CNI"
export SLUICE_CNI
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for file in "$SL_ROOT"/tests/lab/*.yaml; do
	name=lab/$(basename "$file" .yaml)
	rc=0
	timeout 90 "$SLUICE" lab -o json "$file" >"$out" 2>"$out.err" || rc=$?
	mismatches=$(jq -r '.mismatches' "$out" 2>/dev/null || echo "?")
	denied=$(jq -r '[.probes[] | select(.expected == "denied")] | length' "$out" 2>/dev/null || echo 0)
	probes=$(jq -r '.probes | length' "$out" 2>/dev/null || echo 0)
	disagree=$(jq -r '.explain_disagreements' "$out" 2>/dev/null || echo "?")
	unexplained=$(jq -r '[.probes[] | select(.observed == "denied" and (.reason // "") == "")] | length' "$out" 2>/dev/null || echo "?")
	if [[ $disagree != 0 || $unexplained != 0 ]]; then
		jq -r '.probes[] | select(.explained != .observed)
			| "#   \(.from) -> \(.to) \(.protocol)/\(.port): observed \(.observed), explain says \(.explained)"' \
			"$out" 2>/dev/null | head -20 >&2 || true
		fail "$name/explain" "sluice explain disagrees on $disagree of $probes probes, $unexplained denied cells without a reason"
	else
		pass "$name/explain (agrees on all $probes probes, every denial with a reason)"
	fi
	if [[ $rc -ne 0 || $mismatches != 0 ]]; then
		jq -r '.probes[] | select(.observed != .expected)
			| "#   \(.from) -> \(.to) \(.protocol)/\(.port): observed \(.observed), expected \(.expected)"' \
			"$out" 2>/dev/null | head -20 >&2 || true
		sed 's/^/#   /' "$out.err" | tail -20 >&2
		fail "$name" "exit $rc, $mismatches mismatches of $probes probes"
	elif ((denied == 0)); then
		fail "$name" "nothing denied: the file tests no policy"
	else
		pass "$name ($probes probes, $denied denied, 0 mismatches)"
	fi
	rm -f "$out.err"
done

leftover=$(ip netns list | awk '$1 ~ /^sllab/ { print $1 }' | tr '\n' ' ')
check lab/cleanup "left behind: $leftover" test -z "$leftover"
topo_finish
