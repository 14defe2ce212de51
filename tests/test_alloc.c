/* test_alloc.c: the allocation entry points: size, alignment and zeroing
 * of what they return (all but tc_alloc_atomic's), reuse after a collection, the errors (sizes that
 * overflow, unattached threads, bad type layouts). */
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

#include "model.h"
#include "testutil.h"
#include "tricolor.h"

static uint64_t seed;

/* Types are kept for the life of the process (and stay reachable for the
 * leak checker). */
static const tc_type *t_word;   /* 8 bytes, one pointer */
static const tc_type *t_pair;   /* 16 bytes: pointer, scalar */
static const tc_type *t_traced; /* 8 bytes, traced */

static void trace_words(void *obj, size_t size, tc_tracer *tr)
{
    void **w = obj;
    for (size_t i = 0; i < size / sizeof(void *); i++)
        tc_trace_slot(tr, &w[i]);
}

/* A type of `size` bytes: its first word a pointer slot (when it has one)
 * if ptr, else pointer-free (tc_alloc of that is zeroed, though it shares
 * its spans with tc_alloc_atomic's unzeroed objects). One per size and
 * kind, made on first use. */
static const tc_type *type_of(size_t size, int ptr)
{
    static struct { size_t size; int ptr; const tc_type *t; } cache[4096];
    static size_t n;
    for (size_t i = 0; i < n; i++)
        if (cache[i].size == size && cache[i].ptr == ptr)
            return cache[i].t;
    assert_true(n < sizeof cache / sizeof cache[0]);
    static const size_t off0[] = { 0 };
    size_t nptr = ptr && size >= sizeof(void *) ? 1 : 0;
    const tc_type *t = tc_type_new(ptr ? "sized" : "bytes", size, nptr ? off0 : NULL, nptr);
    assert_non_null(t);
    cache[n].size = size;
    cache[n].ptr = ptr;
    cache[n].t = t;
    n++;
    return t;
}

static const tc_type *type_of_size(size_t size)
{
    return type_of(size, 1);
}

static const tc_type *bytes_type_of_size(size_t size)
{
    return type_of(size, 0);
}

/* A precise object of `size` bytes lands in a class with at least one
 * precise slot (test_sizeclass checks every class; without one the
 * allocation never returns, so the call is not made). */
static int precise_size_allocatable(size_t size)
{
    if (size > TCI_MAX_SMALL)
        return 1;
    return tci_sizeclass_table[tci_size_to_class(size ? size : 1)].nelems[TCI_KIND_PRECISE] > 0;
}

static int bad_precise_sizes;
static size_t first_bad_precise_size;

static void note_bad_precise(size_t size)
{
    if (!bad_precise_sizes++)
        first_bad_precise_size = size;
}

/* Sets every byte of heap object p to 0xff, a word at a time through
 * tc_store: a marker may be scanning p's slots (the object was reachable
 * from this frame when a cycle began), and a plain store there races with
 * its loads (ThreadSanitizer saw memset do it). ~0 is no heap address. */
static void dirty_words(void *p, size_t usable)
{
    void **w = p;
    for (size_t i = 0; i < usable / sizeof(void *); i++)
        tc_store(p, &w[i], (void *)~(uintptr_t)0);
}

/* Checks p's alignment and size as the result of asking for `size` bytes,
 * then dirties it. */
static void check_shape(void *p, size_t size, const char *how)
{
    if (!p)
        fail_msg("%s(%zu) returned NULL (errno %d)", how, size, errno);
    if ((uintptr_t)p % 16 != 0)
        fail_msg("%s(%zu) = %p: not 16-byte aligned", how, size, p);
    size_t usable = tc_object_size(p);
    if (usable < size || usable == 0)
        fail_msg("%s(%zu) = %p: usable size %zu", how, size, p, usable);
    assert_ptr_equal(tc_object_base(p), p);
    dirty_words(p, usable);
}

/* check_shape, and every usable byte zero. */
static void check_fresh(void *p, size_t size, const char *how)
{
    if (p) {
        const unsigned char *b = p;
        size_t usable = tc_object_size(p);
        for (size_t i = 0; i < usable; i++)
            if (b[i] != 0)
                fail_msg("%s(%zu) = %p: byte %zu of %zu usable is %#x, not zero", how, size,
                         p, i, usable, b[i]);
    }
    check_shape(p, size, how);
}

static void alloc_every_way(size_t size)
{
    /* Unzeroed first: the zeroed calls after it may get the slot it
     * dirtied (its span's next one, or the same one after a collection). */
    check_shape(tc_alloc_atomic(size), size, "tc_alloc_atomic");
    check_fresh(tc_alloc_atomic_zeroed(size), size, "tc_alloc_atomic_zeroed");
    check_shape(tc_alloc_atomic(size), size, "tc_alloc_atomic");
    if (size > 0)
        check_fresh(tc_alloc(bytes_type_of_size(size)), size, "tc_alloc(pointer-free type)");
    check_fresh(tc_alloc_conservative(size), size, "tc_alloc_conservative");
    if (!precise_size_allocatable(size)) {
        note_bad_precise(size);
        return;
    }
    if (size > 0)
        check_fresh(tc_alloc(type_of_size(size)), size, "tc_alloc");
    check_fresh(tc_alloc_array(t_pair, (size + 15) / 16), (size + 15) / 16 * 16,
                "tc_alloc_array(16-byte type)");
    check_fresh(tc_alloc_sized(t_traced, size), size, "tc_alloc_sized(traced)");
}

static void test_alloc_sizes_aligned_zeroed(void **state)
{
    (void)state;
    bad_precise_sizes = 0;
    /* Every size up to 300, every class boundary, powers of two. */
    for (size_t s = 0; s <= 300; s++)
        alloc_every_way(s);
    for (int c = 1; c < tci_sizeclass_count; c++) {
        size_t cs = tci_sizeclass_table[c].size;
        alloc_every_way(cs - 1);
        alloc_every_way(cs);
        alloc_every_way(cs + 1);
    }
    for (size_t p = 512; p <= 65536; p *= 2) {
        alloc_every_way(p - 1);
        alloc_every_way(p);
        alloc_every_way(p + 1);
    }
    static const size_t more[] = { 32767, 32768, 32769, 40000, 49152, 65535, 69999, 70000 };
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        alloc_every_way(more[i]);
    test_rng rng = { seed ^ 0xa11c };
    for (int i = 0; i < 300; i++)
        alloc_every_way((size_t)test_below(&rng, 70001));
    if (bad_precise_sizes)
        fail_msg("%d precise allocations not made, the first of %zu bytes: its class holds "
                 "no precise slot, so tc_alloc would never return",
                 bad_precise_sizes, first_bad_precise_size);
}

/* Memory freed by a collection comes back zeroed, however it is reused
 * (tc_alloc_atomic's aside, which may hold anything). */
enum { REUSE_KINDS = 4 };
static void *alloc_kind(int kind, size_t size)
{
    switch (kind) {
    case 0: return tc_alloc_atomic_zeroed(size);
    case 1: return tc_alloc_conservative(size);
    case 2: return tc_alloc(bytes_type_of_size(size));
    default: return tc_alloc_array(t_pair, (size + 15) / 16);
    }
}

static const char *const kind_name[REUSE_KINDS] = {
    "tc_alloc_atomic_zeroed", "tc_alloc_conservative", "tc_alloc(pointer-free type)",
    "tc_alloc_array",
};

static void test_alloc_reused_memory_zeroed(void **state)
{
    (void)state;
    static const size_t sizes[] = {
        16, 48, 1024, 4000, 20000, 32768, 40000, 100 * 1024, 1024 * 1024,
    };
    int failures = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t size = sizes[si];
        size_t m = (4u << 20) / size;
        if (m < 8)
            m = 8;
        for (int kind = 0; kind < REUSE_KINDS; kind++) {
            if (kind == 3 && !precise_size_allocatable(size)) {
                print_error("%s(%zu): not made, its class holds no precise slot\n",
                            kind_name[kind], size);
                failures++;
                continue;
            }
            int dirty = 0;
            size_t dirty_first_round = 0;
            for (int round = 0; round < 4; round++) {
                for (size_t i = 0; i < m; i++) {
                    unsigned char *p = alloc_kind(kind, size);
                    assert_non_null(p);
                    size_t usable = tc_object_size(p);
                    size_t j = 0;
                    while (j < usable && p[j] == 0)
                        j++;
                    /* Dirtied through the unzeroed call too: a
                     * pointer-free slot it leaves dirty is the next one's. */
                    unsigned char *raw = tc_alloc_atomic(size);
                    assert_non_null(raw);
                    memset(raw, 0xee, tc_object_size(raw));
                    if (j < usable) {
                        if (!dirty++)
                            dirty_first_round = (size_t)round;
                        print_error("%s(%zu) round %d: %p byte %zu of %zu is %#x\n",
                                    kind_name[kind], size, round, (void *)p, j, usable, p[j]);
                    }
                    dirty_words(p, usable);
                }
                test_collect();
            }
            if (dirty) {
                print_error("%s(%zu): %d objects not zeroed, first in round %zu\n",
                            kind_name[kind], size, dirty, dirty_first_round);
                failures++;
            }
        }
    }
    if (failures)
        fail_msg("%d size and kind combinations failed (see above)", failures);
}

/* A span freed at the end of the heap's never-used tail goes back to that
 * tail; whatever is carved from there again must still come back zeroed.
 * Allocates an object, dirties it, lets a collection free it, allocates
 * the same size again. Returns whether the address was reused. */
/* Allocates and dirties an object; returns it hidden. Out of line, so no
 * register or frame slot of the caller keeps the address. */
static __attribute__((noinline)) uintptr_t alloc_dirty(size_t size)
{
    unsigned char *p = tc_alloc_atomic(size);
    assert_non_null(p);
    memset(p, 0xff, tc_object_size(p));
    return test_hide(p);
}

/* One try: allocate and dirty an object, drop it, collect twice. Returns 0
 * when a stale word kept it (see below); otherwise checks that memory
 * allocated again is zero and returns 1. */
static int try_dirty_free_realloc(size_t size, const char *what)
{
    /* volatile: the compiler must not keep hidden ^ mask (the object's
     * address) in a register across the collections below. */
    volatile uintptr_t hidden = alloc_dirty(size);
    tc_memstats before, after;
    memset(&after, 0, sizeof after);
    unsigned char *q = NULL;
    tc_read_memstats(&before);
    test_collect();
    test_collect();
    tc_read_memstats(&after);
    if (test_is_live(test_unhide(hidden))) {
        print_message("%s: the dropped %zu-byte object at %p is still named by a stale "
                      "word (conservative stack scan); trying another\n", what, size,
                      test_unhide(hidden));
        return 0;
    }
    assert_true(after.frees > before.frees);
    q = tc_alloc_atomic_zeroed(size);
    assert_non_null(q);
    for (size_t i = 0; i < tc_object_size(q); i++)
        if (q[i] != 0)
            fail_msg("%s: %zu bytes at %p (the freed object was at %p): byte %zu is %#x, "
                     "not zero", what, size, (void *)q, test_unhide(hidden), i, q[i]);
    return 1;
}

/* The stack is scanned conservatively, and an unwritten slot of a live
 * frame may hold an address an earlier test left there. Chunk-aligned
 * addresses (the first object of an arena, where these tests land) are the
 * likeliest such words (seen about 1 run in 10 under ASan). So a dropped
 * object that such a word keeps is not a failure of the collector; the test
 * tries fresh objects (at fresh addresses, the kept one stays allocated)
 * and fails only if none of them is freed, or if reused memory is not zero. */
static void alloc_dirty_free_realloc(size_t size, const char *what)
{
    for (int attempt = 0; attempt < 8; attempt++)
        if (try_dirty_free_realloc(size, what))
            return;
    fail_msg("%s: 8 dropped %zu-byte objects in a row survived two collections", what, size);
}

/* First in the run: a heap with nothing freed yet, so the object's span is
 * the last one carved from the never-used tail. */
static void test_alloc_reused_tail_span_zeroed(void **state)
{
    (void)state;
    alloc_dirty_free_realloc(1000, "small object, span back in the tail");
}

/* An object larger than every free run comes from the never-used tail, and
 * goes back there when freed. */
static void test_alloc_reused_tail_large_zeroed(void **state)
{
    (void)state;
    tc_memstats ms;
    tc_read_memstats(&ms);
    size_t size = (size_t)ms.heap_idle + ((size_t)1 << 20);
    alloc_dirty_free_realloc(size, "large object, pages back in the tail");
}

static void test_alloc_huge_sizes_enomem(void **state)
{
    (void)state;
    static const size_t huge[] = {
        SIZE_MAX, SIZE_MAX - 15, SIZE_MAX / 2, (size_t)1 << 47, TCI_MAX_OBJECT + 1,
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        assert_null(tc_alloc_atomic(huge[i]));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(tc_alloc_conservative(huge[i]));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(tc_alloc_sized(t_traced, huge[i]));
        assert_int_equal(errno, ENOMEM);
    }
    /* n * size overflows. */
    static const struct { const tc_type **t; size_t n; } arrays[] = {
        { &t_word, SIZE_MAX / 2 }, { &t_word, SIZE_MAX / 8 + 1 }, { &t_pair, SIZE_MAX / 16 + 1 },
        { &t_word, SIZE_MAX }, { &t_pair, ((size_t)1 << 47) / 16 },
    };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        errno = 0;
        assert_null(tc_alloc_array(*arrays[i].t, arrays[i].n));
        assert_int_equal(errno, ENOMEM);
    }
    /* The heap still works. */
    void **p = tc_alloc(t_word);
    assert_non_null(p);
    char *q = tc_alloc_atomic(1000);
    assert_non_null(q);
    memset(q, 7, 1000);
    *p = q;
    tc_collect();
    assert_int_equal(((char *)*p)[999], 7);
    assert_non_null(tc_alloc_atomic(1 << 20));
}

static void test_alloc_null_type_einval(void **state)
{
    (void)state;
    errno = 0;
    assert_null(tc_alloc(NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(tc_alloc_array(NULL, 3));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(tc_alloc_sized(NULL, 3));
    assert_int_equal(errno, EINVAL);
}

typedef struct unattached_result {
    void *p[6];
    int err[6];
    int attached;
} unattached_result;

static void *unattached_main(void *arg)
{
    unattached_result *r = arg;
    r->attached = tc_thread_is_attached();
    errno = 0;
    r->p[0] = tc_alloc(t_pair);
    r->err[0] = errno;
    errno = 0;
    r->p[1] = tc_alloc_array(t_pair, 4);
    r->err[1] = errno;
    errno = 0;
    r->p[2] = tc_alloc_sized(t_traced, 40);
    r->err[2] = errno;
    errno = 0;
    r->p[3] = tc_alloc_atomic(40);
    r->err[3] = errno;
    errno = 0;
    r->p[4] = tc_alloc_conservative(40);
    r->err[4] = errno;
    errno = 0;
    r->p[5] = tc_alloc_array(t_pair, SIZE_MAX / 2);
    r->err[5] = errno;
    return NULL;
}

static void test_alloc_unattached_thread_eperm(void **state)
{
    (void)state;
    unattached_result r;
    memset(&r, 0x55, sizeof r);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, unattached_main, &r), 0);
    tc_blocking_begin();
    pthread_join(th, NULL);
    tc_blocking_end();
    assert_int_equal(r.attached, 0);
    for (int i = 0; i < 6; i++) {
        if (r.p[i] != NULL || r.err[i] != EPERM)
            fail_msg("call %d from an unattached thread: %p, errno %d (expected NULL, EPERM)",
                     i, r.p[i], r.err[i]);
    }
}

static void test_alloc_type_new_bad_layout(void **state)
{
    (void)state;
    static const size_t unaligned[] = { 4 };
    static const size_t beyond[] = { 16 };
    static const size_t far_beyond[] = { 0, 64 };
    static const size_t ok2[] = { 0, 8 };
    static const size_t too_many[] = { 0, 8, 8 };
    static const struct { const char *name; size_t size; const size_t *offs; size_t n; } bad[] = {
        { "unaligned offset", 16, unaligned, 1 },
        { "offset at the end", 16, beyond, 1 },
        { "offset far beyond", 32, far_beyond, 2 },
        { "size 0", 0, NULL, 0 },
        { "size 0 with pointers", 0, ok2, 2 },
        { "pointer in a 4-byte type", 4, ok2, 1 },
        { "NULL offsets", 16, NULL, 1 },
        { "more slots than fit", 16, too_many, 3 },
        { "larger than any object", TCI_MAX_OBJECT + 1, NULL, 0 },
        { "SIZE_MAX", SIZE_MAX, NULL, 0 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        const tc_type *t = tc_type_new(bad[i].name, bad[i].size, bad[i].offs, bad[i].n);
        if (t != NULL || errno != EINVAL)
            fail_msg("tc_type_new(\"%s\"): %p, errno %d (expected NULL, EINVAL)", bad[i].name,
                     (const void *)t, errno);
    }
    errno = 0;
    assert_null(tc_type_new_traced("no callback", 16, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(tc_type_new_traced("size 0", 0, trace_words));
    assert_int_equal(errno, EINVAL);

    /* Good layouts, for contrast. */
    const tc_type *t = tc_type_new("two", 16, ok2, 2);
    assert_non_null(t);
    assert_string_equal(tc_type_name(t), "two");
    assert_int_equal(tc_type_size(t), 16);
    static const size_t last[] = { 24 };
    assert_non_null(tc_type_new("last slot", 32, last, 1));
    assert_non_null(tc_type_new("no pointers", 3, NULL, 0));
}

static int setup(void **state)
{
    (void)state;
    if (test_init_verified() != 0)
        return -1;
    static const size_t off0[] = { 0 };
    t_word = tc_type_new("word", 8, off0, 1);
    t_pair = tc_type_new("pair", 16, off0, 1);
    t_traced = tc_type_new_traced("words", 8, trace_words);
    return t_word && t_pair && t_traced ? 0 : -1;
}

int main(void)
{
    seed = test_seed("test_alloc", 0x616c6c6f63ull);
    /* In this order: the first test needs a heap where nothing was freed. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_reused_tail_span_zeroed),
        cmocka_unit_test(test_alloc_reused_tail_large_zeroed),
        cmocka_unit_test(test_alloc_sizes_aligned_zeroed),
        cmocka_unit_test(test_alloc_reused_memory_zeroed),
        cmocka_unit_test(test_alloc_huge_sizes_enomem),
        cmocka_unit_test(test_alloc_null_type_einval),
        cmocka_unit_test(test_alloc_unattached_thread_eperm),
        cmocka_unit_test(test_alloc_type_new_bad_layout),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
