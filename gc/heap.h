/* heap.h: arenas, the page map, spans and the page heap. */
#ifndef TCI_HEAP_H
#define TCI_HEAP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "atomic.h"
#include "sizeclass.h"

#define TCI_ARENA_SHIFT 26                        /* 64 MiB arenas, as Go */
#define TCI_ARENA_SIZE ((size_t)1 << TCI_ARENA_SHIFT)
#define TCI_ARENA_PAGES (TCI_ARENA_SIZE / TCI_PAGE_SIZE)
#define TCI_ADDR_BITS 48                          /* x86-64 / arm64 user space */
#define TCI_L1_ENTRIES ((size_t)1 << (TCI_ADDR_BITS - TCI_ARENA_SHIFT))
#define TCI_BITMAP_WORDS (TCI_MAX_SLOTS / 64)
/* Largest object: the address space allows 2^47; we stop at 2^46 so that
 * page counts and sums never overflow. */
#define TCI_MAX_OBJECT ((size_t)1 << 46)

enum tci_span_state {
    TCI_SPAN_FREE = 0,  /* in the page heap */
    TCI_SPAN_SMALL = 1, /* slots of one size class */
    TCI_SPAN_LARGE = 2, /* one object */
    TCI_SPAN_RELEASING = 3, /* free, off the free lists while the scavenger
                               returns its pages to the OS */
};

typedef struct tci_span tci_span;
struct tci_span {
    uintptr_t base;        /* first byte; immutable while in use */
    size_t npages;         /* protected by heap_lock while free */
    uint8_t state;         /* written under heap_lock (tci_span_set_state), read
                              without it by markers and by tc_object_base on any
                              thread (tci_span_state): atomic */
    uint8_t kind;          /* enum tci_kind */
    uint8_t sizeclass;     /* 0 for a large span */
    uint8_t needzero;      /* slots may hold old data; owner only */
    uint8_t in_cache;      /* a thread's cache owns it; owner only */
    uint8_t scavenged;     /* free spans: every page returned to the OS (a hint:
                              the arena's released bits are the truth); heap_lock */
    size_t elemsize;       /* slot bytes (large: npages * page) */
    tci_atomic eph_keys;   /* see eph_key_bits: here, in the line of the fields
                              a mark reads anyway, for its test of each span */
    uint32_t nelems;
    uint32_t div_mul;
    uint32_t nalloc;       /* allocated slots per alloc_bits, owner only */
    uint32_t type_id;      /* large precise objects: the type */
    uint32_t *types;       /* precise small spans: a type id per slot */
    tci_atomic sweepgen;   /* see sweep.c */
    /* The sweep generation whose specials this span's sweeper has settled
     * (gc/special.c: weak references to its unmarked objects cleared,
     * their finalizers queued): set with a release store by the sweeper
     * before it clears any mark bit, and when the span is put in use.
     * Behind tci_sweepgen, the mark bits still say what the last mark
     * found, which is what a handle's read goes by. */
    tci_atomic specials_sg;
    /* The weak references and finalizer records whose object lies in this
     * span, doubly linked through the records: protected by special_lock
     * (gc/special.c). nspecials counts them (written under special_lock,
     * read without it by the sweeper, which skips the lock at 0: a record
     * added meanwhile names a live object, which the sweep leaves alone). */
    struct tci_span_link *weaks, *fins;
    tci_atomic nspecials;
    /* Ephemeron keys (gc/special.c): one bit per slot whose object is the
     * key of an ephemeron filed during this mark and not yet found
     * marked; eph_keys counts them. Set by the filing pass, cleared
     * (atomic AND) by whoever marks the key, or by the sweeper for keys
     * left unmarked. */
    tci_atomic eph_key_bits[TCI_BITMAP_WORDS];
    tci_atomic profiled;   /* heap-profile samples among its objects (profile.c) */
    tci_span *next;        /* list link: central, large or free list */
    tci_span *prev;        /* free lists only */
    uint64_t alloc_bits[TCI_BITMAP_WORDS]; /* 1 = allocated; owner only */
    tci_atomic mark_bits[TCI_BITMAP_WORDS]; /* set by markers (atomic OR) */
};

/* An arena's table of the page map; or a huge object's, which every
 * first-level entry of its mapping shares (heap.c). */
typedef struct tci_arena {
    /* page -> span; written under heap_lock. First, on 16 whole pages: a
     * huge object's table returns them to the OS alone when it is freed. */
    tci_span *spans[TCI_ARENA_PAGES];
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
 * space, reserved (32 MiB of address space, committed as touched). */
extern tci_arena **tci_arena_map;
extern uintptr_t tci_heap_lo, tci_heap_hi; /* bounds of every arena, for a quick reject */

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
 * first page (heap.c's SKIP_BYTES): a huge object. */
static inline int tci_heap_is_huge(size_t npages)
{
    return npages > TCI_ARENA_PAGES - 1;
}

/* A span's state, read where a stale pointer may name a span that is
 * being freed, returned to the OS or reused (a marker's conservative
 * word, tc_object_base on any thread): atomic. The state is set last when
 * a span is put in use (release), and read first (acquire), so a reader
 * that sees SMALL or LARGE sees the fields set up before it. */
static inline int tci_span_state(const tci_span *s)
{
    return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

static inline void tci_span_set_state(tci_span *s, int state)
{
    __atomic_store_n(&s->state, (uint8_t)state, __ATOMIC_RELEASE);
}

/* Zeroes every field of s but its state, which readers may be loading. */
static inline void tci_span_clear_but_state(tci_span *s)
{
    size_t at = offsetof(tci_span, state);
    memset(s, 0, at);
    memset((char *)s + at + 1, 0, sizeof *s - at - 1);
}

static inline tci_span *tci_span_of(uintptr_t p)
{
    /* Relaxed atomic loads (plain moves): the heap grows and spans change
     * under heap_lock while a concurrent marker looks pointers up. */
    if (p < __atomic_load_n(&tci_heap_lo, __ATOMIC_RELAXED) ||
        p >= __atomic_load_n(&tci_heap_hi, __ATOMIC_RELAXED))
        return NULL;
    tci_arena *a = __atomic_load_n(&tci_arena_map[p >> TCI_ARENA_SHIFT], __ATOMIC_ACQUIRE);
    if (!a)
        return NULL;
    return __atomic_load_n(&a->spans[(p >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1)],
                           __ATOMIC_ACQUIRE);
}

/* Relaxed atomic: a cache may write a span's alloc_bits while a concurrent
 * marker reads them. */
static inline int tci_bit_get(const uint64_t *bits, uint32_t i)
{
    return (int)((__atomic_load_n(&bits[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1);
}

static inline int tci_mark_get(tci_span *s, uint32_t i)
{
    return (int)((tci_atomic_load_relaxed(&s->mark_bits[i / 64]) >> (i % 64)) & 1);
}

/* The slot index of object obj (its start) in span s. */
static inline uint32_t tci_span_index(const tci_span *s, uintptr_t obj)
{
    return (uint32_t)(((uint64_t)(obj - s->base) * s->div_mul) >> 32);
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
        uint32_t idx = (uint32_t)(((uint64_t)off * s->div_mul) >> 32);
        if (idx >= s->nelems || !tci_bit_get(s->alloc_bits, idx))
            return f;
        f.obj = s->base + (uintptr_t)idx * s->elemsize;
        f.span = s;
        f.idx = idx;
    } else if (st == TCI_SPAN_LARGE && __atomic_load_n(&s->nalloc, __ATOMIC_ACQUIRE)) {
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

#endif
