#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An invalid manifest (a field out of range, a YAML syntax error) is reported with its file and
# field, and the last good state keeps serving; so does a directory with too many files.
# shellcheck disable=SC2001 # sed on a whole manifest reads better than ${//}
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init invalid_manifest
topo_standard
svc_file=$TOPO_DIR/manifests/web-service.yaml
good=$(cat "$svc_file")
log=${TOPO_AGENT_LOG[n1]}

# wait_log FROM_LINE REGEX...: until the agent log, from FROM_LINE on, has a line matching all.
wait_log() {
	local from=$1 deadline line
	shift
	deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	while ((SECONDS < deadline)); do
		while IFS= read -r line; do
			local re ok=1
			for re in "$@"; do
				grep -qE -- "$re" <<<"$line" || ok=0
			done
			if ((ok)); then
				echo "$line"
				return 0
			fi
		done < <(tail -n "+$from" "$log")
		sleep 0.2
	done
	return 1
}

still_serving() {
	local name=$1 out
	out=$(topo_probe client --tcp "$SL_VIP:80" -n 20 || true)
	check "$name" "tally $(tally "$out")" \
		test "$(count_errors "$out")" -eq 0 -a "$(count_from web-1 "$out")" -gt 0 -a "$(count_from web-2 "$out")" -gt 0
}

# 1. A port out of range.
from=$(($(wc -l <"$log") + 1))
sed 's/port: 80$/port: 70000/' <<<"$good" | write_file "$svc_file"
if line=$(wait_log "$from" 'web-service\.yaml' '70000|port'); then
	info "agent: $line"
	pass invalid_manifest/port_out_of_range_reported
else
	fail invalid_manifest/port_out_of_range_reported "no log line naming web-service.yaml and the port within ${SL_SYNC_TIMEOUT}s: $(tail -n "+$from" "$log" | tr '\n' '|' | cut -c1-400)"
fi
still_serving invalid_manifest/port_out_of_range_still_serving
got=$(service_backends n1 "$SL_VIP" 80)
check invalid_manifest/port_out_of_range_service_kept "service list: $got backends, want 2" test "$got" = 2
rejected=$(topo_cli n1 status -o json 2>/dev/null | jq -r '.agent.rejected_objects // "none"' || true)
check invalid_manifest/port_out_of_range_counted "sluice status agent.rejected_objects: $rejected, want 1" \
	test "$rejected" = 1

# 2. A YAML syntax error.
from=$(($(wc -l <"$log") + 1))
printf '%s\n  - [unclosed\n    : : bad\n' "$good" | write_file "$svc_file"
if line=$(wait_log "$from" 'web-service\.yaml'); then
	info "agent: $line"
	pass invalid_manifest/yaml_syntax_reported
else
	fail invalid_manifest/yaml_syntax_reported "no log line naming web-service.yaml within ${SL_SYNC_TIMEOUT}s: $(tail -n "+$from" "$log" | tr '\n' '|' | cut -c1-400)"
fi
still_serving invalid_manifest/yaml_syntax_still_serving

# 3. Fixed again: a change made after the error is applied (the agent did not get stuck).
from=$(($(wc -l <"$log") + 1))
sed 's/port: 80$/port: 81/' <<<"$good" | write_file "$svc_file"
if wait_service_backends n1 "$SL_VIP" 81 2; then
	out=$(topo_probe client --tcp "$SL_VIP:81" -n 5 || true)
	check invalid_manifest/recovers_after_fix "port 81 after the fix: $(tally "$out")" test "$(count_errors "$out")" -eq 0
else
	fail invalid_manifest/recovers_after_fix "port 81 not applied within ${SL_SYNC_TIMEOUT}s"
fi

# 4. More files than a directory may hold (65,536): the directory is refused whole, naming the
#    limit, and nothing is withdrawn (keeping the first files by name would drop web's, which
#    sort after these); once they are gone a change applies again.
from=$(($(wc -l <"$log") + 1))
(cd "$TOPO_DIR/manifests" && seq -f 'a-%05g.yaml' 0 65536 | xargs touch)
if line=$(wait_log "$from" 'more than 65536 .*files'); then
	info "agent: $line"
	pass invalid_manifest/too_many_files_reported
else
	fail invalid_manifest/too_many_files_reported "no log line naming the 65536-file limit within ${SL_SYNC_TIMEOUT}s: $(tail -n "+$from" "$log" | tr '\n' '|' | cut -c1-400)"
fi
got=$(service_backends n1 "$SL_VIP" 81)
check invalid_manifest/too_many_files_service_kept "service list: $got backends on port 81, want 2" test "$got" = 2
find "$TOPO_DIR/manifests" -name 'a-*.yaml' -delete
sed 's/port: 80$/port: 82/' <<<"$good" | write_file "$svc_file"
if wait_service_backends n1 "$SL_VIP" 82 2; then
	pass invalid_manifest/too_many_files_recovers
else
	fail invalid_manifest/too_many_files_recovers "port 82 not applied within ${SL_SYNC_TIMEOUT}s after the extra files went"
fi

topo_finish
