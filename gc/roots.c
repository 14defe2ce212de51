/* roots.c: the roots of a collection: every attached thread's stack and
 * saved registers, the registered ranges and the root callbacks.
 *
 * Stacks are written with plain stores at any time: a concurrent mark
 * scans them inside its first stop. Ranges added with
 * tc_root_add_barriered are written only through tc_store, whose barrier
 * shades what each store overwrites, so the markers scan them after the
 * stop, world running, at any size: a pointer the scan has not reached
 * yet can leave its slot only through a store that shades it (the
 * snapshot's guarantee, as for heap slots). The finalizers' roots are
 * greyed after the stop too (special.c).
 *
 * Plain tc_root_add ranges are written with plain stores, which no
 * barrier sees, so the snapshot of the first stop has to be taken another
 * way than by reading them in the stop (a conservative scan reads about
 * 1.6 GB/s here: 40 ms for 64 MiB; even a copy would take 6 ms). The
 * whole pages of a range of at least PROTECT_MIN are write-protected
 * instead, in chunks (protected ranges below):
 *
 *  - before the first stop, world running, the collector makes them
 *    read-only (mprotect: 0.7 ms for 64 MiB here) and arms each chunk;
 *    a write meanwhile faults, and the fault hook makes its chunk
 *    writable again and dirty;
 *  - in the first stop, the dirty chunks are copied aside (a chunk's
 *    copy, about 10 us, for each one written since the arming), and the
 *    partial pages at the range's ends are scanned: from then on a
 *    protected chunk holds exactly what it held at the stop. The stop
 *    looks at each chunk's state, at most MAX_CHUNKS a range, whatever
 *    its size;
 *  - after the stop the collector scans each chunk and makes it
 *    writable; a write that comes first faults, and the fault hook copies
 *    the chunk aside (the collector scans the copy) before making it
 *    writable. Either way the mark sees each chunk as it was at the stop.
 *
 * The price: while a range is protected, a system call that writes into
 * it (read(2) into a registered buffer) fails with EFAULT instead of
 * faulting, and the program must not change a registered range's
 * protection itself. Ranges in memory that is not private and writable
 * when registered, smaller ones, and every range when
 * TRICOLOR_DEBUG=rootprotect=0, are scanned in the first stop as before.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fork.h"
#include "gc.h"
#include "os.h"

/* ---- Protected ranges ------------------------------------------------------
 *
 * A chunk's state moves, by compare-and-swap (the collector, the first
 * stop and faulting threads race for it):
 *
 *   IDLE -> ARMED                  the arming (collector), before the stop
 *   ARMED -> UNPROTECTING -> DIRTY a write before the stop (fault hook)
 *   ARMED -> SNAP                  the stop: unchanged since the arming
 *   DIRTY -> COPIED                the stop copies it aside
 *   SNAP -> SCANNING -> DONE       the collector scans it, makes it writable
 *   SNAP -> COPYING -> COPIED      a write after the stop (fault hook)
 *   COPIED -> DONE                 the collector scans the copy
 *   DONE -> IDLE                   the disarming (collector)
 *
 * UNPROTECTING, SCANNING and COPYING are held for one chunk's mprotect,
 * scan or copy: whoever meets one waits for it to pass. A chunk is
 * read-only in ARMED, SNAP, SCANNING and COPYING. A write to a DIRTY
 * chunk in the stop (a thread in a blocking region may write) lands in
 * the copy or not, as it would have been seen by a scan in the stop. */
enum {
    CH_IDLE, CH_ARMED, CH_UNPROTECTING, CH_DIRTY, CH_SNAP, CH_SCANNING, CH_COPYING,
    CH_COPIED, CH_DONE,
};
/* Ranges whose whole pages are fewer bytes than this are scanned in the
 * stop (at most about 40 us), as are those beyond MAX_PROTECTED. Chunks
 * are at least MIN_CHUNK and at most MAX_CHUNKS a range (bigger for bigger
 * ranges): each written chunk costs a fault, an mprotect and (after the
 * stop) a copy, and splits the mapping, so a range never has more than
 * 2 * MAX_CHUNKS + 1 mappings, far below the kernel's default limit of
 * 65,530 for MAX_PROTECTED of them. */
#define PROTECT_MIN (64 * 1024)
#define MIN_CHUNK (64 * 1024)
#define MAX_CHUNKS 1024
#define MAX_PROTECTED 16

typedef struct prange {
    uintptr_t plo, phi;  /* the whole pages inside the range; immutable */
    size_t chunk;        /* bytes a chunk (a multiple of the page); immutable */
    size_t nchunks;      /* immutable */
    tci_atomic *state;   /* a chunk's CH_ state; see above */
    char *shadow;        /* the chunks copied by the fault hook, at their offsets */
    /* 1 from the arming to the disarming: written by the collector under
     * roots_lock, read by the fault hook. */
    tci_atomic armed;
    /* A chunk went to the shadow this cycle: set by the stop and the
     * collector (roots_lock); the fault hook's copies are found by state. */
    int copied;
} prange;

/* The protected ranges, for the fault hook, which takes no lock: a slot is
 * set (release) when a range is added, after its prange is complete, and
 * cleared when it is removed, under roots_lock; the prange is freed only
 * once no hook is running (hooks_running), so a hook that loaded the slot
 * before the clearing reads valid memory. */
static tci_atomic protected_slots[MAX_PROTECTED];
static tci_atomic hooks_running;
/* Stops waited for: bytes of plain ranges the last first stop scanned. */
static uint64_t last_stop_range_bytes; /* the collector's thread */
static pthread_cond_t disarm_cond = PTHREAD_COND_INITIALIZER; /* with roots_lock */
TCI_FORK_COND(disarm_cond, disarm_cond)
/* Consecutive faults this thread met on a protected range that was not
 * armed: a stale fault (its chunk made writable since) is retried once
 * or twice; thousands mean the program protected the range itself (which
 * it must not do), and the fault is passed on rather than retried forever. */
static __thread unsigned stale_faults __attribute__((tls_model("initial-exec")));

/* barriered: written only through tc_store, so the markers scan it while
 * the program runs (tc_root_add_barriered). prot: write-protected during
 * a mark's start (plain ranges big enough; NULL otherwise). */
typedef struct range { uintptr_t lo, hi; int barriered; prange *prot; } range;
typedef struct callback { tc_root_fn fn; void *arg; } callback;

static tci_mutex roots_lock = TCI_MUTEX_INIT(TCI_RANK_ROOTS, "roots_lock");
TCI_FORK_LOCK(roots_lock)
static range *ranges;         /* protected by roots_lock */
static size_t nranges, ranges_cap;
static callback *callbacks;   /* protected by roots_lock */
static size_t ncallbacks, callbacks_cap;
/* Written by the collector's thread (in the first stop; barriered ranges
 * added after it, world running) and read by it. */
static uint64_t last_bytes, last_stack_bytes;

static int grow(void **arr, size_t *cap, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 16;
    void *n = realloc(*arr, ncap * elem);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

/* The chunks of a plain range [lo, hi) in private writable memory, or NULL
 * when it is too small to be worth protecting (or out of memory: then the
 * stop scans it). */
static prange *prange_new(uintptr_t lo, uintptr_t hi)
{
    uintptr_t page = tci_os_page_size();
    uintptr_t plo = (lo + page - 1) & ~(page - 1), phi = hi & ~(page - 1);
    if (phi <= plo || phi - plo < PROTECT_MIN)
        return NULL;
    size_t bytes = phi - plo;
    size_t chunk = MIN_CHUNK;
    while (bytes / chunk >= MAX_CHUNKS)
        chunk *= 2;
    prange *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->plo = plo;
    p->phi = phi;
    p->chunk = chunk;
    p->nchunks = (bytes + chunk - 1) / chunk;
    p->state = calloc(p->nchunks, sizeof *p->state);
    /* Address space only: a page of it holds memory once a chunk is
     * copied there, and goes back after the cycle. */
    p->shadow = tci_os_map(bytes);
    if (!p->state || !p->shadow) {
        if (p->shadow)
            tci_os_unmap(p->shadow, bytes);
        free(p->state);
        free(p);
        return NULL;
    }
    return p;
}

static void prange_free(prange *p)
{
    tci_os_unmap(p->shadow, p->phi - p->plo);
    free(p->state);
    free(p);
}

static uintptr_t chunk_lo(const prange *p, size_t i)
{
    return p->plo + i * p->chunk;
}

static size_t chunk_len(const prange *p, size_t i)
{
    uintptr_t lo = chunk_lo(p, i);
    return p->phi - lo < p->chunk ? p->phi - lo : p->chunk;
}

/* Waits (briefly: one chunk's mprotect, scan or copy) while chunk i is in
 * one of the passing states; returns the state it reached. */
static uintptr_t chunk_settled(prange *p, size_t i)
{
    for (;;) {
        uintptr_t st = tci_atomic_load_acquire(&p->state[i]);
        if (st != CH_UNPROTECTING && st != CH_SCANNING && st != CH_COPYING)
            return st;
        tci_cpu_relax();
    }
}

/* A chunk's copy into the shadow. The copy is ordered before every write
 * to the chunk by its protection (no write can land while it is
 * read-only), which ThreadSanitizer cannot see: it would report each
 * later write as racing with the copy. So the copy is not instrumented,
 * as the conservative scanner is not (tci_mark_range), and is written as
 * a loop of volatile loads that the compiler cannot turn back into an
 * (instrumented) memcpy. Chunks are whole pages: whole words. */
static TCI_NO_SANITIZE void copy_chunk(char *dst, uintptr_t src, size_t len)
{
    const volatile uintptr_t *from = (const volatile uintptr_t *)src;
    uintptr_t *to = (uintptr_t *)(void *)dst;
    for (size_t i = 0; i < len / sizeof *to; i++)
        to[i] = from[i];
}

static void protect_failed(const char *what, int err)
{
    /* Left read-only, the program's next write there would fault forever;
     * left writable, the snapshot would miss what it overwrites. */
    fprintf(stderr, "tricolor: making a root range's chunk %s failed (%s): cannot go on\n",
            what, strerror(err));
    abort();
}

/* The fault hook (os.h): a write to a protected range's chunk. Signal
 * context: atomics, mprotect and plain copies only. */
static int root_fault(uintptr_t addr)
{
    tci_atomic_add_full(&hooks_running, 1);
    prange *p = NULL;
    for (size_t k = 0; k < MAX_PROTECTED && !p; k++) {
        prange *q = (prange *)tci_atomic_load_acquire(&protected_slots[k]);
        if (q && addr >= q->plo && addr < q->phi)
            p = q;
    }
    int mine = p != NULL;
    if (p && !tci_atomic_load_acquire(&p->armed)) {
        /* Made writable since the fault: retried. */
        mine = ++stale_faults < 1000;
        p = NULL;
    }
    if (p) {
        stale_faults = 0;
        size_t i = (addr - p->plo) / p->chunk;
        void *lo = (void *)chunk_lo(p, i);
        size_t len = chunk_len(p, i);
        for (;;) {
            uintptr_t st = chunk_settled(p, i);
            if (st == CH_ARMED) {
                /* Before the stop: the stop protects it again. */
                if (!tci_atomic_cas_full(&p->state[i], CH_ARMED, CH_UNPROTECTING))
                    continue;
                if (tci_os_protect(lo, len, 1) != 0)
                    abort(); /* no stdio here; see protect_failed */
                tci_atomic_store_release(&p->state[i], CH_DIRTY);
            } else if (st == CH_SNAP) {
                /* After the stop: what the stop saw goes aside first. */
                if (!tci_atomic_cas_full(&p->state[i], CH_SNAP, CH_COPYING))
                    continue;
                copy_chunk(p->shadow + ((uintptr_t)lo - p->plo), (uintptr_t)lo, len);
                if (tci_os_protect(lo, len, 1) != 0)
                    abort();
                tci_atomic_store_release(&p->state[i], CH_COPIED);
            }
            /* DIRTY, COPIED, DONE, IDLE: writable now (the fault came
             * before another thread's mprotect ended): retried. */
            break;
        }
    }
    tci_atomic_add_full(&hooks_running, (uintptr_t)-1);
    return mine;
}

static int root_add(const char *fn, void *addr, size_t size, int barriered)
{
    uintptr_t lo = (uintptr_t)addr;
    if (!addr || size == 0 || lo + size < lo) {
        fprintf(stderr, "tricolor: %s(%p, %zu): not a valid range\n", fn, addr, size);
        errno = EINVAL;
        return -1;
    }
    /* Every collection reads all of it: a range past the end of what is
     * mapped (a size given in the wrong unit) would crash the first one. */
    int private_rw = 0;
    if (tci_os_range_readable(lo, size, &private_rw) == 0) {
        fprintf(stderr, "tricolor: %s(%p, %zu): the range is not all mapped and "
                        "readable (it must stay so until tc_root_remove)\n", fn, addr, size);
        errno = EFAULT;
        return -1;
    }
    /* A machine stack (the caller's here) is never protected: the kernel
     * pushes the fault's own signal frame there, and cannot. Made before
     * the lock (it allocates); dropped if no slot is free. */
    uintptr_t here = (uintptr_t)&private_rw;
    int on_stack = here >= lo && here - lo < size;
    prange *prot = !barriered && private_rw && !on_stack ? prange_new(lo, lo + size) : NULL;
    tci_mutex_lock(&roots_lock); /* released on every path */
    for (size_t i = 0; i < nranges; i++) {
        if (ranges[i].lo == lo) {
            tci_mutex_unlock(&roots_lock);
            if (prot)
                prange_free(prot);
            fprintf(stderr, "tricolor: %s(%p): a range starting there is "
                            "registered already\n", fn, addr);
            errno = EEXIST;
            return -1;
        }
    }
    if (nranges == ranges_cap && grow((void **)&ranges, &ranges_cap, sizeof *ranges)) {
        tci_mutex_unlock(&roots_lock);
        if (prot)
            prange_free(prot);
        errno = ENOMEM;
        return -1;
    }
    if (prot) {
        size_t k = 0;
        while (k < MAX_PROTECTED && tci_atomic_load_relaxed(&protected_slots[k]))
            k++;
        if (k < MAX_PROTECTED) {
            tci_atomic_store_release(&protected_slots[k], (uintptr_t)prot);
        } else {
            prange_free(prot); /* scanned in the stop */
            prot = NULL;
        }
    }
    ranges[nranges].lo = lo;
    ranges[nranges].hi = lo + size;
    ranges[nranges].barriered = barriered;
    ranges[nranges].prot = prot;
    nranges++;
    tci_mutex_unlock(&roots_lock);
    /* Added after a mark's first stop: this mark did not take it as a
     * root (gc/barrier.c says why it shades what it holds). */
    tci_barrier_shade_root(lo, lo + size, NULL, NULL);
    return 0;
}

int tc_root_add(void *addr, size_t size)
{
    return root_add("tc_root_add", addr, size, 0);
}

int tc_root_add_barriered(void *addr, size_t size)
{
    return root_add("tc_root_add_barriered", addr, size, 1);
}

/* Under roots_lock: waits until prot is not armed. The collector disarms
 * it soon after the first stop (tci_roots_scan_protected); an attached
 * caller waits in a blocking region, so that stop does not wait for it. */
static void wait_disarmed_locked(prange *prot)
{
    tci_assert_held(&roots_lock);
    if (!tci_atomic_load_relaxed(&prot->armed))
        return;
    int attached = tci_thread_self() != NULL;
    if (attached) {
        tci_mutex_unlock(&roots_lock);
        tc_blocking_begin();
        tci_mutex_lock(&roots_lock);
    }
    while (tci_atomic_load_relaxed(&prot->armed))
        tci_cond_wait(&disarm_cond, &roots_lock);
    if (attached) {
        tci_mutex_unlock(&roots_lock);
        tc_blocking_end();
        tci_mutex_lock(&roots_lock);
    }
}

void tc_root_remove(void *addr)
{
    tci_mutex_lock(&roots_lock); /* released on both paths */
    for (size_t i = 0; i < nranges; i++) {
        if (ranges[i].lo != (uintptr_t)addr)
            continue;
        /* The range's chunks are the mark's until scanned: the program may
         * unmap it once this returns, and it must be writable again. */
        prange *prot = ranges[i].prot;
        if (prot)
            wait_disarmed_locked(prot);
        /* The lock was let go while waiting: find the range again (it
         * cannot have gone: only a remove of this address removes it,
         * and a second one for the same range is the program's bug). */
        for (i = 0; i < nranges && ranges[i].lo != (uintptr_t)addr; i++)
            ;
        if (i == nranges)
            break;
        uintptr_t lo = ranges[i].lo, hi = ranges[i].hi;
        ranges[i] = ranges[--nranges];
        if (prot) {
            for (size_t k = 0; k < MAX_PROTECTED; k++)
                if (tci_atomic_load_relaxed(&protected_slots[k]) == (uintptr_t)prot)
                    tci_atomic_store_release(&protected_slots[k], 0);
        }
        tci_mutex_unlock(&roots_lock);
        if (prot) {
            /* A fault hook that found it before the slot was cleared. */
            while (tci_atomic_load_acquire(&hooks_running))
                tci_cpu_relax();
            prange_free(prot);
        }
        /* During a mark that has not scanned it (a barriered range is read
         * after the stop): what it held is what a store into each word
         * would overwrite (gc/barrier.c). The program may unmap it only
         * once this returns. */
        tci_barrier_shade_root(lo, hi, NULL, NULL);
        return;
    }
    tci_mutex_unlock(&roots_lock);
    fprintf(stderr, "tricolor: tc_root_remove(%p): no root range starts there\n", addr);
}

int tc_root_callback_add(tc_root_fn fn, void *arg)
{
    if (!fn) {
        errno = EINVAL;
        return -1;
    }
    tci_mutex_lock(&roots_lock); /* released on both paths */
    if (ncallbacks == callbacks_cap &&
        grow((void **)&callbacks, &callbacks_cap, sizeof *callbacks)) {
        tci_mutex_unlock(&roots_lock);
        errno = ENOMEM;
        return -1;
    }
    callbacks[ncallbacks].fn = fn;
    callbacks[ncallbacks].arg = arg;
    ncallbacks++;
    tci_mutex_unlock(&roots_lock);
    tci_barrier_shade_root(0, 0, fn, arg); /* as for a range added during a mark */
    return 0;
}

void tc_root_callback_remove(tc_root_fn fn, void *arg)
{
    tci_mutex_lock(&roots_lock); /* released on both paths */
    for (size_t i = 0; i < ncallbacks; i++) {
        if (callbacks[i].fn == fn && callbacks[i].arg == arg) {
            memmove(&callbacks[i], &callbacks[i + 1], (ncallbacks - i - 1) * sizeof *callbacks);
            ncallbacks--;
            tci_mutex_unlock(&roots_lock);
            tci_barrier_shade_root(0, 0, fn, arg); /* as for a range removed */
            return;
        }
    }
    tci_mutex_unlock(&roots_lock);
    fprintf(stderr, "tricolor: tc_root_callback_remove: no such callback\n");
}

/* One stack's saved registers (its runner's, or its own when suspended)
 * and its live part from where that begins up to hi; returns the stack
 * bytes scanned. Every stack, each attached thread's own and those
 * registered (runtime/stack.c), on its own: a thread that runs on a
 * coroutine's stack has its own stack suspended, and either may hold the
 * only reference to an object. */
static uint64_t scan_stack(tc_tracer *tr, const tc_stack *s, uintptr_t hi)
{
    size_t words;
    const uintptr_t *spill = tci_stack_spill(s, &words);
    if (words)
        tci_mark_range(tr, (uintptr_t)spill, (uintptr_t)(spill + words));
    uintptr_t lo = tci_stack_live_lo(s);
    if (lo >= hi)
        return 0;
    tci_mark_range(tr, lo, hi);
    return hi - lo;
}

void tci_roots_note_stacks(uint64_t mark_id)
{
    for (tc_stack *s = tci_stack_first(); s; s = s->next) {
        s->mark_lo = tci_stack_live_lo(s);
        s->mark_id = mark_id;
    }
}

/* Stack by stack, not thread by thread: a stack running at the first stop
 * may be suspended at the last, or the other way round, and a thread's
 * start then lay on another stack than its start now (docs/design.md,
 * "Coroutine stacks"). */
uint64_t tci_roots_scan_new_frames(tc_tracer *tr, uint64_t mark_id)
{
    uint64_t bytes = 0;
    for (tc_stack *s = tci_stack_first(); s; s = s->next) {
        /* A stack registered (or a thread attached) since the first stop
         * was never scanned. */
        uintptr_t old_lo = s->mark_id == mark_id ? s->mark_lo : s->hi;
        if (tci_stack_live_lo(s) == old_lo)
            continue; /* held at the same frame as then: nothing new */
        bytes += scan_stack(tr, s, old_lo < s->hi ? old_lo : s->hi);
    }
    return bytes;
}

void tci_roots_scan(tc_tracer *tr)
{
    tci_roots_scan_stop(tr);
    tci_roots_scan_barriered(tr);
    tci_special_roots(tr);
}

/* In the first stop, an armed range's chunks: from here on each holds
 * what it holds now until the collector has it (see the states above). */
static void snap_chunks(prange *p)
{
    for (size_t i = 0; i < p->nchunks; i++) {
        for (;;) {
            uintptr_t st = chunk_settled(p, i);
            if (st == CH_ARMED && !tci_atomic_cas_full(&p->state[i], CH_ARMED, CH_SNAP))
                continue; /* a write came first: it is DIRTY now */
            if (st == CH_DIRTY) {
                /* Written since the arming: copied as it is now. (Made
                 * read-only again instead, one chunk took 50-70 us here,
                 * the mapping's merge and the other CPU's TLB flush.) */
                uintptr_t lo = chunk_lo(p, i);
                copy_chunk(p->shadow + (lo - p->plo), lo, chunk_len(p, i));
                p->copied = 1;
                tci_atomic_store_release(&p->state[i], CH_COPIED);
            }
            break;
        }
    }
}

/* The ranges registered barriered (or not) into the tracer, under
 * roots_lock; returns their bytes, and in *stop_bytes_out (unless NULL)
 * those read here. In
 * the first stop (plain ranges), an armed range is only snapped, but for
 * its partial pages at either end: the collector scans the rest after the
 * stop. */
static uint64_t scan_ranges_locked(tc_tracer *tr, int barriered, uint64_t *stop_bytes_out)
{
    tci_assert_held(&roots_lock);
    uint64_t bytes = 0, stop_bytes = 0;
    for (size_t i = 0; i < nranges; i++) {
        range *r = &ranges[i];
        if (r->barriered != barriered)
            continue;
        bytes += r->hi - r->lo;
        if (barriered)
            tci_mark_range(tr, r->lo, r->hi);
        else if (r->prot && tci_atomic_load_relaxed(&r->prot->armed)) {
            snap_chunks(r->prot);
            tci_mark_range(tr, r->lo, r->prot->plo);
            tci_mark_range(tr, r->prot->phi, r->hi);
            stop_bytes += (r->prot->plo - r->lo) + (r->hi - r->prot->phi);
        } else {
            tci_mark_range(tr, r->lo, r->hi);
            stop_bytes += r->hi - r->lo;
        }
    }
    if (stop_bytes_out)
        *stop_bytes_out = stop_bytes;
    return bytes;
}

static uint64_t scan_barriered(tc_tracer *tr)
{
    tci_mutex_lock(&roots_lock); /* released below */
    uint64_t bytes = scan_ranges_locked(tr, 1, NULL);
    tci_mutex_unlock(&roots_lock);
    return bytes;
}

void tci_roots_scan_barriered(tc_tracer *tr)
{
    last_bytes += scan_barriered(tr);
}

/* Range p disarmed: writable again first when `unprotect` (its chunks were
 * not made so one by one), every chunk idle, what was copied aside
 * dropped. */
static void prange_disarm(prange *p, int unprotect)
{
    int err = unprotect && tci_os_protect((void *)p->plo, p->phi - p->plo, 1) ? errno : 0;
    if (err)
        protect_failed("writable", err);
    tci_atomic_store_release(&p->armed, 0);
    for (size_t c = 0; c < p->nchunks; c++)
        tci_atomic_store_relaxed(&p->state[c], CH_IDLE);
    if (p->copied) {
        tci_os_release(p->shadow, p->phi - p->plo);
        p->copied = 0;
    }
}

void tci_roots_arm(void)
{
    if (!tci_env_cfg.rootprotect)
        return;
    tci_mutex_lock(&roots_lock); /* released below */
    int hooked = -1;
    for (size_t i = 0; i < nranges; i++) {
        prange *p = ranges[i].prot;
        if (!p)
            continue;
        /* Each cycle: the program may have put its own handler in ours'
         * place since (ours then passes its faults on to it). */
        if (hooked < 0)
            hooked = tci_os_fault_hook(root_fault) == 0;
        if (!hooked)
            break; /* every range scanned in the stop, as before */
        for (size_t c = 0; c < p->nchunks; c++)
            tci_atomic_store_relaxed(&p->state[c], CH_ARMED);
        tci_atomic_store_release(&p->armed, 1);
        if (tci_os_protect((void *)p->plo, p->phi - p->plo, 0) != 0)
            prange_disarm(p, 1); /* out of mappings: this range waits for the stop, as
                             before (mprotect may have done part of it) */
    }
    tci_mutex_unlock(&roots_lock);
}

/* The collector's scan of one armed range after the first stop; then the
 * range is disarmed, every chunk writable. */
static uint64_t scan_protected(tc_tracer *tr, prange *p)
{
    for (size_t i = 0; i < p->nchunks; i++) {
        uintptr_t lo = chunk_lo(p, i);
        size_t len = chunk_len(p, i);
        for (;;) {
            uintptr_t st = chunk_settled(p, i);
            if (st == CH_SNAP) {
                if (!tci_atomic_cas_full(&p->state[i], CH_SNAP, CH_SCANNING))
                    continue; /* a write came first: COPYING */
                tci_mark_range(tr, lo, lo + len);
                int err = tci_os_protect((void *)lo, len, 1) ? errno : 0;
                if (err)
                    protect_failed("writable", err);
            } else if (st == CH_COPIED) {
                uintptr_t copy = (uintptr_t)p->shadow + (lo - p->plo);
                tci_mark_range(tr, copy, copy + len);
                p->copied = 1;
            }
            tci_atomic_store_release(&p->state[i], CH_DONE);
            break;
        }
    }
    prange_disarm(p, 0);
    return p->phi - p->plo;
}

void tci_roots_scan_protected(tc_tracer *tr)
{
    tci_mutex_lock(&roots_lock); /* released below */
    for (size_t i = 0; i < nranges; i++)
        if (ranges[i].prot && tci_atomic_load_relaxed(&ranges[i].prot->armed))
            scan_protected(tr, ranges[i].prot);
    pthread_cond_broadcast(&disarm_cond);
    tci_mutex_unlock(&roots_lock);
}

uint64_t tci_roots_last_stop_range_bytes(void)
{
    return last_stop_range_bytes;
}

/* The plain ranges and the callbacks, after the stacks (the first stop's
 * part, and checkmark's); *stop_bytes as scan_ranges_locked's. */
static uint64_t scan_ranges_and_callbacks(tc_tracer *tr, uint64_t *stop_bytes)
{
    /* No stopped thread holds roots_lock: it is never held across a
     * safepoint. */
    tci_mutex_lock(&roots_lock); /* released below */
    uint64_t bytes = scan_ranges_locked(tr, 0, stop_bytes); /* barriered: scan_barriered */
    for (size_t i = 0; i < ncallbacks; i++)
        callbacks[i].fn(tr, callbacks[i].arg);
    tci_mutex_unlock(&roots_lock);
    return bytes;
}

void tci_roots_scan_stop(tc_tracer *tr)
{
    uint64_t bytes = 0;
    /* Every thread, the collector too, published its stack and spilled
     * registers before the world stopped (park, blocking region, collect);
     * every suspended stack was saved as it was left (tc_stack_switch). */
    for (tc_stack *s = tci_stack_first(); s; s = s->next)
        bytes += scan_stack(tr, s, s->hi);
    last_stack_bytes = bytes;
    bytes += scan_ranges_and_callbacks(tr, &last_stop_range_bytes);
    last_bytes = bytes;
}

void tci_roots_scan_checked(tc_tracer *tr, uint64_t mark_id)
{
    (void)tci_roots_scan_new_frames(tr, mark_id);
    (void)scan_ranges_and_callbacks(tr, NULL);
    (void)scan_barriered(tr);
    tci_special_roots(tr);
}

uint64_t tci_roots_last_bytes(void)
{
    return last_bytes;
}

uint64_t tci_roots_last_stack_bytes(void)
{
    return last_stack_bytes;
}

/* The child of a fork that abandons a mark (gc/fork.c): the ranges armed
 * for it made writable and idle, as a scan would leave them; what a write
 * copied aside is dropped (the next mark starts afresh). One thread. */
void tci_roots_fork_disarm(void)
{
    tci_mutex_lock(&roots_lock); /* released below */
    for (size_t i = 0; i < nranges; i++) {
        prange *p = ranges[i].prot;
        if (p && tci_atomic_load_acquire(&p->armed))
            prange_disarm(p, 1);
    }
    pthread_cond_broadcast(&disarm_cond);
    tci_mutex_unlock(&roots_lock);
}
