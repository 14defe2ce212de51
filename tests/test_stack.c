/* test_stack: coroutine and fiber stacks (tc_stack_*, runtime/stack.c).
 *
 * ucontext fibers, each on a malloc'd stack and holding the only
 * reference to a list in a local, suspended and resumed across full and
 * concurrent cycles: cycles held at their first stop while every fiber is
 * suspended and one runs, a stack running at a mark's first stop and
 * suspended at its last and the other way round, a collection on a fiber
 * stack, all under verify=1 and again under checkmark=1. The lists stay
 * intact and the dropped ones are collected. A thread that runs on a
 * stack it did not register aborts with a message naming the fix, and
 * bad ranges are refused. Every scenario runs in a child (its own
 * tc_init and TRICOLOR_DEBUG). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <cmocka.h>

#include "child.h"
#include "testutil.h"

#define FIBER_STACK (1u << 20) /* the 1 MiB */
#define NFIBERS 3

enum cmd { CMD_VERIFY, CMD_COLLECT, CMD_DROP, CMD_HOLD_START, CMD_HOLD_END, CMD_EXIT };

typedef struct fiber {
    ucontext_t ctx;
    tc_stack *stack;
    void *mem;
    enum cmd cmd;
    uint64_t base; /* the ids of its current list: base .. base + len - 1 */
    size_t len;
    int bad;       /* a list found broken */
    uintptr_t dropped_head, dropped_tail; /* hidden: a list it dropped */
} fiber;

/* The context each thread resumes fibers from (a fiber resumed by another
 * thread goes back to that thread's). */
static __thread ucontext_t main_ctx;
static fiber fibers[NFIBERS];
static uint64_t held_cycle; /* a cycle a fiber started held, or main did */

/* A concurrent cycle held after its first stop, and its release and
 * end: from main's stack or a fiber's. */
static void cycle_hold(void)
{
    tci_gate_hold(1);
    held_cycle = tci_gate_start_cycle();
    tci_gate_wait_held();
}

static void cycle_release(void)
{
    tci_gate_hold(0);
    tci_gate_wait_cycle(held_cycle);
}

/* From fiber to main and back: tc_stack_switch right before each switch. */
static void fiber_yield(fiber *f)
{
    tc_stack_switch(NULL);
    CHECK(swapcontext(&f->ctx, &main_ctx) == 0);
}

static void fiber_resume(fiber *f, enum cmd c)
{
    f->cmd = c;
    tc_stack_switch(f->stack);
    CHECK(swapcontext(&main_ctx, &f->ctx) == 0);
    CHECK(tc_stack_current() == NULL);
}

/* The list's nodes are linked by ->l, head first; returns the head. */
static __attribute__((noinline)) test_node *list_build(uint64_t base, size_t len, uintptr_t *tail)
{
    test_node *head = NULL, *last = NULL;
    for (size_t i = 0; i < len; i++) {
        test_node *n = test_node_new(base + i);
        if (last)
            TC_STORE(last, l, n); /* a mark may be running: the barrier */
        else
            head = n;
        last = n;
    }
    *tail = test_hide(last);
    return head;
}

static __attribute__((noinline)) int list_ok(const test_node *n, uint64_t base, size_t len)
{
    size_t i = 0;
    for (; n; n = n->l, i++)
        if (i >= len || !test_node_ok(n, base + i))
            return 0;
    return i == len;
}

static void fiber_main(unsigned lo, unsigned hi)
{
    fiber *f = (fiber *)(((uintptr_t)hi << 32) | lo);
    CHECK(tc_stack_current() == f->stack);
    uintptr_t tail;
    /* The only reference to the list: a slot of this fiber's stack. */
    test_node *volatile head = list_build(f->base, f->len, &tail);
    for (;;) {
        fiber_yield(f);
        switch (f->cmd) {
        case CMD_VERIFY:
            break;
        case CMD_COLLECT: /* the crash: a collection on this stack */
            test_collect();
            break;
        case CMD_DROP:
            f->dropped_head = test_hide(head);
            f->dropped_tail = tail;
            head = NULL;
            f->base += 1000000;
            head = list_build(f->base, f->len, &tail);
            break;
        case CMD_HOLD_START: /* a mark's first stop with this stack running */
            cycle_hold();
            break;
        case CMD_HOLD_END: /* its last stop with this stack running */
            cycle_release();
            break;
        case CMD_EXIT:
            head = NULL;
            for (;;)
                fiber_yield(f); /* never resumed */
        }
        if (!list_ok(head, f->base, f->len))
            f->bad = 1;
    }
}

static void fiber_new(fiber *f, uint64_t base, size_t len)
{
    memset(f, 0, sizeof *f);
    f->base = base;
    f->len = len;
    f->mem = malloc(FIBER_STACK);
    CHECK(f->mem);
    f->stack = tc_stack_register(f->mem, FIBER_STACK);
    CHECK(f->stack);
    CHECK(getcontext(&f->ctx) == 0);
    f->ctx.uc_stack.ss_sp = f->mem;
    f->ctx.uc_stack.ss_size = FIBER_STACK;
    f->ctx.uc_link = NULL;
    uintptr_t p = (uintptr_t)f;
    makecontext(&f->ctx, (void (*)(void))fiber_main, 2, (unsigned)p, (unsigned)(p >> 32));
    fiber_resume(f, CMD_VERIFY); /* builds its list and comes back */
}

static void verify_all(void)
{
    for (int i = 0; i < NFIBERS; i++) {
        fiber_resume(&fibers[i], CMD_VERIFY);
        CHECK(!fibers[i].bad);
    }
}

static int dropped_live(const fiber *f)
{
    return test_is_live(test_unhide(f->dropped_head)) ||
           test_is_live(test_unhide(f->dropped_tail));
}

/* Another attached thread resumes a fiber main suspended: it drops its
 * list and builds another there, and leaves it suspended again. */
static void *migrate_main(void *arg)
{
    fiber *f = arg;
    CHECK(tc_thread_attach() == 0);
    fiber_resume(f, CMD_DROP);
    fiber_resume(f, CMD_VERIFY);
    tc_thread_detach();
    return NULL;
}

static void child_fibers(void)
{
    CHECK(tc_init() == 0);
    (void)test_node_type();
    for (int i = 0; i < NFIBERS; i++)
        fiber_new(&fibers[i], (uint64_t)(i + 1) << 40, i == 0 ? 100000 : 20000);
    CHECK(tc_stack_current() == NULL);

    /* 1. Full cycles with every fiber suspended, and one on a fiber. */
    test_collect();
    verify_all();
    fiber_resume(&fibers[0], CMD_COLLECT);
    CHECK(!fibers[0].bad);
    verify_all();

    /* 2. A mark held after its first stop (every fiber suspended then):
     * one fiber drops its list and builds another, one reads its own. */
    cycle_hold();
    fiber_resume(&fibers[1], CMD_DROP);
    fiber_resume(&fibers[2], CMD_VERIFY);
    cycle_release();
    verify_all();

    /* 3. Fiber 0 running at the first stop (main's stack suspended),
     * suspended at the last (main's running). */
    fiber_resume(&fibers[0], CMD_HOLD_START);
    fiber_resume(&fibers[2], CMD_DROP);
    cycle_release();
    verify_all();

    /* 4. Main running at the first stop, fiber 2 at the last. */
    cycle_hold();
    fiber_resume(&fibers[0], CMD_VERIFY);
    fiber_resume(&fibers[2], CMD_HOLD_END);
    verify_all();

    /* 5. The dropped lists are gone; the others are intact. */
    test_collect();
    test_collect();
    CHECK(!dropped_live(&fibers[1]));
    CHECK(!dropped_live(&fibers[2]));
    verify_all();

    /* 6. A suspended fiber migrates: resumed by another thread during a
     * held mark, then by main again. */
    cycle_hold();
    pthread_t th;
    CHECK(pthread_create(&th, NULL, migrate_main, &fibers[1]) == 0);
    tc_blocking_begin();
    CHECK(pthread_join(th, NULL) == 0);
    tc_blocking_end();
    cycle_release();
    verify_all();
    fiber_resume(&fibers[1], CMD_COLLECT);
    test_collect();
    CHECK(!dropped_live(&fibers[1]));
    verify_all();

    /* 7. A fiber that ends and is unregistered: its list goes too. */
    for (int i = 0; i < NFIBERS; i++) {
        fiber *f = &fibers[i];
        fiber_resume(f, CMD_EXIT);
        tc_stack_unregister(f->stack);
        free(f->mem);
    }
    test_collect();
    tc_memstats ms = test_stats();
    /* Three lists of 100,000 and 2 x 20,000 nodes of 64 bytes are gone:
     * what is left is far below one of them. */
    CHECK(ms.heap_alloc < 100000 * sizeof(test_node) / 4);
}

static void test_stack_fibers_across_cycles(void **state)
{
    (void)state;
    child_result r;
    run_child(child_fibers, (const char *const[]){ "TRICOLOR_DEBUG=verify=1", NULL }, &r);
    expect_exit0(&r);
}

static void test_stack_fibers_checkmark(void **state)
{
    (void)state;
    child_result r;
    run_child(child_fibers, (const char *const[]){ "TRICOLOR_DEBUG=checkmark=1", NULL }, &r);
    expect_exit0(&r);
}

/* ---- A stack the collector was not told of --------------------------------- */

static ucontext_t rogue_ctx;
static enum cmd rogue_cmd;

static void rogue_main(void)
{
    if (rogue_cmd == CMD_COLLECT)
        tc_collect();
    else if (rogue_cmd == CMD_DROP)
        for (;;) /* till a cycle comes: it parks here, or collects */
            (void)test_node_new(1);
    else
        tc_blocking_begin();
    CHECK(0); /* not reached: the collector aborts first */
}

static void child_rogue(void)
{
    CHECK(tc_init() == 0);
    void *mem = malloc(FIBER_STACK);
    CHECK(mem);
    CHECK(getcontext(&rogue_ctx) == 0);
    rogue_ctx.uc_stack.ss_sp = mem;
    rogue_ctx.uc_stack.ss_size = FIBER_STACK;
    makecontext(&rogue_ctx, rogue_main, 0);
    CHECK(swapcontext(&main_ctx, &rogue_ctx) == 0); /* no tc_stack_switch */
}

static void child_rogue_collect(void)
{
    rogue_cmd = CMD_COLLECT;
    child_rogue();
}

static void child_rogue_blocking(void)
{
    rogue_cmd = CMD_VERIFY;
    child_rogue();
}

static void child_rogue_alloc(void)
{
    rogue_cmd = CMD_DROP;
    child_rogue();
}

static void expect_abort_naming_fix(const child_result *r)
{
    if (!WIFSIGNALED(r->status) || WTERMSIG(r->status) != SIGABRT)
        fail_msg("child status %#x, not SIGABRT; its stderr:\n%s", r->status, r->err);
    expect_says(r, "outside the stack the collector knows it runs on");
    expect_says(r, "tc_stack_register");
    expect_says(r, "tc_stack_switch");
}

static void test_stack_unregistered_switch_aborts(void **state)
{
    (void)state;
    child_result r;
    run_child(child_rogue_collect, NULL, &r);
    expect_abort_naming_fix(&r);
    run_child(child_rogue_blocking, NULL, &r);
    expect_abort_naming_fix(&r);
    run_child(child_rogue_alloc, NULL, &r);
    expect_abort_naming_fix(&r);
}

/* A switch to (or an unregister of) a stack unregistered already is
 * caught with a message, not a read of freed memory (ASan reported one). */
static void child_switch_to_unregistered(void)
{
    CHECK(tc_init() == 0);
    char *mem = malloc(FIBER_STACK);
    CHECK(mem);
    tc_stack *s = tc_stack_register(mem, FIBER_STACK);
    CHECK(s);
    tc_stack_unregister(s);
    errno = 0;
    tc_stack_unregister(s); /* twice: refused */
    CHECK(errno == EINVAL);
    tc_stack_switch(s); /* aborts, naming the misuse */
    fprintf(stderr, "no abort\n");
    free(mem);
}

static void test_stack_switch_to_unregistered_aborts(void **state)
{
    (void)state;
    child_result r;
    run_child(child_switch_to_unregistered, NULL, &r);
    if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGABRT)
        fail_msg("child status %#x, not SIGABRT; its stderr:\n%s", r.status, r.err);
    expect_says(&r, "not a registered stack (unregistered already?)");
}

/* ---- Bad ranges ------------------------------------------------------------ */

static void expect_refused(void *lo, size_t size, int err)
{
    errno = 0;
    CHECK(tc_stack_register(lo, size) == NULL);
    CHECK(errno == err);
}

static void child_bad_ranges(void)
{
    CHECK(tc_init() == 0);
    char *mem = malloc(FIBER_STACK);
    CHECK(mem);
    expect_refused(NULL, FIBER_STACK, EINVAL);
    expect_refused(mem, 0, EINVAL);
    expect_refused((void *)(UINTPTR_MAX - 4095), 8192, EINVAL);
    expect_refused(mem + 1, 6, EINVAL); /* no whole word */
    /* Unmapped: a mapping given back. */
    char *gone = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(gone != MAP_FAILED);
    CHECK(munmap(gone, 1 << 16) == 0);
    expect_refused(gone, 1 << 16, EFAULT);
    /* This thread's own stack. */
    volatile char here[64];
    expect_refused((void *)here, sizeof here, EEXIST);
    /* Another registered stack, and a range that ends inside it. */
    tc_stack *s = tc_stack_register(mem + 4096, FIBER_STACK - 8192);
    CHECK(s);
    expect_refused(mem + 8192, 4096, EEXIST);
    expect_refused(mem, 4097, EEXIST);
    /* Its neighbours are fine. */
    tc_stack *below = tc_stack_register(mem, 4096);
    CHECK(below);
    tc_stack_unregister(below);
    /* Unregistering what no thread runs on works; NULL is refused. */
    errno = 0;
    tc_stack_unregister(NULL);
    CHECK(errno == EINVAL);
    tc_stack_unregister(s);
    /* The range is free again. */
    s = tc_stack_register(mem, FIBER_STACK);
    CHECK(s);
    tc_stack_unregister(s);
    free(mem);
}

static void test_stack_bad_ranges_refused(void **state)
{
    (void)state;
    child_result r;
    run_child(child_bad_ranges, NULL, &r);
    expect_exit0(&r);
    expect_says(&r, "tc_stack_register(");
    expect_says(&r, "overlaps the calling thread's own stack");
    expect_says(&r, "not mapped");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stack_fibers_across_cycles),
        cmocka_unit_test(test_stack_fibers_checkmark),
        cmocka_unit_test(test_stack_unregistered_switch_aborts),
        cmocka_unit_test(test_stack_switch_to_unregistered_aborts),
        cmocka_unit_test(test_stack_bad_ranges_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
