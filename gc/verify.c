/* verify.c: the debug heap checker (TRICOLOR_DEBUG=verify=1, and tests).
 *
 * After marking, with the world stopped: no marked object may point at an
 * allocated, unmarked one (a black-to-white edge would be freed while
 * reachable), and no mark bit may be set on a free slot. A precise
 * object's slots are read from its type's layout here, not through the
 * marker's scan (see for_each_slot), so a slot the marker skipped is
 * caught; conservative objects are read word by word; objects with trace
 * callbacks are left to checkmark. */
#include <stdio.h>
#include <stdlib.h>

#include "gc.h"

typedef struct vstate {
    uint64_t checked;
    uintptr_t from;
} vstate;

static void check_ptr(vstate *v, uintptr_t p, uintptr_t slot)
{
    tci_span *s;
    uint32_t idx;
    uintptr_t obj = tci_find_object(p, &s, &idx);
    if (obj && !tci_mark_get(s, idx)) {
        fprintf(stderr, "tricolor: verify: marked object %#lx holds at %#lx a pointer "
                        "to unmarked object %#lx (size %zu)\n",
                (unsigned long)v->from, (unsigned long)slot, (unsigned long)obj,
                s->elemsize);
        abort();
    }
}

/* The type of precise object obj in span s. */
static const struct tc_type *object_type(tci_span *s, uintptr_t obj)
{
    uint32_t id = tci_span_type_id(s, obj);
    return tci_type_table[id];
}

/* Calls fn on every pointer slot of precise object obj (type t, span s),
 * read from the type's layout here rather than by the marker's
 * scan_object, so that both checkers catch a slot the marker failed to
 * read (a chunk it skipped, an offset it truncated): every whole element
 * the slot holds, every offset of each. */
static TCI_NO_SANITIZE void for_each_slot(tci_span *s, const struct tc_type *t, uintptr_t obj,
                                          void (*fn)(void *arg, uintptr_t slot), void *arg)
{
    size_t n = s->elemsize / t->size;
    for (size_t e = 0; e < n; e++)
        for (size_t i = 0; i < t->n_ptrs; i++)
            fn(arg, obj + e * t->size + t->offsets[i]);
}

/* Calls fn on the value slot of every ephemeron pair of precise object obj
 * (type t, span s) whose key is marked or not in the heap: a value the
 * mark had to trace (gc/weak_field.c). Weak slots and the other values are
 * not edges the mark follows. */
static TCI_NO_SANITIZE void for_each_kept_value(tci_span *s, const struct tc_type *t,
                                                uintptr_t obj,
                                                void (*fn)(void *arg, uintptr_t slot),
                                                void *arg)
{
    size_t n = s->elemsize / t->size;
    for (size_t e = 0; e < n; e++)
        for (size_t i = 0; i < t->n_wslots; i++) {
            const tci_wslot *w = &t->wslots[i];
            uintptr_t base = obj + e * t->size;
            uintptr_t k = *(const uintptr_t *)(base + w->off);
            if (w->kind == TCI_WSLOT_KEY && k && tci_mark_is_marked(k))
                fn(arg, base + w->partner);
        }
}

static TCI_NO_SANITIZE void verify_slot(void *arg, uintptr_t slot)
{
    check_ptr(arg, *(const uintptr_t *)slot, slot);
}

static TCI_NO_SANITIZE void check_object(vstate *v, tci_span *s, uintptr_t obj)
{
    v->from = obj;
    v->checked++;
    if (s->kind == TCI_KIND_NOSCAN)
        return;
    if (s->kind == TCI_KIND_CONSERVATIVE) {
        for (uintptr_t a = obj; a + 8 <= obj + s->elemsize; a += 8)
            check_ptr(v, *(const uintptr_t *)a, a);
        return;
    }
    const struct tc_type *t = object_type(s, obj);
    if (t->trace)
        return; /* callbacks report through tc_trace, which marks: not checked here */
    for_each_slot(s, t, obj, verify_slot, v);
    if (t->n_wslots)
        for_each_kept_value(s, t, obj, verify_slot, v);
}

static void check_span(tci_span *s, void *arg)
{
    vstate *v = arg;
    for (uint32_t i = 0; i < s->nelems; i++) {
        if (!tci_mark_get(s, i))
            continue;
        if (!tci_bit_get(s->alloc_bits, i)) {
            fprintf(stderr, "tricolor: verify: mark bit set on free slot %u of span %#lx\n",
                    i, (unsigned long)s->base);
            abort();
        }
        check_object(v, s, s->base + (uintptr_t)i * s->elemsize);
    }
}

uint64_t tci_verify_marks_stw(void)
{
    vstate v = { 0, 0 };
    tci_heap_for_each_span(check_span, &v);
    return v.checked;
}

/* ---- checkmark --------------------------------------------------------------
 * After a concurrent mark, with the world stopped: if every root's target
 * is marked and every marked object's targets are marked, then (by
 * induction along any path from a root) everything reachable is marked.
 * Unlike verify, objects with trace callbacks are checked too (a checking
 * tracer sees what tc_trace reports), and conservative words of the roots.
 * Precise objects' slots are read from the layout here (for_each_slot),
 * the rest through the marker's scan with the checking tracer.
 * Objects allocated black during the mark are marked objects like any
 * other: the barrier's invariant says they cannot point at white ones.
 * The stacks are the roots the mark had (tci_roots_scan_checked): the
 * frames pushed since the first stop; above them a word the first stop
 * did not see is dead to the program. */
typedef struct cmstate {
    tc_tracer *tr;
    uint64_t checked;
} cmstate;

static TCI_NO_SANITIZE void checkmark_slot(void *arg, uintptr_t slot)
{
    tc_trace(arg, (void *)*(const uintptr_t *)slot);
}

void tci_verify_checkmark_object(tc_tracer *tr, uintptr_t obj)
{
    tci_span *s = tci_span_of(obj);
    if (s->kind == TCI_KIND_NOSCAN)
        return;
    const struct tc_type *t = s->kind == TCI_KIND_PRECISE ? object_type(s, obj) : NULL;
    if (t && !t->trace) {
        tci_mark_check_from(tr, obj);
        for_each_slot(s, t, obj, checkmark_slot, tr);
        if (t->n_wslots)
            for_each_kept_value(s, t, obj, checkmark_slot, tr);
    } else {
        /* Conservative words and trace callbacks: through the marker's own
         * scan, with the checking tracer. */
        tci_mark_check_object(tr, obj);
    }
}

static TCI_NO_SANITIZE void checkmark_span(tci_span *s, void *arg)
{
    cmstate *c = arg;
    for (uint32_t i = 0; i < s->nelems; i++) {
        if (!tci_mark_get(s, i))
            continue;
        if (!tci_bit_get(s->alloc_bits, i)) {
            fprintf(stderr, "tricolor: checkmark: mark bit set on free slot %u of span %#lx\n",
                    i, (unsigned long)s->base);
            abort();
        }
        c->checked++;
        tci_verify_checkmark_object(c->tr, s->base + (uintptr_t)i * s->elemsize);
    }
}

uint64_t tci_verify_checkmark_stw(void)
{
    tci_markers_check_roots();
    tc_tracer *tr = tci_mark_tracer_new();
    if (!tr) {
        fprintf(stderr, "tricolor: checkmark: out of memory\n");
        abort();
    }
    tci_mark_check_enable(tr);
    cmstate c = { tr, 0 };
    tci_heap_for_each_span(checkmark_span, &c);
    tci_mark_tracer_free(tr);
    return c.checked;
}
