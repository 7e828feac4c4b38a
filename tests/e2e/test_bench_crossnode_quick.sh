#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The bench's cross-node scenario at a tiny size (bench/bench.sh --scenario cross-node): the
# client on one node, three backends on another, and every mode (bare over a VXLAN overlay of the
# kernel's own, iptables legacy and nf_tables and nftables over it, sluice over its tunnel) has
# a nonzero connection rate, p50 and p99 connect latency and one-stream throughput in
# OUT/cross-node/results.json, its traffic reached every backend, and sluice's tunnel programs
# have their per-packet rows; the bench's own checks (which device carried each mode's traffic,
# who translated it) passed. No timing is judged.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP bench_crossnode_quick: needs root (network namespaces, bpffs)"
	exit 0
fi
out=$(mktemp -d /tmp/sl-bench-xnode.XXXXXX)
trap 'rm -rf "$out"' EXIT

failed=0
pass() { echo "PASS $1"; }
fail() {
	echo "FAIL $1: $2"
	failed=1
}
# Bench output is quoted, never passed through: its own PASS/FAIL lines are not this test's.
quote() { sed 's/^/#   /' >&2; }

args=(--scenario cross-node --quick --services 10 --repeats 1 --duration 0.3 --iperf-time 1)
# Three backend pods, not ten: each costs a CNI ADD and a server, and the figures are not judged.
export BENCH_XNODE_BACKENDS=3
set +e
log=$(cd "$ROOT" && bench/bench.sh "${args[@]}" --out "$out/ok" 2>&1)
rc=$?
set -e
quote <<<"$log"
if ((rc != 0)); then
	fail bench_crossnode_quick/run "bench/bench.sh exited $rc: $(grep -m1 '^FAIL' <<<"$log" || tail -n1 <<<"$log")"
else
	pass bench_crossnode_quick/run
fi

json=$out/ok/cross-node/results.json
for mode in bare iptables iptables-nft nftables sluice; do
	metrics="conn_rate connect_p50_us connect_p99_us throughput_gbps"
	[[ $mode == sluice ]] && metrics+=" ns_per_packet_tunnel_new_remote ns_per_packet_tunnel_encap ns_per_packet_tunnel_decap_new ns_per_packet_tunnel_decap_reply"
	missing=
	for metric in $metrics; do
		ok=$(jq --arg m "$mode" --arg k "$metric" \
			'[.results[] | select(.services == 10 and .mode == $m and .metric == $k
			  and (.median | type) == "number" and .median > 0)] | length' "$json" 2>/dev/null || echo 0)
		[[ $ok == 1 ]] || missing+=" $metric"
	done
	if [[ -z $missing ]]; then
		pass "bench_crossnode_quick/$mode/figures"
	else
		fail "bench_crossnode_quick/$mode/figures" "results.json lacks (or has zero)$missing"
	fi
	if [[ $mode == bare ]] || grep -q "^PASS bench/xnode/$mode/10/reached_backends" <<<"$log"; then
		pass "bench_crossnode_quick/$mode/reached_backends"
	else
		fail "bench_crossnode_quick/$mode/reached_backends" "no reached_backends line for $mode"
	fi
done
if jq -e '.machine.scenario == "cross-node" and .machine.cpus > 0' "$json" >/dev/null 2>&1 &&
	grep -qE '^conn_rate .* [0-9.]+x$' "$out/ok/cross-node/table.txt" 2>/dev/null; then
	pass bench_crossnode_quick/report
else
	fail bench_crossnode_quick/report "results.json is not marked cross-node, or the table has no ratios"
fi

exit "$failed"
