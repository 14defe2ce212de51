/* special.h: what the specials' files share: the handles' checks and
 * quarantine, the spans' lists of records, special_lock, the finalizer
 * registry the roots pass walks, and each kind's step of a span's
 * settling at sweep (the order of the steps is gc/special.c's).
 *
 * Internal to gc/special.c, gc/weak.c, gc/ephemeron.c, gc/finalizer.c and
 * gc/weak_field.c;
 * the rest of the library goes through gc/gc.h's tci_special_ and
 * tci_ephemeron_ calls.
 */
#ifndef TCI_SPECIAL_H
#define TCI_SPECIAL_H

#include <stdint.h>

#include "gc.h"

/* special_lock (gc/special.c): the weak references' span lists, the
 * finalizers' registry and queue, the finalizer thread's flags, the
 * spans' lists and the handles' quarantine. Taken before eph_lock when
 * both are held (see special.c's essay, "Locks"). */
extern tci_mutex tci_special_lock;

/* A handle's first word says what it is: a live weak reference or
 * ephemeron, or one destroyed (tci_special_quarantine_put_locked).
 * Written at create and destroy under special_lock; read by the handle's
 * calls. */
enum {
    TCI_HANDLE_WEAK_LIVE = 0x7765616b,
    TCI_HANDLE_EPHEMERON_LIVE = 0x6570686d,
    TCI_HANDLE_DEAD = 0x64656164
};

/* Takes destroyed handle h into the quarantine (its magic set dead) and
 * frees the one it pushes out. Under special_lock. */
void tci_special_quarantine_put_locked(void *h, uint32_t *magic);
/* Whether magic says a live handle of the kind `live`; reports fn's
 * misuse otherwise (errno EINVAL). */
int tci_special_handle_ok(const char *fn, const void *h, uint32_t magic, uint32_t live);
/* 0 when p is the start of an object in the heap; -1 (errno EINVAL,
 * reported for fn) otherwise: handles name objects, not slots. */
int tci_special_check_object(const char *fn, void *p);
/* What a handle's slot names, by special.c's "Reading a handle": 0 for an
 * object the last mark found dead whose span's sweeper has not cleared
 * the slot yet. The caller is attached and running. */
uintptr_t tci_special_handle_target(tci_atomic *slot);
/* The same rule for a weak slot of a heap object (gc/weak_field.c), which
 * the pass after a mark clears, before any span is swept. */
uintptr_t tci_special_slot_target(const uintptr_t *slot);
/* tci_special_handle_target, shaded during a mark: what a read returns. */
void *tci_special_read_handle(tci_atomic *slot);

/* A weak reference's or finalizer record's place on the list of the span
 * that holds its object (tci_span.weaks, .fins); span is NULL while it is
 * on none. Protected by special_lock. */
typedef struct tci_span_link {
    struct tci_span_link *prev, *next;
    tci_span *span;
} tci_span_link;

/* Puts l on the list at *head, of span s; under special_lock. */
void tci_special_span_link_locked(tci_span_link **head, tci_span_link *l, tci_span *s);
/* Takes l off the list at *head (its span's); under special_lock. */
void tci_special_span_unlink_locked(tci_span_link **head, tci_span_link *l);

/* A finalizer record (gc/finalizer.c): in the registry while its object
 * has a finalizer, then on the queue until it runs. Protected by
 * special_lock, but for a record taken off the queue, which belongs to the
 * thread that runs it. */
typedef struct tci_fin {
    uintptr_t obj;
    void (*fn)(void *obj, void *arg);
    void *arg;
    struct tci_fin *next; /* the registry's bucket chain, or the queue */
    tci_span_link link;   /* on the object's span's list while registered */
} tci_fin;

/* The finalizers' registry, a hash table by address chained through
 * `next`, and the queue's oldest record (gc/finalizer.c; the roots pass,
 * gc/special.c, walks both). special_lock. */
extern tci_fin **tci_finalizer_table;
extern size_t tci_finalizer_buckets;
extern tci_fin *tci_finalizer_queue_head;
/* Set while the roots pass walks the registry, letting go of special_lock
 * between batches: the registry must not grow meanwhile (gc/special.c;
 * tc_set_finalizer reads it). special_lock. */
extern int tci_special_roots_pass_on;

/* Counts n ephemerons filed or made ready by their key, and among those
 * the ones looked at while a stop was requested or held (tests:
 * tci_special_ephemeron_visits, tci_special_stop_visits). Atomic adds. */
void tci_special_count_eph_visits(uint64_t n);

/* The steps of the settling of span s by its sweeper, before it touches a
 * mark bit, in this order (gc/special.c's settle_span_locked), each under
 * special_lock, each returning how many records it looked at: */
/* gc/weak.c: the weak references to unmarked objects cleared. */
uint64_t tci_weak_settle_span_locked(tci_span *s);
/* gc/ephemeron.c: the ephemerons whose keys are still flagged in s (left
 * unmarked) cleared and unfiled; takes eph_lock. Only when s->eph_keys. */
uint64_t tci_ephemeron_settle_span_locked(tci_span *s);
/* gc/finalizer.c: the unmarked objects with a finalizer queued, and marked
 * so that this sweep keeps them. */
uint64_t tci_finalizer_settle_span_locked(tci_span *s);

#endif
