/* test_heap.c: the page map (address -> span -> object) and the page heap
 * (runs of pages, their coalescing and reuse).
 *
 * The page-heap tests take runs straight from tci_heap_alloc_span. They
 * run first and in order: the first needs a heap that has never grown.
 * Huge objects (longer than an arena) are tested through the page heap
 * and through the API: their page map's cost, lookups, what they keep,
 * the memory limit, ENOMEM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "heap_internal.h"
#include "model.h"
#include "os.h"
#include "testutil.h"
#include "tricolor.h"

#define PAGE TCI_PAGE_SIZE
#define CHUNK_PAGES TCI_ARENA_PAGES
#define ARENA_RUN (CHUNK_PAGES - 1) /* the longest run an arena holds */

static uint64_t seed;

static uint64_t heap_sys(void)
{
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    return hs.sys_bytes;
}

static uint64_t heap_inuse(void)
{
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    return hs.inuse_bytes;
}

/* A run of npages pages as a large span with no object in it (nalloc 0:
 * tci_find_object ignores it). */
static tci_span *heap_run_alloc(size_t npages)
{
    int needzero;
    tci_span *s = tci_heap_alloc_span(npages, TCI_SPAN_LARGE, &needzero);
    if (!s)
        fail_msg("tci_heap_alloc_span(%zu) failed", npages);
    assert_int_equal(s->npages, npages);
    assert_int_equal(s->base % PAGE, 0);
    assert_int_equal(tci_span_state(s), TCI_SPAN_LARGE);
    assert_int_equal(s->nalloc, 0);
    return s;
}

static uintptr_t run_end(const tci_span *s)
{
    return s->base + s->npages * PAGE;
}

/* Every page of s maps to s. */
static void assert_run_mapped(const tci_span *s, const char *what)
{
    for (size_t i = 0; i < s->npages; i++) {
        tci_span *m = tci_span_of(s->base + i * PAGE);
        if (m != s)
            fail_msg("%s [%#lx, +%zu pages): page %zu maps to %p (state %d, base %#lx, "
                     "%zu pages), not to the span in use", what, (unsigned long)s->base,
                     s->npages, i, (void *)m, m ? tci_span_state(m) : -1,
                     m ? (unsigned long)m->base : 0ul, m ? m->npages : 0);
    }
}

/* A free run starts at base and is npages long. */
static void assert_free_run(uintptr_t base, size_t npages, const char *what)
{
    tci_span *m = tci_span_of(base);
    if (!m || tci_span_state(m) != TCI_SPAN_FREE || m->base != base || m->npages != npages)
        fail_msg("%s: expected a free run of %zu pages at %#lx; the page maps to %p "
                 "(state %d, base %#lx, %zu pages)", what, npages, (unsigned long)base,
                 (void *)m, m ? tci_span_state(m) : -1, m ? (unsigned long)m->base : 0ul,
                 m ? m->npages : 0);
}

static int overlaps(uintptr_t a, uintptr_t a_end, uintptr_t b, uintptr_t b_end)
{
    return a < b_end && b < a_end;
}

static void note_span(tci_span *s, void *arg)
{
    tci_span **want = arg;
    if (s == *want)
        *want = NULL;
}

/* The page heap's runs lie within one arena, and a span too long for one
 * is huge: a mapping of its own, one table for all its first-level
 * entries, never a free run. Pages of the first arena A (counted from its
 * first page in use, page 1: page 0 is never used, see heap.c's
 * grow_locked): F takes all of it, so G needs a second arena; H (an
 * arena's pages) and H2 are huge. Exact figures: heap_sys, heap_inuse and
 * the span count follow H in and out, and the heap walk visits it. Needs
 * a heap that never grew. */
static void test_heap_runs_in_one_arena_huge_apart(void **state)
{
    (void)state;
    if (heap_sys() != 0)
        fail_msg("precondition: this test needs a fresh heap (heap_sys %llu): run it first",
                 (unsigned long long)heap_sys());
    tci_span *f = heap_run_alloc(ARENA_RUN);
    uintptr_t f_base = f->base;
    assert_int_equal(f->base % TCI_ARENA_SIZE, TCI_PAGE_SIZE); /* the mapping's page 1 */
    assert_int_equal(run_end(f) % TCI_ARENA_SIZE, 0);
    tci_span *g = heap_run_alloc(100);
    assert_int_equal(g->base % TCI_ARENA_SIZE, TCI_PAGE_SIZE); /* a second arena */
    uint64_t sys0 = heap_sys(), inuse0 = heap_inuse(), nspans0 = tci_heap_nspans();

    assert_false(tci_heap_is_huge(ARENA_RUN));
    assert_true(tci_heap_is_huge(CHUNK_PAGES));
    tci_span *h = heap_run_alloc(CHUNK_PAGES);
    uintptr_t h_base = h->base;
    assert_int_equal(h_base % TCI_ARENA_SIZE, TCI_PAGE_SIZE);
    assert_false(overlaps(h_base, run_end(h), f->base, run_end(f)) ||
                 overlaps(h_base, run_end(h), g->base, run_end(g)));
    assert_run_mapped(h, "huge H");
    /* Its mapping, two arenas' worth, has one table. */
    tci_arena *table = tci_heap_arena_map[h_base >> TCI_ARENA_SHIFT];
    assert_ptr_equal(tci_heap_arena_map[(run_end(h) - 1) >> TCI_ARENA_SHIFT], table);
    assert_int_equal(heap_sys(), sys0 + CHUNK_PAGES * PAGE);
    assert_int_equal(heap_inuse(), inuse0 + CHUNK_PAGES * PAGE);
    assert_int_equal(tci_heap_nspans(), nspans0 + 1);
    tci_span *seek = h;
    tci_heap_for_each_span(note_span, &seek);
    assert_null(seek); /* the heap walk visits it */

    tci_heap_free_span(f);
    assert_free_run(f_base, ARENA_RUN, "F freed");
    tci_heap_free_span(h);
    assert_null(tci_span_of(h_base));
    assert_null(tci_span_of(h_base + (CHUNK_PAGES - 1) * PAGE));
    assert_null(tci_heap_arena_map[(h_base + CHUNK_PAGES * PAGE - 1) >> TCI_ARENA_SHIFT]);
    assert_int_equal(heap_sys(), sys0);
    assert_int_equal(heap_inuse(), inuse0 - ARENA_RUN * PAGE);
    assert_int_equal(tci_heap_nspans(), nspans0 - 1);
    /* Its table was kept, its spans read as zeros: the next huge span
     * takes it. */
    for (size_t i = 0; i < CHUNK_PAGES; i++)
        if (table->spans[i])
            fail_msg("a freed huge span's table still names span %p at page %zu",
                     (void *)table->spans[i], i);
    tci_span *h2 = heap_run_alloc(3 * CHUNK_PAGES + 7);
    assert_ptr_equal(tci_heap_arena_map[h2->base >> TCI_ARENA_SHIFT], table);
    assert_run_mapped(h2, "huge H2");
    tci_heap_free_span(h2);
    assert_free_run(f_base, ARENA_RUN, "F after the huge spans came and went");
    tci_heap_free_span(g);
}

/* Freeing the first part of an arena's run next to a free second part
 * merges them, so the whole run is there again. The run is as long as an
 * arena's (so the last test's F, or a fresh arena): no other free run is
 * as long as either part. */
static void test_heap_free_span_merges_next(void **state)
{
    (void)state;
    tci_span *p = heap_run_alloc(ARENA_RUN);
    uintptr_t base = p->base;
    tci_heap_free_span(p);
    size_t first = 4000;
    tci_span *a = heap_run_alloc(first);
    tci_span *b = heap_run_alloc(ARENA_RUN - first);
    assert_int_equal(a->base, base);
    assert_int_equal(b->base, base + first * PAGE);
    tci_heap_free_span(b);
    tci_heap_free_span(a);
    assert_free_run(base, ARENA_RUN, "both parts freed, second first");
    uint64_t sys0 = heap_sys();
    tci_span *again = heap_run_alloc(ARENA_RUN);
    assert_int_equal(heap_sys(), sys0);
    tci_heap_free_span(again);
}

/* A span just handed out is in use at once: freeing the span after it
 * must not merge it into a free run. Pages of an arena's run: A [0,x) and
 * B [x,total) are taken, A is freed and taken again (exactly its size, so
 * its pages were a free run's ends a moment ago), then B is freed. */
static void test_heap_alloc_span_not_merged_into_freed_neighbour(void **state)
{
    (void)state;
    size_t total = ARENA_RUN, x = 4001;
    /* As above: no other free run is as long as A or B. */
    tci_span *p = heap_run_alloc(total);
    uintptr_t base = p->base;
    tci_heap_free_span(p);
    tci_span *a = heap_run_alloc(x);
    tci_span *b = heap_run_alloc(total - x);
    assert_int_equal(a->base, base);
    assert_int_equal(b->base, base + x * PAGE);
    tci_heap_free_span(a);
    tci_span *fresh = heap_run_alloc(x);
    assert_int_equal(fresh->base, base);
    uint64_t inuse = heap_inuse();

    tci_heap_free_span(b);

    assert_int_equal(heap_inuse(), inuse - (total - x) * PAGE);
    assert_run_mapped(fresh, "the span taken again");
    assert_free_run(base + x * PAGE, total - x, "B after it was freed");
    tci_heap_free_span(fresh);
}

/* Regression (issue 20): a span freed next to a run returned to the OS
 * merges with it, and the merged run was carved from its start, the
 * returned pages, which then faulted back in while the resident ones sat
 * free (up to 80,000 faults in 5 million allocations of 256 bytes). A run
 * whose start is returned and end resident gives its end. Pages of an
 * arena's run: A [0,x) and B [x,2x) taken, C the rest holding the end; A
 * freed and returned, then B freed, merging with it. */
static void test_heap_merged_run_gives_its_resident_end(void **state)
{
    (void)state;
    size_t x = 3000;
    tci_span *p = heap_run_alloc(ARENA_RUN);
    uintptr_t base = p->base;
    tci_heap_free_span(p);
    tci_span *a = heap_run_alloc(x);
    tci_span *b = heap_run_alloc(x);
    tci_span *c = heap_run_alloc(ARENA_RUN - 2 * x);
    assert_int_equal(a->base, base);
    assert_int_equal(b->base, base + x * PAGE);
    tci_heap_free_span(a);
    tci_heap_scavenge(0);
    tci_heap_free_span(b);
    assert_free_run(base, 2 * x, "A returned and B resident, merged");
    tci_heap_stats hs;
    tci_heap_read_stats(&hs);
    uint64_t released = hs.released_bytes;
    tci_span *again = heap_run_alloc(x);
    tci_heap_read_stats(&hs);
    assert_int_equal(again->base, base + x * PAGE);
    assert_int_equal(hs.released_bytes, released); /* no returned page came back */
    tci_heap_free_span(again);
    tci_heap_free_span(c);
}

/* Regression (issue 20): a run is carved from resident pages before
 * returned ones, even when the returned run fits better. Best fit took a
 * returned run of the exact length over a longer resident one, faulting its
 * pages back in while the resident ones sat free, for the scavenger to
 * return in turn, every cycle. For a short length (its own free list) and a
 * long one (the long runs' list): A (n pages) returned, B (n + 1) resident,
 * each followed by a run in use so neither merges with the other. */
static void test_heap_resident_run_before_returned(void **state)
{
    (void)state;
    static const size_t lengths[] = { 8, 200 };
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        size_t n = lengths[li];
        tci_span *a = heap_run_alloc(n);
        tci_span *g1 = heap_run_alloc(1);
        tci_span *b = heap_run_alloc(n + 1);
        tci_span *g2 = heap_run_alloc(1);
        uintptr_t a_base = a->base, b_base = b->base;
        tci_heap_free_span(a);
        tci_heap_scavenge(0); /* A, and every other free run */
        tci_heap_free_span(b);
        tci_heap_stats hs;
        tci_heap_read_stats(&hs);
        uint64_t released = hs.released_bytes;
        tci_span *again = heap_run_alloc(n);
        tci_heap_read_stats(&hs);
        if (again->base != b_base || hs.released_bytes != released)
            fail_msg("%zu pages: carved at %#lx (A, returned: %#lx; B, resident: %#lx), "
                     "%.0f returned pages taken back", n, (unsigned long)again->base,
                     (unsigned long)a_base, (unsigned long)b_base,
                     (double)(released - hs.released_bytes) / PAGE);
        tci_heap_free_span(again);
        tci_heap_free_span(g1);
        tci_heap_free_span(g2);
    }
}

/* Random runs taken and given back in random order coalesce again: a run as
 * long as the one they were cut from comes back without the heap growing. */
static void test_heap_runs_coalesce_after_random_frees(void **state)
{
    (void)state;
    test_rng rng = { seed ^ 0x4ea9 };
    enum { BIG = 2048, MAX_RUNS = 4096 };
    tci_span *big = heap_run_alloc(BIG);
    assert_int_equal(big->base >> TCI_ARENA_SHIFT, (run_end(big) - 1) >> TCI_ARENA_SHIFT);
    uintptr_t big_base = big->base;
    tci_heap_free_span(big);
    uint64_t inuse0 = heap_inuse();

    tci_span **runs = calloc(MAX_RUNS, sizeof *runs);
    assert_non_null(runs);
    size_t nruns = 0, pages = 0;
    while (pages < 3 * BIG && nruns < MAX_RUNS) {
        size_t np = test_below(&rng, 10) == 0 ? 65 + test_below(&rng, 600)
                                               : 1 + test_below(&rng, 64);
        runs[nruns++] = heap_run_alloc(np);
        pages += np;
    }
    assert_int_equal(heap_inuse(), inuse0 + pages * PAGE);
    for (size_t i = 0; i < nruns; i++)
        for (size_t j = i + 1; j < nruns; j++)
            if (overlaps(runs[i]->base, run_end(runs[i]), runs[j]->base, run_end(runs[j])))
                fail_msg("runs %zu and %zu overlap", i, j);
    for (size_t i = nruns; i > 1; i--) {
        size_t j = test_below(&rng, i);
        tci_span *tmp = runs[i - 1];
        runs[i - 1] = runs[j];
        runs[j] = tmp;
    }
    for (size_t i = 0; i < nruns; i++)
        tci_heap_free_span(runs[i]);
    free(runs);
    assert_int_equal(heap_inuse(), inuse0);

    /* The big run's pages are one free run again (or back in the never-used
     * tail the heap hands out from). */
    tci_span *m = tci_span_of(big_base);
    if (m && (tci_span_state(m) != TCI_SPAN_FREE || m->base != big_base || m->npages < BIG))
        fail_msg("the big run's first page maps to state %d, base %#lx, %zu pages",
                 tci_span_state(m), (unsigned long)m->base, m->npages);
    uint64_t sys0 = heap_sys();
    big = heap_run_alloc(BIG);
    assert_int_equal(heap_sys(), sys0);
    tci_heap_free_span(big);
}

/* ---- The page map on objects -------------------------------------------- */

static void assert_maps_to(uintptr_t p, uintptr_t obj, const char *what)
{
    tci_span *s;
    uint32_t idx;
    uintptr_t got = tci_find_object(p, &s, &idx);
    if (got != obj)
        fail_msg("%s: address %#lx maps to object %#lx, expected %#lx", what,
                 (unsigned long)p, (unsigned long)got, (unsigned long)obj);
    if (obj) {
        assert_ptr_equal(s, tci_span_of(p));
        assert_ptr_equal(tc_object_base((void *)p), (void *)obj);
    }
}

static void assert_not_heap(uintptr_t p, const char *what)
{
    tci_span *s;
    uint32_t idx;
    if (tci_span_of(p) != NULL)
        fail_msg("%s (%#lx): tci_span_of is not NULL", what, (unsigned long)p);
    if (tci_find_object(p, &s, &idx) != 0)
        fail_msg("%s (%#lx): tci_find_object found an object", what, (unsigned long)p);
    assert_null(tc_object_base((void *)p));
    assert_int_equal(tc_object_size((void *)p), 0);
}

static const size_t small_sizes[] = { 1, 16, 17, 48, 100, 256, 1000, 2048, 7000, 20000, 32768 };
#define NSMALL (sizeof small_sizes / sizeof small_sizes[0])
enum { PER_SIZE = 3 };

static void test_heap_page_map_small_objects(void **state)
{
    (void)state;
    static const size_t offs[] = { 0 };
    const tc_type *node = tc_type_new("heap_node", 8, offs, 1);
    assert_non_null(node);
    /* Kept alive by a root range over malloc'd memory. */
    enum { N = 3 * NSMALL * PER_SIZE };
    void **objs = calloc(N, sizeof *objs);
    size_t *sizes = calloc(N, sizeof *sizes);
    assert_non_null(objs);
    assert_non_null(sizes);
    size_t n = 0;
    for (size_t i = 0; i < NSMALL; i++)
        for (int j = 0; j < PER_SIZE; j++) {
            size_t sz = small_sizes[i];
            sizes[n] = sz;
            objs[n++] = tc_alloc_atomic(sz);
            sizes[n] = sz;
            objs[n++] = tc_alloc_conservative(sz);
            /* Precise objects too, but not of a size whose class holds none
             * (test_sizeclass reports that: the allocation never returns). */
            size_t psz = sz;
            while (tci_sizeclass_table[tci_size_to_class(psz)].nelems[TCI_KIND_PRECISE] == 0)
                psz -= 16;
            sizes[n] = psz;
            objs[n++] = tc_alloc_array(node, (psz + 7) / 8);
        }
    assert_int_equal(n, N);
    for (size_t i = 0; i < N; i++)
        assert_non_null(objs[i]);
    assert_int_equal(tc_root_add(objs, N * sizeof *objs), 0);
    tc_collect(); /* caches flushed, everything swept: alloc_bits exact */

    int free_slots_seen = 0, type_tails_seen = 0;
    for (size_t i = 0; i < N; i++) {
        uintptr_t p = (uintptr_t)objs[i];
        tci_span *s = tci_span_of(p);
        assert_non_null(s);
        assert_int_equal(tci_span_state(s), TCI_SPAN_SMALL);
        size_t usable = tc_object_size(objs[i]);
        assert_int_equal(usable, s->elemsize);
        assert_true(usable >= sizes[i]);
        assert_maps_to(p, p, "start");
        assert_maps_to(p + sizes[i] / 2, p, "middle");
        assert_maps_to(p + sizes[i] - 1, p, "last requested byte");
        assert_maps_to(p + usable - 1, p, "last byte of the slot");
        /* Some slot of the span is free: pointers into it find nothing. */
        for (uint32_t k = 0; k < s->nelems; k++) {
            if (tci_bit_get(s->alloc_bits, k))
                continue;
            uintptr_t slot = s->base + (uintptr_t)k * s->elemsize;
            assert_maps_to(slot, 0, "free slot");
            assert_maps_to(slot + s->elemsize - 1, 0, "free slot's last byte");
            free_slots_seen++;
            break;
        }
        /* Past the last slot: a precise span's type ids, or waste. */
        uintptr_t tail = s->base + (uintptr_t)s->nelems * s->elemsize;
        if (tail < run_end(s)) {
            assert_maps_to(tail, 0, "span tail");
            assert_maps_to(run_end(s) - 1, 0, "span's last byte");
            type_tails_seen += s->kind == TCI_KIND_PRECISE;
        }
    }
    assert_true(free_slots_seen > 0);
    assert_true(type_tails_seen > 0);
    tc_root_remove(objs);
    free(objs);
    free(sizes);
}

static int global_word;

static void test_heap_page_map_non_heap(void **state)
{
    (void)state;
    int local = 0;
    void *m = malloc(64);
    assert_non_null(m);
    assert_not_heap((uintptr_t)&local, "a stack address");
    assert_not_heap((uintptr_t)NULL, "NULL");
    assert_not_heap(0x1000, "0x1000");
    assert_not_heap(UINTPTR_MAX, "UINTPTR_MAX");
    assert_not_heap(UINTPTR_MAX - PAGE, "UINTPTR_MAX - page");
    assert_not_heap((uintptr_t)1 << 47, "2^47");
    assert_not_heap((uintptr_t)m, "malloc'd memory");
    assert_not_heap((uintptr_t)&global_word, "a global");
    assert_not_heap((uintptr_t)test_heap_page_map_non_heap, "code");
    free(m);
}

/* Every byte of a large object maps to it; the bytes around it do not. */
static void check_large(size_t size, size_t step)
{
    char *p = tc_alloc_atomic(size);
    assert_non_null(p);
    uintptr_t b = (uintptr_t)p;
    tci_span *s = tci_span_of(b);
    assert_non_null(s);
    assert_int_equal(tci_span_state(s), TCI_SPAN_LARGE);
    assert_int_equal(s->base, b);
    size_t usable = tc_object_size(p);
    assert_true(usable >= size);
    assert_int_equal(usable, s->npages * PAGE);
    for (size_t off = 0; off < usable; off += step) {
        tci_span *fs = NULL;
        uint32_t idx;
        if (tci_find_object(b + off, &fs, &idx) != b || fs != s)
            fail_msg("%zu-byte object at %#lx: offset %zu does not map to it", size,
                     (unsigned long)b, off);
    }
    assert_maps_to(b + size - 1, b, "last requested byte");
    assert_maps_to(b + usable - 1, b, "last usable byte");
    tci_span *sp;
    uint32_t idx;
    assert_true(tci_find_object(b - 1, &sp, &idx) != b);
    assert_true(tci_find_object(b + usable, &sp, &idx) != b);
    /* Keep p alive through the checks. */
    __asm__ volatile("" : : "r"(p) : "memory");
}

static void test_heap_page_map_large_objects(void **state)
{
    (void)state;
    check_large(32769, 1);
    check_large(100 * 1024, 1);
    check_large(10 * 1024 * 1024, 1);
    /* Longer than an arena chunk: its page map entries span two tables. */
    check_large(100 * 1024 * 1024, 64);
}

/* ---- Huge objects ---------------------------------------------------------
 *
 * Objects too long for an arena. They are made, and looked into, on fresh
 * stacks (test_fresh_call) and held by huge_roots, a root range: the
 * test's own stack never holds one, so clearing its slot drops it. */

#define MiB ((uint64_t)1 << 20)
#define HUGE_UNTOUCHED ((size_t)1 << 40)
#define HUGE_WITH_PTRS ((size_t)200 << 20)

static void *huge_roots[4];

/* A huge object of kind 0 (conservative) or 1 (precise) and three nodes
 * it points to. */
typedef struct huge_graph {
    int kind;
    uintptr_t obj;      /* hidden */
    uintptr_t node[3];  /* hidden */
} huge_graph;
static int huge_errno; /* the fresh thread's errno after its allocation */

/* tc_alloc_atomic(size) into huge_roots[slot]; the object hidden, 0 for
 * NULL (errno in huge_errno). */
static uintptr_t huge_alloc_atomic(uintptr_t size, uintptr_t slot, uintptr_t unused)
{
    (void)unused;
    errno = 0;
    void *p = tc_alloc_atomic(size);
    huge_errno = errno;
    huge_roots[slot] = p;
    return p ? test_hide(p) : 0;
}

/* Every pointer into the object of `size` bytes at huge_roots[slot]
 * finds its start; the bytes around it find nothing. 1 when so. (With the
 * public lookups, which may run beside the sweep of the cycle the
 * allocation started: tci_find_object may not.) */
static uintptr_t huge_interior_ok(uintptr_t slot, uintptr_t size, uintptr_t unused)
{
    (void)unused;
    char *p = huge_roots[slot];
    const size_t offs[] = { 0, 1, PAGE - 1, PAGE, size / 3, size / 2 + 17, size - PAGE,
                            size - 16, size - 1 };
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        if (tc_object_base(p + offs[i]) != p || tc_object_size(p + offs[i]) != size) {
            fprintf(stderr, "  offset %zu of the huge object %p does not find it\n", offs[i],
                    (void *)p);
            return 0;
        }
    }
    if (tc_object_base(p - 1) != NULL || tc_object_base(p + size) != NULL) {
        fprintf(stderr, "  the bytes around the huge object %p find an object\n", (void *)p);
        return 0;
    }
    return 1;
}

/* 1 when the hidden object h is no longer in the heap. On a fresh stack:
 * a stale copy of its address in the test's frame would be within the
 * range of the next huge object (mappings are reused), and keep it. */
static uintptr_t huge_gone(uintptr_t h, uintptr_t unused1, uintptr_t unused2)
{
    (void)unused1;
    (void)unused2;
    return tci_span_of((uintptr_t)test_unhide(h)) == NULL;
}

/* What lives on of g: 0 nothing, 1 its object, 2 + i its node i. */
static uintptr_t huge_graph_left(uintptr_t gp, uintptr_t unused1, uintptr_t unused2)
{
    (void)unused1;
    (void)unused2;
    huge_graph *g = (huge_graph *)gp;
    if (!huge_gone(g->obj, 0, 0))
        return 1;
    for (int i = 0; i < 3; i++)
        if (test_is_live(test_unhide(g->node[i])))
            return 2 + (uintptr_t)i;
    return 0;
}

static int huge_skip_unmappable(const char *what)
{
    if (huge_errno == ENOMEM && TEST_SANITIZED) {
        printf("  skipped: %s: the sanitizer's runtime refused the mapping (ENOMEM)\n", what);
        return 1;
    }
    return 0;
}

/* A dropped huge object lives on, under a sanitizer: 1 (and why, printed)
 * when the rest of the test is skipped for it. The runtimes leave words
 * like 0x7fa000000000 (TSan) and 0x7f0900000000 (ASan) in the main
 * thread's stack, inside the range just below the libraries where the OS
 * maps an object when the heap's address hint is not taken, and TSan
 * never takes it (it maps only in ranges of its own). In a plain build:
 * a failure. */
static int huge_skip_kept(const char *what)
{
    if (!TEST_SANITIZED)
        return 0;
    printf("  skipped the rest: the dropped %s lives on, kept by a word the sanitizer's "
           "runtime left in a stack (see huge_skip_kept)\n", what);
    return 1;
}

static void print_huge_figures(const char *when, const tc_memstats *ms)
{
    printf("  %s: RSS %.1f MiB, meta_sys %.3f MiB, heap_sys %.1f MiB\n", when,
           test_rss_bytes() / (double)MiB, ms->meta_sys / (double)MiB,
           ms->heap_sys / (double)MiB);
}

/* A huge object's page map is a table, not 0.1% of the object, and all of
 * it goes back when the object is freed: 1 TiB never touched took 1,090
 * MiB resident (a 64 KiB table per 64 MiB, a pointer written per page),
 * and kept it after the object was dropped and tc_release_memory ran
 * (which took 12 minutes, returning the free run 4 MiB at a time). */
static void test_heap_huge_object_costs_a_table(void **state)
{
    (void)state;
    tc_release_memory();
    tc_memstats ms0 = test_stats();
    print_huge_figures("before", &ms0);
    uintptr_t h = test_fresh_call(huge_alloc_atomic, HUGE_UNTOUCHED, 0, 0);
    if (!h && huge_skip_unmappable("1 TiB"))
        return;
    if (!h)
        fail_msg("tc_alloc_atomic(1 TiB) failed: errno %d", huge_errno);
    tc_memstats ms1 = test_stats();
    print_huge_figures("1 TiB allocated", &ms1);
    assert_true(ms1.meta_sys - ms0.meta_sys < 1 * MiB);
    assert_true(test_rss_bytes() < 256 * MiB);
    /* Counted whole (the cycle its allocation started may have freed an
     * earlier test's garbage meanwhile: exact figures are the first
     * test's). */
    assert_true(ms1.heap_inuse >= HUGE_UNTOUCHED);
    assert_true(ms1.heap_inuse <= ms0.heap_inuse + HUGE_UNTOUCHED);
    assert_true(ms1.heap_sys <= ms0.heap_sys + HUGE_UNTOUCHED);
    assert_true(test_fresh_call(huge_interior_ok, 0, HUGE_UNTOUCHED, 0));

    huge_roots[0] = NULL;
    test_collect();
    if (!test_fresh_call(huge_gone, h, 0, 0)) {
        if (huge_skip_kept("1 TiB"))
            return;
        fail_msg("the dropped 1 TiB object lives on");
    }
    tc_release_memory();
    tc_release_memory();
    tc_memstats ms2 = test_stats();
    print_huge_figures("dropped, collected, released twice", &ms2);
    assert_true(test_rss_bytes() < 128 * MiB);
    /* (Less, when the collections freed an earlier test's garbage.) */
    assert_true(ms2.heap_sys <= ms0.heap_sys);
    assert_true(ms2.heap_inuse <= ms0.heap_inuse);
    /* What may stay: the table kept for the next huge object, without its
     * spans (a page), and a span struct chunk's header page. */
    assert_true(ms2.meta_sys <= ms0.meta_sys + 16 * 1024);
}

/* A huge object with pointers keeps what they point to, at its start,
 * middle and end, across collections, held itself by an interior pointer
 * only; dropped, it and they are freed. Conservative (kind 0) and precise
 * (an array of test nodes, kind 1), 200 MiB each. */

static uintptr_t huge_graph_make(uintptr_t gp, uintptr_t slot, uintptr_t unused)
{
    (void)unused;
    huge_graph *g = (huge_graph *)gp;
    char *p;
    void **at[3];
    if (g->kind == 0) {
        p = tc_alloc_conservative(HUGE_WITH_PTRS);
        void **words = (void **)p;
        size_t n = HUGE_WITH_PTRS / sizeof(void *);
        at[0] = &words[0];
        at[1] = &words[n / 2 + 3];
        at[2] = &words[n - 1];
    } else {
        size_t n = HUGE_WITH_PTRS / sizeof(test_node);
        test_node *a = tc_alloc_array(test_node_type(), n);
        p = (char *)a;
        at[0] = (void **)&a[0].l;
        at[1] = (void **)&a[n / 2].r;
        at[2] = (void **)&a[n - 1].l;
    }
    if (!p)
        return 0;
    for (int i = 0; i < 3; i++) {
        test_node *node = test_node_new((uint64_t)(g->kind * 10 + i));
        tc_store(p, at[i], node);
        g->node[i] = test_hide(node);
    }
    huge_roots[slot] = p + HUGE_WITH_PTRS / 3; /* interior */
    g->obj = test_hide(p);
    return 1;
}

/* 1 when g's object and nodes are allocated and intact; right after a
 * collection. */
static uintptr_t huge_graph_live(uintptr_t gp, uintptr_t unused1, uintptr_t unused2)
{
    (void)unused1;
    (void)unused2;
    huge_graph *g = (huge_graph *)gp;
    if (!test_is_live(test_unhide(g->obj)))
        return 0;
    for (int i = 0; i < 3; i++)
        if (!test_is_live(test_unhide(g->node[i])) ||
            !test_node_ok(test_unhide(g->node[i]), (uint64_t)(g->kind * 10 + i)))
            return 0;
    return 1;
}

static void test_heap_huge_object_keeps_its_targets(void **state)
{
    (void)state;
    test_node_type(); /* made before another thread allocates */
    huge_graph g[2] = { { .kind = 0 }, { .kind = 1 } };
    for (int k = 0; k < 2; k++)
        assert_true(test_fresh_call(huge_graph_make, (uintptr_t)&g[k], (uintptr_t)k, 0));
    for (int round = 0; round < 2; round++) {
        test_collect();
        for (int k = 0; k < 2; k++)
            if (!test_fresh_call(huge_graph_live, (uintptr_t)&g[k], 0, 0))
                fail_msg("round %d: the %s huge object or a node it holds was freed", round,
                         k ? "precise" : "conservative");
    }
    for (int k = 0; k < 2; k++)
        huge_roots[k] = NULL;
    test_collect();
    for (int k = 0; k < 2; k++) {
        uintptr_t left = test_fresh_call(huge_graph_left, (uintptr_t)&g[k], 0, 0);
        if (left == 1 && huge_skip_kept(k ? "precise object" : "conservative object"))
            continue;
        if (left == 1)
            fail_msg("the dropped %s huge object lives on", k ? "precise" : "conservative");
        if (left)
            fail_msg("node %d of the dropped %s huge object lives on", (int)left - 2,
                     k ? "precise" : "conservative");
    }
}

/* Under a memory limit a huge object counts as heap: taking one when it
 * would take the heap past the limit returns the page heap's free pages
 * first, as an arena's growth does; dropped, it counts no more. */
static void test_heap_huge_object_under_memory_limit(void **state)
{
    (void)state;
    /* A goal far above the heap: the cycles' own scavenge keeps the free
     * pages below. */
    int old_pct = tc_set_gc_percent(10000);
    enum { N = 64 * 1024 };
    void **held = calloc(N, sizeof *held);
    assert_non_null(held);
    assert_int_equal(tc_root_add(held, N * sizeof *held), 0);
    for (int i = 0; i < N; i++)
        assert_non_null(held[i] = tc_alloc_atomic(1024));
    for (int i = 0; i < N; i++)
        memset(held[i], 0x5c, 1024);
    tc_root_remove(held);
    free(held);
    test_collect(); /* 64 MiB of free pages, resident */
    tc_memstats ms0 = test_stats();
    uint64_t nonheap0 = ms0.meta_sys + ms0.cache_sys + ms0.mark_sys;
    uint64_t retained0 = ms0.heap_sys - ms0.heap_released;
    assert_true(ms0.heap_idle - ms0.heap_released >= 48 * MiB);
    int64_t limit = (int64_t)(retained0 + nonheap0 + 32 * MiB);
    tc_set_memory_limit(limit);

    uintptr_t h = test_fresh_call(huge_alloc_atomic, 96 * MiB, 0, 0);
    assert_true(h != 0);
    tc_memstats ms1 = test_stats();
    uint64_t nonheap1 = ms1.meta_sys + ms1.cache_sys + ms1.mark_sys;
    printf("  limit %.1f MiB: retained %.1f -> %.1f MiB, released %.1f -> %.1f MiB\n",
           limit / (double)MiB, retained0 / (double)MiB,
           (ms1.heap_sys - ms1.heap_released) / (double)MiB, ms0.heap_released / (double)MiB,
           ms1.heap_released / (double)MiB);
    assert_true(ms1.heap_released >= ms0.heap_released + 32 * MiB);
    /* Within the limit but for the non-heap memory's drift since. */
    assert_true(ms1.heap_sys - ms1.heap_released + nonheap1 <= (uint64_t)limit + 1 * MiB);

    huge_roots[0] = NULL;
    test_collect();
    tc_memstats ms2 = test_stats();
    assert_int_equal(ms1.heap_sys - ms2.heap_sys, 96 * MiB);
    assert_int_equal(ms1.heap_inuse - ms2.heap_inuse, 96 * MiB);
    tc_set_memory_limit(INT64_MAX);
    tc_set_gc_percent(old_pct);
}

/* A huge object the heap cannot have fails with ENOMEM and touches
 * nothing first: the largest allowed (2^46 bytes, for which the page map
 * took memory at 1 GB/s towards 64 GiB) when its mapping is refused, and
 * a second one beside a first, which 47 bits of address space cannot
 * hold. One that can be had costs its 8 MiB of first-level entries.
 * Dropped, it may live on: it spans a third of the address space, and
 * numbers in the stacks point into it (2^46, its size, was one, found in
 * the blocking region's copied frame). Run last for that. */
static void test_heap_huge_object_enomem_untouched(void **state)
{
    (void)state;
    tc_memstats ms0 = test_stats();
    print_huge_figures("before", &ms0);
    /* Every mapping refused: the out-of-memory retry fails as well. */
    tci_os_fail_map_from(1);
    assert_int_equal(test_fresh_call(huge_alloc_atomic, TCI_MAX_OBJECT, 0, 0), 0);
    tci_os_fail_map_after(0);
    assert_int_equal(huge_errno, ENOMEM);
    tc_memstats ms1 = test_stats();
    assert_true(ms1.heap_sys <= ms0.heap_sys);
    assert_true(ms1.meta_sys <= ms0.meta_sys + 64 * 1024);

    uintptr_t first = test_fresh_call(huge_alloc_atomic, TCI_MAX_OBJECT, 0, 0);
    if (!first) {
        /* Strict overcommit, a smaller address space, a sanitizer. */
        assert_int_equal(huge_errno, ENOMEM);
        printf("  skipped: the OS refused a 2^46-byte mapping (ENOMEM)\n");
        return;
    }
    tc_memstats ms2 = test_stats();
    print_huge_figures("2^46 bytes allocated", &ms2);
    assert_true(test_rss_bytes() < 256 * MiB);
    uintptr_t second = test_fresh_call(huge_alloc_atomic, TCI_MAX_OBJECT, 1, 0);
    if (!second)
        assert_int_equal(huge_errno, ENOMEM);
    printf("  a second 2^46 bytes: %s\n", second ? "allocated" : "ENOMEM");
    assert_true(test_rss_bytes() < 256 * MiB);
    huge_roots[0] = huge_roots[1] = NULL;
    test_collect();
    tc_memstats ms3 = test_stats();
    print_huge_figures("dropped and collected", &ms3);
    if (!test_fresh_call(huge_gone, first, 0, 0)) {
        printf("  the dropped 2^46 bytes live on (a number in a stack points into them)\n");
        return;
    }
    assert_true(test_rss_bytes() < 128 * MiB);
    assert_true(ms3.meta_sys <= ms0.meta_sys + 64 * 1024);
}

/* The fault-injecting OS layer: when mapping a new arena fails (and fails
 * again at the out-of-memory retry), the allocation that needed it returns
 * NULL with ENOMEM and the heap goes on. */
static void test_heap_map_failure_enomem(void **state)
{
    (void)state;
    tc_memstats ms;
    tc_read_memstats(&ms);
    size_t size = (size_t)ms.heap_idle + ((size_t)128 << 20); /* needs a new arena */
    tci_os_fail_map_from(1);
    errno = 0;
    assert_null(tc_alloc_atomic(size));
    assert_int_equal(errno, ENOMEM);
    tci_os_fail_map_after(0);
    tc_read_memstats(&ms);
    uint64_t sys_after_failure = ms.heap_sys;
    char *p = tc_alloc_atomic(size); /* the injected failures ended */
    assert_non_null(p);
    p[size - 1] = 1;
    tc_read_memstats(&ms);
    assert_true(ms.heap_sys > sys_after_failure);
}

/* A mapping's first page is never handed out: the base address the heap's
 * growth holds in its locals (and leaves in dead stack, where a later
 * frame's unwritten slot keeps it) must not be an object's. Found under
 * ASan: the main thread's stack kept a 64 MiB-aligned word, an arena's
 * base, and with it the suffix of a dropped 10-million-node list whose
 * node sat there (tests/test_mark.c, 1 run in 10). An object exactly an
 * arena's size still fits in the mapping made for it. */
static void test_heap_arena_base_holds_no_object(void **state)
{
    (void)state;
    char *big = tc_alloc_atomic(TCI_ARENA_SIZE); /* a mapping of its own */
    assert_non_null(big);
    big[TCI_ARENA_SIZE - 1] = 1;
    int arenas = 0;
    for (uintptr_t a = tci_heap_lo & ~(uintptr_t)(TCI_ARENA_SIZE - 1); a < tci_heap_hi;
         a += TCI_ARENA_SIZE) {
        if (!__atomic_load_n(&tci_heap_arena_map[a >> TCI_ARENA_SHIFT], __ATOMIC_ACQUIRE))
            continue;
        /* A mapping's base: no arena just below it (a mapping of several
         * arenas is contiguous, and objects may cross its inner bounds). */
        if (__atomic_load_n(&tci_heap_arena_map[(a >> TCI_ARENA_SHIFT) - 1], __ATOMIC_ACQUIRE))
            continue;
        arenas++;
        if (tc_object_base((void *)a) != NULL)
            fail_msg("mapping base %#lx is an object's start", (unsigned long)a);
    }
    assert_true(arenas >= 1);
}

/* The page heap's arenas counted, each checked against the 4 GiB windows
 * of libc, the program, the main thread's stack (stack) and the fresh
 * thread's own; 0 (and why, printed) when one shares a window. On a fresh
 * stack: the walk's cursor passes through the huge objects' range, and a
 * copy of it left in the caller's frame kept the next test's dropped 1 TiB
 * object alive (under UBSan, every run). */
static uintptr_t arenas_apart(uintptr_t stack, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    char local;
    const uintptr_t others[] = { (uintptr_t)stderr, (uintptr_t)&printf, stack,
                                 (uintptr_t)&local, (uintptr_t)&arenas_apart };
    uintptr_t arenas = 0;
    for (uintptr_t a = tci_heap_lo & ~(uintptr_t)(TCI_ARENA_SIZE - 1); a < tci_heap_hi;
         a += TCI_ARENA_SIZE) {
        tci_arena *ar = __atomic_load_n(&tci_heap_arena_map[a >> TCI_ARENA_SHIFT],
                                        __ATOMIC_ACQUIRE);
        /* The page heap's arenas; huge objects have a hint of their own,
         * which ThreadSanitizer does not take (see huge_skip_kept). */
        tci_mutex_lock(&tci_heap_lock); /* partner: tci_heap_unlock */
        int huge = ar && ar->huge;
        tci_heap_unlock();
        if (!ar || huge)
            continue;
        arenas++;
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
            if (a >> 32 == others[i] >> 32) {
                printf("  arena %#lx is in the 4 GiB window of %#lx\n", (unsigned long)a,
                       (unsigned long)others[i]);
                return 0;
            }
    }
    return arenas;
}

/* No arena shares its 4 GiB window (the address's upper 32 bits) with
 * the shared libraries, the program or a thread's stack: words made from
 * such an address with other low bits, which libc and the test framework
 * leave in stack frames, could otherwise point into the heap. Found by
 * tests/test_weak_field.c, 1 run in 30 to 50 under load: the word
 * 0x7fXX019dfe69, libc's upper half over a constant, lay in an outer
 * frame of the main thread from before tc_init; the OS had put the first
 * arena at 0x7fXX00000000, and the object at 0x19dfe40 in it, an odd key
 * the test dropped, lived on. */
static void test_heap_arenas_apart_from_library_words(void **state)
{
    (void)state;
    char local;
    uintptr_t arenas = test_fresh_call(arenas_apart, (uintptr_t)&local, 0, 0);
    printf("  %lu arenas, the heap from %#lx\n", (unsigned long)arenas,
           (unsigned long)tci_heap_lo);
    assert_true(arenas >= 1);
}

static int group_setup(void **state)
{
    if (test_group_setup_verified(state) != 0)
        return -1;
    return tc_root_add(huge_roots, sizeof huge_roots);
}

int main(void)
{
    seed = test_seed("test_heap", 0x6865617021ull);
    /* In this order: the first test needs a heap that never grew. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_runs_in_one_arena_huge_apart),
        cmocka_unit_test(test_heap_free_span_merges_next),
        cmocka_unit_test(test_heap_alloc_span_not_merged_into_freed_neighbour),
        cmocka_unit_test(test_heap_merged_run_gives_its_resident_end),
        cmocka_unit_test(test_heap_resident_run_before_returned),
        cmocka_unit_test(test_heap_runs_coalesce_after_random_frees),
        cmocka_unit_test(test_heap_page_map_small_objects),
        cmocka_unit_test(test_heap_page_map_non_heap),
        cmocka_unit_test(test_heap_page_map_large_objects),
        cmocka_unit_test(test_heap_arenas_apart_from_library_words),
        cmocka_unit_test(test_heap_huge_object_costs_a_table),
        cmocka_unit_test(test_heap_huge_object_keeps_its_targets),
        cmocka_unit_test(test_heap_huge_object_under_memory_limit),
        /* Last: it leaves a large object and a new arena behind. */
        cmocka_unit_test(test_heap_map_failure_enomem),
        cmocka_unit_test(test_heap_arena_base_holds_no_object),
        /* Last: its object may live on (see there). */
        cmocka_unit_test(test_heap_huge_object_enomem_untouched),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
