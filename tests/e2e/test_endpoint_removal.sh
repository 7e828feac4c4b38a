#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A backend removed from the EndpointSlice stops receiving new connections once the agent has
# reloaded the manifests directory.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init endpoint_removal
topo_standard

out=$(topo_probe client --tcp "$SL_VIP:80" -n 20 || true)
check endpoint_removal/before "tally before: $(tally "$out")" \
	test "$(count_from web-1 "$out")" -gt 0 -a "$(count_from web-2 "$out")" -gt 0

write_web_manifests web-1
if wait_service_backends n1 "$SL_VIP" 80 1; then
	pass endpoint_removal/agent_reloaded
else
	fail endpoint_removal/agent_reloaded "service list still shows $(service_backends n1 "$SL_VIP" 80) backends after ${SL_SYNC_TIMEOUT}s"
fi

out=$(topo_probe client --tcp "$SL_VIP:80" -n 20 || true)
show_output "$out"
check endpoint_removal/tcp_only_remaining "tally after removal: $(tally "$out")" \
	test "$(count_from web-1 "$out")" -eq 20
out=$(topo_probe client --udp "$SL_VIP:53" -n 10 || true)
check endpoint_removal/udp_only_remaining "tally after removal: $(tally "$out")" \
	test "$(count_from web-1 "$out")" -eq 10

# And back: the removed pod receives new connections again.
write_web_manifests web-1 web-2
wait_service_backends n1 "$SL_VIP" 80 2 || true
out=$(topo_probe client --tcp "$SL_VIP:80" -n 20 || true)
check endpoint_removal/re_added "tally after re-adding web-2: $(tally "$out")" \
	test "$(count_from web-2 "$out")" -gt 0 -a "$(count_errors "$out")" -eq 0

topo_finish
