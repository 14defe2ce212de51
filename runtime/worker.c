/* worker.c: see worker.h. */
#include <errno.h>
#include <stdio.h>

#include "assertion.h"
#include "os.h"
#include "thread.h"
#include "tricolor.h"
#include "worker.h"

static void *worker_main(void *p)
{
    tci_worker *w = p;
    _Alignas(max_align_t) unsigned char item[TCI_WORKER_ITEM_MAX];
    tci_thread_set_library();
    tci_mutex_lock(w->lock); /* held except while calling */
    if (!w->has_thread) {
        w->thread = pthread_self();
        w->has_thread = 1;
    }
    for (;;) {
        while (!w->take(item))
            tci_cond_wait(&w->cond, w->lock);
        tci_worker_fn fn = w->fn;
        void *arg = w->arg;
        w->calling = 1;
        w->calls++;
        tci_mutex_unlock(w->lock);
        if (fn)
            w->call(fn, arg, item);
        tci_mutex_lock(w->lock);
        w->calling = 0;
        pthread_cond_broadcast(&w->idle);
    }
    return NULL;
}

int tci_worker_registered(tci_worker *w)
{
    return tci_ptr_load_acquire(&w->fn) != NULL; /* partner: tci_worker_set_unlock */
}

void tci_worker_wake_locked(tci_worker *w)
{
    tci_assert_held(w->lock);
    /* In the child of a fork the thread is gone, the callback still
     * registered: it starts again here, at the first item. */
    if (w->fn && !w->running && tci_os_thread_start(worker_main, w) == 0)
        w->running = 1;
    pthread_cond_signal(&w->cond);
}

int tci_worker_set_unlock(tci_worker *w, tci_worker_fn fn, void *arg)
{
    tci_assert_held(w->lock);
    if (fn && !w->running) {
        int rc = tci_os_thread_start(worker_main, w);
        if (rc != 0) {
            tci_mutex_unlock(w->lock);
            fprintf(stderr, "tricolor: %s\n", w->what);
            errno = rc;
            return -1;
        }
        w->running = 1;
    }
    w->arg = arg;
    /* Release: a poster that sees fn (tci_worker_registered) sees arg. */
    tci_ptr_store_release(&w->fn, fn);
    uint64_t call = w->calls;
    int wait = w->calling && !(w->has_thread && pthread_equal(pthread_self(), w->thread));
    tci_mutex_unlock(w->lock);
    if (!wait)
        return 0;
    int attached = tci_thread_self() != NULL;
    if (attached)
        tc_blocking_begin();
    tci_mutex_lock(w->lock); /* released below */
    while (w->calling && w->calls == call)
        tci_cond_wait(&w->idle, w->lock);
    tci_mutex_unlock(w->lock);
    if (attached)
        tc_blocking_end();
    return 0;
}

void tci_worker_fork_child_locked(tci_worker *w)
{
    tci_assert_held(w->lock);
    w->running = 0;
    w->calling = 0;
    w->has_thread = 0;
}
