/* lock.h: the library's locks and their order.
 *
 * Every mutex of the library is a tci_mutex, made with its rank, and taken
 * and released through the calls below. The rank enum below *is* the lock
 * order: a thread takes locks in increasing rank, never one of lower or
 * equal rank than one it holds (a try-lock may, as it cannot wait). Each
 * entry says what the lock protects and where it lives. Debug and
 * sanitizer builds (TC_DEBUG) check it: taking a lock out of order aborts
 * with both names, before the call could deadlock; tci_assert_held aborts
 * a `_locked` function called without its lock; a condition wait must be
 * on the highest-ranked lock held (it takes it again on waking). Release
 * builds compile the checks out: tci_mutex_lock is pthread_mutex_lock.
 * Every lock but the centrals' and large_lock (gc/central.c makes them anew
 * in a child) is also registered for fork (runtime/fork.h, TCI_FORK_LOCK):
 * the prepare handler takes them all, in this order.
 */
#ifndef TCI_LOCK_H
#define TCI_LOCK_H

#include <pthread.h>
#include <time.h>

#ifdef TC_DEBUG
#define TCI_LOCK_CHECKS 1
#else
#define TCI_LOCK_CHECKS 0
#endif

/* Outermost first. */
typedef enum tci_lock_rank {
    TCI_RANK_INIT = 1,  /* gc/init.c: tc_init's once-only set-up */
    TCI_RANK_GC,        /* gc/cycle.c: cycle requests and counts, the collector thread's wake-up */
    TCI_RANK_NOTIFY,    /* gc/notify.c: the memory-pressure figures, the notifier worker's state */
    TCI_RANK_SCAV,      /* gc/scavenge.c: the scavenger thread's requests */
    TCI_RANK_WORLD,     /* runtime/world.c: stops (the stopper holds it across one); thread.c's list */
    TCI_RANK_PARK,      /* runtime/world.c: thread states, parking and release */
    TCI_RANK_PACER,     /* gc/control.c: the pacer's and the CPU limiter's state */
    TCI_RANK_ROOTS,     /* gc/roots.c: root ranges and callbacks (callbacks run under it) */
    TCI_RANK_POOL,      /* pool/pool.c: the pools' registry (its root callback takes it) */
    TCI_RANK_WCLEAR,    /* gc/weak_field.c: the weak fields' clearing pass after a mark */
    TCI_RANK_SPECIAL,   /* gc/special.c (weak.c, finalizer.c): weak and finalizer records, queue */
    TCI_RANK_EPH,       /* gc/ephemeron.c: the ephemerons' list and filing table */
    TCI_RANK_WFILE,     /* gc/weak_field.c: the pairs filed by key in a mark */
    TCI_RANK_WREC,      /* gc/weak_field.c: the blocks of the holders' records */
    TCI_RANK_STRAY,     /* gc/barrier.c: the tracer shared by stores from threads not attached */
    TCI_RANK_TYPES,     /* gc/type.c: the type table */
    TCI_RANK_PROFILE,   /* observe/profile.c: the heap profile's buckets */
    TCI_RANK_LARGE,     /* gc/central.c: the swept and unswept large spans */
    TCI_RANK_CENTRAL,   /* gc/central.c: one size class's span lists (one at a time) */
    TCI_RANK_HEAP,      /* gc/heap.c (heap_huge.c, heap_scavenge.c): the page heap, arenas, scavenging */
    TCI_RANK_WORK,      /* gc/mark.c: the mark's full and empty work buffers */
    TCI_RANK_HELPER,    /* gc/markers.c: the mark helpers' wake-up and count */
    TCI_RANK_EVENT,     /* observe/event.c: the cycle-event ring, the event worker's state */
    TCI_RANK_GATE,      /* gc/gate.c: the test gates' flags (the stop gate waits on it under world_lock) */
    TCI_RANK_HOOK,      /* runtime/os_linux.c: the fault hook's ranges (a leaf) */
} tci_lock_rank;

typedef struct tci_mutex {
    pthread_mutex_t m;
    int rank;         /* immutable */
    const char *name; /* immutable */
} tci_mutex;

#define TCI_MUTEX_INIT(rank, name) { PTHREAD_MUTEX_INITIALIZER, (rank), (name) }

/* The checks (lock.c); called only when TCI_LOCK_CHECKS. */
void tci_lock_check_order(const tci_mutex *m);
void tci_lock_note_held(const tci_mutex *m);
void tci_lock_note_released(const tci_mutex *m);
void tci_lock_check_wait(const tci_mutex *m);
void tci_lock_fail_not_held(const tci_mutex *m, const char *fn);
int tci_lock_is_held(const tci_mutex *m);

static inline void tci_mutex_init(tci_mutex *m, int rank, const char *name)
{
    pthread_mutex_init(&m->m, NULL);
    m->rank = rank;
    m->name = name;
}

static inline void tci_mutex_lock(tci_mutex *m)
{
    if (TCI_LOCK_CHECKS)
        tci_lock_check_order(m);
    pthread_mutex_lock(&m->m);
    if (TCI_LOCK_CHECKS)
        tci_lock_note_held(m);
}

/* 0 when taken. */
static inline int tci_mutex_trylock(tci_mutex *m)
{
    int r = pthread_mutex_trylock(&m->m);
    if (TCI_LOCK_CHECKS && r == 0)
        tci_lock_note_held(m);
    return r;
}

static inline void tci_mutex_unlock(tci_mutex *m)
{
    if (TCI_LOCK_CHECKS)
        tci_lock_note_released(m);
    pthread_mutex_unlock(&m->m);
}

static inline void tci_cond_wait(pthread_cond_t *c, tci_mutex *m)
{
    if (TCI_LOCK_CHECKS)
        tci_lock_check_wait(m);
    pthread_cond_wait(c, &m->m);
}

static inline int tci_cond_timedwait(pthread_cond_t *c, tci_mutex *m, const struct timespec *ts)
{
    if (TCI_LOCK_CHECKS)
        tci_lock_check_wait(m);
    return pthread_cond_timedwait(c, &m->m, ts);
}

/* In a `_locked` function: its lock is held by the calling thread. */
#define tci_assert_held(m)                                                          \
    do {                                                                            \
        if (TCI_LOCK_CHECKS && !tci_lock_is_held(m))                                \
            tci_lock_fail_not_held((m), __func__);                                  \
    } while (0)

#endif
