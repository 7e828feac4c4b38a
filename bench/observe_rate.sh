#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluice observe's throughput (issue 15: 100,000 events a second without loss while the agent
# syncs). An agent of the bench's own (a network namespace and bpffs directory of its own, a
# ClusterIP Service), one reader following `sluice observe -f -o json`, and
# `sluice-pktbench --generate-events RATE` pushing new flows through the agent's pinned tc_pod
# (BPF_PROG_TEST_RUN, a batch every 10 ms; each new flow tells one event) for SECONDS while the
# manifests change twice a second (a sync each). Then it counts what the reader received against
# what was sent, and what was counted lost: by the datapath (sluice_events_lost_total from the
# agent's metrics: ring full, rate-limited) and by the reader (its `lost` lines, a running total).
#   bench/observe_rate.sh [RATE [SECONDS]]   (default 100000 5)
# Prints one JSON line: {"rate":..,"sent":..,"received":..,"lost_ring_full":..,
# "lost_rate_limited":..,"lost_reader":..,"unaccounted":..,"syncs":..,"loadavg":".."};
# exits 1 when events went missing uncounted (unaccounted != 0).
set -euo pipefail
SL_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "$SL_ROOT" && realpath -m "${BUILD:-build}")
export SLUICE=${SLUICE:-$BUILD_DIR/sluice} # the optimized agent, not the tests' sanitizer build
PKTBENCH=${PKTBENCH:-$BUILD_DIR/sluice-pktbench}
# shellcheck source=tests/e2e/lib.sh
. "$SL_ROOT/tests/e2e/lib.sh"
RATE=${1:-100000}
DURATION=${2:-5}
VIP=10.96.0.10 # pkt_events.c's flows go to VIP:80, answered by 10.244.1.5:8080
METRICS=127.0.0.1:9962

topo_init observe_rate
topo_node n1 10.244.1.0/24
ns=$(topo_ns_node n1)
bpffs=$(topo_node_bpffs n1)

service() { # NAME VIP PORT: a Service and its slice, the backend 10.244.1.5
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  clusterIP: $2
  ports: [{name: http, protocol: TCP, port: $3, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1-slice, namespace: default, labels: {kubernetes.io/service-name: $1}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints: [{addresses: [10.244.1.5], conditions: {ready: true}}]
EOF
}
service web "$VIP" 80 | write_file "$TOPO_DIR/manifests/web.yaml"
topo_agent n1 "$TOPO_DIR/manifests" --metrics-addr "$METRICS"
wait_service_backends n1 "$VIP" 80 1 || topo_fatal "service not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"

nsenter --net="/var/run/netns/$ns" -- "$SLUICE" --bpffs "$bpffs" observe -f -o json \
	>"$TOPO_DIR/events.json" 2>"$TOPO_DIR/observe.err" &
reader=$!
TOPO_PIDS+=("$reader")
sleep 0.5
# The agent syncs meanwhile: a second Service whose port changes twice a second.
(
	i=0
	while :; do
		service churn 10.96.0.11 $((1000 + i % 100)) >"$TOPO_DIR/manifests/churn.yaml.tmp"
		mv "$TOPO_DIR/manifests/churn.yaml.tmp" "$TOPO_DIR/manifests/churn.yaml"
		i=$((i + 1))
		sleep 0.5
	done
) &
TOPO_PIDS+=("$!")
churn=$!
syncs0=$(grep -c 'sync:' "${TOPO_AGENT_LOG[n1]}" || true)
load=$(cut -d' ' -f1-3 /proc/loadavg)
gen=$("$PKTBENCH" --generate-events "$RATE" --seconds "$DURATION" --bpffs "$bpffs") ||
	topo_fatal "the generator failed"
kill "$churn" 2>/dev/null || true
syncs=$(($(grep -c 'sync:' "${TOPO_AGENT_LOG[n1]}" || true) - syncs0))
# Until the reader has printed everything (its output still for a second, 30 s at most).
size=-1
for _ in $(seq 60); do
	sleep 0.5
	now=$(stat -c %s "$TOPO_DIR/events.json")
	[[ $now == "$size" ]] && break
	size=$now
done
kill "$reader" 2>/dev/null || true
wait "$reader" 2>/dev/null || true

sent=$(jq -r .sent <<<"$gen")
received=$(grep -c "\"event\":\"new_flow\",.*\"destination_ip\":\"$VIP\"" "$TOPO_DIR/events.json" || true)
lost_reader=$(jq -s '[.[] | .lost.reader // 0] | max // 0' <(grep '^{"lost"' "$TOPO_DIR/events.json" || true))
metrics=$(topo_in_ns "$ns" curl -sf "http://$METRICS/metrics") || topo_fatal "no metrics on $METRICS"
lost_metric() { awk -v r="$1" '$1 == "sluice_events_lost_total{reason=\"" r "\"}" { print $2 }' <<<"$metrics"; }
lost_ring=$(lost_metric ring_full)
lost_rate=$(lost_metric rate_limited)
unaccounted=$((sent - received - lost_ring - lost_reader))
printf '{"rate": %s, "achieved": %s, "seconds": %s, "sent": %s, "received": %s, "lost_ring_full": %s, "lost_rate_limited": %s, "lost_reader": %s, "unaccounted": %s, "syncs": %s, "loadavg": "%s"}\n' \
	"$RATE" "$(jq -r .rate <<<"$gen")" "$(jq -r .seconds <<<"$gen")" "$sent" "$received" \
	"$lost_ring" "$lost_rate" "$lost_reader" "$unaccounted" "$syncs" "$load"
check observe_rate/accounted "$received received + $lost_ring ring full + $lost_reader reader-lost of $sent sent" \
	test "$unaccounted" -eq 0
topo_finish
