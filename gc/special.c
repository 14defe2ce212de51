/* special.c: weak references, ephemerons and finalizers, the objects the
 * mark treats specially (Go's "specials").
 *
 * All three live outside the heap, in handles the collector does not scan
 * as roots, and are settled at the end of the mark, with the world stopped
 * and every grey object drained (tci_special_mark_done_stw), in this order:
 *
 *  1. Ephemerons, to a fixpoint: an ephemeron whose key is marked marks
 *     its value, and what the value reaches, which may mark the key of
 *     another; until a pass marks nothing. A value reachable only through
 *     its own key's ephemeron (a cycle through the value) is not a path to
 *     the key, so such a pair goes when nothing else holds the key.
 *  2. Weak references to unmarked objects are cleared, and ephemerons with
 *     unmarked keys (key and value together).
 *  3. Objects with a finalizer that are unmarked are queued for it, and
 *     marked: the object survives this cycle for its finalizer to see. Its
 *     contents were kept from the start: every cycle greys what each
 *     object with a finalizer points to (tci_special_roots, as Go's
 *     markrootSpans; the concurrent collector right after its first stop,
 *     world running: an object only its finalizer will see again cannot
 *     change, and one the program reaches is marked the usual way), so
 *     everything it reaches is intact when its
 *     finalizer runs, and an object reachable from another object with a
 *     finalizer is finalized only after that one is gone (if A points to
 *     B, A's finalizer runs first; B's in a later cycle). A cycle through
 *     an object with a finalizer keeps itself: it is never finalized.
 *
 * So weak references and ephemerons see reachability before finalizers
 * resurrect anything (Java's weak references, Go's weak.Pointer): a weak
 * reference to an object whose finalizer is pending reads NULL, though the
 * object lives until its finalizer is done with it.
 *
 * Reading a handle during a mark. A weak reference's target may be white
 * and reachable from nothing else: handing it out would give the program a
 * pointer to an object the mark will not see (the snapshot of the roots is
 * taken, and the program's stack is not a barriered store). So during a
 * mark every read (tc_weak_get, tc_ephemeron_key/value) shades what it
 * returns, like the write barrier: the object is marked by the end of the
 * mark, and the clearing in 2 does not touch it. Outside a mark a handle
 * holds either a marked object or NULL (2 ran with the world stopped), and
 * the sweep frees only unmarked ones. A reading thread is attached and
 * running, not at a safepoint, so no stop (and no clearing) happens in the
 * middle of its read.
 *
 * Finalizers run once each: the record leaves the registry when queued, so
 * an object its finalizer resurrects (stores somewhere reachable) lives on
 * without one, and is not finalized again unless it is given a new one.
 * They run on a library thread (attached, started with the first
 * finalizer), in the order they were queued, or, when the embedder turns
 * that thread off, on the embedder's thread at each
 * tc_finalizers_run_pending(). Queued objects are roots until their
 * finalizer returns.
 *
 * Costs: the concurrent mark scans the contents of every object with a
 * finalizer (in the stop, for the stopped collector; under special_lock,
 * so tc_set_finalizer waits for the pass). The last stop settles every
 * weak reference and ephemeron and runs the ephemeron fixpoint's marking,
 * with the world stopped: linear in the number of specials and in what
 * only ephemerons keep (ephemeron_fixpoint_locked), but still inside the
 * stop (issue 15 asks for it outside; the sweeper-side clearing that would
 * take it there is not built yet).
 *
 * Locks: special_lock protects the registries and the queue. It is never
 * held across a safepoint, and no thread that holds it waits for the
 * collector (unattached callers of the destroy and thread calls, threads
 * in blocking regions, hold it briefly), so the collector may take it with
 * the world stopped. Lock order: world_lock, then special_lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "os.h"

/* A handle's first word says what it is: a live weak reference or
 * ephemeron, or one destroyed. Destroyed handles wait in a quarantine of
 * QUARANTINE_N before their memory goes back to malloc, so a second
 * destroy (or a read) of one of the last QUARANTINE_N destroyed is caught
 * with a message instead of corrupting the registry; beyond that it is
 * undefined, as free's is (a pointer alone cannot tell a stale handle from
 * a new one at the same address). Written at create and destroy under
 * special_lock; read by the handle's calls. */
enum { WEAK_LIVE = 0x7765616b, EPHEMERON_LIVE = 0x6570686d, HANDLE_DEAD = 0x64656164 };
#define QUARANTINE_N 1024

struct tc_weak {
    uint32_t magic;
    /* The target; 0 once cleared. Cleared only with the world stopped;
     * read by attached threads with relaxed loads. */
    tci_atomic obj;
    struct tc_weak *prev, *next; /* protected by special_lock */
};

struct tc_ephemeron {
    uint32_t magic;
    tci_atomic key, value; /* as tc_weak's obj; cleared together */
    struct tc_ephemeron *prev, *next; /* protected by special_lock */
    struct tc_ephemeron *pending;     /* the fixpoint's table chain (world stopped) */
};

typedef struct fin {
    uintptr_t obj;
    void (*fn)(void *obj, void *arg);
    void *arg;
    struct fin *next; /* the registry's bucket chain, or the queue */
} fin;

static pthread_mutex_t special_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tc_weak *weaks;          /* special_lock */
static struct tc_ephemeron *ephemerons, *ephemerons_tail; /* oldest first; special_lock */
/* The fixpoint's table of ephemerons whose key is not marked yet, by key
 * (chained through `pending`), and those whose key has been marked since
 * (`ready`): empty outside the specials' pass. Sized when ephemerons are
 * made (at least twice as many buckets as ephemerons), never in a stop,
 * where malloc may wait for a lock a stopped thread holds. special_lock. */
static struct tc_ephemeron **eph_table, *eph_ready;
static size_t eph_buckets, eph_count;
static tci_atomic eph_visits; /* tests: ephemerons the fixpoints looked at */
/* Objects with a finalizer: a hash table by address, chained; special_lock. */
static fin **fin_table;
static size_t fin_buckets, fin_count;
/* Queued finalizers, oldest first; special_lock. */
static fin *queue_head, *queue_tail;
/* Totals for tc_finalizer_counts, which tc_read_memstats calls and which
 * must not wait for special_lock (held through a stop's specials pass):
 * atomics, written under special_lock. fin_registered mirrors fin_count. */
static tci_atomic fin_registered, fin_queued_total, fin_run_total;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER; /* with special_lock */
/* The finalizer thread: started with the first finalizer unless turned off;
 * enabled says whether it runs them. special_lock. */
static int thread_started, thread_disabled;
static pthread_t thread_id;
/* Set while the finalizer thread runs one (special_lock), so disabling it
 * can wait for that one to return. */
static int thread_running_one;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER; /* with special_lock */

/* Destroyed handles, oldest first overwritten: special_lock. */
static void *quarantine[QUARANTINE_N];
static size_t quarantine_next;

/* Takes destroyed handle h (its magic set dead) into the quarantine, and
 * frees the one it pushes out. Under special_lock. */
static void quarantine_put_locked(void *h, uint32_t *magic)
{
    *magic = HANDLE_DEAD;
    void *old = quarantine[quarantine_next];
    quarantine[quarantine_next] = h;
    quarantine_next = (quarantine_next + 1) % QUARANTINE_N;
    free(old);
}

/* Whether magic says a live handle of the kind `live`; reports fn's
 * misuse otherwise (errno EINVAL). */
static int handle_ok(const char *fn, const void *h, uint32_t magic, uint32_t live)
{
    if (magic == live)
        return 1;
    fprintf(stderr, "tricolor: %s(%p): %s (ignored)\n", fn, h,
            magic == HANDLE_DEAD ? "the handle was destroyed already"
                                 : "not a handle of this kind");
    errno = EINVAL;
    return 0;
}

/* The object p must be the start of one: handles name objects, not slots. */
static int check_object(const char *fn, void *p)
{
    if (!p || tc_object_base(p) != p) {
        fprintf(stderr, "tricolor: %s: %p is not the start of an object in the heap\n", fn,
                p);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

/* During a mark, p is shaded: what a handle gives out, what the
 * finalizer queue hands over (see the essay). The caller is attached and
 * running, so no phase change comes between the look and the shade. */
static void shade_marking(uintptr_t p)
{
    if (p && tci_atomic_load_relaxed(&tci_gcphase) == TCI_PHASE_MARK) {
        tc_tracer *tr = tci_cache_tracer();
        if (tr)
            tci_mark_shade(tr, p);
    }
}

static void *read_handle(tci_atomic *slot)
{
    uintptr_t p = tci_atomic_load_relaxed(slot);
    shade_marking(p);
    return (void *)p;
}

/* ---- Weak references ------------------------------------------------------ */

tc_weak *tc_weak_create(void *obj)
{
    if (tci_check_heap_thread("tc_weak_create") || check_object("tc_weak_create", obj))
        return NULL;
    tc_weak *w = malloc(sizeof *w);
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    tci_atomic_add_full(&tci_other_sys_bytes, sizeof *w);
    w->magic = WEAK_LIVE;
    tci_atomic_store_relaxed(&w->obj, (uintptr_t)obj);
    pthread_mutex_lock(&special_lock); /* released below */
    w->prev = NULL;
    w->next = weaks;
    if (weaks)
        weaks->prev = w;
    weaks = w;
    pthread_mutex_unlock(&special_lock);
    return w;
}

void *tc_weak_get(tc_weak *w)
{
    if (!w || tci_check_heap_thread("tc_weak_get") ||
        !handle_ok("tc_weak_get", w, w->magic, WEAK_LIVE))
        return NULL;
    return read_handle(&w->obj);
}

void tc_weak_destroy(tc_weak *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&special_lock); /* released below */
    if (!handle_ok("tc_weak_destroy", w, w->magic, WEAK_LIVE)) {
        pthread_mutex_unlock(&special_lock);
        return;
    }
    if (w->prev)
        w->prev->next = w->next;
    else
        weaks = w->next;
    if (w->next)
        w->next->prev = w->prev;
    quarantine_put_locked(w, &w->magic);
    pthread_mutex_unlock(&special_lock);
    tci_atomic_sub_full(&tci_other_sys_bytes, sizeof *w);
}

/* ---- Ephemerons ------------------------------------------------------------- */

tc_ephemeron *tc_ephemeron_create(void *key, void *value)
{
    if (tci_check_heap_thread("tc_ephemeron_create") || check_object("tc_ephemeron_create", key) ||
        (value && check_object("tc_ephemeron_create", value)))
        return NULL;
    tc_ephemeron *e = malloc(sizeof *e);
    if (!e) {
        errno = ENOMEM;
        return NULL;
    }
    e->magic = EPHEMERON_LIVE;
    tci_atomic_store_relaxed(&e->key, (uintptr_t)key);
    tci_atomic_store_relaxed(&e->value, (uintptr_t)value);
    pthread_mutex_lock(&special_lock); /* released below */
    if (eph_count + 1 > eph_buckets / 2) {
        size_t n = eph_buckets ? eph_buckets * 2 : 256;
        tc_ephemeron **t = calloc(n, sizeof *t); /* empty outside the pass */
        if (!t) {
            pthread_mutex_unlock(&special_lock);
            free(e);
            errno = ENOMEM;
            return NULL;
        }
        free(eph_table);
        tci_atomic_add_full(&tci_other_sys_bytes, (n - eph_buckets) * sizeof *t);
        eph_table = t;
        eph_buckets = n;
    }
    eph_count++;
    tci_atomic_add_full(&tci_other_sys_bytes, sizeof *e);
    e->pending = NULL;
    e->next = NULL;
    e->prev = ephemerons_tail;
    if (ephemerons_tail)
        ephemerons_tail->next = e;
    else
        ephemerons = e;
    ephemerons_tail = e;
    pthread_mutex_unlock(&special_lock);
    return e;
}

void *tc_ephemeron_key(tc_ephemeron *e)
{
    if (!e || tci_check_heap_thread("tc_ephemeron_key") ||
        !handle_ok("tc_ephemeron_key", e, e->magic, EPHEMERON_LIVE))
        return NULL;
    return read_handle(&e->key);
}

void *tc_ephemeron_value(tc_ephemeron *e)
{
    if (!e || tci_check_heap_thread("tc_ephemeron_value") ||
        !handle_ok("tc_ephemeron_value", e, e->magic, EPHEMERON_LIVE))
        return NULL;
    /* NULL once the key is gone, whatever the value was. */
    if (!tci_atomic_load_relaxed(&e->key))
        return NULL;
    return read_handle(&e->value);
}

void tc_ephemeron_destroy(tc_ephemeron *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&special_lock); /* released below */
    if (!handle_ok("tc_ephemeron_destroy", e, e->magic, EPHEMERON_LIVE)) {
        pthread_mutex_unlock(&special_lock);
        return;
    }
    if (e->prev)
        e->prev->next = e->next;
    else
        ephemerons = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        ephemerons_tail = e->prev;
    eph_count--;
    quarantine_put_locked(e, &e->magic);
    pthread_mutex_unlock(&special_lock);
    tci_atomic_sub_full(&tci_other_sys_bytes, sizeof *e);
}

/* ---- Finalizers ------------------------------------------------------------- */

/* Doubles the table; under special_lock. -1 when out of memory. */
static int fin_grow_locked(void)
{
    size_t n = fin_buckets ? fin_buckets * 2 : 64;
    fin **t = calloc(n, sizeof *t);
    if (!t)
        return -1;
    for (size_t b = 0; b < fin_buckets; b++)
        for (fin *f = fin_table[b], *next; f; f = next) {
            next = f->next;
            size_t h = tci_addr_hash(f->obj, n);
            f->next = t[h];
            t[h] = f;
        }
    free(fin_table);
    tci_atomic_add_full(&tci_other_sys_bytes, (n - fin_buckets) * sizeof *t);
    fin_table = t;
    fin_buckets = n;
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
    pthread_mutex_lock(&special_lock); /* released below */
    if (rc == 0) {
        thread_id = t;
    } else {
        thread_started = 0;
        thread_disabled = 1;
    }
    pthread_mutex_unlock(&special_lock);
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
    if (tci_check_heap_thread("tc_set_finalizer") || check_object("tc_set_finalizer", obj))
        return -1;
    pthread_mutex_lock(&special_lock); /* released on every path */
    fin **link = NULL;
    if (fin_buckets) {
        link = &fin_table[tci_addr_hash((uintptr_t)obj, fin_buckets)];
        while (*link && (*link)->obj != (uintptr_t)obj)
            link = &(*link)->next;
    }
    if (link && *link) {
        fin *f = *link;
        if (fn) {
            f->fn = fn;
            f->arg = arg;
        } else {
            *link = f->next;
            fin_count--;
            tci_atomic_store_relaxed(&fin_registered, fin_count);
            tci_atomic_sub_full(&tci_other_sys_bytes, sizeof *f);
            free(f);
        }
        pthread_mutex_unlock(&special_lock);
        return 0;
    }
    if (!fn) {
        pthread_mutex_unlock(&special_lock);
        return 0; /* nothing to remove */
    }
    fin *f = malloc(sizeof *f);
    if (!f || (fin_count >= fin_buckets && fin_grow_locked() != 0)) {
        pthread_mutex_unlock(&special_lock);
        free(f);
        errno = ENOMEM;
        return -1;
    }
    f->obj = (uintptr_t)obj;
    f->fn = fn;
    f->arg = arg;
    size_t h = tci_addr_hash(f->obj, fin_buckets);
    f->next = fin_table[h];
    fin_table[h] = f;
    fin_count++;
    tci_atomic_store_relaxed(&fin_registered, fin_count);
    tci_atomic_add_full(&tci_other_sys_bytes, sizeof *f);
    int start = !thread_started && !thread_disabled;
    if (start)
        thread_started = 1;
    pthread_mutex_unlock(&special_lock);
    if (start)
        (void)start_thread(); /* on failure: run them with tc_finalizers_run_pending */
    return 0;
}

/* Takes the oldest queued finalizer, or NULL; under special_lock, by an
 * attached thread that is running. During a mark its object and arg are
 * shaded: the queue is a root that the collector greys after the mark's
 * first stop, and what leaves it before that pass must not leave unseen
 * (a finalizer that stores its object somewhere would hide it). */
static fin *queue_pop_locked(void)
{
    fin *f = queue_head;
    if (f) {
        queue_head = f->next;
        if (!queue_head)
            queue_tail = NULL;
        shade_marking(f->obj);
        shade_marking((uintptr_t)f->arg);
    }
    return f;
}

/* Runs one taken finalizer. The object's address stays in this frame while
 * the function runs: the conservative stack scan keeps it. */
static void run_one(fin *f)
{
    void *volatile obj = (void *)f->obj;
    f->fn(obj, f->arg);
    tci_atomic_sub_full(&tci_other_sys_bytes, sizeof *f);
    free(f);
}

int tc_finalizers_run_pending(void)
{
    if (tci_check_heap_thread("tc_finalizers_run_pending"))
        return -1;
    int n = 0;
    for (;;) {
        pthread_mutex_lock(&special_lock); /* released below */
        fin *f = queue_pop_locked();
        if (f)
            tci_atomic_add_full(&fin_run_total, 1);
        pthread_mutex_unlock(&special_lock);
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
        pthread_mutex_lock(&special_lock); /* released below */
        thread_disabled = 1;
        thread_started = 0; /* tc_finalizer_thread_enable may try again */
        pthread_cond_broadcast(&idle_cond);
        pthread_mutex_unlock(&special_lock);
        return NULL;
    }
    for (;;) {
        /* Waiting holds up no collection: a blocking region. */
        tc_blocking_begin();
        pthread_mutex_lock(&special_lock); /* released below */
        while (thread_disabled || !queue_head)
            pthread_cond_wait(&queue_cond, &special_lock);
        pthread_mutex_unlock(&special_lock);
        tc_blocking_end();
        /* Taken only now, running: from the queue (a root) to this frame
         * with no safepoint between. Taken in the blocking region, the
         * object would be in neither when a stop scanned the roots. */
        pthread_mutex_lock(&special_lock); /* released below */
        fin *f = thread_disabled ? NULL : queue_pop_locked();
        if (f) {
            tci_atomic_add_full(&fin_run_total, 1);
            thread_running_one = 1;
        }
        pthread_mutex_unlock(&special_lock);
        if (!f)
            continue;
        run_one(f);
        pthread_mutex_lock(&special_lock); /* released below */
        thread_running_one = 0;
        pthread_cond_broadcast(&idle_cond);
        pthread_mutex_unlock(&special_lock);
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
    pthread_mutex_lock(&special_lock); /* released below */
    int was = !thread_disabled;
    thread_disabled = 1;
    int self = thread_started && pthread_equal(pthread_self(), thread_id);
    while (thread_running_one && !self)
        pthread_cond_wait(&idle_cond, &special_lock);
    pthread_mutex_unlock(&special_lock);
    if (me)
        tc_blocking_end();
    return was;
}

int tc_finalizer_thread_enable(void)
{
    pthread_mutex_lock(&special_lock); /* released below */
    int was = !thread_disabled;
    thread_disabled = 0;
    int start = !thread_started && (fin_count > 0 || queue_head);
    if (start)
        thread_started = 1;
    pthread_cond_broadcast(&queue_cond);
    pthread_mutex_unlock(&special_lock);
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

/* ---- The collector's side ------------------------------------------------- */

void tci_special_roots(tc_tracer *tr)
{
    pthread_mutex_lock(&special_lock); /* released below */
    /* arg too, when it is a heap object (a context object, say): it must
     * be there when fn runs. So an arg that reaches obj keeps obj alive,
     * and its finalizer never runs (Go's closures have the same catch). */
    for (size_t b = 0; b < fin_buckets; b++)
        for (fin *f = fin_table[b]; f; f = f->next) {
            tci_mark_scan_contents(tr, f->obj);
            tc_trace(tr, f->arg);
        }
    for (fin *f = queue_head; f; f = f->next) {
        tc_trace(tr, (void *)f->obj);
        tc_trace(tr, f->arg);
    }
    pthread_mutex_unlock(&special_lock);
}

static int queued_this_cycle; /* special_lock: queued by the last mark, not yet signalled */

void tci_special_marked_stw(uintptr_t obj)
{
    tc_ephemeron **link = &eph_table[tci_addr_hash(obj, eph_buckets)];
    while (*link) {
        tc_ephemeron *e = *link;
        if (tci_atomic_load_relaxed(&e->key) != obj) {
            link = &e->pending;
            continue;
        }
        *link = e->pending;
        e->pending = eph_ready;
        eph_ready = e;
    }
}

uint64_t tci_special_ephemeron_visits(void)
{
    return tci_atomic_load_relaxed(&eph_visits);
}

/* World stopped, the mark drained, under special_lock: marks the value of
 * every ephemeron whose key is marked, and what it reaches, until none is
 * left. Linear in the ephemerons and what they keep: one pass files every
 * ephemeron whose key is not marked under its key, and from then on the
 * mark reports each object it marks (tci_mark_hook_ephemerons), which
 * makes the ephemerons keyed on it ready; their values are marked in
 * turn. (Passes over all of them until one changed nothing took one pass
 * per link of a chain made newest first: 10,000 links, 0.63 s.) */
static void ephemeron_fixpoint_locked(void)
{
    uint64_t visits = 0;
    if (!ephemerons)
        return;
    tci_mark_hook_ephemerons(1);
    for (tc_ephemeron *e = ephemerons; e; e = e->next) {
        uintptr_t k = tci_atomic_load_relaxed(&e->key);
        uintptr_t v = tci_atomic_load_relaxed(&e->value);
        visits++;
        if (!k || !v)
            continue;
        if (tci_mark_is_marked(k)) {
            tci_mark_grey_stw(v); /* if white; may make filed ones ready */
        } else {
            tc_ephemeron **b = &eph_table[tci_addr_hash(k, eph_buckets)];
            e->pending = *b;
            *b = e;
        }
    }
    for (;;) {
        while (eph_ready) {
            tc_ephemeron *e = eph_ready;
            eph_ready = e->pending;
            e->pending = NULL;
            visits++;
            tci_mark_grey_stw(tci_atomic_load_relaxed(&e->value)); /* if white */
        }
        tci_mark_drain_stw(); /* what the values reach: may make more ready */
        if (!eph_ready)
            break;
    }
    tci_mark_hook_ephemerons(0);
    /* What is still filed has a dead key (cleared below): empty the table.
     * Their `pending` links go stale, unread: filing sets the link anew. */
    memset(eph_table, 0, eph_buckets * sizeof *eph_table);
    tci_atomic_add_full(&eph_visits, visits);
}

void tci_special_mark_done_stw(void)
{
    pthread_mutex_lock(&special_lock); /* released below */
    /* 1. Ephemerons to their fixpoint. */
    ephemeron_fixpoint_locked();
    /* 2. Handles to what is not marked. */
    for (tc_weak *w = weaks; w; w = w->next) {
        uintptr_t p = tci_atomic_load_relaxed(&w->obj);
        if (p && !tci_mark_is_marked(p))
            tci_atomic_store_relaxed(&w->obj, 0);
    }
    for (tc_ephemeron *e = ephemerons; e; e = e->next) {
        uintptr_t k = tci_atomic_load_relaxed(&e->key);
        if (k && !tci_mark_is_marked(k)) {
            tci_atomic_store_relaxed(&e->key, 0);
            tci_atomic_store_relaxed(&e->value, 0);
        }
    }
    /* 3. Finalizers of what is not marked: queued, the object kept. */
    int queued = 0;
    for (size_t b = 0; b < fin_buckets; b++) {
        fin **link = &fin_table[b];
        while (*link) {
            fin *f = *link;
            if (tci_mark_is_marked(f->obj)) {
                link = &f->next;
                continue;
            }
            *link = f->next;
            fin_count--;
            tci_atomic_store_relaxed(&fin_registered, fin_count);
            f->next = NULL;
            if (queue_tail)
                queue_tail->next = f;
            else
                queue_head = f;
            queue_tail = f;
            tci_mark_grey_stw(f->obj);
            queued++;
        }
    }
    if (queued) {
        tci_mark_drain_stw(); /* its contents are marked already: normally nothing */
        tci_atomic_add_full(&fin_queued_total, (uintptr_t)queued);
    }
    queued_this_cycle += queued;
    pthread_mutex_unlock(&special_lock);
}

void tci_special_after_cycle(void)
{
    pthread_mutex_lock(&special_lock); /* released below */
    if (queued_this_cycle) {
        queued_this_cycle = 0;
        pthread_cond_broadcast(&queue_cond);
    }
    pthread_mutex_unlock(&special_lock);
}
