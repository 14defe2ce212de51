/* backend_manual.c: the benchmark backend for a manual allocator, the
 * baseline a program that frees by hand gets: no collector, explicit
 * frees. Compiled once per allocator with `-include manual_<name>.h`,
 * which supplies MANUAL_NAME, manual_describe and the allocation calls: glibc's
 * malloc/free (backend "malloc") and mimalloc's (backend "mimalloc",
 * where libmimalloc-dev is installed). */
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
static uint64_t rss_at_init;

void bk_init(void)
{
    if (description[0] != '\0')
        return;
    manual_describe(description, sizeof description);
    rss_at_init = bench_rss_bytes();
}

const char *bk_name(void) { return MANUAL_NAME; }
const char *bk_describe(void) { return description; }
int bk_needs_free(void) { return 1; }
void bk_thread_begin(void) {}
void bk_thread_end(void) {}
void bk_safepoint(void) {}
void bk_blocking_begin(void) {}
void bk_blocking_end(void) {}

const bk_shape *bk_shape_get(size_t n_ptrs, size_t scalar_bytes)
{
    for (size_t i = 0; i < n_shapes; i++)
        if (shapes[i].n_ptrs == n_ptrs && shapes[i].scalar_bytes == scalar_bytes)
            return &shapes[i];
    if (n_shapes == MAX_SHAPES) {
        fprintf(stderr, MANUAL_NAME " backend: more than %d shapes\n", MAX_SHAPES);
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
    fprintf(stderr, MANUAL_NAME " backend: out of memory allocating %zu bytes\n", size);
    exit(2);
}

void *bk_alloc(const bk_shape *s)
{
    /* calloc, because the collectors hand out zeroed objects too. */
    void *p = manual_calloc(1, s->size);
    if (__builtin_expect(p == NULL, 0))
        return die_oom(s->size);
    return p;
}

void *bk_alloc_atomic(size_t size)
{
    void *p = manual_malloc(size);
    if (__builtin_expect(p == NULL, 0))
        return die_oom(size);
    return p;
}

void bk_store(void *obj, void *slot, void *value)
{
    (void)obj;
    *(void **)slot = value;
}

void bk_free(void *p) { manual_free(p); }
void bk_collect(void) {}

void bk_read_stats(bk_stats *out)
{
    out->num_gc = 0;
    out->pause_total_ns = 0;
    out->gc_cpu_ns = 0;
    out->gc_idle_cpu_ns = 0;
    out->assists = out->assist_ns = 0;
    /* The heap a manual allocator holds is measured as the growth of the
     * process's resident memory since bk_init, less what the workload keeps
     * outside any heap: the allocators' own figures cost too much to read
     * (glibc's mallinfo2 walks every free chunk: 12 ms with 100,000 of them)
     * or mean something else (mimalloc's committed bytes start at 32 MiB,
     * its eagerly committed segment). */
    uint64_t rss = bench_rss_bytes(), base = rss_at_init + bench_outside_heap();
    out->heap_bytes = rss > base ? rss - base : 0;
}

/* No collector: no pauses, no marking. */
void bk_pauses_begin(void) {}
void bk_pauses_poll(void) {}

const bk_pause *bk_pauses(size_t *n, uint64_t *lost)
{
    *n = 0;
    *lost = 0;
    return NULL;
}

int bk_marking_hold(int on)
{
    (void)on;
    return 0;
}
