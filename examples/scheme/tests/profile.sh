#!/bin/sh
# tests/profile.sh SCHEME: a heap profile of a Scheme program names its
# procedures. Runs tests/profile-prog.scm.in with every 4 KiB sampled and
# --heap-profile, then looks for the procedures in the profile's string
# table (protobuf, gzipped or not: the names are stored as plain bytes), and, when
# Go is installed, prints `go tool pprof -top` of it for the record.
set -eu
SCHEME=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
TRICOLOR_DEBUG=memprofilerate=4096 "$SCHEME" --heap-profile "$dir/heap.pb.gz" \
    "$here/profile-prog.scm.in" > "$dir/out"
[ "$(cat "$dir/out")" = 20000 ] || { echo "profile.sh: wrong output: $(cat "$dir/out")"; exit 1; }
fail=0
for name in make-tree build-strings; do
    if { gzip -dc "$dir/heap.pb.gz" 2> /dev/null || cat "$dir/heap.pb.gz"; } | grep -a -q "$name"; then
        echo "ok   heap profile names $name"
    else
        echo "FAIL heap profile does not name $name"; fail=1
    fi
done
if command -v go > /dev/null 2>&1 && [ -z "${CI_NO_GO:-}" ]; then
    HOME=${HOME:-$dir} GOCACHE="$dir/gocache" go tool pprof -sample_index=inuse_space -top \
        "$dir/heap.pb.gz" 2> /dev/null | head -12 || true
fi
exit $fail
