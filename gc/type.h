/* type.h: the type descriptor behind the public tc_type (type.c), which
 * the mark, verify and white-box tests read. */
#ifndef TCI_TYPE_H
#define TCI_TYPE_H

#include <stddef.h>
#include <stdint.h>

#include "tricolor.h"

struct tc_type {
    const char *name;
    size_t size;
    uint32_t id;        /* index in tci_type_table */
    size_t n_ptrs;
    tc_trace_fn trace;  /* or NULL: offsets below */
    /* Byte offsets of the pointer slots, ascending, each once. As wide as
     * the sizes tc_type_new accepts (an offset of 2^32 once went through a
     * uint32_t and read slot 0 instead: the object behind it was freed). */
    size_t *offsets;
};
#define TCI_MAX_TYPES (1u << 20)
/* id -> type; entries are written once before their id is handed out. */
extern struct tc_type **tci_type_table;
int tci_type_init(void);

#endif
