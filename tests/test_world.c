/* test_world.c: the stop-the-world's safepoint watchdog (runtime/world.c,
 * TRICOLOR_DEBUG=stoptimeout, stopabort). Every scenario runs in a child
 * (tests/support/child.h): each needs its own tc_init and environment,
 * and two of them hang, by design, until the parent has read the report
 * and kills them. No timing: the report is awaited, not timed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "child.h"
#include "os.h"
#include "tricolor.h"

#define MAIN_NAME "tc-waiter"

/* Workers attached so far: main waits for both before it goes wrong, so
 * that the report's count of attached threads is fixed (it was 2 or 3,
 * as the second worker had attached before the first stop or not). */
static volatile int workers_attached;

/* Allocates and collects until the process is killed. */
static void *collecting_worker(void *arg)
{
    (void)arg;
    CHECK(tc_thread_attach() == 0);
    __atomic_add_fetch(&workers_attached, 1, __ATOMIC_RELEASE);
    for (;;) {
        for (int i = 0; i < 1000; i++)
            CHECK(tc_alloc_atomic(64) != NULL);
        tc_collect();
    }
    return NULL;
}

/* The guest frame an interpreter would hand over at a sample. */
static int guest_frames(void *arg, tc_frame *frames, int max)
{
    (void)arg;
    if (max < 1)
        return 0;
    frames[0] = (tc_frame){ .function = "guest_wait_for_workers", .file = "prog.lua",
                            .line = 42 };
    return 1;
}

/* The main thread's last call into the library before it waits: the
 * report must name this function. */
static __attribute__((noinline)) void main_last_poll(void)
{
    tc_safepoint();
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

/* issue 17's program: main (attached by tc_init) starts workers that
 * allocate and collect, then waits in pthread_join outside a blocking
 * region (the embedder's bug): the first stop waits for it for good. */
static void child_join_outside_region(void)
{
    CHECK(tc_init() == 0);
    /* Named after attaching: the report reads the name when it prints. */
    CHECK(pthread_setname_np(pthread_self(), MAIN_NAME) == 0);
    tc_set_profile_frames(guest_frames, NULL);
    CHECK(tc_alloc_atomic(64) != NULL); /* sampled (memprofilerate=1): guest frames */
    pthread_t w[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&w[i], NULL, collecting_worker, NULL) == 0);
    fprintf(stderr, "main tid %d\n", tci_os_thread_id());
    /* As the contract asks of a waiting thread: in a blocking region. */
    tc_blocking_begin();
    while (__atomic_load_n(&workers_attached, __ATOMIC_ACQUIRE) < 2)
        sched_yield();
    tc_blocking_end();
    main_last_poll();
    pthread_join(w[0], NULL); /* never returns */
}

/* The report's lines for thread tid, from r's stderr, or a failure. */
static const char *report_line(const child_result *r, int *tid)
{
    const char *m = strstr(r->err, "main tid ");
    if (!m || sscanf(m, "main tid %d", tid) != 1)
        fail_msg("the child did not say its tid:\n%s", r->err);
    char want[64];
    snprintf(want, sizeof want, "thread %d \"" MAIN_NAME "\": running for ", *tid);
    const char *line = strstr(r->err, want);
    if (!line)
        fail_msg("the report does not name thread %d \"%s\":\n%s", *tid, MAIN_NAME, r->err);
    return line;
}

static void test_world_watchdog_names_the_thread_in_join(void **state)
{
    (void)state;
    child_result r;
    static const char *const env[] = {
        "TRICOLOR_DEBUG=stoptimeout=50,memprofilerate=1", NULL };
    /* The second report ends so: the first said 100 ms. */
    run_child_until(child_join_outside_region, env, "the next report in 200 ms\n", &r);
    /* Killed by the parent: it was still waiting, as it must. */
    if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGKILL)
        fail_msg("child status %#x; its stderr:\n%s", r.status, r.err);
    int tid;
    const char *line = report_line(&r, &tid);
    expect_says(&r, "tricolor: a stop has waited ");
    /* Only main runs: each worker is parked or waits for its collection. */
    expect_says(&r, "for 1 of the 3 attached threads (TRICOLOR_DEBUG=stoptimeout=50)");
    expect_says(&r, "the next report in 100 ms\n");
    const char *eol = strchr(line, '\n');
    assert_non_null(eol);
    char one[512];
    snprintf(one, sizeof one, "%.*s", (int)(eol - line), line);
    if (!strstr(one, " ms since its last poll, at main_last_poll (") ||
        !strstr(one, "test_world) [0x"))
        fail_msg("the line should name main_last_poll in test_world: \"%s\"", one);
    const char *guest = strstr(eol, "guest frames at its last heap-profile sample: "
                                    "guest_wait_for_workers (prog.lua:42)");
    if (guest != eol + 1 + strlen("tricolor:     "))
        fail_msg("the next line should hold the guest frame:\n%s", r.err);
    /* Repeated: the second report names it again. */
    const char *again = strstr(eol, "tricolor: a stop has waited ");
    assert_non_null(again);
    char want[64];
    snprintf(want, sizeof want, "thread %d \"" MAIN_NAME "\"", tid);
    assert_non_null(strstr(again, want));
}

static void test_world_watchdog_stopabort_aborts(void **state)
{
    (void)state;
    child_result r;
    static const char *const env[] = { "TRICOLOR_DEBUG=stoptimeout=20,stopabort=1", NULL };
    run_child(child_join_outside_region, env, &r);
    if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGABRT)
        fail_msg("child status %#x, not SIGABRT; its stderr:\n%s", r.status, r.err);
    int tid;
    (void)report_line(&r, &tid);
    expect_says(&r, "tricolor: aborting (TRICOLOR_DEBUG=stopabort=1)\n");
    assert_null(strstr(r.err, "still waiting"));
}

/* ---- A thread whose last call was tc_init ------------------------------- */

/* The program's own function that set the heap up: the report must name
 * it, the caller of tc_init, not tc_init (it did, until tc_init passed its
 * caller to the attach). */
static __attribute__((noinline)) void start_heap(void)
{
    CHECK(tc_init() == 0);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

static void child_join_after_init(void)
{
    start_heap();
    pthread_t w;
    CHECK(pthread_create(&w, NULL, collecting_worker, NULL) == 0);
    pthread_join(w, NULL); /* outside a blocking region: never returns */
}

static void test_world_watchdog_names_tc_inits_caller(void **state)
{
    (void)state;
    child_result r;
    static const char *const env[] = { "TRICOLOR_DEBUG=stoptimeout=20,stopabort=1", NULL };
    run_child(child_join_after_init, env, &r);
    if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGABRT)
        fail_msg("child status %#x, not SIGABRT; its stderr:\n%s", r.status, r.err);
    expect_says(&r, " ms since its last poll, at start_heap (");
}

/* ---- Counted: a stop that timed out, then completed ---------------------- */

static uint64_t timeouts(void)
{
    tc_memstats m;
    tc_read_memstats(&m);
    return m.stop_timeouts;
}

/* Not attached: waits until the watchdog has counted a stop. */
static void *watch_counter(void *arg)
{
    (void)arg;
    while (timeouts() == 0)
        sched_yield();
    return NULL;
}

static void *collect_once(void *arg)
{
    (void)arg;
    CHECK(tc_thread_attach() == 0);
    tc_collect();
    tc_thread_detach();
    return NULL;
}

/* main waits outside a blocking region until the watchdog has reported
 * it (the embedder's bug, on purpose), then polls: the stop completes,
 * and it counts once, however many reports it took. */
static void child_stop_counted(void)
{
    CHECK(tc_init() == 0);
    CHECK(timeouts() == 0);
    pthread_t watcher, collector;
    CHECK(pthread_create(&watcher, NULL, watch_counter, NULL) == 0);
    CHECK(pthread_create(&collector, NULL, collect_once, NULL) == 0);
    CHECK(pthread_join(watcher, NULL) == 0);
    tc_blocking_begin();
    CHECK(pthread_join(collector, NULL) == 0);
    tc_blocking_end();
    CHECK(timeouts() == 1);
    tc_collect(); /* no thread lags: no more */
    CHECK(timeouts() == 1);
}

static void test_world_watchdog_counts_timed_out_stops(void **state)
{
    (void)state;
    child_result r;
    static const char *const env[] = { "TRICOLOR_DEBUG=stoptimeout=20", NULL };
    run_child(child_stop_counted, env, &r);
    expect_exit0(&r);
    expect_says(&r, "for 1 of the 2 attached threads");
}

/* ---- Off: stoptimeout=0 -------------------------------------------------- */

static void child_stop_off(void)
{
    CHECK(tc_init() == 0);
    tc_collect();
    CHECK(timeouts() == 0);
}

static void test_world_watchdog_off_is_silent(void **state)
{
    (void)state;
    child_result r;
    static const char *const env[] = { "TRICOLOR_DEBUG=stoptimeout=0", NULL };
    run_child(child_stop_off, env, &r);
    expect_exit0(&r);
    assert_null(strstr(r.err, "a stop has waited"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_world_watchdog_names_the_thread_in_join),
        cmocka_unit_test(test_world_watchdog_stopabort_aborts),
        cmocka_unit_test(test_world_watchdog_names_tc_inits_caller),
        cmocka_unit_test(test_world_watchdog_counts_timed_out_stops),
        cmocka_unit_test(test_world_watchdog_off_is_silent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
