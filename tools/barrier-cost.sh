#!/bin/sh
# barrier-cost.sh: the idle write barrier's cost on binary-trees (GCBench),
# counted in instructions rather than timed. On this shared machine timings
# of the same program vary by 15% from run to run, so a 3% effect cannot
# be resolved by a stopwatch; valgrind's cachegrind counts the instructions
# each build executes, which is the same on every run. Both builds run the
# stopped collector with one marker (the idle barrier is what is measured:
# `tc_plain` has it compiled out, `tricolor` keeps its flag test), and the
# GC CPU limiter off (TRICOLOR_GC_CPU_LIMIT=100): the limiter reads the
# clocks, and with it on the same binary made 37 to 41 collections from
# run to run (2026-12-03), which moved the count by up to 6%. Without it
# they nearly always make the same collections (60, sometimes 59: the
# goal still follows measured rates) and the same marking; only the
# stores differ. The collections are printed, and a warning when they
# differ: then the comparison is void and should be run again.
# Usage: tools/barrier-cost.sh BENCH_DIR
set -e
dir=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for b in tc_plain tricolor; do
    TRICOLOR_DEBUG=gcstoptheworld=1 TRICOLOR_MARKERS=1 TRICOLOR_GC_CPU_LIMIT=100 \
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$out/$b.cg" \
        "$dir/tcbench" --benchmark_filter="^gcbench/$b/" >"$out/$b.log" 2>&1 ||
        { cat "$out/$b.log" >&2; exit 1; }
    grep -o 'gcs=[0-9]*' "$out/$b.log" | head -n 1 >"$out/$b.gcs"
done
plain=$(sed -n 's/^summary: //p' "$out/tc_plain.cg")
barrier=$(sed -n 's/^summary: //p' "$out/tricolor.cg")
echo "gcbench instructions: tc_plain (no barrier) $plain ($(cat "$out/tc_plain.gcs")), tricolor (idle barrier) $barrier ($(cat "$out/tricolor.gcs"))"
awk -v a="$barrier" -v b="$plain" 'BEGIN { printf "idle barrier: %+.2f%% instructions\n", (a / b - 1) * 100 }'
[ "$(cat "$out/tc_plain.gcs")" = "$(cat "$out/tricolor.gcs")" ] ||
    echo "warning: the two runs made different numbers of collections: compare runs with equal counts"
