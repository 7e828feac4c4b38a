#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Egress masquerade: a pod reaches a host outside the cluster (a namespace behind the node's
# uplink up0) over TCP, UDP and ping, and that host sees only the node's address; a
# --non-masquerade-cidr destination sees the pod's own address; a pod and a ClusterIP inside
# the cluster are reached untouched; a ClusterIP whose endpoint is the outside host (as the API
# server behind `kubernetes`) reaches it masqueraded; an egress NetworkPolicy still judges the pod's real
# address and the real destination before the SNAT (an ipBlock allowing the outside host lets
# it through, masqueraded; one that does not is a counted "policy denied egress"). sluice
# status shows it on with what it spares; without --uplink the agent and status say it is off.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init masquerade
topo_require_all
command -v ping >/dev/null || topo_fatal "ping is not installed (tests/deps.sh installs iputils-ping)"

NODE_IP=192.168.79.1
OUTSIDE_IP=192.168.79.2
LISTED_IP=198.51.100.7 # a second address of the outside host, in --non-masquerade-cidr

topo_node n1 10.244.1.0/24
# The outside host routes the pod network back only from LISTED_IP (below): what it sees of a
# masqueraded flow is the node's address.
topo_uplink_client n1 "$NODE_IP" "$OUTSIDE_IP"
outside_ns=$UPLINK_CLIENT_NS
ip -n "$outside_ns" addr add "$LISTED_IP/32" dev eth0
topo_in_node n1 ip route add "$LISTED_IP/32" via "$OUTSIDE_IP"
topo_echo_in "$outside_ns" outside --tcp 8080 --udp 5353

# A --non-masquerade-cidr destination answers the pod's own address: it needs a route back.
ip -n "$outside_ns" route add 10.244.1.0/24 via "$NODE_IP" src "$LISTED_IP"

topo_agent n1 "$TOPO_DIR/manifests" --uplink up0 --node-ip "$NODE_IP" \
	--cluster-cidr 10.244.0.0/16 --service-cidr 10.96.0.0/12 \
	--non-masquerade-cidr 198.51.100.0/24
grep -q 'egress masquerade on' "${TOPO_AGENT_LOG[n1]}"
check masquerade/agent_says_on "agent log: $(grep -o 'egress masquerade on.*' "${TOPO_AGENT_LOG[n1]}" | head -1)" \
	grep -q 'except to 10.244.0.0/16, 10.96.0.0/12, 198.51.100.0/24' "${TOPO_AGENT_LOG[n1]}"

topo_pod n1 client
topo_pod n1 web
topo_echo web --tcp 8080
client=$(topo_pod_ip client)
web=$(topo_pod_ip web)

{
	manifest_pod client "app: client"
	manifest_pod web "app: web"
	echo "---"
	manifest_service web 10.96.0.40 80:8080/TCP
	echo "---"
	manifest_slice web 80:8080/TCP web
} | write_file "$TOPO_DIR/manifests/objects.yaml"
wait_service_backends n1 10.96.0.40 80 1 ||
	topo_fatal "service not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"

# peers LINES: the distinct peer addresses sl_echo reported, space-separated.
peers() { awk '$1 != "ERR" { split($2, a, ":"); print a[1] }' <<<"$1" | sort -u | tr '\n' ' '; }
drops_named() {
	topo_cli n1 drops -o json 2>/dev/null |
		jq -r --arg n "$1" '[.drops[] | select(.name == $n) | .packets] | add // 0' 2>/dev/null ||
		echo 0
}

# 1. Out of the cluster: the outside host sees the node's address, never the pod's.
out=$(topo_probe client --tcp "$OUTSIDE_IP:8080" -n 5 --timeout-ms 2000 || true)
check masquerade/tcp_reaches_outside "client -> outside TCP: $(tally "$out")" \
	test "$(count_from outside "$out")" -eq 5
check masquerade/tcp_seen_as_node "peers seen outside: $(peers "$out")" \
	test "$(peers "$out")" = "$NODE_IP "
out=$(topo_probe client --udp "$OUTSIDE_IP:5353" -n 5 --timeout-ms 2000 || true)
check masquerade/udp_reaches_outside "client -> outside UDP: $(tally "$out")" \
	test "$(count_from outside "$out")" -eq 5
check masquerade/udp_seen_as_node "peers seen outside: $(peers "$out")" \
	test "$(peers "$out")" = "$NODE_IP "
ports=$(awk '$1 == "outside" { split($2, a, ":"); print a[2] }' <<<"$out" | sort -n)
out_of_range=$(awk '$1 < 61000 || $1 > 65535' <<<"$ports" | wc -l)
check masquerade/ports_in_range "source ports seen outside: $(echo "$ports" | tr '\n' ' ')" \
	test "$out_of_range" -eq 0 -a -n "$ports"
snat_flows=$(topo_cli n1 ct list -o json 2>/dev/null |
	jq --arg ip "$OUTSIDE_IP" '[.connections[] | select(.dst == $ip and .nat_src == "'"$NODE_IP"'"
		and (.flags | index("snat")))] | length' 2>/dev/null || echo 0)
check masquerade/conntrack_snat "ct list: $snat_flows live flows to $OUTSIDE_IP leave as $NODE_IP (snat)" \
	test "$snat_flows" -ge 1
replies=$(topo_in_pod client ping -c 3 -i 0.2 -W 1 "$OUTSIDE_IP" 2>/dev/null | grep -c 'bytes from' || true)
check masquerade/ping_outside "client pings outside: $replies of 3 replies" test "$replies" -eq 3

status=$(topo_cli n1 status 2>/dev/null || true)
status_on=$(grep -c 'egress masquerade: on, not to .*10.244.0.0/16 (cluster).*198.51.100.0/24 (non-masquerade-cidr)' <<<"$status" || true)
check masquerade/status_shows_on "sluice status: $(grep 'egress masquerade' <<<"$status")" \
	test "$status_on" -eq 1

# 2. Not masqueraded: a --non-masquerade-cidr, another pod, a ClusterIP.
out=$(topo_probe client --tcp "$LISTED_IP:8080" -n 3 --timeout-ms 2000 || true)
check masquerade/listed_sees_pod "client -> $LISTED_IP: peers $(peers "$out")($(tally "$out"))" \
	test "$(peers "$out")" = "$client "
out=$(topo_probe client --tcp "$web:8080" -n 3 --timeout-ms 2000 || true)
check masquerade/pod_sees_pod "client -> web: peers $(peers "$out")" test "$(peers "$out")" = "$client "
out=$(topo_probe client --tcp 10.96.0.40:80 -n 3 --timeout-ms 2000 || true)
check masquerade/service_sees_pod "client -> ClusterIP -> web: peers $(peers "$out")" \
	test "$(peers "$out")" = "$client "

# 2b. A Service whose endpoint is out of the cluster (as the API server behind `kubernetes`):
# translated to it and masqueraded, as kube-proxy's DNAT then the node's masquerade would; the
# outside host, which cannot route the pod network back (it has no route from OUTSIDE_IP), sees
# the node's address.
{
	manifest_service apiserver 10.96.0.1 443:8080/TCP
	heredoc <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: apiserver-slice
  namespace: default
  labels: {kubernetes.io/service-name: apiserver}
addressType: IPv4
ports:
- {name: tcp-443, protocol: TCP, port: 8080}
endpoints:
- addresses: ["$OUTSIDE_IP"]
  conditions: {ready: true}
EOF
} | write_file "$TOPO_DIR/manifests/apiserver.yaml"
wait_service_backends n1 10.96.0.1 443 1 ||
	topo_fatal "service 10.96.0.1 not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
out=$(topo_probe client --tcp 10.96.0.1:443 -n 3 --timeout-ms 2000 || true)
check masquerade/service_backend_outside "client -> 10.96.0.1:443 -> $OUTSIDE_IP:8080: $(tally "$out")peers $(peers "$out")" \
	test "$(count_from outside "$out")" -eq 3 -a "$(peers "$out")" = "$NODE_IP "

# 3. NetworkPolicy egress judges the pod and the real destination before the SNAT.
policy() {
	cat <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: $1}}]}]
EOF
}
wait_egress_isolated() {
	local deadline=$((SECONDS + SL_SYNC_TIMEOUT))
	until topo_cli n1 policy list default/client -o json 2>/dev/null |
		jq -e --arg c "$1" '.endpoints[0] | .egress_isolated and
			([.rules[].peer] | any(. == $c))' >/dev/null; do
		((SECONDS < deadline)) || topo_fatal "policy not applied: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
		sleep 0.2
	done
}
policy "$OUTSIDE_IP/32" | write_file "$TOPO_DIR/manifests/policy.yaml"
wait_egress_isolated "$OUTSIDE_IP/32"
out=$(topo_probe client --tcp "$OUTSIDE_IP:8080" -n 3 --timeout-ms 2000 || true)
check masquerade/policy_allows_real_destination "ipBlock $OUTSIDE_IP/32: $(tally "$out") peers $(peers "$out")" \
	test "$(count_from outside "$out")" -eq 3 -a "$(peers "$out")" = "$NODE_IP "
policy 198.51.100.0/24 | write_file "$TOPO_DIR/manifests/policy.yaml"
wait_egress_isolated 198.51.100.0/24
before=$(drops_named "policy denied egress")
out=$(topo_probe client --tcp "$OUTSIDE_IP:8080" -n 3 --timeout-ms 700 || true)
after=$(drops_named "policy denied egress")
check masquerade/policy_denies_outside "ipBlock 198.51.100.0/24 only: $(tally "$out")" \
	test "$(count_errors "$out")" -eq 3
check masquerade/policy_denied_counted "policy denied egress: $before -> $after packets" \
	test "$after" -ge $((before + 3))
out=$(topo_probe client --tcp "$LISTED_IP:8080" -n 2 --timeout-ms 2000 || true)
check masquerade/policy_allows_listed "ipBlock 198.51.100.0/24 -> $LISTED_IP: $(tally "$out")" \
	test "$(count_from outside "$out")" -eq 2
rm -f "$TOPO_DIR/manifests/policy.yaml"

# 4. Without --uplink: masquerade is off, and the agent says so.
topo_agent_stop n1
topo_agent n1 "$TOPO_DIR/manifests" --node-ip "$NODE_IP" --cluster-cidr 10.244.0.0/16
check masquerade/off_without_uplink "agent log: $(grep -o 'egress masquerade off.*' "${TOPO_AGENT_LOG[n1]}" | tail -1)" \
	grep -q 'egress masquerade off (no --uplink' "${TOPO_AGENT_LOG[n1]}"
status=$(topo_cli n1 status 2>/dev/null || true)
check masquerade/status_shows_off "sluice status: $(grep 'egress masquerade' <<<"$status")" \
	test "$(grep -c '^egress masquerade: off$' <<<"$status" || true)" -eq 1

topo_finish
