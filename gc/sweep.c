/* sweep.c: sweeping a span, after Go's bitmap sweep.
 *
 * A span is swept once per cycle, by whoever pops it from an unswept list
 * (an allocating thread, the reclaimer before the heap grows, or
 * tci_sweep_all before the next cycle starts): the pop, under the list's
 * lock, makes it the sweeper's alone. It settles the span's specials first
 * (gc/special.c: Go's sweeper does the same with its per-span specials).
 * Sweeping touches no object: the slots
 * left allocated are exactly the marked ones, so alloc_bits := mark_bits and
 * the mark bits are cleared, a word at a time. Freed slots are zeroed when
 * they are allocated again (needzero), where the cache is about to write
 * them anyway.
 */
#include <string.h>

#include "gc.h"

tci_atomic tci_sweep_gen;
tci_atomic tci_sweep_unswept_spans;
/* Objects freed, per size class; [0] large objects, with their bytes in
 * large_freed_bytes. Atomic adds, once per span swept. */
static tci_atomic class_frees[TCI_MAX_CLASSES];
static tci_atomic large_freed_bytes;

void tci_sweep_read_frees(uint64_t out[TCI_MAX_CLASSES], uint64_t *large_frees,
                          uint64_t *large_bytes)
{
    *large_bytes = tci_atomic_load_relaxed(&large_freed_bytes);
    *large_frees = tci_atomic_load_relaxed(&class_frees[0]);
    out[0] = 0;
    for (int cl = 1; cl < TCI_MAX_CLASSES; cl++)
        out[cl] = tci_atomic_load_relaxed(&class_frees[cl]);
}

int tci_sweep_span(tci_span *s, int keep)
{
    /* No object is freed while a weak slot in the heap may still name
     * it: the clearing pass after a mark first (gc/weak_field.c). */
    tci_weakfield_finish();
    uintptr_t sg = tci_atomic_load_relaxed(&tci_sweep_gen);
    uint64_t freed = 0, live = 0;
    size_t nwords = (s->nelems + 63) / 64;
    /* The specials first, while the mark bits still say what the mark
     * found: weak references to unmarked objects cleared, then unmarked
     * objects with a finalizer queued and marked, so this sweep keeps
     * them (gc/special.c). */
    tci_special_sweep(s, sg);
    int profiled = tci_atomic_load_relaxed(&s->profiled) != 0;
    for (size_t w = 0; w < nwords; w++) {
        uint64_t alloc = s->alloc_bits[w];
        uint64_t mark = tci_atomic_load_relaxed(&s->mark_bits[w]);
        if (profiled && (alloc & ~mark)) {
            tci_profile_freed(&s->profiled, s->base, s->elemsize, w, alloc & ~mark);
            profiled = tci_atomic_load_relaxed(&s->profiled) != 0; /* all found: stop looking */
        }
        freed += (uint64_t)__builtin_popcountll(alloc & ~mark);
        live += (uint64_t)__builtin_popcountll(mark);
        s->alloc_bits[w] = mark;
        /* Release: a handle's reader that sees the bit cleared sees the
         * span's specials settled (specials_sg, stored before). */
        tci_atomic_store_release(&s->mark_bits[w], 0);
    }
    if (freed) {
        tci_atomic_add_full(&class_frees[s->sizeclass], freed);
        if (s->sizeclass == 0)
            tci_atomic_add_full(&large_freed_bytes, freed * s->elemsize);
        s->needzero = 1;
    }
    s->nalloc = (uint32_t)live;
    tci_atomic_store_release(&s->sweepgen, sg);
    tci_atomic_sub_full(&tci_sweep_unswept_spans, 1);
    if (live == 0 && (!keep || tci_span_state(s) == TCI_SPAN_LARGE)) {
        tci_heap_free_span(s);
        return 0;
    }
    return 1;
}

size_t tci_sweep_reclaim(size_t npages)
{
    if (tci_atomic_load_relaxed(&tci_sweep_unswept_spans) == 0)
        return 0;
    uintptr_t sg = tci_atomic_load_relaxed(&tci_sweep_gen);
    size_t got = 0;
    long r;
    int budget = TCI_SWEEP_BUDGET; /* spans, as in acquire: the background sweep has the rest */
    while (got < npages && budget-- > 0 && (r = tci_central_sweep_large(sg)) >= 0)
        got += (size_t)r;
    for (int k = 0; k < TCI_NKINDS && got < npages; k++)
        for (int c = 1; c < tci_sizeclass_count && got < npages; c++)
            while (got < npages && budget-- > 0 &&
                   (r = tci_central_sweep_class(k, c, sg)) >= 0)
                got += (size_t)r;
    return got;
}

void tci_sweep_all(void)
{
    /* Nothing unswept (the usual case in the first stop, where the
     * collector swept everything just before): 200 lists' locks not
     * taken for nothing, 2.6 us of every stop. A span being swept
     * elsewhere still counts until it is done. */
    if (tci_atomic_load_acquire(&tci_sweep_unswept_spans) == 0)
        return;
    uintptr_t sg = tci_atomic_load_relaxed(&tci_sweep_gen);
    while (tci_central_sweep_large(sg) >= 0)
        ;
    for (int k = 0; k < TCI_NKINDS; k++)
        for (int c = 1; c < tci_sizeclass_count; c++)
            while (tci_central_sweep_class(k, c, sg) >= 0)
                ;
}
