#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: sluice on two nodes. Nodes n1 and n2 (network namespaces on a fabric, with an
# outside host), an agent on each reading one manifest directory (the Nodes, a Service, later a
# NetworkPolicy), four pods wired by sluice-cni: client and web-1 on n1, intruder and web-2 on n2.
# The client's 20 connections to the ClusterIP spread over both backends, one on each node
# (between nodes through the VXLAN tunnel); then the CLI's view; then a pod reaching the outside
# host through the masquerade (it sees n1's address); then a NetworkPolicy (tests/demo/policy/)
# that lets only the client reach the web pods, enforced across nodes: the intruder's connections
# are dropped and counted. Everything is removed at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=$(cd "$HERE/../.." && realpath -m "${BUILD:-build}")
SLUICE=${SLUICE:-$BUILD_DIR/sluice}
SLUICE_CNI=${SLUICE_CNI:-$BUILD_DIR/sluice-cni}
# shellcheck source=tests/e2e/lib.sh
. "$HERE/../e2e/lib.sh"

VIP=10.96.0.10
CONNECTIONS=${CONNECTIONS:-20}
declare -A NODE_OF=([client]=n1 [web-1]=n1 [intruder]=n2 [web-2]=n2)

if [[ -t 1 ]]; then B=$'\e[1m' N=$'\e[0m'; else B='' N=''; fi
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
say() { printf '    %s\n' "$*"; }

topo_init demo
topo_require_all
manifests=$TOPO_DIR/manifests

step "Nodes n1 and n2 (network namespaces) on a fabric, 198.51.100.0/24; an outside host $SL_OUTSIDE_IP"
topo_fabric_nodes 2 2>/dev/null
{
	manifest_node n1 "$(topo_node_ip n1)" 10.244.1.0/24
	manifest_node n2 "$(topo_node_ip n2)" 10.244.2.0/24
} | write_file "$manifests/nodes.yaml"
say "Node objects: n1 $(topo_node_ip n1) pods 10.244.1.0/24, n2 $(topo_node_ip n2) pods 10.244.2.0/24"

step "Agents: sluice agent --node nN --manifests DIR --uplink eth0 --cluster-cidr 10.244.0.0/16"
for node in n1 n2; do
	topo_agent "$node" "$manifests" --uplink eth0 --cluster-cidr 10.244.0.0/16 \
		--service-cidr 10.96.0.0/12 2>/dev/null
	say "$node ready; pins under $(topo_node_bpffs "$node")"
done
say "each learnt the other from its Node object: a VXLAN device sluice_vxlan and a route to its pods"

step "Pods, each added by sluice-cni (CNI ADD in its node's namespace)"
for pod in client web-1 intruder web-2; do
	topo_pod "${NODE_OF[$pod]}" "$pod" 2>/dev/null
	say "$(printf '%-8s on %s  %s' "$pod" "${NODE_OF[$pod]}" "$(topo_pod_ip "$pod")")"
done
topo_echo web-1 --tcp 8080 --udp 5353
topo_echo web-2 --tcp 8080 --udp 5353
say "web-1 and web-2 run sl_echo: it answers each connection with its name and the peer it saw"

step "Apply Service web (ClusterIP $VIP, 80/TCP -> 8080, 53/UDP -> 5353) and its EndpointSlice"
for file in "$HERE"/manifests/*.yaml; do
	sed -e "s/@web-1@/$(topo_pod_ip web-1)/" -e "s/@web-2@/$(topo_pod_ip web-2)/" "$file" |
		write_file "$manifests/$(basename "$file")"
	say "$(basename "$file")"
done
for node in n1 n2; do
	wait_service_backends "$node" "$VIP" 80 2 ||
		topo_fatal "the agent of $node did not apply service web within ${SL_SYNC_TIMEOUT}s"
done
say "both agents reloaded the directory: $VIP:80 has 2 backends, web-1 on n1 and web-2 on n2"

step "Client (n1): $CONNECTIONS TCP connections to $VIP:80"
out=$(topo_probe client --tcp "$VIP:80" -n "$CONNECTIONS" || true)
client_ip=$(topo_pod_ip client)
for pod in web-1 web-2; do
	n=$(count_from "$pod" "$out")
	bar=$(printf '%*s' "$n" '' | tr ' ' '#')
	say "$(printf '%-6s (%s) %-3s %s' "$pod" "${NODE_OF[$pod]}" "$n" "$bar")"
done
errors=$(count_errors "$out")
((errors == 0)) || say "failed: $errors ($(grep '^ERR' <<<"$out" | sort | uniq -c | tr '\n' ' '))"
foreign=$(foreign_peers "$client_ip" "$out" | wc -l)
if ((foreign == 0)); then
	say "every backend saw the client's own address $client_ip (no SNAT)"
else
	say "$foreign answers saw another source than $client_ip"
fi
udp=$(topo_probe client --udp "$VIP:53" -n 10 || true)
say "and 10 UDP datagrams to $VIP:53: web-1 $(count_from web-1 "$udp"), web-2 $(count_from web-2 "$udp")"

step "sluice service list  (on n1)"
topo_cli n1 service list | sed 's/^/    /'
step "sluice node list  (on n1)"
topo_cli n1 node list | sed 's/^/    /'
step "sluice ct list | head  (on n1; two entries per flow: client -> VIP => backend, the reply <= VIP)"
ct=$(topo_cli n1 ct list)
head -n 6 <<<"$ct" | sed 's/^/    /'
say "... $(wc -l <<<"$ct") entries"

step "Client (n1) -> the outside host $SL_OUTSIDE_IP:8080, which has no route to the pods"
nsenter --net="/var/run/netns/$TOPO_OUTSIDE_NS" -- "$SL_TOOLS/sl_echo" --id outside --tcp 8080 \
	>"$TOPO_DIR/echo-outside.log" 2>&1 &
TOPO_PIDS+=("$!")
wait_until grep -q '^ready' "$TOPO_DIR/echo-outside.log" || topo_fatal "sl_echo on the outside host did not start"
outside=$(topo_probe client --tcp "$SL_OUTSIDE_IP:8080" -n 3 || true)
masqueraded=$(foreign_peers "$client_ip" "$outside" | grep -c "^$(topo_node_ip n1):" || true)
say "$(count_from outside "$outside") of 3 answered; the outside host saw $(awk '$1 == "outside" { print $2 }' <<<"$outside" | cut -d: -f1 | sort -u | tr '\n' ' ')(n1's address: masqueraded)"

step "NetworkPolicy: only app=client may reach app=web, on its named port http, on both nodes"
for file in "$HERE"/policy/*.yaml; do
	sed -e "s/@client@/$client_ip/" -e "s/@intruder@/$(topo_pod_ip intruder)/" \
		-e "s/@web-1@/$(topo_pod_ip web-1)/" -e "s/@web-2@/$(topo_pod_ip web-2)/" "$file" |
		write_file "$manifests/$(basename "$file")"
	say "$(basename "$file")"
done
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until topo_cli n1 policy list default/web-1 -o json 2>/dev/null | jq -e '.endpoints[0].ingress_isolated' >/dev/null &&
	topo_cli n2 policy list default/web-2 -o json 2>/dev/null | jq -e '.endpoints[0].ingress_isolated' >/dev/null; do
	((SECONDS < deadline)) || topo_fatal "the agents did not apply the policy within ${SL_SYNC_TIMEOUT}s"
	sleep 0.2
done
allowed=$(topo_probe client --tcp "$VIP:80" -n 10 || true)
denied=$(topo_probe intruder --tcp "$VIP:80" -n 3 --timeout-ms 500 || true)
direct=$(topo_probe intruder --tcp "$(topo_pod_ip web-1):8080" -n 2 --timeout-ms 500 || true)
cross=$(topo_probe client --tcp "$(topo_pod_ip web-2):8080" -n 2 || true)
n_allowed=$(($(count_from web-1 "$allowed") + $(count_from web-2 "$allowed")))
say "client (n1)   -> $VIP:80: $n_allowed of 10 answered (web-1 $(count_from web-1 "$allowed"), web-2 $(count_from web-2 "$allowed"))"
say "client (n1)   -> web-2 (n2) directly: $(count_from web-2 "$cross") of 2 answered"
say "intruder (n2) -> $VIP:80: $(count_errors "$denied") of 3 dropped ($(grep -m1 '^ERR' <<<"$denied" || echo none))"
say "intruder (n2) -> web-1 (n1) directly: $(count_errors "$direct") of 2 dropped"
step "sluice drops  (on n2, where the intruder's connections were judged; nonzero rows)"
topo_cli n2 drops | awk 'NR == 1 || $(NF - 3) != 0' | sed 's/^/    /'
step "sluice policy list default/web-1  (on n1)"
topo_cli n1 policy list default/web-1 | sed 's/^/    /'

step "Cleaning up: agents, pods (CNI DEL), namespaces, pins"
if ((errors > 0)) || (($(count_from web-1 "$out") == 0 || $(count_from web-2 "$out") == 0)); then
	fail demo "connections were not spread over both backends"
fi
if ((masqueraded != 3)); then
	fail demo "the outside host was not reached from n1's address"
fi
if ((n_allowed != 10 || $(count_from web-2 "$cross") != 2 || $(count_errors "$denied") != 3 ||
	$(count_errors "$direct") != 2)); then
	fail demo "the policy was not enforced as written"
fi
topo_finish
