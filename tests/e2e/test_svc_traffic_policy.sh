#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Which endpoints a pod may reach, watch-driven through the fake API server. All pods live on
# node n1; the EndpointSlices say where they are (nodeName, zone, hints), which is all the agent
# knows: web-1 is "on n1 in zone-a", web-2 "on n2 in zone-b".
# - internalTrafficPolicy Local: only web-1 answers (the Cluster twin reaches both); a Service
#   whose endpoints are all remote drops the connection, as kube-proxy's "has no local
#   endpoints" rule does, and counts it.
# - loadBalancerSourceRanges on the LoadBalancer IP hold for in-cluster pods too: the pod inside
#   the ranges is answered, the one outside gets nothing and the drop is counted; the ClusterIP
#   of the same Service has no ranges (as in kube-proxy).
# - topology (trafficDistribution PreferClose, hints.forZones) with the Node's zone label:
#   connections go to the same-zone endpoint only; hints that name no endpoint for this zone
#   fall back to all endpoints.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init svc_traffic_policy
topo_require_all
topo_node n1 10.244.1.0/24
topo_apiserver n1 "$SL_ROOT/tests/e2e/fixtures/services"
topo_agent n1 "$TOPO_DIR/manifests" --kubeconfig "$TOPO_KUBECONFIG"
topo_pod n1 client
topo_pod n1 outsider
for pod in web-1 web-2; do
	topo_pod n1 "$pod"
	topo_echo "$pod" --tcp 8080
done
LB_IP=192.0.2.10

HERE=$(slice_endpoint web-1 node=n1 zone=zone-a)
THERE=$(slice_endpoint web-2 node=n2 zone=zone-b)
HERE_HINTED=$(slice_endpoint web-1 node=n1 zone=zone-a hint=zone-a)
THERE_HINTED=$(slice_endpoint web-2 node=n2 zone=zone-b hint=zone-b)
{
	api_service_yaml itp-local 10.96.3.10 '  internalTrafficPolicy: Local' "$HERE
$THERE"
	api_service_yaml itp-cluster 10.96.3.11 '  internalTrafficPolicy: Cluster' "$HERE
$THERE"
	api_service_yaml itp-remote 10.96.3.12 '  internalTrafficPolicy: Local' "$THERE"
	api_service_yaml itp-none 10.96.3.13 '  internalTrafficPolicy: Local' \
		"$(slice_endpoint web-1 node=n1 ready=false serving=false)"
	NODE_PORT=30080 api_service_yaml ranged 10.96.3.20 "  type: LoadBalancer
  loadBalancerSourceRanges: [\"$(topo_pod_ip client)/32\", 198.51.100.0/24]
status:
  loadBalancer:
    ingress: [{ip: $LB_IP}]" "$HERE
$THERE"
	api_service_yaml zoned 10.96.3.30 '  trafficDistribution: PreferClose' "$HERE_HINTED
$THERE_HINTED"
	# Both endpoints hinted for zone-b only: nothing for zone-a, so all serve.
	api_service_yaml zoned-away 10.96.3.31 '  trafficDistribution: PreferClose' \
		"$(slice_endpoint web-1 node=n1 zone=zone-a hint=zone-b)
$THERE_HINTED"
} | api_apply
for vip in 10.96.3.11 10.96.3.20 10.96.3.31; do
	wait_service_backends n1 "$vip" 80 2 ||
		topo_fatal "service $vip:80 not programmed with 2 backends: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
done

# probe FROM TARGET COUNT: the sorted tally of COUNT connections ("web-1=10 web-2=10 ").
probe() {
	local out
	out=$(topo_probe "$1" --tcp "$2" -n "$3" --timeout-ms "${PROBE_TIMEOUT_MS:-2000}" || true)
	show_output "$out"
	awk '{ print ($1 == "ERR" ? $1 "-" $2 : $1) }' <<<"$out" | tally "$(cat)" | tr ' ' '\n' | sort | tr '\n' ' '
}
# shellcheck disable=SC2317 # called through check
matches() { [[ $1 =~ $2 ]]; }
drops() {
	topo_cli n1 drops -o json | jq --arg r "$1" '[.drops[] | select(.name | test($r)) | .packets] | add // 0'
}
both='^web-1=[0-9]+ web-2=[0-9]+ $'

# ---- internalTrafficPolicy -----------------------------------------------------------------
got=$(probe client 10.96.3.10:80 20)
check svc_traffic_policy/itp_local_only_local "tally $got" test "$got" = "web-1=20 "
got=$(probe client 10.96.3.11:80 20)
check svc_traffic_policy/itp_cluster_reaches_remote "tally $got" matches "$got" "$both"
backends=$(service_backends n1 10.96.3.12 80)
check svc_traffic_policy/itp_remote_only_no_backend "backends $backends, wanted 0" test "$backends" = 0
before=$(drops 'no local endpoint')
got=$(PROBE_TIMEOUT_MS=1000 probe client 10.96.3.12:80 3)
check svc_traffic_policy/itp_remote_only_dropped "tally $got, wanted 3 timeouts (kube-proxy drops)" \
	test "$got" = "ERR-ETIMEDOUT=3 "
after=$(drops 'no local endpoint')
check svc_traffic_policy/itp_remote_only_counted "no local endpoint drops $before -> $after" \
	test "$after" -ge $((before + 3))
# No usable endpoint anywhere: rejected at once, as kube-proxy's "has no endpoints".
got=$(PROBE_TIMEOUT_MS=1000 probe client 10.96.3.13:80 3)
check svc_traffic_policy/itp_no_endpoint_rejected "tally $got, wanted 3 ECONNREFUSED" \
	test "$got" = "ERR-ECONNREFUSED=3 "

# ---- loadBalancerSourceRanges ----------------------------------------------------------------
got=$(probe client "$LB_IP:80" 10)
check svc_traffic_policy/source_range_inside "tally $got" matches "$got" "$both"
before=$(drops 'loadBalancerSourceRanges')
got=$(PROBE_TIMEOUT_MS=1000 probe outsider "$LB_IP:80" 3)
check svc_traffic_policy/source_range_outside "tally $got, wanted 3 timeouts" test "$got" = "ERR-ETIMEDOUT=3 "
after=$(drops 'loadBalancerSourceRanges')
check svc_traffic_policy/source_range_counted "source range drops $before -> $after" \
	test "$after" -ge $((before + 3))
got=$(probe outsider 10.96.3.20:80 10)
check svc_traffic_policy/source_range_not_on_cluster_ip "tally $got" matches "$got" "$both"

# ---- topology: same zone only ----------------------------------------------------------------
got=$(probe client 10.96.3.30:80 20)
check svc_traffic_policy/prefer_close_same_zone "tally $got" test "$got" = "web-1=20 "
got=$(probe client 10.96.3.31:80 20)
check svc_traffic_policy/prefer_close_no_zone_match_all "tally $got" matches "$got" "$both"

topo_finish
