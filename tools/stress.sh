#!/bin/sh
# stress.sh BINARY SECONDS: runs a torture test again and again with new
# seeds and more operations until SECONDS have passed; stops at the first
# failure and prints the seed that reproduces it.
set -u
bin=$1
secs=${2:-120}
ops=${TC_TORTURE_OPS:-200000}
end=$(( $(date +%s) + secs ))
runs=0
while [ "$(date +%s)" -lt "$end" ]; do
    seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
    if ! TC_TEST_SEED=$seed TC_TORTURE_OPS=$ops "$bin" > /tmp/tricolor-stress.$$ 2>&1; then
        cat /tmp/tricolor-stress.$$
        echo "stress: FAILED with TC_TEST_SEED=$seed TC_TORTURE_OPS=$ops $bin"
        rm -f /tmp/tricolor-stress.$$
        exit 1
    fi
    runs=$((runs + 1))
done
rm -f /tmp/tricolor-stress.$$
echo "stress: $runs runs of $bin passed in ${secs}s (TC_TORTURE_OPS=$ops)"
