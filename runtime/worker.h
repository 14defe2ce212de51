/* worker.h: a library thread that calls one of the program's callbacks.
 *
 * The cycle events (observe/event.c) and the memory-pressure callback
 * (gc/notify.c) are delivered the same way: on a library thread of their
 * own, started at the first registration, outside every lock, so that a
 * callback that blocks, or takes a lock an allocating thread holds while
 * it waits for the collector, holds up only its own later calls. The
 * owner keeps its queue under its own lock and gives the worker `take`,
 * which (under that lock) copies the next item out, and `call`, which
 * (with no lock held) hands it to the callback.
 *
 * Registration replaces the callback and returns only once a call of the
 * old one in progress has returned (so the program may free its arg),
 * except when made from inside that call (the worker's thread itself).
 * Every field is protected by the owner's lock; fn is also read without it
 * (tci_worker_registered), with an acquire load whose partner is the
 * release store in tci_worker_set_unlock.
 */
#ifndef TCI_WORKER_H
#define TCI_WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"

/* The largest item a worker delivers (owners check theirs statically). */
#define TCI_WORKER_ITEM_MAX 256

typedef void (*tci_worker_fn)(void); /* the callback, cast back by `call` */

typedef struct tci_worker {
    tci_mutex *lock;                       /* the owner's; immutable */
    int (*take)(void *item);               /* under lock: 1 with the next item copied */
    void (*call)(tci_worker_fn fn, void *arg, const void *item); /* no lock held */
    const char *what;                      /* the start failure's message; immutable */
    pthread_cond_t cond;                   /* work came: tci_worker_wake_locked */
    tci_worker_fn fn;                      /* lock (and tci_worker_registered) */
    void *arg;                             /* lock */
    int running;                           /* lock: the thread started */
    /* The call in progress (lock): a registration waits for it to end. */
    int calling;
    uint64_t calls;
    pthread_t thread; /* the worker's thread, once it runs */
    int has_thread;
    pthread_cond_t idle;
} tci_worker;

#define TCI_WORKER_INIT(lock_, take_, call_, what_)                                  \
    { (lock_), (take_), (call_), (what_), PTHREAD_COND_INITIALIZER, NULL, NULL, 0,     \
      0, 0, 0, 0, PTHREAD_COND_INITIALIZER }

/* Nonzero when a callback is registered: one load, no lock. */
int tci_worker_registered(tci_worker *w);
/* Under w->lock: the owner queued an item (the thread starts, when a
 * callback is registered and it does not run: in the child of a fork). */
void tci_worker_wake_locked(tci_worker *w);
/* Called with w->lock held (the owner may have dropped its queue in the
 * same critical section): replaces the callback (fn NULL: none), starting
 * the thread at the first real one; releases the lock, then waits out a
 * call of the old callback in progress, as a blocked thread if the caller
 * is attached (a stop must not wait for a callback). 0, or -1 with errno
 * and a message naming w->what when the thread cannot start (nothing
 * changed then). */
int tci_worker_set_unlock(tci_worker *w, tci_worker_fn fn, void *arg);

/* In the child of a fork, w->lock held: the worker's thread is gone (a
 * call in progress with it); the next item or registration starts one. */
void tci_worker_fork_child_locked(tci_worker *w);

#endif
