/* special.c: what weak references, ephemerons and finalizers, the objects
 * the mark treats specially (Go's "specials"), have in common: their
 * handles' reads and checks, the spans' lists of records, the roots the
 * finalizers keep, and the settling of a span's specials at its sweep.
 * Each kind has a file of its own: gc/weak.c, gc/ephemeron.c (with the
 * mark's fixpoint over them), gc/finalizer.c (with their queue and
 * thread); gc/special.h is what the four share.
 *
 * All three live outside the heap, in handles the collector does not scan
 * as roots, and none is looked at by the stops of a concurrent cycle:
 *
 *  1. Ephemerons, to a fixpoint, during the mark (gc/ephemeron.c): filed
 *     by key once the concurrent mark's first drain is over, world
 *     running, their values pushed as their keys are marked.
 *  2. The finalizers' roots, during the mark: every cycle greys what each
 *     object with a finalizer points to (tci_special_roots, as Go's
 *     markrootSpans; the concurrent collector right after its first stop,
 *     world running: an object only its finalizer will see again cannot
 *     change, and one the program reaches is marked the usual way), so
 *     everything it reaches is intact when its finalizer runs.
 *  3. The settling, at sweep. Each weak reference and finalizer record is
 *     kept on the list of the span that holds its object (tci_span.weaks,
 *     .fins). Whoever sweeps a span after a mark (an allocating thread,
 *     the reclaimer, the background sweep; large and huge spans alike)
 *     first clears the weak references to its unmarked objects
 *     (gc/weak.c), then the ephemerons whose keys are still flagged in it
 *     (gc/ephemeron.c), key and value together, then queues each unmarked
 *     object with a finalizer and sets its mark bit, so that this sweep
 *     keeps it (gc/finalizer.c): the object survives this cycle for its
 *     finalizer to see. Only then does the sweep touch the span's mark
 *     bits.
 *
 * So weak references and ephemerons see reachability before finalizers
 * resurrect anything (Java's weak references, Go's weak.Pointer): a weak
 * reference to an object whose finalizer is pending reads NULL, though the
 * object lives until its finalizer is done with it.
 *
 * Reading a handle (tci_special_handle_target). Between the mark's end
 * and the sweep of its target's span, a handle may still name an object
 * the mark found dead. The read goes by what the mark found: the span's
 * specials_sg says whether its sweeper has settled its specials for this
 * cycle. Settled, the handle is cleared if the object was dead, and the
 * read returns what it holds. Not settled, the span's mark bits are still
 * the mark's (the sweeper settles before it clears any, and clears them
 * with release stores, so a reader that sees one cleared sees specials_sg
 * set, and looks again): an unmarked target reads NULL; a marked one is
 * read again from the handle, because the sweeper also marks dead objects
 * for their finalizers, and it clears the handles to them before (its
 * atomic OR publishes the clearing). A target whose span is freed or
 * reused was cleared before its span went. An ephemeron's value is read
 * only when its key reads as live. During a mark every span is settled (a
 * cycle starts with everything swept), and every read (tc_weak_get,
 * tc_ephemeron_key/value) shades what it returns, like the write barrier:
 * the target may be white and reachable from nothing else, and handing it
 * out unshaded would give the program a pointer to an object the mark
 * will not see (the snapshot of the roots is taken, and the program's
 * stack is not a barriered store); shaded, it is marked by the end of the
 * mark, and its sweeper leaves it. A reading thread is attached and
 * running, not at a safepoint, so no stop (no new mark, no new sweep
 * generation) happens in the middle of its read.
 *
 * Costs: the concurrent mark scans the contents of every object with a
 * finalizer (in the stop, for the stopped collector), under special_lock
 * a batch of records at a time, so tc_set_finalizer waits for one batch.
 * The sweep of a span costs a look at each of its weak references and
 * finalizer records and at each dead key flagged in it. The stops look at
 * none of them, but for the filed keys that the last stop's drain marks
 * (grey work the mutators held, found there as any is; the stopped
 * collector does all of it in its one stop, the sweep of what is left of
 * the last cycle included). Making, destroying and setting a handle costs
 * O(1) under its lock.
 *
 * Locks: special_lock (here) protects the weak references' and
 * finalizers' registries, the spans' lists, the queue, the finalizer
 * thread's flags and the handles' quarantine; eph_lock (gc/ephemeron.c)
 * the ephemerons' list and filing table. Neither is held across a
 * safepoint, and no thread that holds one waits for the collector
 * (unattached callers of the destroy and thread calls, threads in
 * blocking regions, hold them briefly), so the collector and the sweepers
 * may take them with the world stopped, and a marker (a mutator's barrier
 * included) may take eph_lock in the middle of a mark. Their place in the
 * lock order (after world_lock, before work_lock, which pushing work
 * takes) is runtime/lock.h's ranks; a sweeper holds no lock but
 * world_lock when it takes special_lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fork.h"
#include "special.h"

tci_mutex tci_special_lock = TCI_MUTEX_INIT(TCI_RANK_SPECIAL, "special_lock");
TCI_FORK_LOCK(tci_special_lock)

/* ---- Handles ---------------------------------------------------------------- */

/* Destroyed handles wait in a quarantine of QUARANTINE_N before their
 * memory goes back to malloc, so a second destroy (or a read) of one of
 * the last QUARANTINE_N destroyed is caught with a message instead of
 * corrupting the registry; beyond that it is undefined, as free's is (a
 * pointer alone cannot tell a stale handle from a new one at the same
 * address). */
#define QUARANTINE_N 1024

/* Destroyed handles, oldest first overwritten: special_lock. */
static void *quarantine[QUARANTINE_N];
static size_t quarantine_next;

void tci_special_quarantine_put_locked(void *h, uint32_t *magic)
{
    tci_assert_held(&tci_special_lock);
    *magic = TCI_HANDLE_DEAD;
    void *old = quarantine[quarantine_next];
    quarantine[quarantine_next] = h;
    quarantine_next = (quarantine_next + 1) % QUARANTINE_N;
    free(old);
}

int tci_special_handle_ok(const char *fn, const void *h, uint32_t magic, uint32_t live)
{
    if (magic == live)
        return 1;
    fprintf(stderr, "tricolor: %s(%p): %s (ignored)\n", fn, h,
            magic == TCI_HANDLE_DEAD ? "the handle was destroyed already"
                                     : "not a handle of this kind");
    errno = EINVAL;
    return 0;
}

int tci_special_check_object(const char *fn, void *p)
{
    if (!p || tc_object_base(p) != p) {
        fprintf(stderr, "tricolor: %s: %p is not the start of an object in the heap\n", fn,
                p);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

/* Whether object p (nonzero) is one the last mark found dead whose span's
 * sweeper has not settled it yet, by the rule of the essay ("Reading a
 * handle"). The caller is attached and running: no stop (and so no new
 * mark, no new sweep generation) comes during it. When this says live, the
 * caller reads its slot again: the object may have been marked for its
 * finalizer by a sweeper that cleared the slot before. */
static int found_dead(uintptr_t p)
{
    tci_span *s = tci_span_of(p);
    /* No heap address at all (an interpreter's fixnum in a weak slot, a
     * pointer outside the heap): nothing that dies, as the clearing pass
     * keeps it (gc/weak_field.c). */
    if (!s && !tci_heap_arena_at(p))
        return 0;
    int st = s ? tci_span_state(s) : TCI_SPAN_FREE;
    if (st != TCI_SPAN_SMALL && st != TCI_SPAN_LARGE)
        return 1; /* its span was freed, so was it: the slot is cleared by now */
    uintptr_t sg = tci_atomic_load_relaxed(&tci_sweep_gen);
    if (tci_atomic_load_acquire(&s->specials_sg) == sg)
        return 0; /* settled: the slot says */
    /* Not settled: the mark bits are the last mark's (the sweeper settles
     * before it clears one, and a bit seen cleared, with a release store,
     * means settled: looked at again). */
    uint32_t i = tci_span_index(s, p);
    if (i / 64 >= TCI_BITMAP_WORDS)
        return 1;
    int marked = (int)((tci_atomic_load_acquire(&s->mark_bits[i / 64]) >> (i % 64)) & 1);
    return !marked && tci_atomic_load_acquire(&s->specials_sg) != sg;
}

uintptr_t tci_special_handle_target(tci_atomic *slot)
{
    uintptr_t p = tci_atomic_load_acquire(slot);
    if (!p || found_dead(p))
        return 0;
    /* Settled, or marked: by the mark (the slot holds p for this cycle),
     * or by its sweeper for the object's finalizer, which cleared the
     * slot before (its atomic OR releases that): read again. */
    return tci_atomic_load_acquire(slot);
}

uintptr_t tci_special_slot_target(const uintptr_t *slot)
{
    uintptr_t p = tci_uptr_load_acquire(slot);
    if (!p || found_dead(p))
        return 0;
    return tci_uptr_load_acquire(slot); /* as tci_special_handle_target */
}

void *tci_special_read_handle(tci_atomic *slot)
{
    uintptr_t p = tci_special_handle_target(slot);
    tci_barrier_shade(p); /* during a mark: what a handle gives out (see the essay) */
    return (void *)p;
}

/* ---- The spans' lists ------------------------------------------------------- */

void tci_special_span_link_locked(tci_span_link **head, tci_span_link *l, tci_span *s)
{
    tci_assert_held(&tci_special_lock);
    l->span = s;
    l->prev = NULL;
    l->next = *head;
    if (*head)
        (*head)->prev = l;
    *head = l;
    tci_atomic_add_full(&s->nspecials, 1);
}

void tci_special_span_unlink_locked(tci_span_link **head, tci_span_link *l)
{
    tci_assert_held(&tci_special_lock);
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

/* ---- Tests' counts ---------------------------------------------------------- */

static tci_atomic eph_visits; /* tests: ephemerons filed, or made ready by their key */
/* Tests: weak references, ephemerons and finalizer records looked at while
 * a stop was requested or held (tci_world_stw_pending), by the collector's
 * passes and by sweeps; atomic adds. */
static tci_atomic stop_weak_visits, stop_eph_visits, stop_fin_visits;

void tci_special_count_eph_visits(uint64_t n)
{
    tci_atomic_add_full(&eph_visits, n);
    if (tci_atomic_load_relaxed(&tci_world_stw_pending))
        tci_atomic_add_full(&stop_eph_visits, n);
}

uint64_t tci_special_ephemeron_visits(void)
{
    return tci_atomic_load_relaxed(&eph_visits);
}

void tci_special_stop_visits(uint64_t *weak, uint64_t *eph, uint64_t *fins)
{
    *weak = tci_atomic_load_relaxed(&stop_weak_visits);
    *eph = tci_atomic_load_relaxed(&stop_eph_visits);
    *fins = tci_atomic_load_relaxed(&stop_fin_visits);
}

/* ---- The finalizers' roots -------------------------------------------------- */

/* Registry records the roots pass looks at per hold of special_lock, and
 * the most of one hold so far (tests; the queue, walked in one hold, is
 * not counted). */
#define ROOTS_BATCH 1024
int tci_special_roots_pass_on; /* special_lock: the registry must not grow */
static tci_atomic roots_longest_hold; /* written by the roots pass, the collector's */

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
    tci_mutex_lock(&tci_special_lock); /* released below, and between batches */
    /* The registry a batch of ROOTS_BATCH records at a time, at a
     * bucket's edge: tc_set_finalizer and tc_weak_destroy wait for one
     * batch, not for the whole pass (300,000 records took it tens of ms).
     * The table does not grow meanwhile, so no record moves to a bucket
     * the pass has done; a record added meanwhile names an object the
     * program holds, which this mark marks and scans the usual way. arg
     * too, when it is a heap object (a context object, say): it must be
     * there when fn runs. So an arg that reaches obj keeps obj alive, and
     * its finalizer never runs (Go's closures have the same catch). */
    tci_special_roots_pass_on = 1;
    uint64_t held = 0;
    for (size_t b = 0; b < tci_finalizer_buckets; b++) {
        for (tci_fin *f = tci_finalizer_table[b]; f; f = f->next) {
            tci_mark_scan_contents(tr, f->obj);
            tc_trace(tr, f->arg);
            held++;
        }
        if (held >= ROOTS_BATCH) {
            roots_hold_done(held);
            held = 0;
            tci_mutex_unlock(&tci_special_lock);
            tci_mutex_lock(&tci_special_lock);
        }
    }
    tci_special_roots_pass_on = 0;
    /* The registry's last batch ends here; the queue is not counted in it.
     * The queue goes in one hold: the finalizer thread pops and frees its
     * records, so a walk cannot let go in the middle; a finalizer taken
     * from it meanwhile is shaded (gc/finalizer.c's queue_pop_locked), and
     * it is short unless a cycle just queued a crowd (under TSan, with the
     * finalizer thread slow, nearly a thousand were counted with the
     * registry's last batch and failed the test that bounds a batch). */
    roots_hold_done(held);
    for (tci_fin *f = tci_finalizer_queue_head; f; f = f->next) {
        tc_trace(tr, (void *)f->obj);
        tc_trace(tr, f->arg);
    }
    tci_mutex_unlock(&tci_special_lock);
}

/* ---- The settling at sweep -------------------------------------------------- */

/* Under special_lock, by the sweeper of s, before it touches a mark bit
 * (the essay's 3): weak references to its unmarked objects cleared, then
 * the ephemerons keyed on them, then its unmarked objects with a
 * finalizer queued and marked, so that this sweep keeps them. The weak
 * references first: one to an object whose finalizer is now pending
 * reads NULL (reachability before resurrection); so does an ephemeron
 * keyed on it. */
static void settle_span_locked(tci_span *s)
{
    tci_assert_held(&tci_special_lock);
    uint64_t nweak = tci_weak_settle_span_locked(s);
    if (tci_atomic_load_relaxed(&s->eph_keys)) {
        uint64_t neph = tci_ephemeron_settle_span_locked(s);
        if (tci_atomic_load_relaxed(&tci_world_stw_pending))
            tci_atomic_add_full(&stop_eph_visits, neph);
    }
    uint64_t nfin = tci_finalizer_settle_span_locked(s);
    if (tci_atomic_load_relaxed(&tci_world_stw_pending)) {
        tci_atomic_add_full(&stop_weak_visits, nweak);
        tci_atomic_add_full(&stop_fin_visits, nfin);
    }
}

void tci_special_sweep(tci_span *s, uintptr_t sg)
{
    if (tci_atomic_load_relaxed(&s->nspecials) || tci_atomic_load_relaxed(&s->eph_keys)) {
        tci_mutex_lock(&tci_special_lock); /* released below */
        settle_span_locked(s);
        tci_mutex_unlock(&tci_special_lock);
    }
    /* Release: a reader that sees it sees the cleared slots. */
    tci_atomic_store_release(&s->specials_sg, sg);
}
