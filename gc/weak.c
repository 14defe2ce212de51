/* weak.c: weak references (tc_weak), handles that name an object without
 * keeping it.
 *
 * A weak reference lives outside the heap, in a handle the collector does
 * not scan, and is kept on the list of the span that holds its target
 * (tci_span.weaks, gc/special.h's tci_span_link) while it names one. The
 * mark never looks at it. The sweeper of the target's span, before it
 * touches a mark bit, clears every weak reference there whose target the
 * mark left unmarked (tci_weak_settle_span_locked, the first step of the
 * span's settling, gc/special.c: before the ephemerons' and the
 * finalizers', so a weak reference to an object whose finalizer is now
 * pending reads NULL). A read between the mark's end and that sweep goes
 * by what the mark found, and a read during a mark shades what it returns
 * (gc/special.c's "Reading a handle"). Making, destroying and reading one
 * costs O(1); the first two take special_lock.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "special.h"

struct tc_weak {
    uint32_t magic;
    /* The target; 0 once cleared. Cleared (under special_lock) only by the
     * sweeper of the target's span; read by attached threads
     * (tci_special_handle_target). */
    tci_atomic obj;
    tci_span_link link; /* on the target's span's list while obj is set */
};

static tc_weak *weak_of(tci_span_link *l)
{
    return (tc_weak *)((char *)l - offsetof(tc_weak, link));
}

/* Takes w off its span's list, if it is on one; under special_lock. */
static void weak_unlink_locked(tc_weak *w)
{
    tci_assert_held(&tci_special_lock);
    if (w->link.span)
        tci_special_span_unlink_locked(&w->link.span->weaks, &w->link);
}

tc_weak *tc_weak_create(void *obj)
{
    if (tci_cache_check_thread("tc_weak_create") || tci_special_check_object("tc_weak_create", obj))
        return NULL;
    tc_weak *w = malloc(sizeof *w);
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    tci_atomic_add_full(&tci_stats_other_sys_bytes, sizeof *w);
    w->magic = TCI_HANDLE_WEAK_LIVE;
    tci_atomic_store_relaxed(&w->obj, (uintptr_t)obj);
    tci_span *s = tci_span_of((uintptr_t)obj);
    tci_mutex_lock(&tci_special_lock); /* released below */
    tci_special_span_link_locked(&s->weaks, &w->link, s);
    tci_mutex_unlock(&tci_special_lock);
    return w;
}

void *tc_weak_get(tc_weak *w)
{
    if (!w || tci_cache_check_thread("tc_weak_get") ||
        !tci_special_handle_ok("tc_weak_get", w, w->magic, TCI_HANDLE_WEAK_LIVE))
        return NULL;
    return tci_special_read_handle(&w->obj);
}

void tc_weak_destroy(tc_weak *w)
{
    if (!w)
        return;
    tci_mutex_lock(&tci_special_lock); /* released below */
    if (!tci_special_handle_ok("tc_weak_destroy", w, w->magic, TCI_HANDLE_WEAK_LIVE)) {
        tci_mutex_unlock(&tci_special_lock);
        return;
    }
    weak_unlink_locked(w);
    tci_special_quarantine_put_locked(w, &w->magic);
    tci_mutex_unlock(&tci_special_lock);
    tci_atomic_sub_full(&tci_stats_other_sys_bytes, sizeof *w);
}

/* Whether object obj of span s is marked (by the last mark): its mark
 * bits are intact until the sweep. */
static int span_marked(tci_span *s, uintptr_t obj)
{
    return tci_mark_get(s, tci_span_index(s, obj));
}

uint64_t tci_weak_settle_span_locked(tci_span *s)
{
    tci_assert_held(&tci_special_lock);
    uint64_t nweak = 0;
    for (tci_span_link *l = s->weaks, *next; l; l = next) {
        tc_weak *w = weak_of(l);
        next = l->next;
        nweak++;
        if (!span_marked(s, tci_atomic_load_relaxed(&w->obj))) {
            /* Relaxed: the release stores that follow (the finalizers'
             * marking OR, and specials_sg) publish it to
             * tci_special_handle_target. */
            tci_atomic_store_relaxed(&w->obj, 0);
            weak_unlink_locked(w);
        }
    }
    return nweak;
}
