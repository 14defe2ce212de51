# scale-report.awk: the table and the plot of bench/scale.sh from its log
# (POSIX awk). Input lines: "round=R RESULT scale backend=B case=C size=S
# key=value ...", "round=R FAILED case=C size=S backend=B exit=E" and
# "round=R SKIPPED case=C size=S".
#
# Output: a markdown table, one row per case and size, each figure the
# median over the rounds that ran (failed and skipped rounds are named in
# the last column), then every round's stops of firstcycles. With -v
# svg=PATH it also writes an SVG plot of the longest and the p99 stop
# against size, one panel per case, both axes logarithmic (the figures
# span microseconds to seconds, the sizes two or three decades). Run
# after bench/table.awk (field, median).

function label(c, s) {
    if (c == "heap" || c == "roots" || c == "broots" || c == "firstcycles")
        return s " MiB"
    if (c == "threads")
        return s
    if (s >= 1000000 && s % 1000000 == 0)
        return (s / 1000000) "M"
    if (s >= 1000 && s % 1000 == 0)
        return (s / 1000) "k"
    return s
}

function fmt(x) {
    if (x == "")
        return "-"
    if (x == int(x) || x >= 100)
        return sprintf("%.0f", x)
    if (x >= 10)
        return sprintf("%.1f", x)
    return sprintf("%.2f", x)
}

function note(k, what) {
    notes[k] = notes[k] (notes[k] == "" ? "" : "; ") what
}

BEGIN {
    nfig = split("stops max_stop_us p99_stop_us mark_ms_max mark_ms_median peak_rss_mib", figs, " ")
    xname["heap"] = "live heap (MiB)"; xname["roots"] = "root range (MiB)"
    xname["broots"] = "barriered root range (MiB)"
    xname["weak"] = "weak references (+ a tenth as ephemerons)"
    xname["finalizers"] = "objects with a finalizer"; xname["threads"] = "attached threads"
}

{
    c = field("case"); s = field("size"); r = field("round")
    if (c == "" || s == "")
        next
    k = c SUBSEP s
    if (!(k in seen)) {
        seen[k] = 1
        keys[++nkeys] = k
    }
    rounds[r] = 1
    if ($2 == "SKIPPED") {
        note(k, "round " r " skipped (memory)")
        next
    }
    b = field("backend")
    if ($2 == "FAILED") {
        note(k, b " failed in round " r " (exit " field("exit") (field("exit") == 124 ? ", timed out" : "") ")")
        next
    }
    ran[k, b] = 1
    for (i = 1; i <= nfig; i++)
        vals[k, b, figs[i]] = vals[k, b, figs[i]] " " field(figs[i])
    if (field("stops_us") != "")
        firsts[++nfirst] = "round " r ", " b ": " field("stops_us")
}

function cells(k, b,    i, out) {
    out = ""
    for (i = 1; i <= nfig; i++)
        out = out " | " (((k, b) in ran) ? fmt(median(vals[k, b, figs[i]])) : "-")
    return out
}

# ---- The plot ---------------------------------------------------------------

function px(v, lo, hi, a, b) {
    if (hi <= lo)
        return (a + b) / 2
    return a + (log(v) - lo) / (hi - lo) * (b - a)
}

function us_label(d) {
    if (d >= 6) return (10 ^ (d - 6)) " s"
    if (d >= 3) return (10 ^ (d - 3)) " ms"
    return (10 ^ d) " us"
}

# One series of one panel: the points of figure fig of backend b at the
# panel's sizes, joined; dashed for p99.
function series(c, b, fig, colour, dash, x0, x1, y0, y1, xlo, xhi, ylo, yhi,    i, k, v, x, y, path, dots) {
    path = ""; dots = ""
    for (i = 1; i <= nsz[c]; i++) {
        k = c SUBSEP sz[c, i]
        if (!((k, b) in ran))
            continue
        v = median(vals[k, b, fig]); if (v < 1) v = 1
        x = px(sz[c, i], xlo, xhi, x0, x1); y = px(v, ylo, yhi, y1, y0)
        path = path (path == "" ? "M" : "L") sprintf("%.1f %.1f", x, y)
        dots = dots sprintf("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\"/>", x, y, dash ? "2" : "3")
    }
    if (path == "")
        return
    printf "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s/>\n", path, colour,
        dash ? " stroke-dasharray=\"5 3\"" : "" > svg
    printf "<g fill=\"%s\">%s</g>\n", colour, dots > svg
}

function panel(c, col, row,    x0, x1, y0, y1, i, k, b, f, v, vmin, vmax, ylo, yhi, d, xlo, xhi, y) {
    x0 = col * 320 + 70; x1 = col * 320 + 305; y0 = 60 + row * 280 + 30; y1 = 60 + row * 280 + 230
    vmin = 1e300; vmax = 0
    for (i = 1; i <= nsz[c]; i++)
        for (b = 1; b <= 2; b++)
            for (f = 2; f <= 3; f++) {
                k = c SUBSEP sz[c, i]
                if (!((k, bk[b]) in ran))
                    continue
                v = median(vals[k, bk[b], figs[f]]); if (v < 1) v = 1
                if (v < vmin) vmin = v
                if (v > vmax) vmax = v
            }
    if (vmax == 0) { vmin = 1; vmax = 1000 }
    ylo = int(log(vmin) / log(10)); yhi = int(log(vmax) / log(10) - 1e-9) + 1
    if (yhi <= ylo) yhi = ylo + 1
    xlo = log(sz[c, 1]); xhi = log(sz[c, nsz[c]])
    printf "<text x=\"%d\" y=\"%d\" font-size=\"13\" font-weight=\"bold\">%s</text>\n", x0, y0 - 12, c > svg
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999999\"/>\n",
        x0, y0, x1 - x0, y1 - y0 > svg
    for (d = ylo; d <= yhi; d++) {
        y = px(10 ^ d, ylo * log(10), yhi * log(10), y1, y0)
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", x0, y, x1, y > svg
        printf "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%s</text>\n", x0 - 4, y + 3,
            us_label(d) > svg
    }
    for (i = 1; i <= nsz[c]; i++)
        printf "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%s</text>\n",
            px(sz[c, i], xlo, xhi, x0, x1), y1 + 14, label(c, sz[c, i]) > svg
    printf "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
        (x0 + x1) / 2, y1 + 32, xname[c] > svg
    for (b = 1; b <= 2; b++) {
        series(c, bk[b], "max_stop_us", colour[b], 0, x0, x1, y0, y1, xlo, xhi, ylo * log(10), yhi * log(10))
        series(c, bk[b], "p99_stop_us", colour[b], 1, x0, x1, y0, y1, xlo, xhi, ylo * log(10), yhi * log(10))
    }
}

function plot(    i, n, c, s, j, t, p, col, row, h) {
    # The sizes of each plotted case, in increasing order.
    for (i = 1; i <= nkeys; i++) {
        split(keys[i], p, SUBSEP); c = p[1]; s = p[2] + 0
        if (!(c in xname))
            continue
        if (!(c in nsz)) { cases[++ncases] = c; nsz[c] = 0 }
        for (j = nsz[c]; j >= 1 && sz[c, j] > s; j--)
            sz[c, j + 1] = sz[c, j]
        sz[c, j + 1] = s; nsz[c]++
    }
    bk[1] = "tricolor"; bk[2] = "go"; colour[1] = "#0072B2"; colour[2] = "#D55E00"
    printf "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" > svg
    # Three panels a row, the legend in the cell after the last panel.
    h = int((ncases + 1 + 2) / 3) * 280 + 80
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"%d\" viewBox=\"0 0 960 %d\" " \
        "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" fill=\"#222222\">\n", h, h > svg
    printf "<rect width=\"960\" height=\"%d\" fill=\"#ffffff\"/>\n", h > svg
    n = 0; for (t in rounds) n++
    printf "<text x=\"20\" y=\"28\" font-size=\"16\" font-weight=\"bold\">Stops against size: tricolor " \
        "and Go 1.19 (median of %d round%s)</text>\n", n, n == 1 ? "" : "s" > svg
    printf "<text x=\"20\" y=\"46\" font-size=\"12\" fill=\"#555555\">a stop: from its request to every " \
        "thread running again (tc_memstats.stw_ns; Go: gctrace's clock terms); both axes logarithmic</text>\n" > svg
    for (i = 1; i <= ncases; i++) {
        col = (i - 1) % 3; row = int((i - 1) / 3)
        panel(cases[i], col, row)
    }
    # The legend in the last cell.
    col = ncases % 3; row = int(ncases / 3)
    for (i = 1; i <= 4; i++) {
        t = 60 + row * 280 + 40 + i * 22
        printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"1.6\"%s/>\n",
            col * 320 + 70, t - 4, col * 320 + 100, t - 4, colour[int((i + 1) / 2)],
            i % 2 ? "" : " stroke-dasharray=\"5 3\"" > svg
        printf "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s, %s stop</text>\n", col * 320 + 108, t,
            bk[int((i + 1) / 2)], i % 2 ? "longest" : "p99" > svg
    }
    printf "</svg>\n" > svg
    close(svg)
}

END {
    printf "| case | size | tricolor stops | max stop us | p99 stop us | mark max ms | mark median ms | peak RSS MiB "
    printf "| go stops | max stop us | p99 stop us | mark max ms | mark median ms | peak RSS MiB | notes |\n"
    printf "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    for (i = 1; i <= nkeys; i++) {
        split(keys[i], p, SUBSEP)
        if (p[1] == "weak")
            note(keys[i], "no Go peer (Go 1.19 has no weak references)")
        printf "| %s | %s%s%s | %s |\n", p[1], label(p[1], p[2]), cells(keys[i], "tricolor"),
            cells(keys[i], "go"), notes[keys[i]]
    }
    if (nfirst) {
        print ""
        print "firstcycles, every stop of cycles 1-3 in order (us):"
        for (i = 1; i <= nfirst; i++)
            print "  " firsts[i]
    }
    print ""
    print "stops: in the timed part, each its own (tricolor: tc_memstats.stw_ns, from the request to every"
    print "thread running again; Go: gctrace's first and last clock terms, two significant digits);"
    print "p99 nearest-rank; mark: the concurrent mark's length per cycle; peak RSS includes the set-up."
    if (svg != "")
        plot()
}
