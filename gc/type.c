/* type.c: type descriptors, registered once and kept for the process's life.
 * Each gets a 32-bit id stored per slot in precise spans (4 bytes a slot
 * instead of an 8-byte pointer). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "os.h"

struct tc_type **tci_types;
static pthread_mutex_t types_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t ntypes = 1; /* id 0 is never used; protected by types_lock */

int tci_types_init(void)
{
    /* Reserved address space, committed as ids are handed out. */
    tci_types = tci_os_map(TCI_MAX_TYPES * sizeof *tci_types);
    return tci_types ? 0 : -1;
}

static const tc_type *type_register(struct tc_type *t)
{
    if (!tci_types) {
        fprintf(stderr, "tricolor: tc_type_new(\"%s\"): call tc_init() first\n", t->name);
        free(t->offsets);
        free((char *)t->name);
        free(t);
        errno = EPERM;
        return NULL;
    }
    pthread_mutex_lock(&types_lock); /* released below */
    if (ntypes >= TCI_MAX_TYPES) {
        pthread_mutex_unlock(&types_lock);
        fprintf(stderr, "tricolor: tc_type_new(\"%s\"): more than %u types\n",
                t->name, TCI_MAX_TYPES - 1);
        free(t->offsets);
        free((char *)t->name);
        free(t);
        errno = ENOMEM;
        return NULL;
    }
    t->id = ntypes;
    tci_types[ntypes++] = t;
    pthread_mutex_unlock(&types_lock);
    return t;
}

static int bad_type(const char *name, const char *why)
{
    fprintf(stderr, "tricolor: tc_type_new(\"%s\"): %s\n", name ? name : "(null)", why);
    errno = EINVAL;
    return -1;
}

const tc_type *tc_type_new(const char *name, size_t size, const size_t *ptr_offsets,
                           size_t n_ptrs)
{
    if (size == 0 || size > TCI_MAX_OBJECT) {
        bad_type(name, "size must be from 1 byte to 64 TiB");
        return NULL;
    }
    if (n_ptrs && !ptr_offsets) {
        bad_type(name, "n_ptrs > 0 but ptr_offsets is NULL");
        return NULL;
    }
    if (n_ptrs > size / sizeof(void *)) {
        bad_type(name, "more pointer slots than fit in the object");
        return NULL;
    }
    for (size_t i = 0; i < n_ptrs; i++) {
        if (ptr_offsets[i] % sizeof(void *) != 0) {
            bad_type(name, "a pointer offset is not a multiple of sizeof(void *)");
            return NULL;
        }
        if (ptr_offsets[i] > size - sizeof(void *) || size < sizeof(void *)) {
            bad_type(name, "a pointer offset lies outside the object");
            return NULL;
        }
    }
    struct tc_type *t = calloc(1, sizeof *t);
    uint32_t *offs = n_ptrs ? malloc(n_ptrs * sizeof *offs) : NULL;
    char *nm = strdup(name ? name : "");
    if (!t || (n_ptrs && !offs) || !nm) {
        free(t);
        free(offs);
        free(nm);
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < n_ptrs; i++)
        offs[i] = (uint32_t)ptr_offsets[i];
    t->name = nm;
    t->size = size;
    t->n_ptrs = (uint32_t)n_ptrs;
    t->offsets = offs;
    return type_register(t);
}

const tc_type *tc_type_new_traced(const char *name, size_t size, tc_trace_fn trace)
{
    if (!trace) {
        bad_type(name, "trace callback is NULL");
        return NULL;
    }
    if (size == 0 || size > TCI_MAX_OBJECT) {
        bad_type(name, "size must be from 1 byte to 64 TiB");
        return NULL;
    }
    struct tc_type *t = calloc(1, sizeof *t);
    char *nm = strdup(name ? name : "");
    if (!t || !nm) {
        free(t);
        free(nm);
        errno = ENOMEM;
        return NULL;
    }
    t->name = nm;
    t->size = size;
    t->trace = trace;
    return type_register(t);
}

const char *tc_type_name(const tc_type *t)
{
    return t ? t->name : NULL;
}

size_t tc_type_size(const tc_type *t)
{
    return t ? t->size : 0;
}
