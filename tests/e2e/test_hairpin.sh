#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hairpin: a pod that is the only backend of a service connects to the service's VIP, is picked
# as its own backend, and the connection works (the pod sees it from the hairpin address).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init hairpin
topo_require_all
vip=10.96.0.30
topo_node n1 10.244.1.0/24
topo_agent n1 "$TOPO_DIR/manifests"
topo_pod n1 web-1
topo_echo web-1
manifest_service solo "$vip" 80:8080/TCP 53:5353/UDP | write_file "$TOPO_DIR/manifests/solo-service.yaml"
manifest_slice solo 80:8080/TCP,53:5353/UDP web-1 | write_file "$TOPO_DIR/manifests/solo-slice.yaml"
wait_service_backends n1 "$vip" 80 1 ||
	topo_fatal "service solo ($vip:80) not listed with 1 backend within ${SL_SYNC_TIMEOUT}s"

for proto in tcp udp; do
	port=80
	[[ $proto == udp ]] && port=53
	out=$(topo_probe web-1 "--$proto" "$vip:$port" -n 10 --timeout-ms 2000 || true)
	show_output "$out"
	check "hairpin/$proto" "want 10 answers from web-1, got: $(tally "$out")" test "$(count_from web-1 "$out")" -eq 10
	# The reply must come back from the VIP, so the socket accepted it; a peer equal to the pod's
	# own address would mean the kernel saw a martian source (and it would have dropped it).
	peers=$(awk '$1 != "ERR" { split($2, a, ":"); print a[1] }' <<<"$out" | sort -u | tr '\n' ' ')
	info "web-1 saw itself as: $peers"
done

topo_finish
