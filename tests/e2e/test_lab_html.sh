#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `sluice lab FILE -o html OUT`: the bundled example's page is well-formed, loads nothing from
# outside (no script, no src/href), has one cell per probe with the verdicts `-o json` reports,
# and gives every denied cell the reason `--explain` prints (a policy's default deny); on two
# nodes it places the pods on both. Strings from the user's file are escaped (label values full
# of markup show as text, in the pods table and in explain's reasons); a pod named <script> is
# refused with no page written. `-o html` without a FILE, or with no lab file, is a usage error;
# an unwritable FILE is refused by name before any probe; the page replaces an old one whole.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
	skip lab-html "needs root (network namespaces, bpffs)"
	exit 0
fi
topo_require "$SLUICE" "$SLUICE_CNI"
export SLUICE_CNI
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
example=$SL_ROOT/tests/lab/example.yaml
page_check() { python3 "$SL_ROOT/tests/tools/lab_html_check.py" "$@"; }
# refused RC ERRFILE PATTERN: the command failed and said PATTERN.
refused() { [[ $1 -ne 0 ]] && grep -q -- "$3" "$2"; }
not() { ! "$@"; }
# no_temporary DIR: nothing named *.tmp (the page's temporary file) is left in DIR.
no_temporary() { ! compgen -G "$1/.*.tmp" >/dev/null && ! compgen -G "$1/*.tmp" >/dev/null; }

# ---- usage -----------------------------------------------------------------------------------
rc=0
"$SLUICE" lab "$example" -o html >/dev/null 2>"$dir/err" || rc=$?
check lab-html/usage-no-file "exit $rc, said: $(head -1 "$dir/err")" \
	refused "$rc" "$dir/err" "-o html needs the FILE to write"
cp "$example" "$dir/lab.yaml"
rc=0
"$SLUICE" lab -o html "$dir/lab.yaml" >/dev/null 2>"$dir/err" || rc=$?
check lab-html/usage-no-lab-file "exit $rc, said: $(head -1 "$dir/err")" \
	refused "$rc" "$dir/err" "expected the lab FILE"
check lab-html/usage-lab-file-kept "the lab file was changed" cmp -s "$example" "$dir/lab.yaml"
rc=0
"$SLUICE" status -o html "$dir/status.html" >/dev/null 2>"$dir/err" || rc=$?
check lab-html/usage-not-lab "exit $rc, said: $(head -1 "$dir/err")" \
	refused "$rc" "$dir/err" "only sluice lab writes HTML"
check lab-html/usage-not-lab-no-page "a page was written" test ! -e "$dir/status.html"
rc=0
timeout 30 "$SLUICE" lab "$example" -o html "$dir/missing/page.html" >/dev/null 2>"$dir/err" || rc=$?
check lab-html/unwritable "exit $rc, said: $(head -2 "$dir/err" | tr '\n' ' ')" \
	refused "$rc" "$dir/err" "$dir/missing/page.html: cannot write it"
check lab-html/unwritable-before-probing "it probed first" not grep -q probing "$dir/err"

# ---- the bundled example -----------------------------------------------------------------------
echo "stale" >"$dir/example.html"
rc=0
timeout 90 "$SLUICE" lab "$example" --explain -o html "$dir/example.html" >"$dir/example.txt" \
	2>"$dir/err" || rc=$?
if [[ $rc -ne 0 ]]; then
	sed 's/^/#   /' "$dir/err" | tail -20 >&2
	fail lab-html/example "exit $rc"
fi
rc=0
timeout 90 "$SLUICE" lab -o json "$example" >"$dir/example.json" 2>>"$dir/err" || rc=$?
check lab-html/json-run "exit $rc" test "$rc" -eq 0
check lab-html/example-wellformed "not well-formed" page_check wellformed "$dir/example.html"
check lab-html/example-selfcontained "loads or runs something" \
	page_check selfcontained "$dir/example.html"
probes=$(jq -r '.probes | length' "$dir/example.json" 2>/dev/null || echo 0)
check lab-html/example-cells "cells differ from the $probes probes of -o json" \
	page_check cells "$dir/example.html" "$dir/example.json"
check lab-html/example-reasons "denied cells' reasons differ from --explain's" \
	page_check reasons "$dir/example.html" "$dir/example.txt"
check lab-html/example-no-temporary "a temporary file is left" no_temporary "$dir"
check lab-html/example-replaced "the old page is still there" not grep -q "^stale" "$dir/example.html"
# The JSON keeps its shape: a reason only where explain said denied.
leaked=$(jq '[.probes[] | select(.explained == "allowed" and has("reason"))] | length' \
	"$dir/example.json" 2>/dev/null || echo "?")
check lab-html/json-unchanged "$leaked allowed probes carry a reason" test "$leaked" = 0

rc=0
timeout 120 "$SLUICE" lab --nodes 2 "$example" -o html "$dir/nodes.html" >/dev/null \
	2>"$dir/err" || rc=$?
if [[ $rc -ne 0 ]]; then
	sed 's/^/#   /' "$dir/err" | tail -20 >&2
	fail lab-html/nodes-run "exit $rc"
fi
check lab-html/nodes "pods not on lab-1 and lab-2" \
	page_check nodes "$dir/nodes.html" lab-1 lab-2
cells=$(grep -o 'data-observed=' "$dir/nodes.html" 2>/dev/null | wc -l)
check lab-html/nodes-cells "$cells cells, $probes probes" test "$cells" -eq "$probes"

# ---- markup in the user's strings ----------------------------------------------------------------
script='<script>alert(1)</script>'
img='"><img src=x onerror=alert(1)>&amp;'
cat >"$dir/escape.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {containers: [{name: c, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: evil
  namespace: default
  labels: {app: '$script', note: '$img'}
spec: {containers: [{name: c, ports: [{containerPort: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]
EOF
rc=0
timeout 90 "$SLUICE" lab "$dir/escape.yaml" -o html "$dir/escape.html" >/dev/null 2>"$dir/err" ||
	rc=$?
if [[ $rc -ne 0 ]]; then
	sed 's/^/#   /' "$dir/err" | tail -20 >&2
	fail lab-html/escape-run "exit $rc"
fi
check lab-html/escape-wellformed "not well-formed" page_check wellformed "$dir/escape.html"
check lab-html/escape-no-markup "the labels made markup" page_check selfcontained "$dir/escape.html"
check lab-html/escape-label-text "the label is not shown as text" \
	page_check text "$dir/escape.html" "app=$script"
check lab-html/escape-label-text2 "the label is not shown as text" \
	page_check text "$dir/escape.html" "note=$img"
check lab-html/escape-reason "the denial's reason lost the label" \
	page_check reason "$dir/escape.html" "$script"

sed 's/name: evil/name: "<script>"/' "$dir/escape.yaml" >"$dir/bad.yaml"
rc=0
timeout 30 "$SLUICE" lab "$dir/bad.yaml" -o html "$dir/bad.html" >/dev/null 2>"$dir/err" || rc=$?
check lab-html/pod-named-script "exit $rc, said: $(head -1 "$dir/err")" \
	refused "$rc" "$dir/err" 'Pod default/<script>: metadata.name'
check lab-html/pod-named-script-no-page "a page was written" test ! -e "$dir/bad.html"

# Other labs may be running beside this one: a namespace is left behind when its lab has ended
# (the lab removes its /tmp/PREFIX* directory last) and it is still there after that.
leftover=
for ns in $(ip netns list | awk '$1 ~ /^sllab/ { print $1 }'); do
	compgen -G "/tmp/${ns%%-*}-*" >/dev/null && continue
	ip netns list | awk '{ print $1 }' | grep -qx "$ns" && leftover+="$ns "
done
check lab-html/cleanup "left behind: $leftover" test -z "$leftover"
topo_finish
