#!/bin/sh
# curve.sh: time against memory, the trade every user of a collector makes
# (issue 20). Binary trees (gcbench) and the steady-state cache (steady) on
# tricolor, bdwgc and Go, each at a series of heap settings, from tight to
# loose:
#   tricolor  TRICOLOR_GC     = 25 50 100 200 400 800
#             TRICOLOR_MEMLIMIT (setting mN: N MiB, TRICOLOR_GC at 100)
#   bdwgc     GC_FREE_SPACE_DIVISOR = 12 6 4 3 2 1   (its default is 3)
#   Go        GOGC            = 25 50 100 200 400 800
#             GOMEMLIMIT (setting mN: N MiB, GOGC at 100)
# The limits are the workload's: 19, 21, 24 and 28 MiB for binary trees, 170,
# 190 and 220 MiB for the cache (its live heap is about 100 MiB, the
# smallest RSS any collector reached about 155).
# Each run's wall time, CPU time (user + system, /usr/bin/time) and peak
# RSS; the rounds interleave every (collector, setting) pair of a workload,
# the order rotating from round to round; the medians go in a table and,
# with --svg, a plot of time against peak RSS (as a multiple of the
# smallest peak RSS any run of that workload reached: the tightest heap
# seen), one line a collector, a panel a workload.
#
# Usage: bench/curve.sh [--quick] [--rounds N] [--svg PATH] BENCH_DIR
#        (make bench-curve [ROUNDS=3])
set -u

usage() {
    echo "usage: curve.sh [--quick] [--rounds N] [--svg PATH] BENCH_DIR" >&2
    exit 2
}
opts_svg=1
opts_need="tcbench peer_gcbench peer_steady"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/opts.sh"
command -v /usr/bin/time > /dev/null 2>&1 || { echo "curve.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }

if [ -n "$quick" ]; then
    qflag=--quick
    go_gcbench="-stretch 14 -long 12 -min 4 -max 12"
    go_steady="-live-mib 8 -ops 200000 -seed 42"
    tc_settings="50 200"
    bdw_settings="6 2"
    go_settings="50 200"
    gcbench_limits="m12"
    steady_limits="m24"
else
    qflag=
    go_gcbench="-stretch 18 -long 16 -min 4 -max 16"
    go_steady="-live-mib 100 -ops 2000000 -seed 42"
    tc_settings="25 50 100 200 400 800"
    bdw_settings="12 6 4 3 2 1"
    go_settings="25 50 100 200 400 800"
    gcbench_limits="m19 m21 m24 m28"
    steady_limits="m170 m190 m220"
fi
limit=${BENCH_RUN_LIMIT:-900}
log=$dir/curve.log
: > "$log"
failures=0

echo "tricolor time-space curves, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $rounds round(s), medians; bdwgc with GC_MARKERS=${GC_MARKERS:-2}; $(go version 2>/dev/null || echo 'go: not found')"

# run ROUND WORKLOAD COLLECTOR SETTING: one run, its figures appended to the log.
run() {
    out=$dir/curve.last.out
    tm=$dir/curve.last.time
    # mN: a memory limit of N MiB, the proportional setting at its default.
    case $4 in
        m*) tc_env="TRICOLOR_MEMLIMIT=${4#m}MiB"; go_env="GOMEMLIMIT=${4#m}MiB" ;;
        *) tc_env="TRICOLOR_GC=$4"; go_env="GOGC=$4" ;;
    esac
    case $3 in
        tricolor)
            env "$tc_env" /usr/bin/time -f '%e %U %S %M' -o "$tm" timeout "$limit" \
                "$dir/tcbench" $qflag --benchmark_filter="^$2/tricolor/" > "$out" 2>&1 ;;
        bdwgc)
            env GC_MARKERS="${GC_MARKERS:-2}" GC_FREE_SPACE_DIVISOR="$4" /usr/bin/time -f '%e %U %S %M' \
                -o "$tm" timeout "$limit" "$dir/tcbench" $qflag --benchmark_filter="^$2/bdwgc/" \
                > "$out" 2>&1 ;;
        go)
            eval "args=\$go_$2"
            # shellcheck disable=SC2086 # args are separate flags
            env "$go_env" /usr/bin/time -f '%e %U %S %M' -o "$tm" timeout "$limit" \
                "$dir/peer_$2" $args > "$out" 2>&1 ;;
    esac
    status=$?
    line=$(grep '^RESULT ' "$out" | tail -1)
    if [ $status -ne 0 ] || [ -z "$line" ] || [ ! -s "$tm" ]; then
        echo "  FAILED: $2 on $3 at $4 (exit $status)" >&2
        tail -5 "$out" | sed 's/^/    /' >&2
        failures=$((failures + 1))
        return
    fi
    # The benchmark's own time (ms=, the measured part) and the process's
    # CPU and peak RSS (KiB) from time(1).
    ms=$(echo "$line" | sed -n 's/.* ms=\([0-9.]*\).*/\1/p')
    set -- "$1" "$2" "$3" "$4" $(cat "$tm")
    echo "round=$1 workload=$2 collector=$3 setting=$4 wall_s=$5 cpu_s=$(echo "$6 $7" | awk '{print $1 + $2}') rss_kib=$8 bench_ms=$ms" >> "$log"
}

for r in $(seq 1 "$rounds"); do
    echo "round $r of $rounds ..."
    for w in gcbench steady; do
        pairs=""
        eval "limits=\$${w}_limits"
        for s in $tc_settings $limits; do pairs="$pairs tricolor:$s"; done
        for s in $bdw_settings; do pairs="$pairs bdwgc:$s"; done
        for s in $go_settings $limits; do pairs="$pairs go:$s"; done
        n=$(echo $pairs | wc -w)
        k=$(( (r - 1) % n ))
        for p in $(echo $pairs | tr ' ' '\n' | awk -v k="$k" -v n="$n" \
                '{a[NR - 1] = $0} END {for (i = 0; i < n; i++) print a[(i + k) % n]}'); do
            run "$r" "$w" "${p%%:*}" "${p#*:}"
        done
    done
done

# The medians, and the peak RSS as a multiple of the workload's smallest.
awk '
function med(key,   n, i, j, t, v) {
    n = split(vals[key], v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    k = f["workload"] SUBSEP f["collector"] SUBSEP f["setting"]
    if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
    vals[k, "wall"] = vals[k, "wall"] " " f["wall_s"]
    vals[k, "cpu"] = vals[k, "cpu"] " " f["cpu_s"]
    vals[k, "rss"] = vals[k, "rss"] " " f["rss_kib"]
}
END {
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, p, SUBSEP)
        r = med(k SUBSEP "rss") / 1024
        if (!(p[1] in minrss) || r < minrss[p[1]]) minrss[p[1]] = r
        if (p[2] != "go" && (!(p[1] in minrss_c) || r < minrss_c[p[1]])) minrss_c[p[1]] = r
    }
    printf "%-8s %-9s %8s %8s %8s %9s %7s\n", "workload", "collector", "setting", "wall s", "CPU s", "RSS MiB", "x min"
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, p, SUBSEP)
        r = med(k SUBSEP "rss") / 1024
        printf "%-8s %-9s %8s %8.2f %8.2f %9.1f %7.2f\n", p[1], p[2], p[3], med(k SUBSEP "wall"), med(k SUBSEP "cpu"), r, r / minrss[p[1]]
        printf "CURVE workload=%s collector=%s setting=%s wall_s=%.3f cpu_s=%.3f rss_mib=%.1f x_min=%.3f\n", p[1], p[2], p[3], med(k SUBSEP "wall"), med(k SUBSEP "cpu"), r, r / minrss[p[1]] > "/dev/stderr"
        np[p[1], p[2]]++
        prss[p[1], p[2], np[p[1], p[2]]] = r
        pwall[p[1], p[2], np[p[1], p[2]]] = med(k SUBSEP "wall")
    }
    # The issue-20 test: at every heap size H from 1.5x the smallest up, the
    # best time tricolor reaches within H against bdwgc'"'"'s (each a step
    # function of H, so the sizes to look at are 1.5x and every point'"'"'s).
    # Twice: from the smallest RSS of any run, and of the C program'"'"'s runs
    # alone (Go'"'"'s port has 24-byte tree nodes in a 24-byte class, where the
    # C node of the same fields takes a 32-byte slot in both C collectors).
    for (w in minrss) {
        verdict_from(w, minrss[w], "any run")
        verdict_from(w, minrss_c[w], "the C program")
    }
}
function verdict_from(w, smallest, what,   nh, hs, c, col, j, h, tb, tt, verdict, miss) {
    nh = 0; hs[++nh] = 1.5 * smallest
    for (c = 1; c <= 2; c++) {
        col = c == 1 ? "tricolor" : "bdwgc"
        for (j = 1; j <= np[w, col]; j++) if (prss[w, col, j] >= hs[1]) hs[++nh] = prss[w, col, j]
    }
    verdict = "yes"; miss = ""
    for (h = 1; h <= nh; h++) {
        tb = best(w, "bdwgc", hs[h]); tt = best(w, "tricolor", hs[h])
        if (tb < 0) continue
        if (tt < 0 || tt > tb) { verdict = "no"; miss = miss sprintf(" %.1f MiB (tricolor %s s, bdwgc %.2f s)", hs[h], tt < 0 ? "none" : sprintf("%.2f", tt), tb) }
    }
    printf "%s: tricolor at or below bdwgc at every heap from %.1f MiB (1.5x the smallest RSS of %s, %.1f MiB) up: %s%s\n", w, hs[1], what, smallest, verdict, miss == "" ? "" : "; misses at" miss
}
function best(w, col, h,   j, t) {
    t = -1
    for (j = 1; j <= np[w, col]; j++) if (prss[w, col, j] <= h && (t < 0 || pwall[w, col, j] < t)) t = pwall[w, col, j]
    return t
}' "$log" 2> "$dir/curve.table"

if [ -n "$svg" ]; then
    awk -f "$here/curve-svg.awk" "$dir/curve.table" > "$svg" && echo "SVG plot: $svg"
fi
echo "log: $log"
[ "$failures" -eq 0 ] || { echo "curve.sh: $failures run(s) failed" >&2; exit 1; }
