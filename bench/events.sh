#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 15's speed figures for flow events, on a machine others may share: what telling a new
# flow's event costs, `sluice-pktbench --events on` against `--events off` (tc_pod without
# events) in PAIRS interleaved pairs (on, off, on, off, ...), the median of each side's
# ns_per_packet_new_events (every event told: runs of 10,000 new flows, the ring drained between
# them) and the median of the pairs' ratios, which issue 15 wants <= 1.1x; then
# bench/observe_rate.sh at RATE events a second (issue 15: 100,000 without loss while the agent
# syncs). The load average goes with each figure.
#   bench/events.sh [PAIRS [RATE]]   (default 8 100000; root)
set -euo pipefail
SL_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "$SL_ROOT" && realpath -m "${BUILD:-build}")
PKTBENCH=${PKTBENCH:-$BUILD_DIR/sluice-pktbench}
PAIRS=${1:-8}
RATE=${2:-100000}
samples=$(mktemp)
trap 'rm -f "$samples"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

for ((i = 1; i <= PAIRS; i++)); do
	for events in on off; do
		load=$(cut -d' ' -f1 /proc/loadavg)
		"$PKTBENCH" --runs 5 --repeat 200000 --events "$events" -o json |
			jq -r --arg e "$events" --arg i "$i" --arg load "$load" \
				'.results[] | select(.metric == "ns_per_packet_new_events") | [$i, $e, .median, $load] | @tsv' \
				>>"$samples"
	done
done
on=$(awk '$2 == "on" { print $3 }' "$samples" | median)
off=$(awk '$2 == "off" { print $3 }' "$samples" | median)
ratio=$(awk '{ v[$1, $2] = $3 } END { for (k in v) { split(k, p, SUBSEP); if (p[2] == "on" && v[p[1], "off"] > 0) printf "%.3f\n", v[k] / v[p[1], "off"] } }' "$samples" | median)
loads=$(awk '{ print $4 }' "$samples" | sort -n | awk '{ v[NR] = $1 } END { printf "%s-%s", v[1], v[NR] }')
printf 'new flow, events told: on %s ns, off %s ns, on/off %sx (median of %s pairs; issue 15: <= 1.1x); load %s\n' \
	"$on" "$off" "$ratio" "$PAIRS" "$loads"
"$SL_ROOT/bench/observe_rate.sh" "$RATE" 5 2>&1 | grep -E '^\{"rate"|^(PASS|FAIL) '
