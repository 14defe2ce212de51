/* trace.c: the TRICOLOR_DEBUG traces (gctrace, gcpacertrace, scavtrace),
 * one line each in the format of Go's GODEBUG traces, so the parsers and
 * habits people have for Go's work here.
 *
 * gctrace=1, one line per cycle, written when its mark ends:
 *
 *   gc 7 @1.204s 3%: 0.021+4.1+0.090 ms clock, 0.042+0.51/3.9/1.2+0.18 ms cpu,
 *      96->101->48 MB, 100 MB goal, 0 MB stacks, 8 MB globals, 3 P (forced)
 *
 * (one line). The fields, as Go defines them, in our terms:
 *   gc #        the cycle's number (num_gc);
 *   @#s         seconds since tc_init when it started;
 *   #%          gc_cpu_fraction so far, truncated;
 *   clock       the first stop (request to restart) + the concurrent mark
 *               (restart to the final stop's request; earlier termination
 *               stops that found work lie inside it) + the final stop;
 *   cpu         first stop x CPUs + assists / markers' counted time /
 *               idle marking + every termination stop x CPUs;
 *   #->#->#     heap at the trigger -> heap at mark end -> marked (live);
 *   goal        the goal this cycle worked to;
 *   stacks      thread-stack bytes scanned as roots at the first stop;
 *   globals     root ranges and callbacks' objects scanned there;
 *   P           mark workers + attached threads (Go: GOMAXPROCS).
 * Times use Go's fmtNSAsMS (two significant digits below 10 ms, whole
 * milliseconds above); sizes are whole MB (2^20), truncated, as Go's.
 * With TRICOLOR_DEBUG=gcstoptheworld=1 the three clock terms are the
 * stop's parts: stopping and sweeping, marking, restarting.
 *
 * The figures come from the collector (tci_cycle_report, observe.h); of
 * the collector it reads only when tc_init ran and the CPU fraction so
 * far (gc/observable.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observable.h"
#include "observe.h"

/* Go's itoaDiv: val / 10^dec with dec decimals. */
static char *itoa_div(char *end, uint64_t val, int dec)
{
    char *p = end;
    *--p = '\0';
    char *idec = p - dec;
    while (val >= 10 || p > idec) {
        *--p = (char)('0' + val % 10);
        if (p == idec && dec > 0)
            *--p = '.';
        val /= 10;
    }
    *--p = (char)('0' + val);
    return p;
}

/* Go's fmtNSAsMS: whole milliseconds from 10 ms, else two significant
 * digits with at most three decimals. buf holds 32 bytes. */
const char *tci_trace_ms(char *buf, uint64_t ns)
{
    if (ns >= 10000000)
        return itoa_div(buf + 32, ns / 1000000, 0);
    uint64_t x = ns / 1000;
    if (x == 0)
        return "0";
    int dec = 3;
    while (x >= 100) {
        x /= 10;
        dec--;
    }
    return itoa_div(buf + 32, x, dec);
}

/* Go's runtime print of a float64: +d.dddddde+ddd. buf holds 32 bytes. */
const char *tci_trace_float(char *buf, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%+.6e", v); /* +d.dddddde+dd, or e+ddd */
    char *e = strchr(tmp, 'e');
    int exp = atoi(e + 1);
    /* The mantissa is 9 characters: "+d.dddddd". */
    snprintf(buf, 32, "%.9se%c%03d", tmp, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return buf;
}

void tci_trace_gc(const tci_cycle_report *r)
{
    char b[9][32];
    uint64_t since_ms = (r->t_start - tci_stats_init_ns()) / 1000000;
    /* One fprintf: lines from concurrent writers do not interleave. */
    fprintf(stderr,
            "gc %u @%ss %d%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
            "%llu->%llu->%llu MB, %llu MB goal, %llu MB stacks, %llu MB globals, %d P%s\n",
            r->cycle, itoa_div(b[0] + 32, since_ms, 3), (int)(tci_stats_gc_cpu_fraction() * 100),
            tci_trace_ms(b[1], r->t_mark - r->t_start), tci_trace_ms(b[2], r->t_term - r->t_mark),
            tci_trace_ms(b[3], r->t_end - r->t_term), tci_trace_ms(b[4], r->start_cpu_ns),
            tci_trace_ms(b[5], r->assist_cpu_ns), tci_trace_ms(b[6], r->mark_cpu_ns),
            tci_trace_ms(b[7], r->idle_cpu_ns),
            tci_trace_ms(b[8], r->term_cpu_ns),
            (unsigned long long)(r->heap0 >> 20), (unsigned long long)(r->heap1 >> 20),
            (unsigned long long)(r->live >> 20),
            (unsigned long long)(r->goal == UINT64_MAX ? 0 : r->goal >> 20),
            (unsigned long long)(r->stack_bytes >> 20), (unsigned long long)(r->global_bytes >> 20),
            r->procs, r->forced ? " (forced)" : "");
}

void tci_trace_scav(uint64_t released_bytes, uint64_t released_total, uint64_t inuse_bytes,
                    uint64_t retained_bytes, int forced)
{
    fprintf(stderr, "scav %llu KiB work, %llu KiB total, %llu%% util%s\n",
            (unsigned long long)(released_bytes >> 10), (unsigned long long)(released_total >> 10),
            (unsigned long long)(retained_bytes ? inuse_bytes * 100 / retained_bytes : 100),
            forced ? " (forced)" : "");
}
