/* test_torture.c: model-based torture tests of the collector.
 *
 * A reference graph is kept in plain malloc memory (which the collector does
 * not scan, so the model keeps nothing alive). Random operations allocate
 * objects of every kind (typed, typed arrays, traced, conservative, large),
 * link and unlink them with tc_store, and drop and add roots; collections
 * come at random points and from the trigger. After every forced collection
 * every object the model says is reachable must hold its id, its payload
 * (derived from id and seed) and exactly the links the model says.
 *
 * The multi-threaded variant runs 4 mutator threads on one shared graph
 * (with links between objects made by different threads), each also
 * churning private garbage and a private stack-held list between model
 * operations, while a fifth thread sits in read() on a pipe inside a
 * blocking region holding a heap pointer the whole time. Collections run
 * concurrently with all of them (the collector thread marks while they
 * link and unlink), each checked by checkmark=1 and verify=1.
 *
 * TC_TEST_SEED=N reproduces a run; TC_TORTURE_OPS=N sets the operations.
 * TC_TORTURE_SECONDS=S (tools/stress.sh) ends the operations early so the
 * run's loops end about S seconds after it starts, never before the
 * default count: each test's checks after its loop run in full. The last
 * line, "torture: ops=N", counts the operations done.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testing.h"
#include "testutil.h"
#include "graph.h"
#include "model.h"
#include "tricolor.h"

enum okind { K_NODE, K_ARRAY, K_TRACED, K_CONS, K_BIG, NKINDS };

/* A typed node: 4 pointer slots. */
typedef struct node {
    uint64_t id;
    void *kids[4];
    uint64_t payload[3];
} node;

/* An element of typed arrays. */
typedef struct elem {
    void *p;
    uint64_t v;
} elem;

/* A traced object: a header and a variable number of pointers. */
typedef struct traced {
    uint64_t id;
    uint64_t n;
    uint64_t check;
    void *p[];
} traced;

#define CONS_HDR 3 /* id, nslots, check: then pointer slots, then payload */

/* A heap object; its slots' targets are those of vertex (its model index)
 * in the model's graph. */
typedef struct mobj {
    void *gc;        /* the heap object (never dereferenced once unreachable:
                        the collector may have freed it) */
    uint64_t id;
    int kind;
    uint32_t nslots;
    uint32_t nwords; /* conservative and big objects: total words */
} mobj;

static const tc_type *T_NODE, *T_ELEM, *T_TRACED;
static uint64_t seed;

typedef struct model {
    mobj *objs;       /* by model index, which is the graph's vertex index */
    size_t n, cap;
    test_graph g;     /* the links and roots, and what they reach */
    void **groots;    /* the registered root range: the real roots */
    size_t nroots;
    uint64_t next_id;
} model;

static uint64_t payload_word(uint64_t id, uint64_t i)
{
    test_rng r = { seed ^ (id * 0x9e3779b97f4a7c15ull) ^ (i << 32) };
    return test_rand(&r);
}

static void trace_traced(void *obj, size_t size, tc_tracer *tr)
{
    traced *t = obj;
    assert_true(size >= sizeof *t + t->n * sizeof(void *));
    for (uint64_t i = 0; i < t->n; i++)
        tc_trace_slot(tr, &t->p[i]);
}

static void make_types(void)
{
    size_t node_offs[4];
    for (int i = 0; i < 4; i++)
        node_offs[i] = offsetof(node, kids) + (size_t)i * sizeof(void *);
    T_NODE = tc_type_new("node", sizeof(node), node_offs, 4);
    size_t elem_offs[] = { offsetof(elem, p) };
    T_ELEM = tc_type_new("elem", sizeof(elem), elem_offs, 1);
    T_TRACED = tc_type_new_traced("traced", sizeof(traced), trace_traced);
    assert_non_null(T_NODE);
    assert_non_null(T_ELEM);
    assert_non_null(T_TRACED);
}

/* The address of slot i of model object o. */
static void **slot_addr(mobj *o, uint32_t i)
{
    switch (o->kind) {
    case K_NODE: return &((node *)o->gc)->kids[i];
    case K_ARRAY: return &((elem *)o->gc)[i].p;
    case K_TRACED: return &((traced *)o->gc)->p[i];
    default: return (void **)((uint64_t *)o->gc + CONS_HDR + i);
    }
}

static void fill_payload(mobj *o)
{
    switch (o->kind) {
    case K_NODE: {
        node *n = o->gc;
        n->id = o->id;
        for (int i = 0; i < 3; i++)
            n->payload[i] = payload_word(o->id, (uint64_t)i);
        break;
    }
    case K_ARRAY: {
        elem *e = o->gc;
        for (uint32_t i = 0; i < o->nslots; i++)
            e[i].v = i == 0 ? o->id : payload_word(o->id, i);
        break;
    }
    case K_TRACED: {
        traced *t = o->gc;
        t->id = o->id;
        t->n = o->nslots;
        t->check = payload_word(o->id, 0);
        break;
    }
    default: {
        uint64_t *w = o->gc;
        w[0] = o->id;
        w[1] = o->nslots;
        w[2] = payload_word(o->id, 2);
        /* Payload words are odd, so they never look like heap pointers. */
        for (uint32_t i = CONS_HDR + o->nslots; i < o->nwords; i++)
            w[i] = payload_word(o->id, i) | 1;
        break;
    }
    }
}

static void check_object(model *m, mobj *o)
{
    switch (o->kind) {
    case K_NODE: {
        node *n = o->gc;
        assert_int_equal(n->id, o->id);
        for (int i = 0; i < 3; i++)
            assert_int_equal(n->payload[i], payload_word(o->id, (uint64_t)i));
        break;
    }
    case K_ARRAY: {
        elem *e = o->gc;
        for (uint32_t i = 0; i < o->nslots; i++)
            assert_int_equal(e[i].v, i == 0 ? o->id : payload_word(o->id, i));
        break;
    }
    case K_TRACED: {
        traced *t = o->gc;
        assert_int_equal(t->id, o->id);
        assert_int_equal(t->n, o->nslots);
        assert_int_equal(t->check, payload_word(o->id, 0));
        break;
    }
    default: {
        uint64_t *w = o->gc;
        assert_int_equal(w[0], o->id);
        assert_int_equal(w[1], o->nslots);
        assert_int_equal(w[2], payload_word(o->id, 2));
        for (uint32_t i = CONS_HDR + o->nslots; i < o->nwords; i++)
            assert_int_equal(w[i], payload_word(o->id, i) | 1);
        break;
    }
    }
    for (uint32_t i = 0; i < o->nslots; i++) {
        int64_t t = test_graph_target(&m->g, o - m->objs, i);
        assert_ptr_equal(*slot_addr(o, i), t < 0 ? NULL : m->objs[t].gc);
    }
}

static void model_init(model *m, size_t nroots)
{
    memset(m, 0, sizeof *m);
    m->nroots = nroots;
    test_graph_init(&m->g, nroots);
    m->groots = calloc(nroots, sizeof *m->groots);
    assert_non_null(m->groots);
    assert_int_equal(tc_root_add(m->groots, nroots * sizeof *m->groots), 0);
    m->next_id = 1;
}

static void model_fini(model *m)
{
    tc_root_remove(m->groots);
    test_graph_fini(&m->g);
    free(m->objs);
    free(m->groots);
}

/* Every object the model reaches holds what the model says; the model's
 * reachable set is the one a whole walk finds. */
static void model_check(model *m)
{
    assert_true(test_graph_walk(&m->g));
    for (size_t q = 0; q < m->g.nreach; q++)
        check_object(m, &m->objs[m->g.reach[q]]);
}

/* Allocates an object of a random kind; returns its model index. It is not
 * reachable from the roots until the caller links it: the caller keeps it
 * on its stack (a conservative root) until then. */
static int64_t model_new(model *m, test_rng *r)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->objs = realloc(m->objs, m->cap * sizeof *m->objs);
        assert_non_null(m->objs);
    }
    mobj o = { 0 };
    o.id = m->next_id++;
    /* Large objects are one allocation in 40: enough to cycle large spans
     * through the page heap, few enough to keep marking cheap. */
    o.kind = test_below(r, 40) == 0 ? K_BIG : (int)test_below(r, K_BIG);
    switch (o.kind) {
    case K_NODE:
        o.nslots = 4;
        o.gc = tc_alloc(T_NODE);
        break;
    case K_ARRAY:
        o.nslots = 1 + (uint32_t)test_below(r, 40);
        o.gc = tc_alloc_array(T_ELEM, o.nslots);
        break;
    case K_TRACED:
        o.nslots = (uint32_t)test_below(r, 12);
        o.gc = tc_alloc_sized(T_TRACED, sizeof(traced) + o.nslots * sizeof(void *));
        break;
    case K_CONS:
        o.nslots = (uint32_t)test_below(r, 8);
        o.nwords = CONS_HDR + o.nslots + (uint32_t)test_below(r, 16);
        o.gc = tc_alloc_conservative(o.nwords * sizeof(uint64_t));
        break;
    default: /* a large conservative object: a span of its own */
        o.nslots = (uint32_t)test_below(r, 6);
        o.nwords = CONS_HDR + o.nslots + 4096 + (uint32_t)test_below(r, 8192);
        o.gc = tc_alloc_conservative(o.nwords * sizeof(uint64_t));
        break;
    }
    assert_non_null(o.gc);
    assert_int_equal((uintptr_t)o.gc % 16, 0);
    for (uint32_t i = 0; i < o.nslots; i++)
        assert_null(*slot_addr(&o, i)); /* zeroed */
    fill_payload(&o);
    assert_int_equal(test_graph_add(&m->g, o.nslots), m->n);
    m->objs[m->n] = o;
    return (int64_t)m->n++;
}

/* A random reachable object, or -1. */
static int64_t pick_reachable(model *m, test_rng *r)
{
    if (m->g.nreach == 0)
        return -1;
    return m->g.reach[test_below(r, m->g.nreach)];
}

static void set_slot(model *m, int64_t from, uint32_t i, int64_t to)
{
    mobj *o = &m->objs[from];
    void *v = to < 0 ? NULL : m->objs[to].gc;
    tc_store(o->gc, slot_addr(o, i), v);
    test_graph_set(&m->g, from, i, to);
}

static void set_root(model *m, size_t i, int64_t to)
{
    m->groots[i] = to < 0 ? NULL : m->objs[to].gc;
    test_graph_set_root(&m->g, i, to);
}

/* Links an object that only the caller's stack holds into the graph. */
static void place(model *m, test_rng *r, int64_t x)
{
    int64_t from = pick_reachable(m, r);
    if (from >= 0 && m->objs[from].nslots > 0 && test_below(r, 3) != 0) {
        set_slot(m, from, (uint32_t)test_below(r, m->objs[from].nslots), x);
    } else {
        set_root(m, test_below(r, m->nroots), x);
    }
}

/* One random operation. Returns 1 when it forced a collection. */
/* Out of line, so the heap addresses it handles die with its frame. */
static __attribute__((noinline)) int model_step(model *m, test_rng *r, unsigned collect_per_mille)
{
    unsigned op = (unsigned)test_below(r, 1000);
    if (op < collect_per_mille) {
        tc_collect();
        model_check(m);
        return 1;
    }
    op = (unsigned)test_below(r, 100);
    if (op < 40) { /* allocate and place */
        int64_t x = model_new(m, r);
        place(m, r, x);
    } else if (op < 70) { /* link two reachable objects */
        int64_t a = pick_reachable(m, r), b = pick_reachable(m, r);
        if (a >= 0 && b >= 0 && m->objs[a].nslots)
            set_slot(m, a, (uint32_t)test_below(r, m->objs[a].nslots), b);
    } else if (op < 82) { /* unlink */
        int64_t a = pick_reachable(m, r);
        if (a >= 0 && m->objs[a].nslots)
            set_slot(m, a, (uint32_t)test_below(r, m->objs[a].nslots), -1);
    } else if (op < 90) { /* drop a root */
        set_root(m, test_below(r, m->nroots), -1);
    } else { /* add a root */
        int64_t a = pick_reachable(m, r);
        if (a >= 0)
            set_root(m, test_below(r, m->nroots), a);
    }
    return 0;
}

/* The operations of `make test`'s run, which stress mode never cuts. */
#define DEFAULT_OPS 24000ul

static unsigned long ops_from_env(void)
{
    const char *s = getenv("TC_TORTURE_OPS");
    return s ? strtoul(s, NULL, 10) : DEFAULT_OPS;
}

static uint64_t run_end_ns;    /* CLOCK_MONOTONIC; 0: no TC_TORTURE_SECONDS. Written
                                 by main before the tests */
static unsigned long ops_done; /* for "torture: ops=": added to by each test's thread
                                 after its loops, read by main after the tests */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void run_end_from_env(void)
{
    const char *s = getenv("TC_TORTURE_SECONDS");
    if (!s || !*s)
        return;
    char *end;
    double secs = strtod(s, &end);
    if (*end || !(secs >= 0)) {
        fprintf(stderr, "TC_TORTURE_SECONDS=\"%s\": expected a number of seconds\n", s);
        exit(2);
    }
    run_end_ns = now_ns() + (uint64_t)(secs * 1e9);
}

/* A loop's deadline: its share of the time the run has left, with
 * `loops_left` loops (this one too) still to run; 0 (none) without
 * TC_TORTURE_SECONDS. */
static uint64_t loop_deadline_ns(int loops_left)
{
    if (!run_end_ns)
        return 0;
    uint64_t now = now_ns();
    return now >= run_end_ns ? now : now + (run_end_ns - now) / (uint64_t)loops_left;
}

/* Whether a loop that has done `done` of its operations goes on: to `ops`,
 * or to its deadline once past the default count. Reads no clock without
 * a deadline, so make test's runs do what they always did. */
static int loop_goes_on(unsigned long done, unsigned long ops, unsigned long dflt,
                        uint64_t deadline_ns)
{
    return done < ops && (!deadline_ns || done < dflt || now_ns() < deadline_ns);
}

static void test_torture_single_thread_body(void *unused)
{
    (void)unused;
    test_rng r = { test_seed("torture_single", 20261122) };
    seed = r.s;
    model m;
    model_init(&m, 64);
    unsigned long ops = ops_from_env(), collections = 0, done = 0;
    uint64_t deadline_ns = loop_deadline_ns(3);
    for (; loop_goes_on(done, ops, DEFAULT_OPS, deadline_ns); done++)
        collections += (unsigned long)model_step(&m, &r, 3);
    tc_collect();
    model_check(&m);
    ops_done += done;
    printf("torture_single: %lu ops%s, %lu forced collections, %zu objects made, %zu reachable; "
           "%llu vertices visited by the model's searches\n", done,
           done < ops ? " (the deadline's share)" : "", collections, m.n, m.g.nreach,
           (unsigned long long)m.g.visits);

    /* Drop every root: two collections bring the heap back to near zero. */
    tc_memstats before, after;
    memset(&after, 0, sizeof after);
    tc_read_memstats(&before);
    for (size_t i = 0; i < m.nroots; i++)
        set_root(&m, i, -1);
    tc_collect();
    tc_collect();
    tc_read_memstats(&after);
    printf("torture_single: heap_alloc %llu -> %llu bytes, heap_objects %llu -> %llu\n",
           (unsigned long long)before.heap_alloc, (unsigned long long)after.heap_alloc,
           (unsigned long long)before.heap_objects, (unsigned long long)after.heap_objects);
    /* Conservative stack scanning may keep what a dead stack slot still
     * names; that is a few objects, never the graph. */
    assert_true(after.heap_alloc < 512 * 1024);
    assert_true(after.heap_objects < 256);
    assert_int_equal(after.mallocs - after.frees, after.heap_objects);
    model_fini(&m);
}

/* ---- the multi-threaded variant ----------------------------------------- */

#define NMUT 4

static pthread_mutex_t model_lock = PTHREAD_MUTEX_INITIALIZER;
static model shared;
static int pipe_fds[2];

typedef struct mut_arg {
    int id;
    uint64_t seed;
    unsigned long ops;
    uint64_t deadline_ns; /* see loop_goes_on */
    unsigned long done;   /* written by the mutator, read after the join */
    unsigned long collections;
    unsigned long private_checked;
} mut_arg;

/* Waits for the model lock as a blocked thread, so a collection started by
 * the lock's holder never waits for us. */
static void model_acquire(void)
{
    tc_blocking_begin();
    pthread_mutex_lock(&model_lock); /* partner: pthread_mutex_unlock in the caller */
    tc_blocking_end();
}

/* Private churn: a list held only by this thread's stack and registers,
 * checked after the allocations around it (which trigger collections while
 * other threads hold their lists the same way). */
static __attribute__((noinline)) unsigned long private_churn(test_rng *r, int id)
{
    node *head = NULL;
    unsigned n = 20 + (unsigned)test_below(r, 200);
    for (unsigned i = 0; i < n; i++) {
        node *x = tc_alloc(T_NODE);
        assert_non_null(x);
        x->id = ((uint64_t)id << 48) | i;
        x->payload[0] = payload_word(x->id, 7);
        TC_STORE(x, kids[0], head);
        head = x;
        /* garbage between list cells */
        void *g = tc_alloc_atomic(16 + test_below(r, 300));
        assert_non_null(g);
        memset(g, 0xab, 16);
    }
    unsigned long checked = 0;
    for (unsigned i = n; i-- > 0;) {
        assert_non_null(head);
        assert_int_equal(head->id, ((uint64_t)id << 48) | i);
        assert_int_equal(head->payload[0], payload_word(head->id, 7));
        head = head->kids[0];
        checked++;
    }
    assert_null(head);
    return checked;
}

static void *mutator(void *p)
{
    mut_arg *a = p;
    assert_int_equal(tc_thread_attach(), 0);
    test_rng r = { a->seed };
    for (; loop_goes_on(a->done, a->ops, DEFAULT_OPS / NMUT, a->deadline_ns); a->done++) {
        model_acquire();
        a->collections += (unsigned long)model_step(&shared, &r, 4);
        pthread_mutex_unlock(&model_lock);
        if (test_below(&r, 8) == 0)
            a->private_checked += private_churn(&r, a->id);
        tc_safepoint();
    }
    /* The first mutator (ids start at 1) detaches explicitly; the others
     * exit attached and are detached by the thread-exit destructor. */
    if (a->id == 1)
        tc_thread_detach();
    return NULL;
}

/* Sits in read() inside a blocking region for the whole test, holding a heap
 * list on its stack: it must neither delay collections nor lose the list. */
static void *blocked_reader(void *p)
{
    (void)p;
    assert_int_equal(tc_thread_attach(), 0);
    node *keep = NULL;
    for (uint64_t i = 0; i < 100; i++) {
        node *x = tc_alloc(T_NODE);
        x->id = 0xb10c0000 + i;
        TC_STORE(x, kids[0], keep);
        keep = x;
    }
    char c;
    tc_blocking_begin();
    ssize_t got = read(pipe_fds[0], &c, 1);
    tc_blocking_end();
    assert_int_equal(got, 1);
    uint64_t i = 100;
    for (node *x = keep; x; x = x->kids[0])
        assert_int_equal(x->id, 0xb10c0000 + --i);
    assert_int_equal(i, 0);
    tc_thread_detach();
    return (void *)1;
}

/* loops_left: as loop_deadline_ns's (the four threads run one loop). */
static void test_torture_four_threads_body(void *loops_left)
{
    uint64_t s0 = test_seed("torture_threads", 424242);
    seed = s0;
    model_init(&shared, 128);
    assert_int_equal(pipe(pipe_fds), 0);
    pthread_t reader, th[NMUT];
    assert_int_equal(pthread_create(&reader, NULL, blocked_reader, NULL), 0);
    mut_arg args[NMUT];
    unsigned long ops = ops_from_env() / NMUT;
    uint64_t deadline_ns = loop_deadline_ns(*(int *)loops_left);
    tc_memstats ms0;
    tc_read_memstats(&ms0);
    /* The main thread waits in joins: a blocking region. */
    for (int i = 0; i < NMUT; i++) {
        args[i] = (mut_arg){ .id = i + 1, .seed = s0 * 31 + (uint64_t)i, .ops = ops,
                             .deadline_ns = deadline_ns };
        assert_int_equal(pthread_create(&th[i], NULL, mutator, &args[i]), 0);
    }
    tc_blocking_begin();
    for (int i = 0; i < NMUT; i++)
        pthread_join(th[i], NULL);
    tc_blocking_end();
    tc_collect();
    model_check(&shared);
    assert_int_equal(write(pipe_fds[1], "x", 1), 1);
    void *ok;
    tc_blocking_begin();
    pthread_join(reader, &ok);
    tc_blocking_end();
    assert_ptr_equal(ok, (void *)1);
    tc_memstats ms;
    tc_read_memstats(&ms);
    unsigned long forced = 0, priv = 0, done = 0;
    for (int i = 0; i < NMUT; i++) {
        forced += args[i].collections;
        priv += args[i].private_checked;
        done += args[i].done;
    }
    ops_done += done;
    printf("torture_threads: %d threads, %lu ops%s, %lu forced + %u total collections, "
           "%lu private cells checked, %zu objects made; %llu vertices visited by the "
           "model's searches\n", NMUT, done, done < ops * NMUT ? " (the deadline's share)" : "",
           forced, ms.num_gc - ms0.num_gc, priv, shared.n, (unsigned long long)shared.g.visits);
    assert_true(ms.num_gc - ms0.num_gc >= forced);
    for (size_t i = 0; i < shared.nroots; i++)
        set_root(&shared, i, -1);
    tc_collect();
    tc_collect();
    tc_read_memstats(&ms);
    printf("torture_threads: after dropping the roots heap_alloc=%llu heap_objects=%llu\n",
           (unsigned long long)ms.heap_alloc, (unsigned long long)ms.heap_objects);
    assert_true(ms.heap_alloc < 512 * 1024);
    assert_int_equal(ms.mallocs - ms.frees, ms.heap_objects);
    model_fini(&shared);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

/* A wide graph: a conservative array of many small trees, so the grey list
 * outgrows a work buffer and the helper markers join; every tree must come
 * through the parallel marks intact. */
static void test_torture_parallel_mark_body(void *unused)
{
    (void)unused;
    test_rng r = { test_seed("torture_parallel", 777) };
    enum { WIDE = 50000 };
    node **wide = tc_alloc_conservative(WIDE * sizeof(node *));
    assert_non_null(wide);
    for (size_t i = 0; i < WIDE; i++) {
        node *n = tc_alloc(T_NODE);
        assert_non_null(n);
        n->id = i;
        n->payload[0] = payload_word(i, 0);
        for (int k = 0; k < 1 + (int)test_below(&r, 4); k++) {
            node *c = tc_alloc(T_NODE);
            c->id = i * 16 + (uint64_t)k;
            TC_STORE(n, kids[k], c);
        }
        tc_store(wide, &wide[i], n);
        if (i % 1000 == 0)
            (void)tc_alloc_atomic(4096); /* garbage between */
    }
    /* Only the forced cycles below: a paced one running across the
     * counters' reads would count on one side only. */
    int old_pct = tc_set_gc_percent(-1);
    tc_collect();
    uint64_t before = tci_markers_parallel_cycles();
    for (int round = 0; round < 5; round++) {
        tc_collect();
        for (size_t i = 0; i < WIDE; i++) {
            node *n = wide[i];
            assert_int_equal(n->id, i);
            assert_int_equal(n->payload[0], payload_word(i, 0));
            for (int k = 0; k < 4 && n->kids[k]; k++)
                assert_int_equal(((node *)n->kids[k])->id, i * 16 + (uint64_t)k);
        }
    }
    uint64_t par = tci_markers_parallel_cycles() - before;
    tc_set_gc_percent(old_pct);
    printf("torture_parallel: %llu of 5 cycles marked with %d markers\n",
           (unsigned long long)par, tci_mark_workers());
    if (tci_mark_workers() > 1)
        assert_int_equal(par, 5);
}

/* Helpers mark beside the program only on a CPU it leaves over (issue
 * 20: a second marker on two CPUs beside a one-thread program made it
 * slower). A cycle the program waits for in tc_collect (in a blocking
 * region: no thread of it running) wakes them where there are CPUs for
 * them; a cycle that runs while this thread allocates, on two CPUs or
 * fewer (this thread and the collector's marker take them all), leaves
 * them out. */
static void test_torture_helpers_only_on_spare_cpus(void **state)
{
    (void)state;
    if (tci_mark_workers() < 2)
        return;
    int ncpu = (int)test_stats().ncpu;
    uint64_t h0, a0, h1, a1, h2, a2;
    tci_markers_drain_counts(&h0, &a0);
    tc_collect();
    tci_markers_drain_counts(&h1, &a1);
    if (ncpu >= 2)
        assert_true(h1 > h0);
    else
        assert_true(a1 > a0);
    uint32_t gc0 = test_stats().num_gc;
    while (test_stats().num_gc < gc0 + 2)
        for (int i = 0; i < 1024; i++)
            (void)tc_alloc_atomic(1024);
    tci_markers_drain_counts(&h2, &a2);
    printf("torture_helpers: %d CPUs; tc_collect: %llu drains helped, %llu alone; while "
           "allocating: %llu helped, %llu alone\n",
           ncpu, (unsigned long long)(h1 - h0), (unsigned long long)(a1 - a0),
           (unsigned long long)(h2 - h1), (unsigned long long)(a2 - a1));
    if (ncpu <= 2) {
        assert_true(a2 > a1);
        assert_int_equal(h2, h1);
    }
}

/* On a fresh stack: the test demands that dropped graphs are freed. */
static void test_torture_single_thread(void **state)
{
    (void)state;
    test_run_on_fresh_stack(test_torture_single_thread_body, NULL);
}

/* On a fresh stack: the test demands that dropped graphs are freed. */
static void test_torture_four_threads(void **state)
{
    (void)state;
    int loops_left = 2;
    test_run_on_fresh_stack(test_torture_four_threads_body, &loops_left);
}

/* The four threads again, with every marker counting itself as competing
 * for a CPU and its share an eighth of one, so the markers step aside
 * (gc/pacer.c, 5) whatever the machine's load and size: their grey objects,
 * the prefetched ones too, go to the global list mid-drain and the assists
 * and the other marker carry on. Checkmark (main) proves nothing was lost;
 * it caught a variant that dropped the handed-over buffer. */
static void test_torture_four_threads_markers_aside(void **state)
{
    (void)state;
    uint64_t before = tci_mark_steps_aside();
    tc_memstats m0;
    tc_read_memstats(&m0);
    tci_atomic_store_relaxed(&tci_mark_pace_test_compete, 128); /* an eighth of a CPU each */
    int loops_left = 1;
    test_run_on_fresh_stack(test_torture_four_threads_body, &loops_left);
    tci_atomic_store_relaxed(&tci_mark_pace_test_compete, 0);
    uint64_t n = tci_mark_steps_aside() - before;
    tc_memstats m1;
    tc_read_memstats(&m1);
    printf("torture_threads: markers stepped aside %llu times; %llu assists, %.1f us each\n",
           (unsigned long long)n, (unsigned long long)(m1.num_assists - m0.num_assists),
           m1.num_assists > m0.num_assists
               ? (double)(m1.assist_ns - m0.assist_ns) / (double)(m1.num_assists - m0.num_assists) / 1e3
               : 0.0);
    assert_true(n > 0);
}

/* On a fresh stack: the test demands that dropped graphs are freed. */
static void test_torture_parallel_mark(void **state)
{
    (void)state;
    test_run_on_fresh_stack(test_torture_parallel_mark_body, NULL);
}

int main(void)
{
    /* A failed assertion on any thread aborts with its message (cmocka's
     * default longjmp works only on the thread that runs the test). */
    setenv("CMOCKA_TEST_ABORT", "1", 1);
    /* Two markers whatever the machine, so parallel marking is tested. */
    setenv("TRICOLOR_MARKERS", "2", 0);
    /* Check every cycle's marking too: the concurrent mark against a
     * stopped re-walk (checkmark) and the heap's black-to-white edges. */
    setenv("TRICOLOR_DEBUG", "verify=1,checkmark=1", 0);
    run_end_from_env();
    if (tc_init() != 0)
        return 1;
    make_types();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torture_single_thread),
        cmocka_unit_test(test_torture_four_threads),
        cmocka_unit_test(test_torture_four_threads_markers_aside),
        cmocka_unit_test(test_torture_parallel_mark),
        cmocka_unit_test(test_torture_helpers_only_on_spare_cpus),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    printf("torture: ops=%lu\n", ops_done);
    return failed;
}
