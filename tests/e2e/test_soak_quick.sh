#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The soak's smoke test: bench/soak.sh --quick (500 random Service and endpoint changes, SIGKILL
# and restart of the agent, a small conntrack flood, under 32 busy and 8 idle held connections)
# writes its counts, and the ones today's code must hold do: every change is in force afterwards
# (service list, probes to every Service, endpoint list) and the checker finds a planted
# difference; no connection, busy or idle, whose backend stayed was lost during the changes or
# the restart, or the flood, and requests were answered in all three; the flood did fill the
# conntrack table (else the last says nothing). No timing is checked.
set -euo pipefail
# shellcheck source=tests/e2e/smoke_lib.sh
. "$(dirname "$0")/smoke_lib.sh"
smoke_init soak_quick

# check NAME JQ-CONDITION WHY: PASS when the condition holds on soak.json.
check() {
	if jq -e "$2" "$json" >/dev/null 2>&1; then pass "soak_quick/$1"; else fail "soak_quick/$1" "$3"; fi
}

smoke_run bench/soak.sh --quick --out "$out"
json=$out/soak.json
if ((rc != 0)) || [[ ! -s $json ]]; then
	((rc != 0)) || fail soak_quick/soak_json "bench/soak.sh exited 0 without writing $json"
	exit 1
fi

# phase PHASE [phases|phases_idle]: the jq path of a phase's counts (busy or idle connections).
phase() { echo ".${2:-phases}[] | select(.phase == \"$1\")"; }
check changes_applied '.changes.applied == 500 and .restart.changes_while_dead > 0' \
	"$(jq -c '{applied: .changes.applied, while_dead: .restart.changes_while_dead}' "$json")"
check in_force '.final.in_force and .final.differing_lines == 0 and .final.services_misrouted == 0
	and .final.endpoints_missing == 0 and .final.services_probed > 0' \
	"not every change in force: $(jq -c .final "$json")"
check checker_finds_planted '.final.checker_self_test' "a planted backend went unnoticed by the check"
for p in changes restart flood; do
	for class in phases phases_idle; do
		name=$p${class#phases}
		check "$name/no_stayed_connection_lost" \
			"[$(phase "$p" "$class") | .stayed_lost == 0 and .held > 0] == [true]" \
			"$(jq -c "$(phase "$p" "$class")" "$json")"
		check "$name/requests_answered" "[$(phase "$p" "$class") | .answered > 0] == [true]" \
			"$(jq -c "$(phase "$p" "$class")" "$json")"
	done
done
check flood_filled_conntrack '.flood.ran and .flood.ct_entries_after * 10 >= .ct_size * 8' \
	"the flood did not fill conntrack: $(jq -c '{flood, ct_size}' "$json")"
if ((failed)); then
	head -n 20 "$out/logs/final-diff.txt" "$out/table.txt" 2>/dev/null | quote
fi
exit "$failed"
