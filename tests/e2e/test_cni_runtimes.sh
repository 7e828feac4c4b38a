#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluice-cni driven by real CNI clients, on overlay IPAM: the agent takes the node's pod CIDR
# from its Node object's spec.podCIDR, and two runtimes wire pods with a conflist that names no
# subnet:
#   - libcni, the reference client library (tests/tools/libcni-client): ADD, CHECK, DEL with
#     its result cache, VERSION/validate, then STATUS and GC (CNI 1.1) through the environment;
#   - podman (CNI backend, runc, a busybox rootfs): `podman run` of a container.
# Both pods must reach the ClusterIP service through sluice's datapath (the backend answers with
# its name), get addresses from the agent's block, and leave nothing behind.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init cni_runtimes
topo_require_all
LIBCNI_CLIENT=${LIBCNI_CLIENT:-$BUILD_DIR/tests/tools/libcni-client}
CNI_BIN_DIR=$(dirname "$SLUICE_CNI")
CLUSTER_CIDR=10.244.0.0/16
quiet() { "$@" >/dev/null 2>&1; }
PODMAN_ROOT=
PODMAN_NETNS_BEFORE=

# podman's containers and storage go with the topology, on every exit path; then the lib's
# cleanup, which reads the script's exit status from $?.
runtimes_cleanup() {
	local rc=$?
	set +e
	if [[ -n $PODMAN_ROOT && -d $PODMAN_ROOT ]]; then
		podman_cmd rm -af -t 0 >/dev/null 2>&1
		umount -R "$PODMAN_ROOT" 2>/dev/null
	fi
	(exit "$rc")
	topo_cleanup
}
trap runtimes_cleanup EXIT

# The conflist a runtime would find in /etc/cni/net.d: no ipam.subnet, the agent's block.
write_conflist() {
	local node=$1 out=$2
	jq -n --arg node "$node" --arg bpffs "$(topo_node_bpffs "$node")" \
		--arg state "$TOPO_DIR/cni/$node" --arg cluster "$CLUSTER_CIDR" \
		'{cniVersion: "1.0.0", cniVersions: ["1.0.0", "1.1.0"], name: "sluice",
		  plugins: [{type: "sluice-cni", node: $node, bpffs: $bpffs, stateDir: $state,
		             ipam: {clusterCIDR: $cluster, nodeCidrSize: 24,
		                    serviceCIDR: "10.96.0.0/12", dnsServiceIP: "10.96.0.10"},
		             dns: {nameservers: ["10.96.0.10"], search: ["svc.cluster.local"]}}]}' >"$out"
}

# ---- node, agent with overlay IPAM, one backend ----------------------------------------------
topo_node n1 pending
manifest_node n1 192.168.50.1 10.244.42.0/24 | write_file "$TOPO_DIR/manifests/node.yaml"
topo_agent n1 "$TOPO_DIR/manifests" --cluster-cidr "$CLUSTER_CIDR" --node-cidr-size 24 \
	--service-cidr 10.96.0.0/12
status=$(topo_cli n1 status -o json 2>/dev/null || true)
block=$(jq -r '.ipam.pod_cidr // empty' <<<"$status" 2>/dev/null || true)
if [[ $block != 10.244.42.0/24 ]]; then
	topo_fatal "agent published not its Node's podCIDR 10.244.42.0/24 for n1: $(tr '\n' ' ' <<<"$status" | cut -c1-300)"
fi
pass cni_runtimes/agent_pod_cidr_from_node
info "node n1 pod CIDR $block"
TOPO_NODE_SUBNET[n1]=$block # lib's own pods use the same block through ipam.subnet
check cni_runtimes/pins_root_only "modes: $(stat -c '%n %a' "$(topo_node_bpffs n1)"/{ep4,tc_pod,ipam_node2,ipam_nodes} 2>&1 | tr '\n' ' ')" \
	test "$(stat -c %a "$(topo_node_bpffs n1)"/{ep4,tc_pod,ipam_node2,ipam_nodes} | sort -u)" = 600

topo_pod n1 web-1
topo_echo web-1
write_web_manifests web-1
wait_service_backends n1 "$SL_VIP" 80 1 ||
	topo_fatal "agent did not apply service web: $(topo_log_tail "${TOPO_AGENT_LOG[n1]}")"
mkdir -p "$TOPO_DIR/net.d"
write_conflist n1 "$TOPO_DIR/net.d/10-sluice.conflist"

# ---- libcni ----------------------------------------------------------------------------------
libcni() { # OP ID NETNS-NAME
	nsenter --net="/var/run/netns/$(topo_ns_node n1)" -- timeout 40 "$LIBCNI_CLIENT" \
		-conflist "$TOPO_DIR/net.d/10-sluice.conflist" -netns "/var/run/netns/$3" -id "$2" \
		-path "$CNI_BIN_DIR" -cache "$TOPO_DIR/libcni-cache" \
		-args "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2" "$1"
}
# cni_env COMMAND [CNI_VERSION]: a CNI 1.1 call libcni (1.0) cannot make, straight by env.
cni_env() {
	local cmd=$1 version=${2:-1.1.0} extra=${3:-'{}'}
	jq --arg v "$version" --argjson extra "$extra" \
		'.plugins[0] + {cniVersion: $v, name: .name} + $extra' "$TOPO_DIR/net.d/10-sluice.conflist" |
		nsenter --net="/var/run/netns/$(topo_ns_node n1)" -- env -i CNI_COMMAND="$cmd" \
			CNI_PATH="$CNI_BIN_DIR" "$SLUICE_CNI"
}

if [[ ! -x $LIBCNI_CLIENT ]]; then
	fail cni_runtimes/libcni "$LIBCNI_CLIENT is not built (make tests with golang-go and golang-github-appc-cni-dev)"
else
	lc_ns=$(topo_ns_pod lc)
	ip netns add "$lc_ns"
	lc_id="${TOPO_PREFIX}libcni"
	check cni_runtimes/libcni_validate "$(libcni validate "$lc_id" "$lc_ns" 2>&1)" quiet libcni validate "$lc_id" "$lc_ns"
	t0=$(date +%s%N)
	if out=$(libcni add "$lc_id" "$lc_ns" 2>&1); then
		pass cni_runtimes/libcni_add
		info "libcni ADD in $((($(date +%s%N) - t0) / 1000000)) ms: $out"
	else
		fail cni_runtimes/libcni_add "$out"
	fi
	lc_ip=$(jq -r '.ips[0].address // empty' <<<"$out" 2>/dev/null | cut -d/ -f1 || true)
	check cni_runtimes/libcni_address_in_node_block "got '$lc_ip', block $block" \
		in_cidr "${lc_ip:-0.0.0.0}" "$block"
	check cni_runtimes/libcni_result_shape "$out" quiet jq -e --arg ns "/var/run/netns/$lc_ns" \
		'.cniVersion == "1.0.0" and (.interfaces | length) == 2 and .interfaces[1].sandbox == $ns
		 and .ips[0].interface == 1 and (.ips[0].gateway | length) > 0 and .routes[0].dst == "0.0.0.0/0"
		 and .dns.nameservers == ["10.96.0.10"]' <<<"$out"
	check cni_runtimes/libcni_check "$(libcni check "$lc_id" "$lc_ns" 2>&1)" quiet libcni check "$lc_id" "$lc_ns"
	TOPO_POD_IP[lc]=$lc_ip
	out=$(topo_probe lc --tcp "$SL_VIP:80" -n 5 --timeout-ms 2000 || true)
	check cni_runtimes/libcni_pod_reaches_clusterip "$(tr '\n' ' ' <<<"$out")" \
		test "$(count_from web-1 "$out")" -eq 5 -a -z "$(foreign_peers "$lc_ip" "$out")"
	n=$(ct_entries_with n1 "$lc_ip")
	check cni_runtimes/libcni_flows_in_sluice_conntrack "no ct entry mentions $lc_ip" test "$n" -gt 0

	# CNI 1.1 by environment: STATUS ready; GC keeps what is listed and removes the rest.
	check cni_runtimes/status_ready "$(cni_env STATUS 2>&1)" quiet cni_env STATUS
	attachments=$(jq -n --arg a "$lc_id" --arg b "${TOPO_PREFIX}web-1" \
		'{"cni.dev/valid-attachments": [{containerID: $a, ifname: "eth0"}, {containerID: $b, ifname: "eth0"}]}')
	out=$(cni_env GC 1.1.0 "$attachments" 2>&1) && rc=0 || rc=$?
	check cni_runtimes/gc_keeps_valid "rc $rc: $out" test "$rc" = 0 -a -z "$out"
	out=$(libcni check "$lc_id" "$lc_ns" 2>&1) && rc=0 || rc=$?
	check cni_runtimes/libcni_check_after_gc "rc $rc: $out" test "$rc" = 0

	if out=$(libcni del "$lc_id" "$lc_ns" 2>&1); then pass cni_runtimes/libcni_del; else fail cni_runtimes/libcni_del "$out"; fi
	check cni_runtimes/libcni_del_released "address file of $lc_ip left" test ! -e "$TOPO_DIR/cni/n1/sluice/$lc_ip"
	check cni_runtimes/libcni_del_removed_veth "$(ip -n "$(topo_ns_node n1)" -o link | grep -c "link-netns $lc_ns" || true) veths left" \
		test -z "$(ip -n "$(topo_ns_node n1)" -o link | grep "link-netns $lc_ns" || true)"
	out=$(libcni del "$lc_id" "$lc_ns" 2>&1) && rc=0 || rc=$?
	check cni_runtimes/libcni_repeated_del "rc $rc: $out" test "$rc" = 0
	unset "TOPO_POD_IP[lc]"
fi

# ---- podman ----------------------------------------------------------------------------------
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
	fail cni_runtimes/podman "podman or runc is not installed (make deps)"
	topo_finish
fi
PODMAN_ROOT="$TOPO_DIR/podman"
mkdir -p "$PODMAN_ROOT"/{root,runroot,net.d,rootfs/bin,rootfs/etc,rootfs/proc,rootfs/sys,rootfs/dev,tmp}
cp "$(command -v busybox)" "$PODMAN_ROOT/rootfs/bin/busybox"
cp "$TOPO_DIR/net.d/10-sluice.conflist" "$PODMAN_ROOT/net.d/"
cat >"$PODMAN_ROOT/containers.conf" <<EOF
[network]
network_backend = "cni"
cni_plugin_dirs = ["$CNI_BIN_DIR"]
network_config_dir = "$PODMAN_ROOT/net.d"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "$PODMAN_ROOT/tmp"
EOF
podman_cmd() {
	CONTAINERS_CONF="$PODMAN_ROOT/containers.conf" TMPDIR="$PODMAN_ROOT/tmp" \
		nsenter --net="/var/run/netns/$(topo_ns_node n1)" -- timeout 60 podman \
		--root "$PODMAN_ROOT/root" --runroot "$PODMAN_ROOT/runroot" \
		--runtime runc --cgroup-manager cgroupfs "$@"
}
# podman's own namespaces (netns-<id>); other tests' namespaces come and go meanwhile.
podman_netns() { ip netns list | awk '$1 !~ /^sl/ {print $1}' | sort; }
PODMAN_NETNS_BEFORE=$(podman_netns)
t0=$(date +%s%N)
out=$(podman_cmd run --rm --name "${TOPO_PREFIX}pm" --network sluice \
	--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
	--rootfs "$PODMAN_ROOT/rootfs" /bin/busybox sh -c \
	"/bin/busybox ip -4 -o addr show dev eth0; /bin/busybox nc -w 3 $SL_VIP 80 </dev/null" 2>&1) && rc=0 || rc=$?
info "podman run in $((($(date +%s%N) - t0) / 1000000)) ms (rc $rc): $(tr '\n' '|' <<<"$out" | cut -c1-400)"
pm_ip=$(sed -n 's/.* inet \([0-9.]*\)\/32 .*/\1/p' <<<"$out" | head -1)
check cni_runtimes/podman_run "rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-400)" test "$rc" = 0
check cni_runtimes/podman_address_in_node_block "got '$pm_ip' (block $block)" in_cidr "${pm_ip:-0.0.0.0}" "$block"
check cni_runtimes/podman_pod_reaches_clusterip "$(tr '\n' '|' <<<"$out" | cut -c1-300)" \
	grep -q "^web-1 $pm_ip:" <<<"$out"
# podman ran DEL when the container went: no address, veth or netns of it is left.
check cni_runtimes/podman_del_released "IPAM files: $(ls "$TOPO_DIR/cni/n1/sluice" | tr '\n' ' ')" \
	test -n "$pm_ip" -a ! -e "$TOPO_DIR/cni/n1/sluice/$pm_ip"
check cni_runtimes/podman_netns_removed "new netns: $(comm -13 <(echo "$PODMAN_NETNS_BEFORE") <(podman_netns) | tr '\n' ' ')" \
	test -z "$(comm -13 <(echo "$PODMAN_NETNS_BEFORE") <(podman_netns))"
veths=$(ip -n "$(topo_ns_node n1)" -o link show | grep -c ' sl[0-9a-f]\{12\}@' || true)
check cni_runtimes/only_backend_veth_left "$veths host veths in n1, want 1 (web-1)" test "$veths" = 1

topo_finish
