/* defer.c: no-GC sections (tc_gc_defer_begin/end): while any is open, no
 * collection starts; the first one asked for inside starts when the
 * outermost ends.
 *
 * Process-wide and nesting, as bdwgc's GC_disable: a collection is
 * process-wide, so a section that protects a raw pointer one thread holds
 * must hold off every thread's collections, and nesting lets a library's
 * section sit inside its caller's. A cycle already running when a section
 * begins runs on to its end: every object allocated since it began is
 * black or swept already, so it frees nothing the section made. */
#include <stdio.h>

#include "gc.h"

/* Open sections, every thread's: atomic (full adds and CASes). */
static tci_atomic depth;
/* The sections this thread opened less those it closed (a section may be
 * closed by another thread: then one goes below 0). Only for a fork's
 * child, whose other threads are gone and cannot close theirs. */
static __thread intptr_t own_depth;
/* What was asked for inside: 0 nothing, 1 a background cycle (the heap
 * reached the trigger), 2 a forced one (tc_collect). Atomic CASes. */
static tci_atomic pending;

void tc_gc_defer_begin(void)
{
    tci_atomic_add_full(&depth, 1);
    own_depth++;
}

void tci_defer_fork_child(void)
{
    /* Sections the vanished threads held would never end: the child keeps
     * its one thread's own (it ends them), and at most what was open. */
    uintptr_t open = tci_atomic_load_relaxed(&depth);
    uintptr_t own = own_depth > 0 ? (uintptr_t)own_depth : 0;
    tci_atomic_store_relaxed(&depth, own < open ? own : open);
}

int tci_defer_active(void)
{
    return tci_atomic_load_relaxed(&depth) != 0;
}

/* Takes what was asked for and starts it (no section open any more). */
static void run_pending(void)
{
    uintptr_t p;
    do
        p = tci_atomic_load_relaxed(&pending);
    while (p != 0 && !tci_atomic_cas_full(&pending, p, 0));
    if (p != 0)
        tci_cycle_start_deferred(p == 2);
}

void tci_defer_note(int forced)
{
    uintptr_t want = forced ? 2 : 1;
    for (;;) {
        uintptr_t p = tci_atomic_load_relaxed(&pending);
        if (p >= want || tci_atomic_cas_full(&pending, p, want))
            break;
    }
    /* The last section may have ended between the caller's look at the
     * depth and the note: then nobody else would start it. */
    if (tci_atomic_load_acquire(&depth) == 0)
        run_pending();
}

void tc_gc_defer_end(void)
{
    for (;;) {
        uintptr_t n = tci_atomic_load_relaxed(&depth);
        if (n == 0) {
            fprintf(stderr, "tricolor: tc_gc_defer_end without a tc_gc_defer_begin "
                            "(ignored)\n");
            return;
        }
        if (tci_atomic_cas_full(&depth, n, n - 1)) {
            own_depth--;
            if (n == 1)
                run_pending();
            return;
        }
    }
}
