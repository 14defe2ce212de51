/* bench_util.c: clock, peak RSS and result formatting shared by the
 * benchmark workloads, whatever the backend. */
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "backend.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long bench_maxrss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss; /* Linux reports KiB */
}

static void print_ms(const char *key, uint64_t ns)
{
    if (ns == BK_UNKNOWN)
        printf(" %s=na", key);
    else
        printf(" %s=%.3f", key, (double)ns / 1e6);
}

void bench_print_gc_fields(const bk_stats *st)
{
    printf(" gcs=%llu", (unsigned long long)st->num_gc);
    print_ms("pause_total_ms", st->pause_total_ns);
    print_ms("pause_max_ms", st->pause_max_ns);
}
