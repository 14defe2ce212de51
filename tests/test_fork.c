/* test_fork.c: fork() of an initialised process (runtime/fork.c,
 * gc/fork.c). Each scenario runs in a child of its own (run_child: its own
 * tc_init), which builds a list, collects, and forks: the grandchild and
 * the forking process then each allocate 100 MiB, collect, check the list
 * and what they allocated, and the forking process checks that the
 * grandchild exited 0. Scenarios: after cycles, while another attached
 * thread allocates, while a mark is held open at the mark gate, with a
 * weak table in a held mark and before its clearing pass, with the
 * library's threads all running, and fork followed by exec. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "child.h"
#include "testutil.h"
#include "tricolor.h"

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer ends a child that starts a thread after a fork of a
 * process with threads ("starting new threads after multi-threaded fork is
 * not supported", its die_after_fork=1), since the threads that vanished
 * may have held its own or libc's locks. The library's handlers are what
 * makes that safe for its own locks, and the child must start its
 * collector again: these tests turn the check off (TSAN_OPTIONS still
 * adds to this, as every test's halt_on_error and suppressions). */
const char *__tsan_default_options(void);
__attribute__((visibility("default"))) const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

typedef struct node {
    struct node *next;
    uint64_t id, check;
    uint64_t pad[5];
} node;

#define NODES 100000
#define WORK_BYTES (100u << 20)
#define KEEP 16

/* The list's head, and a few objects the work keeps: a small root range
 * (scanned in the stops). */
static void *roots[1 + KEEP];
/* The weak table's root range: the table, the keep array (build_weak). */
static void *wroots[2];

static uint64_t check_of(uint64_t id)
{
    return id * 0x9e3779b97f4a7c15u ^ 0x5bd1e995u;
}

static void build_list(void)
{
    node *head = NULL;
    for (uint64_t i = 0; i < NODES; i++) {
        node *n = tc_alloc_conservative(sizeof *n);
        CHECK(n != NULL);
        n->id = i;
        n->check = check_of(i);
        tc_store(n, &n->next, head);
        head = n;
        tc_store(NULL, &roots[0], head);
    }
}

static void check_list(void)
{
    uint64_t want = NODES;
    for (node *n = roots[0]; n; n = n->next) {
        want--;
        CHECK(n->id == want);
        CHECK(n->check == check_of(want));
    }
    CHECK(want == 0);
}

/* 100 MiB in 4 KiB objects, every 1024th kept (filled, checked after the
 * collection); the rest is garbage the collections take back. */
static void work(void)
{
    tc_memstats before, after;
    tc_read_memstats(&before);
    size_t n = WORK_BYTES / 4096;
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = tc_alloc_atomic(4096);
        CHECK(p != NULL);
        memset(p, (int)(i & 0xff), 4096);
        if (i % 1024 == 0)
            tc_store(NULL, &roots[1 + (i / 1024) % KEEP], p);
    }
    tc_collect();
    for (size_t k = 0; k < KEEP; k++) {
        unsigned char *p = roots[1 + k];
        CHECK(p != NULL);
        size_t i = 0; /* the last i with i / 1024 % KEEP == k */
        for (size_t j = 0; j < n; j += 1024)
            if ((j / 1024) % KEEP == k)
                i = j;
        for (size_t b = 0; b < 4096; b++)
            CHECK(p[b] == (unsigned char)(i & 0xff));
    }
    check_list();
    tc_read_memstats(&after);
    CHECK(after.num_gc > before.num_gc);
    CHECK(after.mallocs >= before.mallocs + n);
    /* What the collections took back: the heap is far below 100 MiB. */
    CHECK(after.heap_alloc < WORK_BYTES / 2);
}

/* The grandchild's part: one attached thread, no mark, the statistics of
 * its parent at the fork, then the work. Exits 0, or 3 on a failed check. */
static void grandchild(uint32_t num_gc_at_fork)
{
    CHECK(tc_thread_is_attached());
    CHECK(tci_thread_count() == 1);
    CHECK(tci_phase() == TCI_PHASE_OFF);
    tc_memstats ms;
    tc_read_memstats(&ms);
    CHECK(ms.num_gc >= num_gc_at_fork);
    check_list();
    work();
    _exit(0);
}

static void wait_grandchild(pid_t pid)
{
    int status = 0;
    tc_blocking_begin();
    pid_t r = waitpid(pid, &status, 0);
    tc_blocking_end();
    CHECK(r == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "grandchild status %#x\n", status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static pid_t fork_grandchild(void)
{
    tc_memstats ms;
    tc_read_memstats(&ms);
    unsigned long forks = tci_fork_count();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        grandchild(ms.num_gc);
    CHECK(tci_fork_count() == forks + 1);
    return pid;
}

/* The heap checker after every cycle, in both processes. */
static const char *const verify_env[] = { "TRICOLOR_DEBUG=verify=1", NULL };

static void setup(void)
{
    CHECK(tc_init() == 0);
    CHECK(tc_root_add(roots, sizeof roots) == 0);
    CHECK(tc_root_add(wroots, sizeof wroots) == 0);
    build_list();
    for (int i = 0; i < 3; i++)
        tc_collect();
    check_list();
}

static void after_cycles(void)
{
    setup();
    pid_t pid = fork_grandchild();
    work();
    wait_grandchild(pid);
}

/* A scenario in a child of its own, which must exit 0. */
static void scenario(void (*fn)(void), const char *const *env)
{
    child_result r;
    run_child(fn, env, &r);
    expect_exit0(&r);
}

static void test_fork_after_cycles(void **state)
{
    (void)state;
    scenario(after_cycles, NULL);
}

/* Another attached thread allocates (and drops) without pause, and
 * collects every 5,000 objects, while the main thread forks, FORKS times:
 * the forks come in its allocation paths, in marks and sweeps. */
#define FORKS 4
static tci_atomic churn_stop, churn_count;

static void *churn(void *arg)
{
    (void)arg;
    CHECK(tc_thread_attach() == 0);
    void *keep = NULL;
    while (!tci_atomic_load_relaxed(&churn_stop)) {
        void **p = tc_alloc_conservative(48 + (tci_atomic_load_relaxed(&churn_count) % 64) * 16);
        CHECK(p != NULL);
        tc_store(p, &p[0], keep);
        keep = tci_atomic_load_relaxed(&churn_count) % 256 ? p : NULL;
        /* Cycles of its own too, so the forks land in every phase. */
        if (tci_atomic_add_full(&churn_count, 1) % 5000 == 0)
            tc_collect();
    }
    tc_thread_detach();
    return NULL;
}

static void while_allocating(void)
{
    setup();
    pthread_t th;
    CHECK(pthread_create(&th, NULL, churn, NULL) == 0);
    for (int f = 0; f < FORKS; f++) {
        uint64_t seen = tci_atomic_load_relaxed(&churn_count);
        while (tci_atomic_load_relaxed(&churn_count) < seen + 10000)
            tc_safepoint(); /* it allocates meanwhile */
        pid_t pid = fork_grandchild();
        wait_grandchild(pid);
    }
    pid_t pid = fork_grandchild();
    work();
    wait_grandchild(pid);
    tci_atomic_store_relaxed(&churn_stop, 1);
    tc_blocking_begin();
    CHECK(pthread_join(th, NULL) == 0);
    tc_blocking_end();
}

static void test_fork_while_another_thread_allocates(void **state)
{
    (void)state;
    scenario(while_allocating, verify_env);
}

/* The fork comes while a concurrent mark is held at the mark gate, just
 * after its first stop: the grandchild abandons that mark, the parent
 * finishes it once the gate opens. */
static uint64_t hold_mark(void)
{
    tci_gate_hold(1);
    uint64_t want = tci_gate_start_cycle();
    tci_gate_wait_held();
    CHECK(tci_phase() == TCI_PHASE_MARK);
    return want;
}

static void release_mark(uint64_t want)
{
    tci_gate_hold(0);
    tci_gate_wait_cycle(want);
}

static void mark_held(void)
{
    setup();
    uint64_t want = hold_mark();
    pid_t pid = fork_grandchild();
    release_mark(want);
    work();
    wait_grandchild(pid);
}

static void test_fork_while_mark_held(void **state)
{
    (void)state;
    scenario(mark_held, verify_env);
}

/* A weak table of WEAK_N entries (keys are list-like nodes with their
 * index as id), the even keys kept by wkeep, the odd ones by nothing;
 * wroots is a root range of its own. */
#define WEAK_N 10000

static uintptr_t build_weak_fresh(uintptr_t a, uintptr_t b, uintptr_t c)
{
    (void)a, (void)b, (void)c;
    static const size_t weak[1] = {0};
    const tc_type *t = tc_type_new_weak("fork.weak", sizeof(void *), NULL, 0, weak, 1, NULL, 0);
    CHECK(t != NULL);
    void **table = tc_alloc_array(t, WEAK_N);
    void **keep = tc_alloc_conservative(WEAK_N / 2 * sizeof(void *));
    CHECK(table && keep);
    tc_store(NULL, &wroots[0], table);
    tc_store(NULL, &wroots[1], keep);
    for (uint64_t i = 0; i < WEAK_N; i++) {
        node *n = tc_alloc_conservative(sizeof *n);
        CHECK(n != NULL);
        n->id = i;
        n->check = check_of(i);
        tc_store(table, &table[i], n);
        if (i % 2 == 0)
            tc_store(keep, &keep[i / 2], n);
    }
    return 0;
}

/* On a thread of its own (test_fresh_call), so that no word of the keys
 * stays on this stack for the conservative scan to keep. */
static void build_weak(void)
{
    test_fresh_call(build_weak_fresh, 0, 0, 0);
    test_clear_stack();
}

/* Every even key the node built, every odd one NULL (a cycle since the
 * table was built found them dead); with `raw`, the odd slots cleared
 * too (the pass is done). */
static void check_weak(int raw)
{
    void **table = wroots[0], **keep = wroots[1];
    for (uint64_t i = 0; i < WEAK_N; i++) {
        node *n = tc_load_weak(table, &table[i]);
        if (i % 2 == 0) {
            CHECK(n == keep[i / 2] && n->id == i && n->check == check_of(i));
        } else {
            CHECK(n == NULL);
            CHECK(!raw || table[i] == NULL);
        }
    }
}

/* The fork comes while a mark that scans a weak table is held (the
 * grandchild abandons it: nothing recorded or filed stays), and, in the
 * second scenario, after such a mark, before its clearing pass (the
 * grandchild finishes the pass in its first sweep). Both processes then
 * work and check the table. */
static void weak_grandchild(int pass_due)
{
    CHECK(tc_thread_is_attached());
    /* The abandoned mark's phase is OFF in the child (gc/fork.c). */
    CHECK(tci_phase() == (pass_due ? TCI_PHASE_CLEAR : TCI_PHASE_OFF));
    if (pass_due)
        check_weak(0); /* by the mark bits: the slots are not cleared yet */
    check_list();
    work();
    CHECK(tci_phase() == TCI_PHASE_OFF);
    check_weak(1);
    _exit(0);
}

static void weak_mark_held(void)
{
    setup();
    build_weak();
    /* Held after the first drain: the table is scanned, recorded. */
    tci_gate_hold_filed(1);
    uint64_t want = tci_gate_start_cycle();
    tci_gate_wait_filed_held();
    CHECK(tci_phase() == TCI_PHASE_MARK);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        weak_grandchild(0);
    tci_gate_hold_filed(0);
    tci_gate_wait_cycle(want);
    work();
    check_weak(1);
    wait_grandchild(pid);
}

static void weak_pass_due(void)
{
    setup();
    build_weak();
    tci_gate_hold_sweep(1);
    uint64_t want = tci_gate_start_cycle();
    tci_gate_wait_sweep_held();
    CHECK(tci_phase() == TCI_PHASE_CLEAR);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        weak_grandchild(1);
    check_weak(0);
    tci_gate_hold_sweep(0);
    tci_gate_wait_cycle(want);
    work();
    check_weak(1);
    wait_grandchild(pid);
}

static void test_fork_with_weak_fields(void **state)
{
    (void)state;
    scenario(weak_mark_held, verify_env);
    scenario(weak_pass_due, verify_env);
}

/* The library's threads of the parent (collector, helpers, scavenger,
 * event worker, finalizer thread), all running at the fork, start again
 * in the child: its cycles run, its events arrive, its finalizers run on
 * the finalizer thread; a pool works in both processes. */
static tci_atomic events_seen, finalized;

static void on_event(void *arg, const tc_gc_event *ev)
{
    (void)arg;
    (void)ev;
    tci_atomic_add_full(&events_seen, 1);
}

static void on_finalize(void *obj, void *arg)
{
    (void)obj;
    (void)arg;
    tci_atomic_add_full(&finalized, 1);
}

/* Drops objects with a finalizer and collects until the finalizer thread
 * has run one, and until an event has come: both on library threads. */
static void finalize_and_hear(void)
{
    uint64_t f0 = tci_atomic_load_relaxed(&finalized);
    uint64_t e0 = tci_atomic_load_relaxed(&events_seen);
    for (int i = 0; i < 64; i++)
        CHECK(tc_set_finalizer(tc_alloc_atomic(64), on_finalize, NULL) == 0);
    while (tci_atomic_load_relaxed(&finalized) == f0 ||
           tci_atomic_load_relaxed(&events_seen) == e0) {
        tc_collect();
        tc_blocking_begin();
        sched_yield();
        tc_blocking_end();
    }
}

static void *make_obj(void *arg)
{
    (void)arg;
    return tc_alloc_atomic(256);
}

/* The OS thread ids of the attached threads' records but the caller's
 * (at most n), read under world_lock: a restarted finalizer thread may be
 * attaching meanwhile. Returns how many; *self_seen whether the caller's
 * own record is there. */
static int other_records(int *tids, int n, int *self_seen)
{
    tci_thread *self = tci_thread_self();
    int k = 0;
    *self_seen = 0;
    tci_world_lock(self);
    for (tci_thread *t = tci_thread_first(); t; t = t->next) {
        if (t == self)
            *self_seen = 1;
        else if (k < n)
            tids[k++] = t->os_tid;
    }
    tci_world_unlock();
    return k;
}

static void library_threads(void)
{
    setup();
    CHECK(tc_on_gc_event(on_event, NULL) == 0);
    tc_pool *pool = tc_pool_create(make_obj, NULL);
    CHECK(pool != NULL);
    tc_pool_put(pool, tc_pool_get(pool));
    finalize_and_hear();
    int before[8], self_seen;
    int nbefore = other_records(before, 8, &self_seen);
    CHECK(self_seen && nbefore >= 1); /* the finalizer thread's, at least */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* The parent's other records went. A finalizer thread may already
         * be back (restarted by the fork handler when finalizers were
         * registered), with a new id: the parent's threads live on, so
         * their ids are not reused. */
        int after[8];
        int nafter = other_records(after, 8, &self_seen);
        CHECK(self_seen && nafter <= 1);
        for (int i = 0; i < nafter; i++)
            for (int j = 0; j < nbefore; j++)
                CHECK(after[i] != before[j]);
        tc_pool_put(pool, tc_pool_get(pool));
        finalize_and_hear();
        CHECK(tci_thread_count() == 2); /* it is back */
        work();
        tc_pool_destroy(pool);
        _exit(0);
    }
    tc_pool_put(pool, tc_pool_get(pool));
    finalize_and_hear();
    work();
    wait_grandchild(pid);
    tc_pool_destroy(pool);
}

static void test_fork_restarts_library_threads(void **state)
{
    (void)state;
    scenario(library_threads, NULL);
}

/* fork then exec, after cycles and while a mark is held. */
static void exec_true(void)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(4);
    }
    wait_grandchild(pid);
}

static void fork_exec(void)
{
    setup();
    exec_true();
    uint64_t want = hold_mark();
    exec_true();
    release_mark(want);
    work();
}

static void test_fork_then_exec(void **state)
{
    (void)state;
    scenario(fork_exec, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_after_cycles),
        cmocka_unit_test(test_fork_while_another_thread_allocates),
        cmocka_unit_test(test_fork_while_mark_held),
        cmocka_unit_test(test_fork_with_weak_fields),
        cmocka_unit_test(test_fork_restarts_library_threads),
        cmocka_unit_test(test_fork_then_exec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
