/* child.c: see child.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "child.h"

/* Runs fn in a child with the TRICOLOR_* variables unset but for env
 * ("NAME=value" strings, NULL-terminated); fn returns to exit 0. */
void run_child(void (*fn)(void), const char *const *env, child_result *r)
{
    run_child_until(fn, env, NULL, r);
}

void run_child_until(void (*fn)(void), const char *const *env, const char *until,
                     child_result *r)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would carry on with the next test in here. */
        static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS };
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        close(fd[0]);
        dup2(fd[1], 2);
        close(fd[1]);
        static const char *const vars[] = { "TRICOLOR_GC", "TRICOLOR_MEMLIMIT",
                                            "TRICOLOR_MARKERS", "TRICOLOR_GC_CPU_LIMIT",
                                            "TRICOLOR_DEBUG" };
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
            unsetenv(vars[i]);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        fn();
        fflush(stderr);
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t got;
    char sink[4096];
    while ((got = read(fd[0], n < sizeof r->err - 1 ? r->err + n : sink,
                       n < sizeof r->err - 1 ? sizeof r->err - 1 - n : sizeof sink)) > 0) {
        if (n < sizeof r->err - 1)
            n += (size_t)got;
        r->err[n] = '\0';
        if (until && strstr(r->err, until)) {
            kill(pid, SIGKILL);
            break;
        }
    }
    r->err[n] = '\0';
    close(fd[0]);
    assert_int_equal(waitpid(pid, &r->status, 0), pid);
}

void expect_exit0(const child_result *r)
{
    if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
        fail_msg("child status %#x; its stderr:\n%s", r->status, r->err);
}

void expect_says(const child_result *r, const char *what)
{
    if (!strstr(r->err, what))
        fail_msg("the child's stderr does not say \"%s\":\n%s", what, r->err);
}

