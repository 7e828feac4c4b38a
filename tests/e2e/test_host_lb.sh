#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The node's own traffic to Services through the cgroup socket hooks (bpf/sock_lb.bpf.c): from
# the node's namespace, a process in the test's cgroup reaches a ClusterIP (TCP, UDP connected
# and unconnected), a NodePort on 127.0.0.1 and on the node's address, a LoadBalancer IP and an
# externalIP, balanced over both backends, and sees the address it called as its peer;
# sessionAffinity holds; a Service without endpoints refuses at once; a process outside the
# cgroup, and a pod inside it, are not translated by the hooks; the hooks survive the agent's
# stop and restart (the same four links, programs swapped in place) and go with --host-lb false.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init host_lb
topo_require_all
command -v bpftool >/dev/null || topo_fatal "bpftool is needed (make deps)"
topo_cgroup

NODE_IP=192.168.79.1
CLIENT_IP=192.168.79.2
VIP=10.96.0.10
EMPTY_VIP=10.96.0.30
STICKY_VIP=10.96.0.40
RANGED_LB=198.51.100.30  # loadBalancerSourceRanges: the node's address
BLOCKED_LB=198.51.100.31 # loadBalancerSourceRanges: elsewhere
LB_IP=198.51.100.10
EXTERNAL_IP=198.51.100.20

topo_node n1 10.244.1.0/24
topo_uplink_client n1 "$NODE_IP" "$CLIENT_IP"
AGENT_ARGS=(--uplink up0 --node-ip "$NODE_IP" --host-lb true --cgroup-root "$TOPO_CGROUP")
topo_agent n1 "$TOPO_DIR/manifests" "${AGENT_ARGS[@]}"
topo_pod n1 client
topo_pod n1 web-1
topo_pod n1 web-2
topo_echo web-1 --tcp 8080 --udp 5353
topo_echo web-2 --tcp 8080 --udp 5353

{
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: $VIP
  externalIPs: ["$EXTERNAL_IP"]
  selector: {app: web}
  ports:
  - {name: tcp-80, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30080}
  - {name: udp-53, protocol: UDP, port: 53, targetPort: 5353, nodePort: 30053}
status:
  loadBalancer:
    ingress: [{ip: $LB_IP}]
---
EOF
	manifest_slice web "80:8080/TCP,53:5353/UDP" web-1 web-2
	echo ---
	manifest_service empty "$EMPTY_VIP" 80:8080/TCP
	echo ---
	manifest_slice empty 80:8080/TCP
	echo ---
	manifest_service sticky "$STICKY_VIP" 80:8080/TCP |
		sed 's/^  type: ClusterIP$/  type: ClusterIP\n  sessionAffinity: ClientIP/'
	echo ---
	manifest_slice sticky 80:8080/TCP web-1 web-2
	for spec in "ranged 10.96.0.50 $RANGED_LB $NODE_IP/32" "blocked 10.96.0.51 $BLOCKED_LB 203.0.113.0/24"; do
		read -r name cip lb range <<<"$spec"
		cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: $cip
  loadBalancerSourceRanges: ["$range"]
  selector: {app: web}
  ports:
  - {name: tcp-80, protocol: TCP, port: 80, targetPort: 8080}
status:
  loadBalancer:
    ingress: [{ip: $lb}]
---
EOF
		manifest_slice "$name" 80:8080/TCP web-1 web-2
	done
} | write_file "$TOPO_DIR/manifests/services.yaml"
wait_service_backends n1 "$VIP" 80 2 ||
	topo_fatal "service web not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"

# answered OUTPUT: lines answered by web-1 or web-2.
answered() { echo $(($(count_from web-1 "$1") + $(count_from web-2 "$1"))); }

# host_probe NAME ARGS... TARGET: 20 attempts from the node's namespace inside the test cgroup,
# all answered, by both backends, each with TARGET as its peer.
host_probe() {
	local name=$1 target=${*: -1} out web1 web2 wrong
	shift
	out=$(topo_in_cgroup n1 "$SL_TOOLS/sl_probe" "$@" -n 20 --timeout-ms 2000 --peer || true)
	show_output "$out"
	web1=$(count_from web-1 "$out")
	web2=$(count_from web-2 "$out")
	wrong=$(grep -v " peer=$target\$" <<<"$out" | sort | uniq -c | tr '\n' ' ' || true)
	check "host_lb/${name}_answered" "$((web1 + web2)) of 20 answered: $(tally "$out")" \
		test "$((web1 + web2))" -eq 20
	check "host_lb/${name}_both_backends" "tally $(tally "$out")" test "$web1" -gt 0 -a "$web2" -gt 0
	check "host_lb/${name}_peer_is_frontend" "lines without peer=$target: $wrong" \
		test -z "$wrong" -a "$((web1 + web2))" -gt 0
}

host_probe clusterip_tcp --tcp "$VIP:80"
host_probe clusterip_udp_connected --udp "$VIP:53"
host_probe clusterip_udp_unconnected --unconnected --udp "$VIP:53"
host_probe nodeport_loopback_tcp --tcp 127.0.0.1:30080
host_probe nodeport_loopback_udp --unconnected --udp 127.0.0.1:30053
host_probe nodeport_node_address_tcp --tcp "$NODE_IP:30080"
host_probe loadbalancer_ip_tcp --tcp "$LB_IP:80"
host_probe external_ip_tcp --tcp "$EXTERNAL_IP:80"

# Not a check, a number for the report: 500 connects through the hooks against straight to a pod.
t0=$(date +%s%N)
topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$VIP:80" -n 500 >/dev/null || true
t1=$(date +%s%N)
topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$(topo_pod_ip web-1):8080" -n 500 >/dev/null || true
t2=$(date +%s%N)
info "500 sequential connects from the node: via $VIP $(((t1 - t0) / 1000000)) ms, straight to web-1 $(((t2 - t1) / 1000000)) ms"

# sessionAffinity ClientIP holds for the node's connections (web, without it, spread above).
out=$(topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$STICKY_VIP:80" -n 10 --timeout-ms 2000 || true)
show_output "$out"
web1=$(count_from web-1 "$out")
web2=$(count_from web-2 "$out")
check host_lb/session_affinity "10 connections to $STICKY_VIP:80: $(tally "$out")" \
	test "$((web1 + web2))" -eq 10 -a \( "$web1" -eq 0 -o "$web2" -eq 0 \)

# loadBalancerSourceRanges judge the node by its address, as kube-proxy does: a range with it
# admits the node's connections, another refuses them at connect().
out=$(topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$RANGED_LB:80" -n 5 --timeout-ms 2000 || true)
check host_lb/source_range_admits_node "to $RANGED_LB (range $NODE_IP/32): $(tally "$out")" \
	test "$(answered "$out")" -eq 5
out=$(topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$BLOCKED_LB:80" -n 3 --timeout-ms 2000 || true)
check host_lb/source_range_refuses_node "to $BLOCKED_LB (range 203.0.113.0/24): $(tally "$out")" \
	test "$(grep -c '^ERR EPERM$' <<<"$out")" -eq 3

# Translated once, at connect(): the packets carry a backend's address, so the tc programs
# made no conntrack entry for the node's connections to the VIP.
n=$(ct_entries_with n1 "$VIP")
check host_lb/no_per_packet_translation "ct list has $n entries naming $VIP" test "$n" -eq 0

# No endpoints: connect() fails at once with ECONNREFUSED (EPERM on kernels before 5.18).
start=$(date +%s%N)
out=$(topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$EMPTY_VIP:80" -n 3 --timeout-ms 3000 || true)
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
show_output "$out"
check host_lb/no_endpoints_refused "3 connects to $EMPTY_VIP:80: $(tally "$out")" \
	test "$(grep -c '^ERR ECONNREFUSED$' <<<"$out")" -eq 3
check host_lb/no_endpoints_prompt "3 refusals took ${elapsed_ms} ms" test "$elapsed_ms" -lt 1500

# sluice status counts the node's translated and refused sockets.
stat_of() { topo_cli n1 status -o json 2>/dev/null | jq -r --arg n "$1" '.stats[] | select(.name == $n) | .packets'; }
translated=$(stat_of socket_translated)
refused=$(stat_of socket_refused)
check host_lb/status_counts_sockets "socket_translated $translated, socket_refused $refused" \
	test "${translated:-0}" -ge 160 -a "${refused:-0}" -ge 3

# Outside the test cgroup the node's sockets are not translated: the VIP leads nowhere.
out=$(topo_in_node n1 timeout 20 "$SL_TOOLS/sl_probe" --tcp "$VIP:80" -n 3 --timeout-ms 1000 || true)
show_output "$out"
check host_lb/outside_cgroup_untranslated "outside the cgroup: $(tally "$out")" \
	test "$(answered "$out")" -eq 0

# A pod's process in the cgroup: not the node's namespace, so the hooks leave it to tc_pod,
# which tracks the translated flow in conntrack (a hook-translated flow would have no entry).
client_ip=$(topo_pod_ip client)
out=$(timeout 60 bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$TOPO_CGROUP" \
	nsenter --net="/var/run/netns/$(topo_ns_pod client)" -- "$SL_TOOLS/sl_probe" --tcp "$VIP:80" -n 5 || true)
n=$(ct_entries_with n1 "$client_ip")
check host_lb/pod_netns_left_to_tc "pod in the cgroup: $(answered "$out") of 5 answered, $n ct entries" \
	test "$(answered "$out")" -eq 5 -a "$n" -gt 0

# hooks_on_cgroup: how many sluice programs the test cgroup runs.
hooks_on_cgroup() { bpftool cgroup show "$TOPO_CGROUP" 2>/dev/null | grep -c 'sock_lb_' || true; }
check host_lb/four_hooks "bpftool cgroup show: $(hooks_on_cgroup) sock_lb programs" \
	test "$(hooks_on_cgroup)" -eq 4

# link_id: the id of the pinned connect4 link (the same link across a restart: updated in place).
link_id() { bpftool link show pinned "$(topo_node_bpffs n1)/sock_lb_connect4" 2>/dev/null | awk -F: 'NR == 1 { print $1 }'; }
link_before=$(link_id)

# The agent stopped: the pinned links keep translating.
topo_agent_stop n1 TERM
out=$(topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$VIP:80" -n 5 || true)
check host_lb/agent_stopped_still_serves "$(answered "$out") of 5 answered: $(tally "$out")" \
	test "$(answered "$out")" -eq 5

# Restarted: its programs replace the old ones in the same links (still four), and serve.
topo_agent_restart n1
check host_lb/restart_keeps_four_hooks "after restart: $(hooks_on_cgroup) sock_lb programs" \
	test "$(hooks_on_cgroup)" -eq 4
check host_lb/restart_updates_link_in_place "connect4 link id $link_before before, $(link_id) after" \
	test -n "$link_before" -a "$(link_id)" = "$link_before"
out=$(topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$VIP:80" -n 5 || true)
check host_lb/restarted_serves "$(answered "$out") of 5 answered: $(tally "$out")" \
	test "$(answered "$out")" -eq 5

# --host-lb false: the hooks go.
topo_agent_stop n1 TERM
topo_agent n1 "$TOPO_DIR/manifests" "${AGENT_ARGS[@]}" --host-lb false
check host_lb/off_detaches "with --host-lb false: $(hooks_on_cgroup) sock_lb programs" \
	test "$(hooks_on_cgroup)" -eq 0
out=$(topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$VIP:80" -n 2 --timeout-ms 1000 || true)
check host_lb/off_untranslated "with --host-lb false: $(tally "$out")" test "$(answered "$out")" -eq 0

# A --cgroup-root that is no cgroup v2 directory: one line, exit non-zero, nothing loaded.
bad_pins=$(topo_bpffs)/bad
mkdir -p "$bad_pins"
rc=0
out=$(topo_in_node n1 timeout 20 "$SLUICE" agent --node n1 --manifests "$TOPO_DIR/manifests" \
	--bpffs "$bad_pins" --pod-cidr 10.244.1.0/24 --host-lb true --cgroup-root "$TOPO_DIR" 2>&1) || rc=$?
check host_lb/bad_cgroup_root_refused "exit $rc, pins: $(ls "$bad_pins" | tr '\n' ' '), output: $(tr '\n' '|' <<<"$out")" \
	test "$rc" -ne 0 -a -z "$(ls "$bad_pins")" -a "$(grep -c "cgroup-root $TOPO_DIR: not a cgroup v2 directory" <<<"$out")" -eq 1

topo_finish
