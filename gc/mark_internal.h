/* mark_internal.h: what gc/mark.c (the marking) and gc/markers.c (the
 * markers' threads and the mark's steps) share, and no other file: the
 * work buffer and the tracer, and the state both read.
 */
#ifndef TCI_MARK_INTERNAL_H
#define TCI_MARK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gc.h"

#define WORKBUF_N 510 /* objects per buffer: a buffer is 4 KiB */

typedef struct workbuf {
    struct workbuf *next;
    size_t n;
    uintptr_t obj[WORKBUF_N];
} workbuf;

#define PREFETCH_N 8
enum { TRACER_CHECK = 1 };

struct tc_tracer {
    workbuf *cur;          /* owner only; NULL for a mutator's until it shades */
    /* The prefetch FIFO of drain (see there), owner only. Kept here rather
     * than on drain's stack, where GCC 12's use-after-scope instrumentation
     * shared its slot with inlined locals and reported false errors. */
    uintptr_t ring[PREFETCH_N];
    uint64_t marked_bytes; /* owner only; summed after marking */
    uint64_t credited;     /* of marked_bytes, what is banked as credit; owner only */
    uint64_t scanned;      /* objects scanned, owner only */
    uint64_t slots;        /* precise slots read, owner only; summed into
                              slots_total as the marked bytes are */
    int id;
    /* A background marker in a concurrent mark keeps to its share of the
     * CPUs (gc/pacer.c, 5): the slice under way began at pace_wall, with
     * the thread's run and wait times then; pace_owed is what it has
     * counted beyond its share this mark. Owner only. */
    int pace, pace_known;
    int pace_competed;     /* the last slice waited for a CPU (known figures) */
    uint64_t pace_wall, pace_run, pace_wait;
    int64_t pace_owed;
    int check;             /* 0, or TRACER_CHECK (checkmark: report unmarked objects,
                              mark nothing) */
    uintptr_t check_from;  /* checkmark: the object (or 0: a root) being checked */
};

/* gc/mark.c; each is described at its definition. */
extern tci_atomic tci_mark_nidle;
extern int tci_mark_nworkers, tci_mark_concurrent, tci_mark_nhelpers;
extern tci_atomic tci_mark_marked_total, tci_mark_slots_total;
extern tci_atomic tci_mark_credit_bytes, tci_mark_progress_bytes;
extern int tci_mark_nmarkers_cfg;
workbuf *tci_mark_buf_new(void);
workbuf *tci_mark_buf_get(void);
void tci_mark_buf_put_empty(workbuf *b);
/* Moves the older half of tr's buffer to the global list. */
void tci_mark_share_half(tc_tracer *tr);
/* Before each drain: no marker idle, none gone (tci_mark_leave_drain). */
void tci_mark_idle_reset(void);
/* A helper leaves the drain under way, its work handed over: the drain's
 * end does not wait for it. */
void tci_mark_leave_drain(void);
/* A paced marker's slice starts now (the markers' share, gc/pacer.c, 5). */
void tci_mark_pace_start(tc_tracer *tr);
/* Drains until every marker is idle, no assist is in flight and the
 * global list is empty. */
void tci_mark_drain(tc_tracer *tr);

/* gc/markers.c: a stopped mark's grey list outgrew a buffer: the helpers
 * are woken to share it. */
void tci_markers_wake_helpers(void);

#endif
