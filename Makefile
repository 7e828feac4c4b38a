# SPDX-License-Identifier: Apache-2.0
# sluice: one Makefile for the BPF programs, the agent/CLI, the CNI plugin, tests and bench.
# Every output goes under build/. Quiet unless V=1.

BUILD      := build
CLANG      ?= clang
BPFTOOL    ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
CC         ?= gcc
PKGS       := libbpf yaml-0.1 json-c libnl-route-3.0 libcurl
ARCH       := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY:
.DEFAULT_GOAL := all

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lbpf -lyaml -ljson-c -lnl-route-3 -lnl-3 -lcurl)
LDLIBS     := $(PKG_LIBS) -lelf -lz

COMMON_CFLAGS := -std=c11 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. -I$(BUILD) $(PKG_CFLAGS) -MMD -MP
CFLAGS        ?= -O2
SAN_FLAGS     := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I. -I$(BUILD) -Wall -Werror \
	-Wno-unused-function -Wno-compare-distinct-pointer-types

# ---- sources -------------------------------------------------------------------------------
# A new program, module or test is one more file: the lists below are wildcards.
BPF_SRCS     := $(wildcard bpf/*.bpf.c)
BPF_OBJS     := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS        := $(patsubst bpf/%.bpf.c,$(BUILD)/skel/%.skel.h,$(BPF_SRCS))
BENCH_BPF_SRCS := $(wildcard bench/*.bpf.c)
BENCH_BPF_OBJS := $(patsubst bench/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BENCH_BPF_SRCS))
BENCH_SKELS    := $(patsubst bench/%.bpf.c,$(BUILD)/skel/%.skel.h,$(BENCH_BPF_SRCS))
# Test-only BPF programs (tests/bpf/*.bpf.c), linked into no binary but the BPF test runner.
TEST_BPF_SRCS  := $(wildcard tests/bpf/*.bpf.c)
TEST_SKELS     := $(patsubst tests/bpf/%.bpf.c,$(BUILD)/skel/%.skel.h,$(TEST_BPF_SRCS))
ALL_SKELS    := $(SKELS) $(BENCH_SKELS) $(TEST_SKELS)

# Three archives, so each binary links only what it may: lib/ (both binaries), loader/ (the
# agent and CLI) and cni/ (the plugin). The plugin never links the agent's code, nor the reverse.
LIB_SRCS     := $(sort $(shell find lib -name '*.c'))
LOADER_SRCS  := $(filter-out loader/main.c,$(sort $(shell find loader -name '*.c')))
CNI_SRCS     := $(filter-out cni/main.c,$(wildcard cni/*.c))
UNIT_SRCS    := $(sort $(shell find tests/unit -name 'test_*.c'))
BPFTEST_SRCS := $(filter-out %.bpf.c,$(wildcard tests/bpf/*.c))
TOOL_SRCS    := $(wildcard tests/tools/*.c)
# The libcni CNI client (Go) when Go is installed; without it its test skips.
LIBCNI_CLIENT := $(if $(shell command -v go 2>/dev/null),$(BUILD)/tests/tools/libcni-client)
BENCH_SRCS   := bench/pktbench.c bench/pkt_run.c bench/pkt_tunnel.c bench/pkt_events.c
# The bench's own tools (bench/bench.sh drives them): rule generator and load client.
BENCH_TOOLS  := $(BUILD)/sluice-kpgen $(BUILD)/sluice-connrate

obj = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))

# ---- top-level targets ---------------------------------------------------------------------
.PHONY: all deps test demo bench soak lab install image clean format format-check san tests fuzz
all: $(BUILD)/sluice $(BUILD)/sluice-cni $(BUILD)/sluice-pktbench $(BENCH_TOOLS)

san: $(BUILD)/san/sluice $(BUILD)/san/sluice-cni

tests: san $(BUILD)/tests/bpf_tests $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS)) \
	$(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS)) all $(LIBCNI_CLIENT)

deps:
	$(Q)tests/deps.sh

test: deps
	$(Q)$(MAKE) --no-print-directory tests
	$(Q)tests/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)tests/demo/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all tests
	$(Q)BUILD=$(BUILD) bench/bench.sh $(if $(QUICK),--quick) $(if $(LARGE),--large) $(if $(SCENARIO),--scenario $(SCENARIO))

# Reliability under change, as counts (bench/soak.sh; QUICK=1: 500 changes, a small flood).
soak: deps
	$(Q)$(MAKE) --no-print-directory all $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS))
	$(Q)BUILD=$(BUILD) bench/soak.sh $(if $(QUICK),--quick)

# The network-policy lab on its bundled example (root: namespaces and bpffs).
lab: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(BUILD)/sluice lab $(or $(LAB),tests/lab/example.yaml)

install: all
	install -d /usr/local/bin /opt/cni/bin /etc/cni/net.d
	install -m 0755 $(BUILD)/sluice /usr/local/bin/sluice
	install -m 0755 $(BUILD)/sluice-cni /opt/cni/bin/sluice-cni
	install -m 0644 cni/10-sluice.conflist /etc/cni/net.d/10-sluice.conflist
	install -d /usr/local/share/sluice
	install -m 0644 cni/sluice-daemonset.yaml /usr/local/share/sluice/sluice-daemonset.yaml

# The OCI image, built offline with podman FROM scratch (cni/image/build.sh): the agent with the
# libraries it links, the static plugin the DaemonSet's install step copies onto the host, the
# conflist; saved as an OCI archive too. IMAGE names it; PODMAN_OPTS picks podman's store.
IMAGE ?= localhost/sluice:latest
IMAGE_ARCHIVE ?= $(BUILD)/sluice-image.tar
image: $(BUILD)/sluice $(BUILD)/image/sluice-cni
	$(Q)PODMAN_OPTS="$(PODMAN_OPTS)" cni/image/build.sh $(BUILD) $(IMAGE) $(IMAGE_ARCHIVE)

clean:
	rm -rf $(BUILD)

FORMAT_FILES = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# ---- BPF: vmlinux.h -> .bpf.o -> .skel.h ---------------------------------------------------
# vmlinux.h is rewritten only when the running kernel's BTF changes, so BPF objects are not
# rebuilt on every make.
$(BUILD)/vmlinux.h: FORCE | $(BUILD)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; echo "  GEN      $@"; fi

.PHONY: FORCE
FORCE:

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bpf/%.bpf.o: bench/%.bpf.c $(BUILD)/vmlinux.h | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/bpf/%.bpf.o: tests/bpf/%.bpf.c $(BUILD)/vmlinux.h | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/skel/%.skel.h: $(BUILD)/bpf/%.bpf.o | $(BUILD)/skel
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

# ---- userspace: normal build in build/obj, sanitizer build in build/san -------------------
$(BUILD)/obj/%.o: %.c $(ALL_SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(COMMON_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/san/obj/%.o: %.c $(ALL_SKELS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(COMMON_CFLAGS) $(SAN_FLAGS) -c $< -o $@

# $(call archive,DIR,SOURCES): DIR/libNAME.a rules for the normal and the sanitizer build.
define archive
$(BUILD)/obj/$(1).a: $(call obj,obj,$(2))
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(BUILD)/san/obj/$(1).a: $(call obj,san/obj,$(2))
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(eval $(call archive,libcommon,$(LIB_SRCS)))
$(eval $(call archive,libloader,$(LOADER_SRCS)))
$(eval $(call archive,libcni,$(CNI_SRCS)))

# Link order: a stage before what it uses.
AGENT_LIBS := libloader.a libcommon.a
CNI_LIBS   := libcni.a libcommon.a
TEST_LIBS  := libloader.a libcni.a libcommon.a

$(BUILD)/sluice: $(BUILD)/obj/loader/main.o $(addprefix $(BUILD)/obj/,$(AGENT_LIBS))
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-cni: $(BUILD)/obj/cni/main.o $(addprefix $(BUILD)/obj/,$(CNI_LIBS))
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The plugin for the image links statically: it is copied onto hosts whose libraries vary.
# (glibc warns about libnl's name lookups, which the plugin never calls.)
$(BUILD)/image/sluice-cni: $(BUILD)/obj/cni/main.o $(addprefix $(BUILD)/obj/,$(CNI_LIBS))
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -static -o $@ $^ -lbpf -lelf -lz -ljson-c -lnl-route-3 -lnl-3 -lpthread 2>&1 | \
		grep -v -e 'in statically linked applications' -e 'in function' >&2 || true
	$(Q)test -x $@

$(BUILD)/sluice-pktbench: $(call obj,obj,$(BENCH_SRCS)) $(addprefix $(BUILD)/obj/,$(AGENT_LIBS))
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-kpgen: $(call obj,obj,bench/kp_gen.c bench/kp_rules.c)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^

$(BUILD)/sluice-connrate: $(BUILD)/obj/bench/connrate.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lpthread

$(BUILD)/san/sluice: $(BUILD)/san/obj/loader/main.o $(addprefix $(BUILD)/san/obj/,$(AGENT_LIBS))
	$(call msg,LINK,$@)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/san/sluice-cni: $(BUILD)/san/obj/cni/main.o $(addprefix $(BUILD)/san/obj/,$(CNI_LIBS))
	$(call msg,LINK,$@)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# ---- tests (sanitizer build) ---------------------------------------------------------------
# Every unit test links the shared map fixture (tests/unit/map_fixture.c).
$(BUILD)/tests/unit/%: $(BUILD)/san/obj/tests/unit/%.o $(BUILD)/san/obj/tests/unit/map_fixture.o \
		$(addprefix $(BUILD)/san/obj/,$(TEST_LIBS))
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The rule generator's test links the generator itself.
$(BUILD)/tests/unit/bench/test_kp_rules: $(BUILD)/san/obj/bench/kp_rules.o

$(BUILD)/tests/bpf_tests: $(call obj,san/obj,$(BPFTEST_SRCS)) $(addprefix $(BUILD)/san/obj/,$(AGENT_LIBS))
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# The runner's test table, generated as the kernel's BPF selftests do: every
# `void test_name(void)` in tests/bpf/test_*.c, the packet builder's self-test first (the others
# rely on it), then by file name and order in the file. tests.awk fails on a test_ function
# written any other way, so none is silently left out. Like vmlinux.h it is rewritten only when
# its content changes (a removed test file changes it too, without a newer prerequisite).
BPFTEST_CASES := tests/bpf/test_pkt_selftest.c \
	$(filter-out tests/bpf/test_pkt_selftest.c,$(sort $(wildcard tests/bpf/test_*.c)))

$(BUILD)/tests/bpf_tests.h: tests/bpf/tests.awk $(BPFTEST_CASES) FORCE
	$(Q)mkdir -p $(@D)
	$(Q)awk -f tests/bpf/tests.awk $(BPFTEST_CASES) > $@.tmp || { rm -f $@.tmp; exit 1; }
	$(Q)if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; echo "  GEN      $@"; fi

$(BUILD)/san/obj/tests/bpf/main.o: $(BUILD)/tests/bpf_tests.h

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lpthread

# A CNI client on libcni, the runtimes' reference library (tests/e2e/test_cni_runtimes.sh).
# Debian ships libcni's source: it builds offline.
$(BUILD)/tests/tools/libcni-client: $(wildcard tests/tools/libcni-client/*.go)
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd tests/tools/libcni-client && GOPATH=/usr/share/gocode GO111MODULE=off \
		GOCACHE=$(abspath $(BUILD))/go-cache go build -o $(abspath $@) .

# ---- fuzzing (optional): libFuzzer on the YAML and JSON decoders, corpus in tests/fuzz/ ----
# `make fuzz` runs each harness FUZZ_TIME seconds (default 60) on a copy of the kept corpus;
# new inputs worth keeping are then `cp`ed into tests/fuzz/corpus/ by hand.
FUZZ_TIME    ?= 60
FUZZ_SRCS    := $(wildcard loader/k8s/*.c) $(wildcard loader/desired/build*.c) \
	loader/desired/netpol_eval.c loader/desired/netpol_compile.c loader/desired/state.c lib/log.c \
	lib/cidr.c
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_SRCS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -std=c11 -g -O1 -D_GNU_SOURCE -I. $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $^ $(LDLIBS)

fuzz: $(FUZZ_TARGETS)
	$(Q)for t in $(FUZZ_TARGETS); do \
		c=tests/fuzz/corpus/$$(basename $$t | sed 's/^fuzz_//'); \
		rm -rf $(BUILD)/fuzz/work-$$(basename $$t); cp -r $$c $(BUILD)/fuzz/work-$$(basename $$t); \
		echo "  FUZZ     $$t ($(FUZZ_TIME) s)"; \
		$$t -max_total_time=$(FUZZ_TIME) -max_len=65536 -rss_limit_mb=2048 \
			$(BUILD)/fuzz/work-$$(basename $$t) $$c >$(BUILD)/fuzz/$$(basename $$t).log 2>&1 \
			|| { tail -40 $(BUILD)/fuzz/$$(basename $$t).log; exit 1; }; \
		grep -E '^(#[0-9]+ *DONE|Done)' $(BUILD)/fuzz/$$(basename $$t).log | tail -1; \
	done

$(BUILD) $(BUILD)/bpf $(BUILD)/skel:
	$(Q)mkdir -p $@

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
