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
    /* The weak slots and the ephemeron pairs' slots (tc_type_new_weak),
     * none of them in offsets: the mark does not trace them as it traces
     * offsets (gc/weak_field.c). Sorted by offset, each once; n_wslots 0
     * for every other type. */
    size_t n_wslots;
    struct tci_wslot *wslots;
};

/* One weak or ephemeron slot of a type: its byte offset in an element, its
 * kind, and for a pair's key the offset of its value (for a value, of its
 * key). */
enum { TCI_WSLOT_WEAK = 1, TCI_WSLOT_KEY, TCI_WSLOT_VALUE };
typedef struct tci_wslot {
    size_t off;
    size_t partner; /* a pair's other slot; 0 for a weak slot */
    uint32_t kind;
} tci_wslot;
/* The index of t's first weak slot at or past byte offset off (n_wslots
 * when none). */
size_t tci_type_first_wslot_from(const struct tc_type *t, size_t off);
#define TCI_MAX_TYPES (1u << 20)
/* id -> type; entries are written once before their id is handed out. */
extern struct tc_type **tci_type_table;
int tci_type_init(void);

#endif
