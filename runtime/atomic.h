/* atomic.h: every atomic operation of the library, over libatomic_ops.
 *
 * The only includer of <atomic_ops.h>, and the only user of the compiler's
 * __atomic builtins (the public header's inline tc_store aside, which must
 * stand alone). Memory order is in each name; the typed struct makes a
 * plain read or write of an atomic field fail to compile.
 */
#ifndef TCI_ATOMIC_H
#define TCI_ATOMIC_H

#include <atomic_ops.h>
#include <sched.h>
#include <stdint.h>

#if !defined(AO_HAVE_load) || !defined(AO_HAVE_load_acquire) || \
    !defined(AO_HAVE_store) || !defined(AO_HAVE_store_release) || \
    !defined(AO_HAVE_fetch_and_add_full) || \
    !defined(AO_HAVE_fetch_compare_and_swap_full) || \
    !defined(AO_HAVE_compare_and_swap_full) || !defined(AO_HAVE_nop_full)
#error "libatomic_ops lacks an operation tricolor needs on this platform"
#endif

typedef struct { volatile AO_t v; } tci_atomic;

static inline uintptr_t tci_atomic_load_relaxed(const tci_atomic *a)
{
    return (uintptr_t)AO_load(&a->v);
}
static inline uintptr_t tci_atomic_load_acquire(const tci_atomic *a)
{
    return (uintptr_t)AO_load_acquire(&a->v);
}
static inline void tci_atomic_store_relaxed(tci_atomic *a, uintptr_t x)
{
    AO_store(&a->v, (AO_t)x);
}
static inline void tci_atomic_store_release(tci_atomic *a, uintptr_t x)
{
    AO_store_release(&a->v, (AO_t)x);
}
/* Returns the old value. */
static inline uintptr_t tci_atomic_add_full(tci_atomic *a, uintptr_t x)
{
    return (uintptr_t)AO_fetch_and_add_full(&a->v, (AO_t)x);
}
static inline uintptr_t tci_atomic_sub_full(tci_atomic *a, uintptr_t x)
{
    return (uintptr_t)AO_fetch_and_add_full(&a->v, (AO_t)(0 - x));
}
/* Returns nonzero when *a was `old` and is now `new_`. */
static inline int tci_atomic_cas_full(tci_atomic *a, uintptr_t old, uintptr_t new_)
{
    return AO_compare_and_swap_full(&a->v, (AO_t)old, (AO_t)new_);
}
/* Returns the value seen. */
static inline uintptr_t tci_atomic_fetch_cas_full(tci_atomic *a, uintptr_t old, uintptr_t new_)
{
    return (uintptr_t)AO_fetch_compare_and_swap_full(&a->v, (AO_t)old, (AO_t)new_);
}
static inline void tci_atomic_fence_full(void)
{
    AO_nop_full();
}

/* One turn of a spin loop: keeps the compiler from hoisting the loads. */
static inline void tci_cpu_relax(void)
{
    AO_compiler_barrier();
}

/* Clears the bits of `mask` in *a. */
static inline void tci_atomic_and_not(tci_atomic *a, uintptr_t mask)
{
    AO_and(&a->v, (AO_t)~mask);
}

/* Sets the bits of `mask` in *a; returns nonzero when this call set any of them. */
static inline int tci_atomic_or_test(tci_atomic *a, uintptr_t mask)
{
    uintptr_t old = tci_atomic_load_relaxed(a);
    for (;;) {
        if ((old & mask) == mask)
            return 0;
        uintptr_t seen = tci_atomic_fetch_cas_full(a, old, old | mask);
        if (seen == old)
            return 1;
        old = seen;
    }
}

/* Clears the bits of `mask` in *a; returns nonzero when this call cleared
 * any of them. */
static inline int tci_atomic_and_test(tci_atomic *a, uintptr_t mask)
{
    uintptr_t old = tci_atomic_load_relaxed(a);
    for (;;) {
        if (!(old & mask))
            return 0;
        uintptr_t seen = tci_atomic_fetch_cas_full(a, old, old & ~mask);
        if (seen == old)
            return 1;
        old = seen;
    }
}

/* Atomic access to plain fields: span bitmap words, small state fields,
 * pointers in tables and slots, the barrier's flag. These are not
 * tci_atomic because their layout is shared (the bitmaps are scanned a
 * word at a time, the flag is the public header's) or because a field is
 * written once and read by one racing reader. The order is in the name;
 * the caller names the partner of every acquire and release. */
static inline uint64_t tci_word_load_relaxed(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void tci_word_store_relaxed(uint64_t *p, uint64_t x)
{
    __atomic_store_n(p, x, __ATOMIC_RELAXED);
}
static inline uint32_t tci_u32_load_acquire(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void tci_u32_store_release(uint32_t *p, uint32_t x)
{
    __atomic_store_n(p, x, __ATOMIC_RELEASE);
}
static inline uint8_t tci_u8_load_acquire(const uint8_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void tci_u8_store_release(uint8_t *p, uint8_t x)
{
    __atomic_store_n(p, x, __ATOMIC_RELEASE);
}
static inline int tci_int_load_relaxed(const volatile int *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void tci_int_store_release(volatile int *p, int x)
{
    __atomic_store_n(p, x, __ATOMIC_RELEASE);
}
static inline int tci_int_load_acquire(const volatile int *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
/* Returns nonzero when *p was `old` and is now `new_` (release on success,
 * so what the caller wrote before is seen by an acquire load of new_). */
static inline int tci_int_cas_release(volatile int *p, int old, int new_)
{
    return __atomic_compare_exchange_n(p, &old, new_, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}
static inline uintptr_t tci_uptr_load_relaxed(const uintptr_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline uintptr_t tci_uptr_load_acquire(const uintptr_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void tci_uptr_store_relaxed(uintptr_t *p, uintptr_t x)
{
    __atomic_store_n(p, x, __ATOMIC_RELAXED);
}
static inline void tci_uptr_store_release(uintptr_t *p, uintptr_t x)
{
    __atomic_store_n(p, x, __ATOMIC_RELEASE);
}
/* Pointers, of any pointer type (p: the address of a pointer field). */
#define tci_ptr_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define tci_ptr_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define tci_ptr_store_relaxed(p, x) __atomic_store_n((p), (x), __ATOMIC_RELAXED)
#define tci_ptr_store_release(p, x) __atomic_store_n((p), (x), __ATOMIC_RELEASE)

/* A sequence count (a seqlock without the lock): one writer at a time,
 * serialised by a lock of the writer's, publishes a group of tci_atomic
 * fields; readers never block it or each other. A reader copies the
 * fields between tci_seq_read_begin and tci_seq_read_retry and copies
 * again when a write overlapped. The fields are atomics (relaxed), so an
 * overlapping copy is a stale read, never a data race. */
typedef struct { tci_atomic seq; } tci_seqcount;

static inline void tci_seq_write_begin(tci_seqcount *s)
{
    tci_atomic_store_relaxed(&s->seq, tci_atomic_load_relaxed(&s->seq) + 1);
    tci_atomic_fence_full(); /* odd before any field: partner tci_seq_read_retry */
}
static inline void tci_seq_write_end(tci_seqcount *s)
{
    /* Every field before even: partner tci_seq_read_begin's acquire. */
    tci_atomic_store_release(&s->seq, tci_atomic_load_relaxed(&s->seq) + 1);
}
/* Returns the count to hand to tci_seq_read_retry; waits out a write in
 * progress (a few stores: the writers never block inside one, but the OS
 * may preempt one there, and on a CPU the reader shares: after a while
 * the reader yields its CPU rather than spin out its time slice). */
static inline uintptr_t tci_seq_read_begin(const tci_seqcount *s)
{
    for (unsigned spins = 0;; spins++) {
        uintptr_t v = tci_atomic_load_acquire(&s->seq);
        if (!(v & 1))
            return v;
        if (spins >= 1024)
            sched_yield();
        else
            tci_cpu_relax();
    }
}
/* Nonzero when a write overlapped the copy since tci_seq_read_begin. */
static inline int tci_seq_read_retry(const tci_seqcount *s, uintptr_t v)
{
    tci_atomic_fence_full(); /* the copy's loads before the second look */
    return tci_atomic_load_relaxed(&s->seq) != v;
}

#endif
