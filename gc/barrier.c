/* barrier.c: the phase, and the write barrier's marking path.
 *
 * The phase is one variable, tc_barrier_enabled_, which the public
 * header's inline tc_store reads as its flag: TCI_PHASE_MARK from a
 * concurrent cycle's first stop to its last (the barrier shades, caches
 * allocate black, handles shade what they give out), TCI_PHASE_CLEAR
 * after a mark that found objects with weak slots, until their clearing
 * pass is done (gc/weak_field.c: a store into such an object finishes the
 * pass first), TCI_PHASE_OFF otherwise. It changes only with every
 * attached thread stopped (tci_barrier_set_phase, under world_lock) but
 * for CLEAR's end, so an attached thread that is running reads the phase
 * of its whole run since its last safepoint, or CLEAR where it has just
 * become OFF (harmless: the slow path then finds the pass done): the
 * stop's hand-off orders the write before its next read, and a relaxed
 * load suffices everywhere but in tc_load_weak and the sweep, which
 * acquire what the pass cleared. The release store pairs with nothing the
 * reader needs; it keeps the flag after what the stop wrote before it for
 * a thread that reads it without having stopped (one not attached).
 *
 * The barrier is Yuasa's deletion barrier: the value a store overwrites is
 * shaded before it goes, so no object reachable at the mark's start loses
 * its last path unseen (see gc/cycle.c's essay for the argument).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fork.h"
#include "gc.h"

volatile int tc_barrier_enabled_;

void tci_barrier_set_phase(int phase)
{
    tci_int_store_release(&tc_barrier_enabled_, phase);
}

/* Shading for threads without a tracer of their own (not attached: the
 * API asks them not to touch the heap, but a stray store must not lose an
 * object). */
static tci_mutex stray_lock = TCI_MUTEX_INIT(TCI_RANK_STRAY, "stray_lock");
TCI_FORK_LOCK(stray_lock)
static tc_tracer *stray_tracer; /* stray_lock */

/* The shared tracer, stray_lock taken (stray_give releases it). */
static tc_tracer *stray_take(void)
{
    tci_mutex_lock(&stray_lock); /* released by stray_give */
    if (!stray_tracer)
        stray_tracer = tci_mark_tracer_new();
    if (!stray_tracer) {
        fprintf(stderr, "tricolor: out of memory in the write barrier\n");
        abort();
    }
    return stray_tracer;
}

/* Its grey objects to the global list at once (no stop flushes it). */
static void stray_give(tc_tracer *tr)
{
    tci_mark_tracer_flush(tr);
    tci_mutex_unlock(&stray_lock);
}

static __attribute__((noinline)) void shade_stray(uintptr_t old)
{
    tc_tracer *tr = stray_take();
    tci_mark_shade(tr, old);
    stray_give(tr);
}

/* A root added or removed while a mark runs (gc/roots.c): what it holds
 * now is shaded, every word of [lo, hi) conservatively, or what fn reports
 * when fn is not NULL. Added: the mark's snapshot did not count it as a
 * root, and its objects may have had no other holder the mark knows of
 * (a static table that becomes a root only now). Removed: dropping the
 * root is overwriting all its words at once, so what they held is shaded
 * as a store's old value is. The caller is not at a safepoint, so the
 * phase cannot change under an attached caller. */
void tci_barrier_shade_root(uintptr_t lo, uintptr_t hi, tc_root_fn fn, void *arg)
{
    if (tci_phase() != TCI_PHASE_MARK)
        return;
    tc_tracer *tr = tci_cache_tracer();
    int stray = tr == NULL;
    if (stray)
        tr = stray_take();
    if (fn)
        fn(tr, arg);
    else
        tci_mark_range(tr, lo, hi);
    if (stray)
        stray_give(tr);
}

void tci_barrier_shade(uintptr_t p)
{
    if (!p || tci_phase() != TCI_PHASE_MARK)
        return;
    tc_tracer *tr = tci_cache_tracer();
    if (tr)
        tci_mark_shade(tr, p);
    else
        shade_stray(p);
}

/* The flag may be stale in either direction at a store that races with a
 * phase change only if the thread is not at a safepoint, and phase
 * changes happen only with every attached thread at one: so the phase
 * read here is the store's phase. */
void tc_store_slow_(void *obj, void **slot, void *value)
{
    if (tci_phase() != TCI_PHASE_MARK) {
        /* CLEAR (or just past it): a holder's slots are the clearing
         * pass's until it is done (gc/weak_field.c); nothing to shade. */
        if (tci_weakfield_holder(obj))
            tci_weakfield_finish();
        tci_ptr_store_release(slot, value);
        return;
    }
    tci_barrier_shade((uintptr_t)tci_ptr_load_relaxed(slot));
    /* Release: a marker that loads the pointer (mark.c's acquire loads of
     * slots) sees the object it points to set up. */
    tci_ptr_store_release(slot, value);
}
