#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make image`: the sluice OCI image, built offline with podman FROM scratch.
#
#   cni/image/build.sh BUILD_DIR IMAGE [ARCHIVE]
#
# Lays out BUILD_DIR/image/rootfs the way `make install` lays out a node (/usr/local/bin/sluice,
# /opt/cni/bin/sluice-cni, /etc/cni/net.d/10-sluice.conflist), adds every shared library the
# agent links (from ldd) and the dynamic loader, builds IMAGE from it with cni/image/Containerfile
# and, with ARCHIVE, saves it there as an OCI archive for nodes without a registry
# (`ctr -n k8s.io images import ARCHIVE`). The plugin is the static build
# (BUILD_DIR/image/sluice-cni): the install step copies it onto the host, whose libraries are
# not the image's. PODMAN_OPTS (e.g. "--root DIR --runroot DIR") picks podman's store.
set -euo pipefail

build=$1 image=$2 archive=${3:-}
src=$(cd "$(dirname "$0")/../.." && pwd)
rootfs=$build/image/rootfs
read -r -a podman_opts <<<"${PODMAN_OPTS:-}"

rm -rf "$rootfs"
install -d "$rootfs/usr/local/bin" "$rootfs/opt/cni/bin" "$rootfs/etc/cni/net.d" "$rootfs/tmp"
install -m 0755 "$build/sluice" "$rootfs/usr/local/bin/sluice"
install -m 0755 "$build/image/sluice-cni" "$rootfs/opt/cni/bin/sluice-cni"
install -m 0644 "$src/cni/10-sluice.conflist" "$rootfs/etc/cni/net.d/10-sluice.conflist"

# Every library at the path ldd resolved it to (the loader searches /lib/<triplet> by default,
# no ld.so.cache needed), and the loader itself at the path the binary names (PT_INTERP).
libs=$(ldd "$build/sluice" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[[ -n $libs ]] || { echo "image: ldd found no library for $build/sluice" >&2; exit 1; }
for lib in $libs; do
	install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done
# The plugin must need nothing from the image: it runs on the host.
if ldd "$rootfs/opt/cni/bin/sluice-cni" >/dev/null 2>&1; then
	echo "image: $build/image/sluice-cni is not static" >&2
	exit 1
fi

podman "${podman_opts[@]}" build --quiet --no-cache --network none -f "$src/cni/image/Containerfile" \
	-t "$image" "$rootfs" >/dev/null
echo "  IMAGE    $image ($(du -sh "$rootfs" | cut -f1) rootfs)"
if [[ -n $archive ]]; then
	rm -f "$archive"
	podman "${podman_opts[@]}" save --quiet --format oci-archive -o "$archive" "$image"
	echo "  SAVE     $archive"
fi
