#!/bin/sh
# stress.sh BINARY SECONDS: runs a torture test again and again with new
# seeds and more operations until SECONDS have passed. Each run is given
# the time left (TC_TORTURE_SECONDS), so the last one ends its operations
# in time and still runs its checks; a run's last line says how many it
# did ("torture: ops=N"). Stops at the first failure and prints the seed
# that reproduces it; at the end, how many runs and operations passed.
set -u
bin=$1
secs=${2:-120}
ops=${TC_TORTURE_OPS:-200000}
out=/tmp/tricolor-stress.$$
trap 'rm -f "$out"' EXIT
start=$(date +%s)
end=$((start + secs))
runs=0
total=0
while now=$(date +%s) && [ "$now" -lt "$end" ]; do
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    if ! TC_TEST_SEED=$seed TC_TORTURE_OPS=$ops TC_TORTURE_SECONDS=$((end - now)) \
            "$bin" > "$out" 2>&1; then
        cat "$out"
        # Without the deadline the loops run at least as far as this run's did.
        echo "stress: FAILED with TC_TEST_SEED=$seed TC_TORTURE_OPS=$ops $bin"
        exit 1
    fi
    n=$(sed -n 's/^torture: ops=\([0-9][0-9]*\)$/\1/p' "$out")
    if [ -z "$n" ]; then
        cat "$out"
        echo "stress: $bin passed but printed no \"torture: ops=N\" line"
        exit 1
    fi
    runs=$((runs + 1))
    total=$((total + n))
done
echo "stress: $runs runs of $bin passed, $total operations, in $(( $(date +%s) - start ))s" \
    "(bound ${secs}s, TC_TORTURE_OPS=$ops a run)"
