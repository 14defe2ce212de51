/* fork.h: what happens to the library's locks and threads at fork()
 * (fork.c).
 *
 * Every tci_mutex that any thread may hold is registered here (by the
 * file that owns it: TCI_FORK_LOCK, or tci_fork_add_lock for locks made at
 * run time), and so is every condition variable a library thread may wait
 * on (TCI_FORK_COND): the prepare handler takes every registered lock, so
 * no other thread is inside one of their critical sections when the
 * process is copied, and the child handler re-initialises the condition
 * variables, whose waiters did not come along. The collector registers
 * what it must reset in the child (tci_fork_set_child). */
#ifndef TCI_FORK_H
#define TCI_FORK_H

#include <pthread.h>

#include "lock.h"

/* Registration: from a constructor or from tc_init, before any fork the
 * handlers see (the table is written before threads exist and read only
 * by the handlers). */
void tci_fork_add_lock(tci_mutex *m);
void tci_fork_add_cond(pthread_cond_t *c);

#define TCI_FORK_LOCK(m)                                                            \
    static void __attribute__((constructor)) fork_register_lock_##m(void)           \
    {                                                                               \
        tci_fork_add_lock(&(m));                                                    \
    }
#define TCI_FORK_COND(name, c)                                                      \
    static void __attribute__((constructor)) fork_register_cond_##name(void)        \
    {                                                                               \
        tci_fork_add_cond(&(c));                                                    \
    }

/* Halves of the child handler (the collector's, set by tc_init, and the
 * pools' at their first creation; either may be NULL): `locked` runs in
 * the child with every registered lock still held (the state those locks
 * protect is the child's alone then: library threads' flags are reset
 * there), `after` once they are released and the condition variables made
 * anew, in a child of one thread. In the order added. 0, or -1 when
 * TCI_FORK_HOOKS are added already. */
int tci_fork_add_child(void (*locked)(void), void (*after)(void));

/* Installs the pthread_atfork handlers (once; tc_init). 0, or an errno. */
int tci_fork_install(void);

/* Tests: forks seen by the prepare handler since start. */
unsigned long tci_fork_count(void);

#endif
