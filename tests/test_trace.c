/* test_trace.c: TRICOLOR_DEBUG's gctrace, gcpacertrace and scavtrace lines
 * match Go's formats, by regular expressions written from Go 1.19's
 * runtime (mgc.go gcMarkTermination, mgcpacer.go, mgcscavenge.go), and
 * their figures agree with the statistics.
 *
 * The test runs itself as a child with the traces on and its stderr on a
 * pipe: the child allocates, forces cycles and returns memory, then
 * prints its final statistics on stdout for the parent to compare.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "observe.h" /* the number formats under test */
#include "os.h"
#include "testing.h"
#include "tricolor.h"

#define FLOAT "[+-][0-9]\\.[0-9]{6}e[+-][0-9]{3}"
#define MS "[0-9]+\\.?[0-9]*" /* no group: the groups below are numbered */

static const char *gc_re =
    "^gc ([0-9]+) @[0-9]+\\.[0-9]{3}s [0-9]+%: " MS "\\+" MS "\\+" MS " ms clock, " MS "\\+" MS
    "/" MS "/" MS "\\+" MS " ms cpu, ([0-9]+)->([0-9]+)->([0-9]+) MB, ([0-9]+) MB goal, "
    "[0-9]+ MB stacks, [0-9]+ MB globals, ([0-9]+) P( \\(forced\\))?$";
static const char *pacer_start_re =
    "^pacer: assist ratio=" FLOAT " \\(scan [0-9]+ MB in [0-9]+->[0-9]+ MB\\) workers=[0-9]+\\+" FLOAT
    "$";
static const char *pacer_end_re =
    "^pacer: [0-9]+% CPU \\([0-9]+ exp\\.\\) for [0-9]+\\+[0-9]+\\+[0-9]+ B work \\([0-9]+ B "
    "exp\\.\\) in [0-9]+ B -> [0-9]+ B \\(\xe2\x88\x86goal -?[0-9]+, cons/mark " FLOAT "\\)$";
static const char *scav_re = "^scav [0-9]+ KiB work, [0-9]+ KiB total, [0-9]+% util( \\(forced\\))?$";

enum { NCOLLECT = 5 };

static int child(void)
{
    if (tc_init() != 0)
        return 2;
    static void *keep[4096];
    tc_root_add(keep, sizeof keep);
    /* Some background cycles (allocation), then forced ones. Counted, not
     * timed: a fast allocator can get through any fixed number of objects
     * (400,000 of them, 128 MB untouched, took 2 ms) before the collector's
     * thread has started its first cycle, so it allocates until two
     * background cycles have ended (a bound of 10 GB, then it fails). */
    tc_memstats m;
    int n = 0;
    for (;;) {
        for (int k = 0; k < 4096; k++, n++)
            keep[n % 4096] = tc_alloc_atomic((size_t)(64 + n % 512));
        tc_read_memstats(&m);
        if (m.num_gc - m.num_forced_gc >= 2 || n >= 30000000)
            break;
    }
    if (m.num_gc - m.num_forced_gc < 2)
        return 3;
    for (int i = 0; i < NCOLLECT; i++)
        tc_collect();
    memset(keep, 0, sizeof keep);
    tc_release_memory();
    tc_read_memstats(&m);
    printf("num_gc=%u forced=%u live_mb=%llu\n", m.num_gc, m.num_forced_gc,
           (unsigned long long)(m.live_bytes >> 20));
    return 0;
}

static char *self_path;

static void lines_match(const char *debug)
{
    int err[2], out[2];
    assert_int_equal(pipe(err), 0);
    assert_int_equal(pipe(out), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(err[1], 2);
        dup2(out[1], 1);
        close(err[0]);
        close(out[0]);
        setenv("TRICOLOR_DEBUG", debug, 1);
        execl(self_path, self_path, "child", (char *)NULL);
        _exit(127);
    }
    close(err[1]);
    close(out[1]);
    FILE *fe = fdopen(err[0], "r");
    assert_non_null(fe);
    regex_t rgc, rps, rpe, rsc;
    assert_int_equal(regcomp(&rgc, gc_re, REG_EXTENDED), 0);
    assert_int_equal(regcomp(&rps, pacer_start_re, REG_EXTENDED), 0);
    assert_int_equal(regcomp(&rpe, pacer_end_re, REG_EXTENDED), 0);
    assert_int_equal(regcomp(&rsc, scav_re, REG_EXTENDED), 0);
    char line[1024];
    unsigned ngc = 0, nforced = 0, nps = 0, npe = 0, nscav = 0, nscav_forced = 0, bad = 0;
    unsigned last_cycle = 0, last_live = 0;
    unsigned ncpu = (unsigned)tci_os_ncpu();
    while (fgets(line, sizeof line, fe)) {
        line[strcspn(line, "\n")] = '\0';
        regmatch_t g[16];
        if (regexec(&rgc, line, 16, g, 0) == 0) {
            unsigned cycle = (unsigned)strtoul(line + g[1].rm_so, NULL, 10);
            unsigned heap1 = (unsigned)strtoul(line + g[3].rm_so, NULL, 10);
            unsigned live = (unsigned)strtoul(line + g[4].rm_so, NULL, 10);
            unsigned goal = (unsigned)strtoul(line + g[5].rm_so, NULL, 10);
            unsigned procs = (unsigned)strtoul(line + g[6].rm_so, NULL, 10);
            /* Numbered from 1, one line per cycle, in order. */
            assert_int_equal(cycle, last_cycle + 1);
            last_cycle = cycle;
            assert_true(live <= heap1);
            assert_true(goal >= 4 || cycle == 1); /* the 4 MiB floor, after the first */
            /* Go prints GOMAXPROCS: here the CPUs counted (the exec'd child
             * inherits this process's affinity and cgroup). */
            assert_int_equal(procs, ncpu);
            if (g[7].rm_so >= 0)
                nforced++;
            last_live = live;
            ngc++;
        } else if (regexec(&rps, line, 0, NULL, 0) == 0) {
            nps++;
        } else if (regexec(&rpe, line, 0, NULL, 0) == 0) {
            npe++;
        } else if (regexec(&rsc, line, 16, g, 0) == 0) {
            nscav++;
            if (g[1].rm_so >= 0)
                nscav_forced++;
        } else {
            printf("trace: no format matches: \"%s\"\n", line);
            bad++;
        }
    }
    fclose(fe);
    FILE *fo = fdopen(out[0], "r");
    assert_non_null(fo);
    unsigned num_gc = 0, forced = 0;
    unsigned long long live_mb = 0;
    assert_int_equal(fscanf(fo, "num_gc=%u forced=%u live_mb=%llu", &num_gc, &forced, &live_mb),
                     3);
    fclose(fo);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("trace (%s): %u gc lines (%u forced), %u+%u pacer lines, %u scav lines (%u forced); "
           "num_gc %u\n",
           debug, ngc, nforced, nps, npe, nscav, nscav_forced, num_gc);
    assert_int_equal(bad, 0);
    assert_int_equal(ngc, num_gc);
    assert_int_equal(nforced, forced);
    assert_true(nforced >= NCOLLECT);
    assert_true(ngc > nforced); /* background cycles too */
    /* The stopped collector has no mark to start: only the end line. */
    assert_int_equal(nps, strstr(debug, "gcstoptheworld") ? 0 : ngc);
    assert_int_equal(npe, ngc);
    assert_int_equal(nscav_forced, 1); /* tc_release_memory */
    assert_int_equal(last_live, live_mb);
    regfree(&rgc);
    regfree(&rps);
    regfree(&rpe);
    regfree(&rsc);
}

static void lines_match_go_formats(void **state)
{
    (void)state;
    lines_match("gctrace=1,gcpacertrace=1,scavtrace=1");
}

static void lines_match_go_formats_stopped(void **state)
{
    (void)state;
    lines_match("gctrace=1,gcpacertrace=1,scavtrace=1,gcstoptheworld=1");
}

/* Go's number formats, by the values Go prints for them. */
static void go_number_formats(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(tci_trace_ms(b, 0), "0");
    assert_string_equal(tci_trace_ms(b, 999), "0");
    assert_string_equal(tci_trace_ms(b, 1000), "0.001");
    assert_string_equal(tci_trace_ms(b, 26000), "0.026");
    assert_string_equal(tci_trace_ms(b, 390000), "0.39");
    assert_string_equal(tci_trace_ms(b, 5100000), "5.1");
    assert_string_equal(tci_trace_ms(b, 9999999), "9.9");
    assert_string_equal(tci_trace_ms(b, 12000000), "12");
    assert_string_equal(tci_trace_ms(b, 1234000000), "1234");
    assert_string_equal(tci_trace_float(b, 0.25), "+2.500000e-001");
    assert_string_equal(tci_trace_float(b, 0.0), "+0.000000e+000");
    assert_string_equal(tci_trace_float(b, -1234.5), "-1.234500e+003");
    assert_string_equal(tci_trace_float(b, 1e-300), "+1.000000e-300");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();
    self_path = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(go_number_formats),
        cmocka_unit_test(lines_match_go_formats),
        cmocka_unit_test(lines_match_go_formats_stopped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
