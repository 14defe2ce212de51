/* testutil.h: helpers the white-box unit tests share: pointers hidden from
 * the conservative scan, "did this object survive?", and clearing the dead
 * stack so stale words left by earlier calls do not act as roots. Header
 * only: each test binary links nothing but the library and model.o. */
#ifndef TC_TEST_UTIL_H
#define TC_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <sched.h>
#include <sys/types.h>
#include <unistd.h>

#include "heap.h" /* liveness checks look objects and mark bits up */
#include "testing.h"
#include "model.h"

/* Built with AddressSanitizer or ThreadSanitizer (GCC's macros), whose
 * runtimes may refuse what the OS would map. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZED 1
#else
#define TEST_SANITIZED 0
#endif

/* A pointer XORed with this is no address in the heap (the top bits are
 * set), so a conservative scan of memory holding it finds nothing. */
#define TEST_HIDE_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5u)

static inline uintptr_t test_hide(const void *p)
{
    return (uintptr_t)p ^ TEST_HIDE_MASK;
}

static inline void *test_unhide(uintptr_t h)
{
    return (void *)(h ^ TEST_HIDE_MASK);
}

/* Whether p lies inside an allocated object. Exact only right after
 * tc_collect() and before the caller allocates again: the collection
 * flushed every cache (alloc_bits are written back) and swept every span
 * (alloc_bits are the marks). */
static inline int test_is_live(const void *p)
{
    tci_span *s;
    uint32_t idx;
    return tci_find_object((uintptr_t)p, &s, &idx) != 0;
}

/* Zeroes 64 KiB of the dead stack below the caller, where the frames of
 * tc_collect are about to lie: a frame's unwritten slots would otherwise
 * still hold pointers from earlier, deeper calls. */
/* Not instrumented: under ASan the array would sit between red zones,
 * which the loop would not clear, and a stale pointer there kept a
 * dropped object alive (found by tests/test_special.c). */
static __attribute__((noinline, no_sanitize_address)) void test_clear_stack(void)
{
    volatile uintptr_t buf[8192];
    for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++)
        buf[i] = 0;
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* tc_collect() with the dead stack cleared first. */
static inline void test_collect(void)
{
    test_clear_stack();
    tc_collect();
}

/* Sets TRICOLOR_DEBUG=verify=1 unless the caller's environment says
 * otherwise: every collection of the test then runs the heap verifier. */
static inline void test_env_verify(void)
{
    setenv("TRICOLOR_DEBUG", "verify=1", 0);
}

/* test_env_verify() and tc_init(): 0, or -1 with the reason printed. */
static inline int test_init_verified(void)
{
    test_env_verify();
    if (tc_init() != 0) {
        perror("tc_init");
        return -1;
    }
    return 0;
}

static inline tc_memstats test_stats(void)
{
    tc_memstats ms;
    tc_read_memstats(&ms);
    return ms;
}

/* cmocka group setup: test_init_verified(). */
static inline int test_group_setup_verified(void **state)
{
    (void)state;
    return test_init_verified();
}

/* cmocka group setup: test_init_verified(), then every allocation
 * sampled for the heap profile, whatever TRICOLOR_DEBUG says (the tests
 * of profiles demand exact figures). */
static inline int test_group_setup_profiled(void **state)
{
    if (test_group_setup_verified(state) != 0)
        return -1;
    tc_set_mem_profile_rate(1);
    return 0;
}

/* For test_fresh_call: the mark bit of the object whose address h hides
 * (2: not an object). In a frame of its own, so no copy of the address
 * stays in the caller's frame (one kept a dropped object alive once the
 * lookup was inlined differently). */
static inline uintptr_t test_hidden_mark(uintptr_t h, uintptr_t b, uintptr_t c)
{
    (void)b, (void)c;
    tci_span *s = NULL;
    uint32_t idx = 0;
    if (!tci_find_object(h ^ TEST_HIDE_MASK, &s, &idx))
        return 2;
    return (uintptr_t)tci_mark_get(s, idx);
}

/* How many of the n objects whose hidden addresses are in h are marked,
 * each looked up in a fresh frame (test_hidden_mark). */
static inline size_t test_hidden_marked(const uintptr_t *h, size_t n)
{
    size_t marked = 0;
    for (size_t i = 0; i < n; i++)
        marked += test_fresh_call(test_hidden_mark, h[i], 0, 0) == 1;
    return marked;
}

/* The state letter of thread tid of this process ('S': sleeping), or 0
 * once it has exited. */
static inline char test_thread_state(pid_t tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *close = strrchr(buf, ')');
    return close && close[1] == ' ' ? close[2] : 0;
}

/* For the tests that a call waits (unregistering a callback while its
 * call is held): yields until the thread whose id lands in *tid (gettid,
 * stored with release by the thread itself) is asleep, has exited, or has
 * set *done, wrongly, because the call returned without waiting. */
static inline void test_wait_thread_asleep(tci_atomic *tid, tci_atomic *done)
{
    while (!tci_atomic_load_acquire(tid))
        sched_yield();
    pid_t t = (pid_t)tci_atomic_load_acquire(tid);
    char st;
    while (!tci_atomic_load_acquire(done) && (st = test_thread_state(t)) != 'S' && st != 0)
        sched_yield();
}

/* A node of a test graph: two pointer slots, and an id with a pattern
 * derived from it, so that a node freed and reused under a live
 * reference is caught (test_node_ok). test_node_type() makes the type
 * at its first call: make that call before any other thread allocates. */
typedef struct test_node test_node;
struct test_node {
    test_node *l, *r;
    uint64_t id;
    uint64_t pat[5];
};

static inline const tc_type *test_node_type(void)
{
    static const tc_type *t;
    if (!t) {
        static const size_t offs[2] = {offsetof(test_node, l), offsetof(test_node, r)};
        t = tc_type_new("test.node", sizeof(test_node), offs, 2);
    }
    return t;
}

static inline test_node *test_node_new(uint64_t id)
{
    test_node *n = tc_alloc(test_node_type());
    if (!n) {
        fprintf(stderr, "test_node_new: out of memory\n");
        abort();
    }
    n->id = id;
    for (int i = 0; i < 5; i++)
        n->pat[i] = id * 0x9e3779b97f4a7c15ull + (uint64_t)i;
    return n;
}

/* Whether n is the node test_node_new(id) made, intact (NULL: no). */
static inline int test_node_ok(const test_node *n, uint64_t id)
{
    if (!n || n->id != id)
        return 0;
    for (int i = 0; i < 5; i++)
        if (n->pat[i] != id * 0x9e3779b97f4a7c15ull + (uint64_t)i)
            return 0;
    return 1;
}

/* The process's resident bytes (/proc/self/statm). */
static inline uint64_t test_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident;
    if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2) {
        perror("test_rss_bytes: /proc/self/statm");
        abort();
    }
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* A pointer-free object whose bytes are a function of tag, and the check. */
static inline int test_pattern_ok(const void *p, size_t size, uintptr_t tag)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < size; i++)
        if (b[i] != (unsigned char)(tag * 131 + i))
            return 0;
    return 1;
}

static inline void *test_pattern_alloc(size_t size, uintptr_t tag)
{
    unsigned char *p = tc_alloc_atomic(size);
    if (p)
        for (size_t i = 0; i < size; i++)
            p[i] = (unsigned char)(tag * 131 + i);
    return p;
}

#endif
