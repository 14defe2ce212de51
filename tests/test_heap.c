/* test_heap.c: the page map (address -> span -> object) and the page heap
 * (runs of pages, their coalescing and reuse).
 *
 * The page-heap tests take runs straight from tci_heap_alloc_span. They
 * run first and in order: the first needs a heap that has never grown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "os.h"
#include "testutil.h"
#include "tricolor.h"

#define PAGE TCI_PAGE_SIZE
#define CHUNK_PAGES TCI_ARENA_PAGES

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
    assert_int_equal(s->state, TCI_SPAN_LARGE);
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
                     s->npages, i, (void *)m, m ? m->state : -1,
                     m ? (unsigned long)m->base : 0ul, m ? m->npages : 0);
    }
}

/* A free run starts at base and is npages long. */
static void assert_free_run(uintptr_t base, size_t npages, const char *what)
{
    tci_span *m = tci_span_of(base);
    if (!m || m->state != TCI_SPAN_FREE || m->base != base || m->npages != npages)
        fail_msg("%s: expected a free run of %zu pages at %#lx; the page maps to %p "
                 "(state %d, base %#lx, %zu pages)", what, npages, (unsigned long)base,
                 (void *)m, m ? m->state : -1, m ? (unsigned long)m->base : 0ul,
                 m ? m->npages : 0);
}

static int overlaps(uintptr_t a, uintptr_t a_end, uintptr_t b, uintptr_t b_end)
{
    return a < b_end && b < a_end;
}

/* A span that crosses from one 64 MiB arena chunk into the next is freed
 * next to a free run in its first chunk at the same page index as the
 * span's end in the second: they are not neighbours and must stay apart.
 * Pages (in a fresh mapping, counted from its first page in use, page 1:
 * page 0 is never used, see heap.c's grow_locked): F [0,100) G [100,200)
 * S [200,8291) T [8291,16384); F and S are freed. S ends at index 100 of
 * chunk 1; F's last page is index 100 of chunk 0. Needs a heap that never
 * grew. */
static void test_heap_free_span_crossing_chunks_keeps_apart(void **state)
{
    (void)state;
    if (heap_sys() != 0)
        fail_msg("precondition: this test needs a fresh heap (heap_sys %llu): run it first",
                 (unsigned long long)heap_sys());
    tci_span *a = heap_run_alloc(2 * CHUNK_PAGES);
    uintptr_t base = a->base;
    assert_int_equal(base % TCI_ARENA_SIZE, TCI_PAGE_SIZE); /* the mapping's page 1 */
    tci_heap_free_span(a);

    tci_span *f = heap_run_alloc(100);
    tci_span *g = heap_run_alloc(100);
    tci_span *s = heap_run_alloc(CHUNK_PAGES + 99 - 200);
    tci_span *t = heap_run_alloc(2 * CHUNK_PAGES - (CHUNK_PAGES + 99));
    assert_int_equal(f->base, base);
    assert_int_equal(g->base, base + 100 * PAGE);
    assert_int_equal(s->base, base + 200 * PAGE);
    assert_int_equal(t->base, base + (CHUNK_PAGES + 99) * PAGE);
    uintptr_t s_base = s->base;
    size_t s_pages = s->npages;

    tci_heap_free_span(f);
    assert_free_run(base, 100, "F freed");
    tci_heap_free_span(s);

    assert_run_mapped(g, "G, in use");
    assert_run_mapped(t, "T, in use");
    assert_free_run(base, 100, "F after S was freed");
    assert_free_run(s_base, s_pages, "S after it was freed");

    /* No free run reaches into T: a run as long as S plus F comes from new
     * memory, not from T's pages. */
    tci_span *r = heap_run_alloc(s_pages + 100);
    if (overlaps(r->base, run_end(r), t->base, run_end(t)) ||
        overlaps(r->base, run_end(r), g->base, run_end(g)))
        fail_msg("a new run [%#lx, %#lx) overlaps G or T, which are in use",
                 (unsigned long)r->base, (unsigned long)run_end(r));
    tci_heap_free_span(r);
    tci_heap_free_span(g);
    tci_heap_free_span(t);
}

/* Freeing the first part of a span that crosses a chunk boundary next to a
 * free second part merges them, so the whole run is there again. */
static void test_heap_free_span_crossing_chunks_merges_next(void **state)
{
    (void)state;
    size_t sys_pages = heap_sys() / PAGE;
    /* Longer than any free run, so a fresh mapping; both parts are longer
     * than any other free run too, so they come from it. */
    size_t total = 2 * sys_pages + 3 * CHUNK_PAGES;
    tci_span *p = heap_run_alloc(total);
    uintptr_t base = p->base;
    assert_int_equal(base % TCI_ARENA_SIZE, TCI_PAGE_SIZE); /* the mapping's page 1 */
    tci_heap_free_span(p);
    size_t first = sys_pages + CHUNK_PAGES + 100; /* ends inside a chunk */
    tci_span *a = heap_run_alloc(first);
    tci_span *b = heap_run_alloc(total - first);
    assert_int_equal(a->base, base);
    assert_int_equal(b->base, base + first * PAGE);
    tci_heap_free_span(b);
    tci_heap_free_span(a);
    assert_free_run(base, total, "both parts freed, second first");
    uint64_t sys0 = heap_sys();
    tci_span *again = heap_run_alloc(total);
    assert_int_equal(heap_sys(), sys0);
    tci_heap_free_span(again);
}

/* A span just handed out is in use at once: freeing the span after it
 * must not merge it into a free run. Pages of a fresh mapping: A [0,x) and
 * B [x,total) are taken, A is freed and taken again (exactly its size, so
 * its pages were a free run's ends a moment ago), then B is freed. */
static void test_heap_alloc_span_not_merged_into_freed_neighbour(void **state)
{
    (void)state;
    size_t sys_pages = heap_sys() / PAGE;
    size_t total = 2 * sys_pages + 2 * CHUNK_PAGES;
    size_t x = sys_pages + CHUNK_PAGES + 1; /* B starts inside a chunk */
    /* Every run below is longer than any other free run: they all come
     * from the fresh mapping. */
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

/* Random runs taken and given back in random order coalesce again: a run as
 * long as the one they were cut from comes back without the heap growing. */
static void test_heap_runs_coalesce_after_random_frees(void **state)
{
    (void)state;
    test_rng rng = { seed ^ 0x4ea9 };
    enum { BIG = 2048, MAX_RUNS = 4096 };
    /* The big run must lie within one arena chunk: runs never merge across
     * a chunk boundary. Keep the ones that do not, and try again. */
    tci_span *skipped[16];
    int nskipped = 0;
    tci_span *big;
    for (;;) {
        big = heap_run_alloc(BIG);
        if (big->base >> TCI_ARENA_SHIFT == (run_end(big) - 1) >> TCI_ARENA_SHIFT)
            break;
        assert_true(nskipped < 16);
        skipped[nskipped++] = big;
    }
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
    if (m && (m->state != TCI_SPAN_FREE || m->base != big_base || m->npages < BIG))
        fail_msg("the big run's first page maps to state %d, base %#lx, %zu pages",
                 m->state, (unsigned long)m->base, m->npages);
    uint64_t sys0 = heap_sys();
    big = heap_run_alloc(BIG);
    assert_int_equal(heap_sys(), sys0);
    tci_heap_free_span(big);
    for (int i = 0; i < nskipped; i++)
        tci_heap_free_span(skipped[i]);
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
            while (tci_classes[tci_size_to_class(psz)].nelems[TCI_KIND_PRECISE] == 0)
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
        assert_int_equal(s->state, TCI_SPAN_SMALL);
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
    assert_int_equal(s->state, TCI_SPAN_LARGE);
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

/* The fault-injecting OS layer: when mapping a new arena fails, the
 * allocation that needed it returns NULL with ENOMEM and the heap goes on. */
static void test_heap_map_failure_enomem(void **state)
{
    (void)state;
    tc_memstats ms;
    tc_read_memstats(&ms);
    size_t size = (size_t)ms.heap_idle + ((size_t)128 << 20); /* needs a new arena */
    tci_os_fail_map_after(1);
    errno = 0;
    assert_null(tc_alloc_atomic(size));
    assert_int_equal(errno, ENOMEM);
    tc_read_memstats(&ms);
    uint64_t sys_after_failure = ms.heap_sys;
    char *p = tc_alloc_atomic(size); /* the injected failure was one-shot */
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
        if (!__atomic_load_n(&tci_arena_map[a >> TCI_ARENA_SHIFT], __ATOMIC_ACQUIRE))
            continue;
        /* A mapping's base: no arena just below it (a mapping of several
         * arenas is contiguous, and objects may cross its inner bounds). */
        if (__atomic_load_n(&tci_arena_map[(a >> TCI_ARENA_SHIFT) - 1], __ATOMIC_ACQUIRE))
            continue;
        arenas++;
        if (tc_object_base((void *)a) != NULL)
            fail_msg("mapping base %#lx is an object's start", (unsigned long)a);
    }
    assert_true(arenas >= 1);
}

int main(void)
{
    seed = test_seed("test_heap", 0x6865617021ull);
    /* In this order: the first test needs a heap that never grew. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_free_span_crossing_chunks_keeps_apart),
        cmocka_unit_test(test_heap_free_span_crossing_chunks_merges_next),
        cmocka_unit_test(test_heap_alloc_span_not_merged_into_freed_neighbour),
        cmocka_unit_test(test_heap_runs_coalesce_after_random_frees),
        cmocka_unit_test(test_heap_page_map_small_objects),
        cmocka_unit_test(test_heap_page_map_non_heap),
        cmocka_unit_test(test_heap_page_map_large_objects),
        /* Last: it leaves a large object and a new arena behind. */
        cmocka_unit_test(test_heap_map_failure_enomem),
        cmocka_unit_test(test_heap_arena_base_holds_no_object),
    };
    return cmocka_run_group_tests(tests, test_group_setup_verified, NULL);
}
