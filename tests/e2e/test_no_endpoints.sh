#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A service whose EndpointSlice has no ready endpoint rejects new connections at once with an
# ICMP port unreachable (ECONNREFUSED for the client), as kube-proxy does, instead of letting
# the SYN time out.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init no_endpoints
topo_require_all
vip=10.96.0.20
topo_node n1 10.244.1.0/24
topo_agent n1 "$TOPO_DIR/manifests"
topo_pod n1 client
topo_pod n1 web-1
topo_echo web-1
manifest_service empty "$vip" 80:8080/TCP 53:5353/UDP | write_file "$TOPO_DIR/manifests/empty-service.yaml"
manifest_slice empty 80:8080/TCP,53:5353/UDP web-1=notready | write_file "$TOPO_DIR/manifests/empty-slice.yaml"
wait_service_backends n1 "$vip" 80 0 ||
	topo_fatal "service empty ($vip:80) not listed with 0 backends within ${SL_SYNC_TIMEOUT}s"

for proto in tcp udp; do
	port=80
	[[ $proto == udp ]] && port=53
	start=$(date +%s%N)
	out=$(topo_probe client "--$proto" "$vip:$port" -n 3 --timeout-ms 3000 || true)
	elapsed_ms=$((($(date +%s%N) - start) / 1000000))
	show_output "$out"
	refused=$(grep -c '^ERR ECONNREFUSED$' <<<"$out" || true)
	check "no_endpoints/${proto}_refused" "want 3 x ERR ECONNREFUSED, got: $(tr '\n' ' ' <<<"$out")" test "$refused" -eq 3
	check "no_endpoints/${proto}_fast" "3 attempts took ${elapsed_ms}ms (a timeout is 3000ms each)" test "$elapsed_ms" -lt 1500
done

# The not-ready pod itself is fine: reached directly, it answers.
out=$(topo_probe client --tcp "$(topo_pod_ip web-1):8080" -n 1 || true)
check no_endpoints/pod_reachable_directly "direct to web-1: $out" test "$(count_from web-1 "$out")" -eq 1

# Becoming ready: the same VIP starts answering.
manifest_slice empty 80:8080/TCP,53:5353/UDP web-1 | write_file "$TOPO_DIR/manifests/empty-slice.yaml"
if wait_service_backends n1 "$vip" 80 1; then
	out=$(topo_probe client --tcp "$vip:80" -n 3 || true)
	check no_endpoints/serves_once_ready "after web-1 became ready: $(tr '\n' ' ' <<<"$out")" \
		test "$(count_from web-1 "$out")" -eq 3
else
	fail no_endpoints/serves_once_ready "service not updated to 1 backend within ${SL_SYNC_TIMEOUT}s"
fi

topo_finish
