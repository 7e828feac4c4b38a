# SPDX-License-Identifier: Apache-2.0
# Writes the BPF test table (build/tests/bpf_tests.h, see the Makefile) from the test_*.c files
# given in run order: one X(name) per `void test_name(void)` definition, in file order, as the
# kernel's BPF selftests generate theirs. Any other column-0 line that names a test_* function
# (another return type, static, parameters, the brace on the same line, the name on a line of
# its own) is an error, so a test cannot drop out of the table unnoticed.

BEGIN {
	print "/* Generated from tests/bpf/test_*.c by tests/bpf/tests.awk: do not edit. */"
	print "#ifndef SLUICE_TESTS_BPF_TESTS_H"
	print "#define SLUICE_TESTS_BPF_TESTS_H"
	print ""
	print "#define BPF_TESTS(X) \\"
}

FNR == 1 {
	file = FILENAME
	sub(/.*\//, "", file)
	print "\t/* " file " */ \\"
}

/^void test_[a-z0-9_]+\(void\)$/ {
	name = $0
	sub(/^void test_/, "", name)
	sub(/\(void\)$/, "", name)
	print "\tX(" name ") \\"
	count++
	next
}

/^test_/ || /^[^ \t\/*#].*[^A-Za-z0-9_]test_[A-Za-z0-9_]*[ \t]*\(/ {
	printf "%s:%d: a test_ function not written as `void test_name(void)` alone on its line: %s\n",
	       FILENAME, FNR, $0 > "/dev/stderr"
	bad = 1
}

END {
	if (!count) {
		print "tests.awk: no `void test_name(void)` in the files given" > "/dev/stderr"
		bad = 1
	}
	if (bad)
		exit 1
	print ""
	print "#define BPF_TEST_DECLARE(name) void test_##name(void);"
	print "BPF_TESTS(BPF_TEST_DECLARE)"
	print ""
	print "#endif"
}
