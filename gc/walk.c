/* walk.c: the heap walk (tc_heap_walk): every allocated object, the world
 * stopped.
 *
 * The walk takes world_lock and stops the world as a collection does
 * (gc/cycle.c collect_locked), flushes every cache so the alloc_bits are
 * exact (a cache's window holds its free slots outside them), finishes
 * the sweep of the last cycle (so what that mark found dead is not
 * listed) and reads every in-use span's alloc_bits under heap_lock. The
 * background sweep runs without world_lock: a span it popped before the
 * stop is waited for, span by span (its sweepgen, stored last with a
 * release, says when it is done). */
#include <errno.h>
#include <stdio.h>

#include "gc.h"

/* The thread inside a walk's callback: a nested walk or an allocation
 * from there is refused (world_lock and heap_lock are held). Owner only. */
static __thread int walking;

typedef void (*walk_fn)(void *arg, void *obj, size_t size, const tc_type *type);

typedef struct walk_state {
    walk_fn fn;
    void *arg;
    uintptr_t sg;
} walk_state;

static void walk_span(tci_span *s, void *arg)
{
    walk_state *w = arg;
    /* A span the background sweeper popped before the stop: it finishes
     * without world_lock (the count goes down after its sweepgen's
     * store). Partner of the acquire: the release store in tci_sweep_span. */
    while (tci_atomic_load_acquire(&s->sweepgen) != w->sg &&
           tci_atomic_load_acquire(&tci_sweep_unswept_spans) > 0)
        sched_yield();
    for (uint32_t i = 0; i < s->nelems; i++) {
        if (!tci_bit_get(s->alloc_bits, i))
            continue;
        uintptr_t obj = s->base + (uintptr_t)i * s->elemsize;
        const tc_type *t = NULL;
        if (s->kind == TCI_KIND_PRECISE)
            t = tci_type_table[tci_span_type_id(s, obj)];
        w->fn(w->arg, (void *)obj, s->elemsize, t);
    }
}

/* The walk, world_lock held and the world stopped by the caller; released
 * here. Its own frame: walk_world, which publishes the caller's stack for
 * the stop, holds no locals (ASan's red zones around them would be read). */
static __attribute__((noinline)) void walk_stopped(tci_thread *self, walk_fn fn, void *arg)
{
    tci_world_stop(self);
    tci_cache_flush_all_stw();
    tci_sweep_all();
    walk_state w = { fn, arg, tci_atomic_load_relaxed(&tci_sweep_gen) };
    walking = 1;
    tci_heap_for_each_span(walk_span, &w);
    walking = 0;
    tci_world_start();
    tci_world_unlock();
}

static __attribute__((noinline)) void walk_world(tci_thread *self, walk_fn fn, void *arg)
{
    tci_world_lock(self); /* released by walk_stopped */
    tci_thread_save_frame(self);
    walk_stopped(self, fn, arg);
}

int tci_walk_in_callback(void)
{
    return walking;
}

int tc_heap_walk(void (*fn)(void *arg, void *obj, size_t size, const tc_type *type), void *arg)
{
    if (!fn) {
        fprintf(stderr, "tricolor: tc_heap_walk: fn is NULL (refused)\n");
        errno = EINVAL;
        return -1;
    }
    if (walking) {
        fprintf(stderr, "tricolor: tc_heap_walk called from its own callback (the world is "
                        "stopped for the walk in progress; refused)\n");
        errno = EPERM;
        return -1;
    }
    if (tci_cache_check_thread("tc_heap_walk") != 0)
        return -1; /* errno EPERM, reported */
    /* The weak slots' clearing and most of the last cycle's sweep, world
     * running: the stop then has only what was left, and the callback
     * finds no weak slot naming an object found dead. */
    tci_weakfield_finish();
    tci_sweep_all();
    walk_world(tci_thread_self(), fn, arg);
    return 0;
}
