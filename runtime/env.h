/* env.h: the TRICOLOR_* environment, parsed once at tc_init. */
#ifndef TCI_ENV_H
#define TCI_ENV_H

#include <stddef.h>
#include <stdint.h>

#define TCI_MAX_MARKERS 64

typedef struct tci_config {
    int gc_percent;      /* TRICOLOR_GC: >= 0, or -1 for off; default 100 */
    int markers;         /* TRICOLOR_MARKERS: 1..TCI_MAX_MARKERS; 0 = default */
    int64_t memlimit;    /* TRICOLOR_MEMLIMIT bytes; -1 off */
    int gc_cpu_limit;    /* TRICOLOR_GC_CPU_LIMIT: percent of CPU time, 1..100; default 50 */
    int gctrace;         /* TRICOLOR_DEBUG=gctrace=1 */
    int gcpacertrace;    /* TRICOLOR_DEBUG=gcpacertrace=1: the pacer's view, per cycle */
    int scavtrace;       /* TRICOLOR_DEBUG=scavtrace=1: what each scavenge returned */
    int verify;          /* TRICOLOR_DEBUG=verify=1: heap check after every cycle */
    unsigned gcstress;   /* TRICOLOR_DEBUG=gcstress=N: a cycle every N span refills */
    int checkmark;       /* TRICOLOR_DEBUG=checkmark=1: after each concurrent mark, check
                            with the world stopped that it missed nothing reachable */
    int gcstoptheworld;  /* TRICOLOR_DEBUG=gcstoptheworld=1: the whole cycle with the
                            world stopped, on the allocating thread (no concurrency) */
    size_t mem_profile_rate; /* TRICOLOR_DEBUG=memprofilerate=N: bytes per heap-profile
                                sample (0 off, 1 every allocation); default 512 KiB */
    int rootprotect;     /* TRICOLOR_DEBUG=rootprotect=0: tc_root_add ranges scanned in the
                            first stop instead of write-protected (roots.c); default 1 */
    unsigned stoptimeout_ms; /* TRICOLOR_DEBUG=stoptimeout=MS: name the threads a stop
                                waits for after MS ms (runtime/world.c); 0 off; default
                                TCI_STOPTIMEOUT_MS */
    int stopabort;       /* TRICOLOR_DEBUG=stopabort=1: abort after the first such report */
    unsigned scavhold_ms; /* TRICOLOR_DEBUG=scavhold=MS: how long the heap stays over the
                             scavenger's target before the excess goes back (gc/scavenge.c);
                             default TCI_SCAVHOLD_MS */
} tci_config;

/* stoptimeout's default, 5 s (docs/tuning.md, "When a stop waits"): stops
 * of 30-175 ms were measured with 64 threads on 2 busy shared CPUs, so it
 * is 28 times the longest honest stop seen, and a hang is named within
 * seconds. */
#define TCI_STOPTIMEOUT_MS 5000u

/* scavhold's default, 50 ms (docs/tuning.md, TRICOLOR_DEBUG): a steady
 * ring of 4 KiB objects cycles every 0.3 ms, and its heap's need peaks
 * higher in one cycle of five or ten; held for 4 cycles only, the peak's
 * pages went back and were faulted in again: 20,000-26,000 faults in 2
 * million objects, a third of the program's time. A spike's memory goes
 * back 50 ms after the heap stopped using it, 8 cycles at the least. */
#define TCI_SCAVHOLD_MS 50u

/* The configuration tc_init read (gc/init.c): written once, before any
 * other library thread starts, then read-only. */
extern tci_config tci_env_cfg;

void tci_env_default(tci_config *c);

/* Each parser returns 0, or -1 with a message naming the variable, the value
 * and the accepted forms in err. */
int tci_env_parse_gc(const char *value, int *out, char *err, size_t errlen);
int tci_env_parse_markers(const char *value, int *out, char *err, size_t errlen);
int tci_env_parse_cpu_limit(const char *value, int *out, char *err, size_t errlen);
int tci_env_parse_bytes(const char *name, const char *value, int64_t *out,
                        char *err, size_t errlen);
int tci_env_parse_debug(const char *value, tci_config *c, char *err, size_t errlen);

/* Reads every TRICOLOR_* variable (getenv) into c. */
int tci_env_load(tci_config *c, char *err, size_t errlen);

#endif
