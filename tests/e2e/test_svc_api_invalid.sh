#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bad input from the API server: a good Service carries traffic, then versions of it with a port
# of 70000, a bad clusterIP, an unknown protocol and a duplicate port name arrive as watch
# events. Each is refused with a log line naming the source, namespace/name and field, counted
# in `sluice status -o json` (agent.rejected_objects), and the previous good version keeps
# serving; a second invalid Service counts too; a valid version clears the count.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init svc_api_invalid
topo_require_all
topo_node n1 10.244.1.0/24
topo_apiserver n1 "$SL_ROOT/tests/e2e/fixtures/services"
topo_agent n1 "$TOPO_DIR/manifests" --kubeconfig "$TOPO_KUBECONFIG"
topo_pod n1 client
topo_pod n1 web-1
topo_echo web-1 --tcp 8080
VIP=10.96.5.10
LOG=${TOPO_AGENT_LOG[n1]}

# service NAME CLUSTER-IP PORTS-YAML: a Service (no slice).
service() {
	api_apply <<EOF
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  clusterIP: $2
  selector: {app: $1}
  ports:
$3
EOF
}
GOOD_PORTS='  - {name: http, protocol: TCP, port: 80, targetPort: 8080}'
service web "$VIP" "$GOOD_PORTS"
api_slice_yaml web "$(slice_endpoint web-1)" | api_apply
wait_service_backends n1 "$VIP" 80 1 ||
	topo_fatal "service web not programmed: $(topo_log_tail "$LOG")"

rejected() { topo_cli n1 status -o json | jq -r '.agent.rejected_objects'; }
# wait_log PATTERN: until the agent log has a line matching PATTERN (bounded); prints it.
wait_log() {
	local deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	until grep -E -m1 -- "$1" "$LOG"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}
# wait_rejected N: until status shows N rejected objects (bounded).
wait_rejected() {
	local deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	until [[ $(rejected) == "$1" ]]; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}
# shellcheck disable=SC2317 # called through check
serves() {
	local out
	out=$(topo_probe client --tcp "$VIP:80" -n 5 --timeout-ms 2000 || true)
	[[ $(tally "$out") == "web-1=5 " ]] || {
		show_output "$out"
		return 1
	}
}
check svc_api_invalid/good_serves "no answer from web-1" serves
check svc_api_invalid/none_rejected "rejected_objects $(rejected)" test "$(rejected)" = 0

# invalid NAME FIELD-PATTERN CLUSTER-IP PORTS-YAML: apply a bad version of web and check it all.
invalid() {
	local name=$1 field=$2 line
	# From a clean count, so each refusal is counted on its own.
	service web "$VIP" "$GOOD_PORTS"
	wait_rejected 0 || info "rejected_objects $(rejected) before $name, wanted 0"
	service web "$3" "$4"
	if line=$(wait_log "api: Service default/web: $field"); then
		pass "svc_api_invalid/${name}_logged"
		info "$line"
	else
		fail "svc_api_invalid/${name}_logged" "no line naming Service default/web and $field: $(topo_log_tail "$LOG")"
	fi
	check "svc_api_invalid/${name}_counted" "rejected_objects $(rejected), wanted 1" wait_rejected 1
	check "svc_api_invalid/${name}_old_version_serves" "the last good version of web stopped serving" serves
	check "svc_api_invalid/${name}_frontend_kept" "frontends on $VIP: $(service_backends n1 "$VIP" 80)" \
		test "$(service_backends n1 "$VIP" 80)" = 1
}
invalid port_range 'spec\.ports\[0\]\.port.*70000' "$VIP" \
	'  - {name: http, protocol: TCP, port: 70000, targetPort: 8080}'
invalid bad_ip 'spec\.clusterIP.*10\.96\.5\.300' 10.96.5.300 "$GOOD_PORTS"
invalid protocol 'spec\.ports\[0\]\.protocol.*ICMP' "$VIP" \
	'  - {name: http, protocol: ICMP, port: 80, targetPort: 8080}'
invalid duplicate_name 'spec\.ports\[1\]\.name.*http' "$VIP" "$GOOD_PORTS
  - {name: http, protocol: TCP, port: 81, targetPort: 8081}"

# A second invalid object counts separately; a valid version of web clears its own.
service other 10.96.5.11 '  - {name: http, protocol: TCP, port: 0, targetPort: 8080}'
check svc_api_invalid/second_object_counted "rejected_objects $(rejected), wanted 2" wait_rejected 2
service web "$VIP" "$GOOD_PORTS
  - {name: alt, protocol: TCP, port: 81, targetPort: 8080}"
check svc_api_invalid/fixed_uncounted "rejected_objects $(rejected), wanted 1" wait_rejected 1
check svc_api_invalid/fixed_applied "port 81 of the fixed web not programmed" \
	wait_service_backends n1 "$VIP" 81 1
check svc_api_invalid/agent_alive "agent exited: $(topo_log_tail "$LOG")" kill -0 "${TOPO_AGENT_PID[n1]}"

topo_finish
