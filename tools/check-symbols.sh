#!/bin/sh
# check-symbols.sh LIB.so LIB.a HEADER: the shared library exports exactly
# the TC_API names of the public header, and the archive defines no global
# symbol outside tc_ and tci_ (interpreters own names like gc_collect).
set -eu
so=$1; ar=$2; hdr=$3
want=$(grep -E '^(extern )?TC_API ' "$hdr" | sed -e 's|/\*.*||' -e 's/(.*//' -e 's/;.*//' -e 's/ *$//' -e 's/.*[ *]//' | sort -u)
# Names the toolchain adds (_init, sanitizers' __odr_asan.* and __asan_*)
# are not ours.
have=$(nm -D --defined-only "$so" | awk '$2 ~ /[A-Z]/ {print $3}' | grep -v '^_init$' | grep -v '^_fini$' | grep -v '^__' | sort -u)
missing=$(for w in $want; do printf '%s\n' "$have" | grep -qx "$w" || echo "$w"; done)
extra=$(for h in $have; do printf '%s\n' "$want" | grep -qx "$h" || echo "$h"; done)
bad_ar=$(nm --defined-only -g "$ar" 2>/dev/null | awk 'NF==3 {print $3}' | grep -v '^tc_' | grep -v '^tci_' | grep -v '^__' || true)
status=0
if [ -n "$missing" ]; then echo "check-symbols: public API not exported:" $missing; status=1; fi
if [ -n "$extra" ]; then echo "check-symbols: exported but not public API:" $extra; status=1; fi
if [ -n "$bad_ar" ]; then echo "check-symbols: global symbols without a tc_/tci_ prefix:" $bad_ar; status=1; fi
[ $status = 0 ] && echo "check-symbols: the $(printf '%s\n' "$want" | wc -l) public symbols, and nothing else, are exported"
exit $status
