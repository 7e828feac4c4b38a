#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Service ports and types, watch-driven through the fake API server: TCP, UDP and SCTP through one
# ClusterIP with several ports (each port reaches its own target port, slice ports matched to
# Service ports by name, not by order); a targetPort by name resolved per pod (two pods whose
# port "web" is 8080 on one and 8081 on the other); a headless and an ExternalName Service
# program nothing, and a ClusterIP Service turned into an ExternalName one stops being
# translated. SCTP traffic is skipped on a kernel without SCTP (its frontend is still checked).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init svc_ports
topo_require_all
topo_node n1 10.244.1.0/24
topo_apiserver n1 "$SL_ROOT/tests/e2e/fixtures/services"
topo_agent n1 "$TOPO_DIR/manifests" --kubeconfig "$TOPO_KUBECONFIG"
topo_pod n1 client
topo_pod n1 web-1
topo_pod n1 web-2

HAS_SCTP=1
out=$(topo_probe client --sctp 127.0.0.1:9 -n 1 --timeout-ms 500 || true)
[[ $out == "ERR EPROTONOSUPPORT" ]] && HAS_SCTP=0
# Every pod answers as POD on 8080 (TCP), 5353 (UDP) and 9000 (SCTP), as POD:8081 on 8081, so a
# reply names the pod and the port the connection was translated to.
for pod in web-1 web-2; do
	if ((HAS_SCTP)); then
		topo_echo "$pod" --tcp 8080 --udp 5353 --sctp 9000
	else
		topo_echo "$pod" --tcp 8080 --udp 5353
	fi
	topo_echo "$pod" --id "$pod:8081" --tcp 8081
done
CLIENT_IP=$(topo_pod_ip client)

# probe ARGS...: sl_probe from the client, output shown; prints the tally ("web-1=3 web-2=7 ").
probe() {
	local out
	out=$(topo_probe client "$@" --timeout-ms 2000 || true)
	show_output "$out"
	tally "$out" | tr ' ' '\n' | sort | tr '\n' ' '
}
# spread TALLY A B: both A and B answered, and nobody else (no errors either).
# shellcheck disable=SC2317 # called through check
spread() {
	[[ $1 =~ ^$2=[0-9]+\ $3=[0-9]+\ $ ]]
}
wait_or_fatal() {
	wait_service_backends n1 "$@" ||
		topo_fatal "service $1:$2 not programmed with $3 backends: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
}
frontend_names() {
	topo_cli n1 service list -o json | jq -r '.services[].name' | sort | tr '\n' ' '
}

# ---- one Service, several ports and protocols -----------------------------------------------
# The slice lists its ports in another order than the Service, as a controller may.
api_apply <<EOF
apiVersion: v1
kind: Service
metadata: {name: multi, namespace: default}
spec:
  type: ClusterIP
  clusterIP: 10.96.1.10
  selector: {app: multi}
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: 8080}
  - {name: alt, protocol: TCP, port: 81, targetPort: 8081}
  - {name: dns, protocol: UDP, port: 53, targetPort: 5353}
  - {name: assoc, protocol: SCTP, port: 9000, targetPort: 9000}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: multi-abc
  namespace: default
  labels: {kubernetes.io/service-name: multi}
addressType: IPv4
ports:
- {name: assoc, protocol: SCTP, port: 9000}
- {name: dns, protocol: UDP, port: 5353}
- {name: alt, protocol: TCP, port: 8081}
- {name: http, protocol: TCP, port: 8080}
endpoints:
$(slice_endpoint web-1)
$(slice_endpoint web-2)
EOF
wait_or_fatal 10.96.1.10 80 2
wait_or_fatal 10.96.1.10 53 2

got=$(probe --tcp 10.96.1.10:80 -n 20)
check svc_ports/tcp "tally $got" spread "$got" web-1 web-2
got=$(probe --tcp 10.96.1.10:81 -n 20)
check svc_ports/tcp_second_port "tally $got (wanted web-1:8081 and web-2:8081)" \
	spread "$got" web-1:8081 web-2:8081
got=$(probe --udp 10.96.1.10:53 -n 20)
check svc_ports/udp "tally $got" spread "$got" web-1 web-2
out=$(topo_probe client --udp 10.96.1.10:53 -n 5 --timeout-ms 2000 || true)
peers=$(foreign_peers "$CLIENT_IP" "$out")
check svc_ports/udp_client_address "backends saw $peers, not $CLIENT_IP" test -z "$peers"

sctp=$(topo_cli n1 service list -o json |
	jq -c '[.services[] | select(.vip == "10.96.1.10" and .port == 9000) | [.protocol, (.backends | length)]]')
check svc_ports/sctp_frontend "frontends on 10.96.1.10:9000: $sctp" test "$sctp" = '[["SCTP",2]]'
if ((HAS_SCTP)); then
	got=$(probe --sctp 10.96.1.10:9000 -n 20)
	check svc_ports/sctp "tally $got" spread "$got" web-1 web-2
else
	skip svc_ports/sctp "the kernel has no SCTP (CONFIG_IP_SCTP)"
fi

# ---- targetPort by name, resolved per pod ---------------------------------------------------
# Two slices (as the controller makes for pods whose named port differs): port "web" is 8080 on
# web-1 and 8081 on web-2. A single number for both would show as web-2 (8080) or web-1:8081.
api_apply <<EOF
apiVersion: v1
kind: Service
metadata: {name: named, namespace: default}
spec:
  clusterIP: 10.96.1.20
  selector: {app: named}
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: web}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: named-a
  namespace: default
  labels: {kubernetes.io/service-name: named}
addressType: IPv4
ports:
- {name: http, protocol: TCP, port: 8080}
endpoints:
$(slice_endpoint web-1)
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: named-b
  namespace: default
  labels: {kubernetes.io/service-name: named}
addressType: IPv4
ports:
- {name: http, protocol: TCP, port: 8081}
endpoints:
$(slice_endpoint web-2)
EOF
wait_or_fatal 10.96.1.20 80 2
got=$(probe --tcp 10.96.1.20:80 -n 20)
check svc_ports/target_port_by_name "tally $got (wanted web-1 and web-2:8081)" \
	spread "$got" web-1 web-2:8081
backends=$(topo_cli n1 service list -o json |
	jq -r '[.services[] | select(.vip == "10.96.1.20") | .backends[] | "\(.address):\(.port)"] | sort | join(" ")')
want=$(printf '%s\n' "$(topo_pod_ip web-1):8080" "$(topo_pod_ip web-2):8081" | sort | tr '\n' ' ')
check svc_ports/target_port_by_name_backends "backends $backends" test "$backends " = "$want"

# ---- headless and ExternalName: nothing programmed -------------------------------------------
# "gone" starts as a ClusterIP Service that carries traffic, then becomes an ExternalName one
# (the only type change that drops a clusterIP): its address must stop being translated.
api_service_yaml gone 10.96.1.31 "" "$(slice_endpoint web-1)" | api_apply
wait_or_fatal 10.96.1.31 80 1
got=$(probe --tcp 10.96.1.31:80 -n 3)
check svc_ports/before_external_name "tally $got" test "$got" = "web-1=3 "

api_apply <<EOF
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: default}
spec:
  clusterIP: None
  selector: {app: headless}
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: headless-a
  namespace: default
  labels: {kubernetes.io/service-name: headless}
addressType: IPv4
ports:
- {name: http, protocol: TCP, port: 8080}
endpoints:
$(slice_endpoint web-1)
$(slice_endpoint web-2)
---
apiVersion: v1
kind: Service
metadata: {name: gone, namespace: default}
spec:
  type: ExternalName
  externalName: db.example.com
  ports:
  - {name: http, protocol: TCP, port: 80, targetPort: 8080}
EOF
wait_service_backends n1 10.96.1.31 80 -1 || true
names=$(frontend_names)
check svc_ports/headless_external_name_nothing "frontends: $names" \
	test "$names" = "default/multi:alt default/multi:assoc default/multi:dns default/multi:http default/named:http "
before=$(ct_entries_with n1 10.96.1.31)
got=$(probe --tcp 10.96.1.31:80 -n 2)
check svc_ports/external_name_not_translated "tally $got (no backend may answer)" \
	bash -c "[[ '$got' != *web-* ]]"
after=$(ct_entries_with n1 10.96.1.31)
check svc_ports/external_name_no_conntrack "conntrack entries with 10.96.1.31: $before -> $after" \
	test "$after" -le "$before"

topo_finish
