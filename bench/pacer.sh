#!/bin/sh
# pacer.sh: the pacer's scenarios on tricolor and on Go 1.19, side by side
# (the pacer issue's measurements).
#
# Usage: bench/pacer.sh [--rounds N] [--quick] BENCH_DIR   (make bench-pacer)
#
#  1. steady-state server, ~100 MiB live, TRICOLOR_GC / GOGC = 50, 100, 200:
#     peak heap / live, against (1 + GC/100) x 1.10;
#  2. TRICOLOR_GC=off TRICOLOR_MEMLIMIT=200MiB (GOGC=off GOMEMLIMIT=200MiB),
#     ~120 MiB live: peak RSS, against 210 MiB;
#  3. a spike to 1 GiB live and back to 50 MiB, allocating on (tcspike,
#     peer_spike): MiB allocated after the drop until RSS < 150 MiB,
#     against 2048 (-1: never), and the RSS at the end;
#  4. a 64 MiB limit under ~100 MiB live: GC CPU fraction, against the
#     limiter's 50% + 5 points.
#
# Each run is a process of its own; tricolor and Go alternate within a
# round, the order flipping from round to round; the table gives the
# median and every round's figure. RESULT lines go to BENCH_DIR/pacer.log.
# A run that fails (nonzero exit, no RESULT) makes the script exit 1.
set -u
usage() { echo "usage: pacer.sh [--rounds N] [--quick] BENCH_DIR" >&2; exit 2; }
opts_need="tcreport tcspike peer_steady peer_spike"
# shellcheck source=bench/opts.sh
. "$(dirname "$0")/opts.sh"
log=$dir/pacer.log
: > "$log"
limit=${BENCH_RUN_LIMIT:-900}
# Quick: smaller sizes, to check that everything runs (figures mean little).
if [ -n "$quick" ]; then
    ops=200000; spike="--peak-mib 128 --base-mib 8 --after-mib 256 --target-mib 64"
    gspike="-peak-mib 128 -base-mib 8 -after-mib 256 -target-mib 64"
else
    ops=2000000; spike=""; gspike=""
fi
failed=0

# run SCENARIO BACKEND ENV... -- COMMAND...: one run, its RESULT line logged.
run() {
    sc=$1 be=$2 r=$3
    shift 3
    envs=""
    while [ "$1" != "--" ]; do envs="$envs $1"; shift; done
    shift
    out=$(env $envs timeout "$limit" "$@" 2>/dev/null | grep '^RESULT' | tail -n 1)
    if [ -z "$out" ]; then
        echo "pacer.sh: FAILED: $sc on $be (round $r): $envs $*" >&2
        failed=1
        return
    fi
    echo "scenario=$sc round=$r $out" >> "$log"
}

echo "tricolor pacer scenarios, $(date -u '+%Y-%m-%d %H:%M UTC'), $rounds round(s)${quick:+, quick sizes}"
echo "  machine: $(nproc) CPUs, $(uname -sr); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $(go version 2>/dev/null || echo 'go: not found')"
echo
r=1
while [ "$r" -le "$rounds" ]; do
    echo "round $r of $rounds ..." >&2
    for pct in 50 100 200; do
        t="run gc$pct tricolor $r TRICOLOR_GC=$pct -- $dir/tcreport --only steady --ops $ops"
        g="run gc$pct go $r GOGC=$pct -- $dir/peer_steady -ops $ops"
        if [ $((r % 2)) -eq 1 ]; then eval "$t"; eval "$g"; else eval "$g"; eval "$t"; fi
    done
    t="run limit200 tricolor $r TRICOLOR_GC=off TRICOLOR_MEMLIMIT=200MiB -- $dir/tcreport --only steady --live-mib 120 --ops $ops"
    g="run limit200 go $r GOGC=off GOMEMLIMIT=200MiB -- $dir/peer_steady -live-mib 120 -ops $ops"
    if [ $((r % 2)) -eq 1 ]; then eval "$t"; eval "$g"; else eval "$g"; eval "$t"; fi
    t="run spike tricolor $r -- $dir/tcspike $spike"
    g="run spike go $r -- $dir/peer_spike $gspike"
    if [ $((r % 2)) -eq 1 ]; then eval "$t"; eval "$g"; else eval "$g"; eval "$t"; fi
    t="run below tricolor $r TRICOLOR_MEMLIMIT=64MiB -- $dir/tcreport --only steady --ops $ops"
    g="run below go $r GOMEMLIMIT=64MiB -- $dir/peer_steady -ops $ops"
    if [ $((r % 2)) -eq 1 ]; then eval "$t"; eval "$g"; else eval "$g"; eval "$t"; fi
    r=$((r + 1))
done

awk -f "$(dirname "$0")/table.awk" -f "$(dirname "$0")/pacer-table.awk" "$log"
[ "$failed" -eq 0 ] || { echo "pacer.sh: some runs failed (see above)" >&2; exit 1; }
