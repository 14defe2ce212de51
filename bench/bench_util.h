/* bench_util.h: what the workloads, the Google Benchmark shim and the
 * pause report share, whatever the backend: the figures a backend gives,
 * the workload parameters and results, and small helpers (clock, peak RSS,
 * quantiles). Included from C and C++.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a backend tells about its collections, totals since bk_init. */
typedef struct bk_stats {
    uint64_t num_gc;         /* collections (0 for the manual allocators) */
    uint64_t pause_total_ns; /* stop-the-world time over all collections */
    uint64_t gc_cpu_ns;      /* CPU time spent collecting; a stopped world
                                counts every CPU (Go's convention) */
    uint64_t assists;        /* mark assists by allocating threads (tricolor) */
    uint64_t assist_ns;      /* their total duration */
    uint64_t gc_idle_cpu_ns; /* marking on CPUs the program left idle, not in
                                gc_cpu_ns (tricolor, as Go's idle workers) */
    uint64_t heap_bytes;     /* heap memory the backend holds from the OS
                                (mapped and not released) */
    long minflt;             /* the process's page faults so far (filled by
                                bench_read_stats, not by the backend) */
} bk_stats;

/* One stop-the-world pause: when it ended (CLOCK_MONOTONIC, bench_now_ns)
 * and how long it was. */
typedef struct bk_pause {
    uint64_t end_ns;
    uint64_t dur_ns;
} bk_pause;

/* The parameters of one workload run; each workload reads its own and
 * prints them. */
typedef struct wl_params {
    long n;           /* allocrate: objects; latency: pushes; steady: ops;
                         barrier: stores */
    size_t size;      /* allocrate: object bytes; latency: message bytes */
    int typed;        /* allocrate: 1 pointer slot then scalars, else
                         pointer-free */
    int threads;      /* allocrate: mutator threads */
    int marking;      /* barrier: stores while the collector marks */
    long window;      /* latency: messages kept live */
    int stretch, long_lived, min_depth, max_depth; /* gcbench */
    size_t live_mib;  /* steady: live heap to hold */
    uint64_t seed;    /* steady */
    int quiet;        /* no human-readable lines (the shim prints its own) */
} wl_params;

/* Parameters as `make bench-quick` and `make bench` use them. */
void wl_params_default(wl_params *p, const char *workload, int quick);

/* What one run measured. A field a workload does not measure is 0. */
typedef struct wl_result {
    int ok;                 /* 0: the run's final check failed (no figures) */
    int measured;           /* 0: not measurable on this backend (skipped) */
    int collector;          /* the backend collects: it has pauses and GC CPU */
    char params[192];       /* the parameters, "key=value ..." */
    uint64_t wall_ns;       /* the timed part, less the time spent sampling */
    uint64_t sample_ns;     /* time spent sampling the heap inside the timed part */
    uint64_t ops;           /* objects, pushes, ops or stores timed */
    /* Per-operation latency as the mutator sees it (latency, steady). */
    uint64_t op_p50_ns, op_p99_ns, op_p999_ns, op_max_ns;
    /* Collections during the timed part. */
    uint64_t gcs, pause_total_ns;
    uint64_t pause_p50_ns, pause_p99_ns, pause_p999_ns, pause_max_ns;
    size_t npauses;         /* pauses behind the quantiles */
    uint64_t pauses_lost;   /* pauses the log missed (then quantiles are of fewer) */
    double gc_cpu_fraction; /* gc_cpu_ns / (wall * CPUs) over the timed part */
    double gc_idle_fraction; /* gc_idle_cpu_ns / (wall * CPUs), likewise */
    uint64_t assists, assist_ns; /* mark assists in the timed part (tricolor): a
                                    latency the pauses do not show */
    uint64_t peak_heap_bytes; /* largest heap_bytes sampled */
    uint64_t live_bytes;    /* the workload's own count of what it keeps live */
    long maxrss_kib;        /* the process's peak RSS so far */
    long faults;            /* page faults in the timed part, every thread:
                               memory handed out that the OS had to map */
    /* The pause log behind the quantiles (the backend's, valid until its
     * next run) and when the timed part began, on the same clock: what the
     * pause report plots. */
    const bk_pause *pause_log;
    uint64_t start_ns;
    /* latency: pushes over 1 ms and over 10 ms as the mutator saw them. */
    uint64_t ops_over_1ms, ops_over_10ms;
} wl_result;

typedef void wl_fn(const wl_params *p, wl_result *r);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);
/* Peak resident set size of the process in KiB (getrusage ru_maxrss). */
long bench_maxrss_kib(void);
/* The process's page faults so far (minor: memory the OS mapped). */
long bench_minflt(void);
/* Bytes the workload keeps outside the backend's heap but in the process
 * (the latency workload's timings): the manual backends, which measure
 * their heap as resident memory, leave them out. */
void bench_outside_heap_add(uint64_t bytes);
uint64_t bench_outside_heap(void);
/* Resident memory of the process in bytes (/proc/self/statm), 0 if unknown. */
uint64_t bench_rss_bytes(void);
/* Online CPUs, read once. */
int bench_ncpu(void);
/* The value of command-line option opt of program prog, a positive whole
 * number; anything else exits 2 with a message naming both. */
long bench_arg_positive(const char *prog, const char *opt, const char *v);
/* Nearest-rank quantile q (0 < q <= 1) of n sorted values; 0 when n == 0. */
uint64_t bench_quantile(const uint64_t *sorted, size_t n, double q);
void bench_sort_u64(uint64_t *v, size_t n);
void bench_sort_double(double *v, size_t n);
/* Fills r's pause quantiles from n pauses (sorted here, in a copy). */
void bench_pause_summary(wl_result *r, const bk_pause *p, size_t n, uint64_t lost);
/* Fills r's per-operation quantiles from n latencies (sorted in place). */
void bench_op_summary(wl_result *r, uint64_t *lat, size_t n);
/* Fills the timed part's collection figures from stats before and after. */
void bench_gc_summary(wl_result *r, const bk_stats *before, const bk_stats *after);
/* A duration in the unit that keeps it readable ("12.3 us", "4.56 ms"). */
const char *bench_fmt_ns(char *buf, size_t n, uint64_t ns);
/* The whole result as one line: "RESULT <workload> backend=<b> <params>
 * key=value ...", for scripts (bench/bench.sh reads it). */
void bench_print_result(const char *workload, const char *backend, const wl_result *r);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_UTIL_H */
