#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench`: sluice against kube-proxy's iptables and nftables rules and against bare veth,
# on the same pods, services and traffic, one mode at a time, in one run.
#
#   bench/bench.sh [--quick] [--large] [--services "10 1000"] [--repeats N] [--duration SEC]
#                  [--iperf-time SEC] [--parallel N] [--policy-cidrs "10 1000"]
#                  [--iptables "legacy nft"] [--scenario single|cross-node|all]
#                  [--cross-services "10 1000"] [--out DIR]
#
# Scenarios (--scenario, default all): "single", below; "cross-node", bench/crossnode.sh: the
# client on one node, the backends on another, over a VXLAN overlay (its N: --cross-services,
# else --services when given, else 10 and 1,000; its output in OUT/cross-node). It runs first.
#
# One node namespace, a client pod and BENCH_BACKENDS backend pods, all wired by sluice-cni, the
# agent running in the node (fed by manifests and by the fake API server). Per N (number of
# services, each with every backend pod as one of its endpoints) and per mode:
#   bare          the tc program detached, the client connects to the backend pods' own addresses;
#   iptables      the tc program detached, kube-proxy's iptables-mode ruleset (sluice-kpgen)
#                 loaded with iptables-legacy-restore --noflush into the node (x_tables);
#   iptables-nft  the same ruleset with iptables-nft-restore (the nf_tables backend: Debian 12's,
#                 RHEL 9's and the kube-proxy image's default);
#   nftables      the tc program detached, kube-proxy's nftables-mode ruleset loaded with nft -f;
#   sluice        the tc program attached, the same services given to the agent as manifests;
#   sluice-socket the same, the client run in the agent's cgroup: its connections translated once
#                 at connect() (--socket-lb), then plain pod-to-pod flows; its per-packet figures
#                 are tc_pod's on such a flow (sluice-pktbench's "not a service").
# Each mode but bare also has one change timed from end to end: service 0's last endpoint becomes
# a new pod (be-new) while the client probes service 0, until be-new answers (update_e2e_ms;
# through the API as well for sluice, update_e2e_api_ms).
# Then NetworkPolicy's cost per new flow (sluice-pktbench --policy-cidrs, at the first N) with
# each number of ipBlock rules; the issue asks 1,000 rules <= 1.2 x 10 rules.
# Every mode's traffic must reach a backend: each reply names the backend pod that sent it, and
# the bench checks who did the translation (netfilter conntrack entries for the VIP in the
# iptables and nftables modes, sluice's own counters, and none of the other). A mode that fails
# its check stops the bench with FAIL: it never reports a figure.
#
# Output: a table on stdout, $OUT/results.json (the issue's schema), $OUT/bench.svg, and the
# raw samples in $OUT/samples.tsv. Default OUT is $BUILD/bench.
set -euo pipefail

# shellcheck source=bench/bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
SERVICES="10 1000 10000"
BENCH_BACKENDS=10 # backend pods = endpoints per service
POLICY_CIDRS="10 1000" # ipBlock rules isolating the client's egress (policy per-packet cost)
SCENARIO=all
SERVICES_GIVEN=0
CROSS_SERVICES= # the cross-node scenario's N
SYNC_TIMEOUT=${BENCH_SYNC_TIMEOUT:-300} # seconds for the agent to apply a big manifest
# Above this many services iptables-nft's --noflush full load (kube-proxy's) is not timed: with
# --noflush, iptables-nft 1.8.9 keeps the chains a restore names in a sorted linked list, one
# walk per chain and per rule, so the load grows faster than the square of the chains (10 s at
# 1,000 services here, 64 s at 2,000, hours at 10,000; see docs/bench.md). The load without
# --noflush (load_all_flush_ms) is timed at every N.
NFT_NOFLUSH_MAX=${BENCH_NFT_NOFLUSH_MAX:-2000}
NEW_BACKEND="be-new" # the pod a change brings in: its first answer ends the change's probe
API_VIP=10.96.0.12 # the Service the fake API server serves (kpgen's VIPs start at 10.96.0.16)
# A full load slower than this (ms) is not repeated: its one figure is reported with repeats 1
# (iptables-restore of 10,000 services takes 7-14 s here, `nft -f` of them 2-5 min; repeating
# them would take the bench past its 20 minutes).
SLOW_LOAD_MS=${BENCH_SLOW_LOAD_MS:-10000}

while (($#)); do
	case $1 in
	--quick) bench_quick ;;
	--large) SERVICES="$SERVICES 50000" ;;
	--services)
		SERVICES=$2
		SERVICES_GIVEN=1
		shift
		;;
	--repeats)
		REPEATS=$2
		shift
		;;
	--duration)
		DURATION=$2
		shift
		;;
	--iperf-time)
		IPERF_TIME=$2
		shift
		;;
	--parallel)
		PARALLEL=$2
		shift
		;;
	--out)
		OUT=$2
		shift
		;;
	--iptables)
		IPT_BACKENDS=$2
		shift
		;;
	--policy-cidrs)
		POLICY_CIDRS=$2
		shift
		;;
	--scenario)
		SCENARIO=$2
		shift
		;;
	--cross-services)
		CROSS_SERVICES=$2
		shift
		;;
	-h | --help)
		sed -n '3,36p' "$0"
		exit 0
		;;
	*)
		echo "bench: unknown argument $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done
OUT=${OUT:-$BUILD_DIR/bench}
case $SCENARIO in
single | cross-node | all) ;;
*)
	echo "bench: --scenario: single, cross-node or all" >&2
	exit 2
	;;
esac
if [[ $SCENARIO != single ]]; then
	if [[ -z $CROSS_SERVICES ]]; then
		CROSS_SERVICES="10 1000"
		((QUICK == 0)) || CROSS_SERVICES="10 100"
		((SERVICES_GIVEN == 0)) || CROSS_SERVICES=$SERVICES
	fi
	cross=("$SL_ROOT/bench/crossnode.sh")
	# --quick first: the figures given after it are the ones in force.
	((QUICK == 0)) || cross+=(--quick)
	cross+=(--services "$CROSS_SERVICES" --repeats "$REPEATS" --duration "$DURATION"
		--iperf-time "$IPERF_TIME" --parallel "$PARALLEL" --iptables "$IPT_BACKENDS"
		--pkt-repeat "$PKT_REPEAT" --out "$OUT/cross-node")
	"${cross[@]}" || exit 1
	[[ $SCENARIO == all ]] || exit 0
fi
# shellcheck source=tests/e2e/lib.sh
. "$SL_ROOT/tests/e2e/lib.sh"
bench_ipt_modes "$IPT_BACKENDS"

bench_begin bench curl

# is_slow T0 T1: the load took longer than SLOW_LOAD_MS.
is_slow() { awk -v a="$1" -v b="$2" -v lim="$SLOW_LOAD_MS" 'BEGIN { exit !((b - a) * 1000 > lim) }'; }

# Kernel memory that nf_tables rules live in (slab and vmalloc), KiB.
kernel_mem_kib() { awk '/^(SUnreclaim|VmallocUsed):/ { s += $2 } END { print s }' /proc/meminfo; }

# ---- one change, end to end --------------------------------------------------------------------
# A mode's change function, `FN change|revert N ARGS...`, makes service 0's last endpoint the new
# pod (change) or the old one again (revert), sets CHANGE_T0 ($EPOCHREALTIME-style seconds) to
# when the change was handed over (the restore started, the manifest moved into place, the API
# server stored the object) and samples the mode's own figure for the change.
CHANGE_T0=
PROBE_PID=
PROBE_OUT=

# probe_start MODE N VIP: the client's probe of VIP:80 (sluice-connrate --until NEW_BACKEND) in
# the background, back once it is answered, so the change that follows meets a running loop.
probe_start() {
	local mode=$1 n=$2 vip=$3 i
	PROBE_OUT=$TOPO_DIR/probe.out
	: >"$PROBE_OUT"
	# nsenter execs the probe: $! is its own pid, which the cleanup may kill.
	nsenter --net="/var/run/netns/$(topo_ns_pod client)" -- "$CONNRATE" --connect "$vip:80" \
		--until "$NEW_BACKEND" --expect be- --timeout-ms 100 --duration "$SYNC_TIMEOUT" \
		>"$PROBE_OUT" 2>&1 &
	PROBE_PID=$!
	TOPO_PIDS+=("$PROBE_PID")
	for ((i = 0; i < 250; i++)); do
		grep -q '^probing' "$PROBE_OUT" && return 0
		kill -0 "$PROBE_PID" 2>/dev/null || break
		sleep 0.02
	done
	if grep -q '"found": true' "$PROBE_OUT"; then
		wait "$PROBE_PID" || true
		bench_fail "$mode/$n/update_e2e" "$NEW_BACKEND answered $vip before the change (the last revert is not in force)"
	fi
	bench_fail "$mode/$n/update_e2e" "the probe of $vip got no answer: $(tr '\n' ' ' <"$PROBE_OUT" | cut -c1-300)"
}

# probe_wait MODE N METRIC: waits for the probe; samples METRIC, the ms from CHANGE_T0 to the
# new pod's first answer.
probe_wait() {
	local mode=$1 n=$2 metric=$3 found_at p keep=()
	wait "$PROBE_PID" || true
	for p in "${TOPO_PIDS[@]}"; do
		[[ $p == "$PROBE_PID" ]] || keep+=("$p")
	done
	TOPO_PIDS=("${keep[@]}")
	found_at=$(grep '^{' "$PROBE_OUT" | jq -r 'select(.found == true) | .found_at' 2>/dev/null || true)
	[[ -n $found_at ]] ||
		bench_fail "$mode/$n/update_e2e" "$NEW_BACKEND never answered within ${SYNC_TIMEOUT}s: $(tail -n1 "$PROBE_OUT")"
	sample "$n" "$mode" "$metric" "$(elapsed_ms "$CHANGE_T0" "$found_at")"
}

# update_run MODE N VIP METRIC FN ARGS...: REPEATS times: probe VIP, FN change (its own figure),
# METRIC from the change to the new pod's first answer, FN revert.
update_run() {
	local mode=$1 n=$2 vip=$3 metric=$4 fn=$5 r
	shift 5
	for ((r = 0; r < REPEATS; r++)); do
		probe_start "$mode" "$n" "$vip"
		"$fn" change "$n" "$@"
		probe_wait "$mode" "$n" "$metric"
		"$fn" revert "$n" "$@"
	done
}

# netfilter_change STEP N MODE RULES: RULES-STEP.rules (kube-proxy's partial sync or nftables
# transaction for the change); update_one_ms is the command's own time.
# shellcheck disable=SC2317 # called through update_run
netfilter_change() {
	local step=$1 n=$2 mode=$3 rules=$4 t1
	CHANGE_T0=$EPOCHREALTIME
	rules_load "$n" "$mode" update "$rules-$step.rules"
	t1=$EPOCHREALTIME
	if [[ $step == change ]]; then sample "$n" "$mode" update_one_ms "$(elapsed_ms "$CHANGE_T0" "$t1")"; fi
}

# manifest_change STEP N DIR: the manifest file holding service 0 replaced (1,000 services a
# file); update_one_ms is the agent's own sync time (SYNC_MS).
# shellcheck disable=SC2317 # called through update_run
manifest_change() {
	local step=$1 n=$2 dir=$3 src=yaml
	[[ $step == revert ]] || src=yaml-change
	cp "$dir/$src/services-00000.yaml" "$TOPO_DIR/tmp/services-00000.yaml"
	agent_mark
	CHANGE_T0=$EPOCHREALTIME
	mv "$TOPO_DIR/tmp/services-00000.yaml" "$TOPO_DIR/manifests/"
	agent_wait_sync $((n + API_FRONTENDS)) changed
	if [[ $step == change ]]; then sample "$n" sluice update_one_ms "$SYNC_MS"; fi
}

# endpoint_lines POD... (stdout): the pods as an EndpointSlice's endpoints (slice_endpoint).
endpoint_lines() {
	local pod
	for pod in "$@"; do slice_endpoint "$pod"; done
}

# api_change STEP N: the API Service's slice with the new pod in its last endpoint's place (or
# back), as one watch event; CHANGE_T0 is when the fake API server stored it, update_one_api_ms
# the agent's own sync time.
# shellcheck disable=SC2317 # called through update_run
api_change() {
	local step=$1 n=$2 pods=("${BACKEND_PODS[@]}")
	[[ $step == revert ]] || pods[-1]=$NEW_BACKEND
	agent_mark
	api_slice_yaml api-probe "$(endpoint_lines "${pods[@]}")" | api_apply
	CHANGE_T0=$(jq -r .at "$TOPO_DIR/api-control.json")
	agent_wait_sync $((n + API_FRONTENDS)) changed
	if [[ $step == change ]]; then sample "$n" sluice update_one_api_ms "$SYNC_MS"; fi
}

# ---- topology ---------------------------------------------------------------------------------
info "bench: services ${SERVICES// /,}, $REPEATS repeats, ${DURATION}s load x $PARALLEL threads, iperf3 ${IPERF_TIME}s"
topo_node n1 10.244.1.0/24
# The agent reads manifests (the N services) and the fake API server (one Service, api-probe, for
# the change through the API); an empty namespace list is all the server starts with.
# Bookmarks as kube-apiserver sends them, about once a minute: each watch event restarts the
# agent's 100 ms debounce, so the tests' one a second would delay the changes timed here.
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n' >"$TOPO_DIR/api-fixtures.yaml"
TOPO_API_BOOKMARK_INTERVAL=60 topo_apiserver n1 "$TOPO_DIR/api-fixtures.yaml"
# The socket hooks on the bench's own cgroup: only the sluice-socket mode's client runs in it.
topo_cgroup
topo_agent n1 "$TOPO_DIR/manifests" --kubeconfig "$TOPO_KUBECONFIG" --socket-lb true \
	--cgroup-root "$TOPO_CGROUP"
bench_pods n1 "$NEW_BACKEND"
# The API's Service: every backend pod, as the manifests' services have.
API_FRONTENDS=1
api_service_yaml api-probe "$API_VIP" "" "$(endpoint_lines "${BACKEND_PODS[@]}")" | api_apply
wait_service_backends n1 "$API_VIP" 80 "$BENCH_BACKENDS" ||
	topo_fatal "agent did not apply the API's Service $API_VIP:80: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"

# netfilter_load N MODE RULES METRIC [flush]: RULES.rules loaded REPEATS times into emptied
# tables (once when slow), timed as METRIC, with the kernel memory it takes.
netfilter_load() {
	local n=$1 mode=$2 rules=$3 metric=$4 how=${5:-} r t0 t1 m0 m1
	for ((r = 0; r < REPEATS; r++)); do
		rules_flush
		sleep 0.3
		m0=$(kernel_mem_kib)
		t0=$EPOCHREALTIME
		rules_load "$n" "$mode" load "$rules.rules" "$how"
		t1=$EPOCHREALTIME
		m1=$(kernel_mem_kib)
		sample "$n" "$mode" "$metric" "$(elapsed_ms "$t0" "$t1")"
		sample "$n" "$mode" memory_kib $((m1 - m0))
		if is_slow "$t0" "$t1"; then break; fi
	done
}

# netfilter_run N MODE RULES VIP IPERF_VIP VIP0: kube-proxy's MODE ruleset, RULES.rules, loaded
# from empty (as a starting kube-proxy does), then one change of service 0 (VIP0) and its revert
# (RULES-change.rules, RULES-revert.rules) timed by the command and end to end, then the traffic
# to VIP:80 and IPERF_VIP, which netfilter must translate and sluice must not.
netfilter_run() {
	local n=$1 mode=$2 rules=$3 vip=$4 iperf_vip=$5 vip0=$6 svc_chain before after
	info "N=$n $mode"
	if [[ $mode == iptables-nft ]]; then
		# The whole tables replaced: no --noflush chain list, so it loads at every N.
		netfilter_load "$n" "$mode" "$rules" load_all_flush_ms flush
	fi
	if [[ $mode == iptables-nft ]] && ((n > NFT_NOFLUSH_MAX)); then
		note "$n" "$mode" load_all_ms "not measured above $NFT_NOFLUSH_MAX services (BENCH_NFT_NOFLUSH_MAX): iptables-nft-restore --noflush grows with the square of the chains; see load_all_flush_ms and docs/bench.md"
	else
		netfilter_load "$n" "$mode" "$rules" load_all_ms
	fi
	update_run "$mode" "$n" "$vip0" update_e2e_ms netfilter_change "$mode" "$rules"
	before=$(sluice_new_flows)
	connrate_run "$n" "$mode" "$vip:80"
	[[ $(nf_translated "$vip") -gt 0 ]] ||
		bench_fail "$mode/$n/translated_by_netfilter" "no netfilter conntrack entry for $vip"
	iperf_run "$n" "$mode" "$iperf_vip"
	if [[ $mode == iptables* ]]; then
		svc_chain=$(grep -m1 -o -- "-A KUBE-SERVICES .*bench/target:http cluster IP.* -j KUBE-SVC-[A-Z2-7]*" "$rules.rules" | grep -o 'KUBE-SVC-[A-Z2-7]*$')
		[[ $(in_node "$(ipt_tool "$mode")" -t nat -nvxL "$svc_chain" 2>/dev/null | awk 'NR > 2 { s += $1 } END { print s + 0 }') -gt 0 ]] ||
			bench_fail "$mode/$n/rules_hit" "$svc_chain counted no packet"
	fi
	after=$(sluice_new_flows)
	[[ $before == "$after" ]] || bench_fail "$mode/$n/sluice_idle" "sluice translated $((after - before)) flows in $mode mode"
	pass "bench/$mode/$n/reached_backends"
	rules_flush
}

run_n() {
	local n=$1
	local dir="$TOPO_DIR/rules-$n" vip iperf_vip vip0 mode r before after
	local gen=("$KPGEN" --services "$n" --endpoints "$ENDPOINTS" --node n1
		--new-endpoint "$(topo_pod_ip "$NEW_BACKEND")")
	mkdir -p "$dir"
	"${gen[@]}" --format iptables --base-jumps >"$dir/iptables.rules"
	# Test hook (tests/e2e/test_bench_quick.sh): a broken iptables mode must fail the bench.
	if [[ ${BENCH_FAULT:-} == iptables-no-dnat ]]; then
		sed -i '/-j DNAT/d' "$dir/iptables.rules"
	fi
	"${gen[@]}" --format iptables-partial --change >"$dir/iptables-change.rules"
	"${gen[@]}" --format iptables-partial >"$dir/iptables-revert.rules"
	"${gen[@]}" --format nft >"$dir/nft.rules"
	"${gen[@]}" --format nft-update --change >"$dir/nft-change.rules"
	"${gen[@]}" --format nft-update >"$dir/nft-revert.rules"
	# The agent reads files of at most 4 MiB: 1,000 services (2,000 documents) per file.
	"${gen[@]}" --format manifests | split_manifests "$dir/yaml"
	"${gen[@]}" --format manifests --change | split_manifests "$dir/yaml-change"
	vip=$("$KPGEN" --services "$n" --endpoints "$ENDPOINTS" --format vip --index $((n / 2)))
	iperf_vip=$("$KPGEN" --services "$n" --endpoints "$ENDPOINTS" --format vip --index $((n / 2 + 1)))
	vip0=$("$KPGEN" --services "$n" --endpoints "$ENDPOINTS" --format vip --index 0)
	info "N=$n: target $vip:80, iperf $iperf_vip:5201, $(grep -c '^-A' "$dir/iptables.rules") iptables rules, $(grep -c '^add rule' "$dir/nft.rules") nft rules"

	# bare: no translation; the client takes the backends in turn.
	datapath_detach
	rules_flush
	info "N=$n bare"
	connrate_run "$n" bare "$DIRECT_TARGETS"
	iperf_run "$n" bare "${BACKEND_IPS[0]}"

	# iptables (each backend) and nftables: load (timed, from empty, as a starting kube-proxy
	# does), change, traffic.
	for mode in "${IPT_MODES[@]}"; do
		netfilter_run "$n" "$mode" "$dir/iptables" "$vip" "$iperf_vip" "$vip0"
	done
	netfilter_run "$n" nftables "$dir/nft" "$vip" "$iperf_vip" "$vip0"

	# sluice: the agent loads the same services from manifest files (timed by the agent's own
	# "sync: ... ms" line: read + parse + map sync), then one endpoint change through a manifest
	# and one through the API.
	info "N=$n sluice"
	datapath_attach
	for ((r = 0; r < REPEATS; r++)); do
		if compgen -G "$TOPO_DIR/manifests/services-*.yaml" >/dev/null; then
			agent_mark
			rm -f "$TOPO_DIR/manifests"/services-*.yaml
			agent_wait_sync "$API_FRONTENDS"
			sleep 0.2
		fi
		cp "$dir"/yaml/*.yaml "$TOPO_DIR/tmp/"
		agent_mark
		mv "$TOPO_DIR/tmp"/services-*.yaml "$TOPO_DIR/manifests/"
		agent_wait_sync $((n + API_FRONTENDS))
		sample "$n" sluice load_all_ms "$SYNC_MS"
		sample "$n" sluice memory_kib "$(sluice_map_kib)"
	done
	update_run sluice "$n" "$vip0" update_e2e_ms manifest_change "$dir"
	update_run sluice "$n" "$API_VIP" update_e2e_api_ms api_change
	wait_service_backends n1 "$vip" 80 "$BENCH_BACKENDS" ||
		bench_fail "sluice/$n/service" "agent does not list $vip:80 with $BENCH_BACKENDS backends"
	before=$(sluice_new_flows)
	connrate_run "$n" sluice "$vip:80"
	iperf_run "$n" sluice "$iperf_vip"
	after=$(sluice_new_flows)
	((after > before)) || bench_fail "sluice/$n/translated_by_sluice" "sluice counted no new service flow"
	[[ $(nf_translated "$vip") -eq 0 ]] || bench_fail "sluice/$n/netfilter_idle" "netfilter translated flows in sluice mode"
	pass "bench/sluice/$n/reached_backends"

	# sluice-socket: the same Services, the client's connections translated at connect().
	info "N=$n sluice-socket"
	socket_lb_run "$n" "$vip" "$iperf_vip"
	info "sluice-socket N=$n: the socket hooks translated $SOCKET_TRANSLATED connections"
	pass "bench/sluice-socket/$n/translated_at_connect"
	pass "bench/sluice-socket/$n/reached_backends"

	# per-packet cost of the program with N services (BPF_PROG_TEST_RUN, private maps)
	local be=$BENCH_BACKENDS
	((n * be < 262143)) || be=$((262143 / n))
	out=$("$PKTBENCH" --services "$n" --backends "$be" --runs "$REPEATS" --repeat "$PKT_REPEAT" -o json) ||
		bench_fail "sluice/$n/pktbench" "sluice-pktbench failed"
	pktbench_rows "$n" sluice "$out" ns_per_packet_new_filling ns_per_packet_new ns_per_packet_established \
		ns_per_packet_new_full ns_per_packet_new_full_confirmed ns_per_packet_masq_new ns_per_packet_masq_established
	# A socket-LB flow's packets, new or established, meet tc_pod as no service traffic.
	pktbench_rows "$n" sluice-socket "$out" ns_per_packet_pass=ns_per_packet_new \
		ns_per_packet_pass=ns_per_packet_established
}

# agent_mark, then a manifest change, then agent_wait_sync N [changed]: waits for the agent's
# first sync line after the mark with N frontends (and "1 changed" when asked); sets SYNC_MS to
# the time the agent took: every sync after the mark up to that one (read, parse, diff and map
# writes; the inotify debounce excluded), as files that land apart can make it sync twice.
AGENT_LOG_MARK=0
SYNC_MS=
agent_mark() { AGENT_LOG_MARK=$(wc -l <"${TOPO_AGENT_LOG[n1]}"); }
agent_wait_sync() {
	local want=$1 kind=${2:-} log=${TOPO_AGENT_LOG[n1]} deadline line
	local pattern="sync: $want frontends[ :(]"
	if [[ $kind == changed ]]; then pattern+=".*: 0 added, 1 changed,"; fi
	deadline=$((SECONDS + SYNC_TIMEOUT))
	while :; do
		line=$(tail -n "+$((AGENT_LOG_MARK + 1))" "$log" | grep -m1 -n -E -- "$pattern" || true)
		if [[ -n $line ]]; then
			SYNC_MS=$(tail -n "+$((AGENT_LOG_MARK + 1))" "$log" | head -n "${line%%:*}" |
				sed -nE 's/.*sync: .*; ([0-9.]+) ms.*/\1/p' | awk '{ s += $1 } END { printf "%.1f", s }')
			return 0
		fi
		((SECONDS < deadline)) || bench_fail "sluice/sync" "agent did not sync $want frontends${kind:+ ($kind)} within ${SYNC_TIMEOUT}s: $(topo_log_tail "$log")"
		sleep 0.05
	done
}

# Kernel memory of the agent's maps (bpftool's memlock figure, which kernels >= 6.4 compute
# from what each map really holds), KiB. Every map the agent pins, conntrack included.
sluice_map_kib() {
	local dir pin total=0 bytes
	dir=$(topo_node_bpffs n1)
	for pin in "$dir"/*; do
		[[ -e $pin ]] || continue
		bytes=$(bpftool -j map show pinned "$pin" 2>/dev/null | jq -r '.bytes_memlock // 0') || continue
		total=$((total + bytes))
	done
	echo $((total / 1024))
}

: >"$OUT/aggregated-extra.tsv"
for n in $SERVICES; do
	run_n "$n"
done

# NetworkPolicy per new flow, at the first N: "metric@cidrs" rows (report.sh splits them).
policy_n=${SERVICES%% *}
for cidrs in $POLICY_CIDRS; do
	out=$("$PKTBENCH" --services "$policy_n" --policy-cidrs "$cidrs" --runs "$REPEATS" \
		--repeat "$PKT_REPEAT" -o json) ||
		bench_fail "sluice/policy/$cidrs/pktbench" "sluice-pktbench --policy-cidrs $cidrs failed"
	pktbench_rows "$policy_n" sluice "$out" "ns_per_packet_policy_denied=ns_per_packet_policy_denied@$cidrs" \
		"ns_per_packet_policy_denied_pod=ns_per_packet_policy_denied_pod@$cidrs" \
		"ns_per_packet_policy_allowed=ns_per_packet_policy_allowed@$cidrs"
	pass "bench/sluice/policy/$cidrs/measured"
done
datapath_attach
info "bench: measured in $((SECONDS - BENCH_T0)) s"

# ---- report -----------------------------------------------------------------------------------
"$SL_ROOT/bench/report.sh" "$SAMPLES" "$OUT/aggregated-extra.tsv" "$OUT" "$QUICK" "$REPEATS" \
	"$DURATION" "$PARALLEL" "$IPERF_TIME" || bench_fail report "bench/report.sh failed"
pass bench/results_json
topo_finish
