/* test_pool.c: pools emptied a generation per cycle (pool/pool.c).
 *
 * Heap pools: the victim generation (an entry put before cycle N can be got
 * after N and is gone after N + 1, with everything it reaches, checked with
 * weak references); four threads getting and putting while cycles run,
 * under checkmark and the verifier, every object checked on each get.
 * Native pools: release is called exactly for the entries the pool drops
 * (counted; LeakSanitizer checks nothing else leaks under make test-asan).
 * Each test runs on a freshly mapped stack (see test_special.c).
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
#include <cmocka.h>

#include "atomic.h"
#include "testing.h"
#include "model.h"
#include "testutil.h"
#include "tricolor.h"

typedef struct node node;
struct node {
    node *l;
    uint64_t id;
    uint64_t pat[4];
    tci_atomic owner; /* the thread holding it (four-thread test), 0 in the pool */
};

static const tc_type *t_node;
static tci_atomic next_id;

static void node_fill(node *n, uint64_t id)
{
    n->id = id;
    for (int i = 0; i < 4; i++)
        n->pat[i] = id * 0x9e3779b97f4a7c15ull + (uint64_t)i;
}

static int node_ok(const node *n)
{
    if (!n)
        return 0;
    for (int i = 0; i < 4; i++)
        if (n->pat[i] != n->id * 0x9e3779b97f4a7c15ull + (uint64_t)i)
            return 0;
    return 1;
}

static tci_atomic made;

static void *make_node(void *arg)
{
    (void)arg;
    node *n = tc_alloc(t_node);
    if (n)
        node_fill(n, tci_atomic_add_full(&next_id, 1) + 1000000);
    tci_atomic_add_full(&made, 1);
    return n;
}

static uintptr_t h_a, h_child;

/* In frames of their own, which die before the collections: only the pool
 * holds the objects (see test_special.c). */
static uintptr_t put_one(uintptr_t p_, uintptr_t with_child, uintptr_t unused)
{
    (void)unused;
    tc_pool *p = (tc_pool *)p_;
    node *a = make_node(NULL);
    if (with_child) {
        node *c = make_node(NULL);
        TC_STORE(a, l, c);
        h_child = test_hide(c);
    }
    h_a = test_hide(a);
    tc_weak *w = tc_weak_create(with_child ? a->l : a);
    tc_pool_put(p, a);
    return (uintptr_t)w;
}

static uintptr_t weak_is_set(uintptr_t w, uintptr_t unused, uintptr_t unused2)
{
    (void)unused, (void)unused2;
    return tc_weak_get((tc_weak *)w) != NULL;
}

static uintptr_t get_is_the_one(uintptr_t p_, uintptr_t unused, uintptr_t unused2)
{
    (void)unused, (void)unused2;
    tc_pool *p = (tc_pool *)p_;
    node *n = tc_pool_get(p);
    int ok = n == test_unhide(h_a) && node_ok(n);
    tc_pool_put(p, n); /* back, for the next step */
    return ok;
}

static uintptr_t get_is_new(uintptr_t p_, uintptr_t unused, uintptr_t unused2)
{
    (void)unused, (void)unused2;
    tc_pool *p = (tc_pool *)p_;
    /* Made by the constructor (the address may be the old one's: its slot
     * was freed and reused). */
    uintptr_t before = tci_atomic_load_relaxed(&made);
    node *n = tc_pool_get(p);
    return n && node_ok(n) && tci_atomic_load_relaxed(&made) == before + 1;
}

/* Put before cycle N: got after N (from the victim); put back, it is in
 * the primary again; left alone for two cycles, it is gone. */
static void victim_generation_body(void *unused)
{
    (void)unused;
    tc_pool *p = tc_pool_create(make_node, NULL);
    assert_non_null(p);
    tc_weak *w = (tc_weak *)test_fresh_call(put_one, (uintptr_t)p, 0, 0);
    test_collect(); /* N */
    tc_pool_counts c0, c1;
    tc_pool_read_counts(p, &c0);
    assert_true(test_fresh_call(get_is_the_one, (uintptr_t)p, 0, 0));
    tc_pool_read_counts(p, &c1);
    assert_int_equal(c1.victim_hits, c0.victim_hits + 1);
    assert_int_equal(c1.misses, c0.misses);
    /* Put back after N: it survives N + 1 (victim), not N + 2. */
    test_collect();
    assert_true(test_fresh_call(weak_is_set, (uintptr_t)w, 0, 0));
    test_collect();
    assert_false(test_fresh_call(weak_is_set, (uintptr_t)w, 0, 0));
    assert_false(test_is_live(test_unhide(h_a)));
    assert_true(test_fresh_call(get_is_new, (uintptr_t)p, 0, 0)); /* the constructor's */
    tc_weak_destroy(w);
    tc_pool_destroy(p);
}

/* A pooled object does not keep what it reaches alive past two cycles. */
static void pooled_object_keeps_nothing_past_two_cycles_body(void *unused)
{
    (void)unused;
    tc_pool *p = tc_pool_create(make_node, NULL);
    tc_weak *w = (tc_weak *)test_fresh_call(put_one, (uintptr_t)p, 1, 0); /* to the child */
    test_collect();
    assert_true(test_fresh_call(weak_is_set, (uintptr_t)w, 0, 0)); /* in the victim: kept */
    test_collect();
    assert_false(test_fresh_call(weak_is_set, (uintptr_t)w, 0, 0));
    assert_false(test_is_live(test_unhide(h_child)));
    assert_false(test_is_live(test_unhide(h_a)));
    tc_weak_destroy(w);
    tc_pool_destroy(p);
}

/* ---- Four threads, with collections running ------------------------------- */

enum { NTHREADS = 4, OPS = 40000 };
static tc_pool *shared_pool;
static tci_atomic workers_left, bad_gets;

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    uintptr_t me = (uintptr_t)(seed | 1); /* nonzero, one per thread */
    assert_int_equal(tc_thread_attach(), 0);
    node *held[8] = {0};
    for (int i = 0; i < OPS; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((seed >> 33) % 8);
        if (held[k]) {
            /* Intact, and still ours, when it goes back. */
            if (!node_ok(held[k]) || !tci_atomic_cas_full(&held[k]->owner, me, 0))
                tci_atomic_add_full(&bad_gets, 1);
            tc_pool_put(shared_pool, held[k]);
            held[k] = NULL;
        } else {
            /* A pool hands an object to one thread at a time: claiming it
             * fails if another thread holds it. */
            node *n = tc_pool_get(shared_pool);
            if (!node_ok(n) || !tci_atomic_cas_full(&n->owner, 0, me))
                tci_atomic_add_full(&bad_gets, 1);
            held[k] = n;
        }
        if (i % 1000 == 0)
            (void)tc_alloc(t_node); /* garbage between */
        if (i % 5000 == 2500)
            tc_collect(); /* cycles while the other threads get and put */
    }
    for (int k = 0; k < 8; k++)
        if (held[k]) {
            tci_atomic_cas_full(&held[k]->owner, me, 0);
            tc_pool_put(shared_pool, held[k]);
        }
    tci_atomic_sub_full(&workers_left, 1);
    tc_thread_detach();
    return NULL;
}

static void four_threads_with_collections_body(void *unused)
{
    (void)unused;
    uint64_t seed = test_seed("pool_threads", 4711);
    shared_pool = tc_pool_create(make_node, NULL);
    assert_non_null(shared_pool);
    tc_memstats ms0;
    tc_read_memstats(&ms0);
    uint32_t gc0 = ms0.num_gc;
    tci_atomic_store_relaxed(&workers_left, NTHREADS);
    tci_atomic_store_relaxed(&bad_gets, 0);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(
            pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(seed * 31 + (uint64_t)i)),
            0);
    int cycles = 0;
    while (tci_atomic_load_acquire(&workers_left) > 0) {
        tc_collect();
        cycles++;
    }
    tc_blocking_begin();
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    tc_blocking_end();
    tc_pool_counts c;
    tc_pool_read_counts(shared_pool, &c);
    fflush(stdout);
    printf("pool_threads: %d threads x %d ops, %d collections asked meanwhile; gets %llu "
           "(hits %llu, victim %llu, misses %llu), puts %llu, dropped %llu\n",
           NTHREADS, OPS, cycles, (unsigned long long)c.gets, (unsigned long long)c.hits,
           (unsigned long long)c.victim_hits, (unsigned long long)c.misses,
           (unsigned long long)c.puts, (unsigned long long)c.dropped);
    fflush(stdout);
    assert_int_equal(tci_atomic_load_relaxed(&bad_gets), 0);
    tc_memstats ms;
    tc_read_memstats(&ms);
    /* Each worker asked for OPS / 5000 cycles; asked together, they share. */
    assert_true(ms.num_gc - gc0 >= (uint32_t)(OPS / 5000));
    assert_true(c.hits > 0);
    tc_pool_destroy(shared_pool);
}

/* ---- Native pools ----------------------------------------------------------- */

static tci_atomic bufs_made, bufs_released;

static void *make_buf(void *arg)
{
    (void)arg;
    tci_atomic_add_full(&bufs_made, 1);
    return malloc(256);
}

static void release_buf(void *buf, void *arg)
{
    assert_ptr_equal(arg, &bufs_made);
    tci_atomic_add_full(&bufs_released, 1);
    free(buf);
}

/* Release runs exactly for what the pool drops: a full shard at put, a
 * generation two cycles old, and what it holds at destroy. */
static void native_pool_releases_what_it_drops_body(void *unused)
{
    (void)unused;
    tci_atomic_store_relaxed(&bufs_made, 0);
    tci_atomic_store_relaxed(&bufs_released, 0);
    tc_pool *p = tc_pool_create_native(make_buf, release_buf, &bufs_made);
    assert_non_null(p);
    enum { N = 200 };
    void *b[N];
    for (int i = 0; i < N; i++)
        b[i] = tc_pool_get(p);
    assert_int_equal(tci_atomic_load_relaxed(&bufs_made), N);
    /* One thread's shard holds 65 (the private slot and a 64-entry ring):
     * the rest is dropped, released at once. */
    for (int i = 0; i < N; i++)
        tc_pool_put(p, b[i]);
    tc_pool_counts c;
    tc_pool_read_counts(p, &c);
    assert_int_equal(c.dropped, N - 65);
    assert_int_equal(tci_atomic_load_relaxed(&bufs_released), N - 65);
    /* Two cycles: the 65 go too, released after the second. */
    test_collect();
    assert_int_equal(tci_atomic_load_relaxed(&bufs_released), N - 65);
    test_collect();
    assert_int_equal(tci_atomic_load_relaxed(&bufs_released), N);
    tc_pool_read_counts(p, &c);
    assert_int_equal(c.dropped, N);
    /* What it holds at destroy goes too; nothing made is left. */
    for (int i = 0; i < 10; i++)
        tc_pool_put(p, tc_pool_get(p));
    tc_pool_destroy(p);
    assert_int_equal(tci_atomic_load_relaxed(&bufs_made),
                     tci_atomic_load_relaxed(&bufs_released));
}

/* ---- Bad calls -------------------------------------------------------------- */

static void *unattached_main(void *arg)
{
    errno = 0;
    if (tc_pool_get(arg) != NULL || errno != EPERM)
        return (void *)1;
    if (tc_pool_create(make_node, NULL) != NULL || errno != EPERM)
        return (void *)2;
    return NULL;
}

static void bad_calls_fail_clearly_body(void *unused)
{
    (void)unused;
    errno = 0;
    assert_null(tc_pool_create_native(make_buf, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    tc_pool *p = tc_pool_create(NULL, NULL);
    assert_null(tc_pool_get(p)); /* empty, no constructor */
    pthread_t t;
    void *ret;
    assert_int_equal(pthread_create(&t, NULL, unattached_main, p), 0);
    tc_blocking_begin();
    pthread_join(t, &ret);
    tc_blocking_end();
    assert_null(ret);
    tc_pool_destroy(p);
}

#define FRESH(name)                                                                         \
    static void name(void **state)                                                          \
    {                                                                                       \
        (void)state;                                                                        \
        test_run_on_fresh_stack(name##_body, NULL);                                         \
    }
FRESH(victim_generation)
FRESH(pooled_object_keeps_nothing_past_two_cycles)
FRESH(four_threads_with_collections)
FRESH(native_pool_releases_what_it_drops)
FRESH(bad_calls_fail_clearly)

static int setup(void **state)
{
    (void)state;
    setenv("TRICOLOR_DEBUG", "checkmark=1,verify=1", 0);
    if (tc_init() != 0)
        return -1;
    static const size_t offs[1] = {offsetof(node, l)};
    t_node = tc_type_new("pool.node", sizeof(node), offs, 1);
    return t_node ? 0 : -1;
}

int main(void)
{
    setenv("CMOCKA_TEST_ABORT", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(victim_generation),
        cmocka_unit_test(pooled_object_keeps_nothing_past_two_cycles),
        cmocka_unit_test(four_threads_with_collections),
        cmocka_unit_test(native_pool_releases_what_it_drops),
        cmocka_unit_test(bad_calls_fail_clearly),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
