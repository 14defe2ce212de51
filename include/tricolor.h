/* tricolor.h: the whole public API of the tricolor garbage collector. */
#ifndef TRICOLOR_H
#define TRICOLOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared TC_API is exported from libtricolor.so; the library
 * is built with -fvisibility=hidden so nothing else is. */
#if defined(__GNUC__)
#define TC_API __attribute__((visibility("default")))
#else
#define TC_API
#endif

#define TC_VERSION_MAJOR 0
#define TC_VERSION_MINOR 2

/* ---- Set-up and threads ------------------------------------------------
 * tc_init() reads the TRICOLOR_* environment, sets up the one process-wide
 * heap and attaches the calling thread. 0 on success; -1 with errno set and a
 * message on stderr on failure (a bad environment value: EINVAL; already
 * initialised: EALREADY, the heap stays usable and unchanged).
 *
 * Every other thread that touches the heap calls tc_thread_attach() first
 * (0, or -1 with errno: EPERM before tc_init and on the library's own
 * threads, where callbacks run; EALREADY when attached already, ENOMEM).
 * tc_thread_detach() is optional before thread exit: a thread that exits
 * attached is detached by a thread-local destructor. The finalizer thread
 * stays attached whatever a finalizer calls.
 */
TC_API int tc_init(void);
TC_API int tc_thread_attach(void);
TC_API void tc_thread_detach(void);
TC_API int tc_thread_is_attached(void);

/* Cooperative stop-the-world. A long-running loop that does not allocate
 * calls tc_safepoint() now and then (tc_store is not a safepoint: the
 * barrier relies on a store never meeting a phase change halfway), or
 * every stop of the world waits for it.
 * A thread about to block (I/O, a lock, sleep) brackets that region with
 * tc_blocking_begin()/tc_blocking_end(): inside it the thread counts as
 * stopped and must not touch the heap (it may hold heap pointers in its
 * locals: they are scanned): the heap's calls refuse (EPERM, a message)
 * and the region stays intact; tc_safepoint does nothing there. Regions
 * nest. */
TC_API void tc_safepoint(void);
TC_API void tc_blocking_begin(void);
TC_API void tc_blocking_end(void);

/* Coroutine and fiber stacks (docs/embedding.md). A thread that runs on a
 * stack of the program's own (makecontext/swapcontext, a hand-written
 * context switch) registers it first, and calls tc_stack_switch right
 * before every switch, with nothing between it and the switch: the stack
 * it leaves is then a root, scanned conservatively from where the switch
 * left it (the callee-saved registers saved there included), until some
 * thread switches to it again or it is unregistered. A thread that runs
 * on a stack it did not say is caught where it next meets the collector
 * (a safepoint, a blocking region, a collection) and the process aborts
 * with a message naming these calls, rather than scanning what is no
 * stack.
 *
 * tc_stack_register: [lo, lo + size) as a stack; any thread after
 * tc_init. NULL with errno and a message: EINVAL for a NULL lo, a zero
 * size or a range that wraps, EFAULT when part of it is not mapped,
 * EEXIST when it overlaps an attached thread's own stack, the caller's,
 * or another registered stack; ENOMEM.
 * tc_stack_switch: `to` (NULL: the calling thread's own stack) is where
 * the attached caller runs next; `to` must be registered and not running
 * on any thread. A suspended stack may be resumed by any attached thread
 * (the program hands the context over with its own synchronisation).
 * Not inside a blocking region. Misuse aborts with a message: the
 * collector's view of the stacks would be wrong.
 * tc_stack_unregister: forgets a suspended stack (its words stop being
 * roots; do it when the coroutine is dead); refused with a message for a
 * stack a thread runs on. Any thread.
 * tc_stack_current: the registered stack the caller runs on, NULL on its
 * own stack (or not attached). */
typedef struct tc_stack tc_stack;
TC_API tc_stack *tc_stack_register(void *lo, size_t size);
TC_API void tc_stack_switch(tc_stack *to);
TC_API void tc_stack_unregister(tc_stack *s);
TC_API tc_stack *tc_stack_current(void);

/* ---- Types ---------------------------------------------------------------
 * A type describes where an object's pointers are. Types live for the life
 * of the process.
 *
 * tc_type_new: a fixed layout of `size` bytes with pointer slots at the given
 * byte offsets (each a multiple of sizeof(void *), inside the object).
 *
 * tc_type_new_traced: a variable layout; the collector calls `trace` with the
 * object and its usable size (at least what was allocated, the extra bytes
 * zero) and the callback calls tc_trace_slot() (or tc_trace()) on every
 * pointer the object holds. The callback runs on a mark worker while the
 * program runs (the collector marks concurrently): it must not allocate,
 * lock or call other tc_ functions than these two, and it must expect the
 * program to be storing into the object meanwhile (tc_trace_slot reads the
 * slot the way tc_store writes it; a plain read would be a data race).
 *
 * Both return NULL with errno = EINVAL (and a message) on a bad layout. */
typedef struct tc_type tc_type;
typedef struct tc_tracer tc_tracer;
typedef void (*tc_trace_fn)(void *obj, size_t size, tc_tracer *tracer);

TC_API const tc_type *tc_type_new(const char *name, size_t size,
                           const size_t *ptr_offsets, size_t n_ptrs);
TC_API const tc_type *tc_type_new_traced(const char *name, size_t size,
                                  tc_trace_fn trace);
/* tc_type_new_weak: a fixed layout like tc_type_new's, with weak slots
 * and ephemeron pairs beside the strong pointer slots (docs/api.md "Weak
 * and ephemeron fields"). A weak slot does not keep what it points to: once
 * a mark finds that object dead, the slot reads NULL. `ephemeron_pairs`
 * holds 2 * n_pairs offsets, a key's then its value's for each pair: the
 * value is kept only while the key is kept by some other path, and once
 * the key is found dead both read NULL. Every offset is aligned to a
 * pointer and inside the object; no slot may have two roles. An array of
 * such a type (tc_alloc_array) is a table. Stores into any slot go through
 * tc_store (tc_store_range, tc_fill_range); reads of weak and pair slots
 * through tc_load_weak. NULL with errno = EINVAL (and a message) on a bad
 * layout. */
TC_API const tc_type *tc_type_new_weak(const char *name, size_t size,
                                const size_t *ptr_offsets, size_t n_ptrs,
                                const size_t *weak_offsets, size_t n_weak,
                                const size_t *ephemeron_pairs, size_t n_pairs);
TC_API const char *tc_type_name(const tc_type *t);
TC_API size_t tc_type_size(const tc_type *t);

/* Marks `ptr` (any address inside a heap object, or anything else, which is
 * ignored) as reachable. Only valid inside a trace or root callback. */
TC_API void tc_trace(tc_tracer *tracer, void *ptr);
/* tc_trace of the pointer stored at `slot`, loaded atomically: what a trace
 * callback should use for slots that tc_store writes. */
TC_API void tc_trace_slot(tc_tracer *tracer, void *const *slot);

/* ---- Allocation ------------------------------------------------------------
 * Memory is 16-byte aligned and zeroed, but tc_alloc_atomic's (like malloc's,
 * and bdwgc's GC_MALLOC_ATOMIC's) holds whatever the slot last held: bytes
 * the program writes before it reads them need no zeroing, which for a
 * 4 KiB object costs more than the allocation. NULL with errno = ENOMEM
 * when the size overflows or the heap cannot hold it (a collection due and
 * the collector's thread unable to start included); NULL with errno = EPERM
 * (and a message) from a thread that is not attached or inside a blocking
 * region; EINVAL for a NULL type, and for tc_alloc_sized of a fixed layout
 * with fewer bytes than the type's size.
 *
 * tc_alloc:              one object of type t.
 * tc_alloc_array:        n consecutive objects of type t (a traced type's
 *                        callback sees the whole array as one object).
 * tc_alloc_sized:        one object of a traced type with `size` bytes (a
 *                        header and a variable tail, say).
 * tc_alloc_atomic:       pointer-free bytes, never scanned; not zeroed.
 * tc_alloc_atomic_zeroed: the same, zeroed.
 * tc_alloc_conservative: every aligned word may be a pointer. */
TC_API void *tc_alloc(const tc_type *t);
TC_API void *tc_alloc_array(const tc_type *t, size_t n);
TC_API void *tc_alloc_sized(const tc_type *t, size_t size);
TC_API void *tc_alloc_atomic(size_t size);
TC_API void *tc_alloc_atomic_zeroed(size_t size);
TC_API void *tc_alloc_conservative(size_t size);

/* Usable size of the object containing p (0 when p is not in the heap). */
TC_API size_t tc_object_size(const void *p);
/* Start of the heap object containing p, or NULL. */
TC_API void *tc_object_base(const void *p);

/* ---- The write barrier -----------------------------------------------------
 * Every store of a heap pointer into a heap object goes through tc_store or
 * TC_STORE; `obj` is the object holding `slot` (or NULL when the slot is not
 * in the heap: a global, a root range). Stores into thread stacks and root
 * ranges may be plain. Idle, the barrier is one load of a flag and a branch;
 * while a collection marks, the slow path shades the value being overwritten
 * and stores with release order (a plain move on x86), so a concurrent marker
 * that loads the pointer sees the object it points to set up. */
extern TC_API volatile int tc_barrier_enabled_; /* internal: the barrier's flag */
TC_API void tc_store_slow_(void *obj, void **slot, void *value);
#if defined(TC_CHECK_STORES) && TC_CHECK_STORES
#define TC_LOAD_CHECKED_ 1
#else
#define TC_LOAD_CHECKED_ 0
#endif

static inline void tc_store(void *obj, void *slot, void *value)
{
    /* An atomic load (a plain mov on x86): the flag may come down while
     * this thread runs (the end of a weak fields' clearing pass). */
    if (__builtin_expect(__atomic_load_n(&tc_barrier_enabled_, __ATOMIC_RELAXED), 0)) {
        tc_store_slow_(obj, (void **)slot, value);
        return;
    }
    /* No marker runs now (the flag goes up only while every attached
     * thread is stopped, and tc_store never stops; it may come down
     * meanwhile, which asks nothing of a store): a plain store. */
    __atomic_store_n((void **)slot, value, __ATOMIC_RELAXED);
}

#define TC_STORE(obj, field, value) \
    tc_store((obj), (void *)&(obj)->field, (void *)(value))

/* The read of a weak slot, or of either slot of an ephemeron pair, of heap
 * object `obj` (a tc_type_new_weak type's, or an array of one): what the
 * slot holds, or NULL once the collector has found that object dead (for a
 * pair's value, once it has found the key dead), from the end of the mark
 * that finds it so, before the slot is cleared. While a mark runs, the
 * object returned is shaded, as tc_store shades, so that it stays alive
 * once the program holds it. From an attached thread outside a blocking
 * region. Idle, one load of the phase flag (acquire: free on x86) and one
 * of the slot; a program built with -DTC_CHECK_STORES=1 takes the checking
 * path every time, which sets errno = EINVAL and returns NULL (with a
 * message) for a slot that is not one of obj's weak or pair slots. */
TC_API void *tc_load_weak_slow_(const void *obj, void *const *slot);

static inline void *tc_load_weak(const void *obj, void *const *slot)
{
    if (__builtin_expect(__atomic_load_n(&tc_barrier_enabled_, __ATOMIC_ACQUIRE) |
                             TC_LOAD_CHECKED_, 0))
        return tc_load_weak_slow_(obj, slot);
    /* No mark runs and none has dead objects left in weak slots: the slot
     * holds NULL or a live object (the acquire above orders this load
     * after the clearing of the slots that the phase's end published). */
    return __atomic_load_n((void *const *)slot, __ATOMIC_RELAXED);
}

/* Bulk stores (docs/api.md): tc_store_range is memmove of `nslots`
 * pointer-sized words from `src` to `dst` (overlap allowed), every word
 * stored as tc_store stores it; tc_fill_range stores `value` into each.
 * `dst` lies inside the heap object `obj` (NULL: dst is not in the
 * heap), both pointers aligned to sizeof(void *); `src` may be anywhere
 * (another heap object, the same one, a C array). One phase check for the
 * whole range: idle, the flag and memmove (a store loop for the fill);
 * while a mark runs, the old words of dst are shaded and each slot is
 * stored with release order, so a marker never sees a torn pointer. The
 * idle path does not check its arguments; the marking path always does
 * (and a program built with -DTC_CHECK_STORES=1 takes it every time): a
 * bad range stores nothing, sets errno = EINVAL and says why on stderr. */
#if defined(TC_CHECK_STORES) && TC_CHECK_STORES
#define TC_STORES_CHECKED_ 1
#else
#define TC_STORES_CHECKED_ 0
#endif
TC_API void tc_store_range_slow_(void *obj, void *dst, const void *src, size_t nslots);
TC_API void tc_fill_range_slow_(void *obj, void *dst, void *value, size_t nslots);

static inline void tc_store_range(void *obj, void *dst, const void *src, size_t nslots)
{
    if (__builtin_expect(__atomic_load_n(&tc_barrier_enabled_, __ATOMIC_RELAXED) |
                             TC_STORES_CHECKED_, 0)) {
        tc_store_range_slow_(obj, dst, src, nslots);
        return;
    }
    /* No marker runs (tc_store's reasoning): no one reads dst's slots. */
    if (nslots)
        __builtin_memmove(dst, src, nslots * sizeof(void *));
}

static inline void tc_fill_range(void *obj, void *dst, void *value, size_t nslots)
{
    if (__builtin_expect(__atomic_load_n(&tc_barrier_enabled_, __ATOMIC_RELAXED) |
                             TC_STORES_CHECKED_, 0)) {
        tc_fill_range_slow_(obj, dst, value, nslots);
        return;
    }
    for (size_t i = 0; i < nslots; i++)
        ((void **)dst)[i] = value;
}

/* ---- Roots -------------------------------------------------------------
 * Every attached thread's stack and registers are roots, scanned
 * conservatively. tc_root_add registers another range (a global area, a VM
 * stack), scanned conservatively word by word at each collection; the range
 * may be written with plain stores at any time, and must be mapped
 * readable (else EFAULT) until tc_root_remove. Each concurrent mark
 * write-protects its whole pages from just before its first stop until
 * the collector has read them (a write meanwhile faults into the
 * library's SIGSEGV hook, which copies what the stop saw): the stop does
 * not read it, but a system call writing into it meanwhile fails with
 * EFAULT, and the program must not change its protection (docs/api.md;
 * TRICOLOR_DEBUG=rootprotect=0 reads every range in the stop instead).
 * tc_root_remove takes the range starting at addr away (waiting, if a
 * mark has protected it, until the mark has read it). tc_root_callback_add registers a function
 * that reports precise roots with tc_trace (a VM's frames, say); it runs with
 * the world stopped and must not allocate. 0 on success, -1 with errno. */
TC_API int tc_root_add(void *addr, size_t size);
/* A root range whose pointer slots are written only through tc_store(NULL,
 * slot, value) (or TC_STORE) after registration: the collector scans it
 * while the program runs, outside every stop, whatever its size, with no
 * protection and no faults. A plain store into it during a mark can lose
 * the object it overwrites. Errors and removal as tc_root_add. */
TC_API int tc_root_add_barriered(void *addr, size_t size);
TC_API void tc_root_remove(void *addr);
typedef void (*tc_root_fn)(tc_tracer *tracer, void *arg);
TC_API int tc_root_callback_add(tc_root_fn fn, void *arg);
TC_API void tc_root_callback_remove(tc_root_fn fn, void *arg);

/* ---- Collection ------------------------------------------------------------
 * tc_collect: a full collection (mark and sweep); returns when it is done.
 * tc_set_gc_percent: returns the previous value; negative turns proportional
 * collection off (TRICOLOR_GC=off); over 1000000 counts as 1000000 (the
 * range TRICOLOR_GC accepts). The heap goal is M + (M + R) *
 * percent/100, at least 4 MiB * percent/100 and at least what the last
 * collection kept (M and what was allocated during its mark) plus half of
 * (M + R) * percent/100, where M is what the last collection found
 * reachable and R the roots it scanned; collections start
 * early enough to finish as the heap reaches it (docs/tuning.md).
 * tc_set_memory_limit: the soft memory limit (TRICOLOR_MEMLIMIT) in bytes,
 * counting everything the library holds from the OS; returns the previous
 * limit. A negative argument only queries; INT64_MAX means no limit (and
 * is what a query returns when there is none). -1 before tc_init.
 * tc_on_memory_pressure: fn(arg, info) is called after collections in
 * which the memory limit, not TRICOLOR_GC, set the heap goal, so the
 * program can drop caches or shed load. It runs on a library thread of its
 * own (started at the first registration), with no library lock held, and
 * may block without holding up collection; calls are serialised and
 * coalesce (a callback still running when two more cycles end is called
 * once more, with the latest figures). That thread is not attached: fn
 * must not touch the heap (set a flag for the program's threads, signal,
 * call tc_set_* or tc_read_memstats). One callback: a second registration
 * replaces it, NULL removes it; either returns once a call of the old one
 * in progress has returned (not when made from inside it). 0, or -1 with
 * errno when the thread cannot start. Before tc_init, tc_set_gc_percent
 * and tc_set_memory_limit refuse (-1, EPERM, a message); registrations
 * made before it are kept. */
TC_API void tc_collect(void);
/* tc_release_memory: a full collection, then every free page of the heap
 * goes back to the OS at once (Go's debug.FreeOSMemory). Without it, the
 * collector returns free pages after each cycle beyond what the next one
 * needs (goal x 1.1), and below the memory limit. */
TC_API void tc_release_memory(void);
TC_API int tc_set_gc_percent(int percent);
TC_API int64_t tc_set_memory_limit(int64_t bytes);
typedef struct tc_memory_pressure {
    int64_t memory_limit;          /* bytes */
    uint64_t goal_bytes;           /* the heap goal the limit set */
    uint64_t unlimited_goal_bytes; /* what TRICOLOR_GC alone would have set
                                      (UINT64_MAX: off) */
    uint64_t live_bytes;           /* what the collection found reachable */
    uint64_t cycle;                /* the collection's number */
} tc_memory_pressure;
TC_API int tc_on_memory_pressure(void (*fn)(void *arg, const tc_memory_pressure *info),
                                 void *arg);

/* Out of memory (docs/api.md): an allocation the heap cannot satisfy (the
 * OS refuses a mapping) first runs the callback tc_on_out_of_memory
 * registered, then a full collection and a scavenge, and retries once;
 * only then NULL with ENOMEM (tc_memstats.oom_retries, oom_failures).
 * fn(arg, request) runs on the allocating thread, as if the allocation
 * called it, with no library lock held: it may drop references (tc_store
 * NULL, tc_root_remove), free malloc memory, even allocate (an allocation
 * failing inside it fails at once). One callback: a later registration
 * replaces it, NULL removes it; any thread, before tc_init too. 0, or -1
 * with ENOMEM. */
TC_API int tc_on_out_of_memory(void (*fn)(void *arg, size_t request), void *arg);
/* tc_heap_walk (docs/api.md): fn(arg, obj, size, type) for every allocated
 * object (base, usable size, type; NULL for pointer-free and conservative
 * objects), with the world stopped: every object allocated and not found
 * dead by the last mark (after tc_collect(), the live ones and what the
 * stacks conservatively keep). fn may read its object and write to memory
 * outside the heap; it must not allocate from the heap (refused, EPERM),
 * call tc_ functions, or take a lock another thread may hold while it
 * allocates. 0, or -1 with errno: EINVAL (fn NULL), EPERM (not attached,
 * in a blocking region, or from fn itself). */
TC_API int tc_heap_walk(void (*fn)(void *arg, void *obj, size_t size, const tc_type *type),
                        void *arg);
/* No-GC sections (docs/api.md), process-wide and nesting: no collection
 * starts while any is open (the heap goal and the memory limit are
 * exceeded instead; tc_collect returns at once); one that was due starts
 * when the outermost section ends. A cycle already running runs on; it
 * frees nothing allocated since it began. */
TC_API void tc_gc_defer_begin(void);
TC_API void tc_gc_defer_end(void);

/* ---- Statistics (Go's runtime.MemStats meanings; docs/observability.md) ---
 * tc_read_memstats never stops the world, takes no lock a collection holds
 * and never waits for a cycle: the counters are per thread, or atomics, or
 * published by the collector under a sequence count, and are summed as
 * they are read. Any thread may call it, attached or not, at any time
 * (before tc_init it fills zeros). The struct is versioned by its size:
 * tc_read_memstats is a macro that passes sizeof *out, and the library
 * fills only that many bytes, so a program built against an older header
 * keeps working with a newer library. Fields are only ever appended. */
#define TC_PAUSE_RING 256
#define TC_NUM_SIZE_CLASSES 96
typedef struct tc_memstats {
    uint64_t heap_alloc;     /* bytes of allocated heap objects (incl. unswept dead) */
    uint64_t heap_objects;   /* number of allocated heap objects */
    uint64_t heap_sys;       /* bytes of heap the page heap has carved from the OS's
                                mappings (spans and free runs; an arena's untouched
                                tail is not counted), and objects over 64 MiB less
                                8 KiB, each mapped on its own until freed */
    uint64_t heap_inuse;     /* bytes in in-use spans */
    uint64_t heap_idle;      /* bytes in free spans */
    uint64_t heap_released;  /* bytes of idle spans returned to the OS */
    uint64_t total_alloc;    /* cumulative bytes allocated */
    uint64_t mallocs;        /* cumulative objects allocated */
    uint64_t frees;          /* cumulative objects freed */
    uint64_t sys;            /* all bytes obtained from the OS (heap + metadata) */
    uint64_t meta_sys;       /* bytes of metadata (spans, page map, type table) */
    uint64_t next_gc;        /* heap_alloc target of the next cycle */
    uint64_t last_gc_ns;     /* end of the last cycle, ns since the epoch */
    uint64_t pause_total_ns; /* cumulative stop-the-world time */
    uint64_t pause_ns[TC_PAUSE_RING];     /* latest at (num_gc + 255) % 256 */
    uint64_t pause_end_ns[TC_PAUSE_RING]; /* same index, ns since the epoch */
    uint32_t num_gc;
    uint32_t num_forced_gc;
    int32_t gc_percent;      /* negative: off */
    uint32_t markers;        /* threads that mark */
    double gc_cpu_fraction;  /* gc_cpu_ns / (CPUs x wall time since tc_init), as Go's
                                GCCPUFraction: marking on CPUs the program left
                                idle is not in it (gc_idle_mark_ns) */
    uint64_t live_bytes;     /* bytes marked by the last cycle */
    uint64_t last_stw_ns;    /* the last stop of the world (the latest of stw_ns) */
    uint64_t last_ttsp_ns;   /* the last stop's time to stop (request to all parked) */
    uint64_t gc_cpu_ns;      /* CPU time spent collecting since tc_init (a stop counts
                                its length times the CPUs it idles) */
    /* Every stop of the world on its own (pause_ns sums a cycle's stops,
     * as Go's PauseNs): the latest at (num_stw + 255) % 256. */
    uint32_t num_stw;
    uint64_t stw_ns[TC_PAUSE_RING];
    uint64_t stw_end_ns[TC_PAUSE_RING]; /* same index, ns since the epoch */
    int64_t memory_limit;        /* bytes; INT64_MAX: none */
    uint32_t gc_cpu_limit;       /* percent (TRICOLOR_GC_CPU_LIMIT) */
    uint32_t limiter_engaged;    /* 1 while the GC CPU limiter holds assists off */
    uint64_t limiter_last_cycle; /* the last cycle in which the limiter engaged; 0: never */
    uint64_t limiter_engagements;
    uint64_t gc_trigger;         /* where the next cycle starts, counted as next_gc is (the
                                    allocated bytes plus the free slots the threads'
                                    caches hold) */
    uint32_t goal_limited;       /* 1 when the memory limit set next_gc */
    uint64_t gc_idle_mark_ns;    /* the markers' CPU time on CPUs the program left idle,
                                    beyond their 25% share: not in gc_cpu_ns (as Go's
                                    idle mark workers) */
    /* ---- Appended with the size-versioned read (tricolor 0.2) ---------- */
    uint64_t cache_sys;          /* the threads' allocation caches and tracers */
    uint64_t mark_sys;           /* the mark's work buffers */
    uint64_t other_sys;          /* profiling records, weak, ephemeron and
                                    finalizer tables */
    uint64_t stacks_bytes;       /* stack bytes the last cycle scanned as roots */
    uint64_t globals_bytes;      /* root ranges the last cycle scanned */
    uint64_t num_assists;        /* mark assists that did scan work, since tc_init */
    uint64_t assist_ns;          /* their total duration */
    uint64_t finalizers_registered, finalizers_queued, finalizers_run;
    uint64_t pool_gets, pool_hits, pool_victim_hits, pool_misses, pool_puts, pool_dropped;
    uint64_t gc_events_dropped;  /* tc_on_gc_event calls lost to a slow callback */
    uint64_t mem_profile_rate;   /* bytes between heap-profile samples; 0: off */
    uint64_t mem_profile_samples;/* samples taken since tc_init */
    uint32_t num_size_classes;   /* entries of by_size in use */
    uint32_t reserved0;
    /* by_size[0] counts large objects (size 0: each its own page run);
     * by_size[i] the objects of size class i, of `size` bytes. */
    struct {
        uint64_t size, mallocs, frees;
    } by_size[TC_NUM_SIZE_CLASSES];
    uint32_t ncpu;               /* the CPUs the collector counts: the affinity mask's,
                                    or the cgroup's CPU quota rounded up when fewer
                                    (read at tc_init; gctrace's "P") */
    uint64_t stop_timeouts;      /* stops that waited past TRICOLOR_DEBUG=stoptimeout for a
                                    thread that did not poll (each reported on stderr) */
    /* Out of memory (issue 18, tc_on_out_of_memory): */
    uint64_t oom_retries;        /* allocations the heap could not satisfy at first, each
                                    then retried after the callback, a collection and a
                                    scavenge */
    uint64_t oom_failures;       /* allocations that failed with ENOMEM for want of memory
                                    (after their retry, or inside the callback) */
    /* Memory held outside the heap (tc_external_add), issue 18: */
    uint64_t external_bytes;     /* the total reported now (never below 0) */
    uint64_t external_live_bytes; /* of it, what the pacer counts as live: the total
                                    at the last mark's end, less what finalizers (or
                                    the lowest total) have freed since */
} tc_memstats;

/* Returns the bytes it filled: the smaller of size and the library's
 * sizeof(tc_memstats), so a program built against a newer header can tell
 * which fields an older library left alone. */
TC_API size_t tc_read_memstats_sized(tc_memstats *out, size_t size);
/* The entry point of binaries built before the struct was versioned: it
 * fills the fields up to gc_idle_mark_ns. Source code reaches
 * tc_read_memstats_sized through the macro. */
TC_API void tc_read_memstats(tc_memstats *out);
#define tc_read_memstats(out) tc_read_memstats_sized((out), sizeof *(out))

/* Pause and assist histograms, log-bucketed (8 buckets per power of two,
 * from 1 us to about 18 minutes, under 13% wide), counted since tc_init:
 *   TC_HIST_PAUSE   every stop of the world, from the request to every
 *                   held thread running again;
 *   TC_HIST_TTSP    the same stops' time to stop (request to all parked);
 *   TC_HIST_ASSIST  every mark assist an allocating thread made;
 *   TC_HIST_RESTART the same stops' restart delay: from the release of the
 *                   threads the stop held to the last of them running
 *                   again (the OS's wake-up and, with more runnable
 *                   threads than CPUs, their wait for a CPU; 0 for a stop
 *                   that held none). TC_HIST_PAUSE includes it.
 * tc_read_histogram copies up to n buckets: counts[i] values fell in
 * (upper_ns[i-1], upper_ns[i]] (the last bucket's bound is UINT64_MAX); it
 * returns the number of buckets there are (call with n 0 to size the
 * arrays), or 0 with errno EINVAL for an unknown histogram.
 * tc_pause_quantile(q), 0 <= q <= 1: the upper bound of the bucket that
 * holds the q-quantile of TC_HIST_PAUSE (0 when nothing stopped; UINT64_MAX
 * with errno EINVAL for a q outside [0, 1]). Lock-free, as tc_read_memstats. */
enum { TC_HIST_PAUSE = 0, TC_HIST_TTSP = 1, TC_HIST_ASSIST = 2, TC_HIST_RESTART = 3 };
TC_API size_t tc_read_histogram(int which, uint64_t *counts, uint64_t *upper_ns, size_t n);
TC_API uint64_t tc_pause_quantile(double q);


/* Cycle events: fn(arg, ev) is called at each cycle's start (after its
 * first stop), at mark termination (after the last stop) and when its
 * sweep is done, with the cycle's figures so far. It runs on a library
 * thread of its own (started at the first registration), with no library
 * lock held; that thread is not attached (fn must not touch the heap).
 * Events queue (up to 1024); a callback slower than the cycles loses the
 * oldest, counted in gc_events_dropped. One callback: a second
 * registration replaces it, NULL removes it; either returns once a call
 * of the old one in progress has returned (so its arg may be freed then),
 * except when made from inside that call.
 * 0, or -1 with errno. ev->size
 * is the bytes of the struct the library filled: read a field only if it
 * lies below it. The stopped collector (gcstoptheworld=1) posts the three
 * at once after its one stop, sweep_ns 0 (it sweeps lazily). */
enum { TC_GC_EVENT_START = 1, TC_GC_EVENT_MARK_DONE = 2, TC_GC_EVENT_SWEEP_DONE = 3 };
typedef struct tc_gc_event {
    size_t size;
    int kind;            /* TC_GC_EVENT_* */
    int forced;          /* tc_collect asked for it */
    uint32_t cycle;      /* num_gc once it ends: the first cycle is 1 */
    uint32_t stops;      /* stops of the world so far */
    uint64_t time_ns;    /* when, ns since the epoch */
    uint64_t pause_ns;   /* the cycle's stops so far, together */
    uint64_t heap_start_bytes; /* the heap when the cycle started */
    uint64_t heap_end_bytes;   /* at mark termination (0 before it) */
    uint64_t live_bytes;       /* what the mark kept (0 before it) */
    uint64_t goal_bytes;       /* the goal the cycle worked to; then the next one */
    uint64_t mark_ns;          /* the concurrent mark's length (0 before it) */
    uint64_t sweep_ns;         /* the sweep's length (SWEEP_DONE only) */
} tc_gc_event;
TC_API int tc_on_gc_event(void (*fn)(void *arg, const tc_gc_event *ev), void *arg);

/* Heap profiles: one allocation is sampled per about `rate` bytes
 * allocated (TRICOLOR_DEBUG=memprofilerate=N, default 524288; 1 samples
 * every allocation, 0 none), with its call stack. tc_write_heap_profile
 * writes the profile in pprof's format (protobuf; `go tool pprof` and
 * `pprof` read it): alloc_objects, alloc_space, inuse_objects and
 * inuse_space, scaled to estimates of all allocations as Go's are; in use
 * means not yet found dead by a sweep (right after tc_collect: the live
 * objects). 0, or -1 with errno. Any thread; it copies the records out and
 * writes with no library lock held. tc_set_mem_profile_rate returns the
 * previous rate; the calling thread takes the new one at once, every other
 * thread at its next window refill (within 64 allocations of a size) or
 * large object. Call it after tc_init, which sets the rate from
 * TRICOLOR_DEBUG (or the default); before, it is refused (0, EPERM). */
TC_API int tc_write_heap_profile(FILE *f);
TC_API size_t tc_set_mem_profile_rate(size_t bytes);
/* Guest frames: an interpreter registers fn, which the allocating thread
 * calls at each sample (inside the allocation: it must not allocate from
 * the heap, block or call the library) to fill up to max frames of the
 * program it runs, innermost first, and return how many. Every allocating
 * thread calls it, concurrently: fn finds the running program's state from
 * the thread (a thread-local), arg is shared. The strings must stay valid
 * until fn's next call on that thread (they are copied). Every frame it
 * counts must have its function set: the count is cut at the first frame
 * left without one (reported once). The sample's stack is those frames,
 * then the native ones. NULL removes it; either
 * returns once the calls of the old fn in progress have returned. */
typedef struct tc_frame {
    const char *function;
    const char *file;
    int64_t line;
} tc_frame;
TC_API void tc_set_profile_frames(int (*fn)(void *arg, tc_frame *frames, int max), void *arg);

/* The statistics and histograms in Prometheus' text exposition format
 * (version 0.0.4), for a /metrics endpoint: every tc_memstats figure and
 * the four histograms (docs/observability.md lists the names). Lock-free
 * as tc_read_memstats. 0, or -1 with errno (EINVAL: f NULL; EIO). */
TC_API int tc_write_prometheus(FILE *f);

/* ---- Pools (docs/api.md) ---------------------------------------------------
 * Reusable objects, emptied a generation per cycle (Go's sync.Pool): an
 * entry put before cycle N can be got after it and is dropped at N + 1.
 * get returns a pooled entry or make(arg) (NULL without make); put of a
 * full shard drops the entry. A native pool holds memory outside the heap
 * and calls release(buf, arg) for every entry it drops or still holds at
 * destroy, outside any collector lock. Calls need an attached thread
 * outside a blocking region; destroy only once no other thread uses the
 * pool. The counters are read without stopping anything. */
typedef struct tc_pool tc_pool;
typedef struct tc_pool_counts {
    uint64_t gets, hits, victim_hits, misses, puts, dropped;
} tc_pool_counts;
TC_API tc_pool *tc_pool_create(void *(*make)(void *arg), void *arg);
TC_API tc_pool *tc_pool_create_native(void *(*make)(void *arg),
                                      void (*release)(void *buf, void *arg), void *arg);
TC_API void *tc_pool_get(tc_pool *pool);
TC_API void tc_pool_put(tc_pool *pool, void *obj);
TC_API void tc_pool_destroy(tc_pool *pool);
TC_API void tc_pool_read_counts(tc_pool *pool, tc_pool_counts *out);

/* ---- Weak references, ephemerons, finalizers (docs/api.md) ---------------
 * Handles live outside the heap; every call needs an attached thread
 * outside a blocking region (else it fails with errno EPERM), and objects
 * are named by their start (else EINVAL). */

/* A weak reference: tc_weak_get returns obj until a cycle finds obj
 * unreachable (other weak references and ephemerons do not count), then
 * NULL for good. Safe against a concurrent mark: what it returns is kept.
 * A handle destroyed twice or used after its destroy is reported (EINVAL)
 * while it is among the last 1,024 destroyed; beyond that, undefined as
 * free's (docs/api.md). */
typedef struct tc_weak tc_weak;
TC_API tc_weak *tc_weak_create(void *obj);
TC_API void *tc_weak_get(tc_weak *w);
TC_API void tc_weak_destroy(tc_weak *w);

/* An ephemeron: value is kept alive while key is reachable by other paths
 * (not through value); once key is found unreachable both read NULL. */
typedef struct tc_ephemeron tc_ephemeron;
TC_API tc_ephemeron *tc_ephemeron_create(void *key, void *value);
TC_API void *tc_ephemeron_key(tc_ephemeron *e);
TC_API void *tc_ephemeron_value(tc_ephemeron *e);
TC_API void tc_ephemeron_destroy(tc_ephemeron *e);

/* Runs fn(obj, arg) once, after a cycle finds obj unreachable; obj and
 * everything it reaches stay intact until fn returns. fn NULL removes the
 * finalizer. 0, or -1 with errno set. Finalizers run on a library thread,
 * or, after tc_finalizer_thread_disable, only in tc_finalizers_run_pending
 * (which returns how many it ran). The enable/disable calls return whether
 * the thread was enabled before. */
TC_API int tc_set_finalizer(void *obj, void (*fn)(void *obj, void *arg), void *arg);
TC_API int tc_finalizers_run_pending(void);
TC_API int tc_finalizer_thread_disable(void);
TC_API int tc_finalizer_thread_enable(void);
/* Objects with a finalizer now, finalizers queued and run since tc_init. */
TC_API void tc_finalizer_counts(uint64_t *registered, uint64_t *queued, uint64_t *run);

/* Memory the program holds outside the heap on behalf of heap objects (a
 * string's malloc'd bytes, a native buffer): bytes > 0 when it takes such
 * memory, < 0 when it frees it (from the finalizer that frees it, say).
 * The pacer counts it with the heap: toward TRICOLOR_GC's goal as live
 * data and toward the memory limit (docs/api.md). From any thread,
 * attached or not, finalizers included; never fails: a subtraction below
 * 0 clamps at 0 (warned once on stderr). An attached thread past the
 * trigger asks for a cycle, as an allocation does; any other call only
 * counts. A few atomic operations. */
TC_API void tc_external_add(int64_t bytes);

#ifdef __cplusplus
}
#endif
#endif /* TRICOLOR_H */
