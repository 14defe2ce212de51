/* finalizer.c: finalizers: their registry (tc_set_finalizer), their queue
 * and the thread that runs them.
 *
 * A finalizer record lives outside the heap, in a hash table by its
 * object's address (the registry), and on the list of the span that holds
 * its object (tci_span.fins, gc/special.h's tci_span_link):
 *
 *  1. Registered. Every cycle greys what each object with a finalizer
 *     points to, and its arg (tci_special_roots, gc/special.c, walks the
 *     registry), so everything it reaches is intact when its finalizer
 *     runs, and an object reachable from another object with a finalizer
 *     is finalized only after that one is gone (if A points to B, A's
 *     finalizer runs first; B's in a later cycle). A cycle through an
 *     object with a finalizer keeps itself: it is never finalized.
 *  2. Queued. The sweeper of the object's span, after the span's weak
 *     references and ephemerons (gc/special.c's settling), takes the
 *     record of each unmarked object out of the registry, queues it, and
 *     sets the object's mark bit, so that this sweep keeps it: the object
 *     survives this cycle for its finalizer to see
 *     (tci_finalizer_settle_span_locked). A cycle's finalizers are queued
 *     as its sweep goes; tc_collect returns with all of them queued (it
 *     returns with the heap swept). Queued objects are roots until their
 *     finalizer returns (the roots pass walks the queue too).
 *  3. Run. Finalizers run once each: the record left the registry when
 *     queued, so an object its finalizer resurrects (stores somewhere
 *     reachable) lives on without one, and is not finalized again unless
 *     it is given a new one. They run on a library thread (attached,
 *     started with the first finalizer), in the order they were queued,
 *     or, when the embedder turns that thread off, on the embedder's
 *     thread at each tc_finalizers_run_pending().
 *
 * Locks: special_lock (gc/special.c) protects the registry, the queue and
 * the thread's flags; it is held a batch of records at a time by the
 * roots pass, so tc_set_finalizer waits for one batch. Setting or
 * removing a finalizer costs O(1) under it.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "fork.h"
#include "special.h"

static tci_fin *fin_of(tci_span_link *l)
{
    return (tci_fin *)((char *)l - offsetof(tci_fin, link));
}

/* Objects with a finalizer: a hash table by address, chained through
 * `next`; special_lock. fin_count is how many. */
tci_fin **tci_finalizer_table;
size_t tci_finalizer_buckets;
static size_t fin_count;
/* Queued finalizers, oldest first; special_lock. */
tci_fin *tci_finalizer_queue_head;
static tci_fin *queue_tail;
/* Totals for tc_finalizer_counts, which tc_read_memstats calls and which
 * must not wait for special_lock (taken by sweeps in a stopped
 * collector's stop, and a batch at a time by the roots pass):
 * atomics, written under special_lock. fin_registered mirrors fin_count. */
static tci_atomic fin_registered, fin_queued_total, fin_run_total;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER; /* with special_lock */
TCI_FORK_COND(queue_cond, queue_cond)
/* The finalizer thread: started with the first finalizer unless turned
 * off; thread_disabled says it is turned off (it then runs none: they
 * wait for tc_finalizers_run_pending). thread_id is set once the thread
 * is created. special_lock. */
static int thread_started, thread_disabled;
static pthread_t thread_id;
/* Set while the finalizer thread runs one (special_lock), so disabling it
 * can wait for that one to return. */
static int thread_running_one;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER; /* with special_lock */
TCI_FORK_COND(idle_cond, idle_cond)

/* Doubles the table; under special_lock. -1 when out of memory. (The
 * ephemerons' filing table grows the same way, in a table of its own
 * type: gc/ephemeron.c's eph_grow_locked.) */
static int fin_grow_locked(void)
{
    tci_assert_held(&tci_special_lock);
    size_t n = tci_finalizer_buckets ? tci_finalizer_buckets * 2 : 64;
    tci_fin **t = calloc(n, sizeof *t);
    if (!t)
        return -1;
#define FIN_KEY(f) ((f)->obj)
    TCI_ADDR_REHASH(tci_fin, next, FIN_KEY, tci_finalizer_table, tci_finalizer_buckets, t, n);
    free(tci_finalizer_table);
    tci_atomic_add_full(&tci_stats_other_sys_bytes, (n - tci_finalizer_buckets) * sizeof *t);
    tci_finalizer_table = t;
    tci_finalizer_buckets = n;
    return 0;
}

static void *finalizer_main(void *arg);

/* Starts the finalizer thread (thread_started already set by the caller
 * under special_lock). 0, or -1 with the thread marked not started and
 * disabled. */
static int start_thread(void)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, finalizer_main, NULL);
    tci_mutex_lock(&tci_special_lock); /* released below */
    if (rc == 0) {
        thread_id = t;
    } else {
        thread_started = 0;
        thread_disabled = 1;
    }
    tci_mutex_unlock(&tci_special_lock);
    if (rc != 0) {
        fprintf(stderr, "tricolor: could not start the finalizer thread (error %d): "
                        "finalizers run only from tc_finalizers_run_pending\n", rc);
        errno = EAGAIN;
        return -1;
    }
    pthread_detach(t);
    return 0;
}

int tc_set_finalizer(void *obj, void (*fn)(void *obj, void *arg), void *arg)
{
    if (tci_cache_check_thread("tc_set_finalizer") ||
        tci_special_check_object("tc_set_finalizer", obj))
        return -1;
    tci_mutex_lock(&tci_special_lock); /* released on every path */
    tci_fin **link = NULL;
    if (tci_finalizer_buckets) {
        link = &tci_finalizer_table[tci_addr_hash((uintptr_t)obj, tci_finalizer_buckets)];
        while (*link && (*link)->obj != (uintptr_t)obj)
            link = &(*link)->next;
    }
    if (link && *link) {
        tci_fin *f = *link;
        if (fn) {
            f->fn = fn;
            f->arg = arg;
        } else {
            *link = f->next;
            tci_special_span_unlink_locked(&f->link.span->fins, &f->link);
            fin_count--;
            tci_atomic_store_relaxed(&fin_registered, fin_count);
            tci_atomic_sub_full(&tci_stats_other_sys_bytes, sizeof *f);
            free(f);
        }
        tci_mutex_unlock(&tci_special_lock);
        return 0;
    }
    if (!fn) {
        tci_mutex_unlock(&tci_special_lock);
        return 0; /* nothing to remove */
    }
    tci_fin *f = malloc(sizeof *f);
    /* Not while the roots pass has let go of the lock: see there. */
    int grow = !tci_finalizer_buckets ||
               (fin_count >= tci_finalizer_buckets && !tci_special_roots_pass_on);
    if (!f || (grow && fin_grow_locked() != 0)) {
        tci_mutex_unlock(&tci_special_lock);
        free(f);
        errno = ENOMEM;
        return -1;
    }
    f->obj = (uintptr_t)obj;
    f->fn = fn;
    f->arg = arg;
    size_t h = tci_addr_hash(f->obj, tci_finalizer_buckets);
    f->next = tci_finalizer_table[h];
    tci_finalizer_table[h] = f;
    tci_span *s = tci_span_of(f->obj);
    tci_special_span_link_locked(&s->fins, &f->link, s);
    fin_count++;
    tci_atomic_store_relaxed(&fin_registered, fin_count);
    tci_atomic_add_full(&tci_stats_other_sys_bytes, sizeof *f);
    int start = !thread_started && !thread_disabled;
    if (start)
        thread_started = 1;
    tci_mutex_unlock(&tci_special_lock);
    if (start)
        (void)start_thread(); /* on failure: run them with tc_finalizers_run_pending */
    return 0;
}

/* Queues finalizer f, newest last; under special_lock. */
static void queue_push_locked(tci_fin *f)
{
    tci_assert_held(&tci_special_lock);
    f->next = NULL;
    if (queue_tail)
        queue_tail->next = f;
    else
        tci_finalizer_queue_head = f;
    queue_tail = f;
}

/* Takes the oldest queued finalizer, or NULL; under special_lock, by an
 * attached thread that is running. During a mark its object and arg are
 * shaded: the queue is a root that the collector greys after the mark's
 * first stop, and what leaves it before that pass must not leave unseen
 * (a finalizer that stores its object somewhere would hide it). */
static tci_fin *queue_pop_locked(void)
{
    tci_assert_held(&tci_special_lock);
    tci_fin *f = tci_finalizer_queue_head;
    if (f) {
        tci_finalizer_queue_head = f->next;
        if (!tci_finalizer_queue_head)
            queue_tail = NULL;
        tci_barrier_shade(f->obj);
        tci_barrier_shade((uintptr_t)f->arg);
    }
    return f;
}

static __thread int running_depth; /* owner only: finalizers running on this thread */

int tci_finalizer_in_progress(void)
{
    return running_depth > 0;
}

/* Runs one taken finalizer. The object's address stays in this frame while
 * the function runs: the conservative stack scan keeps it. */
static void run_one(tci_fin *f)
{
    void *volatile obj = (void *)f->obj;
    running_depth++;
    f->fn(obj, f->arg);
    running_depth--;
    tci_atomic_sub_full(&tci_stats_other_sys_bytes, sizeof *f);
    free(f);
}

int tc_finalizers_run_pending(void)
{
    if (tci_cache_check_thread("tc_finalizers_run_pending"))
        return -1;
    int n = 0;
    for (;;) {
        tci_mutex_lock(&tci_special_lock); /* released below */
        tci_fin *f = queue_pop_locked();
        if (f)
            tci_atomic_add_full(&fin_run_total, 1);
        tci_mutex_unlock(&tci_special_lock);
        if (!f)
            return n;
        run_one(f);
        n++;
    }
}

static void *finalizer_main(void *arg)
{
    (void)arg;
    if (tci_thread_attach_library() != 0) {
        fprintf(stderr, "tricolor: the finalizer thread could not attach: finalizers run "
                        "only from tc_finalizers_run_pending\n");
        tci_mutex_lock(&tci_special_lock); /* released below */
        thread_disabled = 1;
        thread_started = 0; /* tc_finalizer_thread_enable may try again */
        pthread_cond_broadcast(&idle_cond);
        tci_mutex_unlock(&tci_special_lock);
        return NULL;
    }
    for (;;) {
        /* Waiting holds up no collection: a blocking region. */
        tc_blocking_begin();
        tci_mutex_lock(&tci_special_lock); /* released below */
        while (thread_disabled || !tci_finalizer_queue_head)
            tci_cond_wait(&queue_cond, &tci_special_lock);
        tci_mutex_unlock(&tci_special_lock);
        tc_blocking_end();
        /* Taken only now, running: from the queue (a root) to this frame
         * with no safepoint between. Taken in the blocking region, the
         * object would be in neither when a stop scanned the roots. */
        tci_mutex_lock(&tci_special_lock); /* released below */
        tci_fin *f = thread_disabled ? NULL : queue_pop_locked();
        if (f) {
            tci_atomic_add_full(&fin_run_total, 1);
            thread_running_one = 1;
        }
        tci_mutex_unlock(&tci_special_lock);
        if (!f)
            continue;
        run_one(f);
        tci_mutex_lock(&tci_special_lock); /* released below */
        thread_running_one = 0;
        pthread_cond_broadcast(&idle_cond);
        tci_mutex_unlock(&tci_special_lock);
    }
    return NULL;
}

int tc_finalizer_thread_disable(void)
{
    /* Once this returns no finalizer runs on the library thread: it waits
     * for the one that thread may be running (unless the caller is that
     * finalizer), in a blocking region, since the finalizer may need a
     * collection to finish. */
    tci_thread *me = tci_thread_self();
    if (me)
        tc_blocking_begin();
    tci_mutex_lock(&tci_special_lock); /* released below */
    int was = !thread_disabled;
    thread_disabled = 1;
    int self = thread_started && pthread_equal(pthread_self(), thread_id);
    while (thread_running_one && !self)
        tci_cond_wait(&idle_cond, &tci_special_lock);
    tci_mutex_unlock(&tci_special_lock);
    if (me)
        tc_blocking_end();
    return was;
}

int tc_finalizer_thread_enable(void)
{
    tci_mutex_lock(&tci_special_lock); /* released below */
    int was = !thread_disabled;
    thread_disabled = 0;
    int start = !thread_started && (fin_count > 0 || tci_finalizer_queue_head);
    if (start)
        thread_started = 1;
    pthread_cond_broadcast(&queue_cond);
    tci_mutex_unlock(&tci_special_lock);
    if (start && start_thread() != 0)
        return -1;
    return was;
}

void tc_finalizer_counts(uint64_t *registered, uint64_t *queued, uint64_t *run)
{
    if (registered)
        *registered = tci_atomic_load_relaxed(&fin_registered);
    if (queued)
        *queued = tci_atomic_load_relaxed(&fin_queued_total);
    if (run)
        *run = tci_atomic_load_relaxed(&fin_run_total);
}

/* ---- The sweep's side ------------------------------------------------------- */

uint64_t tci_finalizer_settle_span_locked(tci_span *s)
{
    tci_assert_held(&tci_special_lock);
    /* The unmarked objects of s with a finalizer queued, oldest queued
     * first, and marked, so that this sweep keeps them (what they reach
     * was marked: their contents are roots), and counted back into the
     * live heap, which the mark left them out of. */
    uint64_t nfin = 0;
    int queued = 0;
    for (tci_span_link *l = s->fins, *next; l; l = next) {
        tci_fin *f = fin_of(l);
        next = l->next;
        nfin++;
        uint32_t i = tci_span_index(s, f->obj);
        if (tci_mark_get(s, i))
            continue;
        (void)tci_atomic_or_test(&s->mark_bits[i / 64], (uintptr_t)1 << (i % 64));
        tci_atomic_add_full(&tci_heap_live, s->elemsize);
        tci_fin **link = &tci_finalizer_table[tci_addr_hash(f->obj, tci_finalizer_buckets)];
        while (*link != f)
            link = &(*link)->next;
        *link = f->next;
        tci_special_span_unlink_locked(&s->fins, &f->link);
        fin_count--;
        queue_push_locked(f);
        queued++;
    }
    if (queued) {
        tci_atomic_store_relaxed(&fin_registered, fin_count);
        tci_atomic_add_full(&fin_queued_total, (uintptr_t)queued);
        pthread_cond_broadcast(&queue_cond); /* never blocks: a stop may be held */
    }
    return nfin;
}

/* The child of a fork, every lock held: the finalizer thread (and a
 * finalizer it ran) are gone; 1 when it ran and must run again
 * (tci_finalizer_fork_restart, once the locks are released). */
int tci_finalizer_fork_child_locked(void)
{
    tci_assert_held(&tci_special_lock);
    int was = thread_started && !thread_disabled;
    thread_started = 0;
    thread_running_one = 0;
    return was && (fin_count > 0 || tci_finalizer_queue_head);
}

void tci_finalizer_fork_restart(void)
{
    tci_mutex_lock(&tci_special_lock); /* released below */
    int start = !thread_started && !thread_disabled;
    if (start)
        thread_started = 1;
    tci_mutex_unlock(&tci_special_lock);
    if (start)
        (void)start_thread(); /* on failure: as at a first tc_set_finalizer */
}
