/* central.c: per size class and kind, the spans no cache holds, and the list
 * of large objects.
 *
 * Each central keeps partial (some slot free) and full spans, each in two
 * halves indexed by the sweep generation, as Go's mcentral: half
 * (sweepgen / 2) % 2 holds swept spans, the other unswept ones. Mark
 * termination adds 2 to sweepgen, which turns every swept list into an
 * unswept one in O(1), without touching a span. (Every unswept list is empty
 * by then: a cycle starts by sweeping everything.)
 *
 * Lists are LIFO stacks linked through span->next, each central's protected
 * by its own lock; a span popped from a list belongs to the popper.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "gc.h"

typedef struct central {
    tci_mutex lock;
    tci_span *partial[2]; /* protected by lock */
    tci_span *full[2];    /* protected by lock */
} central;

static central centrals[TCI_NKINDS][TCI_MAX_CLASSES];
static tci_mutex large_lock = TCI_MUTEX_INIT(TCI_RANK_LARGE, "large_lock");
static tci_span *large[2]; /* protected by large_lock */


static inline int swept_half(uintptr_t sg) { return (int)((sg >> 1) & 1); }
static inline int unswept_half(uintptr_t sg) { return 1 - swept_half(sg); }

void tci_central_init(void)
{
    for (int k = 0; k < TCI_NKINDS; k++)
        for (int c = 0; c < TCI_MAX_CLASSES; c++)
            tci_mutex_init(&centrals[k][c].lock, TCI_RANK_CENTRAL, "central lock");
}

static void push(tci_span **list, tci_span *s)
{
    s->next = *list;
    *list = s;
}

static tci_span *pop(tci_span **list)
{
    tci_span *s = *list;
    if (s)
        *list = s->next;
    return s;
}

void tci_central_init_span(tci_span *s, int c, int k)
{
    const tci_sizeclass *sc = &tci_sizeclass_table[c];
    s->kind = (uint8_t)k;
    s->sizeclass = (uint8_t)c;
    s->elemsize = sc->size;
    s->nelems = sc->nelems[k];
    s->div_mul = sc->div_mul;
    s->types = k == TCI_KIND_PRECISE
                   ? (uint32_t *)(s->base + (uintptr_t)s->nelems * sc->size)
                   : NULL;
    tci_atomic_store_relaxed(&s->sweepgen, tci_atomic_load_relaxed(&tci_sweep_gen));
    /* Nothing in it was there at the last mark: no special to settle. */
    tci_atomic_store_release(&s->specials_sg, tci_atomic_load_relaxed(&tci_sweep_gen));
}

static void put_swept_locked(central *ce, tci_span *s, uintptr_t sg)
{
    tci_assert_held(&ce->lock);
    if (s->nalloc < s->nelems)
        push(&ce->partial[swept_half(sg)], s);
    else
        push(&ce->full[swept_half(sg)], s);
}

tci_span *tci_central_acquire(int c, int k)
{
    central *ce = &centrals[k][c];
    uintptr_t sg = tci_atomic_load_relaxed(&tci_sweep_gen);
    tci_span *s;

    tci_mutex_lock(&ce->lock); /* released on every path below */
    if ((s = pop(&ce->partial[swept_half(sg)])) != NULL) {
        tci_mutex_unlock(&ce->lock);
        goto have;
    }
    for (int budget = TCI_SWEEP_BUDGET; budget > 0; budget--) {
        s = pop(&ce->partial[unswept_half(sg)]);
        if (!s)
            s = pop(&ce->full[unswept_half(sg)]);
        if (!s)
            break;
        tci_atomic_store_relaxed(&s->sweepgen, sg - 1);
        tci_mutex_unlock(&ce->lock);
        tci_sweep_span(s, 1);
        if (s->nalloc < s->nelems)
            goto have;
        /* Sweeping until a span has room can take many spans: a stop
         * requested meanwhile must not wait for all of them. Parking here
         * holds no lock and no span (this one went back first). A stopped
         * cycle may move the sweep generation on meanwhile: it is read
         * again. */
        tci_mutex_lock(&ce->lock);
        put_swept_locked(ce, s, sg);
        if (tci_atomic_load_relaxed(&tci_world_stw_pending)) {
            tci_mutex_unlock(&ce->lock);
            tci_thread *self = tci_thread_self();
            if (self)
                tci_world_park(self);
            sg = tci_atomic_load_relaxed(&tci_sweep_gen);
            tci_mutex_lock(&ce->lock);
            if ((s = pop(&ce->partial[swept_half(sg)])) != NULL) {
                tci_mutex_unlock(&ce->lock);
                goto have;
            }
        }
    }
    tci_mutex_unlock(&ce->lock);

    const tci_sizeclass *sc = &tci_sizeclass_table[c];
    tci_sweep_reclaim(sc->npages[k]);
    int needzero;
    s = tci_heap_alloc_span(sc->npages[k], TCI_SPAN_SMALL, &needzero);
    if (!s)
        return NULL;
    tci_central_init_span(s, c, k);
have:
    s->in_cache = 1;
    return s;
}

void tci_central_release(tci_span *s)
{
    central *ce = &centrals[s->kind][s->sizeclass];
    s->in_cache = 0;
    tci_mutex_lock(&ce->lock); /* released below */
    put_swept_locked(ce, s, tci_atomic_load_relaxed(&tci_sweep_gen));
    tci_mutex_unlock(&ce->lock);
}

void tci_central_push_large(tci_span *s)
{
    tci_mutex_lock(&large_lock); /* released below */
    push(&large[swept_half(tci_atomic_load_relaxed(&tci_sweep_gen))], s);
    tci_mutex_unlock(&large_lock);
}

/* Pops and sweeps one unswept large span; returns its pages when it was
 * freed, 0 when it lives on, -1 when none is left. */
long tci_central_sweep_large(uintptr_t sg)
{
    tci_mutex_lock(&large_lock); /* released below */
    tci_span *s = pop(&large[unswept_half(sg)]);
    tci_mutex_unlock(&large_lock);
    if (!s)
        return -1;
    size_t npages = s->npages;
    tci_atomic_store_relaxed(&s->sweepgen, sg - 1);
    if (tci_sweep_span(s, 0) == 0)
        return (long)npages;
    tci_central_push_large(s);
    return 0;
}

/* Pops and sweeps one unswept small span of central ce; same results. */
static long sweep_one_small(central *ce, uintptr_t sg)
{
    tci_mutex_lock(&ce->lock); /* released on both paths */
    tci_span *s = pop(&ce->partial[unswept_half(sg)]);
    if (!s)
        s = pop(&ce->full[unswept_half(sg)]);
    if (!s) {
        tci_mutex_unlock(&ce->lock);
        return -1;
    }
    tci_atomic_store_relaxed(&s->sweepgen, sg - 1);
    tci_mutex_unlock(&ce->lock);
    size_t npages = s->npages;
    if (tci_sweep_span(s, 0) == 0)
        return (long)npages;
    tci_mutex_lock(&ce->lock);
    put_swept_locked(ce, s, sg);
    tci_mutex_unlock(&ce->lock);
    return 0;
}

long tci_central_sweep_class(int k, int c, uintptr_t sg)
{
    return sweep_one_small(&centrals[k][c], sg);
}

/* ---- The child of a fork ---------------------------------------------------- */

/* The centrals' and the large list's locks are not taken at fork (the
 * prepare handler would hold 170 more, past what ThreadSanitizer's
 * deadlock detector can track, 64 a thread): a thread that vanished in
 * the fork may have held one, or held a span popped from a list (to sweep
 * it, or to fill its cache). So a child that had other threads at work
 * (gc/fork.c decides) makes the locks anew and rebuilds every list from
 * the page map, where every span in use is found, after the caches have
 * given theirs back: each span goes to its swept or unswept half by its
 * sweep generation, full or partial by its alloc bits. One a vanished
 * sweeper left half-swept (sg - 1) keeps every slot its alloc bits hold:
 * its swept words hold the marked slots already, its unswept words a
 * superset of them, so nothing live is freed, and what is dead there goes
 * at the next sweep. The walk costs a few loads per span, less than the
 * page tables fork itself copied for the same memory. */
typedef struct rebuild { uintptr_t sg; uint64_t unswept; } rebuild;

static void rebuild_one(tci_span *s, void *arg)
{
    rebuild *rb = arg;
    uintptr_t sg = rb->sg;
    s->in_cache = 0;
    uintptr_t gen = tci_atomic_load_relaxed(&s->sweepgen);
    if (gen == sg - 1) {
        for (size_t w = 0; w < (s->nelems + 63) / 64; w++)
            tci_atomic_store_relaxed(&s->mark_bits[w], 0);
        tci_atomic_store_relaxed(&s->sweepgen, sg);
        gen = sg;
    }
    int half = gen == sg ? swept_half(sg) : unswept_half(sg);
    rb->unswept += gen != sg;
    if (tci_span_state(s) == TCI_SPAN_LARGE) {
        push(&large[half], s);
        return;
    }
    uint32_t n = 0;
    for (size_t w = 0; w < (s->nelems + 63) / 64; w++)
        n += (uint32_t)__builtin_popcountll(s->alloc_bits[w]);
    s->nalloc = n;
    central *ce = &centrals[s->kind][s->sizeclass];
    push(n < s->nelems ? &ce->partial[half] : &ce->full[half], s);
}

/* Whether the centrals need rebuilding in a child whose other threads
 * vanished: 1 when a central's (or the large list's) lock is held (by one
 * of them), else 0, all left unlocked. */
int tci_central_fork_locks_held(void)
{
    int held = 0;
    for (int k = 0; k < TCI_NKINDS; k++)
        for (int c = 1; c < tci_sizeclass_count; c++) {
            if (tci_mutex_trylock(&centrals[k][c].lock) != 0)
                held = 1;
            else
                tci_mutex_unlock(&centrals[k][c].lock);
        }
    if (tci_mutex_trylock(&large_lock) != 0)
        held = 1;
    else
        tci_mutex_unlock(&large_lock);
    return held;
}

/* The spans on every list (reads only: in a child of a fork, writing the
 * span structs would copy their pages). */
uint64_t tci_central_fork_count(void)
{
    uint64_t n = 0;
    for (int h = 0; h < 2; h++) {
        for (tci_span *s = large[h]; s; s = s->next)
            n++;
        for (int k = 0; k < TCI_NKINDS; k++)
            for (int c = 1; c < tci_sizeclass_count; c++) {
                for (tci_span *s = centrals[k][c].partial[h]; s; s = s->next)
                    n++;
                for (tci_span *s = centrals[k][c].full[h]; s; s = s->next)
                    n++;
            }
    }
    return n;
}

/* First the locks, made anew (before the caches of the threads that went
 * give their spans back through them), then, once no cache holds a span,
 * the lists. */
void tci_central_fork_locks_anew(void)
{
    for (int k = 0; k < TCI_NKINDS; k++)
        for (int c = 0; c < TCI_MAX_CLASSES; c++)
            tci_mutex_init(&centrals[k][c].lock, TCI_RANK_CENTRAL, "central lock");
    tci_mutex_init(&large_lock, TCI_RANK_LARGE, "large_lock");
}

void tci_central_fork_rebuild(void)
{
    for (int k = 0; k < TCI_NKINDS; k++)
        for (int c = 0; c < TCI_MAX_CLASSES; c++) {
            central *ce = &centrals[k][c];
            ce->partial[0] = ce->partial[1] = ce->full[0] = ce->full[1] = NULL;
        }
    large[0] = large[1] = NULL;
    rebuild rb = { tci_atomic_load_relaxed(&tci_sweep_gen), 0 };
    tci_heap_for_each_span(rebuild_one, &rb);
    tci_atomic_store_relaxed(&tci_sweep_unswept_spans, rb.unswept);
}
