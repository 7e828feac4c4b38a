# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Topology library for the end-to-end tests and the demo: nodes and pods as network namespaces,
# the agent running inside its node, pods wired by the real sluice-cni, echo servers in pods,
# PASS/FAIL protocol helpers, and one cleanup that runs on every exit path.
#
# Source it from a test script (after `set -euo pipefail`):
#   . "$(dirname "$0")/lib.sh"
#   topo_init clusterip          # suite name: prefixes the PASS/FAIL names of setup failures
#   topo_node n1 10.244.1.0/24
#   topo_agent n1 "$TOPO_DIR/manifests"
#   topo_pod n1 client
#   ...
#   topo_finish                  # exit status from the PASS/FAIL counts
#
# Names: every namespace is "<prefix>n-NODE" or "<prefix>p-POD" with a random per-run prefix
# ("sl1a2b3c-"), every pin lives under /sys/fs/bpf/<prefix>/NODE, every file under $TOPO_DIR.
# SL_KEEP=1 leaves everything in place for debugging (the cleanup prints what it kept).
#
# The agent runs with `nsenter --net=...`, not `ip netns exec`: the latter remounts /sys in a
# private mount namespace, so the pins it makes under /sys/fs/bpf are invisible to everyone else.

SL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=$(cd "$SL_ROOT" && realpath -m "${BUILD:-build}")
SLUICE=${SLUICE:-$BUILD_DIR/san/sluice}
SLUICE_CNI=${SLUICE_CNI:-$BUILD_DIR/san/sluice-cni}
SL_TOOLS=${SL_TOOLS:-$BUILD_DIR/tests/tools}
SL_AGENT_READY_TIMEOUT=${SL_AGENT_READY_TIMEOUT:-20} # seconds; the ASan build starts slowly
SL_SYNC_TIMEOUT=${SL_SYNC_TIMEOUT:-15}               # seconds for the agent to apply a change
# The agent's socket hooks act on a whole cgroup: every agent a test starts runs without them
# (--host-lb's and --socket-lb's defaults), unless it gives --host-lb true or --socket-lb true
# and the test's own cgroup (topo_cgroup).
export SLUICE_HOST_LB=false SLUICE_SOCKET_LB=false

SL_PASSED=0
SL_FAILED=0
SL_SUITE=e2e
SL_ERR_AT=
TOPO_PREFIX=
TOPO_DIR=
TOPO_BPFFS=
TOPO_CGROUP=
declare -A TOPO_NODE_SUBNET=() TOPO_AGENT_PID=() TOPO_AGENT_LOG=() TOPO_AGENT_MANIFESTS=()
# Each node's extra agent arguments, shell-quoted, so a restart runs the agent as it was started.
declare -A TOPO_AGENT_ARGS=()
declare -A TOPO_POD_IP=() TOPO_POD_NODE=() TOPO_POD_K8S_NS=()
TOPO_NODES=()
TOPO_PODS=()
TOPO_PIDS=()

# ---- protocol: one line per check, read by tests/run.sh --------------------------------------
pass() {
	echo "PASS $1"
	SL_PASSED=$((SL_PASSED + 1))
}

fail() {
	echo "FAIL $1: ${2:-failed}"
	SL_FAILED=$((SL_FAILED + 1))
}

# skip NAME REASON: only for a kernel feature this machine lacks (or not being root), named in
# REASON (docs/tests.md lists them); a skip without one is a failure.
skip() {
	if [[ -z ${2:-} ]]; then
		fail "$1" "skipped without naming the missing kernel feature"
		return
	fi
	echo "SKIP $1: $2"
}

# check NAME WHY-IF-FALSE CONDITION...: PASS when the command succeeds, else FAIL with WHY.
check() {
	local name=$1 why=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$why"; fi
}

info() {
	echo "# $*" >&2
}

# A setup step failed: nothing after it can be meaningful. Reports and exits (cleanup runs).
topo_fatal() {
	fail "$SL_SUITE/setup" "$*"
	exit 1
}

# ---- lifecycle ------------------------------------------------------------------------------
topo_init() {
	SL_SUITE=$1
	if [[ $(id -u) -ne 0 ]]; then
		skip "$SL_SUITE" "needs root (network namespaces, bpffs)"
		exit 0
	fi
	TOPO_PREFIX="sl$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')-"
	TOPO_DIR=$(mktemp -d "/tmp/${TOPO_PREFIX}XXXX")
	mkdir -p "$TOPO_DIR/manifests" "$TOPO_DIR/tmp" "$TOPO_DIR/cni"
	set -E
	trap 'SL_ERR_AT="line $LINENO: $BASH_COMMAND"' ERR
	trap topo_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [[ $(stat -f -c %T /sys/fs/bpf 2>/dev/null) != bpf_fs ]]; then
		mkdir -p /sys/fs/bpf
		mount -t bpf bpf /sys/fs/bpf || topo_fatal "cannot mount bpffs at /sys/fs/bpf"
	fi
	TOPO_BPFFS="/sys/fs/bpf/${TOPO_PREFIX%-}"
	mkdir -p "$TOPO_BPFFS"
	info "topology prefix $TOPO_PREFIX, files in $TOPO_DIR, pins in $TOPO_BPFFS"
}

# Exit with the status the PASS/FAIL lines call for.
topo_finish() {
	if ((SL_FAILED > 0)); then exit 1; fi
	exit 0
}

# Require built binaries; a missing one is a clear FAIL, not a hang further down.
topo_require() {
	local bin
	for bin in "$@"; do
		[[ -x $bin ]] || topo_fatal "$bin is not built (run make tests, or set BUILD/SLUICE/SLUICE_CNI)"
	done
}

topo_require_all() {
	topo_require "$SLUICE" "$SLUICE_CNI" "$SL_TOOLS/sl_echo" "$SL_TOOLS/sl_probe"
}

topo_ns_node() { echo "${TOPO_PREFIX}n-$1"; }
topo_ns_pod() { echo "${TOPO_PREFIX}p-$1"; }

# Run a command in a namespace (by name) without remounting /sys.
topo_in_ns() {
	local ns=$1
	shift
	nsenter --net="/var/run/netns/$ns" -- "$@"
}

topo_in_node() {
	local node=$1
	shift
	topo_in_ns "$(topo_ns_node "$node")" "$@"
}

topo_in_pod() {
	local pod=$1
	shift
	topo_in_ns "$(topo_ns_pod "$pod")" "$@"
}

# Per-run bpffs directory /sys/fs/bpf/<prefix> (set by topo_init, mounting bpffs when the
# machine has none); each node pins under its own subdirectory.
topo_bpffs() {
	echo "$TOPO_BPFFS"
}

topo_node_bpffs() {
	echo "$TOPO_BPFFS/$1"
}

# topo_node NAME SUBNET: a node namespace with loopback up and forwarding on.
topo_node() {
	local node=$1 subnet=$2 ns
	ns=$(topo_ns_node "$node")
	ip netns add "$ns" || topo_fatal "ip netns add $ns failed"
	TOPO_NODES+=("$node")
	TOPO_NODE_SUBNET[$node]=$subnet
	ip -n "$ns" link set lo up
	topo_in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
	mkdir -p "$(topo_node_bpffs "$node")" "$TOPO_DIR/cni/$node"
	touch "$TOPO_DIR/agent-$node.log"
	TOPO_AGENT_LOG[$node]="$TOPO_DIR/agent-$node.log"
}

# topo_uplink_client NODE NODE_IP CLIENT_IP ROUTE...: a client outside the node, the namespace
# "<prefix>x-client", joined to NODE by a veth (the node's uplink up0, NODE_IP/24; the client's
# eth0, CLIENT_IP/24), with a route to each ROUTE (a CIDR) through the node. Sets UPLINK_CLIENT_NS.
topo_uplink_client() {
	local node_ns cidr
	node_ns=$(topo_ns_node "$1")
	UPLINK_CLIENT_NS="${TOPO_PREFIX}x-client"
	ip netns add "$UPLINK_CLIENT_NS" || topo_fatal "ip netns add $UPLINK_CLIENT_NS failed"
	ip link add up0 netns "$node_ns" type veth peer name eth0 netns "$UPLINK_CLIENT_NS" ||
		topo_fatal "veth up0 <-> client eth0 failed"
	ip -n "$node_ns" addr add "$2/24" dev up0
	ip -n "$node_ns" link set up0 up
	ip -n "$UPLINK_CLIENT_NS" link set lo up
	ip -n "$UPLINK_CLIENT_NS" addr add "$3/24" dev eth0
	ip -n "$UPLINK_CLIENT_NS" link set eth0 up
	for cidr in "${@:4}"; do
		ip -n "$UPLINK_CLIENT_NS" route add "$cidr" via "$2"
	done
}

# ---- the multi-node fabric (shared/DESIGN.md) -------------------------------------------------
# A fabric namespace "<prefix>f-fabric" with a bridge br0, which routes between the underlay
# 198.51.100.0/24 (node N's eth0 is 198.51.100.N, the bridge .254) and the outside network
# 203.0.113.0/24 (the outside host "<prefix>x-outside" is 203.0.113.1, the bridge .254): the
# outside host stands for the internet and the clients of NodePorts. Each node is a topo_node
# with its own agent and bpffs directory; nothing touches the root namespace.
SL_UNDERLAY_NET=198.51.100
SL_OUTSIDE_IP=203.0.113.1
TOPO_FABRIC_NS=
TOPO_OUTSIDE_NS=
declare -A TOPO_NODE_IP=() # node name -> its underlay address (topo_node_ip)

# topo_fabric: the fabric namespace, its bridge and the outside host (once per run).
topo_fabric() {
	[[ -z $TOPO_FABRIC_NS ]] || return 0
	TOPO_FABRIC_NS="${TOPO_PREFIX}f-fabric"
	TOPO_OUTSIDE_NS="${TOPO_PREFIX}x-outside"
	ip netns add "$TOPO_FABRIC_NS" || topo_fatal "ip netns add $TOPO_FABRIC_NS failed"
	ip -n "$TOPO_FABRIC_NS" link set lo up
	ip -n "$TOPO_FABRIC_NS" link add br0 type bridge || topo_fatal "bridge br0 in the fabric failed"
	ip -n "$TOPO_FABRIC_NS" addr add "$SL_UNDERLAY_NET.254/24" dev br0
	ip -n "$TOPO_FABRIC_NS" addr add 203.0.113.254/24 dev br0
	ip -n "$TOPO_FABRIC_NS" link set br0 up
	topo_in_ns "$TOPO_FABRIC_NS" sysctl -qw net.ipv4.ip_forward=1
	ip netns add "$TOPO_OUTSIDE_NS" || topo_fatal "ip netns add $TOPO_OUTSIDE_NS failed"
	ip link add eth0 netns "$TOPO_OUTSIDE_NS" type veth peer name out0 netns "$TOPO_FABRIC_NS" ||
		topo_fatal "veth outside eth0 <-> fabric out0 failed"
	ip -n "$TOPO_FABRIC_NS" link set out0 master br0 up
	ip -n "$TOPO_OUTSIDE_NS" link set lo up
	ip -n "$TOPO_OUTSIDE_NS" addr add "$SL_OUTSIDE_IP/24" dev eth0
	ip -n "$TOPO_OUTSIDE_NS" link set eth0 up
	ip -n "$TOPO_OUTSIDE_NS" route add default via 203.0.113.254
}

# topo_fabric_node NAME N [SUBNET]: node NAME (topo_node; SUBNET default "-": its pod CIDR comes
# from its Node object) on the fabric, eth0 198.51.100.N/24, default route via the fabric.
topo_fabric_node() {
	local node=$1 n=$2 subnet=${3:--} ns
	((n >= 1 && n <= 253)) || topo_fatal "topo_fabric_node $node: N=$n is not 1-253"
	topo_fabric
	topo_node "$node" "$subnet"
	ns=$(topo_ns_node "$node")
	ip link add eth0 netns "$ns" type veth peer name "n$n" netns "$TOPO_FABRIC_NS" ||
		topo_fatal "veth $node eth0 <-> fabric n$n failed"
	ip -n "$TOPO_FABRIC_NS" link set "n$n" master br0 up
	ip -n "$ns" addr add "$SL_UNDERLAY_NET.$n/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$SL_UNDERLAY_NET.254"
	TOPO_NODE_IP[$node]=$SL_UNDERLAY_NET.$n
}

# topo_fabric_nodes K: nodes n1..nK on the fabric (no agents yet: topo_agent each).
topo_fabric_nodes() {
	local i
	for ((i = 1; i <= $1; i++)); do topo_fabric_node "n$i" "$i"; done
}

# topo_node_ip NODE: the node's underlay address on the fabric.
topo_node_ip() { echo "${TOPO_NODE_IP[$1]}"; }

# topo_in_outside CMD...: run a command on the outside host.
topo_in_outside() { topo_in_ns "$TOPO_OUTSIDE_NS" "$@"; }

# topo_is_cidr TEXT: TEXT is an IPv4 CIDR (a node's subnet; "pending" or "-" are not).
topo_is_cidr() { [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]]; }

# topo_agent NODE MANIFEST_DIR [EXTRA ARGS...]: start the agent in the node; wait for "agent ready".
# A node made with a SUBNET gets it as --pod-cidr (unless the arguments give one): its pods are
# served from it. A node made with "-" (or "pending") takes its pod CIDR from its Node object.
# With TOPO_AGENT_NO_WAIT=1 it returns at once: topo_agent_wait waits (several agents start
# side by side).
topo_agent() {
	local node=$1 manifests=$2
	shift 2
	local log=${TOPO_AGENT_LOG[$node]} pid
	local pod_cidr=() arg
	TOPO_AGENT_MANIFESTS[$node]=$manifests
	TOPO_AGENT_ARGS[$node]=
	(($# == 0)) || TOPO_AGENT_ARGS[$node]=$(printf '%q ' "$@")
	if topo_is_cidr "${TOPO_NODE_SUBNET[$node]}"; then
		pod_cidr=(--pod-cidr "${TOPO_NODE_SUBNET[$node]}")
		for arg in "$@"; do [[ $arg == --pod-cidr* ]] && pod_cidr=(); done
	fi
	echo "--- agent start $(date +%T)" >>"$log"
	# nsenter execs the agent, so $! is the agent's own pid (a function would add a subshell).
	nsenter --net="/var/run/netns/$(topo_ns_node "$node")" -- "$SLUICE" agent --node "$node" \
		--manifests "$manifests" --bpffs "$(topo_node_bpffs "$node")" "${pod_cidr[@]}" "$@" >>"$log" 2>&1 &
	pid=$!
	TOPO_AGENT_PID[$node]=$pid
	[[ ${TOPO_AGENT_NO_WAIT:-0} == 1 ]] || topo_agent_wait "$node"
}

# topo_agent_wait NODE: wait for "agent ready" from the node's agent since its last start.
topo_agent_wait() {
	local node=$1 log=${TOPO_AGENT_LOG[$1]} pid=${TOPO_AGENT_PID[$1]} deadline
	deadline=$((SECONDS + SL_AGENT_READY_TIMEOUT))
	until awk '/^--- agent start/ { ready = 0 } /agent ready/ { ready = 1 } END { exit !ready }' "$log"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			topo_fatal "agent of $node exited before 'agent ready': $(topo_log_tail "$log")"
		fi
		if ((SECONDS >= deadline)); then
			topo_fatal "agent of $node not ready within ${SL_AGENT_READY_TIMEOUT}s: $(topo_log_tail "$log")"
		fi
		sleep 0.1
	done
	info "agent of $node ready (pid $pid)"
}

# topo_cgroup: a cgroup v2 directory of this run, $TOPO_CGROUP, removed by the cleanup, for an
# agent's socket hooks (--cgroup-root "$TOPO_CGROUP"): never the machine's own root cgroup.
topo_cgroup() {
	local root
	root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[[ -n $root ]] || topo_fatal "no cgroup v2 hierarchy is mounted (cgroup socket hooks need one)"
	TOPO_CGROUP="$root/${TOPO_PREFIX}host"
	mkdir "$TOPO_CGROUP" || topo_fatal "mkdir $TOPO_CGROUP failed"
}

# topo_in_cgroup NODE CMD...: run CMD in the node's namespace from inside $TOPO_CGROUP, bounded.
topo_in_cgroup() {
	local node=$1
	shift
	timeout 60 bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$TOPO_CGROUP" \
		nsenter --net="/var/run/netns/$(topo_ns_node "$node")" -- "$@"
}

# Last lines of a log, on one line, for a FAIL reason.
topo_log_tail() {
	tail -n 5 "$1" 2>/dev/null | tr '\n' '|' | cut -c1-600
}

# topo_agent_stop NODE [SIGNAL]: signal the agent and wait (bounded) until it is gone.
topo_agent_stop() {
	local node=$1 sig=${2:-TERM} pid i
	pid=${TOPO_AGENT_PID[$node]:-}
	[[ -n $pid ]] || return 0
	kill -s "$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		info "agent of $node ignored SIG$sig for 10s, killed"
	fi
	wait "$pid" 2>/dev/null || true
	unset "TOPO_AGENT_PID[$node]"
}

# topo_agent_restart NODE: start the node's agent again on the same manifests, pins and flags.
topo_agent_restart() {
	eval "topo_agent \"\$1\" \"\${TOPO_AGENT_MANIFESTS[\$1]}\" ${TOPO_AGENT_ARGS[$1]:-}"
}

# The CLI against a node's pins, run in the node (ifindexes in the maps are the node's):
#   topo_cli NODE service list -o json
topo_cli() {
	local node=$1
	shift
	timeout 10 nsenter --net="/var/run/netns/$(topo_ns_node "$node")" -- \
		"$SLUICE" --bpffs "$(topo_node_bpffs "$node")" "$@"
}

# The network config a runtime hands the plugin on NODE: ipam.subnet when the node was made with
# a SUBNET, else no ipam at all (the agent's pod CIDR, as one conflist for every node has it).
# Only node, bpffs and stateDir differ between nodes: several nodes share this machine.
topo_cni_config() {
	local node=$1 subnet=${TOPO_NODE_SUBNET[$1]}
	topo_is_cidr "$subnet" || subnet=
	jq -n --arg node "$node" --arg bpffs "$(topo_node_bpffs "$node")" \
		--arg state "$TOPO_DIR/cni/$node" --arg subnet "$subnet" \
		'{cniVersion: "1.0.0", name: "sluice", type: "sluice-cni", node: $node,
		  bpffs: $bpffs, stateDir: $state} + if $subnet == "" then {} else {ipam: {subnet: $subnet}} end'
}

# topo_cni NODE POD COMMAND: run the plugin as a runtime would, inside the node namespace.
topo_cni() {
	local node=$1 pod=$2 cmd=$3
	topo_cni_config "$node" |
		timeout 20 nsenter --net="/var/run/netns/$(topo_ns_node "$node")" -- \
			env CNI_COMMAND="$cmd" CNI_CONTAINERID="${TOPO_PREFIX}${pod}" \
			CNI_NETNS="/var/run/netns/$(topo_ns_pod "$pod")" CNI_IFNAME=eth0 \
			CNI_PATH="$(dirname "$SLUICE_CNI")" \
			CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=${TOPO_POD_K8S_NS[$pod]:-default};K8S_POD_NAME=$pod" \
			"$SLUICE_CNI"
}

# topo_pod NODE POD [K8S_NAMESPACE]: a pod namespace wired by sluice-cni ADD; records its IP.
topo_pod() {
	local node=$1 pod=$2 k8s_ns=${3:-default} ns out ip
	ns=$(topo_ns_pod "$pod")
	ip netns add "$ns" || topo_fatal "ip netns add $ns failed"
	ip -n "$ns" link set lo up
	TOPO_POD_NODE[$pod]=$node
	TOPO_POD_K8S_NS[$pod]=$k8s_ns
	TOPO_PODS+=("$pod")
	if ! out=$(topo_cni "$node" "$pod" ADD 2>&1); then
		topo_fatal "sluice-cni ADD $pod on $node failed: $(echo "$out" | tr '\n' ' ' | cut -c1-400)"
	fi
	ip=$(echo "$out" | jq -r '.ips[0].address // empty' 2>/dev/null | cut -d/ -f1)
	[[ $ip =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
		topo_fatal "sluice-cni ADD $pod: no ips[0].address in result: $(echo "$out" | tr '\n' ' ' | cut -c1-400)"
	TOPO_POD_IP[$pod]=$ip
	info "pod $pod on $node: $ip"
}

topo_pod_ip() {
	echo "${TOPO_POD_IP[$1]}"
}

# in_cidr IP CIDR: IP lies in CIDR.
in_cidr() {
	local ip=$1 net=${2%/*} len=${2#*/} a b c d x y
	IFS=. read -r a b c d <<<"$ip"
	x=$(((a << 24) | (b << 16) | (c << 8) | d))
	IFS=. read -r a b c d <<<"$net"
	y=$(((a << 24) | (b << 16) | (c << 8) | d))
	(((x >> (32 - len)) == (y >> (32 - len))))
}

# wait_until CMD...: true once CMD succeeds, polled every 0.1 s for SL_SYNC_TIMEOUT seconds.
wait_until() {
	local deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	until "$@" 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# topo_pod_try NODE POD [CONFIG-JQ-FILTER]: sluice-cni ADD of a new pod that may be refused
# (topo_pod gives up instead): the plugin's output in $out, its exit status in $rc. The config is
# topo_cni_config's through the jq filter. A pod added is cleaned up as topo_pod's are.
topo_pod_try() {
	local node=$1 pod=$2 filter=${3:-.} ns
	ns=$(topo_ns_pod "$pod")
	[[ -e /var/run/netns/$ns ]] || ip netns add "$ns" || topo_fatal "ip netns add $ns failed"
	out=$(topo_cni_config "$node" | jq -c "$filter" |
		timeout 20 nsenter --net="/var/run/netns/$(topo_ns_node "$node")" -- env CNI_COMMAND=ADD \
			CNI_CONTAINERID="${TOPO_PREFIX}$pod" CNI_NETNS="/var/run/netns/$ns" CNI_IFNAME=eth0 \
			CNI_PATH="$(dirname "$SLUICE_CNI")" \
			CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$pod" \
			"$SLUICE_CNI" 2>/dev/null) && rc=0 || rc=$?
	if ((rc == 0)); then
		TOPO_POD_NODE[$pod]=$node
		TOPO_PODS+=("$pod")
	fi
}

# pod_added_in CIDR: the last topo_pod_try added its pod, with an address in CIDR.
pod_added_in() {
	local ip
	ip=$(jq -r '.ips[0].address // empty' <<<"$out" 2>/dev/null | cut -d/ -f1)
	[[ $rc == 0 && -n $ip ]] && in_cidr "$ip" "$1"
}

# topo_echo POD [sl_echo args]: start sl_echo --id POD in the pod; waits for "ready".
# Default ports: TCP 8080, UDP 5353, stream 8090. An --id NAME in the arguments names the server
# instead (a second server in the same pod, e.g. one per port to tell ports apart).
topo_echo() {
	local pod=$1
	shift
	topo_echo_in "$(topo_ns_pod "$pod")" "$pod" "$@"
}

# topo_echo_in NETNS NAME [sl_echo args]: topo_echo in network namespace NETNS (a node's own
# server, say), sl_echo --id NAME.
topo_echo_in() {
	local netns=$1 name=$2 log pid i id
	shift 2
	local args=("$@")
	((${#args[@]} > 0)) || args=(--tcp 8080 --udp 5353 --stream 8090)
	id=$name
	for ((i = 0; i + 1 < ${#args[@]}; i++)); do
		[[ ${args[i]} == --id ]] && id=${args[i + 1]}
	done
	log="$TOPO_DIR/echo-$id.log"
	: >"$log"
	nsenter --net="/var/run/netns/$netns" -- \
		"$SL_TOOLS/sl_echo" --id "$name" "${args[@]}" >"$log" 2>&1 &
	pid=$!
	TOPO_PIDS+=("$pid")
	for ((i = 0; i < 50; i++)); do
		grep -q '^ready' "$log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	topo_fatal "sl_echo in $netns did not start: $(topo_log_tail "$log")"
}

# topo_probe POD sl_probe-args...: run sl_probe in the pod, bounded; prints its lines.
topo_probe() {
	local pod=$1
	shift
	timeout 60 nsenter --net="/var/run/netns/$(topo_ns_pod "$pod")" -- "$SL_TOOLS/sl_probe" "$@"
}

# topo_bulk_serve NETNS PORT: tests/tools/sl_bulk.py's receiver in network namespace NETNS (a
# pod's or the outside host's), until the test ends.
topo_bulk_serve() {
	nsenter --net="/var/run/netns/$1" -- python3 "$SL_ROOT/tests/tools/sl_bulk.py" serve "$2" \
		>"$TOPO_DIR/bulk-$1-$2.log" 2>&1 &
	TOPO_PIDS+=("$!")
}

# topo_bulk_send NETNS IP PORT BYTES: BYTES over TCP from NETNS to IP:PORT, bounded; prints
# "RECEIVED MBIT/S" (RECEIVED: what the receiver read until the FIN; 0 when it never answered).
topo_bulk_send() {
	local out
	out=$(timeout 40 nsenter --net="/var/run/netns/$1" -- \
		python3 "$SL_ROOT/tests/tools/sl_bulk.py" send "$2" "$3" "$4" 2>/dev/null | tail -1) || true
	[[ $out =~ ^[0-9]+\ [0-9]+$ ]] || out="0 0"
	echo "$out"
}

# ---- the project's API server (tests/tools/fake_apiserver.py) --------------------------------
# topo_apiserver NODE [FIXTURES]: the fake API server on the node's loopback, HTTPS with a
# certificate made here and a bearer token, serving FIXTURES (a YAML file or directory; default
# tests/e2e/fixtures/apiserver); writes $TOPO_KUBECONFIG for `topo_agent NODE DIR --kubeconfig`.
# Objects then arrive as watch events through api_apply / api_delete. TOPO_API_SAN: the
# certificate's subjectAltName (default IP:127.0.0.1, which api_control needs).
# TOPO_API_BOOKMARK_INTERVAL: seconds between a watch's bookmarks (default 1, so tests see
# resourceVersions move; kube-apiserver sends one about a minute).
TOPO_API_NS=
TOPO_API_URL=https://127.0.0.1:6443
TOPO_API_TOKEN=sluice-test-token
TOPO_KUBECONFIG=

topo_apiserver() {
	topo_apiserver_in "$(topo_ns_node "$1")" 127.0.0.1 "${2:-}"
}

# topo_fabric_apiserver [FIXTURES]: the same server for every node of the fabric, in the fabric
# namespace at 198.51.100.254:6443 (the bridge's address), as one API server serves a cluster:
# `topo_agent NODE DIR --kubeconfig "$TOPO_KUBECONFIG"` on each node.
topo_fabric_apiserver() {
	topo_fabric
	TOPO_API_SAN=${TOPO_API_SAN:-IP:$SL_UNDERLAY_NET.254} \
		topo_apiserver_in "$TOPO_FABRIC_NS" "$SL_UNDERLAY_NET.254" "${1:-}"
}

# topo_apiserver_in NS ADDRESS [FIXTURES]: the server in namespace NS, on ADDRESS:6443.
topo_apiserver_in() {
	local ns=$1 address=$2 fixtures=${3:-$SL_ROOT/tests/e2e/fixtures/apiserver} i
	local python=${PYTHON:-/usr/bin/python3}
	if ! [[ -x $python ]] || ! "$python" -c 'import yaml' 2>/dev/null; then
		topo_fatal "$python with PyYAML is needed (make deps)"
	fi
	command -v openssl >/dev/null || topo_fatal "openssl is needed (make deps)"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=fake-apiserver \
		-addext "subjectAltName=${TOPO_API_SAN:-IP:127.0.0.1}" -keyout "$TOPO_DIR/api.key" -out "$TOPO_DIR/api.crt" \
		>/dev/null 2>&1 || topo_fatal "openssl could not make a certificate"
	nsenter --net="/var/run/netns/$ns" -- "$python" \
		"$SL_ROOT/tests/tools/fake_apiserver.py" --listen "$address:6443" \
		--cert "$TOPO_DIR/api.crt" --key "$TOPO_DIR/api.key" --token "$TOPO_API_TOKEN" \
		--fixtures "$fixtures" --bookmark-interval "${TOPO_API_BOOKMARK_INTERVAL:-1}" \
		--ready-file "$TOPO_DIR/api.ready" \
		>"$TOPO_DIR/apiserver.log" 2>&1 &
	TOPO_PIDS+=("$!")
	for ((i = 0; i < 100; i++)); do
		[[ -s $TOPO_DIR/api.ready ]] && break
		sleep 0.1
	done
	[[ -s $TOPO_DIR/api.ready ]] ||
		topo_fatal "fake API server did not start: $(topo_log_tail "$TOPO_DIR/apiserver.log")"
	TOPO_API_NS=$ns
	TOPO_API_URL=https://$address:6443
	TOPO_KUBECONFIG=$TOPO_DIR/kubeconfig
	cat >"$TOPO_KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
current-context: test
clusters:
- name: fake
  cluster:
    server: $TOPO_API_URL
    certificate-authority-data: $(base64 -w0 <"$TOPO_DIR/api.crt")
contexts:
- name: test
  context: {cluster: fake, user: agent, namespace: default}
users:
- name: agent
  user: {token: $TOPO_API_TOKEN}
EOF
}

# api_control VERB [QUERY] < BODY: the fake server's control channel (apply, delete, expire,
# drop, garbage); fails when the server refuses the request. Its answer lands in
# $TOPO_DIR/api-control.json ("at": when an apply was stored, for the bench).
api_control() {
	topo_in_ns "$TOPO_API_NS" curl -sf --max-time 20 --cacert "$TOPO_DIR/api.crt" -X POST \
		--data-binary @- "$TOPO_API_URL/_control/$1${2:+?$2}" >"$TOPO_DIR/api-control.json"
}

# api_apply < YAML: the objects as ADDED/MODIFIED watch events (API_APPLY_QUERY=silent=1: no
# event, the change is only seen by a new list).
api_apply() {
	api_control apply "${API_APPLY_QUERY:-}" || topo_fatal "fake API server refused an apply"
}

# api_delete KIND NAMESPACE NAME: a DELETED watch event.
api_delete() {
	jq -n --arg k "$1" --arg ns "$2" --arg n "$3" '{kind: $k, namespace: $ns, name: $n}' |
		api_control delete || topo_fatal "fake API server refused to delete $1 $2/$3"
}

# api_stats: requests served per resource, {"list": {...}, "watch": {...}}.
api_stats() {
	topo_in_ns "$TOPO_API_NS" curl -sf --max-time 20 --cacert "$TOPO_DIR/api.crt" \
		"$TOPO_API_URL/_control/stats"
}

# ---- reading the CLI's JSON -----------------------------------------------------------------
# The only places that know the shape of `sluice ... -o json`:
#   service list: {"services": [{"name", "vip", "port", "protocol", "slots", "backends": [..]}]}
#   ct list:      {"connections": [{"proto", "src", "sport", "dst", "dport", "nat_dst", ...}]}
#   status:       {"ipam": {"pod_cidr", "pod_cidr_source", "pods_refused", "message", ...}, ...}
#   node list:    {"nodes": [{"name", "self", "internal_ip", "pod_cidr", "state", "reason",
#                  and for other nodes "tunnel", "route" (booleans), "route_to"}]}

# ipam_field NODE FIELD: FIELD of the "ipam" object of `sluice status -o json` on NODE
# (pod_cidr, pod_cidr_source, pods_refused, message, node_ip, cluster_cidr, in_use, ...).
ipam_field() { topo_cli "$1" status -o json 2>/dev/null | jq -r ".ipam.$2"; }
ipam_is() { [[ $(ipam_field "$1" "$2") == "$3" ]]; }

# node_list_field NODE PEER FIELD: FIELD (state, internal_ip, pod_cidr, reason) of PEER in
# NODE's `sluice node list -o json`; empty when NODE does not list PEER.
node_list_field() {
	topo_cli "$1" node list -o json 2>/dev/null |
		jq -r --arg n "$2" ".nodes[] | select(.name == \$n) | .$3"
}
node_list_is() { [[ $(node_list_field "$1" "$2" "$3") == "$4" ]]; }

# service_backends NODE VIP PORT: backends of the frontend, or -1 when it is not listed.
service_backends() {
	local node=$1 vip=$2 port=$3 json
	json=$(topo_cli "$node" service list -o json 2>/dev/null) || {
		echo -1
		return
	}
	jq -r --arg ip "$vip" --argjson port "$port" '
		[.services[] | select(.vip == $ip and .port == $port)]
		| if length == 0 then -1 else (.[0].backends | length) end' <<<"$json" 2>/dev/null || echo -1
}

# stream_exchange TO_FD FROM_FD WORD: over an `sl_probe --stream` coprocess's descriptors, send
# a line and print its reply (nothing when none comes within 5 s).
stream_exchange() {
	local reply=
	echo "$3" >&"$1" || return 0
	read -r -t 5 reply <&"$2" || true
	echo "$reply"
}

# wait_service_backends NODE VIP PORT N: until the agent has applied N backends (bounded).
wait_service_backends() {
	local node=$1 vip=$2 port=$3 want=$4 got deadline
	deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	while :; do
		got=$(service_backends "$node" "$vip" "$port")
		[[ $got == "$want" ]] && return 0
		if ((SECONDS >= deadline)); then
			info "service $vip:$port on $node: $got backends, wanted $want"
			return 1
		fi
		sleep 0.2
	done
}

# ct_entries_with NODE IP: conntrack entries with IP as an original or translated address.
ct_entries_with() {
	local node=$1 ip=$2
	topo_cli "$node" ct list -o json 2>/dev/null |
		jq --arg ip "$ip" '[.connections[] | select([.src, .dst, .nat_src, .nat_dst] | index($ip))]
			| length' 2>/dev/null || echo 0
}

# ---- reading sl_probe output ----------------------------------------------------------------
# Lines are "NAME PEER-IP:PORT" or "ERR ENAME".
show_output() {
	local line
	while IFS= read -r line; do echo "#   $line"; done <<<"$1" >&2
}
count_from() { grep -c "^$1 " <<<"$2" || true; }
count_errors() { grep -c '^ERR ' <<<"$1" || true; }
# Peers (source addresses the servers saw) other than IP.
foreign_peers() { awk -v ip="$1" '$1 != "ERR" { split($2, a, ":"); if (a[1] != ip) print $2 }' <<<"$2"; }
tally() { awk '{ n[$1]++ } END { for (k in n) printf "%s=%d ", k, n[k] }' <<<"$1"; }

# ---- manifests ------------------------------------------------------------------------------
# Write a file atomically (via a temporary outside the watched directory): the agent never reads
# a half-written manifest unless a test means it to.
write_file() {
	local path=$1 tmp
	tmp=$(mktemp "$TOPO_DIR/tmp/write.XXXXXX")
	cat >"$tmp"
	mv -f "$tmp" "$path"
}

# heredoc <<EOF: print a here-document without starting a process, as `cat <<EOF` would; the
# soak (bench/soak.sh) writes thousands of manifests, where a process per document counts.
heredoc() {
	local text
	IFS= read -r -d '' text || true
	printf '%s' "$text"
}

# manifest_node NAME [INTERNAL_IP] [POD_CIDR] [ZONE]: a "---"-led Node document, with
# spec.podCIDR and spec.podCIDRs when POD_CIDR is given (as kube-controller-manager writes them).
manifest_node() {
	local spec='spec: {}' address=
	[[ -n ${3:-} ]] && spec="spec: {podCIDR: $3, podCIDRs: [$3]}"
	[[ -n ${2:-} ]] && address="{type: InternalIP, address: $2}, "
	heredoc <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels: {kubernetes.io/hostname: $1${4:+, topology.kubernetes.io/zone: $4}}
$spec
status:
  addresses: [${address}{type: Hostname, address: $1}]
EOF
}

# manifest_namespace NAME: a "---"-led Namespace document with the label the API server puts on
# every namespace (kubernetes.io/metadata.name), as namespaceSelectors match it.
manifest_namespace() {
	heredoc <<EOF
---
apiVersion: v1
kind: Namespace
metadata: {name: $1, labels: {kubernetes.io/metadata.name: $1}}
EOF
}

# manifest_pod NAME LABELS: a "---"-led Pod document for pod NAME of this run, in namespace
# default on the node topo_pod put it on (n1 for a pod it did not make), running and ready at its
# address, labels in flow style ("app: web"), with container port 8080 named http.
manifest_pod() {
	heredoc <<EOF
---
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default, labels: {$2}}
spec:
  nodeName: ${TOPO_POD_NODE[$1]:-n1}
  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]
status:
  podIP: $(topo_pod_ip "$1")
  phase: Running
  conditions: [{type: Ready, status: "True"}]
EOF
}

# manifest_service NAME VIP PORT:TARGET/PROTO...  (stdout; e.g. 80:8080/TCP 53:5353/UDP)
manifest_service() {
	local name=$1 vip=$2 spec port target proto
	shift 2
	heredoc <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: default
spec:
  type: ClusterIP
  clusterIP: $vip
  selector:
    app: $name
  ports:
EOF
	for spec in "$@"; do
		port=${spec%%:*}
		target=${spec#*:}
		target=${target%/*}
		proto=${spec##*/}
		heredoc <<EOF
  - name: ${proto,,}-$port
    protocol: $proto
    port: $port
    targetPort: $target
EOF
	done
}

# manifest_slice SERVICE TARGET/PROTO,... POD[=ready|=notready|=terminating]...  (stdout)
# Ports are named like manifest_service's, so pass the same PORT:TARGET/PROTO specs. A
# terminating endpoint is not ready but still serving, as a pod is during its grace period.
manifest_slice() {
	local svc=$1 specs=$2 spec pod conditions port target proto
	local -a port_specs
	shift 2
	heredoc <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $svc-slice
  namespace: default
  labels:
    kubernetes.io/service-name: $svc
addressType: IPv4
ports:
EOF
	IFS=, read -r -a port_specs <<<"$specs"
	for spec in "${port_specs[@]}"; do
		port=${spec%%:*}
		target=${spec#*:}
		target=${target%/*}
		proto=${spec##*/}
		heredoc <<EOF
- name: ${proto,,}-$port
  protocol: $proto
  port: $target
EOF
	done
	if (($# == 0)); then
		echo "endpoints: []"
		return
	fi
	echo "endpoints:"
	for pod in "$@"; do
		case $pod in
		*=notready) conditions="ready: false" ;;
		*=terminating) conditions="ready: false, serving: true, terminating: true" ;;
		*) conditions="ready: true" ;;
		esac
		pod=${pod%=*}
		heredoc <<EOF
- addresses: ["${TOPO_POD_IP[$pod]}"]
  conditions: {$conditions}
  nodeName: ${TOPO_POD_NODE[$pod]}
  targetRef:
    kind: Pod
    namespace: ${TOPO_POD_K8S_NS[$pod]:-default}
    name: $pod
EOF
	done
}

# api_slice_yaml SERVICE ENDPOINT-YAML (stdout): the EndpointSlice "SERVICE-a" of SERVICE, port
# http 8080/TCP, with ENDPOINT-YAML (slice_endpoint lines) as its endpoints, then "---".
api_slice_yaml() {
	cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $1-a
  namespace: default
  labels: {kubernetes.io/service-name: $1}
addressType: IPv4
ports:
- {name: http, protocol: TCP, port: 8080}
endpoints:
$2
---
EOF
}

# api_service_yaml NAME VIP EXTRA-SPEC-YAML ENDPOINT-YAML (stdout): Service NAME in default on
# port http 80 -> 8080/TCP (NODE_PORT: with that nodePort), EXTRA-SPEC-YAML appended to its spec
# (indented two spaces, may be empty), and its slice (api_slice_yaml).
api_service_yaml() {
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec:
  clusterIP: $2
  selector: {app: $1}
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: 8080${NODE_PORT:+, nodePort: $NODE_PORT}}
$3
---
EOF
	api_slice_yaml "$1" "$4"
}

# slice_endpoint POD [ready=B] [serving=B] [terminating=B] [node=NODE] [zone=ZONE] [hint=ZONE]
# (stdout): one item of an EndpointSlice's endpoints list for the pod's address. Defaults: ready,
# on the pod's own node; serving and terminating are left out unless given, zone and hint too.
slice_endpoint() {
	local pod=$1 kv key value ready=true serving='' terminating='' node=${TOPO_POD_NODE[$1]} zone='' hint=''
	shift
	for kv in "$@"; do
		key=${kv%%=*}
		value=${kv#*=}
		case $key in
		ready) ready=$value ;;
		serving) serving=$value ;;
		terminating) terminating=$value ;;
		node) node=$value ;;
		zone) zone=$value ;;
		hint) hint=$value ;;
		*) topo_fatal "slice_endpoint: unknown field $key" ;;
		esac
	done
	echo "- addresses: [\"${TOPO_POD_IP[$pod]}\"]"
	echo "  conditions: {ready: $ready${serving:+, serving: $serving}${terminating:+, terminating: $terminating}}"
	echo "  nodeName: $node"
	[[ -z $zone ]] || echo "  zone: $zone"
	[[ -z $hint ]] || echo "  hints: {forZones: [{name: $hint}]}"
	echo "  targetRef: {kind: Pod, namespace: ${TOPO_POD_K8S_NS[$pod]:-default}, name: $pod}"
}

# topo_pod_in_cgroup POD CMD...: run CMD in the pod's namespace from inside $TOPO_CGROUP, as a
# pod's processes run in its cgroup (socket LB: an agent with --socket-lb true --cgroup-root
# "$TOPO_CGROUP"), bounded by TOPO_CGROUP_TIMEOUT seconds (default 60).
topo_pod_in_cgroup() {
	local pod=$1
	shift
	# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
	timeout "${TOPO_CGROUP_TIMEOUT:-60}" bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
		_ "$TOPO_CGROUP" nsenter --net="/var/run/netns/$(topo_ns_pod "$pod")" -- "$@"
}

# ---- the standard topology: the demo's, used by most tests ----------------------------------
# Node n1 (10.244.1.0/24), agent, pods client, web-1, web-2 with sl_echo, Service "web"
# 10.96.0.10 (80->8080 TCP, 53->5353 UDP, 8000->8090 TCP stream) and its slice with both pods.
SL_VIP=10.96.0.10
SL_WEB_PORTS="80:8080/TCP,53:5353/UDP,8000:8090/TCP"

topo_standard() {
	topo_require_all
	topo_node n1 10.244.1.0/24
	topo_agent n1 "$TOPO_DIR/manifests"
	topo_pod n1 client
	topo_pod n1 web-1
	topo_pod n1 web-2
	topo_echo web-1
	topo_echo web-2
	write_web_manifests web-1 web-2
	wait_service_backends n1 "$SL_VIP" 80 2 ||
		topo_fatal "agent did not apply service web with 2 backends within ${SL_SYNC_TIMEOUT}s: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
}

# write_web_manifests POD...: (re)write web's Service and EndpointSlice files.
write_web_manifests() {
	local specs
	IFS=, read -r -a specs <<<"$SL_WEB_PORTS"
	manifest_service web "$SL_VIP" "${specs[@]}" | write_file "$TOPO_DIR/manifests/web-service.yaml"
	manifest_slice web "$SL_WEB_PORTS" "$@" | write_file "$TOPO_DIR/manifests/web-slice.yaml"
}

# ---- cleanup: every exit path ---------------------------------------------------------------
topo_cleanup() {
	local rc=$? pid node pod ns leftover
	set +e
	trap - ERR
	if ((rc != 0 && SL_FAILED == 0)); then
		fail "$SL_SUITE/script" "exited $rc${SL_ERR_AT:+ at $SL_ERR_AT}"
	fi
	if [[ -z $TOPO_PREFIX ]]; then
		exit "$rc"
	fi
	if [[ ${SL_KEEP:-0} == 1 ]]; then
		info "SL_KEEP=1: kept namespaces ${TOPO_PREFIX}*, $TOPO_BPFFS, $TOPO_DIR"
		exit "$rc"
	fi
	for pid in "${TOPO_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for node in "${!TOPO_AGENT_PID[@]}"; do
		topo_agent_stop "$node" TERM
	done
	for pid in "${TOPO_PIDS[@]}"; do
		timeout 2 tail -s 0.1 --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	done
	for pod in "${TOPO_PODS[@]}"; do
		if [[ -x $SLUICE_CNI && -e /var/run/netns/$(topo_ns_node "${TOPO_POD_NODE[$pod]}") ]]; then
			topo_cni "${TOPO_POD_NODE[$pod]}" "$pod" DEL >/dev/null 2>&1 ||
				info "sluice-cni DEL $pod failed (namespaces are removed anyway)"
		fi
	done
	# Every namespace of this run, also ones a failing step made but did not record.
	while read -r ns _; do
		[[ $ns == "$TOPO_PREFIX"* ]] && ip netns delete "$ns" 2>/dev/null
	done < <(ip netns list 2>/dev/null)
	if [[ -n $TOPO_BPFFS && -d $TOPO_BPFFS ]]; then
		rm -rf "$TOPO_BPFFS"
	fi
	if [[ -n $TOPO_CGROUP && -d $TOPO_CGROUP ]]; then
		# A process still inside (a probe cut off by its timeout) goes to the parent first.
		while read -r pid; do echo "$pid" >"${TOPO_CGROUP%/*}/cgroup.procs"; done <"$TOPO_CGROUP/cgroup.procs"
		rmdir "$TOPO_CGROUP"
	fi
	# Verify: a leak here breaks the next run or the machine, so it is a failure.
	leftover=$(ip netns list 2>/dev/null | awk -v p="$TOPO_PREFIX" 'index($1, p) == 1 { print $1 }' | tr '\n' ' ')
	[[ -n $TOPO_BPFFS && -e $TOPO_BPFFS ]] && leftover+="$TOPO_BPFFS "
	[[ -n $TOPO_CGROUP && -e $TOPO_CGROUP ]] && leftover+="$TOPO_CGROUP"
	if [[ -n $leftover ]]; then
		fail "$SL_SUITE/cleanup" "left behind: $leftover"
		rc=1
	fi
	if ((rc != 0)) && [[ -n $TOPO_DIR ]]; then
		for node in "${!TOPO_AGENT_LOG[@]}"; do
			info "agent log of $node (last 20 lines):"
			tail -n 20 "${TOPO_AGENT_LOG[$node]}" 2>/dev/null | sed 's/^/#   /' >&2
		done
	fi
	[[ -n $TOPO_DIR ]] && rm -rf "$TOPO_DIR"
	exit "$rc"
}
