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
 * An object too long for an arena is huge: it gets a mapping of its own
 * (gc/heap_huge.c), so page-heap runs never cross an arena: every mapping
 * of the page heap is one arena. Free pages go back to the OS through
 * gc/heap_scavenge.c, which keeps the arenas' bits of returned pages. The
 * state the three files share, and the functions each calls of the
 * others, are in gc/heap_internal.h, all of it under heap_lock.
 */
#include "fork.h"
#include "heap.h"

#include <errno.h>
#include <string.h>

#include "heap_internal.h"

/* Bytes allocated since the last mark plus what it marked: the heap size
 * the trigger and the goal are compared with (gc.h). Atomic adds. */
tci_atomic tci_heap_live;
#include "lock.h"
#include "os.h"

#define SPAN_CHUNK (64 * 1024)

tci_arena **tci_heap_arena_map;
uintptr_t tci_heap_lo = UINTPTR_MAX, tci_heap_hi = 0;

tci_mutex tci_heap_lock = TCI_MUTEX_INIT(TCI_RANK_HEAP, "heap_lock");
TCI_FORK_LOCK(tci_heap_lock)
/* Everything below: protected by heap_lock. */
tci_span *tci_heap_free_lists[TCI_FREE_LISTS];
/* Each list's last run. Runs with pages still resident go in at the head,
 * runs returned whole to the OS at the tail: allocation (which takes the
 * head, or the best fit) reuses resident pages first, and the scavenger
 * finds what it can return by looking at the heads alone. */
static tci_span *free_tails[TCI_FREE_LISTS];
static tci_arena **arenas;                   /* every arena, for iteration */
static size_t narenas, arenas_cap;
uintptr_t tci_heap_bump_next, tci_heap_bump_end;
uint64_t tci_heap_sys_bytes, tci_heap_inuse_bytes, tci_heap_meta_bytes;
uint64_t tci_heap_released_bytes;
/* What tci_heap_read_stats returns, republished by every heap_lock holder
 * as it lets go (tci_heap_unlock), under a sequence count: tc_read_memstats
 * reads the heap's figures without the lock, so it never waits behind a
 * scavenge's system calls or a collection. */
static tci_seqcount pub_seq;
static tci_atomic pub_sys, pub_inuse, pub_meta, pub_released, pub_fresh;

/* The most tci_heap_inuse_bytes reached since tci_heap_take_inuse_peak
 * (0: no span taken since): raised under heap_lock, taken without it. */
static tci_atomic inuse_peak;

uint64_t tci_heap_take_inuse_peak(void)
{
    uintptr_t peak = tci_atomic_load_relaxed(&inuse_peak);
    while (!tci_atomic_cas_full(&inuse_peak, peak, 0))
        peak = tci_atomic_load_relaxed(&inuse_peak);
    return peak;
}

void tci_heap_unlock(void)
{
    tci_seq_write_begin(&pub_seq);
    tci_atomic_store_relaxed(&pub_sys, tci_heap_sys_bytes);
    tci_atomic_store_relaxed(&pub_inuse, tci_heap_inuse_bytes);
    /* Plus at most one touched 4 KiB page of the first level per arena. */
    tci_atomic_store_relaxed(&pub_meta, tci_heap_meta_bytes + narenas * 4096);
    tci_atomic_store_relaxed(&pub_released, tci_heap_released_bytes);
    tci_atomic_store_relaxed(&pub_fresh, tci_heap_bump_end - tci_heap_bump_next);
    tci_seq_write_end(&pub_seq);
    tci_mutex_unlock(&tci_heap_lock); /* partner: every tci_mutex_lock(&tci_heap_lock) */
}
/* See heap_internal.h. */
int tci_heap_releasing_runs;
uint64_t tci_heap_release_gen;
pthread_cond_t tci_heap_released_cond = PTHREAD_COND_INITIALIZER;
TCI_FORK_COND(tci_heap_released_cond, tci_heap_released_cond)
int tci_heap_alloc_waiters;
pthread_cond_t tci_heap_waiters_cond = PTHREAD_COND_INITIALIZER;
TCI_FORK_COND(tci_heap_waiters_cond, tci_heap_waiters_cond)
uint64_t tci_heap_retain_limit = UINT64_MAX;
uint64_t tci_heap_nspans_inuse;

int tci_heap_init(void)
{
    tci_heap_arena_map = tci_os_map(TCI_L1_ENTRIES * sizeof(tci_arena *));
    if (!tci_heap_arena_map)
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

tci_span *tci_heap_span_struct_alloc_locked(void)
{
    tci_assert_held(&tci_heap_lock);
    span_chunk *c = avail_head;
    if (!c) {
        c = tci_os_map_aligned(SPAN_CHUNK, SPAN_CHUNK, 0);
        if (!c)
            return NULL;
        tci_heap_meta_bytes += SPAN_CHUNK;
        avail_push(c, 0);
    }
    tci_span *s = c->free;
    if (s) {
        c->free = s->next;
    } else {
        if (c->released) {
            c->released = 0; /* an emptied chunk, in use again */
            tci_heap_meta_bytes += SPAN_CHUNK - CHUNK_HEADER_PAGE;
        }
        s = (tci_span *)((char *)c + CHUNK_FIRST) + c->carved++;
    }
    c->inuse++;
    if (chunk_full(c))
        avail_remove(c);
    tci_span_clear_but_state(s);
    return s;
}

void tci_heap_span_struct_free_locked(tci_span *s)
{
    tci_assert_held(&tci_heap_lock);
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
void tci_heap_release_empty_chunks_locked(void)
{
    tci_assert_held(&tci_heap_lock);
    for (span_chunk *c = avail_tail; c && c->inuse == 0 && !c->released; c = c->prev) {
        if (tci_os_release((char *)c + CHUNK_HEADER_PAGE, SPAN_CHUNK - CHUNK_HEADER_PAGE) != 0)
            break; /* the OS keeps them (locked memory): so do we */
        tci_heap_meta_bytes -= SPAN_CHUNK - CHUNK_HEADER_PAGE;
        c->free = NULL;
        c->carved = 0;
        c->released = 1;
    }
}

static void set_page(uintptr_t p, tci_span *s)
{
    /* Release: partner tci_span_of's acquire load (the span's fields set
     * up before the page names it). */
    tci_ptr_store_release(
        &tci_heap_arena_of(p)->spans[(p >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1)], s);
}

static void map_free_span_locked(tci_span *s)
{
    tci_assert_held(&tci_heap_lock);
    set_page(s->base, s);
    set_page(s->base + ((s->npages - 1) << TCI_PAGE_SHIFT), s);
}

/* Every page of an in-use span maps to it (interior pointers of large
 * objects). Under heap_lock: a neighbour being freed reads these entries to
 * coalesce. */
static void map_span_locked(tci_span *s)
{
    tci_assert_held(&tci_heap_lock);
    for (size_t i = 0; i < s->npages; i++)
        set_page(s->base + (i << TCI_PAGE_SHIFT), s);
}

void tci_heap_free_list_insert_locked(tci_span *s)
{
    tci_assert_held(&tci_heap_lock);
    size_t i = s->npages < TCI_FREE_LISTS ? s->npages : 0;
    if (s->scavenged == TCI_RUN_RETURNED && free_tails[i]) {
        s->next = NULL;
        s->prev = free_tails[i];
        free_tails[i]->next = s;
        free_tails[i] = s;
    } else {
        s->prev = NULL;
        s->next = tci_heap_free_lists[i];
        if (s->next)
            s->next->prev = s;
        else
            free_tails[i] = s;
        tci_heap_free_lists[i] = s;
    }
    tci_span_set_state(s, TCI_SPAN_FREE);
    map_free_span_locked(s);
}

void tci_heap_free_list_remove_locked(tci_span *s)
{
    tci_assert_held(&tci_heap_lock);
    size_t i = s->npages < TCI_FREE_LISTS ? s->npages : 0;
    if (s->prev)
        s->prev->next = s->next;
    else
        tci_heap_free_lists[i] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        free_tails[i] = s->prev;
    s->next = s->prev = NULL;
}

/* Maps `bytes` (a multiple of 64 MiB) 64 MiB aligned, at hint if free (0:
 * anywhere), below the 2^48 the page map covers; NULL on failure. */
char *tci_heap_map_arenas(size_t bytes, uintptr_t hint)
{
    char *mem = tci_os_map_aligned(bytes, TCI_ARENA_SIZE, hint);
    if (mem && (uintptr_t)mem + bytes > ((uintptr_t)1 << TCI_ADDR_BITS)) {
        tci_os_unmap(mem, bytes);
        return NULL;
    }
    return mem;
}

void tci_heap_widen_bounds_locked(uintptr_t lo, uintptr_t hi)
{
    tci_assert_held(&tci_heap_lock);
    if (lo < tci_heap_lo)
        tci_uptr_store_relaxed(&tci_heap_lo, lo);
    if (hi > tci_heap_hi)
        tci_uptr_store_relaxed(&tci_heap_hi, hi);
}

/* Where the page heap's arenas go, if the OS lets us, as huge objects go
 * to their own hint (gc/heap_huge.c says why): the OS's own choice is the
 * highest free range, just below the shared libraries, often in the 4 GiB
 * window of libc's own addresses, and words made of such an address's
 * upper half over other low bits lie in stack frames. One such word, from
 * before tc_init, kept a dropped object alive when the OS put the first
 * arena at the window's start (tests/test_weak_field.c, 1 run in 30-50).
 * First from 384 GiB (0x60 << 32: no text word and no small number or
 * power of two looks like it, and it is in ThreadSanitizer's low
 * application range), else from 20 TiB (0x14 << 40: above AddressSanitizer's
 * shadow, whose gap covers the first, and 2 TiB above the huge objects'
 * hint); else where the OS puts it. Each cursor moves past the arenas
 * mapped at it. Protected by heap_lock. */
static uintptr_t arena_hint[] = { (uintptr_t)0x60 << 32, (uintptr_t)0x14 << 40 };
#define ARENA_HINTS (sizeof arena_hint / sizeof arena_hint[0])

static char *map_arena_locked(void)
{
    tci_assert_held(&tci_heap_lock);
    char *mem = NULL;
    for (size_t i = 0; i < ARENA_HINTS; i++) {
        if (mem)
            tci_os_unmap(mem, TCI_ARENA_SIZE); /* the last hint's was elsewhere */
        mem = tci_heap_map_arenas(TCI_ARENA_SIZE, arena_hint[i]);
        if (!mem)
            return NULL;
        if ((uintptr_t)mem == arena_hint[i]) {
            arena_hint[i] += TCI_ARENA_SIZE;
            return mem;
        }
    }
    return mem; /* every hint taken: where the OS put it */
}

/* Maps a new arena for the page heap: one, since every run it hands out
 * fits in one (longer ones are huge). */
static int grow_locked(void)
{
    tci_assert_held(&tci_heap_lock);
    char *mem = map_arena_locked();
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
            tci_heap_meta_bytes -= arenas_cap * sizeof *arenas;
        }
        tci_heap_meta_bytes += cap * sizeof *na;
        arenas = na;
        arenas_cap = cap;
    }
    tci_arena *a = tci_os_map(sizeof *a);
    if (!a) {
        tci_os_unmap(mem, TCI_ARENA_SIZE);
        return -1;
    }
    tci_heap_meta_bytes += sizeof *a;
    a->base = (uintptr_t)mem;
    /* Release: partner tci_span_of's acquire load of the arena map. */
    tci_ptr_store_release(&tci_heap_arena_map[a->base >> TCI_ARENA_SHIFT], a);
    arenas[narenas++] = a;
    tci_heap_sys_bytes += TCI_ARENA_SIZE - TCI_HEAP_SKIP_BYTES;
    tci_heap_widen_bounds_locked((uintptr_t)mem, (uintptr_t)mem + TCI_ARENA_SIZE);
    /* The old bump tail becomes an ordinary free run. Never touched, it
     * holds no memory: its pages count as returned to the OS. */
    if (tci_heap_bump_end > tci_heap_bump_next) {
        tci_span *t = tci_heap_span_struct_alloc_locked();
        if (t) {
            t->base = tci_heap_bump_next;
            t->npages = (tci_heap_bump_end - tci_heap_bump_next) >> TCI_PAGE_SHIFT;
            t->needzero = 0;
            t->scavenged = TCI_RUN_RETURNED;
            size_t n = tci_heap_scavenge_set_released_locked(t->base, t->npages);
            tci_heap_released_bytes += (uint64_t)n << TCI_PAGE_SHIFT;
            tci_heap_free_list_insert_locked(t);
        }
    }
    tci_heap_bump_next = (uintptr_t)mem + TCI_HEAP_SKIP_BYTES;
    tci_heap_bump_end = (uintptr_t)mem + TCI_ARENA_SIZE;
    return 0;
}

/* The free run to carve npages from: resident pages first, the shortest
 * such run, from the exact-length lists, then the long runs' list; only
 * when no resident run fits, the shortest returned one. Resident (and
 * kept) runs sit before returned ones in every list (free_tails), so a
 * list's head says whether it holds one. Best fit alone took a returned
 * run of the exact length over a longer resident one: the program faulted
 * its pages back in while the resident ones stayed free, which the
 * scavenger then returned, every cycle (a steady ring of 4 KiB objects: a
 * fault every third page). */
static tci_span *pick_free_locked(size_t npages)
{
    tci_assert_held(&tci_heap_lock);
    tci_span *returned = NULL;
    for (size_t i = npages; i < TCI_FREE_LISTS; i++) {
        tci_span *c = tci_heap_free_lists[i];
        if (c && c->scavenged != TCI_RUN_RETURNED)
            return c;
        if (c && !returned)
            returned = c;
    }
    tci_span *resident = NULL;
    for (tci_span *c = tci_heap_free_lists[0]; c; c = c->next) {
        if (c->npages < npages)
            continue;
        tci_span **best = c->scavenged == TCI_RUN_RETURNED ? &returned : &resident;
        if (!*best || c->npages < (*best)->npages)
            *best = c;
    }
    return resident ? resident : returned;
}

static tci_span *take_free_locked(size_t npages)
{
    tci_assert_held(&tci_heap_lock);
    tci_span *s = pick_free_locked(npages);
    if (!s)
        return NULL;
    tci_heap_free_list_remove_locked(s);
    if (s->npages > npages) {
        tci_span *rest = tci_heap_span_struct_alloc_locked();
        if (!rest) {
            tci_heap_free_list_insert_locked(s);
            return NULL;
        }
        /* A run merged from pages just freed and pages returned to the OS
         * has both: take the end when the start has returned pages and the
         * end has none (the usual merge: a span freed after a returned
         * neighbour). Taking the start anyway faulted returned pages back
         * in while resident ones sat free, every cycle, for a program at
         * the 4 MiB floor (up to 80,000 faults in 5 million allocations of
         * 256 bytes). */
        size_t left = s->npages - npages;
        uintptr_t tail = s->base + (left << TCI_PAGE_SHIFT);
        int take_end = s->scavenged == TCI_RUN_RESIDENT &&
                       tci_heap_scavenge_any_released_locked(s->base, npages) &&
                       !tci_heap_scavenge_any_released_locked(tail, npages);
        rest->needzero = s->needzero;
        rest->scavenged = s->scavenged;
        rest->npages = left;
        if (take_end) {
            rest->base = s->base;
            s->base = tail;
        } else {
            rest->base = s->base + (npages << TCI_PAGE_SHIFT);
        }
        s->npages = npages;
        tci_heap_free_list_insert_locked(rest);
    }
    return s;
}

tci_span *tci_heap_alloc_span(size_t npages, int state, int *needzero)
{
    if (tci_heap_is_huge(npages)) {
        *needzero = 0;
        tci_span *s = state == TCI_SPAN_LARGE ? tci_heap_huge_alloc(npages) : NULL;
        if (!s)
            errno = ENOMEM;
        return s;
    }
    tci_mutex_lock(&tci_heap_lock); /* released below on every path */
    tci_span *s = take_free_locked(npages);
    if (!s && tci_heap_releasing_runs > 0) {
        /* Wait for the pieces in flight now, once (not for the whole
         * scavenge: this thread is not at a safepoint), then look again. */
        uint64_t gen = tci_heap_release_gen;
        tci_heap_alloc_waiters++;
        while (tci_heap_releasing_runs > 0 && tci_heap_release_gen == gen)
            tci_cond_wait(&tci_heap_released_cond, &tci_heap_lock);
        s = take_free_locked(npages);
        if (--tci_heap_alloc_waiters == 0)
            pthread_cond_broadcast(&tci_heap_waiters_cond);
    }
    int release_after = 0;
    if (s) {
        /* Its returned pages come back (the program will touch them):
         * zeros, so a run made only of them needs no zeroing. Coming back
         * they count again; under the memory limit others go first, once
         * s is in use (below): a run returned meanwhile, put back and
         * merged with its free neighbours, would otherwise take s, still
         * FREE and off the lists, for one of them. */
        size_t back = tci_heap_scavenge_clear_released_locked(s->base, npages);
        tci_heap_released_bytes -= (uint64_t)back << TCI_PAGE_SHIFT;
        if (back == npages)
            s->needzero = 0;
        release_after = back && tci_heap_retain_limit != UINT64_MAX;
    } else if (tci_heap_retain_limit != UINT64_MAX) {
        tci_heap_scavenge_for_limit_locked((uint64_t)npages << TCI_PAGE_SHIFT);
    }
    if (!s) {
        if (tci_heap_bump_end - tci_heap_bump_next < (npages << TCI_PAGE_SHIFT) &&
            grow_locked() != 0) {
            tci_heap_unlock();
            errno = ENOMEM;
            return NULL;
        }
        s = tci_heap_span_struct_alloc_locked();
        if (!s) {
            tci_heap_unlock();
            errno = ENOMEM;
            return NULL;
        }
        s->base = tci_heap_bump_next;
        s->npages = npages;
        s->needzero = 0;
        tci_heap_bump_next += npages << TCI_PAGE_SHIFT;
    }
    *needzero = s->needzero;
    tci_heap_inuse_bytes += npages << TCI_PAGE_SHIFT;
    if (tci_heap_inuse_bytes > tci_atomic_load_relaxed(&inuse_peak))
        tci_atomic_store_relaxed(&inuse_peak, tci_heap_inuse_bytes);
    tci_heap_nspans_inuse++;
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
        tci_heap_scavenge_for_limit_locked(0);
    tci_heap_unlock();
    return s;
}

void tci_heap_free_span(tci_span *s)
{
    if (tci_heap_is_huge(s->npages)) {
        tci_heap_huge_free(s);
        return;
    }
    tci_mutex_lock(&tci_heap_lock); /* released at the end */
    tci_heap_inuse_bytes -= s->npages << TCI_PAGE_SHIFT;
    tci_heap_nspans_inuse--;
    for (size_t i = 0; i < s->npages; i++)
        set_page(s->base + (i << TCI_PAGE_SHIFT), NULL);
    s->needzero = 1;
    s->scavenged = TCI_RUN_RESIDENT;
    tci_span_set_state(s, TCI_SPAN_FREE);
    s->nalloc = 0;
    tci_heap_insert_coalesced_locked(s);
    tci_heap_unlock();
}

/* Puts free span s on the free lists, merged with its free neighbours in
 * its arena (a run never crosses one: see grow_locked). */
void tci_heap_insert_coalesced_locked(tci_span *s)
{
    tci_assert_held(&tci_heap_lock);
    tci_arena *a = tci_heap_arena_of(s->base);
    /* Coalesce with the free run just before, within the same arena. */
    if ((s->base & (TCI_ARENA_SIZE - 1)) != 0) {
        uintptr_t prevp = s->base - TCI_PAGE_SIZE;
        tci_span *p = a->spans[(prevp >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1)];
        if (p && tci_span_state(p) == TCI_SPAN_FREE && p != s) {
            tci_heap_free_list_remove_locked(p);
            set_page(p->base, NULL);
            set_page(p->base + ((p->npages - 1) << TCI_PAGE_SHIFT), NULL);
            s->base = p->base;
            s->npages += p->npages;
            s->needzero |= p->needzero;
            s->scavenged &= p->scavenged;
            tci_heap_span_struct_free_locked(p);
        }
    }
    uintptr_t end = s->base + (s->npages << TCI_PAGE_SHIFT);
    if ((end & (TCI_ARENA_SIZE - 1)) != 0) {
        tci_span *n = a->spans[(end >> TCI_PAGE_SHIFT) & (TCI_ARENA_PAGES - 1)];
        if (n && tci_span_state(n) == TCI_SPAN_FREE && n != s) {
            tci_heap_free_list_remove_locked(n);
            set_page(n->base, NULL);
            set_page(n->base + ((n->npages - 1) << TCI_PAGE_SHIFT), NULL);
            s->npages += n->npages;
            s->needzero |= n->needzero;
            s->scavenged &= n->scavenged;
            tci_heap_span_struct_free_locked(n);
        }
    }
    tci_heap_free_list_insert_locked(s);
}

void tci_heap_for_each_span(void (*fn)(tci_span *s, void *arg), void *arg)
{
    tci_mutex_lock(&tci_heap_lock); /* released at the end */
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
    tci_heap_huge_for_each_locked(fn, arg);
    tci_heap_unlock();
}

uint64_t tci_heap_nspans(void)
{
    tci_mutex_lock(&tci_heap_lock); /* released below */
    uint64_t n = tci_heap_nspans_inuse;
    tci_heap_unlock();
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

void tci_heap_set_retain_limit(uint64_t bytes)
{
    tci_mutex_lock(&tci_heap_lock); /* released below */
    tci_heap_retain_limit = bytes;
    tci_heap_unlock();
}

/* The child of a fork, every lock held (gc/fork.c): the runs the scavenger
 * was returning to the OS when the process was copied go back on the free
 * lists, whether or not their pages went (the released bits say they did
 * not, which costs at most a zeroing), and nobody waits for them: an
 * allocation that found no room would otherwise wait for good for a
 * scavenger that is not there. */
void tci_heap_fork_child_locked(void)
{
    tci_assert_held(&tci_heap_lock);
    tci_span *lost[64];
    int n = 0;
    for (size_t i = 0; i < narenas && tci_heap_releasing_runs > 0; i++) {
        tci_arena *a = arenas[i];
        for (size_t pg = 0; pg < TCI_ARENA_PAGES; pg++) {
            tci_span *s = a->spans[pg];
            if (s && tci_span_state(s) == TCI_SPAN_RELEASING &&
                s->base == a->base + (pg << TCI_PAGE_SHIFT) && n < 64) {
                lost[n++] = s;
                pg += s->npages - 1;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        lost[i]->scavenged = TCI_RUN_RESIDENT;
        tci_span_set_state(lost[i], TCI_SPAN_FREE);
        tci_heap_insert_coalesced_locked(lost[i]);
    }
    tci_heap_releasing_runs = 0;
    tci_heap_alloc_waiters = 0;
}
