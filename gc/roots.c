/* roots.c: the roots of a collection: every attached thread's stack and
 * saved registers, the registered ranges and the root callbacks.
 *
 * Stacks and tc_root_add ranges are written with plain stores at any
 * time: a concurrent mark scans them inside its first stop, so their size
 * is the stop's (a conservative scan reads about 1.6 GB/s here: 40 ms for
 * 64 MiB). Ranges added with tc_root_add_barriered are written only
 * through tc_store, whose barrier shades what each store overwrites, so
 * the markers scan them after the stop, world running, at any size: a
 * pointer the scan has not reached yet can leave its slot only through a
 * store that shades it (the snapshot's guarantee, as for heap slots). The
 * finalizers' roots are greyed after the stop too (special.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "os.h"

/* barriered: written only through tc_store, so the markers scan it while
 * the program runs (tc_root_add_barriered). */
typedef struct range { uintptr_t lo, hi; int barriered; } range;
typedef struct callback { tc_root_fn fn; void *arg; } callback;

static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;
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
    if (tci_os_range_readable(lo, size) == 0) {
        fprintf(stderr, "tricolor: %s(%p, %zu): the range is not all mapped and "
                        "readable (it must stay so until tc_root_remove)\n", fn, addr, size);
        errno = EFAULT;
        return -1;
    }
    pthread_mutex_lock(&roots_lock); /* released on every path */
    for (size_t i = 0; i < nranges; i++) {
        if (ranges[i].lo == lo) {
            pthread_mutex_unlock(&roots_lock);
            fprintf(stderr, "tricolor: %s(%p): a range starting there is "
                            "registered already\n", fn, addr);
            errno = EEXIST;
            return -1;
        }
    }
    if (nranges == ranges_cap && grow((void **)&ranges, &ranges_cap, sizeof *ranges)) {
        pthread_mutex_unlock(&roots_lock);
        errno = ENOMEM;
        return -1;
    }
    ranges[nranges].lo = lo;
    ranges[nranges].hi = lo + size;
    ranges[nranges].barriered = barriered;
    nranges++;
    pthread_mutex_unlock(&roots_lock);
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

void tc_root_remove(void *addr)
{
    pthread_mutex_lock(&roots_lock); /* released on both paths */
    for (size_t i = 0; i < nranges; i++) {
        if (ranges[i].lo == (uintptr_t)addr) {
            ranges[i] = ranges[--nranges];
            pthread_mutex_unlock(&roots_lock);
            return;
        }
    }
    pthread_mutex_unlock(&roots_lock);
    fprintf(stderr, "tricolor: tc_root_remove(%p): no root range starts there\n", addr);
}

int tc_root_callback_add(tc_root_fn fn, void *arg)
{
    if (!fn) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&roots_lock); /* released on both paths */
    if (ncallbacks == callbacks_cap &&
        grow((void **)&callbacks, &callbacks_cap, sizeof *callbacks)) {
        pthread_mutex_unlock(&roots_lock);
        errno = ENOMEM;
        return -1;
    }
    callbacks[ncallbacks].fn = fn;
    callbacks[ncallbacks].arg = arg;
    ncallbacks++;
    pthread_mutex_unlock(&roots_lock);
    return 0;
}

void tc_root_callback_remove(tc_root_fn fn, void *arg)
{
    pthread_mutex_lock(&roots_lock); /* released on both paths */
    for (size_t i = 0; i < ncallbacks; i++) {
        if (callbacks[i].fn == fn && callbacks[i].arg == arg) {
            memmove(&callbacks[i], &callbacks[i + 1], (ncallbacks - i - 1) * sizeof *callbacks);
            ncallbacks--;
            pthread_mutex_unlock(&roots_lock);
            return;
        }
    }
    pthread_mutex_unlock(&roots_lock);
    fprintf(stderr, "tricolor: tc_root_callback_remove: no such callback\n");
}

/* One thread's spilled registers and its stack from its published frame
 * up to hi; returns the stack bytes scanned. */
static uint64_t scan_thread(tc_tracer *tr, const tci_thread *t, uintptr_t hi)
{
    if (t->spill_words)
        tci_mark_range(tr, (uintptr_t)t->spill, (uintptr_t)(t->spill + t->spill_words));
    if (t->stack_lo >= hi)
        return 0;
    tci_mark_range(tr, t->stack_lo, hi);
    return hi - t->stack_lo;
}

void tci_roots_note_stacks(uint64_t mark_id)
{
    for (tci_thread *t = tci_threads_first(); t; t = t->next) {
        t->mark_lo = t->stack_lo;
        t->mark_id = mark_id;
    }
}

uint64_t tci_roots_scan_new_frames(tc_tracer *tr, uint64_t mark_id)
{
    uint64_t bytes = 0;
    for (tci_thread *t = tci_threads_first(); t; t = t->next) {
        /* A thread attached since the first stop was never scanned. */
        uintptr_t old_lo = t->mark_id == mark_id ? t->mark_lo : t->stack_hi;
        if (t->stack_lo == old_lo)
            continue; /* held at the same frame as then: nothing new */
        bytes += scan_thread(tr, t, old_lo < t->stack_hi ? old_lo : t->stack_hi);
    }
    return bytes;
}

void tci_roots_scan(tc_tracer *tr)
{
    tci_roots_scan_stop(tr);
    tci_roots_scan_barriered(tr);
    tci_special_roots(tr);
}

/* The ranges registered barriered (or not) into the tracer, under
 * roots_lock; returns their bytes. */
static uint64_t scan_ranges_locked(tc_tracer *tr, int barriered)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < nranges; i++) {
        if (ranges[i].barriered != barriered)
            continue;
        tci_mark_range(tr, ranges[i].lo, ranges[i].hi);
        bytes += ranges[i].hi - ranges[i].lo;
    }
    return bytes;
}

void tci_roots_scan_barriered(tc_tracer *tr)
{
    pthread_mutex_lock(&roots_lock); /* released below */
    uint64_t bytes = scan_ranges_locked(tr, 1);
    pthread_mutex_unlock(&roots_lock);
    last_bytes += bytes;
}

void tci_roots_scan_stop(tc_tracer *tr)
{
    uint64_t bytes = 0;
    /* Every thread, the collector too, published its stack and spilled
     * registers before the world stopped (park, blocking region, collect). */
    for (tci_thread *t = tci_threads_first(); t; t = t->next)
        bytes += scan_thread(tr, t, t->stack_hi);
    last_stack_bytes = bytes;
    /* No stopped thread holds roots_lock: it is never held across a
     * safepoint. */
    pthread_mutex_lock(&roots_lock); /* released below */
    bytes += scan_ranges_locked(tr, 0); /* the barriered ones: tci_roots_scan_barriered */
    for (size_t i = 0; i < ncallbacks; i++)
        callbacks[i].fn(tr, callbacks[i].arg);
    pthread_mutex_unlock(&roots_lock);
    last_bytes = bytes;
}

uint64_t tci_roots_last_bytes(void)
{
    return last_bytes;
}

uint64_t tci_roots_last_stack_bytes(void)
{
    return last_stack_bytes;
}
