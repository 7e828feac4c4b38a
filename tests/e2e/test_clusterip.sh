#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ClusterIP end to end: a client pod's TCP connections and UDP datagrams to the VIP are spread
# over both backend pods, the backends see the client's own address, conntrack holds the flows,
# the CLI lists the service with its backends, and traffic not sent to a VIP passes untouched.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init clusterip
topo_standard
client_ip=$(topo_pod_ip client)

for proto in tcp udp; do
	port=80
	[[ $proto == udp ]] && port=53
	out=$(topo_probe client "--$proto" "$SL_VIP:$port" -n 20 --timeout-ms 2000 || true)
	show_output "$out"
	errors=$(count_errors "$out")
	web1=$(count_from web-1 "$out")
	web2=$(count_from web-2 "$out")
	check "clusterip/${proto}_all_answered" "$errors of 20 failed: $(grep '^ERR' <<<"$out" | sort | uniq -c | tr '\n' ' ')" \
		test "$errors" -eq 0 -a "$((web1 + web2))" -eq 20
	check "clusterip/${proto}_both_backends" "tally $(tally "$out")" test "$web1" -gt 0 -a "$web2" -gt 0
	foreign=$(foreign_peers "$client_ip" "$out")
	check "clusterip/${proto}_client_address_kept" "backends saw $(echo "$foreign" | sort -u | tr '\n' ' ') instead of $client_ip" \
		test -z "$foreign" -a "$((web1 + web2))" -gt 0
done

n=$(ct_entries_with n1 "$client_ip")
check clusterip/ct_list_shows_flows "no ct list -o json entry mentions $client_ip" test "$n" -gt 0
# The connections are closed from both ends: ct list names the per-direction close state.
closed=$(topo_cli n1 ct list -o json 2>/dev/null | jq --arg ip "$client_ip" \
	'[.connections[] | select(.proto == "TCP" and (.src == $ip or .dst == $ip)
		and (.flags | index("peer-fin")))] | length' 2>/dev/null || echo 0)
check clusterip/ct_list_shows_close_state "TCP entries of $client_ip flagged peer-fin: $closed" \
	test "$closed" -gt 0

for port in 80 53; do
	got=$(service_backends n1 "$SL_VIP" "$port")
	check "clusterip/service_list_$port" "service list -o json: $SL_VIP:$port has $got backends, want 2" test "$got" = 2
done

# Not a VIP: the client reaches web-1 directly and keeps its address.
out=$(topo_probe client --tcp "$(topo_pod_ip web-1):8080" -n 3 || true)
check clusterip/non_vip_untouched "direct to web-1: $(echo "$out" | tr '\n' ' ')" \
	test "$(count_from web-1 "$out")" -eq 3 -a -z "$(foreign_peers "$client_ip" "$out")"

# The same source port, first through the VIP, then straight to the backend that answered: the
# second flow is no service flow, and the first one's conntrack reply entry (still there while
# it closes) must not rewrite its replies to come from the VIP.
out=$(topo_probe client --tcp "$SL_VIP:80" -n 1 --sport 41000 || true)
backend=${out%% *}
if [[ $backend == web-1 || $backend == web-2 ]]; then
	direct=$(topo_probe client --tcp "$(topo_pod_ip "$backend"):8080" -n 1 --sport 41000 --timeout-ms 4000 || true)
	check clusterip/non_vip_same_tuple_as_service_flow \
		"client:41000 -> $backend:8080 right after client:41000 -> VIP -> $backend: '$direct'" \
		test "$direct" = "$backend $client_ip:41000"
else
	fail clusterip/non_vip_same_tuple_as_service_flow "via the VIP from port 41000: '$out'"
fi

topo_finish
