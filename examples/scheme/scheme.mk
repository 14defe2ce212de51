# examples/scheme/scheme.mk: the Scheme interpreter (issue 19), included by
# the Makefile: `make` builds $(B)/scheme, `make test` runs its unit test
# and its program suite (examples/scheme/tests/run.sh) in each mode.

SCHEME_SRC := $(filter-out examples/scheme/test/%,$(wildcard examples/scheme/*.c))
SCHEME_OBJ := $(SCHEME_SRC:%.c=$(B)/%.o)
SCHEME_IO_OBJ := $(addprefix $(B)/examples/scheme/,object.o read.o print.o string.o port.o)
SCHEME_CFLAGS := -Iexamples/scheme

$(B)/examples/scheme/%.o: examples/scheme/%.c $(wildcard examples/scheme/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SCHEME_CFLAGS) -c $< -o $@

$(B)/scheme: $(SCHEME_OBJ) $(B)/libtricolor.a
	$(CC) $(CFLAGS) $(SCHEME_OBJ) -o $@ $(LDFLAGS) $(B)/libtricolor.a $(LDLIBS)

$(B)/tests/test_scheme_io: examples/scheme/test/test_io.c $(SCHEME_IO_OBJ) $(B)/libtricolor.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SCHEME_CFLAGS) $< $(SCHEME_IO_OBJ) -o $@ $(LDFLAGS) \
		$(B)/libtricolor.a -lcmocka $(LDLIBS)

# The program suite: every mode in the release build; the sanitizer and
# debug builds run it once, with the heap checkers (checkmark), which is
# what they are for.
ifeq ($(CONFIG),release)
SCHEME_MODES ?= default gc10 gcstress checkmark
else
SCHEME_MODES ?= checkmark
endif

.PHONY: scheme scheme-test bench-scheme
scheme: $(B)/scheme

scheme-test: $(B)/scheme $(B)/tests/test_scheme_io
	@fail=0; echo "== $(B)/tests/test_scheme_io"; \
	$(SAN_ENV) $(B)/tests/test_scheme_io || { echo "FAILED: test_scheme_io"; fail=1; }; \
	echo "== examples/scheme/tests/run.sh $(B)/scheme gcstress startup (GCSTRESS=1)"; \
	env $(SAN_ENV) GCSTRESS=1 examples/scheme/tests/run.sh $(B)/scheme gcstress startup || \
		{ echo "FAILED: scheme start-up under gcstress=1"; fail=1; }; \
	echo "== examples/scheme/tests/profile.sh $(B)/scheme"; \
	env $(SAN_ENV) CI_NO_GO=1 examples/scheme/tests/profile.sh $(B)/scheme || \
		{ echo "FAILED: scheme heap profile"; fail=1; }; \
	for m in $(SCHEME_MODES); do \
		echo "== examples/scheme/tests/run.sh $(B)/scheme $$m"; \
		env $(SAN_ENV) examples/scheme/tests/run.sh $(B)/scheme $$m || \
			{ echo "FAILED: scheme suite ($$m)"; fail=1; }; \
	done; exit $$fail

# Our interpreter against GNU Guile 3.0's on allocation-heavy programs,
# interleaved rounds (examples/scheme/bench/run.sh); Guile is installed
# first (apt-get, or the command to run).
SCHEME_ROUNDS ?= 5
bench-scheme: deps
	@tools/deps.sh guile-3.0 time
	@$(MAKE) --no-print-directory $(B)/scheme
	examples/scheme/bench/run.sh $(B)/scheme $(SCHEME_ROUNDS)

-include $(SCHEME_OBJ:.o=.d) $(B)/tests/test_scheme_io.d
