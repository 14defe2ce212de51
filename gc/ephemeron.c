/* ephemeron.c: ephemerons (tc_ephemeron), their filing table and the
 * mark's fixpoint over them.
 *
 * An ephemeron holds a key and a value, outside the heap, in a handle the
 * collector does not scan: the value is kept while the key is, and no
 * longer. The mark reaches them to a fixpoint, and no stop of a
 * concurrent cycle looks at them:
 *
 *  1. Filing. Once the concurrent mark's first drain is over (most keys
 *     marked by then), the collector files every ephemeron, world running
 *     (tci_ephemeron_file_all, a batch at a time under eph_lock): one
 *     whose key is marked has its value pushed as work; the others go in a
 *     table by key, and the key's bit is set in its span
 *     (tci_span.eph_key_bits).
 *  2. Keys marked later. From then on whoever marks an object in a span
 *     with such bits (a marker, an assist, a mutator's barrier or handle
 *     read, the last stop's drain) looks at its bit, and a key found there
 *     takes its ephemerons out of the table and pushes their values
 *     (tci_ephemeron_key_marked). The values are pushed as deferred
 *     shades, marked when a marker takes them, so a chain of ephemerons
 *     costs no recursion.
 *  3. The end. The fixpoint ends when the mark does: the last stop drains
 *     what the mutators' flushed tracers turned up, as for any grey work,
 *     and a value filed under a key marked there is among it. A value
 *     reachable only through its own key's ephemeron (a cycle through the
 *     value) is not a path to the key, so such a pair goes when nothing
 *     else holds the key. Ephemerons made after the filing are not filed:
 *     their key and value were in the hands of the program during the
 *     mark, so the snapshot marks both.
 *  4. Dead keys. The sweeper of a span, after its weak references and
 *     before its finalizers (gc/special.c's settling), clears the
 *     ephemerons whose keys are still flagged in it (unmarked: a marked
 *     key's bit was cleared by its marker), key and value together, and
 *     takes them out of the table (tci_ephemeron_settle_span_locked); so
 *     the table is empty when a cycle starts (everything swept).
 *
 * Reads (tc_ephemeron_key, _value) go by gc/special.c's "Reading a
 * handle"; a value is read only when its key reads as live.
 *
 * Costs: the filing pass looks at each ephemeron once per mark, beside
 * the program; each filed key costs a look-up when it is marked, and the
 * mark's test of a span for keys is one load of a field in the line it
 * reads anyway. The sweep of a span looks at each dead key flagged in it.
 * The stops look at none, but for the filed keys that the last stop's
 * drain marks. Making and destroying one costs O(1) under eph_lock (and
 * special_lock, for the destroy's quarantine).
 *
 * Locks: eph_lock protects the ephemerons' list, the filing table and the
 * filing cursor. It is taken inside the mark (by whoever marks a filed
 * key, mutators included), after special_lock when both are held (lock
 * order: special_lock, then eph_lock, then work_lock, which pushing
 * takes); like special_lock it is never held across a safepoint nor by a
 * thread that waits for the collector.
 */
#include <errno.h>
#include <stdlib.h>

#include "fork.h"
#include "special.h"

struct tc_ephemeron {
    uint32_t magic;
    /* Cleared together, under eph_lock, by the sweeper of the key's span
     * (a key left unmarked while filed); read as tc_weak's obj. */
    tci_atomic key, value;
    struct tc_ephemeron *prev, *next; /* every ephemeron, oldest first: eph_lock */
    struct tc_ephemeron *pending;     /* eph_table's chain while filed: eph_lock */
    int filed;                        /* eph_lock */
};

/* The ephemerons' lock: their list, the filing table and cursor (see the
 * essay, "Locks"). */
static tci_mutex eph_lock = TCI_MUTEX_INIT(TCI_RANK_EPH, "eph_lock");
TCI_FORK_LOCK(eph_lock)
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

/* Doubles the filing table, moving what is filed; under eph_lock. -1
 * when out of memory. (The finalizers' registry grows the same way, in a
 * table of its own type: TCI_ADDR_REHASH.) */
static int eph_grow_locked(void)
{
    tci_assert_held(&eph_lock);
    size_t n = eph_buckets ? eph_buckets * 2 : 256;
    tc_ephemeron **t = calloc(n, sizeof *t);
    if (!t)
        return -1;
#define EPH_KEY(e) tci_atomic_load_relaxed(&(e)->key)
    TCI_ADDR_REHASH(tc_ephemeron, pending, EPH_KEY, eph_table, eph_buckets, t, n);
    free(eph_table);
    tci_atomic_add_full(&tci_stats_other_sys_bytes, (n - eph_buckets) * sizeof *t);
    eph_table = t;
    eph_buckets = n;
    return 0;
}

/* Takes filed e out of the filing table; under eph_lock. */
static void eph_unfile_locked(tc_ephemeron *e)
{
    tci_assert_held(&eph_lock);
    tc_ephemeron **link = &eph_table[tci_addr_hash(tci_atomic_load_relaxed(&e->key), eph_buckets)];
    while (*link != e)
        link = &(*link)->pending;
    *link = e->pending;
    e->pending = NULL;
    e->filed = 0;
}

tc_ephemeron *tc_ephemeron_create(void *key, void *value)
{
    if (tci_cache_check_thread("tc_ephemeron_create") ||
        tci_special_check_object("tc_ephemeron_create", key) ||
        (value && tci_special_check_object("tc_ephemeron_create", value)))
        return NULL;
    tc_ephemeron *e = malloc(sizeof *e);
    if (!e) {
        errno = ENOMEM;
        return NULL;
    }
    e->magic = TCI_HANDLE_EPHEMERON_LIVE;
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
    tci_atomic_add_full(&tci_stats_other_sys_bytes, sizeof *e);
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
    if (!e || tci_cache_check_thread("tc_ephemeron_key") ||
        !tci_special_handle_ok("tc_ephemeron_key", e, e->magic, TCI_HANDLE_EPHEMERON_LIVE))
        return NULL;
    return tci_special_read_handle(&e->key);
}

void *tc_ephemeron_value(tc_ephemeron *e)
{
    if (!e || tci_cache_check_thread("tc_ephemeron_value") ||
        !tci_special_handle_ok("tc_ephemeron_value", e, e->magic, TCI_HANDLE_EPHEMERON_LIVE))
        return NULL;
    /* NULL once the key is gone, whatever the value was. */
    if (!tci_special_handle_target(&e->key))
        return NULL;
    return tci_special_read_handle(&e->value);
}

void tc_ephemeron_destroy(tc_ephemeron *e)
{
    if (!e)
        return;
    tci_mutex_lock(&tci_special_lock); /* released below */
    if (!tci_special_handle_ok("tc_ephemeron_destroy", e, e->magic, TCI_HANDLE_EPHEMERON_LIVE)) {
        tci_mutex_unlock(&tci_special_lock);
        return;
    }
    tci_mutex_lock(&eph_lock); /* released below; after special_lock (lock.h) */
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
    tci_special_quarantine_put_locked(e, &e->magic);
    tci_mutex_unlock(&tci_special_lock);
    tci_atomic_sub_full(&tci_stats_other_sys_bytes, sizeof *e);
}

/* ---- The mark's side -------------------------------------------------------- */

/* Takes every ephemeron filed under key out of the table; returns them
 * chained through `pending`. Under eph_lock. */
static tc_ephemeron *unfile_key_locked(uintptr_t key)
{
    tci_assert_held(&eph_lock);
    tc_ephemeron *taken = NULL;
    if (!eph_buckets)
        return NULL; /* no handle made yet: the key bit was set for a pair in the heap */
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
    tci_assert_held(&eph_lock);
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

void tci_ephemeron_handles_key_marked(tc_tracer *tr, uintptr_t key)
{
    tci_mutex_lock(&eph_lock); /* released below */
    uint64_t n = release_key_locked(tr, key);
    tci_mutex_unlock(&eph_lock);
    tci_special_count_eph_visits(n);
}

void tci_ephemeron_key_marked(tc_tracer *tr, uintptr_t key)
{
    tci_ephemeron_handles_key_marked(tr, key);
    tci_weakfield_key_marked(tr, key); /* the pairs in heap objects filed under it */
}

/* The filing pass's look at e; under eph_lock. Returns 1 when it pushed
 * work onto tr. A key not marked yet is filed, then its bit set, then its
 * mark looked at again: the marker sets the mark bit, then looks at the
 * key bit (mark.c's mark_key), both with full barriers between, so one of
 * the two sees the other's, and whichever clears the key bit releases
 * the key's entries (a marker waits for eph_lock to do it). */
static int file_one_locked(tc_tracer *tr, tc_ephemeron *e)
{
    tci_assert_held(&eph_lock);
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
        tci_special_count_eph_visits(release_key_locked(tr, k));
        tci_weakfield_key_marked(tr, k); /* the bit is shared with them */
        return 1;
    }
    return 0;
}

/* Ephemerons filed per hold of eph_lock: creators, destroyers and the
 * markers of filed keys wait for one batch at most (a few tens of us). */
#define FILE_BATCH 1024

int tci_ephemeron_file_all(tc_tracer *tr)
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
    tci_special_count_eph_visits(looked);
    return pushed;
}

/* ---- The sweep's side ------------------------------------------------------- */

uint64_t tci_ephemeron_settle_span_locked(tci_span *s)
{
    tci_assert_held(&tci_special_lock);
    /* Every key still flagged in s was left unmarked by the mark (a marked
     * one had its bit cleared by its marker), so its ephemerons are
     * cleared, key and value, and leave the table. */
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
    return n;
}

/* The child of a fork that abandons a mark: nothing stays filed (the
 * filing bits in the spans are cleared with the mark bits, gc/fork.c). */
void tci_ephemeron_fork_unfile_all(void)
{
    tci_mutex_lock(&eph_lock); /* released below */
    for (tc_ephemeron *e = ephemerons; e; e = e->next)
        if (e->filed)
            eph_unfile_locked(e);
    file_cursor = NULL;
    tci_mutex_unlock(&eph_lock);
}
