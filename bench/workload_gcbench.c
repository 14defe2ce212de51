/* workload_gcbench.c: Boehm's GCBench (after Ellis and Kovac's Java original, the
 * binary-trees benchmark), written once against backend.h.
 *
 * It stretches the heap with a tree of depth 18, keeps a tree of depth 16
 * and an array of 500,000 doubles alive throughout, and for each depth
 * 4, 6, ..., 16 builds as many short-lived trees as make up twice the
 * stretch tree's nodes, first top-down (Populate: allocate children into a
 * node already in the heap, so every store is a heap store) and then
 * bottom-up (MakeTree: children first, then the parent). The parameters and
 * iteration counts are the classic ones by default (bench-quick shrinks the
 * depths), so the figures compare with the published GCBench numbers in
 * kind if not in size. bench/peers/gcbench.go is the same program in Go.
 *
 * The malloc backend frees every temporary tree (a recursive free), the
 * work a manual program does in place of a collector. At the end the
 * long-lived tree and array are checked, and so is the last tree of every
 * batch before it is dropped: a collector that frees a live node fails the
 * run (exit 1) instead of reporting a fast time.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

enum { kArraySize = 500000 }; /* about 4 MB of doubles */
/* Heap samples and pause-log polls come between trees, at least this many
 * nodes apart. */
#define SAMPLE_NODES 10000

typedef struct Node Node;
struct Node {
    Node *left; /* the pointers lead: backend.h's object layout */
    Node *right;
    int i, j;
};
_Static_assert(offsetof(Node, left) == 0 && offsetof(Node, right) == sizeof(void *),
               "Node's pointer slots must come first");

typedef struct run {
    const bk_shape *node_shape;
    int frees;
    int failures;
    int stretch;
    long since_sample; /* nodes since the last sample */
    wl_result *r;
} run;

static Node *new_node(run *g)
{
    g->since_sample++;
    return bk_alloc(g->node_shape);
}

/* Nodes in a complete tree of depth i. */
static long tree_size(int i) { return (1L << (i + 1)) - 1; }

/* Trees of depth i that add up to twice the stretch tree's nodes. */
static long num_iters(const run *g, int i) { return 2 * tree_size(g->stretch) / tree_size(i); }

/* Top-down: grows the tree under a node that is already in the heap. */
static void populate(run *g, int depth, Node *node)
{
    if (depth <= 0)
        return;
    depth--;
    bk_store(node, &node->left, new_node(g));
    bk_store(node, &node->right, new_node(g));
    populate(g, depth, node->left);
    populate(g, depth, node->right);
}

/* Bottom-up: the children exist (and live only in locals) before their
 * parent does, so a collection here must find them on the stack. */
static Node *make_tree(run *g, int depth)
{
    if (depth <= 0)
        return new_node(g);
    Node *left = make_tree(g, depth - 1);
    Node *right = make_tree(g, depth - 1);
    Node *result = new_node(g);
    bk_store(result, &result->left, left);
    bk_store(result, &result->right, right);
    return result;
}

/* What a manual program does with a tree it no longer needs. */
static void destroy(Node *node)
{
    if (node == NULL)
        return;
    destroy(node->left);
    destroy(node->right);
    bk_free(node);
}

/* Nodes reachable from node; a tree is complete when this is tree_size. */
static long count_nodes(const Node *node)
{
    if (node == NULL)
        return 0;
    return 1 + count_nodes(node->left) + count_nodes(node->right);
}

static void check_tree(run *g, const char *what, const Node *tree, int depth)
{
    long n = count_nodes(tree);
    if (n != tree_size(depth)) {
        fprintf(stderr, "gcbench: FAILED: %s of depth %d has %ld nodes, want %ld\n", what,
                depth, n, tree_size(depth));
        g->failures++;
    }
}

/* Between trees: the heap's size and the pause log, every SAMPLE_NODES
 * (the sampling's own time is taken off the total). */
static void sample(run *g)
{
    if (g->since_sample < SAMPLE_NODES)
        return;
    g->since_sample = 0;
    bk_sample(g->r);
}

static void time_construction(run *g, int depth, int quiet)
{
    long iters = num_iters(g, depth);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        Node *temp = new_node(g);
        populate(g, depth, temp);
        if (i == iters - 1)
            check_tree(g, "a top-down tree", temp, depth);
        if (g->frees)
            destroy(temp);
        sample(g);
    }
    uint64_t t1 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        Node *temp = make_tree(g, depth);
        if (i == iters - 1)
            check_tree(g, "a bottom-up tree", temp, depth);
        if (g->frees)
            destroy(temp);
        sample(g);
    }
    uint64_t t2 = bench_now_ns();
    if (!quiet)
        printf("  %6ld trees of depth %2d: top-down %5.0f ms, bottom-up %5.0f ms\n", iters,
               depth, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);
}

void WL(gcbench)(const wl_params *p, wl_result *r);
void WL(gcbench)(const wl_params *p, wl_result *r)
{
    bk_init();
    memset(r, 0, sizeof *r);
    run g = {bk_shape_get(2, sizeof(Node) - 2 * sizeof(Node *)), bk_needs_free(), 0,
             p->stretch, 0, r};
    snprintf(r->params, sizeof r->params, "stretch=%d long=%d min=%d max=%d", p->stretch,
             p->long_lived, p->min_depth, p->max_depth);
    if (!p->quiet) {
        printf("gcbench (%s, %s): Boehm's GCBench (binary trees)\n", bk_name(), bk_describe());
        printf("  stretch tree depth %d, long-lived tree depth %d, array of %d doubles,\n"
               "  short-lived trees of depth %d..%d, node %zu bytes, %s\n",
               p->stretch, p->long_lived, kArraySize, p->min_depth, p->max_depth,
               sizeof(Node),
               g.frees ? "temporary trees freed explicitly"
                       : "temporary trees left to the collector");
    }

    bk_stats before, after;
    bench_read_stats(&before);
    bk_pauses_begin();
    uint64_t start = bench_now_ns();

    /* Stretch the heap quickly, then let the whole tree die. */
    Node *temp = make_tree(&g, p->stretch);
    check_tree(&g, "the stretch tree", temp, p->stretch);
    if (g.frees)
        destroy(temp);
    temp = NULL;
    sample(&g);

    /* Long-lived data, alive in this frame until the checks below. */
    Node *long_lived = new_node(&g);
    populate(&g, p->long_lived, long_lived);
    double *array = bk_alloc_atomic(sizeof(double) * kArraySize);
    for (int i = 0; i < kArraySize / 2; i++)
        array[i] = 1.0 / i;

    for (int d = p->min_depth; d <= p->max_depth; d += 2)
        time_construction(&g, d, p->quiet);

    r->wall_ns = bench_now_ns() - start;
    bench_read_stats(&after);

    /* The long-lived data must have survived every collection intact. */
    check_tree(&g, "the long-lived tree", long_lived, p->long_lived);
    for (int i = 1; i < kArraySize / 2; i++) {
        if (array[i] != 1.0 / i) {
            fprintf(stderr, "gcbench: FAILED: array[%d] is %g, want %g\n", i, array[i],
                    1.0 / i);
            g.failures++;
            break;
        }
    }
    if (g.frees) { /* a manual program cleans up too (and ASan checks it) */
        destroy(long_lived);
        bk_free(array);
    }
    bk_summarise(r, &before, &after);
    r->ok = g.failures == 0;
    r->measured = 1;
}
