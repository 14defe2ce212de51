/* heap_huge.c: huge objects, each in a mapping of its own, and the page
 * map's shared tables that name them.
 *
 * An object too long for an arena (tci_heap_is_huge: more than 64 MiB
 * less a page) is huge: it gets a mapping of its own, 64 MiB aligned and a
 * multiple of 64 MiB, and every first-level entry of that mapping points
 * to ONE table whose spans[] all name its span. So its page map costs 64
 * KiB and 8 bytes per 64 MiB (a 1 TiB object: 193 KiB, where a table per
 * arena, a pointer written for each of its 2^27 pages, kept 1 GiB
 * resident), and tci_span_of, the markers' lookup, has no branch for it.
 * A huge span never becomes a free run: freeing it clears its first-level
 * entries, unmaps the object (its memory and address space go back at
 * once: as a free run it was returned 4 MiB per system call, which took
 * tc_release_memory 12 minutes for 1 TiB here), and returns the table's
 * spans[] pages with madvise(MADV_DONTNEED), keeping the table mapped on
 * a list for the next huge object. Kept mapped because a reader without
 * heap_lock (a marker with a stale conservative word, tc_object_base in
 * any thread) may have loaded the first-level entry just before it was
 * cleared: it reads the table's zeros then, a NULL span, never unmapped
 * memory (or, once the table is reused, another object's span, which the
 * lookups' range checks reject, as for any span freed under a reader).
 * The first-level pages wholly inside a freed object's entries (one per
 * 32 GiB) are returned too. A huge object is never zeroed (fresh pages
 * read as zeros), and one the OS will not map fails with ENOMEM before
 * anything of it is touched. Huge objects are mapped from an address of
 * their own (HUGE_HINT), away from the libraries and from the holes the
 * OS refills: a terabyte is a large target for a conservative scan's
 * stray words. The price of all this is an object between 64 MiB and the
 * page heap's free runs faulted in fresh each time, where a free run was
 * reused (and zeroed).
 */
#include <stdint.h>

#include "heap.h"
#include "heap_internal.h"
#include "lock.h"
#include "os.h"

/* Huge objects' tables (see the top): those in use, and those kept for
 * reuse with their spans[] returned to the OS; linked through huge_next
 * and huge_prev. Protected by heap_lock. */
static tci_arena *huge_used, *huge_kept;

/* The mapping of a huge object of npages pages: its skipped first page and
 * its pages, to a multiple of 64 MiB (the untouched tail is address space). */
static size_t huge_map_bytes(size_t npages)
{
    size_t bytes = (npages << TCI_PAGE_SHIFT) + TCI_HEAP_SKIP_BYTES;
    return (bytes + TCI_ARENA_SIZE - 1) & ~(TCI_ARENA_SIZE - 1);
}

/* The first-level pages that entries [first, first + n) lie on, as bytes:
 * what a huge object's entries touch (tci_heap_meta_bytes counts them while it
 * lives). */
static uint64_t l1_bytes(size_t first, size_t n)
{
    uintptr_t lo = (uintptr_t)&tci_heap_arena_map[first] & ~(uintptr_t)4095;
    uintptr_t hi = ((uintptr_t)&tci_heap_arena_map[first + n] + 4095) & ~(uintptr_t)4095;
    return hi - lo;
}

static void huge_list_push(tci_arena **head, tci_arena *t)
{
    t->huge_prev = NULL;
    t->huge_next = *head;
    if (*head)
        (*head)->huge_prev = t;
    *head = t;
}

static void huge_list_remove(tci_arena **head, tci_arena *t)
{
    if (t->huge_prev)
        t->huge_prev->huge_next = t->huge_next;
    else
        *head = t->huge_next;
    if (t->huge_next)
        t->huge_next->huge_prev = t->huge_prev;
    t->huge_next = t->huge_prev = NULL;
}

/* A table for a huge object: a kept one (its spans[] read as zeros), or a
 * new one. tci_heap_meta_bytes counts a table in use whole, a kept one without the
 * spans[] it returned. */
static tci_arena *huge_table_take_locked(void)
{
    tci_assert_held(&tci_heap_lock);
    tci_arena *t = huge_kept;
    if (t) {
        huge_list_remove(&huge_kept, t);
        if (t->spans_returned)
            tci_heap_meta_bytes += sizeof t->spans;
        return t;
    }
    t = tci_os_map(sizeof *t);
    if (t)
        tci_heap_meta_bytes += sizeof *t;
    return t;
}

/* Keeps table t, named by no first-level entry any more, for the next huge
 * object: its spans[] go back to the OS and read as zeros. */
static void huge_table_keep_locked(tci_arena *t)
{
    tci_assert_held(&tci_heap_lock);
    t->huge = NULL;
    t->spans_returned = tci_os_release(t->spans, sizeof t->spans) == 0;
    if (t->spans_returned)
        tci_heap_meta_bytes -= sizeof t->spans;
    else
        for (size_t i = 0; i < TCI_ARENA_PAGES; i++) /* the OS keeps them: zeros by hand */
            tci_ptr_store_release(&t->spans[i], NULL); /* partner: tci_span_of */
    huge_list_push(&huge_kept, t);
}

/* Where huge objects are mapped, from HUGE_HINT up, if the OS lets us: a
 * conservative scan keeps an object whatever word points into it, and the
 * OS's own choice is the highest free range, just below the shared
 * libraries and in the holes that mappings unmapped a moment ago left
 * (thread stacks, huge objects: stale pointers to them abound). There a
 * dropped 1 TiB object was kept by words like 0x7f0900000000 in the main
 * thread's stack under ASan (tests/test_heap.c, every run); at the hint
 * it is freed. Go places its heap by hints for this too (malloc.go: heap
 * addresses "distinguishable from other data", for gccgo's conservative
 * stack scan). 18 TiB: above ASan's shadow (which ends at 16 TiB), no
 * power of two (a size) lies within a terabyte above it, and a 2^46-byte
 * object still fits below where position-independent programs are loaded
 * (0x550000000000). The cost: the heap's bounds reach down to here, and
 * tci_span_of's range check lets more words through to the first-level
 * load. The cursor moves past each mapping made there; it goes back to
 * the start when the OS puts one elsewhere (the range is taken) and when
 * no huge object is in use. Protected by heap_lock. */
#define HUGE_HINT ((uintptr_t)0x120000000000)
static uintptr_t huge_hint = HUGE_HINT;

/* A huge object's span of npages pages (state TCI_SPAN_LARGE), in a fresh
 * mapping: never needs zeroing. NULL when the OS refuses the mapping. */
tci_span *tci_heap_huge_alloc(size_t npages)
{
    size_t bytes = huge_map_bytes(npages);
    tci_mutex_lock(&tci_heap_lock); /* released below */
    if (!huge_used)
        huge_hint = HUGE_HINT;
    char *mem = tci_heap_map_arenas(bytes, huge_hint);
    if (!mem) {
        tci_heap_unlock();
        return NULL;
    }
    huge_hint = (uintptr_t)mem == huge_hint ? huge_hint + bytes : HUGE_HINT;
    if (tci_heap_retain_limit != UINT64_MAX)
        tci_heap_scavenge_for_limit_locked((uint64_t)npages << TCI_PAGE_SHIFT);
    tci_arena *t = huge_table_take_locked();
    tci_span *s = t ? tci_heap_span_struct_alloc_locked() : NULL;
    if (!s) {
        if (t)
            huge_table_keep_locked(t);
        tci_os_unmap(mem, bytes);
        tci_heap_unlock();
        return NULL;
    }
    s->base = (uintptr_t)mem + TCI_HEAP_SKIP_BYTES;
    s->npages = npages;
    tci_span_set_state(s, TCI_SPAN_LARGE);
    t->base = (uintptr_t)mem;
    t->huge = s;
    /* Atomic: a reader that loaded a first-level entry of this table's
     * last object may still read it (see the top). */
    for (size_t i = 0; i < TCI_ARENA_PAGES; i++)
        tci_ptr_store_release(&t->spans[i], s); /* partner: tci_span_of */
    size_t first = (uintptr_t)mem >> TCI_ARENA_SHIFT, n = bytes >> TCI_ARENA_SHIFT;
    for (size_t i = 0; i < n; i++)
        tci_ptr_store_release(&tci_heap_arena_map[first + i], t); /* partner: tci_span_of */
    tci_heap_widen_bounds_locked((uintptr_t)mem, (uintptr_t)mem + bytes);
    huge_list_push(&huge_used, t);
    tci_heap_meta_bytes += l1_bytes(first, n);
    tci_heap_sys_bytes += npages << TCI_PAGE_SHIFT;
    tci_heap_inuse_bytes += npages << TCI_PAGE_SHIFT;
    tci_heap_nspans_inuse++;
    tci_heap_unlock();
    return s;
}

/* Frees huge span s: no first-level entry names its table when its memory
 * goes (see the top for the reader who loaded one just before). */
void tci_heap_huge_free(tci_span *s)
{
    tci_mutex_lock(&tci_heap_lock); /* released below */
    tci_arena *t = tci_heap_arena_of(s->base);
    uintptr_t mem = t->base;
    size_t bytes = huge_map_bytes(s->npages);
    size_t first = mem >> TCI_ARENA_SHIFT, n = bytes >> TCI_ARENA_SHIFT;
    for (size_t i = 0; i < n; i++)
        tci_ptr_store_release(&tci_heap_arena_map[first + i], NULL); /* partner: tci_span_of */
    tci_heap_meta_bytes -= l1_bytes(first, n);
    /* The first-level pages only this object's entries were on read as
     * zeros (NULL) once returned, as they read now. */
    uintptr_t lo = ((uintptr_t)&tci_heap_arena_map[first] + 4095) & ~(uintptr_t)4095;
    uintptr_t hi = (uintptr_t)&tci_heap_arena_map[first + n] & ~(uintptr_t)4095;
    if (hi > lo)
        tci_os_release((void *)lo, hi - lo);
    huge_list_remove(&huge_used, t);
    huge_table_keep_locked(t);
    tci_heap_sys_bytes -= s->npages << TCI_PAGE_SHIFT;
    tci_heap_inuse_bytes -= s->npages << TCI_PAGE_SHIFT;
    tci_heap_nspans_inuse--;
    tci_heap_span_struct_free_locked(s);
    tci_heap_unlock();
    tci_os_unmap((void *)mem, bytes); /* no entry names it: without the lock */
}

/* Calls fn on every huge object's span (tci_heap_for_each_span). */
void tci_heap_huge_for_each_locked(void (*fn)(tci_span *s, void *arg), void *arg)
{
    tci_assert_held(&tci_heap_lock);
    for (tci_arena *t = huge_used; t; t = t->huge_next)
        fn(t->huge, arg);
}
