/* child.h: a test scenario in a child process of its own (tc_init once
 * per process, an environment of its own, an abort it may expect), with
 * its stderr captured for the parent to check the library's message.
 * For cmocka tests: include after <cmocka.h>. */
#ifndef TC_TEST_CHILD_H
#define TC_TEST_CHILD_H

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

typedef struct child_result {
    int status;       /* as waitpid gives it */
    char err[16384];  /* the child's stderr (its start) */
} child_result;

/* A failed check in a child: says where on stderr and exits 3. */
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "CHECK FAILED %s:%d: %s (errno %d)\n", __FILE__, __LINE__, \
                    #cond, errno);                                                   \
            _exit(3);                                                                \
        }                                                                            \
    } while (0)

/* Runs fn in a child with the TRICOLOR_* variables unset but for env
 * ("NAME=value" strings, NULL-terminated); fn returns to exit 0. */
void run_child(void (*fn)(void), const char *const *env, child_result *r);
/* The same for a child that does not end by itself: its stderr is read
 * until it says `until` (or closes), then it is killed (SIGKILL). */
void run_child_until(void (*fn)(void), const char *const *env, const char *until,
                     child_result *r);
/* cmocka failures naming the child's status and stderr. */
void expect_exit0(const child_result *r);
void expect_says(const child_result *r, const char *what);

#endif
