#!/bin/sh
# profile-cost.sh: heap profiling's cost on binary-trees at the default rate,
# counted in instructions rather than timed. On this shared machine the same
# run's time varies by 15-20% (wall and CPU alike), so a 1% effect cannot
# be resolved by a stopwatch; valgrind's cachegrind counts the instructions
# each run executes. Both runs use the stopped collector with one marker
# and the GC CPU limiter off (it reads the clocks, and its decisions moved
# the number of collections from run to run), so they make the same
# collections; only the sampling differs (rate 0 and Go's 512 KiB).
# Usage: tools/profile-cost.sh BENCH_DIR [DEPTH]
set -e
dir=$1
depth=${2:-16}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for rate in 0 524288; do
    TRICOLOR_DEBUG=gcstoptheworld=1,memprofilerate=$rate TRICOLOR_MARKERS=1 \
        TRICOLOR_GC_CPU_LIMIT=100 \
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$out/$rate.cg" \
        "$dir/tcobserve" --trees-once --depth "$depth" >"$out/$rate.log" 2>&1 ||
        { cat "$out/$rate.log" >&2; exit 1; }
done
off=$(sed -n 's/^summary: //p' "$out/0.cg")
on=$(sed -n 's/^summary: //p' "$out/524288.cg")
echo "binary-trees depth $depth instructions: profiling off $off ($(grep -o '[0-9]* collections' "$out/0.log")), at 512 KiB $on ($(grep -o '[0-9]* samples' "$out/524288.log"))"
awk -v a="$on" -v b="$off" 'BEGIN { printf "heap profiling at the default rate: %+.2f%% instructions\n", (a / b - 1) * 100 }'
