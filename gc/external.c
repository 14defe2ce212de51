/* external.c: memory the embedder holds outside the heap on behalf of heap
 * objects (tc_external_add), and the figures the pacer counts of it.
 *
 * E, the total reported, is one atomic word, clamped at 0 (an
 * over-subtraction warns once). The pacer (gc/control.c, gc/pacer.c)
 * compares heap_live + E with its trigger and goal, and counts X as live
 * beside what the mark kept. X is E at the last mark's stop #1 (its
 * snapshot: what is added during the mark is like the heap's objects
 * allocated black, not counted live), lowered as it is freed: a mark ends
 * with the external memory of the objects it found dead still reported
 * (their finalizers run after the sweep), and a goal from that figure
 * would count that garbage as live, grow by GC% of it, and hold more
 * garbage at the next mark (the goal crept to 7x the live external bytes
 * in tests/test_external.c). So X is the lower of two estimates since
 * stop #1:
 *  - E then less what finalizers have subtracted since (a finalizer frees
 *    only what a mark found dead: exact for the usual "small object owns
 *    a buffer" embedding);
 *  - the lowest E since then (V8's low_since_mark_compact: catches
 *    an embedder that frees from its own sweep of weak handles, not from
 *    finalizers, once its frees outpace its allocation).
 * Both are at least the external memory of what stayed live (unless the
 * program shrinks a live object's buffer: then it did shrink). When X
 * falls by 1/32 of the planned figure (at least 1 MiB), gc/control.c
 * re-plans goal and trigger with it.
 *
 * Every field here is an atomic touched from any thread, attached or not.
 */
#include <errno.h>
#include <stdio.h>

#include "gc.h"

static tci_atomic ext_bytes;     /* E: CAS loop for subtractions, atomic add otherwise */
static tci_atomic ext_fin_freed; /* monotone: subtracted by finalizers; atomic add */
static tci_atomic ext_added;     /* monotone: every addition; atomic add */
static tci_atomic ext_low;       /* lowest E since the last stop #1: CAS-min */
static tci_atomic ext_warned;    /* the over-subtraction warning was printed */

uint64_t tci_external_bytes(void)
{
    return tci_atomic_load_relaxed(&ext_bytes);
}

uint64_t tci_external_fin_freed(void)
{
    return tci_atomic_load_relaxed(&ext_fin_freed);
}

uint64_t tci_external_added(void)
{
    return tci_atomic_load_relaxed(&ext_added);
}

uint64_t tci_external_low(void)
{
    return tci_atomic_load_relaxed(&ext_low);
}

void tci_external_low_reset(uint64_t e)
{
    tci_atomic_store_relaxed(&ext_low, e);
}

/* E less up to `want`, never below 0; returns what was taken. */
static uint64_t take(uint64_t want)
{
    uintptr_t old = tci_atomic_load_relaxed(&ext_bytes);
    for (;;) {
        uintptr_t t = old < want ? old : want;
        uintptr_t seen = tci_atomic_fetch_cas_full(&ext_bytes, old, old - t);
        if (seen == old) {
            uintptr_t now = old - t;
            uintptr_t low = tci_atomic_load_relaxed(&ext_low);
            while (now < low) {
                uintptr_t s = tci_atomic_fetch_cas_full(&ext_low, low, now);
                if (s == low)
                    break;
                low = s;
            }
            return t;
        }
        old = seen;
    }
}

/* An attached thread of the program that reports more: past the trigger
 * it asks for a cycle, as an allocation would; past the goal it waits for
 * the collector to move on (tci_cycle_wait_external). External bytes are
 * not scan work, so no assist can pace them: without the wait a program
 * adding 20 GB/s of them outran every cycle (3.6x the live external bytes
 * at GC=100 in tests/test_external.c). V8 and Ruby collect synchronously
 * there. A finalizer does neither (it runs on the finalizer thread, or
 * inside tc_finalizers_run_pending, where the program may not expect a
 * collection), nor does a thread in a blocking region or not attached,
 * nor any while a stop is asked for or under way (the stopped collector's
 * own root callbacks run in its stop): the next allocation sees the
 * figure. */
static void maybe_trigger(void)
{
    tci_thread *self = tci_thread_self();
    if (!self || self->state != TCI_RUNNING || tci_finalizer_in_progress() ||
        tci_atomic_load_relaxed(&tci_world_stw_pending) ||
        tci_control_paced_bytes() < tci_control_trigger())
        return;
    int saved = errno;
    if (tci_phase() == TCI_PHASE_OFF)
        (void)tci_cycle_maybe_trigger(self, 0); /* a collector that cannot start: no failure */
    if (!tci_env_cfg.gcstoptheworld && tci_control_external_held())
        tci_cycle_wait_external();
    errno = saved;
}

void tc_external_add(int64_t bytes)
{
    if (bytes > 0) {
        tci_atomic_add_full(&ext_bytes, (uintptr_t)bytes);
        tci_atomic_add_full(&ext_added, (uintptr_t)bytes);
        maybe_trigger();
        return;
    }
    if (bytes == 0)
        return;
    uint64_t want = (uint64_t)(-(bytes + 1)) + 1; /* INT64_MIN too */
    uint64_t t = take(want);
    if (t < want && tci_atomic_cas_full(&ext_warned, 0, 1))
        fprintf(stderr,
                "tricolor: tc_external_add(%lld) subtracted more than the %llu bytes "
                "reported: external bytes clamped at 0 (warned once)\n",
                (long long)bytes, (unsigned long long)t);
    if (tci_finalizer_in_progress())
        tci_atomic_add_full(&ext_fin_freed, t);
    tci_control_external_freed(0);
}
