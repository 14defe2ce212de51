/* object.c: what the heap says about an address (tc_object_base,
 * tc_object_size), from any thread: the span map and a span's state are
 * read with acquire loads (gc/heap.h), and a span's geometry does not
 * change while it is in use. */
#include "gc.h"

void *tc_object_base(const void *p)
{
    tci_span *s = tci_span_of((uintptr_t)p);
    int st = s ? tci_span_state(s) : TCI_SPAN_FREE;
    if (st != TCI_SPAN_SMALL && st != TCI_SPAN_LARGE)
        return NULL;
    uintptr_t off = (uintptr_t)p - s->base;
    if (off >= (s->npages << TCI_PAGE_SHIFT))
        return NULL;
    if (st == TCI_SPAN_LARGE)
        return (void *)s->base;
    uint32_t idx = tci_span_index(s, (uintptr_t)p);
    if (idx >= s->nelems)
        return NULL;
    return (void *)(s->base + (uintptr_t)idx * s->elemsize);
}

size_t tc_object_size(const void *p)
{
    if (!tc_object_base(p))
        return 0;
    return tci_span_of((uintptr_t)p)->elemsize;
}
