/* main.c: the scheme binary: runs a file, or a REPL without one.
 *
 *   scheme [--gc-stats] [--heap-profile PATH] [FILE]
 *
 * A file run prints only what the program prints; an error goes to stderr
 * and the exit status is 1. --gc-stats prints, after the program, one line
 * on stderr from tricolor's statistics:
 *   gc-stats: collections=N stops=N max_stop_us=X p99_stop_us=Y peak_heap_mib=Z
 * every stop counted as tc_memstats.stw_ns records it (collected by a cycle
 * event callback as the program runs, so no stop is missed).
 * --heap-profile writes tricolor's heap profile (pprof's format, gzipped)
 * to PATH after the program: its stacks start with the Scheme procedures
 * that allocated (tc_set_profile_frames, vm.c), so `go tool pprof -top
 * scheme PATH` names them. TRICOLOR_* variables work as for any program
 * linked with the library (TRICOLOR_DEBUG=memprofilerate=N samples more
 * often).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"

/* Procedures written in Scheme, compiled at start. */
const char sc_prelude[] =
    "(define (map f l . ls)\n"
    "  (if (null? ls)\n"
    "      (let loop ((l l) (acc '()))\n"
    "        (if (pair? l) (loop (cdr l) (cons (f (car l)) acc)) (reverse acc)))\n"
    "      (let loop ((ls (cons l ls)) (acc '()))\n"
    "        (if (%all-pairs? ls)\n"
    "            (loop (%cdrs ls) (cons (apply f (%cars ls)) acc))\n"
    "            (reverse acc)))))\n"
    "(define (for-each f l . ls)\n"
    "  (if (null? ls)\n"
    "      (let loop ((l l)) (if (pair? l) (begin (f (car l)) (loop (cdr l)))))\n"
    "      (let loop ((ls (cons l ls)))\n"
    "        (if (%all-pairs? ls) (begin (apply f (%cars ls)) (loop (%cdrs ls)))))))\n"
    "(define (%all-pairs? ls) (or (null? ls) (and (pair? (car ls)) (%all-pairs? (cdr ls)))))\n"
    "(define (%cars ls) (if (null? ls) '() (cons (car (car ls)) (%cars (cdr ls)))))\n"
    "(define (%cdrs ls) (if (null? ls) '() (cons (cdr (car ls)) (%cdrs (cdr ls)))))\n"
    "(define (vector-map f v . vs)\n"
    "  (list->vector (apply map f (vector->list v) (map vector->list vs))))\n"
    "(define (vector-for-each f v . vs)\n"
    "  (apply for-each f (vector->list v) (map vector->list vs)))\n"
    "(define (filter keep? l)\n"
    "  (let loop ((l l) (acc '()))\n"
    "    (cond ((null? l) (reverse acc))\n"
    "          ((keep? (car l)) (loop (cdr l) (cons (car l) acc)))\n"
    "          (else (loop (cdr l) acc)))))\n"
    "(define (reduce f init l)\n"
    "  (if (null? l) init\n"
    "      (let loop ((acc (car l)) (l (cdr l)))\n"
    "        (if (null? l) acc (loop (f (car l) acc) (cdr l))))))\n"
    "(define (fold-left f acc l)\n"
    "  (if (null? l) acc (fold-left f (f acc (car l)) (cdr l))))\n"
    "(define (fold-right f acc l)\n"
    "  (if (null? l) acc (f (car l) (fold-right f acc (cdr l)))))\n"
    "(define (list-index pred l)\n"
    "  (let loop ((l l) (i 0))\n"
    "    (cond ((null? l) #f) ((pred (car l)) i) (else (loop (cdr l) (+ i 1))))))\n"
    "(define (iota n . rest)\n"
    "  (let ((start (if (pair? rest) (car rest) 0)))\n"
    "    (let loop ((i (- n 1)) (acc '()))\n"
    "      (if (< i 0) acc (loop (- i 1) (cons (+ start i) acc))))))\n";

/* ---- gc-stats --------------------------------------------------------------------- */

/* Every stop, as the cycle events report them (the event thread is not
 * attached: it reads the statistics, which is lock-free, and touches no
 * heap object). stats_lock: the array and the peak. */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *stops;
static size_t nstops, capstops;
static uint32_t stops_seen;
static uint64_t peak_heap;

static void take_stops_locked(void)
{
    static tc_memstats ms; /* big: not on the event thread's stack */
    tc_read_memstats(&ms);
    if (ms.heap_inuse > peak_heap)
        peak_heap = ms.heap_inuse;
    uint32_t from = stops_seen;
    if (ms.num_stw - from > TC_PAUSE_RING)
        from = ms.num_stw - TC_PAUSE_RING; /* (a slow callback: the oldest lost) */
    for (uint32_t i = from; i < ms.num_stw; i++) {
        if (nstops == capstops) {
            capstops = capstops ? capstops * 2 : 1024;
            stops = realloc(stops, capstops * sizeof *stops);
            if (!stops)
                exit(1);
        }
        stops[nstops++] = ms.stw_ns[i % TC_PAUSE_RING];
    }
    stops_seen = ms.num_stw;
}

static void on_gc_event(void *arg, const tc_gc_event *ev)
{
    (void)arg, (void)ev;
    pthread_mutex_lock(&stats_lock);
    take_stops_locked();
    pthread_mutex_unlock(&stats_lock);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_gc_stats(void)
{
    tc_on_gc_event(NULL, NULL); /* returns once a call in progress is done */
    pthread_mutex_lock(&stats_lock);
    take_stops_locked();
    tc_memstats ms;
    tc_read_memstats(&ms);
    qsort(stops, nstops, sizeof *stops, cmp_u64);
    double max_us = nstops ? (double)stops[nstops - 1] / 1e3 : 0;
    double p99_us = nstops ? (double)stops[(nstops * 99) / 100 < nstops ? (nstops * 99) / 100 : nstops - 1] / 1e3 : 0;
    fprintf(stderr,
            "gc-stats: collections=%u stops=%zu max_stop_us=%.1f p99_stop_us=%.1f "
            "peak_heap_mib=%.1f\n",
            ms.num_gc, nstops, max_us, p99_us, (double)peak_heap / (1024.0 * 1024.0));
    pthread_mutex_unlock(&stats_lock);
}

/* ---- Running ------------------------------------------------------------------------ */

static void load_prelude(void *unused)
{
    (void)unused;
    sc_val port = sc_open_input_string(sc_string_from_c(sc_prelude));
    if (sc_load_port(port, "prelude") != 0)
        exit(2);
}

typedef struct read_state {
    sc_val port, x;
    long line;
} read_state;

static void read_one(void *arg)
{
    read_state *r = arg;
    r->x = sc_read(r->port, &r->line);
}

/* Reads, evaluates and (at a terminal) prints each datum of stdin; an
 * error is reported and the loop goes on. */
static int repl(void)
{
    int interactive = isatty(0);
    sc_val in = sc_current_input(), out = sc_current_output();
    for (;;) {
        if (interactive) {
            sc_port_write_utf8(out, "> ", 2);
            sc_port_flush(out);
        }
        read_state r = { in, SC_EOF, 0 };
        if (sc_run_protected(read_one, &r) != 0)
            continue;
        if (r.x == SC_EOF)
            break;
        sc_val result;
        if (sc_eval_protected(r.x, r.line, &result) == 0 && result != SC_UNSPEC && interactive) {
            sc_print(out, result, 1);
            sc_port_write_utf8(out, "\n", 1);
        }
        sc_port_flush(out);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: scheme [--gc-stats] [--heap-profile PATH] [FILE]\n");
    exit(2);
}

static int write_profile(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f || tc_write_heap_profile(f) != 0 || fclose(f) != 0) {
        fprintf(stderr, "scheme: cannot write the heap profile to %s\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int gc_stats = 0;
    const char *file = NULL, *profile = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gc-stats"))
            gc_stats = 1;
        else if (!strcmp(argv[i], "--heap-profile") && i + 1 < argc)
            profile = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            usage();
        else if (!file)
            file = argv[i];
        else
            usage();
    }
    if (tc_init() != 0) {
        perror("scheme: tc_init");
        return 2;
    }
    if (gc_stats && tc_on_gc_event(on_gc_event, NULL) != 0)
        perror("scheme: tc_on_gc_event");
    sc_object_init();
    sc_symbols_init();
    sc_compile_init();
    sc_vm_attach();
    sc_init_numbers();
    sc_init_lists();
    sc_init_strings();
    sc_init_vectors();
    sc_init_tables();
    sc_init_ports();
    sc_init_threads();
    sc_init_control();
    load_prelude(NULL);
    int rc;
    if (file) {
        sc_val port = SC_FALSE;
        FILE *probe = fopen(file, "r");
        if (!probe) {
            fprintf(stderr, "scheme: cannot open %s\n", file);
            return 2;
        }
        fclose(probe);
        port = sc_open_input_file(file);
        rc = sc_load_port(port, file) == 0 ? 0 : 1;
    } else {
        rc = repl();
    }
    sc_ports_flush_all();
    if (gc_stats)
        print_gc_stats();
    if (profile && write_profile(profile) != 0)
        rc = rc ? rc : 2;
    return rc;
}
