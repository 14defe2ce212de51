# opts.sh: the options bench/pacer.sh and bench/scale.sh take, sourced by
# them (after they define usage) to parse their arguments:
#   [--rounds N] [--quick] [--svg PATH] BENCH_DIR
# into rounds (default 3), quick ("" or 1), svg ("") and dir; --svg only
# where opts_svg=1 is set before. Anything else calls usage. Then checks
# that the programs named in opts_need are built in BENCH_DIR.
rounds=3
quick=""
svg=""
dir=""
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --svg) [ "${opts_svg:-}" = 1 ] && [ $# -ge 2 ] || usage; svg=$2; shift 2 ;;
        -*) usage ;;
        *) [ -z "$dir" ] || usage; dir=$1; shift ;;
    esac
done
[ -n "$dir" ] || usage
case $rounds in '' | *[!0-9]* | 0) usage ;; esac
for f in ${opts_need:-}; do
    [ -x "$dir/$f" ] || { echo "$(basename "$0"): missing $dir/$f (make bench-bin)" >&2; exit 2; }
done
