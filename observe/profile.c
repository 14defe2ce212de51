/* profile.c: sampled heap profiling (Go's MemProfile), written in pprof's
 * format by tc_write_heap_profile.
 *
 * 1. Sampling. Each thread's cache counts down the bytes to its next
 *    sample (one subtraction and a branch on the allocation fast path);
 *    the intervals are drawn from an exponential distribution with the
 *    rate as its mean, as Go's are, so that a program allocating in a
 *    fixed pattern is not sampled in step with it. The countdown counts
 *    what objects take (slots, pages), as Go's does, so the scaling below
 *    holds. A rate change bumps an epoch; a thread draws its countdown
 *    again at its next window refill or large object when the epoch moved
 *    (and the calling thread at once).
 * 2. A sample records the allocating stack: the guest frames an
 *    interpreter hands over (tc_set_profile_frames), then the native
 *    return addresses (backtrace), from the program's call into tc_alloc*
 *    outwards. Samples with the same stack and object size share a bucket,
 *    which counts what was allocated and what was freed.
 * 3. Frees. A sampled object's address goes into a table, and its span
 *    counts its sampled objects; sweeping a span with any looks up each
 *    slot it frees (gc/sweep.c), so a span without samples costs the sweep
 *    one load.
 * 4. Writing copies the buckets out under the lock, then scales each to an
 *    estimate of all allocations (Go's scaleHeapSample: a sample of size s
 *    stands for 1 / (1 - exp(-s/rate)) allocations) and encodes them
 *    (pprof.c) with no lock held: a slow FILE holds up nothing.
 *
 * glibc's rwlocks prefer readers: with every thread sampling all the time
 * (rate 1), tc_set_profile_frames may wait long for its write side.
 *
 * What it sees of the collector is gc/observable.h (the init flag, the
 * other_sys counter, the address hash, the calling thread's countdown):
 * the allocation path hands it the slot size and the span's sample count
 * (observe.h), and the sweep a profiled span's base, so the span layout
 * stays in gc/. The countdown itself is the collector's (gc/cache.c):
 * it is inlined in the allocation fast path.
 *
 * Locks: profile_lock protects the buckets and the address table. Taken
 * by a sampling thread (no safepoint inside, so a stop never waits for a
 * parked holder) and by sweepers; nothing is taken under it.
 */
#include <errno.h>
#include <execinfo.h>
#include <stdio.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fork.h"
#include "atomic.h"
#include "lock.h"
#include "observable.h"
#include "observe.h"
#include "os.h"
#include "pprof.h"
#include "thread.h"
#include "tricolor.h"

#define MAX_NATIVE 32
#define MAX_GUEST 32
#define OFF_COUNTDOWN (INT64_MAX / 2)

typedef struct bucket {
    struct bucket *next; /* hash chain */
    uint64_t hash;
    uint64_t size;       /* object bytes (the slot's) */
    uint64_t allocs, frees;
    size_t npcs, nguest;
    uintptr_t *pcs;
    tc_frame *guest;     /* strings owned */
} bucket;

typedef struct sampled {
    struct sampled *next;
    uintptr_t addr;
    bucket *b;
} sampled;

static tci_mutex profile_lock = TCI_MUTEX_INIT(TCI_RANK_PROFILE, "profile_lock");
TCI_FORK_LOCK(profile_lock)
static bucket **buckets;   /* profile_lock */
static size_t nbuckets_cap, nbuckets;
static sampled **objs;     /* profile_lock: address -> bucket */
static size_t nobjs_cap, nobjs;
static tci_atomic rate_bytes, rate_epoch, samples_taken;
/* The guest-frame hook: read-held across each call, so that replacing it
 * waits for calls in progress (the program may then free its arg). */
static int (*frames_fn)(void *, tc_frame *, int);
static void *frames_arg;
static pthread_rwlock_t frames_lock = PTHREAD_RWLOCK_INITIALIZER;
/* Set while this thread takes a sample: a guest callback that breaks its
 * contract and allocates is not sampled again (no recursion). */
static __thread int in_sample;

/* The guest hook's frames, its count checked against what it filled: the
 * frames are cleared first, and the count ends at the first frame left
 * without a function (a hook that returned more than it wrote had the
 * library copy uninitialised pointers). Under frames_lock (read). */
static int guest_frames(tc_frame *guest)
{
    static tci_atomic reported;
    memset(guest, 0, MAX_GUEST * sizeof *guest);
    int said = frames_fn(frames_arg, guest, MAX_GUEST);
    int ng = said < 0 ? 0 : said > MAX_GUEST ? MAX_GUEST : said;
    int filled = 0;
    while (filled < ng && guest[filled].function)
        filled++;
    if ((said < 0 || said > filled) && tci_atomic_cas_full(&reported, 0, 1))
        fprintf(stderr, "tricolor: the tc_set_profile_frames hook returned %d frames but "
                        "filled %d (at most %d, each with a function): using %d (reported "
                        "once)\n", said, filled, MAX_GUEST, filled);
    return filled;
}

void tci_profile_init(size_t rate)
{
    tci_atomic_store_relaxed(&rate_bytes, rate);
    /* glibc loads the unwinder on backtrace's first call: here, not
     * inside the first sampled allocation. */
    void *warm[2];
    (void)backtrace(warm, 2);
}

uint64_t tci_profile_epoch(void)
{
    return tci_atomic_load_relaxed(&rate_epoch);
}

void tci_profile_read_counts(uint64_t *rate, uint64_t *samples)
{
    *rate = tci_atomic_load_relaxed(&rate_bytes);
    *samples = tci_atomic_load_relaxed(&samples_taken);
}

size_t tc_set_mem_profile_rate(size_t bytes)
{
    if (!tci_init_done) {
        /* tc_init sets the rate from TRICOLOR_DEBUG: refused, not lost. */
        fprintf(stderr, "tricolor: tc_set_mem_profile_rate: call tc_init() first (refused)\n");
        errno = EPERM;
        return 0;
    }
    uintptr_t old = tci_atomic_load_relaxed(&rate_bytes);
    while (!tci_atomic_cas_full(&rate_bytes, old, bytes))
        old = tci_atomic_load_relaxed(&rate_bytes);
    tci_atomic_add_full(&rate_epoch, 1);
    tci_cache_sample_reset();
    return (size_t)old;
}

int64_t tci_profile_next(uint64_t *rng, uint64_t *epoch)
{
    /* The epoch first, with acquire: a thread that records the new epoch
     * reads the new rate (its writer stores the rate, then bumps the
     * epoch with a full barrier). */
    *epoch = tci_atomic_load_acquire(&rate_epoch);
    uint64_t rate = tci_atomic_load_relaxed(&rate_bytes);
    if (rate == 0)
        return OFF_COUNTDOWN;
    if (rate == 1)
        return 0; /* every allocation */
    /* xorshift64*: the thread's own stream. */
    uint64_t x = *rng ? *rng : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    double u = (double)((x * 0x2545f4914f6cdd1dull) >> 11) * (1.0 / 9007199254740992.0);
    double next = -log(1.0 - u) * (double)rate; /* u in [0, 1): no log(0) */
    return next > (double)OFF_COUNTDOWN ? OFF_COUNTDOWN : (int64_t)next;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t str_hash(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = mix(h, (unsigned char)*s);
    return mix(h, 0xff);
}

static int same_stack(const bucket *b, uint64_t size, const uintptr_t *pcs, size_t npcs,
                      const tc_frame *g, size_t ng)
{
    if (b->size != size || b->npcs != npcs || b->nguest != ng)
        return 0;
    if (memcmp(b->pcs, pcs, npcs * sizeof *pcs) != 0)
        return 0;
    for (size_t i = 0; i < ng; i++) {
        const char *x = g[i].function ? g[i].function : "", *y = b->guest[i].function;
        const char *fx = g[i].file ? g[i].file : "", *fy = b->guest[i].file;
        if (strcmp(x, y) != 0 || strcmp(fx, fy) != 0 || g[i].line != b->guest[i].line)
            return 0;
    }
    return 1;
}

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

/* A new table of twice old_n chains (1,024 at first), counted in
 * other_sys; *n gets its size. NULL when out of memory. */
static void **table_double(size_t old_n, size_t *n)
{
    *n = old_n ? old_n * 2 : 1024;
    void **t = calloc(*n, sizeof *t);
    if (t)
        tci_atomic_add_full(&tci_stats_other_sys_bytes, (*n - old_n) * sizeof *t);
    return t;
}

/* Doubles the bucket table; under profile_lock. 0, or -1. */
static int grow_buckets_locked(void)
{
    tci_assert_held(&profile_lock);
    size_t n;
    bucket **t = (bucket **)table_double(nbuckets_cap, &n);
    if (!t)
        return -1;
    for (size_t i = 0; i < nbuckets_cap; i++)
        for (bucket *b = buckets[i], *next; b; b = next) {
            next = b->next;
            b->next = t[b->hash & (n - 1)];
            t[b->hash & (n - 1)] = b;
        }
    free(buckets);
    buckets = t;
    nbuckets_cap = n;
    return 0;
}

/* Doubles the address table; under profile_lock. 0, or -1. */
static int grow_objs_locked(void)
{
    tci_assert_held(&profile_lock);
    size_t n;
    sampled **t = (sampled **)table_double(nobjs_cap, &n);
    if (!t)
        return -1;
#define SAMPLED_KEY(o) ((o)->addr)
    TCI_ADDR_REHASH(sampled, next, SAMPLED_KEY, objs, nobjs_cap, t, n);
    free(objs);
    objs = t;
    nobjs_cap = n;
    return 0;
}

static size_t obj_slot(uintptr_t addr)
{
    return tci_addr_hash(addr, nobjs_cap);
}

/* Finds or makes the bucket; under profile_lock. NULL when out of memory. */
static bucket *bucket_get_locked(uint64_t size, const uintptr_t *pcs, size_t npcs,
                                 const tc_frame *g, size_t ng)
{
    tci_assert_held(&profile_lock);
    uint64_t h = mix(0, size);
    for (size_t i = 0; i < npcs; i++)
        h = mix(h, pcs[i]);
    for (size_t i = 0; i < ng; i++)
        h = mix(str_hash(str_hash(h, g[i].function), g[i].file), (uint64_t)g[i].line);
    if (nbuckets >= nbuckets_cap && grow_buckets_locked() != 0)
        return NULL;
    for (bucket *b = buckets[h & (nbuckets_cap - 1)]; b; b = b->next)
        if (b->hash == h && same_stack(b, size, pcs, npcs, g, ng))
            return b;
    bucket *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->pcs = malloc((npcs ? npcs : 1) * sizeof *pcs);
    b->guest = calloc(ng ? ng : 1, sizeof *b->guest);
    if (!b->pcs || !b->guest) {
        free(b->pcs);
        free(b->guest);
        free(b);
        return NULL;
    }
    memcpy(b->pcs, pcs, npcs * sizeof *pcs);
    size_t bytes = sizeof *b + npcs * sizeof *pcs + ng * sizeof *b->guest;
    for (size_t i = 0; i < ng; i++) {
        b->guest[i].function = dup_str(g[i].function);
        b->guest[i].file = dup_str(g[i].file);
        b->guest[i].line = g[i].line;
        if (!b->guest[i].function || !b->guest[i].file) {
            for (size_t j = 0; j <= i; j++) {
                free((char *)b->guest[j].function);
                free((char *)b->guest[j].file);
            }
            free(b->pcs);
            free(b->guest);
            free(b);
            return NULL;
        }
        bytes += strlen(b->guest[i].function) + strlen(b->guest[i].file) + 2;
    }
    b->hash = h;
    b->size = size;
    b->npcs = npcs;
    b->nguest = ng;
    b->next = buckets[h & (nbuckets_cap - 1)];
    buckets[h & (nbuckets_cap - 1)] = b;
    nbuckets++;
    tci_atomic_add_full(&tci_stats_other_sys_bytes, bytes);
    return b;
}

void tci_profile_sample(void *p, size_t elemsize, tci_atomic *span_samples, uintptr_t caller)
{
    if (in_sample || tci_atomic_load_relaxed(&rate_bytes) == 0)
        return;
    in_sample = 1;
    uintptr_t pcs[MAX_NATIVE + 8];
    void *raw[MAX_NATIVE + 8];
    int n = backtrace(raw, MAX_NATIVE + 8);
    /* Drop the library's frames: everything up to the program's call into
     * tc_alloc* (its return address, which the entry point passed). */
    int from = 0;
    for (int i = 0; i < n; i++)
        if ((uintptr_t)raw[i] == caller) {
            from = i;
            break;
        }
    size_t npcs = 0;
    for (int i = from; i < n && npcs < MAX_NATIVE; i++)
        pcs[npcs++] = (uintptr_t)raw[i];
    tc_frame guest[MAX_GUEST];
    int ng = 0;
    pthread_rwlock_rdlock(&frames_lock); /* released below, after the copy */
    if (frames_fn)
        ng = guest_frames(guest);
    tci_mutex_lock(&profile_lock); /* released below */
    /* The guest strings are copied into a new bucket here, while the
     * callback's promise (valid until its next call) still holds. */
    bucket *b = bucket_get_locked(elemsize, pcs, npcs, guest, (size_t)ng);
    pthread_rwlock_unlock(&frames_lock);
    tci_thread *self = tci_thread_self();
    /* The watchdog's view of this thread (runtime/thread.h). Release:
     * partner the acquire in world.c's watch_thread, which reads the
     * bucket's frames (immutable once made). */
    if (b && self)
        tci_atomic_store_release(&self->poll_sample, (uintptr_t)b);
    sampled *o = b ? malloc(sizeof *o) : NULL;
    if (o && nobjs >= nobjs_cap / 2 && grow_objs_locked() != 0) {
        free(o);
        o = NULL;
    }
    if (o) {
        b->allocs++;
        o->addr = (uintptr_t)p;
        o->b = b;
        size_t h = obj_slot(o->addr);
        o->next = objs[h];
        objs[h] = o;
        nobjs++;
        tci_atomic_add_full(span_samples, 1);
        tci_atomic_add_full(&tci_stats_other_sys_bytes, sizeof *o);
        tci_atomic_add_full(&samples_taken, 1);
    }
    /* Out of memory: the sample is lost, the allocation is not. */
    tci_mutex_unlock(&profile_lock);
    in_sample = 0;
}

void tci_profile_freed(tci_atomic *span_samples, uintptr_t base, size_t elemsize, size_t word,
                       uint64_t freed_bits)
{
    tci_mutex_lock(&profile_lock); /* released below */
    while (freed_bits && nobjs_cap && tci_atomic_load_relaxed(span_samples)) {
        unsigned bit = (unsigned)__builtin_ctzll(freed_bits);
        freed_bits &= freed_bits - 1;
        uintptr_t addr = base + (uintptr_t)(word * 64 + bit) * elemsize;
        for (sampled **link = &objs[obj_slot(addr)]; *link; link = &(*link)->next) {
            if ((*link)->addr == addr) {
                sampled *o = *link;
                *link = o->next;
                o->b->frees++;
                nobjs--;
                tci_atomic_sub_full(span_samples, 1);
                tci_atomic_sub_full(&tci_stats_other_sys_bytes, sizeof *o);
                free(o);
                break;
            }
        }
    }
    tci_mutex_unlock(&profile_lock);
}

void tci_profile_write_guest(FILE *f, uintptr_t sample)
{
    const bucket *b = (const bucket *)sample;
    if (!b || !b->nguest)
        return;
    fprintf(f, "tricolor:     guest frames at its last heap-profile sample:");
    for (size_t i = 0; i < b->nguest; i++)
        fprintf(f, "%s %s (%s:%lld)", i ? " <-" : "", b->guest[i].function,
                b->guest[i].file ? b->guest[i].file : "?", (long long)b->guest[i].line);
    fprintf(f, "\n");
}

void tc_set_profile_frames(int (*fn)(void *arg, tc_frame *frames, int max), void *arg)
{
    /* Waits for the calls in progress (they hold the read side), as a
     * blocked thread if attached: a stop must not wait here. */
    int attached = tc_thread_is_attached();
    if (attached)
        tc_blocking_begin();
    pthread_rwlock_wrlock(&frames_lock); /* released below */
    frames_fn = fn;
    frames_arg = arg;
    pthread_rwlock_unlock(&frames_lock);
    if (attached)
        tc_blocking_end();
}

/* Go's scaleHeapSample: a sample of `size`-byte objects stands for
 * 1 / (1 - exp(-size/rate)) of them. */
static double scale(uint64_t size, uint64_t rate)
{
    if (rate <= 1 || size == 0)
        return 1.0;
    return 1.0 / (1.0 - exp(-(double)size / (double)rate));
}

int tc_write_heap_profile(FILE *f)
{
    if (!f) {
        errno = EINVAL;
        return -1;
    }
    uint64_t rate = tci_atomic_load_relaxed(&rate_bytes);
    /* Copied out under the lock, written without it. A bucket's stack and
     * size never change and buckets are never freed: the copy takes the
     * counts and shares the rest. */
    tci_mutex_lock(&profile_lock); /* released below */
    size_t n = nbuckets, k = 0;
    tci_pprof_sample *smp = calloc(n ? n : 1, sizeof *smp);
    bucket *copy = calloc(n ? n : 1, sizeof *copy);
    int ok = smp && copy;
    for (size_t i = 0; ok && i < nbuckets_cap; i++)
        for (bucket *b = buckets[i]; b; b = b->next)
            copy[k++] = *b;
    tci_mutex_unlock(&profile_lock);
    int rc = -1;
    if (ok) {
        for (size_t i = 0; i < k; i++) {
            const bucket *b = &copy[i];
            double sc = scale(b->size, rate);
            uint64_t inuse = b->allocs - b->frees;
            smp[i] = (tci_pprof_sample){
                .pcs = b->pcs, .npcs = b->npcs, .guest = b->guest, .nguest = b->nguest,
                /* Truncated, as Go's scaleHeapSample's callers do. */
                .values = {(int64_t)(b->allocs * sc), (int64_t)(b->allocs * sc * b->size),
                           (int64_t)(inuse * sc), (int64_t)(inuse * sc * b->size)},
                .object_bytes = (int64_t)b->size,
            };
        }
        rc = tci_pprof_write_heap(f, smp, k, (int64_t)rate, (int64_t)tci_os_wall_ns());
    } else {
        errno = ENOMEM;
    }
    int saved = errno;
    free(copy);
    free(smp);
    errno = saved;
    return rc;
}
