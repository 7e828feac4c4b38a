#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# IP fragments (issue 12): UDP datagrams of 4000 bytes over the pods' veths (MTU below that), so
# the request and the answer (sl_echo pads it to the request's length) both travel as fragments.
# Through the Service VIP they reach a backend, keep the client's address, and the answer comes
# back whole from the VIP (the probe's socket is connected to it); the kernels' own counters
# show both ways were fragmented and reassembled. From outside the node (uplink: XDP + tc_node)
# the same through a NodePort, masqueraded to the node's address. Into a pod isolated by a NetworkPolicy the
# datagram is delivered when a rule admits the sender (straight and through the VIP) and dropped
# whole when none does, every fragment counted as "policy denied ingress"; no fragment is ever
# dropped for lack of its first.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

SIZE=4000

NODE_IP=192.168.78.1
OUTSIDE_IP=192.168.78.2
NODE_PORT=30053

topo_init fragments
topo_require_all
# topo_standard's pods and Service, plus a client outside the node behind the uplink (XDP + tc).
topo_node n1 10.244.1.0/24
topo_uplink_client n1 "$NODE_IP" "$OUTSIDE_IP"
topo_agent n1 "$TOPO_DIR/manifests" --uplink up0 --node-ip "$NODE_IP"
for pod in client web-1 web-2 other; do topo_pod n1 "$pod"; done
topo_echo web-1
topo_echo web-2
write_web_manifests web-1 web-2
{
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: web-np, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.53
  externalTrafficPolicy: Cluster
  ports: [{name: udp-53, protocol: UDP, port: 53, targetPort: 5353, nodePort: $NODE_PORT}]
EOF
	echo ---
	manifest_slice web-np 53:5353/UDP web-1 web-2
} | write_file "$TOPO_DIR/manifests/web-np.yaml"
for frontend in "$SL_VIP 80" "10.96.0.53 53"; do
	# shellcheck disable=SC2086 # address and port
	wait_service_backends n1 $frontend 2 ||
		topo_fatal "service $frontend not applied within ${SL_SYNC_TIMEOUT}s: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
done
client_ip=$(topo_pod_ip client)
web1=$(topo_pod_ip web-1)

# snmp POD FIELD: the pod's Ip counter FIELD (FragCreates, ReasmOKs...) from /proc/net/snmp.
snmp() {
	# shellcheck disable=SC2016 # an awk program, not the shell's
	topo_in_pod "$1" awk -v f="$2" '$1 == "Ip:" && !n { for (i = 2; i <= NF; i++) col[$i] = i; n = 1; next }
		$1 == "Ip:" { print $col[f] }' /proc/net/snmp
}
# drops NAME: packets `sluice drops` counts under reason NAME.
drops() {
	topo_cli n1 drops -o json 2>/dev/null |
		jq -r --arg name "$1" '[.drops[] | select(.name == $name) | .packets] | add // 0' ||
		echo 0
}
# probe POD TARGET COUNT: COUNT datagrams of SIZE bytes, each answered as large or an ERR line.
probe() {
	topo_probe "$1" --udp "$2" -n "$3" --size "$SIZE" --timeout-ms 1500 || true
}

mtu=$(topo_in_pod client cat /sys/class/net/eth0/mtu)
check fragments/mtu "client eth0 MTU $mtu, datagrams of $SIZE bytes" test "$mtu" -lt "$SIZE"

# ---- through the Service VIP, no policy ----------------------------------------------------------
frags=$(snmp client FragCreates)
reasm=$(snmp client ReasmOKs)
web_reasm=$(($(snmp web-1 ReasmOKs) + $(snmp web-2 ReasmOKs)))
out=$(probe client "$SL_VIP:53" 10)
show_output "$out"
check fragments/vip_answered "$(count_errors "$out") of 10 failed: $(tally "$out")" \
	test "$(count_errors "$out")" -eq 0 -a "$(($(count_from web-1 "$out") + $(count_from web-2 "$out")))" -eq 10
foreign=$(foreign_peers "$client_ip" "$out")
check fragments/vip_client_address_kept "backends saw $(sort -u <<<"$foreign" | tr '\n' ' ')" \
	test -z "$foreign" -a "$(count_errors "$out")" -lt 10
frags=$(($(snmp client FragCreates) - frags))
reasm=$(($(snmp client ReasmOKs) - reasm))
web_reasm=$(($(snmp web-1 ReasmOKs) + $(snmp web-2 ReasmOKs) - web_reasm))
check fragments/vip_request_fragmented "client made $frags fragments, backends reassembled $web_reasm datagrams" \
	test "$frags" -ge 20 -a "$web_reasm" -ge 10
check fragments/vip_answer_fragmented "client reassembled $reasm answers" test "$reasm" -ge 10

# ---- from outside the node to the NodePort (Cluster: masqueraded to the node's address) ----------
out=$(topo_in_ns "$UPLINK_CLIENT_NS" timeout 60 "$SL_TOOLS/sl_probe" --udp "$NODE_IP:$NODE_PORT" \
	-n 6 --size "$SIZE" --timeout-ms 1500 || true)
show_output "$out"
check fragments/nodeport_answered "outside -> NodePort: $(tally "$out")" \
	test "$(count_errors "$out")" -eq 0 -a "$(($(count_from web-1 "$out") + $(count_from web-2 "$out")))" -eq 6
check fragments/nodeport_masqueraded "backends saw $(awk '{print $2}' <<<"$out" | cut -d: -f1 | sort -u | tr '\n' ' ')" \
	test -z "$(foreign_peers "$NODE_IP" "$out")"

# ---- NetworkPolicy: web-1 and web-2 admit only app=client on UDP 5353 ----------------------------
{
	manifest_pod client "app: client"
	manifest_pod other "app: other"
	manifest_pod web-1 "app: web"
	manifest_pod web-2 "app: web"
} | write_file "$TOPO_DIR/manifests/pods.yaml"
cat <<EOF | write_file "$TOPO_DIR/manifests/policy.yaml"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-udp-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    ports: [{protocol: UDP, port: 5353}]
EOF
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until topo_cli n1 policy list default/web-1 -o json 2>/dev/null |
	jq -e '.endpoints[0].ingress_isolated and (.endpoints[0].rules | length > 0)' >/dev/null; do
	((SECONDS < deadline)) || topo_fatal "policy not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
	sleep 0.2
done

out=$(probe client "$web1:5353" 3)
check fragments/policy_allowed_direct "client -> web-1 (admitted): $(tally "$out")" \
	test "$(count_from web-1 "$out")" -eq 3
out=$(probe client "$SL_VIP:53" 4)
check fragments/policy_allowed_vip "client -> VIP (admitted): $(tally "$out")" \
	test "$(count_errors "$out")" -eq 0

before=$(drops "policy denied ingress")
out=$(probe other "$web1:5353" 2)
after=$(drops "policy denied ingress")
check fragments/policy_denied_direct "other -> web-1 (no rule): $(tally "$out")" \
	test "$(count_errors "$out")" -eq 2
# 4028 IP bytes over a 1500 MTU are three fragments: each one is denied, not the first alone.
check fragments/policy_denied_every_fragment "policy denied ingress: $before -> $after packets for 2 datagrams" \
	test "$((after - before))" -ge 6
out=$(probe other "$SL_VIP:53" 2)
check fragments/policy_denied_vip "other -> VIP (no rule): $(tally "$out")" \
	test "$(count_errors "$out")" -eq 2

# An unisolated pod still gets fragmented datagrams from anyone (untracked, passed whole).
topo_echo client --udp 5353
out=$(probe other "$(topo_pod_ip client):5353" 3)
check fragments/unisolated_pass "other -> client (no policy selects it): $(tally "$out")" \
	test "$(count_from client "$out")" -eq 3

n=$(drops "fragment without its first fragment")
check fragments/none_without_first "fragment without its first fragment: $n" test "$n" -eq 0
topo_cli n1 drops >&2 || true

# `sluice status` shows every map the programs pinned (frag4 among them), each with its fill;
# the agent's own bookkeeping pins (status, layout, IPAM) have their own sections.
pinned=$(for f in "$(topo_node_bpffs n1)"/*; do
	bpftool -j map show pinned "$f" >/dev/null 2>&1 && basename "$f"
done | grep -vxE 'agent_status|maps_layout|ipam_.*' | sort || true)
listed=$(topo_cli n1 status -o json | jq -r '.maps[] | select(.present) | .name' | sort)
check fragments/status_lists_every_map "pinned but not in status: $(comm -23 <(echo "$pinned") <(echo "$listed") | tr '\n' ' ')" \
	test -n "$pinned" -a "$pinned" = "$listed"
topo_finish
