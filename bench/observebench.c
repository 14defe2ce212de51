/* observebench.c: what observing the heap costs (the observability
 * issue's figures), on tricolor, in one process.
 *
 * 1. Heap profiling on binary-trees: the benchmarks game's binary-trees
 *    (a stretch tree, a long-lived tree, then for each depth 4, 6, ...,
 *    max as many short-lived trees as make up 2^max nodes, each checked),
 *    with sampling off (rate 0) and at the default rate (512 KiB), in
 *    alternating rounds; the figures are each variant's median wall time,
 *    and the median over rounds of each round's on/off ratio (the pair
 *    runs back to back, so the ratio cancels the drift between rounds).
 * 2. tc_read_memstats with other threads allocating: each round, THREADS
 *    - 1 threads build and drop trees while the main thread (attached too,
 *    so THREADS attached threads in all) calls tc_read_memstats READS
 *    times, timing each call; the figures are the median, p99 and worst
 *    call, and the same for tc_write_prometheus to /dev/null.
 *
 * Every round's figure is in the RESULT lines (this machine is shared and
 * noisy); the table gives medians over rounds.
 *
 * --trees-once runs binary-trees once at the rate TRICOLOR_DEBUG sets (for
 * tools/profile-cost.sh, which counts its instructions under valgrind).
 *
 * Usage: tcobserve [--rounds N] [--depth N] [--threads N] [--reads N] [--trees-once]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "tricolor.h"

#define MAX_ROUNDS 31

typedef struct node {
    struct node *left, *right;
} node;

static const tc_type *node_type;

static node *make_tree(int depth)
{
    node *n = tc_alloc(node_type);
    if (!n) {
        fprintf(stderr, "tcobserve: out of memory\n");
        exit(1);
    }
    if (depth > 0) {
        node *l = make_tree(depth - 1);
        TC_STORE(n, left, l);
        node *r = make_tree(depth - 1);
        TC_STORE(n, right, r);
    }
    return n;
}

static long check_tree(const node *n)
{
    return n->left ? 1 + check_tree(n->left) + check_tree(n->right) : 1;
}

/* Binary-trees at max_depth; returns the checksum (and fails on a wrong one). */
static long binary_trees(int max_depth)
{
    long sum = check_tree(make_tree(max_depth + 1));
    node *long_lived = make_tree(max_depth);
    for (int d = 4; d <= max_depth; d += 2) {
        long iters = 1L << (max_depth - d + 4);
        long check = 0;
        for (long i = 0; i < iters; i++)
            check += check_tree(make_tree(d));
        if (check != iters * ((1L << (d + 1)) - 1)) {
            fprintf(stderr, "tcobserve: wrong tree checksum at depth %d\n", d);
            exit(1);
        }
        sum += check;
    }
    sum += check_tree(long_lived);
    return sum;
}

static volatile int stop_workers;

static void *churn(void *arg)
{
    (void)arg;
    if (tc_thread_attach() != 0)
        exit(1);
    while (!stop_workers)
        (void)check_tree(make_tree(12));
    tc_thread_detach();
    return NULL;
}

/* The calling thread's CPU time: the profiling's cost falls on the
 * allocating thread, and the machine's stalls and other tenants do not
 * count in it (they blur wall times by 20% here). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double median_d(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One round of reads: median, p99, worst of `reads` calls, in ns. */
static void time_reads(long reads, int prom, uint64_t out[3])
{
    uint64_t *t = malloc((size_t)reads * sizeof *t);
    FILE *null = prom ? fopen("/dev/null", "w") : NULL;
    if (!t || (prom && !null))
        exit(1);
    tc_memstats m;
    for (long i = 0; i < reads; i++) {
        uint64_t t0 = bench_now_ns();
        if (prom)
            tc_write_prometheus(null);
        else
            tc_read_memstats(&m);
        t[i] = bench_now_ns() - t0;
    }
    qsort(t, (size_t)reads, sizeof *t, cmp_u64);
    out[0] = t[reads / 2];
    out[1] = t[reads * 99 / 100];
    out[2] = t[reads - 1];
    if (null)
        fclose(null);
    free(t);
}

int main(int argc, char **argv)
{
    long rounds = 5, depth = 18, threads = 2, reads = 100000;
    int trees_once = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0)
            rounds = bench_arg_positive("tcobserve", "--rounds", argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--depth") == 0)
            depth = bench_arg_positive("tcobserve", "--depth", argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = bench_arg_positive("tcobserve", "--threads", argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--reads") == 0)
            reads = bench_arg_positive("tcobserve", "--reads", argv[++i]);
        else if (strcmp(argv[i], "--trees-once") == 0)
            trees_once = 1;
        else {
            fprintf(stderr, "usage: tcobserve [--rounds N] [--depth N] [--threads N] "
                            "[--reads N] [--trees-once]\n");
            return 2;
        }
    }
    if (rounds > MAX_ROUNDS || depth > 22 || threads > 16) {
        fprintf(stderr, "tcobserve: at most %d rounds, depth 22, 16 threads\n", MAX_ROUNDS);
        return 2;
    }
    if (tc_init() != 0)
        return 1;
    size_t offs[2] = {offsetof(node, left), offsetof(node, right)};
    node_type = tc_type_new("node", sizeof(node), offs, 2);
    if (!node_type)
        return 1;
    if (trees_once) {
        long sum = binary_trees((int)depth);
        tc_memstats m;
        tc_read_memstats(&m);
        printf("binary-trees depth %ld: checksum %ld, %u collections, rate %llu, %llu samples\n",
               depth, sum, m.num_gc, (unsigned long long)m.mem_profile_rate,
               (unsigned long long)m.mem_profile_samples);
        return 0;
    }
    size_t default_rate = tc_set_mem_profile_rate(0);
    if (default_rate == 0)
        default_rate = 512 * 1024; /* TRICOLOR_DEBUG turned it off: measure Go's default */
    printf("tcobserve: binary-trees depth %ld, %ld rounds; reads with %ld threads, %ld per "
           "round\n", depth, rounds, threads, reads);

    double off[MAX_ROUNDS], on[MAX_ROUNDS], off_cpu[MAX_ROUNDS], on_cpu[MAX_ROUNDS];
    uint64_t samples0 = 0;
    for (long r = 0; r < rounds; r++) {
        for (int v = 0; v < 2; v++) {
            /* Alternate which goes first, so drift favours neither. */
            int prof = (int)((r + v) % 2);
            tc_set_mem_profile_rate(prof ? default_rate : 0);
            tc_collect();
            tc_memstats m0;
            tc_read_memstats(&m0);
            uint64_t t0 = bench_now_ns(), c0 = thread_cpu_ns();
            long sum = binary_trees((int)depth);
            double ms = (double)(bench_now_ns() - t0) / 1e6;
            double cpu_ms = (double)(thread_cpu_ns() - c0) / 1e6;
            tc_memstats m1;
            tc_read_memstats(&m1);
            (prof ? on : off)[r] = ms;
            (prof ? on_cpu : off_cpu)[r] = cpu_ms;
            samples0 = m1.mem_profile_samples - m0.mem_profile_samples;
            printf("RESULT binary_trees profiling=%s round=%ld ms=%.1f thread_cpu_ms=%.1f "
                   "samples=%llu checksum=%ld\n", prof ? "default" : "off", r + 1, ms, cpu_ms,
                   (unsigned long long)samples0, sum);
        }
    }
    tc_set_mem_profile_rate(default_rate);
    uint64_t rd[3][MAX_ROUNDS], pr[3][MAX_ROUNDS];
    for (long r = 0; r < rounds; r++) {
        stop_workers = 0;
        pthread_t th[16];
        for (long t = 0; t + 1 < threads; t++)
            if (pthread_create(&th[t], NULL, churn, NULL) != 0)
                return 1;
        uint64_t a[3], b[3];
        time_reads(reads, 0, a);
        time_reads(reads / 100 > 0 ? reads / 100 : 1, 1, b);
        stop_workers = 1;
        tc_blocking_begin();
        for (long t = 0; t + 1 < threads; t++)
            pthread_join(th[t], NULL);
        tc_blocking_end();
        for (int k = 0; k < 3; k++) {
            rd[k][r] = a[k];
            pr[k][r] = b[k];
        }
        printf("RESULT read_memstats threads=%ld round=%ld median_ns=%llu p99_ns=%llu "
               "max_ns=%llu prometheus_median_ns=%llu prometheus_p99_ns=%llu\n", threads,
               r + 1, (unsigned long long)a[0], (unsigned long long)a[1],
               (unsigned long long)a[2], (unsigned long long)b[0], (unsigned long long)b[1]);
    }
    /* Each round's pair ran back to back: its ratio cancels the drift
     * between rounds that the medians of the times keep. */
    double ratio[MAX_ROUNDS], cratio[MAX_ROUNDS];
    for (long r = 0; r < rounds; r++) {
        ratio[r] = on[r] / off[r];
        cratio[r] = on_cpu[r] / off_cpu[r];
    }
    double m_ratio = median_d(ratio, (int)rounds), m_cratio = median_d(cratio, (int)rounds);
    double m_off = median_d(off, (int)rounds), m_on = median_d(on, (int)rounds);
    double mc_off = median_d(off_cpu, (int)rounds), mc_on = median_d(on_cpu, (int)rounds);
    double med[3], pmed[3];
    for (int k = 0; k < 3; k++) {
        double v[MAX_ROUNDS], w[MAX_ROUNDS];
        for (long r = 0; r < rounds; r++) {
            v[r] = (double)rd[k][r];
            w[r] = (double)pr[k][r];
        }
        med[k] = median_d(v, (int)rounds);
        pmed[k] = median_d(w, (int)rounds);
    }
    printf("\n| figure (median of %ld rounds) | value |\n| --- | --- |\n", rounds);
    printf("| binary-trees, profiling off: wall / allocating thread's CPU | %.1f / %.1f ms |\n",
           m_off, mc_off);
    printf("| binary-trees, profiling at %zu B: wall / allocating thread's CPU | %.1f / %.1f ms |\n",
           default_rate, m_on, mc_on);
    printf("| profiling overhead, thread CPU: paired ratios' median / medians' ratio | "
           "%+.2f%% / %+.2f%% |\n", (m_cratio - 1) * 100, (mc_on / mc_off - 1) * 100);
    printf("| profiling overhead, wall: paired ratios' median / medians' ratio | "
           "%+.2f%% / %+.2f%% |\n", (m_ratio - 1) * 100, (m_on / m_off - 1) * 100);
    printf("| tc_read_memstats, %ld threads: median / p99 / worst | %.2f / %.2f / %.1f us |\n",
           threads, med[0] / 1e3, med[1] / 1e3, med[2] / 1e3);
    printf("| tc_write_prometheus to /dev/null: median / p99 | %.1f / %.1f us |\n",
           pmed[0] / 1e3, pmed[1] / 1e3);
    return 0;
}
