#!/bin/sh
# run.sh: runs the Scheme interpreter's tests.
#
#   tests/run.sh SCHEME_BINARY [MODE] [NAME...]
#
# Every tests/NAME.scm (but guile-compat.scm) runs as `SCHEME_BINARY
# tests/NAME.scm` in a fresh temporary directory (ports-file.scm makes its
# files there), with `ulimit -n 512` and a time limit, and its stdout must
# equal tests/NAME.out byte for byte.
#   - tests/NAME.scm must exit 0.
#   - tests/fail-NAME.scm are the expected failures: they must print
#     fail-NAME.out on stdout, something on stderr (the error), and exit
#     with a status from 1 to 123 (not 0, not a timeout's 124, not a signal).
# The .out files are GNU Guile 3.0's output (tests/guile-check.sh checks and
# regenerates them); lines beginning "exact: " are ours only (see there).
#
# MODE (the collector's settings, through the environment):
#   default     nothing set
#   gc10        TRICOLOR_GC=10 (a cycle every 10% of heap growth)
#   gcstress    TRICOLOR_DEBUG=gcstress=$GCSTRESS (default 64: a full cycle
#               every 64 span refills)
#   checkmark   TRICOLOR_DEBUG=checkmark=1,verify=1
# TEST_TIMEOUT (seconds a test; default 30, 120 under gcstress and
# checkmark) overrides the time limit.
#
# One line per test, the command to re-run each failing one, a summary;
# exit status 1 when any test failed.
set -u
if [ $# -lt 1 ]; then
    echo "usage: $0 SCHEME_BINARY [default|gc10|gcstress|checkmark] [NAME...]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
scheme=$1; shift
case $scheme in
    */*) scheme=$(cd "$(dirname "$scheme")" && pwd)/$(basename "$scheme") ;;
    *) scheme=$(command -v "$scheme" || echo "$scheme") ;;
esac
if [ ! -x "$scheme" ]; then echo "run.sh: $scheme: not an executable" >&2; exit 2; fi
mode=${1:-default}; [ $# -gt 0 ] && shift

limit=30
envset=
case $mode in
    default) ;;
    gc10) envset="TRICOLOR_GC=10" ;;
    gcstress) envset="TRICOLOR_DEBUG=gcstress=${GCSTRESS:-64}"; limit=120 ;;
    checkmark) envset="TRICOLOR_DEBUG=checkmark=1,verify=1"; limit=120 ;;
    *) echo "run.sh: unknown mode '$mode' (default, gc10, gcstress, checkmark)" >&2; exit 2 ;;
esac
limit=${TEST_TIMEOUT:-$limit}

if [ $# -eq 0 ]; then
    set -- $(cd "$here" && ls *.scm | grep -v '^guile-compat\.scm$' | sed 's/\.scm$//')
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0 failed=
for name in "$@"; do
    name=${name%.scm}; name=${name#tests/}
    src="$here/$name.scm" exp="$here/$name.out"
    dir="$tmp/run-$name"; mkdir -p "$dir"
    rerun="(cd \$(mktemp -d) && ulimit -n 512 && ${envset:+env $envset }timeout $limit $scheme $src)"
    if [ ! -f "$src" ]; then echo "FAIL $name: no $src"; fail=$((fail + 1)); failed="$failed $name"; continue; fi
    start=$(date +%s.%N)
    ( cd "$dir" && ulimit -n 512 && exec env $envset timeout "$limit" "$scheme" "$src" ) \
        >"$tmp/$name.stdout" 2>"$tmp/$name.stderr"
    rc=$?
    secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.2f", $2 - $1 }')
    why=
    if [ $rc -eq 124 ]; then
        why="timed out after ${limit} s"
    elif [ $rc -gt 128 ]; then
        why="killed by signal $((rc - 128))"
    else
        case $name in
            fail-*)
                if [ $rc -eq 0 ]; then why="exited 0, an expected failure must exit nonzero"
                elif [ $rc -gt 123 ]; then why="exited $rc"
                elif [ ! -s "$tmp/$name.stderr" ]; then why="exited $rc but printed no error on stderr"
                fi ;;
            *) [ $rc -ne 0 ] && why="exited $rc" ;;
        esac
    fi
    if [ -z "$why" ]; then
        if [ ! -f "$exp" ]; then why="no expected output $name.out"
        elif ! cmp -s "$tmp/$name.stdout" "$exp"; then why="stdout differs from $name.out"
        fi
    fi
    if [ -z "$why" ]; then
        echo "ok   $name ($secs s)"
        pass=$((pass + 1))
    else
        echo "FAIL $name ($secs s): $why"
        if [ -f "$exp" ] && ! cmp -s "$tmp/$name.stdout" "$exp"; then
            diff "$exp" "$tmp/$name.stdout" | head -15 | sed 's/^/    /'
        fi
        if [ -s "$tmp/$name.stderr" ]; then
            echo "    stderr:"; tail -5 "$tmp/$name.stderr" | sed 's/^/      /'
        fi
        echo "    re-run: $rerun"
        fail=$((fail + 1)); failed="$failed $name"
    fi
done
echo "run.sh ($mode): $pass passed, $fail failed${failed:+:$failed}"
[ $fail -eq 0 ]
