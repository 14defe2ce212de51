/* workload_allocrate.c: the cost of one small allocation in a steady
 * state, collection (or free) included, on 1 or more threads.
 *
 * Each thread allocates its share of N objects of one size and stores each
 * into its own ring of RING_SLOTS heap slots with the backend's store, so
 * the live set stays tiny and constant while everything older dies: the
 * allocator's fast path plus the amortised cost of the collections (for
 * the manual allocators, of freeing the object each store replaces).
 * Every object's first scalar word is written, so every backend touches
 * the memory it hands out. Kinds:
 *   pointer-free (typed = 0): tc_alloc_atomic, GC_MALLOC_ATOMIC, malloc;
 *   typed (typed = 1): one pointer slot then scalar bytes: tc_alloc of a
 *   tc_type, GC_malloc_explicitly_typed, calloc.
 * An untimed warm-up of N/10 objects per thread grows the heap first, so
 * the figure is the steady state, not the first page faults. The figure is
 * wall time over all objects of all threads: with 2 threads on 2 CPUs a
 * scalable allocator halves it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

/* A power of two so the slot index is a mask; 1024 objects of at most
 * 4 KiB keep the live set at 4 MiB per thread at most. */
#define RING_SLOTS 1024
/* Objects between samples of the heap and the pause log (thread 0 only):
 * far fewer than 256 collections' worth at tricolor's 4 MiB minimum heap
 * goal, even of 4 KiB objects. */
#define POLL_EVERY 65536

typedef struct thread_arg {
    const wl_params *p;
    const bk_shape *shape; /* NULL: pointer-free */
    const bk_shape *ring_shape;
    long n;
    int index;
    int ok;
    wl_result *r;          /* thread 0 samples into it */
    uint64_t t0, t1;       /* this thread's timed loop */
    pthread_barrier_t *warm, *start, *stop;
} thread_arg;

/* Thread 0, between two allocations: the heap's size and the pause log. */
static __attribute__((noinline)) void sample(wl_result *r)
{
    bk_sample(r);
}

/* A barrier wait as a blocking region (see bk_blocking_begin). */
static void wait_at(pthread_barrier_t *b)
{
    bk_blocking_begin();
    pthread_barrier_wait(b);
    bk_blocking_end();
}

/* One loop; `typed` and `do_free` are constants at every call site, so
 * each combination compiles to its own loop with no test inside. */
static inline __attribute__((always_inline)) void
alloc_loop(void **ring, long from, long to, size_t size, const bk_shape *shape, int typed,
           int do_free, wl_result *poll)
{
    for (long i = from; i < to; i++) {
        void *p;
        uint64_t *scalar;
        if (typed) {
            p = bk_alloc(shape);
            scalar = (uint64_t *)((char *)p + sizeof(void *));
        } else {
            p = bk_alloc_atomic(size);
            scalar = p;
        }
        *scalar = (uint64_t)i;
        size_t k = (size_t)i & (RING_SLOTS - 1);
        if (do_free)
            bk_free(ring[k]);
        bk_store(ring, &ring[k], p);
        if (poll != NULL && (i & (POLL_EVERY - 1)) == 0)
            sample(poll);
    }
}

static void run_loop(void **ring, long from, long to, size_t size, const bk_shape *shape,
                     wl_result *poll)
{
    int frees = bk_needs_free();
    if (shape != NULL && frees)
        alloc_loop(ring, from, to, size, shape, 1, 1, poll);
    else if (shape != NULL)
        alloc_loop(ring, from, to, size, shape, 1, 0, poll);
    else if (frees)
        alloc_loop(ring, from, to, size, NULL, 0, 1, poll);
    else
        alloc_loop(ring, from, to, size, NULL, 0, 0, poll);
}

/* After objects 0 .. n-1, slot k holds the object of the last i < n with
 * i % RING_SLOTS == k, whose scalar word is i: a collector that freed a
 * live object and handed its memory out again shows up here. */
static int check_ring(void **ring, long n, int typed)
{
    for (long k = 0; k < RING_SLOTS && k < n; k++) {
        long want = k + (long)RING_SLOTS * ((n - 1 - k) / RING_SLOTS);
        const uint64_t *scalar =
            (const uint64_t *)((const char *)ring[k] + (typed ? sizeof(void *) : 0));
        if (*scalar != (uint64_t)want) {
            fprintf(stderr, "allocrate: FAILED: slot %ld holds %llu, want %ld\n", k,
                    (unsigned long long)*scalar, want);
            return 0;
        }
    }
    return 1;
}

static void *thread_main(void *argp)
{
    thread_arg *a = argp;
    bk_thread_begin();
    /* The ring is a heap object of pointer slots, found by the collector
     * through this frame. */
    void **ring = bk_alloc(a->ring_shape);
    long warm = a->n / 10;
    run_loop(ring, 0, warm, a->p->size, a->shape, NULL);
    if (bk_needs_free())
        for (size_t k = 0; k < RING_SLOTS; k++) {
            bk_free(ring[k]);
            ring[k] = NULL;
        }
    wait_at(a->warm);
    wait_at(a->start);
    /* Each thread times its own loop: the run is from the first start to
     * the last end, not to when a waiting main thread happens to wake. */
    a->t0 = bench_now_ns();
    run_loop(ring, 0, a->n, a->p->size, a->shape, a->index == 0 ? a->r : NULL);
    a->t1 = bench_now_ns();
    wait_at(a->stop);
    a->ok = check_ring(ring, a->n, a->shape != NULL);
    if (bk_needs_free()) {
        for (size_t k = 0; k < RING_SLOTS; k++)
            bk_free(ring[k]);
        bk_free(ring);
    }
    bk_thread_end();
    return NULL;
}

void WL(allocrate)(const wl_params *p, wl_result *r);
void WL(allocrate)(const wl_params *p, wl_result *r)
{
    bk_init();
    memset(r, 0, sizeof *r);
    int nt = p->threads < 1 ? 1 : p->threads;
    snprintf(r->params, sizeof r->params, "kind=%s size=%zu threads=%d n=%ld",
             p->typed ? "typed" : "atomic", p->size, nt, p->n);
    if (!p->quiet)
        printf("allocrate (%s, %s): %ld %s objects of %zu bytes on %d thread%s, "
               "a ring of %d live slots each\n",
               bk_name(), bk_describe(), p->n, p->typed ? "typed" : "pointer-free", p->size,
               nt, nt == 1 ? "" : "s", RING_SLOTS);
    const bk_shape *shape =
        p->typed ? bk_shape_get(1, p->size > sizeof(void *) ? p->size - sizeof(void *) : 0)
                 : NULL;
    const bk_shape *ring_shape = bk_shape_get(RING_SLOTS, 0);

    pthread_barrier_t warm, start, stop;
    pthread_barrier_init(&warm, NULL, (unsigned)nt + 1);
    pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
    pthread_barrier_init(&stop, NULL, (unsigned)nt + 1);
    thread_arg *args = calloc((size_t)nt, sizeof *args);
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    if (args == NULL || th == NULL) {
        fprintf(stderr, "allocrate: out of memory for %d threads\n", nt);
        exit(2);
    }
    for (int t = 0; t < nt; t++) {
        args[t] = (thread_arg){p, shape, ring_shape, p->n / nt, t, 0, r, 0, 0,
                               &warm, &start, &stop};
        if (pthread_create(&th[t], NULL, thread_main, &args[t]) != 0) {
            fprintf(stderr, "allocrate: cannot start thread %d\n", t);
            exit(2);
        }
    }
    /* The main thread only times, in a blocking region: it touches no
     * heap object between the barriers. */
    bk_stats before, after;
    wait_at(&warm);
    bench_read_stats(&before);
    r->peak_heap_bytes = before.heap_bytes;
    bk_pauses_begin();
    bk_blocking_begin();
    pthread_barrier_wait(&start);
    pthread_barrier_wait(&stop);
    bk_blocking_end();
    bench_read_stats(&after);
    r->ok = 1;
    bk_blocking_begin();
    for (int t = 0; t < nt; t++) {
        pthread_join(th[t], NULL);
        r->ok &= args[t].ok;
    }
    bk_blocking_end();
    uint64_t t0 = args[0].t0, t1 = args[0].t1;
    for (int t = 1; t < nt; t++) {
        t0 = args[t].t0 < t0 ? args[t].t0 : t0;
        t1 = args[t].t1 > t1 ? args[t].t1 : t1;
    }
    r->measured = 1;
    r->wall_ns = t1 - t0;
    r->ops = (uint64_t)(p->n / nt) * (uint64_t)nt;
    bk_summarise(r, &before, &after);
    pthread_barrier_destroy(&warm);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&stop);
    free(args);
    free(th);
}
