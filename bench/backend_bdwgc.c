/* backend_bdwgc.c: the benchmark backend for the Boehm-Demers-Weiser
 * collector (bdwgc 8.2, Debian's libgc: threads and parallel mark on). */
#define GC_THREADS 1 /* declares GC_get_parallel and GC_start_mark_threads */
#include <gc.h>
#include <gc/gc_typed.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

struct bk_shape {
    size_t n_ptrs;
    size_t scalar_bytes;
    size_t size;
    GC_descr descr; /* unused when n_ptrs == 0 */
};

/* A workload makes a handful of shapes; 64 is far more than any uses. */
#define MAX_SHAPES 64
static struct bk_shape shapes[MAX_SHAPES];
static size_t n_shapes;

/* Pause accounting from the collection-event hook, which runs on the
 * collecting thread with the allocation lock held (so the log needs no
 * lock of its own). A collection runs from GC_EVENT_START to GC_EVENT_END
 * on the thread that triggered it, but the world is stopped only from
 * GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD: clearing the mark
 * bits before and finishing the collection after run beside the other
 * threads (GC_finish_collection says so). The pause is that stop; the
 * rest counts as one CPU's collecting time. Nothing is allocated while
 * the world is stopped (another thread may hold malloc's lock): the log
 * makes room at GC_EVENT_START. */
static uint64_t gc_start_ns, stop_start_ns;
static uint64_t pause_total_ns, gc_total_ns;
static uint64_t gc_no_at_init;
static char description[128];
static bk_pause *plog;
static size_t plog_n, plog_cap;
static uint64_t plog_lost; /* stops the log had no room for */

static void GC_CALLBACK on_collection_event(GC_EventType ev)
{
    uint64_t now = bench_now_ns();
    switch (ev) {
    case GC_EVENT_START:
        gc_start_ns = now;
        if (plog_cap - plog_n < 4) { /* a collection stops the world once */
            size_t cap = plog_cap ? 2 * plog_cap : 1024;
            bk_pause *p = realloc(plog, cap * sizeof *p);
            if (p != NULL) {
                plog = p;
                plog_cap = cap;
            }
        }
        break;
    case GC_EVENT_PRE_STOP_WORLD:
        stop_start_ns = now;
        break;
    case GC_EVENT_POST_START_WORLD:
        pause_total_ns += now - stop_start_ns;
        if (plog_n < plog_cap)
            plog[plog_n++] = (bk_pause){now, now - stop_start_ns};
        else
            plog_lost++;
        break;
    case GC_EVENT_END:
        gc_total_ns += now - gc_start_ns;
        break;
    default:
        break;
    }
}

void bk_init(void)
{
    if (description[0] != '\0')
        return;
    GC_INIT();
    GC_allow_register_threads();
    /* bdwgc starts its marker threads only when the client creates its
     * first thread; a single-threaded benchmark asks for them, so bdwgc
     * marks in parallel as it would in a threaded program (GC_MARKERS
     * sets how many; the default is one per core). */
    GC_start_mark_threads();
    GC_set_on_collection_event(on_collection_event);
    gc_no_at_init = GC_get_gc_no();
    snprintf(description, sizeof description, "bdwgc %d.%d.%d, %d marker%s",
             GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO,
             GC_get_parallel() + 1, GC_get_parallel() ? "s" : "");
}

void bk_thread_begin(void)
{
    struct GC_stack_base sb;
    if (GC_get_stack_base(&sb) != GC_SUCCESS ||
        GC_register_my_thread(&sb) != GC_SUCCESS) {
        fprintf(stderr, "bdwgc backend: cannot register a thread\n");
        exit(2);
    }
}

void bk_thread_end(void) { GC_unregister_my_thread(); }
/* bdwgc stops threads with signals, wherever they are. */
void bk_safepoint(void) {}
void bk_blocking_begin(void) {}
void bk_blocking_end(void) {}

void bk_pauses_begin(void)
{
    GC_alloc_lock();
    plog_n = 0;
    plog_lost = 0;
    GC_alloc_unlock();
}

void bk_pauses_poll(void) {}

const bk_pause *bk_pauses(size_t *n, uint64_t *lost)
{
    *n = plog_n;
    *lost = plog_lost;
    return plog;
}

/* bdwgc marks with the world stopped: there is no phase in which the
 * program stores while it marks. */
int bk_marking_hold(int on)
{
    (void)on;
    return 0;
}

const char *bk_name(void) { return "bdwgc"; }
const char *bk_describe(void) { return description; }
int bk_needs_free(void) { return 0; }

const bk_shape *bk_shape_get(size_t n_ptrs, size_t scalar_bytes)
{
    for (size_t i = 0; i < n_shapes; i++)
        if (shapes[i].n_ptrs == n_ptrs && shapes[i].scalar_bytes == scalar_bytes)
            return &shapes[i];
    if (n_shapes == MAX_SHAPES) {
        fprintf(stderr, "bdwgc backend: more than %d shapes\n", MAX_SHAPES);
        exit(2);
    }
    struct bk_shape *s = &shapes[n_shapes];
    s->n_ptrs = n_ptrs;
    s->scalar_bytes = scalar_bytes;
    s->size = n_ptrs * sizeof(void *) + scalar_bytes;
    if (n_ptrs > 0) {
        size_t words = (s->size + sizeof(GC_word) - 1) / sizeof(GC_word);
        GC_word *bm = calloc((words + GC_WORDSZ - 1) / GC_WORDSZ, sizeof(GC_word));
        if (bm == NULL) {
            fprintf(stderr, "bdwgc backend: out of memory for a shape\n");
            exit(2);
        }
        for (size_t w = 0; w < n_ptrs; w++)
            GC_set_bit(bm, w);
        /* bdwgc copies what it needs; with the pointers leading it even
         * answers a plain length descriptor and allocates NORMAL objects. */
        s->descr = GC_make_descriptor(bm, words);
        free(bm);
    }
    n_shapes++;
    return s;
}

size_t bk_shape_size(const bk_shape *s) { return s->size; }

static void *die_oom(size_t size)
{
    fprintf(stderr, "bdwgc backend: out of memory allocating %zu bytes\n", size);
    exit(2);
}

/* A shape without pointers: the atomic kind, cleared as bk_alloc promises.
 * Out of line so bk_alloc stays small enough to inline. */
static __attribute__((noinline)) void *alloc_pointer_free(const bk_shape *s)
{
    void *p = GC_MALLOC_ATOMIC(s->size);
    if (p == NULL)
        return die_oom(s->size);
    return memset(p, 0, s->size);
}

void *bk_alloc(const bk_shape *s)
{
    if (__builtin_expect(s->n_ptrs == 0, 0))
        return alloc_pointer_free(s);
    void *p = GC_malloc_explicitly_typed(s->size, s->descr);
    if (__builtin_expect(p == NULL, 0))
        return die_oom(s->size);
    return p;
}

void *bk_alloc_atomic(size_t size)
{
    void *p = GC_MALLOC_ATOMIC(size);
    if (__builtin_expect(p == NULL, 0))
        return die_oom(size);
    return p;
}

void bk_store(void *obj, void *slot, void *value)
{
    (void)obj; /* bdwgc needs no barrier outside incremental mode */
    *(void **)slot = value;
}

void bk_free(void *p) { (void)p; }
void bk_collect(void) { GC_gcollect(); }

void bk_read_stats(bk_stats *out)
{
    GC_alloc_lock();
    uint64_t gcs = GC_get_gc_no() - gc_no_at_init;
    uint64_t stopped = pause_total_ns, total = gc_total_ns;
    GC_alloc_unlock();
    out->num_gc = gcs;
    out->pause_total_ns = stopped;
    /* Stopped, every CPU is the collector's (Go's convention, and
     * tricolor's); the rest of a collection is one thread's work. */
    out->gc_cpu_ns = stopped * (uint64_t)bench_ncpu() + (total > stopped ? total - stopped : 0);
    out->gc_idle_cpu_ns = 0;
    out->assists = out->assist_ns = 0;
    GC_word heap = 0;
    GC_get_heap_usage_safe(&heap, NULL, NULL, NULL, NULL); /* unmapped excluded */
    out->heap_bytes = heap;
}
