#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# EndpointSlice conditions, watch-driven through the fake API server, as kube-proxy reads them:
# ready endpoints serve and serving+terminating ones do not while any is ready; when none is
# ready, the serving+terminating ones do (the fallback that lets a rolling update drain);
# terminating endpoints that are not serving never do, and with nothing left the client is
# refused at once; a pod that turns ready again takes the traffic back.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init svc_endpoint_conditions
topo_require_all
topo_node n1 10.244.1.0/24
topo_apiserver n1 "$SL_ROOT/tests/e2e/fixtures/services"
topo_agent n1 "$TOPO_DIR/manifests" --kubeconfig "$TOPO_KUBECONFIG"
topo_pod n1 client
for pod in web-1 web-2 web-3; do
	topo_pod n1 "$pod"
	topo_echo "$pod" --tcp 8080
done
VIP=10.96.4.10

# apply ENDPOINT-YAML: the Service (port 80 -> 8080) and its slice with these endpoints.
apply() {
	api_service_yaml cond "$VIP" "" "$1" | api_apply
}
# probe COUNT: the tally of COUNT connections, failures by errno ("ERR-ECONNREFUSED=3 ").
probe() {
	local out
	out=$(topo_probe client --tcp "$VIP:80" -n "$1" --timeout-ms 2000 || true)
	show_output "$out"
	tally "$(awk '{ print ($1 == "ERR" ? $1 "-" $2 : $1) }' <<<"$out")"
}
converge() {
	wait_service_backends n1 "$VIP" 80 "$1" ||
		info "service $VIP:80: $(service_backends n1 "$VIP" 80) backends, wanted $1"
}
READY=(ready=true)
DRAINING=(ready=false serving=true terminating=true)
NOT_READY=(ready=false serving=false)
GONE=(ready=false serving=false terminating=true)

# ---- ready serve; serving+terminating and not-ready endpoints do not ------------------------
apply "$(slice_endpoint web-1 "${READY[@]}")
$(slice_endpoint web-2 "${DRAINING[@]}")
$(slice_endpoint web-3 "${GONE[@]}")"
converge 1
got=$(probe 20)
check svc_endpoint_conditions/ready_only "tally $got" test "$got" = "web-1=20 "

# ---- none ready: the serving+terminating ones take over ---------------------------------------
apply "$(slice_endpoint web-1 "${NOT_READY[@]}")
$(slice_endpoint web-2 "${DRAINING[@]}")
$(slice_endpoint web-3 "${GONE[@]}")"
# The backend count stays 1 (web-1 -> web-2): wait until the connections move, bounded.
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until [[ $(probe 1) == "web-2=1 " ]] || ((SECONDS >= deadline)); do sleep 0.2; done
got=$(probe 20)
check svc_endpoint_conditions/serving_terminating_fallback "tally $got" test "$got" = "web-2=20 "

# ---- not serving: never, not even as the fallback; the client is refused -------------------
apply "$(slice_endpoint web-1 "${NOT_READY[@]}")
$(slice_endpoint web-2 "${GONE[@]}")
$(slice_endpoint web-3 "${GONE[@]}")"
converge 0
got=$(probe 3)
check svc_endpoint_conditions/not_serving_never "tally $got, wanted 3 refusals" \
	test "$got" = "ERR-ECONNREFUSED=3 "

# ---- ready again: back to serving ------------------------------------------------------------
apply "$(slice_endpoint web-1 "${NOT_READY[@]}")
$(slice_endpoint web-2 "${GONE[@]}")
$(slice_endpoint web-3 "${READY[@]}")"
converge 1
got=$(probe 10)
check svc_endpoint_conditions/ready_again "tally $got" test "$got" = "web-3=10 "

topo_finish
