#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped manifests are valid Kubernetes objects, checked offline: every document of
# cni/sluice-daemonset.yaml and of the demo's manifests against the validators kubernetes-models
# (npm) generated from Kubernetes' OpenAPI schemas (tests/manifests/validate.mjs, run by Debian's
# nodejs). `kubectl apply --dry-run=client` needs an API server for discovery and the schema
# itself, which nothing here has. The validator is live (a broken copy fails), and the
# ClusterRole grants exactly what the agent's API client asks for: list and watch of the kinds
# in loader/sources/k8s_client.c, nothing else.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

SL_SUITE=manifests
DAEMONSET="$SL_ROOT/cni/sluice-daemonset.yaml"
CHECKER="$SL_ROOT/tests/manifests"
command -v node >/dev/null || { fail manifests/setup "node is not installed (make deps)"; topo_finish; }
[[ -d $CHECKER/node_modules/kubernetes-models ]] ||
	{ fail manifests/setup "$CHECKER/node_modules is not installed (make deps)"; topo_finish; }
tmp=$(mktemp -d /tmp/sl-manifests.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

validate() { (cd "$CHECKER" && timeout 60 node validate.mjs "$@"); }

out=$(validate "$DAEMONSET" "$SL_ROOT"/tests/demo/manifests/*.yaml "$SL_ROOT"/tests/demo/policy/*.yaml 2>&1) &&
	rc=0 || rc=$?
echo "$out" | sed 's/^/# /' >&2
check manifests/all_valid "rc $rc: $(grep -v '^ok ' <<<"$out" | tr '\n' '|' | cut -c1-600)" test "$rc" = 0
kinds=$(awk -v f="$DAEMONSET" '$1 == "ok" && $2 == f { print $3 }' <<<"$out" | sort | tr '\n' ' ')
check manifests/daemonset_documents "kinds: $kinds" \
	test "$kinds" = "ClusterRole ClusterRoleBinding ConfigMap DaemonSet ServiceAccount "

# The validator catches what kubectl would: wrong types and a kind that does not exist.
sed -e 's/periodSeconds: 10/periodSeconds: ten/' -e 's/verbs: \[list, watch\]/verbs: list/' \
	-e 's/^kind: ConfigMap/kind: ConfigMapp/' "$DAEMONSET" >"$tmp/broken.yaml"
out=$(validate "$tmp/broken.yaml" 2>&1) && rc=0 || rc=$?
check manifests/broken_copy_refused "rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-400)" \
	eval '[[ $rc == 1 && $out == *"periodSeconds must be integer"* && $out == *"verbs must be array"* && $out == *"ConfigMapp is not a Kubernetes kind"* ]]'

# RBAC: (group, resource) pairs and verbs of the ClusterRole against the client's table.
rules=$(python3 - "$DAEMONSET" <<'PY'
import sys, yaml
role = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "ClusterRole"][0]
for rule in role["rules"]:
    for group in rule["apiGroups"]:
        for resource in rule["resources"]:
            print("%s/%s %s" % (group, resource, ",".join(sorted(rule["verbs"]))))
PY
)
# {"services", "/api/v1/services", ...}: core; "/apis/GROUP/VERSION/RESOURCE": GROUP.
used=$(sed -nE 's|^\s*\{"([a-z]+)", "/api/v1/[a-z]+".*|/\1|p; s|^\s*\{"([a-z]+)", "/apis/([a-z0-9.]+)/v[0-9a-z]+/[a-z]+".*|\2/\1|p' \
	"$SL_ROOT/loader/sources/k8s_client.c" | sort)
granted=$(awk '{ print $1 }' <<<"$rules" | sort)
check manifests/rbac_resources_exactly_used "granted: $(tr '\n' ' ' <<<"$granted"); used: $(tr '\n' ' ' <<<"$used")" \
	test -n "$used" -a "$granted" = "$used"
verbs=$(awk '{ print $2 }' <<<"$rules" | sort -u | tr '\n' ' ')
check manifests/rbac_verbs_list_watch "verbs: $verbs" test "$verbs" = "list,watch "

topo_finish
