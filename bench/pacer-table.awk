# pacer-table.awk: the table of bench/pacer.sh from its log (one
# "scenario=S round=R RESULT ..." line per run): per scenario the figure,
# its bound, the median and every round's value for tricolor and for Go.
# Run after bench/table.awk (field, median).
BEGIN {
    order = "gc50 gc100 gc200 limit200 spike spike_end below below_idle"
    what["gc50"] = "steady GC=50: peak heap / live"; bound["gc50"] = "<= 1.65"
    what["gc100"] = "steady GC=100: peak heap / live"; bound["gc100"] = "<= 2.20"
    what["gc200"] = "steady GC=200: peak heap / live"; bound["gc200"] = "<= 3.30"
    what["limit200"] = "GC off, 200 MiB limit, 120 MiB live: peak RSS MiB"; bound["limit200"] = "<= 210"
    what["spike"] = "spike 1 GiB -> 50 MiB: MiB allocated until RSS < 150 MiB"; bound["spike"] = "<= 2048"
    what["spike_end"] = "spike: RSS at the end, MiB"; bound["spike_end"] = "< 150"
    what["below"] = "64 MiB limit, 100 MiB live: GC CPU fraction"; bound["below"] = "<= 0.55"
    what["below_idle"] = "  and marking on CPUs left idle (not in it, as in Go)"; bound["below_idle"] = "-"
}
{
    sc = field("scenario"); be = field("backend")
    if (sc ~ /^gc/) v = field("overhead")
    else if (sc == "limit200") v = field("maxrss_mib")
    else if (sc == "below") {
        v = field("gc_cpu_fraction")
        if (be == "tricolor")
            vals["below_idle", be] = vals["below_idle", be] " " (field("gc_idle_fraction") == "" ? 0 : field("gc_idle_fraction"))
    }
    else if (sc == "spike") {
        v = field("mib_to_target"); if (v == -1) v = 99999
        vals["spike_end", be] = vals["spike_end", be] " " field("rss_end_mib")
    }
    vals[sc, be] = vals[sc, be] " " v
}
END {
    printf "%-60s %-9s %10s %-24s %10s %-24s\n", "scenario and figure", "bound", "tricolor", "(rounds)", "go 1.19", "(rounds)"
    for (k = 0; k < 150; k++) printf "-"; printf "\n"
    n = split(order, scs, " ")
    for (i = 1; i <= n; i++) {
        s = scs[i]
        if (!((s, "tricolor") in vals)) continue
        printf "%-60s %-9s %10s %-24s %10s %-24s\n", what[s], bound[s],
            median(vals[s, "tricolor"]), "(" substr(vals[s, "tricolor"], 2) ")",
            ((s, "go") in vals) ? median(vals[s, "go"]) : "-",
            ((s, "go") in vals) ? "(" substr(vals[s, "go"], 2) ")" : ""
    }
    print ""
    print "99999 in the spike row: RSS never got under 150 MiB."
    print "GC CPU fraction: stops x CPUs, assists and the markers' 25% share, as Go's GCCPUFraction;"
    print "marking beyond that share on a CPU the program left idle is the next row (Go leaves it out of"
    print "GCCPUFraction too; only its gctrace shows it)."
}
