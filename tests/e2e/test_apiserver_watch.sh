#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The API server as the source of truth: the agent runs with --kubeconfig against the project's
# fake API server (HTTPS with a certificate made here, a bearer token), in the node namespace.
# A Service and EndpointSlice arrive as watch events and traffic flows; scaling the slice moves
# new connections; a forced 410 Gone makes the agent re-list and converge; a dropped stream is
# resumed; garbage in a stream and a truncated list leave the agent running; a Service port
# change moves the frontend; a deleted Service goes. The real kubectl reads the same server.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init apiserver_watch
topo_require_all
topo_node n1 10.244.1.0/24
topo_apiserver n1 "$SL_ROOT/tests/e2e/fixtures/apiserver"
agent_log() { cat "${TOPO_AGENT_LOG[n1]}"; }

# The real client against the fake server: the wire protocol is the real one.
out=$(topo_in_node n1 timeout 20 kubectl --kubeconfig "$TOPO_KUBECONFIG" get nodes -o name 2>&1 || true)
check apiserver_watch/kubectl_get_nodes "kubectl get nodes: $out" grep -qx node/n1 <<<"$out"

# An empty manifest directory too: both sources feed one desired state.
topo_agent n1 "$TOPO_DIR/manifests" --kubeconfig "$TOPO_KUBECONFIG"
topo_pod n1 client
topo_pod n1 web-1
topo_pod n1 web-2
topo_pod n1 web-3
for pod in web-1 web-2 web-3; do topo_echo "$pod"; done
check apiserver_watch/initial_list "agent log: $(agent_log | grep 'api:' | head -3 | tr '\n' '|')" \
	grep -q 'api: services: listed' "${TOPO_AGENT_LOG[n1]}"

# apply_web POD...: the Service and its slice with these pods, as watch events.
apply_web() {
	{
		manifest_service web "$SL_VIP" 80:8080/TCP
		echo ---
		manifest_slice web 80:8080/TCP "$@"
	} | API_APPLY_QUERY=${APPLY_QUERY:-} api_apply
}

probe_tally() {
	local out
	out=$(topo_probe client --tcp "$SL_VIP:80" -n "$1" --timeout-ms 2000 || true)
	show_output "$out"
	tally "$out"
}

# ---- a Service from watch events ------------------------------------------------------------
t0=$(date +%s%N)
apply_web web-1
if wait_service_backends n1 "$SL_VIP" 80 1; then
	pass apiserver_watch/service_from_watch
	info "service programmed $((($(date +%s%N) - t0) / 1000000)) ms after the API change"
else
	fail apiserver_watch/service_from_watch "$SL_VIP:80 not programmed: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
fi
got=$(probe_tally 10)
check apiserver_watch/traffic "tally $got" test "$got" = "web-1=10 "

out=$(topo_in_node n1 timeout 20 kubectl --kubeconfig "$TOPO_KUBECONFIG" get services 2>&1 || true)
check apiserver_watch/kubectl_get_services "kubectl get services: $out" grep -q '^web ' <<<"$out"

# ---- scale: new connections follow -----------------------------------------------------------
apply_web web-1 web-2
wait_service_backends n1 "$SL_VIP" 80 2 || true
got=$(probe_tally 20)
check apiserver_watch/scaled_up "tally $got" bash -c "[[ '$got' == *web-1=* && '$got' == *web-2=* ]]"

# ---- 410 Gone: a change made while the history is forgotten is only seen by a re-list --------
lists_before=$(api_stats | jq '.list.endpointslices')
APPLY_QUERY=silent=1 apply_web web-3
echo | api_control expire
if wait_service_backends n1 "$SL_VIP" 80 1; then
	got=$(probe_tally 10)
	check apiserver_watch/relist_after_410 "tally $got" test "$got" = "web-3=10 "
else
	fail apiserver_watch/relist_after_410 "backends not converged: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
fi
lists_after=$(api_stats | jq '.list.endpointslices')
check apiserver_watch/relisted "endpointslices lists $lists_before -> $lists_after" test "$lists_after" -gt "$lists_before"
check apiserver_watch/410_logged "no 410 in the agent log" grep -q '410 Gone' "${TOPO_AGENT_LOG[n1]}"

# ---- a dropped stream is resumed -------------------------------------------------------------
watches_before=$(api_stats | jq '.watch.endpointslices')
echo | api_control drop
sleep 0.5
apply_web web-1 web-3
wait_service_backends n1 "$SL_VIP" 80 2 || true
got=$(probe_tally 20)
check apiserver_watch/after_stream_drop "tally $got" bash -c "[[ '$got' == *web-1=* && '$got' == *web-3=* && '$got' != *web-2* ]]"
watches_after=$(api_stats | jq '.watch.endpointslices')
check apiserver_watch/rewatched "endpointslices watches $watches_before -> $watches_after" test "$watches_after" -gt "$watches_before"

# ---- garbage: a bad event and truncated lists; the agent survives and converges --------------
echo | api_control garbage lists=3
echo | api_control garbage
sleep 1
apply_web web-2
if wait_service_backends n1 "$SL_VIP" 80 1; then
	got=$(probe_tally 10)
	check apiserver_watch/after_garbage "tally $got" test "$got" = "web-2=10 "
else
	fail apiserver_watch/after_garbage "backends not converged: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
fi
check apiserver_watch/agent_alive "agent exited: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")" \
	kill -0 "${TOPO_AGENT_PID[n1]}"
check apiserver_watch/garbage_logged "no watch event error logged" grep -q 'watch event' "${TOPO_AGENT_LOG[n1]}"

# ---- a port change: the old port goes, the new one serves, without a restart ----------------
{
	manifest_service web "$SL_VIP" 81:8080/TCP
	echo ---
	manifest_slice web 81:8080/TCP web-2
} | api_apply
wait_service_backends n1 "$SL_VIP" 81 1 || true
got=$(topo_probe client --tcp "$SL_VIP:81" -n 5 --timeout-ms 2000 || true)
check apiserver_watch/port_changed "tally on :81 $(tally "$got")" test "$(tally "$got")" = "web-2=5 "
check apiserver_watch/old_port_gone "port 80 still listed" test "$(service_backends n1 "$SL_VIP" 80)" = -1

# ---- a deleted Service goes away -------------------------------------------------------------
api_delete Service default web
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
while [[ $(service_backends n1 "$SL_VIP" 81) != -1 ]] && ((SECONDS < deadline)); do sleep 0.2; done
check apiserver_watch/service_deleted "still listed" test "$(service_backends n1 "$SL_VIP" 81)" = -1

topo_finish
