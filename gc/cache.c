/* cache.c: per-thread allocation caches and the allocation entry points.
 *
 * Each attached thread owns, per kind and size class, one span it allocates
 * from with no lock and no atomic read-modify-write: a 64-slot window of the
 * span's free slots as a bit mask (1 = free), taken lowest first with a
 * count-trailing-zeros, as Go's allocCache. Slots are zeroed when handed out
 * if the span held objects before (needzero), but tc_alloc_atomic's, which
 * the program writes before it reads (as malloc's). When the window is empty the
 * next word of alloc_bits is loaded; when the span is used up it goes back
 * to its central and another comes (the slow path, which is also where the
 * thread polls for a stop and where collections are triggered).
 *
 * The bytes of every free slot of a span count as allocated (heap_live) from
 * the moment a cache takes the span, and what is left is given back when it
 * is released, as in Go: the trigger is then exact to a span per class and
 * thread, without a shared counter on the fast path.
 *
 * Allocation counts are per thread and per class, written only by the owner
 * with relaxed stores (no read-modify-write) and summed by readers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "os.h"

typedef struct alloc_slot {
    uint64_t free_bits;   /* free slots of the window, bit i = slot window_idx + i */
    uintptr_t window_base; /* address of slot window_idx */
    uint32_t window_idx;  /* a multiple of 64 */
    uint32_t elemsize;
    uint32_t *types;      /* precise spans: per-slot type ids */
    uint8_t needzero;
    uint8_t premarked;    /* the window's free slots were marked (allocate-black) */
    tci_span *span;       /* NULL when none */
} alloc_slot;

typedef struct tci_cache {
    alloc_slot slots[TCI_NKINDS][TCI_MAX_CLASSES]; /* owner only (or with the world stopped) */
    tci_atomic nmalloc[TCI_MAX_CLASSES]; /* written by the owner only */
    tci_atomic large_nmalloc;            /* written by the owner only */
    tci_atomic large_bytes;              /* written by the owner only */
    tc_tracer *tracer;   /* the barrier's and assists' grey objects (owner, or stopped) */
    int64_t sample_left;  /* bytes to the next heap-profile sample; owner only */
    uint64_t sample_rng;  /* owner only */
    uint64_t sample_epoch; /* the profile rate's epoch the countdown was drawn in */
    struct tci_cache *all_next;  /* every cache ever made; set before publication */
    struct tci_cache *free_next; /* detached caches kept for reuse; world_lock */
} tci_cache;

static __thread tci_cache *my_cache __attribute__((tls_model("initial-exec")));

/* Every cache ever made, newest first: a list that only grows, so that
 * tc_read_memstats can sum the counters without a lock (a detached
 * thread's cache is kept, its counts with it, and reused by the next
 * thread to attach: the counters are totals, whoever owned them). */
static tci_atomic all_caches;
static tci_cache *free_caches; /* world_lock (attach and detach hold it) */

static inline void counter_inc(tci_atomic *a, uintptr_t n)
{
    tci_atomic_store_relaxed(a, tci_atomic_load_relaxed(a) + n);
}

static inline uint64_t valid_mask(uint32_t nelems, uint32_t word)
{
    uint32_t first = word * 64;
    if (nelems >= first + 64)
        return ~(uint64_t)0;
    return ((uint64_t)1 << (nelems - first)) - 1;
}

/* Allocate-black, a window at a time: while a concurrent mark runs, every
 * free slot of a window is marked when the window is loaded (one atomic OR
 * for up to 64 objects, nothing on the fast path), and the slots still free
 * when the window is given back are unmarked then (release_span). Windows
 * never outlive a phase change: both happen with the world stopped, after
 * every cache was flushed. */
static void premark_window(alloc_slot *a, tci_span *s, uint32_t word)
{
    tci_atomic_or_test(&s->mark_bits[word], (uintptr_t)a->free_bits);
    tci_atomic_add_full(&tci_cycle_black_bytes,
                        (uintptr_t)__builtin_popcountll(a->free_bits) * s->elemsize);
    a->premarked = 1;
}

static void unmark_unused(alloc_slot *a, tci_span *s, uint32_t word)
{
    if (!a->premarked)
        return;
    a->premarked = 0;
    if (!a->free_bits)
        return;
    tci_atomic_and_not(&s->mark_bits[word], (uintptr_t)a->free_bits);
    tci_atomic_sub_full(&tci_cycle_black_bytes,
                        (uintptr_t)__builtin_popcountll(a->free_bits) * s->elemsize);
}

/* Loads the first window at or after `word` with a free slot; 0 when none. */
static int load_window(alloc_slot *a, tci_span *s, uint32_t word)
{
    uint32_t nwords = (s->nelems + 63) / 64;
    a->premarked = 0;
    for (; word < nwords; word++) {
        uint64_t free_bits = ~tci_word_load_relaxed(&s->alloc_bits[word]) &
                             valid_mask(s->nelems, word);
        if (free_bits) {
            a->free_bits = free_bits;
            a->window_idx = word * 64;
            a->window_base = s->base + (uintptr_t)word * 64 * s->elemsize;
            if (tci_phase() == TCI_PHASE_MARK)
                premark_window(a, s, word);
            return 1;
        }
        /* Wholly allocated already. */
    }
    a->free_bits = 0;
    return 0;
}

static void take_span(alloc_slot *a, tci_span *s)
{
    a->span = s;
    a->elemsize = (uint32_t)s->elemsize;
    a->types = s->types;
    a->needzero = s->needzero;
    tci_atomic_add_full(&tci_heap_live, (uintptr_t)(s->nelems - s->nalloc) * s->elemsize);
    load_window(a, s, 0);
}

/* Writes the window back into alloc_bits and gives the span back. */
static void release_span(alloc_slot *a)
{
    tci_span *s = a->span;
    uint32_t word = a->window_idx / 64;
    uint32_t nwords = (s->nelems + 63) / 64;
    uint64_t remaining = (uint64_t)__builtin_popcountll(a->free_bits);
    if (word < nwords) {
        tci_word_store_relaxed(&s->alloc_bits[word],
                               ~a->free_bits & valid_mask(s->nelems, word));
        unmark_unused(a, s, word);
    }
    for (uint32_t w = word + 1; w < nwords; w++)
        remaining += (uint64_t)__builtin_popcountll(~s->alloc_bits[w] &
                                                    valid_mask(s->nelems, w));
    tci_atomic_sub_full(&tci_heap_live, (uintptr_t)(remaining * s->elemsize));
    s->nalloc = (uint32_t)(s->nelems - remaining);
    a->span = NULL;
    a->free_bits = 0;
    tci_central_release(s);
}

/* The window is empty: mark its word wholly allocated and move on. */
static int next_window(alloc_slot *a)
{
    tci_span *s = a->span;
    uint32_t word = a->window_idx / 64;
    tci_word_store_relaxed(&s->alloc_bits[word], valid_mask(s->nelems, word));
    return load_window(a, s, word + 1);
}

/* Bytes of the caches (and their tracers), attached or kept for reuse,
 * which the memory limit counts. */
static tci_atomic cache_sys_bytes;

uint64_t tci_cache_sys_bytes(void)
{
    return tci_atomic_load_relaxed(&cache_sys_bytes);
}

int tci_cache_attach(tci_thread *t)
{
    tci_cache *c = free_caches;
    if (c) {
        free_caches = c->free_next;
        memset(c->slots, 0, sizeof c->slots); /* flushed at detach: no span held */
    } else {
        c = calloc(1, sizeof *c);
        if (!c)
            return -1;
        c->tracer = tci_mark_tracer_new();
        if (!c->tracer) {
            free(c);
            return -1;
        }
        tci_atomic_add_full(&cache_sys_bytes, sizeof *c + tci_mark_tracer_size());
        /* Published whole: partner the acquire in tci_cache_read_counts. */
        c->all_next = (tci_cache *)tci_atomic_load_relaxed(&all_caches);
        tci_atomic_store_release(&all_caches, (uintptr_t)c);
    }
    c->sample_rng = (uintptr_t)c ^ tci_os_now_ns();
    c->sample_left = tci_profile_next(&c->sample_rng, &c->sample_epoch);
    t->gc_local = c;
    my_cache = c;
    return 0;
}

void tci_cache_flush(tci_thread *t)
{
    tci_cache *c = t->gc_local;
    for (int k = 0; k < TCI_NKINDS; k++)
        for (int cl = 1; cl < tci_sizeclass_count; cl++)
            if (c->slots[k][cl].span)
                release_span(&c->slots[k][cl]);
    tci_mark_tracer_flush(c->tracer);
}

void tci_cache_flush_all_stw(void)
{
    for (tci_thread *t = tci_thread_first(); t; t = t->next)
        tci_cache_flush(t);
}

void tci_cache_detach(tci_thread *t)
{
    tci_cache *c = t->gc_local;
    tci_cache_flush(t);
    if (my_cache == c)
        my_cache = NULL;
    t->gc_local = NULL;
    c->free_next = free_caches;
    free_caches = c;
}

void tci_cache_region(tci_thread *t, int inside)
{
    /* In a blocking region the fast path finds no cache, and the call
     * goes to tci_cache_not_attached, which names the region. */
    my_cache = inside ? NULL : t->gc_local;
}

tc_tracer *tci_cache_tracer(void)
{
    return my_cache ? my_cache->tracer : NULL;
}

void tci_cache_read_counts(tci_alloc_counts *out)
{
    memset(out, 0, sizeof *out);
    for (tci_cache *c = (tci_cache *)tci_atomic_load_acquire(&all_caches); c; c = c->all_next) {
        for (int cl = 1; cl < tci_sizeclass_count; cl++) {
            uint64_t m = tci_atomic_load_relaxed(&c->nmalloc[cl]);
            out->class_mallocs[cl] += m;
            out->mallocs += m;
            out->total_bytes += m * tci_sizeclass_table[cl].size;
        }
        uint64_t m = tci_atomic_load_relaxed(&c->large_nmalloc);
        out->class_mallocs[0] += m;
        out->mallocs += m;
        out->total_bytes += tci_atomic_load_relaxed(&c->large_bytes);
    }
}

static inline __attribute__((always_inline)) void *
alloc_from_window(tci_cache *c, alloc_slot *a, int kind, int cl, uint32_t type_id, int zero)
{
    uint64_t bits = a->free_bits;
    unsigned b = (unsigned)__builtin_ctzll(bits);
    a->free_bits = bits & (bits - 1);
    void *p = (void *)(a->window_base + (uintptr_t)b * a->elemsize);
    if (zero && a->needzero) {
        uint32_t es = a->elemsize;
        if (es <= 64) {
            /* Straight-line stores: a call to memset, or the `rep stos` a
             * loop compiles to, costs more than the allocation itself for
             * the small classes (sizes are multiples of 16). */
            uint64_t *q = p;
            q[0] = 0;
            q[1] = 0;
            if (es > 16) {
                q[2] = 0;
                q[3] = 0;
                if (es > 32) {
                    q[4] = 0;
                    q[5] = 0;
                    if (es > 48) {
                        q[6] = 0;
                        q[7] = 0;
                    }
                }
            }
        } else {
            memset(p, 0, a->elemsize);
        }
    } else if (kind != TCI_KIND_NOSCAN) {
        /* Memory never written (fresh from the OS): written now, at its
         * first and last word (the pages of any slot of an object up to a
         * page and a bit; larger ones a word a page). Else the first touch
         * of a page could be tc_store's barrier during a mark, which reads
         * the old value first: the read maps the kernel's shared zero
         * page, and the store then takes a copy-on-write fault whose TLB
         * flush interrupts every other CPU the process ran on (binary
         * trees: 19% of all CPU samples in the kernel's IPI code). The
         * write takes the one fault the page takes anyway. Pointer-free
         * objects are never read by the barrier: left alone. */
        volatile uint64_t *q = p;
        uint32_t words = a->elemsize / 8;
        q[0] = 0;
        for (uint32_t w = 512; w < words; w += 512)
            q[w] = 0;
        q[words - 1] = 0;
    }
    if (kind == TCI_KIND_PRECISE)
        a->types[a->window_idx + b] = type_id;
    counter_inc(&c->nmalloc[cl], 1);
    return p;
}

/* Off the fast path (a window refill, a large object): a countdown drawn
 * before the profile rate changed is drawn again, so a change reaches
 * every allocating thread within a window's allocations. */
static inline void sample_recheck(tci_cache *c)
{
    if (__builtin_expect(c->sample_epoch != tci_profile_epoch(), 0))
        c->sample_left = tci_profile_next(&c->sample_rng, &c->sample_epoch);
}

/* The heap found no memory: both slow paths then call tci_oom_recover
 * (gc/oom.c), with no lock held and no span taken, and retry once when it
 * says so; this when the retry failed as well (or none was made). */
static void *failed(void)
{
    tci_oom_failed();
    errno = ENOMEM;
    return NULL;
}

/* From a heap walk's callback: the world is stopped and heap_lock held. */
static void *refused_in_walk(void)
{
    fprintf(stderr, "tricolor: allocation inside a tc_heap_walk callback (the world is "
                    "stopped for the walk; refused)\n");
    errno = EPERM;
    return NULL;
}

/* caller: the program's call into tc_alloc*, where a stop's watchdog says
 * the thread last polled. */
static __attribute__((noinline)) void *alloc_slow(tci_cache *c, int kind, int cl,
                                                  uint32_t type_id, int zero, uintptr_t caller)
{
    if (__builtin_expect(tci_walk_in_callback(), 0))
        return refused_in_walk();
    tci_thread *self = tci_thread_self();
    tci_thread_note_poll(self, caller);
    sample_recheck(c);
    if (tci_atomic_load_relaxed(&tci_world_stw_pending))
        tci_world_park(self);
    alloc_slot *a = &c->slots[kind][cl];
    for (;;) {
        if (a->free_bits)
            return alloc_from_window(c, a, kind, cl, type_id, zero);
        if (a->span && next_window(a))
            continue;
        if (a->span)
            release_span(a);
        if ((tci_env_cfg.gcstress && tci_cycle_stress_tick(self) != 0) ||
            tci_cycle_maybe_trigger(self, (size_t)tci_sizeclass_table[cl].npages[kind] *
                                              TCI_PAGE_SIZE))
            return NULL; /* errno ENOMEM */
        tci_span *s = tci_central_acquire(cl, kind);
        if (!s && tci_oom_recover(tci_sizeclass_table[cl].size))
            s = tci_central_acquire(cl, kind);
        if (!s)
            return failed();
        take_span(a, s);
    }
}

static __attribute__((noinline)) void *alloc_large(tci_cache *c, int kind, size_t size,
                                                   uint32_t type_id, int zero, uintptr_t caller)
{
    if (__builtin_expect(tci_walk_in_callback(), 0))
        return refused_in_walk();
    tci_thread *self = tci_thread_self();
    tci_thread_note_poll(self, caller);
    sample_recheck(c);
    if (tci_atomic_load_relaxed(&tci_world_stw_pending))
        tci_world_park(self);
    size_t npages = (size + TCI_PAGE_SIZE - 1) >> TCI_PAGE_SHIFT;
    size_t bytes = npages << TCI_PAGE_SHIFT;
    if ((tci_env_cfg.gcstress && tci_cycle_stress_tick(self) != 0) ||
        tci_cycle_maybe_trigger(self, bytes))
        return NULL; /* errno ENOMEM */
    tci_sweep_reclaim(npages);
    int needzero;
    tci_span *s = tci_heap_alloc_span(npages, TCI_SPAN_LARGE, &needzero);
    if (!s && tci_oom_recover(size)) {
        tci_sweep_reclaim(npages);
        s = tci_heap_alloc_span(npages, TCI_SPAN_LARGE, &needzero);
    }
    if (!s)
        return failed();
    if (zero && needzero)
        memset((void *)s->base, 0, bytes);
    s->kind = (uint8_t)kind;
    s->elemsize = bytes;
    s->nelems = 1;
    s->alloc_bits[0] = 1;
    s->type_id = type_id;
    if (tci_phase() == TCI_PHASE_MARK) {
        /* Allocated black: no phase change can come before we return (it
         * needs a stop, and we do not poll before then). */
        tci_atomic_store_relaxed(&s->mark_bits[0], 1);
        tci_atomic_add_full(&tci_cycle_black_bytes, bytes);
    }
    /* Published last, with a release store: a concurrent marker that
     * follows a stale conservative word into these pages finds the object
     * only once it is set up (type id, black mark), never half-made.
     * Partner: the acquire load of nalloc in heap.h's object lookup. */
    tci_u32_store_release(&s->nalloc, 1);
    tci_atomic_store_relaxed(&s->sweepgen, tci_atomic_load_relaxed(&tci_sweep_gen));
    tci_atomic_store_release(&s->specials_sg, tci_atomic_load_relaxed(&tci_sweep_gen));
    tci_central_push_large(s);
    tci_atomic_add_full(&tci_heap_live, bytes);
    counter_inc(&c->large_nmalloc, 1);
    counter_inc(&c->large_bytes, bytes);
    return (void *)s->base;
}

/* The countdown reached a heap-profile sample (see observe/profile.c): bytes is
 * what the object takes (its slot or pages), which the countdown counts,
 * as Go's does. */
static __attribute__((noinline)) void *alloc_sampled(tci_cache *c, int kind, size_t size,
                                                     uint32_t type_id, int zero,
                                                     uintptr_t caller)
{
    c->sample_left = tci_profile_next(&c->sample_rng, &c->sample_epoch);
    void *p;
    if (size > TCI_MAX_SMALL) {
        p = alloc_large(c, kind, size, type_id, zero, caller);
    } else {
        int cl = tci_size_to_class(size);
        alloc_slot *a = &c->slots[kind][cl];
        p = a->free_bits && !tci_atomic_load_relaxed(&tci_world_stw_pending)
                ? alloc_from_window(c, a, kind, cl, type_id, zero)
                : alloc_slow(c, kind, cl, type_id, zero, caller);
    }
    if (p) {
        tci_span *s = tci_span_of((uintptr_t)p);
        tci_profile_sample(p, s->elemsize, &s->profiled, caller);
    }
    return p;
}

/* Always inlined into the tc_alloc* entry points: __builtin_return_address
 * is then the program's call site, where a sample's stack begins. zero: a
 * constant per entry point (0 for tc_alloc_atomic only), so each one
 * compiles its own fast path; a slot of a span that held objects before is
 * zeroed when it is set, memory fresh from the OS (needzero clear) never. */
static inline __attribute__((always_inline)) void *alloc_kind(int kind, int zero, size_t size,
                                                              uint32_t type_id, const char *fn)
{
    tci_cache *c = my_cache;
    if (__builtin_expect(c == NULL, 0))
        return tci_cache_not_attached(fn);
    if (size == 0)
        size = 1;
    if (__builtin_expect(size > TCI_MAX_SMALL, 0)) {
        if (size > TCI_MAX_OBJECT) {
            errno = ENOMEM;
            return NULL;
        }
        c->sample_left -= (int64_t)((size + TCI_PAGE_SIZE - 1) & ~(size_t)(TCI_PAGE_SIZE - 1));
        if (__builtin_expect(c->sample_left < 0, 0))
            return alloc_sampled(c, kind, size, type_id, zero,
                                 (uintptr_t)__builtin_return_address(0));
        return alloc_large(c, kind, size, type_id, zero, TCI_CALLER());
    }
    int cl = tci_size_to_class(size);
    /* Counted before the allocation, which may still fail (ENOMEM): a
     * bias of one failed allocation's bytes, against a branch here. */
    c->sample_left -= (int64_t)tci_sizeclass_table[cl].size;
    if (__builtin_expect(c->sample_left < 0, 0))
        return alloc_sampled(c, kind, size, type_id, zero,
                             (uintptr_t)__builtin_return_address(0));
    alloc_slot *a = &c->slots[kind][cl];
    if (__builtin_expect(a->free_bits == 0 || tci_atomic_load_relaxed(&tci_world_stw_pending), 0))
        return alloc_slow(c, kind, cl, type_id, zero, TCI_CALLER());
    return alloc_from_window(c, a, kind, cl, type_id, zero);
}

static inline int type_kind(const tc_type *t)
{
    return (t->n_ptrs == 0 && t->n_wslots == 0 && !t->trace) ? TCI_KIND_NOSCAN : TCI_KIND_PRECISE;
}

void *tc_alloc(const tc_type *t)
{
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_kind(type_kind(t), 1, t->size, t->id, "tc_alloc");
}

void *tc_alloc_array(const tc_type *t, size_t n)
{
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    size_t size;
    if (__builtin_mul_overflow(t->size, n, &size)) {
        if (!my_cache)
            return tci_cache_not_attached("tc_alloc_array");
        errno = ENOMEM;
        return NULL;
    }
    return alloc_kind(type_kind(t), 1, size, t->id, "tc_alloc_array");
}

void *tc_alloc_sized(const tc_type *t, size_t size)
{
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    if (!t->trace && size < t->size) {
        /* A fixed layout's slots lie anywhere in its size: an object
         * smaller than that would have them read outside it. */
        fprintf(stderr, "tricolor: tc_alloc_sized(\"%s\", %zu): smaller than the type's "
                        "%zu bytes (a fixed layout needs them all; use tc_alloc)\n",
                t->name, size, t->size);
        errno = EINVAL;
        return NULL;
    }
    return alloc_kind(type_kind(t), 1, size, t->id, "tc_alloc_sized");
}

void *tc_alloc_atomic(size_t size)
{
    return alloc_kind(TCI_KIND_NOSCAN, 0, size, 0, "tc_alloc_atomic");
}

void *tc_alloc_atomic_zeroed(size_t size)
{
    return alloc_kind(TCI_KIND_NOSCAN, 1, size, 0, "tc_alloc_atomic_zeroed");
}

void *tc_alloc_conservative(size_t size)
{
    return alloc_kind(TCI_KIND_CONSERVATIVE, 1, size, 0, "tc_alloc_conservative");
}

void tci_cache_sample_reset(void)
{
    if (my_cache)
        my_cache->sample_left = tci_profile_next(&my_cache->sample_rng, &my_cache->sample_epoch);
}

void *tci_cache_not_attached(const char *fn)
{
    tci_thread *self = tci_thread_self();
    if (self && self->blocking_depth > 0)
        fprintf(stderr, "tricolor: %s called inside a blocking region (the heap may not be "
                        "touched there: call tc_blocking_end first; refused)\n", fn);
    else
        fprintf(stderr, "tricolor: %s called from a thread that is not attached "
                        "(call tc_init or tc_thread_attach first)\n", fn);
    errno = EPERM;
    return NULL;
}

int tci_cache_check_thread(const char *fn)
{
    tci_thread *self = tci_thread_self();
    if (!self || self->blocking_depth > 0) {
        tci_cache_not_attached(fn);
        return -1;
    }
    return 0;
}
