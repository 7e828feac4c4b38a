#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Socket LB for pods (--socket-lb, bpf/sock_lb.bpf.c): a pod's TCP connection to a ClusterIP is
# pointed at a backend once, at connect(), in the pod's cgroup, and then travels as a plain
# pod-to-pod flow: answered by both backends, getpeername() shows the ClusterIP, and conntrack
# holds no entry naming the ClusterIP. sessionAffinity and internalTrafficPolicy Local pick as
# the packet path does; NetworkPolicy denying the backend's ingress still holds (the connections
# counted as the Service's new flows at the hook); no endpoints
# refuses at once. The pod's UDP stays on the per-packet path. Two nodes share this kernel and
# the test's cgroup: n1's hooks leave n2's pod alone (n2 translates it per packet). sluice-cni
# DEL removes the pod's entry; --socket-lb false takes the hooks away, and the per-packet path
# then picks the affinity's backend again.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init socket_lb
topo_require_all
command -v bpftool >/dev/null || topo_fatal "bpftool is needed (make deps)"
topo_cgroup

VIP=10.96.0.10
EMPTY_VIP=10.96.0.30
STICKY_VIP=10.96.0.40
LOCAL_VIP=10.96.0.50
GUARDED_VIP=10.96.0.60
AGENT_ARGS=(--socket-lb true --cgroup-root "$TOPO_CGROUP")

topo_node n1 10.244.1.0/24
topo_node n2 10.244.2.0/24
mkdir -p "$TOPO_DIR/manifests-n2"
topo_agent n1 "$TOPO_DIR/manifests" "${AGENT_ARGS[@]}"
# n2 translates per packet: its pod's flow to the VIP must show in n2's conntrack.
topo_agent n2 "$TOPO_DIR/manifests-n2" --socket-lb false
for pod in client web-1 web-2 guarded spare; do topo_pod n1 "$pod"; done
for pod in other web-3; do topo_pod n2 "$pod"; done
for pod in web-1 web-2 guarded web-3; do topo_echo "$pod" --tcp 8080 --udp 5353; done

{
	manifest_pod client "app: client"
	manifest_pod web-1 "app: web"
	manifest_pod web-2 "app: web"
	manifest_pod guarded "app: guarded"
	echo ---
	manifest_service web "$VIP" 80:8080/TCP 53:5353/UDP
	echo ---
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
	echo ---
	# web-3 lives on n2, which n1 cannot reach here: Local must never pick it.
	manifest_service local "$LOCAL_VIP" 80:8080/TCP |
		sed 's/^  type: ClusterIP$/  type: ClusterIP\n  internalTrafficPolicy: Local/'
	echo ---
	manifest_slice local 80:8080/TCP web-1 web-3
	echo ---
	manifest_service guarded "$GUARDED_VIP" 80:8080/TCP
	echo ---
	manifest_slice guarded 80:8080/TCP guarded
	cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: guarded-closed, namespace: default}
spec:
  podSelector: {matchLabels: {app: guarded}}
  policyTypes: [Ingress]
EOF
} | write_file "$TOPO_DIR/manifests/services.yaml"
{
	manifest_service web "$VIP" 80:8080/TCP
	echo ---
	manifest_slice web 80:8080/TCP web-3
} | write_file "$TOPO_DIR/manifests-n2/services.yaml"
wait_service_backends n1 "$VIP" 80 2 ||
	topo_fatal "service web not applied on n1: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
wait_service_backends n2 "$VIP" 80 1 ||
	topo_fatal "service web not applied on n2: $(topo_log_tail "${TOPO_AGENT_LOG[n2]}")"

answered() { echo $(($(count_from web-1 "$1") + $(count_from web-2 "$1"))); }
# pods_recorded NODE: entries in the node's lb4_sk_pods.
pods_recorded() { bpftool -j map dump pinned "$(topo_node_bpffs "$1")/lb4_sk_pods" 2>/dev/null | jq length; }
hooks_on_cgroup() { bpftool cgroup show "$TOPO_CGROUP" 2>/dev/null | grep -c 'sock_lb_' || true; }

check socket_lb/pods_recorded "n1 lb4_sk_pods: $(pods_recorded n1) entries for 5 pods" \
	test "$(pods_recorded n1)" -eq 5
# n2 runs without hooks, yet keeps the pin, so a later --socket-lb true serves its pods too.
check socket_lb/pods_recorded_hooks_off "n2 lb4_sk_pods: $(pods_recorded n2) entries for 2 pods" \
	test "$(pods_recorded n2)" -eq 2
check socket_lb/four_hooks "bpftool cgroup show: $(hooks_on_cgroup) sock_lb programs (n1's only)" \
	test "$(hooks_on_cgroup)" -eq 4

# Balanced, answered, and the ClusterIP as the peer.
out=$(topo_pod_in_cgroup client "$SL_TOOLS/sl_probe" --tcp "$VIP:80" -n 20 --timeout-ms 2000 --peer || true)
show_output "$out"
wrong=$(grep -v " peer=$VIP:80\$" <<<"$out" | sort | uniq -c | tr '\n' ' ' || true)
check socket_lb/clusterip_answered "$(answered "$out") of 20 answered: $(tally "$out")" \
	test "$(answered "$out")" -eq 20
check socket_lb/clusterip_both_backends "tally $(tally "$out")" \
	test "$(count_from web-1 "$out")" -gt 0 -a "$(count_from web-2 "$out")" -gt 0
check socket_lb/peer_is_clusterip "lines without peer=$VIP:80: $wrong" test -z "$wrong"

# Translated at connect(): tc_pod saw a pod-to-pod flow, so no conntrack entry names the VIP.
n=$(ct_entries_with n1 "$VIP")
check socket_lb/no_service_conntrack "ct list has $n entries naming $VIP" test "$n" -eq 0

# sessionAffinity: one backend for the client's connections.
sticky=$(topo_pod_in_cgroup client "$SL_TOOLS/sl_probe" --tcp "$STICKY_VIP:80" -n 10 --timeout-ms 2000 || true)
show_output "$sticky"
check socket_lb/session_affinity "10 connections to $STICKY_VIP:80: $(tally "$sticky")" \
	test "$(answered "$sticky")" -eq 10 -a \( "$(count_from web-1 "$sticky")" -eq 0 -o "$(count_from web-2 "$sticky")" -eq 0 \)
sticky_backend=$(awk 'NR == 1 { print $1 }' <<<"$sticky")

# internalTrafficPolicy Local: only n1's endpoint (web-3 is n2's and unreachable from here).
out=$(topo_pod_in_cgroup client "$SL_TOOLS/sl_probe" --tcp "$LOCAL_VIP:80" -n 10 --timeout-ms 2000 || true)
check socket_lb/internal_traffic_policy_local "10 connections to $LOCAL_VIP:80: $(tally "$out")" \
	test "$(count_from web-1 "$out")" -eq 10

# stat_of NAME: a counter of sluice status (socket_translated, socket_refused).
stat_of() { topo_cli n1 status -o json 2>/dev/null | jq -r --arg n "$1" '[.stats[] | select(.name == $n) | .packets] | add // 0'; }

# The backend's ingress policy still judges the flow (now pod-to-pod): translated at connect(),
# then dropped by policy, and counted.
before=$(stat_of socket_translated)
out=$(topo_pod_in_cgroup client "$SL_TOOLS/sl_probe" --tcp "$GUARDED_VIP:80" -n 2 --timeout-ms 1000 || true)
show_output "$out"
denied=$(topo_cli n1 drops -o json 2>/dev/null | jq '[.drops[] | select(.name | startswith("policy denied")) | .packets] | add // 0')
translated=$(($(stat_of socket_translated) - before))
check socket_lb/backend_ingress_policy_holds "to $GUARDED_VIP:80: $(tally "$out"), $translated translated at connect(), policy drops $denied" \
	test "$(count_from guarded "$out")" -eq 0 -a "$(count_errors "$out")" -eq 2 -a "$translated" -eq 2 -a "${denied:-0}" -gt 0
n=$(ct_entries_with n1 "$GUARDED_VIP")
check socket_lb/guarded_not_per_packet "ct list has $n entries naming $GUARDED_VIP" test "$n" -eq 0
# Those connections were new flows of guarded's port at the hook, none per packet: its series.
series='sluice_service_new_flows_total{namespace="default",name="guarded",port="tcp-80"}'
v=$(topo_in_node n1 curl -sf -m 5 http://127.0.0.1:9962/metrics | awk -v s="$series" '$1 == s { print $2 }' || true)
check socket_lb/service_new_flows_at_hook "$series: ${v:-absent}" test "${v:-0}" -eq 2

# No endpoints: connect() fails at once with ECONNREFUSED, from the hook (no packet sent).
before=$(stat_of socket_refused)
start=$(date +%s%N)
out=$(topo_pod_in_cgroup client "$SL_TOOLS/sl_probe" --tcp "$EMPTY_VIP:80" -n 3 --timeout-ms 3000 || true)
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
show_output "$out"
refused=$(($(stat_of socket_refused) - before))
check socket_lb/no_endpoints_refused "3 connects to $EMPTY_VIP:80: $(tally "$out"), $refused refused by the hook" \
	test "$(grep -c '^ERR ECONNREFUSED$' <<<"$out")" -eq 3 -a "$refused" -eq 3
check socket_lb/no_endpoints_prompt "3 refusals took ${elapsed_ms} ms" test "$elapsed_ms" -lt 1500

# A pod's UDP stays on the per-packet path: answered, and tracked under the VIP.
out=$(topo_pod_in_cgroup client "$SL_TOOLS/sl_probe" --udp "$VIP:53" -n 5 --timeout-ms 2000 || true)
n=$(ct_entries_with n1 "$VIP")
check socket_lb/udp_per_packet "UDP: $(answered "$out") of 5 answered, $n ct entries naming $VIP" \
	test "$(answered "$out")" -eq 5 -a "$n" -gt 0

# Another node's pod in the same cgroup: n1's hooks leave it; n2 translates it per packet.
out=$(topo_pod_in_cgroup other "$SL_TOOLS/sl_probe" --tcp "$VIP:80" -n 5 --timeout-ms 2000 --peer || true)
show_output "$out"
n=$(ct_entries_with n2 "$VIP")
check socket_lb/other_node_pod_untouched "n2's pod: $(count_from web-3 "$out") of 5 answered by web-3, $n n2 ct entries naming $VIP" \
	test "$(count_from web-3 "$out")" -eq 5 -a "$n" -gt 0

# DEL removes the pod's entry.
topo_cni n1 spare DEL >/dev/null 2>&1 || true
check socket_lb/del_forgets_pod "n1 lb4_sk_pods after DEL of spare: $(pods_recorded n1) entries" \
	test "$(pods_recorded n1)" -eq 4

# --socket-lb false: the hooks go (--host-lb is off too); the per-packet path serves and tracks
# the flow, and affinity keeps the backend the socket path chose.
topo_agent_stop n1 TERM
topo_agent n1 "$TOPO_DIR/manifests" --socket-lb false --cgroup-root "$TOPO_CGROUP"
check socket_lb/off_detaches "with --socket-lb false: $(hooks_on_cgroup) sock_lb programs" \
	test "$(hooks_on_cgroup)" -eq 0
out=$(topo_pod_in_cgroup client "$SL_TOOLS/sl_probe" --tcp "$VIP:80" -n 5 --timeout-ms 2000 || true)
n=$(ct_entries_with n1 "$VIP")
check socket_lb/off_per_packet "$(answered "$out") of 5 answered, $n ct entries naming $VIP" \
	test "$(answered "$out")" -eq 5 -a "$n" -gt 0
out=$(topo_pod_in_cgroup client "$SL_TOOLS/sl_probe" --tcp "$STICKY_VIP:80" -n 5 --timeout-ms 2000 || true)
check socket_lb/affinity_shared_with_packet_path "socket path chose $sticky_backend; per packet: $(tally "$out")" \
	test -n "$sticky_backend" -a "$(count_from "$sticky_backend" "$out")" -eq 5

topo_finish
