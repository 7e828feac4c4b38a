# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# What the smoke tests of `make bench` and `make soak` share (test_bench_quick.sh,
# test_bench_crossnode_quick.sh, test_soak_quick.sh): the root check, a temporary output folder,
# PASS/FAIL lines of their own, the tool's output quoted (its own PASS/FAIL lines are not the
# test's), and the checks of a bench's results.json and log. Sourced by the test, after
# `set -euo pipefail`.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SMOKE_NAME=
failed=0 # the test exits with it
out=
log=
rc=0

# smoke_init NAME: the test NAME; skips (exit 0, saying why) unless run as root; $out is a
# folder of its own, removed on exit.
smoke_init() {
	SMOKE_NAME=$1
	if [[ $(id -u) -ne 0 ]]; then
		echo "SKIP $SMOKE_NAME: needs root (network namespaces, bpffs)"
		exit 0
	fi
	out=$(mktemp -d "/tmp/sl-$SMOKE_NAME.XXXXXX")
	trap 'rm -rf "$out"' EXIT
}

pass() { echo "PASS $1"; }
# shellcheck disable=SC2034 # failed: the test exits with it
fail() {
	echo "FAIL $1: $2"
	failed=1
}
quote() { sed 's/^/#   /' >&2; }

# smoke_run CMD...: CMD run from the checkout, its output kept in $log (and quoted), its exit
# code in $rc; NAME/run passes when it is 0.
smoke_run() {
	set +e
	log=$(cd "$ROOT" && "$@" 2>&1)
	rc=$?
	set -e
	quote <<<"$log"
	if ((rc != 0)); then
		fail "$SMOKE_NAME/run" "$1 exited $rc: $(grep -m1 '^FAIL' <<<"$log" || tail -n1 <<<"$log")"
	else
		pass "$SMOKE_NAME/run"
	fi
}

# smoke_figures JSON MODE COND METRIC...: results.json has, at 10 services, one result of MODE
# for each METRIC whose median is a number and which meets COND (jq, on the result: e.g.
# `.repeats >= 3`); NAME/MODE/figures.
smoke_figures() {
	local json=$1 mode=$2 cond=$3 metric ok missing=
	shift 3
	for metric in "$@"; do
		ok=$(jq --arg m "$mode" --arg k "$metric" \
			"[.results[] | select(.services == 10 and .mode == \$m and .metric == \$k
			  and (.median | type) == \"number\" and ($cond))] | length" "$json" 2>/dev/null || echo 0)
		[[ $ok == 1 ]] || missing+=" $metric"
	done
	if [[ -z $missing ]]; then
		pass "$SMOKE_NAME/$mode/figures"
	else
		fail "$SMOKE_NAME/$mode/figures" "results.json lacks (or has out of bounds:$cond)$missing"
	fi
}

# smoke_bench_passed CHECK LINE...: the bench's log has each "PASS LINE" (its own checks, e.g.
# bench/sluice/10/reached_backends); NAME/CHECK.
smoke_bench_passed() {
	local check=$1 line missing=
	shift
	for line in "$@"; do
		grep -qxF "PASS $line" <<<"$log" || missing+=" $line"
	done
	if [[ -z $missing ]]; then
		pass "$SMOKE_NAME/$check"
	else
		fail "$SMOKE_NAME/$check" "the bench's log has no PASS$missing"
	fi
}

# smoke_fault CHECK FAULT FAIL RESULTS CMD...: CMD run with BENCH_FAULT=FAULT (a bench's test hook)
# must exit non-zero with a "FAIL FAIL..." line and write no RESULTS; NAME/CHECK.
smoke_fault() {
	local check=$1 fault=$2 want=$3 results=$4 fault_log fault_rc
	shift 4
	set +e
	fault_log=$(cd "$ROOT" && BENCH_FAULT=$fault "$@" 2>&1)
	fault_rc=$?
	set -e
	if ((fault_rc != 0)) && grep -qF "FAIL $want" <<<"$fault_log" && [[ ! -e $results ]]; then
		pass "$SMOKE_NAME/$check"
	else
		quote <<<"$fault_log"
		fail "$SMOKE_NAME/$check" "exit $fault_rc, no line FAIL $want, or $results $([[ -e $results ]] && echo written || echo absent)"
	fi
}
