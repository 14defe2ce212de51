# bench/bench.mk: the benchmarks, included by the top Makefile.
#
#   make run [ARGS='--pushes 300000 ...']   the pause report on tricolor
#                                           (latency + steady-state; SVG plot)
#   make bench [ROUNDS=3]                   every workload on every backend and
#                                           the Go peers, interleaved rounds,
#                                           medians and the ratio table
#   make bench-quick                        the same, small and one round, and
#                                           bench-scale-quick (CI)
#   make bench-pool [ROUNDS=3]              what a pool saves (bench/poolbench.c)
#   make bench-observe [ROUNDS=3]           what profiling and reading the
#                                           statistics cost (bench/observebench.c)
#   make bench-range [RANGE_ROUNDS=201]      tc_store_range against memmove, 1 MiB,
#                                           no mark running (bench/rangebench.c)
#   make bench-curve [ROUNDS=3]               time against peak RSS: binary trees and the
#                                           steady cache on tricolor, bdwgc and Go at
#                                           six heap settings each, and tricolor and Go
#                                           under memory limits (bench/curve.sh)
#   make bench-weak [WEAK_ROUNDS=51]         tc_load_weak and tc_weak_get against a plain
#                                           load, 1,000,000 references (bench/weakbench.c)
#   make bench-scale [ROUNDS=3]             stops and marks against size,
#                                           tricolor and Go (bench/scale.sh)
#   make bench-scale-quick                  the same at tiny sizes, once: every
#                                           run exits 0 with its RESULT line
#   make bench-bin                          just build them
#
# Every workload (workload_<w>.c) and backend (backend_<b>.c) is compiled
# once per backend with -DBK_BACKEND=<b>, which renames the interface's
# functions to bk_<b>_*, and all of them are linked into one program,
# tcbench, with the Google Benchmark shim (gbench.cc) that registers each
# pair (mimalloc in tcbench-mimalloc, see below). Everything is built with -flto, so a backend's small wrappers inline
# into the workload: a backend costs what calling its allocator directly
# costs. The Go peers (bench/peers/<w>.go with common.go) are built with
# Debian's go into $(B)/bench/peer_<w>.

BENCH_DIR := $(B)/bench
BENCH_LTO ?= -flto=auto
ROUNDS ?= 3

# mimalloc joins where its header is installed (libmimalloc-dev has no .pc),
# in a program of its own: Debian's libmimalloc.so defines malloc and free,
# so linking it anywhere turns every malloc of that program, glibc's
# baseline included, into mimalloc. Recursive (=) so the probe runs only
# when a bench rule needs it.
# The # is a variable's: make 4.3 keeps the backslash of \# inside a
# function call, and cpp passes "\#include" through without an error.
BENCH_HASH := \#
HAVE_MIMALLOC = $(shell echo '$(BENCH_HASH)include <mimalloc.h>' | $(CC) -E -x c - >/dev/null 2>&1 && echo yes)
BENCH_BACKENDS := tricolor bdwgc malloc
# Backends registered for gcbench and the barrier only: tricolor with its
# barrier compiled out (see backend_tricolor.c).
BENCH_EXTRA_BACKENDS := tc_plain
# Registered for the latency experiment only: no allocator (see
# manual_floor.h), the machine's own worst push.
BENCH_FLOOR_BACKENDS := floor
BENCH_PROGS = $(BENCH_DIR)/tcbench $(if $(HAVE_MIMALLOC),$(BENCH_DIR)/tcbench-mimalloc)
BENCH_WORKLOADS := allocrate gcbench latency steady barrier
BENCH_PEERS := gcbench latency steady spike scale

BDWGC_CFLAGS = $(shell pkg-config --cflags bdw-gc 2>/dev/null)
BDWGC_LIBS = $(shell pkg-config --libs bdw-gc 2>/dev/null || echo -lgc)
BENCH_CFLAGS = $(CFLAGS) $(BENCH_LTO) -Ibench -I$(BENCH_DIR)
BENCH_CXXFLAGS := -std=c++17 -g -O2 -Wall -Wextra $(BENCH_LTO) -Ibench -MMD -MP

# How each backend's object is made: its source and extra flags.
BK_SRC_tricolor := bench/backend_tricolor.c
BK_SRC_tc_plain := bench/backend_tricolor.c
BK_SRC_bdwgc := bench/backend_bdwgc.c
BK_SRC_malloc := bench/backend_manual.c
BK_SRC_mimalloc := bench/backend_manual.c
BK_SRC_floor := bench/backend_manual.c
BK_FLAGS_bdwgc = $(BDWGC_CFLAGS)
BK_FLAGS_malloc := -include bench/manual_glibc.h
BK_FLAGS_mimalloc := -include bench/manual_mimalloc.h
BK_FLAGS_floor := -include bench/manual_floor.h
BK_FLAGS_tc_plain := -DBK_PLAIN_STORES
BK_LIBS_tricolor = $(B)/libtricolor.a
BK_LIBS_tc_plain = $(B)/libtricolor.a
BK_LIBS_bdwgc = $(BDWGC_LIBS)
BK_LIBS_malloc :=
BK_LIBS_mimalloc := -lmimalloc

bk_objs = $(foreach w,$(BENCH_WORKLOADS),$(BENCH_DIR)/obj/$(w).$(1).o) \
	$(BENCH_DIR)/obj/backend.$(1).o
BENCH_UTIL_OBJ := $(BENCH_DIR)/obj/bench_util.o $(BENCH_DIR)/obj/svg.o
BENCH_PEER_BIN := $(BENCH_PEERS:%=$(BENCH_DIR)/peer_%)

.PHONY: bench-bin bench bench-run bench-quick bench-quick-run bench-barrier bench-pacer bench-pool \
	bench-observe bench-range bench-weak bench-curve bench-scale bench-scale-quick \
	run run-report

bench-bin: $(BENCH_PROGS) $(BENCH_DIR)/tcreport $(BENCH_DIR)/tcspike $(BENCH_DIR)/tcpool $(BENCH_DIR)/tcobserve \
	$(BENCH_DIR)/tcrange $(BENCH_DIR)/tcweak $(BENCH_DIR)/tcscale $(BENCH_PEER_BIN)

# backends.h lists a program's backends for gbench.cc (one directory per
# program, since the file name is fixed).
$(BENCH_DIR)/main/backends.h: bench/bench.mk
	@mkdir -p $(dir $@)
	printf '/* generated by bench/bench.mk */\n#define BENCH_BACKENDS(X) %s\n#define BENCH_EXTRA_BACKENDS(X) %s\n#define BENCH_FLOOR_BACKENDS(X) %s\n' \
		"$(foreach b,$(BENCH_BACKENDS),X($(b)))" \
		"$(foreach b,$(BENCH_EXTRA_BACKENDS),X($(b)))" \
		"$(foreach b,$(BENCH_FLOOR_BACKENDS),X($(b)))" > $@
$(BENCH_DIR)/mimalloc/backends.h: bench/bench.mk
	@mkdir -p $(dir $@)
	printf '/* generated by bench/bench.mk */\n#define BENCH_BACKENDS(X) X(mimalloc)\n#define BENCH_EXTRA_BACKENDS(X)\n#define BENCH_FLOOR_BACKENDS(X)\n' > $@

$(BENCH_DIR)/obj/bench_util.o: bench/bench_util.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -DBK_BACKEND=none -c $< -o $@
$(BENCH_DIR)/obj/svg.o: bench/svg.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -c $< -o $@

# $(1): backend.
define bench_backend_rules
$(foreach w,$(BENCH_WORKLOADS),
$(BENCH_DIR)/obj/$(w).$(1).o: bench/workload_$(w).c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BENCH_CFLAGS) -DBK_BACKEND=$(1) -c $$< -o $$@
)
$(BENCH_DIR)/obj/backend.$(1).o: $(BK_SRC_$(1))
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BENCH_CFLAGS) $$(BK_FLAGS_$(1)) -DBK_BACKEND=$(1) -c $$< -o $$@
endef
$(foreach b,tricolor tc_plain bdwgc malloc mimalloc floor,$(eval $(call bench_backend_rules,$(b))))

$(BENCH_DIR)/obj/gbench.%.o: bench/gbench.cc $(BENCH_DIR)/%/backends.h
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -I$(BENCH_DIR)/$* -c $< -o $@

$(BENCH_DIR)/tcbench: $(BENCH_DIR)/obj/gbench.main.o $(BENCH_UTIL_OBJ) $(B)/libtricolor.a \
		$(foreach b,$(BENCH_BACKENDS) $(BENCH_EXTRA_BACKENDS) $(BENCH_FLOOR_BACKENDS),$(call bk_objs,$(b)))
	$(CXX) $(BENCH_CXXFLAGS) $(filter %.o,$^) -o $@ $(LDFLAGS) \
		$(foreach b,$(BENCH_BACKENDS),$(BK_LIBS_$(b))) -lbenchmark $(LDLIBS)

$(BENCH_DIR)/tcbench-mimalloc: $(BENCH_DIR)/obj/gbench.mimalloc.o $(BENCH_UTIL_OBJ) \
		$(call bk_objs,mimalloc)
	$(CXX) $(BENCH_CXXFLAGS) $(filter %.o,$^) -o $@ $(LDFLAGS) -lmimalloc -lbenchmark -lpthread

$(BENCH_DIR)/obj/report.o: bench/report.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -c $< -o $@

$(BENCH_DIR)/tcspike: bench/spike.c $(BENCH_UTIL_OBJ) $(B)/libtricolor.a
	$(CC) $(BENCH_CFLAGS) $< $(BENCH_UTIL_OBJ) -o $@ $(LDFLAGS) $(B)/libtricolor.a $(LDLIBS)

$(BENCH_DIR)/tcscale: bench/scale.c $(BENCH_UTIL_OBJ) $(B)/libtricolor.a
	$(CC) $(BENCH_CFLAGS) $< $(BENCH_UTIL_OBJ) -o $@ $(LDFLAGS) $(B)/libtricolor.a $(LDLIBS)

$(BENCH_DIR)/tcpool: bench/poolbench.c $(BENCH_UTIL_OBJ) $(B)/libtricolor.a
	$(CC) $(BENCH_CFLAGS) $< $(BENCH_UTIL_OBJ) -o $@ $(LDFLAGS) $(B)/libtricolor.a $(LDLIBS)

$(BENCH_DIR)/tcobserve: bench/observebench.c $(BENCH_UTIL_OBJ) $(B)/libtricolor.a
	$(CC) $(BENCH_CFLAGS) $< $(BENCH_UTIL_OBJ) -o $@ $(LDFLAGS) $(B)/libtricolor.a $(LDLIBS)

$(BENCH_DIR)/tcrange: bench/rangebench.c $(BENCH_UTIL_OBJ) $(B)/libtricolor.a
	$(CC) $(BENCH_CFLAGS) $< $(BENCH_UTIL_OBJ) -o $@ $(LDFLAGS) $(B)/libtricolor.a $(LDLIBS)

$(BENCH_DIR)/tcweak: bench/weakbench.c $(BENCH_UTIL_OBJ) $(B)/libtricolor.a
	$(CC) $(BENCH_CFLAGS) $< $(BENCH_UTIL_OBJ) -o $@ $(LDFLAGS) $(B)/libtricolor.a $(LDLIBS)

# The report runs bdwgc through the same workload code, and Go's peer
# programs next to it, for the peers' pause plots.
$(BENCH_DIR)/tcreport: $(BENCH_DIR)/obj/report.o $(BENCH_UTIL_OBJ) \
		$(BENCH_DIR)/obj/latency.tricolor.o $(BENCH_DIR)/obj/steady.tricolor.o \
		$(BENCH_DIR)/obj/backend.tricolor.o $(B)/libtricolor.a \
		$(BENCH_DIR)/obj/latency.bdwgc.o $(BENCH_DIR)/obj/steady.bdwgc.o \
		$(BENCH_DIR)/obj/backend.bdwgc.o $(BENCH_DIR)/peer_latency $(BENCH_DIR)/peer_steady
	$(CC) $(BENCH_CFLAGS) $(filter %.o,$^) -o $@ $(LDFLAGS) $(B)/libtricolor.a $(BDWGC_LIBS) \
		$(LDLIBS)

# Go: its caches inside the build tree (CI has no usable HOME), GOPATH mode
# (the peers are single programs of the standard library).
GO ?= go
GO_ENV = GOCACHE=$(abspath $(BENCH_DIR))/gocache GOPATH=$(abspath $(BENCH_DIR))/gopath \
	GO111MODULE=off GOFLAGS=
$(BENCH_DIR)/peer_%: bench/peers/%.go bench/peers/common.go
	@mkdir -p $(dir $@)
	$(GO_ENV) $(GO) build -o $@ bench/peers/common.go $<

# `make run`: install what is missing, build, run the report.
run: deps-bench
	@$(MAKE) --no-print-directory run-report
run-report: $(BENCH_DIR)/tcreport
	$(BENCH_DIR)/tcreport --svg $(BENCH_DIR)/pauses.svg --peers-svg $(BENCH_DIR)/pauses-peers \
		$(ARGS)

bench: deps-bench
	@$(MAKE) --no-print-directory bench-run
bench-run: bench-bin
	bench/bench.sh --rounds $(ROUNDS) $(BENCH_DIR)

bench-quick: deps-bench
	@$(MAKE) --no-print-directory bench-quick-run
bench-quick-run: bench-bin
	bench/bench.sh --quick --rounds 1 $(BENCH_DIR)
	bench/scale.sh --quick --rounds 1 $(BENCH_DIR)

# The pacer's scenarios, tricolor and Go side by side (bench/pacer.sh).
bench-pacer: deps-bench
	@$(MAKE) --no-print-directory bench-bin
	bench/pacer.sh --rounds $(ROUNDS) $(BENCH_DIR)

# Stops and marks against the program's size, tricolor and Go side by side
# (bench/scale.sh: the table, and the plot in $(BENCH_DIR)/scale.svg).
bench-scale: deps-bench
	@$(MAKE) --no-print-directory bench-bin
	bench/scale.sh --rounds $(ROUNDS) $(BENCH_DIR)
bench-scale-quick: deps-bench
	@$(MAKE) --no-print-directory bench-bin
	bench/scale.sh --quick --rounds 1 $(BENCH_DIR)

# What a pool saves: get+put against allocation and malloc, 1 and 2
# threads, and a request loop with and without a pool (bench/poolbench.c).
bench-pool: deps-bench
	@$(MAKE) --no-print-directory $(BENCH_DIR)/tcpool
	$(BENCH_DIR)/tcpool --rounds $(ROUNDS)

# What observing costs: heap profiling at the default rate on binary-trees
# (against rate 0, alternating rounds, and in instructions counted by
# valgrind: tools/profile-cost.sh), and tc_read_memstats while other
# threads allocate (bench/observebench.c).
bench-observe: deps
	@tools/deps.sh valgrind
	@$(MAKE) --no-print-directory $(BENCH_DIR)/tcobserve
	$(BENCH_DIR)/tcobserve --rounds $(ROUNDS)
	tools/profile-cost.sh $(BENCH_DIR) 18

# A bulk pointer store against memmove, no mark running (issue 18's
# figure: within 1.2x), interleaved rounds (bench/rangebench.c).
RANGE_ROUNDS ?= 201
bench-range: deps
	@$(MAKE) --no-print-directory $(BENCH_DIR)/tcrange
	$(BENCH_DIR)/tcrange --rounds $(RANGE_ROUNDS)

# Time-space curves (issue 20): every collector at a series of heap
# settings, interleaved rounds, medians; the table and an SVG plot.
bench-curve: deps-bench
	@tools/deps.sh time
	@$(MAKE) --no-print-directory bench-bin
	bench/curve.sh --rounds $(ROUNDS) --svg $(BENCH_DIR)/curve.svg $(BENCH_DIR)
	@cat $(BENCH_DIR)/curve.table | grep -v '^CURVE' || true

# A weak read three ways, no collection running: a plain load, a weak field
# of a heap table (tc_load_weak), a handle (tc_weak_get); interleaved
# rounds (bench/weakbench.c).
WEAK_ROUNDS ?= 51
bench-weak: deps
	@$(MAKE) --no-print-directory $(BENCH_DIR)/tcweak
	$(BENCH_DIR)/tcweak --rounds $(WEAK_ROUNDS)

# The idle barrier's cost in instructions (cachegrind), which noise cannot
# blur: see tools/barrier-cost.sh.
bench-barrier: deps-bench
	@tools/deps.sh valgrind
	@$(MAKE) --no-print-directory bench-bin
	tools/barrier-cost.sh $(BENCH_DIR)

.SECONDARY: $(BENCH_DIR)/main/backends.h $(BENCH_DIR)/mimalloc/backends.h
-include $(wildcard $(BENCH_DIR)/obj/*.d)
