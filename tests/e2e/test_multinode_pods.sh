#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pods on different nodes: the fabric of shared/DESIGN.md with three nodes, one agent each
# following one API server, pods wired by sluice-cni on every node. Under --routing tunnel (the
# default) every agent has the collect-metadata VXLAN device sluice_vxlan (its MAC from the node's
# address: one MAC for all would be dropped as a loop by the receiving device), routes other nodes'
# pod CIDRs through it and lists them in tunnel4; the full pod-to-pod matrix across nodes (TCP,
# UDP, ping) answers with the pods' own addresses, and the fabric sees only VXLAN (UDP 8472),
# never a pod address; a NetworkPolicy on a pod of n3 admits app=a from n1 and n2 and refuses
# app=b from n2 (the identity travels in the VNI); a ClusterIP with a backend on every node,
# reached from n1, is answered by all three. A Node deleted from the API server: its tunnel4
# entries and routes go on the other nodes within about a second; added again, they come back.
# An agent stopped (SIGTERM) leaves the device and its programs: traffic through it goes on.
# Under --routing native (agents restarted with it) the device is gone, routes go via the nodes'
# addresses and the same matrix travels unencapsulated; a route removed while the agent is down is
# back after its restart. --tunnel geneve is refused with one line. Needs ping and nft.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init multinode_pods
topo_require_all
command -v ping >/dev/null || topo_fatal "ping is not installed (tests/deps.sh installs iputils-ping)"
command -v nft >/dev/null || topo_fatal "nft is not installed (tests/deps.sh installs nftables)"
command -v bpftool >/dev/null || topo_fatal "bpftool is not installed (make deps installs it)"
CLUSTER_CIDR=10.244.0.0/16
NODES=(n1 n2 n3)
MATRIX_PODS=(a1 a2 a3) # one per node, each an echo server
SVC_VIP=10.96.0.10

# ---- helpers --------------------------------------------------------------------------------
quiet() { "$@" >/dev/null 2>&1; }
node_of() { echo "${TOPO_POD_NODE[$1]}"; }

# The fabric's bridge counts what crosses it between nodes: VXLAN datagrams, and packets with a
# pod address as their (outer) source, which only native routing puts on the wire.
wire_setup() {
	topo_in_ns "$TOPO_FABRIC_NS" nft -f - <<'EOF' || topo_fatal "nft counters on the fabric bridge failed"
table bridge slwire {
	counter vxlan {}
	counter pods {}
	chain forward {
		type filter hook forward priority 0;
		udp dport 8472 counter name vxlan
		ip saddr 10.244.0.0/16 counter name pods
	}
}
EOF
}
wire_count() {
	topo_in_ns "$TOPO_FABRIC_NS" nft -j list counter bridge slwire "$1" 2>/dev/null |
		jq '[.nftables[] | select(.counter) | .counter.packets][0] // -1'
}
# dev_packets NODE tx|rx: packets the node's tunnel device counted (-1 without the device).
dev_packets() {
	topo_in_node "$1" ip -j -s link show dev sluice_vxlan 2>/dev/null |
		jq ".[0].stats64.$2.packets // -1" 2>/dev/null || echo -1
}
# tunnel4_entries NODE: entries of the node's tunnel4 map.
tunnel4_entries() {
	bpftool -j map dump pinned "$(topo_node_bpffs "$1")/tunnel4" 2>/dev/null | jq length 2>/dev/null || echo -1
}
tunnel4_is() { [[ $(tunnel4_entries "$1") == "$2" ]]; }
has_no_device() { [[ -z $(topo_in_node "$1" ip link show dev sluice_vxlan 2>/dev/null) ]]; }
# our_route NODE CIDR: the agent's route (protocol 211) to CIDR on NODE, as `ip route` shows it.
our_route() { topo_in_node "$1" ip route show proto 211 "$2" 2>/dev/null; }
has_no_route() { [[ -z $(our_route "$1" "$2") ]]; }
has_route() { [[ -n $(our_route "$1" "$2") ]]; }
route_matches() { grep -q "$3" <<<"$(our_route "$1" "$2")"; }
# ms_until CMD...: milliseconds until CMD succeeds (or -1 after SL_SYNC_TIMEOUT).
ms_until() {
	local t0
	t0=$(date +%s%N)
	wait_until "$@" || {
		echo -1
		return
	}
	echo $((($(date +%s%N) - t0) / 1000000))
}

start_agents() {
	local node
	for node in "${NODES[@]}"; do
		[[ -n ${TOPO_AGENT_PID[$node]:-} ]] && topo_agent_stop "$node"
		topo_agent "$node" "$TOPO_DIR/empty" --kubeconfig "$TOPO_KUBECONFIG" \
			--cluster-cidr "$CLUSTER_CIDR" --service-cidr 10.96.0.0/12 "$@"
	done
}

# matrix LABEL: every pod of MATRIX_PODS to every other one on another node, over TCP, UDP and
# ping; each answer must come from the right pod and show the client's own address. One check
# per protocol naming the pairs that failed.
matrix() {
	local label=$1 src dst ip out
	local -a tcp=() udp=() icmp=() pairs=()
	for src in "${MATRIX_PODS[@]}"; do
		for dst in "${MATRIX_PODS[@]}"; do
			[[ $(node_of "$src") == "$(node_of "$dst")" ]] && continue
			pairs+=("$src>$dst")
			ip=$(topo_pod_ip "$dst")
			out=$(topo_probe "$src" --tcp "$ip:8080" -n 2 --timeout-ms 2000 || true)
			[[ $(count_from "$dst" "$out") == 2 && -z $(foreign_peers "$(topo_pod_ip "$src")" "$out") ]] ||
				tcp+=("$src>$dst($(tally "$out"))")
			out=$(topo_probe "$src" --udp "$ip:5353" -n 2 --timeout-ms 2000 || true)
			[[ $(count_from "$dst" "$out") == 2 && -z $(foreign_peers "$(topo_pod_ip "$src")" "$out") ]] ||
				udp+=("$src>$dst($(tally "$out"))")
			quiet topo_in_pod "$src" ping -n -c 2 -i 0.2 -W 2 "$ip" || icmp+=("$src>$dst")
		done
	done
	info "$label: ${#pairs[@]} pairs across nodes: ${pairs[*]}"
	check "multinode_pods/${label}_tcp" "failed: ${tcp[*]}" test "${#tcp[@]}" -eq 0 -a "${#pairs[@]}" -eq 6
	check "multinode_pods/${label}_udp" "failed: ${udp[*]}" test "${#udp[@]}" -eq 0
	check "multinode_pods/${label}_ping" "failed: ${icmp[*]}" test "${#icmp[@]}" -eq 0
}

# ---- three nodes, one API server -------------------------------------------------------------
topo_fabric_nodes 3
{
	manifest_node n1 198.51.100.1 10.244.1.0/24
	manifest_node n2 198.51.100.2 10.244.2.0/24
	manifest_node n3 198.51.100.3 10.244.3.0/24
	manifest_namespace default
} >"$TOPO_DIR/cluster.yaml"
topo_fabric_apiserver "$TOPO_DIR/cluster.yaml"
mkdir -p "$TOPO_DIR/empty"
wire_setup
start_agents # --routing tunnel is the default

topo_pod n1 a1
topo_pod n1 c1
topo_pod n2 a2
topo_pod n2 b2
topo_pod n3 a3
topo_pod n3 db3
for pod in a1 a2 a3 db3; do topo_echo "$pod"; done
{
	manifest_pod a1 "app: a"
	manifest_pod c1 "app: client"
	manifest_pod a2 "app: a"
	manifest_pod b2 "app: b"
	manifest_pod a3 "app: a"
	manifest_pod db3 "app: db"
} | api_apply

# ---- tunnel: the device, tunnel4 and routes on every node ------------------------------------
for node in "${NODES[@]}"; do
	mac=$(printf '02:73:%02x:%02x:%02x:%02x' $(tr . ' ' <<<"$(topo_node_ip "$node")"))
	link=$(topo_in_node "$node" ip -d -j link show dev sluice_vxlan 2>/dev/null || echo '[]')
	shape=$(jq -r '.[0] | "\(.linkinfo.info_kind) external=\(.linkinfo.info_data.external) port=\(.linkinfo.info_data.port) learning=\(.linkinfo.info_data.learning) mtu=\(.mtu) noarp=\(.flags | index("NOARP") != null) up=\(.flags | index("UP") != null) mac=\(.address)"' <<<"$link" 2>/dev/null || true)
	check "multinode_pods/tunnel_device_$node" "$node: ${shape:-no sluice_vxlan}" \
		test "$shape" = "vxlan external=true port=8472 learning=false mtu=1450 noarp=true up=true mac=$mac"
	filters=$(topo_in_node "$node" tc filter show dev sluice_vxlan ingress 2>/dev/null; topo_in_node "$node" tc filter show dev sluice_vxlan egress 2>/dev/null)
	check "multinode_pods/tunnel_programs_$node" "$node: $(tr '\n' ' ' <<<"$filters")" \
		test "$(grep -c 'tc_tunnel_ingre\|tc_tunnel_egres' <<<"$filters")" -eq 2
done
check multinode_pods/tunnel4_entries "n1: $(tunnel4_entries n1) entries (2 per other node)" \
	wait_until tunnel4_is n1 4
check multinode_pods/tunnel_route "n1 to n2's pods: $(our_route n1 10.244.2.0/24)" \
	route_matches n1 10.244.2.0/24 'dev sluice_vxlan .*src 198.51.100.1'
check multinode_pods/tunnel_node_list "n1 sees n2: tunnel $(node_list_field n1 n2 tunnel), route $(node_list_field n1 n2 route) ($(node_list_field n1 n2 route_to))" \
	test "$(node_list_field n1 n2 tunnel) $(node_list_field n1 n2 route) $(node_list_field n1 n3 tunnel)" = "true true true"
text=$(topo_cli n1 node list 2>/dev/null || true)
show_output "$text"
check multinode_pods/tunnel_node_list_text "$text" grep -qE '^n3 +198\.51\.100\.3 +10\.244\.3\.0/24 +ready +tunnel' <<<"$text"
check multinode_pods/status_lists_tunnel4 "sluice status -o json has no tunnel4" \
	test "$(topo_cli n1 status -o json 2>/dev/null | jq '[.. | objects | select(.name? == "tunnel4")] | length')" -ge 1

# ---- tunnel: the matrix, through the tunnel only -----------------------------------------------
vxlan0=$(wire_count vxlan)
pods0=$(wire_count pods)
tx0=$(dev_packets n1 tx)
rx0=$(dev_packets n1 rx)
matrix tunnel
vxlan1=$(wire_count vxlan)
pods1=$(wire_count pods)
tx1=$(dev_packets n1 tx)
rx1=$(dev_packets n1 rx)
info "tunnel matrix: fabric saw $((vxlan1 - vxlan0)) VXLAN datagrams, $((pods1 - pods0)) packets from pod addresses; n1's sluice_vxlan tx $((tx1 - tx0)) rx $((rx1 - rx0))"
check multinode_pods/tunnel_on_the_wire "fabric: $((vxlan1 - vxlan0)) VXLAN datagrams" test "$((vxlan1 - vxlan0))" -ge 72
check multinode_pods/tunnel_no_pod_address_on_the_wire "fabric: $((pods1 - pods0)) packets from pod addresses" \
	test "$pods0" -ge 0 -a "$((pods1 - pods0))" -eq 0
not_ipv4=$(topo_cli n1 drops -o json 2>/dev/null | jq '[.drops[] | select(.name == "tunnel frame not IPv4") | .packets] | add // 0')
check multinode_pods/tunnel_no_ipv6_chatter "n1: $not_ipv4 drops 'tunnel frame not IPv4', disable_ipv6 $(topo_in_node n1 cat /proc/sys/net/ipv6/conf/sluice_vxlan/disable_ipv6 2>&1)" \
	test "$not_ipv4" = 0
check multinode_pods/tunnel_device_counters "n1 sluice_vxlan: tx $tx0 -> $tx1, rx $rx0 -> $rx1" \
	test "$tx0" -ge 0 -a "$((tx1 - tx0))" -ge 24 -a "$((rx1 - rx0))" -ge 24

# ---- tunnel: a NetworkPolicy across nodes; the identity travels -------------------------------
heredoc <<'EOF' | api_apply
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-a, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: a}}
EOF
db=$(topo_pod_ip db3)
denied_from_b2() { [[ $(count_from db3 "$(topo_probe b2 --tcp "$db:8080" -n 1 --timeout-ms 500 || true)") == 0 ]]; }
check multinode_pods/policy_applied "b2 (app=b, n2) still reaches db3 (n3)" wait_until denied_from_b2
out=$(topo_probe b2 --tcp "$db:8080" -n 3 --timeout-ms 1000 || true)
check multinode_pods/policy_denies_other_identity "b2 (app=b, n2) -> db3 (n3): $(tally "$out")" test "$(count_from db3 "$out")" -eq 0
out=$(topo_probe a2 --tcp "$db:8080" -n 3 --timeout-ms 2000 || true)
check multinode_pods/policy_admits_identity_same_node "a2 (app=a, n2) -> db3 (n3): $(tally "$out")" test "$(count_from db3 "$out")" -eq 3
out=$(topo_probe a1 --tcp "$db:8080" -n 3 --timeout-ms 2000 || true)
check multinode_pods/policy_admits_identity_other_node "a1 (app=a, n1) -> db3 (n3): $(tally "$out")" test "$(count_from db3 "$out")" -eq 3
out=$(topo_probe a3 --tcp "$db:8080" -n 3 --timeout-ms 2000 || true)
check multinode_pods/policy_admits_local "a3 (app=a, n3) -> db3 (n3): $(tally "$out")" test "$(count_from db3 "$out")" -eq 3

# ---- tunnel: a ClusterIP with a backend on every node ------------------------------------------
{
	manifest_service a "$SVC_VIP" 80:8080/TCP
	echo ---
	manifest_slice a 80:8080/TCP a1 a2 a3
} | api_apply
check multinode_pods/service_programmed "n1: $(service_backends n1 "$SVC_VIP" 80) backends" wait_service_backends n1 "$SVC_VIP" 80 3
out=$(topo_probe c1 --tcp "$SVC_VIP:80" -n 60 --timeout-ms 2000 || true)
info "c1 (n1) -> $SVC_VIP:80 x60: $(tally "$out")"
check multinode_pods/service_every_backend "answers: $(tally "$out")" \
	test "$(count_from a1 "$out")" -gt 0 -a "$(count_from a2 "$out")" -gt 0 -a "$(count_from a3 "$out")" -gt 0 -a "$(count_errors "$out")" -eq 0
check multinode_pods/service_client_address_kept "peers other than c1: $(foreign_peers "$(topo_pod_ip c1)" "$out" | head -3 | tr '\n' ' ')" \
	test -z "$(foreign_peers "$(topo_pod_ip c1)" "$out")"

# ---- a Node deleted, then added again -----------------------------------------------------------
gone_everywhere() {
	tunnel4_is n1 2 && tunnel4_is n2 2 &&
		has_no_route n1 10.244.3.0/24 && has_no_route n2 10.244.3.0/24
}
back_everywhere() {
	tunnel4_is n1 4 && tunnel4_is n2 4 &&
		has_route n1 10.244.3.0/24 && has_route n2 10.244.3.0/24
}
# Bounded at 2 s: the agents' part is the watch event, the 100 ms debounce and one sync (about
# 0.5 s here); the polls (bpftool and ip in two nodes) add up to 0.3 s each on a loaded machine.
api_delete Node "" n3
ms=$(ms_until gone_everywhere)
info "n3 deleted: its tunnel4 entries and routes gone on n1 and n2 after $ms ms"
check multinode_pods/node_removed_unprogrammed "after $ms ms: n1 tunnel4 $(tunnel4_entries n1), route '$(our_route n1 10.244.3.0/24)'" \
	test "$ms" -ge 0 -a "$ms" -le 2000
check multinode_pods/node_removed_others_kept "n1 sees n2: tunnel $(node_list_field n1 n2 tunnel), route $(node_list_field n1 n2 route)" \
	test "$(node_list_field n1 n2 tunnel) $(node_list_field n1 n2 route)" = "true true"
out=$(topo_probe a1 --tcp "$(topo_pod_ip a2):8080" -n 2 --timeout-ms 2000 || true)
check multinode_pods/node_removed_others_reachable "a1 -> a2: $(tally "$out")" test "$(count_from a2 "$out")" -eq 2
manifest_node n3 198.51.100.3 10.244.3.0/24 | api_apply
ms=$(ms_until back_everywhere)
info "n3 added again: programmed on n1 and n2 after $ms ms"
check multinode_pods/node_added_programmed "after $ms ms" test "$ms" -ge 0 -a "$ms" -le 2000
out=$(topo_probe a1 --tcp "$(topo_pod_ip a3):8080" -n 2 --timeout-ms 2000 || true)
check multinode_pods/node_added_reachable "a1 -> a3: $(tally "$out")" test "$(count_from a3 "$out")" -eq 2

# ---- an agent stopped: the tunnel stays, traffic through it goes on ------------------------------
topo_agent_stop n2
check multinode_pods/stop_keeps_device "n2 after SIGTERM: $(topo_in_node n2 tc filter show dev sluice_vxlan egress 2>&1 | head -1)" \
	test "$(topo_in_node n2 tc filter show dev sluice_vxlan egress 2>/dev/null | grep -c tc_tunnel_egres)" -ge 1
out=$(topo_probe a1 --tcp "$(topo_pod_ip a2):8080" -n 2 --timeout-ms 2000 || true)
check multinode_pods/stop_keeps_traffic "a1 -> a2 with n2's agent stopped: $(tally "$out")" test "$(count_from a2 "$out")" -eq 2

# ---- native: agents restarted with --routing native --------------------------------------------
start_agents --routing native
for node in "${NODES[@]}"; do
	check "multinode_pods/native_no_device_$node" "$node still has sluice_vxlan" \
		has_no_device "$node"
done
check multinode_pods/native_route "n1 to n2's pods: $(our_route n1 10.244.2.0/24)" \
	wait_until route_matches n1 10.244.2.0/24 'via 198.51.100.2 dev eth0'
check multinode_pods/native_tunnel4_empty "n1: $(tunnel4_entries n1) entries" test "$(tunnel4_entries n1)" -eq 0
check multinode_pods/native_node_list "n1 sees n3: tunnel $(node_list_field n1 n3 tunnel), route $(node_list_field n1 n3 route) ($(node_list_field n1 n3 route_to))" \
	test "$(node_list_field n1 n3 tunnel) $(node_list_field n1 n3 route) $(node_list_field n1 n3 route_to)" = "false true via 198.51.100.3"
vxlan0=$(wire_count vxlan)
pods0=$(wire_count pods)
matrix native
vxlan1=$(wire_count vxlan)
pods1=$(wire_count pods)
info "native matrix: fabric saw $((vxlan1 - vxlan0)) VXLAN datagrams, $((pods1 - pods0)) packets from pod addresses"
check multinode_pods/native_no_encapsulation "fabric: $((vxlan1 - vxlan0)) VXLAN datagrams" test "$((vxlan1 - vxlan0))" -eq 0
check multinode_pods/native_pod_addresses_on_the_wire "fabric: $((pods1 - pods0)) packets from pod addresses" \
	test "$((pods1 - pods0))" -ge 36

# A ClusterIP with a backend on every node, with no NetworkPolicy at all: the replies of the
# remote backends come back routed through n1's stack (no --uplink, no tc_node) and tc_to_pod
# must still translate them back to the VIP.
api_delete NetworkPolicy default db-from-a
reaches_db_from_b2() { [[ $(count_from db3 "$(topo_probe b2 --tcp "$db:8080" -n 1 --timeout-ms 500 || true)") == 1 ]]; }
check multinode_pods/native_policy_deleted "b2 still denied after the policy was deleted" wait_until reaches_db_from_b2
out=$(topo_probe c1 --tcp "$SVC_VIP:80" -n 30 --timeout-ms 2000 || true)
check multinode_pods/native_service_every_backend "answers without any policy: $(tally "$out")" \
	test "$(count_from a1 "$out")" -gt 0 -a "$(count_from a2 "$out")" -gt 0 -a "$(count_from a3 "$out")" -gt 0 -a "$(count_errors "$out")" -eq 0

# A route lost while the agent was away is put back by its next start.
topo_agent_stop n1
topo_in_node n1 ip route del 10.244.2.0/24 proto 211 || topo_fatal "could not remove n1's route to n2's pods"
topo_agent_restart n1
check multinode_pods/restart_reasserts_routes "n1 to n2's pods after a restart: '$(our_route n1 10.244.2.0/24)'" \
	wait_until route_matches n1 10.244.2.0/24 'via 198.51.100.2'

# Geneve is refused with one line, before anything is loaded.
out=$(timeout 20 nsenter --net="/var/run/netns/$(topo_ns_node n3)" -- "$SLUICE" agent --node n3 \
	--bpffs "$(topo_bpffs)/geneve" --tunnel geneve 2>&1) && rc=0 || rc=$?
check multinode_pods/geneve_refused "rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-300)" \
	test "$rc" != 0 -a "$(grep -c 'tunnel geneve: not supported' <<<"$out")" = 1
check multinode_pods/geneve_refused_no_device "n3 has a Geneve device" \
	test -z "$(topo_in_node n3 ip -d link show type geneve 2>/dev/null)"

topo_finish
