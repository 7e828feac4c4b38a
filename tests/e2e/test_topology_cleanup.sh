#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The topology library removes every namespace, pin directory and process of a run on every
# exit path: normal end, a failing command under set -e, SIGTERM (the runner's timeout), SIGINT.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [[ ${1:-} == child ]]; then
	# One run of a test that builds a small topology, then ends the way $2 says.
	topo_init cleanup-child
	topo_require "$SL_TOOLS/sl_echo"
	topo_node n1 10.244.9.0/24
	ip netns add "$(topo_ns_pod lonely)"
	nsenter --net="/var/run/netns/$(topo_ns_pod lonely)" -- "$SL_TOOLS/sl_echo" --id lonely --tcp 8080 >/dev/null &
	TOPO_PIDS+=($!)
	mkdir -p "$(topo_node_bpffs n1)/sub"
	echo "$TOPO_PREFIX $TOPO_BPFFS $TOPO_DIR ${TOPO_PIDS[0]}" >"$3"
	case $2 in
	ok) pass cleanup-child/ok ;;
	error) false ;;
	signal) sleep 30 ;;
	esac
	topo_finish
fi

topo_init topology_cleanup
topo_require "$SL_TOOLS/sl_echo"

for mode in ok error TERM INT; do
	state="$TOPO_DIR/state-$mode"
	child_mode=$mode
	[[ $mode == TERM || $mode == INT ]] && child_mode=signal
	# Background jobs start with SIGINT ignored, which a trap cannot undo: restore the default.
	# Its own process group, signalled whole, as the runner's timeout and a terminal's ^C do.
	setsid env --default-signal=INT bash "$0" child "$child_mode" "$state" >"$TOPO_DIR/child-$mode.log" 2>&1 &
	child=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $state ]] && break
		sleep 0.1
	done
	if [[ $mode == TERM || $mode == INT ]]; then
		sleep 0.3
		kill -s "$mode" -- "-$child"
	fi
	rc=0
	timeout 30 tail -s 0.1 --pid="$child" -f /dev/null || true
	wait "$child" || rc=$?
	if [[ ! -s $state ]]; then
		fail "topology_cleanup/$mode" "child made no topology: $(topo_log_tail "$TOPO_DIR/child-$mode.log")"
		continue
	fi
	read -r prefix bpffs dir echo_pid <"$state"
	left=$(ip netns list | awk -v p="$prefix" 'index($1, p) == 1 { print $1 }' | tr '\n' ' ')
	[[ -e $bpffs ]] && left+=" $bpffs"
	[[ -e $dir ]] && left+=" $dir"
	kill -0 "$echo_pid" 2>/dev/null && left+=" sl_echo pid $echo_pid"
	if [[ $mode == ok ]]; then want=0; else want=nonzero; fi
	if [[ -n $left ]]; then
		fail "topology_cleanup/$mode" "left behind:$left"
	elif [[ $want == 0 && $rc != 0 ]] || [[ $want == nonzero && $rc == 0 ]]; then
		fail "topology_cleanup/$mode" "exit status $rc, wanted $want"
	else
		pass "topology_cleanup/$mode"
	fi
done
topo_finish
