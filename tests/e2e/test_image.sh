#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The deployable agent: `make image` builds the OCI image offline (podman, FROM scratch), its
# archive loads into another store as a node's runtime would, and the image run the way
# cni/sluice-daemonset.yaml runs it serves a node. Read from the DaemonSet itself, so the two
# cannot drift: the install step's command (sluice-cni install into host directories, without
# a capability) and the agent's capabilities, seccomp, read-only root and mounts (host bpffs,
# the host's cgroup2 at its --cgroup-root), never --privileged. The agent in its container,
# inside a node namespace, answers /healthz on the node's address and `sluice status` (the
# readiness probe); pods wired by the plugin the install step put on the "host" reach a
# ClusterIP through it, and so does the node's own socket (cgroup hooks). Each listed
# capability is needed: the agent without any one of them does not start.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

DAEMONSET="$SL_ROOT/cni/sluice-daemonset.yaml"
IMAGE=localhost/sluice:e2e
STORE=
NODE_STORE=

topo_init image
topo_require "$SLUICE" "$SL_TOOLS/sl_echo" "$SL_TOOLS/sl_probe"
for tool in podman runc python3; do
	command -v "$tool" >/dev/null || topo_fatal "$tool is not installed (make deps)"
done

# The containers go before the lib's cleanup (which reads the script's status from $?).
image_cleanup() {
	local rc=$? store
	set +e
	for store in "$NODE_STORE" "$STORE"; do
		[[ -n $store && -d $store ]] || continue
		pm "$store" rm -af -t 0 >/dev/null 2>&1
		umount -R "$store" 2>/dev/null
	done
	(exit "$rc")
	topo_cleanup
}
trap image_cleanup EXIT

# pm STORE ARGS...: podman on a store of this run (vfs: plain copies, nothing stays mounted).
pm() {
	local store=$1
	shift
	TMPDIR="$store/tmp" timeout 120 podman --root "$store/root" --runroot "$store/run" \
		--storage-driver vfs --runtime runc --cgroup-manager cgroupfs --events-backend none "$@"
}

# podman cannot raise the limits of this machine's processes: lower them (NOTES.md).
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

# The DaemonSet document of cni/sluice-daemonset.yaml, read once into shell arrays DS_<key>
# (one item per element), so this test runs the image exactly as the DaemonSet says.
daemonset_read() {
	python3 - "$DAEMONSET" <<'PY'
import shlex, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "DaemonSet"]
spec = docs[0]["spec"]["template"]["spec"]
init, agent = spec["initContainers"][0], spec["containers"][0]
sc = agent.get("securityContext", {})
mounts = {m["name"]: m for m in agent.get("volumeMounts", [])}
vols = {v["name"]: v for v in spec["volumes"]}
values = {
    "init_command": init["command"],
    "init_caps_add": init.get("securityContext", {}).get("capabilities", {}).get("add", []),
    "init_mounts": ["%s=%s" % (vols[m["name"]]["hostPath"]["path"], m["mountPath"])
                    for m in init["volumeMounts"]],
    "caps_add": sc.get("capabilities", {}).get("add", []),
    "caps_drop": sc.get("capabilities", {}).get("drop", []),
    "privileged": [str(sc.get("privileged", False)).lower()],
    "seccomp": [sc.get("seccompProfile", {}).get("type", "RuntimeDefault")],
    "read_only": [str(sc.get("readOnlyRootFilesystem", False)).lower()],
    "no_new_privs": [str(not sc.get("allowPrivilegeEscalation", True)).lower()],
    "bpffs_mount": [mounts["bpffs"]["mountPath"]],
    "bpffs_propagation": [mounts["bpffs"].get("mountPropagation", "None")],
    "cgroup_mount": [mounts["cgroup2"]["mountPath"]],
    "cgroup_root": [a.split("=", 1)[1] for a in agent["command"] if a.startswith("--cgroup-root=")],
    "host_network": [str(spec.get("hostNetwork", False)).lower()],
}
for key, value in values.items():
    print("DS_%s=(%s)" % (key, " ".join(shlex.quote(str(v)) for v in value)))
PY
}
ds_out=$(daemonset_read) || topo_fatal "cannot read the DaemonSet from $DAEMONSET"
eval "$ds_out"

# Where the time goes, for a slow run: one line per phase.
phase() { info "at ${SECONDS} s: $*"; }

# ---- 1. make image, into a store of this run; its archive into a second one ---------------------
STORE="$TOPO_DIR/store-build"
NODE_STORE="$TOPO_DIR/store-node"
mkdir -p "$STORE/tmp" "$NODE_STORE/tmp"
t0=$(date +%s%N)
out=$(make -C "$SL_ROOT" -s image BUILD="$BUILD_DIR" IMAGE="$IMAGE" IMAGE_ARCHIVE="$TOPO_DIR/sluice.tar" \
	PODMAN_OPTS="--root $STORE/root --runroot $STORE/run --storage-driver vfs --events-backend none" 2>&1) &&
	rc=0 || rc=$?
build_ms=$((($(date +%s%N) - t0) / 1000000))
info "make image: ${build_ms} ms (rc $rc): $(tr '\n' '|' <<<"$out" | cut -c1-300)"
check image/make_image "rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-400)" test "$rc" = 0 -a -s "$TOPO_DIR/sluice.tar"
((rc == 0)) || topo_finish
phase "image built"
out=$(pm "$NODE_STORE" load -q -i "$TOPO_DIR/sluice.tar" 2>&1) && rc=0 || rc=$?
check image/archive_loads "podman load: rc $rc: $out" test "$rc" = 0
layers=$(pm "$NODE_STORE" image inspect --format '{{len .RootFS.Layers}}' "$IMAGE" 2>&1 || true)
check image/from_scratch_one_layer "layers: $layers" test "$layers" = 1
# No shell in the image: nothing in it runs but sluice and sluice-cni.
out=$(pm "$NODE_STORE" run --rm --network none "${ULIMITS[@]}" --entrypoint /bin/sh \
	"$IMAGE" -c true 2>&1) && rc=0 || rc=$?
check image/no_shell "/bin/sh: rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-200)" \
	eval '[[ $rc != 0 && $out == *"/bin/sh"*"no such file"* ]]'

# run_image NAME ARGS...: podman run -d in the node store; the rest as podman run takes it.
run_image() {
	local name=$1
	shift
	pm "$NODE_STORE" run -d --name "${TOPO_PREFIX}$name" "${ULIMITS[@]}" \
		--log-driver k8s-file --log-opt "path=$TOPO_DIR/$name.log" "$@"
}

phase "image loaded and checked"

# ---- 2. the install step, as the DaemonSet's init container runs it -------------------------------
check image/daemonset_not_privileged "privileged: ${DS_privileged[*]}" test "${DS_privileged[*]}" = false
check image/daemonset_host_network "hostNetwork: ${DS_host_network[*]}" test "${DS_host_network[*]}" = true
host="$TOPO_DIR/host"
vols=()
while IFS='=' read -r host_path mount_path; do
	mkdir -p "$host$host_path"
	vols+=(-v "$host$host_path:$mount_path")
done < <(printf '%s\n' "${DS_init_mounts[@]}")
caps=()
for cap in "${DS_init_caps_add[@]}"; do caps+=(--cap-add "CAP_$cap"); done
out=$(pm "$NODE_STORE" run --rm --network none "${ULIMITS[@]}" --cap-drop all \
	"${caps[@]}" --read-only "${vols[@]}" --entrypoint "${DS_init_command[0]}" "$IMAGE" \
	"${DS_init_command[@]:1}" 2>&1) && rc=0 || rc=$?
info "install step: $(tr '\n' '|' <<<"$out")"
plugin="$host/opt/cni/bin/sluice-cni"
check image/install_step_ran "rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-300)" test "$rc" = 0
check image/install_plugin_on_host "$plugin: $(stat -c '%a %s' "$plugin" 2>&1)" \
	test "$(stat -c %a "$plugin" 2>/dev/null)" = 755
check image/install_plugin_is_the_image_one "differs from $BUILD_DIR/image/sluice-cni" \
	cmp -s "$plugin" "$BUILD_DIR/image/sluice-cni"
check image/install_conflist_on_host "$(ls -la "$host/etc/cni/net.d" 2>&1 | tr '\n' '|')" \
	cmp -s "$host/etc/cni/net.d/10-sluice.conflist" "$SL_ROOT/cni/10-sluice.conflist"
left=$(find "$host" -name '*.tmp' | tr '\n' ' ')
check image/install_no_temporary_left "left: $left" test -z "$left"
out=$(echo '{}' | CNI_COMMAND=VERSION "$plugin" 2>&1 || true)
check image/installed_plugin_runs_on_host "VERSION: $out" \
	eval 'jq -e ".supportedVersions | index(\"1.1.0\")" <<<"$out" >/dev/null'
# A conflist the plugin would refuse installs nothing: a broken one stops every pod of a node.
mkdir -p "$TOPO_DIR/bad/bin" "$TOPO_DIR/bad/conf"
jq '.plugins[0].ipam.clusterCIDR = "10.244.0.1/16"' "$SL_ROOT/cni/10-sluice.conflist" >"$TOPO_DIR/bad.conflist"
out=$("$plugin" install --bin-dir "$TOPO_DIR/bad/bin" --conf-dir "$TOPO_DIR/bad/conf" \
	--conflist "$TOPO_DIR/bad.conflist" 2>&1) && rc=0 || rc=$?
left=$(find "$TOPO_DIR/bad" -mindepth 2 | tr '\n' ' ')
check image/install_refuses_bad_conflist "rc $rc, out '$out', left: $left" test "$rc" != 0 -a -z "$left"

phase "install step checked"

# ---- 3. the agent, with exactly the DaemonSet's capabilities and mounts ---------------------------
node_ip=198.51.100.1
topo_node n1 10.244.1.0/24
topo_in_node n1 ip addr add "$node_ip/24" dev lo
topo_cgroup
check image/daemonset_drops_all "drop: ${DS_caps_drop[*]}" test "${DS_caps_drop[*]}" = ALL
check image/daemonset_cgroup_root_is_its_mount "--cgroup-root ${DS_cgroup_root[*]}, mount ${DS_cgroup_mount[*]}" \
	test -n "${DS_cgroup_root[*]}" -a "${DS_cgroup_root[*]}" = "${DS_cgroup_mount[*]}"
security=()
[[ ${DS_seccomp[*]} == Unconfined ]] && security+=(--security-opt seccomp=unconfined)
[[ ${DS_read_only[*]} == true ]] && security+=(--read-only)
[[ ${DS_no_new_privs[*]} == true ]] && security+=(--security-opt no-new-privileges)
propagation=
[[ ${DS_bpffs_propagation[*]} == HostToContainer ]] && propagation=:rslave

# agent_container NAME NODE CAPS...: the agent in NODE's namespace with only CAPS (CAP_ names).
agent_container() {
	local name=$1 node=$2 cap
	shift 2
	local caps=()
	for cap in "$@"; do caps+=(--cap-add "$cap"); done
	run_image "$name" --network "ns:/var/run/netns/$(topo_ns_node "$node")" --cap-drop all \
		"${caps[@]}" "${security[@]}" -v "/sys/fs/bpf:${DS_bpffs_mount[0]}$propagation" \
		-v "$TOPO_CGROUP:${DS_cgroup_mount[0]}" -v "$TOPO_DIR/manifests:/manifests:ro" \
		"$IMAGE" agent --node "$node" --manifests /manifests --bpffs "$(topo_node_bpffs "$node")" \
		--pod-cidr "${TOPO_NODE_SUBNET[$node]}" --host-lb true --cgroup-root "${DS_cgroup_root[0]}"
}

# wait_agent NAME: until the container's log says "agent ready" (0), it exited (1), or 60 s (2).
# The log is a file (k8s-file driver, $TOPO_DIR/NAME.log): reading it costs no podman call.
wait_agent() {
	local deadline=$((SECONDS + 60)) log="$TOPO_DIR/$1.log" state
	while ((SECONDS < deadline)); do
		grep -q 'agent ready' "$log" 2>/dev/null && return 0
		if grep -q 'sluice error' "$log" 2>/dev/null; then
			state=$(pm "$NODE_STORE" inspect --format '{{.State.Status}}' "${TOPO_PREFIX}$1" 2>/dev/null || true)
			[[ $state == exited ]] && return 1
		fi
		sleep 0.2
	done
	return 2
}

# The agent with the DaemonSet's capabilities on n1 and, at the same time, one without each of
# them on a node of its own (n2...): each capability is needed, it exits before it is ready.
caps=()
for cap in "${DS_caps_add[@]}"; do caps+=("CAP_$cap"); done
t0=$(date +%s%N)
agent_container agent n1 "${caps[@]}" >/dev/null
i=2
for cap in "${DS_caps_add[@]}"; do
	fewer=()
	for other in "${DS_caps_add[@]}"; do [[ $other == "$cap" ]] || fewer+=("CAP_$other"); done
	topo_node "n$i" "10.244.$i.0/24"
	agent_container "no-$cap" "n$i" "${fewer[@]}" >/dev/null
	i=$((i + 1))
done
if ! wait_agent agent; then
	topo_fatal "the agent container was not ready within 60 s: $(topo_log_tail "$TOPO_DIR/agent.log")"
fi
info "agent container ready in $((($(date +%s%N) - t0) / 1000000)) ms with ${caps[*]}"
pass image/agent_ready_with_daemonset_caps
for cap in "${DS_caps_add[@]}"; do
	wait_agent "no-$cap" && rc=0 || rc=$?
	why=$(grep -m1 'sluice error' "$TOPO_DIR/no-$cap.log" | sed 's/^.* sluice error/sluice error/' || true)
	info "without $cap: ${why:-no error}"
	check "image/cap_${cap}_needed" "without CAP_$cap the agent did not exit (wait: $rc, 0 ready, 2 still running)" \
		test "$rc" = 1
	pm "$NODE_STORE" rm -f -t 0 "${TOPO_PREFIX}no-$cap" >/dev/null 2>&1 || true
done

code=$(topo_in_node n1 curl -sS -m 3 -o /dev/null -w '%{http_code}' "http://$node_ip:10256/healthz" 2>&1 || true)
check image/healthz_200_on_node_address "GET /healthz on $node_ip: $code" test "$code" = 200
out=$(pm "$NODE_STORE" exec "${TOPO_PREFIX}agent" /usr/local/bin/sluice --bpffs "$(topo_node_bpffs n1)" status 2>&1) &&
	rc=0 || rc=$?
check image/readiness_probe_status "sluice status in the container: rc $rc: $(tr '\n' '|' <<<"$out" | cut -c1-300)" test "$rc" = 0

phase "agents checked"

# ---- 4. pods through the installed plugin, a Service through the agent in the image ----------------
SLUICE_CNI=$plugin
topo_pod n1 client
topo_pod n1 web-1
topo_pod n1 web-2
topo_echo web-1
topo_echo web-2
write_web_manifests web-1 web-2
phase "pods made"
check image/service_applied "the agent in the image did not apply web's 2 backends" \
	wait_service_backends n1 "$SL_VIP" 80 2
out=$(topo_probe client --tcp "$SL_VIP:80" -n 20 --timeout-ms 2000 || true)
web1=$(count_from web-1 "$out")
web2=$(count_from web-2 "$out")
check image/pod_reaches_clusterip "tally $(tally "$out")" test "$((web1 + web2))" = 20 -a "$web1" -gt 0 -a "$web2" -gt 0
out=$(topo_in_cgroup n1 "$SL_TOOLS/sl_probe" --tcp "$SL_VIP:80" -n 10 --timeout-ms 2000 || true)
check image/node_socket_reaches_clusterip "tally $(tally "$out")" \
	test "$(($(count_from web-1 "$out") + $(count_from web-2 "$out")))" = 10

info "make image took ${build_ms} ms; the whole test ${SECONDS} s"
topo_finish
