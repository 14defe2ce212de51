/* test_sweep.c: what sweeping gives back: dead objects are freed and
 * counted, live neighbours are untouched, and freed memory is reused
 * before the heap grows. */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "testutil.h"
#include "tricolor.h"

#define NOINLINE __attribute__((noinline))

static uint64_t seed;
static const tc_type *t_pair; /* 16 bytes, a pointer then a scalar */

/* One object of a random kind and size: mostly small, some large. */
static void *alloc_random(test_rng *rng, size_t max_large)
{
    size_t size = test_below(rng, 8) == 0 ? 1 + test_below(rng, max_large)
                                          : 1 + test_below(rng, 512);
    int kind = (int)test_below(rng, 3);
    /* A class without precise slots would never return (test_sizeclass and
     * test_alloc report that); sweeping is tested on the other kinds there. */
    if (kind == 2 && size <= TCI_MAX_SMALL &&
        tci_sizeclass_table[tci_size_to_class(size)].nelems[TCI_KIND_PRECISE] == 0)
        kind = 0;
    switch (kind) {
    case 0: return tc_alloc_atomic(size);
    case 1: return tc_alloc_conservative(size);
    default: return tc_alloc_array(t_pair, (size + 15) / 16);
    }
}

/* Fills a registered root block with objects until `bytes` are allocated;
 * returns how many. */
static NOINLINE size_t fill(void **block, size_t cap, size_t bytes, test_rng *rng,
                            size_t max_large)
{
    size_t n = 0, total = 0;
    while (total < bytes && n < cap) {
        void *p = alloc_random(rng, max_large);
        assert_non_null(p);
        total += tc_object_size(p);
        block[n++] = p;
    }
    return n;
}

/* fill on a fresh stack (a thread of its own): the addresses it loads die
 * with that thread, not in a callee-saved register of the test's thread,
 * which a stop saves outside the stack, where unexplained_heap_bytes
 * (below) does not look. The 80 KiB object that once stayed was held by a
 * word of the stack itself, which this does not change. */
typedef struct fill_call {
    void **block;
    size_t cap, bytes, max_large, n;
    test_rng *rng;
} fill_call;

static void fill_main(void *arg)
{
    fill_call *f = arg;
    f->n = fill(f->block, f->cap, f->bytes, f->rng, f->max_large);
}

static size_t fill_fresh(void **block, size_t cap, size_t bytes, test_rng *rng, size_t max_large)
{
    fill_call f = {block, cap, bytes, max_large, 0, rng};
    test_run_on_fresh_stack(fill_main, &f);
    return f.n;
}

/* Bytes of the live heap that no word of this thread's stack points into:
 * what the sweeps must have freed of a dropped heap. A frame no clearing
 * reaches (cmocka's, near the stack's top) may hold a word that points into
 * a dropped object, and the conservative scan keeps what such a word points
 * into, as it must: an 80 KiB object stayed through both collections, held
 * by a word 3.8 KiB below the top of the stack, 3 runs in 80 with two test
 * programs at once. Everything else still counts. */
typedef struct unexplained { uintptr_t lo, hi; uint64_t bytes; } unexplained;

static void count_unexplained(void *arg, void *obj, size_t size, const tc_type *type)
{
    (void)type;
    unexplained *u = arg;
    for (uintptr_t a = u->lo; a + sizeof(uintptr_t) <= u->hi; a += sizeof(uintptr_t)) {
        uintptr_t w = *(const uintptr_t *)a;
        if (w >= (uintptr_t)obj && w < (uintptr_t)obj + size)
            return;
    }
    u->bytes += size;
}

static NOINLINE uint64_t unexplained_heap_bytes(void)
{
    pthread_attr_t attr;
    void *base;
    size_t size;
    assert_int_equal(pthread_getattr_np(pthread_self(), &attr), 0);
    assert_int_equal(pthread_attr_getstack(&attr, &base, &size), 0);
    pthread_attr_destroy(&attr);
    unexplained u = {(uintptr_t)__builtin_frame_address(0), (uintptr_t)base + size, 0};
    assert_int_equal(tc_heap_walk(count_unexplained, &u), 0);
    return u.bytes;
}

static void test_sweep_dropped_heap_near_zero(void **state)
{
    (void)state;
    test_rng rng = { seed ^ 0x5eed };
    enum { CAP = 400000 };
    void **block = calloc(CAP, sizeof *block);
    assert_non_null(block);
    assert_int_equal(tc_root_add(block, CAP * sizeof *block), 0);
    size_t n = fill_fresh(block, CAP, (size_t)30 << 20, &rng, 100 * 1024);
    test_collect();
    tc_memstats full = test_stats();
    assert_true(full.heap_alloc >= (uint64_t)30 << 20);
    assert_true(full.heap_objects >= n);

    tc_root_remove(block);
    free(block);
    test_collect();
    test_collect();
    tc_memstats ms = test_stats();
    uint64_t loose = unexplained_heap_bytes();
    if (loose >= 64 * 1024 || ms.heap_objects > 16)
        fail_msg("after dropping %zu objects (%llu bytes) and two collections: heap_alloc "
                 "%llu (%llu of it held by no stack word), heap_objects %llu", n,
                 (unsigned long long)full.heap_alloc, (unsigned long long)ms.heap_alloc,
                 (unsigned long long)loose, (unsigned long long)ms.heap_objects);
    assert_int_equal(ms.frees, ms.mallocs - ms.heap_objects);
    /* The last mark found live only what stack words hold, and little more. */
    assert_true(ms.live_bytes < 64 * 1024 + (ms.heap_alloc - loose));
}

/* The counters add up exactly: every allocation is one malloc of its usable
 * size, and frees == mallocs - heap_objects at any time. */
static void test_sweep_counters_consistent(void **state)
{
    (void)state;
    test_rng rng = { seed ^ 0xc0c0 };
    enum { N = 20000 };
    test_collect();
    tc_memstats before = test_stats();
    uint64_t bytes = 0;
    for (int i = 0; i < N; i++) {
        void *p = alloc_random(&rng, 64 * 1024);
        assert_non_null(p);
        bytes += tc_object_size(p);
    }
    tc_memstats after = test_stats();
    assert_int_equal(after.mallocs - before.mallocs, N);
    assert_int_equal(after.total_alloc - before.total_alloc, bytes);
    assert_int_equal(after.frees, after.mallocs - after.heap_objects);
    assert_true(after.heap_alloc <= after.total_alloc);
    test_collect();
    tc_memstats swept = test_stats();
    assert_int_equal(swept.frees, swept.mallocs - swept.heap_objects);
    assert_int_equal(swept.mallocs, after.mallocs);
    /* Nearly all of it was garbage. */
    assert_true(swept.frees - before.frees >= N - 16);
    assert_true(swept.heap_inuse + swept.heap_idle == swept.heap_sys);
}

/* Every other object dies; the survivors keep their bytes through the
 * sweep and through the reuse of their dead neighbours' slots. */
static NOINLINE void fill_pattern(unsigned char **objs, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        objs[i] = tc_alloc_atomic(size);
        assert_non_null(objs[i]);
        memset(objs[i], (int)(i & 0xff), size);
    }
}

static NOINLINE void reuse(size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++)
        memset(tc_alloc_atomic(size), 0xee, size);
}

static void test_sweep_survivors_untouched(void **state)
{
    (void)state;
    static const size_t sizes[] = { 16, 48, 256, 3000, 40000 };
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t size = sizes[si];
        size_t n = size > 32768 ? 64 : 2000;
        unsigned char **objs = calloc(n, sizeof *objs);
        assert_non_null(objs);
        assert_int_equal(tc_root_add(objs, n * sizeof *objs), 0);
        fill_pattern(objs, n, size);
        uintptr_t *dead = calloc(n, sizeof *dead);
        assert_non_null(dead);
        for (size_t i = 1; i < n; i += 2) {
            dead[i] = test_hide(objs[i]);
            objs[i] = NULL;
        }
        uint64_t frees0 = test_stats().frees;
        test_collect();
        int dead_live = 0;
        for (size_t i = 1; i < n; i += 2)
            dead_live += test_is_live(test_unhide(dead[i]));
        if (dead_live > 2 || test_stats().frees - frees0 < n / 2 - 2)
            fail_msg("%zu-byte objects: %d of %zu dropped survived", size, dead_live, n / 2);
        reuse(n, size);
        test_collect();
        for (size_t i = 0; i < n; i += 2)
            for (size_t j = 0; j < size; j++)
                if (objs[i][j] != (unsigned char)(i & 0xff))
                    fail_msg("%zu-byte object %zu, kept, has byte %zu overwritten", size, i, j);
        tc_root_remove(objs);
        free(objs);
        free(dead);
    }
}

static void test_sweep_memory_reused_heap_sys_stable(void **state)
{
    (void)state;
    test_rng rng = { seed ^ 0x50 };
    enum { CAP = 300000, ROUNDS = 50 };
    void **block = calloc(CAP, sizeof *block);
    assert_non_null(block);
    assert_int_equal(tc_root_add(block, CAP * sizeof *block), 0);
    uint64_t sys_after[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        size_t n = fill_fresh(block, CAP, (size_t)20 << 20, &rng, 256 * 1024);
        memset(block, 0, n * sizeof *block);
        test_collect();
        sys_after[round] = test_stats().heap_sys;
    }
    tc_root_remove(block);
    free(block);
    /* The first rounds may grow the heap to its working size; after that
     * every round reuses what the previous one freed. */
    for (int round = 2; round < ROUNDS; round++)
        if (sys_after[round] > sys_after[1])
            fail_msg("heap_sys grew from %llu after round 1 to %llu after round %d",
                     (unsigned long long)sys_after[1], (unsigned long long)sys_after[round],
                     round);
    assert_true(unexplained_heap_bytes() < 64 * 1024);
}

/* TRICOLOR_GC=off semantics through tc_set_gc_percent: no proportional
 * collection while off; the trigger comes back when it is turned on. */
static void test_sweep_gc_percent_off_and_on(void **state)
{
    (void)state;
    int old = tc_set_gc_percent(-1);
    if (!getenv("TRICOLOR_GC"))
        assert_int_equal(old, 100);
    uint32_t n0 = test_stats().num_gc;
    uint64_t asked0 = tci_gate_cycles_requested();
    for (int i = 0; i < 64 * 1024; i++)
        assert_non_null(tc_alloc_atomic(1024)); /* 64 MiB of garbage */
    assert_int_equal(test_stats().num_gc, n0);
    assert_int_equal(tci_gate_cycles_requested(), asked0);
    assert_int_equal(tc_set_gc_percent(old), -1);
    for (int i = 0; i < 64 * 1024; i++)
        assert_non_null(tc_alloc_atomic(1024));
    /* The heap asked for a cycle (the stopped collector ran it already);
     * waiting for it, not for how soon it ran (this failed under load
     * when the loop outran the collector's thread). */
    if (!tci_env_cfg.gcstoptheworld) {
        uint64_t asked = tci_gate_cycles_requested();
        assert_true(asked > asked0);
        tci_gate_wait_cycle(asked);
    }
    assert_true(test_stats().num_gc > n0);
}

static int setup(void **state)
{
    (void)state;
    if (test_init_verified() != 0)
        return -1;
    static const size_t off0[] = { 0 };
    t_pair = tc_type_new("pair", 16, off0, 1);
    return t_pair ? 0 : -1;
}

int main(void)
{
    seed = test_seed("test_sweep", 0x7377656570ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_dropped_heap_near_zero),
        cmocka_unit_test(test_sweep_counters_consistent),
        cmocka_unit_test(test_sweep_survivors_untouched),
        cmocka_unit_test(test_sweep_memory_reused_heap_sys_stable),
        cmocka_unit_test(test_sweep_gc_percent_off_and_on),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
