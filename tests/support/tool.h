/* tool.h: test support for the tests that hand the library's output to an
 * outside tool (go tool pprof, promtool): finding it, running it, reading
 * a whole stream. Header only, as testutil.h. */
#ifndef TC_TEST_TOOL_H
#define TC_TEST_TOOL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* The whole of f, malloc'd and 0-terminated; its length in *len. */
static inline char *test_slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 14, n = 0, got;
    char *p = malloc(cap);
    assert_non_null(p);
    while ((got = fread(p + n, 1, cap - n - 1, f)) > 0)
        if ((n += got) == cap - 1) {
            p = realloc(p, cap *= 2);
            assert_non_null(p);
        }
    p[n] = 0;
    *len = n;
    return p;
}

/* The output (stdout and whatever cmd redirects) of the shell command
 * line cmd, malloc'd; its exit status in *status. */
static inline char *test_run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len;
    char *out = test_slurp(p, &len);
    *status = pclose(p);
    return out;
}

/* The path of command `name` on PATH (malloc'd), or NULL. */
static inline char *test_tool_path(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v '%s' 2>/dev/null", name);
    int status;
    char *out = test_run(cmd, &status);
    out[strcspn(out, "\n")] = 0;
    if (status != 0 || out[0] != '/') {
        free(out);
        return NULL;
    }
    return out;
}

/* The go command's environment on a clean CI machine: Go keeps its cache
 * and settings under HOME, which may be unset there; a user's GOFLAGS are
 * build flags, not ours. GOTOOLCHAIN=local stops Go 1.21 or later from
 * fetching another toolchain when a go.mod above the working directory
 * asks for one; Go 1.19 has no such setting and ignores it. */
static inline void test_go_env(void)
{
    unsetenv("GOFLAGS");
    setenv("GOTOOLCHAIN", "local", 1);
    if (!getenv("HOME") || !*getenv("HOME"))
        setenv("HOME", "/tmp", 1);
}

/* `go tool pprof <args> path`'s output (malloc'd), go being the go
 * command's path; fails the test on an error. */
static inline char *test_go_pprof(const char *go, const char *args, const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' tool pprof %s '%s' 2>&1", go, args, path);
    int status;
    char *out = test_run(cmd, &status);
    if (status != 0) {
        printf("%s: exit status %d\n%s\n", cmd, status, out);
        fail_msg("go tool pprof failed");
    }
    return out;
}

#endif
