#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A conntrack flood does not evict established flows: with a small table (--ct-size 2048), a
# long-lived TCP connection through the Service keeps answering while another pod floods the
# VIP with raw SYNs from ever new source ports (each answered by a SYN-ACK and reset by the
# flooding pod's kernel) and then with UDP datagrams from ever new sockets (each answered, so
# confirmed). The SYNs recycle their own entries (early drop); the answered datagrams fill the
# table, and new flows are then dropped and counted rather than pushing a live flow out.
# `sluice status` shows the fill, the warning, early drops and insert failures. A client outside
# the node keeps a masqueraded connection (NodePort, externalTrafficPolicy Cluster) open through
# it all: it keeps answering and its SNAT claim (node address, port) stays the same.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

CT_SIZE=2048
NODE_IP=192.168.77.1
CLIENT_IP=192.168.77.2
NODE_PORT=30800

topo_init ct_pressure
topo_require_all
topo_node n1 10.244.1.0/24
topo_uplink_client n1 "$NODE_IP" "$CLIENT_IP"
topo_agent n1 "$TOPO_DIR/manifests" --ct-size "$CT_SIZE" --uplink up0 --node-ip "$NODE_IP"
topo_pod n1 client
topo_pod n1 flood
topo_pod n1 web-1
topo_pod n1 web-2
topo_echo web-1
topo_echo web-2
write_web_manifests web-1 web-2
# The stream port again as a NodePort whose flows are masqueraded (Cluster).
cat <<EOF | write_file "$TOPO_DIR/manifests/np.yaml"
apiVersion: v1
kind: Service
metadata: {name: np, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.30
  externalTrafficPolicy: Cluster
  ports: [{name: stream, protocol: TCP, port: 8000, targetPort: 8090, nodePort: $NODE_PORT}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: np-slice, namespace: default, labels: {kubernetes.io/service-name: np}}
addressType: IPv4
ports: [{name: stream, protocol: TCP, port: 8090}]
endpoints:
- {addresses: ["$(topo_pod_ip web-1)"], conditions: {ready: true}, nodeName: n1}
EOF
for frontend in "$SL_VIP 80 2" "10.96.0.30 8000 1"; do
	# shellcheck disable=SC2086 # address, port and backend count
	wait_service_backends n1 $frontend ||
		topo_fatal "agent did not apply $frontend within ${SL_SYNC_TIMEOUT}s: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
done

# One connection to the stream port, driven line by line through a coprocess.
coproc STREAM { timeout 120 nsenter --net="/var/run/netns/$(topo_ns_pod client)" -- \
	"$SL_TOOLS/sl_probe" --stream "$SL_VIP:8000" --timeout-ms 3000 2>&1; }
TOPO_PIDS+=("$STREAM_PID")
exec {to_stream}>&"${STREAM[1]}" {from_stream}<&"${STREAM[0]}"

exchange() { stream_exchange "$to_stream" "$from_stream" "$1"; }

# The outside client's masqueraded connection.
coproc EXT { timeout 120 nsenter --net="/var/run/netns/$UPLINK_CLIENT_NS" -- \
	"$SL_TOOLS/sl_probe" --stream "$NODE_IP:$NODE_PORT" --timeout-ms 3000 2>&1; }
TOPO_PIDS+=("$EXT_PID")
exec {to_ext}>&"${EXT[1]}" {from_ext}<&"${EXT[0]}"
ext_exchange() { stream_exchange "$to_ext" "$from_ext" "$1"; }
# The masqueraded flow's claim: its reply entry (backend -> node address:port), and flags.
snat_claims() {
	topo_cli n1 ct list -o json | jq -r '.connections[] | select(.direction == "reply")
		| select(.flags | index("snat")) | "\(.src):\(.sport) -> \(.dst):\(.dport) \(.flags | join(","))"'
}
ext_greeting=
read -r -t 5 ext_greeting <&"$from_ext" || true
[[ $ext_greeting == web-1* ]] || topo_fatal "stream connection to $NODE_IP:$NODE_PORT failed: '$ext_greeting'"
reply=$(ext_exchange before) || true
check ct_pressure/masqueraded_before "reply '$reply'" test "$reply" = "$ext_greeting before"
claims_before=$(snat_claims)
check ct_pressure/masqueraded_claim "claims: $claims_before" \
	grep -q "^[0-9.]*:8090 -> $NODE_IP:[0-9]* .*confirmed" <<<"$claims_before"

greeting=
read -r -t 5 greeting <&"$from_stream" || true
[[ $greeting == web-1* || $greeting == web-2* ]] || topo_fatal "stream connection to $SL_VIP:8000 failed: '$greeting'"
reply=$(exchange before) || true
check ct_pressure/stream_before "reply '$reply'" test "$reply" = "$greeting before"

# status_field FIELD: a number from `sluice status -o json`'s conntrack object.
status_field() {
	topo_cli n1 status -o json 2>/dev/null | jq -r ".conntrack.$1 // -1"
}

# SYNs: three times the table's flows, none of them completes a handshake.
out=$(topo_probe flood --flood syn "$SL_VIP:80" --count $((3 * CT_SIZE)) 2>&1 || true)
info "syn flood: $out"
reply=$(exchange during) || true
check ct_pressure/stream_after_syn_flood "reply '$reply'" test "$reply" = "$greeting during"
early=$(status_field early_drops)
check ct_pressure/syn_flood_recycled "early drops $early" test "$early" -gt 0
out=$(topo_probe client --tcp "$SL_VIP:80" -n 4 || true)
check ct_pressure/new_flows_after_syn_flood "$(show_output "$out")" test "$(count_errors "$out")" = 0

# Answered datagrams: confirmed flows fill the table; later new flows are dropped and counted.
out=$(topo_probe flood --flood udp "$SL_VIP:53" --count "$CT_SIZE" 2>&1 || true)
info "udp flood: $out"
sleep 1
reply=$(exchange after) || true
check ct_pressure/stream_after_udp_flood "reply '$reply'" test "$reply" = "$greeting after"
topo_probe flood --flood udp "$SL_VIP:53" --count 64 >/dev/null 2>&1 || true
status=$(topo_cli n1 status 2>&1 || true)
check ct_pressure/status_fill "$(grep -i conntrack <<<"$status" || echo "$status" | tail -5)" \
	grep -Eq "^conntrack: [0-9]+ of $CT_SIZE entries \(([89][0-9]|100) %\)" <<<"$status"
check ct_pressure/status_warning "$(grep -i warning <<<"$status" || true)" \
	grep -q "^warning: conntrack .* full" <<<"$status"
failed=$(status_field insert_failed)
check ct_pressure/insert_failures_counted "insert failures $failed" test "$failed" -gt 0
drops=$(topo_cli n1 drops -o json | jq '[.drops[] | select(.name | startswith("conntrack full")) | .packets] | add // 0')
check ct_pressure/drops_counted "conntrack full drops: $drops" test "$drops" -gt 0
reply=$(exchange last) || true
check ct_pressure/stream_still_up "reply '$reply'" test "$reply" = "$greeting last"
reply=$(ext_exchange last) || true
check ct_pressure/masqueraded_still_up "reply '$reply'" test "$reply" = "$ext_greeting last"
claims_after=$(snat_claims)
check ct_pressure/masqueraded_kept_port "before: $claims_before; after: $claims_after" \
	test "$claims_after" = "$claims_before"
n=$(topo_cli n1 ct list -o json | jq --arg ip "$(topo_pod_ip client)" \
	'[.connections[] | select(.src == $ip or .nat_dst == $ip) | select(.flags | index("confirmed"))] | length')
check ct_pressure/stream_confirmed "confirmed entries of the client: $n" test "$n" -ge 1

exec {to_stream}>&- {to_ext}>&-
timeout 5 tail -s 0.1 --pid="$STREAM_PID" -f /dev/null 2>/dev/null || true
timeout 5 tail -s 0.1 --pid="$EXT_PID" -f /dev/null 2>/dev/null || true
topo_finish
