/* fork.c: the pthread_atfork handlers, so that a child of a forked,
 * initialised process has a working heap without a call from the embedder.
 *
 * The problem: fork copies the memory of every thread but runs only the
 * caller. A lock another thread held stays locked in the child for good;
 * a condition variable counts waiters that are gone; the collector's own
 * threads (collector, mark helpers, scavenger, notifier and event workers,
 * finalizer thread) do not exist there, though their flags say they run.
 *
 * Prepare (in the forking thread, before the copy):
 *  1. Become a blocked thread (a blocking region) if attached: nothing we
 *     wait for below may wait for us.
 *  2. Take world_lock, so no stop is in progress and none can start; the
 *     cycle may be anywhere else (a mark under way included: the child
 *     abandons it, gc/fork.c says why).
 *  3. Take the locks ranked below world_lock (tc_init's, the cycle
 *     requests', the notifier's, the scavenger's) with try-locks, in rank
 *     order; if one is busy, let everything go, yield and start again at 2.
 *     Why not simply in rank order before world_lock: an attached thread
 *     takes gc_lock while running (the allocation path's cycle request),
 *     so holding gc_lock while we wait for a stopper's world_lock would
 *     hold that thread from its safepoint, and the stop for ever. Their
 *     holders never wait for world_lock or for a stop (the order forbids
 *     the one, and they hold them only for a few stores or a condition
 *     wait, which releases them), so the retry ends.
 *  4. Take every lock ranked above world_lock, in rank order: each is
 *     held only briefly and never across a wait for a stop, and none can
 *     start now. (The centrals' locks, 170 of one rank, are not among
 *     them: gc/central.c rebuilds the centrals in the child instead.)
 * So every lock is held by the forking thread at the copy, in an order the
 * debug checker accepts, and its held-array lists each of them.
 * Parent: release them all, in reverse, and end the blocking region.
 * Child: the collector's `locked` hook (reset its threads' flags), every
 * registered condition variable made anew, the locks released, then the
 * collector's `after` hook (drop the other threads' records, give back
 * their caches, settle a mark that was under way), the region ended.
 *
 * No collection runs at fork: fork followed by exec pays the locks and,
 * in the child, a pass over the attached threads.
 */
#include "fork.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "os.h"
#include "thread.h"
#include "tricolor.h"
#include "world.h"

/* The library registers 20 locks; the registration refuses loudly beyond. */
#define MAX_FORK_LOCKS 32
#define MAX_FORK_CONDS 64

/* Written by constructors and tc_init's thread before any other thread
 * exists or before tci_fork_install; read by the handlers. */
static tci_mutex *locks[MAX_FORK_LOCKS]; /* sorted by rank, stable */
static int nlocks;
static pthread_cond_t *conds[MAX_FORK_CONDS];
static int nconds;
#define TCI_FORK_HOOKS 4
/* Added under world_lock (which the handlers hold while they read them). */
static struct { void (*locked)(void), (*after)(void); } hooks[TCI_FORK_HOOKS];
static int nhooks;
static unsigned long forks; /* the forking thread's, under every lock */
static __thread int entered_region; /* the forking thread's: prepare began a region */

void tci_fork_add_lock(tci_mutex *m)
{
    if (nlocks == MAX_FORK_LOCKS) {
        fprintf(stderr, "tricolor: fork: more than %d locks to register (%s); raise "
                        "MAX_FORK_LOCKS in runtime/fork.c\n", MAX_FORK_LOCKS, m->name);
        abort();
    }
    int i = nlocks++;
    while (i > 0 && locks[i - 1]->rank > m->rank) {
        locks[i] = locks[i - 1];
        i--;
    }
    locks[i] = m;
}

void tci_fork_add_cond(pthread_cond_t *c)
{
    if (nconds == MAX_FORK_CONDS) {
        fprintf(stderr, "tricolor: fork: more than %d condition variables to register; "
                        "raise MAX_FORK_CONDS in runtime/fork.c\n", MAX_FORK_CONDS);
        abort();
    }
    conds[nconds++] = c;
}

int tci_fork_add_child(void (*locked)(void), void (*after)(void))
{
    tci_world_lock(tci_thread_self()); /* released below */
    int rc = -1;
    if (nhooks < TCI_FORK_HOOKS) {
        hooks[nhooks].locked = locked;
        hooks[nhooks].after = after;
        nhooks++;
        rc = 0;
    }
    tci_world_unlock();
    return rc;
}

unsigned long tci_fork_count(void)
{
    return forks;
}

static void unlock_from(int top)
{
    for (int i = top; i >= 0; i--)
        tci_mutex_unlock(locks[i]);
}

/* Steps 2 and 3 for one try: 1 with world_lock and every lock below it
 * held, 0 with none held. */
static int lock_world_and_below(int world)
{
    tci_mutex_lock(locks[world]); /* partner: unlock_from in a handler below */
    for (int i = 0; i < world; i++) {
        if (tci_mutex_trylock(locks[i]) != 0) {
            for (int j = i - 1; j >= 0; j--)
                tci_mutex_unlock(locks[j]);
            tci_mutex_unlock(locks[world]);
            return 0;
        }
    }
    return 1;
}

static void fork_prepare(void)
{
    tci_thread *self = tci_thread_self();
    entered_region = self && self->blocking_depth == 0;
    if (entered_region)
        tc_blocking_begin(); /* ended by fork_parent or fork_child */
    int world = 0;
    while (world < nlocks && locks[world]->rank < TCI_RANK_WORLD)
        world++;
    while (!lock_world_and_below(world))
        sched_yield();
    for (int i = world + 1; i < nlocks; i++)
        tci_mutex_lock(locks[i]);
    forks++;
}

static void fork_parent(void)
{
    unlock_from(nlocks - 1);
    if (entered_region)
        tc_blocking_end();
}

static void fork_child(void)
{
    for (int i = 0; i < nhooks; i++)
        if (hooks[i].locked)
            hooks[i].locked();
    for (int i = 0; i < nconds; i++)
        pthread_cond_init(conds[i], NULL);
    unlock_from(nlocks - 1);
    for (int i = 0; i < nhooks; i++)
        if (hooks[i].after)
            hooks[i].after();
    if (entered_region)
        tc_blocking_end();
}

int tci_fork_install(void)
{
    static int installed; /* tc_init's, under init_lock */
    if (installed)
        return 0;
    int rc = tci_os_atfork(fork_prepare, fork_parent, fork_child);
    if (rc == 0)
        installed = 1;
    return rc;
}
