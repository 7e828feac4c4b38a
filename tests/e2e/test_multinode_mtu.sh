#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Path MTU between pods on two nodes (issue 13): nothing large is blackholed. Under --routing
# tunnel: pods of the default MTU (the underlay's 1500 less VXLAN's 50) move 10 MB over TCP
# (DF set, as Linux sends TCP) between nodes, and tc_pod sends them straight into sluice_vxlan
# (the node's IP forwarding counts none of them); a pod whose conflist sets mtu 1500 gets ICMP
# "fragmentation needed" with next-hop MTU 1450 for a DF ping of 1472 bytes, and its 10 MB TCP
# transfer to a pod on the other node completes (its kernel learns the path MTU); the same through
# a ClusterIP whose backend is on the other node: the error about the translated packet reaches
# the client with the VIP in its quoted header, so the client's route to the VIP learns MTU 1450.
# Under --routing native (agents restarted with it): pods with mtu 9000 on both nodes meet the
# underlay's 1500, with the same checks (ping, 10 MB direct and through a ClusterIP). Each
# transfer's throughput is logged. Needs ping (tests/deps.sh installs it) and python3.
set -euo pipefail
# Four agent starts: each loads the datapath, which takes well over lib.sh's 20 s on a loaded
# machine.
SL_AGENT_READY_TIMEOUT=${SL_AGENT_READY_TIMEOUT:-45}
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init multinode_mtu
topo_require_all
command -v ping >/dev/null || topo_fatal "ping is not installed (tests/deps.sh installs iputils-ping)"
CLUSTER_CIDR=10.244.0.0/16
VIP_BIG=10.96.0.20  # backend: bigs2 (mtu 1500, n2)
VIP_JUMBO=10.96.0.30 # backend: j2 (mtu 9000, n2), native routing
BULK_PORT=5201 # the bulk receivers' port

# ---- helpers --------------------------------------------------------------------------------
# mtu_pod NODE POD MTU: a pod whose conflist sets mtu (topo_pod_try), its address recorded.
mtu_pod() {
	topo_pod_try "$1" "$2" ".mtu = $3"
	pod_added_in "$CLUSTER_CIDR" || topo_fatal "sluice-cni ADD $2 with mtu $3: rc $rc: $out"
	TOPO_POD_IP[$2]=$(jq -r '.ips[0].address' <<<"$out" | cut -d/ -f1)
	info "pod $2 on $1: ${TOPO_POD_IP[$2]}, mtu $3"
}
BULK_BYTES=10485760
# bulk_server POD: tests/tools/sl_bulk.py's receiver in the pod, on BULK_PORT, until the test ends.
bulk_server() { topo_bulk_serve "$(topo_ns_pod "$1")" "$BULK_PORT"; }
# transfer LABEL POD DEST: 10 MB over TCP from POD to DEST:BULK_PORT, bounded; true when the
# receiver read every byte (iperf3's own report can be taken before the last bytes are read).
# Logs the throughput.
transfer() {
	local label=$1 pod=$2 dest=$3 out
	out=$(topo_bulk_send "$(topo_ns_pod "$pod")" "$dest" "$BULK_PORT" "$BULK_BYTES")
	info "$label: 10 MB $pod -> $dest: received ${out% *} bytes, ${out#* } Mbit/s"
	[[ ${out% *} == "$BULK_BYTES" ]]
}
# snmp NODE GROUP FIELD: a counter of the node's /proc/net/snmp (Ip ForwDatagrams, Icmp
# OutDestUnreachs).
snmp() {
	topo_in_node "$1" awk -v g="$2:" -v f="$3" \
		'$1 == g && !n { for (i = 2; i <= NF; i++) h[i] = $i; n = 1; next }
		 $1 == g && n { for (i = 2; i <= NF; i++) if (h[i] == f) print $i }' /proc/net/snmp
}
dev_tx() { topo_in_node "$1" ip -j -s link show dev sluice_vxlan | jq '.[0].stats64.tx.packets'; }
# route_mtu POD DEST: the path MTU the pod's kernel holds for DEST ("-" when none is cached).
route_mtu() {
	local line
	line=$(topo_in_pod "$1" ip route get "$2" 2>/dev/null | tr '\n' ' ')
	[[ $line =~ mtu\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo -
}
flush_pmtu() { topo_in_pod "$1" ip route flush cache; }
# df_ping POD DEST SIZE: two DF pings of SIZE bytes of payload; their output.
df_ping() { topo_in_pod "$1" ping -n -M "do" -s "$3" -c 2 -i 0.3 -W 2 "$2" 2>&1 || true; }
icmp_translated() {
	topo_cli "$1" status -o json 2>/dev/null |
		jq '[.stats[] | select(.name == "icmp_translated") | .packets] | add // 0'
}

start_agents() {
	local node
	for node in n1 n2; do
		[[ -n ${TOPO_AGENT_PID[$node]:-} ]] && topo_agent_stop "$node"
		topo_agent "$node" "$TOPO_DIR/empty" --kubeconfig "$TOPO_KUBECONFIG" \
			--cluster-cidr "$CLUSTER_CIDR" --service-cidr 10.96.0.0/12 "$@"
	done
}
has_device() { [[ $(topo_in_node "$1" ip -j link show dev sluice_vxlan 2>/dev/null | jq '.[0].mtu') == 1450 ]]; }
# The agent made the device and reloaded tc_pod with its ifindex (tunnel_redirect).
is_tunnel_ready() { grep -q 'tunnel: sluice_vxlan created, tc_tunnel attached' "${TOPO_AGENT_LOG[$1]}" && has_device "$1"; }

# ---- two nodes, one API server, tunnel routing ---------------------------------------------
topo_fabric_nodes 2
{
	manifest_node n1 198.51.100.1 10.244.1.0/24
	manifest_node n2 198.51.100.2 10.244.2.0/24
	manifest_namespace default
} >"$TOPO_DIR/cluster.yaml"
topo_fabric_apiserver "$TOPO_DIR/cluster.yaml"
mkdir -p "$TOPO_DIR/empty"
start_agents
check multinode_mtu/tunnel_device "sluice_vxlan of MTU 1450 on n1 and n2" \
	wait_until eval 'is_tunnel_ready n1 && is_tunnel_ready n2'

topo_pod n1 c1
topo_pod n2 s2
mtu_pod n1 big1 1500
mtu_pod n2 bigs2 1500
for pod in s2 bigs2; do bulk_server "$pod"; done
{
	for pod in c1 s2 big1 bigs2; do manifest_pod "$pod" "app: $pod"; done
	echo ---
	manifest_service bigs2 "$VIP_BIG" "$BULK_PORT:$BULK_PORT/TCP"
	echo ---
	manifest_slice bigs2 "$BULK_PORT:$BULK_PORT/TCP" bigs2
} | api_apply
check multinode_mtu/service_programmed "n1: $(service_backends n1 "$VIP_BIG" "$BULK_PORT") backends" \
	wait_service_backends n1 "$VIP_BIG" "$BULK_PORT" 1
sleep 0.5 # the receivers bind

# (a) the default MTU: TCP just works, and skips the node's forwarding.
c1_mtu=$(topo_in_pod c1 ip -j link show dev eth0 | jq '.[0].mtu')
check multinode_mtu/default_pod_mtu "c1's eth0 MTU $c1_mtu" test "$c1_mtu" = 1450
fwd0=$(snmp n1 Ip ForwDatagrams)
tx0=$(dev_tx n1)
check multinode_mtu/default_transfer "c1 (n1) -> s2 (n2): 10 MB did not complete" \
	transfer default c1 "$(topo_pod_ip s2)"
fwd1=$(snmp n1 Ip ForwDatagrams)
tx1=$(dev_tx n1)
info "default transfer: n1 forwarded $((fwd1 - fwd0)) packets, sluice_vxlan sent $((tx1 - tx0))"
check multinode_mtu/direct_into_tunnel "n1's stack forwarded $((fwd1 - fwd0)) packets, sluice_vxlan sent $((tx1 - tx0))" \
	test "$((tx1 - tx0))" -ge 100 -a "$((fwd1 - fwd0))" -lt 20

# (b) a pod of MTU 1500: frag needed with next-hop MTU 1450, and TCP learns it.
unreach0=$(snmp n1 Icmp OutDestUnreachs)
out=$(df_ping big1 "$(topo_pod_ip bigs2)" 1472)
show_output "$out"
check multinode_mtu/frag_needed_ping "DF ping of 1472 bytes: $(tr '\n' '|' <<<"$out" | cut -c1-300)" \
	grep -qE 'mtu ?= ?1450' <<<"$out"
out=$(df_ping big1 "$(topo_pod_ip bigs2)" 1422)
check multinode_mtu/fitting_ping "DF ping of 1422 bytes: $(tr '\n' '|' <<<"$out" | cut -c1-300)" \
	grep -q ' 0% packet loss' <<<"$out"
flush_pmtu big1
check multinode_mtu/big_pod_transfer "big1 (mtu 1500, n1) -> bigs2 (mtu 1500, n2): 10 MB did not complete" \
	transfer big-direct big1 "$(topo_pod_ip bigs2)"
check multinode_mtu/big_pod_learns_pmtu "big1's path MTU to bigs2: $(route_mtu big1 "$(topo_pod_ip bigs2)")" \
	test "$(route_mtu big1 "$(topo_pod_ip bigs2)")" = 1450
unreach1=$(snmp n1 Icmp OutDestUnreachs)
check multinode_mtu/frag_needed_from_node "n1 sent $((unreach1 - unreach0)) ICMP unreachables" \
	test "$((unreach1 - unreach0))" -ge 2

# (c) the same through a ClusterIP whose backend is on n2: the error is about the translated
# packet (to bigs2) and reaches big1 about its own (to the VIP).
flush_pmtu big1
xlate0=$(icmp_translated n1)
check multinode_mtu/service_transfer "big1 -> $VIP_BIG:$BULK_PORT (backend bigs2 on n2): 10 MB did not complete" \
	transfer big-service big1 "$VIP_BIG"
xlate1=$(icmp_translated n1)
check multinode_mtu/service_learns_pmtu "big1's path MTU to the VIP: $(route_mtu big1 "$VIP_BIG"), to bigs2: $(route_mtu big1 "$(topo_pod_ip bigs2)")" \
	test "$(route_mtu big1 "$VIP_BIG")" = 1450
check multinode_mtu/service_error_translated "n1 translated $((xlate1 - xlate0)) ICMP errors" \
	test "$((xlate1 - xlate0))" -ge 1
# A pod's IPv6 chatter (router solicitations) is refused as ever; nothing else may be dropped.
drops=$(topo_cli n1 drops -o json 2>/dev/null | jq -c '[.drops[] | select(.packets > 0 and .name != "pod frame neither IPv4 nor ARP") | {(.name): .packets}] | add // {}')
check multinode_mtu/tunnel_no_drops "n1 drops: $drops" test "$drops" = "{}"

# ---- native routing: pods of mtu 9000 on both nodes meet the underlay's 1500 -----------------
start_agents --routing native
mtu_pod n1 j1 9000
mtu_pod n2 j2 9000
bulk_server j2
{
	for pod in j1 j2; do manifest_pod "$pod" "app: $pod"; done
	echo ---
	manifest_service j2 "$VIP_JUMBO" "$BULK_PORT:$BULK_PORT/TCP"
	echo ---
	manifest_slice j2 "$BULK_PORT:$BULK_PORT/TCP" j2
} | api_apply
check multinode_mtu/native_service_programmed "n1: $(service_backends n1 "$VIP_JUMBO" "$BULK_PORT") backends" \
	wait_service_backends n1 "$VIP_JUMBO" "$BULK_PORT" 1
sleep 0.3
out=$(df_ping j1 "$(topo_pod_ip j2)" 8972)
show_output "$out"
check multinode_mtu/native_frag_needed_ping "DF ping of 8972 bytes: $(tr '\n' '|' <<<"$out" | cut -c1-300)" \
	grep -qE 'mtu ?= ?1500' <<<"$out"
flush_pmtu j1
check multinode_mtu/native_transfer "j1 (mtu 9000, n1) -> j2 (mtu 9000, n2): 10 MB did not complete" \
	transfer native-direct j1 "$(topo_pod_ip j2)"
check multinode_mtu/native_learns_pmtu "j1's path MTU to j2: $(route_mtu j1 "$(topo_pod_ip j2)")" \
	test "$(route_mtu j1 "$(topo_pod_ip j2)")" = 1500
flush_pmtu j1
check multinode_mtu/native_service_transfer "j1 -> $VIP_JUMBO:$BULK_PORT (backend j2 on n2): 10 MB did not complete" \
	transfer native-service j1 "$VIP_JUMBO"
check multinode_mtu/native_service_learns_pmtu "j1's path MTU to the VIP: $(route_mtu j1 "$VIP_JUMBO")" \
	test "$(route_mtu j1 "$VIP_JUMBO")" = 1500

topo_finish
