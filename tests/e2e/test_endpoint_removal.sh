#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A backend removed from the EndpointSlice stops receiving new connections once the agent has
# reloaded the manifests directory, and a UDP client that keeps its source port (a resolver's
# socket) moves to a remaining backend at once: the removed backend's UDP conntrack entries are
# flushed, as kube-proxy clears them (kubernetes#125467: stale entries blackholing DNS).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init endpoint_removal
topo_standard

out=$(topo_probe client --tcp "$SL_VIP:80" -n 20 || true)
check endpoint_removal/before "tally before: $(tally "$out")" \
	test "$(count_from web-1 "$out")" -gt 0 -a "$(count_from web-2 "$out")" -gt 0

# A long-lived UDP "socket": every datagram from the same source port, one conntrack flow.
udp_sport=40053
out=$(topo_probe client --udp "$SL_VIP:53" -n 3 --sport "$udp_sport" || true)
udp_backend=$(awk '$1 != "ERR" { print $1; exit }' <<<"$out")
check endpoint_removal/udp_flow_pinned "replies: $(tally "$out")" \
	test -n "$udp_backend" -a "$(count_from "$udp_backend" "$out")" -eq 3
udp_other=web-1
[[ $udp_backend == web-1 ]] && udp_other=web-2

write_web_manifests "$udp_other"
if wait_service_backends n1 "$SL_VIP" 80 1; then
	pass endpoint_removal/agent_reloaded
else
	fail endpoint_removal/agent_reloaded "service list still shows $(service_backends n1 "$SL_VIP" 80) backends after ${SL_SYNC_TIMEOUT}s"
fi

# The removed backend's slots stay readable for the 1 s grace period after the flip (a packet
# that read the old generation still finds them); its UDP flows are flushed when it ends.
moved_after=
for ((i = 0; i < 30; i++)); do
	out=$(topo_probe client --udp "$SL_VIP:53" -n 1 --sport "$udp_sport" || true)
	if [[ $(count_from "$udp_other" "$out") == 1 ]]; then
		moved_after=$((i * 100))
		break
	fi
	sleep 0.1
done
out=$(topo_probe client --udp "$SL_VIP:53" -n 3 --sport "$udp_sport" || true)
check endpoint_removal/udp_flow_moves \
	"same source port after $udp_backend left: moved after ${moved_after:-never (>3000)} ms, then $(tally "$out")" \
	test -n "$moved_after" -a "$(count_from "$udp_other" "$out")" -eq 3
check endpoint_removal/udp_flush_logged "$(topo_log_tail "${TOPO_AGENT_LOG[n1]}")" \
	grep -q "UDP flows of removed backends flushed" "${TOPO_AGENT_LOG[n1]}"
out=$(topo_probe client --tcp "$SL_VIP:80" -n 20 || true)
show_output "$out"
check endpoint_removal/tcp_only_remaining "tally after removal: $(tally "$out")" \
	test "$(count_from "$udp_other" "$out")" -eq 20
out=$(topo_probe client --udp "$SL_VIP:53" -n 10 || true)
check endpoint_removal/udp_only_remaining "tally after removal: $(tally "$out")" \
	test "$(count_from "$udp_other" "$out")" -eq 10

# And back: the removed pod receives new connections again.
write_web_manifests web-1 web-2
wait_service_backends n1 "$SL_VIP" 80 2 || true
out=$(topo_probe client --tcp "$SL_VIP:80" -n 20 || true)
check endpoint_removal/re_added "tally after re-adding $udp_backend: $(tally "$out")" \
	test "$(count_from "$udp_backend" "$out")" -gt 0 -a "$(count_errors "$out")" -eq 0

topo_finish
