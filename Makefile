# tricolor: one plain Makefile. Objects live under build/$(CONFIG)/ so the
# release, debug, asan, ubsan and tsan builds sit side by side.
#
#   make              install missing packages, then libtricolor.a, libtricolor.so,
#                     tricolor.pc (release)
#   make test         install missing packages, build, run every test
#   make run          the pause report (latency experiment + steady-state server)
#   make bench        every workload on every backend and Go, side by side
#   make test-asan    the whole suite under AddressSanitizer (also test-ubsan)
#   make install PREFIX=/usr/local

CONFIG ?= release
# The version tricolor.pc says: include/tricolor.h's.
VERSION := $(shell awk '/define TC_VERSION_MAJOR/{a=$$3} /define TC_VERSION_MINOR/{b=$$3} END{print a "." b}' include/tricolor.h)
PREFIX ?= /usr/local
B := build/$(CONFIG)

CC ?= cc
CXX ?= c++
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Werror=implicit-function-declaration
BASE_CFLAGS := -std=c11 -g -fPIC -fvisibility=hidden -D_GNU_SOURCE $(WARN) \
	-MMD -MP -Iinclude -Iruntime -Igc -Iobserve -Ipool
SAN_ENV :=

ifeq ($(CONFIG),release)
  OPT := -O2
else ifeq ($(CONFIG),debug)
  # -O1: at -O0 every local lives in a frame slot, and the tests that
  # demand a dropped object be freed find it kept by a dead frame's word
  # (test_mark's ten-million list; test_misuse's finalizers never ran).
  OPT := -O1 -fno-omit-frame-pointer -DTC_DEBUG=1
else ifeq ($(CONFIG),asan)
  OPT := -O1 -fsanitize=address -fno-omit-frame-pointer -DTC_DEBUG=1
  SAN_LDFLAGS := -fsanitize=address
  SAN_ENV := ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=1:abort_on_error=1
else ifeq ($(CONFIG),ubsan)
  OPT := -O1 -fsanitize=undefined -fno-sanitize-recover=undefined -DTC_DEBUG=1
  SAN_LDFLAGS := -fsanitize=undefined
  SAN_ENV := UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else ifeq ($(CONFIG),tsan)
  OPT := -O1 -fsanitize=thread -DTC_DEBUG=1
  SAN_LDFLAGS := -fsanitize=thread
  SAN_ENV := TSAN_OPTIONS=halt_on_error=1:suppressions=$(CURDIR)/tools/tsan.supp
else
  $(error CONFIG must be release, debug, asan, ubsan or tsan)
endif

CFLAGS += $(BASE_CFLAGS) $(OPT)
LDLIBS := -latomic_ops -lpthread -lm
LDFLAGS += $(SAN_LDFLAGS)

LIB_SRC := $(wildcard runtime/*.c gc/*.c observe/*.c pool/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)
TEST_SUPPORT_OBJ := $(B)/tests/support/model.o $(B)/tests/support/graph.o \
	$(B)/tests/support/child.o
# Kept, not deleted as intermediates: else every test binary relinks at
# every make.
.SECONDARY: $(TEST_SUPPORT_OBJ)

DEPS_BUILD := gcc make libatomic-ops-dev libcmocka-dev pkg-config
DEPS_BENCH := libbenchmark-dev libgc-dev libmimalloc-dev golang-go g++

.PHONY: all lib deps deps-bench test test-run test-asan test-ubsan test-tsan test-debug \
	check-symbols clean install stress
# A plain `make` on a fresh machine installs what the build needs first (or
# names the apt-get command), as `make test` does, instead of dying on a
# missing header.
all: deps
	@$(MAKE) --no-print-directory lib $(B)/scheme

deps:
	@tools/deps.sh $(DEPS_BUILD)
deps-bench:
	@tools/deps.sh $(DEPS_BUILD) $(DEPS_BENCH)

lib: $(B)/libtricolor.a $(B)/libtricolor.so $(B)/tricolor.pc

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libtricolor.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libtricolor.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libtricolor.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libtricolor.so $(B)/libtricolor.so.0

# The installed file is written by `install` with the PREFIX given there.
$(B)/tricolor.pc: tricolor.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# Only tc_ symbols may leave the library: interpreters own names like
# gc_collect, and that is what "embeddable" means.
check-symbols: $(B)/libtricolor.so $(B)/libtricolor.a
	@tools/check-symbols.sh $(B)/libtricolor.so $(B)/libtricolor.a include/tricolor.h

$(B)/tests/support/%.o: tests/support/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/support -c $< -o $@

$(B)/tests/%: tests/%.c $(B)/libtricolor.a $(TEST_SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/support $< $(TEST_SUPPORT_OBJ) -o $@ $(LDFLAGS) \
		$(B)/libtricolor.a -lcmocka $(LDLIBS)

# The embedding example in the README must compile and run.
$(B)/tests/readme_example: README.md $(B)/libtricolor.a
	@mkdir -p $(dir $@)
	awk '/^```c$$/{f=1;next} /^```$$/{f=0} f' README.md > $(B)/tests/readme_example.c
	$(CC) $(CFLAGS) $(B)/tests/readme_example.c -o $@ $(LDFLAGS) $(B)/libtricolor.a $(LDLIBS)

test: deps
	@$(MAKE) --no-print-directory test-run

# The same example against the shared library: what an embedder links.
$(B)/tests/readme_example_shared: $(B)/tests/readme_example $(B)/libtricolor.so
	$(CC) $(CFLAGS) $(B)/tests/readme_example.c -o $@ $(LDFLAGS) \
		-L$(B) -l:libtricolor.so -Wl,-rpath,$(CURDIR)/$(B) $(LDLIBS)

test-run: lib check-symbols $(TEST_BIN) $(B)/tests/readme_example $(B)/tests/readme_example_shared
	@fail=0; for t in $(TEST_BIN); do \
		echo "== $$t"; \
		$(SAN_ENV) $$t || { echo "FAILED: $$t"; fail=1; }; \
	done; \
	for t in readme_example readme_example_shared; do \
		echo "== $(B)/tests/$$t"; \
		$(SAN_ENV) $(B)/tests/$$t || { echo "FAILED: $$t"; fail=1; }; \
	done; \
	$(MAKE) --no-print-directory scheme-test || fail=1; \
	exit $$fail

test-asan: deps
	@$(MAKE) --no-print-directory CONFIG=asan test-run
test-ubsan: deps
	@$(MAKE) --no-print-directory CONFIG=ubsan test-run
test-tsan: deps
	@$(MAKE) --no-print-directory CONFIG=tsan test-run
# The whole suite at -O1 with the debug checks (TC_DEBUG: the lock
# order, tci_assert_held, tci_assert); the sanitizer builds have them too.
test-debug: deps
	@$(MAKE) --no-print-directory CONFIG=debug test-run

# Torture runs with fresh seeds for STRESS_SECONDS: each run is given the
# time left, so it ends within a few seconds of that; prints the runs and
# operations done (tools/stress.sh).
STRESS_SECONDS ?= 120
stress: deps
	@$(MAKE) --no-print-directory lib $(B)/tests/test_torture
	tools/stress.sh $(B)/tests/test_torture $(STRESS_SECONDS)

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/tricolor.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(B)/libtricolor.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libtricolor.so $(DESTDIR)$(PREFIX)/lib/libtricolor.so.0
	ln -sf libtricolor.so.0 $(DESTDIR)$(PREFIX)/lib/libtricolor.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' tricolor.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/tricolor.pc

clean:
	rm -rf build

# Keep intermediate objects (tests/support/*.o) between runs.
.SECONDARY:

-include bench/bench.mk
include examples/scheme/scheme.mk
-include $(LIB_OBJ:.o=.d) $(TEST_BIN:=.d)
