#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Flow events (issue 15): an intruder's connection denied by a NetworkPolicy shows in
# `sluice observe -o json` within a second, with the pods' names, the reason and the policy whose
# default deny decided it; a client's connection through a Service shows translated, with the
# Service and the backend pod chosen; two readers following at once both see the same events;
# --since and the filters (--verdict, --pod, --namespace, --service, --reason) select what they
# say; --trace on tells established packets too, --trace off stops it.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init observe
topo_require_all
VIP=10.96.0.60
EMPTY_VIP=10.96.0.61
topo_node n1 10.244.1.0/24
topo_agent n1 "$TOPO_DIR/manifests"
topo_pod n1 web
topo_pod n1 client
topo_pod n1 intruder
topo_echo web --tcp 8080
web=$(topo_pod_ip web)

{
	manifest_pod web "app: web"
	manifest_pod client "app: client"
	manifest_pod intruder "app: intruder"
	echo "---"
	manifest_service web "$VIP" 80:8080/TCP
	echo "---"
	manifest_slice web 80:8080/TCP web
	echo "---"
	manifest_service empty "$EMPTY_VIP" 80:8080/TCP
	cat <<YAML
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080}]
YAML
} | write_file "$TOPO_DIR/manifests/all.yaml"

policy_ready() {
	topo_cli n1 policy list default/web -o json 2>/dev/null |
		jq -e '.endpoints[0].ingress_isolated and (.endpoints[0].rules | length > 0)' >/dev/null
}
wait_until policy_ready || topo_fatal "policy not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
wait_service_backends n1 "$VIP" 80 1 ||
	topo_fatal "service not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"

# Two readers following from now on, as two people would.
observe_follow() { # FILE
	timeout 60 nsenter --net="/var/run/netns/$(topo_ns_node n1)" -- \
		"$SLUICE" --bpffs "$(topo_node_bpffs n1)" observe -f -o json >"$1" 2>&1 &
	TOPO_PIDS+=("$!")
}
observe_follow "$TOPO_DIR/follow1.json"
observe_follow "$TOPO_DIR/follow2.json"
sleep 0.5

drop_filter='select(.verdict == "DROPPED" and .source == "default/intruder" and .destination == "default/web")'
out=$(topo_probe intruder --tcp "$web:8080" -n 1 --timeout-ms 500 || true)
t0=$(date +%s.%N)
check observe/intruder_denied "intruder -> web: $(tally "$out")" test "$(count_errors "$out")" -eq 1
# How long a follower takes to print it (the probe has ended: the drop is older than that).
follower_has_drop() { grep '^{"time"' "$TOPO_DIR/follow1.json" | jq -e -s "[.[] | $drop_filter] | length > 0" >/dev/null; }
wait_until follower_has_drop || true
t1=$(date +%s.%N)
check observe/drop_within_a_second "a follower printed it $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s after the probe ended" \
	awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 1.0) }'
has_drop() { topo_cli n1 observe -o json 2>/dev/null | jq -e -s "[.[] | $drop_filter] | length > 0" >/dev/null; }
wait_until has_drop || true
json=$(topo_cli n1 observe -o json 2>/dev/null || true)
drop=$(jq -c -s "[.[] | $drop_filter] | first" <<<"$json")
info "drop: $drop"
check observe/drop_shown "observe shows the intruder's drop" jq -e '. != null' <<<"$drop"
check observe/drop_fields "reason, policy, direction, ports" \
	jq -e '.reason == "policy denied ingress" and .policy == "default deny of default/web-from-client"
	       and .policy_direction == "ingress" and .destination_port == 8080 and .protocol == "TCP"
	       and .event == "drop" and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))' <<<"$drop"

out=$(topo_probe client --tcp "$VIP:80" -n 2 --timeout-ms 1000 || true)
check observe/client_allowed "client -> $VIP:80: $(tally "$out")" test "$(count_from web "$out")" -eq 2
xlate_filter='select(.verdict == "TRANSLATED" and .source == "default/client" and .destination_ip == "'$VIP'")'
has_xlate() { topo_cli n1 observe -o json 2>/dev/null | jq -e -s "[.[] | $xlate_filter] | length >= 2" >/dev/null; }
wait_until has_xlate || true
xlate=$(topo_cli n1 observe -o json 2>/dev/null | jq -c -s "[.[] | $xlate_filter] | first")
info "translated: $xlate"
check observe/service_backend "Service and backend of the client's flow" \
	jq -e --arg web "$web" '(.service | startswith("default/web:")) and .backend == "default/web"
	      and .backend_ip == $web and .backend_port == 8080 and .destination_port == 80' <<<"$xlate"

# A Service without endpoints: the client is answered port unreachable, told as a reject.
out=$(topo_probe client --tcp "$EMPTY_VIP:80" -n 1 --timeout-ms 1000 || true)
check observe/empty_refused "client -> $EMPTY_VIP:80 (no endpoints): $(tally "$out")" test "$(count_errors "$out")" -eq 1
reject_filter='select(.verdict == "DROPPED" and .rejected == true and .source == "default/client")'
has_reject() { topo_cli n1 observe -o json 2>/dev/null | jq -e -s "[.[] | $reject_filter] | length > 0" >/dev/null; }
wait_until has_reject || true
reject=$(topo_cli n1 observe -o json 2>/dev/null | jq -c -s "[.[] | $reject_filter] | first")
info "reject: $reject"
check observe/reject_shown "the reject, with its Service" \
	jq -e '.reason == "no service backend" and (.service | startswith("default/empty:"))' <<<"$reject"

# Both followers saw the same drop and the same flows.
followers_have() {
	for f in "$TOPO_DIR/follow1.json" "$TOPO_DIR/follow2.json"; do
		jq -e -s "([.[] | $drop_filter] | length) >= 1 and ([.[] | $xlate_filter] | length) >= 2" \
			<(grep '^{"time"' "$f") >/dev/null || return 1
	done
}
wait_until followers_have || true
check observe/two_readers "both followers: $(grep -c '"verdict"' "$TOPO_DIR/follow1.json") and $(grep -c '"verdict"' "$TOPO_DIR/follow2.json") events" \
	followers_have
key='[.[] | select(.verdict) | "\(.time) \(.verdict) \(.source_port)"] | sort'
check observe/two_readers_same "both followers saw the same events" \
	test "$(grep '^{"time"' "$TOPO_DIR/follow1.json" | jq -s -c "$key")" = \
	"$(grep '^{"time"' "$TOPO_DIR/follow2.json" | jq -s -c "$key")"

# Filters.
verdicts=$(topo_cli n1 observe -o json --verdict dropped | jq -r -s '[.[] | select(.verdict) | .verdict] | unique | join(",")')
check observe/filter_verdict "--verdict dropped: $verdicts" test "$verdicts" = DROPPED
pods=$(topo_cli n1 observe -o json --pod default/intruder |
	jq -r -s '[.[] | select(.verdict) | .source] | unique | join(",")')
check observe/filter_pod "--pod default/intruder: sources $pods" test "$pods" = default/intruder
services=$(topo_cli n1 observe -o json --service default/web |
	jq -r -s '[.[] | select(.verdict) | .service // "none" | split(":")[0]] | unique | join(",")')
check observe/filter_service "--service default/web: $services" test "$services" = default/web
reasons=$(topo_cli n1 observe -o json --reason "policy denied" |
	jq -r -s '[.[] | select(.verdict) | .reason] | unique | join(",")')
check observe/filter_reason "--reason 'policy denied': $reasons" test "$reasons" = "policy denied ingress"
n=$(topo_cli n1 observe -o json --namespace kube-system | jq -s '[.[] | select(.verdict)] | length')
check observe/filter_namespace "--namespace kube-system: $n events" test "$n" -eq 0
n=$(topo_cli n1 observe -o json --namespace default | jq -s '[.[] | select(.verdict)] | length')
check observe/filter_namespace_default "--namespace default: $n events" test "$n" -ge 3

# --since: events older than it are left out, newer ones shown.
sleep 4
n=$(topo_cli n1 observe -o json --since 2s --pod default/intruder | jq -s '[.[] | select(.verdict)] | length')
check observe/since_old "--since 2s, 4 s after the drop: $n events" test "$n" -eq 0
topo_probe intruder --tcp "$web:8080" -n 1 --timeout-ms 300 >/dev/null || true
n=$(topo_cli n1 observe -o json --since 3s --pod default/intruder | jq -s '[.[] | select(.verdict == "DROPPED")] | length')
check observe/since_new "--since 3s after a new drop: $n events" test "$n" -ge 1

# --trace on: packets of established flows are told too, in every program (the pinned switch
# all of them read); --trace off ends it.
trace_count() { # SINCE: trace events of the client's flows to the VIP
	topo_cli n1 observe -o json --since "$1" 2>/dev/null |
		jq -s --arg vip "$VIP" --arg web "$web" '[.[] | select(.event == "trace"
			and (.destination_ip == $vip or .source_ip == $web))] | length'
}
out=$(topo_cli n1 observe --trace on 2>&1 || true)
check observe/trace_on "--trace on: $out" test "$out" = "tracing of established flows on"
topo_probe client --tcp "$VIP:80" -n 2 --timeout-ms 1000 >/dev/null || true
has_trace() { (($(trace_count 5s) > 0)); }
wait_until has_trace || true
traced=$(topo_cli n1 observe -o json --since 5s 2>/dev/null | jq -c -s '[.[] | select(.event == "trace")] | first')
info "traced: $traced"
check observe/trace_established "established packets traced: $(trace_count 5s)" \
	jq -e '.verdict == "FORWARDED" and .protocol == "TCP"' <<<"$traced"
topo_cli n1 observe --trace off >/dev/null
sleep 1.1
topo_probe client --tcp "$VIP:80" -n 2 --timeout-ms 1000 >/dev/null || true
sleep 0.5
n=$(trace_count 1s)
check observe/trace_off "--trace off: $n traced since" test "$n" -eq 0

lost=$(topo_cli n1 observe -o json --since 1s | jq -c -s '[.[] | select(.lost)] | first')
check observe/lost_line "the stream ends with the lost counts: $lost" \
	jq -e '.lost.ring_full == 0 and (.lost.rate_limited | type == "number") and .lost.reader == 0' <<<"$lost"
topo_cli n1 observe --pod default/intruder >&2 || true
topo_finish
