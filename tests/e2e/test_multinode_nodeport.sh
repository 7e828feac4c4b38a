#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NodePorts, LoadBalancer IPs and externalIPs from outside the cluster on two nodes: the fabric of
# shared/DESIGN.md, one agent per node (--uplink eth0) following one API server, the outside host
# 203.0.113.1 as the client. The fabric routes the LoadBalancer and external IPs to a node, as a
# cloud load balancer or a router would. Every backend lives on n2; n1 has none.
# - externalTrafficPolicy Cluster: the outside host reaches n1's NodePort, a LoadBalancer IP and
#   an externalIP routed to n1; n1 masquerades to its own address and sends the flow to n2 (through
#   the tunnel under --routing tunnel, routed under --routing native); the answer comes back the
#   same way and the client sees the frontend address. Under --routing tunnel the reply travels in
#   the tunnel too: the fabric sees no pod address.
# - externalTrafficPolicy Local: n2 serves it with the client's address kept; n1 (no local
#   backend) drops it and counts the drop; the healthCheckNodePort answers 200 with
#   localEndpoints 1 on n2 and 503 with 0 on n1.
# - a full-size packet (1500 bytes on the underlay) that no longer fits the tunnel is answered
#   with ICMP fragmentation needed, so a large UDP datagram with DF gets through; a 1 MB TCP
#   transfer completes (every byte read by the backend).
# - a pod's own connection to another node's address leaves with its node's address: no pod
#   address on the underlay.
# Both routing modes, the agents restarted between them. Needs curl, python3 and nft.
set -euo pipefail
# Four agent starts (two nodes, two routing modes) of the sanitizer build on a loaded machine.
SL_AGENT_READY_TIMEOUT=${SL_AGENT_READY_TIMEOUT:-60}
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init multinode_nodeport
topo_require_all
for tool in curl python3 nft; do
	command -v "$tool" >/dev/null || topo_fatal "$tool is not installed (make deps installs it)"
done
CLUSTER_CIDR=10.244.0.0/16
NODES=(n1 n2)
OUT=$SL_OUTSIDE_IP
# LoadBalancer and external IPs (TEST-NET-1), routed by the fabric: *_N1 to n1, *_N2 to n2.
LB_CLUSTER=192.0.2.10
EXT_CLUSTER=192.0.2.20
LB_LOCAL_N2=192.0.2.11
LB_LOCAL_N1=192.0.2.12
EXT_LOCAL_N2=192.0.2.21
EXT_LOCAL_N1=192.0.2.22

# ---- helpers --------------------------------------------------------------------------------
# outside_probe sl_probe-args...: sl_probe on the outside host, bounded.
outside_probe() {
	timeout 60 nsenter --net="/var/run/netns/$TOPO_OUTSIDE_NS" -- "$SL_TOOLS/sl_probe" "$@"
}

# The fabric's bridge counts packets from a pod address crossing it: only native routing puts
# one on the wire.
wire_setup() {
	topo_in_ns "$TOPO_FABRIC_NS" nft -f - <<'EOF' || topo_fatal "nft counters on the fabric bridge failed"
table bridge slwire {
	counter pods {}
	counter vxlan {}
	chain forward {
		type filter hook forward priority 0;
		ip saddr 10.244.0.0/16 counter name pods
		udp dport 8472 counter name vxlan
	}
}
EOF
}
wire_count() {
	topo_in_ns "$TOPO_FABRIC_NS" nft -j list counter bridge slwire "$1" 2>/dev/null |
		jq '[.nftables[] | select(.counter) | .counter.packets][0] // -1'
}

# drops_of NODE PATTERN: packets NODE's datapath dropped for a reason matching PATTERN.
drops_of() {
	topo_cli "$1" drops -o json 2>/dev/null |
		jq --arg p "$2" '[.drops[] | select(.name | test($p)) | .packets] | add // 0' 2>/dev/null || echo 0
}

# stat_of NODE NAME: packets of NODE's datapath counter NAME.
stat_of() {
	topo_cli "$1" status -o json 2>/dev/null |
		jq --arg n "$2" '[.. | objects | select(.name? == $n) | .packets] | add // 0' 2>/dev/null || echo 0
}

# service NAME CLUSTER-IP POLICY NODE-PORT HEALTH-PORT LB-IPS EXT-IPS PORTS: a LoadBalancer
# Service (selector app=NAME, ports "NAME:PORT:TARGET:NODEPORT/PROTO,...") and its slice with
# every pod of BACKENDS.
service() {
	local name=$1 cip=$2 policy=$3 health=$4 lbs=$5 exts=$6 ports=$7 spec p port target node_port proto lb pod
	local -a specs
	IFS=, read -r -a specs <<<"$ports"
	heredoc <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: $cip
  selector: {app: $name}
  externalTrafficPolicy: $policy
  externalIPs: [$exts]
EOF
	[[ -z $health ]] || echo "  healthCheckNodePort: $health"
	echo "  ports:"
	for spec in "${specs[@]}"; do
		IFS=: read -r p port target node_port <<<"${spec%/*}"
		proto=${spec##*/}
		echo "  - {name: $p, protocol: $proto, port: $port, targetPort: $target, nodePort: $node_port}"
	done
	echo "status:"
	echo "  loadBalancer:"
	echo "    ingress:"
	for lb in ${lbs//,/ }; do echo "    - {ip: $lb}"; done
	heredoc <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name-slice
  namespace: default
  labels: {kubernetes.io/service-name: $name}
addressType: IPv4
ports:
EOF
	for spec in "${specs[@]}"; do
		IFS=: read -r p port target node_port <<<"${spec%/*}"
		echo "- {name: $p, protocol: ${spec##*/}, port: $target}"
	done
	echo "endpoints:"
	for pod in $BACKENDS; do slice_endpoint "$pod"; done
}

start_agents() {
	local node
	for node in "${NODES[@]}"; do
		[[ -n ${TOPO_AGENT_PID[$node]:-} ]] && topo_agent_stop "$node"
		topo_agent "$node" "$TOPO_DIR/empty" --kubeconfig "$TOPO_KUBECONFIG" --uplink eth0 \
			--cluster-cidr "$CLUSTER_CIDR" --service-cidr 10.96.0.0/12 "$@"
	done
}

# expect_answers MODE NAME TARGET PEER: 4 TCP connections from the outside host to TARGET, each
# answered by web2, which saw PEER as the client.
expect_answers() {
	local mode=$1 name=$2 target=$3 peer=$4 out foreign
	out=$(outside_probe --tcp "$target" -n 4 --timeout-ms 2000 || true)
	foreign=$(foreign_peers "$peer" "$out" | sort -u | tr '\n' ' ')
	check "multinode_nodeport/${mode}_${name}" "$target: $(tally "$out"); web2 saw ${foreign:-$peer}, want $peer" \
		test "$(count_from web2 "$out")" -eq 4 -a -z "$foreign"
}

# expect_refused MODE NAME TARGET: 2 TCP connections from the outside host to TARGET time out.
expect_refused() {
	local out
	out=$(outside_probe --tcp "$3" -n 2 --timeout-ms 600 || true)
	check "multinode_nodeport/${1}_${2}" "$3: $(tally "$out")" \
		test "$(grep -c 'ERR ETIMEDOUT' <<<"$out" || true)" -eq 2
}

# health NODE PORT: "CODE LOCAL-ENDPOINTS" of the healthCheckNodePort on NODE's address, asked
# from the outside host.
health() {
	local body code
	code=$(topo_in_outside curl -s --max-time 3 -o "$TOPO_DIR/health.json" -w '%{http_code}' \
		"http://$(topo_node_ip "$1"):$2/" 2>/dev/null || true)
	body=$(cat "$TOPO_DIR/health.json" 2>/dev/null || true)
	echo "$code $(jq -r '.localEndpoints' <<<"$body" 2>/dev/null)"
	rm -f "$TOPO_DIR/health.json"
}

# ---- two nodes, one API server, the backends on n2 ------------------------------------------
topo_fabric_nodes 2
{
	manifest_node n1 198.51.100.1 10.244.1.0/24
	manifest_node n2 198.51.100.2 10.244.2.0/24
	manifest_namespace default
} >"$TOPO_DIR/cluster.yaml"
topo_fabric_apiserver "$TOPO_DIR/cluster.yaml"
mkdir -p "$TOPO_DIR/empty"
wire_setup
for ip in "$LB_CLUSTER" "$EXT_CLUSTER" "$LB_LOCAL_N1" "$EXT_LOCAL_N1"; do
	topo_in_ns "$TOPO_FABRIC_NS" ip route add "$ip/32" via "$(topo_node_ip n1)"
done
for ip in "$LB_LOCAL_N2" "$EXT_LOCAL_N2"; do
	topo_in_ns "$TOPO_FABRIC_NS" ip route add "$ip/32" via "$(topo_node_ip n2)"
done
start_agents # --routing tunnel is the default

topo_pod n2 web2
topo_echo web2 --tcp 8080 --udp 5353
# A pod on n1, and a server of n2's own (its kubelet, say) on n2's address.
topo_pod n1 cli1
topo_echo_in "$(topo_ns_node n2)" n2-host --tcp 9100
topo_bulk_serve "$(topo_ns_pod web2)" 5201
manifest_pod web2 "app: web" | api_apply
{
	BACKENDS=web2 service cluster 10.96.0.10 Cluster "" "$LB_CLUSTER" "$EXT_CLUSTER" \
		"http:80:8080:30080/TCP,dns:53:5353:30053/UDP,bulk:5201:5201:30201/TCP"
	BACKENDS=web2 service local 10.96.0.11 Local 30181 "$LB_LOCAL_N2,$LB_LOCAL_N1" \
		"$EXT_LOCAL_N2, $EXT_LOCAL_N1" "http:80:8080:30081/TCP"
} | api_apply
for node in "${NODES[@]}"; do
	wait_service_backends "$node" 10.96.0.11 80 1 ||
		topo_fatal "$node did not apply the services: $(topo_log_tail "${TOPO_AGENT_LOG[$node]}")"
done

# run_mode MODE: every check of this file under the routing mode the agents run with.
run_mode() {
	local mode=$1 n1 n2 pods0 pods1 vxlan0 vxlan1 out before after mtu
	n1=$(topo_node_ip n1)
	n2=$(topo_node_ip n2)

	# Cluster: n1 has no backend; web2 on n2 sees n1's address, the client the frontend.
	pods0=$(wire_count pods)
	vxlan0=$(wire_count vxlan)
	expect_answers "$mode" cluster_nodeport "$n1:30080" "$n1"
	expect_answers "$mode" cluster_loadbalancer "$LB_CLUSTER:80" "$n1"
	expect_answers "$mode" cluster_external_ip "$EXT_CLUSTER:80" "$n1"
	out=$(outside_probe --udp "$n1:30053" -n 4 --unconnected --peer --timeout-ms 2000 || true)
	check "multinode_nodeport/${mode}_cluster_udp_from_frontend" "$(tally "$out"); $(grep -o 'peer=[^ ]*' <<<"$out" | sort -u | tr '\n' ' ')" \
		test "$(grep -c "^web2 $n1:[0-9]* peer=$n1:30053\$" <<<"$out" || true)" -eq 4
	pods1=$(wire_count pods)
	vxlan1=$(wire_count vxlan)
	if [[ $mode == tunnel ]]; then
		check "multinode_nodeport/${mode}_cluster_no_pod_address_on_the_wire" \
			"fabric: $((pods1 - pods0)) packets from pod addresses, $((vxlan1 - vxlan0)) VXLAN datagrams" \
			test "$pods0" -ge 0 -a "$((pods1 - pods0))" -eq 0 -a "$((vxlan1 - vxlan0))" -ge 24
	fi

	# A pod's own flow to another node's address leaves masqueraded to its node's: the underlay
	# (a cloud network) knows only node addresses. Both routing modes.
	pods0=$(wire_count pods)
	out=$(topo_probe cli1 --tcp "$n2:9100" -n 4 --timeout-ms 2000 || true)
	pods1=$(wire_count pods)
	foreign=$(foreign_peers "$n1" "$out" | sort -u | tr '\n' ' ')
	check "multinode_nodeport/${mode}_pod_to_other_node_masqueraded" \
		"cli1 -> $n2:9100: $(tally "$out"); n2 saw ${foreign:-$n1}, want $n1; fabric: $((pods1 - pods0)) packets from pod addresses" \
		test "$(count_from n2-host "$out")" -eq 4 -a -z "$foreign" -a "$pods0" -ge 0 -a "$((pods1 - pods0))" -eq 0

	# Local: n2 keeps the client's address; n1 has no local backend and drops, counted.
	expect_answers "$mode" local_nodeport "$n2:30081" "$OUT"
	expect_answers "$mode" local_loadbalancer "$LB_LOCAL_N2:80" "$OUT"
	expect_answers "$mode" local_external_ip "$EXT_LOCAL_N2:80" "$OUT"
	before=$(drops_of n1 'no local endpoint')
	expect_refused "$mode" local_nodeport_no_local_backend "$n1:30081"
	expect_refused "$mode" local_loadbalancer_no_local_backend "$LB_LOCAL_N1:80"
	expect_refused "$mode" local_external_ip_no_local_backend "$EXT_LOCAL_N1:80"
	after=$(drops_of n1 'no local endpoint')
	check "multinode_nodeport/${mode}_local_drops_counted" "n1 'no local endpoint' drops $before -> $after" \
		test "$((after - before))" -ge 6

	# healthCheckNodePort, per node.
	out=$(health n2 30181)
	check "multinode_nodeport/${mode}_health_local_backend_200" "n2: $out" test "$out" = "200 1"
	out=$(health n1 30181)
	check "multinode_nodeport/${mode}_health_no_local_backend_503" "n1: $out" test "$out" = "503 0"

	# Full-size packets from outside through n1 to web2: under --routing tunnel they no longer
	# fit (1450 bytes), and n1 answers those with DF with ICMP fragmentation needed, which the
	# outside host takes as the path MTU of that destination (its route cache shows it). A TCP
	# transfer's segments fit (web2 announces the tunnel's MSS): every byte must arrive.
	before=$(stat_of n1 icmp_frag_needed)
	out=$(topo_bulk_send "$TOPO_OUTSIDE_NS" "$n1" 30201 1048576)
	check "multinode_nodeport/${mode}_large_tcp_transfer" "1 MB to $n1:30201: web2 read ${out% *} bytes" \
		test "${out% *}" -eq 1048576
	# To the LoadBalancer IP: another destination, whose path MTU the transfer did not teach.
	out=$(outside_probe --udp "$LB_CLUSTER:53" -n 4 --size 1472 --timeout-ms 1000 --interval-ms 200 || true)
	check "multinode_nodeport/${mode}_large_udp_datagram" "$(tally "$out")" \
		test "$(count_from web2 "$out")" -ge 3
	after=$(stat_of n1 icmp_frag_needed)
	mtu=$(topo_in_outside ip route get "$LB_CLUSTER" | grep -o 'mtu [0-9]*' || true)
	if [[ $mode == tunnel ]]; then
		check "multinode_nodeport/${mode}_large_frag_needed" "n1 icmp_frag_needed $before -> $after; outside route to $LB_CLUSTER: ${mtu:-no mtu}" \
			test "$((after - before))" -ge 1 -a "$mtu" = "mtu 1450"
	else
		check "multinode_nodeport/${mode}_large_fits" "n1 icmp_frag_needed $before -> $after; outside route to $LB_CLUSTER: ${mtu:-no mtu}" \
			test "$((after - before))" -eq 0 -a -z "$mtu"
	fi
}

info "agents ready after ${SECONDS}s"
run_mode tunnel
info "tunnel mode checked after ${SECONDS}s"
# The path MTUs the outside host learnt under tunnel routing are forgotten.
topo_in_outside ip route flush cache
start_agents --routing native
info "native agents ready after ${SECONDS}s"
run_mode native

topo_finish
