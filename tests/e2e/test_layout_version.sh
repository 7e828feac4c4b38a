#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pinned maps carry their layout version: an agent or CLI of another layout refuses them with
# one line naming both versions instead of misreading them, and nothing is changed meanwhile;
# pins of the build's own layout are adopted as before; layout 2's (drops by reason alone) are
# upgraded in place: the agent replaces the drop counters and records layout 3, and flows go on;
# counter maps of another size (a build with other drop reasons) are replaced, not refused.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init layout_version
topo_standard
bpffs=$(topo_node_bpffs n1)
log=${TOPO_AGENT_LOG[n1]}

# The recorded version (little-endian __u32), or nothing when there is no record.
version_of() {
	bpftool -j map lookup pinned "$bpffs/maps_layout" key 0 0 0 0 2>/dev/null |
		jq -r '.value | reverse | map(ltrimstr("0x")) | join("")' 2>/dev/null |
		{ read -r hex && echo $((16#$hex)); } || true
}
check layout_version/recorded "maps_layout holds '$(version_of)'" test "$(version_of)" = 3

out=$(topo_probe client --tcp "$SL_VIP:80" -n 4 || true)
check layout_version/serving_before "$(show_output "$out")" test "$(count_errors "$out")" = 0

# Another layout's pins: the agent refuses to start and says which versions meet.
topo_agent_stop n1 TERM
bpftool map update pinned "$bpffs/maps_layout" key 0 0 0 0 value 99 0 0 0
ct_before=$(bpftool -j map dump pinned "$bpffs/ct4" | jq length)
start_line=$(($(wc -l <"$log") + 1))
rc=0
timeout 30 nsenter --net="/var/run/netns/$(topo_ns_node n1)" -- "$SLUICE" agent --node n1 \
	--manifests "$TOPO_DIR/manifests" --bpffs "$bpffs" >>"$log" 2>&1 || rc=$?
said=$(tail -n "+$start_line" "$log")
check layout_version/agent_refuses "exit $rc" test "$rc" -ne 0
check layout_version/agent_names_both "log: $(topo_log_tail "$log")" \
	grep -q "layout version 99, this sluice reads version 3" <<<"$said"
check layout_version/pins_untouched "maps_layout '$(version_of)', ct4 $ct_before entries before" \
	test "$(version_of)" = 99 -a "$(bpftool -j map dump pinned "$bpffs/ct4" | jq length)" -ge "$ct_before"

rc=0
out=$(topo_cli n1 service list 2>&1) || rc=$?
check layout_version/cli_refuses "exit $rc: $out" test "$rc" -ne 0
check layout_version/cli_names_both "$out" grep -q "layout version 99" <<<"$out"

# Pins from before the record existed are layout 1 (ct4 an LRU): refused by this layout 3.
rm -f "$bpffs/maps_layout"
start_line=$(($(wc -l <"$log") + 1))
rc=0
timeout 30 nsenter --net="/var/run/netns/$(topo_ns_node n1)" -- "$SLUICE" agent --node n1 \
	--manifests "$TOPO_DIR/manifests" --bpffs "$bpffs" >>"$log" 2>&1 || rc=$?
said=$(tail -n "+$start_line" "$log")
check layout_version/unrecorded_is_1 "exit $rc; log: $(topo_log_tail "$log")" \
	grep -q "layout version 1, this sluice reads version 3" <<<"$said"

# Layout 2's pins: drops indexed by reason alone (as many entries as reasons). The CLI refuses
# them; the agent upgrades them in place, replacing the counters, and its flows go on.
n_reasons=$(($(bpftool -j map show pinned "$bpffs/drops" | jq .max_entries) / 2))
bpftool map create "$bpffs/maps_layout" type array key 4 value 4 entries 1 name maps_layout
bpftool map update pinned "$bpffs/maps_layout" key 0 0 0 0 value 2 0 0 0
rm -f "$bpffs/drops"
bpftool map create "$bpffs/drops" type percpu_array key 4 value 16 entries "$n_reasons" name drops
ct_id=$(bpftool -j map show pinned "$bpffs/ct4" | jq .id)
rc=0
out=$(topo_cli n1 drops 2>&1) || rc=$?
check layout_version/cli_refuses_layout_2 "exit $rc: $out" \
	grep -q "layout version 2, this sluice reads version 3" <<<"$out"
start_line=$(($(wc -l <"$log") + 1))
topo_agent_restart n1
said=$(tail -n "+$start_line" "$log")
check layout_version/layout_2_upgraded "maps_layout '$(version_of)'; log: $(grep -m1 upgraded <<<"$said" || topo_log_tail "$log")" \
	test "$(version_of)" = 3 -a -n "$(grep 'of layout 2 upgraded to 3' <<<"$said")"
entries=$(bpftool -j map show pinned "$bpffs/drops" | jq .max_entries)
check layout_version/layout_2_drops_replaced "drops: $entries entries for $n_reasons reasons" \
	test "$entries" -eq "$((2 * n_reasons))"
check layout_version/layout_2_ct_kept "ct4 map id $(bpftool -j map show pinned "$bpffs/ct4" | jq .id), $ct_id before" \
	test "$(bpftool -j map show pinned "$bpffs/ct4" | jq .id)" = "$ct_id"
out=$(topo_probe client --tcp "$SL_VIP:80" -n 4 || true)
check layout_version/serving_after "$(show_output "$out")" test "$(count_errors "$out")" = 0

# A pin of counters from a build with fewer drop reasons (as before DROP_CT_CLASH): the agent
# replaces it with one of its own size instead of refusing to start, and counting goes on.
topo_agent_stop n1 TERM
rm -f "$bpffs/drops"
bpftool map create "$bpffs/drops" type percpu_array key 4 value 16 entries 5 name drops
topo_agent_restart n1
entries=$(bpftool -j map show pinned "$bpffs/drops" | jq .max_entries)
check layout_version/drops_counters_resized "drops has $entries entries; log: $(topo_log_tail "$log")" \
	test "$entries" -gt 5
out=$(topo_cli n1 drops 2>&1 || true)
check layout_version/drops_readable "$out" grep -q "policy denied ingress" <<<"$out"
out=$(topo_probe client --tcp "$SL_VIP:80" -n 4 || true)
check layout_version/serving_after_resize "$(show_output "$out")" test "$(count_errors "$out")" = 0

topo_finish
