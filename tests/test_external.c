/* test_external.c: memory held outside the heap (tc_external_add): the
 * count from any thread and from finalizers, the clamp, the figures in
 * tc_memstats and Prometheus, the cycle an attached thread's report asks
 * for, and the bound it puts on a program whose small heap objects own big
 * malloc buffers (peak RSS against the live external bytes).
 *
 * TC_EXTERNAL_TOTAL_MIB=N sets the RSS test's total allocation (default
 * 10240, 10 GiB: under 1 s a run here; 512 MiB under the sanitizers);
 * TC_EXTERNAL_UNACCOUNTED=1 runs the same program once more with the
 * accounting off at 1 GiB and prints its peak (the figure the accounting
 * fixes; nothing is asserted of it). TC_RSS_DIRECT=1 runs the program
 * alone (TC_RSS_TOTAL_MIB, TC_RSS_INLINE, TC_RSS_UNACCOUNTED), to trace. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "child.h"
#include "testing.h"
#include "testutil.h"
#include "tricolor.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)

static tc_memstats stats(void)
{
    tc_memstats ms;
    tc_read_memstats(&ms);
    return ms;
}

static void *unattached_add(void *arg)
{
    int64_t n = *(int64_t *)arg;
    for (int i = 0; i < 1000; i++)
        tc_external_add(n);
    return NULL;
}

static void run_unattached(int64_t n)
{
    pthread_t t;
    tc_blocking_begin();
    assert_int_equal(pthread_create(&t, NULL, unattached_add, &n), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    tc_blocking_end();
}

static void test_external_unattached_thread(void **state)
{
    (void)state;
    uint64_t e0 = stats().external_bytes;
    run_unattached(4096);
    assert_int_equal(stats().external_bytes, e0 + 1000 * 4096);
    run_unattached(-4096);
    assert_int_equal(stats().external_bytes, e0);
}

/* Finalizers that subtract what their object held. */
#define NFIN 100
static tci_atomic fin_ran;

static void fin_sub(void *obj, void *arg)
{
    (void)obj;
    tc_external_add(-(int64_t)(uintptr_t)arg);
    tci_atomic_add_full(&fin_ran, 1);
}

static __attribute__((noinline)) void make_owners(void)
{
    for (int i = 0; i < NFIN; i++) {
        void *o = tc_alloc_atomic(32);
        assert_non_null(o);
        tc_external_add((int64_t)MiB);
        assert_int_equal(tc_set_finalizer(o, fin_sub, (void *)(uintptr_t)MiB), 0);
    }
}

static void test_external_finalizer_subtracts(void **state)
{
    (void)state;
    tc_finalizer_thread_disable(); /* run them here, deterministically */
    uint64_t e0 = stats().external_bytes;
    tci_atomic_store_relaxed(&fin_ran, 0);
    make_owners();
    assert_int_equal(stats().external_bytes, e0 + NFIN * MiB);
    tc_collect();
    /* The mark counted all of it (the owners' finalizers have not run). */
    assert_int_equal(stats().external_live_bytes, e0 + NFIN * MiB);
    tc_finalizers_run_pending();
    uint64_t ran = tci_atomic_load_relaxed(&fin_ran);
    assert_true(ran >= NFIN * 9 / 10); /* a stale stack word may keep a few */
    tc_memstats ms = stats();
    assert_int_equal(ms.external_bytes, e0 + (NFIN - ran) * MiB);
    /* What the finalizers freed left the pacer's live figure at once
     * (re-planned in 1 MiB steps at this size). */
    assert_int_equal(ms.external_live_bytes, ms.external_bytes);
    tc_finalizer_thread_enable();
    tc_collect();
    tc_finalizers_run_pending();
}

static void test_external_in_memstats_and_prometheus(void **state)
{
    (void)state;
    uint64_t e0 = stats().external_bytes;
    tc_external_add(12345);
    assert_int_equal(stats().external_bytes, e0 + 12345);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(tc_write_prometheus(f), 0);
    fclose(f);
    char want[128];
    snprintf(want, sizeof want, "\ntricolor_external_bytes %llu\n",
             (unsigned long long)(e0 + 12345));
    assert_non_null(strstr(buf, want));
    assert_non_null(strstr(buf, "# TYPE tricolor_external_bytes gauge\n"));
    assert_non_null(strstr(buf, "\ntricolor_external_live_bytes "));
    free(buf);
    tc_external_add(-12345);
}

/* Reports inside a root callback (run under roots_lock, ranked after the
 * pacer's lock; in a stop, which under gcstoptheworld=1 is the calling
 * thread's own): a subtraction neither waits for the pacer's lock nor
 * trips the lock-order check, an addition past the goal starts no cycle
 * inside the stop. */
static void root_cb_sub(tc_tracer *tr, void *arg)
{
    (void)tr;
    int64_t n = *(int64_t *)arg;
    tc_external_add((int64_t)(1ull << 40)); /* far past the goal: no cycle from here */
    tc_external_add(-(int64_t)(1ull << 40));
    tc_external_add(-n);
    *(int64_t *)arg = 0;
}

static void test_external_from_root_callback(void **state)
{
    (void)state;
    uint64_t e0 = stats().external_bytes;
    int64_t n = (int64_t)(64 * MiB);
    tc_external_add(n);
    tc_collect(); /* counted live: a subtraction of all of it re-plans */
    assert_int_equal(tc_root_callback_add(root_cb_sub, &n), 0);
    tc_collect();
    assert_int_equal(n, 0);
    tc_root_callback_remove(root_cb_sub, &n);
    assert_int_equal(stats().external_bytes, e0);
}

/* An attached thread's report past the trigger asks for a cycle (the
 * stopped collector, gcstoptheworld=1, runs it there and then). */
static void test_external_add_requests_cycle(void **state)
{
    (void)state;
    tc_collect();
    tc_memstats ms = stats();
    assert_true(ms.gc_trigger != UINT64_MAX);
    uint64_t asked = tci_gate_cycles_requested();
    uint32_t gcs = ms.num_gc;
    uint64_t over = ms.gc_trigger + MiB;
    tc_external_add((int64_t)over);
    assert_true(tci_gate_cycles_requested() > asked || stats().num_gc > gcs);
    tc_external_add(-(int64_t)over);
    tc_collect();
}

static void clamp_child(void)
{
    CHECK(tc_init() == 0);
    tc_external_add(10);
    tc_external_add(-20);
    tc_memstats ms;
    tc_read_memstats(&ms);
    CHECK(ms.external_bytes == 0);
    tc_external_add(INT64_MIN); /* no overflow, no second warning */
    tc_external_add(7);
    tc_read_memstats(&ms);
    CHECK(ms.external_bytes == 7);
}

static void test_external_clamps_once(void **state)
{
    (void)state;
    child_result r;
    run_child(clamp_child, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "tc_external_add(-20) subtracted more than the 10 bytes reported");
    const char *first = strstr(r.err, "clamped at 0");
    assert_non_null(first);
    assert_null(strstr(first + 1, "clamped at 0"));
}

/* ---- the RSS bound ------------------------------------------------------- */
#define BUF_BYTES (64 * KiB)
#define RING 1600 /* 100 MiB of live buffers */

static int accounted;

static void buf_free(void *obj, void *arg)
{
    (void)obj;
    free(arg);
    if (accounted)
        tc_external_add(-(int64_t)BUF_BYTES);
}

static uint64_t peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", (unsigned long long *)&kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 10) : def;
}

/* Allocates TC_RSS_TOTAL_MIB of buffers, each owned by a 32-byte object
 * in a ring of RING live ones; prints the peak. */
static void rss_child(void)
{
    CHECK(tc_init() == 0);
    accounted = getenv("TC_RSS_UNACCOUNTED") == NULL;
    uint64_t total = env_u64("TC_RSS_TOTAL_MIB", 2048) * MiB;
    void **ring = calloc(RING, sizeof *ring);
    CHECK(ring && tc_root_add(ring, RING * sizeof *ring) == 0);
    uint64_t n = total / BUF_BYTES, ext_peak = 0, backlog = 0;
    int inline_fin = getenv("TC_RSS_INLINE") != NULL;
    if (inline_fin)
        tc_finalizer_thread_disable();
    for (uint64_t i = 0; i < n; i++) {
        char *buf = malloc(BUF_BYTES);
        CHECK(buf != NULL);
        for (size_t p = 0; p < BUF_BYTES; p += 4096)
            buf[p] = (char)i; /* resident */
        void *o = tc_alloc_atomic(32);
        CHECK(o != NULL);
        if (accounted)
            tc_external_add(BUF_BYTES);
        CHECK(tc_set_finalizer(o, buf_free, buf) == 0);
        ring[i % RING] = o;
        if (inline_fin && i % 16 == 0)
            tc_finalizers_run_pending();
        if (i % 256 == 0) {
            tc_memstats m1;
            tc_read_memstats(&m1);
            if (m1.external_bytes > ext_peak)
                ext_peak = m1.external_bytes;
            if (m1.finalizers_queued - m1.finalizers_run > backlog)
                backlog = m1.finalizers_queued - m1.finalizers_run;
        }
    }
    tc_memstats ms;
    tc_read_memstats(&ms);
    fprintf(stderr,
            "rss: total %llu MiB live %llu MiB peak %llu MiB cycles %u accounted %d "
            "(external bytes at most %llu MiB, finalizer backlog at most %llu)\n",
            (unsigned long long)(total / MiB), (unsigned long long)(RING * BUF_BYTES / MiB),
            (unsigned long long)(peak_rss_kib() / 1024), ms.num_gc, accounted,
            (unsigned long long)(ext_peak / MiB), (unsigned long long)backlog);
}

static uint64_t said_mib(const child_result *r, const char *what)
{
    const char *s = strstr(r->err, what);
    assert_non_null(s);
    return strtoull(s + strlen(what), NULL, 10);
}

/* The RSS program at TRICOLOR_GC=100, its finalizers on the finalizer
 * thread or (inline) run by the program every 16 buffers. Sanitizers
 * bring allocators of their own (ASan's quarantine holds 256 MiB of freed
 * blocks): there the bound is checked on the external bytes reported, at
 * a smaller total. */
static void rss_run(int inline_fin, const char *total_mib, int unaccounted)
{
    char total[64];
    snprintf(total, sizeof total, "TC_RSS_TOTAL_MIB=%s", total_mib);
    const char *env[5] = {"TRICOLOR_GC=100", total};
    int n = 2;
    if (inline_fin)
        env[n++] = "TC_RSS_INLINE=1";
    if (unaccounted)
        env[n++] = "TC_RSS_UNACCOUNTED=1";
    env[n] = NULL;
    child_result r;
    run_child(rss_child, env, &r);
    expect_exit0(&r);
    print_message("%s", r.err);
    if (unaccounted)
        return; /* for the note: nothing to assert */
    uint64_t live = RING * BUF_BYTES / MiB;
    uint64_t peak = TEST_SANITIZED ? said_mib(&r, "external bytes at most ")
                                   : said_mib(&r, "peak ");
    assert_true(peak * 10 <= live * 25); /* within 2.5x the live external bytes */
}

static const char *rss_total(void)
{
    static char buf[32];
    snprintf(buf, sizeof buf, "%llu",
             (unsigned long long)env_u64("TC_EXTERNAL_TOTAL_MIB", TEST_SANITIZED ? 512 : 10240));
    return buf;
}

static void test_external_bounds_rss_finalizer_thread(void **state)
{
    (void)state;
    rss_run(0, rss_total(), 0);
    if (getenv("TC_EXTERNAL_UNACCOUNTED"))
        rss_run(0, "1024", 1);
}

static void test_external_bounds_rss_inline_finalizers(void **state)
{
    (void)state;
    rss_run(1, rss_total(), 0);
}

int main(void)
{
    if (getenv("TC_RSS_DIRECT")) { /* the RSS program alone, to measure or trace it */
        rss_child();
        return 0;
    }
    /* The children first: each calls tc_init of its own (fork). */
    const struct CMUnitTest children[] = {
        cmocka_unit_test(test_external_clamps_once),
        cmocka_unit_test(test_external_bounds_rss_finalizer_thread),
        cmocka_unit_test(test_external_bounds_rss_inline_finalizers),
    };
    int failed = cmocka_run_group_tests(children, NULL, NULL);
    if (tc_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_external_unattached_thread),
        cmocka_unit_test(test_external_finalizer_subtracts),
        cmocka_unit_test(test_external_in_memstats_and_prometheus),
        cmocka_unit_test(test_external_add_requests_cycle),
        cmocka_unit_test(test_external_from_root_callback),
    };
    return failed | cmocka_run_group_tests(tests, NULL, NULL);
}
