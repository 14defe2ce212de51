/* oom.c: out-of-memory recovery. An allocation the heap cannot satisfy
 * (the OS refused a mapping) calls tci_oom_recover once: the program's
 * callback (tc_on_out_of_memory) runs, then a full collection and a
 * scavenge, and the allocation retries once; only a second failure
 * returns NULL with ENOMEM (tci_oom_failed). Lua, cppgc, bdwgc and MMTk do
 * the same: garbage could have satisfied the request.
 *
 * The callback runs on the allocating thread, attached and outside any
 * blocking region, with no library lock held: it runs before the
 * collection, so what it drops (a cache's last reference) is freed by that
 * collection and reused by the retry; a worker thread, as
 * tc_on_memory_pressure's, could not promise that without the allocation
 * waiting for it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "gc.h"

/* A registration: never freed (a few bytes each; a reader may still hold
 * the one a newer registration replaced). */
typedef struct oom_record {
    void (*fn)(void *arg, size_t request);
    void *arg;
    struct oom_record *older; /* kept reachable, for leak checkers */
} oom_record;

/* The newest registration: release store at registration, acquire load
 * at recovery (partners). */
static tci_atomic oom_head;
/* tc_memstats' oom_retries and oom_failures: atomic adds. */
static tci_atomic oom_retries, oom_failures;
/* Nonzero while this thread recovers: an allocation failing inside the
 * callback or the collection fails at once. Owner only. */
static __thread int recovering;

int tc_on_out_of_memory(void (*fn)(void *arg, size_t request), void *arg)
{
    oom_record *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "tricolor: tc_on_out_of_memory: out of memory\n");
        errno = ENOMEM;
        return -1;
    }
    r->fn = fn;
    r->arg = arg;
    for (;;) {
        uintptr_t old = tci_atomic_load_relaxed(&oom_head);
        r->older = (oom_record *)old;
        /* Full barrier (release included): partner the acquire load in
         * tci_oom_recover, which then sees fn and arg whole. */
        if (tci_atomic_cas_full(&oom_head, old, (uintptr_t)r))
            return 0;
    }
}

int tci_oom_recover(size_t request)
{
    if (recovering)
        return 0;
    recovering = 1;
    tci_atomic_add_full(&oom_retries, 1);
    const oom_record *r = (const oom_record *)tci_atomic_load_acquire(&oom_head);
    if (r && r->fn)
        r->fn(r->arg, request);
    /* Inside a no-GC section tc_collect collects nothing (gc/defer.c): the
     * section's promise holds, the retry sees only what fn freed. */
    tc_collect();
    if (!tci_defer_active())
        tci_scavenge_all();
    recovering = 0;
    return 1;
}

void tci_oom_failed(void)
{
    tci_atomic_add_full(&oom_failures, 1);
}

void tci_oom_read_counts(uint64_t *retries, uint64_t *failures)
{
    *retries = tci_atomic_load_relaxed(&oom_retries);
    *failures = tci_atomic_load_relaxed(&oom_failures);
}
