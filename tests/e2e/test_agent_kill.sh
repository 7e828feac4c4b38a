#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGKILL the agent under load: long-lived connections keep exchanging and new connections keep
# being balanced while the agent is dead and after a new one adopts the pinned maps; conntrack
# is not flushed. Every exchange and every connection is counted: zero may fail.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init agent_kill
topo_standard
STREAMS=6
LINES=40     # one every 100 ms per stream: ~4 s of traffic around the kill and restart
NEW_FLOWS=80 # one every 50 ms

# stream I: a connection through the VIP's stream port, echoing a numbered line every 100 ms.
stream() {
	for ((n = 1; n <= LINES; n++)); do
		echo "s$1-$n"
		sleep 0.1
	done | timeout 60 nsenter --net="/var/run/netns/$(topo_ns_pod client)" -- \
		"$SL_TOOLS/sl_probe" --stream "$SL_VIP:8000" --timeout-ms 3000 >"$TOPO_DIR/stream-$1.out" 2>&1
}

load_pids=()
for ((s = 1; s <= STREAMS; s++)); do
	stream "$s" &
	load_pids+=("$!")
done
timeout 60 nsenter --net="/var/run/netns/$(topo_ns_pod client)" -- "$SL_TOOLS/sl_probe" \
	--tcp "$SL_VIP:80" -n "$NEW_FLOWS" --interval-ms 50 --timeout-ms 3000 >"$TOPO_DIR/new.out" 2>&1 &
load_pids+=("$!")
TOPO_PIDS+=("${load_pids[@]}")

sleep 1
topo_agent_stop n1 KILL
info "agent killed (SIGKILL) under load"
sleep 1
topo_agent_restart n1
info "agent restarted"

for pid in "${load_pids[@]}"; do
	wait "$pid" 2>/dev/null || true
done

broken=0
exchanged=0
for ((s = 1; s <= STREAMS; s++)); do
	out=$(cat "$TOPO_DIR/stream-$s.out")
	# The greeting, then one "<backend> <peer> s<I>-<n>" echo per line.
	ok=$(grep -c " s$s-[0-9]*\$" <<<"$out" || true)
	exchanged=$((exchanged + ok))
	((ok == LINES)) || {
		broken=$((broken + 1))
		show_output "$(tail -3 <<<"$out")"
	}
done
check agent_kill/streams_unbroken "$broken of $STREAMS long-lived connections broke ($exchanged of $((STREAMS * LINES)) exchanges answered)" \
	test "$broken" -eq 0
new=$(cat "$TOPO_DIR/new.out")
answered=$(($(count_from web-1 "$new") + $(count_from web-2 "$new")))
check agent_kill/new_flows_unbroken "$answered of $NEW_FLOWS new connections answered: $(tally "$new")" \
	test "$answered" -eq "$NEW_FLOWS"
check agent_kill/new_flows_balanced "tally $(tally "$new")" \
	test "$(count_from web-1 "$new")" -gt 0 -a "$(count_from web-2 "$new")" -gt 0
check agent_kill/adopted "the restarted agent adopted the pinned frontends" \
	grep -q 'adopted [1-9][0-9]* frontends' "${TOPO_AGENT_LOG[n1]}"
n=$(ct_entries_with n1 "$(topo_pod_ip client)")
check agent_kill/ct_kept "$n conntrack entries of the client after the restart" test "$n" -gt 0
topo_finish
