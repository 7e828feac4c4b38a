#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make deps`: install every Debian package sluice needs to build, test and demo, and mount bpffs.
# Idempotent: when everything is installed it only asks dpkg, so a second run is fast and needs
# no network. apt-get update runs only when something is missing.
set -euo pipefail

PACKAGES=(
	# build: BPF objects, skeletons, userspace
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc
	libyaml-dev libjson-c-dev libnl-3-dev libnl-route-3-dev libcurl4-openssl-dev
	# ASan/UBSan runtime for clang builds of the sanitizer variant
	libclang-rt-14-dev
	# tests: cmocka unit tests, JSON assertions, formatting check
	libcmocka-dev jq clang-format
	# the fake API server (python3 + PyYAML for its fixtures), its certificate, kubectl
	python3 python3-yaml openssl
	# topology: netns, veth, nsenter, timeout, pkill-free process handling
	iproute2 util-linux coreutils procps iputils-ping
	# comparisons and benchmarks (kube-proxy modes, throughput), pod root filesystems
	iptables nftables iperf3 busybox-static conntrack
	# real CNI clients for the plugin's tests: podman (CNI backend, runc) and libcni (Go)
	podman runc containernetworking-plugins golang-go golang-github-appc-cni-dev ethtool
	# metrics: promtool checks the agent's page, a real Prometheus server scrapes it (in a
	# test's namespace; no service of the package is started here: no init system runs it)
	prometheus
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[[ "$status" == installed ]] || missing+=("$pkg")
done

# kubectl checks the fake API server; the machine image brings one, else Debian's package.
if ! command -v kubectl >/dev/null 2>&1; then
	status=$(dpkg-query -W -f='${db:Status-Status}' kubernetes-client 2>/dev/null || true)
	[[ "$status" == installed ]] || missing+=(kubernetes-client)
fi

# The manifests' schema check (tests/e2e/test_manifests.sh) runs on node; the machine image may
# bring node and npm, else Debian's packages.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]} > 0)); then
	echo "deps: installing ${missing[*]}"
	SUDO=
	if [[ $(id -u) -ne 0 ]]; then
		SUDO=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubernetes-models (validators generated from Kubernetes' OpenAPI schemas) from the npm registry,
# at the versions of tests/manifests/package-lock.json; again only when the lockfile changed.
manifests=$(cd "$(dirname "$0")/manifests" && pwd)
if [[ ! -d $manifests/node_modules/kubernetes-models ||
	$manifests/package-lock.json -nt $manifests/node_modules/.package-lock.json ]]; then
	echo "deps: npm ci in $manifests"
	(cd "$manifests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# bpffs is not mounted on a fresh machine (NOTES.md); agents and tests pin under it.
if ! mountpoint -q /sys/fs/bpf 2>/dev/null || [[ $(stat -f -c %T /sys/fs/bpf) != bpf_fs ]]; then
	if [[ $(id -u) -eq 0 ]]; then
		mkdir -p /sys/fs/bpf
		mount -t bpf bpf /sys/fs/bpf
	else
		echo "deps: warning: bpffs is not mounted at /sys/fs/bpf and we are not root" >&2
	fi
fi
