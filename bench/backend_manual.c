/* backend_malloc.c: the benchmark backend for plain malloc/free (glibc),
 * the baseline a manual program gets: no collector, explicit frees. */
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"

struct bk_shape {
    size_t n_ptrs;
    size_t scalar_bytes;
    size_t size;
};

#define MAX_SHAPES 64 /* a workload makes a handful */
static struct bk_shape shapes[MAX_SHAPES];
static size_t n_shapes;
static char description[64];

void bk_init(void)
{
    snprintf(description, sizeof description, "glibc %s malloc/free",
             gnu_get_libc_version());
}

const char *bk_name(void) { return "malloc"; }
const char *bk_describe(void) { return description; }
int bk_needs_free(void) { return 1; }

const bk_shape *bk_shape_get(size_t n_ptrs, size_t scalar_bytes)
{
    for (size_t i = 0; i < n_shapes; i++)
        if (shapes[i].n_ptrs == n_ptrs && shapes[i].scalar_bytes == scalar_bytes)
            return &shapes[i];
    if (n_shapes == MAX_SHAPES) {
        fprintf(stderr, "malloc backend: more than %d shapes\n", MAX_SHAPES);
        exit(2);
    }
    struct bk_shape *s = &shapes[n_shapes++];
    s->n_ptrs = n_ptrs;
    s->scalar_bytes = scalar_bytes;
    s->size = n_ptrs * sizeof(void *) + scalar_bytes;
    return s;
}

size_t bk_shape_size(const bk_shape *s) { return s->size; }

static void *die_oom(size_t size)
{
    fprintf(stderr, "malloc backend: out of memory allocating %zu bytes\n", size);
    exit(2);
}

void *bk_alloc(const bk_shape *s)
{
    /* calloc, because the collectors hand out zeroed objects too. */
    void *p = calloc(1, s->size);
    if (__builtin_expect(p == NULL, 0))
        return die_oom(s->size);
    return p;
}

void *bk_alloc_atomic(size_t size)
{
    void *p = malloc(size);
    if (__builtin_expect(p == NULL, 0))
        return die_oom(size);
    return p;
}

void bk_store(void *obj, void *slot, void *value)
{
    (void)obj;
    *(void **)slot = value;
}

void bk_free(void *p) { free(p); }
void bk_collect(void) {}

void bk_read_stats(bk_stats *out)
{
    struct mallinfo2 mi = mallinfo2();
    out->num_gc = 0;
    out->pause_total_ns = 0;
    out->pause_max_ns = 0;
    /* Bytes glibc took from the OS: the main arena plus mmapped chunks. */
    out->heap_bytes = mi.arena + mi.hblkhd;
}
