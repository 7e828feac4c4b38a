#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Test runner behind `make test`: unit tests (cmocka, TAP), BPF packet tests and end-to-end
# scripts, each under a timeout. Echoes their output, counts every check, and ends with exactly
# one line "N passed, N failed". Exit status 1 when anything failed (a crash or a timeout counts).
#
#   tests/run.sh                      everything
#   tests/run.sh layout|unit|bpf|e2e  those groups
#   tests/run.sh tests/e2e/test_x.sh  one script (or a unit test binary)
#
# Environment: BUILD (default build), UNIT_TIMEOUT, BPF_TIMEOUT, E2E_TIMEOUT (seconds).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
UNIT_TIMEOUT=${UNIT_TIMEOUT:-120}
BPF_TIMEOUT=${BPF_TIMEOUT:-300}
E2E_TIMEOUT=${E2E_TIMEOUT:-240}

passed=0
failed=0
skipped=0
failures=()

log=$(mktemp /tmp/sluice-run.XXXXXX)
trap 'rm -f "$log"' EXIT

record_fail() {
	failed=$((failed + 1))
	failures+=("$1")
	echo "FAIL $1"
}

# run_one KIND NAME TIMEOUT CMD...: run, echo, count its lines; a bad exit with no FAIL counts one.
run_one() {
	local kind=$1 name=$2 limit=$3 rc=0 p f s plan
	shift 3
	echo "=== $kind: $name"
	# timeout makes its own process group and signals all of it, so a script's children and its
	# cleanup trap see the TERM too; --kill-after bounds a cleanup that hangs.
	set +e
	timeout --kill-after=20 "$limit" "$@" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	if [[ $kind == unit ]]; then
		# TAP: a "# SKIP" directive makes a skip of "ok" and "not ok" alike (cmocka's skip() prints
		# "not ok N # SKIP name"); every other "not ok" is a failure.
		s=$(grep -cE '^(not )?ok [0-9]+.*# *SKIP' "$log" || true)
		p=$(grep -E '^ok [0-9]+' "$log" | grep -cvE '# *SKIP' || true)
		f=$(grep -E '^not ok [0-9]+' "$log" | grep -cvE '# *SKIP' || true)
		while read -r line; do
			failures+=("$name: $line")
		done < <(grep -E '^not ok [0-9]+' "$log" | grep -vE '# *SKIP' || true)
		# The plan "1..N": fewer results means the binary stopped early (an exit(0) in the code
		# under test) and the tests after it never ran.
		plan=$(sed -nE 's/^1\.\.([0-9]+)$/\1/p' "$log" | head -n1)
		if [[ -n $plan ]] && ((p + f + s != plan)); then
			record_fail "$name: reported $((p + f + s)) of the $plan tests it planned"
		fi
	else
		p=$(grep -c '^PASS ' "$log" || true)
		f=$(grep -c '^FAIL ' "$log" || true)
		s=$(grep -c '^SKIP ' "$log" || true)
		while read -r line; do
			failures+=("${line#FAIL }")
		done < <(grep '^FAIL ' "$log" || true)
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if ((rc == 124 || rc == 137)); then
		record_fail "$name: timed out after ${limit}s"
	elif ((rc > 128)); then
		record_fail "$name: killed by signal $((rc - 128))"
	elif ((rc != 0 && f == 0)); then
		record_fail "$name: exited $rc without reporting a failure"
	elif ((rc == 0 && p + f + s == 0)); then
		record_fail "$name: ran no check"
	fi
}

run_unit() {
	# One binary per source, in the source's folder: a test whose binary is missing fails.
	local srcs src bin
	mapfile -t srcs < <(find tests/unit -name 'test_*.c' | sort)
	if ((${#srcs[@]} == 0)); then
		record_fail "unit: no tests/unit/**/test_*.c found from $PWD"
		return
	fi
	for src in "${srcs[@]}"; do
		bin=$BUILD/${src%.c}
		if [[ ! -x $bin ]]; then
			record_fail "unit: $bin is not built (run make tests)"
			continue
		fi
		CMOCKA_MESSAGE_OUTPUT=TAP run_one unit "$(basename "${src%.c}")" "$UNIT_TIMEOUT" "$bin"
	done
}

run_bpf() {
	local bin=$BUILD/tests/bpf_tests
	if [[ ! -x $bin ]]; then
		record_fail "bpf: $bin is not built (run make tests)"
		return
	fi
	# make test runs as root; by hand without it, the whole group skips and says why.
	if [[ $(id -u) -ne 0 ]]; then
		echo "SKIP bpf: not root: BPF_PROG_TEST_RUN needs CAP_BPF and CAP_NET_ADMIN"
		skipped=$((skipped + 1))
		return
	fi
	run_one bpf bpf_tests "$BPF_TIMEOUT" "$bin"
}

# The layout's dependency rules and file sizes (README.md, "Layout"), one check per rule.
run_layout() {
	run_one layout check_layout 60 python3 tests/check_layout.py
}

run_e2e_script() {
	run_one e2e "$(basename "$1" .sh)" "$E2E_TIMEOUT" bash "$1"
}

run_e2e() {
	local script found=0
	for script in tests/e2e/test_*.sh; do
		[[ -e $script ]] || continue
		found=1
		run_e2e_script "$script"
	done
	if ((found == 0)); then
		record_fail "e2e: no tests/e2e/test_*.sh found from $PWD"
	fi
}

# kernel_refused: does this kernel lack a BPF feature the datapath needs? Then one line says which
# kernel, the minimum and what is missing (`sluice kernel check`), counted as one failure, and
# the BPF and end-to-end tests are not run: each would fail with a verifier dump.
kernel_refused() {
	local line
	[[ -n ${kernel_verdict:-} ]] || {
		kernel_verdict=ok
		if [[ $(id -u) -eq 0 && -x $BUILD/sluice ]] && ! line=$("$BUILD/sluice" kernel check 2>&1); then
			kernel_verdict=$line
			record_fail "kernel: $line"
		fi
	}
	[[ $kernel_verdict != ok ]]
}

(($# > 0)) || set -- layout unit bpf e2e
for what in "$@"; do
	case $what in
	bpf | e2e | *.sh) kernel_refused && continue ;;
	esac
	case $what in
	layout) run_layout ;;
	unit) run_unit ;;
	bpf) run_bpf ;;
	e2e) run_e2e ;;
	*.sh)
		[[ -f $what ]] || { record_fail "$what: no such script"; continue; }
		run_e2e_script "$what"
		;;
	*)
		if [[ -x $what && -f $what ]]; then
			if [[ $what == */tests/unit/* ]]; then
				CMOCKA_MESSAGE_OUTPUT=TAP run_one unit "$(basename "$what")" "$UNIT_TIMEOUT" "$what"
			else
				run_one bpf "$(basename "$what")" "$BPF_TIMEOUT" "$what"
			fi
		else
			record_fail "$what: not a group (layout, unit, bpf, e2e), script or test binary"
		fi
		;;
	esac
done

echo "==="
if ((${#failures[@]} > 0)); then
	echo "failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$skipped skipped"
echo "$passed passed, $failed failed"
((failed == 0))
