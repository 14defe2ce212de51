/* backend_tricolor.c: the benchmark backend for tricolor itself, written
 * the way an embedder would: precise types, tc_store for heap stores. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tricolor.h"

#include "backend.h"

struct bk_shape {
    size_t n_ptrs;
    size_t scalar_bytes;
    size_t size;
    const tc_type *type;
    char name[48]; /* tc_type_new may keep the pointer: types are forever */
};

#define MAX_SHAPES 64 /* a workload makes a handful */
static struct bk_shape shapes[MAX_SHAPES];
static size_t n_shapes;
static char description[128];

void bk_init(void)
{
    if (tc_init() != 0) {
        fprintf(stderr, "tricolor backend: tc_init: %s\n", strerror(errno));
        exit(2);
    }
    tc_memstats ms;
    tc_read_memstats(&ms);
    snprintf(description, sizeof description,
             "tricolor %d.%d, %u marker%s, gc_percent %d", TC_VERSION_MAJOR,
             TC_VERSION_MINOR, (unsigned)ms.markers, ms.markers == 1 ? "" : "s",
             (int)ms.gc_percent);
}

const char *bk_name(void) { return "tricolor"; }
const char *bk_describe(void) { return description; }
int bk_needs_free(void) { return 0; }

const bk_shape *bk_shape_get(size_t n_ptrs, size_t scalar_bytes)
{
    for (size_t i = 0; i < n_shapes; i++)
        if (shapes[i].n_ptrs == n_ptrs && shapes[i].scalar_bytes == scalar_bytes)
            return &shapes[i];
    if (n_shapes == MAX_SHAPES) {
        fprintf(stderr, "tricolor backend: more than %d shapes\n", MAX_SHAPES);
        exit(2);
    }
    struct bk_shape *s = &shapes[n_shapes];
    s->n_ptrs = n_ptrs;
    s->scalar_bytes = scalar_bytes;
    s->size = n_ptrs * sizeof(void *) + scalar_bytes;
    snprintf(s->name, sizeof s->name, "bench%zup%zub", n_ptrs, scalar_bytes);
    size_t *offsets = malloc((n_ptrs ? n_ptrs : 1) * sizeof *offsets);
    if (offsets == NULL) {
        fprintf(stderr, "tricolor backend: out of memory for a shape\n");
        exit(2);
    }
    for (size_t i = 0; i < n_ptrs; i++)
        offsets[i] = i * sizeof(void *);
    s->type = tc_type_new(s->name, s->size, offsets, n_ptrs);
    free(offsets);
    if (s->type == NULL) {
        fprintf(stderr, "tricolor backend: tc_type_new(%zu pointers, %zu bytes): %s\n",
                n_ptrs, scalar_bytes, strerror(errno));
        exit(2);
    }
    n_shapes++;
    return s;
}

size_t bk_shape_size(const bk_shape *s) { return s->size; }

static void *die_oom(size_t size)
{
    fprintf(stderr, "tricolor backend: out of memory allocating %zu bytes: %s\n",
            size, strerror(errno));
    exit(2);
}

void *bk_alloc(const bk_shape *s)
{
    void *p = tc_alloc(s->type);
    if (__builtin_expect(p == NULL, 0))
        return die_oom(s->size);
    return p;
}

void *bk_alloc_atomic(size_t size)
{
    void *p = tc_alloc_atomic(size);
    if (__builtin_expect(p == NULL, 0))
        return die_oom(size);
    return p;
}

void bk_store(void *obj, void *slot, void *value) { tc_store(obj, slot, value); }
void bk_free(void *p) { (void)p; }
void bk_collect(void) { tc_collect(); }

void bk_read_stats(bk_stats *out)
{
    tc_memstats ms;
    tc_read_memstats(&ms);
    out->num_gc = ms.num_gc;
    out->pause_total_ns = ms.pause_total_ns;
    /* The ring holds the last TC_PAUSE_RING pauses: the maximum of those. */
    uint32_t n = ms.num_gc < TC_PAUSE_RING ? ms.num_gc : TC_PAUSE_RING;
    uint64_t max = 0;
    for (uint32_t i = 0; i < n; i++)
        if (ms.pause_ns[i] > max)
            max = ms.pause_ns[i];
    out->pause_max_ns = max;
    out->heap_bytes = ms.heap_sys;
}
