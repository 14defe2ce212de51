/* testutil.h: helpers the white-box unit tests share: pointers hidden from
 * the conservative scan, "did this object survive?", and clearing the dead
 * stack so stale words left by earlier calls do not act as roots. Header
 * only: each test binary links nothing but the library and model.o. */
#ifndef TC_TEST_UTIL_H
#define TC_TEST_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "gc.h"

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
