/* test_defer.c: no-GC sections (tc_gc_defer_begin/end): no cycle starts
 * inside one however far the heap passes its trigger (or the memory
 * limit), sections nest, and the cycle that was due is asked for at once
 * when the outermost ends (tci_gate_cycles_requested shows the request,
 * with no timing); tc_collect inside returns at once and is asked for at
 * the end too, and so is an out-of-memory recovery's collection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "os.h"
#include "testutil.h"
#include "tricolor.h"

#define MiB ((uint64_t)1 << 20)

/* Garbage: 64 MiB of small objects, far past a trigger of a few MiB. */
static void churn(void)
{
    for (int i = 0; i < 64 * 1024; i++)
        assert_non_null(tc_alloc_atomic(1024));
}

static uint32_t num_gc(void)
{
    return test_stats().num_gc;
}

static void test_defer_holds_cycles_and_nests(void **state)
{
    (void)state;
    tc_collect(); /* no cycle running or asked for */
    uint32_t gc0 = num_gc();
    uint64_t req0 = tci_gate_cycles_requested();
    tc_gc_defer_begin();
    tc_gc_defer_begin();
    churn();
    tc_gc_defer_end(); /* inner: still inside */
    churn();
    assert_int_equal(num_gc(), gc0);
    assert_int_equal(tci_gate_cycles_requested(), req0);
    tc_memstats m = test_stats();
    printf("  inside: heap_alloc %.1f MiB, next_gc %.1f MiB, no cycle\n",
           m.heap_alloc / (double)MiB, m.next_gc / (double)MiB);
    assert_true(m.heap_alloc > 4 * m.next_gc);
    tc_gc_defer_end(); /* outermost: the due cycle is asked for now */
    assert_int_equal(tci_gate_cycles_requested(), req0 + 1);
    tc_collect();
    assert_true(num_gc() > gc0);
}

static void test_defer_collect_inside(void **state)
{
    (void)state;
    tc_collect();
    uint32_t gc0 = num_gc();
    uint64_t req0 = tci_gate_cycles_requested();
    tc_gc_defer_begin();
    tc_collect(); /* returns at once: no cycle inside */
    assert_int_equal(num_gc(), gc0);
    assert_int_equal(tci_gate_cycles_requested(), req0);
    tc_gc_defer_end();
    assert_int_equal(tci_gate_cycles_requested(), req0 + 1);
    tc_collect();
    assert_true(num_gc() > gc0);
}

/* External bytes past the goal inside a section: tc_external_add neither
 * starts a cycle nor waits for the collector's progress (none can come);
 * the cycle is asked for at the end. */
static void test_defer_external_past_goal(void **state)
{
    (void)state;
    tc_collect();
    uint32_t gc0 = num_gc();
    uint64_t req0 = tci_gate_cycles_requested();
    tc_gc_defer_begin();
    tc_external_add((int64_t)(1024 * MiB)); /* far past any goal here */
    assert_int_equal(num_gc(), gc0);
    assert_int_equal(tci_gate_cycles_requested(), req0);
    tc_gc_defer_end();
    assert_int_equal(tci_gate_cycles_requested(), req0 + 1);
    tc_external_add(-(int64_t)(1024 * MiB));
    tc_collect();
    assert_true(num_gc() > gc0);
}

static void test_defer_past_memory_limit(void **state)
{
    (void)state;
    tc_collect();
    int64_t old = tc_set_memory_limit(32 * (int64_t)MiB);
    uint32_t gc0 = num_gc();
    uint64_t req0 = tci_gate_cycles_requested();
    tc_gc_defer_begin();
    churn(); /* 64 MiB past a 32 MiB limit: exceeded, not collected */
    assert_int_equal(num_gc(), gc0);
    assert_int_equal(tci_gate_cycles_requested(), req0);
    tc_gc_defer_end();
    assert_int_equal(tci_gate_cycles_requested(), req0 + 1);
    tc_collect();
    tc_set_memory_limit(old);
}

/* Out of memory inside a section: the recovery collects nothing (the
 * section's promise holds); the allocation fails, the collection it
 * asked for runs at the end. */
static void test_defer_out_of_memory_inside(void **state)
{
    (void)state;
    tc_collect();
    uint32_t gc0 = num_gc();
    uint64_t req0 = tci_gate_cycles_requested();
    tc_memstats m0 = test_stats();
    tc_gc_defer_begin();
    tci_os_fail_map_from(1);
    errno = 0;
    void *p = tc_alloc_atomic(m0.heap_idle + 128 * MiB); /* needs a new arena */
    int e = errno;
    tci_os_fail_map_after(0);
    assert_null(p);
    assert_int_equal(e, ENOMEM);
    assert_int_equal(num_gc(), gc0);
    assert_int_equal(tci_gate_cycles_requested(), req0);
    tc_memstats m1 = test_stats();
    assert_int_equal(m1.oom_retries, m0.oom_retries + 1);
    assert_int_equal(m1.oom_failures, m0.oom_failures + 1);
    tc_gc_defer_end();
    assert_int_equal(tci_gate_cycles_requested(), req0 + 1);
    tc_collect();
    assert_non_null(tc_alloc_atomic(16));
}

static void test_defer_end_unbalanced(void **state)
{
    (void)state;
    uint64_t req0 = tci_gate_cycles_requested();
    tc_gc_defer_end(); /* a message, ignored */
    assert_int_equal(tci_gate_cycles_requested(), req0);
    tc_gc_defer_begin();
    tc_gc_defer_end(); /* nothing was due: nothing asked for */
    assert_int_equal(tci_gate_cycles_requested(), req0);
    assert_non_null(tc_alloc_atomic(16));
}

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer ends a child that starts a thread after a fork of a
 * process with threads (its die_after_fork): the child here starts its
 * collector, as test_fork.c's children do, with the same setting. */
const char *__tsan_default_options(void);
__attribute__((visibility("default"))) const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

/* Another thread's section, open until released. */
static pthread_mutex_t sec_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sec_cond = PTHREAD_COND_INITIALIZER;
static int sec_open, sec_release;

static void *section_holder(void *arg)
{
    (void)arg;
    tc_gc_defer_begin();
    pthread_mutex_lock(&sec_lock);
    sec_open = 1;
    pthread_cond_broadcast(&sec_cond);
    while (!sec_release)
        pthread_cond_wait(&sec_cond, &sec_lock);
    pthread_mutex_unlock(&sec_lock);
    tc_gc_defer_end();
    return NULL;
}

/* A fork's child has one thread: a section another thread held would never
 * end there, and the child would never collect again. The child keeps its
 * thread's own section: collections wait for its end, then run. */
static void test_defer_fork_child_keeps_only_its_own(void **state)
{
    (void)state;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, section_holder, NULL), 0);
    tc_blocking_begin();
    pthread_mutex_lock(&sec_lock);
    while (!sec_open)
        pthread_cond_wait(&sec_cond, &sec_lock);
    pthread_mutex_unlock(&sec_lock);
    tc_blocking_end();
    tc_gc_defer_begin(); /* this thread's own */
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint32_t gc0 = test_stats().num_gc;
        tc_collect(); /* inside this thread's section: deferred */
        int held = test_stats().num_gc == gc0;
        tc_gc_defer_end(); /* the due cycle is asked for now */
        tc_collect();
        int ran = test_stats().num_gc > gc0;
        _exit(held && ran ? 0 : 3);
    }
    int status;
    tc_blocking_begin();
    assert_int_equal(waitpid(pid, &status, 0), pid);
    tc_blocking_end();
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tc_gc_defer_end();
    pthread_mutex_lock(&sec_lock);
    sec_release = 1;
    pthread_cond_broadcast(&sec_cond);
    pthread_mutex_unlock(&sec_lock);
    tc_blocking_begin();
    pthread_join(t, NULL);
    tc_blocking_end();
    uint32_t gc0 = test_stats().num_gc;
    tc_collect(); /* every section closed: a cycle runs */
    assert_true(test_stats().num_gc > gc0);
}

int main(void)
{
    if (test_init_verified() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defer_holds_cycles_and_nests),
        cmocka_unit_test(test_defer_collect_inside),
        cmocka_unit_test(test_defer_external_past_goal),
        cmocka_unit_test(test_defer_past_memory_limit),
        cmocka_unit_test(test_defer_out_of_memory_inside),
        cmocka_unit_test(test_defer_end_unbalanced),
        cmocka_unit_test(test_defer_fork_child_keeps_only_its_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
