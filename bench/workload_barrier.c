/* workload_barrier.c: what a pointer store costs through the backend's
 * store, with the collector idle and while it marks.
 *
 * A heap array of 1024 pointer slots and 1024 small target objects; the
 * loop stores target[(7 i) mod 1024] into slot[i mod 1024], n times, and
 * reads nothing back but a final check. Idle, tricolor's store is the
 * inline flag test plus the store, and bdwgc's and malloc's a plain store:
 * the ratio is the barrier's fast path. Marking (marking = 1), tricolor's
 * stores take the barrier's slow path, as every store does while a
 * collection marks; the other backends have no marking phase that runs
 * beside the program, so that variant is not measured for them.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"

#define SLOTS 1024

void WL(barrier)(const wl_params *p, wl_result *r);
void WL(barrier)(const wl_params *p, wl_result *r)
{
    bk_init();
    memset(r, 0, sizeof *r);
    snprintf(r->params, sizeof r->params, "phase=%s n=%ld", p->marking ? "marking" : "idle",
             p->n);
    if (p->marking && !bk_marking_hold(1)) {
        r->ok = 1; /* nothing measured, nothing wrong */
        if (!p->quiet)
            printf("barrier (%s): no marking phase beside the program, not measured\n",
                   bk_name());
        return;
    }
    if (!p->quiet)
        printf("barrier (%s, %s): %ld pointer stores, collector %s\n", bk_name(),
               bk_describe(), p->n, p->marking ? "marking" : "idle");
    void **slots = bk_alloc(bk_shape_get(SLOTS, 0));
    void *targets[SLOTS];
    const bk_shape *t = bk_shape_get(0, 16);
    for (size_t i = 0; i < SLOTS; i++)
        targets[i] = bk_alloc(t);

    bk_stats before, after;
    bk_read_stats(&before);
    bk_pauses_begin();
    /* A local bound: the barrier's out-of-line slow path could otherwise
     * change p->n for all the compiler knows, and it would reload it on
     * every store of tricolor's loop but not of the plain-store loops. */
    const long n = p->n;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        bk_store(slots, &slots[i & (SLOTS - 1)], targets[(7 * i) & (SLOTS - 1)]);
    uint64_t t1 = bench_now_ns();
    if (p->marking)
        bk_marking_hold(0);
    bk_read_stats(&after);

    /* Slot k last received target[(7 i) mod 1024] for the last i < n with
     * i mod 1024 == k. */
    int ok = 1;
    for (long k = 0; k < SLOTS && k < p->n; k++) {
        long i = k + SLOTS * ((p->n - 1 - k) / SLOTS);
        ok &= slots[k] == targets[(7 * i) & (SLOTS - 1)];
    }
    if (!ok)
        fprintf(stderr, "barrier: FAILED: a slot does not hold its last store\n");
    if (bk_needs_free()) {
        for (size_t i = 0; i < SLOTS; i++)
            bk_free(targets[i]);
        bk_free(slots);
    }
    r->wall_ns = t1 - t0;
    r->ops = (uint64_t)p->n;
    bk_summarise(r, &before, &after);
    r->ok = ok;
    r->measured = 1;
}
