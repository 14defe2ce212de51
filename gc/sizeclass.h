/* sizeclass.h: the size classes of small objects and the page geometry. */
#ifndef TCI_SIZECLASS_H
#define TCI_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#define TCI_PAGE_SHIFT 13
#define TCI_PAGE_SIZE ((size_t)1 << TCI_PAGE_SHIFT) /* 8 KiB, as Go */
#define TCI_ALIGN 16                                 /* the API promises 16 */
#define TCI_MAX_SMALL 32768                          /* larger: a span each */
#define TCI_MAX_CLASSES 96
#define TCI_MAX_SLOTS 1024 /* bitmap capacity of one span */
#define TCI_SPAN_MIN_BYTES ((size_t)64 << 10) /* a small-object span's least size */

/* Object kinds live in separate spans so a pointer-free span costs nothing
 * to mark. */
enum tci_kind {
    TCI_KIND_NOSCAN = 0,       /* pointer-free: never scanned */
    TCI_KIND_PRECISE = 1,      /* a type id per slot says where pointers are */
    TCI_KIND_CONSERVATIVE = 2, /* every aligned word may be a pointer */
    TCI_NKINDS = 3
};

typedef struct tci_sizeclass {
    uint32_t size;               /* slot bytes, a multiple of TCI_ALIGN */
    uint32_t npages[TCI_NKINDS]; /* pages per span */
    uint32_t nelems[TCI_NKINDS]; /* slots per span (precise spans keep a
                                    4-byte type id per slot at their end, so
                                    their geometry may differ) */
    uint32_t div_mul;            /* offset / size == (offset * div_mul) >> 32 */
} tci_sizeclass;

/* Written once by tci_sizeclass_init, read-only afterwards. Class 0 is unused. */
extern tci_sizeclass tci_sizeclass_table[TCI_MAX_CLASSES];
extern int tci_sizeclass_count;
extern uint8_t tci_sizeclass_lookup[TCI_MAX_SMALL / TCI_ALIGN + 1];

void tci_sizeclass_init(void);

/* size in 1..TCI_MAX_SMALL */
static inline int tci_size_to_class(size_t size)
{
    return tci_sizeclass_lookup[(size + TCI_ALIGN - 1) / TCI_ALIGN];
}

static inline uint32_t tci_div_magic(uint32_t size)
{
    return (uint32_t)(UINT32_MAX / size + 1);
}

#endif
