/* heap.c: arenas reserved from the OS, the page map, and the page heap that
 * hands out runs of pages as spans.
 *
 * Address space comes in 64 MiB arenas. The page map is two levels: a
 * first-level table with one entry per arena-sized chunk of the 48-bit
 * address space (reserved once, 32 MiB of address space that the OS commits
 * only where touched: 4 KiB per 512 arenas = 32 GiB of heap), and per arena a
 * table from page to span (64 KiB per 64 MiB arena, 0.1%). So "which span
 * holds address p" is two loads, whatever the heap's size, and a 64 GiB heap
 * needs nothing but more arenas.
 *
 * Free runs of pages are spans in state FREE, kept in doubly-linked lists by
 * length (1..TCI_FREE_LISTS-1 pages, then one list of longer runs searched
 * best-fit) and coalesced with free neighbours on release, found through the
 * page map (a free span maps its first and last page; pages inside a free
 * run may still name a run merged into it, which every lookup's range
 * check rejects). All of it is protected by heap_lock.
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
 * reused (and zeroed). Page-heap runs, in turn, never cross an arena:
 * every mapping of the page heap is one arena.
 *
 * Free pages can be returned to the OS (tci_heap_scavenge, the scavenger's
 * page work; the policy is scavenge.c's): madvise(MADV_DONTNEED) through
 * tci_os_release, after which a page holds no memory and reads as zeros.
 * Each arena keeps a bit per page, set while the page is free and
 * returned, so the accounting is exact however runs split and merge: a
 * span taken from the free lists clears its pages' bits (they will be
 * touched again), and needs no zeroing when every page was returned. A
 * free span's `scavenged` flag is only a hint, for the scavenger to skip
 * runs with nothing left to return. A run being returned is off the free
 * lists, in state RELEASING, so no neighbour merges with it and no
 * allocation takes it while heap_lock is dropped for the system call.
 */
#include "heap.h"

#include <errno.h>
#include <string.h>

#include "lock.h"
#include "os.h"

#define TCI_FREE_LISTS 128
#define SPAN_CHUNK (64 * 1024)

tci_arena **tci_arena_map;
uintptr_t tci_heap_lo = UINTPTR_MAX, tci_heap_hi = 0;

static tci_mutex heap_lock = TCI_MUTEX_INIT(TCI_RANK_HEAP, "heap_lock");
/* Everything below: protected by heap_lock. */
static tci_span *free_lists[TCI_FREE_LISTS]; /* [n]: runs of n pages; [0]: longer */
/* Each list's last run. Runs with pages still resident go in at the head,
 * runs returned whole to the OS at the tail: allocation (which takes the
 * head, or the best fit) reuses resident pages first, and the scavenger
 * finds what it can return by looking at the heads alone. */
static tci_span *free_tails[TCI_FREE_LISTS];
static tci_arena **arenas;                   /* every arena, for iteration */
/* Huge objects' tables (see the top): those in use, and those kept for
 * reuse with their spans[] returned to the OS; linked through huge_next
 * and huge_prev. */
static tci_arena *huge_used, *huge_kept;
static size_t narenas, arenas_cap;
static uintptr_t bump_next, bump_end;        /* never-used tail of the last arena */
static uint64_t sys_bytes, inuse_bytes, meta_bytes;
static uint64_t released_bytes;             /* free pages returned to the OS */
/* What tci_heap_read_stats returns, republished by every heap_lock holder
 * as it lets go (heap_unlock), under a sequence count: tc_read_memstats
 * reads the heap's figures without the lock, so it never waits behind a
 * scavenge's system calls or a collection. */
static tci_seqcount pub_seq;
static tci_atomic pub_sys, pub_inuse, pub_meta, pub_released, pub_fresh;

static void heap_unlock(void)
{
    tci_seq_write_begin(&pub_seq);
    tci_atomic_store_relaxed(&pub_sys, sys_bytes);
    tci_atomic_store_relaxed(&pub_inuse, inuse_bytes);
    /* Plus at most one touched 4 KiB page of the first level per arena. */
    tci_atomic_store_relaxed(&pub_meta, meta_bytes + narenas * 4096);
    tci_atomic_store_relaxed(&pub_released, released_bytes);
    tci_atomic_store_relaxed(&pub_fresh, bump_end - bump_next);
    tci_seq_write_end(&pub_seq);
    tci_mutex_unlock(&heap_lock); /* partner: every tci_mutex_lock(&heap_lock) */
}
/* Runs off the free lists while the scavenger returns them (heap_lock
 * dropped): an allocation that finds no room waits for them
 * (released_cond) rather than grow the heap beside memory that is about
 * to be free again. */
static int releasing_runs;
static uint64_t release_gen; /* + 1 at the end of each such system call */
static pthread_cond_t released_cond = PTHREAD_COND_INITIALIZER;
/* Allocations waiting for a piece: the scavenger lets them look again
 * before it takes the next piece (else it took the same run off the lists
 * again before they woke, and they grew the heap). */
static int alloc_waiters;
static pthread_cond_t waiters_cond = PTHREAD_COND_INITIALIZER;
static uint64_t retain_limit = UINT64_MAX;  /* see tci_heap_set_retain_limit */
static uint64_t nspans_inuse;

int tci_heap_init(void)
{
    tci_arena_map = tci_os_map(TCI_L1_ENTRIES * sizeof(tci_arena *));
    if (!tci_arena_map)
        return -1;
    return 0;
}

/* Span structs are carved from 64 KiB chunks one at a time, as needed:
 * threading a whole fresh chunk onto a free list touched every page of it
 * at once, which cost the allocation that did it 3 ms of page faults (heap
 * growth in the latency experiment). Each chunk (aligned to its size, its
 * header first) keeps its own freed structs and a count of those in use,
 * so the scavenger can give a chunk left with none in use back to the OS,
 * all but its header page: after a spike to 1 GiB of 1 KiB objects, 80 MB
 * of span structs were otherwise kept for good. (Releasing a chunk the
 * moment it emptied, inside the sweep, made the spike's program 3x slower:
 * a thousand system calls under the heap lock.) New structs come from the
 * chunks in use first (`avail`, a list with emptied chunks at its tail),
 * so the others can empty. All protected by heap_lock. */
typedef struct span_chunk span_chunk;
struct span_chunk {
    span_chunk *next, *prev; /* on `avail` while it has room */
    tci_span *free;          /* freed structs of this chunk */
    uint32_t carved;         /* structs carved so far */
    uint32_t inuse;
    int released;            /* emptied and returned to the OS, not carved since */
};
#define CHUNK_FIRST ((sizeof(span_chunk) + 63) & ~(size_t)63)
#define CHUNK_STRUCTS ((SPAN_CHUNK - CHUNK_FIRST) / sizeof(tci_span))
#define CHUNK_HEADER_PAGE 4096 /* what stays resident of an emptied chunk */
static span_chunk *avail_head, *avail_tail;

static void avail_remove(span_chunk *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        avail_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        avail_tail = c->prev;
    c->next = c->prev = NULL;
}

static void avail_push(span_chunk *c, int at_tail)
{
    c->next = c->prev = NULL;
    if (!avail_head) {
        avail_head = avail_tail = c;
    } else if (at_tail) {
        c->prev = avail_tail;
        avail_tail->next = c;
        avail_tail = c;
    } else {
        c->next = avail_head;
        avail_head->prev = c;
        avail_head = c;
    }
}

static int chunk_full(const span_chunk *c)
{
    return !c->free && c->carved == CHUNK_STRUCTS;
}

static tci_span *span_struct_alloc_locked(void)
{
    span_chunk *c = avail_head;
    if (!c) {
        c = tci_os_map_aligned(SPAN_CHUNK, SPAN_CHUNK, 0);
        if (!c)
            return NULL;
        meta_bytes += SPAN_CHUNK;
        avail_push(c, 0);
    }
    tci_span *s = c->free;
    if (s) {
        c->free = s->next;
    } else {
        if (c->released) {
            c->released = 0; /* an emptied chunk, in use again */
            meta_bytes += SPAN_CHUNK - CHUNK_HEADER_PAGE;
        }
        s = (tci_span *)((char *)c + CHUNK_FIRST) + c->carved++;
    }
    c->inuse++;
    if (chunk_full(c))
        avail_remove(c);
    tci_span_clear_but_state(s);
    return s;
}

static void insert_coalesced_locked(tci_span *s);

static void span_struct_free_locked(tci_span *s)
{
    span_chunk *c = (span_chunk *)((uintptr_t)s & ~(uintptr_t)(SPAN_CHUNK - 1));
    int was_full = chunk_full(c);
    tci_span_set_state(s, TCI_SPAN_FREE); /* a marker holding a stale pointer sees a free span */
    s->next = c->free;
    c->free = s;
    c->inuse--;
    if (was_full)
        avail_push(c, 0);
    if (c->inuse == 0) {
        /* Empty: to the tail, where the scavenger finds it. */
        avail_remove(c);
        avail_push(c, 1);
    }
}

/* The scavenger's part for span structs: every chunk with none in use goes
 * back to the OS, all but its header page (a marker still reading a stale
 * struct there reads zeros: a free span), to be carved again when needed.
 * Empty chunks wait at the tail of `avail`. */
static void release_empty_chunks_locked(void)
{
    for (span_chunk *c = avail_tail; c && c->inuse == 0 && !c->released; c = c->prev) {
        if (tci_os_release((char *)c + CHUNK_HEADER_PAGE, SPAN_CHUNK - CHUNK_HEADER_PAGE) != 0)
            break; /* the OS keeps them (locked memory): so do we */
        meta_bytes -= SPAN_CHUNK - CHUNK_HEADER_PAGE;
        c->free = NULL;
        c->carved = 0;
        c->released = 1;
    }
}

static tci_arena *arena_of(uintptr_t p)
{
    return tci_arena_map[p >> TCI_ARENA_SHIFT];
}

static void set_page(uintptr_t p, tci_span *s)
{
    __atomic_store_n(&arena_of(p)->spans[(p >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1)], s,
                     __ATOMIC_RELEASE);
}

static void map_free_span_locked(tci_span *s)
{
    set_page(s->base, s);
    set_page(s->base + ((s->npages - 1) << TCI_PAGE_SHIFT), s);
}

/* Every page of an in-use span maps to it (interior pointers of large
 * objects). Under heap_lock: a neighbour being freed reads these entries to
 * coalesce. */
static void map_span_locked(tci_span *s)
{
    for (size_t i = 0; i < s->npages; i++)
        set_page(s->base + (i << TCI_PAGE_SHIFT), s);
}

static void free_list_insert_locked(tci_span *s)
{
    size_t i = s->npages < TCI_FREE_LISTS ? s->npages : 0;
    if (s->scavenged && free_tails[i]) {
        s->next = NULL;
        s->prev = free_tails[i];
        free_tails[i]->next = s;
        free_tails[i] = s;
    } else {
        s->prev = NULL;
        s->next = free_lists[i];
        if (s->next)
            s->next->prev = s;
        else
            free_tails[i] = s;
        free_lists[i] = s;
    }
    tci_span_set_state(s, TCI_SPAN_FREE);
    map_free_span_locked(s);
}

static void free_list_remove_locked(tci_span *s)
{
    size_t i = s->npages < TCI_FREE_LISTS ? s->npages : 0;
    if (s->prev)
        s->prev->next = s->next;
    else
        free_lists[i] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        free_tails[i] = s->prev;
    s->next = s->prev = NULL;
}

/* Sets (mark_released_locked) or clears (unrelease_locked) the returned
 * bits of pages [base, base + npages) and returns how many changed; a
 * word of 64 pages is skipped whole where it can be. */
static size_t released_bits_locked(uintptr_t base, size_t npages, int set)
{
    size_t changed = 0;
    for (size_t i = 0; i < npages;) {
        uintptr_t p = base + (i << TCI_PAGE_SHIFT);
        tci_arena *a = arena_of(p);
        size_t pg = (p >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1);
        uint64_t *w = &a->released[pg / 64];
        if (pg % 64 == 0 && npages - i >= 64 && *w == (set ? ~(uint64_t)0 : 0)) {
            i += 64;
            continue;
        }
        uint64_t bit = (uint64_t)1 << (pg % 64);
        if (((*w & bit) != 0) != set) {
            *w ^= bit;
            changed++;
        }
        i++;
    }
    return changed;
}

static size_t mark_released_locked(uintptr_t base, size_t npages)
{
    return released_bits_locked(base, npages, 1);
}

static size_t unrelease_locked(uintptr_t base, size_t npages)
{
    return released_bits_locked(base, npages, 0);
}

/* A new mapping's first page is never used (SKIP_BYTES): the mapping's
 * base, 64 MiB aligned, is what the growing thread holds in its locals
 * and leaves in dead stack, where a later frame's unwritten slot can keep
 * it for a conservative scan; at the base it would find the first object
 * of the arena, and with it all that object reaches (a dropped
 * 10-million-node list in tests/test_mark.c, under ASan). An untouched
 * page costs no memory: it is address space, counted nowhere. */
#define SKIP_BYTES ((uintptr_t)TCI_PAGE_SIZE)
_Static_assert(SKIP_BYTES == TCI_PAGE_SIZE, "tci_heap_is_huge counts one skipped page");

/* Maps `bytes` (a multiple of 64 MiB) 64 MiB aligned, at hint if free (0:
 * anywhere), below the 2^48 the page map covers; NULL on failure. */
static char *map_arenas(size_t bytes, uintptr_t hint)
{
    char *mem = tci_os_map_aligned(bytes, TCI_ARENA_SIZE, hint);
    if (mem && (uintptr_t)mem + bytes > ((uintptr_t)1 << TCI_ADDR_BITS)) {
        tci_os_unmap(mem, bytes);
        return NULL;
    }
    return mem;
}

static void widen_bounds_locked(uintptr_t lo, uintptr_t hi)
{
    if (lo < tci_heap_lo)
        __atomic_store_n(&tci_heap_lo, lo, __ATOMIC_RELAXED);
    if (hi > tci_heap_hi)
        __atomic_store_n(&tci_heap_hi, hi, __ATOMIC_RELAXED);
}

/* Maps a new arena for the page heap: one, since every run it hands out
 * fits in one (longer ones are huge). */
static int grow_locked(void)
{
    char *mem = map_arenas(TCI_ARENA_SIZE, 0);
    if (!mem)
        return -1;
    if (narenas == arenas_cap) {
        size_t cap = arenas_cap ? arenas_cap * 2 : 64;
        tci_arena **na = tci_os_map(cap * sizeof *na);
        if (!na) {
            tci_os_unmap(mem, TCI_ARENA_SIZE);
            return -1;
        }
        if (arenas) {
            memcpy(na, arenas, narenas * sizeof *na);
            tci_os_unmap(arenas, arenas_cap * sizeof *arenas);
            meta_bytes -= arenas_cap * sizeof *arenas;
        }
        meta_bytes += cap * sizeof *na;
        arenas = na;
        arenas_cap = cap;
    }
    tci_arena *a = tci_os_map(sizeof *a);
    if (!a) {
        tci_os_unmap(mem, TCI_ARENA_SIZE);
        return -1;
    }
    meta_bytes += sizeof *a;
    a->base = (uintptr_t)mem;
    __atomic_store_n(&tci_arena_map[a->base >> TCI_ARENA_SHIFT], a, __ATOMIC_RELEASE);
    arenas[narenas++] = a;
    sys_bytes += TCI_ARENA_SIZE - SKIP_BYTES;
    widen_bounds_locked((uintptr_t)mem, (uintptr_t)mem + TCI_ARENA_SIZE);
    /* The old bump tail becomes an ordinary free run. Never touched, it
     * holds no memory: its pages count as returned to the OS. */
    if (bump_end > bump_next) {
        tci_span *t = span_struct_alloc_locked();
        if (t) {
            t->base = bump_next;
            t->npages = (bump_end - bump_next) >> TCI_PAGE_SHIFT;
            t->needzero = 0;
            t->scavenged = 1;
            released_bytes += (uint64_t)mark_released_locked(t->base, t->npages) << TCI_PAGE_SHIFT;
            free_list_insert_locked(t);
        }
    }
    bump_next = (uintptr_t)mem + SKIP_BYTES;
    bump_end = (uintptr_t)mem + TCI_ARENA_SIZE;
    return 0;
}

static tci_span *take_free_locked(size_t npages)
{
    tci_span *s = NULL;
    for (size_t i = npages; i < TCI_FREE_LISTS && !s; i++)
        s = free_lists[i];
    if (!s) {
        for (tci_span *c = free_lists[0]; c; c = c->next)
            if (c->npages >= npages && (!s || c->npages < s->npages))
                s = c;
    }
    if (!s)
        return NULL;
    free_list_remove_locked(s);
    if (s->npages > npages) {
        tci_span *rest = span_struct_alloc_locked();
        if (!rest) {
            free_list_insert_locked(s);
            return NULL;
        }
        rest->base = s->base + (npages << TCI_PAGE_SHIFT);
        rest->npages = s->npages - npages;
        rest->needzero = s->needzero;
        rest->scavenged = s->scavenged;
        s->npages = npages;
        free_list_insert_locked(rest);
    }
    return s;
}

static void release_for_limit_locked(uint64_t bytes);

/* ---- Huge objects (see the top) ------------------------------------------ */

/* The mapping of a huge object of npages pages: its skipped first page and
 * its pages, to a multiple of 64 MiB (the untouched tail is address space). */
static size_t huge_map_bytes(size_t npages)
{
    size_t bytes = (npages << TCI_PAGE_SHIFT) + SKIP_BYTES;
    return (bytes + TCI_ARENA_SIZE - 1) & ~(TCI_ARENA_SIZE - 1);
}

/* The first-level pages that entries [first, first + n) lie on, as bytes:
 * what a huge object's entries touch (meta_bytes counts them while it
 * lives). */
static uint64_t l1_bytes(size_t first, size_t n)
{
    uintptr_t lo = (uintptr_t)&tci_arena_map[first] & ~(uintptr_t)4095;
    uintptr_t hi = ((uintptr_t)&tci_arena_map[first + n] + 4095) & ~(uintptr_t)4095;
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
 * new one. meta_bytes counts a table in use whole, a kept one without the
 * spans[] it returned. */
static tci_arena *huge_table_take_locked(void)
{
    tci_arena *t = huge_kept;
    if (t) {
        huge_list_remove(&huge_kept, t);
        if (t->spans_returned)
            meta_bytes += sizeof t->spans;
        return t;
    }
    t = tci_os_map(sizeof *t);
    if (t)
        meta_bytes += sizeof *t;
    return t;
}

/* Keeps table t, named by no first-level entry any more, for the next huge
 * object: its spans[] go back to the OS and read as zeros. */
static void huge_table_keep_locked(tci_arena *t)
{
    t->huge = NULL;
    t->spans_returned = tci_os_release(t->spans, sizeof t->spans) == 0;
    if (t->spans_returned)
        meta_bytes -= sizeof t->spans;
    else
        for (size_t i = 0; i < TCI_ARENA_PAGES; i++) /* the OS keeps them: zeros by hand */
            __atomic_store_n(&t->spans[i], NULL, __ATOMIC_RELEASE);
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
static tci_span *alloc_huge(size_t npages)
{
    size_t bytes = huge_map_bytes(npages);
    tci_mutex_lock(&heap_lock); /* released below */
    if (!huge_used)
        huge_hint = HUGE_HINT;
    char *mem = map_arenas(bytes, huge_hint);
    if (!mem) {
        heap_unlock();
        return NULL;
    }
    huge_hint = (uintptr_t)mem == huge_hint ? huge_hint + bytes : HUGE_HINT;
    if (retain_limit != UINT64_MAX)
        release_for_limit_locked((uint64_t)npages << TCI_PAGE_SHIFT);
    tci_arena *t = huge_table_take_locked();
    tci_span *s = t ? span_struct_alloc_locked() : NULL;
    if (!s) {
        if (t)
            huge_table_keep_locked(t);
        tci_os_unmap(mem, bytes);
        heap_unlock();
        return NULL;
    }
    s->base = (uintptr_t)mem + SKIP_BYTES;
    s->npages = npages;
    tci_span_set_state(s, TCI_SPAN_LARGE);
    t->base = (uintptr_t)mem;
    t->huge = s;
    /* Atomic: a reader that loaded a first-level entry of this table's
     * last object may still read it (see the top). */
    for (size_t i = 0; i < TCI_ARENA_PAGES; i++)
        __atomic_store_n(&t->spans[i], s, __ATOMIC_RELEASE);
    size_t first = (uintptr_t)mem >> TCI_ARENA_SHIFT, n = bytes >> TCI_ARENA_SHIFT;
    for (size_t i = 0; i < n; i++)
        __atomic_store_n(&tci_arena_map[first + i], t, __ATOMIC_RELEASE);
    widen_bounds_locked((uintptr_t)mem, (uintptr_t)mem + bytes);
    huge_list_push(&huge_used, t);
    meta_bytes += l1_bytes(first, n);
    sys_bytes += npages << TCI_PAGE_SHIFT;
    inuse_bytes += npages << TCI_PAGE_SHIFT;
    nspans_inuse++;
    heap_unlock();
    return s;
}

/* Frees huge span s: no first-level entry names its table when its memory
 * goes (see the top for the reader who loaded one just before). */
static void free_huge(tci_span *s)
{
    tci_mutex_lock(&heap_lock); /* released below */
    tci_arena *t = arena_of(s->base);
    uintptr_t mem = t->base;
    size_t bytes = huge_map_bytes(s->npages);
    size_t first = mem >> TCI_ARENA_SHIFT, n = bytes >> TCI_ARENA_SHIFT;
    for (size_t i = 0; i < n; i++)
        __atomic_store_n(&tci_arena_map[first + i], NULL, __ATOMIC_RELEASE);
    meta_bytes -= l1_bytes(first, n);
    /* The first-level pages only this object's entries were on read as
     * zeros (NULL) once returned, as they read now. */
    uintptr_t lo = ((uintptr_t)&tci_arena_map[first] + 4095) & ~(uintptr_t)4095;
    uintptr_t hi = (uintptr_t)&tci_arena_map[first + n] & ~(uintptr_t)4095;
    if (hi > lo)
        tci_os_release((void *)lo, hi - lo);
    huge_list_remove(&huge_used, t);
    huge_table_keep_locked(t);
    sys_bytes -= s->npages << TCI_PAGE_SHIFT;
    inuse_bytes -= s->npages << TCI_PAGE_SHIFT;
    nspans_inuse--;
    span_struct_free_locked(s);
    heap_unlock();
    tci_os_unmap((void *)mem, bytes); /* no entry names it: without the lock */
}

tci_span *tci_heap_alloc_span(size_t npages, int state, int *needzero)
{
    if (tci_heap_is_huge(npages)) {
        *needzero = 0;
        tci_span *s = state == TCI_SPAN_LARGE ? alloc_huge(npages) : NULL;
        if (!s)
            errno = ENOMEM;
        return s;
    }
    tci_mutex_lock(&heap_lock); /* released below on every path */
    tci_span *s = take_free_locked(npages);
    if (!s && releasing_runs > 0) {
        /* Wait for the pieces in flight now, once (not for the whole
         * scavenge: this thread is not at a safepoint), then look again. */
        uint64_t gen = release_gen;
        alloc_waiters++;
        while (releasing_runs > 0 && release_gen == gen)
            tci_cond_wait(&released_cond, &heap_lock);
        s = take_free_locked(npages);
        if (--alloc_waiters == 0)
            pthread_cond_broadcast(&waiters_cond);
    }
    int release_after = 0;
    if (s) {
        /* Its returned pages come back (the program will touch them):
         * zeros, so a run made only of them needs no zeroing. Coming back
         * they count again; under the memory limit others go first, once
         * s is in use (below): a run returned meanwhile, put back and
         * merged with its free neighbours, would otherwise take s, still
         * FREE and off the lists, for one of them. */
        size_t back = unrelease_locked(s->base, npages);
        released_bytes -= (uint64_t)back << TCI_PAGE_SHIFT;
        if (back == npages)
            s->needzero = 0;
        release_after = back && retain_limit != UINT64_MAX;
    } else if (retain_limit != UINT64_MAX) {
        release_for_limit_locked((uint64_t)npages << TCI_PAGE_SHIFT);
    }
    if (!s) {
        if (bump_end - bump_next < (npages << TCI_PAGE_SHIFT) && grow_locked() != 0) {
            heap_unlock();
            errno = ENOMEM;
            return NULL;
        }
        s = span_struct_alloc_locked();
        if (!s) {
            heap_unlock();
            errno = ENOMEM;
            return NULL;
        }
        s->base = bump_next;
        s->npages = npages;
        s->needzero = 0;
        bump_next += npages << TCI_PAGE_SHIFT;
    }
    *needzero = s->needzero;
    inuse_bytes += npages << TCI_PAGE_SHIFT;
    nspans_inuse++;
    uintptr_t base = s->base;
    uint8_t nz = s->needzero;
    tci_span_clear_but_state(s);
    s->base = base;
    s->npages = npages;
    s->needzero = nz;
    /* In use from here on, before the lock is dropped: a neighbour freed
     * next must not take these pages for a free run to merge with. */
    tci_span_set_state(s, state);
    map_span_locked(s);
    if (release_after)
        release_for_limit_locked(0);
    heap_unlock();
    return s;
}

void tci_heap_free_span(tci_span *s)
{
    if (tci_heap_is_huge(s->npages)) {
        free_huge(s);
        return;
    }
    tci_mutex_lock(&heap_lock); /* released at the end */
    inuse_bytes -= s->npages << TCI_PAGE_SHIFT;
    nspans_inuse--;
    for (size_t i = 0; i < s->npages; i++)
        set_page(s->base + (i << TCI_PAGE_SHIFT), NULL);
    s->needzero = 1;
    s->scavenged = 0;
    tci_span_set_state(s, TCI_SPAN_FREE);
    s->nalloc = 0;
    insert_coalesced_locked(s);
    heap_unlock();
}

/* Puts free span s on the free lists, merged with its free neighbours in
 * its arena (a run never crosses one: see grow_locked). */
static void insert_coalesced_locked(tci_span *s)
{
    tci_arena *a = arena_of(s->base);
    /* Coalesce with the free run just before, within the same arena. */
    if ((s->base & (TCI_ARENA_SIZE - 1)) != 0) {
        uintptr_t prevp = s->base - TCI_PAGE_SIZE;
        tci_span *p = a->spans[(prevp >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1)];
        if (p && tci_span_state(p) == TCI_SPAN_FREE && p != s) {
            free_list_remove_locked(p);
            set_page(p->base, NULL);
            set_page(p->base + ((p->npages - 1) << TCI_PAGE_SHIFT), NULL);
            s->base = p->base;
            s->npages += p->npages;
            s->needzero |= p->needzero;
            s->scavenged &= p->scavenged;
            span_struct_free_locked(p);
        }
    }
    uintptr_t end = s->base + (s->npages << TCI_PAGE_SHIFT);
    if ((end & (TCI_ARENA_SIZE - 1)) != 0) {
        tci_span *n = a->spans[(end >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1)];
        if (n && tci_span_state(n) == TCI_SPAN_FREE && n != s) {
            free_list_remove_locked(n);
            set_page(n->base, NULL);
            set_page(n->base + ((n->npages - 1) << TCI_PAGE_SHIFT), NULL);
            s->npages += n->npages;
            s->needzero |= n->needzero;
            s->scavenged &= n->scavenged;
            span_struct_free_locked(n);
        }
    }
    free_list_insert_locked(s);
}

void tci_heap_for_each_span(void (*fn)(tci_span *s, void *arg), void *arg)
{
    tci_mutex_lock(&heap_lock); /* released at the end */
    for (size_t i = 0; i < narenas; i++) {
        tci_arena *a = arenas[i];
        for (size_t pg = 0; pg < TCI_ARENA_PAGES;) {
            tci_span *s = a->spans[pg];
            if (s && (tci_span_state(s) == TCI_SPAN_SMALL || tci_span_state(s) == TCI_SPAN_LARGE) &&
                s->base == a->base + (pg << TCI_PAGE_SHIFT)) {
                fn(s, arg);
                pg += s->npages;
            } else {
                pg++;
            }
        }
    }
    for (tci_arena *t = huge_used; t; t = t->huge_next)
        fn(t->huge, arg);
    heap_unlock();
}

uint64_t tci_heap_nspans(void)
{
    tci_mutex_lock(&heap_lock); /* released below */
    uint64_t n = nspans_inuse;
    heap_unlock();
    return n;
}

void tci_heap_read_stats(tci_heap_stats *out)
{
    for (;;) {
        uintptr_t v = tci_seq_read_begin(&pub_seq);
        out->sys_bytes = tci_atomic_load_relaxed(&pub_sys);
        out->inuse_bytes = tci_atomic_load_relaxed(&pub_inuse);
        out->meta_bytes = tci_atomic_load_relaxed(&pub_meta);
        out->released_bytes = tci_atomic_load_relaxed(&pub_released);
        out->fresh_bytes = tci_atomic_load_relaxed(&pub_fresh);
        if (!tci_seq_read_retry(&pub_seq, v))
            return;
    }
}

/* ---- Returning free pages to the OS ------------------------------------- */

/* The scavenger returns at most this much per system call with the lock
 * dropped (4 MiB): an allocation that needs those pages waits for one
 * call, not for a gigabyte's (120-280 ms here). */
#define RELEASE_MAX_PAGES ((size_t)512)

/* The heap's retained bytes: carved from the arenas (the untouched bump
 * tail is not), less what was returned. */
static uint64_t retained_locked(void)
{
    return sys_bytes - (bump_end - bump_next) - released_bytes;
}

/* A free run with pages still to return: the longest runs first (one
 * system call returns the most), from the list of long runs, then the
 * exact-length lists from the longest down. */
static tci_span *pick_unreturned_locked(void)
{
    /* Resident runs sit before returned ones in every list (see
     * free_tails): a list's head tells whether it has one. */
    if (free_lists[0] && !free_lists[0]->scavenged)
        return free_lists[0];
    for (size_t i = TCI_FREE_LISTS - 1; i > 0; i--)
        if (free_lists[i] && !free_lists[i]->scavenged)
            return free_lists[i];
    return NULL;
}

/* Returns the pages of free run s to the OS. With drop_lock, heap_lock is
 * released around the system call (s is off the lists meanwhile, in state
 * RELEASING); without, the call is made holding it (the synchronous path,
 * inside an allocation that must not let another take the pages it is
 * making room with). Returns the bytes newly released. */
/* The first page of [base, base + npages) not yet returned, as an index
 * from base; npages when there is none. */
static size_t first_unreturned_locked(uintptr_t base, size_t npages)
{
    for (size_t i = 0; i < npages;) {
        uintptr_t p = base + (i << TCI_PAGE_SHIFT);
        size_t pg = (p >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1);
        uint64_t word = arena_of(p)->released[pg / 64];
        uint64_t rest = ~(uint64_t)0 << (pg % 64); /* this page and the word's next */
        if ((word & rest) == rest) {
            i += 64 - pg % 64; /* all returned */
            continue;
        }
        if (!(word & ((uint64_t)1 << (pg % 64))))
            return i;
        i++;
    }
    return npages;
}

/* Returns pages of free run s to the OS: its first RELEASE_MAX_PAGES not
 * yet returned. With drop_lock, heap_lock is released around the system
 * call (s is off the lists meanwhile, in state RELEASING, and an
 * allocation that finds no room waits for it: see releasing_runs);
 * without, the call is made holding it (the synchronous path, inside an
 * allocation that must not let another take the pages it is making room
 * with). Every call returns at least one page or marks s as having none
 * left, so the scavenger's loop ends even when merges lose the hint.
 * Returns the bytes newly released. */
static uint64_t release_run_locked(tci_span *s, int drop_lock)
{
    free_list_remove_locked(s);
    size_t first = first_unreturned_locked(s->base, s->npages);
    if (first == s->npages) {
        s->scavenged = 1;
        free_list_insert_locked(s);
        return 0;
    }
    size_t n = s->npages - first < RELEASE_MAX_PAGES ? s->npages - first : RELEASE_MAX_PAGES;
    uintptr_t from = s->base + (first << TCI_PAGE_SHIFT);
    tci_span_set_state(s, TCI_SPAN_RELEASING);
    if (drop_lock) {
        releasing_runs++;
        heap_unlock();
    }
    int ok = tci_os_release((void *)from, n << TCI_PAGE_SHIFT) == 0;
    if (drop_lock) {
        tci_mutex_lock(&heap_lock);
        releasing_runs--;
        release_gen++;
        pthread_cond_broadcast(&released_cond);
    }
    int let_waiters_in = drop_lock && alloc_waiters > 0;
    uint64_t newly = 0;
    if (!ok) {
        /* Not returned (locked memory; an OS page larger than ours): the
         * pages keep their contents, and this run is not tried again
         * until it is freed anew. */
        s->scavenged = 1;
    } else {
        newly = (uint64_t)mark_released_locked(from, n) << TCI_PAGE_SHIFT;
        released_bytes += newly;
        /* Pages before `first` were returned already: only the rest of
         * the run past this piece needs looking at. */
        size_t after = first + n;
        if (first_unreturned_locked(s->base + (after << TCI_PAGE_SHIFT), s->npages - after) ==
            s->npages - after) {
            s->needzero = 0; /* every page reads as zeros now */
            s->scavenged = 1;
        }
    }
    tci_span_set_state(s, TCI_SPAN_FREE);
    insert_coalesced_locked(s);
    while (let_waiters_in && alloc_waiters > 0)
        tci_cond_wait(&waiters_cond, &heap_lock);
    return newly;
}

/* An allocation of `bytes` that would take the heap past retain_limit
 * returns free pages first, holding heap_lock. */
static void release_for_limit_locked(uint64_t bytes)
{
    while (retained_locked() + bytes > retain_limit) {
        tci_span *s = pick_unreturned_locked();
        if (!s)
            return;
        release_run_locked(s, 0);
    }
}

uint64_t tci_heap_scavenge(uint64_t target_bytes)
{
    uint64_t got = 0;
    tci_mutex_lock(&heap_lock); /* released below (and around each release) */
    release_empty_chunks_locked();
    /* No more than was over the target at the start: threads freeing
     * spans meanwhile make new runs to return, and would keep a target
     * of 0 going as long as they free. */
    uint64_t r = retained_locked();
    uint64_t budget = r > target_bytes ? r - target_bytes : 0;
    while (got < budget && retained_locked() > target_bytes) {
        tci_span *s = pick_unreturned_locked();
        if (!s && releasing_runs > 0) {
            /* Another scavenge (the scavenger's thread, or
             * tc_release_memory) holds runs off the lists: wait for its
             * piece, then look again. It holds nothing while it waits for
             * us, so this ends. */
            uint64_t gen = release_gen;
            while (releasing_runs > 0 && release_gen == gen)
                tci_cond_wait(&released_cond, &heap_lock);
            continue;
        }
        if (!s)
            break;
        got += release_run_locked(s, 1);
    }
    heap_unlock();
    return got;
}

void tci_heap_set_retain_limit(uint64_t bytes)
{
    tci_mutex_lock(&heap_lock); /* released below */
    retain_limit = bytes;
    heap_unlock();
}
