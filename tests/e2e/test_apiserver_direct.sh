#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Reaching the API server without kube-proxy: on a node where sluice replaces kube-proxy the
# `kubernetes` ClusterIP that --in-cluster dials (KUBERNETES_SERVICE_HOST) leads nowhere until the
# agent runs, so the DaemonSet names the API server itself with --k8s-api-server URL (or
# SLUICE_K8S_API_SERVER), as Cilium's k8sServiceHost: the service account's credentials, at that
# address; with --kubeconfig it replaces the kubeconfig's server and keeps its credentials.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init apiserver_direct
topo_require "$SLUICE"
topo_node n1 10.244.1.0/24
topo_apiserver n1 "$SL_ROOT/tests/e2e/fixtures/apiserver"
BPFFS=$(topo_node_bpffs n1)
log=${TOPO_AGENT_LOG[n1]}
sa=$TOPO_DIR/serviceaccount
mkdir -p "$sa"
printf '%s' "$TOPO_API_TOKEN" >"$sa/token"
cp "$TOPO_DIR/api.crt" "$sa/ca.crt"
# A pod's environment on a node without kube-proxy: the ClusterIP is set but unreachable.
export SLUICE_SERVICEACCOUNT_DIR=$sa KUBERNETES_SERVICE_HOST=10.96.0.1 KUBERNETES_SERVICE_PORT=443

# listed_at URL: the agent's latest run watched URL and listed Services there.
listed_at() {
	local from
	from=$(grep -n -- '--- agent start' "$log" | tail -n1 | cut -d: -f1)
	tail -n "+$from" "$log" | grep -q "api: watching [0-9]* resources at $1" &&
		wait_until bash -c "tail -n +$from '$log' | grep -q 'api: services: listed'"
}

# 1. --in-cluster --k8s-api-server: the service account at the API server's own address.
topo_agent n1 "$TOPO_DIR/manifests" --in-cluster --k8s-api-server https://127.0.0.1:6443
check apiserver_direct/in_cluster_at_url "agent log: $(grep 'api:' "$log" | tail -n3 | tr '\n' '|')" \
	listed_at https://127.0.0.1:6443
topo_agent_stop n1

# 2. The environment variable alone (what the DaemonSet sets): in-cluster credentials implied.
SLUICE_K8S_API_SERVER=127.0.0.1:6443 topo_agent n1 "$TOPO_DIR/manifests"
check apiserver_direct/env_alone "agent log: $(grep 'api:' "$log" | tail -n3 | tr '\n' '|')" \
	listed_at https://127.0.0.1:6443
topo_agent_stop n1

# 3. A kubeconfig naming the ClusterIP: --k8s-api-server replaces its server, its token kept.
sed "s|server: .*|server: https://10.96.0.1:443|" "$TOPO_KUBECONFIG" >"$TOPO_DIR/via-clusterip"
topo_agent n1 "$TOPO_DIR/manifests" --kubeconfig "$TOPO_DIR/via-clusterip" \
	--k8s-api-server https://127.0.0.1:6443
check apiserver_direct/kubeconfig_server_replaced "agent log: $(grep 'api:' "$log" | tail -n3 | tr '\n' '|')" \
	listed_at https://127.0.0.1:6443
topo_agent_stop n1

# 4. Refusals, one line each, before anything is loaded.
run_agent() {
	out=$(topo_in_node n1 timeout 20 "$SLUICE" agent --node n1 --bpffs "$BPFFS" \
		--manifests "$TOPO_DIR/manifests" "$@" 2>&1) && rc=0 || rc=$?
}
run_agent --in-cluster --k8s-api-server https://127.0.0.1:6443/api
check apiserver_direct/path_refused "rc $rc: $out" \
	grep -q -- '--k8s-api-server https://127.0.0.1:6443/api: expected no path' <<<"$out"
run_agent --in-cluster --k8s-api-server http://127.0.0.1:6443
check apiserver_direct/http_with_token_refused "rc $rc: $out" \
	test "$rc" != 0 -a -n "$(grep -- 'credentials go only over https://' <<<"$out")"
out=$(topo_in_node n1 env -u KUBERNETES_SERVICE_HOST -u KUBERNETES_SERVICE_PORT timeout 20 \
	"$SLUICE" agent --node n1 --bpffs "$BPFFS" --manifests "$TOPO_DIR/manifests" --in-cluster 2>&1) &&
	rc=0 || rc=$?
check apiserver_direct/in_cluster_without_host_says_how "rc $rc: $out" \
	grep -q 'KUBERNETES_SERVICE_PORT must be set (is this a pod?), or --k8s-api-server' <<<"$out"

topo_finish
