/* test_stats.c: tc_read_memstats and the histograms.
 *
 * 1. Four threads allocate objects of random sizes (every size class and
 *    large ones), keep a random share, and exit, twice over (the second
 *    wave reuses the first's caches), while the main thread forces cycles
 *    and reads the statistics without pause. Every read must be coherent
 *    (counts monotone, frees <= mallocs, by_size summing to the totals,
 *    rings in time order); at quiescence the counts must equal what the
 *    threads counted themselves, per size class, and heap_objects the
 *    objects a walk of the heap finds.
 * 2. A collection held inside its first stop (the world stopped, world_lock
 *    held): tc_read_memstats, tc_read_histogram and tc_pause_quantile
 *    called from another thread return. (A read that waited would hang:
 *    the test gives it 60 s, a deadlock detector, not a timing bound.)
 * 3. The pause histograms count every stop; quantiles bound the stops the
 *    ring holds from above by at most a bucket's width.
 * 4. The struct is versioned by size: a short read leaves the caller's
 *    tail alone.
 * 5. Pool and finalizer counters reach the statistics, destroyed pools'
 *    included.
 * 6. Assists that marked are counted, in the histogram too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "atomic.h"
#include "heap.h" /* white-box: the spans this test looks at */
#include "testing.h"
#include "model.h"
#include "testutil.h"
#include "tricolor.h"

enum { NTHREADS = 4, WAVES = 2, OPS = 20000, KEEP = 512 };

static uint64_t seed;
static tci_atomic workers_done;

typedef struct worker {
    pthread_t th;
    int id, wave;
    uint64_t mallocs;
    uint64_t by_class[TC_NUM_SIZE_CLASSES]; /* [0]: large */
    void **kept;                            /* a root range */
} worker;

static int class_of_size(size_t size)
{
    for (int cl = 1; cl < tci_sizeclass_count; cl++)
        if (tci_sizeclass_table[cl].size == size)
            return cl;
    return 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    if (tc_thread_attach() != 0)
        abort();
    test_rng r = {seed ^ ((uint64_t)w->id << 32) ^ ((uint64_t)w->wave << 48)};
    for (int i = 0; i < OPS; i++) {
        uint64_t x = test_rand(&r);
        /* Mostly small sizes across the classes, 1 in 256 large. */
        size_t size = (x & 0xff) == 0 ? (size_t)(40000 + (x >> 8) % 100000)
                                      : (size_t)(1 + (x >> 8) % 2048);
        void *p = tc_alloc_atomic(size);
        if (!p)
            abort();
        w->mallocs++;
        size_t got = tc_object_size(p);
        w->by_class[size > TCI_MAX_SMALL ? 0 : class_of_size(got)]++;
        w->kept[(x >> 32) % KEEP] = p;
    }
    tc_thread_detach();
    tci_atomic_add_full(&workers_done, 1);
    return NULL;
}

/* Objects allocated in the heap, by a walk (after tc_collect: exact). */
static void count_span(tci_span *s, void *arg)
{
    uint64_t *n = arg;
    if (tci_span_state(s) == TCI_SPAN_LARGE) {
        *n += s->alloc_bits[0] & 1;
    } else if (tci_span_state(s) == TCI_SPAN_SMALL) {
        for (uint32_t w = 0; w < (s->nelems + 63) / 64; w++)
            *n += (uint64_t)__builtin_popcountll(s->alloc_bits[w]);
    }
}

static uint64_t heap_walk_objects(void)
{
    uint64_t n = 0;
    tc_blocking_begin(); /* the walk takes heap_lock */
    tci_heap_for_each_span(count_span, &n);
    tc_blocking_end();
    return n;
}

/* Checks one read against itself and the read before it. */
static void check_read(const tc_memstats *m, const tc_memstats *prev)
{
    assert_true(m->frees <= m->mallocs);
    assert_int_equal(m->heap_objects, m->mallocs - m->frees);
    uint64_t mallocs = 0, frees = 0;
    for (uint32_t i = 0; i < m->num_size_classes; i++) {
        mallocs += m->by_size[i].mallocs;
        frees += m->by_size[i].frees;
        assert_true(m->by_size[i].frees <= m->by_size[i].mallocs);
    }
    assert_int_equal(mallocs, m->mallocs);
    assert_int_equal(frees, m->frees);
    assert_true(m->num_gc >= prev->num_gc);
    assert_true(m->num_stw >= prev->num_stw);
    assert_true(m->num_stw >= m->num_gc);
    assert_true(m->mallocs >= prev->mallocs);
    assert_true(m->frees >= prev->frees);
    assert_true(m->total_alloc >= prev->total_alloc);
    assert_true(m->pause_total_ns >= prev->pause_total_ns);
    assert_true(m->gc_cpu_ns >= prev->gc_cpu_ns);
    assert_true(m->sys >= m->heap_sys + m->meta_sys);
    /* The rings: the cycles (and the stops) they hold end in order. */
    uint32_t n = m->num_gc < TC_PAUSE_RING ? m->num_gc : TC_PAUSE_RING;
    for (uint32_t k = 1; k < n; k++) {
        uint32_t a = (m->num_gc - n + k - 1) % TC_PAUSE_RING;
        uint32_t b = (m->num_gc - n + k) % TC_PAUSE_RING;
        assert_true(m->pause_end_ns[a] <= m->pause_end_ns[b]);
    }
    n = m->num_stw < TC_PAUSE_RING ? m->num_stw : TC_PAUSE_RING;
    for (uint32_t k = 1; k < n; k++) {
        uint32_t a = (m->num_stw - n + k - 1) % TC_PAUSE_RING;
        uint32_t b = (m->num_stw - n + k) % TC_PAUSE_RING;
        assert_true(m->stw_end_ns[a] <= m->stw_end_ns[b]);
    }
    if (m->num_gc)
        assert_int_equal(m->last_gc_ns, m->pause_end_ns[(m->num_gc - 1) % TC_PAUSE_RING]);
}

static void memstats_consistent_under_four_threads(void **state)
{
    (void)state;
    test_collect();
    tc_memstats base = test_stats(), prev = base, m;
    uint64_t want_mallocs = 0, want_class[TC_NUM_SIZE_CLASSES] = {0};
    uint64_t reads = 0;
    static void *kept[NTHREADS][KEEP];
    for (int t = 0; t < NTHREADS; t++)
        assert_int_equal(tc_root_add(kept[t], sizeof kept[t]), 0);
    for (int wave = 0; wave < WAVES; wave++) {
        worker w[NTHREADS];
        memset(w, 0, sizeof w);
        for (int t = 0; t < NTHREADS; t++) {
            w[t].id = t;
            w[t].wave = wave;
            w[t].kept = kept[t];
            assert_int_equal(pthread_create(&w[t].th, NULL, worker_main, &w[t]), 0);
        }
        /* Read while they allocate, forcing a cycle now and then, until
         * they are all done (and at least 400 times). */
        for (int i = 0; i < 400 || tci_atomic_load_acquire(&workers_done) <
                                       (uintptr_t)(NTHREADS * (wave + 1)); i++) {
            tc_read_memstats(&m);
            check_read(&m, &prev);
            prev = m;
            reads++;
            if (i % 400 == 0)
                tc_collect();
        }
        tc_blocking_begin();
        for (int t = 0; t < NTHREADS; t++)
            assert_int_equal(pthread_join(w[t].th, NULL), 0);
        tc_blocking_end();
        for (int t = 0; t < NTHREADS; t++) {
            want_mallocs += w[t].mallocs;
            for (int c = 0; c < TC_NUM_SIZE_CLASSES; c++)
                want_class[c] += w[t].by_class[c];
        }
    }
    /* Quiescence: nothing allocates, every span swept. */
    test_collect();
    tc_read_memstats(&m);
    check_read(&m, &prev);
    assert_int_equal(m.mallocs - base.mallocs, want_mallocs);
    for (int c = 0; c < TC_NUM_SIZE_CLASSES; c++)
        assert_int_equal(m.by_size[c].mallocs - base.by_size[c].mallocs, want_class[c]);
    uint64_t walked = heap_walk_objects();
    printf("stats: %llu reads, %u cycles, %llu mallocs, %llu frees, heap_objects %llu, "
           "walk %llu\n",
           (unsigned long long)reads, m.num_gc, (unsigned long long)m.mallocs,
           (unsigned long long)m.frees, (unsigned long long)m.heap_objects,
           (unsigned long long)walked);
    assert_int_equal(m.heap_objects, walked);
    assert_true(m.num_gc > base.num_gc);
    for (int t = 0; t < NTHREADS; t++)
        tc_root_remove(kept[t]);
}

/* ---- 2. A read while a collection holds the world ---------------------- */

static tci_atomic reader_done;

static void *reader_main(void *arg)
{
    tc_memstats *out = arg;
    /* Not attached: a stopped world does not hold this thread. */
    tc_read_memstats(out);
    uint64_t c[4];
    assert_true(tc_read_histogram(TC_HIST_PAUSE, c, NULL, 4) > 4);
    (void)tc_pause_quantile(0.99);
    tci_atomic_store_release(&reader_done, 1);
    return NULL;
}

static void read_while_collection_stopped(void **state)
{
    (void)state;
    test_collect();
    tc_memstats before = test_stats(), during;
    tci_gate_hold_stop(1);
    uint64_t want = tci_gate_start_cycle();
    tc_blocking_begin(); /* from here until the world restarts */
    tci_gate_wait_stopped();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &during), 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    int rc = pthread_timedjoin_np(th, NULL, &ts);
    int done = (int)tci_atomic_load_acquire(&reader_done);
    tci_gate_hold_stop(0);
    if (rc != 0)
        pthread_join(th, NULL);
    tci_gate_wait_cycle(want);
    tc_blocking_end();
    assert_int_equal(rc, 0);
    assert_true(done);
    /* It read the figures of before the held stop: that stop is recorded
     * when it ends. */
    assert_int_equal(during.num_gc, before.num_gc);
    assert_int_equal(during.num_stw, before.num_stw);
    tc_memstats after = test_stats();
    assert_int_equal(after.num_gc, before.num_gc + 1);
}

/* ---- 3. Histograms --------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void pause_histograms_count_every_stop(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++)
        tc_collect();
    tc_memstats m = test_stats();
    size_t nb = tc_read_histogram(TC_HIST_PAUSE, NULL, NULL, 0);
    assert_true(nb > 200);
    uint64_t *counts = calloc(nb, sizeof *counts), *upper = calloc(nb, sizeof *upper);
    uint64_t *tcounts = calloc(nb, sizeof *tcounts);
    assert_non_null(counts);
    assert_non_null(upper);
    assert_non_null(tcounts);
    assert_int_equal(tc_read_histogram(TC_HIST_PAUSE, counts, upper, nb), nb);
    assert_int_equal(tc_read_histogram(TC_HIST_TTSP, tcounts, NULL, nb), nb);
    uint64_t total = 0, ttotal = 0;
    for (size_t i = 0; i < nb; i++) {
        total += counts[i];
        ttotal += tcounts[i];
        if (i)
            assert_true(upper[i] > upper[i - 1]);
        /* At most an eighth wide, above the first bucket. */
        if (i > 1 && i < nb - 1)
            assert_true(upper[i] - upper[i - 1] <= upper[i - 1] / 8 + 1);
    }
    assert_int_equal(upper[nb - 1], UINT64_MAX);
    assert_int_equal(total, m.num_stw);
    assert_int_equal(ttotal, m.num_stw);
    /* Every stop the ring holds lies in a bucket the histogram counted. */
    assert_true(m.num_stw <= TC_PAUSE_RING); /* this test's few cycles */
    uint64_t *v = calloc(m.num_stw, sizeof *v);
    assert_non_null(v);
    for (uint32_t i = 0; i < m.num_stw; i++)
        v[i] = m.stw_ns[i];
    qsort(v, m.num_stw, sizeof *v, cmp_u64);
    double qs[] = {0.0, 0.25, 0.5, 0.9, 0.99, 1.0};
    uint64_t last = 0;
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        uint64_t q = tc_pause_quantile(qs[k]);
        uint64_t rank = (uint64_t)(qs[k] * m.num_stw + 0.999999);
        rank = rank < 1 ? 1 : rank;
        uint64_t exact = v[rank - 1];
        printf("stats: pause quantile %.2f: %llu ns (exact %llu)\n", qs[k],
               (unsigned long long)q, (unsigned long long)exact);
        assert_true(q >= exact);
        assert_true(q <= exact + exact / 8 + 1024);
        assert_true(q >= last);
        last = q;
    }
    assert_int_equal(tc_pause_quantile(1.0), v[m.num_stw - 1]);
    errno = 0;
    assert_int_equal(tc_pause_quantile(1.5), UINT64_MAX);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(tc_read_histogram(7, counts, upper, nb), 0);
    assert_int_equal(errno, EINVAL);
    free(v);
    free(counts);
    free(upper);
    free(tcounts);
}

/* A thread held by every stop: each stop's restart delay (release to the
 * last held thread running again) is in TC_HIST_RESTART, one value per
 * stop, and none is longer than its stop, so at every bucket bound at
 * least as many restarts as stops lie below it. */
static tci_atomic restart_done;

static void *safepoint_loop(void *arg)
{
    (void)arg;
    assert_int_equal(tc_thread_attach(), 0);
    while (!tci_atomic_load_acquire(&restart_done))
        tc_safepoint();
    tc_thread_detach();
    return NULL;
}

static void restart_histogram_counts_every_stop(void **state)
{
    (void)state;
    size_t nb = tc_read_histogram(TC_HIST_RESTART, NULL, NULL, 0);
    assert_int_equal(nb, tc_read_histogram(TC_HIST_PAUSE, NULL, NULL, 0));
    uint64_t *p0 = calloc(nb, sizeof *p0), *p1 = calloc(nb, sizeof *p1);
    uint64_t *r0 = calloc(nb, sizeof *r0), *r1 = calloc(nb, sizeof *r1);
    assert_true(p0 && p1 && r0 && r1);
    tc_read_histogram(TC_HIST_PAUSE, p0, NULL, nb);
    tc_read_histogram(TC_HIST_RESTART, r0, NULL, nb);
    uint64_t stops0 = test_stats().num_stw;
    tci_atomic_store_relaxed(&restart_done, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, safepoint_loop, NULL), 0);
    for (int i = 0; i < 10; i++)
        tc_collect();
    tci_atomic_store_release(&restart_done, 1);
    tc_blocking_begin();
    assert_int_equal(pthread_join(th, NULL), 0);
    tc_blocking_end();
    uint64_t stops = test_stats().num_stw - stops0;
    tc_read_histogram(TC_HIST_PAUSE, p1, NULL, nb);
    tc_read_histogram(TC_HIST_RESTART, r1, NULL, nb);
    uint64_t pauses = 0, restarts = 0;
    for (size_t i = 0; i < nb; i++) {
        pauses += p1[i] - p0[i];
        restarts += r1[i] - r0[i];
        assert_true(restarts >= pauses);
    }
    printf("stats: %llu stops with a held thread, %llu restarts counted\n",
           (unsigned long long)stops, (unsigned long long)restarts);
    assert_true(stops >= 10);
    assert_int_equal(pauses, stops);
    assert_int_equal(restarts, stops);
    free(p0);
    free(p1);
    free(r0);
    free(r1);
}

/* ---- 4. Versioned by size ----------------------------------------------- */

static void memstats_versioned_by_size(void **state)
{
    (void)state;
    unsigned char buf[sizeof(tc_memstats) + 64];
    size_t old = offsetof(tc_memstats, cache_sys);
    memset(buf, 0xab, sizeof buf);
    assert_int_equal(tc_read_memstats_sized((tc_memstats *)(void *)buf, old), old);
    for (size_t i = old; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xab);
    tc_memstats full = test_stats();
    tc_memstats part;
    memcpy(&part, buf, old);
    assert_int_equal(part.num_gc, full.num_gc);
    assert_int_equal(part.heap_sys, full.heap_sys);
    /* The entry point of binaries built before the size was passed. */
    memset(buf, 0xab, sizeof buf);
    (tc_read_memstats)((tc_memstats *)(void *)buf);
    for (size_t i = old; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xab);
    /* The whole struct, and nothing past it. */
    memset(buf, 0xab, sizeof buf);
    /* A newer program's bigger struct: filled as far as this library's. */
    assert_int_equal(tc_read_memstats_sized((tc_memstats *)(void *)buf, sizeof buf),
                     sizeof(tc_memstats));
    for (size_t i = sizeof(tc_memstats); i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xab);
    memcpy(&part, buf, sizeof part);
    assert_true(part.num_size_classes > 30);
    assert_int_equal(part.by_size[1].size, 16);
}

/* ---- 6. Assists ----------------------------------------------------------- */

typedef struct cell {
    struct cell *next;
    uintptr_t pad[3];
} cell;

static cell *assist_list; /* a root range: the live graph to mark */

/* With the markers held to 1/1024 of a CPU (the pacing's test switch),
 * a cycle over a 32 MiB list cannot end unless the allocating thread
 * marks: the test allocates until the cycle it asked for is done, and
 * every assist that marked must be in the statistics and the histogram. */
static void assists_counted_when_markers_lag(void **state)
{
    (void)state;
    size_t offs[1] = {offsetof(cell, next)};
    const tc_type *t = tc_type_new("stats_cell", sizeof(cell), offs, 1);
    assert_non_null(t);
    assert_int_equal(tc_root_add(&assist_list, sizeof assist_list), 0);
    for (int i = 0; i < (32 << 20) / (int)sizeof(cell); i++) {
        cell *c = tc_alloc(t);
        assert_non_null(c);
        TC_STORE(c, next, assist_list);
        assist_list = c;
    }
    tc_collect();
    tc_memstats m0 = test_stats();
    tci_atomic_store_relaxed(&tci_mark_pace_test_compete, 1);
    (void)tci_gate_start_cycle();
    long allocs = 0;
    while (test_stats().num_gc == m0.num_gc) {
        for (int i = 0; i < 1024; i++)
            (void)tc_alloc_atomic(256);
        allocs += 1024;
    }
    tci_atomic_store_relaxed(&tci_mark_pace_test_compete, 0);
    tc_memstats m1 = test_stats();
    uint64_t counts[256], total = 0;
    size_t nb = tc_read_histogram(TC_HIST_ASSIST, counts, NULL, 256);
    for (size_t i = 0; i < nb; i++)
        total += counts[i];
    printf("stats: %llu assists (%.1f us each) while allocating %ld objects\n",
           (unsigned long long)(m1.num_assists - m0.num_assists),
           m1.num_assists > m0.num_assists ? (double)(m1.assist_ns - m0.assist_ns) /
                                                 (double)(m1.num_assists - m0.num_assists) / 1e3
                                           : 0.0,
           allocs);
    assert_true(m1.num_assists > m0.num_assists);
    assert_true(m1.assist_ns > m0.assist_ns);
    assert_int_equal(total, m1.num_assists);
    assist_list = NULL;
    tc_root_remove(&assist_list);
    tc_collect();
}

/* ---- 5. Pool and finalizer counters ------------------------------------ */

static void *make_obj(void *arg)
{
    (void)arg;
    return tc_alloc_atomic(32);
}

static void fin_nop(void *obj, void *arg)
{
    (void)obj;
    (void)arg;
}

static void pool_and_finalizer_counts(void **state)
{
    (void)state;
    tc_memstats a = test_stats();
    tc_pool *p = tc_pool_create(make_obj, NULL);
    assert_non_null(p);
    void *x = tc_pool_get(p); /* a miss: made */
    assert_non_null(x);
    tc_pool_put(p, x);
    assert_ptr_equal(tc_pool_get(p), x); /* a hit */
    tc_pool_destroy(p);
    tc_memstats b = test_stats();
    assert_int_equal(b.pool_gets - a.pool_gets, 2);
    assert_int_equal(b.pool_hits - a.pool_hits, 1);
    assert_int_equal(b.pool_misses - a.pool_misses, 1);
    assert_int_equal(b.pool_puts - a.pool_puts, 1);
    /* A pool made now reuses the destroyed one's counters, from zero. */
    tc_pool *q = tc_pool_create(make_obj, NULL);
    tc_pool_counts c;
    tc_pool_read_counts(q, &c);
    assert_int_equal(c.gets + c.puts + c.dropped, 0);
    tc_pool_destroy(q);
    tc_memstats d = test_stats();
    assert_int_equal(d.pool_gets, b.pool_gets);
    void *o = tc_alloc_atomic(64);
    assert_int_equal(tc_set_finalizer(o, fin_nop, NULL), 0);
    tc_memstats e = test_stats();
    assert_int_equal(e.finalizers_registered, d.finalizers_registered + 1);
    assert_true(e.other_sys > d.other_sys);
    assert_int_equal(tc_set_finalizer(o, NULL, NULL), 0);
    tc_memstats f = test_stats();
    assert_int_equal(f.finalizers_registered, d.finalizers_registered);
}

int main(void)
{
    /* Before tc_init: zeros, no crash. */
    tc_memstats z;
    memset(&z, 0xab, sizeof z);
    tc_read_memstats(&z);
    if (z.num_gc != 0 || z.mallocs != 0 || z.sys != 0) {
        fprintf(stderr, "tc_read_memstats before tc_init did not zero the struct\n");
        return 1;
    }
    seed = test_seed("stats", 20261122);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memstats_versioned_by_size),
        cmocka_unit_test(pause_histograms_count_every_stop),
        cmocka_unit_test(restart_histogram_counts_every_stop),
        cmocka_unit_test(read_while_collection_stopped),
        cmocka_unit_test(memstats_consistent_under_four_threads),
        cmocka_unit_test(pool_and_finalizer_counts),
        cmocka_unit_test(assists_counted_when_markers_lag),
    };
    return cmocka_run_group_tests(tests, test_group_setup_verified, NULL);
}
