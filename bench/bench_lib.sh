# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# shellcheck disable=SC2034 # what this sets, the scenario reads
# What the bench's scenarios share (bench/bench.sh: one node; bench/crossnode.sh: the client on
# one node, the backends on another): samples, the iptables backends, pod veths with and without
# sluice's programs, kube-proxy's rules in and out of the nodes, the load client and iperf3.
# Sourced first, before the scenario's options and tests/e2e/lib.sh: it sets the tools (the
# optimised builds: the bench measures sluice, not the sanitizers) and the defaults both
# scenarios share. The scenario sets: SAMPLES and OUT (where figures go), BENCH_BACKENDS (pods
# that must all answer), and BENCH_NODES, the nodes whose pod veths and netfilter rules a mode
# changes (n1, the client's node, first: it translates).

SL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$(cd "$SL_ROOT" && realpath -m "${BUILD:-build}")
export SLUICE=${SLUICE:-$BUILD_DIR/sluice}
export SLUICE_CNI=${SLUICE_CNI:-$BUILD_DIR/sluice-cni}
KPGEN=${KPGEN:-$BUILD_DIR/sluice-kpgen}
CONNRATE=${CONNRATE:-$BUILD_DIR/sluice-connrate}
PKTBENCH=${PKTBENCH:-$BUILD_DIR/sluice-pktbench}
SL_AGENT_READY_TIMEOUT=${SL_AGENT_READY_TIMEOUT:-60}

REPEATS=5
DURATION=2    # seconds of connection load per repeat
IPERF_TIME=2  # seconds of iperf3 per repeat
PARALLEL=8    # client threads (each a connect/request/close loop)
PKT_REPEAT=1000000
# iptables backends measured, each as its own mode: legacy is "iptables", nft "iptables-nft".
IPT_BACKENDS="legacy nft"
QUICK=0
OUT=
BENCH_NODES=${BENCH_NODES:-n1}

# bench_quick: --quick's figures (N = 10 and 100, shorter runs); the options given after it win.
bench_quick() {
	QUICK=1
	SERVICES="10 100"
	DURATION=0.5
	IPERF_TIME=1
	PKT_REPEAT=200000
}

# bench_ipt_modes "legacy nft": IPT_MODES (iptables for legacy, iptables-nft for nft) and
# IPT_TOOLS (their binaries); exits 2 on anything else.
bench_ipt_modes() {
	local backend
	IPT_MODES=()
	IPT_TOOLS=()
	for backend in $1; do
		case $backend in
		legacy) IPT_MODES+=(iptables) ;;
		nft) IPT_MODES+=(iptables-nft) ;;
		*)
			echo "bench: --iptables: legacy, nft or both (\"legacy nft\")" >&2
			exit 2
			;;
		esac
		IPT_TOOLS+=("iptables-$backend" "iptables-$backend-restore")
	done
	export BENCH_IPT_VERSION BENCH_IPT_NFT_VERSION
	BENCH_IPT_VERSION=$(iptables-legacy -V 2>/dev/null || echo "iptables-legacy missing")
	BENCH_IPT_NFT_VERSION=$(iptables-nft -V 2>/dev/null || echo "iptables-nft missing")
}

# The client's node, where a Service is translated.
in_node() { topo_in_node n1 "$@"; }

sample() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$SAMPLES"; }

# note N MODE METRIC TEXT: why a figure is missing; results.json and the table carry it.
note() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$OUT/notes.tsv"
	info "N=$1 $2 $3: $4"
}

# The iptables binary of an iptables mode's backend.
# bench_begin NAME TOOL...: the bench's topology (prefix NAME, cleaned up on every exit), the
# binaries and tools every scenario needs plus TOOLs, and $OUT with an empty samples table and
# notes; starts the clock BENCH_T0.
bench_begin() {
	local name=$1 tool
	shift
	topo_init "$name"
	topo_require "$SLUICE" "$SLUICE_CNI" "$KPGEN" "$CONNRATE" "$PKTBENCH"
	for tool in iperf3 "${IPT_TOOLS[@]}" nft conntrack bpftool jq tc "$@"; do
		command -v "$tool" >/dev/null || topo_fatal "$tool is not installed (make deps)"
	done
	mkdir -p "$OUT"
	SAMPLES=$OUT/samples.tsv
	printf 'services\tmode\tmetric\tvalue\n' >"$SAMPLES"
	: >"$OUT/notes.tsv"
	BENCH_T0=$SECONDS
}

ipt_tool() { if [[ $1 == iptables-nft ]]; then echo iptables-nft; else echo iptables-legacy; fi; }

# ms between two $EPOCHREALTIME stamps
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) * 1000 }'; }

bench_fail() {
	fail "bench/$1" "$2"
	exit 1
}

# host_veths NODE: the node's pod veths (a node on the fabric has a veth eth0 as its uplink).
host_veths() {
	topo_in_node "$1" ip -o link show type veth | awk -F': ' '{ split($2, a, "@"); if (a[1] != "eth0") print a[1] }'
}

# Every pod veth of BENCH_NODES without the sluice programs (kube-proxy nodes wire pods with
# plain veths).
datapath_detach() {
	local node v hook
	for node in $BENCH_NODES; do
		for v in $(host_veths "$node"); do
			for hook in ingress egress; do
				topo_in_node "$node" tc filter del dev "$v" "$hook" 2>/dev/null || true
				[[ -z $(topo_in_node "$node" tc filter show dev "$v" "$hook") ]] ||
					bench_fail setup "tc program still attached to $node $v $hook after detach"
			done
		done
	done
}

# The pinned programs back on every pod veth of BENCH_NODES, as sluice-cni attaches them:
# tc_pod at ingress, tc_to_pod at egress.
datapath_attach() {
	local node v hook pin
	for node in $BENCH_NODES; do
		for v in $(host_veths "$node"); do
			for hook in ingress:tc_pod egress:tc_to_pod; do
				pin=${hook#*:}
				topo_in_node "$node" tc filter replace dev "$v" "${hook%%:*}" pref 1 handle 1 bpf da \
					object-pinned "$(topo_node_bpffs "$node")/$pin" ||
					bench_fail setup "cannot attach the pinned $pin to $node $v"
			done
		done
	done
}

# Every mode's rules out of BENCH_NODES, one command per kind: iptables-legacy-restore of empty
# tables (without --noflush it replaces them: every rule and chain gone), and nf_tables' whole
# ruleset flushed (only the bench puts tables there): iptables-nft's tables are deleted, not just
# emptied, as an empty nf_tables nat table would still put its base chains in every later mode's
# path.
rules_flush() {
	local node
	for node in $BENCH_NODES; do
		if [[ " ${IPT_MODES[*]} " == *" iptables "* ]]; then
			printf '*nat\nCOMMIT\n*filter\nCOMMIT\n' | topo_in_node "$node" iptables-legacy-restore
		fi
		topo_in_node "$node" nft flush ruleset
		topo_in_node "$node" conntrack -F >/dev/null 2>&1 || true
	done
}

# rules_load N MODE STEP FILE [flush]: FILE into BENCH_NODES as kube-proxy's MODE hands it to the
# kernel (iptables modes: --noflush, as kube-proxy always restores; "flush": without it); a
# failure stops the bench at MODE/N/STEP.
rules_load() {
	local n=$1 mode=$2 step=$3 file=$4 noflush=--noflush restore node
	[[ ${5:-} != flush ]] || noflush=
	for node in $BENCH_NODES; do
		if [[ $mode == iptables* ]]; then
			restore=$(ipt_tool "$mode")-restore
			topo_in_node "$node" "$restore" $noflush <"$file" ||
				bench_fail "$mode/$n/$step" "$restore $noflush of $file into $node failed"
		else
			topo_in_node "$node" nft -f "$file" || bench_fail "$mode/$n/$step" "nft -f $file into $node failed"
		fi
	done
}

# Translated connections netfilter tracks for a VIP (0 when netfilter did not translate).
nf_translated() {
	in_node conntrack -L -p tcp --orig-dst "$1" 2>/dev/null | grep -c "dst=$1" || true
}

# Packets sluice's program translated as new service flows (from sluice status); or the counter
# STAT (socket_translated: connections the socket hooks translated).
sluice_new_flows() {
	topo_cli n1 status -o json 2>/dev/null |
		jq --arg s "${1:-service_new}" '[.stats[]? | select(.name == $s) | .packets] | add // 0'
}

# client CMD...: CMD in the client pod; inside the agent's cgroup (socket LB) when IN_CGROUP=1,
# as a pod's processes run in its cgroup.
IN_CGROUP=0
TOPO_CGROUP_TIMEOUT=600
client() {
	if ((IN_CGROUP)); then
		topo_pod_in_cgroup client "$@"
	else
		topo_in_pod client "$@"
	fi
}

# connrate_run N MODE TARGETS: REPEATS runs; samples conn_rate and latency; checks backends.
connrate_run() {
	local n=$1 mode=$2 targets=$3 r out ok errs nb want node
	want=$BENCH_BACKENDS
	for ((r = 0; r < REPEATS; r++)); do
		for node in $BENCH_NODES; do topo_in_node "$node" conntrack -F >/dev/null 2>&1 || true; done
		out=$(client "$CONNRATE" --connect "$targets" --parallel "$PARALLEL" \
			--duration "$DURATION" --timeout-ms 1000 --expect be- -o json) || true
		ok=$(jq -r '.connections // 0' <<<"$out" 2>/dev/null || echo 0)
		errs=$(jq -r '.errors // 0' <<<"$out" 2>/dev/null || echo 0)
		nb=$(jq -r '.backends | length' <<<"$out" 2>/dev/null || echo 0)
		# Every connection must be answered by a bench backend, and the load spread over
		# all of them; a handful of errors in thousands (a timeout) is reported, not hidden.
		if ((ok == 0 || nb < want || errs * 100 > ok)); then
			bench_fail "$mode/$n/traffic" "$ok answered by $nb backends (want $want), $errs errors: $out"
		fi
		sample "$n" "$mode" conn_rate "$(jq -r .conn_rate <<<"$out")"
		sample "$n" "$mode" connect_p50_us "$(jq -r .connect_p50_us <<<"$out")"
		sample "$n" "$mode" connect_p99_us "$(jq -r .connect_p99_us <<<"$out")"
		sample "$n" "$mode" connect_errors "$errs"
	done
	info "$mode N=$n: $(jq -c '{conn_rate, connect_p50_us, connect_p99_us, errors, backends}' <<<"$out")"
}

# iperf_run N MODE ADDRESS: one long TCP stream per repeat.
iperf_run() {
	local n=$1 mode=$2 addr=$3 r out gbps
	for ((r = 0; r < REPEATS; r++)); do
		out=$(client timeout $((IPERF_TIME * 3 + 10)) iperf3 -c "$addr" -p 5201 \
			-t "$IPERF_TIME" -J 2>&1) || bench_fail "$mode/$n/iperf3" "$(jq -r '.error // empty' <<<"$out" 2>/dev/null | head -c 300)"
		gbps=$(jq -r '.end.sum_received.bits_per_second / 1e9' <<<"$out")
		[[ $(jq -r '.end.sum_received.bytes' <<<"$out") -gt 0 ]] ||
			bench_fail "$mode/$n/iperf3" "no bytes received"
		sample "$n" "$mode" throughput_gbps "$gbps"
	done
}

# socket_lb_run N VIP IPERF_VIP: the sluice-socket mode's traffic (connrate_run to VIP:80,
# iperf_run to IPERF_VIP) from the agent's cgroup, where the socket hooks translate each
# connection at connect(); it fails unless they counted connections (socket_translated), tc_pod
# translated none (service_new still: the packets went as plain pod-to-pod flows) and netfilter
# none. Sets SOCKET_TRANSLATED to the connections the hooks translated.
SOCKET_TRANSLATED=0
socket_lb_run() {
	local n=$1 vip=$2 iperf_vip=$3 before socket_before
	before=$(sluice_new_flows)
	socket_before=$(sluice_new_flows socket_translated)
	# Test hook (tests/e2e/test_bench_crossnode_quick.sh): a client outside the cgroup, whose
	# connections tc_pod translates, must fail this mode.
	[[ ${BENCH_FAULT:-} == socket-outside-cgroup ]] || IN_CGROUP=1
	connrate_run "$n" sluice-socket "$vip:80"
	iperf_run "$n" sluice-socket "$iperf_vip"
	IN_CGROUP=0
	SOCKET_TRANSLATED=$(($(sluice_new_flows socket_translated) - socket_before))
	((SOCKET_TRANSLATED > 0)) ||
		bench_fail "sluice-socket/$n/translated_at_connect" "the socket hooks counted no connection"
	[[ $(sluice_new_flows) -eq $before ]] ||
		bench_fail "sluice-socket/$n/no_per_packet" "tc_pod translated $(($(sluice_new_flows) - before)) flows"
	[[ $(nf_translated "$vip") -eq 0 ]] ||
		bench_fail "sluice-socket/$n/netfilter_idle" "netfilter translated flows in sluice-socket mode"
}

# split_manifests DIR: stdin's YAML documents into DIR/services-NNNNN.yaml, 2,000 a file.
split_manifests() {
	mkdir -p "$1"
	awk -v dir="$1" '/^---$/ { if (docs++ % 2000 == 0) { if (f) close(f); f = sprintf("%s/services-%05d.yaml", dir, docs - 1) } } { print > f }'
}

# bench_pods NODE [POD...]: the client pod on n1 (its source ports opened wide: it makes tens of
# thousands of connections a run) and BENCH_BACKENDS backend pods be-0... on NODE, then the PODs
# there too, each with its servers (bench_servers). Sets BACKEND_PODS, BACKEND_IPS, ENDPOINTS
# (their addresses, comma-separated, for sluice-kpgen) and DIRECT_TARGETS (ADDRESS:8080 of each,
# the bare mode's targets).

bench_pods() {
	local node=$1 pod i
	shift
	topo_pod n1 client
	topo_in_pod client sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	topo_in_pod client sysctl -qw net.ipv4.tcp_tw_reuse=1
	BACKEND_PODS=()
	BACKEND_IPS=()
	for ((i = 0; i < BENCH_BACKENDS; i++)); do BACKEND_PODS+=("be-$i"); done
	for pod in "${BACKEND_PODS[@]}" "$@"; do topo_pod "$node" "$pod"; done
	for pod in "${BACKEND_PODS[@]}"; do BACKEND_IPS+=("$(topo_pod_ip "$pod")"); done
	bench_servers "${BACKEND_PODS[@]}" "$@"
	ENDPOINTS=$(
		IFS=,
		echo "${BACKEND_IPS[*]}"
	)
	DIRECT_TARGETS=$(printf '%s:8080,' "${BACKEND_IPS[@]}")
	DIRECT_TARGETS=${DIRECT_TARGETS%,}
}

# pktbench_rows N MODE JSON METRIC[=AS]...: the METRICs of sluice-pktbench's JSON output into
# OUT/aggregated-extra.tsv as MODE's figures at N (under the name AS when given).
pktbench_rows() {
	local n=$1 mode=$2 json=$3 m as med lo hi rep
	shift 3
	for m in "$@"; do
		as=${m#*=}
		m=${m%%=*}
		jq -r --arg m "$m" '.results[] | select(.metric == $m) | [.median, .min, .max, .repeats] | @tsv' <<<"$json" |
			while IFS=$'\t' read -r med lo hi rep; do
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$mode" "$as" "$med" "$lo" "$hi" "$rep" >>"$OUT/aggregated-extra.tsv"
			done
	done
}

# bench_servers POD...: the load client's server (sluice-connrate --serve 8080, answering with
# the pod's name) in each pod, and iperf3 -s on port 5201 in the first; back once all are ready.
bench_servers() {
	local pod t
	for pod in "$@"; do
		nsenter --net="/var/run/netns/$(topo_ns_pod "$pod")" -- \
			"$CONNRATE" --serve 8080 --id "$pod" >"$TOPO_DIR/server-$pod.log" 2>&1 &
		TOPO_PIDS+=("$!")
	done
	nsenter --net="/var/run/netns/$(topo_ns_pod "$1")" -- iperf3 -s -p 5201 >"$TOPO_DIR/iperf3.log" 2>&1 &
	TOPO_PIDS+=("$!")
	for pod in "$@"; do
		for ((t = 0; t < 50; t++)); do
			grep -q '^ready' "$TOPO_DIR/server-$pod.log" && break
			sleep 0.1
		done
		grep -q '^ready' "$TOPO_DIR/server-$pod.log" || topo_fatal "server in $pod did not start"
	done
}
