/* type.c: type descriptors, registered once and kept for the process's life.
 * Each gets a 32-bit id stored per slot in precise spans (4 bytes a slot
 * instead of an 8-byte pointer). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fork.h"
#include "gc.h"
#include "os.h"

struct tc_type **tci_type_table;
static tci_mutex types_lock = TCI_MUTEX_INIT(TCI_RANK_TYPES, "types_lock");
TCI_FORK_LOCK(types_lock)
static uint32_t ntypes = 1; /* id 0 is never used; protected by types_lock */

/* Descriptors, their names and offsets live for the process's life in
 * mapped memory of their own (a bump allocator under types_lock), not in
 * malloc's: the only reference to a descriptor the embedder drops is in the
 * mapped id table, which a leak checker does not read. */
#define META_CHUNK (64 * 1024)
static char *meta_next, *meta_end; /* protected by types_lock */

static void *meta_alloc_locked(size_t size)
{
    tci_assert_held(&types_lock);
    size = (size + 15) & ~(size_t)15;
    if (size > META_CHUNK)
        return tci_os_map(size);
    if ((size_t)(meta_end - meta_next) < size) {
        char *chunk = tci_os_map(META_CHUNK);
        if (!chunk)
            return NULL;
        meta_next = chunk;
        meta_end = chunk + META_CHUNK;
    }
    void *p = meta_next;
    meta_next += size;
    return p;
}

int tci_type_init(void)
{
    /* Reserved address space, committed as ids are handed out. */
    tci_type_table = tci_os_map(TCI_MAX_TYPES * sizeof *tci_type_table);
    return tci_type_table ? 0 : -1;
}

static int offset_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Copies the descriptor, its name, its offsets (sorted, each once) and its
 * weak slots (sorted, each once already) into mapped memory and gives it
 * an id. fn names the caller in messages. */
static const tc_type *type_register(const char *fn, const struct tc_type *proto,
                                    const size_t *offsets, const tci_wslot *wslots)
{
    const char *name = proto->name ? proto->name : "";
    if (!tci_type_table) {
        fprintf(stderr, "tricolor: %s(\"%s\"): call tc_init() first\n", fn, name);
        errno = EPERM;
        return NULL;
    }
    size_t name_len = strlen(name) + 1;
    tci_mutex_lock(&types_lock); /* released on every path */
    if (ntypes >= TCI_MAX_TYPES) {
        tci_mutex_unlock(&types_lock);
        fprintf(stderr, "tricolor: %s(\"%s\"): more than %u types\n", fn, name,
                TCI_MAX_TYPES - 1);
        errno = ENOMEM;
        return NULL;
    }
    struct tc_type *t = meta_alloc_locked(sizeof *t);
    size_t *offs = proto->n_ptrs ? meta_alloc_locked(proto->n_ptrs * sizeof *offs) : NULL;
    tci_wslot *ws = proto->n_wslots ? meta_alloc_locked(proto->n_wslots * sizeof *ws) : NULL;
    char *nm = meta_alloc_locked(name_len);
    if (!t || (proto->n_ptrs && !offs) || (proto->n_wslots && !ws) || !nm) {
        tci_mutex_unlock(&types_lock);
        fprintf(stderr, "tricolor: %s(\"%s\"): out of memory for the descriptor\n", fn, name);
        errno = ENOMEM;
        return NULL;
    }
    *t = *proto;
    memcpy(nm, name, name_len);
    t->name = nm;
    size_t n = 0;
    if (proto->n_ptrs) {
        memcpy(offs, offsets, proto->n_ptrs * sizeof *offs);
        qsort(offs, proto->n_ptrs, sizeof *offs, offset_cmp);
        for (size_t i = 0; i < proto->n_ptrs; i++)
            if (n == 0 || offs[i] != offs[n - 1])
                offs[n++] = offs[i];
    }
    t->n_ptrs = n;
    t->offsets = offs;
    if (proto->n_wslots)
        memcpy(ws, wslots, proto->n_wslots * sizeof *ws);
    t->wslots = ws;
    t->id = ntypes;
    tci_type_table[ntypes++] = t;
    tci_mutex_unlock(&types_lock);
    return t;
}

static int bad_type(const char *fn, const char *name, const char *why)
{
    fprintf(stderr, "tricolor: %s(\"%s\"): %s\n", fn, name ? name : "(null)", why);
    errno = EINVAL;
    return -1;
}

/* 0 when each of the n offsets is aligned to a pointer and its slot lies
 * inside an object of size bytes; -1 after bad_type's message. what names
 * them ("a pointer offset"). */
static int check_offsets(const char *fn, const char *name, size_t size, const size_t *offs,
                         size_t n, const char *what)
{
    char why[96];
    for (size_t i = 0; i < n; i++) {
        if (offs[i] % sizeof(void *) != 0) {
            snprintf(why, sizeof why, "%s is not a multiple of sizeof(void *)", what);
            return bad_type(fn, name, why);
        }
        if (size < sizeof(void *) || offs[i] > size - sizeof(void *)) {
            snprintf(why, sizeof why, "%s lies outside the object", what);
            return bad_type(fn, name, why);
        }
    }
    return 0;
}

const tc_type *tc_type_new(const char *name, size_t size, const size_t *ptr_offsets,
                           size_t n_ptrs)
{
    const char *fn = "tc_type_new";
    if (size == 0 || size > TCI_MAX_OBJECT) {
        bad_type(fn, name, "size must be from 1 byte to 64 TiB");
        return NULL;
    }
    if (n_ptrs && !ptr_offsets) {
        bad_type(fn, name, "n_ptrs > 0 but ptr_offsets is NULL");
        return NULL;
    }
    if (n_ptrs > size / sizeof(void *)) {
        bad_type(fn, name, "more pointer slots than fit in the object");
        return NULL;
    }
    if (check_offsets(fn, name, size, ptr_offsets, n_ptrs, "a pointer offset") != 0)
        return NULL;
    struct tc_type proto = { .name = name, .size = size, .n_ptrs = n_ptrs };
    return type_register(fn, &proto, ptr_offsets, NULL);
}

const tc_type *tc_type_new_traced(const char *name, size_t size, tc_trace_fn trace)
{
    const char *fn = "tc_type_new_traced";
    if (!trace) {
        bad_type(fn, name, "trace callback is NULL");
        return NULL;
    }
    if (size == 0 || size > TCI_MAX_OBJECT) {
        bad_type(fn, name, "size must be from 1 byte to 64 TiB");
        return NULL;
    }
    struct tc_type proto = { .name = name, .size = size, .trace = trace };
    return type_register(fn, &proto, NULL, NULL);
}

/* A slot of a weak type while its layout is checked: its offset, its role
 * (0 strong, else a TCI_WSLOT_ kind) and a pair's other slot. */
typedef struct role {
    size_t off, partner;
    uint32_t kind;
} role;

static int role_cmp(const void *a, const void *b)
{
    const role *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->kind < y->kind ? -1 : x->kind > y->kind;
}

/* Sorts the n roles and checks that no slot has two (a strong or weak slot
 * given twice is taken once, as tc_type_new takes it); then writes the
 * weak ones to ws, returning how many, or -1 after the message. */
static long roles_to_wslots(const char *fn, const char *name, role *r, size_t n,
                            tci_wslot *ws)
{
    qsort(r, n, sizeof *r, role_cmp);
    long nw = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && r[i].off == r[i - 1].off) {
            if (r[i].kind == r[i - 1].kind &&
                (r[i].kind == 0 || r[i].kind == TCI_WSLOT_WEAK))
                continue; /* the same slot twice in one list */
            char why[112];
            snprintf(why, sizeof why, "the slot at offset %zu is given two roles "
                                      "(strong, weak, a pair's key or value)", r[i].off);
            return bad_type(fn, name, why);
        }
        if (r[i].kind)
            ws[nw++] = (tci_wslot){ .off = r[i].off, .partner = r[i].partner, .kind = r[i].kind };
    }
    return nw;
}

const tc_type *tc_type_new_weak(const char *name, size_t size, const size_t *ptr_offsets,
                                size_t n_ptrs, const size_t *weak_offsets, size_t n_weak,
                                const size_t *ephemeron_pairs, size_t n_pairs)
{
    const char *fn = "tc_type_new_weak";
    if (size == 0 || size > TCI_MAX_OBJECT) {
        bad_type(fn, name, "size must be from 1 byte to 64 TiB");
        return NULL;
    }
    if ((n_ptrs && !ptr_offsets) || (n_weak && !weak_offsets) || (n_pairs && !ephemeron_pairs)) {
        bad_type(fn, name, "a count is > 0 but its offsets are NULL");
        return NULL;
    }
    size_t fit = size / sizeof(void *);
    if (n_ptrs > fit || n_weak > fit || n_pairs > fit / 2 ||
        n_ptrs + n_weak + 2 * n_pairs > fit) {
        bad_type(fn, name, "more pointer slots than fit in the object");
        return NULL;
    }
    if (check_offsets(fn, name, size, ptr_offsets, n_ptrs, "a pointer offset") != 0 ||
        check_offsets(fn, name, size, weak_offsets, n_weak, "a weak offset") != 0 ||
        check_offsets(fn, name, size, ephemeron_pairs, 2 * n_pairs, "an ephemeron offset") != 0)
        return NULL;
    size_t n = n_ptrs + n_weak + 2 * n_pairs;
    role *r = malloc((n ? n : 1) * sizeof *r);
    tci_wslot *ws = malloc((n ? n : 1) * sizeof *ws);
    if (!r || !ws) {
        free(r);
        free(ws);
        fprintf(stderr, "tricolor: %s(\"%s\"): out of memory\n", fn, name ? name : "(null)");
        errno = ENOMEM;
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_ptrs; i++)
        r[k++] = (role){ ptr_offsets[i], 0, 0 };
    for (size_t i = 0; i < n_weak; i++)
        r[k++] = (role){ weak_offsets[i], 0, TCI_WSLOT_WEAK };
    for (size_t i = 0; i < n_pairs; i++) {
        size_t key = ephemeron_pairs[2 * i], value = ephemeron_pairs[2 * i + 1];
        r[k++] = (role){ key, value, TCI_WSLOT_KEY };
        r[k++] = (role){ value, key, TCI_WSLOT_VALUE };
    }
    const tc_type *t = NULL;
    long nw = roles_to_wslots(fn, name, r, n, ws);
    if (nw >= 0) {
        struct tc_type proto = { .name = name, .size = size, .n_ptrs = n_ptrs,
                                 .n_wslots = (size_t)nw };
        t = type_register(fn, &proto, ptr_offsets, ws);
    }
    free(r);
    free(ws);
    return t;
}

size_t tci_type_first_wslot_from(const struct tc_type *t, size_t off)
{
    size_t lo = 0, hi = t->n_wslots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->wslots[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const char *tc_type_name(const tc_type *t)
{
    return t ? t->name : NULL;
}

size_t tc_type_size(const tc_type *t)
{
    return t ? t->size : 0;
}
