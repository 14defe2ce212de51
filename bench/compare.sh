#!/bin/sh
# compare.sh: gcbench and allocrate on tricolor, bdwgc and malloc, the
# backends interleaved over ROUNDS rounds; prints medians and the ratios
# tricolor/bdwgc and tricolor/malloc.
#
# Usage: bench/compare.sh BENCH_DIR     (make bench-compare [ROUNDS=3])
#
# The machine is shared and noisy: running the backends in turn within each
# round (the order rotating from round to round) spreads slow spells over
# all of them instead of one, and medians drop the odd outlier. Both
# collectors mark with 2 threads: TRICOLOR_MARKERS=2 and GC_MARKERS=2.
set -u

dir=${1:?usage: compare.sh BENCH_DIR}
rounds=${ROUNDS:-3}
case $rounds in
    '' | *[!0-9]* | 0) echo "compare.sh: ROUNDS must be a positive integer" >&2; exit 2 ;;
esac
backends="tricolor bdwgc malloc"
for b in $backends; do
    for w in gcbench allocrate; do
        [ -x "$dir/${w}_$b" ] || { echo "compare.sh: missing $dir/${w}_$b (make bench-bin)" >&2; exit 2; }
    done
done

log="$dir/compare.log"
: > "$log"
failed=0

# run ROUND BACKEND WORKLOAD: one run, its RESULT lines tagged with the
# round go to the log; a failure is reported and counted, not fatal, so one
# broken backend does not hide the others' figures.
run() {
    out="$dir/compare.$2.$3.out"
    case $2 in
        tricolor) markers="TRICOLOR_MARKERS=2" ;;
        bdwgc) markers="GC_MARKERS=2" ;;
        *) markers="" ;;
    esac
    # $markers unquoted: empty for malloc, one VAR=value word otherwise.
    if env $markers "$dir/${3}_$2" > "$out" 2>&1; then
        grep '^RESULT ' "$out" | sed "s/^/round=$1 /" >> "$log"
    else
        echo "compare.sh: round $1: ${3}_$2 FAILED (exit $?); its output ends:" >&2
        tail -n 5 "$out" >&2
        failed=$((failed + 1))
    fi
}

start=$(date +%s)
echo "bench-compare: $rounds round(s) of gcbench and allocrate, backends interleaved"
echo "  tricolor with TRICOLOR_MARKERS=2, bdwgc with GC_MARKERS=2; raw results in $log"
r=1
while [ "$r" -le "$rounds" ]; do
    # Rotate the order so no backend always runs first (or last).
    case $((r % 3)) in
        1) order="tricolor bdwgc malloc" ;;
        2) order="bdwgc malloc tricolor" ;;
        0) order="malloc tricolor bdwgc" ;;
    esac
    printf '  round %d:' "$r"
    for w in gcbench allocrate; do
        for b in $order; do
            printf ' %s_%s' "$w" "$b"
            run "$r" "$b" "$w"
        done
    done
    echo
    r=$((r + 1))
done
echo "  took $(($(date +%s) - start)) s"
echo

awk -v rounds="$rounds" '
function median(key,    n, i, j, t, v) {
    n = cnt[key]
    if (n == 0) return ""
    for (i = 1; i <= n; i++) v[i] = val[key, i]
    for (i = 2; i <= n; i++) {            # insertion sort: n is tiny
        t = v[i]
        for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]
        v[j + 1] = t
    }
    if (n % 2) return v[(n + 1) / 2]
    return (v[n / 2] + v[n / 2 + 1]) / 2
}
function fmt(x) {
    if (x == "") return "-"
    if (x >= 100 || x == int(x)) return sprintf("%.0f", x)
    return sprintf("%.2f", x)
}
function ratio(a, b) {
    if (a == "" || b == "" || b == 0) return "-"
    return sprintf("%.2fx", a / b)
}
function header(title) {
    printf "%-24s %10s %10s %10s %11s %11s\n", title, "tricolor", "bdwgc", "malloc", "tc/bdwgc", "tc/malloc"
}
function row(label, metric,    t, g, m) {
    t = median(metric SUBSEP "tricolor")
    g = median(metric SUBSEP "bdwgc")
    m = median(metric SUBSEP "malloc")
    printf "  %-22s %10s %10s %10s %11s %11s\n", label, fmt(t), fmt(g), fmt(m), ratio(t, g), ratio(t, m)
}
{
    bench = $3
    delete kv
    for (i = 4; i <= NF; i++) {
        split($i, p, "=")
        kv[p[1]] = p[2]
    }
    backend = kv["backend"]
    if (bench == "gcbench") {
        for (k in kv) if (k != "backend" && kv[k] != "na") add("gcbench." k, backend, kv[k])
    } else if (bench == "allocrate") {
        add("allocrate." kv["kind"] "." kv["size"], backend, kv["ns_per_obj"])
        add("allocrate.gcs." kv["kind"] "." kv["size"], backend, kv["gcs"])
    }
}
function add(metric, backend, x,    key) {
    key = metric SUBSEP backend
    val[key, ++cnt[key]] = x + 0
}
END {
    header(sprintf("gcbench, median of %d", rounds))
    row("time ms", "gcbench.ms")
    row("peak RSS KiB", "gcbench.maxrss_kib")
    row("collections", "gcbench.gcs")
    row("pause total ms", "gcbench.pause_total_ms")
    row("pause max ms", "gcbench.pause_max_ms")
    printf "\n"
    header("allocrate ns/obj, median")
    split("atomic.16 atomic.64 atomic.256 typed.16 typed.64 typed.256", vs, " ")
    for (i = 1; i <= 6; i++) {
        split(vs[i], p, ".")
        row(sprintf("%-6s %3d bytes", p[1], p[2]), "allocrate." vs[i])
    }
    printf "\n  collections during the timed loop (median)\n"
    for (i = 1; i <= 6; i++) {
        split(vs[i], p, ".")
        row(sprintf("%-6s %3d bytes", p[1], p[2]), "allocrate.gcs." vs[i])
    }
    printf "\nratios are tricolor / other: below 1.00x tricolor is faster or smaller.\n"
}' "$log"

echo
echo "gcbench ms per round (the spread behind the medians):"
for b in $backends; do
    printf '  %-9s' "$b"
    grep " RESULT gcbench backend=$b " "$log" | sed 's/.* ms=\([0-9.]*\).*/\1/' | tr '\n' ' '
    echo
done

if [ "$failed" -ne 0 ]; then
    echo "compare.sh: $failed run(s) FAILED; their figures are missing above" >&2
    exit 1
fi
