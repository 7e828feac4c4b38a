#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Traffic from outside the node: a client namespace joined to the node by a veth (the node's
# uplink, up0) reaches a NodePort, an external IP and a LoadBalancer IP with real TCP.
# externalTrafficPolicy Cluster is masqueraded (the backend sees the node's address), Local keeps
# the client's address, Local without a local endpoint drops (as kube-proxy does), and the
# healthCheckNodePort answers 200 with the local endpoint count, or 503.
# NODEPORT_XDP=0 keeps XDP off the uplink (tc only); by default the agent attaches both.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init "nodeport${NODEPORT_XDP:+-tc}"
topo_require_all

NODE_IP=192.168.77.1
CLIENT_IP=192.168.77.2
LB_LOCAL=198.51.100.10
LB_REMOTE=198.51.100.11
EXTERNAL_IP=198.51.100.20

topo_node n1 10.244.1.0/24
topo_uplink_client n1 "$NODE_IP" "$CLIENT_IP" 198.51.100.0/24
client_ns=$UPLINK_CLIENT_NS
node_ns=$(topo_ns_node n1)

topo_agent n1 "$TOPO_DIR/manifests" --uplink up0 --node-ip "$NODE_IP"
if [[ ${NODEPORT_XDP:-1} == 0 ]]; then
	# As on a device without native XDP: tc_node alone does the work.
	ip -n "$node_ns" link set dev up0 xdpdrv off
fi
xdp_mode=tc
grep -q 'xdp_node in native mode' "${TOPO_AGENT_LOG[n1]}" && [[ ${NODEPORT_XDP:-1} != 0 ]] &&
	xdp_mode=xdp+tc
info "uplink up0: $xdp_mode"

topo_pod n1 web-1
topo_pod n1 web-2
topo_pod n1 inpod
topo_echo web-1 --tcp 8080
topo_echo web-2 --tcp 8080

# service NAME CLUSTER-IP TYPE NODEPORT POLICY [HEALTH-PORT] [LB-IP] [EXTERNAL-IP]
service() {
	local name=$1 cip=$2 type=$3 node_port=$4 policy=$5 health=${6:-} lb=${7:-} ext=${8:-}
	cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: default
spec:
  type: $type
  clusterIP: $cip
  selector:
    app: $name
  externalTrafficPolicy: $policy
EOF
	[[ -n $health ]] && echo "  healthCheckNodePort: $health"
	[[ -n $ext ]] && printf '  externalIPs: ["%s"]\n' "$ext"
	cat <<EOF
  ports:
  - name: http
    protocol: TCP
    port: 80
    targetPort: 8080
    nodePort: $node_port
EOF
	if [[ -n $lb ]]; then
		cat <<EOF
status:
  loadBalancer:
    ingress:
    - ip: $lb
EOF
	fi
}

# slice SERVICE NODE IP...
slice() {
	local svc=$1 node=$2 address
	shift 2
	cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $svc-slice
  namespace: default
  labels:
    kubernetes.io/service-name: $svc
addressType: IPv4
ports:
- name: http
  protocol: TCP
  port: 8080
endpoints:
EOF
	for address in "$@"; do
		cat <<EOF
- addresses: ["$address"]
  conditions:
    ready: true
  nodeName: $node
EOF
	done
}

web1=$(topo_pod_ip web-1)
web2=$(topo_pod_ip web-2)
{
	service np-cluster 10.96.0.20 NodePort 30080 Cluster "" "" "$EXTERNAL_IP"
	echo ---
	slice np-cluster n1 "$web1" "$web2"
} | write_file "$TOPO_DIR/manifests/np-cluster.yaml"
{
	service lb-local 10.96.0.21 LoadBalancer 30081 Local 32001 "$LB_LOCAL"
	echo ---
	slice lb-local n1 "$web1" "$web2"
} | write_file "$TOPO_DIR/manifests/lb-local.yaml"
{
	service lb-remote 10.96.0.22 LoadBalancer 30082 Local 32002 "$LB_REMOTE"
	echo ---
	slice lb-remote n2 10.244.2.5
} | write_file "$TOPO_DIR/manifests/lb-remote.yaml"

wait_service_backends n1 10.96.0.21 80 2 ||
	topo_fatal "services not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
sleep 0.3

client_probe() {
	timeout 30 nsenter --net="/var/run/netns/$client_ns" -- "$SL_TOOLS/sl_probe" "$@"
}

# expect_peer NAME TARGET PEER-IP: 10 connections all answered by web-1/web-2 seeing PEER-IP.
expect_peer() {
	local name=$1 target=$2 peer=$3 out answered foreign
	out=$(client_probe --tcp "$target" -n 10 --timeout-ms 2000 || true)
	show_output "$out"
	answered=$(($(count_from web-1 "$out") + $(count_from web-2 "$out")))
	foreign=$(foreign_peers "$peer" "$out" | sort -u | tr '\n' ' ')
	check "nodeport/${name}_answered" "$answered of 10 answered ($xdp_mode): $(tally "$out")" \
		test "$answered" -eq 10
	check "nodeport/${name}_source" "backends saw $foreign, want $peer ($xdp_mode)" \
		test -z "$foreign" -a "$answered" -gt 0
}

expect_peer nodeport_cluster_snat "$NODE_IP:30080" "$NODE_IP"
expect_peer external_ip_cluster_snat "$EXTERNAL_IP:80" "$NODE_IP"
expect_peer loadbalancer_local_client_kept "$LB_LOCAL:80" "$CLIENT_IP"
expect_peer nodeport_local_client_kept "$NODE_IP:30081" "$CLIENT_IP"

# Two connections from the same client port one after the other: both answered (the first
# one's conntrack, still closing, does not capture the second).
out=$(client_probe --tcp "$NODE_IP:30080" -n 1 --sport 42000 --timeout-ms 2000 || true)
out+=$'\n'$(client_probe --tcp "$NODE_IP:30080" -n 1 --sport 42000 --timeout-ms 2000 || true)
check nodeport/same_client_port_reused "$(echo "$out" | tr '\n' ' ')" test "$(count_errors "$out")" -eq 0

# Local with no endpoint on this node: dropped (the client times out), counted with a reason.
out=$(client_probe --tcp "$LB_REMOTE:80" -n 2 --timeout-ms 800 || true)
check nodeport/local_no_endpoint_dropped "got: $(echo "$out" | tr '\n' ' ')" \
	test "$(grep -c 'ERR ETIMEDOUT' <<<"$out" || true)" -eq 2
drops=$(topo_cli n1 drops -o json 2>/dev/null || true)
n=$(jq '[.. | objects | select((.reason? // .name? // "") | test("no local endpoint")) | .packets] | add // 0' <<<"$drops" 2>/dev/null || echo 0)
check nodeport/local_no_endpoint_counted "sluice drops -o json: $(tr -d '\n' <<<"$drops" | cut -c1-300)" \
	test "${n:-0}" -gt 0

# healthCheckNodePort on the node address.
# A pod reaches a NodePort on its own node's address (the pod program's internal frontend for
# that address): no masquerade, the backend sees the pod.
out=$(topo_probe inpod --tcp "$NODE_IP:30080" -n 10 --timeout-ms 2000 || true)
show_output "$out"
answered=$(($(count_from web-1 "$out") + $(count_from web-2 "$out")))
check nodeport/from_pod_answered "$answered of 10 answered: $(tally "$out")" test "$answered" -eq 10
foreign=$(foreign_peers "$(topo_pod_ip inpod)" "$out" | head -3 | tr '\n' ' ')
check nodeport/from_pod_source "backends saw $foreign, want $(topo_pod_ip inpod)" test -z "$foreign"

health() {
	timeout 10 nsenter --net="/var/run/netns/$client_ns" -- \
		curl -s --max-time 3 -o "$TOPO_DIR/health.json" -w '%{http_code}' "http://$NODE_IP:$1/healthz" || true
}
code=$(health 32001)
body=$(cat "$TOPO_DIR/health.json" 2>/dev/null || true)
check nodeport/health_local_endpoints_200 "code $code body $body" \
	test "$code" = 200 -a "$(jq -r '.localEndpoints' <<<"$body" 2>/dev/null)" = 2 \
	-a "$(jq -r '.service.name' <<<"$body" 2>/dev/null)" = lb-local
code=$(health 32002)
body=$(cat "$TOPO_DIR/health.json" 2>/dev/null || true)
check nodeport/health_no_local_endpoint_503 "code $code body $body" \
	test "$code" = 503 -a "$(jq -r '.localEndpoints' <<<"$body" 2>/dev/null)" = 0

topo_finish
