/* scale.c: stops and mark times against the program's size, on tricolor
 * (the scale benchmark of issue 15; bench/scale.sh runs the sweep, `make
 * bench-scale`, and bench/peers/scale.go is the same program in Go).
 *
 * One case per process, its size given by --size:
 *   heap N         N MiB live in 64-byte nodes on 1,024 linked lists; every
 *                  64 allocations one list's first node is replaced by a
 *                  new one with its id (a barriered store into the heads).
 *   roots N        an N MiB range registered with tc_root_add (malloc'd),
 *                  one word in 8 pointing at a live node, the others 0; every 64 allocations one of those words is
 *                  overwritten, with a plain store, by a new object with
 *                  the same id.
 *   broots N       the same range registered with tc_root_add_barriered
 *                  and written through tc_store (NULL, slot, value).
 *   weak N         N weak references, one to each of N 64-byte objects of
 *                  which every other one is dropped before the timed part,
 *                  and N/10 ephemerons in a chain created newest first:
 *                  entry i's key is entry i-1's value, entry 0's key is
 *                  live, and the values are reachable only through the
 *                  chain (the order a fixpoint that walks the entries
 *                  oldest first settles one link per pass). Every 64
 *                  allocations one live handle is read (tc_weak_get).
 *   finalizers N   N live objects with a finalizer, each pointing at a
 *                  child only it holds; every 1,024 allocations one more
 *                  such pair is made and dropped, so finalizers are queued
 *                  and run all along.
 *   threads N      N attached threads (and no other allocation), each
 *                  allocating 64-byte nodes and linking them onto 16 lists
 *                  of its own, a list checked and dropped when it reaches
 *                  1,024 nodes (the lists start at different lengths: about
 *                  half a MiB live per thread); the threads set up, start
 *                  and end the timed part together.
 *   firstcycles N  a fresh process: the heap case's lists built towards N
 *                  MiB (a garbage node per live node) until the third
 *                  cycle ends; every stop of cycles 1-3 is reported.
 *   wide N         one object of a type with N pointer fields (the window
 *                  of the latency experiment as one typed object): each of
 *                  the timed part's nodes is stored over field i % N.
 *   widearray N    the same work on tc_alloc_array of a one-pointer type
 *                  (N elements): what wide is measured against.
 *
 * Every case but firstcycles sets up first (stops there are not counted;
 * what touches no heap object is done in a blocking region, so no stop
 * waits for it), collects once (tc_collect) so that no cycle is under way,
 * then runs its timed part: --alloc-mib MiB of 64-byte nodes (threads: in
 * all, shared between the threads), the garbage through a ring of 4,096
 * heap slots, with the case's mutation.
 *
 * Figures, over the timed part: every stop of the world as the statistics
 * record it (tc_memstats.stw_ns: from the request to every thread running
 * again, the time to stop included), read from the ring by a thread of its
 * own (not attached, every 2 ms: the ring holds 256); their count, longest
 * and nearest-rank p99; the longest time to stop (TC_HIST_TTSP, a bucket's
 * upper bound) and restart delay (TC_HIST_RESTART: release to the last
 * held thread running again, part of the stop); the mark's length of every cycle that ended in it
 * (tc_on_gc_event, mark_ns at mark termination), longest and median; what
 * the last cycle marked (live_bytes: what the case keeps, and what was
 * allocated during that mark); the process's peak RSS (set-up included). Before the RESULT line every
 * object the case keeps is checked (ids and check words, lists whole, weak
 * references and the ephemeron chain reading their objects, no finalizer
 * run on a live object, every finalized object's child intact): a lost or
 * overwritten object fails the run with exit 1; bad arguments exit 2.
 *
 * Usage: tcscale --case heap|roots|broots|weak|finalizers|threads|firstcycles|wide|widearray
 *                --size N [--alloc-mib N]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "tricolor.h"

#define PROG "tcscale"
#define NODE_BYTES 64
#define NODES_PER_MIB (((uint64_t)1 << 20) / NODE_BYTES)
#define LISTS 1024        /* heap: lists of the live structure */
#define RING 4096         /* garbage slots */
#define MUTATE_EVERY 64   /* allocations between two mutations */
#define FIN_GARBAGE_EVERY 1024 /* finalizers: allocations per dropped pair */
#define THREAD_LISTS 16   /* threads: lists per thread */
#define THREAD_LIST_LEN 1024
#define POLL_NS 2000000   /* the stop ring's reader sleeps this long */
#define FIRST_CYCLES 3

typedef struct node {
    struct node *next; /* the one pointer slot */
    uint64_t id, check;
    uint64_t payload[5];
} node;
_Static_assert(sizeof(node) == NODE_BYTES, "the sizes count 64 bytes per node");

static const tc_type *node_type, *ptr_type;

/* Objects the program keeps, reached from here: a root range of its own
 * (globals are not roots). */
static struct anchors {
    node **ring;  /* RING garbage slots */
    node **heads; /* heap, firstcycles: LISTS list heads */
    void **keep;  /* weak, finalizers: the live objects */
    node *key0;   /* weak: the ephemeron chain's first key */
} anchors;

static uint64_t check_of(uint64_t id)
{
    return (id + 1) * 0x9E3779B97F4A7C15u ^ 0x5CA1E5CA1Eu;
}

static void usage(const char *why)
{
    fprintf(stderr, "%s: %s\nusage: %s --case heap|roots|broots|weak|finalizers|threads|firstcycles|wide|widearray "
                    "--size N [--alloc-mib N]\n", PROG, why, PROG);
    exit(2);
}

static void fail(const char *what, uint64_t i)
{
    fprintf(stderr, "%s: FAILED: %s (at %llu)\n", PROG, what, (unsigned long long)i);
    exit(1);
}

static void *die_oom(void)
{
    fprintf(stderr, "%s: out of memory\n", PROG);
    exit(2);
}

static node *node_new(uint64_t id)
{
    node *n = tc_alloc(node_type);
    if (!n)
        return die_oom();
    n->id = id;
    n->check = check_of(id);
    return n;
}

static void *ptrs_new(size_t n)
{
    void *a = tc_alloc_array(ptr_type, n);
    return a ? a : die_oom();
}

static int node_ok(const node *n, uint64_t id)
{
    return n && n->id == id && n->check == check_of(id);
}

/* Memory outside the heap, got in a blocking region: no stop waits for
 * the kernel to hand it over. */
static void *plain_calloc(size_t n, size_t size)
{
    tc_blocking_begin();
    void *p = calloc(n, size);
    tc_blocking_end();
    return p ? p : die_oom();
}

/* ---- The stops: the statistics ring, read by a thread of its own ------- */

static struct stops {
    uint64_t *ns; /* every stop read, in order; the reader's until it is joined */
    size_t n, cap;
    uint32_t next; /* the next stop to read (num_stw numbering) */
    uint64_t lost; /* fell out of the ring between two reads */
    int quit;      /* __atomic: the reader ends */
    pthread_t thread;
} stops;

static void stops_read(void)
{
    static tc_memstats ms; /* 6 KiB; one reader at a time */
    tc_read_memstats(&ms);
    if (ms.num_stw - stops.next > TC_PAUSE_RING) {
        stops.lost += ms.num_stw - stops.next - TC_PAUSE_RING;
        stops.next = ms.num_stw - TC_PAUSE_RING;
    }
    for (; stops.next != ms.num_stw; stops.next++) {
        if (stops.n == stops.cap) {
            stops.cap = stops.cap ? 2 * stops.cap : 4096;
            stops.ns = realloc(stops.ns, stops.cap * sizeof *stops.ns);
            if (!stops.ns)
                die_oom();
        }
        stops.ns[stops.n++] = ms.stw_ns[stops.next % TC_PAUSE_RING];
    }
}

static void *stops_main(void *arg)
{
    (void)arg;
    const struct timespec nap = {0, POLL_NS};
    while (!__atomic_load_n(&stops.quit, __ATOMIC_ACQUIRE)) {
        stops_read();
        nanosleep(&nap, NULL);
    }
    return NULL;
}

static void stops_begin(uint32_t from)
{
    stops.next = from;
    if (pthread_create(&stops.thread, NULL, stops_main, NULL) != 0) {
        fprintf(stderr, "%s: cannot start the stops' reader\n", PROG);
        exit(2);
    }
}

static void stops_end(void)
{
    __atomic_store_n(&stops.quit, 1, __ATOMIC_RELEASE);
    tc_blocking_begin();
    pthread_join(stops.thread, NULL);
    tc_blocking_end();
    stops_read();
}

/* ---- The marks: cycle events ----------------------------------------------- */

static struct marks {
    pthread_mutex_t lock;
    uint64_t *mark_ns; /* [cycle - 1], at mark termination; protected by lock */
    uint32_t *nstops;  /* [cycle - 1]: the cycle's stops */
    uint32_t cap;
    uint32_t last;     /* the latest cycle whose mark ended */
} marks = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_event(void *arg, const tc_gc_event *ev)
{
    (void)arg;
    if (ev->kind != TC_GC_EVENT_MARK_DONE || ev->cycle == 0)
        return;
    pthread_mutex_lock(&marks.lock); /* released below */
    if (ev->cycle > marks.cap) {
        uint32_t cap = marks.cap ? marks.cap : 256;
        while (cap < ev->cycle)
            cap *= 2;
        uint64_t *m = realloc(marks.mark_ns, cap * sizeof *m);
        uint32_t *s = m ? realloc(marks.nstops, cap * sizeof *s) : NULL;
        if (!m || !s)
            die_oom();
        memset(m + marks.cap, 0, (cap - marks.cap) * sizeof *m);
        memset(s + marks.cap, 0, (cap - marks.cap) * sizeof *s);
        marks.mark_ns = m;
        marks.nstops = s;
        marks.cap = cap;
    }
    marks.mark_ns[ev->cycle - 1] = ev->mark_ns;
    marks.nstops[ev->cycle - 1] = ev->stops;
    if (ev->cycle > marks.last)
        marks.last = ev->cycle;
    pthread_mutex_unlock(&marks.lock);
}

/* Waits (up to 5 s, in a blocking region) for the events of cycles up to
 * `cycle`: they come from a library thread, after the cycle. */
static void marks_wait(uint32_t cycle)
{
    const struct timespec nap = {0, 1000000};
    tc_blocking_begin();
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&marks.lock); /* released below */
        uint32_t last = marks.last;
        pthread_mutex_unlock(&marks.lock);
        if (last >= cycle)
            break;
        nanosleep(&nap, NULL);
    }
    tc_blocking_end();
}

/* ---- Garbage --------------------------------------------------------------- */

static uint64_t garbage_id;

static void garbage_step(void)
{
    node *n = node_new(garbage_id);
    tc_store(anchors.ring, &anchors.ring[garbage_id % RING], n);
    garbage_id++;
}

/* ---- Cases ----------------------------------------------------------------- */

typedef struct scase {
    const char *name;
    double (*live_mib)(long size); /* what it keeps, for the default allocation */
    void (*setup)(long size);
    void (*mutate)(uint64_t i);    /* every MUTATE_EVERY garbage allocations */
    void (*run)(long size, uint64_t nodes); /* instead of the garbage loop */
    void (*check)(long size);
} scase;

/* heap: LISTS lists; node i is on list i % LISTS, each list newest first. */
static uint64_t heap_nodes;

static void lists_push(uint64_t id)
{
    node *x = node_new(id);
    size_t j = id % LISTS;
    TC_STORE(x, next, anchors.heads[j]);
    tc_store(anchors.heads, &anchors.heads[j], x);
}

static void lists_check(uint64_t n)
{
    uint64_t seen = 0;
    for (size_t j = 0; j < LISTS && j < n; j++) {
        /* List j holds ids j, j + LISTS, ... below n, the largest first. */
        const node *x = anchors.heads[j];
        for (uint64_t id = j + (n - 1 - j) / LISTS * LISTS;; id -= LISTS) {
            if (!node_ok(x, id))
                fail("a list node lost or overwritten", id);
            if (++seen % 256 == 0)
                tc_safepoint();
            x = x->next;
            if (id < LISTS)
                break;
        }
        if (x)
            fail("a list longer than built", j);
    }
}

static double heap_live(long mib) { return (double)mib; }

static void heap_setup(long mib)
{
    heap_nodes = (uint64_t)mib * NODES_PER_MIB;
    anchors.heads = ptrs_new(LISTS);
    for (uint64_t i = 0; i < heap_nodes; i++)
        lists_push(i);
}

static void heap_mutate(uint64_t i)
{
    /* Replaces list j's first node by a copy: the old one is garbage. */
    size_t j = (i / MUTATE_EVERY) % LISTS;
    node *old = anchors.heads[j];
    if (!old)
        return;
    node *x = node_new(old->id);
    TC_STORE(x, next, old->next);
    tc_store(anchors.heads, &anchors.heads[j], x);
}

static void heap_check(long mib)
{
    (void)mib;
    lists_check(heap_nodes);
}

/* roots: one word in 8 of the range points at node i/8 (id i/8). */
static node **range;
static size_t range_words;

static double roots_live(long mib) { return 2.0 * mib; }

static void roots_fill(long mib, int barriered)
{
    range_words = (size_t)mib << 17;
    range = plain_calloc(range_words, sizeof *range);
    if ((barriered ? tc_root_add_barriered : tc_root_add)(range, range_words * sizeof *range))
        fail("tc_root_add refused the range", 0);
    for (size_t i = 0; i < range_words; i += 8)
        tc_store(NULL, &range[i], node_new(i / 8));
}

static void roots_setup(long mib)
{
    roots_fill(mib, 0);
}

static void roots_mutate(uint64_t i)
{
    size_t w = (i / MUTATE_EVERY * 8) % range_words;
    range[w] = node_new(w / 8);
}

/* broots: the same through tc_root_add_barriered and tc_store. */
static void broots_setup(long mib)
{
    roots_fill(mib, 1);
}

static void broots_mutate(uint64_t i)
{
    size_t w = (i / MUTATE_EVERY * 8) % range_words;
    tc_store(NULL, &range[w], node_new(w / 8));
}

static void roots_check(long mib)
{
    (void)mib;
    for (size_t i = 0; i < range_words; i++) {
        if (i % 8 == 0 ? !node_ok(range[i], i / 8) : range[i] != NULL)
            fail("a root range object lost or overwritten", i);
        if (i % 4096 == 0)
            tc_safepoint();
    }
}

/* weak: handle i to node i; the even ones kept in anchors.keep[i / 2]. */
static tc_weak **weaks;
static tc_ephemeron **ephs;
static size_t nweak, neph;

static double weak_live(long n) { return (double)n * (NODE_BYTES / 2 + 8 + NODE_BYTES / 10) / 1048576; }

static void weak_setup(long n)
{
    nweak = (size_t)n;
    neph = nweak / 10;
    weaks = plain_calloc(nweak, sizeof *weaks);
    ephs = plain_calloc(neph ? neph : 1, sizeof *ephs);
    anchors.keep = ptrs_new((nweak + 1) / 2);
    for (size_t i = 0; i < nweak; i++) {
        node *x = node_new(i);
        if (i % 2 == 0)
            tc_store(anchors.keep, &anchors.keep[i / 2], x);
        if (!(weaks[i] = tc_weak_create(x)))
            fail("tc_weak_create", i);
    }
    /* The values first, held in a scratch array until the chain holds
     * them; then the entries, the chain's last first. */
    node **vals = ptrs_new(neph ? neph : 1);
    anchors.key0 = node_new(UINT64_MAX);
    for (size_t i = 0; i < neph; i++)
        tc_store(vals, &vals[i], node_new(nweak + i));
    for (size_t i = neph; i-- > 0;)
        if (!(ephs[i] = tc_ephemeron_create(i ? (void *)vals[i - 1] : anchors.key0, vals[i])))
            fail("tc_ephemeron_create", i);
    /* A stale copy of vals in a dead stack slot must not hold them. */
    for (size_t i = 0; i < neph; i++)
        tc_store(vals, &vals[i], NULL);
}

static void weak_mutate(uint64_t i)
{
    size_t k = (i / MUTATE_EVERY * 2) % nweak;
    if (!node_ok(tc_weak_get(weaks[k]), k))
        fail("a weak reference to a live object read NULL or another object", k);
}

static void weak_check(long n)
{
    (void)n;
    size_t dead_kept = 0;
    for (size_t i = 0; i < nweak; i++) {
        node *x = tc_weak_get(weaks[i]);
        if (i % 2 == 0 && (!node_ok(x, i) || x != anchors.keep[i / 2]))
            fail("a weak reference to a live object lost it", i);
        if (i % 2 == 1 && x != NULL) {
            if (!node_ok(x, i))
                fail("a weak reference reads an overwritten object", i);
            dead_kept++; /* conservative roots may keep a few */
        }
        if (i % 4096 == 0)
            tc_safepoint();
    }
    void *key = anchors.key0;
    for (size_t i = 0; i < neph; i++) {
        void *v = tc_ephemeron_value(ephs[i]);
        if (tc_ephemeron_key(ephs[i]) != key || !node_ok(v, nweak + i))
            fail("an ephemeron of the chain lost its key or value", i);
        key = v;
        if (i % 4096 == 0)
            tc_safepoint();
    }
    printf("weak: %zu of %zu references to dropped objects still read them\n", dead_kept,
           nweak / 2);
}

/* finalizers: pair i is a node (id i) whose next is its child, a node with
 * id i + FIN_CHILD. Pairs 0..n-1 are kept; later ones are dropped at once. */
#define FIN_CHILD ((uint64_t)1 << 40)
static uint64_t fin_kept, fin_made;
static uint64_t fin_ran, fin_wrong; /* __atomic: counted on the finalizer thread */

static void on_finalize(void *obj, void *arg)
{
    (void)arg;
    const node *p = obj;
    if (p->id < fin_kept || !node_ok(p, p->id) || !node_ok(p->next, p->id + FIN_CHILD))
        __atomic_add_fetch(&fin_wrong, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&fin_ran, 1, __ATOMIC_RELAXED);
}

static node *fin_pair(uint64_t id)
{
    node *p = node_new(id);
    TC_STORE(p, next, node_new(id + FIN_CHILD));
    if (tc_set_finalizer(p, on_finalize, NULL) != 0)
        fail("tc_set_finalizer", id);
    return p;
}

static double fin_live(long n) { return (double)n * (2 * NODE_BYTES + 8) / 1048576; }

static void fin_setup(long n)
{
    fin_kept = fin_made = (uint64_t)n;
    anchors.keep = ptrs_new((size_t)n);
    for (uint64_t i = 0; i < fin_kept; i++)
        tc_store(anchors.keep, &anchors.keep[i], fin_pair(i));
}

static void fin_mutate(uint64_t i)
{
    if (i % FIN_GARBAGE_EVERY == 0)
        fin_pair(fin_made++);
}

static void fin_check(long n)
{
    (void)n;
    for (uint64_t i = 0; i < fin_kept; i++) {
        node *p = anchors.keep[i];
        if (!node_ok(p, i) || !node_ok(p->next, i + FIN_CHILD))
            fail("an object with a finalizer, or its child, lost or overwritten", i);
        if (i % 256 == 0)
            tc_safepoint();
    }
    uint64_t wrong = __atomic_load_n(&fin_wrong, __ATOMIC_RELAXED);
    if (wrong)
        fail("finalizers ran on live objects or saw a child overwritten", wrong);
    printf("finalizers: %llu of the %llu pairs dropped in the timed part were finalized\n",
           (unsigned long long)__atomic_load_n(&fin_ran, __ATOMIC_RELAXED),
           (unsigned long long)(fin_made - fin_kept));
}

/* threads: list j of thread t holds nodes with ids t << 40 | j << 32 | k
 * for consecutive k, newest first; each list starts with j x 64 nodes (so
 * the lists reach THREAD_LIST_LEN, are checked and dropped at different
 * times, and a thread keeps about half a MiB all along). The threads meet
 * at four barriers, each waited for in a blocking region: set up, start,
 * end of the timed part, and check (after the main thread has read the
 * stops), so every thread's lists are live throughout the timed part. */
typedef struct worker {
    pthread_t th;
    uint64_t nodes, t; /* nodes: set before the start barrier */
    int ok;
} worker;

static worker *workers;
static long nworkers;
static pthread_barrier_t ready, start, finish, verify;

static void barrier_wait(pthread_barrier_t *b)
{
    tc_blocking_begin();
    pthread_barrier_wait(b);
    tc_blocking_end();
}

static uint64_t thread_id(uint64_t t, size_t j, uint64_t k)
{
    return t << 40 | (uint64_t)j << 32 | k;
}

static int thread_list_ok(const node *x, uint64_t t, size_t j, uint64_t made, uint64_t len)
{
    for (uint64_t k = 0; k < len; k++, x = x->next)
        if (!node_ok(x, thread_id(t, j, made - 1 - k)))
            return 0;
    return x == NULL;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    if (tc_thread_attach() != 0)
        return NULL;
    node **lists = ptrs_new(THREAD_LISTS);
    uint64_t made[THREAD_LISTS], len[THREAD_LISTS];
    for (size_t j = 0; j < THREAD_LISTS; j++) {
        for (made[j] = 0; made[j] < j * (THREAD_LIST_LEN / THREAD_LISTS); made[j]++) {
            node *x = node_new(thread_id(w->t, j, made[j]));
            TC_STORE(x, next, lists[j]);
            tc_store(lists, &lists[j], x);
        }
        len[j] = made[j];
    }
    barrier_wait(&ready);
    barrier_wait(&start);
    int ok = 1;
    for (uint64_t k = 0; k < w->nodes && ok; k++) {
        size_t j = k % THREAD_LISTS;
        node *x = node_new(thread_id(w->t, j, made[j]++));
        TC_STORE(x, next, lists[j]);
        tc_store(lists, &lists[j], x);
        if (++len[j] == THREAD_LIST_LEN) {
            ok = thread_list_ok(lists[j], w->t, j, made[j], len[j]);
            tc_store(lists, &lists[j], NULL);
            len[j] = 0;
        }
    }
    barrier_wait(&finish);
    barrier_wait(&verify);
    for (size_t j = 0; j < THREAD_LISTS; j++)
        ok = ok && thread_list_ok(lists[j], w->t, j, made[j], len[j]);
    w->ok = ok;
    tc_thread_detach();
    return NULL;
}

static double threads_live(long n) { return n / 2.0; }

static void threads_setup(long n)
{
    nworkers = n;
    workers = plain_calloc((size_t)n, sizeof *workers);
    pthread_barrier_t *bs[] = {&ready, &start, &finish, &verify};
    for (size_t i = 0; i < 4; i++)
        pthread_barrier_init(bs[i], NULL, (unsigned)n + 1);
    tc_blocking_begin();
    for (long t = 0; t < n; t++) {
        workers[t].t = (uint64_t)t;
        if (pthread_create(&workers[t].th, NULL, worker_main, &workers[t]) != 0) {
            fprintf(stderr, "%s: cannot start thread %ld\n", PROG, t);
            exit(2);
        }
    }
    tc_blocking_end();
    barrier_wait(&ready);
}

static void threads_run(long n, uint64_t nodes)
{
    for (long t = 0; t < n; t++)
        workers[t].nodes = nodes / (uint64_t)n;
    barrier_wait(&start);
    barrier_wait(&finish);
}

static void threads_check(long n)
{
    barrier_wait(&verify);
    tc_blocking_begin();
    for (long t = 0; t < n; t++)
        pthread_join(workers[t].th, NULL);
    tc_blocking_end();
    for (long t = 0; t < n; t++)
        if (!workers[t].ok)
            fail("a thread's list lost or overwritten a node (or it could not attach)",
                 (uint64_t)t);
}

/* firstcycles: the heap case's lists, a garbage node per live node, until
 * the third cycle ends (or the lists reach their size, then garbage only). */
static void first_run(long mib, uint64_t nodes)
{
    uint64_t target = (uint64_t)mib * NODES_PER_MIB;
    anchors.heads = ptrs_new(LISTS);
    heap_nodes = 0;
    for (uint64_t i = 0; i < nodes; i++) {
        if (i % 4096 == 0) {
            tc_memstats ms;
            tc_read_memstats(&ms);
            if (ms.num_gc >= FIRST_CYCLES)
                break;
        }
        if (heap_nodes < target)
            lists_push(heap_nodes++);
        garbage_step();
    }
}

/* wide, widearray: a window of N slots, each node stored over slot i % N;
 * at the end every slot holds the last node stored there. */
static const tc_type *wide_type;
static size_t wide_n;

static double wide_live(long n) { return (double)n * (NODE_BYTES + 8) / 1048576.0; }

static void wide_setup_typed(long n)
{
    wide_n = (size_t)n;
    size_t *offs = malloc(wide_n * sizeof *offs);
    if (!offs)
        die_oom();
    for (size_t i = 0; i < wide_n; i++)
        offs[i] = i * sizeof(void *);
    wide_type = tc_type_new("wide", wide_n * sizeof(void *), offs, wide_n);
    free(offs);
    if (!wide_type)
        fail("tc_type_new refused the wide type", (uint64_t)n);
    anchors.heads = tc_alloc(wide_type);
    if (!anchors.heads)
        die_oom();
}

static void wide_setup_array(long n)
{
    wide_n = (size_t)n;
    anchors.heads = ptrs_new(wide_n);
}

static void wide_run(long n, uint64_t nodes)
{
    (void)n;
    for (uint64_t i = 0; i < nodes; i++)
        tc_store(anchors.heads, &anchors.heads[i % wide_n], node_new(i));
    heap_nodes = nodes;
}

static void wide_check(long n)
{
    (void)n;
    for (size_t k = 0; k < wide_n && k < heap_nodes; k++) {
        uint64_t last = k + wide_n * ((heap_nodes - 1 - k) / wide_n);
        if (!node_ok(anchors.heads[k], last))
            fail("a window slot lost its node", k);
        if (k % 4096 == 0)
            tc_safepoint();
    }
}

static const scase cases[] = {
    {"heap", heap_live, heap_setup, heap_mutate, NULL, heap_check},
    {"roots", roots_live, roots_setup, roots_mutate, NULL, roots_check},
    {"broots", roots_live, broots_setup, broots_mutate, NULL, roots_check},
    {"weak", weak_live, weak_setup, weak_mutate, NULL, weak_check},
    {"finalizers", fin_live, fin_setup, fin_mutate, NULL, fin_check},
    {"threads", threads_live, threads_setup, NULL, threads_run, threads_check},
    {"firstcycles", heap_live, NULL, NULL, first_run, heap_check},
    {"wide", wide_live, wide_setup_typed, NULL, wide_run, wide_check},
    {"widearray", wide_live, wide_setup_array, NULL, wide_run, wide_check},
};

/* Allocation for several cycles: a cycle comes about once per live heap
 * allocated (at TRICOLOR_GC=100), so 8 times what the case keeps, 4 times
 * for the heap case (4 GiB live makes 16 GiB); never under 256 MiB, and
 * 1 GiB at least for the heap case's smallest sizes and for threads
 * (whose heap is several times what they keep: each thread's cache). The
 * Go peer has the same rule. */
static long default_alloc_mib(const scase *c, long size)
{
    int heap = strcmp(c->name, "heap") == 0;
    double live = c->live_mib(size);
    double mib = heap ? 4 * live : 8 * live;
    double least = heap || strcmp(c->name, "threads") == 0 ? 1024 : 256;
    return (long)(mib > least ? mib : least);
}

static int is_positive(const char *s)
{
    return *s >= '1' && *s <= '9' && s[strspn(s, "0123456789")] == '\0';
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The longest time to stop and the longest restart delay in the timed
 * part: the upper bound of the highest TC_HIST_TTSP (TC_HIST_RESTART)
 * bucket whose count grew (0: none). */
#define HIST_READ_BUCKETS 512
enum { H_TTSP, H_RESTART, H_N };
static const int hist_ids[H_N] = {TC_HIST_TTSP, TC_HIST_RESTART};
static uint64_t hist_before[H_N][HIST_READ_BUCKETS], hist_upper[HIST_READ_BUCKETS];

static size_t hist_read(int h, uint64_t *counts)
{
    size_t n = tc_read_histogram(hist_ids[h], counts, hist_upper, HIST_READ_BUCKETS);
    return n < HIST_READ_BUCKETS ? n : HIST_READ_BUCKETS;
}

static void hists_mark(void)
{
    for (int h = 0; h < H_N; h++)
        hist_read(h, hist_before[h]);
}

static uint64_t hist_max_since(int h)
{
    static uint64_t counts[HIST_READ_BUCKETS];
    for (size_t i = hist_read(h, counts); i-- > 0;)
        if (counts[i] > hist_before[h][i])
            return hist_upper[i];
    return 0;
}

/* The figures of the timed part, from the stops read, the events of the
 * cycles that ended in it (ms0 at its start, ms1 at its end), the
 * statistics, ttsp_max and restart_max: the human line and the RESULT line. */
static void report(const scase *c, long size, long alloc_mib, uint64_t wall_ns,
                   const tc_memstats *ms0, const tc_memstats *ms1, uint64_t ttsp_max,
                   uint64_t restart_max)
{
    int first = strcmp(c->name, "firstcycles") == 0;
    uint32_t cycles = ms1->num_gc - ms0->num_gc;
    size_t nstops = stops.n;
    uint32_t lo = ms0->num_gc + 1, hi = ms1->num_gc;
    pthread_mutex_lock(&marks.lock); /* released below */
    if (first) {
        /* The stops of cycles 1-3 only, as their events count them. */
        hi = cycles = FIRST_CYCLES;
        nstops = 0;
        for (uint32_t k = 0; k < FIRST_CYCLES && k < marks.cap; k++)
            nstops += marks.nstops[k];
        if (nstops > stops.n)
            nstops = stops.n;
    }
    static uint64_t mark_sorted[1 << 16];
    size_t nmarks = 0;
    for (uint32_t k = lo; k <= hi && k <= marks.last && nmarks < 1 << 16; k++)
        if (marks.mark_ns[k - 1])
            mark_sorted[nmarks++] = marks.mark_ns[k - 1];
    pthread_mutex_unlock(&marks.lock);
    qsort(mark_sorted, nmarks, sizeof *mark_sorted, cmp_u64);
    uint64_t *sorted = malloc((nstops ? nstops : 1) * sizeof *sorted);
    if (!sorted)
        die_oom();
    memcpy(sorted, stops.ns, nstops * sizeof *sorted);
    qsort(sorted, nstops, sizeof *sorted, cmp_u64);
    double max_us = nstops ? (double)sorted[nstops - 1] / 1e3 : 0;
    double p99_us = (double)bench_quantile(sorted, nstops, 0.99) / 1e3;
    double mark_max_ms = nmarks ? (double)mark_sorted[nmarks - 1] / 1e6 : 0;
    double mark_median_ms = (double)bench_quantile(mark_sorted, nmarks, 0.5) / 1e6;
    free(sorted);

    printf("%s %ld: %.0f ms, %u cycles, %zu stops, longest %.1f us, p99 %.1f us; "
           "mark longest %.1f ms, median %.1f ms\n", c->name, size, (double)wall_ns / 1e6,
           cycles, nstops, max_us, p99_us, mark_max_ms, mark_median_ms);
    printf("RESULT scale backend=tricolor case=%s size=%ld alloc_mib=%ld ms=%.1f cycles=%u "
           "stops=%zu max_stop_us=%.1f p99_stop_us=%.1f max_ttsp_us=%.1f max_restart_us=%.1f "
           "mark_ms_max=%.2f "
           "mark_ms_median=%.2f marks=%zu marked_mib=%.1f peak_rss_mib=%.1f",
           c->name, size, alloc_mib, (double)wall_ns / 1e6, cycles, nstops, max_us, p99_us,
           (double)ttsp_max / 1e3, (double)restart_max / 1e3, mark_max_ms, mark_median_ms, nmarks,
           (double)ms1->live_bytes / 1048576.0, (double)bench_maxrss_kib() / 1024.0);
    if (stops.lost)
        printf(" stops_lost=%llu", (unsigned long long)stops.lost);
    if (first) {
        printf(" stops_us=");
        for (size_t i = 0; i < nstops; i++)
            printf("%s%.1f", i ? "," : "", (double)stops.ns[i] / 1e3);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *name = NULL;
    long size = 0, alloc_mib = 0;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            usage("an option without its value");
        const char *v = argv[i + 1];
        if (strcmp(argv[i], "--case") == 0)
            name = v;
        else if (strcmp(argv[i], "--size") == 0 && is_positive(v))
            size = bench_arg_positive(PROG, argv[i], v);
        else if (strcmp(argv[i], "--alloc-mib") == 0 && is_positive(v))
            alloc_mib = bench_arg_positive(PROG, argv[i], v);
        else
            usage("an unknown option, or a value that is not a positive whole number");
    }
    const scase *c = NULL;
    for (size_t k = 0; name && k < sizeof cases / sizeof cases[0]; k++)
        if (strcmp(name, cases[k].name) == 0)
            c = &cases[k];
    if (!c || size == 0)
        usage("--case with a known case and --size are needed");
    if (strcmp(c->name, "threads") == 0 && size > 1024)
        usage("--size: at most 1024 threads");
    if (alloc_mib == 0)
        alloc_mib = default_alloc_mib(c, size);
    int first = strcmp(c->name, "firstcycles") == 0;

    if (tc_init() != 0)
        return 2;
    size_t off[1] = {0};
    node_type = tc_type_new("scale_node", sizeof(node), off, 1);
    ptr_type = tc_type_new("scale_ptr", sizeof(void *), off, 1);
    if (!node_type || !ptr_type || tc_on_gc_event(on_event, NULL) != 0 ||
        tc_root_add(&anchors, sizeof anchors) != 0) {
        fprintf(stderr, "%s: cannot set up the types, the events or the anchors\n", PROG);
        return 2;
    }
    tc_memstats ms0, ms1;
    if (first)
        stops_begin(0); /* a fresh process: everything from the start */
    anchors.ring = ptrs_new(RING);
    if (c->setup)
        c->setup(size);
    if (!first) {
        tc_collect();
        tc_read_memstats(&ms0);
        stops_begin(ms0.num_stw);
    } else {
        memset(&ms0, 0, sizeof ms0);
    }
    hists_mark();
    uint64_t nodes = (uint64_t)alloc_mib * NODES_PER_MIB;
    uint64_t t0 = bench_now_ns();
    if (c->run) {
        c->run(size, nodes);
    } else {
        for (uint64_t i = 0; i < nodes; i++) {
            garbage_step();
            if (i % MUTATE_EVERY == 0)
                c->mutate(i);
        }
    }
    uint64_t wall = bench_now_ns() - t0;
    stops_end();
    tc_read_memstats(&ms1);
    uint64_t ttsp_max = hist_max_since(H_TTSP), restart_max = hist_max_since(H_RESTART);
    if (first && ms1.num_gc < FIRST_CYCLES) {
        fprintf(stderr, "%s: fewer than %d cycles in %ld MiB (--alloc-mib)\n", PROG,
                FIRST_CYCLES, alloc_mib);
        return 2;
    }
    marks_wait(ms1.num_gc);
    if (c->check)
        c->check(size);

    report(c, size, alloc_mib, wall, &ms0, &ms1, ttsp_max, restart_max);
    return 0;
}
