#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent leaves the datapath in place on SIGTERM: a long-lived TCP connection through the
# VIP keeps working while the agent is down and after it restarts, and new connections are
# balanced again afterwards.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init agent_restart
topo_standard
client_ip=$(topo_pod_ip client)

# One connection to the stream port, driven line by line through a coprocess.
coproc STREAM { timeout 60 nsenter --net="/var/run/netns/$(topo_ns_pod client)" -- \
	"$SL_TOOLS/sl_probe" --stream "$SL_VIP:8000" --timeout-ms 3000 2>&1; }
TOPO_PIDS+=("$STREAM_PID")
exec {to_stream}>&"${STREAM[1]}" {from_stream}<&"${STREAM[0]}"

exchange() { stream_exchange "$to_stream" "$from_stream" "$1"; }

greeting=
read -r -t 5 greeting <&"$from_stream" || true
backend=${greeting%% *}
[[ $backend == web-1 || $backend == web-2 ]] || topo_fatal "stream connection to $SL_VIP:8000 failed: '$greeting'"
info "long-lived connection served by $backend: $greeting"

reply=$(exchange before) || true
check agent_restart/before "reply '$reply'" test "$reply" = "$greeting before"

topo_agent_stop n1 TERM
reply=$(exchange during) || true
check agent_restart/while_agent_down "reply '$reply'" test "$reply" = "$greeting during"
out=$(topo_probe client --tcp "$SL_VIP:80" -n 4 || true)
check agent_restart/new_flows_while_down "tally $(tally "$out")" test "$(count_errors "$out")" -eq 0

topo_agent_restart n1
reply=$(exchange after) || true
check agent_restart/after_restart "reply '$reply'" test "$reply" = "$greeting after"

n=$(ct_entries_with n1 "$client_ip")
check agent_restart/ct_kept "no ct entry mentions $client_ip after restart" test "$n" -gt 0
got=$(service_backends n1 "$SL_VIP" 80)
check agent_restart/service_kept "service list after restart: $got backends, want 2" test "$got" = 2

out=$(topo_probe client --tcp "$SL_VIP:80" -n 20 || true)
check agent_restart/balanced_after_restart "tally $(tally "$out")" \
	test "$(count_from web-1 "$out")" -gt 0 -a "$(count_from web-2 "$out")" -gt 0 -a "$(count_errors "$out")" -eq 0

exec {to_stream}>&-
timeout 5 tail -s 0.1 --pid="$STREAM_PID" -f /dev/null 2>/dev/null || true
topo_finish
