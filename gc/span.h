/* span.h: the span, a run of pages that is free, holds slots of one size
 * class, or holds one large object; and the small helpers every reader of
 * a span uses (its state, its bitmaps, an address's slot and its type).
 *
 * Who may touch a span, and how (after Go's mspan). A span has one owner
 * at a time, handed on through a lock:
 *  - free (FREE, RELEASING): the page heap, under heap_lock (gc/heap.c);
 *  - in use, on a list: the list's lock (a central's lock, large_lock in
 *    gc/central.c);
 *  - in use, popped from a list (by a cache that allocates from it, or a
 *    sweeper), or just returned by tci_heap_alloc_span: that thread alone,
 *    the "owner" below, until it pushes the span back under the lock.
 * Beside the owner, other threads read a span without any lock:
 *  - markers (concurrently with the program, during a concurrent mark),
 *    tc_object_base and tc_object_size (any thread, any time), a handle's
 *    read (gc/special.c) and the checkers (gc/verify.c): they find the
 *    span through the page map (tci_span_of), possibly from a stale
 *    conservative word, so the span may be being freed, returned to the
 *    OS or reused under them. They read `state` first, with an acquire
 *    load, and look no further unless it is SMALL or LARGE; what they
 *    read then is checked against base and npages before it is believed.
 *    A span put in use has every field but `state` cleared under
 *    heap_lock before its state's release store, so such a reader sees
 *    either zeros (no object) or what was set before that store.
 *  - The owner's set-up of a new span (tci_central_init_span, a large
 *    object's fields in gc/cache.c) is plain stores after that release
 *    store: a reader coming upon the span in between may see zeros or the
 *    new values. Zeros make a marker find no object (nelems 0; no alloc
 *    bit, nalloc 0), and it finds a slot only once its alloc bit, or a
 *    large object's nalloc (a release store), is set, after the set-up.
 *    (tc_object_base needs only base and npages of a large span, set
 *    before the state; of a small one it reads nelems, div_mul and
 *    elemsize, and may see them being set: there it names no object the
 *    program could have been handed yet.)
 * The table, field by field, is the comments in the struct.
 */
#ifndef TCI_SPAN_H
#define TCI_SPAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "atomic.h"
#include "sizeclass.h"

#define TCI_BITMAP_WORDS (TCI_MAX_SLOTS / 64)

enum tci_span_state {
    TCI_SPAN_FREE = 0,  /* in the page heap */
    TCI_SPAN_SMALL = 1, /* slots of one size class */
    TCI_SPAN_LARGE = 2, /* one object */
    TCI_SPAN_RELEASING = 3, /* free, off the free lists while the scavenger
                               returns its pages to the OS */
};

/* A free run's `scavenged`, as far as the scavenger knows; two runs
 * merged take the AND of theirs (returned and kept make resident: worth a
 * new try). */
enum {
    TCI_RUN_RESIDENT = 0, /* pages the program wrote: to reuse first, or return */
    TCI_RUN_RETURNED = 1, /* every page returned to the OS (or never touched) */
    TCI_RUN_KEPT = 2,     /* the OS refused to take them (locked memory): still
                             resident, not tried again until freed anew */
};

typedef struct tci_span tci_span;
struct tci_span {
    /* base, npages: written under heap_lock (a free run is split and
     * merged there; a span put in use gets them before its state's
     * release store), immutable while in use. Read plainly: by the owner
     * and the list code; by the lock-free readers (see the top) after
     * their acquire of state, which may then see a span freed under them,
     * whose range check rejects or whose object is kept conservatively. */
    uintptr_t base;        /* first byte */
    size_t npages;
    /* Written under heap_lock only, with release stores
     * (tci_span_set_state); read with acquire loads (tci_span_state) by
     * everyone, under heap_lock or not: markers concurrently, tc_object_base
     * on any thread, handles, the checkers. Set last when a span is put
     * in use, so a reader that sees SMALL or LARGE sees what was set
     * before. Never cleared with the other fields
     * (tci_span_clear_but_state): readers may be loading it. */
    uint8_t state;
    /* kind, sizeclass, elemsize, nelems, div_mul, types (and a large
     * object's type_id): written by the owner with plain stores when it
     * puts the span in use (tci_central_init_span for a small span; a large
     * one's in gc/cache.c, before its nalloc's release store), immutable
     * until the span is freed; zero before (cleared under heap_lock).
     * Read plainly by the owner, the list code and the sweeper (the span
     * reached them through a list's lock), and by the lock-free readers,
     * who may come upon the set-up (see the top). */
    uint8_t kind;          /* enum tci_kind */
    uint8_t sizeclass;     /* 0 for a large span */
    /* Slots may hold old data. Written under heap_lock while free (merges,
     * the scavenger) and when put in use; then by the owner (its sweeper
     * sets it when it frees a slot), read by the owner (a cache, when it
     * takes the span). */
    uint8_t needzero;
    /* A cache owns it: written by the owner (gc/central.c, as a cache takes
     * and gives back the span). Nothing reads it. */
    uint8_t in_cache;
    /* Free spans: TCI_RUN_* (a hint: the arena's released bits are the
     * truth). Protected by heap_lock. */
    uint8_t scavenged;
    size_t elemsize;       /* slot bytes (large: npages * page); see kind */
    /* Atomic: see eph_key_bits. Here, in the line of the fields a mark
     * reads anyway, for its test of each span (a relaxed load in
     * mark_found: nonzero sends the marker to the key bits). */
    tci_atomic eph_keys;
    uint32_t nelems;       /* slots (large: 1); see kind */
    uint32_t div_mul;      /* offset / elemsize == (offset * div_mul) >> 32; see kind */
    /* Allocated slots per alloc_bits. Small spans: written plainly by the
     * owner (a cache giving the span back, the sweeper), read by the owner
     * and by the central's list code under its lock. Large spans: set to 1
     * by gc/cache.c with a release store once the object is set up (type
     * id, black mark), read with an acquire load by tci_find_object_v
     * (markers), which finds no object before; the sweeper writes it
     * plainly (no marker runs during the sweep: a mark begins after every
     * span is swept). Zeroed under heap_lock when the span is freed. */
    uint32_t nalloc;
    uint32_t type_id;      /* large precise objects: the type; see kind */
    /* Precise small spans: a type id per slot, in the span's own last
     * bytes. The pointer: see kind. An entry: written plainly by the
     * owning cache as it hands the slot out (gc/cache.c), read plainly by
     * markers and the checkers only for an object they found allocated
     * or were handed as grey, so after the program published it (a
     * release store in tc_store, or a stop). */
    uint32_t *types;
    /* Atomic: written by whoever pops the span to sweep it (sg - 1: being
     * swept; relaxed, under the list's lock or just after), by the owner at
     * set-up (relaxed) and by the sweeper when it is done (release).
     * Nothing reads it: which half of a central's lists a span is on says
     * whether it is swept (gc/central.c, gc/sweep.c). */
    tci_atomic sweepgen;
    /* The sweep generation whose specials this span's sweeper has settled
     * (gc/special.c: weak references to its unmarked objects cleared,
     * their finalizers queued): set with a release store by the sweeper
     * before it clears any mark bit, and when the span is put in use.
     * Behind tci_sweep_gen, the mark bits still say what the last mark
     * found, which is what a handle's read goes by (acquire loads,
     * gc/special.c's handle_target). */
    tci_atomic specials_sg;
    /* The weak references and finalizer records whose object lies in this
     * span, doubly linked through the records: protected by special_lock
     * (gc/special.c). nspecials counts them (written under special_lock,
     * read without it by the sweeper, which skips the lock at 0: a record
     * added meanwhile names a live object, which the sweep leaves alone). */
    struct tci_span_link *weaks, *fins;
    tci_atomic nspecials;
    /* Ephemeron keys (gc/ephemeron.c): one bit per slot whose object is the
     * key of an ephemeron filed during this mark and not yet found
     * marked; eph_keys counts them. Set by the filing pass, cleared
     * (atomic AND) by whoever marks the key, or by the sweeper for keys
     * left unmarked. */
    tci_atomic eph_key_bits[TCI_BITMAP_WORDS];
    /* Heap-profile samples among its objects (observe/profile.c): atomic, added
     * to where a sample is taken, taken from by the sweeper. */
    tci_atomic profiled;
    /* The list link: a central's or the large list (that list's lock), a
     * free list or a span-struct chunk's free list (heap_lock). */
    tci_span *next;
    tci_span *prev;        /* free lists only: heap_lock */
    /* 1 = allocated. Cleared under heap_lock when put in use. Written by
     * the owner: a cache with relaxed atomic stores as it takes windows
     * (gc/cache.c), the sweeper and a large object's set-up plainly (no
     * marker runs during a sweep; a large object is found by its nalloc,
     * released after). Read by the owner, and by markers and the checkers
     * with relaxed loads (tci_bit_get): they miss the slots of a cache's
     * current window, which is why every stop flushes the caches. */
    uint64_t alloc_bits[TCI_BITMAP_WORDS];
    /* Atomic. Set by markers (an atomic OR; a relaxed load and store when
     * the only marker runs with the world stopped), by the caches'
     * allocate-black (an OR for a window, cleared again with an AND NOT
     * for the slots left unused; a relaxed store for a large object);
     * cleared by the sweeper, the owner, with release stores (partner: a
     * handle's acquire loads, gc/special.c). Read relaxed by markers
     * (tci_mark_get) and the sweeper. */
    tci_atomic mark_bits[TCI_BITMAP_WORDS];
};

/* A span's state, read where a stale pointer may name a span that is
 * being freed, returned to the OS or reused (a marker's conservative
 * word, tc_object_base on any thread): atomic. The state is set last when
 * a span is put in use (release), and read first (acquire), so a reader
 * that sees SMALL or LARGE sees the fields set up before it. */
static inline int tci_span_state(const tci_span *s)
{
    return tci_u8_load_acquire(&s->state); /* partner: tci_span_set_state */
}

static inline void tci_span_set_state(tci_span *s, int state)
{
    tci_u8_store_release(&s->state, (uint8_t)state); /* partner: tci_span_state */
}

/* Zeroes every field of s but its state, which readers may be loading. */
static inline void tci_span_clear_but_state(tci_span *s)
{
    size_t at = offsetof(tci_span, state);
    memset(s, 0, at);
    memset((char *)s + at + 1, 0, sizeof *s - at - 1);
}

/* Relaxed atomic: a cache may write a span's alloc_bits while a concurrent
 * marker reads them. */
static inline int tci_bit_get(const uint64_t *bits, uint32_t i)
{
    return (int)((tci_word_load_relaxed(&bits[i / 64]) >> (i % 64)) & 1);
}

static inline int tci_mark_get(tci_span *s, uint32_t i)
{
    return (int)((tci_atomic_load_relaxed(&s->mark_bits[i / 64]) >> (i % 64)) & 1);
}

/* The slot index of address p in span s: p - base divided by elemsize,
 * by a multiply and a shift (div_mul, gc/sizeclass.c: exact for every
 * offset inside a span). p at or above base; an interior pointer gives its
 * object's slot; past the last slot, an index >= nelems. The one copy of
 * the formula: the marker's lookup, the scan, tc_object_base, handles and
 * the checkers all use it. */
static inline uint32_t tci_span_index(const tci_span *s, uintptr_t p)
{
    return (uint32_t)(((uint64_t)(p - s->base) * s->div_mul) >> 32);
}

/* The type id of precise object obj (its start) in span s, SMALL or LARGE:
 * its slot's entry in types, or a large object's type_id. An index into
 * tci_type_table (gc/type.c). */
static inline uint32_t tci_span_type_id(const tci_span *s, uintptr_t obj)
{
    return tci_span_state(s) == TCI_SPAN_SMALL ? s->types[tci_span_index(s, obj)] : s->type_id;
}

#endif
