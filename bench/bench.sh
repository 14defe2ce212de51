#!/bin/sh
# bench.sh: every workload on every backend and the Go peers, side by side.
#
# Usage: bench/bench.sh [--quick] [--rounds N] BENCH_DIR
#        (make bench [ROUNDS=3], make bench-quick)
#
# The machine is shared and noisy, so one absolute time means little: each
# (workload, backend) pair runs in a process of its own (a collector's heap
# outlives its benchmark), the backends of one workload run back to back
# (interleaved, the order rotating from round to round, so a slow spell
# hits all of them rather than one), and the table shows the median over
# the rounds and the ratios tricolor / peer of those medians. Each run's
# RESULT line goes to BENCH_DIR/bench.log with its round; the table is
# computed from that log (bench/table.awk and bench/bench-table.awk), so
# it can be recomputed.
# A run that fails (nonzero exit, no RESULT) is reported and makes the
# script exit 1 after the table: a broken backend never shows as a fast one.
set -u

usage() {
    echo "usage: bench.sh [--quick] [--rounds N] BENCH_DIR" >&2
    exit 2
}
quick=""
rounds=3
dir=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=--quick; shift ;;
        --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
        -*) usage ;;
        *) [ -z "$dir" ] || usage; dir=$1; shift ;;
    esac
done
[ -n "$dir" ] || usage
case $rounds in
    '' | *[!0-9]* | 0) echo "bench.sh: --rounds wants a positive integer, not '$rounds'" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
tcbench=$dir/tcbench
for f in "$tcbench" "$dir/peer_gcbench" "$dir/peer_latency" "$dir/peer_steady"; do
    [ -x "$f" ] || { echo "bench.sh: missing $f (make bench-bin)" >&2; exit 2; }
done
# A run longer than this is stuck, not slow.
limit=${BENCH_RUN_LIMIT:-900}

# ---- what ran where -------------------------------------------------------
echo "tricolor side-by-side benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "  machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  compilers: $(${CC:-cc} --version | head -1); $(go version 2>/dev/null || echo 'go: not found')"
echo "  libraries: bdwgc $(pkg-config --modversion bdw-gc 2>/dev/null || echo '?')," \
    "glibc $(getconf GNU_LIBC_VERSION | cut -d' ' -f2)," \
    "Google Benchmark $(dpkg-query -W -f='${Version}' libbenchmark-dev 2>/dev/null || echo '?')," \
    "mimalloc $(dpkg-query -W -f='${Version}' libmimalloc-dev 2>/dev/null || echo 'not installed')"
envs=$(env | grep -E '^(TRICOLOR_|GC_|GOGC|GOMEMLIMIT|GOMAXPROCS)' | tr '\n' ' ')
echo "  environment: ${envs:-defaults (no TRICOLOR_*, GC_*, GOGC, GOMEMLIMIT)}"
echo "  mode: ${quick:-full size}, $rounds round(s), median of the rounds; ratios < 1 favour tricolor"
echo "        for every figure (all are costs: time, pause, heap, CPU)"
echo

# The pairs: each program's own list, names <case>/<backend>/iterations:...,
# as lines "<case> <backend> <program>" (mimalloc is a program of its own:
# see bench.mk).
progs=$tcbench
[ -x "$dir/tcbench-mimalloc" ] && progs="$progs $dir/tcbench-mimalloc"
pairs=$dir/bench.pairs
: > "$pairs"
list=$dir/bench.list
for p in $progs; do
    # Into a file first: a pipeline's status is its last command's (dash
    # has no pipefail), and a program that cannot start must stop us.
    if ! "$p" $quick --benchmark_list_tests > "$list" 2>&1 || [ ! -s "$list" ]; then
        echo "bench.sh: $p cannot list its benchmarks:" >&2
        sed 's/^/    /' "$list" >&2
        exit 2
    fi
    sed 's|/iterations:.*||' "$list" |
        awk -v p="$p" '{n = split($0, f, "/"); c = f[1]; for (i = 2; i < n; i++) c = c "/" f[i];
                        print c, f[n], p}' >> "$pairs"
done
cases=$(awk '!($1 in seen) {seen[$1] = 1; print $1}' "$pairs")
backends_of() { awk -v c="$1" '$1 == c {print $2}' "$pairs"; }
program_of() { awk -v c="$1" -v b="$2" '$1 == c && $2 == b {print $3}' "$pairs"; }

# Parameters of the Go peers, the same as the C workloads' (bench_util.c).
if [ -n "$quick" ]; then
    go_gcbench="-stretch 14 -long 12 -min 4 -max 12"
    go_latency="-window 20000 -pushes 100000 -msg-size 1024"
    go_steady="-live-mib 8 -ops 200000 -seed 42"
else
    go_gcbench="-stretch 18 -long 16 -min 4 -max 16"
    go_latency="-window 200000 -pushes 1000000 -msg-size 1024"
    go_steady="-live-mib 100 -ops 2000000 -seed 42"
fi

log=$dir/bench.log
: > "$log"
failures=0

# run ROUND CASE BACKEND: one run in its own process, its RESULT line
# tagged and appended to the log.
run() {
    out=$dir/bench.last.out
    case $3 in
        go)
            w=$2
            eval "args=\$go_$w"
            # shellcheck disable=SC2086 # args are separate flags
            timeout "$limit" "$dir/peer_$w" $args > "$out" 2>&1 ;;
        *)
            filter=$(printf '%s' "^$2/$3/" | sed 's/[.[\*^$+?(){}|]/\\&/g; s/^\\\^/^/')
            timeout "$limit" "$(program_of "$2" "$3")" $quick --benchmark_filter="$filter" \
                > "$out" 2>&1 ;;
    esac
    status=$?
    line=$(grep '^RESULT ' "$out" | tail -1)
    if [ $status -ne 0 ] || [ -z "$line" ]; then
        echo "  FAILED: $2 on $3 (exit $status); its output:" >&2
        sed 's/^/    /' "$out" | tail -20 >&2
        failures=$((failures + 1))
        return
    fi
    echo "round=$1 case=$2 $line" >> "$log"
}

runs=0
for r in $(seq 1 "$rounds"); do
    echo "round $r of $rounds ..."
    for c in $cases; do
        bs=$(backends_of "$c")
        case $c in gcbench | latency | steady) bs="$bs go" ;; esac
        # Rotate the order by the round, so no backend always runs first.
        n=$(echo $bs | wc -w)
        k=$(( (r - 1) % n ))
        ordered=$(echo $bs | tr ' ' '\n' | awk -v k="$k" -v n="$n" \
            '{a[NR - 1] = $0} END {for (i = 0; i < n; i++) print a[(i + k) % n]}')
        for b in $ordered; do
            run "$r" "$c" "$b"
            runs=$((runs + 1))
        done
    done
done
echo

awk -f "$here/table.awk" -f "$here/bench-table.awk" "$log"

# Every run must have left its line: a count that does not add up is a
# failure even if no run said so.
got=$(grep -c . "$log")
if [ "$got" -ne $((runs - failures)) ] || [ "$runs" -eq 0 ]; then
    echo "bench.sh: $runs runs but $got results in $log" >&2
    failures=$((failures + 1))
fi

if [ $failures -ne 0 ]; then
    echo "bench.sh: $failures run(s) FAILED (see above)" >&2
    exit 1
fi
