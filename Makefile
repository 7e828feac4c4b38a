# SPDX-License-Identifier: Apache-2.0
# sluice: one Makefile for the BPF programs, the agent/CLI, the CNI plugin, tests and bench.
# Every output goes under build/. Quiet unless V=1.

BUILD      := build
CLANG      ?= clang
BPFTOOL    ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
CC         ?= gcc
PKGS       := libbpf yaml-0.1 json-c libnl-route-3.0
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
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lbpf -lyaml -ljson-c -lnl-route-3 -lnl-3)
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
ALL_SKELS    := $(SKELS) $(BENCH_SKELS)

LOADER_SRCS  := $(filter-out loader/main.c,$(wildcard loader/*.c))
CNI_SRCS     := $(filter-out cni/main.c,$(wildcard cni/*.c))
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
BPFTEST_SRCS := $(wildcard tests/bpf/*.c)
TOOL_SRCS    := $(wildcard tests/tools/*.c)
BENCH_SRCS   := $(filter-out %.bpf.c,$(wildcard bench/*.c))

obj = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))

# ---- top-level targets ---------------------------------------------------------------------
.PHONY: all deps test demo bench lab install clean format format-check san tests
all: $(BUILD)/sluice $(BUILD)/sluice-cni $(BUILD)/sluice-pktbench

san: $(BUILD)/san/sluice $(BUILD)/san/sluice-cni

tests: san $(BUILD)/tests/bpf_tests $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS)) \
	$(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS)) all

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
	$(Q)$(BUILD)/sluice-pktbench

install: all
	install -d /usr/local/bin /opt/cni/bin /etc/cni/net.d
	install -m 0755 $(BUILD)/sluice /usr/local/bin/sluice
	install -m 0755 $(BUILD)/sluice-cni /opt/cni/bin/sluice-cni

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

$(BUILD)/obj/libsluice.a: $(call obj,obj,$(LOADER_SRCS) $(CNI_SRCS))
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/san/obj/libsluice.a: $(call obj,san/obj,$(LOADER_SRCS) $(CNI_SRCS))
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/sluice: $(BUILD)/obj/loader/main.o $(BUILD)/obj/libsluice.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-cni: $(BUILD)/obj/cni/main.o $(BUILD)/obj/libsluice.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-pktbench: $(call obj,obj,$(BENCH_SRCS)) $(BUILD)/obj/libsluice.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/san/sluice: $(BUILD)/san/obj/loader/main.o $(BUILD)/san/obj/libsluice.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/san/sluice-cni: $(BUILD)/san/obj/cni/main.o $(BUILD)/san/obj/libsluice.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# ---- tests (sanitizer build) ---------------------------------------------------------------
$(BUILD)/tests/unit/%: $(BUILD)/san/obj/tests/unit/%.o $(BUILD)/san/obj/libsluice.a
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/bpf_tests: $(call obj,san/obj,$(BPFTEST_SRCS)) $(BUILD)/san/obj/libsluice.a
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lpthread

$(BUILD) $(BUILD)/bpf $(BUILD)/skel:
	$(Q)mkdir -p $@

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
