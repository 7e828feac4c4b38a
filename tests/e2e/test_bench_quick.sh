#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The bench's smoke test: bench/bench.sh with a tiny N gives every mode (bare, iptables,
# iptables-nft, nftables, sluice, sluice-socket) a figure for each of its metrics in results.json, the change
# timed end to end included, every mode's traffic reached the backends, NetworkPolicy's cost per
# new flow is there at 10 and 1,000 ipBlock rules, and a bench whose iptables rules do not
# translate fails instead of reporting a figure.
set -euo pipefail
# shellcheck source=tests/e2e/smoke_lib.sh
. "$(dirname "$0")/smoke_lib.sh"
smoke_init bench_quick

# --quick first: its shorter packet runs, with the services and repeats given after it.
args=(--scenario single --quick --services 10 --repeats 3 --duration 0.3 --iperf-time 1)
smoke_run bench/bench.sh "${args[@]}" --out "$out/ok"

json=$out/ok/results.json
for mode in bare iptables iptables-nft nftables sluice sluice-socket; do
	metrics="conn_rate connect_p50_us connect_p99_us throughput_gbps"
	[[ $mode == bare || $mode == sluice-socket ]] || metrics+=" load_all_ms update_one_ms update_e2e_ms memory_kib"
	[[ $mode == sluice-socket ]] && metrics+=" ns_per_packet_new ns_per_packet_established"
	[[ $mode == iptables-nft ]] && metrics+=" load_all_flush_ms"
	[[ $mode == sluice ]] && metrics+=" update_one_api_ms update_e2e_api_ms ns_per_packet_new ns_per_packet_established"
	# shellcheck disable=SC2086 # the metrics' names
	smoke_figures "$json" "$mode" '.repeats >= 3' $metrics
	rate=$(jq --arg m "$mode" '[.results[] | select(.mode == $m and .metric == "conn_rate") | .min] | min // 0' "$json" 2>/dev/null || echo 0)
	if [[ $mode == bare ]]; then
		reached=1 # bare has no translation to check; its backends are checked below
	else
		reached=$(grep -c "^PASS bench/$mode/10/reached_backends" <<<"$log" || true)
	fi
	if [[ $reached == 1 ]] && awk -v r="$rate" 'BEGIN { exit !(r > 0) }'; then
		pass "bench_quick/$mode/reached_backends"
	else
		fail "bench_quick/$mode/reached_backends" "conn_rate min $rate, reached_backends lines $reached"
	fi
done
# The socket hooks translated the sluice-socket mode's connections at connect(), tc_pod none.
smoke_bench_passed sluice-socket/translated_at_connect bench/sluice-socket/10/translated_at_connect
# NetworkPolicy's per-new-flow cost at each number of ipBlock rules, and its ratio in the table.
policy=$(jq '[.results[] | select(.mode == "sluice" and .metric == "ns_per_packet_policy_denied"
	and (.policy_cidrs == 10 or .policy_cidrs == 1000) and .median > 0)] | length' "$json" 2>/dev/null || echo 0)
if [[ $policy == 2 ]] && grep -qE '^ns_per_packet_policy_denied .* [0-9.]+x$' "$out/ok/table.txt"; then
	pass bench_quick/policy_figures
else
	fail bench_quick/policy_figures "results.json has $policy of 2 policy_cidrs figures, or the table lacks the ratio"
fi
if jq -e '.machine.cpus > 0 and (.machine.kernel | length) > 0' "$json" >/dev/null 2>&1; then
	pass bench_quick/machine_info
else
	fail bench_quick/machine_info "no machine info in $json"
fi
if grep -q '<polyline' "$out/ok/bench.svg" 2>/dev/null; then
	pass bench_quick/svg
else
	fail bench_quick/svg "no plot in $out/ok/bench.svg"
fi

# Negative: iptables rules without their DNAT must stop the bench with a FAIL, no results.
smoke_fault broken_iptables_fails iptables-no-dnat bench/iptables/10/ "$out/broken/results.json" \
	bench/bench.sh "${args[@]}" --out "$out/broken"
exit "$failed"
