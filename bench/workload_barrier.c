/* workload_barrier.c: what a pointer store costs through the backend's
 * store, with the collector idle and while it marks.
 *
 * A heap array of 1024 pointer slots and two small target objects; the
 * loop stores one target or the other (alternately, both held in
 * registers) into slot[i mod 1024], n times, and reads nothing back but a
 * final check: the loop is the store and the barrier and nothing else.
 * (An earlier version loaded the targets from an array on the stack; the
 * loads 4 KiB-aliased the stores for one backend's heap layout and not
 * another's, which moved the plain-store figure by 2x.) Idle, tricolor's store is the
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
    const bk_shape *t = bk_shape_get(0, 16);
    void *even = bk_alloc(t), *odd = bk_alloc(t);

    bk_stats before, after;
    bench_read_stats(&before);
    bk_pauses_begin();
    /* A local bound: the barrier's out-of-line slow path could otherwise
     * change p->n for all the compiler knows, and it would reload it on
     * every store of tricolor's loop but not of the plain-store loops. */
    const long n = p->n;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        bk_store(slots, &slots[i & (SLOTS - 1)], (i & 1) ? odd : even);
    uint64_t t1 = bench_now_ns();
    if (p->marking)
        bk_marking_hold(0);
    bench_read_stats(&after);

    /* Slot k last received the target of the last i < n with
     * i mod 1024 == k, and i has k's parity. */
    int ok = 1;
    for (long k = 0; k < SLOTS && k < p->n; k++)
        ok &= slots[k] == ((k & 1) ? odd : even);
    if (!ok)
        fprintf(stderr, "barrier: FAILED: a slot does not hold its last store\n");
    if (bk_needs_free()) {
        bk_free(even);
        bk_free(odd);
        bk_free(slots);
    }
    r->wall_ns = t1 - t0;
    r->ops = (uint64_t)p->n;
    bk_summarise(r, &before, &after);
    r->ok = ok;
    r->measured = 1;
}
