/* pprof.c: encodes heap profiles as pprof's protobuf (github.com/google/pprof,
 * proto/profile.proto), giving each distinct frame one Location, each
 * distinct function one Function and each distinct string one entry of the
 * string table.
 *
 * The message is built in one malloc'd buffer and written at the end, so a
 * failure leaves nothing half-written in f. Samples are encoded as they
 * come; the tables they refer to (mappings, locations, functions, strings)
 * fill up meanwhile and are encoded after them: protobuf fields may come in
 * any order. */
#include "pprof.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "symbolize.h"

/* Field numbers of proto/profile.proto. */
enum {
    PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
    PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9,
    PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12, PROFILE_DEFAULT_SAMPLE_TYPE = 14,
    VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3,
    LABEL_KEY = 1, LABEL_NUM = 3, LABEL_NUM_UNIT = 4,
    MAPPING_ID = 1, MAPPING_MEMORY_START = 2, MAPPING_MEMORY_LIMIT = 3,
    MAPPING_FILE_OFFSET = 4, MAPPING_FILENAME = 5, MAPPING_BUILD_ID = 6,
    MAPPING_HAS_FUNCTIONS = 7,
    LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1, LINE_LINE = 2,
    FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3, FUNCTION_FILENAME = 4,
};
enum { WIRE_VARINT = 0, WIRE_BYTES = 2 };

/* ---- Protobuf encoding ------------------------------------------------- */

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
    int oom;          /* a growth failed: the contents are garbage */
} buf;

static int buf_reserve(buf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (b->cap - b->len >= more)
        return 0;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap - b->len < more)
        ncap *= 2;
    unsigned char *p = realloc(b->p, ncap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = ncap;
    return 0;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

static void varint_at(unsigned char *p, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (unsigned char)(v | 0x80);
    *p = (unsigned char)v;
}

static void pb_varint(buf *b, uint64_t v)
{
    size_t n = varint_len(v);
    if (buf_reserve(b, n) != 0)
        return;
    varint_at(b->p + b->len, v);
    b->len += n;
}

static void pb_key(buf *b, unsigned field, unsigned wire)
{
    pb_varint(b, (uint64_t)field << 3 | wire);
}

/* A varint field; zero is left out, as it is proto3's default. int64
 * fields pass their two's complement, as protobuf encodes them. */
static void pb_uint(buf *b, unsigned field, uint64_t v)
{
    if (v == 0)
        return;
    pb_key(b, field, WIRE_VARINT);
    pb_varint(b, v);
}

static void pb_bytes(buf *b, unsigned field, const char *s)
{
    size_t n = strlen(s);
    pb_key(b, field, WIRE_BYTES);
    pb_varint(b, n);
    if (buf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Starts a length-delimited field; pb_close ends it. The length is not
 * known until then, so pb_close moves the contents up to make room for it:
 * messages here are small, and it spares a buffer per nesting level. */
static size_t pb_open(buf *b, unsigned field)
{
    pb_key(b, field, WIRE_BYTES);
    return b->len;
}

static void pb_close(buf *b, size_t start)
{
    if (b->oom)
        return;
    size_t len = b->len - start, n = varint_len(len);
    if (buf_reserve(b, n) != 0)
        return;
    memmove(b->p + start + n, b->p + start, len);
    varint_at(b->p + start, len);
    b->len += n;
}

/* A packed repeated varint field: one key and length for all values. */
static void pb_packed(buf *b, unsigned field, const uint64_t *v, size_t n)
{
    if (n == 0)
        return;
    size_t start = pb_open(b, field);
    for (size_t i = 0; i < n; i++)
        pb_varint(b, v[i]);
    pb_close(b, start);
}

/* ---- Interning: strings, functions, locations ---------------------------- */

/* Open-addressing hash tables whose slots hold a table index + 1 (0:
 * empty), kept at most half full. */
typedef struct slots {
    uint32_t *slot;
    size_t cap;          /* a power of two */
} slots;

static uint64_t mix(uint64_t h)
{
    /* splitmix64's finalizer: spreads close keys (pcs a few bytes apart,
     * small string indices) over the whole table. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebu;
    return h ^ (h >> 31);
}

static uint64_t hash_string(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a's offset basis and prime */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return mix(h);
}

typedef struct func {
    uint64_t name, file;         /* string indices */
} func;

typedef struct loc {
    uint64_t mapping_id, address;
    uint64_t function_id, line;  /* function_id 0: not symbolized */
    uintptr_t pc;                /* the key of a native location; 0 for a guest one */
} loc;

typedef struct profile {
    buf out;
    int oom;                     /* any allocation failed */
    const char **strs;
    size_t nstrs, strs_cap;
    slots str_slots;
    func *funcs;
    size_t nfuncs, funcs_cap;
    slots func_slots;
    loc *locs;
    size_t nlocs, locs_cap;
    slots loc_slots;
    tci_os_mapping *maps;        /* sorted by start, as the kernel lists them */
    size_t nmaps;
    unsigned char *map_has_functions;
    tci_symbolizer *sym;
} profile;

/* Grows the array *p of *cap elements of `size` bytes to hold one more
 * than len. */
static int grow(profile *pr, void **p, size_t *cap, size_t len, size_t size)
{
    if (len < *cap)
        return 0;
    size_t ncap = *cap ? 2 * *cap : 64;
    void *q = realloc(*p, ncap * size);
    if (!q) {
        pr->oom = 1;
        return -1;
    }
    *p = q;
    *cap = ncap;
    return 0;
}

/* The slot for a key of hash h: its own, or the empty one where it would
 * go. eq(pr, index, key) says whether table entry index holds key. */
static uint32_t *slot_find(profile *pr, slots *t, uint64_t h, const void *key,
                           int (*eq)(const profile *, size_t, const void *))
{
    for (size_t i = (size_t)h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        uint32_t *s = &t->slot[i];
        if (*s == 0 || eq(pr, *s - 1, key))
            return s;
    }
}

/* Doubles t when an entry more would fill half of it; rehash(pr, index)
 * gives the hash of table entry index. */
static int slots_make_room(profile *pr, slots *t, size_t n,
                           uint64_t (*rehash)(const profile *, size_t))
{
    if (2 * (n + 1) <= t->cap)
        return 0;
    size_t ncap = t->cap ? 2 * t->cap : 256;
    uint32_t *slot = calloc(ncap, sizeof *slot);
    if (!slot || n >= UINT32_MAX - 1) {
        free(slot);
        pr->oom = 1;
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = (size_t)rehash(pr, k) & (ncap - 1);
        while (slot[i] != 0)
            i = (i + 1) & (ncap - 1);
        slot[i] = (uint32_t)(k + 1);
    }
    free(t->slot);
    t->slot = slot;
    t->cap = ncap;
    return 0;
}

static int str_eq(const profile *pr, size_t i, const void *key)
{
    return strcmp(pr->strs[i], key) == 0;
}

static uint64_t str_rehash(const profile *pr, size_t i)
{
    return hash_string(pr->strs[i]);
}

/* The string-table index of s, which must live until the profile is
 * encoded. 0 ("") when out of memory: pr->oom abandons the profile. */
static uint64_t str_index(profile *pr, const char *s)
{
    if (!s || !*s)
        return 0; /* string_table[0] is always "" */
    if (slots_make_room(pr, &pr->str_slots, pr->nstrs, str_rehash) != 0 ||
        grow(pr, (void **)&pr->strs, &pr->strs_cap, pr->nstrs, sizeof *pr->strs) != 0)
        return 0;
    uint32_t *slot = slot_find(pr, &pr->str_slots, hash_string(s), s, str_eq);
    if (*slot == 0) {
        pr->strs[pr->nstrs++] = s;
        *slot = (uint32_t)pr->nstrs;
    }
    return *slot - 1;
}

/* Two small numbers into one key: the first times 2^64 / golden ratio
 * (Knuth's multiplicative hashing) lands far from every small second. */
static uint64_t pair_hash(uint64_t a, uint64_t b)
{
    return mix(a * 0x9e3779b97f4a7c15u ^ b);
}

static uint64_t func_hash(const func *f)
{
    return pair_hash(f->name, f->file);
}

static int func_eq(const profile *pr, size_t i, const void *key)
{
    const func *f = key;
    return pr->funcs[i].name == f->name && pr->funcs[i].file == f->file;
}

static uint64_t func_rehash(const profile *pr, size_t i)
{
    return func_hash(&pr->funcs[i]);
}

/* The id of the Function (name, file), made on first use; 0 when out of
 * memory. */
static uint64_t function_id(profile *pr, const char *name, const char *file)
{
    func key = {str_index(pr, name), str_index(pr, file)};
    if (slots_make_room(pr, &pr->func_slots, pr->nfuncs, func_rehash) != 0 ||
        grow(pr, (void **)&pr->funcs, &pr->funcs_cap, pr->nfuncs, sizeof *pr->funcs) != 0)
        return 0;
    uint32_t *slot = slot_find(pr, &pr->func_slots, func_hash(&key), &key, func_eq);
    if (*slot == 0) {
        pr->funcs[pr->nfuncs++] = key;
        *slot = (uint32_t)pr->nfuncs;
    }
    return *slot; /* ids start at 1: index + 1 */
}

/* Native locations are keyed by pc, guest ones by (function, line); a
 * guest key has pc 0, which no native location has. */
static uint64_t loc_hash(const loc *l)
{
    return l->pc ? mix((uint64_t)l->pc) : pair_hash(l->function_id, l->line);
}

static int loc_eq(const profile *pr, size_t i, const void *key)
{
    const loc *a = &pr->locs[i], *b = key;
    if (a->pc || b->pc)
        return a->pc == b->pc;
    return a->function_id == b->function_id && a->line == b->line;
}

static uint64_t loc_rehash(const profile *pr, size_t i)
{
    return loc_hash(&pr->locs[i]);
}

/* The slot of key's Location; an empty one (and room for one more
 * location) when it is new. NULL when out of memory. */
static uint32_t *location_slot(profile *pr, const loc *key)
{
    if (slots_make_room(pr, &pr->loc_slots, pr->nlocs, loc_rehash) != 0 ||
        grow(pr, (void **)&pr->locs, &pr->locs_cap, pr->nlocs, sizeof *pr->locs) != 0)
        return NULL;
    return slot_find(pr, &pr->loc_slots, loc_hash(key), key, loc_eq);
}

static uint64_t location_add(profile *pr, uint32_t *slot, const loc *l)
{
    pr->locs[pr->nlocs++] = *l;
    *slot = (uint32_t)pr->nlocs;
    return *slot;
}

static uint64_t guest_location(profile *pr, const tc_frame *fr)
{
    loc key = {.function_id = function_id(pr, fr->function, fr->file),
               .line = (uint64_t)fr->line};
    uint32_t *slot = location_slot(pr, &key);
    if (!slot)
        return 0;
    return *slot ? *slot : location_add(pr, slot, &key);
}

/* The mapping holding address a, or -1. */
static ptrdiff_t mapping_of(const profile *pr, uintptr_t a)
{
    size_t lo = 0, hi = pr->nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pr->maps[mid].limit <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < pr->nmaps && pr->maps[lo].start <= a ? (ptrdiff_t)lo : -1;
}

static uint64_t native_location(profile *pr, uintptr_t pc)
{
    loc key = {.pc = pc};
    uint32_t *slot = location_slot(pr, &key);
    if (!slot || *slot)
        return slot ? *slot : 0;
    /* A return address is the instruction after the call, which may begin
     * the next line or even the next function (after a call that does not
     * return); one byte back is inside the call itself, which is what
     * this frame was doing. pprof and addr2line expect the same for every
     * frame, and the innermost one is a return address here too (the
     * sampled allocation's caller). */
    key.address = pc - 1;
    ptrdiff_t m = mapping_of(pr, key.address);
    if (m >= 0) {
        key.mapping_id = (uint64_t)m + 1;
        const char *name;
        if (tci_symbolize_function(pr->sym, &pr->maps[m], key.address, &name) != 0) {
            pr->oom = 1;
            return 0;
        }
        if (name) {
            key.function_id = function_id(pr, name, NULL);
            pr->map_has_functions[m] = 1;
        }
    }
    if (pr->oom)
        return 0;
    /* Still the slot found above: interning the function grew only the
     * string and function tables. */
    return location_add(pr, slot, &key);
}

/* ---- The profile ---------------------------------------------------------- */

static void encode_value_type(profile *pr, unsigned field, const char *type, const char *unit)
{
    uint64_t t = str_index(pr, type), u = str_index(pr, unit);
    size_t at = pb_open(&pr->out, field);
    pb_uint(&pr->out, VALUE_TYPE_TYPE, t);
    pb_uint(&pr->out, VALUE_TYPE_UNIT, u);
    pb_close(&pr->out, at);
}

/* One Sample; ids is scratch room for its location ids. */
static void encode_sample(profile *pr, const tci_pprof_sample *s, uint64_t *ids)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nguest; i++)
        ids[n++] = guest_location(pr, &s->guest[i]);
    for (size_t i = 0; i < s->npcs; i++)
        if (s->pcs[i] != 0) /* the end of a stack, as some unwinders mark it */
            ids[n++] = native_location(pr, s->pcs[i]);
    uint64_t values[4];
    for (size_t i = 0; i < 4; i++)
        values[i] = (uint64_t)s->values[i];
    uint64_t key = str_index(pr, "bytes");
    buf *b = &pr->out;
    size_t at = pb_open(b, PROFILE_SAMPLE);
    pb_packed(b, SAMPLE_LOCATION_ID, ids, n);
    pb_packed(b, SAMPLE_VALUE, values, 4);
    size_t label = pb_open(b, SAMPLE_LABEL);
    pb_uint(b, LABEL_KEY, key);
    pb_uint(b, LABEL_NUM, (uint64_t)s->object_bytes);
    pb_uint(b, LABEL_NUM_UNIT, key);
    pb_close(b, label);
    pb_close(b, at);
}

static void encode_mappings(profile *pr)
{
    buf *b = &pr->out;
    for (size_t i = 0; i < pr->nmaps && !pr->oom; i++) {
        const tci_os_mapping *m = &pr->maps[i];
        const char *build_id;
        if (tci_symbolize_build_id(pr->sym, m, &build_id) != 0) {
            pr->oom = 1;
            return;
        }
        uint64_t file = str_index(pr, m->path), id = str_index(pr, build_id);
        size_t at = pb_open(b, PROFILE_MAPPING);
        pb_uint(b, MAPPING_ID, i + 1);
        pb_uint(b, MAPPING_MEMORY_START, m->start);
        pb_uint(b, MAPPING_MEMORY_LIMIT, m->limit);
        pb_uint(b, MAPPING_FILE_OFFSET, m->offset);
        pb_uint(b, MAPPING_FILENAME, file);
        pb_uint(b, MAPPING_BUILD_ID, id);
        pb_uint(b, MAPPING_HAS_FUNCTIONS, pr->map_has_functions[i]);
        pb_close(b, at);
    }
}

static void encode_tables(profile *pr)
{
    buf *b = &pr->out;
    for (size_t i = 0; i < pr->nlocs; i++) {
        const loc *l = &pr->locs[i];
        size_t at = pb_open(b, PROFILE_LOCATION);
        pb_uint(b, LOCATION_ID, i + 1);
        pb_uint(b, LOCATION_MAPPING_ID, l->mapping_id);
        pb_uint(b, LOCATION_ADDRESS, l->address);
        if (l->function_id) {
            size_t line = pb_open(b, LOCATION_LINE);
            pb_uint(b, LINE_FUNCTION_ID, l->function_id);
            pb_uint(b, LINE_LINE, l->line);
            pb_close(b, line);
        }
        pb_close(b, at);
    }
    for (size_t i = 0; i < pr->nfuncs; i++) {
        size_t at = pb_open(b, PROFILE_FUNCTION);
        pb_uint(b, FUNCTION_ID, i + 1);
        pb_uint(b, FUNCTION_NAME, pr->funcs[i].name);
        /* Not demangled, so the system's name is the same one. */
        pb_uint(b, FUNCTION_SYSTEM_NAME, pr->funcs[i].name);
        pb_uint(b, FUNCTION_FILENAME, pr->funcs[i].file);
        pb_close(b, at);
    }
    /* Last: everything above has interned its strings by now. */
    pb_bytes(b, PROFILE_STRING_TABLE, "");
    for (size_t i = 1; i < pr->nstrs; i++)
        pb_bytes(b, PROFILE_STRING_TABLE, pr->strs[i]);
}

static int encode(profile *pr, const tci_pprof_sample *s, size_t n, int64_t rate,
                  int64_t time_ns)
{
    pr->strs_cap = 64;
    pr->strs = malloc(pr->strs_cap * sizeof *pr->strs);
    pr->sym = tci_symbolize_create();
    if (!pr->strs || !pr->sym)
        return -1;
    pr->strs[pr->nstrs++] = "";
    /* A process whose mappings cannot be listed (no /proc mounted) still
     * gets its profile, with native frames as bare addresses. */
    if (tci_os_exec_mappings(&pr->maps, &pr->nmaps) != 0 && errno == ENOMEM)
        return -1;
    pr->map_has_functions = calloc(pr->nmaps ? pr->nmaps : 1, 1);
    size_t most = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].npcs + s[i].nguest > most)
            most = s[i].npcs + s[i].nguest;
    uint64_t *ids = malloc((most ? most : 1) * sizeof *ids);
    if (!pr->map_has_functions || !ids) {
        free(ids);
        return -1;
    }
    /* Go's heap profiles: these names, units and order, so that tools and
     * people used to them read ours the same way. */
    encode_value_type(pr, PROFILE_SAMPLE_TYPE, "alloc_objects", "count");
    encode_value_type(pr, PROFILE_SAMPLE_TYPE, "alloc_space", "bytes");
    encode_value_type(pr, PROFILE_SAMPLE_TYPE, "inuse_objects", "count");
    encode_value_type(pr, PROFILE_SAMPLE_TYPE, "inuse_space", "bytes");
    for (size_t i = 0; i < n && !pr->oom && !pr->out.oom; i++)
        encode_sample(pr, &s[i], ids);
    free(ids);
    encode_mappings(pr);
    pb_uint(&pr->out, PROFILE_TIME_NANOS, (uint64_t)time_ns);
    encode_value_type(pr, PROFILE_PERIOD_TYPE, "space", "bytes");
    pb_uint(&pr->out, PROFILE_PERIOD, (uint64_t)rate);
    pb_uint(&pr->out, PROFILE_DEFAULT_SAMPLE_TYPE, str_index(pr, "inuse_space"));
    encode_tables(pr);
    return pr->oom || pr->out.oom ? -1 : 0;
}

static void profile_free(profile *pr)
{
    free(pr->out.p);
    free(pr->strs);
    free(pr->str_slots.slot);
    free(pr->funcs);
    free(pr->func_slots.slot);
    free(pr->locs);
    free(pr->loc_slots.slot);
    if (pr->maps)
        tci_os_mappings_free(pr->maps, pr->nmaps);
    free(pr->map_has_functions);
    tci_symbolize_destroy(pr->sym);
}

static int args_valid(FILE *f, const tci_pprof_sample *s, size_t n)
{
    if (!f || (!s && n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((!s[i].pcs && s[i].npcs) || (!s[i].guest && s[i].nguest))
            return 0;
    return 1;
}

int tci_pprof_write_heap(FILE *f, const tci_pprof_sample *s, size_t n, int64_t rate,
                         int64_t time_ns)
{
    if (!args_valid(f, s, n)) {
        errno = EINVAL;
        return -1;
    }
    profile pr;
    memset(&pr, 0, sizeof pr);
    int rc = encode(&pr, s, n, rate, time_ns);
    if (rc != 0) {
        errno = ENOMEM;
    } else if (fwrite(pr.out.p, 1, pr.out.len, f) != pr.out.len || fflush(f) != 0) {
        errno = EIO;
        rc = -1;
    }
    profile_free(&pr);
    return rc;
}
