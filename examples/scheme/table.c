/* table.c: hash tables with SRFI-69's names, and weak-key tables
 * (make-weak-key-hash-table), whose entries are ephemeron pairs in heap
 * objects (tricolor's tc_type_new_weak): a value is kept only while its
 * key is reachable from elsewhere, and an entry whose key died reads NULL
 * and is unlinked by the next walk of its chain.
 *
 * A table: its kind, its count, a vector of buckets (chains of entries),
 * and for a table of the program's own equality its two procedures. Keys
 * are hashed by address for eq?/eqv? (the collector moves nothing) and by
 * content for equal? and string=?.
 */
#include <string.h>

#include "vm.h"

enum { T_KIND = 1, T_COUNT, T_BUCKETS, T_EQUAL, T_HASH, T_SLOTS = 5 };
enum { K_EQUAL, K_EQV, K_EQ, K_WEAK, K_CUSTOM };

/* An entry: key and value (strong, or an ephemeron pair in a weak table),
 * the chain, and whether it is weak (a fixnum). A weak table keeps a
 * symbol key in a strong entry: an interned symbol is never dead as a key,
 * since the program can make it again from its name (string->symbol), and
 * would expect to find its entry. */
typedef struct entry {
    sc_val key, value, next, weak;
} entry;

static const tc_type *strong_entry, *weak_entry;

static entry *entry_of(sc_val v) { return (entry *)v; }

static int weak(sc_val t) { return sc_fixnum_value(SC_SLOT(t, T_KIND)) == K_WEAK; }

/* The key of e (NULL when a weak key died). */
static sc_val key_of(sc_val t, entry *e)
{
    (void)t;
    return e->weak == SC_TRUE ? (sc_val)tc_load_weak(e, (void *const *)&e->key) : e->key;
}

static sc_val value_of(sc_val t, entry *e)
{
    (void)t;
    return e->weak == SC_TRUE ? (sc_val)tc_load_weak(e, (void *const *)&e->value) : e->value;
}

static uint64_t hash(sc_val t, sc_val key)
{
    switch (sc_fixnum_value(SC_SLOT(t, T_KIND))) {
    case K_EQUAL:
        return sc_hash_equal(key);
    case K_CUSTOM: {
        sc_val h = SC_SLOT(t, T_HASH);
        if (h == SC_FALSE)
            return sc_hash_equal(key);
        sc_val r = sc_apply(h, 1, &key);
        return (uint64_t)sc_check_fixnum("hash table's hash", r);
    }
    default:
        return sc_hash_eqv(key);
    }
}

static int same(sc_val t, sc_val a, sc_val b)
{
    switch (sc_fixnum_value(SC_SLOT(t, T_KIND))) {
    case K_EQUAL:
        return sc_equal(a, b);
    case K_CUSTOM: {
        sc_val args[2] = { a, b };
        return sc_apply(SC_SLOT(t, T_EQUAL), 2, args) != SC_FALSE;
    }
    default:
        return a == b;
    }
}

static sc_val make_table(int kind, sc_val eq, sc_val h)
{
    sc_val t = sc_alloc_slots(SC_HASHTABLE, T_SLOTS);
    SC_SLOT(t, T_KIND) = sc_fixnum(kind);
    SC_SLOT(t, T_COUNT) = sc_fixnum(0);
    SC_SET(t, T_BUCKETS, sc_make_vector(16, 0));
    SC_SET(t, T_EQUAL, eq);
    SC_SET(t, T_HASH, h);
    return t;
}

static sc_val p_make_hash_table(int argc, sc_val *argv)
{
    if (argc == 0)
        return make_table(K_EQUAL, SC_FALSE, SC_FALSE);
    sc_val eq = argv[0];
    const char *name = sc_is(eq, SC_PRIMITIVE) ? sc_symbol_name(SC_SLOT(eq, 1)) : "";
    if (!strcmp(name, "eq?"))
        return make_table(K_EQ, SC_FALSE, SC_FALSE);
    if (!strcmp(name, "eqv?"))
        return make_table(K_EQV, SC_FALSE, SC_FALSE);
    if (!strcmp(name, "equal?") || (!strcmp(name, "string=?") && argc < 2))
        return make_table(K_EQUAL, SC_FALSE, SC_FALSE);
    if (!sc_is_procedure(eq))
        sc_error(eq, "make-hash-table: not an equality procedure:");
    return make_table(K_CUSTOM, eq, argc > 1 ? argv[1] : SC_FALSE);
}

static sc_val p_make_weak_key_hash_table(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    return make_table(K_WEAK, SC_FALSE, SC_FALSE);
}

static void check_table(const char *who, sc_val t)
{
    sc_check_kind(who, t, SC_HASHTABLE);
}

/* The entry of key in t, or NULL; unlinks dead weak entries it passes. */
static entry *find(sc_val t, sc_val key, uint64_t h)
{
    sc_val b = SC_SLOT(t, T_BUCKETS);
    size_t i = 1 + (h & (sc_len(b) - 1));
    sc_val owner = b, *link = &SC_SLOT(b, i);
    for (entry *e; (e = entry_of(*link)) != NULL;) {
        sc_val k = key_of(t, e);
        if (!k) { /* a weak key that died */
            tc_store(sc_obj(owner), link, (void *)e->next);
            SC_SET(t, T_COUNT, sc_fixnum(sc_fixnum_value(SC_SLOT(t, T_COUNT)) - 1));
            continue;
        }
        if (same(t, k, key))
            return e;
        owner = (sc_val)e;
        link = &e->next;
    }
    return NULL;
}

static void grow(sc_val t)
{
    sc_val old = SC_SLOT(t, T_BUCKETS);
    size_t n = sc_len(old) * 2;
    sc_val nb = sc_make_vector(n, 0);
    int64_t live = 0;
    for (size_t i = 1; i <= sc_len(old); i++)
        for (entry *e = entry_of(SC_SLOT(old, i)), *next; e; e = next) {
            next = entry_of(e->next);
            sc_val k = key_of(t, e);
            if (!k)
                continue;
            size_t j = 1 + (hash(t, k) & (n - 1));
            tc_store(e, &e->next, (void *)SC_SLOT(nb, j));
            SC_SET(nb, j, (sc_val)e);
            live++;
        }
    SC_SET(t, T_BUCKETS, nb);
    SC_SET(t, T_COUNT, sc_fixnum(live));
}

static sc_val p_set(int argc, sc_val *argv)
{
    (void)argc;
    sc_val t = argv[0], key = argv[1], value = argv[2];
    check_table("hash-table-set!", t);
    uint64_t h = hash(t, key);
    entry *e = find(t, key, h);
    if (e) {
        tc_store(e, &e->value, (void *)value);
        return SC_UNSPEC;
    }
    int64_t count = sc_fixnum_value(SC_SLOT(t, T_COUNT));
    if ((size_t)count >= 2 * sc_len(SC_SLOT(t, T_BUCKETS))) {
        grow(t);
        count = sc_fixnum_value(SC_SLOT(t, T_COUNT));
    }
    int w = weak(t) && !sc_is(key, SC_SYMBOL);
    e = tc_alloc(w ? weak_entry : strong_entry);
    if (!e)
        sc_error(SC_DEFAULT, "hash-table-set!: out of memory");
    e->weak = sc_bool(w);
    /* The key before the value: a pair with no key keeps nothing. */
    tc_store(e, &e->key, (void *)key);
    tc_store(e, &e->value, (void *)value);
    sc_val b = SC_SLOT(t, T_BUCKETS);
    size_t i = 1 + (h & (sc_len(b) - 1));
    tc_store(e, &e->next, (void *)SC_SLOT(b, i));
    SC_SET(b, i, (sc_val)e);
    SC_SET(t, T_COUNT, sc_fixnum(count + 1));
    return SC_UNSPEC;
}

static sc_val p_ref_default(int argc, sc_val *argv)
{
    (void)argc;
    check_table("hash-table-ref/default", argv[0]);
    entry *e = find(argv[0], argv[1], hash(argv[0], argv[1]));
    return e ? value_of(argv[0], e) : argv[2];
}

static sc_val p_ref(int argc, sc_val *argv)
{
    check_table("hash-table-ref", argv[0]);
    entry *e = find(argv[0], argv[1], hash(argv[0], argv[1]));
    if (e) {
        sc_val v = value_of(argv[0], e);
        return argc > 3 ? sc_apply(argv[3], 1, &v) : v;
    }
    if (argc > 2)
        return sc_apply(argv[2], 0, NULL);
    sc_error(argv[1], "hash-table-ref: no such key:");
}

static sc_val p_contains(int argc, sc_val *argv)
{
    (void)argc;
    check_table("hash-table-contains?", argv[0]);
    return sc_bool(find(argv[0], argv[1], hash(argv[0], argv[1])) != NULL);
}

static sc_val p_delete(int argc, sc_val *argv)
{
    (void)argc;
    sc_val t = argv[0], key = argv[1];
    check_table("hash-table-delete!", t);
    uint64_t h = hash(t, key);
    sc_val b = SC_SLOT(t, T_BUCKETS);
    size_t i = 1 + (h & (sc_len(b) - 1));
    sc_val owner = b, *link = &SC_SLOT(b, i);
    for (entry *e; (e = entry_of(*link)) != NULL;) {
        sc_val k = key_of(t, e);
        if (!k || same(t, k, key)) {
            tc_store(sc_obj(owner), link, (void *)e->next);
            SC_SET(t, T_COUNT, sc_fixnum(sc_fixnum_value(SC_SLOT(t, T_COUNT)) - 1));
            if (k)
                return SC_UNSPEC;
            continue;
        }
        owner = (sc_val)e;
        link = &e->next;
    }
    return SC_UNSPEC;
}

/* Calls fn(arg, key, value) for each live entry. */
static void walk(sc_val t, void (*fn)(void *arg, sc_val k, sc_val v), void *arg)
{
    sc_val b = SC_SLOT(t, T_BUCKETS);
    for (size_t i = 1; i <= sc_len(b); i++)
        for (entry *e = entry_of(SC_SLOT(b, i)); e; e = entry_of(e->next)) {
            sc_val k = key_of(t, e);
            if (k)
                fn(arg, k, value_of(t, e));
        }
}

static void count_one(void *arg, sc_val k, sc_val v)
{
    (void)k, (void)v;
    (*(int64_t *)arg)++;
}

static sc_val p_size(int argc, sc_val *argv)
{
    (void)argc;
    check_table("hash-table-size", argv[0]);
    if (!weak(argv[0]))
        return SC_SLOT(argv[0], T_COUNT);
    int64_t n = 0; /* dead keys' entries do not count */
    walk(argv[0], count_one, &n);
    return sc_fixnum(n);
}

typedef struct collect_state {
    sc_val list;
    int what; /* 0 keys, 1 values, 2 pairs */
} collect_state;

static void collect_one(void *arg, sc_val k, sc_val v)
{
    collect_state *c = arg;
    sc_val x = c->what == 0 ? k : c->what == 1 ? v : sc_cons(k, v);
    c->list = sc_cons(x, c->list);
}

static sc_val collect(sc_val t, int what)
{
    collect_state c = { SC_NIL, what };
    walk(t, collect_one, &c);
    return c.list;
}

static sc_val p_keys(int argc, sc_val *argv)
{
    (void)argc;
    check_table("hash-table-keys", argv[0]);
    return collect(argv[0], 0);
}

static sc_val p_values(int argc, sc_val *argv)
{
    (void)argc;
    check_table("hash-table-values", argv[0]);
    return collect(argv[0], 1);
}

static sc_val p_to_alist(int argc, sc_val *argv)
{
    (void)argc;
    check_table("hash-table->alist", argv[0]);
    return collect(argv[0], 2);
}

static sc_val p_walk(int argc, sc_val *argv)
{
    (void)argc;
    check_table("hash-table-walk", argv[0]);
    /* The pairs first: the procedure may change the table. */
    for (sc_val l = collect(argv[0], 2); sc_is_pair(l); l = sc_cdr(l)) {
        sc_val args[2] = { sc_car(sc_car(l)), sc_cdr(sc_car(l)) };
        sc_apply(argv[1], 2, args);
    }
    return SC_UNSPEC;
}

static sc_val p_update_default(int argc, sc_val *argv)
{
    (void)argc;
    sc_val t = argv[0], key = argv[1], proc = argv[2];
    check_table("hash-table-update!/default", t);
    entry *e = find(t, key, hash(t, key));
    sc_val old = e ? value_of(t, e) : argv[3];
    sc_val args[3] = { t, key, sc_apply(proc, 1, &old) };
    return p_set(3, args);
}

static sc_val p_clear(int argc, sc_val *argv)
{
    (void)argc;
    check_table("hash-table-clear!", argv[0]);
    SC_SET(argv[0], T_BUCKETS, sc_make_vector(16, 0));
    SC_SET(argv[0], T_COUNT, sc_fixnum(0));
    return SC_UNSPEC;
}

static sc_val p_table_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is(argv[0], SC_HASHTABLE));
}

static sc_val p_hash(int argc, sc_val *argv)
{
    uint64_t h = sc_hash_equal(argv[0]);
    int64_t bound = argc > 1 ? sc_check_fixnum("hash", argv[1]) : SC_FIXNUM_MAX;
    return sc_fixnum((int64_t)(h % (uint64_t)(bound > 0 ? bound : 1)));
}

void sc_init_tables(void)
{
    static const size_t strong[4] = {offsetof(entry, key), offsetof(entry, value),
                                     offsetof(entry, next), offsetof(entry, weak)};
    static const size_t next = offsetof(entry, next);
    static const size_t pair[2] = {offsetof(entry, key), offsetof(entry, value)};
    strong_entry = tc_type_new("scheme.table-entry", sizeof(entry), strong, 4);
    weak_entry = tc_type_new_weak("scheme.weak-entry", sizeof(entry), &next, 1, NULL, 0, pair, 1);
    if (!strong_entry || !weak_entry)
        sc_error(SC_DEFAULT, "cannot make the hash tables' types");
    sc_defprim("make-hash-table", p_make_hash_table, 0, -1);
    sc_defprim("make-weak-key-hash-table", p_make_weak_key_hash_table, 0, -1);
    sc_defprim("hash-table?", p_table_p, 1, 1);
    sc_defprim("hash-table-set!", p_set, 3, 3);
    sc_defprim("hash-table-ref", p_ref, 2, 4);
    sc_defprim("hash-table-ref/default", p_ref_default, 3, 3);
    sc_defprim("hash-table-contains?", p_contains, 2, 2);
    sc_defprim("hash-table-exists?", p_contains, 2, 2);
    sc_defprim("hash-table-delete!", p_delete, 2, 2);
    sc_defprim("hash-table-size", p_size, 1, 1);
    sc_defprim("hash-table-count", p_size, 1, 1);
    sc_defprim("hash-table-keys", p_keys, 1, 1);
    sc_defprim("hash-table-values", p_values, 1, 1);
    sc_defprim("hash-table->alist", p_to_alist, 1, 1);
    sc_defprim("hash-table-walk", p_walk, 2, 2);
    sc_defprim("hash-table-update!/default", p_update_default, 4, 4);
    sc_defprim("hash-table-clear!", p_clear, 1, 1);
    sc_defprim("hash", p_hash, 1, 2);
}
