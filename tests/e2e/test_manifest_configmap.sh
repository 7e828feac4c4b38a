#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A manifest directory mounted from a ConfigMap: kubelet's atomic writer keeps the keys in a
# timestamped directory behind the "..data" symlink, the visible names are symlinks into ..data,
# and an update swaps ..data by rename without touching them. The agent applies every update,
# and the keys a new version adds or drops.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

topo_init manifest_configmap
topo_standard
dir=$TOPO_DIR/manifests
stage=$TOPO_DIR/tmp/configmap
generation=0
mkdir -p "$stage"

# link_atomically TARGET NAME: NAME in the manifest directory becomes a symlink to TARGET in one
# rename, as kubelet creates it, so the agent never sees the name missing.
link_atomically() {
	ln -s "$1" "$dir/.$2.tmp"
	mv -T "$dir/.$2.tmp" "$dir/$2"
}

# configmap_publish: what kubelet does when the ConfigMap changes to the files in $stage: their
# contents in a new "..<timestamp>" directory, ..data renamed onto it, a symlink for each new
# key, the symlinks of dropped keys unlinked, the old directory removed.
configmap_publish() {
	local old new path name
	old=$(readlink "$dir/..data" 2>/dev/null || true)
	generation=$((generation + 1))
	new="..2026_12_03_00_00_0$generation.$$"
	mkdir "$dir/$new"
	cp "$stage"/*.yaml "$dir/$new/"
	ln -s "$new" "$dir/..data_tmp"
	mv -T "$dir/..data_tmp" "$dir/..data"
	for path in "$stage"/*.yaml; do
		name=${path##*/}
		[[ -L $dir/$name ]] || link_atomically "..data/$name" "$name"
	done
	for path in "$dir"/*.yaml; do
		name=${path##*/}
		[[ -e $stage/$name ]] || rm -f "$dir/$name"
	done
	if [[ -n $old ]]; then rm -rf "${dir:?}/$old"; fi
}

# stage_web PORT POD...: web's Service (one TCP port PORT -> 8080) and EndpointSlice, staged.
stage_web() {
	local port=$1
	shift
	rm -f "$stage"/*.yaml
	manifest_service web "$SL_VIP" "$port:8080/TCP" >"$stage/web-service.yaml"
	manifest_slice web "$port:8080/TCP" "$@" >"$stage/web-slice.yaml"
}

serves() {
	local port=$1 out
	out=$(topo_probe client --tcp "$SL_VIP:$port" -n 20 || true)
	[[ $(count_errors "$out") == 0 && $(count_from web-1 "$out") -gt 0 && $(count_from web-2 "$out") -gt 0 ]]
}

# 1. The plain files become a ConfigMap volume's layout, port 80 as before.
stage_web 80 web-1 web-2
configmap_publish
check configmap/first_version_served "port 80 with 2 backends" \
	wait_service_backends n1 "$SL_VIP" 80 2
check configmap/first_version_traffic "port 80 reaches web-1 and web-2" serves 80

# 2. An update: only ..data moves; web-service.yaml and web-slice.yaml stay the same symlinks.
stage_web 81 web-1 web-2
configmap_publish
check configmap/update_applied "port 81 with 2 backends after ..data moved" \
	wait_service_backends n1 "$SL_VIP" 81 2
check configmap/update_old_port_gone "port 80 withdrawn" wait_service_backends n1 "$SL_VIP" 80 -1
check configmap/update_traffic "port 81 reaches web-1 and web-2" serves 81

# 3. A version without the EndpointSlice's key: its symlink goes, the Service keeps no backends.
rm -f "$stage/web-slice.yaml"
configmap_publish
check configmap/key_dropped "port 81 with 0 backends" wait_service_backends n1 "$SL_VIP" 81 0

# 4. The key back, in another update: both backends again.
stage_web 81 web-1 web-2
configmap_publish
check configmap/key_added "port 81 with 2 backends" wait_service_backends n1 "$SL_VIP" 81 2

topo_finish
