/* backend.h: the small allocator interface the benchmark workloads are
 * written against once, implemented by one backend_<name>.c per allocator.
 *
 * Every backend lives in the same benchmark program (the Google Benchmark
 * shim registers each workload with each backend), yet a workload must
 * call its backend directly, never through a function pointer: tricolor's
 * barrier is an inline flag test and bdwgc's store a plain store, and an
 * indirect call per allocation would measure the harness. So each
 * workload_<w>.c and backend_<b>.c is compiled once per backend with
 * -DBK_BACKEND=<b>, and the macros below rename every bk_ name to
 * bk_<b>_name (bk_alloc becomes bk_tricolor_alloc) and every workload entry
 * point to wl_<w>_<b>. With -flto the backend's wrappers inline into the
 * workload as if it had been written against that allocator.
 *
 * Object layout: an object made from a shape has its n_ptrs pointer slots
 * first (word offsets 0 .. n_ptrs-1), then scalar_bytes of pointer-free
 * data, so a workload struct must put its pointer fields first.
 */
#ifndef BENCH_BACKEND_H
#define BENCH_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifndef BK_BACKEND
#error "compile with -DBK_BACKEND=<backend name> (see bench/bench.mk)"
#endif

#define BK_CAT3_(a, b, c) a##b##_##c
#define BK_CAT3(a, b, c) BK_CAT3_(a, b, c)
/* bk_<backend>_<f> and wl_<workload>_<backend>. */
#define BK(f) BK_CAT3(bk_, BK_BACKEND, f)
#define WL(w) BK_CAT3(wl_, w, BK_BACKEND)

#define bk_shape BK(shape)
#define bk_init BK(init)
#define bk_name BK(name)
#define bk_describe BK(describe)
#define bk_needs_free BK(needs_free)
#define bk_thread_begin BK(thread_begin)
#define bk_thread_end BK(thread_end)
#define bk_safepoint BK(safepoint)
#define bk_blocking_begin BK(blocking_begin)
#define bk_blocking_end BK(blocking_end)
#define bk_shape_get BK(shape_get)
#define bk_shape_size BK(shape_size)
#define bk_alloc BK(alloc)
#define bk_alloc_atomic BK(alloc_atomic)
#define bk_store BK(store)
#define bk_free BK(free)
#define bk_collect BK(collect)
#define bk_read_stats BK(read_stats)
#define bk_pauses_begin BK(pauses_begin)
#define bk_pauses_poll BK(pauses_poll)
#define bk_pauses BK(pauses)
#define bk_marking_hold BK(marking_hold)

#include "bench_util.h"

/* A shape: an object layout with pointer slots and scalar bytes. Opaque;
 * each backend defines it. */
typedef struct bk_shape bk_shape;

/* Sets the backend up; every workload calls it first (a second call does
 * nothing). Exits with a message on failure, since no benchmark can go on
 * without its heap. */
void bk_init(void);
/* "tricolor", "bdwgc", "malloc", "mimalloc". */
const char *bk_name(void);
/* One line on the backend's version and settings (markers, say), for the
 * parameters a workload prints; valid after bk_init. */
const char *bk_describe(void);
/* Nonzero when dead objects must be handed to bk_free (malloc): the
 * workloads then free what a manual program would free. */
int bk_needs_free(void);
/* A thread the workload started begins or ends using the heap (tricolor
 * attaches it, bdwgc registers its stack). Exits on failure. */
void bk_thread_begin(void);
void bk_thread_end(void);
/* In a long loop that reads the heap but does not allocate (a final
 * check): a collector that stops threads cooperatively waits for the next
 * call, so a loop without one would stretch every stop that comes during
 * it (tricolor: tc_safepoint). */
void bk_safepoint(void);
/* Around a wait that touches no heap object (a barrier, a join): a
 * collector that stops threads cooperatively (tricolor) must not wait for
 * a thread that is waiting for it. */
void bk_blocking_begin(void);
void bk_blocking_end(void);

/* The shape for n_ptrs pointer slots followed by scalar_bytes of data,
 * made once and cached: call it at set-up, not per allocation. Never NULL
 * (exits on failure). */
const bk_shape *bk_shape_get(size_t n_ptrs, size_t scalar_bytes);
/* Size in bytes of an object of shape s. */
size_t bk_shape_size(const bk_shape *s);

/* One zeroed object of shape s. Exits on out-of-memory: a benchmark that
 * lost an allocation measures nothing. */
void *bk_alloc(const bk_shape *s);
/* size pointer-free bytes; the contents are whatever the backend gives
 * (zero for tricolor, undefined for bdwgc and malloc), the collector never
 * scans them. Exits on out-of-memory. */
void *bk_alloc_atomic(size_t size);
/* Stores value into *slot, a pointer slot of obj: tricolor's barrier, a
 * plain store elsewhere. */
void bk_store(void *obj, void *slot, void *value);
/* Frees p for the manual allocators; nothing for the collectors. */
void bk_free(void *p);
/* A full collection now (nothing for the manual allocators). */
void bk_collect(void);
/* Totals since bk_init (see bench_util.h for the fields). */
void bk_read_stats(bk_stats *out);

/* The pause log: every stop-the-world pause from bk_pauses_begin on, with
 * its end on CLOCK_MONOTONIC (bench_now_ns). bdwgc's hook appends as it
 * collects; tricolor's pauses are pulled from its statistics ring by
 * bk_pauses_poll, which a workload calls (through bk_sample, between
 * operations) at least every few thousand allocations (a ring of 256
 * pauses is never outrun that way; if it were, the pauses lost are
 * counted). */
void bk_pauses_begin(void);
void bk_pauses_poll(void);
/* The log so far; *lost counts pauses that fell out of the ring. */
const bk_pause *bk_pauses(size_t *n, uint64_t *lost);

/* Holds the collector in its marking phase (on != 0) or lets it go, so a
 * workload can time stores while the write barrier is on. Returns 0 when
 * the backend has no such phase to hold (bdwgc outside incremental mode,
 * malloc): the figure is then not measured. */
int bk_marking_hold(int on);

/* Inside a timed part, between operations: the heap's size into
 * r->peak_heap_bytes and a poll of the pause log. Its own time goes to
 * r->sample_ns, which bk_summarise takes off the timed part: reading an
 * allocator's figures is not what any backend is measured on. */
static inline void bk_sample(wl_result *r)
{
    uint64_t t0 = bench_now_ns();
    bk_stats st;
    bk_read_stats(&st);
    if (st.heap_bytes > r->peak_heap_bytes)
        r->peak_heap_bytes = st.heap_bytes;
    bk_pauses_poll();
    r->sample_ns += bench_now_ns() - t0;
}

/* bk_read_stats, and the process's page faults so far: what a workload
 * reads before and after its timed part. */
static inline void bench_read_stats(bk_stats *out)
{
    bk_read_stats(out);
    out->minflt = bench_minflt();
}

/* The figures of a workload's timed part, from the stats read before and
 * after it and the pause log: every workload ends with this (after setting
 * r->wall_ns to the whole timed part). */
static inline void bk_summarise(wl_result *r, const bk_stats *before, const bk_stats *after)
{
    r->wall_ns -= r->sample_ns < r->wall_ns ? r->sample_ns : 0;
    r->collector = !bk_needs_free();
    size_t np;
    uint64_t lost;
    const bk_pause *log = bk_pauses(&np, &lost); /* before np is read */
    bench_pause_summary(r, log, np, lost);
    bench_gc_summary(r, before, after);
}

#endif /* BENCH_BACKEND_H */
