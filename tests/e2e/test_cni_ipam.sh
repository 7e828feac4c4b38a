#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluice-cni IPAM under stress and failure, against a real agent with overlay IPAM:
#   100 concurrent ADDs into one node (distinct addresses, none reserved, no leak after 100
#   concurrent DELs); repeated DEL and DEL of an unknown container; a crash mid-ADD (SIGKILL
#   after allocation, and after wiring) then a retried ADD and GC; exhaustion of a /28 (code 11
#   and the operator's message, STATUS 50, `sluice status`); every bad input class with its
#   code and nothing left behind; the CIDR planning check in the agent and the plugin; modes.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init cni_ipam
topo_require "$SLUICE" "$SLUICE_CNI"
CLUSTER_CIDR=10.244.0.0/16
N=${SL_CNI_CONCURRENT:-100}
quiet() { "$@" >/dev/null 2>&1; }
not() { ! "$@"; }

# The agent's pod CIDR from --pod-cidr (no API here); the plugin's config names no subnet.
topo_node n1 pending
topo_agent n1 "$TOPO_DIR/manifests" --cluster-cidr "$CLUSTER_CIDR" --service-cidr 10.96.0.0/12 \
	--pod-cidr 10.244.7.0/24
NODE_NS=$(topo_ns_node n1)
BPFFS=$(topo_node_bpffs n1)
STATE=$TOPO_DIR/cni/n1
block=$(topo_cli n1 status -o json | jq -r '.ipam.pod_cidr')
info "n1 pod CIDR $block"
check cni_ipam/agent_pod_cidr_from_flag "status: pod CIDR $block" test "$block" = 10.244.7.0/24

# plugin COMMAND CONTAINER NETNS [CONFIG-JQ-FILTER] [CNI_ARGS]: output in $out, status in $rc.
plugin() {
	local cmd=$1 id=$2 netns=$3 filter=${4:-.} args=${5:-IgnoreUnknown=1} env=()
	[[ -n $netns ]] && env+=("CNI_NETNS=/var/run/netns/$netns")
	out=$(jq -c --arg bpffs "$BPFFS" --arg state "$STATE" \
		"{cniVersion: \"1.1.0\", name: \"sluice\", type: \"sluice-cni\", node: \"n1\",
		  bpffs: \$bpffs, stateDir: \$state, ipam: {clusterCIDR: \"$CLUSTER_CIDR\"}} | $filter" <<<'{}' |
		nsenter --net="/var/run/netns/$NODE_NS" -- env -i PATH="$PATH" CNI_COMMAND="$cmd" \
			CNI_CONTAINERID="$id" CNI_IFNAME=eth0 CNI_ARGS="$args" "${env[@]}" \
			${SLUICE_CNI_FAULT:+SLUICE_CNI_FAULT=$SLUICE_CNI_FAULT} "$SLUICE_CNI" 2>/dev/null) && rc=0 || rc=$?
}
code() { jq -r '.code // empty' <<<"$out" 2>/dev/null || true; }
address_files() { find "$STATE" -regextype posix-extended -regex '.*/[0-9.]+' -type f 2>/dev/null | wc -l; }
host_veths() { ip -n "$NODE_NS" -o link show | grep -c ' sl[0-9a-f]\{12\}@' || true; }
ep4_count() { bpftool -j map dump pinned "$BPFFS/ep4" 2>/dev/null | jq length; }
in_use() { topo_cli n1 status -o json 2>/dev/null | jq -r '.ipam.in_use'; }
addr_num() { local a b c d; IFS=. read -r a b c d <<<"$1"; echo $(((a << 24) | (b << 16) | (c << 8) | d)); }

# ---- 100 concurrent ADDs, then 100 concurrent DELs -------------------------------------------
for ((i = 0; i < N; i++)); do ip netns add "$(topo_ns_pod "c$i")"; done
# `wait` alone would also wait for the agent: wait for these jobs by pid.
t0=$(date +%s%N)
jobs_pids=()
for ((i = 0; i < N; i++)); do
	(plugin ADD "c$i" "$(topo_ns_pod "c$i")" . "IgnoreUnknown=1;K8S_POD_NAMESPACE=load;K8S_POD_NAME=c$i"
	 echo "$rc $(jq -r '.ips[0].address // .msg' <<<"$out" 2>/dev/null)" >"$TOPO_DIR/add-$i") &
	jobs_pids+=($!)
done
wait "${jobs_pids[@]}"
add_ms=$((($(date +%s%N) - t0) / 1000000))
info "$N concurrent ADDs in $add_ms ms"
ok=$(cat "$TOPO_DIR"/add-* | grep -c '^0 ' || true)
check cni_ipam/concurrent_add_all_succeed "$ok of $N: $(grep -hv '^0 ' "$TOPO_DIR"/add-* | sort | uniq -c | head -3 | tr '\n' ' ')" test "$ok" = "$N"
addrs=$(cat "$TOPO_DIR"/add-* | awk '$1 == 0 { sub("/32", "", $2); print $2 }')
distinct=$(sort -u <<<"$addrs" | grep -c . || true)
check cni_ipam/concurrent_add_distinct "$distinct distinct of $ok" test "$distinct" = "$N"
net=$(addr_num "${block%/*}")
bad=$(while read -r a; do
	n=$(addr_num "$a")
	((n > net + 1 && n < net + 255)) || echo "$a"
done <<<"$addrs")
check cni_ipam/concurrent_add_in_block_no_reserved "outside $block or network/gateway/broadcast: $bad" test -z "$bad"
check cni_ipam/concurrent_add_state "files $(address_files), veths $(host_veths), ep4 $(ep4_count)" \
	test "$(address_files)" = "$N" -a "$(host_veths)" = "$N" -a "$(ep4_count)" = "$N"
check cni_ipam/status_shows_usage "in_use $(in_use)" test "$(in_use)" = "$N"
check cni_ipam/state_modes "$(stat -c '%n %a' "$STATE" "$STATE/sluice" "$STATE/sluice/lock" | tr '\n' ' ')" \
	test "$(stat -c %a "$STATE/sluice")" = 700 -a "$(stat -c %a "$STATE/sluice/lock" "$STATE/sluice/$(head -1 <<<"$addrs")" | sort -u)" = 600
check cni_ipam/pins_modes "$(stat -c '%n %a' "$BPFFS"/* | tr '\n' ' ')" test "$(stat -c %a "$BPFFS"/* | sort -u)" = 600

t0=$(date +%s%N)
jobs_pids=()
for ((i = 0; i < N; i++)); do
	(plugin DEL "c$i" "$(topo_ns_pod "c$i")"
	 echo "$rc" >"$TOPO_DIR/del-$i") &
	jobs_pids+=($!)
done
wait "${jobs_pids[@]}"
info "$N concurrent DELs in $((($(date +%s%N) - t0) / 1000000)) ms"
ok=$(cat "$TOPO_DIR"/del-* | grep -c '^0$' || true)
check cni_ipam/concurrent_del_all_succeed "$ok of $N" test "$ok" = "$N"
check cni_ipam/concurrent_del_no_leak "files $(address_files), veths $(host_veths), ep4 $(ep4_count), in_use $(in_use)" \
	test "$(address_files)" = 0 -a "$(host_veths)" = 0 -a "$(ep4_count)" = 0 -a "$(in_use)" = 0
for ((i = 0; i < N; i++)); do ip netns del "$(topo_ns_pod "c$i")"; done

plugin DEL c0 ""
check cni_ipam/repeated_del "rc $rc: $out" test "$rc" = 0
plugin DEL never-added ""
check cni_ipam/del_unknown_container "rc $rc: $out" test "$rc" = 0

# ---- crash mid-ADD ---------------------------------------------------------------------------
ip netns add "$(topo_ns_pod crash1)"
ip netns add "$(topo_ns_pod crash2)"
SLUICE_CNI_FAULT=after-ipam plugin ADD crash1 "$(topo_ns_pod crash1)"
check cni_ipam/crash_after_ipam_killed "rc $rc: $out" test "$rc" = 137 -a -z "$out"
crashed=$(grep -l crash1 "$STATE"/sluice/1* 2>/dev/null | head -1)
check cni_ipam/crash_leaves_pending_record "$(cat "$crashed" 2>/dev/null | tr '\n' ' ')" grep -q '^pending ' "${crashed:-/dev/null}"
plugin ADD crash1 "$(topo_ns_pod crash1)"
check cni_ipam/add_after_crash "rc $rc: $out" test "$rc" = 0
check cni_ipam/add_after_crash_same_address "got $(jq -r '.ips[0].address' <<<"$out" 2>/dev/null), crashed held ${crashed##*/}" \
	test "$(jq -r '.ips[0].address' <<<"$out" 2>/dev/null)" = "${crashed##*/}/32"
check cni_ipam/add_after_crash_committed "$(cat "${crashed:-/dev/null}" 2>/dev/null | tr '\n' ' ')" not grep -q pending "${crashed:-/dev/null}"
check cni_ipam/add_after_crash_works "no reply" quiet nsenter --net="/var/run/netns/$(topo_ns_pod crash1)" busybox ping -c 1 -W 2 "${block%.*}.1"
SLUICE_CNI_FAULT=after-wire plugin ADD crash2 "$(topo_ns_pod crash2)"
check cni_ipam/crash_after_wire_killed "rc $rc" test "$rc" = 137
check cni_ipam/crash_after_wire_left_veth "veths $(host_veths)" test "$(host_veths)" = 2
# GC (1.1) releases what is not listed: without the list (missing or null) it is refused with
# code 7 and the error object, and releases nothing, not even what crashed ADDs left.
state_before="files $(address_files), veths $(host_veths), ep4 $(ep4_count)"
for list in missing null; do
	if [[ $list == missing ]]; then plugin GC "" ""; else plugin GC "" "" '. + {"cni.dev/valid-attachments": null}'; fi
	check "cni_ipam/gc_${list}_list_refused" "rc $rc: $out" test "$rc" = 1 -a "$(code)" = 7 \
		-a "$(jq -r .cniVersion <<<"$out" 2>/dev/null)" = 1.1.0 -a -n "$(grep -o 'cni.dev/valid-attachments: missing' <<<"$out")"
	state="files $(address_files), veths $(host_veths), ep4 $(ep4_count)"
	check "cni_ipam/gc_${list}_list_releases_nothing" "$state, before: $state_before" test "$state" = "$state_before"
done
# GC (1.1): crash1 is still in use, crash2's runtime gave up on it.
plugin GC "" "" '. + {"cni.dev/valid-attachments": [{containerID: "crash1", ifname: "eth0"}]}'
check cni_ipam/gc_succeeds "rc $rc: $out" test "$rc" = 0 -a -z "$out"
check cni_ipam/gc_reclaimed_crashed "files $(address_files), veths $(host_veths), ep4 $(ep4_count)" \
	test "$(address_files)" = 1 -a "$(host_veths)" = 1 -a "$(ep4_count)" = 1
plugin CHECK crash1 "$(topo_ns_pod crash1)"
check cni_ipam/gc_kept_valid "rc $rc: $out" test "$rc" = 0
plugin GC "" "" '.cniVersion = "1.0.0"'
check cni_ipam/gc_needs_1_1 "rc $rc: $out" test "$(code)" = 1
plugin GC "" "" '. + {"cni.dev/valid-attachments": []}'
check cni_ipam/gc_empty_list_removes_all "files $(address_files), veths $(host_veths), ep4 $(ep4_count)" \
	test "$rc" = 0 -a "$(address_files)" = 0 -a "$(host_veths)" = 0 -a "$(ep4_count)" = 0

# ---- exhaustion of a /28 ---------------------------------------------------------------------
# The agent restarted with a /28 (every pod of the /24 is gone): ipam.subnet must agree with it.
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --cluster-cidr "$CLUSTER_CIDR" --service-cidr 10.96.0.0/12 \
	--pod-cidr 10.244.200.0/28
small='.name = "small" | .ipam.subnet = "10.244.200.0/28"'
for ((i = 0; i < 13; i++)); do
	ip netns add "$(topo_ns_pod "s$i")"
	plugin ADD "s$i" "$(topo_ns_pod "s$i")" "$small"
	[[ $rc == 0 ]] || break
done
check cni_ipam/small_block_fills "ADD s$i: rc $rc: $out" test "$rc" = 0
ip netns add "$(topo_ns_pod s13)"
plugin ADD s13 "$(topo_ns_pod s13)" "$small"
check cni_ipam/exhausted_code_11 "rc $rc: $out" test "$rc" != 0 -a "$(code)" = 11
check cni_ipam/exhausted_message "$out" test "$(jq -r .msg <<<"$out")" = "node n1: pod CIDR 10.244.200.0/28 exhausted (13 of 13 addresses in use)"
check cni_ipam/exhausted_leaves_nothing "veths $(host_veths), ep4 $(ep4_count), eth0 in pod: $(ip -n "$(topo_ns_pod s13)" -o link show eth0 2>&1 | head -c 60)" \
	test "$(host_veths)" = 13 -a "$(ep4_count)" = 13 -a -z "$(ip -n "$(topo_ns_pod s13)" -o link show eth0 2>/dev/null)"
plugin STATUS "" "" "$small"
check cni_ipam/status_exhausted_code_50 "rc $rc: $out" test "$(code)" = 50 -a -n "$(grep -o exhausted <<<"$out")"
text=$(topo_cli n1 status 2>/dev/null || true)
check cni_ipam/sluice_status_shows_exhaustion "$(grep ipam <<<"$text" | tr '\n' '|')" grep -q "13 of 13 addresses in use (100%): EXHAUSTED" <<<"$text"
for ((i = 0; i < 13; i++)); do plugin DEL "s$i" "$(topo_ns_pod "s$i")" "$small"; done
plugin STATUS "" "" "$small"
check cni_ipam/status_ready_after_del "rc $rc: $out" test "$rc" = 0

# ---- bad input: its code, and nothing left behind ---------------------------------------------
ip netns add "$(topo_ns_pod bad)"
bad_ns=$(topo_ns_pod bad)
leftovers() { echo "files $(address_files) veths $(host_veths) ep4 $(ep4_count) eth0 $(ip -n "$bad_ns" -o link show eth0 2>/dev/null | wc -l)"; }
clean=$(leftovers)
bad_case() { # NAME WANT-CODE
	check "cni_ipam/bad_input_$1" "rc $rc, want code $2: $out" test "$rc" != 0 -a "$(code)" = "$2"
	check "cni_ipam/bad_input_$1_leaves_nothing" "$(leftovers), before: $clean" test "$(leftovers)" = "$clean"
}
out=$(printf '{"cniVersion":"1.1.0","name":' | nsenter --net="/var/run/netns/$NODE_NS" -- env -i CNI_COMMAND=ADD \
	CNI_CONTAINERID=bad CNI_IFNAME=eth0 CNI_NETNS="/var/run/netns/$bad_ns" "$SLUICE_CNI" 2>/dev/null) && rc=0 || rc=$?
bad_case bad_json 6
plugin ADD bad "$bad_ns" '.cniVersion = "0.2.0"'
bad_case wrong_cni_version 1
plugin ADD bad ""
bad_case missing_cni_netns 4
plugin ADD bad "$bad_ns" . "IgnoreUnknown=1;K8S_POD_NAME=$(head -c 5000 /dev/zero | tr '\0' x)"
bad_case oversized_cni_args 4
plugin ADD bad "$bad_ns" '.ipam = {clusterCIDR: "10.96.0.0/16"}'
bad_case cluster_cidr_differs_from_agent 7
# A plugin without an agent's plan: the config's own ranges are checked against each other.
plugin ADD bad "$bad_ns" ".bpffs = \"$TOPO_DIR/no-agent\" | .ipam = {clusterCIDR: \"10.244.0.0/16\", serviceCIDR: \"10.244.128.0/20\", subnet: \"10.244.1.0/24\"}"
bad_case overlapping_cidrs 7
check cni_ipam/overlap_message_names_both "$out" grep -q 'cluster CIDR 10.244.0.0/16 overlaps service CIDR 10.244.128.0/20' <<<"$out"
plugin ADD bad "$bad_ns" '.ipam.dnsServiceIP = "10.0.0.10"'
bad_case dns_outside_service_cidr 7
check cni_ipam/dns_message_names_both "$out" grep -q 'DNS service IP 10.0.0.10 is outside service CIDR 10.96.0.0/12' <<<"$out"

# The agent refuses an overlapping plan at start, naming both ranges.
out=$(nsenter --net="/var/run/netns/$NODE_NS" -- timeout 20 "$SLUICE" agent --node bad \
	--bpffs "$TOPO_BPFFS/bad" --cluster-cidr 10.96.0.0/16 --service-cidr 10.96.0.0/12 2>&1) && rc=0 || rc=$?
check cni_ipam/agent_refuses_overlap "rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-300)" \
	test "$rc" != 0 -a -n "$(grep 'cluster CIDR 10.96.0.0/16 overlaps service CIDR 10.96.0.0/12' <<<"$out")" -a -z "$(grep 'agent ready' <<<"$out")"

# A --pod-cidr outside the cluster CIDR.
out=$(nsenter --net="/var/run/netns/$NODE_NS" -- timeout 20 "$SLUICE" agent --node bad \
	--bpffs "$TOPO_BPFFS/bad" --cluster-cidr 10.244.0.0/16 --pod-cidr 10.245.1.0/24 2>&1) && rc=0 || rc=$?
check cni_ipam/agent_refuses_pod_cidr_outside "rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-300)" \
	test "$rc" != 0 -a -n "$(grep 'pod CIDR 10.245.1.0/24 is not inside cluster CIDR 10.244.0.0/16' <<<"$out")" -a -z "$(grep 'agent ready' <<<"$out")"

# And a cluster DNS address outside the service CIDR.
out=$(nsenter --net="/var/run/netns/$NODE_NS" -- timeout 20 "$SLUICE" agent --node bad \
	--bpffs "$TOPO_BPFFS/bad" --service-cidr 10.96.0.0/12 --cluster-dns 10.0.0.10 2>&1) && rc=0 || rc=$?
check cni_ipam/agent_refuses_dns_outside "rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-300)" \
	test "$rc" != 0 -a -n "$(grep 'DNS service IP 10.0.0.10 is outside service CIDR 10.96.0.0/12' <<<"$out")" -a -z "$(grep 'agent ready' <<<"$out")"

topo_finish
