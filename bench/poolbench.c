/* poolbench.c: what a pool saves (the pools issue's figures), on tricolor.
 *
 * 1. get + put against allocate-and-drop and against malloc + free: each
 *    of THREADS threads (1, 2) repeats an operation on a 64-byte object
 *    (take it, write its first and last word, give it back or drop it);
 *    the figure is the wall time per operation per thread.
 * 2. A request-like loop: each request takes 8 1-KiB buffers (a request's
 *    context), writes them, and gives them back (pool) or drops them; the
 *    figures are the allocations per 1,000 requests and the collections,
 *    with the pool and without, from tc_read_memstats.
 *
 * Rounds interleave every variant and the table gives medians, with every
 * round's figure in the RESULT lines (this machine is shared and noisy).
 *
 * Usage: tcpool [--rounds N] [--ops N] [--requests N]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "tricolor.h"

#define OBJ 64
#define BUF 1024
#define PER_REQUEST 8
#define MAX_ROUNDS 31

enum mode { POOL, ALLOC, MALLOC, NMODES };
static const char *mode_name[NMODES] = {"pool get+put", "tc_alloc and drop", "malloc+free"};

static tc_pool *obj_pool, *buf_pool;
static long ops;

static void *make_obj(void *arg)
{
    (void)arg;
    return tc_alloc_atomic(OBJ);
}

static void *make_buf(void *arg)
{
    (void)arg;
    return tc_alloc_atomic(BUF);
}

typedef struct run_arg {
    enum mode mode;
    pthread_barrier_t *start;
    uint64_t ns;
} run_arg;

static void *run_ops(void *p)
{
    run_arg *a = p;
    if (tc_thread_attach() != 0)
        exit(1);
    tc_blocking_begin();
    pthread_barrier_wait(a->start);
    tc_blocking_end();
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < ops; i++) {
        volatile uint64_t *o;
        switch (a->mode) {
        case POOL:
            o = tc_pool_get(obj_pool);
            o[0] = (uint64_t)i;
            o[OBJ / 8 - 1] = (uint64_t)i;
            tc_pool_put(obj_pool, (void *)o);
            break;
        case ALLOC:
            o = tc_alloc_atomic(OBJ);
            o[0] = (uint64_t)i;
            o[OBJ / 8 - 1] = (uint64_t)i;
            break;
        default:
            o = malloc(OBJ);
            o[0] = (uint64_t)i;
            o[OBJ / 8 - 1] = (uint64_t)i;
            free((void *)o);
            break;
        }
    }
    a->ns = bench_now_ns() - t0;
    tc_thread_detach();
    return NULL;
}

/* ns per operation per thread: the slowest thread's time over ops. */
static double measure(enum mode m, int threads)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    pthread_t th[2];
    run_arg a[2];
    for (int i = 0; i < threads; i++) {
        a[i] = (run_arg){m, &start, 0};
        if (pthread_create(&th[i], NULL, run_ops, &a[i]) != 0)
            exit(1);
    }
    tc_blocking_begin();
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    tc_blocking_end();
    pthread_barrier_destroy(&start);
    uint64_t worst = 0;
    for (int i = 0; i < threads; i++)
        if (a[i].ns > worst)
            worst = a[i].ns;
    return (double)worst / (double)ops;
}

typedef struct req_result {
    double allocs_per_1000, ms;
    uint64_t gcs;
} req_result;

static req_result requests(int pooled, long n)
{
    tc_collect();
    tc_memstats m0, m1;
    tc_read_memstats(&m0);
    uint64_t t0 = bench_now_ns();
    for (long r = 0; r < n; r++) {
        volatile uint64_t *b[PER_REQUEST];
        for (int k = 0; k < PER_REQUEST; k++) {
            b[k] = pooled ? tc_pool_get(buf_pool) : tc_alloc_atomic(BUF);
            b[k][0] = (uint64_t)r;
            b[k][BUF / 8 - 1] = (uint64_t)k;
        }
        if (pooled)
            for (int k = 0; k < PER_REQUEST; k++)
                tc_pool_put(buf_pool, (void *)b[k]);
    }
    req_result res;
    res.ms = (double)(bench_now_ns() - t0) / 1e6;
    tc_read_memstats(&m1);
    res.allocs_per_1000 = (double)(m1.mallocs - m0.mallocs) * 1000.0 / (double)n;
    res.gcs = m1.num_gc - m0.num_gc;
    return res;
}

static double median(double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *v);
    bench_sort_double(s, (size_t)n);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int rounds = 5;
    long nreq = 1000000;
    ops = 5000000;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0)
            rounds = (int)bench_arg_positive("tcpool", "--rounds", argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--ops") == 0)
            ops = bench_arg_positive("tcpool", "--ops", argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--requests") == 0)
            nreq = bench_arg_positive("tcpool", "--requests", argv[++i]);
        else {
            fprintf(stderr, "usage: tcpool [--rounds N] [--ops N] [--requests N]\n");
            return 2;
        }
    }
    if (rounds > MAX_ROUNDS)
        rounds = MAX_ROUNDS;
    if (tc_init() != 0)
        return 1;
    obj_pool = tc_pool_create(make_obj, NULL);
    buf_pool = tc_pool_create(make_buf, NULL);
    if (!obj_pool || !buf_pool)
        return 1;
    printf("tcpool: %d rounds, %ld ops per thread, %ld requests, %d CPUs\n", rounds, ops, nreq,
           bench_ncpu());
    double ns[NMODES][2][MAX_ROUNDS];
    req_result rq[2][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        /* Interleaved, the order turning each round. */
        for (int k = 0; k < NMODES * 2; k++) {
            int idx = (k + r) % (NMODES * 2);
            enum mode m = (enum mode)(idx / 2);
            int threads = idx % 2 + 1;
            ns[m][threads - 1][r] = measure(m, threads);
            printf("RESULT poolbench round=%d op=\"%s\" threads=%d ns_per_op=%.2f\n", r + 1,
                   mode_name[m], threads, ns[m][threads - 1][r]);
        }
        for (int k = 0; k < 2; k++) {
            int pooled = (k + r) % 2;
            rq[pooled][r] = requests(pooled, nreq);
            printf("RESULT poolbench round=%d requests=%ld pooled=%d allocs_per_1000=%.2f "
                   "gcs=%llu ms=%.1f\n",
                   r + 1, nreq, pooled, rq[pooled][r].allocs_per_1000,
                   (unsigned long long)rq[pooled][r].gcs, rq[pooled][r].ms);
        }
        fflush(stdout);
    }
    printf("\n%-20s %12s %12s   (median of %d rounds, ns per operation per thread)\n",
           "operation", "1 thread", "2 threads", rounds);
    for (int m = 0; m < NMODES; m++)
        printf("%-20s %12.2f %12.2f\n", mode_name[m], median(ns[m][0], rounds),
               median(ns[m][1], rounds));
    double a[2][MAX_ROUNDS], g[2][MAX_ROUNDS], t[2][MAX_ROUNDS];
    for (int p = 0; p < 2; p++)
        for (int r = 0; r < rounds; r++) {
            a[p][r] = rq[p][r].allocs_per_1000;
            g[p][r] = (double)rq[p][r].gcs;
            t[p][r] = rq[p][r].ms;
        }
    printf("\nrequests (%d x %d-byte buffers each)  allocations per 1,000   collections   ms\n",
           PER_REQUEST, BUF);
    printf("%-36s %22.1f %13.0f %6.0f\n", "without the pool", median(a[0], rounds),
           median(g[0], rounds), median(t[0], rounds));
    printf("%-36s %22.1f %13.0f %6.0f\n", "with the pool", median(a[1], rounds),
           median(g[1], rounds), median(t[1], rounds));
    printf("allocations avoided per 1,000 requests: %.1f\n",
           median(a[0], rounds) - median(a[1], rounds));
    tc_pool_counts c;
    tc_pool_read_counts(buf_pool, &c);
    printf("buffer pool: gets %llu, hits %llu, victim hits %llu, misses %llu, puts %llu, "
           "dropped %llu\n",
           (unsigned long long)c.gets, (unsigned long long)c.hits,
           (unsigned long long)c.victim_hits, (unsigned long long)c.misses,
           (unsigned long long)c.puts, (unsigned long long)c.dropped);
    return 0;
}
