#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Maglev backend choice: connections from fixed client ports to a ClusterIP with three backends
# keep their backend when another backend's endpoint is removed (only the removed one's
# connections move), and a restart through --lb-algorithm random and back rebuilds the very same
# table. The table is 16363 entries: Maglev reassigns a few entries of the remaining backends
# too (~0.03 % of the table for 3 -> 2 backends here), and M >> N keeps that out of 30 flows.
# Last, a restart with another table size replaces the pinned tables and keeps serving.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PORTS=$(seq 41001 41030)
M=16363

topo_init maglev_consistency
topo_require_all
topo_node n1 10.244.1.0/24
topo_agent n1 "$TOPO_DIR/manifests" --maglev-table-size "$M"
topo_pod n1 client
for pod in web-1 web-2 web-3; do
	topo_pod n1 "$pod"
	topo_echo "$pod"
done
write_web_manifests web-1 web-2 web-3
wait_service_backends n1 "$SL_VIP" 80 3 ||
	topo_fatal "agent did not apply service web with 3 backends: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"

# algorithm NODE: "algorithm/table_size" of the VIP:80 frontend, from service list -o json.
algorithm() {
	topo_cli "$1" service list -o json 2>/dev/null |
		jq -r --arg ip "$SL_VIP" '.services[] | select(.vip == $ip and .port == 80)
			| "\(.algorithm)/\(.table_size)"' 2>/dev/null || echo "?"
}

# round: one connection from each port in PORTS; prints "PORT BACKEND" per line.
round() {
	local port out
	for port in $PORTS; do
		out=$(topo_probe client --tcp "$SL_VIP:80" -n 1 --sport "$port" --timeout-ms 2000 || true)
		echo "$port ${out%% *}"
	done
}

check maglev_consistency/listed "service list shows $(algorithm n1), want maglev/$M" \
	test "$(algorithm n1)" = "maglev/$M"

before=$(round)
show_output "$before"
check maglev_consistency/spread "tally: $(tally "$(awk '{ print $2 }' <<<"$before")")" \
	test "$(grep -c ' web-1$' <<<"$before")" -gt 0 -a "$(grep -c ' web-2$' <<<"$before")" -gt 0 \
	-a "$(grep -c ' web-3$' <<<"$before")" -gt 0
again=$(round)
check maglev_consistency/same_ports_same_backends "second round differs: $(diff <(echo "$before") <(echo "$again") | grep '^>' | tr '\n' ' ')" \
	test "$before" = "$again"

# web-2 leaves: its connections move, every other one stays where it was.
write_web_manifests web-1 web-3
wait_service_backends n1 "$SL_VIP" 80 2 ||
	fail maglev_consistency/agent_reloaded "service list still shows $(service_backends n1 "$SL_VIP" 80) backends"
after=$(round)
show_output "$after"
moved=$(join <(echo "$before") <(echo "$after") | awk '$2 != "web-2" && $2 != $3 { print $1 ":" $2 "->" $3 }')
check maglev_consistency/remaining_stay "connections of web-1/web-3 that moved: ${moved:-none}" \
	test -z "$moved"
left=$(join <(echo "$before") <(echo "$after") | awk '$2 == "web-2" && $3 != "web-1" && $3 != "web-3" { print $1 ":" $3 }')
check maglev_consistency/removed_move "web-2's connections not answered by web-1/web-3: ${left:-none}" \
	test -z "$left" -a "$(grep -c ' web-2$' <<<"$before")" -gt 0

# Restart random, then maglev again: each converges, and maglev rebuilds the same table.
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --maglev-table-size "$M" --lb-algorithm random
check maglev_consistency/random_after_restart "service list shows $(algorithm n1), want random/0" \
	test "$(algorithm n1)" = "random/0"
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --maglev-table-size "$M"
check maglev_consistency/maglev_after_restart "service list shows $(algorithm n1), want maglev/$M" \
	test "$(algorithm n1)" = "maglev/$M"
restarted=$(round)
check maglev_consistency/same_table_after_restart "differs from before the restarts: $(diff <(echo "$after") <(echo "$restarted") | grep '^>' | tr '\n' ' ')" \
	test "$after" = "$restarted"

# Another table size: the pinned lb4_maglev is replaced and every table rewritten.
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --maglev-table-size 997
check maglev_consistency/resized "service list shows $(algorithm n1), want maglev/997" \
	test "$(algorithm n1)" = "maglev/997"
resized=$(round)
check maglev_consistency/resized_serves "after the resize: $(tally "$(awk '{ print $2 }' <<<"$resized")")" \
	test "$(grep -cE ' web-[13]$' <<<"$resized")" -eq 30
check maglev_consistency/resize_logged "no 'Maglev table size 16363 -> 997' in the agent log" \
	grep -q 'Maglev table size 16363 -> 997' "${TOPO_AGENT_LOG[n1]}"

topo_finish
