#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sessionAffinity: ClientIP, watch-driven through the fake API server. Every connection from one
# client lands on one backend (a Service without affinity over the same pods spreads, so the
# pinning is not luck), and the affinity entry in lb4_affinity names that backend; use refreshes
# it (connections spaced over twice the timeout stay); timeoutSeconds (2 s) is programmed and an
# idle client's entry ages past it, after which the next connection is decided afresh and
# re-pinned, while a Service with the default timeout (10800 s) keeps the client over the same
# idle time; a pinned backend removed from the slice loses its clients.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init svc_affinity
topo_require_all
command -v bpftool >/dev/null || topo_fatal "bpftool is needed (make deps)"
topo_node n1 10.244.1.0/24
topo_apiserver n1 "$SL_ROOT/tests/e2e/fixtures/services"
topo_agent n1 "$TOPO_DIR/manifests" --kubeconfig "$TOPO_KUBECONFIG"
topo_pod n1 client
for pod in web-1 web-2 web-3; do
	topo_pod n1 "$pod"
	topo_echo "$pod" --tcp 8080
done
PINS=$(topo_node_bpffs n1)
CLIENT_IP=$(topo_pod_ip client)
STICKY=10.96.2.10  # ClientIP, timeoutSeconds 2
PLAIN=10.96.2.20   # no affinity
DEFAULT=10.96.2.30 # ClientIP, default timeout

# service NAME VIP AFFINITY-YAML POD...: a Service on port 80 -> 8080 and its slice.
service() {
	local name=$1 vip=$2 affinity=$3 pod endpoints=
	shift 3
	for pod in "$@"; do endpoints+=$(slice_endpoint "$pod")$'\n'; done
	api_service_yaml "$name" "$vip" "$affinity" "${endpoints%$'\n'}"
}
STICKY_SPEC='  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 2}}'
DEFAULT_SPEC='  sessionAffinity: ClientIP'
{
	service sticky "$STICKY" "$STICKY_SPEC" web-1 web-2 web-3
	service plain "$PLAIN" "" web-1 web-2 web-3
	service default "$DEFAULT" "$DEFAULT_SPEC" web-1 web-2 web-3
} | api_apply
for vip in "$STICKY" "$PLAIN" "$DEFAULT"; do
	wait_service_backends n1 "$vip" 80 3 ||
		topo_fatal "service $vip:80 not programmed with 3 backends: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
done

# probe VIP COUNT [INTERVAL-MS]: the tally of COUNT connections ("web-2=20 ").
probe() {
	local out
	out=$(topo_probe client --tcp "$1:80" -n "$2" --interval-ms "${3:-0}" --timeout-ms 2000 || true)
	show_output "$out"
	tally "$out"
}
# The only backend in a tally of one backend, else empty.
only() { [[ $1 =~ ^(web-[0-9])=[0-9]+\ $ ]] && echo "${BASH_REMATCH[1]}"; }

svc_id() {
	topo_cli n1 service list -o json | jq -r --arg vip "$1" '.services[] | select(.vip == $vip) | .id'
}
# backend_id VIP POD: the id the service list gives the pod's backend.
backend_id() {
	topo_cli n1 service list -o json | jq -r --arg vip "$1" --arg ip "$(topo_pod_ip "$2")" \
		'.services[] | select(.vip == $vip) | .backends[] | select(.address == $ip) | .id'
}
# The client address as the map holds it: network order read as a host (little-endian) u32.
CLIENT_KEY=$(awk -F. '{ print $1 + $2 * 256 + $3 * 65536 + $4 * 16777216 }' <<<"$CLIENT_IP")
# affinity_entry SVC_ID: "backend_id last_used_ns" of the client's entry, empty when none.
affinity_entry() {
	bpftool -j map dump pinned "$PINS/lb4_affinity" |
		jq -r --argjson svc "$1" --argjson client "$CLIENT_KEY" \
			'.[].formatted | select(.key.svc_id == $svc and .key.client == $client)
			 | "\(.value.backend_id) \(.value.last_used_ns)"'
}
clock_now() { bpftool -j map dump pinned "$PINS/clock" | jq -r '.[0].formatted.value.now_ns'; }
timeout_of() {
	bpftool -j map dump pinned "$PINS/lb4_svc" |
		jq -r --argjson svc "$1" '.[].formatted.value | select(.svc_id == $svc) | .affinity_timeout_s'
}

# ---- pinned: every connection to one backend, recorded in the affinity map ------------------
got=$(probe "$STICKY" 20)
pinned=$(only "$got")
check svc_affinity/pinned "tally $got" test -n "$pinned"
got=$(probe "$PLAIN" 20)
check svc_affinity/without_affinity_spreads "tally $got (all on one backend)" test -z "$(only "$got")"
sticky_id=$(svc_id "$STICKY")
entry=$(affinity_entry "$sticky_id")
want=$(backend_id "$STICKY" "${pinned:-web-1}")
check svc_affinity/entry "entry '$entry', wanted backend $want (${pinned:-?})" test "${entry%% *}" = "$want"
check svc_affinity/timeout_programmed "affinity_timeout_s $(timeout_of "$sticky_id"), wanted 2" \
	test "$(timeout_of "$sticky_id")" = 2
default_id=$(svc_id "$DEFAULT")
check svc_affinity/default_timeout "affinity_timeout_s $(timeout_of "$default_id"), wanted 10800" \
	test "$(timeout_of "$default_id")" = 10800

# ---- use refreshes: 10 connections 500 ms apart span 4.5 s, over twice the timeout ---------
got=$(probe "$STICKY" 10 500)
check svc_affinity/refreshed_by_use "tally $got, pinned to $pinned" test "$got" = "$pinned=10 "

# ---- idle past the timeout: the entry expires; the default-timeout Service keeps the client --
got=$(probe "$DEFAULT" 10)
default_pinned=$(only "$got")
check svc_affinity/default_pinned "tally $got" test -n "$default_pinned"
sleep 3
entry=$(affinity_entry "$sticky_id")
age_ms=$((($(clock_now) - ${entry##* }) / 1000000))
check svc_affinity/entry_expired "entry '$entry' idle ${age_ms} ms, wanted over the 2000 ms timeout" \
	test "$age_ms" -gt 2000
got=$(probe "$DEFAULT" 10)
check svc_affinity/default_timeout_kept "tally $got after 3 s idle, pinned to $default_pinned" \
	test "$got" = "$default_pinned=10 "
# The next connection is decided afresh (it may land anywhere) and pins the client again.
got=$(probe "$STICKY" 1)
repinned=$(only "$got")
entry=$(affinity_entry "$sticky_id")
age_ms=$((($(clock_now) - ${entry##* }) / 1000000))
info "after expiry: ${pinned:-?} -> ${repinned:-?}"
check svc_affinity/entry_renewed "entry '$entry' (${age_ms} ms old) after a connection to $got" \
	test "${entry%% *}" = "$(backend_id "$STICKY" "${repinned:-web-1}")" -a "$age_ms" -lt 1500
got=$(probe "$STICKY" 10)
check svc_affinity/repinned "tally $got, pinned to $repinned" test "$got" = "$repinned=10 "

# ---- the pinned backend leaves the slice: its clients move -----------------------------------
rest=()
for pod in web-1 web-2 web-3; do [[ $pod == "$repinned" ]] || rest+=("$pod"); done
service sticky "$STICKY" "$STICKY_SPEC" "${rest[@]}" | api_apply
wait_service_backends n1 "$STICKY" 80 2 || true
got=$(probe "$STICKY" 10)
moved=$(only "$got")
check svc_affinity/backend_removed "tally $got, removed $repinned" \
	bash -c "[[ -n '$moved' && '$moved' != '$repinned' ]]"

topo_finish
