#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checksums a receiving kernel verifies. Veth pairs normally hand packets over with an
# offloaded checksum (CHECKSUM_PARTIAL) that receivers trust, so a wrong rewrite would go
# unnoticed until it met a real NIC. Here the offloads are switched off where it matters:
# - full: the pods send full checksums and their host veths keep them unverified (rx off), so
#   the backend's kernel checks every TCP/UDP checksum the DNAT (and the reply's reverse NAT)
#   rewrote;
# - partial: the client sends with checksum offload (the pseudo-header sum only) and the
#   backend sits behind a veth without tx checksumming, so the node computes the final checksum
#   from the pseudo-header sum the DNAT patched, and the backend's kernel checks it.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init checksums
topo_require_all
command -v ethtool >/dev/null || topo_fatal "ethtool is not installed (make deps)"
vip=10.96.0.40
topo_node n1 10.244.1.0/24
topo_agent n1 "$TOPO_DIR/manifests"
topo_pod n1 client
topo_pod n1 web-1
topo_echo web-1

# The host-side veth of a pod: the node's end whose peer is the pod's eth0.
host_veth() {
	local peer_index
	peer_index=$(topo_in_pod "$1" ip -o link show eth0 | sed -n 's/^[0-9]*: eth0@if\([0-9]*\):.*/\1/p')
	topo_in_node n1 ip -o link | awk -v i="$peer_index" -F': ' '$1 == i { sub(/@.*/, "", $2); print $2 }'
}

offload() { # offload NS-RUNNER... DEV tx|rx on|off
	"${@:1:$#-3}" ethtool -K "${@: -3:1}" "${@: -2:1}" "${@: -1}" >/dev/null
}

# ---- full checksums, verified by the backend and by the client ------------------------------
offload topo_in_pod client eth0 tx off
offload topo_in_pod web-1 eth0 tx off
offload topo_in_node n1 "$(host_veth client)" rx off
offload topo_in_node n1 "$(host_veth web-1)" rx off
manifest_service full "$vip" 80:8080/TCP 53:5353/UDP | write_file "$TOPO_DIR/manifests/full-service.yaml"
manifest_slice full 80:8080/TCP,53:5353/UDP web-1 | write_file "$TOPO_DIR/manifests/full-slice.yaml"
wait_service_backends n1 "$vip" 80 1 || topo_fatal "service full ($vip:80) not applied"
for proto in tcp udp; do
	port=80
	[[ $proto == udp ]] && port=53
	out=$(topo_probe client "--$proto" "$vip:$port" -n 10 --timeout-ms 2000 || true)
	show_output "$out"
	check "checksums/full_$proto" "want 10 answers from web-1 through $vip:$port, got: $(tally "$out")" \
		test "$(count_from web-1 "$out")" -eq 10
done

# ---- offloaded (pseudo-header) checksums, finished by the node --------------------------------
# A backend the node reaches by routing: a namespace on a plain veth, not registered in ep4, like
# a backend behind another node. Its replies are reverse-translated by the uplink program: the
# agent restarts with --uplink on the node's end (tc_pod would drop them, their source being no
# pod registered for that veth, and a registered pod is reached by redirect, not by routing).
offload topo_in_pod client eth0 tx on
ext=$(topo_ns_pod ext)
ip netns add "$ext"
ip link add "${TOPO_PREFIX}x" type veth peer name eth0 netns "$ext"
ip link set "${TOPO_PREFIX}x" netns "$(topo_ns_node n1)"
node_if="${TOPO_PREFIX}x"
ext_ip=10.244.1.200
topo_in_ns "$ext" ip link set lo up
topo_in_ns "$ext" ip addr add "$ext_ip/32" dev eth0
topo_in_ns "$ext" ip link set eth0 up
topo_in_node n1 ip link set "$node_if" up
topo_in_ns "$ext" ip route add 10.244.1.1/32 dev eth0 scope link
topo_in_ns "$ext" ip route add default via 10.244.1.1 dev eth0 onlink
topo_in_node n1 ip route add "$ext_ip/32" dev "$node_if" scope link
topo_in_node n1 sysctl -qw "net.ipv4.conf.$node_if.rp_filter=0"
offload topo_in_node n1 "$node_if" tx off # the node finishes the checksum in software
offload topo_in_ns "$ext" eth0 rx off     # and the backend's kernel verifies it
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --uplink "$node_if"
topo_echo ext --tcp 8080 --udp 5353
# Not a CNI pod (no ep4 entry, no CNI DEL at cleanup); its namespace goes with the prefix.
TOPO_POD_IP[ext]=$ext_ip
TOPO_POD_NODE[ext]=n1
vip=10.96.0.41
manifest_service partial "$vip" 80:8080/TCP 53:5353/UDP | write_file "$TOPO_DIR/manifests/partial-service.yaml"
manifest_slice partial 80:8080/TCP,53:5353/UDP ext | write_file "$TOPO_DIR/manifests/partial-slice.yaml"
wait_service_backends n1 "$vip" 80 1 || topo_fatal "service partial ($vip:80) not applied"
for proto in tcp udp; do
	port=80
	[[ $proto == udp ]] && port=53
	out=$(topo_probe client "--$proto" "$vip:$port" -n 10 --timeout-ms 2000 || true)
	show_output "$out"
	check "checksums/partial_$proto" "want 10 answers from ext through $vip:$port, got: $(tally "$out")" \
		test "$(count_from ext "$out")" -eq 10
done

topo_finish
