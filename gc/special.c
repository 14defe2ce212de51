/* special.c: weak references, ephemerons and finalizers, the objects the
 * mark treats specially (Go's "specials").
 *
 * All three live outside the heap, in handles the collector does not scan
 * as roots, and none is looked at by the stops of a concurrent cycle:
 *
 *  1. Ephemerons, to a fixpoint, during the mark: an ephemeron whose key
 *     is marked marks its value, and what the value reaches, which may
 *     mark the key of another. Once the concurrent mark's first drain is
 *     over (most keys marked by then), the collector files every
 *     ephemeron, world running (tci_special_file_ephemerons, a batch at a
 *     time under eph_lock): one whose key is marked has its value pushed
 *     as work; the others go in a table by key, and the key's bit is set
 *     in its span (tci_span.eph_key_bits). From then on whoever marks an
 *     object in a span with such bits (a marker, an assist, a mutator's
 *     barrier or handle read, the last stop's drain) looks at its bit, and
 *     a key found there takes its ephemerons out of the table and pushes
 *     their values (tci_special_key_marked). The values are pushed as
 *     deferred shades, marked when a marker takes them, so a chain of
 *     ephemerons costs no recursion. The fixpoint ends when the mark does:
 *     the last stop drains what the mutators' flushed tracers turned up, as
 *     for any grey work, and a value filed under a key marked there is
 *     among it. A value reachable only through its own key's ephemeron (a
 *     cycle through the value) is not a path to the key, so such a pair
 *     goes when nothing else holds the key. Ephemerons made after the
 *     filing are not filed: their key and value were in the hands of the
 *     program during the mark, so the snapshot marks both.
 *  2. Each weak reference and finalizer record is kept on the list of the
 *     span that holds its object (tci_span.weaks, .fins). Whoever sweeps
 *     a span after a mark (an allocating thread, the reclaimer, the
 *     background sweep; large and huge spans alike) first clears the weak
 *     references to its unmarked objects, then the ephemerons whose keys
 *     are still flagged in it (unmarked: a marked key's bit was cleared by
 *     its marker), key and value together, then queues each unmarked
 *     object with a finalizer and sets its mark bit, so that this sweep
 *     keeps it: the object survives this cycle for its finalizer to see.
 *     Its contents were kept from the start: every cycle greys what each
 *     object with a finalizer points to (tci_special_roots, as Go's
 *     markrootSpans; the concurrent collector right after its first stop,
 *     world running: an object only its finalizer will see again cannot
 *     change, and one the program reaches is marked the usual way), so
 *     everything it reaches is intact when its finalizer runs, and an
 *     object reachable from another object with a finalizer is finalized
 *     only after that one is gone (if A points to B, A's finalizer runs
 *     first; B's in a later cycle). A cycle through an object with a
 *     finalizer keeps itself: it is never finalized. Only then does the
 *     sweep touch the span's mark bits.
 *
 * So weak references and ephemerons see reachability before finalizers
 * resurrect anything (Java's weak references, Go's weak.Pointer): a weak
 * reference to an object whose finalizer is pending reads NULL, though the
 * object lives until its finalizer is done with it.
 *
 * Reading a handle (handle_target). Between the mark's end and the sweep
 * of its target's span, a handle may still name an object the mark found
 * dead. The read goes by what the mark found: the span's specials_sg says
 * whether its sweeper has settled its specials for this cycle. Settled,
 * the handle is cleared if the object was dead, and the read returns what
 * it holds. Not settled, the span's mark bits are still the mark's (the
 * sweeper settles before it clears any, and clears them with release
 * stores, so a reader that sees one cleared sees specials_sg set, and
 * looks again): an unmarked target reads NULL; a marked one is read again
 * from the handle, because the sweeper also marks dead objects for their
 * finalizers, and it clears the handles to them before (its atomic OR
 * publishes the clearing). A target whose span is freed or reused was
 * cleared before its span went. An ephemeron's value is read only when
 * its key reads as live. During a mark every span is settled (a cycle
 * starts with everything swept), and every read (tc_weak_get,
 * tc_ephemeron_key/value) shades what it returns, like the write barrier:
 * the target may be white and reachable from nothing else, and handing it
 * out unshaded would give the program a pointer to an object the mark
 * will not see (the snapshot of the roots is taken, and the program's
 * stack is not a barriered store); shaded, it is marked by the end of the
 * mark, and its sweeper leaves it. A reading thread is attached and
 * running, not at a safepoint, so no stop (no new mark, no new sweep
 * generation) happens in the middle of its read.
 *
 * Finalizers run once each: the record leaves the registry when queued, so
 * an object its finalizer resurrects (stores somewhere reachable) lives on
 * without one, and is not finalized again unless it is given a new one.
 * They run on a library thread (attached, started with the first
 * finalizer), in the order they were queued, or, when the embedder turns
 * that thread off, on the embedder's thread at each
 * tc_finalizers_run_pending(). Queued objects are roots until their
 * finalizer returns. A cycle's finalizers are queued as its sweep goes;
 * tc_collect returns with all of them queued (it returns with the heap
 * swept).
 *
 * Costs: the concurrent mark scans the contents of every object with a
 * finalizer (in the stop, for the stopped collector), under special_lock
 * a batch of records at a time, so tc_set_finalizer waits for one batch. The filing pass looks at each
 * ephemeron once per mark, beside the program; each filed key costs a
 * look-up when it is marked, and the mark's test of a span for keys is one
 * load of a field in the line it reads anyway. The sweep of a span costs a
 * look at each of its weak references and finalizer records and at each
 * dead key flagged in it. The stops look at none of them, but for the
 * filed keys that the last stop's drain marks (grey work the mutators
 * held, found there as any is; the stopped collector does all of it in
 * its one stop, the sweep of what is left of the last cycle included).
 * Making, destroying and setting a handle costs O(1) under its lock.
 *
 * Locks: special_lock protects the weak references' and finalizers'
 * registries, the spans' lists and the queue; eph_lock the ephemerons'
 * list and filing table. Neither is held across a safepoint, and no
 * thread that holds one waits for the collector (unattached callers of
 * the destroy and thread calls, threads in blocking regions, hold them
 * briefly), so the collector and the sweepers may take them with the
 * world stopped, and a marker (a mutator's barrier included) may take
 * eph_lock in the middle of a mark. Lock order: world_lock, special_lock,
 * eph_lock, work_lock (taken by pushing work); a sweeper holds no lock
 * but world_lock when it takes special_lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
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

/* A weak reference's or finalizer record's place on the list of the span
 * that holds its object (tci_span.weaks, .fins); span is NULL while it is
 * on none. Protected by special_lock. */
typedef struct tci_span_link {
    struct tci_span_link *prev, *next;
    tci_span *span;
} tci_span_link;

/* Puts l on the list at *head, of span s; under special_lock. */
static void span_link_locked(tci_span_link **head, tci_span_link *l, tci_span *s)
{
    l->span = s;
    l->prev = NULL;
    l->next = *head;
    if (*head)
        (*head)->prev = l;
    *head = l;
    tci_atomic_add_full(&s->nspecials, 1);
}

/* Takes l off the list at *head (its span's); under special_lock. */
static void span_unlink_locked(tci_span_link **head, tci_span_link *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        *head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    tci_atomic_sub_full(&l->span->nspecials, 1);
    l->span = NULL;
    l->prev = l->next = NULL;
}

struct tc_weak {
    uint32_t magic;
    /* The target; 0 once cleared. Cleared (under special_lock) only by the
     * sweeper of the target's span; read by attached threads
     * (handle_target). */
    tci_atomic obj;
    tci_span_link link; /* on the target's span's list while obj is set */
};

static tc_weak *weak_of(tci_span_link *l)
{
    return (tc_weak *)((char *)l - offsetof(tc_weak, link));
}

struct tc_ephemeron {
    uint32_t magic;
    /* Cleared together, under eph_lock, by the sweeper of the key's span
     * (a key left unmarked while filed); read as tc_weak's obj. */
    tci_atomic key, value;
    struct tc_ephemeron *prev, *next; /* every ephemeron, oldest first: eph_lock */
    struct tc_ephemeron *pending;     /* eph_table's chain while filed: eph_lock */
    int filed;                        /* eph_lock */
};

typedef struct tci_fin {
    uintptr_t obj;
    void (*fn)(void *obj, void *arg);
    void *arg;
    struct tci_fin *next; /* the registry's bucket chain, or the queue */
    tci_span_link link;   /* on the object's span's list while registered */
} fin;

static fin *fin_of(tci_span_link *l)
{
    return (fin *)((char *)l - offsetof(fin, link));
}

static tci_mutex special_lock = TCI_MUTEX_INIT(TCI_RANK_SPECIAL, "special_lock");
/* The ephemerons' lock: their list, the filing table and cursor. Taken
 * inside the mark (by whoever marks a filed key, mutators included),
 * after special_lock when both are held (lock order: special_lock, then
 * eph_lock, then work_lock, which pushing takes); like special_lock never
 * held across a safepoint nor by a thread that waits for the collector. */
static tci_mutex eph_lock = TCI_MUTEX_INIT(TCI_RANK_EPH, "eph_lock");
static struct tc_ephemeron *ephemerons, *ephemerons_tail; /* oldest first; eph_lock */
/* The filing pass's next ephemeron while it has let go of eph_lock between
 * batches (a destroy moves it on); NULL otherwise. eph_lock. */
static struct tc_ephemeron *file_cursor;
/* The filing table: ephemerons filed in this mark whose key was not marked
 * when filed, by key, chained through `pending` (a key's bit in its span,
 * tci_span.eph_key_bits, says it has entries here). Entries leave when
 * their key is marked, or, keys left unmarked, when the key's span is
 * swept; so it is empty when a cycle starts (everything swept). Sized
 * when ephemerons are made (at least twice as many buckets as
 * ephemerons), never in a stop, where malloc may wait for a lock a
 * stopped thread holds. eph_lock. */
static struct tc_ephemeron **eph_table;
static size_t eph_buckets, eph_count;
static tci_atomic eph_visits; /* tests: ephemerons filed, or made ready by their key */
/* Tests: weak references, ephemerons and finalizer records looked at while
 * a stop was requested or held (tci_stw_pending), by the collector's
 * passes and by sweeps; atomic adds. */
static tci_atomic stop_weak_visits, stop_eph_visits, stop_fin_visits;
/* Objects with a finalizer: a hash table by address, chained; special_lock. */
static fin **fin_table;
static size_t fin_buckets, fin_count;
/* Registry records the roots pass looks at per hold of special_lock, and
 * the most of one hold so far (tests; the queue, walked in one hold, is
 * not counted). */
#define ROOTS_BATCH 1024
static int roots_pass_on; /* special_lock: the registry must not grow */
static tci_atomic roots_longest_hold; /* written by the roots pass, the collector's */
/* Queued finalizers, oldest first; special_lock. */
static fin *queue_head, *queue_tail;
/* Totals for tc_finalizer_counts, which tc_read_memstats calls and which
 * must not wait for special_lock (taken by sweeps in a stopped
 * collector's stop, and a batch at a time by the roots pass):
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
    if (p && tci_phase() == TCI_PHASE_MARK) {
        tc_tracer *tr = tci_cache_tracer();
        if (tr)
            tci_mark_shade(tr, p);
    }
}

/* What a handle's slot names, by the rule of the essay ("Reading a
 * handle"): 0 for an object the last mark found dead whose span's sweeper
 * has not cleared the slot yet. The caller is attached and running: no
 * stop (and so no new mark, no new sweep generation) comes during it. */
static uintptr_t handle_target(tci_atomic *slot)
{
    uintptr_t p = tci_atomic_load_acquire(slot);
    if (!p)
        return 0;
    tci_span *s = tci_span_of(p);
    int st = s ? tci_span_state(s) : TCI_SPAN_FREE;
    if (st != TCI_SPAN_SMALL && st != TCI_SPAN_LARGE)
        return 0; /* its span was freed, so was it: the slot is cleared by now */
    uintptr_t sg = tci_atomic_load_relaxed(&tci_sweepgen);
    if (tci_atomic_load_acquire(&s->specials_sg) != sg) {
        /* Not settled: the mark bits are the last mark's (the sweeper
         * settles before it clears one, and a bit seen cleared, with a
         * release store, means settled: looked at again). */
        uint32_t i = tci_span_index(s, p);
        if (i / 64 >= TCI_BITMAP_WORDS)
            return 0;
        int marked = (int)((tci_atomic_load_acquire(&s->mark_bits[i / 64]) >> (i % 64)) & 1);
        if (!marked && tci_atomic_load_acquire(&s->specials_sg) != sg)
            return 0; /* the mark found it dead */
    }
    /* Settled, or marked: by the mark (the slot holds p for this cycle),
     * or by its sweeper for the object's finalizer, which cleared the
     * slot before (its atomic OR releases that): read again. */
    return tci_atomic_load_acquire(slot);
}

static void *read_handle(tci_atomic *slot)
{
    uintptr_t p = handle_target(slot);
    shade_marking(p);
    return (void *)p;
}

/* ---- Weak references ------------------------------------------------------ */

/* Takes w off its span's list, if it is on one; under special_lock. */
static void weak_unlink_locked(tc_weak *w)
{
    if (w->link.span)
        span_unlink_locked(&w->link.span->weaks, &w->link);
}

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
    tci_span *s = tci_span_of((uintptr_t)obj);
    tci_mutex_lock(&special_lock); /* released below */
    span_link_locked(&s->weaks, &w->link, s);
    tci_mutex_unlock(&special_lock);
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
    tci_mutex_lock(&special_lock); /* released below */
    if (!handle_ok("tc_weak_destroy", w, w->magic, WEAK_LIVE)) {
        tci_mutex_unlock(&special_lock);
        return;
    }
    weak_unlink_locked(w);
    quarantine_put_locked(w, &w->magic);
    tci_mutex_unlock(&special_lock);
    tci_atomic_sub_full(&tci_other_sys_bytes, sizeof *w);
}

/* ---- Ephemerons ------------------------------------------------------------- */

/* Doubles the filing table, moving what is filed; under eph_lock. -1
 * when out of memory. (The finalizers' registry grows the same way, in a
 * table of its own type: fin_grow_locked.) */
static int eph_grow_locked(void)
{
    size_t n = eph_buckets ? eph_buckets * 2 : 256;
    tc_ephemeron **t = calloc(n, sizeof *t);
    if (!t)
        return -1;
    for (size_t b = 0; b < eph_buckets; b++)
        for (tc_ephemeron *e = eph_table[b], *next; e; e = next) {
            next = e->pending;
            size_t h = tci_addr_hash(tci_atomic_load_relaxed(&e->key), n);
            e->pending = t[h];
            t[h] = e;
        }
    free(eph_table);
    tci_atomic_add_full(&tci_other_sys_bytes, (n - eph_buckets) * sizeof *t);
    eph_table = t;
    eph_buckets = n;
    return 0;
}

/* Takes filed e out of the filing table; under eph_lock. */
static void eph_unfile_locked(tc_ephemeron *e)
{
    tc_ephemeron **link = &eph_table[tci_addr_hash(tci_atomic_load_relaxed(&e->key), eph_buckets)];
    while (*link != e)
        link = &(*link)->pending;
    *link = e->pending;
    e->pending = NULL;
    e->filed = 0;
}

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
    tci_mutex_lock(&eph_lock); /* released below */
    if (eph_count + 1 > eph_buckets / 2 && eph_grow_locked() != 0) {
        tci_mutex_unlock(&eph_lock);
        free(e);
        errno = ENOMEM;
        return NULL;
    }
    eph_count++;
    tci_atomic_add_full(&tci_other_sys_bytes, sizeof *e);
    e->pending = NULL;
    e->filed = 0;
    e->next = NULL;
    e->prev = ephemerons_tail;
    if (ephemerons_tail)
        ephemerons_tail->next = e;
    else
        ephemerons = e;
    ephemerons_tail = e;
    tci_mutex_unlock(&eph_lock);
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
    if (!handle_target(&e->key))
        return NULL;
    return read_handle(&e->value);
}

void tc_ephemeron_destroy(tc_ephemeron *e)
{
    if (!e)
        return;
    tci_mutex_lock(&special_lock); /* released below */
    if (!handle_ok("tc_ephemeron_destroy", e, e->magic, EPHEMERON_LIVE)) {
        tci_mutex_unlock(&special_lock);
        return;
    }
    tci_mutex_lock(&eph_lock); /* released below; lock order: special_lock first */
    if (file_cursor == e)
        file_cursor = e->next;
    if (e->filed)
        eph_unfile_locked(e);
    if (e->prev)
        e->prev->next = e->next;
    else
        ephemerons = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        ephemerons_tail = e->prev;
    eph_count--;
    tci_mutex_unlock(&eph_lock);
    quarantine_put_locked(e, &e->magic);
    tci_mutex_unlock(&special_lock);
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
    tci_mutex_lock(&special_lock); /* released below */
    if (rc == 0) {
        thread_id = t;
    } else {
        thread_started = 0;
        thread_disabled = 1;
    }
    tci_mutex_unlock(&special_lock);
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
    tci_mutex_lock(&special_lock); /* released on every path */
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
            span_unlink_locked(&f->link.span->fins, &f->link);
            fin_count--;
            tci_atomic_store_relaxed(&fin_registered, fin_count);
            tci_atomic_sub_full(&tci_other_sys_bytes, sizeof *f);
            free(f);
        }
        tci_mutex_unlock(&special_lock);
        return 0;
    }
    if (!fn) {
        tci_mutex_unlock(&special_lock);
        return 0; /* nothing to remove */
    }
    fin *f = malloc(sizeof *f);
    /* Not while the roots pass has let go of the lock: see there. */
    int grow = !fin_buckets || (fin_count >= fin_buckets && !roots_pass_on);
    if (!f || (grow && fin_grow_locked() != 0)) {
        tci_mutex_unlock(&special_lock);
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
    tci_span *s = tci_span_of(f->obj);
    span_link_locked(&s->fins, &f->link, s);
    fin_count++;
    tci_atomic_store_relaxed(&fin_registered, fin_count);
    tci_atomic_add_full(&tci_other_sys_bytes, sizeof *f);
    int start = !thread_started && !thread_disabled;
    if (start)
        thread_started = 1;
    tci_mutex_unlock(&special_lock);
    if (start)
        (void)start_thread(); /* on failure: run them with tc_finalizers_run_pending */
    return 0;
}

/* Queues finalizer f, newest last; under special_lock. */
static void queue_push_locked(fin *f)
{
    f->next = NULL;
    if (queue_tail)
        queue_tail->next = f;
    else
        queue_head = f;
    queue_tail = f;
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
        tci_mutex_lock(&special_lock); /* released below */
        fin *f = queue_pop_locked();
        if (f)
            tci_atomic_add_full(&fin_run_total, 1);
        tci_mutex_unlock(&special_lock);
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
        tci_mutex_lock(&special_lock); /* released below */
        thread_disabled = 1;
        thread_started = 0; /* tc_finalizer_thread_enable may try again */
        pthread_cond_broadcast(&idle_cond);
        tci_mutex_unlock(&special_lock);
        return NULL;
    }
    for (;;) {
        /* Waiting holds up no collection: a blocking region. */
        tc_blocking_begin();
        tci_mutex_lock(&special_lock); /* released below */
        while (thread_disabled || !queue_head)
            tci_cond_wait(&queue_cond, &special_lock);
        tci_mutex_unlock(&special_lock);
        tc_blocking_end();
        /* Taken only now, running: from the queue (a root) to this frame
         * with no safepoint between. Taken in the blocking region, the
         * object would be in neither when a stop scanned the roots. */
        tci_mutex_lock(&special_lock); /* released below */
        fin *f = thread_disabled ? NULL : queue_pop_locked();
        if (f) {
            tci_atomic_add_full(&fin_run_total, 1);
            thread_running_one = 1;
        }
        tci_mutex_unlock(&special_lock);
        if (!f)
            continue;
        run_one(f);
        tci_mutex_lock(&special_lock); /* released below */
        thread_running_one = 0;
        pthread_cond_broadcast(&idle_cond);
        tci_mutex_unlock(&special_lock);
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
    tci_mutex_lock(&special_lock); /* released below */
    int was = !thread_disabled;
    thread_disabled = 1;
    int self = thread_started && pthread_equal(pthread_self(), thread_id);
    while (thread_running_one && !self)
        tci_cond_wait(&idle_cond, &special_lock);
    tci_mutex_unlock(&special_lock);
    if (me)
        tc_blocking_end();
    return was;
}

int tc_finalizer_thread_enable(void)
{
    tci_mutex_lock(&special_lock); /* released below */
    int was = !thread_disabled;
    thread_disabled = 0;
    int start = !thread_started && (fin_count > 0 || queue_head);
    if (start)
        thread_started = 1;
    pthread_cond_broadcast(&queue_cond);
    tci_mutex_unlock(&special_lock);
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

static void roots_hold_done(uint64_t n)
{
    if (n > tci_atomic_load_relaxed(&roots_longest_hold))
        tci_atomic_store_relaxed(&roots_longest_hold, n); /* one roots pass at a time */
}

uint64_t tci_special_roots_longest_hold(void)
{
    return tci_atomic_load_relaxed(&roots_longest_hold);
}

void tci_special_roots(tc_tracer *tr)
{
    tci_mutex_lock(&special_lock); /* released below, and between batches */
    /* The registry a batch of ROOTS_BATCH records at a time, at a
     * bucket's edge: tc_set_finalizer and tc_weak_destroy wait for one
     * batch, not for the whole pass (300,000 records took it tens of ms).
     * The table does not grow meanwhile, so no record moves to a bucket
     * the pass has done; a record added meanwhile names an object the
     * program holds, which this mark marks and scans the usual way. arg
     * too, when it is a heap object (a context object, say): it must be
     * there when fn runs. So an arg that reaches obj keeps obj alive, and
     * its finalizer never runs (Go's closures have the same catch). */
    roots_pass_on = 1;
    uint64_t held = 0;
    for (size_t b = 0; b < fin_buckets; b++) {
        for (fin *f = fin_table[b]; f; f = f->next) {
            tci_mark_scan_contents(tr, f->obj);
            tc_trace(tr, f->arg);
            held++;
        }
        if (held >= ROOTS_BATCH) {
            roots_hold_done(held);
            held = 0;
            tci_mutex_unlock(&special_lock);
            tci_mutex_lock(&special_lock);
        }
    }
    roots_pass_on = 0;
    /* The registry's last batch ends here; the queue is not counted in it.
     * The queue goes in one hold: the finalizer thread pops and frees its
     * records, so a walk cannot let go in the middle; a finalizer taken
     * from it meanwhile is shaded (queue_pop_locked), and it is short
     * unless a cycle just queued a crowd (under TSan, with the finalizer
     * thread slow, nearly a thousand were counted with the registry's last
     * batch and failed the test that bounds a batch). */
    roots_hold_done(held);
    for (fin *f = queue_head; f; f = f->next) {
        tc_trace(tr, (void *)f->obj);
        tc_trace(tr, f->arg);
    }
    tci_mutex_unlock(&special_lock);
}

uint64_t tci_special_ephemeron_visits(void)
{
    return tci_atomic_load_relaxed(&eph_visits);
}

/* Counts n ephemerons looked at, and among those in stops. */
static void eph_count_visits(uint64_t n)
{
    tci_atomic_add_full(&eph_visits, n);
    if (tci_atomic_load_relaxed(&tci_stw_pending))
        tci_atomic_add_full(&stop_eph_visits, n);
}

/* Takes every ephemeron filed under key out of the table; returns them
 * chained through `pending`. Under eph_lock. */
static tc_ephemeron *unfile_key_locked(uintptr_t key)
{
    tc_ephemeron *taken = NULL;
    tc_ephemeron **link = &eph_table[tci_addr_hash(key, eph_buckets)];
    while (*link) {
        tc_ephemeron *e = *link;
        if (tci_atomic_load_relaxed(&e->key) != key) {
            link = &e->pending;
            continue;
        }
        *link = e->pending;
        e->pending = taken;
        e->filed = 0;
        taken = e;
    }
    return taken;
}

/* Key was marked, with its key bit set (and cleared by the caller, who
 * alone handles it): every ephemeron filed under it leaves the table, its
 * value pushed onto tr, to be shaded when taken (not here: the value may
 * be a key in turn, and so on down a chain). Under eph_lock; returns how
 * many. */
static uint64_t release_key_locked(tc_tracer *tr, uintptr_t key)
{
    uint64_t n = 0;
    for (tc_ephemeron *e = unfile_key_locked(key), *next; e; e = next) {
        next = e->pending;
        e->pending = NULL;
        n++;
        uintptr_t v = tci_atomic_load_relaxed(&e->value);
        if (v)
            tci_mark_push_deferred(tr, v);
    }
    return n;
}

void tci_special_key_marked(tc_tracer *tr, uintptr_t key)
{
    tci_mutex_lock(&eph_lock); /* released below */
    uint64_t n = release_key_locked(tr, key);
    tci_mutex_unlock(&eph_lock);
    eph_count_visits(n);
}

/* The filing pass's look at e; under eph_lock. Returns 1 when it pushed
 * work onto tr. A key not marked yet is filed, then its bit set, then its
 * mark looked at again: the marker sets the mark bit, then looks at the
 * key bit (mark.c's mark_key), both with full barriers between, so one of
 * the two sees the other's, and whichever clears the key bit releases
 * the key's entries (a marker waits for eph_lock to do it). */
static int file_one_locked(tc_tracer *tr, tc_ephemeron *e)
{
    uintptr_t k = tci_atomic_load_relaxed(&e->key);
    uintptr_t v = tci_atomic_load_relaxed(&e->value);
    if (!k || !v)
        return 0; /* nothing to keep */
    if (tci_mark_is_marked(k)) {
        tci_mark_push_deferred(tr, v);
        return 1;
    }
    size_t h = tci_addr_hash(k, eph_buckets);
    e->pending = eph_table[h];
    eph_table[h] = e;
    e->filed = 1;
    tci_span *s = tci_span_of(k);
    uint32_t i = tci_span_index(s, k);
    tci_atomic *w = &s->eph_key_bits[i / 64];
    uintptr_t bit = (uintptr_t)1 << (i % 64);
    if (tci_atomic_or_test(w, bit))
        tci_atomic_add_full(&s->eph_keys, 1);
    if (tci_mark_is_marked(k) && tci_atomic_and_test(w, bit)) {
        /* Marked meanwhile, by a marker that did not see the bit. */
        tci_atomic_sub_full(&s->eph_keys, 1);
        eph_count_visits(release_key_locked(tr, k));
        return 1;
    }
    return 0;
}

/* Ephemerons filed per hold of eph_lock: creators, destroyers and the
 * markers of filed keys wait for one batch at most (a few tens of us). */
#define FILE_BATCH 1024

int tci_special_file_ephemerons(tc_tracer *tr)
{
    int pushed = 0;
    uint64_t looked = 0;
    tci_mutex_lock(&eph_lock); /* released below, and between batches */
    file_cursor = ephemerons;
    while (file_cursor) {
        for (int n = 0; n < FILE_BATCH && file_cursor; n++) {
            tc_ephemeron *e = file_cursor;
            file_cursor = e->next;
            pushed |= file_one_locked(tr, e);
            looked++;
        }
        if (file_cursor) {
            tci_mutex_unlock(&eph_lock);
            tci_mutex_lock(&eph_lock);
        }
    }
    tci_mutex_unlock(&eph_lock);
    eph_count_visits(looked);
    return pushed;
}

/* By the sweeper of s, under special_lock, before it touches a mark bit:
 * every key still flagged in s was left unmarked by the mark (a marked one
 * had its bit cleared by its marker), so its ephemerons are cleared, key
 * and value, and leave the table. */
static void clear_dead_keys_locked(tci_span *s)
{
    uint64_t n = 0;
    tci_mutex_lock(&eph_lock); /* released below */
    for (uint32_t w = 0; w < (s->nelems + 63) / 64; w++) {
        uintptr_t bits = tci_atomic_load_relaxed(&s->eph_key_bits[w]);
        while (bits) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            tci_atomic_and_not(&s->eph_key_bits[w], (uintptr_t)1 << (i % 64));
            tci_atomic_sub_full(&s->eph_keys, 1);
            uintptr_t key = s->base + (uintptr_t)i * s->elemsize;
            for (tc_ephemeron *e = unfile_key_locked(key), *next; e; e = next) {
                next = e->pending;
                e->pending = NULL;
                n++;
                /* Relaxed, as the weak references' clearing. */
                tci_atomic_store_relaxed(&e->key, 0);
                tci_atomic_store_relaxed(&e->value, 0);
            }
        }
    }
    tci_mutex_unlock(&eph_lock);
    if (tci_atomic_load_relaxed(&tci_stw_pending))
        tci_atomic_add_full(&stop_eph_visits, n);
}

/* Whether object obj of span s is marked (by the last mark, or by this
 * sweep for its finalizer): its mark bits are intact until the sweep. */
static int span_marked(tci_span *s, uintptr_t obj)
{
    return tci_mark_get(s, tci_span_index(s, obj));
}

/* Under special_lock, by the sweeper of s, before it touches a mark bit:
 * weak references to its unmarked objects cleared, and the ephemerons
 * keyed on them; then its unmarked objects with a finalizer queued, oldest queued first, and marked, so
 * that this sweep keeps them (what they reach was marked: their contents
 * are roots), and counted back into the live heap, which the mark left
 * them out of. The weak references first: one to an object whose
 * finalizer is now pending reads NULL (reachability before
 * resurrection); so does an ephemeron keyed on it. */
static void settle_span_locked(tci_span *s)
{
    uint64_t nweak = 0, nfin = 0;
    int queued = 0;
    for (tci_span_link *l = s->weaks, *next; l; l = next) {
        tc_weak *w = weak_of(l);
        next = l->next;
        nweak++;
        if (!span_marked(s, tci_atomic_load_relaxed(&w->obj))) {
            /* Relaxed: the release stores that follow (the OR below, and
             * specials_sg) publish it to handle_target. */
            tci_atomic_store_relaxed(&w->obj, 0);
            weak_unlink_locked(w);
        }
    }
    if (tci_atomic_load_relaxed(&s->eph_keys))
        clear_dead_keys_locked(s);
    for (tci_span_link *l = s->fins, *next; l; l = next) {
        fin *f = fin_of(l);
        next = l->next;
        nfin++;
        uint32_t i = tci_span_index(s, f->obj);
        if (tci_mark_get(s, i))
            continue;
        (void)tci_atomic_or_test(&s->mark_bits[i / 64], (uintptr_t)1 << (i % 64));
        tci_atomic_add_full(&tci_heap_live, s->elemsize);
        fin **link = &fin_table[tci_addr_hash(f->obj, fin_buckets)];
        while (*link != f)
            link = &(*link)->next;
        *link = f->next;
        span_unlink_locked(&s->fins, &f->link);
        fin_count--;
        queue_push_locked(f);
        queued++;
    }
    if (queued) {
        tci_atomic_store_relaxed(&fin_registered, fin_count);
        tci_atomic_add_full(&fin_queued_total, (uintptr_t)queued);
        pthread_cond_broadcast(&queue_cond); /* never blocks: a stop may be held */
    }
    if (tci_atomic_load_relaxed(&tci_stw_pending)) {
        tci_atomic_add_full(&stop_weak_visits, nweak);
        tci_atomic_add_full(&stop_fin_visits, nfin);
    }
}

void tci_special_sweep(tci_span *s, uintptr_t sg)
{
    if (tci_atomic_load_relaxed(&s->nspecials) || tci_atomic_load_relaxed(&s->eph_keys)) {
        tci_mutex_lock(&special_lock); /* released below */
        settle_span_locked(s);
        tci_mutex_unlock(&special_lock);
    }
    /* Release: a reader that sees it sees the cleared slots. */
    tci_atomic_store_release(&s->specials_sg, sg);
}

void tci_special_stop_visits(uint64_t *weak, uint64_t *eph, uint64_t *fins)
{
    *weak = tci_atomic_load_relaxed(&stop_weak_visits);
    *eph = tci_atomic_load_relaxed(&stop_eph_visits);
    *fins = tci_atomic_load_relaxed(&stop_fin_visits);
}
