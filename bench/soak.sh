#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make soak`: sluice's reliability under change, reported as counts (issue 12, "Reliability
# figures to report"); it times nothing and asserts nothing but its own setup.
#
#   bench/soak.sh [--quick] [--changes N] [--conns N] [--idle-conns N] [--services N]
#                 [--ct-size N] [--flood-count N] [--source manifests|api] [--seed N] [--out DIR]
#
# One node, the agent (--ct-size 16384 by default, so a flood fills conntrack quickly), six
# backend pods (sl_echo: TCP 8080 and stream 8090 answer as "bN", TCP 8081 as "bN-alt"), two
# client pods and a flood pod. Two traffic Services t1, t2 (port 8000 -> 8090 for the held
# connections, and a port that changes) each keep two backends that never leave; their other
# endpoints and --services more Services churn. Each client holds --conns / 4 "busy" connections
# to each traffic Service's VIP (sl_probe --hold: a request every 100 ms, its echo checked, a
# lost connection replaced), and --idle-conns / 2 "idle" ones (a request every 3 s, longer than
# a flood lasts: an LRU table evicts those first) to one of them. Under that traffic, three
# phases:
#   changes  --changes random changes, in batches of 1-20 as a controller emits them, every
#            100 ms: Services added and removed, ports and target ports changed, endpoints added,
#            removed, flipped between ready, not ready and terminating. With --source manifests
#            (default) each Service is one file (Service + EndpointSlice) in the agent's
#            --manifests directory; with --source api they are watch events of the fake API
#            server (tests/tools/fake_apiserver.py).
#   restart  SIGKILL of the agent, one batch of changes while it is dead, restart until ready.
#   flood    sl_probe --flood syn at t1's changing port from the flood pod, --flood-count SYNs
#            (default 3 x --ct-size, --quick 1 x), then 6 s more traffic: a connection whose
#            conntrack entries the flood evicted is reset or times out (5 s) by then.
# A held connection is "stayed" when its backend served its Service from 3 s before it opened
# until it ended, else "left" (its backend was removed, not ready or terminating meanwhile:
# kube-proxy lets such connections run on, but nothing promises it). Per phase: stayed
# connections lost (reset, closed, unanswered or wrongly answered; the target is 0), connections
# whose backend left and how many of them were lost, requests answered and failed, new
# connections that failed. Afterwards, whether every change is in force: the desired frontends
# (from the model the changes were written from, itself checked file by file against the
# manifests directory) against `sluice service list`, every backend
# pod in `sluice endpoint list`, and probes to every Service landing only on its serving
# backends (on the right target port) or refused when it has none. The checker is also run
# against a model with one backend planted, and must find it.
#
# Output: a table on stdout and $OUT/soak.json (default OUT $BUILD/soak), the raw logs in
# $OUT/logs/. Exit status non-zero only when the soak could not run.
set -euo pipefail
export LC_ALL=C # $EPOCHREALTIME with a decimal point

SL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$(cd "$SL_ROOT" && realpath -m "${BUILD:-build}")
# The optimised builds, as the bench: the soak's pace is the machine's, not the sanitizers'.
export SLUICE=${SLUICE:-$BUILD_DIR/sluice}
export SLUICE_CNI=${SLUICE_CNI:-$BUILD_DIR/sluice-cni}

CHANGES=10000
CONNS=128
IDLE_CONNS=32         # held connections that send a request only every IDLE_INTERVAL_MS
IDLE_INTERVAL_MS=3000 # idle for the flood's length: what an LRU table evicts first
SERVICES=200 # churning Services besides t1 and t2, at the start (they come and go)
CT_SIZE=16384
FLOOD_COUNT=
SOURCE=manifests
SEED=$$
OUT=
QUICK=0
BATCH_MAX=20       # changes per batch (1..BATCH_MAX, uniform)
BATCH_PAUSE=0.1    # seconds between batches
DEAD_CHANGES=20    # changes written while the agent is dead
REQUEST_TIMEOUT=5  # seconds: a held connection's request unanswered this long is lost
LEFT_GRACE_MS=3000 # a backend that left this shortly before a connection opened may carry it
CONVERGE_TIMEOUT=${SOAK_CONVERGE_TIMEOUT:-60}

while (($#)); do
	case $1 in
	--quick)
		QUICK=1
		CHANGES=500
		CONNS=32
		IDLE_CONNS=8
		SERVICES=30
		;;
	--changes | --conns | --idle-conns | --services | --ct-size | --flood-count | --source | --seed | --out)
		(($# >= 2)) || {
			echo "soak: $1 needs a value" >&2
			exit 2
		}
		case $1 in
		--changes) CHANGES=$2 ;;
		--conns) CONNS=$2 ;;
		--idle-conns) IDLE_CONNS=$2 ;;
		--services) SERVICES=$2 ;;
		--ct-size) CT_SIZE=$2 ;;
		--flood-count) FLOOD_COUNT=$2 ;;
		--source) SOURCE=$2 ;;
		--seed) SEED=$2 ;;
		--out) OUT=$2 ;;
		esac
		shift
		;;
	-h | --help)
		sed -n '3,41p' "$0"
		exit 0
		;;
	*)
		echo "soak: unknown argument $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done
[[ $SOURCE == manifests || $SOURCE == api ]] || {
	echo "soak: --source manifests|api" >&2
	exit 2
}
for n in "$CHANGES" "$CONNS" "$IDLE_CONNS" "$SERVICES" "$CT_SIZE" "$SEED" ${FLOOD_COUNT:+"$FLOOD_COUNT"}; do
	[[ $n =~ ^[0-9]+$ ]] || {
		echo "soak: $n is not a number" >&2
		exit 2
	}
done
((CONNS >= 4)) || {
	echo "soak: --conns must be at least 4 (two clients x two Services)" >&2
	exit 2
}
# Each flow takes two entries (one per direction): 3 x --ct-size SYNs overfill the table 6 times,
# --quick's --ct-size twice.
((QUICK)) && FLOOD_COUNT=${FLOOD_COUNT:-$CT_SIZE}
FLOOD_COUNT=${FLOOD_COUNT:-$((3 * CT_SIZE))}
OUT=${OUT:-$BUILD_DIR/soak}
RANDOM=$SEED

# shellcheck source=tests/e2e/lib.sh
. "$SL_ROOT/tests/e2e/lib.sh"

topo_init soak
topo_require_all
mkdir -p "$OUT/logs"
rm -f "$OUT/soak.json" "$OUT"/logs/*
MDIR=$TOPO_DIR/manifests
STAGE=$TOPO_DIR/stage # the next batch's files, renamed into MDIR
mkdir -p "$STAGE"
mkfifo "$TOPO_DIR/pause"
exec {PAUSE_FD}<>"$TOPO_DIR/pause" # never written: reads on it time out
MEMBERSHIP=$TOPO_DIR/membership.tsv # ms service pod in|out, for the traffic Services
: >"$MEMBERSHIP"

BACKENDS=(b1 b2 b3 b4 b5 b6)
CLIENTS=(c1 c2)
TRAFFIC=(t1 t2)
declare -A SVC_VIP=() SVC_PORT=() SVC_TARGET=() SVC_EPS=() STABLE=() CHURN_PODS=() SERVING=()
STABLE[t1]="b1 b2"
CHURN_PODS[t1]="b3 b4 b5 b6"
STABLE[t2]="b3 b4"
CHURN_PODS[t2]="b1 b2 b5 b6"
CHURN=()    # names of the churning Services in existence
NEXT_SVC=0  # churning Services ever made: names s<N>, VIPs never reused
TOUCHED=()  # Services changed by the batch being built
REMOVED=()  # Services removed by it
APPLIED=0   # changes written
declare -A KIND_COUNT=() IN_API=()

say() { info "[${SECONDS}s] $*"; }

now_ms() {
	NOW_MS=${EPOCHREALTIME/./}
	NOW_MS=${NOW_MS:0:-3}
}

# ---- the model: what the changes wrote, the desired state ------------------------------------
# SVC_EPS[s]: "pod=state ..." with state ready, notready or terminating.

# serving SERVICE: the pods that serve its new flows (into SERVES): the ready ones, or when none
# is, the terminating ones (still serving), as the agent reads EndpointSlices. The model is
# read without a subshell here and below: a process costs ~10 ms on this loaded machine.
serving() {
	local ep ready=() terminating=()
	for ep in ${SVC_EPS[$1]}; do
		case ${ep#*=} in
		ready) ready+=("${ep%=*}") ;;
		terminating) terminating+=("${ep%=*}") ;;
		esac
	done
	if ((${#ready[@]})); then SERVES=${ready[*]}; else SERVES=${terminating[*]}; fi
}

render_service() {
	local s=$1 eps specs
	local ports=("${SVC_PORT[$s]}:${SVC_TARGET[$s]}/TCP")
	read -r -a eps <<<"${SVC_EPS[$s]}"
	[[ -n ${STABLE[$s]:-} ]] && ports+=(8000:8090/TCP)
	manifest_service "$s" "${SVC_VIP[$s]}" "${ports[@]}"
	echo ---
	printf -v specs '%s,' "${ports[@]}"
	manifest_slice "$s" "${specs%,}" "${eps[@]}"
}

# The batch through the agent's source: one file per Service, or watch events. Files are
# written as write_file writes one (complete, then renamed into the watched directory), but
# with one mv for the whole batch rather than three processes per file.
apply_batch() {
	local s docs='' gone=()
	local -A staged=()
	if [[ $SOURCE == manifests ]]; then
		for s in "${REMOVED[@]}"; do [[ -e $MDIR/$s.yaml ]] && gone+=("$MDIR/$s.yaml"); done
		((${#gone[@]} == 0)) || rm -f "${gone[@]}"
		for s in "${TOUCHED[@]}"; do
			[[ -n ${SVC_VIP[$s]:-} && -z ${staged[$s]+x} ]] || continue
			render_service "$s" >"$STAGE/$s.yaml"
			staged[$s]=1
		done
		((${#staged[@]} == 0)) || mv -f "$STAGE"/*.yaml "$MDIR/"
	else
		for s in "${TOUCHED[@]}"; do
			[[ -n ${SVC_VIP[$s]:-} ]] || continue
			docs+="$(render_service "$s")"$'\n---\n'
			IN_API[$s]=1
		done
		[[ -z $docs ]] || api_apply <<<"$docs"
		for s in "${REMOVED[@]}"; do
			[[ -n ${IN_API[$s]:-} ]] || continue # added and removed in one batch
			api_delete EndpointSlice default "$s-slice"
			api_delete Service default "$s"
			unset "IN_API[$s]"
		done
	fi
	record_membership
	TOUCHED=()
	REMOVED=()
}

# Log when a pod joins or leaves a traffic Service's serving set (held connections are judged
# against it).
record_membership() {
	local t now pod at
	now_ms
	for t in "${TRAFFIC[@]}"; do
		serving "$t"
		now=" $SERVES "
		at=$NOW_MS
		[[ -n ${SERVING[$t]+x} ]] || at=0 # the initial set served before any connection
		for pod in ${SERVING[$t]:-}; do
			[[ $now == *" $pod "* ]] || echo "$at $t $pod out" >>"$MEMBERSHIP"
		done
		for pod in $now; do
			[[ " ${SERVING[$t]:-} " == *" $pod "* ]] || echo "$at $t $pod in" >>"$MEMBERSHIP"
		done
		SERVING[$t]=${now# }
	done
}

random_of() {
	local -a items
	read -r -a items <<<"$1"
	PICK=${items[RANDOM % ${#items[@]}]}
}

new_service() {
	local s pods=() n i
	NEXT_SVC=$((NEXT_SVC + 1))
	s=s$NEXT_SVC
	SVC_VIP[$s]=10.96.$((1 + NEXT_SVC / 250)).$((NEXT_SVC % 250 + 1))
	SVC_PORT[$s]=$((80 + RANDOM % 20))
	SVC_TARGET[$s]=8080
	n=$((1 + RANDOM % 3))
	for ((i = 0; i < n; i++)); do
		random_of "${BACKENDS[*]}"
		[[ " ${pods[*]} " == *" $PICK=ready "* ]] || pods+=("$PICK=ready")
	done
	SVC_EPS[$s]=${pods[*]}
	CHURN+=("$s")
	TOUCHED+=("$s")
}

# Endpoints a change may touch (into MUTABLE): a churning Service's all, a traffic Service's
# non-stable ones.
mutable_pods() {
	if [[ -n ${STABLE[$1]:-} ]]; then MUTABLE=${CHURN_PODS[$1]}; else MUTABLE=${BACKENDS[*]}; fi
}

# One random change to the model (the next batch writes it). Weighted as a cluster's churn is:
# endpoints most, Services and ports less.
random_change() {
	local r=$((RANDOM % 100)) s i ep eps=() kept=()
	if ((r < 5 && ${#CHURN[@]} < 2 * SERVICES + 10)); then
		new_service
		KIND_COUNT[service_added]=$((${KIND_COUNT[service_added]:-0} + 1))
		return
	fi
	if ((r < 10 && ${#CHURN[@]} > SERVICES / 2)); then
		i=$((RANDOM % ${#CHURN[@]}))
		s=${CHURN[i]}
		CHURN[i]=${CHURN[-1]}
		unset 'CHURN[-1]'
		unset "SVC_VIP[$s]" "SVC_PORT[$s]" "SVC_TARGET[$s]" "SVC_EPS[$s]"
		REMOVED+=("$s")
		KIND_COUNT[service_removed]=$((${KIND_COUNT[service_removed]:-0} + 1))
		return
	fi
	# A traffic Service a third of the time, so the held connections' Services churn too.
	if ((RANDOM % 3 == 0 || ${#CHURN[@]} == 0)); then
		s=${TRAFFIC[RANDOM % 2]}
	else
		s=${CHURN[RANDOM % ${#CHURN[@]}]}
	fi
	TOUCHED+=("$s")
	read -r -a eps <<<"${SVC_EPS[$s]}"
	mutable_pods "$s"
	if ((r < 18)); then
		i=${SVC_PORT[$s]}
		while ((i == SVC_PORT[$s])); do i=$((80 + RANDOM % 20)); done
		SVC_PORT[$s]=$i
		KIND_COUNT[port_changed]=$((${KIND_COUNT[port_changed]:-0} + 1))
	elif ((r < 23)); then
		SVC_TARGET[$s]=$((SVC_TARGET[$s] == 8080 ? 8081 : 8080))
		KIND_COUNT[target_port_changed]=$((${KIND_COUNT[target_port_changed]:-0} + 1))
	elif ((r < 48)); then
		# add an endpoint (or, when every allowed pod is in, flip one)
		for i in $MUTABLE; do
			[[ " ${SVC_EPS[$s]} " == *" $i="* ]] || kept+=("$i")
		done
		if ((${#kept[@]})); then
			SVC_EPS[$s]="${SVC_EPS[$s]} ${kept[RANDOM % ${#kept[@]}]}=ready"
			SVC_EPS[$s]=${SVC_EPS[$s]# }
			KIND_COUNT[endpoint_added]=$((${KIND_COUNT[endpoint_added]:-0} + 1))
			return
		fi
		flip_endpoint "$s"
	elif ((r < 73)); then
		random_of "$MUTABLE"
		if [[ " ${SVC_EPS[$s]} " != *" $PICK="* ]]; then
			flip_endpoint "$s"
			return
		fi
		for ep in "${eps[@]}"; do [[ ${ep%=*} == "$PICK" ]] || kept+=("$ep"); done
		SVC_EPS[$s]=${kept[*]}
		KIND_COUNT[endpoint_removed]=$((${KIND_COUNT[endpoint_removed]:-0} + 1))
	else
		flip_endpoint "$s"
	fi
}

# Move one mutable endpoint of $1 to another condition (ready, not ready, terminating).
flip_endpoint() {
	local s=$1 ep eps=() cand=() kept=() state
	read -r -a eps <<<"${SVC_EPS[$s]}"
	mutable_pods "$s"
	for ep in "${eps[@]}"; do
		[[ " $MUTABLE " == *" ${ep%=*} "* ]] && cand+=("${ep%=*}")
	done
	if ((${#cand[@]} == 0)); then
		# nothing to flip: add one instead, so every change changes something
		random_of "$MUTABLE"
		SVC_EPS[$s]="${SVC_EPS[$s]} $PICK=ready"
		SVC_EPS[$s]=${SVC_EPS[$s]# }
		KIND_COUNT[endpoint_added]=$((${KIND_COUNT[endpoint_added]:-0} + 1))
		return
	fi
	PICK=${cand[RANDOM % ${#cand[@]}]}
	for ep in "${eps[@]}"; do
		if [[ ${ep%=*} == "$PICK" ]]; then
			state=${ep#*=}
			case $state in
			ready) state=notready ;;
			notready) state=terminating ;;
			terminating) state=ready ;;
			esac
			# one step further half the time: every condition reaches every other
			if ((RANDOM % 2)); then
				case $state in
				ready) state=notready ;;
				notready) state=terminating ;;
				terminating) state=ready ;;
				esac
			fi
			ep=$PICK=$state
		fi
		kept+=("$ep")
	done
	SVC_EPS[$s]=${kept[*]}
	KIND_COUNT[condition_flipped]=$((${KIND_COUNT[condition_flipped]:-0} + 1))
}

# run_changes N: N random changes in batches of 1..BATCH_MAX, one batch every BATCH_PAUSE.
run_changes() {
	local left=$1 n i
	while ((left > 0)); do
		n=$((1 + RANDOM % BATCH_MAX))
		((n <= left)) || n=$left
		for ((i = 0; i < n; i++)); do random_change; done
		apply_batch
		APPLIED=$((APPLIED + n))
		BATCHES=$((BATCHES + 1))
		left=$((left - n))
		read -r -t "$BATCH_PAUSE" -u "$PAUSE_FD" _ || true # sleep without a process
	done
}
BATCHES=0

# ---- the checker: desired frontends, pods, probes ------------------------------------------
# Frontend lines "VIP:PORT/TCP BACKEND,..." (backends as IP:PORT, in sorted order), sorted.
sort_frontends() {
	awk '{ n = split($2, b, ","); for (i = 2; i <= n; i++) for (j = i; j > 1 && b[j - 1] > b[j]; j--) {
		t = b[j]; b[j] = b[j - 1]; b[j - 1] = t }
		l = ""; for (i = 1; i <= n; i++) l = l (i > 1 ? "," : "") b[i]; print $1 " " l }' | sort
}

# desired_frontends: what the model says the maps hold.
desired_frontends() {
	local s pod list list_stream
	for s in "${!SVC_VIP[@]}"; do
		serving "$s"
		list=
		list_stream=
		for pod in $SERVES; do
			list+=",${TOPO_POD_IP[$pod]}:${SVC_TARGET[$s]}"
			list_stream+=",${TOPO_POD_IP[$pod]}:8090"
		done
		echo "${SVC_VIP[$s]}:${SVC_PORT[$s]}/TCP ${list#,}"
		[[ -z ${STABLE[$s]:-} ]] || echo "${SVC_VIP[$s]}:8000/TCP ${list_stream#,}"
	done | sort_frontends
}

actual_frontends() {
	topo_cli n1 service list -o json |
		jq -r '.services[] | "\(.vip):\(.port)/\(.protocol | ascii_upcase) "
			+ ([.backends[] | "\(.address):\(.port)"] | join(","))' | sort_frontends
}

# frontend_diff DESIRED ACTUAL: lines in one and not the other ("-" desired, "+" in force).
frontend_diff() {
	diff <(echo "$1") <(echo "$2") | sed -n 's/^< /- /p; s/^> /+ /p' || true
}

# wait_in_force: until service list equals the model; sets CONVERGE_MS (or -1) and DIFF.
wait_in_force() {
	local want start deadline got
	now_ms
	start=$NOW_MS
	deadline=$((SECONDS + CONVERGE_TIMEOUT))
	want=$(desired_frontends)
	while :; do
		got=$(actual_frontends 2>/dev/null || true)
		DIFF=$(frontend_diff "$want" "$got")
		if [[ -z $DIFF ]]; then
			now_ms
			CONVERGE_MS=$((NOW_MS - start))
			return 0
		fi
		if ((SECONDS >= deadline)); then
			CONVERGE_MS=-1
			return 1
		fi
		sleep 0.2
	done
}

# probe_services: 4 connections to every Service from c1 (one sl_probe each, all in one shell
# in the pod); MISROUTED counts Services answered by a pod (or target port) not serving them, or
# not answered, or not refused when nothing serves them. Details in logs/probes.txt.
probe_services() {
	local s pod want plan=
	for s in "${!SVC_VIP[@]}"; do
		serving "$s"
		want=
		for pod in $SERVES; do
			[[ ${SVC_TARGET[$s]} == 8081 ]] && pod+=-alt
			want+=",$pod"
		done
		plan+="$s ${SVC_VIP[$s]}:${SVC_PORT[$s]} ${want:-,}"$'\n'
	done
	# shellcheck disable=SC2016 # expanded by the pod's shell
	topo_in_pod c1 timeout 600 bash -c 'while read -r s target want; do
		echo "@ $s $target $want"; "$0" --tcp "$target" -n 4 --timeout-ms 2000 || true
	done' "$SL_TOOLS/sl_probe" <<<"${plan%$'\n'}" >"$OUT/logs/probes.txt" 2>&1 || true
	read -r PROBED MISROUTED < <(awk '
		function judge() { if (svc != "" && bad) misrouted++ }
		$1 == "@" { judge(); svc = $2; want = $4 ","; bad = 0; probed++; next }
		want == ",," { if ($0 != "ERR ECONNREFUSED") bad = 1; next }
		index(want, "," $1 ",") == 0 { bad = 1 }
		END { judge(); print probed + 0, misrouted + 0 }' "$OUT/logs/probes.txt")
}

# stale_manifests: files of the manifests directory that are not what the model renders (missing,
# extra or different): the directory the agent reads must be the state the model stands for.
stale_manifests() {
	local s f want text stale=0
	local -A known=()
	for s in "${!SVC_VIP[@]}"; do
		known[$MDIR/$s.yaml]=1
		render_service "$s" >"$STAGE/check"
		IFS= read -r -d '' want <"$STAGE/check" || true
		text=
		[[ -f $MDIR/$s.yaml ]] && { IFS= read -r -d '' text <"$MDIR/$s.yaml" || true; }
		[[ $text == "$want" ]] || stale=$((stale + 1))
	done
	for f in "$MDIR"/*.yaml; do
		[[ ! -e $f || -n ${known[$f]:-} ]] || stale=$((stale + 1))
	done
	rm -f "$STAGE/check"
	STALE=$stale
}

# Every pod a slice names is registered on the node (endpoint list).
missing_endpoints() {
	local have pod missing=0
	have=" $(topo_cli n1 endpoint list -o json | jq -r '[.endpoints[].address] | join(" ")') "
	for pod in "${BACKENDS[@]}"; do
		[[ $have == *" $(topo_pod_ip "$pod") "* ]] || missing=$((missing + 1))
	done
	echo "$missing"
}

ct_entries() {
	topo_cli n1 status -o json 2>/dev/null | jq '[.maps[] | select(.name == "ct4") | .entries] | .[0] // -1'
}

# drop_counts: "REASON PACKETS" per drop reason (sluice drops), reasons with spaces as "_".
drop_counts() {
	topo_cli n1 drops -o json 2>/dev/null |
		jq -r '.drops[]? | "\(.name | gsub(" "; "_")) \(.packets)"' || true
}

agent_syncs() {
	topo_cli n1 status -o json 2>/dev/null | jq '.agent.syncs // -1'
}

# ---- topology --------------------------------------------------------------------------------
AGENT_ARGS=(--ct-size "$CT_SIZE")
topo_node n1 10.244.1.0/24
if [[ $SOURCE == api ]]; then
	: >"$TOPO_DIR/api-fixtures.yaml" # empty: every object arrives as a watch event
	topo_apiserver n1 "$TOPO_DIR/api-fixtures.yaml"
	AGENT_ARGS+=(--kubeconfig "$TOPO_KUBECONFIG")
fi
topo_agent n1 "$MDIR" "${AGENT_ARGS[@]}"
for pod in "${BACKENDS[@]}"; do
	topo_pod n1 "$pod"
	topo_echo "$pod" --tcp 8080 --stream 8090
	topo_echo "$pod" --id "$pod-alt" --tcp 8081
done
for pod in "${CLIENTS[@]}" flood; do topo_pod n1 "$pod"; done

SVC_VIP[t1]=10.96.0.10
SVC_VIP[t2]=10.96.0.11
for t in "${TRAFFIC[@]}"; do
	SVC_PORT[$t]=80
	SVC_TARGET[$t]=8080
	random_of "${CHURN_PODS[$t]}"
	SVC_EPS[$t]="${STABLE[$t]// /=ready }=ready $PICK=ready"
	TOUCHED+=("$t")
done
for ((i = 0; i < SERVICES; i++)); do new_service; done
apply_batch
wait_in_force || topo_fatal "the initial ${#SVC_VIP[@]} Services not in force within ${CONVERGE_TIMEOUT}s: $(head -n 3 <<<"$DIFF" | tr '\n' ' ')"
say "initial state in force: ${#SVC_VIP[@]} Services, seed $SEED"

# ---- the held connections ---------------------------------------------------------------------
# Each holder reads its markers from a FIFO it holds open read-write itself: a marker written
# never ends it, and no process of this script keeps a write end that would be inherited.
HOLD_FIFOS=()
HOLD_PIDS=()
HOLD_LOGS=() # CLASS:SERVICE:LOG

# hold_start CLASS CLIENT SERVICE COUNT INTERVAL-MS
hold_start() {
	local fifo=$TOPO_DIR/hold-$1-$2-$3.ctl log=$OUT/logs/hold-$1-$2-$3.log
	mkfifo "$fifo"
	nsenter --net="/var/run/netns/$(topo_ns_pod "$2")" -- "$SL_TOOLS/sl_probe" \
		--hold "${SVC_VIP[$3]}:8000" -n "$4" --interval-ms "$5" \
		--timeout-ms $((REQUEST_TIMEOUT * 1000)) <>"$fifo" >"$log" 2>&1 &
	HOLD_PIDS+=("$!")
	TOPO_PIDS+=("$!")
	HOLD_FIFOS+=("$fifo")
	HOLD_LOGS+=("$1:$3:$log")
}

CONNS=$((CONNS / 4 * 4))
IDLE_CONNS=$((IDLE_CONNS / 2 * 2))
for c in "${CLIENTS[@]}"; do
	for t in "${TRAFFIC[@]}"; do hold_start busy "$c" "$t" $((CONNS / 4)) 100; done
done
if ((IDLE_CONNS > 0)); then
	hold_start idle c1 t1 $((IDLE_CONNS / 2)) "$IDLE_INTERVAL_MS"
	hold_start idle c2 t2 $((IDLE_CONNS / 2)) "$IDLE_INTERVAL_MS"
fi
mark() {
	local fifo
	for fifo in "${HOLD_FIFOS[@]}"; do echo "$1" 1<>"$fifo"; done # never blocks, even on a dead holder
	now_ms
	PHASES+=("$1:$NOW_MS")
}
PHASES=()
deadline=$((SECONDS + 30))
while (($(cat "$OUT"/logs/hold-*.log | grep -c '^open ' || true) < CONNS + IDLE_CONNS)); do
	((SECONDS < deadline)) || topo_fatal "the $((CONNS + IDLE_CONNS)) held connections did not all open within 30s"
	sleep 0.2
done
sleep 1
say "$CONNS busy and $IDLE_CONNS idle connections held through ${SVC_VIP[t1]}:8000 and ${SVC_VIP[t2]}:8000"

# ---- phase 1: changes ----------------------------------------------------------------------------
SYNCS_BEFORE=$(agent_syncs)
mark changes
run_changes "$CHANGES"
CHANGES_APPLIED=$APPLIED
CHANGES_BATCHES=$BATCHES
wait_in_force || true
CHANGES_CONVERGE_MS=$CONVERGE_MS
printf '%s\n' "$DIFF" >"$OUT/logs/changes-diff.txt"
SYNCS_AFTER=$(agent_syncs)
say "changes: $APPLIED in $BATCHES batches, in force ${CONVERGE_MS} ms after the last, $((SYNCS_AFTER - SYNCS_BEFORE)) syncs"
sleep 1

# ---- phase 2: SIGKILL and restart ---------------------------------------------------------------
mark restart
topo_agent_stop n1 KILL
BATCHES=0
APPLIED=0
run_changes "$DEAD_CHANGES" # missed by the dead agent: its start must find them
sleep 1
now_ms
t0=$NOW_MS
topo_agent n1 "$MDIR" "${AGENT_ARGS[@]}"
now_ms
RESTART_READY_MS=$((NOW_MS - t0))
wait_in_force || true
RESTART_CONVERGE_MS=$CONVERGE_MS
printf '%s\n' "$DIFF" >"$OUT/logs/restart-diff.txt"
say "restart: ready after $RESTART_READY_MS ms, in force ${CONVERGE_MS} ms after ready"
sleep 2

# ---- phase 3: conntrack flood --------------------------------------------------------------------
mark flood
CT_BEFORE=$(ct_entries)
DROPS_BEFORE=$(drop_counts)
FLOOD_RAN=false
FLOOD_NOTE=
flood_target=${SVC_VIP[t1]}:${SVC_PORT[t1]}
# The generator is sl_probe --flood (branch ct); a build without it says so in its usage.
now_ms
flood_start=$NOW_MS
probe_usage=$("$SL_TOOLS/sl_probe" 2>&1 || true)
if [[ $probe_usage == *--flood* ]]; then
	if timeout 300 nsenter --net="/var/run/netns/$(topo_ns_pod flood)" -- "$SL_TOOLS/sl_probe" \
		--flood syn "$flood_target" --count "$FLOOD_COUNT" >"$OUT/logs/flood.log" 2>&1; then
		FLOOD_RAN=true
	else
		FLOOD_NOTE="sl_probe --flood exited $?: $(tail -n 1 "$OUT/logs/flood.log")"
	fi
else
	FLOOD_NOTE="sl_probe has no --flood (the generator comes with branch ct): flood not run"
fi
now_ms
FLOOD_MS=$((NOW_MS - flood_start))
CT_AFTER=$(ct_entries)
[[ -z $FLOOD_NOTE ]] || say "$FLOOD_NOTE"
say "flood: ct4 entries $CT_BEFORE before, $CT_AFTER after, of $CT_SIZE"
# A connection whose state the flood evicted fails at its next request or within the timeout.
sleep $((REQUEST_TIMEOUT + 1))
mark end
# Packets the datapath dropped during the flood phase, by reason (a full table's new flows).
FLOOD_DROPS=$(awk 'NR == FNR { before[$1] = $2; next } $2 - before[$1] > 0 { print $1, $2 - before[$1] }' \
	<(echo "$DROPS_BEFORE") <(drop_counts))

# SIGTERM ends a holder: it closes its connections and prints its totals.
for pid in "${HOLD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${HOLD_PIDS[@]}"; do
	timeout 5 tail -s 0.1 --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true
done

# ---- every change in force? ----------------------------------------------------------------------
wait_in_force || true
FINAL_DIFF=$DIFF
WANT=$(desired_frontends)
FRONTENDS=$(wc -l <<<"$WANT")
GOT=$(actual_frontends 2>/dev/null || true)
# The checker must see a planted difference: a desired backend that is not in force.
planted=$(sed '0,/ [0-9]/s/ \([0-9.]*:[0-9]*\)/ 192.0.2.1:1,\1/' <<<"$WANT")
CHECKER_OK=false
[[ -n $(frontend_diff "$planted" "$GOT") && $planted != "$WANT" ]] && CHECKER_OK=true
probe_services
MISSING_EPS=$(missing_endpoints)
STALE=null # with --source api the directory is empty: nothing to compare
[[ $SOURCE == api ]] || stale_manifests
printf '%s\n' "$FINAL_DIFF" >"$OUT/logs/final-diff.txt"
cp "$MEMBERSHIP" "$OUT/logs/membership.tsv"
cp "${TOPO_AGENT_LOG[n1]}" "$OUT/logs/agent.log"

# ---- counts, table, soak.json ---------------------------------------------------------------------
# count_class CLASS: the phase lines of the held connections of CLASS (busy, idle).
count_class() {
	local i entry
	for i in "${!HOLD_LOGS[@]}"; do
		entry=${HOLD_LOGS[i]}
		[[ ${entry%%:*} == "$1" ]] || continue
		entry=${entry#*:}
		sed "s/^/$i ${entry%%:*} /" "${entry#*:}"
	done | awk -v bounds="$(printf '%s\n' "${PHASES[@]}" | tr ':' ' ')" -v membership="$MEMBERSHIP" \
		-v grace="$LEFT_GRACE_MS" -f "$SL_ROOT/bench/soak_count.awk"
}
COUNTS=$(count_class busy)
COUNTS_IDLE=$(count_class idle)
OPENED=$(cat "$OUT"/logs/hold-*.log | grep -c '^open ' || true)
DIFF_LINES=$(grep -c . <<<"$FINAL_DIFF" || true)
IN_FORCE=false
((DIFF_LINES == 0 && MISROUTED == 0 && MISSING_EPS == 0)) && [[ $STALE == 0 || $STALE == null ]] &&
	IN_FORCE=true

{
	echo "soak: $CHANGES_APPLIED changes in $CHANGES_BATCHES batches ($SOURCE), then SIGKILL + restart" \
		"($DEAD_CHANGES changes while dead), then a conntrack flood; $CONNS busy and $IDLE_CONNS idle" \
		"connections held, $OPENED opened in all; ct-size $CT_SIZE; seed $SEED"
	for class in busy idle; do
		[[ $class == busy ]] && echo "busy: a request every 100 ms" ||
			echo "idle: a request every $((IDLE_INTERVAL_MS / 1000)) s"
		printf '  %-8s %7s %6s %10s %7s %12s %6s %10s %9s  %s\n' phase seconds held answered \
			failed stayed_lost left left_lost connfail "reasons (stayed | left)"
		while IFS=$'\t' read -r p secs held ans failed sl left ll cf sr lr; do
			printf '  %-8s %7s %6s %10s %7s %12s %6s %10s %9s  %s | %s\n' "$p" "$secs" "$held" \
				"$ans" "$failed" "$sl" "$left" "$ll" "$cf" "$sr" "$lr"
		done < <([[ $class == busy ]] && echo "$COUNTS" || echo "$COUNTS_IDLE")
	done
	echo "stayed_lost: connections whose backend served throughout, reset or failed (target 0);" \
		"left: connections whose backend left the Service in the phase; left_lost: of those, lost"
	echo "changes in force ${CHANGES_CONVERGE_MS} ms after the last batch; agent ready" \
		"$RESTART_READY_MS ms after restart, changes in force ${RESTART_CONVERGE_MS} ms after that"
	echo "flood: $([[ $FLOOD_RAN == true ]] && echo "$FLOOD_COUNT SYNs to $flood_target in $FLOOD_MS ms" || echo "$FLOOD_NOTE");" \
		"ct4 entries $CT_BEFORE before, $CT_AFTER after, of $CT_SIZE; drops meanwhile:" \
		"$(if [[ -n $FLOOD_DROPS ]]; then tr '\n' ',' <<<"$FLOOD_DROPS" | sed 's/,$//; s/,/, /g'; else echo none; fi)"
	echo "final state: $FRONTENDS frontends desired, $DIFF_LINES lines differ from service list;" \
		"${STALE/null/no} manifest files differ from the model;" \
		"$PROBED Services probed, $MISROUTED misrouted; $MISSING_EPS backend pods missing from" \
		"endpoint list; checker self-test $CHECKER_OK: every change in force: $IN_FORCE"
} | tee "$OUT/table.txt"
[[ -z $FINAL_DIFF ]] || {
	say "not in force (- desired, + service list):"
	head -n 10 <<<"$FINAL_DIFF" | sed 's/^/#   /' >&2
}

phases_json() {
	jq -R -s 'split("\n") | map(select(length > 0) | split("\t") | {
	phase: .[0], seconds: (.[1] | tonumber), held: (.[2] | tonumber), answered: (.[3] | tonumber),
	failed: (.[4] | tonumber), stayed_lost: (.[5] | tonumber), left: (.[6] | tonumber),
	left_lost: (.[7] | tonumber), connfail: (.[8] | tonumber), stayed_reasons: .[9],
	left_reasons: .[10]})' <<<"$1"
}
drops_json=$(jq -R -s 'split("\n") | map(select(length > 0) | split(" ") | {(.[0]): (.[1] | tonumber)}) | add // {}' <<<"$FLOOD_DROPS")
kinds_json=$(for k in "${!KIND_COUNT[@]}"; do echo "$k ${KIND_COUNT[$k]}"; done |
	jq -R -s 'split("\n") | map(select(length > 0) | split(" ") | {(.[0]): (.[1] | tonumber)}) | add // {}')
jq -n --argjson phases "$(phases_json "$COUNTS")" --argjson phases_idle "$(phases_json "$COUNTS_IDLE")" \
	--argjson kinds "$kinds_json" --argjson idle_conns "$IDLE_CONNS" --argjson idle_ms "$IDLE_INTERVAL_MS" \
	--arg source "$SOURCE" --argjson quick "$QUICK" --argjson seed "$SEED" \
	--argjson conns "$CONNS" --argjson opened "$OPENED" --argjson ct_size "$CT_SIZE" \
	--argjson changes "$CHANGES_APPLIED" --argjson batches "$CHANGES_BATCHES" \
	--argjson dead "$DEAD_CHANGES" --argjson syncs "$((SYNCS_AFTER - SYNCS_BEFORE))" \
	--argjson changes_converge "$CHANGES_CONVERGE_MS" --argjson ready "$RESTART_READY_MS" \
	--argjson restart_converge "$RESTART_CONVERGE_MS" \
	--argjson flood_ran "$FLOOD_RAN" --arg flood_note "$FLOOD_NOTE" --arg flood_target "$flood_target" \
	--argjson flood_count "$FLOOD_COUNT" --argjson flood_ms "$FLOOD_MS" --argjson flood_drops "$drops_json" --argjson ct_before "$CT_BEFORE" --argjson ct_after "$CT_AFTER" \
	--argjson frontends "$FRONTENDS" --argjson diff "$DIFF_LINES" --argjson probed "$PROBED" \
	--argjson misrouted "$MISROUTED" --argjson missing "$MISSING_EPS" --argjson stale "$STALE" \
	--argjson checker "$CHECKER_OK" --argjson in_force "$IN_FORCE" \
	--arg commit "$(git -C "$SL_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	--arg kernel "$(uname -r)" --argjson cpus "$(nproc)" '{
	commit: $commit, machine: {kernel: $kernel, cpus: $cpus}, source: $source, quick: ($quick == 1),
	seed: $seed, connections: $conns, idle_connections: $idle_conns, idle_interval_ms: $idle_ms,
	connections_opened: $opened, ct_size: $ct_size,
	changes: {applied: $changes, batches: $batches, kinds: $kinds, agent_syncs: $syncs,
	          in_force_after_ms: $changes_converge},
	restart: {changes_while_dead: $dead, ready_ms: $ready, in_force_after_ms: $restart_converge},
	flood: {ran: $flood_ran, note: $flood_note, target: $flood_target, count: $flood_count, ms: $flood_ms,
	        ct_entries_before: $ct_before, ct_entries_after: $ct_after, drops: $flood_drops},
	phases: $phases, phases_idle: $phases_idle,
	final: {frontends: $frontends, differing_lines: $diff, stale_manifests: $stale,
	        services_probed: $probed,
	        services_misrouted: $misrouted, endpoints_missing: $missing,
	        checker_self_test: $checker, in_force: $in_force}}' >"$OUT/soak.json"
say "wrote $OUT/soak.json, logs in $OUT/logs"
topo_finish
