/* lock.c: the checks of lock.h's order.
 *
 * Each thread keeps the locks it holds in a small array of its own (a
 * thread-local, so no lock guards it): a thread holds at most a handful at
 * once (the deepest nesting is world, park or pacer, roots, pool, work),
 * but the fork handler (runtime/fork.c) holds every registered lock of
 * the library across fork(), 20 now: hence MAX_HELD.
 * Releases may come in any order. Compiled in every build, called only
 * from debug and sanitizer builds (lock.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "lock.h"

#define MAX_HELD 32

static __thread const tci_mutex *held[MAX_HELD];
static __thread int nheld;

static const tci_mutex *highest_held(void)
{
    const tci_mutex *top = NULL;
    for (int i = 0; i < nheld; i++)
        if (!top || held[i]->rank > top->rank)
            top = held[i];
    return top;
}

void tci_lock_check_order(const tci_mutex *m)
{
    const tci_mutex *top = highest_held();
    if (top && top->rank >= m->rank) {
        fprintf(stderr,
                "tricolor: lock order: taking %s (rank %d) while holding %s (rank %d); "
                "see runtime/lock.h\n",
                m->name, m->rank, top->name, top->rank);
        abort();
    }
}

void tci_lock_note_held(const tci_mutex *m)
{
    if (nheld == MAX_HELD) {
        fprintf(stderr, "tricolor: lock order: more than %d locks held, taking %s\n", MAX_HELD,
                m->name);
        abort();
    }
    held[nheld++] = m;
}

void tci_lock_note_released(const tci_mutex *m)
{
    for (int i = nheld - 1; i >= 0; i--) {
        if (held[i] == m) {
            held[i] = held[--nheld];
            return;
        }
    }
    fprintf(stderr, "tricolor: lock order: releasing %s, which this thread does not hold\n",
            m->name);
    abort();
}

int tci_lock_is_held(const tci_mutex *m)
{
    for (int i = 0; i < nheld; i++)
        if (held[i] == m)
            return 1;
    return 0;
}

void tci_lock_check_wait(const tci_mutex *m)
{
    if (!tci_lock_is_held(m))
        tci_lock_fail_not_held(m, "a condition wait");
    const tci_mutex *top = highest_held();
    if (top != m) {
        fprintf(stderr,
                "tricolor: lock order: waiting on %s (rank %d) while holding %s (rank %d): "
                "it is taken again on waking\n",
                m->name, m->rank, top->name, top->rank);
        abort();
    }
}

void tci_lock_fail_not_held(const tci_mutex *m, const char *fn)
{
    fprintf(stderr, "tricolor: %s: called without %s held\n", fn, m->name);
    abort();
}
