#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The bench's cross-node scenario (bench/bench.sh --scenario cross-node, or run alone): the
# client pod on node n1, the backend pods on node n2, the two nodes on the test fabric
# (tests/e2e/lib.sh), one sluice agent each (--routing tunnel, its sluice_vxlan on UDP 8472), and
# beside it a flannel-like overlay of the kernel's own: a VXLAN device bvx0 per node (VNI 1, UDP
# 4789, no learning), the other node's device MAC in its neighbour and fdb tables, and a route to
# the other node's pod CIDR through it, in table 100, which a rule "to PEER-CIDR" selects while a
# baseline mode runs. Per N (services, each with every backend pod as an endpoint), in rounds of
# one repeat of every mode (so a change of the machine's load falls on all modes alike):
#   bare          the tc programs detached on both nodes, the client connects to the backend
#                 pods' own addresses over bvx0;
#   iptables, iptables-nft, nftables
#                 the tc programs detached, kube-proxy's ruleset (sluice-kpgen) in both nodes (a
#                 cluster's every node has it), over bvx0: n1 translates;
#   sluice        the tc programs attached, the rules to table 100 removed: tc_pod translates
#                 at n1, the traffic crosses sluice_vxlan (tc_tunnel on both ends);
#   sluice-socket the same, the client run in n1's agent's cgroup (--socket-lb true, what users
#                 get by default where the kernel allows it): each connection translated once
#                 at connect(), then a plain pod-to-pod flow across sluice_vxlan.
# Each mode must show where its traffic went: which device carried it (bvx0's or sluice_vxlan's
# transmit counter on n1 moves, the other's does not), who translated (netfilter conntrack
# entries for the VIP, sluice's new-flow counter, or the socket hooks' with the new-flow counter
# still), and every backend pod answered. Then the
# per-packet cost of sluice's tunnel programs (sluice-pktbench --tunnel, BPF_PROG_TEST_RUN).
#
#   bench/crossnode.sh [--quick] [--services "10 1000"] [--repeats N] [--duration SEC]
#                      [--iperf-time SEC] [--parallel N] [--iptables "legacy nft"]
#                      [--pkt-repeat N] [--out DIR]
#
# Output as bench/bench.sh's (bench/report.sh), in OUT (default $BUILD/bench/cross-node).
# BENCH_XNODE_BACKENDS: backend pods (default 10).
set -euo pipefail

# shellcheck source=bench/bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
SL_SYNC_TIMEOUT=${BENCH_SYNC_TIMEOUT:-120}
SERVICES="10 1000"
BENCH_BACKENDS=${BENCH_XNODE_BACKENDS:-10} # backend pods on n2 (the quick test takes 3)
while (($#)); do
	case $1 in
	--quick) bench_quick ;;
	--services | --repeats | --duration | --iperf-time | --parallel | --iptables | --pkt-repeat | --out)
		(($# >= 2)) || {
			echo "crossnode: $1 needs a value" >&2
			exit 2
		}
		case $1 in
		--services) SERVICES=$2 ;;
		--repeats) REPEATS=$2 ;;
		--duration) DURATION=$2 ;;
		--iperf-time) IPERF_TIME=$2 ;;
		--parallel) PARALLEL=$2 ;;
		--iptables) IPT_BACKENDS=$2 ;;
		--pkt-repeat) PKT_REPEAT=$2 ;;
		--out) OUT=$2 ;;
		esac
		shift
		;;
	-h | --help)
		sed -n '3,32p' "$0"
		exit 0
		;;
	*)
		echo "crossnode: unknown argument $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done
OUT=${OUT:-$BUILD_DIR/bench/cross-node}

# shellcheck source=tests/e2e/lib.sh
. "$SL_ROOT/tests/e2e/lib.sh"
bench_ipt_modes "$IPT_BACKENDS"
BENCH_NODES="n1 n2"

bench_begin bench_xnode bridge
: >"$OUT/aggregated-extra.tsv"

CLUSTER_CIDR=10.244.0.0/16
OVERLAY_DEV=bvx0
TUNNEL_DEV=sluice_vxlan # sluice's own (loader/agent/routing.c)
OVERLAY_TABLE=100
declare -A POD_CIDR=([n1]=10.244.1.0/24 [n2]=10.244.2.0/24)
declare -A PEER=([n1]=n2 [n2]=n1)

# ---- the flannel-like overlay ------------------------------------------------------------------
overlay_mac() { printf '02:62:00:00:00:%02x' "${1#n}"; }

# overlay_setup: bvx0 on both nodes, each with the other's MAC, address and pod CIDR (table 100).
overlay_setup() {
	local node peer ns net
	for node in n1 n2; do
		ns=$(topo_ns_node "$node")
		net=${POD_CIDR[$node]%/*}
		ip -n "$ns" link add "$OVERLAY_DEV" type vxlan id 1 local "$(topo_node_ip "$node")" dev eth0 \
			dstport 4789 nolearning || topo_fatal "$OVERLAY_DEV on $node failed"
		# The pods' MTU (sluice-cni: the uplink's less 50) is the device's too.
		ip -n "$ns" link set "$OVERLAY_DEV" address "$(overlay_mac "$node")" mtu 1450
		topo_in_node "$node" sysctl -qw "net.ipv6.conf.$OVERLAY_DEV.disable_ipv6=1" 2>/dev/null || true
		ip -n "$ns" link set "$OVERLAY_DEV" up
		ip -n "$ns" addr add "$net/32" dev "$OVERLAY_DEV"
	done
	for node in n1 n2; do
		ns=$(topo_ns_node "$node")
		peer=${PEER[$node]}
		net=${POD_CIDR[$peer]%/*}
		if ! { ip -n "$ns" neigh add "$net" lladdr "$(overlay_mac "$peer")" dev "$OVERLAY_DEV" nud permanent &&
			bridge -n "$ns" fdb append "$(overlay_mac "$peer")" dev "$OVERLAY_DEV" dst "$(topo_node_ip "$peer")" &&
			ip -n "$ns" route add "${POD_CIDR[$peer]}" via "$net" dev "$OVERLAY_DEV" onlink table "$OVERLAY_TABLE"; }; then
			topo_fatal "$OVERLAY_DEV on $node: neighbour, fdb or route to $peer failed"
		fi
	done
}

# overlay_use on|off: the other node's pod CIDR through bvx0 (on) or sluice_vxlan's route (off);
# only on a change.
OVERLAY_IS_ON=0
overlay_use() {
	local node ns to
	[[ $1 == on ]] && ((OVERLAY_IS_ON)) && return 0
	[[ $1 == off ]] && ((!OVERLAY_IS_ON)) && return 0
	for node in n1 n2; do
		ns=$(topo_ns_node "$node")
		to=${POD_CIDR[${PEER[$node]}]}
		if [[ $1 == on ]]; then
			ip -n "$ns" rule add to "$to" table "$OVERLAY_TABLE" pref 100 ||
				bench_fail setup "ip rule to table $OVERLAY_TABLE on $node failed"
		else
			ip -n "$ns" rule del to "$to" table "$OVERLAY_TABLE" pref 100 ||
				bench_fail setup "ip rule del to table $OVERLAY_TABLE on $node failed"
		fi
	done
	OVERLAY_IS_ON=$([[ $1 == on ]] && echo 1 || echo 0)
}

# use_datapath on|off: sluice's programs on every pod veth of both nodes, or none; only on a
# change (a detach is 44 tc calls per node). sluice-cni attached them.
DATAPATH_IS_ON=1
use_datapath() {
	if [[ $1 == on ]] && ((!DATAPATH_IS_ON)); then
		datapath_attach
		DATAPATH_IS_ON=1
	elif [[ $1 == off ]] && ((DATAPATH_IS_ON)); then
		datapath_detach
		DATAPATH_IS_ON=0
	fi
}

# tx_counts: the packets n1's bvx0 and sluice_vxlan sent, "BVX0 SLUICE_VXLAN".
tx_counts() {
	topo_in_node n1 ip -j -s link show 2>/dev/null | jq -r --arg a "$OVERLAY_DEV" --arg b "$TUNNEL_DEV" \
		'[(.[] | select(.ifname == $a) | .stats64.tx.packets), (.[] | select(.ifname == $b) | .stats64.tx.packets)] | map(tostring) | join(" ")'
}

# carried_by N MODE DEV BEFORE: DEV (bvx0 or sluice_vxlan) carried the mode's traffic since
# BEFORE (tx_counts), the other device (almost) none of it.
carried_by() {
	local n=$1 mode=$2 dev=$3 a0 b0 a1 b1 d o other=$TUNNEL_DEV
	read -r a0 b0 <<<"$4"
	read -r a1 b1 < <(tx_counts)
	d=$((a1 - a0))
	o=$((b1 - b0))
	if [[ $dev == "$TUNNEL_DEV" ]]; then
		other=$OVERLAY_DEV
		d=$((b1 - b0))
		o=$((a1 - a0))
	fi
	((d >= 100 && o * 100 <= d)) ||
		bench_fail "$mode/$n/carried_by_$dev" "n1 sent $d packets through $dev and $o through $other"
}

# ---- topology ---------------------------------------------------------------------------------
info "bench cross-node: services ${SERVICES// /,}, $REPEATS repeats, ${DURATION}s load x $PARALLEL threads, iperf3 ${IPERF_TIME}s"
topo_fabric_nodes 2
# n1's socket hooks on the bench's own cgroup: only the sluice-socket mode's client runs in it.
topo_cgroup
{
	manifest_node n1 "$SL_UNDERLAY_NET.1" "${POD_CIDR[n1]}"
	manifest_node n2 "$SL_UNDERLAY_NET.2" "${POD_CIDR[n2]}"
	manifest_namespace default
} >"$TOPO_DIR/cluster.yaml"
TOPO_API_BOOKMARK_INTERVAL=60 topo_fabric_apiserver "$TOPO_DIR/cluster.yaml"
for node in n1 n2; do
	# Both agents read the same manifests: every node of a cluster has every Service.
	socket_lb=()
	[[ $node != n1 ]] || socket_lb=(--socket-lb true --cgroup-root "$TOPO_CGROUP")
	topo_agent "$node" "$TOPO_DIR/manifests" --kubeconfig "$TOPO_KUBECONFIG" \
		--cluster-cidr "$CLUSTER_CIDR" --service-cidr 10.96.0.0/12 "${socket_lb[@]}"
done
bench_pods n2
overlay_setup

# ---- per N ------------------------------------------------------------------------------------
# One repeat of each mode per round, the modes in turn (each round starting one mode later), so
# the load other work puts on the machine meanwhile falls on every mode alike: the figures of a
# mode measured in one stretch would carry that stretch's load into the ratios.

# mode_run N MODE: one repeat of MODE (connrate_run and iperf_run with REPEATS=1) and its checks:
#   bare          tc programs detached on both nodes, the pods' own addresses, over bvx0;
#   iptables...   kube-proxy's MODE ruleset (RULES[MODE]) in both nodes, over bvx0: netfilter
#                 translated, sluice did not;
#   sluice        the rules to table 100 gone, tc programs attached, over sluice_vxlan: tc_pod
#                 translated, netfilter did not;
#   sluice-socket the same, the client in n1's agent's cgroup (socket_lb_run): the socket hooks
#                 translated, tc_pod and netfilter did not; the flows cross sluice_vxlan as
#                 pod-to-pod flows.
# And which device carried it.
SOCKET_TOTAL=0
mode_run() {
	local n=$1 mode=$2 before tx0 dev=$OVERLAY_DEV
	if [[ $mode == sluice* ]]; then
		dev=$TUNNEL_DEV
		overlay_use off
		use_datapath on
	else
		use_datapath off
		overlay_use on
	fi
	# Loaded whole (no --noflush): the load is the single-node scenario's figure, not this one's.
	[[ $mode == bare || $mode == sluice* ]] || rules_load "$n" "$mode" load "${RULES[$mode]}" flush
	before=$(sluice_new_flows)
	tx0=$(tx_counts)
	case $mode in
	bare)
		REPEATS=1 connrate_run "$n" "$mode" "$DIRECT_TARGETS"
		REPEATS=1 iperf_run "$n" "$mode" "${BACKEND_IPS[0]}"
		;;
	sluice-socket)
		REPEATS=1 socket_lb_run "$n" "$VIP" "$IPERF_VIP"
		SOCKET_TOTAL=$((SOCKET_TOTAL + SOCKET_TRANSLATED))
		;;
	*)
		REPEATS=1 connrate_run "$n" "$mode" "$VIP:80"
		REPEATS=1 iperf_run "$n" "$mode" "$IPERF_VIP"
		;;
	esac
	carried_by "$n" "$mode" "$dev" "$tx0"
	case $mode in
	bare | sluice-socket) ;;
	sluice)
		(($(sluice_new_flows) > before)) || bench_fail "$mode/$n/translated_by_sluice" "sluice counted no new service flow"
		[[ $(nf_translated "$VIP") -eq 0 ]] || bench_fail "$mode/$n/netfilter_idle" "netfilter translated flows in sluice mode"
		;;
	*)
		[[ $(nf_translated "$VIP") -gt 0 ]] ||
			bench_fail "$mode/$n/translated_by_netfilter" "no netfilter conntrack entry for $VIP on n1"
		[[ $before == "$(sluice_new_flows)" ]] || bench_fail "$mode/$n/sluice_idle" "sluice translated flows in $mode mode"
		rules_flush
		;;
	esac
}

declare -A RULES=()
VIP=
IPERF_VIP=
run_n() {
	local n=$1
	local dir="$TOPO_DIR/rules-$n" mode out m r k modes=(bare "${IPT_MODES[@]}" nftables sluice sluice-socket)
	local gen=("$KPGEN" --services "$n" --endpoints "$ENDPOINTS" --node n2)
	mkdir -p "$dir"
	"${gen[@]}" --format iptables --base-jumps >"$dir/iptables.rules"
	"${gen[@]}" --format nft >"$dir/nft.rules"
	"${gen[@]}" --format manifests | split_manifests "$dir/yaml"
	RULES=([iptables]=$dir/iptables.rules [iptables-nft]=$dir/iptables.rules [nftables]=$dir/nft.rules)
	VIP=$("${gen[@]}" --format vip --index $((n / 2)))
	IPERF_VIP=$("${gen[@]}" --format vip --index $((n / 2 + 1)))
	# The agents get the N services first (both nodes), so no sync runs during a measurement.
	rm -f "$TOPO_DIR/manifests"/services-*.yaml
	cp "$dir"/yaml/*.yaml "$TOPO_DIR/tmp/"
	mv "$TOPO_DIR/tmp"/services-*.yaml "$TOPO_DIR/manifests/"
	for node in n1 n2; do
		wait_service_backends "$node" "$VIP" 80 "$BENCH_BACKENDS" ||
			bench_fail "sluice/$n/service" "the agent of $node does not list $VIP:80 with $BENCH_BACKENDS backends"
	done

	for ((r = 0; r < REPEATS; r++)); do
		info "N=$n round $((r + 1)) of $REPEATS"
		for ((k = 0; k < ${#modes[@]}; k++)); do
			mode_run "$n" "${modes[(k + r) % ${#modes[@]}]}"
		done
	done
	for mode in "${modes[@]}"; do
		[[ $mode == bare ]] || pass "bench/xnode/$mode/$n/reached_backends"
	done
	info "sluice-socket N=$n: the socket hooks translated $SOCKET_TOTAL connections"
	pass "bench/xnode/sluice-socket/$n/translated_at_connect"
	SOCKET_TOTAL=0

	# The tunnel programs' own cost per packet (BPF_PROG_TEST_RUN, private maps).
	out=$("$PKTBENCH" --tunnel --services "$n" --runs "$REPEATS" --repeat "$PKT_REPEAT" -o json) ||
		bench_fail "sluice/$n/pktbench" "sluice-pktbench --tunnel failed"
	pktbench_rows "$n" sluice "$out" ns_per_packet_tunnel_new_remote ns_per_packet_tunnel_encap \
		ns_per_packet_tunnel_decap_new ns_per_packet_tunnel_decap_reply
}

for n in $SERVICES; do
	run_n "$n"
done
use_datapath on
overlay_use off
info "bench cross-node: measured in $((SECONDS - BENCH_T0)) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"

BENCH_SCENARIO=cross-node BENCH_ENDPOINTS=$BENCH_BACKENDS "$SL_ROOT/bench/report.sh" "$SAMPLES" "$OUT/aggregated-extra.tsv" "$OUT" \
	"$QUICK" "$REPEATS" "$DURATION" "$PARALLEL" "$IPERF_TIME" || bench_fail xnode/report "bench/report.sh failed"
pass bench/xnode/results_json
topo_finish
