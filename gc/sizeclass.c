/* sizeclass.c: computes the size-class table at start-up.
 *
 * Classes are multiples of 16 bytes (the alignment the API promises). Up to
 * 128 bytes they step by 16, so the waste of an object is under 16 bytes;
 * above, each class is the largest multiple of 16 under 8/7 of the previous
 * class plus one byte, so a request rounded up to its class wastes under
 * 12.5% of the slot (7 * next < 8 * (prev + 1)). A span holds as many pages
 * as it takes to waste under 12.5% of the span at its tail. This gives about
 * 50 classes up to 32 KiB, in line with Go's 67 (which also has 8-byte
 * classes we cannot have). */
#include "sizeclass.h"

tci_sizeclass tci_classes[TCI_MAX_CLASSES];
int tci_nclasses;
uint8_t tci_size_to_class_table[TCI_MAX_SMALL / TCI_ALIGN + 1];

static void set_class(int c, uint32_t size)
{
    uint32_t npages = (uint32_t)((size + TCI_PAGE_SIZE - 1) / TCI_PAGE_SIZE);
    for (;;) {
        size_t bytes = (size_t)npages * TCI_PAGE_SIZE;
        size_t tail = bytes % size;
        if (tail * 8 <= bytes && bytes / size <= TCI_MAX_SLOTS)
            break;
        npages++;
    }
    size_t bytes = (size_t)npages * TCI_PAGE_SIZE;
    tci_classes[c].size = size;
    tci_classes[c].npages = npages;
    tci_classes[c].nelems[TCI_KIND_NOSCAN] = (uint32_t)(bytes / size);
    tci_classes[c].nelems[TCI_KIND_CONSERVATIVE] = (uint32_t)(bytes / size);
    tci_classes[c].nelems[TCI_KIND_PRECISE] = (uint32_t)(bytes / (size + 4));
    tci_classes[c].div_mul = tci_div_magic(size);
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
        if (next > TCI_MAX_SMALL)
            next = TCI_MAX_SMALL;
        set_class(c++, next);
        prev = next;
    }
    tci_nclasses = c;
    int k = 1;
    tci_size_to_class_table[0] = 1;
    for (uint32_t g = 1; g <= TCI_MAX_SMALL / TCI_ALIGN; g++) {
        while (tci_classes[k].size < g * TCI_ALIGN)
            k++;
        tci_size_to_class_table[g] = (uint8_t)k;
    }
}
