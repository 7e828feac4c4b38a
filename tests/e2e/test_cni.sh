#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# sluice-cni end to end: real netns, veth, bpffs pins. A node is a namespace; pods are wired into
# it by the plugin. Prints PASS/FAIL per check and exits non-zero when anything failed.
set -u

cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
CNI=${CNI:-$BUILD/sluice-cni}
P=slcni-$$
NODE=$P-node
PODA=$P-a
PODB=$P-b
PODC=$P-c
BPFFS=/sys/fs/bpf/$P
FULL=/sys/fs/bpf/$P-full # pins whose ep4 is full: ADD fails late and must roll back
TMP=
AGENT_PID=
SUBNET=10.244.7.0/24
GW=10.244.7.1
passed=0
failed=0

pass() {
	echo "PASS $1"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}
check() { # name why command...
	local name=$1 why=$2
	shift 2
	if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name" "$why"; fi
}

cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	for ns in "$NODE" "$PODA" "$PODB" "$PODC"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$BPFFS" "$FULL"
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
	echo "SKIP cni e2e: needs root"
	exit 0
fi
if [ ! -x "$CNI" ]; then
	echo "FAIL cni e2e: $CNI not built"
	exit 1
fi
TMP=$(mktemp -d "/tmp/$P.XXXXXX") || exit 1
STATE=$TMP/state

for ns in "$NODE" "$PODA" "$PODB" "$PODC"; do
	ip netns add "$ns" || exit 1
done
ip -n "$NODE" link set lo up

if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	mount -t bpf bpf /sys/fs/bpf || exit 1
fi

# A tc program that passes everything, pinned with an ep4 map of the real layout: the pins of
# the "full ep4" case below, whose map no agent would leave full.
make_stub_pins() { # dir max_entries
	mkdir -p "$1" &&
		bpftool prog load "$TMP/stub.bpf.o" "$1/tc_pod" type classifier &&
		bpftool prog load "$TMP/stub.bpf.o" "$1/tc_to_pod" type classifier &&
		bpftool map create "$1/ep4" type hash key 4 value 84 entries "$2" name ep4 flags 1
}
cat >"$TMP/stub.bpf.c" <<'STUB'
#include <linux/bpf.h>
__attribute__((section("tc"), used)) int tc_pod(struct __sk_buff *skb) { return 0; }
char _license[] __attribute__((section("license"), used)) = "GPL";
STUB
clang -O2 -target bpf -I"/usr/include/$(uname -m)-linux-gnu" -c "$TMP/stub.bpf.c" \
	-o "$TMP/stub.bpf.o" || exit 1

# The pods' pins come from the real agent: the plugin is tested against the tc_pod program and
# ep4 map it runs with, never a stand-in. nsenter, not ip netns exec: the latter remounts /sys,
# which hides pins under /sys/fs/bpf from the plugin. The agent loads and verifies its programs
# before it pins: 0.4-1.3 s measured on 2 cores at load average 27-50 (the longest inside the
# whole suite), so PIN_WAIT (seconds) is a wide margin: an agent not pinned by then is broken.
PIN_WAIT=${PIN_WAIT:-30}
if [ ! -x "$BUILD/sluice" ]; then
	echo "FAIL cni e2e: $BUILD/sluice not built (run make tests)"
	exit 1
fi
# Its pod CIDR from --pod-cidr (no API, no Node object): the one the config's ipam.subnet names.
nsenter --net="/var/run/netns/$NODE" "$BUILD/sluice" agent --node "$NODE" \
	--bpffs "$BPFFS" --pod-cidr "$SUBNET" >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
t0=$(date +%s%N)
deadline=$((SECONDS + PIN_WAIT))
until [ -e "$BPFFS/tc_pod" ] && [ -e "$BPFFS/ep4" ]; do
	if ! kill -0 "$AGENT_PID" 2>/dev/null; then
		echo "FAIL cni e2e: the agent exited before pinning tc_pod and ep4 in $BPFFS:"
		sed 's/^/#   /' "$TMP/agent.log"
		exit 1
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "FAIL cni e2e: the agent pinned no tc_pod and ep4 in $BPFFS within ${PIN_WAIT} s:"
		sed 's/^/#   /' "$TMP/agent.log"
		exit 1
	fi
	sleep 0.1
done
echo "# agent pinned tc_pod and ep4 in $((($(date +%s%N) - t0) / 1000000)) ms"
make_stub_pins "$FULL" 1 || exit 1
bpftool map update pinned "$FULL/ep4" key 0 0 0 0 value $(printf '0 %.0s' $(seq 84)) || exit 1

conf() { # [bpffs] [cniVersion]
	printf '{"cniVersion":"%s","name":"e2e-net","type":"sluice-cni","node":"%s","bpffs":"%s",' \
		"${2:-1.1.0}" "$NODE" "${1:-$BPFFS}"
	printf '"stateDir":"%s","mtu":1400,"ipam":{"subnet":"%s"},' "$STATE" "$SUBNET"
	printf '"dns":{"nameservers":["10.96.0.10"],"search":["default.svc.cluster.local"]}}\n'
}

# cni COMMAND CONTAINERID NETNS-NAME-or-empty [config] [CNI_ARGS]; output in $out, code in $rc
cni() {
	local netns=()
	[ -n "$3" ] && netns=("CNI_NETNS=/var/run/netns/$3")
	out=$(printf '%s' "${4:-$(conf)}" | nsenter --net="/var/run/netns/$NODE" env -i \
		PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_IFNAME=eth0 "${netns[@]}" \
		CNI_ARGS="${5:-IgnoreUnknown=1}" CNI_PATH=/opt/cni/bin "$CNI" 2>"$TMP/stderr")
	rc=$?
}

json() { # python expression over j (the parsed $out)
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$out" "$1"
}
error_code() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("code"))' "$out" 2>/dev/null; }
host_veth() { # host-side veth whose peer lives in netns $1
	ip -n "$NODE" -o link show | grep -E "link-netns $1( |\$)" |
		sed -n 's/^[0-9]*: \(sl[0-9a-f]*\)@.*/\1/p'
}
not() { ! "$@"; }
ep4_has() { bpftool map lookup pinned "$1" key $(echo "$2" | tr . ' ') >/dev/null 2>&1; }
ep4_json() { bpftool -j map lookup pinned "$BPFFS/ep4" key $(echo "$1" | tr . ' ') 2>/dev/null; }

# ---- ADD two pods ---------------------------------------------------------------------------
cni ADD ctr-a-0123456789 "$PODA" "" "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a"
add_a=$out
check "add pod a" "rc $rc: $out $(cat "$TMP/stderr")" test "$rc" = 0
IPA=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$out" 2>/dev/null)
check "add result shape" "$out" json "j['cniVersion']=='1.1.0' and j['ips'][0]['address'].endswith('/32') and j['ips'][0]['gateway']=='$GW' and j['ips'][0]['interface']==1 and j['interfaces'][1]['name']=='eth0' and j['interfaces'][1]['sandbox']=='/var/run/netns/$PODA' and j['interfaces'][0]['name'].startswith('sl') and len(j['interfaces'][0]['name'])==14 and j['routes']==[{'dst':'0.0.0.0/0','gw':'$GW'}] and j['dns']['nameservers']==['10.96.0.10'] and 'version' not in j['ips'][0]"
cni ADD ctr-b-0123456789 "$PODB" "$(conf "$BPFFS" 0.4.0)"
check "add pod b (cniVersion 0.4.0)" "rc $rc: $out" test "$rc" = 0
IPB=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ips"][0]["address"].split("/")[0])' "$out" 2>/dev/null)
check "0.4.0 result carries ip version" "$out" json "j['cniVersion']=='0.4.0' and j['ips'][0]['version']=='4'"
check "distinct addresses" "a=$IPA b=$IPB" test -n "$IPA" -a -n "$IPB" -a "$IPA" != "$IPB"
VETHA=$(host_veth "$PODA")
VETHB=$(host_veth "$PODB")

# ---- wiring -----------------------------------------------------------------------------------
check "pod a address /32" "$(ip -n "$PODA" -4 -o addr show dev eth0)" \
	grep -q "inet $IPA/32" <(ip -n "$PODA" -4 -o addr show dev eth0)
check "pod a mtu from config" "$(ip -n "$PODA" link show eth0)" grep -q "mtu 1400" <(ip -n "$PODA" link show eth0)
check "pod a lo up" "lo down" grep -q "UP" <(ip -n "$PODA" link show lo)
check "pod a gateway route" "$(ip -n "$PODA" route)" grep -q "^$GW dev eth0 .*scope link" <(ip -n "$PODA" route)
check "pod a default route" "$(ip -n "$PODA" route)" grep -q "^default via $GW dev eth0 .*onlink" <(ip -n "$PODA" route)
check "node route to pod a" "$(ip -n "$NODE" route)" grep -q "^$IPA dev $VETHA .*scope link" <(ip -n "$NODE" route)
check "node holds gateway" "$(ip -n "$NODE" -4 -o addr)" grep -q "inet $GW/32" <(ip -n "$NODE" -4 -o addr)
check "node ip_forward" "not 1" test "$(ip netns exec "$NODE" cat /proc/sys/net/ipv4/ip_forward)" = 1
check "host veth rp_filter 0" "not 0" test "$(ip netns exec "$NODE" cat "/proc/sys/net/ipv4/conf/$VETHA/rp_filter")" = 0
check "ipam file 0600" "$(ls -l "$STATE/e2e-net" 2>&1)" test "$(stat -c %a "$STATE/e2e-net/$IPA")" = 600
check "ipam dir 0700" "$(stat -c %a "$STATE/e2e-net")" test "$(stat -c %a "$STATE/e2e-net")" = 700
check "tc filter on host veth" "$(tc -n "$NODE" filter show dev "$VETHA" ingress)" \
	grep -q "tc_pod" <(tc -n "$NODE" filter show dev "$VETHA" ingress)
check "tc egress filter on host veth" "$(tc -n "$NODE" filter show dev "$VETHA" egress)" \
	grep -q "tc_to_pod" <(tc -n "$NODE" filter show dev "$VETHA" egress)
check "ep4 entry pod a" "missing" ep4_has "$BPFFS/ep4" "$IPA"
check "ep4 entry pod b" "missing" ep4_has "$BPFFS/ep4" "$IPB"
ifindex_a=$(ip -n "$NODE" -o link show "$VETHA" | cut -d: -f1)
out=$(ep4_json "$IPA")
check "ep4 value pod a" "$out" json "(lambda v: int(v[0],16)==$ifindex_a and bytes(int(x,16) for x in v[20:33])==b'default/pod-a')(j['value'] if isinstance(j,dict) else j[0]['value'])"

# ---- traffic between the pods through the node ------------------------------------------------
check "ping a -> gateway" "no reply" ip netns exec "$PODA" busybox ping -c 1 -W 2 "$GW"
check "ping a -> b" "no reply" ip netns exec "$PODA" busybox ping -c 2 -W 2 "$IPB"
ip netns exec "$PODB" timeout 10 busybox nc -l -p 8080 -e echo hello-from-b >/dev/null 2>&1 &
srv=$!
sleep 0.3
reply=$(ip netns exec "$PODA" timeout 5 busybox nc "$IPB" 8080 </dev/null 2>/dev/null)
check "tcp a -> b" "got '$reply'" test "$reply" = hello-from-b
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null

# ---- CHECK and idempotent ADD -----------------------------------------------------------------
cni CHECK ctr-a-0123456789 "$PODA"
check "check pod a" "rc $rc: $out" test "$rc" = 0
cni ADD ctr-a-0123456789 "$PODA" "" "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a"
check "repeated add keeps address" "rc $rc: $out" json "j['ips'][0]['address']=='$IPA/32'"
VETHA=$(host_veth "$PODA")
check "ping a -> b after repeated add" "no reply" ip netns exec "$PODA" busybox ping -c 1 -W 2 "$IPB"

# ---- DEL --------------------------------------------------------------------------------------
cni DEL ctr-a-0123456789 "$PODA"
check "del pod a" "rc $rc: $out" test "$rc" = 0
check "del removed host veth" "$VETHA still there" test -z "$(host_veth "$PODA")"
check "del removed pod eth0" "still there" test -z "$(ip -n "$PODA" -o link show eth0 2>/dev/null)"
check "del released address" "file left" test ! -e "$STATE/e2e-net/$IPA"
check "del removed ep4 entry" "still present" not ep4_has "$BPFFS/ep4" "$IPA"
check "ep4 entry pod b kept" "missing" ep4_has "$BPFFS/ep4" "$IPB"
cni DEL ctr-a-0123456789 "$PODA"
check "repeated del" "rc $rc: $out" test "$rc" = 0
cni DEL never-added-container "$PODA"
check "del unknown container" "rc $rc: $out" test "$rc" = 0
cni DEL ctr-b-0123456789 ""
check "del without CNI_NETNS" "rc $rc: $out" test "$rc" = 0
check "del b removed everything" "left: $(ls "$STATE/e2e-net")" \
	test -z "$(host_veth "$PODB")" -a ! -e "$STATE/e2e-net/$IPB"
cni CHECK ctr-a-0123456789 "$PODA"
check "check after del: code 3" "rc $rc: $out" test "$(error_code)" = 3

# ---- errors -----------------------------------------------------------------------------------
cni ADD ctr-x "$PODC" '{"cniVersion":"1.1.0","name":'
check "bad json: code 6" "rc $rc: $out" test "$rc" != 0 -a "$(error_code)" = 6
cni ADD ctr-x "$PODC" "$(conf "$BPFFS" 0.2.0)"
check "wrong cniVersion: code 1" "rc $rc: $out" test "$rc" != 0 -a "$(error_code)" = 1
cni ADD ctr-x "" 
check "missing CNI_NETNS: code 4" "rc $rc: $out" test "$rc" != 0 -a "$(error_code)" = 4
cni ADD ctr-x "$PODC" "$(conf "$TMP/no-agent")"
check "agent not ready: code 11" "rc $rc: $out" test "$rc" != 0 -a "$(error_code)" = 11 \
	-a -n "$(echo "$out" | grep 'not pinned')"
cni VERSION "" "" '{"cniVersion":"1.0.0"}'
check "version" "$out" json "j['cniVersion']=='1.0.0' and j['supportedVersions']==['0.3.0','0.3.1','0.4.0','1.0.0','1.1.0']"

# ---- a failed ADD leaves nothing behind -------------------------------------------------------
cni ADD ctr-c-0123456789 "$PODC" "$(conf "$FULL")"
check "add with full ep4 fails" "rc $rc: $out" test "$rc" != 0 -a "$(error_code)" = 5
check "failed add: no host veth" "$(host_veth "$PODC")" test -z "$(host_veth "$PODC")"
check "failed add: no pod eth0" "still there" test -z "$(ip -n "$PODC" -o link show eth0 2>/dev/null)"
check "failed add: no address file" "$(ls "$STATE/e2e-net")" \
	test -z "$(grep -l ctr-c "$STATE"/e2e-net/1* 2>/dev/null)"
ip -n "$PODC" link add eth0 type veth peer name other
cni ADD ctr-c-0123456789 "$PODC"
check "add with CNI_IFNAME taken fails" "rc $rc: $out" test "$rc" != 0
check "taken ifname: no address file" "$(ls "$STATE/e2e-net")" \
	test -z "$(grep -l ctr-c "$STATE"/e2e-net/1* 2>/dev/null)"
check "taken ifname: no host veth" "$(host_veth "$PODC")" test -z "$(ip -n "$NODE" -o link show | grep ' sl[0-9a-f]\{12\}')"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
