/* mark.c: tri-color marking with an explicit grey list, in parallel.
 *
 * Colours: an object is white while its mark bit is clear, grey once the
 * bit is set and its address sits in some marker's work buffer, black once
 * it has been scanned. No recursion: a 10-million-long list costs one
 * buffer slot at a time, not stack depth.
 *
 * Work lives in fixed-size work buffers. Each marker fills and drains its
 * own; a full one goes to a global list, from which idle markers take work.
 * A marker that runs dry while others have only a partly filled buffer is
 * served by them splitting theirs (checked every few dozen objects).
 * Termination: a marker that finds no work counts itself idle; a drain ends
 * when all markers are idle, no assist is in flight and the global list is
 * empty. With the world stopped nothing can appear after that; during a
 * concurrent mark the barrier and detaching threads still can, which is
 * why mark termination stops the world and looks again (cycle.c).
 *
 * The mark bit is set with an atomic OR that says whether this marker set
 * it, so two markers never both push an object.
 *
 * This file is the marking itself: the work buffers, shading, scanning,
 * the drain with its sharing, the background credit, the markers' CPU
 * share and the GC CPU accounting of marking, and the mutators' tracers
 * and assists. The markers' threads (the collector's and the helpers),
 * their tracers and the steps of a mark that the cycle drives are
 * gc/markers.c's; what the two share is in gc/mark_internal.h.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fork.h"
#include "gc.h"
#include "mark_internal.h"
#include "os.h"
#include "pacer.h"

/* Global work: protected by work_lock. */
static tci_mutex work_lock = TCI_MUTEX_INIT(TCI_RANK_WORK, "work_lock");
TCI_FORK_LOCK(work_lock)
static workbuf *full_list, *empty_list;
static tci_atomic nfull;   /* buffers on full_list: a lock-free hint */
tci_atomic tci_mark_nidle;   /* markers that found no work */
/* Mutators in tci_mark_assist: they may hold grey work taken from the
 * global list, which comes back when they stop, so the markers wait for
 * them before calling the mark done. */
static tci_atomic assists_active;
/* Set by tci_mark_want_share, cleared by the marker that shares half its
 * grey objects (drain_loop). Relaxed: a hint. */
static tci_atomic assist_hungry;
/* The markers' share of the CPUs, all of them together (x 1024 of one
 * CPU); tci_mark_init. Each marker at work keeps to its part of it. */
static uint64_t markers_share_1024;
/* Helpers that left the drain under way (they competed with the program
 * for a CPU while the others marked: see tci_mark_leave_drain); counted in
 * tci_mark_nidle too, which the drain's end waits to equal the workers.
 * Reset with tci_mark_nidle for each drain. */
static tci_atomic markers_left;
static int pace_available;
static tci_atomic steps_aside; /* times a marker stepped aside, for the tests */
/* Tests: nonzero, every slice counts as competing for a CPU and this is
 * every marker's share (x 1024), so markers step aside whatever the
 * machine's load and size. */
tci_atomic tci_mark_pace_test_compete;
/* Markers at work this cycle: 1 (the collector alone) until its grey list
 * outgrows a buffer, then 1 + tci_mark_nhelpers. Written by the collector before it
 * wakes the helpers (they read it after helper_lock). While it is 1, mark
 * bits are set without a locked instruction. */
int tci_mark_nworkers;
/* Set for a concurrent mark, from its first stop to the end of its last:
 * mutators shade objects beside the markers, so every mark bit is set
 * with an atomic OR, and helpers are not woken from a mutator's thread. */
int tci_mark_concurrent;
/* Bytes marked by tracers that have handed their counts in (mutators'
 * shading and assists; the markers' at the end). */
tci_atomic tci_mark_marked_total;
/* Precise pointer slots read by every mark since tc_init (tests: a mark
 * reads each slot once). */
tci_atomic tci_mark_slots_total;
/* Helper threads started (gc/markers.c): written by the collector under
 * world_lock, before the helpers it counts are woken. */
int tci_mark_nhelpers;

uint64_t tci_mark_slots_read(void)
{
    return tci_atomic_load_relaxed(&tci_mark_slots_total);
}

/* Bytes of work buffers ever allocated: none is freed (empty_list keeps
 * them), and the memory limit counts them. */
static tci_atomic buf_bytes;

uint64_t tci_mark_buf_bytes(void)
{
    return tci_atomic_load_relaxed(&buf_bytes);
}

/* A new buffer, counted; NULL when malloc has none. */
workbuf *tci_mark_buf_new(void)
{
    workbuf *b = malloc(sizeof *b);
    if (b)
        tci_atomic_add_full(&buf_bytes, sizeof *b);
    return b;
}

workbuf *tci_mark_buf_get(void)
{
    tci_mutex_lock(&work_lock); /* released below */
    workbuf *b = empty_list;
    if (b)
        empty_list = b->next;
    tci_mutex_unlock(&work_lock);
    if (!b && !(b = tci_mark_buf_new())) {
        fprintf(stderr, "tricolor: out of memory for mark work buffers\n");
        abort();
    }
    b->n = 0;
    b->next = NULL;
    return b;
}

static void buf_put_full(workbuf *b)
{
    tci_mutex_lock(&work_lock); /* released below */
    b->next = full_list;
    full_list = b;
    tci_atomic_add_full(&nfull, 1);
    tci_mutex_unlock(&work_lock);
    if (!tci_mark_concurrent && tci_mark_nworkers == 1 && tci_mark_nhelpers > 0)
        tci_markers_wake_helpers();
}

static workbuf *buf_take_full(void)
{
    if (tci_atomic_load_relaxed(&nfull) == 0)
        return NULL;
    tci_mutex_lock(&work_lock); /* released below */
    workbuf *b = full_list;
    if (b) {
        full_list = b->next;
        tci_atomic_sub_full(&nfull, 1);
    }
    tci_mutex_unlock(&work_lock);
    return b;
}

void tci_mark_buf_put_empty(workbuf *b)
{
    tci_mutex_lock(&work_lock); /* released below */
    b->next = empty_list;
    empty_list = b;
    tci_mutex_unlock(&work_lock);
}

int tci_mark_has_work(void)
{
    return tci_atomic_load_acquire(&nfull) != 0;
}

static inline void push(tc_tracer *tr, uintptr_t obj)
{
    workbuf *b = tr->cur;
    if (b->n == WORKBUF_N) {
        buf_put_full(b);
        b = tr->cur = tci_mark_buf_get();
    }
    b->obj[b->n++] = obj;
}

/* Greys the object containing p if it is white. */
static __attribute__((noinline, cold)) void check_marked(tc_tracer *tr, tci_found f,
                                                       uintptr_t p)
{
    if (tci_mark_get(f.span, f.idx))
        return;
    /* What it is, for the report: a precise object's type name, else its
     * kind; and its span's slot and size. */
    const char *what = f.span->kind == TCI_KIND_NOSCAN ? "pointer-free" : "conservative";
    if (f.span->kind == TCI_KIND_PRECISE)
        what = tci_type_table[tci_span_type_id(f.span, f.obj)]->name;
    char from[40] = "from a root";
    if (tr->check_from)
        snprintf(from, sizeof from, "through object %#lx", (unsigned long)tr->check_from);
    fprintf(stderr, "tricolor: checkmark: object %#lx (size %zu, %s; slot %u of a %zu-page "
                    "span), reachable %s, was not marked (pointer %#lx)\n",
            (unsigned long)f.obj, f.span->elemsize, what, f.idx, f.span->npages, from,
            (unsigned long)p);
    abort();
}

/* Work-buffer entries with this bit set are not grey objects but
 * ephemeron values to shade when taken (objects are 16-byte aligned):
 * shading them where they are found (a key marked, in the middle of a
 * mark) would recurse along a chain of ephemerons. */
#define DEFERRED_SHADE ((uintptr_t)1)

/* obj, slot idx of span s, was just marked, and s holds ephemeron keys:
 * when obj is one, the values filed under it are pushed (gc/ephemeron.c).
 * The key bit is cleared by one thread only, the one that handles it.
 * After the mark bit's atomic OR (a full barrier), so the filing pass,
 * which sets the key bit before it looks at the mark bit, cannot miss
 * both. */
static __attribute__((noinline, cold)) void mark_key(tc_tracer *tr, tci_span *s, uint32_t idx,
                                                    uintptr_t obj)
{
    if (!tci_atomic_and_test(&s->eph_key_bits[idx / 64], (uintptr_t)1 << (idx % 64)))
        return;
    tci_atomic_sub_full(&s->eph_keys, 1);
    tci_ephemeron_key_marked(tr, obj);
}

void tci_mark_push_deferred(tc_tracer *tr, uintptr_t value)
{
    if (__builtin_expect(tr->cur == NULL, 0))
        tr->cur = tci_mark_buf_get(); /* a mutator's first shade of the cycle */
    push(tr, value | DEFERRED_SHADE);
}

/* Marks the object found, if white: its bit, its bytes, and a push when it
 * has pointers. Returns 1 when this call marked it. */
static inline __attribute__((always_inline)) int mark_found(tc_tracer *tr, tci_found f)
{
    tci_span *s = f.span;
    uint32_t idx = f.idx;
    uintptr_t obj = f.obj;
    tci_atomic *w = &s->mark_bits[idx / 64];
    uintptr_t bit = (uintptr_t)1 << (idx % 64);
    if (tci_mark_nworkers == 1 && !tci_mark_concurrent) {
        /* One marker: nobody else writes mark bits, no locked instruction
         * (it was 30% of the mark loop). */
        uintptr_t old = tci_atomic_load_relaxed(w);
        if (old & bit)
            return 0;
        tci_atomic_store_relaxed(w, old | bit);
    } else if (!tci_atomic_or_test(w, bit)) {
        return 0;
    }
    tr->marked_bytes += s->elemsize;
    if (__builtin_expect(tci_atomic_load_relaxed(&s->eph_keys) != 0, 0))
        mark_key(tr, s, idx, obj);
    if (s->kind != TCI_KIND_NOSCAN) {
        if (__builtin_expect(tr->cur == NULL, 0))
            tr->cur = tci_mark_buf_get(); /* a mutator's first shade of the cycle */
        push(tr, obj);
    }
    return 1;
}

static inline __attribute__((always_inline)) void mark_ptr(tc_tracer *tr, uintptr_t p)
{
    tci_found f = tci_find_object_v(p);
    if (!f.obj)
        return;
    if (__builtin_expect(tr->check, 0)) {
        check_marked(tr, f, p); /* checkmark: report what is not marked, mark nothing */
        return;
    }
    (void)mark_found(tr, f);
}

void tc_trace(tc_tracer *tracer, void *ptr)
{
    mark_ptr(tracer, (uintptr_t)ptr);
}

void tc_trace_slot(tc_tracer *tracer, void *const *slot)
{
    /* Acquire: partner tc_store_slow_'s release store of the slot. */
    mark_ptr(tracer, (uintptr_t)tci_ptr_load_acquire(slot));
}

/* Conservative words may sit in red zones or other threads' frames. */
TCI_NO_SANITIZE void tci_mark_range(tc_tracer *tr, uintptr_t lo, uintptr_t hi)
{
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    for (uintptr_t a = lo; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t))
        mark_ptr(tr, *(const volatile uintptr_t *)a);
}

/* Scans one grey object; returns its size (the scan work done). Pointer
 * slots are read with acquire loads (plain moves on x86): during a
 * concurrent mark a mutator may be storing into them with tc_store's
 * release store, and the object a loaded pointer points to must be seen
 * set up. */
/* Large objects are scanned a chunk at a time (Go's oblets): the first
 * visit of an object bigger than this pushes its other chunks (as interior
 * addresses) and scans the first, so no marker holds a 1 GB array alone,
 * and an assist, which scans until its budget is spent, is never handed a
 * whole 200,000-slot array (3 ms) at once. */
#define SCAN_CHUNK TCI_SCAN_CHUNK

/* The index of type t's first pointer offset at or past off (n_ptrs when
 * none): its offsets are sorted. */
static size_t first_offset_from(const struct tc_type *t, size_t off)
{
    size_t lo = 0, hi = t->n_ptrs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->offsets[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t scan_object(tc_tracer *tr, uintptr_t p)
{
    if (__builtin_expect(p & DEFERRED_SHADE, 0)) {
        mark_ptr(tr, p & ~DEFERRED_SHADE);
        return sizeof(uintptr_t);
    }
    tci_span *s = tci_span_of(p);
    size_t size = s->elemsize;
    uintptr_t obj = p, lo, hi;
    const struct tc_type *t = NULL;
    if (s->kind != TCI_KIND_CONSERVATIVE) {
        uint32_t id = tci_span_type_id(s, obj);
        t = tci_type_table[id];
        if (t->trace) { /* a callback sees the whole object */
            t->trace((void *)obj, size, tr);
            return size;
        }
    }
    if (tci_span_state(s) == TCI_SPAN_LARGE && size > SCAN_CHUNK && tr->check != TRACER_CHECK) {
        obj = s->base;
        if (p == obj)
            for (uintptr_t c = obj + SCAN_CHUNK; c < obj + size; c += SCAN_CHUNK)
                push(tr, c);
        lo = p;
        hi = p + SCAN_CHUNK < obj + size ? p + SCAN_CHUNK : obj + size;
    } else {
        lo = obj;
        hi = obj + size;
    }
    if (!t) {
        tci_mark_range(tr, lo, hi);
        return hi - lo;
    }
    /* The slots that lie in [lo, hi): each exactly once over the chunks,
     * whatever the element's size. An element the chunk holds whole is
     * scanned with the plain loop; one that a chunk edge cuts (at most two
     * a chunk) has the chunk's part of its sorted offsets found by a
     * binary search: scanning all of a big element's slots at each chunk
     * was quadratic, 10 s for one object of 4 million fields. Only whole
     * elements: an object smaller than its type holds none (reading the
     * type's slots there read the neighbours' memory). Mostly one element
     * per slot, unchunked: no 40-cycle divide for that. */
    size_t tsz = t->size, e = 0, n = size >= tsz;
    if (size >= 2 * tsz) {
        e = (lo - obj) / tsz;
        n = (hi - obj + tsz - 1) / tsz;
        if (n > size / tsz)
            n = size / tsz;
    }
    uint64_t slots = 0;
    for (; e < n; e++) {
        uintptr_t base = obj + e * tsz;
        size_t i = 0, end = t->n_ptrs;
        if (__builtin_expect(base < lo, 0))
            i = first_offset_from(t, lo - base);
        if (__builtin_expect(base + tsz > hi, 0))
            end = first_offset_from(t, hi - base);
        slots += end - i;
        for (; i < end; i++)
            /* Acquire: partner tc_store_slow_'s release store. */
            mark_ptr(tr, tci_uptr_load_acquire((const uintptr_t *)(base + t->offsets[i])));
    }
    tr->slots += slots;
    if (__builtin_expect(t->n_wslots != 0, 0))
        tci_weakfield_scan(tr, tr->check == TRACER_CHECK, t, obj, size, lo, hi);
    return hi - lo;
}

/* Scans obj with a checking tracer (checkmark): every object it points to
 * must be marked. */
void tci_mark_check_object(tc_tracer *tr, uintptr_t obj)
{
    tr->check_from = obj;
    scan_object(tr, obj);
}

void tci_mark_check_from(tc_tracer *tr, uintptr_t obj)
{
    tr->check_from = obj;
}

/* Moves the older half of the local buffer to the global list. The older
 * entries of a depth-first grey stack are the roots of the biggest
 * unexplored subgraphs: the ones worth handing to another marker. */
void tci_mark_share_half(tc_tracer *tr)
{
    workbuf *b = tr->cur;
    workbuf *nb = tci_mark_buf_get();
    size_t half = b->n / 2;
    memcpy(nb->obj, b->obj, half * sizeof(uintptr_t));
    memmove(b->obj, b->obj + half, (b->n - half) * sizeof(uintptr_t));
    nb->n = half;
    b->n -= half;
    buf_put_full(nb);
}

/* Shares when another marker is idle (waiting for work, not gone) and
 * the global list has nothing. */
static void maybe_share(tc_tracer *tr)
{
    if (tr->cur->n >= 8 &&
        tci_atomic_load_relaxed(&tci_mark_nidle) > tci_atomic_load_relaxed(&markers_left) &&
        tci_atomic_load_relaxed(&nfull) == 0)
        tci_mark_share_half(tr);
}

void tci_mark_idle_reset(void)
{
    tci_atomic_store_relaxed(&tci_mark_nidle, 0);
    tci_atomic_store_relaxed(&markers_left, 0);
}

/* Background credit (Go's bgScanCredit): what the markers mark, banked as
 * they go, pays the allocating threads' assist debts first, so a mutator
 * marks only when the markers are behind. Progress counts everything
 * marked in this mark, markers' and assists', for the assist ratio. Reset
 * at each mark's first stop. */
tci_atomic tci_mark_credit_bytes, tci_mark_progress_bytes;

static void bank_credit(tc_tracer *tr)
{
    uint64_t d = tr->marked_bytes - tr->credited;
    if (d == 0)
        return;
    tr->credited = tr->marked_bytes;
    tci_atomic_add_full(&tci_mark_credit_bytes, d);
    tci_atomic_add_full(&tci_mark_progress_bytes, d);
}

uint64_t tci_mark_credit_take(uint64_t want)
{
    for (;;) {
        uintptr_t have = tci_atomic_load_relaxed(&tci_mark_credit_bytes);
        if (have == 0)
            return 0;
        uintptr_t take = have < want ? have : (uintptr_t)want;
        if (tci_atomic_cas_full(&tci_mark_credit_bytes, have, have - take))
            return take;
    }
}

uint64_t tci_mark_progress(void)
{
    return tci_atomic_load_relaxed(&tci_mark_progress_bytes);
}

/* Objects popped wait in a small FIFO after their memory is prefetched, so
 * several cache misses are in flight at once instead of one per object
 * (a LIFO grey stack would otherwise scan each object right after pushing
 * it, with no time for a prefetch to land). */
/* The collector marks alone until it has scanned this many objects (about
 * 100 us of work): waking helpers costs tens of microseconds, and a small
 * heap is marked before they would start. A depth-first walk of a tree keeps
 * its grey stack short, so waiting for a full buffer would never wake them. */
#define WAKE_AFTER 4096

/* ---- The markers' share (gc/pacer.c, 5) ---------------------------------- */

#define PACE_SLICE_NS 1000000 /* a marker looks at its share every millisecond */

/* The run time comes from the thread's clock: the kernel's schedstat run
 * figure is brought up to date only at a tick or a switch (a running
 * marker reads 0, 0, 0, then 4 ms). Its wait figure is what the marker
 * needs: a wait is added when the thread gets its CPU back. A kernel that
 * keeps no figures prints zeros: then nothing is known. */
static void pace_read(tc_tracer *tr, uint64_t *run, uint64_t *wait)
{
    uint64_t srun = 0;
    *run = tci_os_thread_cpu_ns();
    tr->pace_known = pace_available && tci_os_thread_sched(&srun, wait) == 0 && srun != 0;
    if (!tr->pace_known)
        *wait = 0;
}

void tci_mark_pace_start(tc_tracer *tr)
{
    tr->pace_competed = 0;
    tr->pace_wall = tci_os_now_ns();
    pace_read(tr, &tr->pace_run, &tr->pace_wait);
}

/* Counts the slice that ends now (its GC CPU, its idle marking) and starts
 * the next. Returns how long the marker should step aside (0: go on). */
static uint64_t pace_account(tc_tracer *tr, uint64_t now)
{
    uint64_t run, wait, sleep_ns;
    int was_known = tr->pace_known;
    pace_read(tr, &run, &wait);
    uint64_t run_d = run > tr->pace_run ? run - tr->pace_run : 0;
    uint64_t wait_d = wait > tr->pace_wait ? wait - tr->pace_wait : 0;
    uint64_t wall_d = now > tr->pace_wall ? now - tr->pace_wall : 0;
    int known = was_known && tr->pace_known;
    /* The markers still at work share the share: one left alone gets it
     * all, as TRICOLOR_MARKERS=1's one marker would. */
    uint64_t active = (uint64_t)tci_mark_nworkers - tci_atomic_load_relaxed(&markers_left);
    uint64_t share = markers_share_1024 / (active ? active : 1);
    if (share > 1024)
        share = 1024;
    uint64_t test_share = tci_atomic_load_relaxed(&tci_mark_pace_test_compete);
    if (test_share) {
        known = 1;
        wait_d = wall_d;
        share = test_share;
    }
    uint64_t counted =
        tci_pacer_marker_slice(share, wall_d, run_d, wait_d, known, &tr->pace_owed, &sleep_ns);
    int waited = wait_d * TCI_WAIT_SHARE > wall_d;
    tci_control_marker_slice(counted, run_d, !known || waited);
    tr->pace_competed = known && waited;
    tr->pace_wall = now;
    tr->pace_run = run;
    tr->pace_wait = wait;
    return sleep_ns;
}

uint64_t tci_mark_steps_aside(void)
{
    return tci_atomic_load_relaxed(&steps_aside);
}

/* A helper that waited for a CPU in its last slice competed with the
 * program (or with another marker) for it: with the collector's own
 * marker still at work, what it adds is marking the program pays for in
 * CPU time, and two markers on two CPUs beside a one-thread program made
 * it slower than one (issue 20). So it leaves the drain, its work handed
 * over first, instead of napping inside it: the drain's end does not wait
 * for it (it counts as idle for good), and the markers left take its part
 * of the share. It comes back at the next drain (gc/markers.c also sends
 * it away at a drain's start where no CPU is left over for it). Marker 0
 * never leaves: it keeps to its share by stepping aside for a while. */
static int helpers_at_work(void)
{
    return (uintptr_t)tci_mark_nworkers - tci_atomic_load_relaxed(&markers_left) > 1;
}

void tci_mark_leave_drain(void)
{
    tci_atomic_add_full(&markers_left, 1);
    tci_atomic_add_full(&tci_mark_nidle, 1); /* after its work is on the list */
}

void tci_mark_drain(tc_tracer *tr)
{
    uintptr_t *ring = tr->ring;
    unsigned head = 0, count = 0;
    for (;;) {
        workbuf *b = tr->cur;
        unsigned since_share = 0;
        while (b->n > 0 || count > 0) {
            if (b->n > 0 && count < PREFETCH_N) {
                uintptr_t obj = b->obj[--b->n];
                __builtin_prefetch((const void *)obj);
                ring[(head + count) % PREFETCH_N] = obj;
                count++;
                continue;
            }
            uintptr_t obj = ring[head];
            head = (head + 1) % PREFETCH_N;
            count--;
            scan_object(tr, obj);
            tr->scanned++;
            b = tr->cur; /* push may have swapped it */
            if (++since_share == 64) {
                since_share = 0;
                if (tci_mark_concurrent)
                    bank_credit(tr);
                if (tci_atomic_load_relaxed(&assist_hungry) && b->n >= 2 &&
                    tci_atomic_load_relaxed(&nfull) == 0) {
                    tci_atomic_store_relaxed(&assist_hungry, 0);
                    tci_mark_share_half(tr);
                } else if (tci_mark_nworkers > 1)
                    maybe_share(tr);
                else if (tci_mark_nhelpers > 0 && tr->scanned >= WAKE_AFTER && b->n >= 2)
                    tci_mark_share_half(tr); /* wakes the helpers */
                if (tr->pace) {
                    uint64_t now = tci_os_now_ns();
                    /* The tests' switch makes slices short too, so the
                     * small marks of a test step aside as well. */
                    uint64_t slice = tci_atomic_load_relaxed(&tci_mark_pace_test_compete)
                                         ? PACE_SLICE_NS / 50
                                         : PACE_SLICE_NS;
                    uint64_t nap = 0;
                    int leave = 0;
                    if (now - tr->pace_wall >= slice) {
                        nap = pace_account(tr, now);
                        leave = tr->id > 0 && tr->pace_competed;
                        if (nap && tr->id == 0 && helpers_at_work()) {
                            /* What it competed with may be a helper,
                             * which leaves if it competed too: marker 0
                             * stays, its slice not held against it. */
                            nap = 0;
                            if (tr->pace_owed > 0)
                                tr->pace_owed = 0;
                        }
                    }
                    if (nap || leave) {
                        /* Step aside, every grey object it holds on the
                         * global list first (the prefetched ones too),
                         * for assists and the other markers. */
                        while (count > 0) {
                            push(tr, ring[head]);
                            head = (head + 1) % PREFETCH_N;
                            count--;
                        }
                        head = 0;
                        if (tr->cur->n > 0) {
                            buf_put_full(tr->cur);
                            tr->cur = tci_mark_buf_get();
                        }
                        tci_atomic_add_full(&steps_aside, 1);
                        if (leave) {
                            tci_mark_leave_drain();
                            return;
                        }
                        tci_os_sleep_ns(nap);
                        (void)pace_account(tr, tci_os_now_ns());
                        b = tr->cur;
                    }
                }
            }
        }
        workbuf *got = buf_take_full();
        if (got) {
            tci_mark_buf_put_empty(tr->cur);
            tr->cur = got;
            continue;
        }
        /* Idle: wait for work or for everyone to be idle. */
        tci_atomic_add_full(&tci_mark_nidle, 1);
        for (;;) {
            if (tci_atomic_load_acquire(&nfull) != 0) {
                tci_atomic_sub_full(&tci_mark_nidle, 1);
                break;
            }
            /* assists_active before nfull: an assist puts its work back
             * before it stops counting, so once it reads zero the work is
             * on the list for the nfull check to see. */
            if (tci_atomic_load_acquire(&tci_mark_nidle) == (uintptr_t)tci_mark_nworkers &&
                tci_atomic_load_acquire(&assists_active) == 0 &&
                tci_atomic_load_acquire(&nfull) == 0) {
                if (tr->pace)
                    (void)pace_account(tr, tci_os_now_ns());
                return;
            }
            sched_yield();
        }
    }
}

/* The markers a mark uses, TRICOLOR_MARKERS: set by tci_mark_init at
 * tc_init, before any marker runs; read-only after. */
int tci_mark_nmarkers_cfg;

void tci_mark_init(int markers, int ncpu)
{
    tci_mark_nmarkers_cfg = markers;
    /* TCI_BACKGROUND_PCT of the CPUs, over the markers at work (at most
     * a CPU each: pace_account). */
    markers_share_1024 = (uint64_t)ncpu * 1024 * TCI_BACKGROUND_PCT / 100;
    pace_available = tci_os_thread_sched_available();
}

int tci_mark_paced(void)
{
    return pace_available;
}

int tci_mark_workers(void)
{
    return tci_mark_nmarkers_cfg;
}

int tci_mark_is_marked(uintptr_t p)
{
    tci_found f = tci_find_object_v(p);
    return !f.obj || tci_mark_get(f.span, f.idx);
}

void tci_mark_scan_contents(tc_tracer *tr, uintptr_t obj)
{
    tci_span *s = tci_span_of(obj);
    if (s && s->kind != TCI_KIND_NOSCAN) {
        /* A checking tracer pushes nothing (and would never give a buffer
         * back). */
        if (__builtin_expect(tr->cur == NULL, 0) && tr->check != TRACER_CHECK)
            tr->cur = tci_mark_buf_get();
        scan_object(tr, obj);
    }
}

tc_tracer *tci_mark_tracer_new(void)
{
    tc_tracer *tr = calloc(1, sizeof *tr);
    if (tr)
        tr->id = -1;
    return tr;
}

size_t tci_mark_tracer_size(void)
{
    return sizeof(tc_tracer);
}

void tci_mark_tracer_free(tc_tracer *tr)
{
    free(tr);
}

void tci_mark_tracer_flush(tc_tracer *tr)
{
    if (tr->slots) {
        tci_atomic_add_full(&tci_mark_slots_total, tr->slots);
        tr->slots = 0;
    }
    if (tr->marked_bytes) {
        tci_atomic_add_full(&tci_mark_marked_total, tr->marked_bytes);
        tr->marked_bytes = 0;
        tr->credited = 0;
    }
    workbuf *b = tr->cur;
    if (!b)
        return;
    tr->cur = NULL;
    if (b->n)
        buf_put_full(b);
    else
        tci_mark_buf_put_empty(b);
}

void tci_mark_shade(tc_tracer *tr, uintptr_t p)
{
    mark_ptr(tr, p);
}

size_t tci_mark_assist(tc_tracer *tr, size_t budget, int *no_work, uint64_t *marked)
{
    size_t done = 0;
    *no_work = 0;
    tci_atomic_add_full(&assists_active, 1);
    while (done < budget) {
        /* A stop waits for this thread: let it have the thread (the rest
         * of the debt carries over). One load per object (or chunk). */
        if (tci_atomic_load_relaxed(&tci_world_stw_pending))
            break;
        if (!tr->cur || tr->cur->n == 0) {
            workbuf *got = buf_take_full();
            if (!got) {
                *no_work = 1;
                break;
            }
            if (tr->cur)
                tci_mark_buf_put_empty(tr->cur);
            tr->cur = got;
        }
        workbuf *b = tr->cur;
        done += scan_object(tr, b->obj[--b->n]);
    }
    /* Progress counts marked bytes, as the markers' credit does (a scanned
     * byte may have been marked, and counted, by a marker). */
    *marked = tr->marked_bytes;
    tci_atomic_add_full(&tci_mark_progress_bytes, tr->marked_bytes);
    /* Nothing stays with a thread that may park next: the markers (or the
     * next stop) must see every grey object. */
    tci_mark_tracer_flush(tr);
    tci_atomic_sub_full(&assists_active, 1);
    return done;
}

void tci_mark_want_share(void)
{
    tci_atomic_store_relaxed(&assist_hungry, 1);
}

void tci_mark_check_enable(tc_tracer *tr)
{
    tr->check = TRACER_CHECK;
}

/* The child of a fork that abandons a mark (gc/fork.c): the grey work is
 * dropped (its buffers back on the empty list), nobody assists or idles. */
void tci_mark_fork_abandon(void)
{
    tci_mutex_lock(&work_lock); /* released below */
    while (full_list) {
        workbuf *b = full_list;
        full_list = b->next;
        b->n = 0;
        b->next = empty_list;
        empty_list = b;
    }
    tci_atomic_store_relaxed(&nfull, 0);
    tci_mutex_unlock(&work_lock);
    tci_atomic_store_relaxed(&assists_active, 0);
    tci_mark_idle_reset();
    tci_mark_concurrent = 0;
    tci_mark_nworkers = 1;
}
