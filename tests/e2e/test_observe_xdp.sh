#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Flow events from the uplink's XDP program (issue 15): a client outside a LoadBalancer's
# loadBalancerSourceRanges, and a client of a Local LoadBalancer with no endpoint on this node,
# are dropped by xdp_node before tc_node sees them; each drop shows in `sluice observe -o json`
# with its reason, the client's tuple, the frontend and its Service (a LoadBalancer IP's, and a
# NodePort's on the node's address), as tc's drops do. And the trace switch is one pinned map
# that every object's programs read.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init observe_xdp
topo_require_all
command -v bpftool >/dev/null || topo_fatal "bpftool is needed (make deps)"

NODE_IP=192.168.78.1
CLIENT_IP=192.168.78.2
BLOCKED_LB=198.51.100.41 # loadBalancerSourceRanges: not the client
REMOTE_LB=198.51.100.42  # externalTrafficPolicy Local, its one endpoint on n2

topo_node n1 10.244.1.0/24
topo_uplink_client n1 "$NODE_IP" "$CLIENT_IP" 198.51.100.0/24
topo_agent n1 "$TOPO_DIR/manifests" --uplink up0 --node-ip "$NODE_IP"
# Without native XDP, tc_node would drop these and the test would say nothing about XDP.
grep -q 'xdp_node in native mode' "${TOPO_AGENT_LOG[n1]}" ||
	topo_fatal "xdp_node not attached in native mode: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
topo_pod n1 web
topo_echo web --tcp 8080

# lb NAME CLUSTER-IP LB-IP POLICY [SOURCE-RANGE]
lb() {
	cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: $2
  externalTrafficPolicy: $4
  selector: {app: $1}
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: $((30090 + ${2##*.}))}
EOF
	[[ -z ${5:-} ]] || echo "  loadBalancerSourceRanges: [\"$5\"]"
	cat <<EOF
status:
  loadBalancer:
    ingress: [{ip: $3}]
EOF
}
{
	manifest_pod web "app: blocked"
	lb blocked 10.96.0.1 "$BLOCKED_LB" Cluster 203.0.113.0/24
	echo ---
	manifest_slice blocked 80:8080/TCP web
	lb remote 10.96.0.2 "$REMOTE_LB" Local
	cat <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: remote-slice
  namespace: default
  labels: {kubernetes.io/service-name: remote}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.244.2.5], conditions: {ready: true}, nodeName: n2}
EOF
} | write_file "$TOPO_DIR/manifests/all.yaml"
wait_service_backends n1 10.96.0.1 80 1 ||
	topo_fatal "services not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
wait_service_backends n1 10.96.0.2 80 1 ||
	topo_fatal "services not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"

client_probe() {
	timeout 30 nsenter --net="/var/run/netns/$UPLINK_CLIENT_NS" -- "$SL_TOOLS/sl_probe" "$@"
}
# drop_of IP PORT: the first drop event from the client to IP:PORT, or null.
drop_of() {
	topo_cli n1 observe -o json 2>/dev/null |
		jq -c -s --arg ip "$1" --argjson port "$2" --arg client "$CLIENT_IP" '[.[] |
			select(.verdict == "DROPPED" and .source_ip == $client and .destination_ip == $ip
			and .destination_port == $port)] | first'
}
has_drop_of() { [[ $(drop_of "$1" "$2") != null ]]; }

for spec in "blocked $BLOCKED_LB:80" "remote $REMOTE_LB:80" "remote_nodeport $NODE_IP:30092"; do
	read -r name target <<<"$spec"
	out=$(client_probe --tcp "$target" -n 1 --timeout-ms 500 || true)
	check "observe_xdp/${name}_dropped" "client -> $target: $(tally "$out")" \
		test "$(count_errors "$out")" -eq 1
done
wait_until has_drop_of "$BLOCKED_LB" 80 || true
drop=$(drop_of "$BLOCKED_LB" 80)
info "source range drop: $drop"
check observe_xdp/source_range_event "the source-range drop in observe" jq -e '. != null' <<<"$drop"
check observe_xdp/source_range_fields "reason, tuple, Service" \
	jq -e '.event == "drop" and .reason == "outside loadBalancerSourceRanges" and .protocol == "TCP"
	       and .destination_port == 80 and .source_port > 0 and .ifindex > 0
	       and (.service | startswith("default/blocked:"))' <<<"$drop"

wait_until has_drop_of "$REMOTE_LB" 80 || true
drop=$(drop_of "$REMOTE_LB" 80)
info "no local endpoint drop: $drop"
check observe_xdp/no_local_endpoint_event "the Local drop in observe" jq -e '. != null' <<<"$drop"
check observe_xdp/no_local_endpoint_fields "reason, tuple, Service" \
	jq -e '.reason == "no local endpoint (traffic policy Local)" and .destination_port == 80
	       and (.service | startswith("default/remote:"))' <<<"$drop"
# The NodePort of the same Service, on the node's address: named from the node's frontend.
wait_until has_drop_of "$NODE_IP" 30092 || true
drop=$(drop_of "$NODE_IP" 30092)
info "NodePort drop: $drop"
check observe_xdp/nodeport_fields "the NodePort's drop, its Service named" \
	jq -e '.reason == "no local endpoint (traffic policy Local)" and .destination == "node"
	       and (.service | startswith("default/remote:"))' <<<"$drop"
# One trace switch for every object: tc_pod and tc_to_pod (two objects, each with the section)
# read the same pinned map. (xdp_node never traces: it reads no switch.)
bpffs=$(topo_node_bpffs n1)
switch=$(bpftool -j map show pinned "$bpffs/events_cfg_v2" 2>/dev/null | jq -r '.id // empty' || true)
readers=0
for prog in tc_pod tc_to_pod; do
	bpftool -j prog show pinned "$bpffs/$prog" 2>/dev/null |
		jq -e --argjson id "${switch:-0}" '.map_ids | index($id)' >/dev/null && readers=$((readers + 1))
done
check observe_xdp/one_trace_switch "map ${switch:-none} read by $readers of tc_pod, tc_to_pod" test "$readers" -eq 2
topo_cli n1 observe >&2 || true
topo_finish
