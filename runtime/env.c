/* env.c: parsing of the TRICOLOR_* environment. Nothing is ignored silently:
 * a value that is not exactly one of the accepted forms is an error that
 * names the variable, the value and the forms. */
#include "env.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tci_config_default(tci_config *c)
{
    memset(c, 0, sizeof *c);
    c->gc_percent = 100;
    c->memlimit = -1;
    c->gc_cpu_limit = 50;
    c->mem_profile_rate = 512 * 1024; /* Go's runtime.MemProfileRate */
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

int tci_env_parse_debug(const char *value, tci_config *c, char *err, size_t errlen)
{
    char buf[256];
    if (strlen(value) >= sizeof buf) {
        snprintf(err, errlen, "TRICOLOR_DEBUG: value longer than %zu characters",
                 sizeof buf - 1);
        return -1;
    }
    strcpy(buf, value);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        unsigned long long v;
        if (!eq || parse_uint(eq + 1, 1u << 30, &v) != 0) {
            snprintf(err, errlen,
                     "TRICOLOR_DEBUG=\"%s\": \"%s\" is not of the form key=number "
                     "(keys: gctrace, gcpacertrace, scavtrace, memprofilerate, verify, checkmark, "
                     "gcstoptheworld, gcstress)",
                     value, item);
            return -1;
        }
        *eq = '\0';
        if (strcmp(item, "gctrace") == 0)
            c->gctrace = (int)v;
        else if (strcmp(item, "gcpacertrace") == 0)
            c->gcpacertrace = (int)v;
        else if (strcmp(item, "scavtrace") == 0)
            c->scavtrace = (int)v;
        else if (strcmp(item, "verify") == 0)
            c->verify = (int)v;
        else if (strcmp(item, "gcstress") == 0)
            c->gcstress = (unsigned)v;
        else if (strcmp(item, "checkmark") == 0)
            c->checkmark = (int)v;
        else if (strcmp(item, "gcstoptheworld") == 0)
            c->gcstoptheworld = (int)v;
        else if (strcmp(item, "memprofilerate") == 0)
            c->mem_profile_rate = (size_t)v;
        else {
            snprintf(err, errlen,
                     "TRICOLOR_DEBUG=\"%s\": unknown key \"%s\" (keys: gctrace, "
                     "gcpacertrace, scavtrace, memprofilerate, verify, checkmark, "
                     "gcstoptheworld, gcstress)", value, item);
            return -1;
        }
    }
    return 0;
}

int tci_env_load(tci_config *c, char *err, size_t errlen)
{
    const char *v;
    tci_config_default(c);
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
