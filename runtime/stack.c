/* stack.c: the stacks threads run on: each attached thread's own and the
 * coroutine and fiber stacks the program registers (tc_stack_*).
 *
 * One registry holds them all, protected by world_lock (world.c), which
 * the stopper holds across a stop: registering and unregistering take it
 * (as blocked threads), so the list never changes under a scan, and a
 * suspended stack belongs to no thread, so any attached thread may resume
 * it. A stack is running (its runner's published frame says where its
 * live part begins, as a thread's stack always did) or suspended (the
 * frame of the tc_stack_switch that left it, copied here, and the stack
 * above it). Each stack is scanned on its own, from its live start to its
 * top, and a concurrent mark notes each one's start at its first stop:
 * gc/roots.c, and docs/design.md for why a stack that changed between
 * running and suspended within one mark is still seen whole.
 *
 * The switch itself takes no lock: what it writes (the stack left, the
 * thread's current stack) is read only with the world stopped, and the
 * switching thread is running, so no stop is in progress; its next park
 * or blocking region (park_lock) orders the writes before the stopper's
 * reads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "os.h"
#include "thread.h"
#include "world.h"

static tc_stack *stacks; /* protected by world_lock */

/* Unregistered stacks wait in a quarantine of QUARANTINE_N before their
 * memory goes back to malloc, their magic cleared, so that a switch to
 * one of the last QUARANTINE_N unregistered (or a second unregister) is
 * caught with a message rather than reading freed memory; beyond that it
 * is undefined, as free's is (the handles' rule, gc/special.c). Protected
 * by world_lock. */
#define QUARANTINE_N 64
static tc_stack *quarantine[QUARANTINE_N];
static size_t quarantine_next;

static void quarantine_put_locked(tc_stack *s)
{
    tci_world_assert_held();
    s->magic = 0;
    tc_stack *old = quarantine[quarantine_next];
    quarantine[quarantine_next] = s;
    quarantine_next = (quarantine_next + 1) % QUARANTINE_N;
    free(old);
}

tc_stack *tci_stack_first(void)
{
    return stacks;
}

/* pprev: the link that points at the stack (the list head's or the
 * previous stack's next), so that unlinking needs no walk. */
static void stack_link_locked(tc_stack *s)
{
    tci_world_assert_held();
    s->next = stacks;
    s->pprev = &stacks;
    if (stacks)
        stacks->pprev = &s->next;
    stacks = s;
}

static void stack_unlink_locked(tc_stack *s)
{
    tci_world_assert_held();
    *s->pprev = s->next;
    if (s->next)
        s->next->pprev = s->pprev;
    s->magic = 0;
}

void tci_stack_add_own_locked(tci_thread *t)
{
    t->own.own = 1;
    t->own.magic = TCI_STACK_MAGIC;
    t->own.runner = t;
    t->own.sp = t->own.hi;
    t->stack_cur = &t->own;
    stack_link_locked(&t->own);
}

void tci_stack_remove_own_locked(tci_thread *t)
{
    tc_stack *s = t->stack_cur;
    if (s != &t->own) {
        /* Detached while on a registered stack: nothing of it is known
         * any more, so it is suspended empty until switched to again. */
        s->runner = NULL;
        s->sp = s->hi;
        s->spill_words = 0;
        t->stack_cur = &t->own;
    }
    stack_unlink_locked(&t->own);
}

static int overlaps(uintptr_t lo, uintptr_t hi, uintptr_t lo2, uintptr_t hi2)
{
    return lo < hi2 && lo2 < hi;
}

static tc_stack *register_refused(void *lo, size_t size, int err, const char *why)
{
    fprintf(stderr, "tricolor: tc_stack_register(%p, %zu): %s (refused)\n", lo, size, why);
    errno = err;
    return NULL;
}

tc_stack *tc_stack_register(void *lo, size_t size)
{
    uintptr_t a = (uintptr_t)lo, b = a + size;
    if (!lo || size == 0 || b < a)
        return register_refused(lo, size, EINVAL, "a NULL base, a zero size or a range "
                                                  "that wraps around the address space");
    /* Scanned a word at a time: the whole words inside the range. */
    uintptr_t wlo = (a + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    uintptr_t whi = b & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    if (whi <= wlo)
        return register_refused(lo, size, EINVAL, "no whole word inside the range");
    if (!tci_os_range_mapped(a, b))
        return register_refused(lo, size, EFAULT, "part of the range is not mapped");
    uintptr_t mylo, myhi;
    if (tci_os_stack_range(&mylo, &myhi) == 0 && overlaps(a, b, mylo, myhi))
        return register_refused(lo, size, EEXIST, "the range overlaps the calling thread's own stack");
    tc_stack *s = calloc(1, sizeof *s);
    if (!s)
        return register_refused(lo, size, ENOMEM, "out of memory");
    s->lo = wlo;
    s->hi = whi;
    s->sp = whi; /* nothing live until a thread has run on it */
    s->magic = TCI_STACK_MAGIC;
    tci_world_lock(tci_thread_self()); /* released on both paths */
    for (tc_stack *o = stacks; o; o = o->next) {
        if (overlaps(a, b, o->lo, o->hi)) {
            int own = o->own;
            tci_world_unlock();
            free(s);
            return register_refused(lo, size, EEXIST,
                                    own ? "the range overlaps an attached thread's own stack"
                                        : "the range overlaps a stack registered already");
        }
    }
    stack_link_locked(s);
    tci_world_unlock();
    return s;
}

static void switch_refused(const tc_stack *to, const char *why)
{
    fprintf(stderr, "tricolor: tc_stack_switch(%p): %s; the collector's view of this "
                    "thread's stacks would be wrong (aborting)\n", (const void *)to, why);
    abort();
}

/* Saves the frame of the tc_stack_switch this is inlined into in `from`,
 * which the caller is about to leave: its callee-saved registers (the
 * caller's, at the switch) and the live part above it. */
static inline __attribute__((always_inline)) TCI_NO_SANITIZE void
stack_leave_here(tci_thread *self, tc_stack *from)
{
    uintptr_t hi = tci_thread_spill_frame(from->spill, &from->spill_words);
    tci_thread_check_stack(self, hi, "tc_stack_switch");
    from->sp = hi;
    from->runner = NULL;
}

void tc_stack_switch(tc_stack *to)
{
    tci_thread *t = tci_thread_self();
    if (!t) {
        fprintf(stderr, "tricolor: tc_stack_switch from a thread that is not attached "
                        "(ignored)\n");
        return;
    }
    tc_stack *dest = to ? to : &t->own;
    if (dest == t->stack_cur)
        return;
    if (t->blocking_depth > 0)
        switch_refused(to, "called inside a blocking region (end it first)");
    if (dest->magic != TCI_STACK_MAGIC)
        switch_refused(to, "not a registered stack (unregistered already?)");
    if ((dest->own && dest != &t->own) || dest->runner)
        switch_refused(to, "the stack is running on a thread (a coroutine resumed twice?)");
    stack_leave_here(t, t->stack_cur);
    dest->runner = t;
    t->stack_cur = dest;
}

void tc_stack_unregister(tc_stack *s)
{
    if (!s) {
        fprintf(stderr, "tricolor: tc_stack_unregister(NULL) (ignored)\n");
        errno = EINVAL;
        return;
    }
    tci_world_lock(tci_thread_self()); /* released on every path */
    const char *why = NULL;
    int err = 0;
    if (s->magic != TCI_STACK_MAGIC || s->own) {
        why = "not a registered stack (unregistered already?)";
        err = EINVAL;
    } else if (s->runner) {
        why = "a thread runs on it (switch away from it first)";
        err = EBUSY;
    }
    if (why) {
        tci_world_unlock();
        fprintf(stderr, "tricolor: tc_stack_unregister(%p): %s (ignored)\n", (void *)s, why);
        errno = err;
        return;
    }
    stack_unlink_locked(s);
    quarantine_put_locked(s);
    tci_world_unlock();
}

tc_stack *tc_stack_current(void)
{
    tci_thread *t = tci_thread_self();
    return t && t->stack_cur != &t->own ? t->stack_cur : NULL;
}
