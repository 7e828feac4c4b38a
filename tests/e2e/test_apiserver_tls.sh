#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# How the agent reaches the API server: a kubeconfig's tls-server-name is the name the server's
# certificate is checked against while the connection goes to the server's address (the fake
# API server's certificate names only api.sluice.test, the kubeconfig's server is 127.0.0.1);
# without it the same certificate fails verification and nothing is listed; an http:// server
# with a bearer token is refused with one line naming the kubeconfig, context and cluster.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init apiserver_tls
topo_require "$SLUICE"
topo_node n1 10.244.1.0/24
TOPO_API_SAN=DNS:api.sluice.test topo_apiserver n1 "$SL_ROOT/tests/e2e/fixtures/apiserver"
BPFFS=$(topo_node_bpffs n1)
not() { ! "$@"; }

# kubeconfig FILE SERVER [TLS-SERVER-NAME]: the topology's kubeconfig with another server.
kubeconfig() {
	sed -e "s|server: .*|server: $2|" \
		-e "${3:+s|^\(    server: .*\)|\1\n    tls-server-name: $3|}" "$TOPO_KUBECONFIG" >"$1"
}

# agent_for SECONDS KUBECONFIG: run the agent that long; its output in $out, status in $rc.
agent_for() {
	out=$(topo_in_node n1 timeout "$1" "$SLUICE" agent --node n1 --bpffs "$BPFFS" \
		--manifests "$TOPO_DIR/manifests" --kubeconfig "$2" 2>&1) && rc=0 || rc=$?
}

# ---- the certificate does not name the address: refused ---------------------------------------
kubeconfig "$TOPO_DIR/by-address" https://127.0.0.1:6443
agent_for 6 "$TOPO_DIR/by-address"
check apiserver_tls/address_fails_verification \
	"rc $rc: $(grep 'api:' <<<"$out" | head -3 | tr '\n' '|')" \
	grep -q 'api: services: list: SSL peer certificate or SSH remote key was not OK' <<<"$out"
check apiserver_tls/address_lists_nothing "$(grep 'listed' <<<"$out" | head -1)" \
	not grep -q 'api: services: listed' <<<"$out"

# ---- tls-server-name names it: the certificate is checked for that name -------------------------
kubeconfig "$TOPO_DIR/by-name" https://127.0.0.1:6443 api.sluice.test
topo_agent n1 "$TOPO_DIR/manifests" --kubeconfig "$TOPO_DIR/by-name"
check apiserver_tls/tls_server_name_lists \
	"agent log: $(grep 'api:' "${TOPO_AGENT_LOG[n1]}" | head -3 | tr '\n' '|')" \
	grep -q 'api: services: listed' "${TOPO_AGENT_LOG[n1]}"
check apiserver_tls/tls_server_name_logged "$(grep 'api: watching' "${TOPO_AGENT_LOG[n1]}")" \
	grep -q 'api: watching 6 resources at https://127.0.0.1:6443, certificate checked for api.sluice.test' "${TOPO_AGENT_LOG[n1]}"
check apiserver_tls/tls_server_name_no_errors "$(grep -E 'api: .*(SSL|certificate)' "${TOPO_AGENT_LOG[n1]}" | head -2)" \
	not grep -qE 'api: .*(SSL|certificate problem)' "${TOPO_AGENT_LOG[n1]}"
topo_agent_stop n1

# ---- http:// with a token: refused before anything is sent -------------------------------------
kubeconfig "$TOPO_DIR/http-token" http://127.0.0.1:6443
agent_for 20 "$TOPO_DIR/http-token"
want="kubeconfig $TOPO_DIR/http-token: context \"test\", cluster \"fake\": server http://127.0.0.1:6443 is plain http:// but users[agent].token is set: credentials go only over https://, a token or password would travel in cleartext"
check apiserver_tls/http_with_token_refused "rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-400)" \
	test "$rc" = 1 -a -n "$(grep -F "$want" <<<"$out")" -a -z "$(grep 'agent ready' <<<"$out")"

topo_finish
