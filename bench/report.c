/* report.c: the pause report, what `make run` runs.
 *
 * Runs the GC latency experiment and the steady-state server on tricolor
 * (the same workload code the side-by-side benchmarks use) and prints, for
 * a person to read at a glance, per workload: the pause count
 * and p50/p99/p99.9/max pause, the worst latency the mutator saw, the GC
 * CPU fraction, the peak and live heap, and the environment it ran under
 * (TRICOLOR_* variables are honoured: tc_init reads them). It writes an SVG
 * plot of every pause over the run, and ends with the RESULT lines.
 *
 * Then the same two workloads on bdwgc (the same workload code) and Go
 * (bench/peers/'s programs, found next to this one), whose pauses go in a
 * second plot per workload, PREFIX-latency.svg and PREFIX-steady.svg, on
 * a log scale: bdwgc's stops are a hundred times tricolor's.
 *
 * Usage: tcreport [--quick] [--window N] [--pushes N] [--msg-size BYTES]
 *                 [--live-mib N] [--ops N] [--seed N] [--only latency|steady]
 *                 [--svg PATH] [--peers-svg PREFIX] [--no-peers]
 *   (defaults: the full sizes of `make bench`; --svg defaults to
 *   pauses.svg in the current directory, `make run` passes build/...)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "svg.h"
#include "tricolor.h"

void bk_tricolor_init(void); /* backend_tricolor.c: tc_init, or exits saying why */
void wl_latency_tricolor(const wl_params *p, wl_result *r);
void wl_steady_tricolor(const wl_params *p, wl_result *r);
/* The peers on the same axes (issue 20): bdwgc through the same workload
 * code, Go through its peer programs (bench/peers/). */
void bk_bdwgc_init(void);
void wl_latency_bdwgc(const wl_params *p, wl_result *r);
void wl_steady_bdwgc(const wl_params *p, wl_result *r);

static void usage(void)
{
    fprintf(stderr,
            "usage: tcreport [--quick] [--window N] [--pushes N] [--msg-size BYTES]\n"
            "                [--live-mib N] [--ops N] [--seed N] [--only latency|steady]\n"
            "                [--svg PATH] [--peers-svg PREFIX] [--no-peers]\n");
    exit(2);
}

static unsigned long long parse_count(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || s[0] == '-') {
        fprintf(stderr, "tcreport: %s wants a positive integer, not '%s'\n", opt, s);
        usage();
    }
    return v;
}

static double mib(uint64_t b)
{
    return (double)b / 1048576.0;
}

/* The TRICOLOR_* variables in force, as one line (also the plot's subtitle). */
static void environment_line(char *buf, size_t n)
{
    extern char **environ;
    size_t used = (size_t)snprintf(buf, n, "environment:");
    int any = 0;
    for (char **e = environ; *e != NULL && used < n; e++)
        if (strncmp(*e, "TRICOLOR_", 9) == 0) {
            used += (size_t)snprintf(buf + used, n - used, " %s", *e);
            any = 1;
        }
    if (!any && used < n)
        snprintf(buf + used, n - used, " no TRICOLOR_* variables (defaults)");
}

static void print_run(const char *what, const wl_result *r)
{
    char a[32], b[32], c[32], d[32], e[32];
    printf("\n%s (%s)\n", what, r->params);
    printf("  ran %.0f ms: %llu operations, %.1f ns each on average\n", (double)r->wall_ns / 1e6,
           (unsigned long long)r->ops, (double)r->wall_ns / (double)r->ops);
    if (r->op_max_ns)
        printf("  mutator saw   p50 %s   p99 %s   p99.9 %s   worst %s   (%llu over 1 ms, "
               "%llu over 10 ms)\n",
               bench_fmt_ns(a, sizeof a, r->op_p50_ns), bench_fmt_ns(b, sizeof b, r->op_p99_ns),
               bench_fmt_ns(c, sizeof c, r->op_p999_ns), bench_fmt_ns(d, sizeof d, r->op_max_ns),
               (unsigned long long)r->ops_over_1ms, (unsigned long long)r->ops_over_10ms);
    if (r->npauses == 0)
        printf("  pauses        none\n");
    else
        printf("  pauses        %zu   p50 %s   p99 %s   p99.9 %s   max %s   total %s\n",
               r->npauses, bench_fmt_ns(a, sizeof a, r->pause_p50_ns),
               bench_fmt_ns(b, sizeof b, r->pause_p99_ns),
               bench_fmt_ns(c, sizeof c, r->pause_p999_ns),
               bench_fmt_ns(d, sizeof d, r->pause_max_ns),
               bench_fmt_ns(e, sizeof e, r->pause_total_ns));
    if (r->pauses_lost)
        printf("  (%llu pauses fell out of the statistics ring between polls)\n",
               (unsigned long long)r->pauses_lost);
    printf("  GC CPU        %.1f%% of the CPU time available (%d CPUs)", 100.0 * r->gc_cpu_fraction,
           bench_ncpu());
    if (r->gc_idle_fraction > 0)
        printf(", and %.1f%% marking on CPUs the program left idle", 100.0 * r->gc_idle_fraction);
    printf("\n");
    if (r->assists)
        printf("  assists       %llu, mean %s, %s in all (allocations that marked: a "
               "latency the pauses do not show)\n",
               (unsigned long long)r->assists,
               bench_fmt_ns(a, sizeof a, r->assist_ns / r->assists),
               bench_fmt_ns(b, sizeof b, r->assist_ns));
    printf("  heap          peak %.1f MiB", mib(r->peak_heap_bytes));
    if (r->live_bytes)
        printf(", live %.1f MiB, peak / live %.2f", mib(r->live_bytes),
               (double)r->peak_heap_bytes / (double)r->live_bytes);
    printf("; peak RSS %.1f MiB\n", (double)r->maxrss_kib / 1024.0);
    /* The mutator's view must contain the collector's: every pause stops
     * the one mutator inside some push. */
    if (r->op_max_ns && r->npauses)
        printf("  check         worst push %s the longest pause: %s\n",
               r->op_max_ns >= r->pause_max_ns ? ">=" : "<",
               r->op_max_ns >= r->pause_max_ns
                   ? "consistent"
                   : "INCONSISTENT (a pause the mutator did not wait for)");
}

/* The run's pauses as a series: x in seconds since the run began. */
typedef struct series_buf {
    double *x, *y;
    size_t n;
} series_buf;

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "tcreport: cannot pass a result on: %s\n", strerror(errno));
            exit(2);
        }
        p += w;
        n -= (size_t)w;
    }
}

static int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Runs one workload in a child process and returns its result and pause
 * series. A heap is never given back to the OS (until the scavenger
 * exists), so a second workload in the same process would start with the
 * first one's heap and report it as its own peak; and a collector's
 * threads do not survive fork, so the child initialises tricolor itself. */
static int run_isolated(void (*init)(void), wl_fn *fn, const wl_params *p, wl_result *r,
                        series_buf *s)
{
    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, "tcreport: pipe: %s\n", strerror(errno));
        exit(2);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "tcreport: fork: %s\n", strerror(errno));
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        init();
        fn(p, r);
        fflush(stdout);
        write_all(fds[1], r, sizeof *r);
        for (size_t i = 0; i < r->npauses; i++) {
            const bk_pause *q = &r->pause_log[i];
            /* Signed: a pause mapped from the wall clock may land just
             * before the start if the clock stepped. */
            double xy[2] = {(double)((int64_t)(q->end_ns - q->dur_ns) - (int64_t)r->start_ns) /
                                1e9,
                            (double)q->dur_ns / 1e6};
            write_all(fds[1], xy, sizeof xy);
        }
        _exit(r->ok ? 0 : 1);
    }
    close(fds[1]);
    int ok = read_all(fds[0], r, sizeof *r) == 0;
    r->pause_log = NULL; /* the child's */
    s->n = ok ? r->npauses : 0;
    s->x = malloc((s->n ? s->n : 1) * sizeof *s->x);
    s->y = malloc((s->n ? s->n : 1) * sizeof *s->y);
    if (s->x == NULL || s->y == NULL) {
        fprintf(stderr, "tcreport: out of memory for the plot\n");
        exit(2);
    }
    for (size_t i = 0; ok && i < s->n; i++) {
        double xy[2];
        ok = read_all(fds[0], xy, sizeof xy) == 0;
        s->x[i] = xy[0];
        s->y[i] = xy[1];
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "tcreport: the workload's run FAILED (status %d)\n", status);
        r->ok = 0;
        s->n = 0;
        return 0;
    }
    return 1;
}

/* Runs Go's peer program `prog` (next to this one) with `args`, its pauses
 * logged (PEER_PAUSE_LOG: "PAUSE start_s dur_ms" lines, the last 256
 * cycles, each cycle's stops together as Go counts them) into s; *max_ms
 * the longest. 0 when it cannot run (no Go here), saying why. */
static int run_go(const char *self, const char *prog, char *const args[], series_buf *s,
                  double *max_ms)
{
    char path[4096];
    const char *slash = strrchr(self, '/');
    snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - self + 1) : 0, self, prog);
    if (access(path, X_OK) != 0) {
        printf("  (Go: %s not built: %s)\n", path, strerror(errno));
        return 0;
    }
    char cmd[8192];
    size_t used = (size_t)snprintf(cmd, sizeof cmd, "PEER_PAUSE_LOG=1 '%s'", path);
    for (int i = 0; args[i] && used < sizeof cmd; i++)
        used += (size_t)snprintf(cmd + used, sizeof cmd - used, " %s", args[i]);
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    if (!f) {
        printf("  (Go: cannot run %s: %s)\n", path, strerror(errno));
        return 0;
    }
    size_t cap = 0;
    char line[1024];
    *max_ms = 0;
    while (fgets(line, sizeof line, f)) {
        double x, y;
        if (sscanf(line, "PAUSE %lf %lf", &x, &y) != 2 || x < 0 || y < 0)
            continue;
        if (s->n == cap) {
            cap = cap ? 2 * cap : 256;
            s->x = realloc(s->x, cap * sizeof *s->x);
            s->y = realloc(s->y, cap * sizeof *s->y);
            if (!s->x || !s->y) {
                fprintf(stderr, "tcreport: out of memory for the plot\n");
                exit(2);
            }
        }
        s->x[s->n] = x;
        s->y[s->n++] = y;
        if (y > *max_ms)
            *max_ms = y;
    }
    int status = pclose(f);
    if (status != 0) {
        printf("  (Go: %s FAILED, status %d)\n", prog, status);
        s->n = 0;
        return 0;
    }
    return 1;
}

/* One workload's pauses on tricolor, bdwgc and Go, on a log scale (they
 * differ a hundredfold), to prefix-<name>.svg. */
static void write_peer_plot(const char *prefix, const char *name, const char *what,
                            const series_buf *tc, const series_buf *bdw, const series_buf *go)
{
    char path[4096], title[160];
    snprintf(path, sizeof path, "%s-%s.svg", prefix, name);
    snprintf(title, sizeof title, "%s: stop-the-world pauses, tricolor against its peers", what);
    svg_series series[3] = {
        {"tricolor", tc->x, tc->y, tc->n},
        {"bdwgc (its stops)", bdw->x, bdw->y, bdw->n},
        {"Go (a cycle's stops together; its last 256 cycles)", go->x, go->y, go->n},
    };
    svg_plot plot = {title, "each collector in a process of its own, the same workload and sizes",
                     "time since the run began (s)", "pause (ms, log scale)", 0, series, 3, NULL,
                     NULL, 0, 1};
    if (svg_write(path, &plot) != 0)
        fprintf(stderr, "tcreport: cannot write %s: %s\n", path, strerror(errno));
    else
        printf("peers' pause plot: %s\n", path);
}

static void print_peer(const char *who, const wl_result *r, size_t n, double max_ms)
{
    if (r)
        printf("  %-9s %zu pauses, max %.3f ms, p99 %.3f ms\n", who, r->npauses,
               (double)r->pause_max_ns / 1e6, (double)r->pause_p99_ns / 1e6);
    else
        printf("  %-9s %zu cycles logged, max %.3f ms\n", who, n, max_ms);
}

/* The peers on the same workloads, for the second plot. */
static void run_peers(const char *self, const char *prefix, const char *only,
                      const wl_params *lp, const wl_params *sp, const series_buf *ls,
                      const series_buf *ss)
{
    printf("\nthe peers, on the same workloads (bdwgc %s; Go's peer programs):\n",
           getenv("GC_MARKERS") ? getenv("GC_MARKERS") : "with its default markers");
    for (int w = 0; w < 2; w++) {
        const char *name = w == 0 ? "latency" : "steady";
        if (only && strcmp(only, name) != 0)
            continue;
        wl_result br = {0};
        series_buf bs = {0}, gs = {0};
        wl_params lq = *lp, sq = *sp;
        lq.quiet = sq.quiet = 1; /* the summary below says it */
        double go_max = 0;
        char a0[32], a1[32], a2[32];
        int ok = w == 0 ? run_isolated(bk_bdwgc_init, wl_latency_bdwgc, &lq, &br, &bs)
                        : run_isolated(bk_bdwgc_init, wl_steady_bdwgc, &sq, &br, &bs);
        if (w == 0) {
            snprintf(a0, sizeof a0, "-window=%ld", lp->window);
            snprintf(a1, sizeof a1, "-pushes=%ld", lp->n);
            snprintf(a2, sizeof a2, "-msg-size=%zu", lp->size);
        } else {
            snprintf(a0, sizeof a0, "-live-mib=%zu", sp->live_mib);
            snprintf(a1, sizeof a1, "-ops=%ld", sp->n);
            snprintf(a2, sizeof a2, "-seed=%llu", (unsigned long long)sp->seed);
        }
        char *const args[] = {a0, a1, a2, NULL};
        int go_ok = run_go(self, w == 0 ? "peer_latency" : "peer_steady", args, &gs, &go_max);
        printf(" %s\n", w == 0 ? "GC latency experiment" : "steady-state server");
        if (ok)
            print_peer("bdwgc", &br, 0, 0);
        if (go_ok)
            print_peer("Go", NULL, gs.n, go_max);
        write_peer_plot(prefix, name, w == 0 ? "GC latency experiment" : "steady-state server",
                        w == 0 ? ls : ss, &bs, &gs);
        free(bs.x);
        free(bs.y);
        free(gs.x);
        free(gs.y);
    }
}

int main(int argc, char **argv)
{
    int quick = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
    wl_params lp, sp;
    wl_params_default(&lp, "latency", quick);
    wl_params_default(&sp, "steady", quick);
    const char *only = NULL, *svg_path = "pauses.svg", *peers_prefix = "pauses-peers";
    int peers = 1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--quick") == 0)
            continue;
        if (strcmp(o, "--no-peers") == 0) {
            peers = 0;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(o, "--window") == 0)
            lp.window = (long)parse_count(o, v);
        else if (strcmp(o, "--pushes") == 0)
            lp.n = (long)parse_count(o, v);
        else if (strcmp(o, "--msg-size") == 0)
            lp.size = (size_t)parse_count(o, v);
        else if (strcmp(o, "--live-mib") == 0)
            sp.live_mib = (size_t)parse_count(o, v);
        else if (strcmp(o, "--ops") == 0)
            sp.n = (long)parse_count(o, v);
        else if (strcmp(o, "--seed") == 0)
            sp.seed = parse_count(o, v);
        else if (strcmp(o, "--svg") == 0)
            svg_path = v;
        else if (strcmp(o, "--peers-svg") == 0)
            peers_prefix = v;
        else if (strcmp(o, "--only") == 0 &&
                 (strcmp(v, "latency") == 0 || strcmp(v, "steady") == 0))
            only = v;
        else
            usage();
    }

    char env[512];
    environment_line(env, sizeof env);
    printf("tricolor %d.%d pause report, %d CPUs, each workload in a process of its own\n",
           TC_VERSION_MAJOR, TC_VERSION_MINOR, bench_ncpu());
    printf("%s\n", env);

    wl_result lr = {0}, sr = {0};
    series_buf ls = {0}, ss = {0};
    int failed = 0;
    if (only == NULL || strcmp(only, "latency") == 0)
        failed |= !run_isolated(bk_tricolor_init, wl_latency_tricolor, &lp, &lr, &ls);
    if (only == NULL || strcmp(only, "steady") == 0)
        failed |= !run_isolated(bk_tricolor_init, wl_steady_tricolor, &sp, &sr, &ss);
    if (lr.measured && lr.ok)
        print_run("GC latency experiment", &lr);
    if (sr.measured && sr.ok)
        print_run("steady-state server", &sr);

    /* Overall: the worst of both runs. */
    uint64_t max_pause = lr.pause_max_ns > sr.pause_max_ns ? lr.pause_max_ns : sr.pause_max_ns;
    double lines[2];
    const char *labels[2];
    char l0[48], l1[48];
    size_t nl = 0;
    if (lr.npauses) {
        snprintf(l0, sizeof l0, "lat. p99 %.2f ms", (double)lr.pause_p99_ns / 1e6);
        lines[nl] = (double)lr.pause_p99_ns / 1e6;
        labels[nl++] = l0;
    }
    if (max_pause) {
        snprintf(l1, sizeof l1, "max %.2f ms", (double)max_pause / 1e6);
        lines[nl] = (double)max_pause / 1e6;
        labels[nl++] = l1;
    }
    svg_series series[2] = {
        {"latency experiment", ls.x, ls.y, ls.n},
        {"steady-state server", ss.x, ss.y, ss.n},
    };
    char title[160];
    snprintf(title, sizeof title, "tricolor %d.%d: stop-the-world pauses over each run",
             TC_VERSION_MAJOR, TC_VERSION_MINOR);
    svg_plot plot = {title, env, "time since the run began (s)", "pause (ms)", 0, series, 2,
                     lines, labels, nl, 0};
    if (svg_write(svg_path, &plot) != 0)
        fprintf(stderr, "tcreport: cannot write %s: %s\n", svg_path, strerror(errno));
    else
        printf("\npause plot: %s\n", svg_path);

    if (peers)
        run_peers(argv[0], peers_prefix, only, &lp, &sp, &ls, &ss);

    printf("\n");
    if (lr.measured && lr.ok)
        bench_print_result("latency", "tricolor", &lr);
    if (sr.measured && sr.ok)
        bench_print_result("steady", "tricolor", &sr);
    free(ls.x);
    free(ls.y);
    free(ss.x);
    free(ss.y);
    if (failed) {
        fprintf(stderr, "tcreport: a workload's final check FAILED\n");
        return 1;
    }
    return 0;
}
