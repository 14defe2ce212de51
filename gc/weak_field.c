/* weak_field.c: weak slots and ephemeron pairs inside heap objects (the
 * types of tc_type_new_weak, read with tc_load_weak): their part of the
 * mark, the clearing after it, the reads, and what stores do meanwhile.
 *
 * An object of such a type is a holder. Unlike the handles (gc/weak.c,
 * gc/ephemeron.c), its slots are not known to the collector one by one:
 * a table of a million weak entries costs no record per entry, only what
 * the mark and one pass after it read.
 *
 *  1. The mark. A holder is scanned as any precise object, its strong
 *     slots traced; its weak slots and pair keys are not. Its scanner
 *     records it (the chunk it scanned, for a large one) in mapped blocks,
 *     lock-free. A pair whose key is marked has its value pushed; one
 *     whose key is not is filed by key in the filing table here, and the
 *     key's bit set in its span (tci_span.eph_key_bits, which the handles'
 *     ephemerons use alike): whoever marks the key later, in a stop or
 *     not, takes its entries and pushes their values (mark.c's mark_key,
 *     through tci_ephemeron_key_marked). The table lives in mapped memory,
 *     so the stop's drain may file too (malloc there could wait for a lock
 *     a stopped thread holds). So the fixpoint ends when the mark does.
 *  2. The clearing. A mark that recorded holders ends its last stop in the
 *     phase CLEAR, not OFF (one store: the barrier's flag stays up). Right
 *     after the stop, world running, the collector goes through the
 *     records (tci_weakfield_finish) and clears each weak slot whose
 *     object the mark left unmarked, and each pair whose key it left
 *     unmarked (value, then key), then sets the phase OFF. Until then:
 *     - no span is swept: tci_sweep_span finishes the pass first. So the
 *       mark bits still say what the mark found, and no dead object's
 *       memory is reused while a slot may still name it;
 *     - a read goes by the mark bits (gc/special.c's "Reading a handle"),
 *       so a dead object reads NULL before its slot is cleared;
 *     - a store into a holder (tc_store, tc_store_range, tc_fill_range)
 *       finishes the pass first: the pass never races with the program's
 *       stores, and clears with plain stores.
 *     Whoever needs the pass done first does the rest of it, a batch at a
 *     time under clear_lock. No stop looks at a weak slot, and no stop's
 *     work grows with their number (the stopped collector's one stop
 *     aside, which files what its mark finds, as it marks everything).
 *  3. During a mark a read shades what it returns, as the handles do (the
 *     program may hold what it read past the mark's end).
 *
 * What is not cleared: a holder allocated during a mark (black, never
 * scanned) holds only what the program stored since, which the mark
 * marks; a holder allocated after it is stored into only once the pass is
 * done. A pair whose key slot is NULL keeps nothing: its value is not
 * traced from the pair, and cleared when found dead.
 *
 * Costs: the mark reads each weak slot and pair once, and files each pair
 * whose key is not marked yet when its holder is scanned; the pass reads
 * each weak slot and pair of each recorded holder once, world running.
 * Reads and stores pay one flag test while no mark or pass runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fork.h"
#include "os.h"
#include "special.h"

/* ---- Records: the holders a mark scanned -------------------------------- */

#define REC_BLOCK_BYTES ((size_t)1 << 20)
typedef struct recblock {
    struct recblock *next; /* older blocks */
    tci_atomic n;          /* slots claimed (may pass REC_N: claims beyond are retried) */
    uintptr_t rec[];       /* a holder's start, or the start of the chunk scanned */
} recblock;
#define REC_N ((REC_BLOCK_BYTES - sizeof(recblock)) / sizeof(uintptr_t))
/* Blocks kept mapped for the next marks, at most. */
#define REC_SPARE_MAX 8

static tci_mutex rec_lock = TCI_MUTEX_INIT(TCI_RANK_WREC, "wrec_lock");
TCI_FORK_LOCK(rec_lock)
/* The newest block (recblock *): appended to by scanners without a lock, a
 * new block pushed under rec_lock; read and emptied by the pass, with no
 * mark running (the stops order the scanners' writes before it). */
static tci_atomic rec_head;
static recblock *rec_spare; /* rec_lock */
static size_t rec_nspare;   /* rec_lock */

static void rec_grow(recblock *seen)
{
    tci_mutex_lock(&rec_lock); /* released below */
    if ((recblock *)tci_atomic_load_relaxed(&rec_head) == seen) {
        recblock *b = rec_spare;
        if (b) {
            rec_spare = b->next;
            rec_nspare--;
        } else {
            b = tci_os_map(REC_BLOCK_BYTES);
        }
        if (!b) {
            /* A holder unrecorded would keep a dead object in a slot. */
            fprintf(stderr, "tricolor: out of memory for the weak fields' records "
                            "(1 MiB mapping refused)\n");
            abort();
        }
        b->next = seen;
        tci_atomic_store_relaxed(&b->n, 0);
        tci_atomic_store_release(&rec_head, (uintptr_t)b);
    }
    tci_mutex_unlock(&rec_lock);
}

static void record(uintptr_t p)
{
    for (;;) {
        recblock *b = (recblock *)tci_atomic_load_acquire(&rec_head);
        if (b) {
            uintptr_t i = tci_atomic_add_full(&b->n, 1);
            if (i < REC_N) {
                b->rec[i] = p;
                return;
            }
        }
        rec_grow(b);
    }
}

static size_t rec_count(const recblock *b)
{
    uintptr_t n = tci_atomic_load_relaxed(&b->n);
    return n < REC_N ? n : REC_N;
}

/* Every block back to the spares (the extras unmapped). No mark runs. */
static void rec_reset(void)
{
    tci_mutex_lock(&rec_lock); /* released below */
    recblock *b = (recblock *)tci_atomic_load_relaxed(&rec_head);
    tci_atomic_store_relaxed(&rec_head, 0);
    while (b) {
        recblock *next = b->next;
        if (rec_nspare < REC_SPARE_MAX) {
            b->next = rec_spare;
            rec_spare = b;
            rec_nspare++;
        } else {
            tci_os_unmap(b, REC_BLOCK_BYTES);
        }
        b = next;
    }
    tci_mutex_unlock(&rec_lock);
}

/* ---- The slots of a holder's range ---------------------------------------- */

/* Calls fn(arg, base, w) for each weak slot w of every element of holder
 * obj (type t, size bytes) whose slot lies in [lo, hi): each once over
 * the chunks of a large holder, as mark.c's scan takes its strong slots. */
static void for_each_wslot(const struct tc_type *t, uintptr_t obj, size_t size, uintptr_t lo,
                           uintptr_t hi, void (*fn)(void *arg, uintptr_t base, const tci_wslot *w),
                           void *arg)
{
    size_t tsz = t->size, n = size / tsz;
    size_t e = (lo - obj) / tsz, end_e = (hi - obj + tsz - 1) / tsz;
    if (end_e > n)
        end_e = n;
    for (; e < end_e; e++) {
        uintptr_t base = obj + e * tsz;
        size_t i = base < lo ? tci_type_first_wslot_from(t, lo - base) : 0;
        size_t end = base + tsz > hi ? tci_type_first_wslot_from(t, hi - base) : t->n_wslots;
        for (; i < end; i++)
            fn(arg, base, &t->wslots[i]);
    }
}

/* The holder's type at obj (its start, or any address in it), or NULL when
 * obj is not in a precise object of a type with weak slots. */
static const struct tc_type *holder_type(uintptr_t obj)
{
    tci_span *s = tci_span_of(obj);
    int st = s ? tci_span_state(s) : TCI_SPAN_FREE;
    if ((st != TCI_SPAN_SMALL && st != TCI_SPAN_LARGE) || s->kind != TCI_KIND_PRECISE)
        return NULL;
    if (obj - s->base >= (s->npages << TCI_PAGE_SHIFT))
        return NULL;
    if (st == TCI_SPAN_SMALL && tci_span_index(s, obj) >= s->nelems)
        return NULL;
    const struct tc_type *t = tci_type_table[tci_span_type_id(s, obj)];
    return t && t->n_wslots ? t : NULL;
}

/* ---- The filing table: pairs whose key was not marked when scanned ------- */

typedef struct filed {
    uintptr_t key;       /* the key's object */
    uintptr_t *slot;     /* the pair's value slot */
    struct filed *next;  /* the bucket's chain */
} filed;

#define FCHUNK_BYTES ((size_t)256 << 10)
typedef struct fchunk {
    struct fchunk *next;
    size_t n;
    filed e[];
} fchunk;
#define FCHUNK_N ((FCHUNK_BYTES - sizeof(fchunk)) / sizeof(filed))
#define FBUCKETS_MIN ((size_t)4096)

/* file_lock: the table, its entries' chunks and counts. Taken inside the
 * mark by whoever files a pair or marks a filed key (the stop's drain
 * included); never held across a safepoint. */
static tci_mutex file_lock = TCI_MUTEX_INIT(TCI_RANK_WFILE, "wfile_lock");
TCI_FORK_LOCK(file_lock)
static filed **ftable;
static size_t fbuckets, fcount;
static fchunk *fchunks; /* the chunk in use first; the pass empties them all */
/* Nonzero while entries may be filed: a lock-free hint for the markers of
 * keys, which look at the table only then. Set under file_lock before the
 * key bit it pairs with (that OR is a full barrier); cleared by the pass. */
static tci_atomic ffiled_any;
/* Tests: pairs filed since tc_init, and while a stop was requested or
 * held. Atomic adds. */
static tci_atomic ffiled_total, stop_filed;

/* Doubles the buckets (mapped), moving the entries; under file_lock. -1
 * when the mapping is refused. May run in a stop: no malloc. */
static int fgrow_locked(void)
{
    tci_assert_held(&file_lock);
    size_t n = fbuckets ? fbuckets * 2 : FBUCKETS_MIN;
    filed **t = tci_os_map(n * sizeof *t);
    if (!t)
        return -1;
#define FILED_KEY(f) ((f)->key)
    TCI_ADDR_REHASH(filed, next, FILED_KEY, ftable, fbuckets, t, n);
    if (ftable)
        tci_os_unmap(ftable, fbuckets * sizeof *ftable);
    ftable = t;
    fbuckets = n;
    return 0;
}

/* A new entry, or NULL when no memory can be mapped; under file_lock. */
static filed *fnew_locked(void)
{
    tci_assert_held(&file_lock);
    if (!fchunks || fchunks->n == FCHUNK_N) {
        /* A chunk emptied by the pass waits behind the one in use. */
        fchunk *c = fchunks && fchunks->next && fchunks->next->n == 0 ? fchunks->next : NULL;
        if (c) {
            fchunks->next = c->next;
        } else {
            c = tci_os_map(FCHUNK_BYTES);
            if (!c)
                return NULL;
            c->n = 0;
        }
        c->next = fchunks;
        fchunks = c;
    }
    return &fchunks->e[fchunks->n++];
}

/* Takes every entry filed under key out of the table and pushes the value
 * its slot holds now, to be shaded when taken; under file_lock. Returns
 * how many. */
static uint64_t release_locked(tc_tracer *tr, uintptr_t key)
{
    tci_assert_held(&file_lock);
    uint64_t n = 0;
    if (!fbuckets)
        return 0;
    filed **link = &ftable[tci_addr_hash(key, fbuckets)];
    while (*link) {
        filed *f = *link;
        if (f->key != key) {
            link = &f->next;
            continue;
        }
        *link = f->next;
        n++;
        uintptr_t v = tci_uptr_load_acquire(f->slot);
        if (v)
            tci_mark_push_deferred(tr, v);
    }
    fcount -= n;
    return n;
}

void tci_weakfield_key_marked(tc_tracer *tr, uintptr_t key)
{
    if (!tci_atomic_load_relaxed(&ffiled_any))
        return;
    tci_mutex_lock(&file_lock); /* released below */
    uint64_t n = release_locked(tr, key);
    tci_mutex_unlock(&file_lock);
    tci_special_count_eph_visits(n);
}

/* Files the pair whose value slot is vslot under key (key's object f, not
 * marked when looked at); under file_lock. The protocol of gc/ephemeron.c's
 * file_one_locked: the key bit set, then the mark bit looked at again;
 * whoever clears the bit releases the key's entries, here and the
 * handles'. Returns nonzero when the key turned out marked: the caller
 * releases the handles' entries (eph_lock comes before file_lock). */
static int file_locked(tc_tracer *tr, tci_found f, uintptr_t *vslot)
{
    tci_assert_held(&file_lock);
    filed *e = (fcount + 1 > fbuckets / 2 && fgrow_locked() != 0) ? NULL : fnew_locked();
    if (!e) {
        /* No memory to file it: the value is kept this cycle, as if the
         * key were marked (floating garbage, never a lost object). */
        tci_mark_push_deferred(tr, tci_uptr_load_acquire(vslot));
        return 0;
    }
    e->key = f.obj;
    e->slot = vslot;
    size_t h = tci_addr_hash(f.obj, fbuckets);
    e->next = ftable[h];
    ftable[h] = e;
    fcount++;
    tci_atomic_add_full(&ffiled_total, 1);
    if (tci_atomic_load_relaxed(&tci_world_stw_pending))
        tci_atomic_add_full(&stop_filed, 1);
    tci_atomic_store_relaxed(&ffiled_any, 1);
    tci_atomic *w = &f.span->eph_key_bits[f.idx / 64];
    uintptr_t bit = (uintptr_t)1 << (f.idx % 64);
    if (tci_atomic_or_test(w, bit))
        tci_atomic_add_full(&f.span->eph_keys, 1);
    if (tci_mark_get(f.span, f.idx) && tci_atomic_and_test(w, bit)) {
        /* Marked meanwhile, by a marker that did not see the bit. */
        tci_atomic_sub_full(&f.span->eph_keys, 1);
        tci_special_count_eph_visits(release_locked(tr, f.obj));
        return 1;
    }
    return 0;
}

/* Empties the table (its buckets kept, for the next mark's size). By the
 * pass, no mark running. */
static void file_reset(void)
{
    tci_mutex_lock(&file_lock); /* released below */
    if (ftable)
        memset(ftable, 0, fbuckets * sizeof *ftable);
    for (fchunk *c = fchunks; c; c = c->next)
        c->n = 0;
    fcount = 0;
    tci_atomic_store_relaxed(&ffiled_any, 0);
    tci_mutex_unlock(&file_lock);
}

/* ---- The mark's side ------------------------------------------------------- */

typedef struct scan_state {
    tc_tracer *tr;
    int checking;
    int locked; /* file_lock held: taken at the first pair to file */
    uintptr_t released[8]; /* keys found marked while filed: their handles' entries */
    int nreleased;
} scan_state;

static void release_handles(scan_state *st)
{
    for (int i = 0; i < st->nreleased; i++)
        tci_ephemeron_handles_key_marked(st->tr, st->released[i]);
    st->nreleased = 0;
}

static void scan_pair(void *arg, uintptr_t base, const tci_wslot *w)
{
    scan_state *st = arg;
    if (w->kind != TCI_WSLOT_KEY)
        return; /* weak slots are not traced; a value goes with its key */
    uintptr_t *vslot = (uintptr_t *)(base + w->partner);
    uintptr_t k = tci_uptr_load_acquire((const uintptr_t *)(base + w->off));
    uintptr_t v = tci_uptr_load_acquire(vslot);
    if (!k || !v)
        return; /* no key keeps nothing; no value, nothing to keep */
    tci_found f = tci_find_object_v(k);
    if (st->checking) {
        /* checkmark: a value whose key is marked must be marked. */
        if (!f.obj || tci_mark_get(f.span, f.idx))
            tc_trace(st->tr, (void *)v);
        return;
    }
    if (!f.obj || tci_mark_get(f.span, f.idx)) {
        /* Pushed, not marked here: marking could reach a filed key, whose
         * release takes file_lock, which this scan may hold. */
        tci_mark_push_deferred(st->tr, v);
        return;
    }
    if (!st->locked) {
        tci_mutex_lock(&file_lock); /* released by tci_weakfield_scan */
        st->locked = 1;
    }
    if (file_locked(st->tr, f, vslot)) {
        if (st->nreleased == (int)(sizeof st->released / sizeof st->released[0])) {
            tci_mutex_unlock(&file_lock);
            st->locked = 0;
            release_handles(st);
        }
        st->released[st->nreleased++] = f.obj;
    }
}

void tci_weakfield_scan(tc_tracer *tr, int checking, const struct tc_type *t, uintptr_t obj,
                        size_t size, uintptr_t lo, uintptr_t hi)
{
    if (!checking)
        record(lo);
    scan_state st = { .tr = tr, .checking = checking };
    for_each_wslot(t, obj, size, lo, hi, scan_pair, &st);
    if (st.locked)
        tci_mutex_unlock(&file_lock);
    release_handles(&st);
}

/* ---- The clearing ------------------------------------------------------------ */

/* clear_lock: the pass's cursor and state. Held while a batch is cleared;
 * never across a safepoint, and its holder takes no other lock but
 * rec_lock and file_lock (at the pass's start and end). */
static tci_mutex clear_lock = TCI_MUTEX_INIT(TCI_RANK_WCLEAR, "wclear_lock");
TCI_FORK_LOCK(clear_lock)
static int pass_due;          /* clear_lock: set in the mark's last stop */
static int pass_started;      /* clear_lock */
static recblock *pass_block;  /* clear_lock: the cursor */
static size_t pass_idx;       /* clear_lock */
static uintptr_t pass_sg;     /* clear_lock: the sweep generation after the mark */
/* Tests: slots the passes read, cleared, and read while a stop was
 * requested or held; the time the batches took. Atomic adds, once per
 * batch. */
static tci_atomic pass_slots, pass_cleared, pass_stop_slots, pass_ns;


/* Slots a batch reads at most before clear_lock is let go. */
#define CLEAR_BATCH 4096

/* Whether p is an object the mark left unmarked: in a span not swept since
 * (none is, before the pass ends, but those made since, which hold only
 * objects allocated since). */
static int dead(uintptr_t p, uintptr_t sg)
{
    tci_found f = tci_find_object_v(p);
    if (!f.obj || tci_atomic_load_relaxed(&f.span->sweepgen) == sg)
        return 0;
    return !tci_mark_get(f.span, f.idx);
}

typedef struct clear_state {
    uintptr_t sg;
    uint64_t slots, cleared;
} clear_state;

static void clear_slot(void *arg, uintptr_t base, const tci_wslot *w)
{
    clear_state *st = arg;
    uintptr_t *slot = (uintptr_t *)(base + w->off);
    if (w->kind == TCI_WSLOT_VALUE)
        return; /* with its key */
    st->slots++;
    uintptr_t p = tci_uptr_load_relaxed(slot);
    if (w->kind == TCI_WSLOT_WEAK) {
        if (p && dead(p, st->sg)) {
            tci_uptr_store_relaxed(slot, 0);
            st->cleared++;
        }
        return;
    }
    uintptr_t *vslot = (uintptr_t *)(base + w->partner);
    uintptr_t v = tci_uptr_load_relaxed(vslot);
    if (p ? dead(p, st->sg) : (v && dead(v, st->sg))) {
        /* The value first: a reader that sees the key cleared (acquire)
         * sees the value cleared too; one that sees the dead key reads
         * NULL by the mark bits. */
        tci_uptr_store_relaxed(vslot, 0);
        tci_uptr_store_release(slot, 0);
        st->cleared++;
    }
}

/* Clears the holder recorded as p: its range as the mark scanned it. */
static void clear_record(clear_state *st, uintptr_t p)
{
    tci_span *s = tci_span_of(p);
    uintptr_t obj = tci_span_state(s) == TCI_SPAN_LARGE ? s->base : p;
    size_t size = s->elemsize;
    uintptr_t hi = obj + size;
    if (obj != p || (tci_span_state(s) == TCI_SPAN_LARGE && size > TCI_SCAN_CHUNK))
        hi = p + TCI_SCAN_CHUNK < obj + size ? p + TCI_SCAN_CHUNK : obj + size;
    const struct tc_type *t = tci_type_table[tci_span_type_id(s, obj)];
    for_each_wslot(t, obj, size, p, hi, clear_slot, st);
}

/* One batch of the pass; under clear_lock. 0 when nothing was left. */
static int pass_batch_locked(void)
{
    tci_assert_held(&clear_lock);
    if (!pass_started) {
        pass_started = 1;
        /* The generation the mark's last stop moved to (after this call's
         * tci_weakfield_end_mark_stw): spans swept for it are new. */
        pass_sg = tci_atomic_load_relaxed(&tci_sweep_gen);
        file_reset(); /* the mark is over: nothing filed is wanted now */
        pass_block = (recblock *)tci_atomic_load_relaxed(&rec_head);
        pass_idx = 0;
    }
    clear_state st = { .sg = pass_sg };
    uint64_t t0 = tci_os_now_ns();
    while (pass_block && st.slots < CLEAR_BATCH) {
        if (pass_idx == rec_count(pass_block)) {
            pass_block = pass_block->next;
            pass_idx = 0;
            continue;
        }
        clear_record(&st, pass_block->rec[pass_idx++]);
    }
    tci_atomic_add_full(&pass_slots, st.slots);
    tci_atomic_add_full(&pass_cleared, st.cleared);
    tci_atomic_add_full(&pass_ns, tci_os_now_ns() - t0);
    if (tci_atomic_load_relaxed(&tci_world_stw_pending))
        tci_atomic_add_full(&pass_stop_slots, st.slots);
    return pass_block != NULL || st.slots > 0;
}

int tci_weakfield_end_mark_stw(void)
{
    tci_world_assert_held();
    if (!tci_atomic_load_relaxed(&rec_head))
        return 0;
    tci_mutex_lock(&clear_lock); /* released below */
    pass_due = 1;
    pass_started = 0;
    tci_mutex_unlock(&clear_lock);
    return 1;
}

void tci_weakfield_finish(void)
{
    if (tci_int_load_acquire(&tc_barrier_enabled_) != TCI_PHASE_CLEAR)
        return;
    tci_mutex_lock(&clear_lock); /* released below, and between batches */
    while (pass_due) {
        if (!pass_batch_locked()) {
            rec_reset();
            pass_due = 0;
            /* Release: a reader or sweeper that sees OFF sees the slots
             * cleared. A new mark cannot have begun: its first stop comes
             * after a sweep, which waits for this. */
            tci_int_cas_release(&tc_barrier_enabled_, TCI_PHASE_CLEAR, TCI_PHASE_OFF);
            break;
        }
        tci_mutex_unlock(&clear_lock);
        tci_mutex_lock(&clear_lock);
    }
    tci_mutex_unlock(&clear_lock);
}

/* ---- Reads and stores ---------------------------------------------------- */

/* The weak slot of obj at slot, and the start of its element; NULL (errno
 * EINVAL, a message naming fn) when slot is not one. */
static const tci_wslot *slot_of(const char *fn, const void *obj, void *const *slot,
                                uintptr_t *base)
{
    uintptr_t o = (uintptr_t)obj, a = (uintptr_t)slot;
    const struct tc_type *t = obj && tc_object_base(obj) == obj ? holder_type(o) : NULL;
    if (t && a >= o && a - o < tc_object_size(obj)) {
        size_t e = (a - o) / t->size, off = (a - o) - e * t->size;
        size_t i = tci_type_first_wslot_from(t, off);
        if (e < tc_object_size(obj) / t->size && i < t->n_wslots && t->wslots[i].off == off) {
            *base = o + e * t->size;
            return &t->wslots[i];
        }
    }
    fprintf(stderr, "tricolor: %s(obj %p, slot %p): %s\n", fn, obj, (const void *)slot,
            t ? "not a weak or ephemeron slot of obj"
              : "obj is not the start of a heap object with weak slots");
    errno = EINVAL;
    return NULL;
}

void *tc_load_weak_slow_(const void *obj, void *const *slot)
{
    if (tci_cache_check_thread("tc_load_weak"))
        return NULL;
    uintptr_t base;
    const tci_wslot *w = slot_of("tc_load_weak", obj, slot, &base);
    if (!w)
        return NULL;
    if (w->kind == TCI_WSLOT_VALUE) {
        const uintptr_t *key = (const uintptr_t *)(base + w->partner);
        /* NULL once the key is found dead, whatever the value is. */
        if (tci_uptr_load_acquire(key) && !tci_special_slot_target(key))
            return NULL;
    }
    uintptr_t p = tci_special_slot_target((const uintptr_t *)slot);
    tci_barrier_shade(p); /* during a mark: what a read gives out (gc/special.c) */
    return (void *)p;
}

int tci_weakfield_holder(const void *p)
{
    return p && holder_type((uintptr_t)p) != NULL;
}

/* ---- Fork and tests ---------------------------------------------------------- */

void tci_weakfield_fork_abandon(void)
{
    tci_mutex_lock(&clear_lock); /* released below */
    pass_due = 0;
    pass_started = 0;
    tci_mutex_unlock(&clear_lock);
    file_reset();
    rec_reset();
}

void tci_weakfield_counts(tci_weakfield_stats *out)
{
    out->pass_slots = tci_atomic_load_relaxed(&pass_slots);
    out->pass_cleared = tci_atomic_load_relaxed(&pass_cleared);
    out->pass_stop_slots = tci_atomic_load_relaxed(&pass_stop_slots);
    out->pass_ns = tci_atomic_load_relaxed(&pass_ns);
    out->filed = tci_atomic_load_relaxed(&ffiled_total);
    out->stop_filed = tci_atomic_load_relaxed(&stop_filed);
}
