/* thread.c: the attached threads: their registry, attach and detach, the
 * safepoint poll, and blocking regions.
 *
 * What a stop does with them is runtime/world.c's: a thread polls
 * tci_world_stw_pending and parks there (tci_world_park), and a blocking
 * region tells it the thread counts as stopped (tci_world_enter_blocking,
 * tci_world_leave_blocking). The registry is protected by world.c's
 * world_lock, which attach and detach take (as blocked threads), so the
 * thread list never changes during a stop.
 */
#include "thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "tricolor.h"
#include "world.h"

static tci_thread *threads;   /* protected by world_lock (world.c) */
static int nthreads;          /* protected by world_lock (world.c) */
static tci_thread_hooks hooks; /* set once at init */
static pthread_key_t exit_key; /* destructor detaches a thread that exits attached */
static int initialised;

static __thread tci_thread *self_tls __attribute__((tls_model("initial-exec")));
/* The calling thread's role: a program's, the library's, or the library's
 * and attached by it (tci_thread_set_library). Owner only. */
enum { ROLE_PROGRAM = 0, ROLE_LIBRARY = 1, ROLE_LIBRARY_ATTACHED = 2 };
static __thread int role;

void tci_thread_set_library(void)
{
    role = ROLE_LIBRARY;
}

tci_thread *tci_thread_self(void)
{
    return self_tls;
}

static void thread_exit_destructor(void *arg)
{
    tci_thread *t = arg;
    if (t && self_tls == t)
        tc_thread_detach();
}

int tci_thread_init(const tci_thread_hooks *h, int ncpu)
{
    hooks = *h;
    tci_world_init(ncpu);
    if (pthread_key_create(&exit_key, thread_exit_destructor) != 0)
        return -1;
    initialised = 1;
    return 0;
}

__attribute__((noinline)) uintptr_t tci_thread_deeper_frame(void)
{
    return (uintptr_t)__builtin_frame_address(0);
}

/* A blocking region outlives the frame of the public function that began
 * it: the frame is saved (tci_thread_save_frame) and the thread counts as
 * stopped. Always inlined: the frame must be the public function's, the
 * outermost of the library's frames. */
static inline __attribute__((always_inline)) TCI_NO_SANITIZE void
blocking_enter_here(tci_thread *self)
{
    tci_thread_save_frame(self);
    tci_world_enter_blocking(self);
}

tci_thread *tci_thread_first(void)
{
    return threads;
}

int tci_thread_count(void)
{
    return nthreads;
}

void tci_thread_check_stack_slow(const tci_thread *self, uintptr_t sp, const char *where)
{
    const tc_stack *s = self->stack_cur;
    fprintf(stderr, "tricolor: an attached thread meets the collector (%s) at %#lx, outside "
                    "the stack the collector knows it runs on (%s, [%#lx, %#lx)): a thread "
                    "that switches stacks (makecontext/swapcontext, coroutines, fibers, green "
                    "threads) must register each stack with tc_stack_register and call "
                    "tc_stack_switch right before each switch (docs/embedding.md); aborting "
                    "rather than scanning memory that is no stack\n",
            where, (unsigned long)sp, s->own ? "its own" : "a registered one",
            (unsigned long)s->lo, (unsigned long)s->hi);
    abort();
}

static int thread_attach(uintptr_t caller);

int tc_thread_attach(void)
{
    if (role != ROLE_PROGRAM) {
        fprintf(stderr, "tricolor: tc_thread_attach called on one of the library's own "
                        "threads (from a callback: a cycle event, memory pressure, a native "
                        "pool's release); those threads must not touch the heap (refused)\n");
        errno = EPERM;
        return -1;
    }
    return thread_attach(TCI_CALLER());
}

int tci_thread_attach_from(uintptr_t caller)
{
    return thread_attach(caller);
}

int tci_thread_attach_library(void)
{
    role = ROLE_LIBRARY;
    if (thread_attach(TCI_CALLER()) != 0)
        return -1;
    role = ROLE_LIBRARY_ATTACHED;
    return 0;
}

static int thread_attach(uintptr_t caller)
{
    if (!initialised) {
        fprintf(stderr, "tricolor: tc_thread_attach: call tc_init() first\n");
        errno = EPERM;
        return -1;
    }
    if (self_tls) {
        errno = EALREADY;
        return -1;
    }
    tci_thread *t = calloc(1, sizeof *t);
    if (!t) {
        errno = ENOMEM;
        return -1;
    }
    t->tid = pthread_self();
    t->os_tid = tci_os_thread_id();
    if (tci_os_stack_range(&t->own.lo, &t->own.hi) != 0) {
        fprintf(stderr, "tricolor: tc_thread_attach: cannot find this thread's stack\n");
        free(t);
        errno = EINVAL;
        return -1;
    }
    t->stack_hi = t->own.hi;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (here < t->own.lo || here >= t->own.hi) {
        fprintf(stderr, "tricolor: tc_thread_attach: called on a stack other than this "
                        "thread's own (a coroutine's?): attach on the thread's own stack, "
                        "then tell the collector of the others with tc_stack_register and "
                        "tc_stack_switch (refused)\n");
        free(t);
        errno = EINVAL;
        return -1;
    }
    t->state = TCI_RUNNING;
    tci_thread_note_poll(t, caller);
    /* Not yet in the list, so no stop waits for us while we wait for the lock. */
    tci_world_lock(NULL); /* released below */
    if (hooks.attach && hooks.attach(t) != 0) {
        tci_world_unlock();
        free(t);
        errno = ENOMEM;
        return -1;
    }
    t->next = threads;
    if (threads)
        threads->prev = t;
    threads = t;
    nthreads++;
    tci_atomic_add_full(&tci_world_nrunning, 1); /* RUNNING from here */
    tci_stack_add_own_locked(t);
    self_tls = t;
    tci_world_unlock();
    pthread_setspecific(exit_key, t);
    return 0;
}

void tc_thread_detach(void)
{
    tci_thread *t = self_tls;
    if (!t)
        return;
    if (role == ROLE_LIBRARY_ATTACHED) {
        fprintf(stderr, "tricolor: tc_thread_detach called on the finalizer thread (from a "
                        "finalizer); it stays attached (ignored)\n");
        return;
    }
    /* Blocked from here on: no stop waits for us, and once we hold
     * world_lock none is in progress. */
    blocking_enter_here(t);
    tci_world_lock(NULL); /* released below; blocked already, so as if not attached */
    if (t->prev)
        t->prev->next = t->next;
    else
        threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    nthreads--;
    tci_stack_remove_own_locked(t);
    if (hooks.detach)
        hooks.detach(t);
    self_tls = NULL;
    tci_world_unlock();
    pthread_setspecific(exit_key, NULL);
    free(t);
}

int tc_thread_is_attached(void)
{
    return self_tls != NULL;
}

void tc_safepoint(void)
{
    tci_thread *t = self_tls;
    /* Inside a blocking region the thread counts as stopped already:
     * parking would return it RUNNING with the region still open. */
    if (!t)
        return;
    tci_thread_note_fast_poll(t, TCI_CALLER());
    if (tci_atomic_load_relaxed(&tci_world_stw_pending) && t->blocking_depth == 0)
        tci_world_park(t);
}

void tc_blocking_begin(void)
{
    tci_thread *t = self_tls;
    if (!t) {
        fprintf(stderr, "tricolor: tc_blocking_begin from a thread that is not attached (ignored)\n");
        return;
    }
    tci_thread_note_poll(t, TCI_CALLER());
    if (t->blocking_depth++ == 0) {
        /* The heap's calls are refused from here to the region's end
         * (the allocation fast path included, at no cost to it): one
         * that parked would return the thread RUNNING with the region
         * still open, and the wait the region covers would hold every
         * stop. */
        if (hooks.region)
            hooks.region(t, 1);
        blocking_enter_here(t);
    }
}

void tc_blocking_end(void)
{
    tci_thread *t = self_tls;
    if (!t) {
        fprintf(stderr, "tricolor: tc_blocking_end from a thread that is not attached (ignored)\n");
        return;
    }
    if (t->blocking_depth == 0) {
        fprintf(stderr, "tricolor: tc_blocking_end without tc_blocking_begin (ignored)\n");
        return;
    }
    tci_thread_note_poll(t, TCI_CALLER());
    if (--t->blocking_depth == 0) {
        tci_world_leave_blocking(t);
        if (hooks.region)
            hooks.region(t, 0);
    }
}

/* The child of a fork (runtime/fork.c, gc/fork.c), locks released, one
 * thread: every record but the caller's is dropped, its collector data
 * given back through the detach hook (a cache's spans to their centrals),
 * as if each of those threads had detached. Returns how many went. */
int tci_thread_fork_child(void)
{
    tci_thread *self = self_tls;
    int dropped = 0;
    tci_world_lock(NULL); /* released below; one thread: never waits */
    tci_thread *t = threads;
    threads = NULL;
    nthreads = 0;
    while (t) {
        tci_thread *next = t->next;
        if (t == self) {
            t->next = threads;
            t->prev = NULL;
            threads = t;
            nthreads = 1;
        } else {
            if (hooks.detach)
                hooks.detach(t);
            /* Its own stack leaves the registry, and a coroutine stack it
             * was running is suspended empty: else the child's scans walk
             * a freed record (they did: SIGSEGV in the child's first
             * collection, test_fork, once the stacks had a registry). */
            tci_stack_remove_own_locked(t);
            free(t);
            dropped++;
        }
        t = next;
    }
    tci_world_unlock();
    return dropped;
}
