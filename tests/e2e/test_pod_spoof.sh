#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A pod sends only as itself (issue 12). An attacker pod that adds the victim's address to its
# eth0 and connects from it, to a Service and to a pod whose NetworkPolicy admits only the victim,
# gets no answer (tc_pod drops the packets, counted under "source address not the pod's"), and
# its ARP with the victim's address as sender does not teach the node the victim at the
# attacker's MAC; the victim still connects. A pod whose address changed (CNI DEL, then ADD with
# another address) cannot send as its old one, and a stale endpoint left on a veth ifindex that a
# new pod reuses does not let that pod send as the stale address. An agent upgrade finds a
# 'drops' pin of an older size and replaces it instead of refusing to start.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

SPOOFED="source address not the pod's"

topo_init pod-spoof
topo_require_all
command -v bpftool >/dev/null || topo_fatal "bpftool not installed (tests/deps.sh)"
topo_node n1 10.244.1.0/24

# An older build's per-CPU 'drops' array (13 reasons): the agent must start and replace it.
bpftool map create "$(topo_node_bpffs n1)/drops" type percpu_array key 4 value 16 entries 13 \
	name drops || topo_fatal "bpftool map create drops failed"
topo_agent n1 "$TOPO_DIR/manifests"
check spoof/old_drops_pin_replaced "agent log: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")" \
	grep -q 'drops: 13 counters -> .*counters restart at zero' "${TOPO_AGENT_LOG[n1]}"

topo_pod n1 victim
topo_pod n1 attacker
topo_pod n1 web-1
topo_pod n1 db
topo_echo web-1
topo_echo db --tcp 8080
victim=$(topo_pod_ip victim)
attacker=$(topo_pod_ip attacker)
db=$(topo_pod_ip db)

{
	manifest_pod victim "app: victim"
	manifest_pod attacker "app: attacker"
	manifest_pod web-1 "app: web"
	manifest_pod db "app: db"
} | write_file "$TOPO_DIR/manifests/pods.yaml"
write_file "$TOPO_DIR/manifests/policy.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-victim, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: victim}}}]
    ports: [{port: 8080}]
EOF
write_web_manifests web-1
wait_service_backends n1 "$SL_VIP" 80 1 ||
	topo_fatal "service web not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
policy_ready() {
	topo_cli n1 policy list default/db -o json 2>/dev/null |
		jq -e '.endpoints[0].ingress_isolated and (.endpoints[0].rules | length > 0)' >/dev/null
}
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until policy_ready; do
	((SECONDS < deadline)) || topo_fatal "policy not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
	sleep 0.2
done

spoofed_drops() {
	topo_cli n1 drops -o json | jq --arg name "$SPOOFED" '[.drops[] | select(.name == $name) | .packets] | add // -1'
}
check spoof/drops_lists_reason "sluice drops: $(topo_cli n1 drops 2>&1 | tr '\n' '|')" \
	test "$(spoofed_drops)" -eq 0

# The victim reaches both, the attacker (as itself) is kept out of db by the policy.
out=$(topo_probe victim --tcp "$SL_VIP:80" -n 3 || true)
check spoof/victim_to_service "victim -> $SL_VIP:80: $(tr '\n' ' ' <<<"$out")" test "$(count_from web-1 "$out")" -eq 3
out=$(topo_probe victim --tcp "$db:8080" -n 3 || true)
check spoof/victim_to_isolated_pod "victim -> db: $(tr '\n' ' ' <<<"$out")" test "$(count_from db "$out")" -eq 3
out=$(topo_probe attacker --tcp "$db:8080" -n 1 --timeout-ms 1000 || true)
check spoof/attacker_as_itself_denied "attacker -> db as $attacker: $(tr '\n' ' ' <<<"$out")" test "$(count_errors "$out")" -eq 1

# The attacker takes the victim's address as a second one and connects from it.
topo_in_pod attacker ip addr add "$victim/32" dev eth0
before=$(spoofed_drops)
out=$(topo_probe attacker --tcp "$SL_VIP:80" --src "$victim" -n 3 --timeout-ms 1000 || true)
check spoof/service_as_victim_fails "attacker -> $SL_VIP:80 from $victim: $(tr '\n' ' ' <<<"$out")" \
	test "$(count_errors "$out")" -eq 3
out=$(topo_probe attacker --udp "$SL_VIP:53" --src "$victim" -n 2 --timeout-ms 1000 || true)
check spoof/service_udp_as_victim_fails "attacker -> $SL_VIP:53/udp from $victim: $(tr '\n' ' ' <<<"$out")" \
	test "$(count_errors "$out")" -eq 2
out=$(topo_probe attacker --tcp "$db:8080" --src "$victim" -n 3 --timeout-ms 1000 || true)
check spoof/isolated_pod_as_victim_fails "attacker -> db from $victim: $(tr '\n' ' ' <<<"$out")" \
	test "$(count_errors "$out")" -eq 3
after=$(spoofed_drops)
check spoof/drops_counted "'$SPOOFED' went $before -> $after, want at least 8 more (3 + 2 + 3 first packets)" \
	test "$after" -ge "$((before + 8))"
topo_cli n1 drops | sed "s/^/  /"

# ARP: "who has the gateway? tell <victim>" from the attacker's MAC, and a gratuitous ARP. Sent
# with a raw socket; the node must not learn the victim's address at the attacker's MAC.
# (From ip, not /sys/class/net: nsenter --net keeps the node's /sys.)
attacker_mac=$(topo_in_pod attacker ip -o link show eth0 | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p')
[[ $attacker_mac =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || topo_fatal "attacker's MAC: '$attacker_mac'"
send_arp() { # SENDER_IP TARGET_IP
	topo_in_pod attacker python3 - "$1" "$2" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
mac = s.getsockname()[4]
sender, target = socket.inet_aton(sys.argv[1]), socket.inet_aton(sys.argv[2])
arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + sender + b"\0" * 6 + target
for _ in range(3):
    s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
EOF
}
before=$(spoofed_drops)
send_arp "$victim" 10.244.1.1
send_arp "$victim" "$victim"
sleep 0.5
neigh=$(topo_in_node n1 ip neigh show to "$victim")
check spoof/arp_not_learned "node neighbours for $victim: $(tr '\n' '|' <<<"$neigh") (attacker is $attacker_mac)" \
	test -z "$(grep -i "$attacker_mac" <<<"$neigh")"
after=$(spoofed_drops)
check spoof/arp_counted "'$SPOOFED' went $before -> $after, want 6 more" test "$after" -ge "$((before + 6))"
# The same ARP with the attacker's own address is learned: the method works.
send_arp "$attacker" 10.244.1.1
sleep 0.5
neigh=$(topo_in_node n1 ip neigh show to "$attacker")
check spoof/own_arp_learned "node neighbours for $attacker: $(tr '\n' '|' <<<"$neigh")" \
	grep -qi "$attacker_mac" <<<"$neigh"

# IPv6 (pods have no IPv6 address; the node would route it with any source past policy) and any
# other ethertype: dropped at the veth and counted under their own reason.
NOT_IPV4="pod frame neither IPv4 nor ARP"
not_ipv4_drops() {
	topo_cli n1 drops -o json | jq --arg name "$NOT_IPV4" '[.drops[] | select(.name == $name) | .packets] | add // 0'
}
before=$(not_ipv4_drops)
topo_in_pod attacker python3 - <<'EOF'
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
mac = s.getsockname()[4]
src, dst = socket.inet_pton(socket.AF_INET6, "fd00::5"), socket.inet_pton(socket.AF_INET6, "fd00::a")
udp = struct.pack("!HHHH", 40000, 80, 12, 0) + b"ping"
ipv6 = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + src + dst + udp
for _ in range(3):
    s.send(b"\xff" * 6 + mac + b"\x86\xdd" + ipv6)
    s.send(b"\xff" * 6 + mac + b"\x88\xb5" + ipv6)
EOF
sleep 0.5
after=$(not_ipv4_drops)
check spoof/non_ipv4_counted "'$NOT_IPV4' went $before -> $after, want at least 6 more" \
	test "$after" -ge "$((before + 6))"

# The victim still connects, after all that.
out=$(topo_probe victim --tcp "$SL_VIP:80" -n 3 || true)
check spoof/victim_still_connects "victim -> $SL_VIP:80: $(tr '\n' ' ' <<<"$out")" test "$(count_from web-1 "$out")" -eq 3

# A stale endpoint on the ifindex the next veth gets (left, say, by a DEL that could not reach
# the agent's pins): the new pod must not be able to send as that address. Fake addresses
# .240-.247 name the next 8 ifindexes of the node; only one of them is the new veth's.
max_ifindex=$(topo_in_node n1 ip -o link | awk -F': ' '{ print $1 }' | sort -n | tail -1)
for k in 0 1 2 3 4 5 6 7; do
	ifindex=$((max_ifindex + 1 + k))
	value=$(printf '%d %d %d %d ' $((ifindex & 255)) $((ifindex >> 8 & 255)) 0 0)$(printf '0 %.0s' $(seq 80))
	# shellcheck disable=SC2086
	topo_in_node n1 bpftool map update pinned "$(topo_node_bpffs n1)/ep4" key 10 244 1 $((240 + k)) value $value
done
topo_pod n1 late
late_ifindex=$(topo_cli n1 endpoint list -o json |
	jq -r --arg a "$(topo_pod_ip late)" '[.. | objects | select(.address? == $a) | .ifindex][0] // 0')
out=$(topo_probe late --tcp "$SL_VIP:80" -n 2 || true)
check spoof/late_as_itself "late -> $SL_VIP:80: $(tr '\n' ' ' <<<"$out")" test "$(count_from web-1 "$out")" -eq 2
stale=""
if ((late_ifindex > max_ifindex && late_ifindex <= max_ifindex + 8)); then
	stale=10.244.1.$((240 + late_ifindex - max_ifindex - 1))
	entries=$(topo_cli n1 endpoint list -o json | jq -r --argjson i "$late_ifindex" '.. | objects | select(.ifindex? == $i) | .address' | sort | tr '\n' ' ')
	check spoof/stale_endpoint_removed "endpoints on late's veth (ifindex $late_ifindex): $entries; stale was $stale" \
		test "$entries" = "$(topo_pod_ip late) "
	topo_in_pod late ip addr add "$stale/32" dev eth0
	out=$(topo_probe late --tcp "$SL_VIP:80" --src "$stale" -n 2 --timeout-ms 1000 || true)
	check spoof/stale_address_refused "late -> $SL_VIP:80 from stale $stale: $(tr '\n' ' ' <<<"$out")" \
		test "$(count_errors "$out")" -eq 2
else
	info "late's host veth has ifindex $late_ifindex, not one of $((max_ifindex + 1))-$((max_ifindex + 8)): stale case not exercised"
	fail spoof/stale_endpoint_removed "could not place a stale endpoint on late's ifindex ($late_ifindex)"
fi

# Address change: DEL, then ADD of the same pod, which gets another address (IPAM rotates).
old=$(topo_pod_ip attacker)
topo_cni n1 attacker DEL >/dev/null || topo_fatal "sluice-cni DEL attacker failed"
out=$(topo_cni n1 attacker ADD) || topo_fatal "sluice-cni ADD attacker failed: $out"
new=$(jq -r '.ips[0].address' <<<"$out" | cut -d/ -f1)
TOPO_POD_IP[attacker]=$new
check spoof/readd_other_address "old $old, new $new" test "$old" != "$new"
entry=$(topo_cli n1 endpoint list -o json | jq -r --arg a "$old" '[.. | objects | select(.address? == $a)] | length')
check spoof/old_endpoint_gone "endpoint list has $entry entries for $old" test "$entry" -eq 0
out=$(topo_probe attacker --tcp "$SL_VIP:80" -n 2 || true)
check spoof/new_address_works "attacker -> $SL_VIP:80 as $new: $(tr '\n' ' ' <<<"$out")" \
	test "$(count_from web-1 "$out")" -eq 2
# (After this the pod's own ARP for the gateway may carry the old address and be dropped too.)
topo_in_pod attacker ip addr add "$old/32" dev eth0
out=$(topo_probe attacker --tcp "$SL_VIP:80" --src "$old" -n 2 --timeout-ms 1000 || true)
check spoof/old_address_refused "attacker -> $SL_VIP:80 from its old $old: $(tr '\n' ' ' <<<"$out")" \
	test "$(count_errors "$out")" -eq 2

topo_finish
