/* verify.c: the debug heap checker (TRICOLOR_DEBUG=verify=1, and tests).
 *
 * After marking, with the world stopped: no marked object may point at an
 * allocated, unmarked one (a black-to-white edge would be freed while
 * reachable), and no mark bit may be set on a free slot. Pointers are found
 * exactly as the marker finds them, so the check is of the marking, not of
 * the type descriptors. */
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

/* tc_trace from a trace callback lands here during verification. */
struct tc_tracer;

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
    uint32_t id = s->state == TCI_SPAN_SMALL
                      ? s->types[(uint32_t)(((uint64_t)(obj - s->base) * s->div_mul) >> 32)]
                      : s->type_id;
    const struct tc_type *t = tci_types[id];
    if (t->trace)
        return; /* callbacks report through tc_trace, which marks: not checked here */
    for (size_t e = 0; e < s->elemsize / t->size; e++)
        for (uint32_t i = 0; i < t->n_ptrs; i++) {
            uintptr_t slot = obj + e * t->size + t->offsets[i];
            check_ptr(v, *(const uintptr_t *)slot, slot);
        }
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
 * Objects allocated black during the mark are marked objects like any
 * other: the barrier's invariant says they cannot point at white ones. */
typedef struct cmstate {
    tc_tracer *tr;
    uint64_t checked;
} cmstate;

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
        if (s->kind != TCI_KIND_NOSCAN)
            tci_mark_check_object(c->tr, s->base + (uintptr_t)i * s->elemsize);
    }
}

uint64_t tci_checkmark_stw(void)
{
    tci_mark_check_roots();
    tc_tracer *tr = tci_tracer_new();
    if (!tr) {
        fprintf(stderr, "tricolor: checkmark: out of memory\n");
        abort();
    }
    tci_mark_check_enable(tr);
    cmstate c = { tr, 0 };
    tci_heap_for_each_span(checkmark_span, &c);
    tci_tracer_free(tr);
    return c.checked;
}
