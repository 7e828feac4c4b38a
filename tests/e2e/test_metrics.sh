#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prometheus metrics on --metrics-addr (default 0.0.0.0:9962): the text exposition format 0.0.4
# at GET /metrics, valid by `promtool check metrics`; the figures equal what `sluice drops`,
# `sluice status` and the traffic say (a Service flow counted as service_new and under its
# Service port in sluice_service_new_flows_total, a denied ping as a policy_ingress drop in the
# ingress direction, conntrack entries, the pods' addresses in use); a real Prometheus server
# (Debian's prometheus package) scrapes the agent and returns the drop and per-Service counters
# through its HTTP API; --metrics-service-top bounds the per-Service series (1: the busiest
# port only; 0: none); --metrics-addr "" closes the port. Needs curl, jq, ping, promtool and
# prometheus.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init metrics
for tool in promtool prometheus ping; do
	command -v "$tool" >/dev/null || topo_fatal "$tool is not installed (tests/deps.sh installs it)"
done
topo_standard
web1=$(topo_pod_ip web-1)
{
	manifest_pod client "app: client"
	manifest_pod web-1 "app: web"
	manifest_pod web-2 "app: web"
} | write_file "$TOPO_DIR/manifests/pods.yaml"

# get PATH [HOST:PORT]: "BODY CODE" of GET inside n1 (the agent's node namespace).
get() {
	topo_in_node n1 curl -sS -m 5 -o - -w ' %{http_code}' "http://${2:-127.0.0.1:9962}$1" 2>&1 || true
}
scrape() { topo_in_node n1 curl -sf -m 5 http://127.0.0.1:9962/metrics; }
# metric TEXT SERIES: the value of the series named exactly SERIES (name{labels}) in TEXT.
metric() { awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print "none" }' <<<"$1"; }
# denied_ingress_cli [FIELD]: policy_ingress drops in `sluice drops -o json` (packets, or FIELD).
denied_ingress_cli() {
	topo_cli n1 drops -o json | jq -r --arg f "${1:-packets}" '.drops[] | select(.name == "policy denied ingress") | .[$f]'
}
WEB80='sluice_service_new_flows_total{namespace="default",name="web",port="tcp-80"}'
WEB8000='sluice_service_new_flows_total{namespace="default",name="web",port="tcp-8000"}'
# count_of TEXT SERIES: metric, with an absent series as 0.
count_of() { local v; v=$(metric "$1" "$2"); [[ $v == none ]] && echo 0 || echo "$v"; }

# 1. The page: status, content type, and promtool's verdict on the format and its conventions.
headers=$(topo_in_node n1 curl -sS -m 5 -D - -o /dev/null http://127.0.0.1:9962/metrics 2>&1 || true)
check metrics/http_200 "GET /metrics: $(head -1 <<<"$headers")" grep -q '^HTTP/1.1 200' <<<"$headers"
check metrics/content_type "Content-Type 0.0.4" \
	grep -qi '^Content-Type: text/plain; version=0.0.4' <<<"$headers"
page=$(scrape)
lint=$(promtool check metrics <<<"$page" 2>&1) && rc=0 || rc=$?
check metrics/promtool_check "promtool check metrics: rc $rc ${lint:0:400}" test "$rc" -eq 0
r=$(get /other)
check metrics/other_path_404 "GET /other: ${r##* }" test "${r##* }" = 404

# 2. Traffic through the Service is counted as new service flows, its conntrack entries seen.
before=$(metric "$page" 'sluice_packets_total{outcome="service_new"}')
web_before=$(count_of "$page" "$WEB80")
out=$(topo_probe client --tcp "$SL_VIP:80" -n 6 2>&1 || true)
check metrics/service_traffic "6 connections to the VIP: $(tally "$out")" test "$(count_errors "$out")" -eq 0
out=$(topo_probe client --tcp "$SL_VIP:8000" -n 2 2>&1 || true)
check metrics/service_traffic_8000 "2 connections to the VIP's port 8000: $(tally "$out")" \
	test "$(count_errors "$out")" -eq 0
page=$(scrape)
after=$(metric "$page" 'sluice_packets_total{outcome="service_new"}')
check metrics/service_new_counted "service_new $before -> $after" test "$after" -ge "$((before + 8))"
# Per Service port: web's tcp-80 counted its 6 new flows, tcp-8000 its 2, udp-53 none (no series).
web_after=$(count_of "$page" "$WEB80")
check metrics/service_new_flows_per_port "$WEB80 $web_before -> $web_after" \
	test "$((web_after - web_before))" -eq 6
check metrics/service_new_flows_other_port "$WEB8000 $(metric "$page" "$WEB8000")" \
	test "$(metric "$page" "$WEB8000")" = 2
check metrics/service_new_flows_no_traffic_no_series "udp-53 listed: $(grep -c 'port="udp-53"' <<<"$page")" \
	test "$(grep -c 'port="udp-53"' <<<"$page")" -eq 0
# Map fill is counted by walking the maps, at most once per METRICS_MAP_COUNT_TTL_MS (5 s).
deadline=$((SECONDS + 15))
while [[ $(metric "$(scrape)" sluice_conntrack_entries) == 0 ]] && ((SECONDS < deadline)); do sleep 1; done
page=$(scrape)
check metrics/conntrack_entries "sluice_conntrack_entries $(metric "$page" sluice_conntrack_entries)" \
	test "$(metric "$page" sluice_conntrack_entries)" -gt 0
ct_max=$(topo_cli n1 status -o json | jq -r '.conntrack.max_entries')
check metrics/conntrack_max "max $(metric "$page" sluice_conntrack_max_entries) = status $ct_max" \
	test "$(metric "$page" sluice_conntrack_max_entries)" = "$ct_max"
check metrics/ipam_in_use "addresses in use $(metric "$page" sluice_ipam_addresses_in_use) (3 pods)" \
	test "$(metric "$page" sluice_ipam_addresses_in_use)" = 3
check metrics/frontends "sluice_frontends $(metric "$page" sluice_frontends)" \
	test "$(metric "$page" sluice_frontends)" -ge 1
check metrics/sync_histogram "sync count $(metric "$page" sluice_sync_duration_seconds_count)" \
	test "$(metric "$page" sluice_sync_duration_seconds_count)" -ge 1
check metrics/map_pressure_ct4 "sluice_map_entries{map=\"ct4\"} listed" \
	grep -q '^sluice_map_fill_ratio{map="ct4"} ' <<<"$page"

# 3. A denied ping: the policy_ingress drop counter equals `sluice drops`.
cat <<EOF | write_file "$TOPO_DIR/manifests/policy.yaml"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-deny-all, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
EOF
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until topo_cli n1 policy list default/web-1 -o json 2>/dev/null | jq -e '.endpoints[0].ingress_isolated' >/dev/null; do
	((SECONDS < deadline)) || topo_fatal "policy not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
	sleep 0.2
done
topo_in_pod client ping -n -c 3 -i 0.2 -W 1 "$web1" >/dev/null 2>&1 || true
cli=$(denied_ingress_cli)
cli_in=$(denied_ingress_cli ingress_packets)
cli_out=$(denied_ingress_cli egress_packets)
page=$(scrape)
m=$(metric "$page" 'sluice_drops_total{reason="policy_ingress",direction="ingress"}')
m_out=$(metric "$page" 'sluice_drops_total{reason="policy_ingress",direction="egress"}')
check metrics/drops_equal_cli "policy_ingress: metrics $m, sluice drops $cli" test "$m" = "$cli"
check metrics/drops_counted "policy_ingress $m >= 3" test "$m" -ge 3
# web-1's ingress policy denied what client sent: web-1's ingress, on either side the same figure.
check metrics/drops_direction_cli "sluice drops: ingress $cli_in, egress $cli_out of $cli" \
	test "$cli_in" = "$cli" -a "$cli_out" = 0
check metrics/drops_direction_metric "policy_ingress egress series: $m_out" test "$m_out" = 0
# Every reason in both directions, and nothing else.
n_reasons=$(topo_cli n1 drops -o json | jq '.drops | length')
n_series=$(grep -c '^sluice_drops_total{reason="[a-z0-9_]*",direction="\(ingress\|egress\)"} ' <<<"$page" || true)
check metrics/drops_every_direction "$n_series series for $n_reasons reasons" \
	test "$n_series" -eq "$((2 * n_reasons))" -a "$(grep -c '^sluice_drops_total{' <<<"$page")" -eq "$n_series"
# The page with every family filled (per-Service series included) still passes promtool.
lint=$(promtool check metrics <<<"$page" 2>&1) && rc=0 || rc=$?
check metrics/promtool_check_with_traffic "promtool check metrics: rc $rc ${lint:0:400}" \
	test "$rc" -eq 0 -a "$(grep -c '^sluice_service_new_flows_total{' <<<"$page")" -ge 2

# 4. A real Prometheus scrapes the agent every second; its API returns the same counter.
prom_dir="$TOPO_DIR/prometheus"
mkdir -p "$prom_dir"
cat >"$prom_dir/prometheus.yml" <<'EOF'
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: sluice
    static_configs: [{targets: ["127.0.0.1:9962"]}]
EOF
promtool check config "$prom_dir/prometheus.yml" >/dev/null ||
	topo_fatal "promtool check config refused the test's prometheus.yml"
topo_in_node n1 prometheus --config.file="$prom_dir/prometheus.yml" \
	--storage.tsdb.path="$prom_dir/data" --web.listen-address=127.0.0.1:9090 \
	>"$prom_dir/log" 2>&1 &
prom_pid=$!
TOPO_PIDS+=("$prom_pid")
stop_prometheus() { kill "$prom_pid" 2>/dev/null || true; wait "$prom_pid" 2>/dev/null || true; }
query() {
	topo_in_node n1 curl -sf -m 3 -G http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" 2>/dev/null |
		jq -r '.data.result[0].value[1] // "none"' 2>/dev/null || echo none
}
deadline=$((SECONDS + 60))
v=none
until [[ $v == "$cli" ]]; do
	((SECONDS < deadline)) || break
	sleep 1
	v=$(query 'sluice_drops_total{reason="policy_ingress",direction="ingress"}')
done
check metrics/prometheus_scraped "Prometheus up{job=sluice}: $(query 'up{job="sluice"}')" \
	test "$(query 'up{job="sluice"}')" = 1
check metrics/prometheus_query "Prometheus's policy_ingress drops: $v (sluice drops: $cli)" test "$v" = "$cli"
v=$(query "$WEB8000")
check metrics/prometheus_service_flows "Prometheus's $WEB8000: $v" test "$v" = 2
# The Grafana dashboard's queries: each parses in Prometheus, and names only metrics the page has.
dashboard="$SL_ROOT/docs/grafana-dashboard.json"
bad=""
while read -r expr; do
	expr=${expr//'$instance'/.*}
	expr=${expr//'$__rate_interval'/1m}
	status=$(topo_in_node n1 curl -sS -m 3 -G http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$expr" | jq -r .status)
	[[ $status == success ]] || bad+="[$expr: $status] "
	for name in $(grep -o 'sluice_[a-z_]*' <<<"$expr"); do
		grep -q "^# TYPE ${name%_bucket} " <<<"$page" || bad+="[$name not on the page] "
	done
done < <(jq -r '.panels[].targets[].expr' "$dashboard")
check metrics/grafana_queries "dashboard queries: ${bad:-all parse, all names served}" test -z "$bad"
stop_prometheus

# 5. --metrics-addr "" closes the endpoint; another address moves it.
# --metrics-service-top 1: only the port with the most new flows (the counts outlive the agent).
# wait_metrics_at PORT: until GET /metrics answers there.
wait_metrics_at() {
	local deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	until [[ $(get /metrics "127.0.0.1:$1") == *" 200" ]]; do
		((SECONDS < deadline)) || break
		sleep 0.2
	done
}
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --metrics-addr 127.0.0.1:19962 --metrics-service-top 1
wait_metrics_at 19962
check metrics/flag_moves_port "GET :19962/metrics: $(get /metrics 127.0.0.1:19962 | tail -c 4)" \
	test "$(get /metrics 127.0.0.1:19962 | tail -c 3)" = 200
check metrics/default_port_closed "GET :9962 after moving: $(get /metrics | tail -c 4)" \
	test "$(get /metrics | tail -c 3)" = 000
page=$(topo_in_node n1 curl -sf -m 5 http://127.0.0.1:19962/metrics || true)
series=$(grep '^sluice_service_new_flows_total{' <<<"$page" || true)
check metrics/service_top_bound "with --metrics-service-top 1: ${series:-no series}" \
	test "$(grep -c . <<<"$series")" -eq 1 -a "$(count_of "$page" "$WEB80")" -ge 6
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --metrics-addr 127.0.0.1:19962 --metrics-service-top 0
wait_metrics_at 19962
page=$(topo_in_node n1 curl -sf -m 5 http://127.0.0.1:19962/metrics || true)
check metrics/service_top_off "with --metrics-service-top 0: $(grep -c '^sluice_service_new_flows_total' <<<"$page") lines, page $(wc -l <<<"$page") lines" \
	test "$(grep -c 'sluice_service_new_flows_total' <<<"$page")" -eq 0 -a "$(grep -c '^sluice_drops_total' <<<"$page")" -gt 0
rc=0
out=$(topo_cli n1 agent --node x --metrics-service-top 1001 2>&1) || rc=$?
check metrics/service_top_refused "--metrics-service-top 1001: exit $rc: $out" \
	test "$rc" -ne 0 -a -n "$(grep -- '--metrics-service-top 1001' <<<"$out")"
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --metrics-addr ""
sleep 1
check metrics/flag_off "GET :19962 with --metrics-addr \"\": $(get /metrics 127.0.0.1:19962 | tail -c 4)" \
	test "$(get /metrics 127.0.0.1:19962 | tail -c 3)" = 000

topo_finish
