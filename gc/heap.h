/* heap.h: arenas, the page map and the page heap (the span: span.h). */
#ifndef TCI_HEAP_H
#define TCI_HEAP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "sizeclass.h"
#include "span.h"

#define TCI_ARENA_SHIFT 26                        /* 64 MiB arenas, as Go */
#define TCI_ARENA_SIZE ((size_t)1 << TCI_ARENA_SHIFT)
#define TCI_ARENA_PAGES (TCI_ARENA_SIZE / TCI_PAGE_SIZE)
#define TCI_ADDR_BITS 48                          /* x86-64 / arm64 user space */
#define TCI_L1_ENTRIES ((size_t)1 << (TCI_ADDR_BITS - TCI_ARENA_SHIFT))
/* Largest object: the address space allows 2^47; we stop at 2^46 so that
 * page counts and sums never overflow. */
#define TCI_MAX_OBJECT ((size_t)1 << 46)

/* An arena's table of the page map; or a huge object's, which every
 * first-level entry of its mapping shares (gc/heap_huge.c). */
typedef struct tci_arena {
    /* page -> span: written under heap_lock with release stores (an
     * in-use span maps every page, a free run its first and last); read
     * with acquire loads by tci_span_of on any thread without the lock
     * (partner: those stores; a span's fields are set before its pages
     * name it), plainly under heap_lock by the page heap. First, on 16
     * whole pages: a huge object's table returns them to the OS alone when
     * it is freed. */
    tci_span *spans[TCI_ARENA_PAGES];
    /* Written under heap_lock before the table's first-level entries
     * publish it (a kept huge table gets a new one when reused); read
     * under heap_lock. */
    uintptr_t base;
    /* A huge object's table: its span (NULL while the table is kept for
     * reuse), the list of tables in use or kept, and whether the spans'
     * pages went back to the OS; all protected by heap_lock. */
    tci_span *huge;
    struct tci_arena *huge_next, *huge_prev;
    int spans_returned;
    /* 1 = the page is free and was returned to the OS (reads as zeros,
     * holds no memory); protected by heap_lock. */
    uint64_t released[TCI_ARENA_PAGES / 64];
} tci_arena;

/* The page map's first level: one entry per 64 MiB of the 48-bit address
 * space, reserved (32 MiB of address space, committed as touched). The
 * pointer is set once by tci_heap_init, before any other thread runs. An
 * entry is written under heap_lock with release stores (an arena mapped,
 * a huge object's mapping made or freed) and read with acquire loads by
 * tci_span_of on any thread (partner: those stores: a reader sees the
 * table's spans[] set up), plainly under heap_lock by the page heap. */
extern tci_arena **tci_heap_arena_map;
/* Bounds of every arena and huge mapping, for a quick reject: only ever
 * widened, under heap_lock, with relaxed atomic stores; read with relaxed
 * loads by tci_span_of (a pointer into a new arena reaches another thread
 * only through a synchronizing store, after the widening). */
/* Bytes allocated since the last mark plus what it marked (heap.c). */
extern tci_atomic tci_heap_live;
extern uintptr_t tci_heap_lo, tci_heap_hi;

int tci_heap_init(void);

/* Page heap: protected by heap_lock inside. Returns a span of npages pages
 * in `state` (TCI_SPAN_SMALL or TCI_SPAN_LARGE), every page mapped to it, the
 * rest of its fields zero; NULL on exhaustion (errno ENOMEM). A span too
 * long for an arena (tci_heap_is_huge) is a large object's only, in a
 * mapping of its own that is never zeroed and goes back to the OS when
 * the span is freed. */
tci_span *tci_heap_alloc_span(size_t npages, int state, int *needzero);
void tci_heap_free_span(tci_span *s);

/* A run of npages pages does not fit in one arena beside the arena's unused
 * first page (TCI_HEAP_SKIP_BYTES, gc/heap_internal.h): a huge object. */
static inline int tci_heap_is_huge(size_t npages)
{
    return npages > TCI_ARENA_PAGES - 1;
}

/* The arena (or huge object's table) holding address p, or NULL: p is no
 * address the heap gave out or may give out. */
static inline tci_arena *tci_heap_arena_at(uintptr_t p)
{
    /* Relaxed atomic loads (plain moves): the heap grows and spans change
     * under heap_lock while a concurrent marker looks pointers up. */
    if (p < tci_uptr_load_relaxed(&tci_heap_lo) || p >= tci_uptr_load_relaxed(&tci_heap_hi))
        return NULL;
    /* Acquire, here and in tci_span_of: partners the release stores of
     * heap.c and heap_huge.c that publish an arena (or a huge table) and a
     * page's span. */
    return tci_ptr_load_acquire(&tci_heap_arena_map[p >> TCI_ARENA_SHIFT]);
}

/* The span p's page belongs to: NULL outside the heap, and for a page of a
 * free run that is neither its first nor its last. */
static inline tci_span *tci_span_of(uintptr_t p)
{
    tci_arena *a = tci_heap_arena_at(p);
    if (!a)
        return NULL;
    return tci_ptr_load_acquire(&a->spans[(p >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1)]);
}

/* The object containing address p: its start and slot index, or 0 when p is
 * not inside an allocated object. Reads alloc_bits, which miss the slots a
 * cache handed out from its current window until the cache is flushed: call
 * with the world stopped (caches are flushed then) or after a flush. */
typedef struct tci_found {
    uintptr_t obj; /* 0 when not found */
    tci_span *span;
    uint32_t idx;
} tci_found;

/* By value, so the marker's inlined copy has no address-taken locals (in the
 * sanitizer-exempt scanning loop those got use-after-scope poison that was
 * never cleared). */
static inline tci_found tci_find_object_v(uintptr_t p)
{
    tci_found f = { 0, NULL, 0 };
    tci_span *s = tci_span_of(p);
    if (!s)
        return f;
    int st = tci_span_state(s);
    if (st != TCI_SPAN_SMALL && st != TCI_SPAN_LARGE)
        return f; /* a free run's fields change under heap_lock */
    uintptr_t off = p - s->base; /* wraps when p < base */
    if (off >= (s->npages << TCI_PAGE_SHIFT))
        return f;
    if (st == TCI_SPAN_SMALL) {
        uint32_t idx = tci_span_index(s, p);
        if (idx >= s->nelems || !tci_bit_get(s->alloc_bits, idx))
            return f;
        f.obj = s->base + (uintptr_t)idx * s->elemsize;
        f.span = s;
        f.idx = idx;
    } else if (st == TCI_SPAN_LARGE && tci_u32_load_acquire(&s->nalloc)) {
        /* Acquire: partner the large allocation's release (gc/cache.c). */
        f.obj = s->base;
        f.span = s;
    }
    return f;
}

static inline uintptr_t tci_find_object(uintptr_t p, tci_span **sp, uint32_t *idxp)
{
    tci_found f = tci_find_object_v(p);
    if (f.obj) {
        *sp = f.span;
        *idxp = f.idx;
    }
    return f.obj;
}

/* The scavenger's page work (the policy is in scavenge.c). Returns free
 * pages to the OS, longest free runs first, until the heap retains at most
 * target_bytes (heap_sys - released), or no free page is left to return;
 * returns the bytes it released. heap_lock is dropped while the OS works,
 * so allocation goes on meanwhile. */
uint64_t tci_heap_scavenge(uint64_t target_bytes);
/* The most the heap may retain before an allocation that would grow it
 * past that first returns free pages itself (the memory limit, less what
 * is not heap); UINT64_MAX: no such bound. */
void tci_heap_set_retain_limit(uint64_t bytes);

/* Calls fn on every in-use span. Takes heap_lock; fn must not take it. */
/* The child of a fork, heap_lock held: runs the scavenger was returning
 * go back on the free lists (gc/fork.c). */
void tci_heap_fork_child_locked(void);
void tci_heap_for_each_span(void (*fn)(tci_span *s, void *arg), void *arg);

/* Spans in use (small and large). */
uint64_t tci_heap_nspans(void);

typedef struct tci_heap_stats {
    uint64_t sys_bytes;      /* arena bytes mapped, and huge objects' pages */
    uint64_t inuse_bytes;    /* bytes of in-use spans */
    uint64_t meta_bytes;     /* span structs, arena tables */
    uint64_t released_bytes;
    uint64_t fresh_bytes;    /* the never-used tail of the newest arena: mapped
                                address space no page of which was ever handed
                                out or touched (it holds no memory) */
} tci_heap_stats;
void tci_heap_read_stats(tci_heap_stats *out);
/* The most bytes in in-use spans since the last call (0: no span taken
 * since; the caller takes the larger of this and what is in use now), and a
 * new count from here: what the heap had to hold over a cycle, mark, sweep
 * and the allocation between them all in. Lock-free. */
uint64_t tci_heap_take_inuse_peak(void);

#endif
