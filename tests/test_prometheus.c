/* test_prometheus.c: tc_write_prometheus writes valid Prometheus text
 * exposition (0.0.4) whose figures are the statistics'.
 *
 * `promtool check metrics` judges it when promtool is installed; this
 * test's own parser always does, by the format's rules: # HELP and # TYPE
 * once per family, before its samples; metric and label names of the
 * allowed characters; label values quoted; every value a number; no
 * series twice; counters ending in _total; each histogram with _bucket
 * series in increasing le, cumulative counts never decreasing, le="+Inf"
 * last and equal to _count, and a _sum.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"
#include "tool.h"
#include "tricolor.h"

enum { MAXFAM = 256, MAXSERIES = 2048 };

typedef struct fam {
    char name[128], type[16];
    int help, typed, samples;
    /* histograms */
    double last_le;
    unsigned long long last_cum, inf, count;
    int has_inf, has_sum, has_count;
} fam;

static fam fams[MAXFAM];
static int nfam;
static char *series[MAXSERIES];
static int nseries;

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
            return 0;
    return 1;
}

static fam *find(const char *name)
{
    for (int i = 0; i < nfam; i++)
        if (strcmp(fams[i].name, name) == 0)
            return &fams[i];
    return NULL;
}

/* The family a sample belongs to (a histogram's _bucket, _sum, _count). */
static fam *family_of(const char *metric, const char **suffix)
{
    fam *f = find(metric);
    *suffix = "";
    if (f)
        return f;
    const char *sfx[] = {"_bucket", "_sum", "_count"};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(metric), m = strlen(sfx[k]);
        if (n > m && strcmp(metric + n - m, sfx[k]) == 0) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(n - m), metric);
            f = find(base);
            if (f && strcmp(f->type, "histogram") == 0) {
                *suffix = sfx[k];
                return f;
            }
        }
    }
    return NULL;
}

/* Checks one exposition; returns the number of samples. */
static int check_exposition(char *text)
{
    nfam = 0;
    for (int i = 0; i < nseries; i++)
        free(series[i]);
    nseries = 0;
    int samples = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') {
            char kind[8], name[128];
            int used = 0;
            assert_int_equal(sscanf(line, "# %7s %127s %n", kind, name, &used), 2);
            assert_true(name_ok(name, strlen(name)));
            fam *f = find(name);
            if (!f) {
                assert_true(nfam < MAXFAM);
                f = &fams[nfam++];
                memset(f, 0, sizeof *f);
                snprintf(f->name, sizeof f->name, "%s", name);
                f->last_le = -1;
            }
            assert_int_equal(f->samples, 0); /* comments before samples */
            if (strcmp(kind, "HELP") == 0) {
                assert_false(f->help);
                f->help = 1;
            } else {
                assert_string_equal(kind, "TYPE");
                assert_false(f->typed);
                f->typed = 1;
                snprintf(f->type, sizeof f->type, "%s", line + used);
                assert_true(strcmp(f->type, "counter") == 0 || strcmp(f->type, "gauge") == 0 ||
                            strcmp(f->type, "histogram") == 0);
                if (strcmp(f->type, "counter") == 0) {
                    size_t n = strlen(name);
                    assert_true(n > 6 && strcmp(name + n - 6, "_total") == 0);
                }
            }
            continue;
        }
        /* name{labels} value */
        size_t n = strcspn(line, "{ ");
        char metric[128];
        assert_true(n < sizeof metric);
        snprintf(metric, sizeof metric, "%.*s", (int)n, line);
        assert_true(name_ok(metric, n));
        const char *p = line + n;
        char le[64] = "";
        if (*p == '{') {
            p++;
            while (*p != '}') {
                size_t ln = strcspn(p, "=");
                assert_true(name_ok(p, ln));
                int is_le = ln == 2 && strncmp(p, "le", 2) == 0;
                p += ln;
                assert_int_equal(*p++, '=');
                assert_int_equal(*p++, '"');
                const char *v = p;
                while (*p && *p != '"') {
                    if (*p == '\\')
                        p++;
                    p++;
                }
                assert_int_equal(*p, '"');
                if (is_le)
                    snprintf(le, sizeof le, "%.*s", (int)(p - v), v);
                p++;
                if (*p == ',')
                    p++;
            }
            p++;
        }
        assert_int_equal(*p++, ' ');
        char *end;
        double value = strtod(p, &end);
        assert_true(end != p && *end == '\0');
        assert_false(isnan(value));
        /* No series twice. */
        size_t keylen = (size_t)(p - 1 - line);
        for (int i = 0; i < nseries; i++)
            assert_false(strlen(series[i]) == keylen && strncmp(series[i], line, keylen) == 0);
        assert_true(nseries < MAXSERIES);
        series[nseries++] = strndup(line, keylen);
        const char *suffix;
        fam *f = family_of(metric, &suffix);
        assert_non_null(f);
        assert_true(f->help && f->typed);
        f->samples++;
        samples++;
        if (strcmp(f->type, "histogram") == 0) {
            assert_true(suffix[0] != '\0');
            if (strcmp(suffix, "_bucket") == 0) {
                assert_true(le[0] != '\0');
                assert_false(f->has_inf);
                unsigned long long cum = (unsigned long long)value;
                assert_true(cum >= f->last_cum);
                f->last_cum = cum;
                if (strcmp(le, "+Inf") == 0) {
                    f->has_inf = 1;
                    f->inf = cum;
                } else {
                    double b = strtod(le, NULL);
                    assert_true(b > f->last_le);
                    f->last_le = b;
                }
            } else if (strcmp(suffix, "_sum") == 0) {
                f->has_sum = 1;
            } else {
                f->has_count = 1;
                f->count = (unsigned long long)value;
            }
        } else {
            assert_string_equal(suffix, "");
        }
    }
    for (int i = 0; i < nfam; i++) {
        assert_true(fams[i].samples > 0);
        if (strcmp(fams[i].type, "histogram") == 0) {
            assert_true(fams[i].has_inf && fams[i].has_sum && fams[i].has_count);
            assert_int_equal(fams[i].inf, fams[i].count);
        }
    }
    return samples;
}

static char *exposition(size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    assert_int_equal(tc_write_prometheus(f), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* The value of the series `key` (the text before its value). */
static double value_of(const char *text, const char *key)
{
    char needle[256];
    snprintf(needle, sizeof needle, "\n%s ", key);
    const char *at = strstr(text, needle);
    if (!at)
        fail_msg("series %s missing", key);
    return strtod(at + strlen(needle), NULL);
}

static void exposition_is_valid(void **state)
{
    (void)state;
    /* Some of everything: cycles, frees, size classes. */
    for (int i = 0; i < 20000; i++)
        (void)tc_alloc_atomic((size_t)(1 + i % 3000));
    for (int i = 0; i < 5; i++)
        tc_collect();
    size_t len;
    char *text = exposition(&len);
    tc_memstats m = test_stats();
    /* Quiescent: the figures are the statistics'. */
    assert_int_equal((uint64_t)value_of(text, "tricolor_gc_cycles_total"), m.num_gc);
    assert_int_equal((uint64_t)value_of(text, "tricolor_mallocs_total"), m.mallocs);
    assert_int_equal((uint64_t)value_of(text, "tricolor_heap_objects"), m.heap_objects);
    assert_int_equal((uint64_t)value_of(text, "tricolor_stw_pause_seconds_count"), m.num_stw);
    /* (An out-of-memory retry's counters had no family until 2026-12-03.) */
    assert_int_equal((uint64_t)value_of(text, "tricolor_oom_retries_total"), m.oom_retries);
    assert_int_equal((uint64_t)value_of(text, "tricolor_oom_failures_total"), m.oom_failures);
    assert_true(fabs(value_of(text, "tricolor_stw_pause_seconds_sum") - m.pause_total_ns / 1e9) <
                1e-6);
    assert_int_equal((uint64_t)value_of(text, "tricolor_size_class_mallocs_total{size=\"16\"}"),
                     m.by_size[1].mallocs);
    /* The pause buckets: at each power-of-two bound, the histogram's
     * cumulative count. */
    uint64_t counts[256], upper[256], cum = 0;
    size_t nb = tc_read_histogram(TC_HIST_PAUSE, counts, upper, 256);
    int bounds = 0;
    for (size_t i = 0; i + 1 < nb; i++) {
        cum += counts[i];
        if (upper[i] & (upper[i] - 1))
            continue;
        char key[128];
        snprintf(key, sizeof key, "tricolor_stw_pause_seconds_bucket{le=\"%.13g\"}",
                 (double)upper[i] / 1e9);
        assert_int_equal((uint64_t)value_of(text, key), cum);
        bounds++;
    }
    assert_int_equal(bounds, 31);
    assert_true(strstr(text, "tricolor_stw_pause_seconds_bucket{le=\"1.024e-06\"}") != NULL);
    assert_true(strstr(text, "tricolor_stw_pause_seconds_bucket{le=\"1099.511627776\"}") != NULL);
    char *copy = strdup(text);
    int samples = check_exposition(copy);
    printf("prometheus: %zu bytes, %d families, %d samples: valid\n", len, nfam, samples);
    free(copy);
    /* promtool, where it is installed. */
    char *tool = test_tool_path("promtool");
    if (tool) {
        char path[] = "/tmp/tc_prom_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        FILE *f = fdopen(fd, "w");
        fputs(text, f);
        fclose(f);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "'%s' check metrics < '%s'", tool, path);
        int rc = system(cmd);
        remove(path);
        free(tool);
        assert_int_equal(rc, 0);
        printf("prometheus: promtool check metrics passed\n");
    } else {
        printf("promtool not found: checked by this test's parser only\n");
    }
    free(text);
    errno = 0;
    assert_int_equal(tc_write_prometheus(NULL), -1);
    assert_int_equal(errno, EINVAL);
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        errno = 0;
        assert_int_equal(tc_write_prometheus(full), -1);
        assert_int_equal(errno, EIO);
        fclose(full);
    }
}

/* The parser rejects what the format forbids (it must be able to fail). */
static void parser_rejects_bad_expositions(void **state)
{
    (void)state;
    /* Checked in a child: a rejection is an assertion failure. */
    const char *bad[] = {
        "# HELP x_total a\n# TYPE x_total counter\nx_total 1\nx_total 2\n",      /* twice */
        "# HELP x a\n# TYPE x counter\nx 1\n",                                    /* _total */
        "x 1\n",                                                                  /* no TYPE */
        "# HELP h a\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
        "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",                           /* decreasing */
        "# HELP h a\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", /* count */
        "# HELP g a\n# TYPE g gauge\ng{l=unquoted} 1\n",                           /* quotes */
        "# HELP g a\n# TYPE g gauge\ng abc\n",                                      /* value */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fflush(stdout);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            setenv("CMOCKA_TEST_ABORT", "1", 1);
            freopen("/dev/null", "w", stderr);
            freopen("/dev/null", "w", stdout);
            char *t = strdup(bad[i]);
            check_exposition(t);
            _exit(0); /* accepted: wrong */
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            fail_msg("bad exposition %zu accepted", i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exposition_is_valid),
        cmocka_unit_test(parser_rejects_bad_expositions),
    };
    return cmocka_run_group_tests(tests, test_group_setup_verified, NULL);
}
