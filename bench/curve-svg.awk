# curve-svg.awk: the SVG plot of bench/curve.sh's CURVE lines: a panel a
# workload, wall time (y) against peak RSS as a multiple of the
# workload's smallest (x), each run's median a point labelled with its
# setting, and a line a collector: the best time it reached within each
# heap size (a staircase down the points in order of RSS: the frontier
# issue 20's test compares, whichever setting made each point).
function x_of(v) { return left + (v - xlo) / (xhi - xlo) * pw }
function y_of(v) { return top + ph - (v - ylo) / (yhi - ylo) * ph }
/^CURVE / {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    w = f["workload"]; c = f["collector"]
    if (!(w in wseen)) { wseen[w] = 1; works[++nw] = w }
    if (!((w, c) in cseen)) { cseen[w, c] = 1; cols[w, ++nc[w]] = c }
    n = ++np[w, c]
    px[w, c, n] = f["x_min"]; py[w, c, n] = f["wall_s"]; ps[w, c, n] = f["setting"]
    if (!(w in xmax) || f["x_min"] + 0 > xmax[w]) xmax[w] = f["x_min"] + 0
    if (!(w in ymax) || f["wall_s"] + 0 > ymax[w]) ymax[w] = f["wall_s"] + 0
}
END {
    panel = 460; height = 380; pw = 360; ph = 280
    color["tricolor"] = "#1f77b4"; color["bdwgc"] = "#d62728"; color["go"] = "#2ca02c"
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", panel * nw, height
    for (k = 1; k <= nw; k++) {
        w = works[k]; left = (k - 1) * panel + 60; top = 30
        xlo = 1; xhi = xmax[w] > 1.5 ? xmax[w] * 1.05 : 2; ylo = 0; yhi = ymax[w] * 1.1
        printf "<text x=\"%d\" y=\"18\" font-size=\"13\">%s: wall time against peak RSS</text>\n", left, w
        printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", left, top, pw, ph
        for (t = 0; t <= 4; t++) {
            xv = xlo + (xhi - xlo) * t / 4; yv = ylo + (yhi - ylo) * t / 4
            printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.2fx</text>\n", x_of(xv), top + ph + 15, xv
            printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f s</text>\n", left - 4, y_of(yv) + 4, yv
        }
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">peak RSS / the smallest peak RSS of any run</text>\n", left + pw / 2, top + ph + 32
        for (j = 1; j <= nc[w]; j++) {
            c = cols[w, j]; col = (c in color) ? color[c] : "#000"
            n = np[w, c]
            for (i = 1; i <= n; i++) ord[i] = i
            for (i = 1; i <= n; i++) for (m = i + 1; m <= n; m++)
                if (px[w, c, ord[m]] + 0 < px[w, c, ord[i]] + 0) { t = ord[i]; ord[i] = ord[m]; ord[m] = t }
            best = py[w, c, ord[1]]
            pts = sprintf("%.1f,%.1f ", x_of(px[w, c, ord[1]]), y_of(best))
            for (i = 2; i <= n; i++) {
                pts = pts sprintf("%.1f,%.1f ", x_of(px[w, c, ord[i]]), y_of(best))
                if (py[w, c, ord[i]] + 0 < best + 0) {
                    best = py[w, c, ord[i]]
                    pts = pts sprintf("%.1f,%.1f ", x_of(px[w, c, ord[i]]), y_of(best))
                }
            }
            pts = pts sprintf("%.1f,%.1f ", x_of(xhi), y_of(best))
            printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"/>\n", pts, col
            for (i = 1; i <= np[w, c]; i++) {
                printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", x_of(px[w, c, i]), y_of(py[w, c, i]), col
                printf "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"%s\">%s</text>\n", x_of(px[w, c, i]) + 3, y_of(py[w, c, i]) - 3, col, ps[w, c, i]
            }
            printf "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", left + pw - 70, top + 14 * j, col, c
        }
    }
    print "</svg>"
}
