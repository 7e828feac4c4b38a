#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A whole cluster's dump as one manifest file: `kubectl get services,endpointslices -A -o yaml`
# (one List, items before kind, as sluice-kpgen --format list writes it) of SL_DUMP_SERVICES
# Services (default 2,500: 5,000 objects and ~4.9 MB, over both of the old per-file bounds of
# 4,096 objects and 4 MiB) loads whole, and services across it reach their backends; a syntax
# error deep in it refuses the file whole, naming its line, and the loaded state keeps serving (a
# change before the error is not applied); a dump as JSON (`-o json`, 200 Services: converting
# with PyYAML is slow) replaces it.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

N=${SL_DUMP_SERVICES:-2500}
N_JSON=200
KPGEN=${KPGEN:-$BUILD_DIR/sluice-kpgen}
# Bounds a hang, times nothing: the ASan agent parses a big file slowly on a loaded machine.
DUMP_TIMEOUT=${SL_DUMP_TIMEOUT:-300}
VIP_FIRST=10.96.0.16 # service 0 of sluice-kpgen's set; service I is this + I

topo_init manifest_dump
topo_require_all
topo_require "$KPGEN"
topo_node n1 10.244.1.0/24
mkdir -p "$TOPO_DIR/manifests"
topo_agent n1 "$TOPO_DIR/manifests"
topo_pod n1 client
topo_pod n1 be-1
topo_pod n1 be-2
topo_echo be-1
topo_echo be-2
dump=$TOPO_DIR/manifests/cluster.yaml
log=${TOPO_AGENT_LOG[n1]}

vip_of() {
	local i=$(($1 + 16))
	echo "10.96.$((i / 256)).$((i % 256))"
}

service_count() {
	topo_cli n1 service list -o json 2>/dev/null | jq '.services | length' 2>/dev/null || echo -1
}

# wait_services N: until the agent serves N frontends (bounded by DUMP_TIMEOUT).
# shellcheck disable=SC2317 # called through check
wait_services() {
	local want=$1 got deadline=$((SECONDS + DUMP_TIMEOUT))
	while got=$(service_count) && [[ $got != "$want" ]]; do
		if ((SECONDS >= deadline)); then
			info "service list: $got frontends, wanted $want"
			return 1
		fi
		sleep 1
	done
}

# port_81 FILE: the dump with service 0's port 80 made 81 (the first Service port in it).
port_81() {
	awk '!done && /^      port: 80$/ { sub(/80$/, "81"); done = 1 } { print }' "$1"
}

# reaches NAME VIP: 10 connections to VIP:80 all answered by be-1 and be-2.
reaches() {
	local name=$1 vip=$2 out
	out=$(topo_probe client --tcp "$vip:80" -n 30 --timeout-ms 2000 || true)
	check "$name" "$vip:80: $(tally "$out")" \
		test "$(count_errors "$out")" -eq 0 -a "$(count_from be-1 "$out")" -gt 0 -a \
		"$(count_from be-2 "$out")" -gt 0
}

"$KPGEN" --services "$N" --endpoints "$(topo_pod_ip be-1),$(topo_pod_ip be-2)" --format list \
	--node n1 >"$TOPO_DIR/dump.yaml"
info "dump: $N services, $(grep -c '^- ' "$TOPO_DIR/dump.yaml") items, $(wc -c <"$TOPO_DIR/dump.yaml") bytes"
write_file "$dump" <"$TOPO_DIR/dump.yaml"

# 1. The List loads whole, and services at its start, middle and end serve.
check manifest_dump/all_services_loaded "service list: $(service_count) frontends, want $N: $(topo_log_tail "$log")" \
	wait_services "$N"
for i in 0 $((N / 2 - 1)) $((N - 1)); do
	reaches "manifest_dump/service_${i}_reaches_backends" "$(vip_of "$i")"
	got=$(service_backends n1 "$(vip_of "$i")" 80)
	check "manifest_dump/service_${i}_listed" "service list: $(vip_of "$i"):80 has $got backends, want 2" \
		test "$got" = 2
done

# 2. Service 0's port changed, then a syntax error past the middle: refused whole, with its line.
total=$(wc -l <"$TOPO_DIR/dump.yaml")
bad_line=$((total * 2 / 3))
from=$(($(wc -l <"$log") + 1))
port_81 "$TOPO_DIR/dump.yaml" | awk -v bad="$bad_line" 'NR == bad { print "- {kind: [Service" } { print }' |
	write_file "$dump"
deadline=$((SECONDS + DUMP_TIMEOUT))
line=
while [[ -z $line ]] && ((SECONDS < deadline)); do
	line=$(tail -n "+$from" "$log" | grep -m1 -E 'cluster\.yaml:[0-9]+: yaml: .*keeping the file.s last good version' || true)
	[[ -n $line ]] || sleep 1
done
info "agent: $line"
at=$(sed -nE 's/.*cluster\.yaml:([0-9]+): yaml: .*/\1/p' <<<"$line")
check manifest_dump/syntax_error_names_line "no refusal naming a line at $bad_line-$((bad_line + 1)): '$line'" \
	test -n "$at" -a "${at:-0}" -ge "$bad_line" -a "${at:-0}" -le "$((bad_line + 1))"
check manifest_dump/syntax_error_keeps_all "service list: $(service_count) frontends, want $N" \
	test "$(service_count)" = "$N"
check manifest_dump/syntax_error_applies_nothing "service 0 moved to port 81 from the refused file" \
	test "$(service_backends n1 "$VIP_FIRST" 81)" = -1
reaches manifest_dump/syntax_error_still_serving "$VIP_FIRST"

# 3. A dump as `kubectl get -o json` prints it, with service 0's port changed, replaces it.
"$KPGEN" --services "$N_JSON" --endpoints "$(topo_pod_ip be-1),$(topo_pod_ip be-2)" --format list \
	--node n1 >"$TOPO_DIR/small.yaml"
port_81 "$TOPO_DIR/small.yaml" |
	python3 -c 'import json, sys, yaml
json.dump(yaml.load(sys.stdin, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), sys.stdout, indent=4)' \
		>"$TOPO_DIR/dump.json"
write_file "$dump" <"$TOPO_DIR/dump.json"
deadline=$((SECONDS + DUMP_TIMEOUT))
while [[ $(service_backends n1 "$VIP_FIRST" 81) != 2 ]] && ((SECONDS < deadline)); do
	sleep 1
done
check manifest_dump/json_applied "service list: $VIP_FIRST:81 has $(service_backends n1 "$VIP_FIRST" 81) backends, want 2" \
	test "$(service_backends n1 "$VIP_FIRST" 81)" = 2
check manifest_dump/json_replaces_all "service list: $(service_count) frontends, want $N_JSON" \
	test "$(service_count)" = "$N_JSON"
reaches manifest_dump/json_serves "$(vip_of $((N_JSON - 1)))"

topo_finish
