#!/bin/sh
# scale.sh: stops and marks against the program's size, tricolor and Go 1.19
# side by side (issue 15's scale benchmark; make bench-scale).
#
# Usage: bench/scale.sh [--rounds N] [--quick] [--svg PATH] BENCH_DIR
#
# The sweep (bench/scale.c's cases; Go runs all but weak, which it lacks):
#   heap         200, 400, 1024, 2048, 4096 MiB live (a size is skipped when
#                MemAvailable is under 3.5 x the size + 1 GiB when it is due)
#   roots        1, 8, 64 MiB of root range (tc_root_add, plain stores)
#   broots       1, 8, 64 MiB through tc_root_add_barriered (tricolor only)
#   weak         10k, 100k, 1M weak references (+ a tenth as ephemerons)
#   finalizers   10k, 100k, 300k objects with a finalizer
#   threads      1, 4, 16, 64 attached threads (Go: goroutines)
#   firstcycles  a fresh process's first 3 cycles (towards 200 MiB live)
# SCALE_SWEEP="case:size ..." replaces the sweep (for one dimension).
# --quick: tiny sizes and 64 MiB of allocation per run, to check that every
# run exits 0 with its RESULT line (make bench-scale-quick; not a timing).
#
# Each run is a process of its own; tricolor and Go alternate, the order
# flipping from round to round. RESULT lines (and failures) go to
# BENCH_DIR/scale.log; the table gives each figure's median over the
# rounds (bench/scale-report.awk, which also writes the SVG plot of the
# longest and p99 stop against size, one panel per case; default
# BENCH_DIR/scale.svg). A failed run (nonzero exit, a timeout, no RESULT)
# makes the script exit 1 after the table.
set -u
usage() { echo "usage: scale.sh [--rounds N] [--quick] [--svg PATH] BENCH_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
opts_svg=1 opts_need="tcscale peer_scale"
# shellcheck source=bench/opts.sh
. "$here/opts.sh"
[ -n "$svg" ] || svg=$dir/scale.svg
log=$dir/scale.log
: > "$log"
# A run longer than this is stuck, or a stop that grows past all bounds
# (recorded as a failure with its exit status, 124).
limit=${BENCH_RUN_LIMIT:-900}

if [ -n "$quick" ]; then
    alloc="--alloc-mib 64"
    sweep="heap:16 heap:32 roots:1 roots:4 broots:1 weak:1000 weak:10000 finalizers:1000
           finalizers:10000 threads:1 threads:4 firstcycles:16"
else
    alloc=""
    sweep="heap:200 heap:400 heap:1024 heap:2048 heap:4096 roots:1 roots:8 roots:64
           broots:1 broots:8 broots:64 weak:10000 weak:100000 weak:1000000 finalizers:10000
           finalizers:100000 finalizers:300000 threads:1 threads:4 threads:16 threads:64
           firstcycles:200"
fi
sweep=${SCALE_SWEEP:-$sweep}

runs=0
failed=0
# run ROUND CASE SIZE BACKEND: one run; its RESULT line, or a FAILED line
# with its exit status, goes to the log.
run() {
    r=$1 c=$2 s=$3 b=$4
    case $b in tricolor) p=$dir/tcscale ;; *) p=$dir/peer_scale ;; esac
    out=$dir/scale.last.out
    # shellcheck disable=SC2086 # alloc is a flag and its value
    timeout "$limit" "$p" --case "$c" --size "$s" $alloc > "$out" 2>&1
    status=$?
    runs=$((runs + 1))
    line=$(grep '^RESULT ' "$out" | tail -n 1)
    if [ $status -ne 0 ] || [ -z "$line" ]; then
        echo "scale.sh: FAILED: $c $s on $b (round $r, exit $status); its output:" >&2
        tail -n 20 "$out" | sed 's/^/    /' >&2
        echo "round=$r FAILED case=$c size=$s backend=$b exit=$status" >> "$log"
        failed=$((failed + 1))
        return
    fi
    echo "round=$r $line" >> "$log"
}

# fits SIZE_MIB: whether a heap of that many MiB live fits now (peak RSS
# in trial runs: tricolor 3.8-2.8 x live from 200 MiB to 1 GiB, Go 4.2-3.0).
fits() {
    avail=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
    [ "$avail" -ge $(($1 * 7 / 2 + 1024)) ]
}

echo "tricolor scale benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $rounds round(s)${quick:+, quick sizes}"
echo "  machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
    "$(uname -sr); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $(go version 2>/dev/null || echo 'go: not found')"
envs=$(env | grep -E '^(TRICOLOR_|GOGC|GOMEMLIMIT|GOMAXPROCS|GODEBUG)' | tr '\n' ' ')
echo "  environment: ${envs:-defaults (no TRICOLOR_*, GOGC, GOMEMLIMIT, GOMAXPROCS, GODEBUG)}"
echo
r=1
while [ "$r" -le "$rounds" ]; do
    echo "round $r of $rounds ..." >&2
    for cs in $sweep; do
        c=${cs%%:*} s=${cs#*:}
        if [ "$c" = heap ] && ! fits "$s"; then
            echo "scale.sh: heap $s MiB skipped in round $r: MemAvailable under $((s * 7 / 2 + 1024)) MiB" >&2
            echo "round=$r SKIPPED case=$c size=$s" >> "$log"
            continue
        fi
        if [ "$c" = weak ] || [ "$c" = broots ]; then
            run "$r" "$c" "$s" tricolor
        elif [ $((r % 2)) -eq 1 ]; then
            run "$r" "$c" "$s" tricolor; run "$r" "$c" "$s" go
        else
            run "$r" "$c" "$s" go; run "$r" "$c" "$s" tricolor
        fi
    done
    r=$((r + 1))
done

awk -v svg="$svg" -f "$here/table.awk" -f "$here/scale-report.awk" "$log"
echo
echo "SVG plot: $svg; RESULT lines: $log"
got=$(grep -c '^round=[0-9]* RESULT ' "$log")
if [ "$got" -ne $((runs - failed)) ] || [ "$runs" -eq 0 ]; then
    echo "scale.sh: $runs runs but $got RESULT lines in $log" >&2
    failed=$((failed + 1))
fi
[ "$failed" -eq 0 ] || { echo "scale.sh: $failed run(s) FAILED (see above)" >&2; exit 1; }
