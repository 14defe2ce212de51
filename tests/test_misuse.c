/* test_misuse.c: the API attacked as a careless or hostile embedder would
 * (issue 14): each test is a regression for one finding, and failed on
 * the code before its fix. Every scenario runs in a child process of its
 * own (tc_init once per process, environments of their own, and some end
 * in the abort they expect), with its stderr captured for the parent to
 * check the message the library gave. */
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
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "child.h"
#include "os.h"
#include "testutil.h"
#include "tricolor.h"

/* ---- Children (tests/support/child.h) ----------------------------------- */

static void init_or_die(void)
{
    CHECK(tc_init() == 0);
}

/* Where the caller can find a value again after test_clear_stack: a
 * registered root range (precise enough: one word). */
static void *volatile holder[4];

static void hold_roots(void)
{
    CHECK(tc_root_add((void *)holder, sizeof holder) == 0);
}

/* ---- 1. Pointer offsets at or above 4 GiB -------------------------------- */

#define BIG_OFF ((size_t)1 << 32)

static const tc_type *big_type(void)
{
    size_t off = BIG_OFF;
    const tc_type *t = tc_type_new("big", BIG_OFF + 64, &off, 1);
    CHECK(t != NULL);
    return t;
}

/* The one object reachable only through the slot at 2^32 survives two
 * collections, and is not handed out again (it was: the offset went
 * through 32 bits, the marker read slot 0). */
static void child_big_offset(void)
{
    init_or_die();
    hold_roots();
    holder[0] = tc_alloc(big_type());
    CHECK(holder[0] != NULL);
    char *big = holder[0];
    uint64_t *x = tc_alloc_atomic(64);
    CHECK(x != NULL);
    for (int i = 0; i < 8; i++)
        x[i] = 42;
    tc_store(big, big + BIG_OFF, x);
    x = NULL;
    big = NULL;
    test_clear_stack();
    tc_collect();
    test_clear_stack();
    tc_collect();
    big = holder[0];
    x = *(uint64_t **)(big + BIG_OFF);
    CHECK(test_is_live(x));
    for (int n = 0; n < 20000; n++) {
        uint64_t *y = tc_alloc_atomic(64);
        CHECK(y != NULL);
        for (int i = 0; i < 8; i++)
            y[i] = 7;
    }
    for (int i = 0; i < 8; i++)
        CHECK(x[i] == 42);
}

static void big_offset_slot_keeps_its_object(void **state)
{
    (void)state;
    child_result r;
    run_child(child_big_offset, (const char *const[]){ "TRICOLOR_DEBUG=verify=1", NULL }, &r);
    expect_exit0(&r);
}

/* The checkers read such a slot too: an object A points, through its slot
 * at 2^32, to B, which nothing marked (no cycle has run). Checkmark's look at A must abort
 * naming B (it read slot 0 before, and passed). */
static void *child_a_to_b(void)
{
    init_or_die();
    char *a = tc_alloc(big_type());
    void *b = tc_alloc_atomic(16);
    CHECK(a && b);
    tc_store(a, a + BIG_OFF, b);
    tci_cache_flush(tci_thread_self()); /* alloc_bits exact */
    fprintf(stderr, "B=%#lx\n", (unsigned long)(uintptr_t)b);
    return a;
}

static void child_checkmark_high_slot(void)
{
    void *a = child_a_to_b();
    tc_tracer *tr = tci_mark_tracer_new();
    CHECK(tr != NULL);
    tci_mark_check_enable(tr);
    tci_verify_checkmark_object(tr, (uintptr_t)a);
    fprintf(stderr, "checkmark passed\n");
}

static void child_verify_high_slot(void)
{
    void *a = child_a_to_b();
    /* A marked, B not: a black-to-white edge through the high slot. */
    tci_atomic_store_relaxed(&tci_span_of((uintptr_t)a)->mark_bits[0], 1);
    uint64_t n = tci_verify_marks_stw();
    fprintf(stderr, "verify passed (%llu objects checked)\n", (unsigned long long)n);
}

static void expect_abort_naming_b(const child_result *r, const char *says)
{
    if (!WIFSIGNALED(r->status) || WTERMSIG(r->status) != SIGABRT)
        fail_msg("child status %#x, not SIGABRT; its stderr:\n%s", r->status, r->err);
    const char *b = strstr(r->err, "B=");
    assert_non_null(b);
    char addr[32];
    assert_int_equal(sscanf(b + 2, "%31s", addr), 1);
    expect_says(r, says);
    char *line = strstr(r->err, says);
    if (!strstr(line, addr))
        fail_msg("the report does not name B (%s):\n%s", addr, r->err);
}

static void checkers_read_high_slots(void **state)
{
    (void)state;
    child_result r;
    /* No collection may run meanwhile (its mark would mark B). */
    const char *const env[] = { "TRICOLOR_GC=off", NULL };
    run_child(child_checkmark_high_slot, env, &r);
    expect_abort_naming_b(&r, "checkmark: object");
    run_child(child_verify_high_slot, env, &r);
    expect_abort_naming_b(&r, "pointer to unmarked object");
}

/* ---- 2. Objects smaller than their fixed type ------------------------------ */

static void child_alloc_sized_small(void)
{
    init_or_die();
    size_t off = ((size_t)1 << 30) - 8;
    const tc_type *t = tc_type_new("gig", (size_t)1 << 30, &off, 1);
    CHECK(t != NULL);
    errno = 0;
    CHECK(tc_alloc_sized(t, 16) == NULL && errno == EINVAL);
    /* A zero-length array is an object too small for one element: it has
     * no slots (its collection read 1 GiB past it). */
    hold_roots();
    holder[0] = tc_alloc_array(t, 0);
    CHECK(holder[0] != NULL);
    tc_collect();
    tc_collect();
    CHECK(test_is_live(holder[0]) && tc_object_size(holder[0]) < tc_type_size(t));
}

static void alloc_sized_below_the_type_is_refused(void **state)
{
    (void)state;
    child_result r;
    run_child(child_alloc_sized_small,
              (const char *const[]){ "TRICOLOR_DEBUG=verify=1,checkmark=1", NULL }, &r);
    expect_exit0(&r);
    expect_says(&r, "tc_alloc_sized(\"gig\", 16): smaller than the type's");
}

/* ---- 4. The collector's thread cannot start ------------------------------- */

static void child_no_collector_thread(void)
{
    init_or_die();
    tci_os_fail_thread_start(1);
    int failed = 0;
    for (int i = 0; i < 4096 && !failed; i++) { /* at most 256 MiB; the goal is 4 */
        errno = 0;
        if (!tc_alloc_atomic(64 * 1024)) {
            CHECK(errno == ENOMEM);
            failed = 1;
        }
    }
    CHECK(failed);
    errno = 0;
    tc_collect();
    CHECK(errno == ENOMEM);
    /* Once threads can start again, so does the collector. */
    tci_os_fail_thread_start(0);
    CHECK(tc_alloc_atomic(64 * 1024) != NULL);
    tc_collect();
    CHECK(test_stats().num_gc >= 1);
}

static void collector_thread_failure_is_enomem(void **state)
{
    (void)state;
    child_result r;
    run_child(child_no_collector_thread, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "cannot start the collector thread");
}

/* ---- 5. The stopped collector and the CPU limiter -------------------------- */

typedef struct lnode {
    struct lnode *next;
    uint64_t id;
    uint64_t pad[6];
} lnode;

static const tc_type *lnode_type(void)
{
    size_t off = offsetof(lnode, next);
    const tc_type *t = tc_type_new("lnode", sizeof(lnode), &off, 1);
    CHECK(t != NULL);
    return t;
}

/* A 1 MiB limit under a 50 MiB list: the stopped collector collected at
 * every span refill (6,400 of them), the program at a fraction of a
 * percent of its speed. Held back by the limiter, it collects a few
 * hundred times at most. */
#define LIST_BYTES ((size_t)50 << 20)

static void child_stopped_limiter(void)
{
    init_or_die();
    hold_roots();
    const tc_type *t = lnode_type();
    size_t n = LIST_BYTES / sizeof(lnode);
    uint32_t bound = (uint32_t)(LIST_BYTES / TCI_PAGE_SIZE / 4);
    lnode *head = NULL;
    for (size_t i = 0; i < n; i++) {
        lnode *x = tc_alloc(t);
        CHECK(x != NULL);
        x->id = i;
        TC_STORE(x, next, head);
        head = x;
        holder[0] = head;
        if (i % 4096 == 0 && test_stats().num_gc > bound) {
            fprintf(stderr, "%u collections at node %zu of %zu\n", test_stats().num_gc, i, n);
            CHECK(0);
        }
    }
    tc_memstats ms = test_stats();
    fprintf(stderr, "list built: %u collections (bound %u), limiter engaged %llu times\n",
            ms.num_gc, bound, (unsigned long long)ms.limiter_engagements);
    CHECK(ms.num_gc <= bound);
    CHECK(ms.limiter_engagements >= 1);
    size_t count = 0;
    for (lnode *x = head; x; x = x->next, count++)
        CHECK(x->id == n - 1 - count);
    CHECK(count == n);
}

static void stopped_collector_obeys_the_cpu_limiter(void **state)
{
    (void)state;
    child_result r;
    run_child(child_stopped_limiter,
              (const char *const[]){ "TRICOLOR_MEMLIMIT=1MiB",
                                     "TRICOLOR_DEBUG=gcstoptheworld=1", NULL },
              &r);
    expect_exit0(&r);
    printf("%s", strstr(r.err, "list built") ? strstr(r.err, "list built") : r.err);
}

/* ---- 6. Heap calls inside a blocking region -------------------------------- */

static void *allocating_worker(void *arg)
{
    (void)arg;
    CHECK(tc_thread_attach() == 0);
    for (int i = 0; i < 32 * 1024; i++)
        CHECK(tc_alloc_atomic(1024) != NULL);
    for (int i = 0; i < 3; i++)
        tc_collect();
    tc_thread_detach();
    return NULL;
}

static void child_blocking_region(void)
{
    init_or_die();
    const tc_type *t = lnode_type();
    tc_blocking_begin();
    errno = 0;
    CHECK(tc_alloc_atomic(32) == NULL && errno == EPERM);
    errno = 0;
    CHECK(tc_alloc(t) == NULL && errno == EPERM);
    errno = 0;
    CHECK(tc_alloc_conservative(4096) == NULL && errno == EPERM);
    errno = 0;
    CHECK(tc_alloc_atomic((size_t)1 << 20) == NULL && errno == EPERM);
    errno = 0;
    tc_collect();
    CHECK(errno == EPERM);
    /* The region is intact: the wait it covers holds up no stop. */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, allocating_worker, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    tc_blocking_end();
    CHECK(tc_alloc_atomic(32) != NULL);
    CHECK(test_stats().num_gc >= 3);
}

static void heap_calls_in_a_blocking_region_are_refused(void **state)
{
    (void)state;
    child_result r;
    run_child(child_blocking_region, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "tc_alloc_atomic called inside a blocking region");
    expect_says(&r, "tc_collect called inside a blocking region");
}

/* ---- 7. Library threads do not attach -------------------------------------- */

static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cb_cond = PTHREAD_COND_INITIALIZER;
static int cb_done, cb_rc, cb_errno; /* cb_lock */

static void cb_try_attach(void)
{
    errno = 0;
    int rc = tc_thread_attach();
    pthread_mutex_lock(&cb_lock);
    cb_rc = rc;
    cb_errno = errno;
    cb_done = 1;
    pthread_cond_broadcast(&cb_cond);
    pthread_mutex_unlock(&cb_lock);
}

static void on_event_attach(void *arg, const tc_gc_event *ev)
{
    (void)arg;
    if (ev->kind == TC_GC_EVENT_START)
        cb_try_attach();
}

static void on_pressure_attach(void *arg, const tc_memory_pressure *info)
{
    (void)arg;
    (void)info;
    cb_try_attach();
}

static void *pool_make(void *arg)
{
    (void)arg;
    return malloc(16);
}

static void pool_release_attach(void *buf, void *arg)
{
    (void)arg;
    free(buf);
    cb_try_attach();
}

/* Waits, as a blocked thread, for the callback's attempt; its result. */
static void expect_callback_refused(void)
{
    tc_blocking_begin();
    pthread_mutex_lock(&cb_lock);
    while (!cb_done)
        pthread_cond_wait(&cb_cond, &cb_lock);
    int rc = cb_rc, err = cb_errno;
    cb_done = 0;
    pthread_mutex_unlock(&cb_lock);
    tc_blocking_end();
    CHECK(rc == -1 && err == EPERM);
}

/* A list of `bytes` kept in holder[1]. */
static void keep_list(size_t bytes)
{
    const tc_type *t = lnode_type();
    lnode *head = NULL;
    for (size_t i = 0; i < bytes / sizeof(lnode); i++) {
        lnode *x = tc_alloc(t);
        CHECK(x != NULL);
        TC_STORE(x, next, head);
        head = x;
    }
    holder[1] = head;
}

static void child_library_threads(void)
{
    init_or_die();
    hold_roots();
    CHECK(tc_on_gc_event(on_event_attach, NULL) == 0);
    tc_collect();
    expect_callback_refused();
    CHECK(tc_on_gc_event(NULL, NULL) == 0);
    tc_collect(); /* it hung here when the event thread had attached */

    tc_pool *pool = tc_pool_create_native(pool_make, pool_release_attach, NULL);
    CHECK(pool != NULL);
    tc_pool_put(pool, tc_pool_get(pool));
    tc_collect();
    tc_collect(); /* the entry is dropped, on the collector's thread */
    expect_callback_refused();
    tc_collect();
    tc_pool_destroy(pool);

    keep_list((size_t)20 << 20);
    CHECK(tc_on_memory_pressure(on_pressure_attach, NULL) == 0);
    tc_set_memory_limit((int64_t)32 << 20);
    tc_collect();
    expect_callback_refused();
    CHECK(tc_on_memory_pressure(NULL, NULL) == 0);
    tc_set_memory_limit(INT64_MAX);
    tc_collect();
}

static void library_threads_cannot_attach(void **state)
{
    (void)state;
    child_result r;
    run_child(child_library_threads, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "tc_thread_attach called on one of the library's own threads");
}

/* ---- 8. Unregistering the pressure callback waits for its call ------------ */

static int held_blocked, held_in_call, held_early; /* cb_lock */
static tci_atomic unreg_tid, unreg_returned;

static void on_pressure_held(void *arg, const tc_memory_pressure *info)
{
    (void)arg;
    (void)info;
    pthread_mutex_lock(&cb_lock);
    held_in_call = 1;
    pthread_cond_broadcast(&cb_cond);
    while (held_blocked)
        pthread_cond_wait(&cb_cond, &cb_lock);
    if (tci_atomic_load_acquire(&unreg_returned))
        held_early = 1; /* the program may have freed arg by now */
    held_in_call = 0;
    pthread_cond_broadcast(&cb_cond);
    pthread_mutex_unlock(&cb_lock);
}

static void *unregister_main(void *arg)
{
    (void)arg;
    tci_atomic_store_release(&unreg_tid, (uintptr_t)gettid());
    tc_on_memory_pressure(NULL, NULL);
    tci_atomic_store_release(&unreg_returned, 1);
    return NULL;
}

static void child_pressure_unregister_waits(void)
{
    init_or_die();
    hold_roots();
    keep_list((size_t)20 << 20);
    held_blocked = 1;
    CHECK(tc_on_memory_pressure(on_pressure_held, NULL) == 0);
    tc_set_memory_limit((int64_t)32 << 20);
    tc_collect();
    tc_blocking_begin();
    pthread_mutex_lock(&cb_lock);
    while (!held_in_call)
        pthread_cond_wait(&cb_cond, &cb_lock);
    pthread_mutex_unlock(&cb_lock);
    /* Another thread unregisters while the callback is held; once it is
     * asleep in there (or, wrongly, done), the callback is let go. */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, unregister_main, NULL) == 0);
    test_wait_thread_asleep(&unreg_tid, &unreg_returned);
    pthread_mutex_lock(&cb_lock);
    held_blocked = 0;
    pthread_cond_broadcast(&cb_cond);
    while (held_in_call)
        pthread_cond_wait(&cb_cond, &cb_lock);
    int early = held_early;
    pthread_mutex_unlock(&cb_lock);
    CHECK(pthread_join(th, NULL) == 0);
    tc_blocking_end();
    CHECK(!early);
    tc_set_memory_limit(INT64_MAX);
}

static void pressure_unregistration_waits_for_the_call(void **state)
{
    (void)state;
    child_result r;
    run_child(child_pressure_unregister_waits, NULL, &r);
    expect_exit0(&r);
}

/* ---- 9. Root ranges that are not mapped ------------------------------------ */

static void child_root_ranges(void)
{
    init_or_die();
    static char small[128];
    errno = 0;
    CHECK(tc_root_add(small, (size_t)1 << 40) == -1 && errno == EFAULT);
    long page = sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(two != MAP_FAILED);
    CHECK(munmap(two + page, (size_t)page) == 0);
    errno = 0;
    CHECK(tc_root_add(two, 2 * (size_t)page) == -1 && errno == EFAULT);
    CHECK(tc_root_add(two, (size_t)page) == 0);
    char *none = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(none != MAP_FAILED);
    errno = 0;
    CHECK(tc_root_add(none, (size_t)page) == -1 && errno == EFAULT);
    CHECK(tc_root_add(small, sizeof small) == 0);
    tc_collect(); /* it crashed here, scanning the terabyte */
    tc_root_remove(two);
    tc_root_remove(small);
}

static void root_ranges_must_be_mapped(void **state)
{
    (void)state;
    child_result r;
    run_child(child_root_ranges, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "the range is not all mapped and readable");
}

/* ---- 10. Handles destroyed twice ------------------------------------------- */

static void child_double_destroy(void)
{
    init_or_die();
    hold_roots();
    holder[0] = tc_alloc_atomic(16);
    void *obj = holder[0];
    tc_weak *w = tc_weak_create(obj);
    CHECK(w != NULL);
    tc_weak_destroy(w);
    tc_weak_destroy(w);
    errno = 0;
    CHECK(tc_weak_get(w) == NULL && errno == EINVAL);
    tc_ephemeron *e = tc_ephemeron_create(obj, NULL);
    CHECK(e != NULL);
    tc_ephemeron_destroy(e);
    tc_ephemeron_destroy(e);
    errno = 0;
    CHECK(tc_ephemeron_key(e) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(tc_ephemeron_value(e) == NULL && errno == EINVAL);
    /* The registries are intact: more handles come and go (past the
     * quarantine's size), a cycle settles them, a new one works. */
    for (int i = 0; i < 3000; i++) {
        tc_weak *x = tc_weak_create(obj);
        tc_ephemeron *y = tc_ephemeron_create(obj, obj);
        CHECK(x && y);
        tc_weak_destroy(x);
        tc_ephemeron_destroy(y);
    }
    tc_collect();
    tc_weak *w2 = tc_weak_create(obj);
    CHECK(w2 != NULL && tc_weak_get(w2) == obj);
    tc_weak_destroy(w2);
}

static void handles_destroyed_twice_are_reported(void **state)
{
    (void)state;
    child_result r;
    run_child(child_double_destroy, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "tc_weak_destroy(");
    expect_says(&r, "tc_ephemeron_destroy(");
    expect_says(&r, "the handle was destroyed already");
}

/* ---- 11, 12. TRICOLOR_DEBUG and the messages -------------------------------- */

static void child_init_must_fail(void)
{
    errno = 0;
    CHECK(tc_init() == -1 && errno == EINVAL);
}

static void child_traced_label(void)
{
    init_or_die();
    errno = 0;
    CHECK(tc_type_new_traced("x", 16, NULL) == NULL && errno == EINVAL);
}

static void strict_debug_and_true_messages(void **state)
{
    (void)state;
    child_result r;
    run_child(child_init_must_fail, (const char *const[]){ "TRICOLOR_DEBUG=gctrace=1,,verify=1", NULL },
              &r);
    expect_exit0(&r);
    expect_says(&r, "an empty item");
    run_child(child_init_must_fail, (const char *const[]){ "TRICOLOR_DEBUG=verify=2", NULL }, &r);
    expect_exit0(&r);
    expect_says(&r, "from 0 to 1");
    run_child(child_init_must_fail,
              (const char *const[]){ "TRICOLOR_DEBUG=memprofilerate=2147483648", NULL }, &r);
    expect_exit0(&r);
    expect_says(&r, "from 0 to 2147483647");
    run_child(child_traced_label, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "tc_type_new_traced(\"x\")");
}

/* ---- 13. Settings made before tc_init -------------------------------------- */

static void child_setters_before_init(void)
{
    errno = 0;
    CHECK(tc_set_gc_percent(-1) == -1 && errno == EPERM);
    errno = 0;
    CHECK(tc_set_memory_limit((int64_t)1 << 30) == -1 && errno == EPERM);
    errno = 0;
    CHECK(tc_set_mem_profile_rate(1) == 0 && errno == EPERM);
    /* Registrations are kept: a root range added before tc_init is one. */
    hold_roots();
    init_or_die();
    tc_memstats ms = test_stats();
    CHECK(ms.gc_percent == 100);
    CHECK(ms.memory_limit == INT64_MAX);
    CHECK(ms.mem_profile_rate == 512 * 1024);
    holder[0] = tc_alloc_atomic(64);
    CHECK(holder[0] != NULL);
    test_collect();
    CHECK(test_is_live(holder[0]));
}

static void setters_before_init_are_refused(void **state)
{
    (void)state;
    child_result r;
    run_child(child_setters_before_init, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "tc_set_gc_percent: call tc_init() first");
    expect_says(&r, "tc_set_memory_limit: call tc_init() first");
    expect_says(&r, "tc_set_mem_profile_rate: call tc_init() first");
}

/* ---- 14. A finalizer that detaches; a frames hook that overstates ---------- */

static int fin_runs, fin_detached_after; /* cb_lock */

static void fin_detach(void *obj, void *arg)
{
    (void)obj;
    (void)arg;
    tc_thread_detach();
    pthread_mutex_lock(&cb_lock);
    fin_runs++;
    if (!tc_thread_is_attached())
        fin_detached_after++;
    pthread_cond_broadcast(&cb_cond);
    pthread_mutex_unlock(&cb_lock);
}

/* The four objects on a thread of their own (test_fresh_call): no word of
 * them stays on this stack, where the conservative scan would keep one
 * and the wait below would never end. */
static uintptr_t make_finalized(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    for (int i = 0; i < 4; i++) {
        void *o = tc_alloc_atomic(32);
        CHECK(o && tc_set_finalizer(o, fin_detach, NULL) == 0);
    }
    return 0;
}

static void child_finalizer_detach(void)
{
    init_or_die();
    test_fresh_call(make_finalized, 0, 0, 0);
    test_collect();
    tc_blocking_begin();
    pthread_mutex_lock(&cb_lock);
    while (fin_runs < 4)
        pthread_cond_wait(&cb_cond, &cb_lock);
    int detached = fin_detached_after;
    pthread_mutex_unlock(&cb_lock);
    tc_blocking_end();
    CHECK(detached == 0);
}

static void finalizer_thread_stays_attached(void **state)
{
    (void)state;
    child_result r;
    run_child(child_finalizer_detach, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "it stays attached");
    if (strstr(r.err, "not attached (ignored)"))
        fail_msg("finalizers ran unattached:\n%s", r.err);
}

static int frames_overstated(void *arg, tc_frame *frames, int max)
{
    (void)arg;
    (void)max;
    frames[0] = (tc_frame){ "guest_fn", "guest.scm", 7 };
    return 5; /* four more than it filled */
}

static void child_frames_overstated(void)
{
    init_or_die();
    tc_set_mem_profile_rate(1);
    tc_set_profile_frames(frames_overstated, NULL);
    for (int i = 0; i < 100; i++)
        CHECK(tc_alloc_atomic(32) != NULL);
    FILE *f = tmpfile();
    CHECK(f != NULL);
    CHECK(tc_write_heap_profile(f) == 0);
    fclose(f);
    tc_set_profile_frames(NULL, NULL);
}

static void frames_hook_count_is_checked(void **state)
{
    (void)state;
    child_result r;
    run_child(child_frames_overstated, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "returned 5 frames but filled 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(big_offset_slot_keeps_its_object),
        cmocka_unit_test(checkers_read_high_slots),
        cmocka_unit_test(alloc_sized_below_the_type_is_refused),
        cmocka_unit_test(collector_thread_failure_is_enomem),
        cmocka_unit_test(stopped_collector_obeys_the_cpu_limiter),
        cmocka_unit_test(heap_calls_in_a_blocking_region_are_refused),
        cmocka_unit_test(library_threads_cannot_attach),
        cmocka_unit_test(pressure_unregistration_waits_for_the_call),
        cmocka_unit_test(root_ranges_must_be_mapped),
        cmocka_unit_test(handles_destroyed_twice_are_reported),
        cmocka_unit_test(strict_debug_and_true_messages),
        cmocka_unit_test(setters_before_init_are_refused),
        cmocka_unit_test(finalizer_thread_stays_attached),
        cmocka_unit_test(frames_hook_count_is_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
