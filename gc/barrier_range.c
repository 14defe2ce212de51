/* barrier_range.c: the bulk stores' slow path (tc_store_range,
 * tc_fill_range): their argument checks, and the barrier over a range.
 *
 * The public header's inline halves test the phase once: idle, a memmove
 * (or a store loop); while a mark runs (or in a program built with
 * TC_CHECK_STORES), these. Here every slot is what tc_store makes of it:
 * the word it overwrites is shaded (Yuasa's deletion barrier), then the
 * new word is stored with release order, one aligned pointer-sized
 * atomic store, so a marker's acquire load of the slot (mark.c) never
 * sees a torn pointer and sees the pointed-to object set up. The words
 * copied in need no shading: the program can only hold a pointer that
 * was reachable at the mark's first stop or was allocated since (black),
 * and every such object is marked by the end (gc/cycle.c's essay, and
 * docs/design.md "Bulk stores"). But for words copied out of an object
 * with weak slots (gc/weak_field.c): the program never held those, and
 * they are shaded as they are copied. In the phase CLEAR, a range into or
 * out of such an object waits for the clearing pass first.
 *
 * One pass, in memmove's direction (ascending when dst is below src,
 * descending otherwise), so a source slot inside dst is read before it is
 * overwritten; per slot: load the old word, shade it, load the source
 * word, store. The phase cannot change meanwhile: no call here is a
 * safepoint (barrier.c's reasoning for tc_store).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gc.h"

#define SLOT sizeof(void *)

/* 0 when the call may go on (nslots > 0, a valid range); 1 when there is
 * nothing to do (nslots 0); -1 after the message, errno = EINVAL. */
static int range_check(const char *call, void *obj, void *dst, const void *src,
                       int has_src, size_t nslots)
{
    if (nslots == 0)
        return 1;
    const char *why = NULL;
    uintptr_t d = (uintptr_t)dst;
    if (nslots > SIZE_MAX / SLOT || d + nslots * SLOT < d)
        why = "the range overflows the address space";
    else if (!dst || (has_src && !src))
        why = has_src && !src ? "NULL src" : "NULL dst";
    else if (d % SLOT || (has_src && (uintptr_t)src % SLOT))
        why = d % SLOT ? "dst is not aligned to a pointer" : "src is not aligned to a pointer";
    else if (obj && tc_object_base(obj) != obj)
        why = "obj is not the start of a heap object";
    else if (obj) {
        uintptr_t o = (uintptr_t)obj, size = tc_object_size(obj);
        if (d < o || d - o > size || nslots * SLOT > size - (d - o))
            why = "dst's range is not inside obj";
    } else if (tc_object_base(dst) || tc_object_base((char *)dst + (nslots - 1) * SLOT))
        why = "obj is NULL but dst is in the heap (give the object that holds it)";
    if (!why)
        return 0;
    if (has_src)
        fprintf(stderr, "tricolor: %s(obj %p, dst %p, src %p, %zu slots): %s (nothing stored)\n",
                call, obj, dst, src, nslots, why);
    else
        fprintf(stderr, "tricolor: %s(obj %p, dst %p, %zu slots): %s (nothing stored)\n", call,
                obj, dst, nslots, why);
    errno = EINVAL;
    return -1;
}

/* Shades the word being overwritten: the thread's own tracer, or (not
 * attached) barrier.c's shared one. */
static inline void shade_old(tc_tracer *tr, void **slot)
{
    uintptr_t old = (uintptr_t)tci_ptr_load_relaxed(slot);
    if (!old)
        return;
    if (tr)
        tci_mark_shade(tr, old);
    else
        tci_barrier_shade(old);
}

/* One slot of a marking move: the old word shaded, the source word stored
 * (and shaded too when it comes from weak slots, see below). */
static inline void move_slot(tc_tracer *tr, void **d, void *const *src, int shade_new)
{
    shade_old(tr, d);
    void *v = tci_ptr_load_relaxed((void **)src);
    if (shade_new && v)
        tr ? tci_mark_shade(tr, (uintptr_t)v) : tci_barrier_shade((uintptr_t)v);
    /* Release: partner the markers' acquire loads of slots. */
    tci_ptr_store_release(d, v);
}

/* shade_new: the source lies in an object with weak slots, whose words
 * the program may not hold otherwise (a weak referent is reachable from
 * nothing the mark traces): copied raw into a slot the mark may not scan
 * again, an unshaded one could be freed while the copy names it. */
static void move_marking(void **dst, void *const *src, size_t n, int shade_new)
{
    tc_tracer *tr = tci_cache_tracer();
    if ((uintptr_t)dst <= (uintptr_t)src) {
        for (size_t i = 0; i < n; i++)
            move_slot(tr, &dst[i], &src[i], shade_new);
    } else {
        for (size_t i = n; i-- > 0;)
            move_slot(tr, &dst[i], &src[i], shade_new);
    }
}

void tc_store_range_slow_(void *obj, void *dst, const void *src, size_t nslots)
{
    if (range_check("tc_store_range", obj, dst, src, 1, nslots) != 0)
        return;
    int from_weak = tci_weakfield_holder(src);
    if (tci_phase() != TCI_PHASE_MARK) { /* TC_CHECK_STORES, idle, CLEAR */
        if (tci_phase() == TCI_PHASE_CLEAR && (from_weak || tci_weakfield_holder(obj)))
            tci_weakfield_finish(); /* the pass's slots, until it is done */
        memmove(dst, src, nslots * SLOT);
        return;
    }
    move_marking(dst, (void *const *)src, nslots, from_weak);
}

void tc_fill_range_slow_(void *obj, void *dst, void *value, size_t nslots)
{
    if (range_check("tc_fill_range", obj, dst, NULL, 0, nslots) != 0)
        return;
    void **d = dst;
    if (tci_phase() == TCI_PHASE_CLEAR && tci_weakfield_holder(obj))
        tci_weakfield_finish();
    if (tci_phase() != TCI_PHASE_MARK) {
        for (size_t i = 0; i < nslots; i++)
            d[i] = value;
        return;
    }
    tc_tracer *tr = tci_cache_tracer();
    for (size_t i = 0; i < nslots; i++) {
        shade_old(tr, &d[i]);
        tci_ptr_store_release(&d[i], value); /* partner: the markers' acquire loads */
    }
}
