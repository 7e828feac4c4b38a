#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: sluice on its default topology. One node namespace "demo", four pods wired by
# sluice-cni, the agent reading tests/demo/manifests, and a client's 20 connections to the
# ClusterIP spread over both backends; then the CLI's view; then a NetworkPolicy
# (tests/demo/policy/) that lets only the client reach the web pods, and an intruder pod whose
# connections are dropped and counted. Everything is removed at the end.
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
for pod in client intruder web-1 web-2; do
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

step "NetworkPolicy: only app=client may reach app=web, on its named port http"
for file in "$HERE"/policy/*.yaml; do
	sed -e "s/@client@/$client_ip/" -e "s/@intruder@/$(topo_pod_ip intruder)/" \
		-e "s/@web-1@/$(topo_pod_ip web-1)/" -e "s/@web-2@/$(topo_pod_ip web-2)/" "$file" |
		write_file "$manifests/$(basename "$file")"
	say "$(basename "$file")"
done
deadline=$((SECONDS + SL_SYNC_TIMEOUT))
until topo_cli demo policy list default/web-1 -o json 2>/dev/null |
	jq -e '.endpoints[0].ingress_isolated' >/dev/null; do
	((SECONDS < deadline)) || topo_fatal "the agent did not apply the policy within ${SL_SYNC_TIMEOUT}s"
	sleep 0.2
done
allowed=$(topo_probe client --tcp "$VIP:80" -n 10 || true)
denied=$(topo_probe intruder --tcp "$VIP:80" -n 3 --timeout-ms 500 || true)
direct=$(topo_probe intruder --tcp "$(topo_pod_ip web-1):8080" -n 2 --timeout-ms 500 || true)
n_allowed=$(($(count_from web-1 "$allowed") + $(count_from web-2 "$allowed")))
say "client   -> $VIP:80: $n_allowed of 10 answered"
say "intruder -> $VIP:80: $(count_errors "$denied") of 3 dropped ($(grep -m1 '^ERR' <<<"$denied" || echo none))"
say "intruder -> web-1 directly: $(count_errors "$direct") of 2 dropped"
step "sluice drops"
topo_cli demo drops | sed 's/^/    /'
step "sluice policy list default/web-1"
topo_cli demo policy list default/web-1 | sed 's/^/    /'

step "Cleaning up: agent, pods (CNI DEL), namespaces, pins"
if ((errors > 0)) || (($(count_from web-1 "$out") == 0 || $(count_from web-2 "$out") == 0)); then
	fail demo "connections were not spread over both backends"
fi
if ((n_allowed != 10 || $(count_errors "$denied") != 3 || $(count_errors "$direct") != 2)); then
	fail demo "the policy was not enforced as written"
fi
topo_finish
