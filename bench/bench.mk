# bench/bench.mk: the benchmark programs, included by the top Makefile.
#
#   make bench-bin                  every benchmark under $(B)/bench/
#   make run [ARGS='--window N --pushes N --msg-size N']
#                                   the GC latency experiment on tricolor
#   make bench-compare [ROUNDS=3]   gcbench and allocrate on tricolor, bdwgc
#                                   and malloc, interleaved; medians, ratios
#
# Each workload (gcbench.c, allocrate.c) is compiled once and linked with
# one backend_<name>.o per collector into <workload>_<name>. Everything is
# built with -flto so the backend's small wrappers inline into the workload
# at link time: a backend costs what calling its allocator directly costs.

BENCH_DIR := $(B)/bench
BENCH_BACKENDS := tricolor bdwgc malloc
BENCH_WORKLOADS := gcbench allocrate
BENCH_BIN := $(foreach w,$(BENCH_WORKLOADS),$(foreach k,$(BENCH_BACKENDS),$(BENCH_DIR)/$(w)_$(k))) \
	$(BENCH_DIR)/latency
BENCH_LTO ?= -flto=auto
ROUNDS ?= 3

# Recursive (=) so pkg-config runs only when a bench rule needs it.
BDWGC_CFLAGS = $(shell pkg-config --cflags bdw-gc 2>/dev/null)
BDWGC_LIBS = $(shell pkg-config --libs bdw-gc 2>/dev/null || echo -lgc)

# What each backend links against, after the objects.
BENCH_LIBS_tricolor = $(B)/libtricolor.a $(LDLIBS)
BENCH_LIBS_bdwgc = $(BDWGC_LIBS) -lm
BENCH_LIBS_malloc = -lm
# Which of those make must build first.
BENCH_DEP_tricolor := $(B)/libtricolor.a
BENCH_DEP_bdwgc :=
BENCH_DEP_malloc :=

.PHONY: bench-bin run run-latency bench-compare bench-compare-run

bench-bin: $(BENCH_BIN)

# The stem here (gcbench) is shorter than in the top Makefile's $(B)/%.o
# rule (bench/gcbench), so make picks this rule for bench objects.
$(BENCH_DIR)/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BENCH_LTO) -c $< -o $@

$(BENCH_DIR)/backend_bdwgc.o: CFLAGS += $(BDWGC_CFLAGS)

# $(1): workload, $(2): backend.
define bench_link_rule
$(BENCH_DIR)/$(1)_$(2): $(BENCH_DIR)/$(1).o $(BENCH_DIR)/backend_$(2).o \
		$(BENCH_DIR)/bench_util.o $(BENCH_DEP_$(2))
	$$(CC) $$(CFLAGS) $$(BENCH_LTO) $$(filter %.o,$$^) -o $$@ $$(LDFLAGS) $$(BENCH_LIBS_$(2))
endef
$(foreach w,$(BENCH_WORKLOADS),$(foreach k,$(BENCH_BACKENDS),\
	$(eval $(call bench_link_rule,$(w),$(k)))))

# The latency experiment measures tricolor alone, straight through its API.
$(BENCH_DIR)/latency: $(BENCH_DIR)/latency.o $(B)/libtricolor.a
	$(CC) $(CFLAGS) $(BENCH_LTO) $(BENCH_DIR)/latency.o -o $@ $(LDFLAGS) \
		$(B)/libtricolor.a $(LDLIBS)

# Both install what is missing first (tools/deps.sh), then build and run.
run: deps
	@$(MAKE) --no-print-directory run-latency
run-latency: $(B)/libtricolor.a $(BENCH_DIR)/latency
	$(BENCH_DIR)/latency $(ARGS)

bench-compare: deps-bench
	@$(MAKE) --no-print-directory bench-compare-run
bench-compare-run: $(BENCH_BIN)
	ROUNDS=$(ROUNDS) bench/compare.sh $(BENCH_DIR)

-include $(wildcard $(BENCH_DIR)/*.d)
