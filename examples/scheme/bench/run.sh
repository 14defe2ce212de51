#!/bin/sh
# run.sh: our Scheme interpreter against GNU Guile 3.0 on bench/*.scm.
#
#   bench/run.sh SCHEME_BINARY [ROUNDS]      (ROUNDS: default 5)
#
# For each program, ROUNDS interleaved rounds (ours, guile, ours, guile,
# ...), each measured with /usr/bin/time -f '%e %M' (wall seconds, peak RSS
# in KiB):
#   ours:  SCHEME_BINARY --gc-stats bench/X.scm; its longest stop is the
#          max_stop_us of the "gc-stats: ..." line it prints on stderr;
#   guile: GC_PRINT_STATS=1 guile --no-auto-compile -l tests/guile-compat.scm
#          bench/X.scm; its longest stop is the longest "Complete collection
#          took M ms N ns" line libgc prints on stderr (libgc 8.2's
#          collections are all stop-the-world: the collecting thread does
#          the whole collection, the others wait stopped for its marking,
#          the "World-stopped marking took" line, a part of it).
# Prints the medians over the rounds in a table, and the geometric mean of
# the time ratios (ours / guile). The two programs' stdout must agree (a
# warning says when they do not).
set -u
if [ $# -lt 1 ]; then echo "usage: $0 SCHEME_BINARY [ROUNDS]" >&2; exit 2; fi
here=$(cd "$(dirname "$0")" && pwd)
compat="$here/../tests/guile-compat.scm"
scheme=$1
case $scheme in
    */*) scheme=$(cd "$(dirname "$scheme")" && pwd)/$(basename "$scheme") ;;
    *) scheme=$(command -v "$scheme" || echo "$scheme") ;;
esac
rounds=${2:-5}
[ -x "$scheme" ] || { echo "bench/run.sh: $scheme: not an executable" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench/run.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
guile=
for g in guile-3.0 guile; do
    if command -v "$g" >/dev/null 2>&1 && "$g" --version 2>/dev/null | head -1 | grep -q ' 3\.'; then
        guile=$(command -v "$g"); break
    fi
done
[ -n "$guile" ] || { echo "bench/run.sh: GNU Guile 3.0 not found (apt-get install guile-3.0)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-14s %8s %8s %6s %12s %12s %9s %9s\n' program "ours s" "guile s" ratio "ours stop" "guile stop" "ours RSS" "guile RSS"
ratios=
for src in "$here"/*.scm; do
    name=$(basename "$src" .scm)
    : >"$tmp/o.t"; : >"$tmp/g.t"; : >"$tmp/o.s"; : >"$tmp/g.s"; : >"$tmp/o.m"; : >"$tmp/g.m"
    r=0
    while [ $r -lt "$rounds" ]; do
        /usr/bin/time -f '%e %M' -o "$tmp/time" "$scheme" --gc-stats "$src" >"$tmp/o.out" 2>"$tmp/o.err" ||
            { echo "bench/run.sh: $name: ours failed:" >&2; tail -3 "$tmp/o.err" >&2; }
        awk '{ print $1 }' "$tmp/time" | tail -1 >>"$tmp/o.t"
        awk '{ print $2 }' "$tmp/time" | tail -1 >>"$tmp/o.m"
        sed -n 's/.*gc-stats:.* max_stop_us=\([0-9.]*\).*/\1/p' "$tmp/o.err" | tail -1 >>"$tmp/o.s"
        GC_PRINT_STATS=1 /usr/bin/time -f '%e %M' -o "$tmp/time" "$guile" --no-auto-compile -l "$compat" "$src" \
            >"$tmp/g.out" 2>"$tmp/g.err" || { echo "bench/run.sh: $name: guile failed:" >&2; tail -3 "$tmp/g.err" >&2; }
        awk '{ print $1 }' "$tmp/time" | tail -1 >>"$tmp/g.t"
        awk '{ print $2 }' "$tmp/time" | tail -1 >>"$tmp/g.m"
        # "Complete collection took 9 ms 699033 ns": the longest, in us.
        awk '/^Complete collection took [0-9]+ ms [0-9]+ ns/ { us = $4 * 1000 + $6 / 1000; if (us > m) m = us }
             END { printf "%.0f\n", m }' "$tmp/g.err" >>"$tmp/g.s"
        cmp -s "$tmp/o.out" "$tmp/g.out" || echo "bench/run.sh: warning: $name: our stdout differs from guile's" >&2
        r=$((r + 1))
    done
    ot=$(median <"$tmp/o.t") gt=$(median <"$tmp/g.t")
    os=$(median <"$tmp/o.s") gs=$(median <"$tmp/g.s")
    om=$(median <"$tmp/o.m") gm=$(median <"$tmp/g.m")
    ratio=$(awk -v a="$ot" -v b="$gt" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')
    ratios="$ratios $ratio"
    awk -v n="$name" -v ot="$ot" -v gt="$gt" -v r="$ratio" -v os="$os" -v gs="$gs" -v om="$om" -v gm="$gm" 'BEGIN {
        printf "%-14s %8.2f %8.2f %6s %9.0f us %9.0f us %6.1f MiB %6.1f MiB\n", n, ot, gt, r, os, gs, om / 1024, gm / 1024 }'
done
echo "$ratios" | awk '{ s = 0; n = 0; for (i = 1; i <= NF; i++) if ($i > 0) { s += log($i); n++ }
    if (n) printf "geometric mean of the time ratios (ours / guile): %.2f over %d programs, medians of '"$rounds"' rounds\n", exp(s / n), n }'
