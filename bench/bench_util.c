/* bench_util.c: clock, peak RSS, quantiles, default parameters and the
 * RESULT line, shared by every workload whatever the backend. */
#include "bench_util.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long bench_maxrss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss; /* Linux reports KiB */
}

long bench_minflt(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

static uint64_t outside_heap;

void bench_outside_heap_add(uint64_t bytes)
{
    outside_heap += bytes;
}

uint64_t bench_outside_heap(void)
{
    return outside_heap;
}

uint64_t bench_rss_bytes(void)
{
    /* A read of a few bytes: cheap enough for every sample. */
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    if (n != 2)
        return 0;
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The CPUs this process may run on (its affinity mask, as the collector
 * counts them: tc_memstats.ncpu), not every online one: a run pinned with
 * taskset has fewer CPUs to be busy on. (cgroup quotas, which the
 * collector also reads, are left out: the benchmarks run unconfined.) */
int bench_ncpu(void)
{
    static int n;
    if (n == 0) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
            n = CPU_COUNT(&set);
        } else {
            long c = sysconf(_SC_NPROCESSORS_ONLN);
            n = c > 0 ? (int)c : 1;
        }
    }
    return n;
}

/* The full-size parameters are the and the classic ones (GCBench's
 * depths, the 200,000 x 1 KiB latency window); the quick ones keep every
 * workload to well under a second so `make bench-quick` checks that all of
 * them build and run. The Go peers take the same values as flags. */
void wl_params_default(wl_params *p, const char *workload, int quick)
{
    memset(p, 0, sizeof *p);
    p->threads = 1;
    p->seed = 42;
    if (strcmp(workload, "allocrate") == 0) {
        p->n = quick ? 1000000 : 20000000;
        p->size = 64;
    } else if (strcmp(workload, "gcbench") == 0) {
        p->stretch = quick ? 14 : 18;
        p->long_lived = quick ? 12 : 16;
        p->min_depth = 4;
        p->max_depth = quick ? 12 : 16;
    } else if (strcmp(workload, "latency") == 0) {
        p->window = quick ? 20000 : 200000;
        p->n = quick ? 100000 : 1000000;
        p->size = 1024;
    } else if (strcmp(workload, "steady") == 0) {
        p->live_mib = quick ? 8 : 100;
        p->n = quick ? 200000 : 2000000;
    } else if (strcmp(workload, "barrier") == 0) {
        p->n = quick ? 2000000 : 50000000;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void bench_sort_u64(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_sort_double(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
}

uint64_t bench_quantile(const uint64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    /* ceil(q * n) without libm; the epsilon keeps 0.99 * 100 at 99. */
    double x = q * (double)n - 1e-9;
    size_t rank = (size_t)x;
    if ((double)rank < x)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

void bench_op_summary(wl_result *r, uint64_t *lat, size_t n)
{
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        r->ops_over_1ms += lat[i] > 1000000;
        r->ops_over_10ms += lat[i] > 10000000;
    }
    bench_sort_u64(lat, n);
    r->op_p50_ns = bench_quantile(lat, n, 0.50);
    r->op_p99_ns = bench_quantile(lat, n, 0.99);
    r->op_p999_ns = bench_quantile(lat, n, 0.999);
    r->op_max_ns = lat[n - 1];
}

void bench_pause_summary(wl_result *r, const bk_pause *p, size_t n, uint64_t lost)
{
    r->pause_log = p;
    r->npauses = n;
    r->pauses_lost = lost;
    if (n == 0)
        return;
    uint64_t *d = malloc(n * sizeof *d);
    if (d == NULL) {
        fprintf(stderr, "bench: out of memory sorting %zu pauses\n", n);
        exit(2);
    }
    for (size_t i = 0; i < n; i++)
        d[i] = p[i].dur_ns;
    bench_sort_u64(d, n);
    r->pause_p50_ns = bench_quantile(d, n, 0.50);
    r->pause_p99_ns = bench_quantile(d, n, 0.99);
    r->pause_p999_ns = bench_quantile(d, n, 0.999);
    r->pause_max_ns = d[n - 1];
    free(d);
}

void bench_gc_summary(wl_result *r, const bk_stats *before, const bk_stats *after)
{
    r->gcs = after->num_gc - before->num_gc;
    r->pause_total_ns = after->pause_total_ns - before->pause_total_ns;
    double avail = (double)r->wall_ns * bench_ncpu();
    r->gc_cpu_fraction = avail > 0 ? (double)(after->gc_cpu_ns - before->gc_cpu_ns) / avail : 0;
    r->gc_idle_fraction =
        avail > 0 ? (double)(after->gc_idle_cpu_ns - before->gc_idle_cpu_ns) / avail : 0;
    r->assists = after->assists - before->assists;
    r->assist_ns = after->assist_ns - before->assist_ns;
    if (after->heap_bytes > r->peak_heap_bytes)
        r->peak_heap_bytes = after->heap_bytes;
    r->maxrss_kib = bench_maxrss_kib();
    r->faults = after->minflt - before->minflt;
}

const char *bench_fmt_ns(char *buf, size_t n, uint64_t ns)
{
    if (ns < 10000)
        snprintf(buf, n, "%.2f us", (double)ns / 1e3);
    else if (ns < 1000000)
        snprintf(buf, n, "%.1f us", (double)ns / 1e3);
    else
        snprintf(buf, n, "%.2f ms", (double)ns / 1e6);
    return buf;
}

static double mib(uint64_t b)
{
    return (double)b / 1048576.0;
}

void bench_print_result(const char *workload, const char *backend, const wl_result *r)
{
    printf("RESULT %s backend=%s %s ms=%.1f", workload, backend, r->params,
           (double)r->wall_ns / 1e6);
    if (r->ops)
        printf(" ns_per_op=%.2f", (double)r->wall_ns / (double)r->ops);
    if (r->op_max_ns)
        printf(" op_p50_us=%.3f op_p99_us=%.3f op_p999_us=%.3f op_max_ms=%.3f",
               (double)r->op_p50_ns / 1e3, (double)r->op_p99_ns / 1e3,
               (double)r->op_p999_ns / 1e3, (double)r->op_max_ns / 1e6);
    /* A manual allocator has no collections: its collector figures are
     * left out (the table shows "-"), not reported as zero. */
    if (r->collector)
        printf(" gcs=%llu pause_total_ms=%.3f pause_p99_ms=%.3f pause_max_ms=%.3f "
               "gc_cpu_fraction=%.4f",
               (unsigned long long)r->gcs, (double)r->pause_total_ns / 1e6,
               (double)r->pause_p99_ns / 1e6, (double)r->pause_max_ns / 1e6,
               r->gc_cpu_fraction);
    if (r->gc_idle_fraction > 0)
        printf(" gc_idle_fraction=%.4f", r->gc_idle_fraction);
    if (r->assists)
        printf(" assists=%llu assist_mean_us=%.2f", (unsigned long long)r->assists,
               (double)r->assist_ns / (double)r->assists / 1e3);
    printf(" peak_heap_mib=%.1f maxrss_mib=%.1f faults=%ld", mib(r->peak_heap_bytes),
           (double)r->maxrss_kib / 1024.0, r->faults);
    if (r->live_bytes)
        printf(" live_mib=%.3f overhead=%.3f", mib(r->live_bytes),
               (double)r->peak_heap_bytes / (double)r->live_bytes);
    if (r->pauses_lost)
        printf(" pauses_lost=%llu", (unsigned long long)r->pauses_lost);
    printf("\n");
    fflush(stdout);
}

long bench_arg_positive(const char *prog, const char *opt, const char *v)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || *v == '\0' || *end != '\0' || x <= 0) {
        fprintf(stderr, "%s: %s needs a positive whole number, not \"%s\"\n", prog, opt, v);
        exit(2);
    }
    return x;
}
