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

/* Copies the descriptor, its name and offsets (sorted, each once) into
 * mapped memory and gives it an id. fn names the caller in messages. */
static const tc_type *type_register(const char *fn, const struct tc_type *proto,
                                    const size_t *offsets)
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
    char *nm = meta_alloc_locked(name_len);
    if (!t || (proto->n_ptrs && !offs) || !nm) {
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
    for (size_t i = 0; i < n_ptrs; i++) {
        if (ptr_offsets[i] % sizeof(void *) != 0) {
            bad_type(fn, name, "a pointer offset is not a multiple of sizeof(void *)");
            return NULL;
        }
        if (size < sizeof(void *) || ptr_offsets[i] > size - sizeof(void *)) {
            bad_type(fn, name, "a pointer offset lies outside the object");
            return NULL;
        }
    }
    struct tc_type proto = { .name = name, .size = size, .n_ptrs = n_ptrs };
    return type_register(fn, &proto, ptr_offsets);
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
    return type_register(fn, &proto, NULL);
}

const char *tc_type_name(const tc_type *t)
{
    return t ? t->name : NULL;
}

size_t tc_type_size(const tc_type *t)
{
    return t ? t->size : 0;
}
