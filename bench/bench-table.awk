# bench-table.awk: the comparison table from bench.sh's log (POSIX awk).
#
# Input lines: round=R case=C RESULT <workload> backend=B key=value ...
# Output: per case and figure, the median over the rounds for each backend,
# then the ratios tricolor / peer of those medians. The figures shown per
# workload are the ones it exists for; every figure is in the log. Run
# after bench/table.awk (median).

function fmt(x) {
    if (x == "")
        return "-"
    if (x >= 1000)
        return sprintf("%.0f", x)
    if (x >= 10)
        return sprintf("%.1f", x)
    if (x >= 0.1)
        return sprintf("%.2f", x)
    return sprintf("%.4f", x)
}

BEGIN {
    # Figures per workload, with the unit shown.
    figs["allocrate"] = "ns_per_op"
    figs["gcbench"] = "ms pause_max_ms peak_heap_mib"
    figs["latency"] = "op_max_ms op_p999_us pause_max_ms ms peak_heap_mib"
    figs["steady"] = "ns_per_op overhead gc_cpu_fraction pause_max_ms peak_heap_mib"
    figs["barrier"] = "ns_per_op"
    unit["ns_per_op"] = "ns/op"; unit["ms"] = "total ms"
    unit["pause_max_ms"] = "max pause ms"; unit["peak_heap_mib"] = "peak heap MiB"
    unit["op_max_ms"] = "worst push ms"; unit["op_p999_us"] = "p99.9 push us"
    unit["overhead"] = "peak heap/live"; unit["gc_cpu_fraction"] = "GC CPU frac"
    order = "tricolor bdwgc malloc mimalloc go tc_plain floor"
    nb_all = split(order, all_b, " ")
}

{
    c = ""; w = ""; b = ""
    for (i = 1; i <= NF; i++) {
        if ($i ~ /^case=/) c = substr($i, 6)
        else if ($i == "RESULT") w = $(i + 1)
        else if ($i ~ /^backend=/) b = substr($i, 9)
    }
    if (c == "" || w == "" || b == "")
        next
    if (!(c in wl)) {
        wl[c] = w
        cases[++ncases] = c
    }
    have[b] = 1
    for (i = 1; i <= NF; i++) {
        if (split($i, kv, "=") != 2)
            continue
        key = c SUBSEP b SUBSEP kv[1]
        vals[key] = (key in vals) ? vals[key] " " kv[2] : kv[2]
    }
}

END {
    if (ncases == 0) {
        print "no results"
        exit
    }
    nb = 0
    for (i = 1; i <= nb_all; i++)
        if (all_b[i] in have)
            cols[++nb] = all_b[i]
    line = sprintf("%-26s %-15s", "workload", "figure")
    for (i = 1; i <= nb; i++)
        line = line sprintf(" %10s", cols[i])
    for (i = 2; i <= nb; i++)
        line = line sprintf(" %9s", "t/" cols[i])
    print line
    sep = line
    gsub(/./, "-", sep)
    print sep
    for (k = 1; k <= ncases; k++) {
        c = cases[k]
        nf = split(figs[wl[c]], f, " ")
        for (j = 1; j <= nf; j++) {
            line = sprintf("%-26s %-15s", j == 1 ? c : "", unit[f[j]])
            for (i = 1; i <= nb; i++) {
                key = c SUBSEP cols[i] SUBSEP f[j]
                m[i] = (key in vals) ? median(vals[key]) : ""
                line = line sprintf(" %10s", fmt(m[i]))
            }
            for (i = 2; i <= nb; i++) {
                if (m[1] == "" || m[i] == "" || m[i] + 0 == 0)
                    r = "-"
                else
                    r = sprintf("%.2f", m[1] / m[i])
                line = line sprintf(" %9s", r)
            }
            print line
        }
    }
    rounds = 0
    for (key in vals) {
        n = split(vals[key], tmp, " ")
        if (n > rounds)
            rounds = n
    }
    print ""
    print "medians of " rounds " round(s); t/X = tricolor's median / X's median (below 1: tricolor costs less)"
}
