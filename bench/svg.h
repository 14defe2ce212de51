/* svg.h: a small, dependency-free SVG plot writer for the benchmark report.
 *
 * It draws one kind of chart, the one the pause data needs: a stem plot of
 * discrete events (each point a vertical stem from 0 to y with a dot on
 * top), up to four series in their own colours, dashed horizontal reference
 * lines (p99, max, ...) labelled at the right, axes from 0 with 1/2/5 x 10^k
 * ticks, and a legend. The output is a standalone 900x420 SVG file that a
 * browser or an image viewer opens directly, so a report can link to it
 * without any plotting toolchain on the machine that ran the benchmark.
 *
 * Only libc is used (no -lm). Numbers are written with printf, so the
 * LC_NUMERIC locale must be "C" (the default unless the program calls
 * setlocale), or the decimal commas would break the SVG.
 */
#ifndef BENCH_SVG_H
#define BENCH_SVG_H

#include <stddef.h>

/* One plotted series: n points (x[i], y[i]).
 *
 * x and y may be NULL when n == 0. Every value must be finite and >= 0:
 * both axes start at 0, and a pause is never negative. A NULL label is
 * drawn as no text. */
typedef struct svg_series {
    const char *label;   /* legend text */
    const double *x;
    const double *y;
    size_t n;
} svg_series;

/* A whole chart. Text fields are UTF-8; a NULL one is left out. The x axis
 * runs from 0 to x_max (or, when x_max is 0, to just past the largest x);
 * the y axis from 0 to 1.1 times the largest y or reference line, rounded
 * up to the next tick only when that is what gives 5 to 8 ticks. Points
 * beyond an explicit x_max are not drawn. hline_labels may be NULL, and so
 * may any entry of it; a reference line without a label is labelled with
 * its value. */
typedef struct svg_plot {
    const char *title;   /* top line */
    const char *subtitle;/* second line, may be NULL (e.g. the environment) */
    const char *x_label; /* e.g. "time since start (s)" */
    const char *y_label; /* e.g. "pause (ms)" */
    double x_max;        /* axis extent; 0 = from the data */
    const svg_series *series;
    size_t n_series;     /* up to 4; each gets its own colour */
    const double *hlines;      /* horizontal reference lines (e.g. p99, max), may be NULL */
    const char *const *hline_labels;
    size_t n_hlines;
    /* Nonzero: a logarithmic y axis, a tick at each power of ten from the
     * smallest value drawn to past the largest (zeros at the bottom), for
     * series that differ a hundredfold. */
    int log_y;
} svg_plot;

/* Writes plot as a standalone SVG file at path (created or truncated).
 * Returns 0, or -1 with errno set (a bad argument: EINVAL). Bad arguments
 * are a NULL path or plot, more than 4 series, a NULL array with a nonzero
 * count, and a negative, non-finite or absurdly large (> 1e300) value
 * anywhere, x_max included; they are found before the file is opened, so
 * path is left untouched. When writing fails after the file was opened,
 * whatever was written stays there. */
int svg_write(const char *path, const svg_plot *plot);

#endif /* BENCH_SVG_H */
