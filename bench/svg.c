/* svg.c: the SVG stem-plot writer declared in svg.h.
 *
 * The chart is written in one pass straight to the file, in painting order
 * (background, grid, axes, data, reference lines, text on top), so nothing
 * but the reference-line label positions is kept in memory however many
 * points there are. Every write goes through out_put/out_text, which keep
 * the first error; svg_write checks it once at the end instead of after
 * each of the hundreds of calls, and then checks fclose too, since a full
 * disk often shows only there. A failed file is left as it is, not
 * removed: path may name something that is not ours to unlink (a device,
 * a pipe), and the caller has the error to act on.
 *
 * No libm: the tick search walks powers of ten with multiplications and
 * floors small positive ratios with a cast, instead of log10 and ceil.
 */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Canvas and plot-area geometry, in px. The right margin is wide because
 * the reference-line labels sit there; the top holds title, subtitle and
 * the legend row. */
#define W 900
#define H 420
#define PLOT_L 72.0
#define PLOT_R 780.0
#define PLOT_T 74.0
#define PLOT_B 362.0

#define MAX_SERIES 4
#define DOT_R 2.5
/* Reference-line labels closer than this (one 11 px line plus a little)
 * are pushed apart so that p99 and max of a tight distribution both read. */
#define LABEL_GAP 12.0
/* Values beyond this are refused: 1.1 times them must stay finite, and no
 * pause or timestamp comes anywhere near. */
#define MAX_VALUE 1e300
/* Below this an extent is treated as this, so the power-of-ten walk never
 * meets a denormal or zero. */
#define MIN_EXTENT 1e-100

/* Okabe-Ito colours: distinct to most colour-blind readers and in grey. */
static const char *const colours[MAX_SERIES] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7"};

/* The output file and its first error (an errno value, 0 while all is
 * well). After an error every write is skipped, so one check at the end
 * covers them all. */
typedef struct out {
    FILE *f;
    int err;
} out;

static void out_fail(out *o)
{
    /* C does not promise that a failed stdio call sets errno (POSIX does);
     * EIO stands in when it did not. */
    o->err = errno ? errno : EIO;
}

__attribute__((format(printf, 2, 3))) static void out_put(out *o, const char *fmt, ...)
{
    if (o->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    errno = 0;
    int r = vfprintf(o->f, fmt, ap);
    va_end(ap);
    if (r < 0)
        out_fail(o);
}

static void out_raw(out *o, const char *s, size_t n)
{
    if (o->err || n == 0)
        return;
    errno = 0;
    if (fwrite(s, 1, n, o->f) != n)
        out_fail(o);
}

/* Writes s XML-escaped. Control characters other than tab, LF and CR are
 * not allowed in XML 1.0 even as references, so they become spaces rather
 * than making the whole file unreadable. Runs of ordinary bytes go out in
 * one fwrite. */
static void out_text(out *o, const char *s)
{
    if (s == NULL)
        return;
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *rep;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        default: rep = (c < 0x20 && c != '\t' && c != '\n' && c != '\r') ? " " : NULL; break;
        }
        if (rep == NULL)
            continue;
        out_raw(o, run, (size_t)(s - run));
        out_raw(o, rep, strlen(rep));
        run = s + 1;
    }
    out_raw(o, run, (size_t)(s - run));
}

/* One <text> element; attrs is trusted markup (font, anchor, fill). */
static void out_label(out *o, double x, double y, const char *attrs, const char *s)
{
    out_put(o, "<text x=\"%.1f\" y=\"%.1f\" %s>", x, y, attrs);
    out_text(o, s);
    out_put(o, "</text>\n");
}

/* Compact number text for ticks and unlabelled reference lines: %g with
 * six digits hides the binary noise of i * step (0.30000000000000004). */
static void fmt_num(char *buf, size_t size, double v)
{
    if (v == 0)
        v = 0; /* -0 prints as "-0" */
    snprintf(buf, size, "%.6g", v);
}

/* Rough width of s in px at font size px: sans-serif glyphs average about
 * 0.55 em, and a UTF-8 continuation byte is no glyph of its own. Only the
 * legend uses it, to space its entries. */
static double text_width(const char *s, double px)
{
    size_t glyphs = 0;
    for (; s && *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            glyphs++;
    return (double)glyphs * px * 0.55;
}

/* An axis from 0 to extent with ticks at 0, step, 2 step, ... (n_ticks of
 * them, the last at most extent). */
typedef struct axis {
    double extent;
    double step;
    int n_ticks;
} axis;

/* Picks a 1/2/5 x 10^k step for an axis covering [0, v] that gives 5 to 8
 * ticks. With the extent fixed at v that is not always possible (for v in
 * [16, 20) step 2 gives 9 ticks and step 5 gives 4), so when may_round is
 * set the extent may be rounded up to the next tick instead; the fixed
 * extent is preferred since it keeps the scale the caller asked for. If
 * neither works, the smallest step with at most 8 ticks (then at least 4)
 * is taken. */
static axis nice_axis(double v, int may_round)
{
    if (v < MIN_EXTENT)
        v = MIN_EXTENT;
    /* p: the power of ten with p <= v/10 < 10 p, so that the candidate
     * steps below run from at least 10 intervals down to fewer than 1. */
    double p = 1.0;
    while (p > v / 10)
        p /= 10;
    while (p * 10 <= v / 10)
        p *= 10;
    static const double mult[] = {1, 2, 5, 10, 20, 50, 100};
    enum { N_MULT = sizeof mult / sizeof mult[0] };
    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < N_MULT; i++) {
            double s = p * mult[i];
            double r = v / s; /* < 100, so the casts are safe */
            /* The slack absorbs rounding in v / s: 0.3 / 0.1 is 2.9999... */
            int fl = (int)(r + 1e-9);
            int ce = (int)r;
            if (ce < r - 1e-9)
                ce++;
            if (pass == 0 && fl + 1 >= 5 && fl + 1 <= 8)
                return (axis){v, s, fl + 1};
            if (pass == 1 && may_round && ce + 1 >= 5 && ce + 1 <= 8)
                return (axis){ce * s, s, ce + 1};
            if (pass == 2 && fl + 1 <= 8)
                return (axis){v, s, fl + 1};
        }
    }
    return (axis){v, v, 2}; /* not reached: mult[6] gives fl == 0 */
}

static int bad_value(double v)
{
    return !isfinite(v) || v < 0 || v > MAX_VALUE;
}

static int validate(const char *path, const svg_plot *pl)
{
    if (path == NULL || pl == NULL || pl->n_series > MAX_SERIES || bad_value(pl->x_max))
        return -1;
    if (pl->n_series > 0 && pl->series == NULL)
        return -1;
    if (pl->n_hlines > 0 && pl->hlines == NULL)
        return -1;
    for (size_t k = 0; k < pl->n_series; k++) {
        const svg_series *s = &pl->series[k];
        if (s->n > 0 && (s->x == NULL || s->y == NULL))
            return -1;
        for (size_t i = 0; i < s->n; i++)
            if (bad_value(s->x[i]) || bad_value(s->y[i]))
                return -1;
    }
    for (size_t j = 0; j < pl->n_hlines; j++)
        if (bad_value(pl->hlines[j]))
            return -1;
    return 0;
}

/* The plot's scales, from the data and the caller's x_max. */
typedef struct scales {
    axis x, y;
    size_t n_visible; /* points within the x axis, over all series */
    /* log_y: the y axis runs over decades 10^y_lo .. 10^(y_lo + y.n_ticks
     * - 1), a tick at each. */
    int log_y;
    int y_lo;
} scales;

/* 10^k, and log10 of v > 0, with libc alone (no -lm): v brought into
 * [1, 2) by powers of ten and two, then ln(v) from the series of
 * 2 atanh((v - 1) / (v + 1)), whose terms shrink ninefold or more. */
static double pow10_of(int k)
{
    double v = 1;
    for (; k > 0; k--)
        v *= 10;
    for (; k < 0; k++)
        v /= 10;
    return v;
}

static double log10_of(double v)
{
    double dec = 0, twos = 0;
    while (v >= 10) {
        v /= 10;
        dec++;
    }
    while (v < 1) {
        v *= 10;
        dec--;
    }
    while (v >= 2) {
        v /= 2;
        twos++;
    }
    double t = (v - 1) / (v + 1), t2 = t * t, term = t, ln = 0;
    for (int i = 1; i < 40; i += 2) {
        ln += term / i;
        term *= t2;
    }
    ln *= 2;
    return dec + (twos * 0.6931471805599453 + ln) / 2.302585092994046;
}

/* The largest k with 10^k <= v (v > 0). */
static int decade_floor(double v)
{
    int k = 0;
    while (pow10_of(k) > v)
        k--;
    while (pow10_of(k + 1) <= v)
        k++;
    return k;
}

static scales make_scales(const svg_plot *pl)
{
    scales sc;
    double x_ext = pl->x_max;
    if (x_ext > 0) {
        sc.x = nice_axis(x_ext, 0);
    } else {
        double mx = 0;
        for (size_t k = 0; k < pl->n_series; k++)
            for (size_t i = 0; i < pl->series[k].n; i++)
                if (pl->series[k].x[i] > mx)
                    mx = pl->series[k].x[i];
        /* 2% past the last point so its dot is not cut by the frame. */
        sc.x = nice_axis(mx > 0 ? mx * 1.02 : 1.0, 1);
    }
    /* y covers the drawn points only: ones hidden beyond an explicit x_max
     * must not flatten the rest. */
    double my = 0, mn = 0; /* the largest value drawn, and the smallest above 0 */
    sc.n_visible = 0;
    for (size_t k = 0; k < pl->n_series; k++) {
        const svg_series *s = &pl->series[k];
        for (size_t i = 0; i < s->n; i++) {
            if (s->x[i] > sc.x.extent)
                continue;
            sc.n_visible++;
            if (s->y[i] > my)
                my = s->y[i];
            if (s->y[i] > 0 && (mn == 0 || s->y[i] < mn))
                mn = s->y[i];
        }
    }
    for (size_t j = 0; j < pl->n_hlines; j++) {
        if (pl->hlines[j] > my)
            my = pl->hlines[j];
        if (pl->hlines[j] > 0 && (mn == 0 || pl->hlines[j] < mn))
            mn = pl->hlines[j];
    }
    sc.y = nice_axis(my > 0 ? my * 1.1 : 1.0, 1);
    sc.log_y = pl->log_y;
    if (sc.log_y) {
        /* From the decade of the smallest value drawn to the one above the
         * largest: zeros are drawn at the bottom. */
        if (mn == 0)
            mn = my > 0 ? my : 1.0;
        double top = my > 0 ? my * 1.1 : mn;
        sc.y_lo = decade_floor(mn);
        int hi = decade_floor(top);
        if (pow10_of(hi) < top || hi == sc.y_lo)
            hi++;
        sc.y.n_ticks = hi - sc.y_lo + 1;
    }
    return sc;
}

/* The value of y tick i. */
static double y_tick(const scales *sc, int i)
{
    return sc->log_y ? pow10_of(sc->y_lo + i) : i * sc->y.step;
}

static double px_x(const scales *sc, double x)
{
    return PLOT_L + x / sc->x.extent * (PLOT_R - PLOT_L);
}

static double px_y(const scales *sc, double y)
{
    if (sc->log_y) {
        double f = y > 0 ? (log10_of(y) - sc->y_lo) / (sc->y.n_ticks - 1) : 0;
        return PLOT_B - (f < 0 ? 0 : f) * (PLOT_B - PLOT_T);
    }
    return PLOT_B - y / sc->y.extent * (PLOT_B - PLOT_T);
}

static void draw_frame(out *o, const svg_plot *pl, const scales *sc)
{
    char num[32];
    out_put(o, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);

    /* Grid first so the axes and data paint over it. */
    out_put(o, "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
    for (int i = 1; i < sc->x.n_ticks; i++) {
        double x = px_x(sc, i * sc->x.step);
        out_put(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, PLOT_T, x,
                PLOT_B);
    }
    for (int i = 1; i < sc->y.n_ticks; i++) {
        double y = px_y(sc, y_tick(sc, i));
        out_put(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PLOT_L, y, PLOT_R,
                y);
    }
    out_put(o, "</g>\n");

    /* Axes (left and bottom) with tick marks, and a light frame for the
     * other two sides so the plot area reads as one box. */
    out_put(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#cccccc\"/>\n",
            PLOT_L, PLOT_T, PLOT_R - PLOT_L, PLOT_B - PLOT_T);
    out_put(o, "<path d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" stroke=\"#333333\"/>\n", PLOT_L,
            PLOT_T, PLOT_B, PLOT_R);
    out_put(o, "<g stroke=\"#333333\">\n");
    for (int i = 0; i < sc->x.n_ticks; i++)
        out_put(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                px_x(sc, i * sc->x.step), PLOT_B, px_x(sc, i * sc->x.step), PLOT_B + 4);
    for (int i = 0; i < sc->y.n_ticks; i++)
        out_put(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PLOT_L - 4,
                px_y(sc, y_tick(sc, i)), PLOT_L, px_y(sc, y_tick(sc, i)));
    out_put(o, "</g>\n");

    out_put(o, "<g font-size=\"11\" fill=\"#333333\">\n");
    for (int i = 0; i < sc->x.n_ticks; i++) {
        fmt_num(num, sizeof num, i * sc->x.step);
        out_label(o, px_x(sc, i * sc->x.step), PLOT_B + 17, "text-anchor=\"middle\"", num);
    }
    for (int i = 0; i < sc->y.n_ticks; i++) {
        fmt_num(num, sizeof num, y_tick(sc, i));
        out_label(o, PLOT_L - 7, px_y(sc, y_tick(sc, i)) + 4, "text-anchor=\"end\"", num);
    }
    out_put(o, "</g>\n");

    /* Axis titles; the y one turned to read bottom to top. */
    out_label(o, (PLOT_L + PLOT_R) / 2, PLOT_B + 40, "font-size=\"12\" text-anchor=\"middle\"",
              pl->x_label);
    out_put(o, "<text transform=\"translate(18 %.1f) rotate(-90)\" font-size=\"12\" "
               "text-anchor=\"middle\">",
            (PLOT_T + PLOT_B) / 2);
    out_text(o, pl->y_label);
    out_put(o, "</text>\n");
}

/* Each series as one path of stems plus one dot per point: a path keeps
 * the file small when there are thousands of pauses. */
static void draw_series(out *o, const svg_plot *pl, const scales *sc)
{
    for (size_t k = 0; k < pl->n_series; k++) {
        const svg_series *s = &pl->series[k];
        if (s->n == 0)
            continue;
        const char *c = colours[k];
        double y0 = px_y(sc, 0);
        out_put(o, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" stroke-opacity=\"0.7\" "
                   "d=\"",
                c);
        for (size_t i = 0; i < s->n; i++)
            if (s->x[i] <= sc->x.extent)
                out_put(o, "M%.1f %.1fV%.1f", px_x(sc, s->x[i]), y0, px_y(sc, s->y[i]));
        out_put(o, "\"/>\n<g fill=\"%s\">\n", c);
        for (size_t i = 0; i < s->n; i++)
            if (s->x[i] <= sc->x.extent)
                out_put(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>\n", px_x(sc, s->x[i]),
                        px_y(sc, s->y[i]), DOT_R);
        out_put(o, "</g>\n");
    }
    if (sc->n_visible == 0)
        out_label(o, (PLOT_L + PLOT_R) / 2, (PLOT_T + PLOT_B) / 2,
                  "font-size=\"16\" fill=\"#888888\" text-anchor=\"middle\"", "no pauses");
}

/* Dashed reference lines across the plot, labelled in the right margin.
 * Labels are placed top to bottom and pushed down to keep LABEL_GAP
 * between them, then pushed back up if the last fell off the canvas.
 * Returns -1 with errno set if the placement arrays cannot be had. */
static int draw_hlines(out *o, const svg_plot *pl, const scales *sc)
{
    size_t n = pl->n_hlines;
    if (n == 0)
        return 0;
    size_t *order = malloc(n * sizeof *order);
    double *pos = malloc(n * sizeof *pos);
    if (order == NULL || pos == NULL) {
        free(order);
        free(pos);
        return -1;
    }
    out_put(o, "<g stroke=\"#444444\" stroke-width=\"1\" stroke-dasharray=\"6 4\">\n");
    for (size_t j = 0; j < n; j++) {
        double y = px_y(sc, pl->hlines[j]);
        out_put(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PLOT_L, y, PLOT_R,
                y);
    }
    out_put(o, "</g>\n");

    /* Insertion sort by pixel y: there are a handful of lines. */
    for (size_t j = 0; j < n; j++) {
        double y = px_y(sc, pl->hlines[j]) + 4; /* baseline centres 11 px text */
        size_t i = j;
        while (i > 0 && pos[i - 1] > y) {
            pos[i] = pos[i - 1];
            order[i] = order[i - 1];
            i--;
        }
        pos[i] = y;
        order[i] = j;
    }
    for (size_t i = 1; i < n; i++)
        if (pos[i] < pos[i - 1] + LABEL_GAP)
            pos[i] = pos[i - 1] + LABEL_GAP;
    double limit = H - 4;
    for (size_t i = n; i-- > 0;) {
        if (pos[i] > limit)
            pos[i] = limit;
        limit = pos[i] - LABEL_GAP;
    }

    out_put(o, "<g font-size=\"11\" fill=\"#333333\">\n");
    for (size_t i = 0; i < n; i++) {
        size_t j = order[i];
        const char *label = pl->hline_labels ? pl->hline_labels[j] : NULL;
        char num[32];
        if (label == NULL) {
            fmt_num(num, sizeof num, pl->hlines[j]);
            label = num;
        }
        out_label(o, PLOT_R + 6, pos[i], "text-anchor=\"start\"", label);
    }
    out_put(o, "</g>\n");
    free(order);
    free(pos);
    return 0;
}

/* Title, subtitle and one legend row above the plot. A legend entry is
 * drawn as a small stem with its dot, as the data is. */
static void draw_header(out *o, const svg_plot *pl)
{
    out_label(o, PLOT_L, 24, "font-size=\"16\" font-weight=\"bold\" fill=\"#111111\"", pl->title);
    out_label(o, PLOT_L, 42, "font-size=\"12\" fill=\"#555555\"", pl->subtitle);
    double x = PLOT_L;
    const double y = 62;
    for (size_t k = 0; k < pl->n_series; k++) {
        const svg_series *s = &pl->series[k];
        const char *c = colours[k];
        out_put(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"1.2\"/>\n",
                x + 5, y + 1, x + 5, y - 8, c);
        out_put(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>\n", x + 5, y - 8,
                DOT_R + 0.5, c);
        out_put(o, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#222222\">", x + 14, y);
        out_text(o, s->label);
        if (s->n == 0)
            out_text(o, s->label && *s->label ? " (no pauses)" : "(no pauses)");
        out_put(o, "</text>\n");
        double w = text_width(s->label, 12);
        if (s->n == 0)
            w += text_width(" (no pauses)", 12);
        x += 14 + w + 22;
    }
}

int svg_write(const char *path, const svg_plot *plot)
{
    if (validate(path, plot) != 0) {
        errno = EINVAL;
        return -1;
    }
    scales sc = make_scales(plot);

    out o = {fopen(path, "w"), 0};
    if (o.f == NULL)
        return -1;
    out_put(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" "
                "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
            W, H, W, H);
    draw_frame(&o, plot, &sc);
    draw_series(&o, plot, &sc);
    if (draw_hlines(&o, plot, &sc) != 0 && o.err == 0)
        o.err = errno ? errno : ENOMEM;
    draw_header(&o, plot);
    out_put(&o, "</svg>\n");

    if (o.err == 0 && ferror(o.f))
        o.err = EIO;
    if (o.err != 0) {
        (void)fclose(o.f); /* already failing; o.err is the error to report */
        errno = o.err;
        return -1;
    }
    errno = 0;
    if (fclose(o.f) != 0) {
        if (errno == 0)
            errno = EIO;
        return -1;
    }
    return 0;
}
