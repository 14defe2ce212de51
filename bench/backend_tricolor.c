/* backend_tricolor.c: the benchmark backend for tricolor itself, written
 * the way an embedder would: precise types, tc_store for heap stores.
 *
 * Built a second time with -DBK_PLAIN_STORES as backend "tc_plain", the
 * barrier compiled out, to measure what the idle barrier costs: plain
 * stores are correct only while no mark runs beside the program, so that
 * build always runs the fully stopped collector (gcstoptheworld=1), and
 * compares with "tricolor" run under TRICOLOR_DEBUG=gcstoptheworld=1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#ifdef BK_PLAIN_STORES
#define BK_NAME_STR "tc_plain"
/* The fully stopped collector, whatever else TRICOLOR_DEBUG says: its
 * other keys are kept, a gcstoptheworld of its own is replaced (given
 * twice, the key is an error: tools/barrier-cost.sh sets it for both
 * builds, and tc_init failed here). */
static void force_stopped_collector(void)
{
    static char value[512];
    const char *old = getenv("TRICOLOR_DEBUG");
    size_t n = 0;
    value[0] = '\0';
    for (const char *p = old ? old : ""; *p;) {
        size_t len = strcspn(p, ",");
        if (len > 0 && strncmp(p, "gcstoptheworld=", 15) != 0 && n + len + 1 < sizeof value) {
            memcpy(value + n, p, len);
            n += len;
            value[n++] = ',';
        }
        p += len + (p[len] == ',');
    }
    snprintf(value + n, sizeof value - n, "gcstoptheworld=1");
    setenv("TRICOLOR_DEBUG", value, 1);
}
#else
#define BK_NAME_STR "tricolor"
static void force_stopped_collector(void) {}
#endif

void bk_init(void)
{
    if (description[0] != '\0')
        return;
    force_stopped_collector();
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

const char *bk_name(void) { return BK_NAME_STR; }
const char *bk_describe(void) { return description; }
int bk_needs_free(void) { return 0; }

void bk_thread_begin(void)
{
    if (tc_thread_attach() != 0) {
        fprintf(stderr, "tricolor backend: tc_thread_attach: %s\n", strerror(errno));
        exit(2);
    }
}

void bk_thread_end(void) { tc_thread_detach(); }
void bk_safepoint(void) { tc_safepoint(); }
void bk_blocking_begin(void) { tc_blocking_begin(); }
void bk_blocking_end(void) { tc_blocking_end(); }

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

#ifdef BK_PLAIN_STORES
void bk_store(void *obj, void *slot, void *value)
{
    (void)obj;
    *(void **)slot = value;
}
#else
void bk_store(void *obj, void *slot, void *value) { tc_store(obj, slot, value); }
#endif
void bk_free(void *p) { (void)p; }
void bk_collect(void) { tc_collect(); }

void bk_read_stats(bk_stats *out)
{
    tc_memstats ms;
    tc_read_memstats(&ms);
    out->num_gc = ms.num_gc;
    out->pause_total_ns = ms.pause_total_ns;
    out->gc_cpu_ns = ms.gc_cpu_ns;
    out->gc_idle_cpu_ns = ms.gc_idle_mark_ns;
    out->assists = ms.num_assists;
    out->assist_ns = ms.assist_ns;
    out->heap_bytes = ms.heap_sys - ms.heap_released;
}

/* The pause log, pulled from the statistics ring of stops (stw_ns: every
 * stop on its own; pause_ns sums a cycle's stops, as Go's PauseNs). The
 * ring's stw_end_ns is CLOCK_REALTIME (as Go's PauseEnd); it is mapped onto
 * CLOCK_MONOTONIC with the offset between the clocks read at
 * bk_pauses_begin. */
static bk_pause *plog;
static size_t plog_n, plog_cap;
static uint64_t plog_lost, plog_next_gc;
static int64_t real_minus_mono;

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bk_pauses_begin(void)
{
    tc_memstats ms;
    tc_read_memstats(&ms);
    plog_n = 0;
    plog_lost = 0;
    plog_next_gc = ms.num_stw;
    real_minus_mono = (int64_t)(realtime_ns() - bench_now_ns());
}

void bk_pauses_poll(void)
{
    static tc_memstats ms; /* 4 KiB, and polls come from one thread */
    tc_read_memstats(&ms);
    if (ms.num_stw - plog_next_gc > TC_PAUSE_RING) {
        plog_lost += ms.num_stw - plog_next_gc - TC_PAUSE_RING;
        plog_next_gc = ms.num_stw - TC_PAUSE_RING;
    }
    for (; plog_next_gc < ms.num_stw; plog_next_gc++) {
        if (plog_n == plog_cap) {
            plog_cap = plog_cap ? 2 * plog_cap : 1024;
            plog = realloc(plog, plog_cap * sizeof *plog);
            if (plog == NULL) {
                fprintf(stderr, "tricolor backend: out of memory for the pause log\n");
                exit(2);
            }
        }
        size_t k = plog_next_gc % TC_PAUSE_RING;
        plog[plog_n].end_ns = (uint64_t)((int64_t)ms.stw_end_ns[k] - real_minus_mono);
        plog[plog_n].dur_ns = ms.stw_ns[k];
        plog_n++;
    }
}

const bk_pause *bk_pauses(size_t *n, uint64_t *lost)
{
    bk_pauses_poll();
    *n = plog_n;
    *lost = plog_lost;
    return plog;
}

/* Holding "marking" turns on the barrier's flag by hand, outside any
 * cycle: every tc_store then takes the slow path, which finds the phase
 * OFF and stores. That is the cost of the barrier's call, not of its
 * shading (which depends on what the overwritten values are: a marking
 * cycle cannot be held open from outside the library). */
int bk_marking_hold(int on)
{
    tc_barrier_enabled_ = on != 0;
    return 1;
}
