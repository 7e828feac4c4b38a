#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: sluice on its default topology. One node namespace "demo", three pods wired by
# sluice-cni, the agent reading tests/demo/manifests, and a client's 20 connections to the
# ClusterIP spread over both backends; then the CLI's view. Everything is removed at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=$(cd "$HERE/../.." && realpath -m "${BUILD:-build}")
SLUICE=${SLUICE:-$BUILD_DIR/sluice}
SLUICE_CNI=${SLUICE_CNI:-$BUILD_DIR/sluice-cni}
# shellcheck source=tests/e2e/lib.sh
. "$HERE/../e2e/lib.sh"

VIP=10.96.0.10
CONNECTIONS=${CONNECTIONS:-20}

if [[ -t 1 ]]; then B=$'\e[1m' N=$'\e[0m'; else B='' N=''; fi
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
say() { printf '    %s\n' "$*"; }

topo_init demo
topo_require_all
manifests=$TOPO_DIR/manifests

step "Node 'demo': a network namespace ($(topo_ns_node demo)), pod CIDR 10.244.1.0/24"
topo_node demo 10.244.1.0/24 2>/dev/null

step "Agent: sluice agent --node demo --manifests $manifests --bpffs $(topo_node_bpffs demo)"
topo_agent demo "$manifests" 2>/dev/null
say "ready; programs and maps pinned under $(topo_node_bpffs demo)"

step "Pods, each added by sluice-cni (CNI ADD in the node's namespace)"
for pod in client web-1 web-2; do
	topo_pod demo "$pod" 2>/dev/null
	say "$(printf '%-7s %s' "$pod" "$(topo_pod_ip "$pod")")"
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
wait_service_backends demo "$VIP" 80 2 ||
	topo_fatal "the agent did not apply service web within ${SL_SYNC_TIMEOUT}s"
say "the agent reloaded the directory: $VIP:80 has 2 backends"

step "Client: $CONNECTIONS TCP connections to $VIP:80"
out=$(topo_probe client --tcp "$VIP:80" -n "$CONNECTIONS" || true)
client_ip=$(topo_pod_ip client)
for pod in web-1 web-2; do
	n=$(count_from "$pod" "$out")
	bar=$(printf '%*s' "$n" '' | tr ' ' '#')
	say "$(printf '%-6s %-3s %s' "$pod" "$n" "$bar")"
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

step "sluice service list"
topo_cli demo service list | sed 's/^/    /'
step "sluice endpoint list"
topo_cli demo endpoint list | sed 's/^/    /'
step "sluice ct list  (two entries per flow: client -> VIP => backend, and the reply <= VIP)"
topo_cli demo ct list | sed 's/^/    /'

step "Cleaning up: agent, pods (CNI DEL), namespaces, pins"
if ((errors > 0)) || (($(count_from web-1 "$out") == 0 || $(count_from web-2 "$out") == 0)); then
	fail demo "connections were not spread over both backends"
fi
topo_finish
