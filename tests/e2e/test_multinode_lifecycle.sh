#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Nodes come and go under traffic (issue 13's node lifecycle), on the fabric of shared/DESIGN.md
# with one API server and --routing tunnel: two nodes with steady cross-node traffic (a loop of
# short connections and held ones, pod to pod and through a ClusterIP, every one counted); nodes
# n3 and n4 added (Node objects, then their agents): n1 and n2 program them (tunnel4 entries and
# routes) within a generous bound, the time measured and shown, and pods on them answer from both
# old nodes; a Node n5 claiming n4's pod CIDR is refused while n4 holds it. Then n4 and n3 removed
# (agents stopped, Node objects deleted): their entries and routes go, n5 takes n4's freed CIDR,
# and a connection to a pod left on a removed node fails fast (EHOSTUNREACH within 1 s from a pod
# and from the node itself, not a timeout: the agent's unreachable route for the cluster CIDR
# answers what no node's route takes), while the traffic between n1 and n2 lost nothing. A route
# deleted by hand is back within the agent's periodic check. Last, n1's agent is SIGKILLed and
# started again under traffic through n1 (a ClusterIP, pod to pod both ways, local): every held
# connection survives and every short one is answered. Needs bpftool.
set -euo pipefail
# Four agents start side by side on a machine that may be busy: more than lib.sh's 20 s.
SL_AGENT_READY_TIMEOUT=${SL_AGENT_READY_TIMEOUT:-90}
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init multinode_lifecycle
topo_require_all
command -v bpftool >/dev/null || topo_fatal "bpftool is not installed (make deps installs it)"
CLUSTER_CIDR=10.244.0.0/16
SVC_VIP=10.96.0.10
PROGRAM_BOUND_MS=5000 # "within about 1 s", asserted with room for a loaded machine
FAIL_FAST_MS=1000     # a connection to a removed node's pod fails within this, not a timeout

# ---- helpers --------------------------------------------------------------------------------
tunnel4_entries() {
	bpftool -j map dump pinned "$(topo_node_bpffs "$1")/tunnel4" 2>/dev/null | jq length 2>/dev/null || echo -1
}
tunnel4_is() { [[ $(tunnel4_entries "$1") == "$2" ]]; }
our_route() { topo_in_node "$1" ip route show proto 211 "$2" 2>/dev/null; }
has_route() { [[ -n $(our_route "$1" "$2") ]]; }
has_no_route() { [[ -z $(our_route "$1" "$2") ]]; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# ms_until CMD...: milliseconds until CMD succeeds (or -1 after SL_SYNC_TIMEOUT).
ms_until() {
	local t0
	t0=$(date +%s%N)
	wait_until "$@" || {
		echo -1
		return
	}
	ms_since "$t0"
}

start_agent() {
	topo_agent "$1" "$TOPO_DIR/empty" --kubeconfig "$TOPO_KUBECONFIG" \
		--cluster-cidr "$CLUSTER_CIDR" --service-cidr 10.96.0.0/12
}

# Traffic, counted. short_start NAME POD IP:PORT: a loop of short connections (10 at 50 ms,
# again and again) until short_stop NAME; held_start NAME POD IP:PORT COUNT: COUNT connections
# held open, each exchanging a line every 100 ms, until held_stop NAME.
declare -A TRAFFIC_PID=()
short_start() {
	local name=$1 pod=$2 target=$3
	: >"$TOPO_DIR/short-$name.out"
	(
		while [[ ! -e $TOPO_DIR/stop-$name ]]; do
			nsenter --net="/var/run/netns/$(topo_ns_pod "$pod")" -- "$SL_TOOLS/sl_probe" \
				--tcp "$target" -n 10 --interval-ms 50 --timeout-ms 3000 \
				>>"$TOPO_DIR/short-$name.out" 2>&1 || true
		done
	) &
	TRAFFIC_PID[short-$name]=$!
	TOPO_PIDS+=("$!")
}
short_stop() {
	touch "$TOPO_DIR/stop-$1"
	wait "${TRAFFIC_PID[short-$1]}" 2>/dev/null || true
}
held_start() {
	local name=$1 pod=$2 target=$3 count=$4
	mkfifo "$TOPO_DIR/held-$name.in"
	# Read-write on the FIFO: stdin never reaches EOF, so the connections stay until SIGTERM.
	nsenter --net="/var/run/netns/$(topo_ns_pod "$pod")" -- "$SL_TOOLS/sl_probe" --hold "$target" \
		-n "$count" --interval-ms 100 --timeout-ms 3000 \
		<>"$TOPO_DIR/held-$name.in" >"$TOPO_DIR/held-$name.out" 2>&1 &
	TRAFFIC_PID[held-$name]=$!
	TOPO_PIDS+=("$!")
}
held_stop() {
	kill -TERM "${TRAFFIC_PID[held-$1]}" 2>/dev/null || true
	wait "${TRAFFIC_PID[held-$1]}" 2>/dev/null || true
}
# check_short CHECK NAME POD...: every short connection of NAME answered by one of PODS.
check_short() {
	local check=$1 name=$2 out answered=0 pod
	shift 2
	out=$(cat "$TOPO_DIR/short-$name.out")
	for pod in "$@"; do answered=$((answered + $(count_from "$pod" "$out"))); done
	info "$name: $(wc -l <<<"$out") short connections: $(tally "$out")"
	check "$check" "$name: $answered of $(wc -l <<<"$out") answered: $(tally "$out")" \
		test "$answered" -ge 20 -a "$answered" -eq "$(wc -l <<<"$out")"
}
# check_held CHECK NAME COUNT: COUNT connections held from start to end, none lost or refused.
check_held() {
	local check=$1 name=$2 count=$3 out total closed
	out=$(cat "$TOPO_DIR/held-$name.out")
	total=$(grep '^total ' <<<"$out" | cut -d' ' -f3-)
	closed=$(grep -c '^close ' <<<"$out" || true)
	info "$name: $count held connections: $total, $closed open at the end"
	[[ -z $(grep -E '^(lost|connfail) ' <<<"$out") ]] || show_output "$(grep -E '^(lost|connfail) ' <<<"$out" | head -5)"
	check "$check" "$name: ${total:-no total line}, $closed of $count open at the end" \
		eval '[[ $total =~ answered=([0-9]+)\ failed=0\ lost=0\ connfail=0 ]] &&
			((BASH_REMATCH[1] >= 10 * count)) && ((closed == count))'
}
# fail_fast FROM-POD|node:NODE IP:PORT: "MS RESULT" of one connection attempt, bounded by
# FAIL_FAST_MS inside sl_probe (a probe not failed by then says ETIMEDOUT); MS is the wall
# time around it, process start included, for the log.
fail_fast() {
	local from=$1 target=$2 t0 out ns
	if [[ $from == node:* ]]; then ns=$(topo_ns_node "${from#node:}"); else ns=$(topo_ns_pod "$from"); fi
	t0=$(date +%s%N)
	out=$(timeout 20 nsenter --net="/var/run/netns/$ns" -- "$SL_TOOLS/sl_probe" --tcp "$target" \
		-n 1 --timeout-ms "$FAIL_FAST_MS" 2>&1 || true)
	echo "$(ms_since "$t0") $out"
}
is_fast_failure() { [[ ${1#* } =~ ^ERR\ (EHOSTUNREACH|ENETUNREACH|ECONNREFUSED) ]]; }
# The agents' log lines with the time they appeared ($EPOCHREALTIME), to time a change by the
# agent's own "routing (tunnel): ..." line rather than by polls, which a busy machine slows.
follow_log() {
	(tail -F -n 0 --pid=$$ "${TOPO_AGENT_LOG[$1]}" 2>/dev/null | while IFS= read -r line; do
		echo "$EPOCHREALTIME $line"
	done >>"$TOPO_DIR/timed-$1.log") &
	TOPO_PIDS+=("$!")
}
now_us() { echo "${EPOCHREALTIME/./}"; }
# routed_ms NODE T0 TEXT: ms from T0 (now_us) to NODE's first "routing (tunnel): TEXT" line since.
routed_ms() {
	awk -v t0="$2" -v text="routing (tunnel): $3" '
		{ t = $1; sub(/\./, "", t) }
		t + 0 >= t0 + 0 && index($0, text) { printf "%d", (t - t0) / 1000; found = 1; exit }
		END { if (!found) printf "-1" }' "$TOPO_DIR/timed-$1.log"
}
# routed_each T0 TEXT NODE...: "NODE MS ..." of routed_ms for each NODE.
routed_each() {
	local t0=$1 text=$2 node
	shift 2
	for node in "$@"; do echo -n "$node $(routed_ms "$node" "$t0" "$text") "; done
}
# all_within TEXT: every "NODE MS" of TEXT (as routed_each prints it) is 0..PROGRAM_BOUND_MS.
all_within() {
	local -a words
	local i
	read -r -a words <<<"$1"
	for ((i = 1; i < ${#words[@]}; i += 2)); do
		((words[i] >= 0 && words[i] <= PROGRAM_BOUND_MS)) || return 1
	done
}

# ---- two nodes, steady cross-node traffic -------------------------------------------------------
# The agents of n3 and n4 run from the start, as a DaemonSet's pod may before its node registers:
# their Node objects are what adds the nodes (and gives them an address and a pod CIDR).
topo_fabric_nodes 4
{
	manifest_node n1 198.51.100.1 10.244.1.0/24
	manifest_node n2 198.51.100.2 10.244.2.0/24
	manifest_namespace default
} >"$TOPO_DIR/cluster.yaml"
topo_fabric_apiserver "$TOPO_DIR/cluster.yaml"
mkdir -p "$TOPO_DIR/empty"
for node in n1 n2 n3 n4; do TOPO_AGENT_NO_WAIT=1 start_agent "$node"; done
for node in n1 n2 n3 n4; do topo_agent_wait "$node"; done
for node in n1 n2 n3 n4; do follow_log "$node"; done
topo_pod n1 a1
topo_pod n1 c1
topo_pod n2 a2 # also n2's client
for pod in a1 a2; do topo_echo "$pod"; done
{
	manifest_pod a1 "app: a"
	manifest_pod c1 "app: client"
	manifest_pod a2 "app: a"
	echo ---
	manifest_service a "$SVC_VIP" 80:8080/TCP 8000:8090/TCP
	echo ---
	manifest_slice a 80:8080/TCP,8000:8090/TCP a1 a2
} | api_apply
check multinode_lifecycle/two_nodes_routed "n1: tunnel4 $(tunnel4_entries n1) entries, route '$(our_route n1 10.244.2.0/24)'" \
	wait_until eval 'tunnel4_is n1 2 && tunnel4_is n2 2 && has_route n1 10.244.2.0/24 && has_route n2 10.244.1.0/24'
check multinode_lifecycle/cluster_cidr_unreachable "n1: '$(our_route n1 "$CLUSTER_CIDR")'" \
	eval '[[ $(our_route n1 "$CLUSTER_CIDR") == "unreachable $CLUSTER_CIDR"* && $(our_route n2 "$CLUSTER_CIDR") == unreachable* ]]'
check multinode_lifecycle/service_programmed "n1: $(service_backends n1 "$SVC_VIP" 80) backends" \
	wait_service_backends n1 "$SVC_VIP" 80 2

A2=$(topo_pod_ip a2)
A1=$(topo_pod_ip a1)
short_start life_c1_a2 c1 "$A2:8080"
short_start life_a2_svc a2 "$SVC_VIP:80"
held_start life_c1_a2 c1 "$A2:8090" 3
held_start life_a2_a1 a2 "$A1:8090" 3
held_start life_c1_svc c1 "$SVC_VIP:8000" 3
sleep 1

# ---- 2 -> 4: nodes n3 and n4 added -----------------------------------------------------------
# programmed NODE CIDR...: NODE's tunnel4 holds two entries for each of the other three nodes and
# it routes every CIDR given (the other nodes' pod CIDRs).
programmed() {
	local node=$1 cidr
	shift
	for cidr in "$@"; do has_route "$node" "$cidr" || return 1; done
	tunnel4_is "$node" 6
}
added_on() {
	case $1 in
	n1) programmed n1 10.244.2.0/24 10.244.3.0/24 10.244.4.0/24 ;;
	n2) programmed n2 10.244.1.0/24 10.244.3.0/24 10.244.4.0/24 ;;
	n3) programmed n3 10.244.1.0/24 10.244.2.0/24 10.244.4.0/24 ;;
	n4) programmed n4 10.244.1.0/24 10.244.2.0/24 10.244.3.0/24 ;;
	esac
}
sleep 0.5 # the log followers are reading
t0=$(now_us)
{
	manifest_node n3 198.51.100.3 10.244.3.0/24
	manifest_node n4 198.51.100.4 10.244.4.0/24
} | api_apply
for node in n1 n2 n3 n4; do wait_until added_on "$node" || true; done
times=$(routed_each "$t0" "3 nodes routed" n1 n2)
own=$(routed_each "$t0" "3 nodes routed" n3 n4)
info "n3, n4 added: ms from the apply to each agent's routing line: $times; n3's and n4's own agents (creating their tunnel device and loading its programs first): $own"
check multinode_lifecycle/added_programmed "ms per node (bound $PROGRAM_BOUND_MS): $times; tunnel4 n1 $(tunnel4_entries n1) n2 $(tunnel4_entries n2) (6 each); n1 route to n4 '$(our_route n1 10.244.4.0/24)'" \
	eval 'all_within "$times" && added_on n1 && added_on n2'
# Their own agents load the tunnel programs once they have an address: seconds on a busy machine.
check multinode_lifecycle/added_own_tunnel "ms per node (bound $((3 * PROGRAM_BOUND_MS))): $own; tunnel4 n3 $(tunnel4_entries n3) n4 $(tunnel4_entries n4) (6 each)" \
	eval 'PROGRAM_BOUND_MS=$((3 * PROGRAM_BOUND_MS)) all_within "$own" && added_on n3 && added_on n4'
topo_pod n3 a3
topo_pod n4 a4
for pod in a3 a4; do topo_echo "$pod"; done
{
	manifest_pod a3 "app: a"
	manifest_pod a4 "app: a"
} | api_apply
A3=$(topo_pod_ip a3)
A4=$(topo_pod_ip a4)
failed=()
for pair in c1:a3 c1:a4 a2:a3 a2:a4 a3:a4 a4:a1; do
	src=${pair%:*} dst=${pair#*:}
	out=$(topo_probe "$src" --tcp "$(topo_pod_ip "$dst"):8080" -n 2 --timeout-ms 2000 || true)
	[[ $(count_from "$dst" "$out") == 2 ]] || failed+=("$src>$dst($(tally "$out"))")
done
check multinode_lifecycle/added_reachable "failed: ${failed[*]}" test "${#failed[@]}" -eq 0

# A node claiming n4's pod CIDR is refused while n4 holds it.
manifest_node n5 198.51.100.5 10.244.4.0/24 | api_apply
check multinode_lifecycle/overlap_refused "n1 sees n5 as '$(node_list_field n1 n5 state)'" \
	wait_until node_list_is n1 n5 state refused

# ---- 4 -> 2: nodes n4 and n3 removed ---------------------------------------------------------
# Gone from NODE: no route to n3's pods, n4's pod CIDR routed to n5 (it was waiting for it),
# tunnel4 with the other old node's and n5's entries only.
gone_from() {
	has_no_route "$1" 10.244.3.0/24 && tunnel4_is "$1" 4 && node_list_is "$1" n5 state ready
}
# A removed node is gone with its agent: stopped first, the clock starts at the deletions.
topo_agent_stop n4
topo_agent_stop n3
t0=$(now_us)
api_delete Node "" n4
api_delete Node "" n3
for node in n1 n2; do wait_until gone_from "$node" || true; done
times=$(routed_each "$t0" "2 nodes routed" n1 n2)
info "n4, n3 removed: ms from the deletions to each agent's routing line (their entries gone, n5 given n4's freed pod CIDR): $times"
check multinode_lifecycle/removed_unprogrammed "ms per node (bound $PROGRAM_BOUND_MS): $times; n1 tunnel4 $(tunnel4_entries n1) (n2 and n5: 4), route to n3's pods '$(our_route n1 10.244.3.0/24)'" \
	eval 'all_within "$times" && gone_from n1 && gone_from n2'
check multinode_lifecycle/removed_cidr_free "n5 (n4's pod CIDR) on n1: $(node_list_field n1 n5 state), route '$(our_route n1 10.244.4.0/24)'" \
	eval 'node_list_is n1 n5 state ready && [[ $(our_route n1 10.244.4.0/24) == *"dev sluice_vxlan"* ]]'
api_delete Node "" n5
check multinode_lifecycle/removed_cidr_unrouted "n1 route to 10.244.4.0/24: '$(our_route n1 10.244.4.0/24)'" \
	wait_until eval 'has_no_route n1 10.244.4.0/24 && has_no_route n2 10.244.4.0/24 && tunnel4_is n1 2'

# A connection to a pod that was on a removed node fails at once: EHOSTUNREACH, not a timeout.
for probe in "c1 $A3" "c1 $A4" "a2 $A3" "node:n1 $A4"; do
	from=${probe% *}
	result=$(fail_fast "$from" "${probe#* }:8080")
	info "$from -> ${probe#* }:8080 (pod of a removed node): ${result#* } after ${result%% *} ms"
	check "multinode_lifecycle/removed_fails_fast_${from#node:}_${probe#* }" "$from -> ${probe#* }: '${result#* }' after ${result%% *} ms (wanted EHOSTUNREACH within $FAIL_FAST_MS ms)" \
		is_fast_failure "$result"
done
check multinode_lifecycle/removed_no_leak "n1: $(topo_in_node n1 ip route get "$A3" 2>&1 | head -1)" \
	eval 'grep -q "unreachable\|No route" <<<"$(topo_in_node n1 ip route get "$A3" 2>&1)"'

sleep 1
for name in life_c1_a2 life_a2_svc; do short_stop "$name"; done
for name in life_c1_a2 life_a2_a1 life_c1_svc; do held_stop "$name"; done
check_short multinode_lifecycle/lifecycle_short_pod life_c1_a2 a2
check_short multinode_lifecycle/lifecycle_short_service life_a2_svc a1 a2
check_held multinode_lifecycle/lifecycle_held_n1_to_n2 life_c1_a2 3
check_held multinode_lifecycle/lifecycle_held_n2_to_n1 life_a2_a1 3
check_held multinode_lifecycle/lifecycle_held_service life_c1_svc 3

# ---- a route removed by hand is put back by the agent's periodic check -------------------------
topo_in_node n1 ip route del 10.244.2.0/24 proto 211 || topo_fatal "could not remove n1's route to n2's pods"
topo_in_node n1 ip route del "$CLUSTER_CIDR" proto 211 || topo_fatal "could not remove n1's unreachable route"
ms=$(ms_until eval 'has_route n1 10.244.2.0/24 && has_route n1 "$CLUSTER_CIDR"')
info "routes deleted by hand on n1 back after $ms ms (check period 5 s)"
check multinode_lifecycle/routes_reasserted "after $ms ms: '$(our_route n1 10.244.2.0/24)' '$(our_route n1 "$CLUSTER_CIDR")'" \
	test "$ms" -ge 0 -a "$ms" -le 12000

# ---- n1's agent SIGKILLed and started again under traffic through n1 ----------------------------
short_start kill_c1_svc c1 "$SVC_VIP:80"
short_start kill_c1_a2 c1 "$A2:8080"
short_start kill_a2_a1 a2 "$A1:8080"
held_start kill_c1_svc c1 "$SVC_VIP:8000" 4
held_start kill_c1_a2 c1 "$A2:8090" 2
held_start kill_a2_a1 a2 "$A1:8090" 2
held_start kill_c1_a1 c1 "$A1:8090" 2
sleep 1
topo_agent_stop n1 KILL
info "n1's agent killed (SIGKILL) under traffic"
t0=$(date +%s%N)
topo_agent_restart n1
info "n1's agent ready again after $(ms_since "$t0") ms"
sleep 1
for name in kill_c1_svc kill_c1_a2 kill_a2_a1; do short_stop "$name"; done
for name in kill_c1_svc kill_c1_a2 kill_a2_a1 kill_c1_a1; do held_stop "$name"; done
check_short multinode_lifecycle/restart_short_service kill_c1_svc a1 a2
check_short multinode_lifecycle/restart_short_n1_to_n2 kill_c1_a2 a2
check_short multinode_lifecycle/restart_short_n2_to_n1 kill_a2_a1 a1
check_held multinode_lifecycle/restart_held_service kill_c1_svc 4
check_held multinode_lifecycle/restart_held_n1_to_n2 kill_c1_a2 2
check_held multinode_lifecycle/restart_held_n2_to_n1 kill_a2_a1 2
check_held multinode_lifecycle/restart_held_local kill_c1_a1 2
check multinode_lifecycle/restart_routes_kept "n1 after the restart: tunnel4 $(tunnel4_entries n1), '$(our_route n1 10.244.2.0/24)', '$(our_route n1 "$CLUSTER_CIDR")'" \
	eval 'tunnel4_is n1 2 && has_route n1 10.244.2.0/24 && has_route n1 "$CLUSTER_CIDR"'

topo_finish
