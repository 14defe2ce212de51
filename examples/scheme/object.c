/* object.c: allocation of the interpreter's objects in tricolor's heap,
 * strings and UTF-8, the symbol table (weak: a tc_type_new_weak array),
 * equality and hashing, and the error entry point.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheme.h"

const tc_type *sc_slot_type, *sc_pair_type;

/* ---- Errors ---------------------------------------------------------------------- */

void (*sc_error_handler)(const char *msg, sc_val irritant);

void sc_error(sc_val irritant, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sc_error_handler)
        sc_error_handler(msg, irritant); /* does not return */
    fprintf(stderr, "error: %s", msg);
    if (irritant != SC_DEFAULT) {
        fputc(' ', stderr);
        sc_fprint(stderr, irritant, 1);
    }
    fputc('\n', stderr);
    exit(1);
}

static const char *const kind_names[SC_KINDS] = {
    [SC_STRING] = "string", [SC_SYMBOL] = "symbol", [SC_VECTOR] = "vector",
    [SC_BYTEVECTOR] = "bytevector", [SC_CLOSURE] = "procedure", [SC_PRIMITIVE] = "procedure",
    [SC_CODE] = "code", [SC_FRAME] = "frame", [SC_RECORD] = "record",
    [SC_RECTYPE] = "record type", [SC_HASHTABLE] = "hash table", [SC_PORT] = "port",
    [SC_VALUES] = "values", [SC_BOX] = "box", [SC_THREAD] = "thread", [SC_MUTEX] = "mutex",
    [SC_INT64] = "integer",
};

void sc_check_kind(const char *who, sc_val v, int kind)
{
    if (!sc_is(v, kind))
        sc_error(v, "%s: not a %s:", who, kind_names[kind]);
}

int64_t sc_check_fixnum(const char *who, sc_val v)
{
    if (!sc_is_fixnum(v))
        sc_error(v, "%s: not an integer:", who);
    return sc_fixnum_value(v);
}

void sc_check_pair(const char *who, sc_val v)
{
    if (!sc_is_pair(v))
        sc_error(v, "%s: not a pair:", who);
}

size_t sc_index_arg(const char *who, int argc, sc_val *argv, int i, size_t lo, size_t hi,
                    size_t dflt)
{
    if (i >= argc || argv[i] == SC_DEFAULT)
        return dflt;
    int64_t k = sc_check_fixnum(who, argv[i]);
    if (k < (int64_t)lo || k > (int64_t)hi)
        sc_error(argv[i], "%s: index out of range:", who);
    return (size_t)k;
}

uint32_t sc_check_char(const char *who, sc_val v)
{
    if (!sc_is_char(v))
        sc_error(v, "%s: not a character:", who);
    return sc_char_value(v);
}

/* ---- Integers: a fixnum, or a box beyond 63 bits ------------------------------------ */

sc_val sc_integer(int64_t n)
{
    if (n >= SC_FIXNUM_MIN && n <= SC_FIXNUM_MAX)
        return sc_fixnum(n);
    sc_val b = sc_alloc_atomic(SC_INT64, 0, sizeof(int64_t));
    *(int64_t *)(sc_obj(b) + 1) = n;
    return b;
}

sc_val sc_integer_checked(const char *who, __int128 r)
{
    if (r > INT64_MAX || r < INT64_MIN)
        sc_error(SC_DEFAULT, "%s: integer overflow (the result does not fit 64 bits)", who);
    return sc_integer((int64_t)r);
}

int64_t sc_check_integer(const char *who, sc_val v)
{
    if (!sc_is_integer(v))
        sc_error(v, "%s: not an integer:", who);
    return sc_integer_value(v);
}

/* ---- Allocation -------------------------------------------------------------------- */

static _Noreturn void out_of_memory(void)
{
    fprintf(stderr, "scheme: out of memory\n");
    exit(1);
}

void sc_object_init(void)
{
    static const size_t slot0 = 0, pair[2] = {offsetof(sc_pair, car), offsetof(sc_pair, cdr)};
    sc_slot_type = tc_type_new("scheme.slot", sizeof(sc_val), &slot0, 1);
    sc_pair_type = tc_type_new("scheme.pair", sizeof(sc_pair), pair, 2);
    if (!sc_slot_type || !sc_pair_type)
        out_of_memory();
}

sc_val sc_cons(sc_val car, sc_val cdr)
{
    sc_pair *p = tc_alloc(sc_pair_type);
    if (!p)
        out_of_memory();
    /* A new object: no marker has seen it (allocated black during a mark),
     * so plain stores would do; tc_store costs a flag test. */
    tc_store(p, &p->car, (void *)car);
    tc_store(p, &p->cdr, (void *)cdr);
    return (sc_val)p + 2;
}

sc_val sc_alloc_slots(int kind, size_t n)
{
    sc_val *o = tc_alloc_array(sc_slot_type, n + 1);
    if (!o)
        out_of_memory();
    o[0] = sc_hdr(kind, n);
    for (size_t i = 1; i <= n; i++)
        o[i] = SC_FALSE;
    return (sc_val)o;
}

sc_val sc_alloc_atomic(int kind, size_t len, size_t bytes)
{
    sc_val *o = tc_alloc_atomic_zeroed(sizeof(sc_val) + bytes);
    if (!o)
        out_of_memory();
    o[0] = sc_hdr(kind, len);
    return (sc_val)o;
}

sc_val sc_make_string(size_t len, uint32_t fill)
{
    sc_val s = sc_alloc_atomic(SC_STRING, len, len * sizeof(uint32_t));
    uint32_t *c = sc_string_chars(s);
    for (size_t i = 0; i < len; i++)
        c[i] = fill;
    return s;
}

int sc_utf8_encode(uint32_t cp, char *buf)
{
    unsigned char *b = (unsigned char *)buf;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (unsigned char)(0xf0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

uint32_t sc_utf8_decode(const unsigned char *s, size_t n, int *len)
{
    *len = 1;
    if (s[0] < 0x80)
        return s[0];
    int need = s[0] >= 0xf0 ? 3 : s[0] >= 0xe0 ? 2 : s[0] >= 0xc0 ? 1 : -1;
    if (need < 0 || (size_t)need >= n)
        return 0xfffd;
    uint32_t cp = s[0] & (0x3f >> need);
    for (int i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0xfffd;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    *len = need + 1;
    return cp > 0x10ffff ? 0xfffd : cp;
}

sc_val sc_string_from_utf8(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        int l;
        (void)sc_utf8_decode((const unsigned char *)s + i, n - i, &l);
        i += (size_t)l;
        count++;
    }
    sc_val str = sc_make_string(count, 0);
    uint32_t *c = sc_string_chars(str);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int l;
        c[k++] = sc_utf8_decode((const unsigned char *)s + i, n - i, &l);
        i += (size_t)l;
    }
    return str;
}

sc_val sc_string_from_c(const char *s)
{
    return sc_string_from_utf8(s, strlen(s));
}

char *sc_string_to_utf8(sc_val s, size_t *n)
{
    size_t len = sc_len(s);
    char *out = malloc(len * 4 + 1);
    if (!out)
        out_of_memory();
    size_t k = 0;
    const uint32_t *c = sc_string_chars(s);
    for (size_t i = 0; i < len; i++)
        k += (size_t)sc_utf8_encode(c[i], out + k);
    out[k] = 0;
    if (n)
        *n = k;
    return out;
}

sc_val sc_make_vector(size_t len, sc_val fill)
{
    sc_val v = sc_alloc_slots(SC_VECTOR, len);
    if (fill != SC_FALSE)
        for (size_t i = 1; i <= len; i++)
            SC_SET(v, i, fill);
    return v;
}

sc_val sc_list(int n, ...)
{
    sc_val items[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < 16; i++)
        items[i] = va_arg(ap, sc_val);
    va_end(ap);
    sc_val l = SC_NIL;
    for (int i = (n < 16 ? n : 16) - 1; i >= 0; i--)
        l = sc_cons(items[i], l);
    return l;
}

size_t sc_list_length(sc_val l)
{
    size_t n = 0;
    sc_val slow = l;
    while (sc_is_pair(l)) {
        n++;
        l = sc_cdr(l);
        if (n % 2 == 0) {
            slow = sc_cdr(slow);
            if (slow == l && sc_is_pair(l))
                return SIZE_MAX; /* circular */
        }
    }
    return l == SC_NIL ? n : SIZE_MAX;
}

sc_val sc_reverse(sc_val l)
{
    sc_val r = SC_NIL;
    for (; sc_is_pair(l); l = sc_cdr(l))
        r = sc_cons(sc_car(l), r);
    return r;
}

/* ---- Symbols ------------------------------------------------------------------------ */

/* The intern table: a vector of buckets, each a chain of entries whose
 * symbol slot is weak (a tc_type_new_weak type: symbol weak, next strong),
 * read with tc_load_weak; an entry whose symbol died reads NULL and is
 * unlinked by the next walk of its chain. Under sym_lock, taken in a
 * blocking region (its holder may allocate, and so stop for a
 * collection). The table and the globals' list are in `roots`, a root
 * range. */
typedef struct sym_entry {
    sc_val sym;  /* weak */
    sc_val next; /* the chain: an entry, or 0 */
} sym_entry;

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static const tc_type *entry_type;
static struct {
    sc_val buckets; /* an SC_VECTOR of chains; sym_lock */
    sc_val globals; /* a list of every symbol with a global binding; sym_lock */
} roots;
static size_t nentries; /* sym_lock: entries in the chains, dead ones included */

static uint64_t hash_chars(const uint32_t *c, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static void sym_lock_take(void)
{
    tc_blocking_begin();
    pthread_mutex_lock(&sym_lock);
    tc_blocking_end();
}

static sc_val sym_of(sym_entry *e)
{
    return (sc_val)tc_load_weak(e, (void *const *)&e->sym);
}

/* Moves every live entry into a table of cap buckets; under sym_lock. */
static void rehash(size_t cap)
{
    sc_val nb = sc_make_vector(cap, 0);
    size_t old = roots.buckets ? sc_len(roots.buckets) : 0, live = 0;
    for (size_t b = 1; b <= old; b++)
        for (sym_entry *e = (sym_entry *)SC_SLOT(roots.buckets, b), *next; e; e = next) {
            next = (sym_entry *)e->next;
            sc_val s = sym_of(e);
            if (!s)
                continue;
            sc_val name = SC_SLOT(s, SC_SYM_NAME);
            size_t h = 1 + (hash_chars(sc_string_chars(name), sc_len(name)) & (cap - 1));
            tc_store(e, &e->next, (void *)SC_SLOT(nb, h));
            SC_SET(nb, h, (sc_val)e);
            live++;
        }
    roots.buckets = nb;
    nentries = live;
}

static int name_equals(sc_val name, const uint32_t *c, size_t n)
{
    return sc_len(name) == n && memcmp(sc_string_chars(name), c, n * sizeof *c) == 0;
}

/* The symbol named by code points c[0..n) (str, when not 0, is a string
 * holding them, used as the new symbol's name). */
static sc_val intern(const uint32_t *c, size_t n, sc_val str)
{
    sym_lock_take();
    size_t cap = sc_len(roots.buckets);
    if (nentries >= cap * 2) {
        rehash(cap * 2);
        cap *= 2;
    }
    size_t h = 1 + (hash_chars(c, n) & (cap - 1));
    sc_val *link = &SC_SLOT(roots.buckets, h), owner = roots.buckets;
    for (sym_entry *e; (e = (sym_entry *)*link) != NULL;) {
        sc_val s = sym_of(e);
        if (!s) { /* its symbol died: unlinked */
            tc_store((void *)owner, link, (void *)e->next);
            nentries--;
            continue;
        }
        if (name_equals(SC_SLOT(s, SC_SYM_NAME), c, n)) {
            pthread_mutex_unlock(&sym_lock);
            return s;
        }
        link = &e->next;
        owner = (sc_val)e;
    }
    if (!str) {
        str = sc_make_string(n, 0);
        memcpy(sc_string_chars(str), c, n * sizeof *c);
    }
    size_t nbytes;
    char *utf8 = sc_string_to_utf8(str, &nbytes);
    sc_val u = sc_alloc_atomic(SC_BYTEVECTOR, nbytes + 1, nbytes + 1);
    memcpy(sc_bytes(u), utf8, nbytes + 1);
    free(utf8);
    sc_val s = sc_alloc_slots(SC_SYMBOL, SC_SYM_SLOTS);
    SC_SLOT(s, SC_SYM_NAME) = str;
    SC_SLOT(s, SC_SYM_VALUE) = SC_UNBOUND;
    SC_SLOT(s, SC_SYM_FLAGS) = sc_fixnum(0);
    SC_SLOT(s, SC_SYM_UTF8) = u;
    sym_entry *e = tc_alloc(entry_type);
    if (!e)
        out_of_memory();
    tc_store(e, &e->sym, (void *)s);
    tc_store(e, &e->next, (void *)SC_SLOT(roots.buckets, h));
    SC_SET(roots.buckets, h, (sc_val)e);
    nentries++;
    pthread_mutex_unlock(&sym_lock);
    return s;
}

sc_val sc_intern_string(sc_val str)
{
    /* A copy of the name: the program may mutate its string later. */
    size_t n = sc_len(str);
    sc_val copy = sc_make_string(n, 0);
    memcpy(sc_string_chars(copy), sc_string_chars(str), n * sizeof(uint32_t));
    return intern(sc_string_chars(copy), n, copy);
}

sc_val sc_intern(const char *name)
{
    sc_val str = sc_string_from_c(name);
    return intern(sc_string_chars(str), sc_len(str), str);
}

const char *sc_symbol_name(sc_val sym)
{
    return (const char *)sc_bytes(SC_SLOT(sym, SC_SYM_UTF8));
}

void sc_define_global(sc_val sym, sc_val value)
{
    int64_t flags = sc_fixnum_value(SC_SLOT(sym, SC_SYM_FLAGS));
    if (!(flags & SC_SYMF_GLOBAL)) {
        sym_lock_take();
        roots.globals = sc_cons(sym, roots.globals);
        pthread_mutex_unlock(&sym_lock);
        SC_SET(sym, SC_SYM_FLAGS, sc_fixnum(flags | SC_SYMF_GLOBAL));
    }
    SC_SET(sym, SC_SYM_VALUE, value);
}

void sc_symbols_init(void)
{
    static const size_t weak0 = offsetof(sym_entry, sym), next = offsetof(sym_entry, next);
    entry_type = tc_type_new_weak("scheme.symbol-entry", sizeof(sym_entry), &next, 1, &weak0, 1,
                                  NULL, 0);
    if (!entry_type || tc_root_add(&roots, sizeof roots) != 0)
        out_of_memory();
    roots.globals = SC_NIL;
    sym_lock_take();
    rehash(1024);
    pthread_mutex_unlock(&sym_lock);
}

/* ---- Equality and hashing --------------------------------------------------------- */

int sc_eqv(sc_val a, sc_val b)
{
    /* Fixnums, characters and immediates are unique words; a boxed
     * integer is eqv? to one of the same value. */
    if (a == b)
        return 1;
    return sc_is(a, SC_INT64) && sc_is(b, SC_INT64) && sc_integer_value(a) == sc_integer_value(b);
}

int sc_equal(sc_val a, sc_val b)
{
    for (;;) {
        if (a == b)
            return 1;
        if (sc_is_pair(a) && sc_is_pair(b)) {
            if (!sc_equal(sc_car(a), sc_car(b)))
                return 0;
            a = sc_cdr(a);
            b = sc_cdr(b);
            continue;
        }
        if (!sc_is_obj(a) || !sc_is_obj(b) || sc_kind(a) != sc_kind(b) || sc_len(a) != sc_len(b))
            return 0;
        switch (sc_kind(a)) {
        case SC_INT64:
            return sc_integer_value(a) == sc_integer_value(b);
        case SC_STRING:
            return memcmp(sc_string_chars(a), sc_string_chars(b), sc_len(a) * 4) == 0;
        case SC_BYTEVECTOR:
            return memcmp(sc_bytes(a), sc_bytes(b), sc_len(a)) == 0;
        case SC_VECTOR:
            for (size_t i = 1; i <= sc_len(a); i++)
                if (!sc_equal(SC_SLOT(a, i), SC_SLOT(b, i)))
                    return 0;
            return 1;
        default:
            return 0;
        }
    }
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

uint64_t sc_hash_eqv(sc_val v)
{
    if (sc_is(v, SC_INT64))
        return mix((uint64_t)sc_integer_value(v));
    return mix((uint64_t)v); /* addresses are stable: the collector moves nothing */
}

uint64_t sc_hash_equal(sc_val v)
{
    if (sc_is_pair(v)) {
        uint64_t h = 0x9e3779b97f4a7c15ull;
        for (int n = 0; sc_is_pair(v) && n < 16; n++, v = sc_cdr(v))
            h = mix(h ^ sc_hash_equal(sc_car(v)));
        return h;
    }
    if (sc_is(v, SC_STRING))
        return hash_chars(sc_string_chars(v), sc_len(v));
    if (sc_is(v, SC_VECTOR)) {
        uint64_t h = sc_len(v);
        for (size_t i = 1; i <= sc_len(v) && i <= 16; i++)
            h = mix(h ^ sc_hash_equal(SC_SLOT(v, i)));
        return h;
    }
    if (sc_is(v, SC_BYTEVECTOR)) {
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < sc_len(v); i++)
            h = (h ^ sc_bytes(v)[i]) * 1099511628211ull;
        return h;
    }
    return sc_hash_eqv(v);
}
