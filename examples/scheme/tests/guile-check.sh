#!/bin/sh
# guile-check.sh: checks the expected outputs tests/*.out against GNU Guile
# 3.0 (the reference), or regenerates them.
#
#   tests/guile-check.sh [--update] [NAME...]
#
# Each tests/NAME.scm runs as
#   guile --no-auto-compile -l tests/guile-compat.scm tests/NAME.scm
# in a fresh temporary directory with `ulimit -n 512`, as tests/run.sh runs
# our interpreter. Its stdout must equal tests/NAME.out, and its exit status
# must be 0, or nonzero for the expected failures (tests/fail-*.scm).
#
# Lines beginning "exact: " state what only our collector guarantees (an
# ephemeron table, where GNU Guile's weak tables are not ephemerons): they
# are left out of the comparison on both sides. --update rewrites NAME.out
# from Guile's output but keeps the "exact: " lines of the old NAME.out, in
# order (a new one is copied from Guile with a warning: edit it by hand).
#
# Without Guile installed it says so and exits 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi

guile=
for g in guile-3.0 guile; do
    if command -v "$g" >/dev/null 2>&1 && "$g" --version 2>/dev/null | head -1 | grep -q ' 3\.'; then
        guile=$(command -v "$g"); break
    fi
done
if [ -z "$guile" ]; then
    echo "guile-check: GNU Guile 3.0 not found (apt-get install guile-3.0): skipped"
    exit 0
fi

if [ $# -eq 0 ]; then
    set -- $(cd "$here" && ls *.scm | grep -v '^guile-compat\.scm$' | sed 's/\.scm$//')
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0
for name in "$@"; do
    name=${name%.scm}; name=${name#tests/}
    src="$here/$name.scm" exp="$here/$name.out"
    dir="$tmp/run-$name"; mkdir -p "$dir"
    ( cd "$dir" && ulimit -n 512 && exec timeout 60 "$guile" --no-auto-compile \
        -l "$here/guile-compat.scm" "$src" ) >"$tmp/$name.stdout" 2>"$tmp/$name.stderr"
    rc=$?
    case $name in
        fail-*) if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then
                    echo "FAIL $name: guile exited $rc, an expected failure must exit 1..123"; fail=$((fail + 1)); continue; fi ;;
        *) if [ $rc -ne 0 ]; then
               echo "FAIL $name: guile exited $rc"; sed 's/^/    /' "$tmp/$name.stderr" | tail -5
               fail=$((fail + 1)); continue; fi ;;
    esac
    if [ $update -eq 1 ]; then
        if [ -f "$exp" ]; then grep '^exact: ' "$exp" >"$tmp/$name.exact" || true; else : >"$tmp/$name.exact"; fi
        want=$(grep -c '^exact: ' "$tmp/$name.stdout")
        have=$(wc -l <"$tmp/$name.exact")
        if [ "$want" -ne 0 ] && [ "$want" -eq "$have" ]; then
            awk -v f="$tmp/$name.exact" '/^exact: / { getline line < f; print line; next } { print }' \
                "$tmp/$name.stdout" >"$exp"
        else
            cp "$tmp/$name.stdout" "$exp"
            [ "$want" -ne 0 ] && echo "WARN $name: $want \"exact: \" lines copied from Guile: check them by hand"
        fi
        echo "UPDATED $name"; pass=$((pass + 1)); continue
    fi
    if [ ! -f "$exp" ]; then echo "FAIL $name: no $name.out (run with --update)"; fail=$((fail + 1)); continue; fi
    grep -v '^exact: ' "$tmp/$name.stdout" >"$tmp/$name.got"
    grep -v '^exact: ' "$exp" >"$tmp/$name.want"
    if cmp -s "$tmp/$name.got" "$tmp/$name.want"; then
        echo "ok   $name"; pass=$((pass + 1))
    else
        echo "FAIL $name: guile's output differs from $name.out:"
        diff "$tmp/$name.want" "$tmp/$name.got" | head -20 | sed 's/^/    /'
        fail=$((fail + 1))
    fi
done
echo "guile-check: $pass ok, $fail failed ($guile)"
[ $fail -eq 0 ]
