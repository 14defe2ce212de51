/* env.c: parsing of the TRICOLOR_* environment. Nothing is ignored silently:
 * a value that is not exactly one of the accepted forms is an error that
 * names the variable, the value and the forms. */
#include "env.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tci_config tci_env_cfg;

void tci_env_default(tci_config *c)
{
    memset(c, 0, sizeof *c);
    c->gc_percent = 100;
    c->memlimit = -1;
    c->gc_cpu_limit = 50;
    c->mem_profile_rate = 512 * 1024; /* Go's runtime.MemProfileRate */
    c->rootprotect = 1;
    c->stoptimeout_ms = TCI_STOPTIMEOUT_MS;
    c->scavhold_ms = TCI_SCAVHOLD_MS;
}

/* Parses a whole decimal number with no sign, no space, no suffix. */
static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int tci_env_parse_gc(const char *value, int *out, char *err, size_t errlen)
{
    unsigned long long v;
    if (strcmp(value, "off") == 0) {
        *out = -1;
        return 0;
    }
    if (parse_uint(value, 1000000, &v) == 0) {
        *out = (int)v;
        return 0;
    }
    snprintf(err, errlen,
             "TRICOLOR_GC=\"%s\": expected a whole number of percent from 0 to "
             "1000000 (100 is the default) or \"off\"", value);
    return -1;
}

int tci_env_parse_markers(const char *value, int *out, char *err, size_t errlen)
{
    unsigned long long v;
    if (parse_uint(value, TCI_MAX_MARKERS, &v) == 0 && v >= 1) {
        *out = (int)v;
        return 0;
    }
    snprintf(err, errlen,
             "TRICOLOR_MARKERS=\"%s\": expected a whole number of threads from 1 to %d",
             value, TCI_MAX_MARKERS);
    return -1;
}

int tci_env_parse_cpu_limit(const char *value, int *out, char *err, size_t errlen)
{
    unsigned long long v;
    if (parse_uint(value, 100, &v) == 0 && v >= 1) {
        *out = (int)v;
        return 0;
    }
    snprintf(err, errlen,
             "TRICOLOR_GC_CPU_LIMIT=\"%s\": expected a whole number of percent of the "
             "CPU time from 1 to 100 (50 is the default; 100 turns the limiter off)", value);
    return -1;
}

int tci_env_parse_bytes(const char *name, const char *value, int64_t *out,
                        char *err, size_t errlen)
{
    static const struct { const char *suffix; int shift; } units[] = {
        { "B", 0 }, { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 }, { "TiB", 40 }, { "", 0 },
    };
    if (strcmp(value, "off") == 0) {
        *out = -1;
        return 0;
    }
    if (isdigit((unsigned char)value[0])) {
        errno = 0;
        char *end;
        unsigned long long v = strtoull(value, &end, 10);
        for (size_t i = 0; !errno && i < sizeof units / sizeof units[0]; i++) {
            if (strcmp(end, units[i].suffix) != 0)
                continue;
            if (v > ((unsigned long long)INT64_MAX >> units[i].shift))
                break;
            *out = (int64_t)(v << units[i].shift);
            return 0;
        }
    }
    snprintf(err, errlen,
             "%s=\"%s\": expected a whole number of bytes with an optional suffix "
             "B, KiB, MiB, GiB or TiB (e.g. 512MiB), at most 2^63-1 bytes, or \"off\"",
             name, value);
    return -1;
}

/* TRICOLOR_DEBUG's keys, each with the values it takes. */
static const struct debug_key {
    const char *name;
    unsigned long long max;
    const char *meaning;
} debug_keys[] = {
    { "gctrace", 2, "0 off, 1 Go's line per cycle, 2 with our detail" },
    { "gcpacertrace", 2, "0 off, 1 Go's lines, 2 with our detail" },
    { "scavtrace", 2, "0 off, 1 Go's line per scavenge, 2 with our detail" },
    { "memprofilerate", 2147483647, "bytes between heap-profile samples, 0 off, 1 every "
                                    "allocation" },
    { "verify", 1, "0 off, 1 on" },
    { "checkmark", 1, "0 off, 1 on" },
    { "gcstoptheworld", 1, "0 off, 1 on" },
    { "gcstress", 1u << 30, "a cycle every N span refills, 0 off" },
    { "rootprotect", 1, "0 scan tc_root_add ranges in the first stop, 1 write-protect them "
                        "instead (the default)" },
    { "stoptimeout", 86400000, "milliseconds a stop waits before it names the threads it "
                               "waits for, 0 off (5000 is the default)" },
    { "stopabort", 1, "0 keep waiting, 1 abort after the first stop-timeout report" },
    { "scavhold", 3600000, "milliseconds the heap must stay over its target before the "
                           "scavenger returns the excess, 0 the next cycles (50 is the "
                           "default)" },
};
#define NDEBUG_KEYS (sizeof debug_keys / sizeof debug_keys[0])
#define DEBUG_KEY_LIST \
    "gctrace, gcpacertrace, scavtrace, memprofilerate, verify, checkmark, gcstoptheworld, " \
    "gcstress, rootprotect, stoptimeout, stopabort, scavhold"

static void debug_set(tci_config *c, size_t key, unsigned long long v)
{
    switch (key) {
    case 0: c->gctrace = (int)v; break;
    case 1: c->gcpacertrace = (int)v; break;
    case 2: c->scavtrace = (int)v; break;
    case 3: c->mem_profile_rate = (size_t)v; break;
    case 4: c->verify = (int)v; break;
    case 5: c->checkmark = (int)v; break;
    case 6: c->gcstoptheworld = (int)v; break;
    case 7: c->gcstress = (unsigned)v; break;
    case 8: c->rootprotect = (int)v; break;
    case 9: c->stoptimeout_ms = (unsigned)v; break;
    case 10: c->stopabort = (int)v; break;
    default: c->scavhold_ms = (unsigned)v; break;
    }
}

/* Comma-separated key=number items: no empty item, no key twice, every
 * number in its key's range (docs/tuning.md: nothing is ignored). */
int tci_env_parse_debug(const char *value, tci_config *c, char *err, size_t errlen)
{
    char buf[256];
    if (strlen(value) >= sizeof buf) {
        snprintf(err, errlen, "TRICOLOR_DEBUG: value longer than %zu characters",
                 sizeof buf - 1);
        return -1;
    }
    if (value[0] == '\0')
        return 0; /* set and empty: nothing asked for */
    strcpy(buf, value);
    int seen[NDEBUG_KEYS] = { 0 };
    char *item = buf;
    for (;;) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        if (*item == '\0') {
            snprintf(err, errlen,
                     "TRICOLOR_DEBUG=\"%s\": an empty item (two commas together, or one at "
                     "either end); expected key=number items separated by single commas",
                     value);
            return -1;
        }
        char *eq = strchr(item, '=');
        if (eq)
            *eq = '\0';
        size_t k = 0;
        while (k < NDEBUG_KEYS && strcmp(item, debug_keys[k].name) != 0)
            k++;
        if (k == NDEBUG_KEYS) {
            snprintf(err, errlen, "TRICOLOR_DEBUG=\"%s\": unknown key \"%s\" (keys: "
                     DEBUG_KEY_LIST ")", value, item);
            return -1;
        }
        const struct debug_key *d = &debug_keys[k];
        unsigned long long v;
        if (!eq || parse_uint(eq + 1, d->max, &v) != 0) {
            snprintf(err, errlen,
                     "TRICOLOR_DEBUG=\"%s\": %s=%s: expected %s=N with N a whole number from "
                     "0 to %llu (%s)",
                     value, d->name, eq ? eq + 1 : "(no value)", d->name, d->max, d->meaning);
            return -1;
        }
        if (seen[k]++) {
            snprintf(err, errlen, "TRICOLOR_DEBUG=\"%s\": %s is given twice", value, d->name);
            return -1;
        }
        debug_set(c, k, v);
        if (!comma)
            return 0;
        item = comma + 1;
    }
}

int tci_env_load(tci_config *c, char *err, size_t errlen)
{
    const char *v;
    tci_env_default(c);
    if ((v = getenv("TRICOLOR_GC")) && tci_env_parse_gc(v, &c->gc_percent, err, errlen))
        return -1;
    if ((v = getenv("TRICOLOR_MARKERS")) && tci_env_parse_markers(v, &c->markers, err, errlen))
        return -1;
    if ((v = getenv("TRICOLOR_MEMLIMIT")) &&
        tci_env_parse_bytes("TRICOLOR_MEMLIMIT", v, &c->memlimit, err, errlen))
        return -1;
    if ((v = getenv("TRICOLOR_GC_CPU_LIMIT")) &&
        tci_env_parse_cpu_limit(v, &c->gc_cpu_limit, err, errlen))
        return -1;
    if ((v = getenv("TRICOLOR_DEBUG")) && tci_env_parse_debug(v, c, err, errlen))
        return -1;
    return 0;
}
