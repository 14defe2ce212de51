/* sizeclass.c: computes the size-class table at start-up.
 *
 * Classes are multiples of 16 bytes (the alignment the API promises). Up to
 * 128 bytes they step by 16, so the waste of an object is under 16 bytes;
 * above, each class is the largest multiple of 16 under 8/7 of the previous
 * class plus one byte, so a request rounded up to its class wastes under
 * 12.5% of the slot (7 * next < 8 * (prev + 1)), or the power of two in
 * between when there is one. This gives about 57 classes up to 32 KiB, in
 * line with Go's 67 (which also has 8-byte classes we cannot have).
 *
 * A span is at least TCI_SPAN_MIN_BYTES (as many slots as the bitmap holds,
 * for the smallest classes), then as many pages more as it takes to waste
 * under 12.5% of the span at its tail. Go's spans are as small as a page
 * (8 KiB: two 4 KiB objects); every span a cache uses up costs a refill
 * (the central's lock, a sweep, the span given back, often one taken from
 * the page heap under its lock, contended by the background sweeper), and
 * at 8 KiB that was the larger part of allocating 256 B to 4 KiB objects:
 * 64 KiB spans made a 4 KiB allocation 1.6x faster (576 -> 366 ns) and
 * the steady-state cache 1.26x (docs/benchmarks.md "Allocation"). The
 * price is a cache's unused tail, at most a span per class and thread. */
#include "sizeclass.h"

tci_sizeclass tci_sizeclass_table[TCI_MAX_CLASSES];
int tci_sizeclass_count;
uint8_t tci_sizeclass_lookup[TCI_MAX_SMALL / TCI_ALIGN + 1];

/* Pages for a span whose slots take `unit` bytes each (the slot, plus a
 * 4-byte type id in precise spans): TCI_SPAN_MIN_BYTES (fewer when the
 * bitmap holds no more slots), then enough to hold a slot and waste under
 * 12.5% at the tail. */
static uint32_t span_pages(uint32_t unit)
{
    uint32_t npages = (uint32_t)((unit + TCI_PAGE_SIZE - 1) / TCI_PAGE_SIZE);
    while ((size_t)(npages + 1) * TCI_PAGE_SIZE <= TCI_SPAN_MIN_BYTES &&
           (size_t)(npages + 1) * TCI_PAGE_SIZE / unit <= TCI_MAX_SLOTS)
        npages++;
    for (;;) {
        size_t bytes = (size_t)npages * TCI_PAGE_SIZE;
        if ((bytes % unit) * 8 <= bytes && bytes / unit <= TCI_MAX_SLOTS)
            return npages;
        npages++;
    }
}

static void set_class(int c, uint32_t size)
{
    tci_sizeclass *sc = &tci_sizeclass_table[c];
    sc->size = size;
    for (int k = 0; k < TCI_NKINDS; k++) {
        uint32_t unit = k == TCI_KIND_PRECISE ? size + 4 : size;
        sc->npages[k] = span_pages(unit);
        sc->nelems[k] = (uint32_t)((size_t)sc->npages[k] * TCI_PAGE_SIZE / unit);
    }
    sc->div_mul = tci_div_magic(size);
}

void tci_sizeclass_init(void)
{
    int c = 1;
    uint32_t size = TCI_ALIGN;
    while (size <= 128) {
        set_class(c++, size);
        size += TCI_ALIGN;
    }
    uint32_t prev = 128;
    while (prev < TCI_MAX_SMALL) {
        uint32_t next = (uint32_t)((8u * (prev + 1) - 1) / 7) / TCI_ALIGN * TCI_ALIGN;
        /* Powers of two are what programs ask for most (1 KiB buffers):
         * give each its own class. A smaller class keeps the bound. */
        uint32_t pow2 = 256;
        while (pow2 <= prev)
            pow2 *= 2;
        if (next > pow2)
            next = pow2;
        if (next > TCI_MAX_SMALL)
            next = TCI_MAX_SMALL;
        set_class(c++, next);
        prev = next;
    }
    tci_sizeclass_count = c;
    int k = 1;
    tci_sizeclass_lookup[0] = 1;
    for (uint32_t g = 1; g <= TCI_MAX_SMALL / TCI_ALIGN; g++) {
        while (tci_sizeclass_table[k].size < g * TCI_ALIGN)
            k++;
        tci_sizeclass_lookup[g] = (uint8_t)k;
    }
}
