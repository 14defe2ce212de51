/* gcbench.c: Boehm's GCBench (after Ellis and Kovac's Java original, the
 * binary-trees benchmark), written once against backend.h.
 *
 * It stretches the heap with a tree of depth 18, keeps a tree of depth 16
 * and an array of 500,000 doubles alive throughout, and for each depth
 * 4, 6, ..., 16 builds as many short-lived trees as make up twice the
 * stretch tree's nodes, first top-down (Populate: allocate children into a
 * node already in the heap, so every store is a heap store) and then
 * bottom-up (MakeTree: children first, then the parent). The parameters and
 * iteration counts are the classic ones, so the figures compare with the
 * published GCBench numbers in kind if not in size.
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

#include "backend.h"

/* The classic GCBench parameters. */
enum {
    kStretchTreeDepth = 18,   /* about 16 MB of nodes */
    kLongLivedTreeDepth = 16, /* about 4 MB */
    kArraySize = 500000,      /* about 4 MB of doubles */
    kMinTreeDepth = 4,
    kMaxTreeDepth = 16,
};

typedef struct Node Node;
struct Node {
    Node *left; /* the pointers lead: backend.h's object layout */
    Node *right;
    int i, j;
};
_Static_assert(offsetof(Node, left) == 0 && offsetof(Node, right) == sizeof(void *),
               "Node's pointer slots must come first");

static const bk_shape *node_shape;

static Node *new_node(void) { return bk_alloc(node_shape); }

/* Nodes in a complete tree of depth i. */
static long tree_size(int i) { return (1L << (i + 1)) - 1; }

/* Trees of depth i that add up to twice the stretch tree's nodes. */
static long num_iters(int i) { return 2 * tree_size(kStretchTreeDepth) / tree_size(i); }

/* Top-down: grows the tree under a node that is already in the heap. */
static void populate(int depth, Node *node)
{
    if (depth <= 0)
        return;
    depth--;
    bk_store(node, &node->left, new_node());
    bk_store(node, &node->right, new_node());
    populate(depth, node->left);
    populate(depth, node->right);
}

/* Bottom-up: the children exist (and live only in locals) before their
 * parent does, so a collection here must find them on the stack. */
static Node *make_tree(int depth)
{
    if (depth <= 0)
        return new_node();
    Node *left = make_tree(depth - 1);
    Node *right = make_tree(depth - 1);
    Node *result = new_node();
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

static int failures;

static void check_tree(const char *what, const Node *tree, int depth)
{
    long n = count_nodes(tree);
    if (n != tree_size(depth)) {
        fprintf(stderr, "gcbench: FAILED: %s of depth %d has %ld nodes, want %ld\n",
                what, depth, n, tree_size(depth));
        failures++;
    }
}

static void time_construction(int depth, int frees)
{
    long iters = num_iters(depth);
    printf("  %6ld trees of depth %2d:", iters, depth);
    fflush(stdout);

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        Node *temp = new_node();
        populate(depth, temp);
        if (i == iters - 1)
            check_tree("a top-down tree", temp, depth);
        if (frees)
            destroy(temp);
    }
    uint64_t t1 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        Node *temp = make_tree(depth);
        if (i == iters - 1)
            check_tree("a bottom-up tree", temp, depth);
        if (frees)
            destroy(temp);
    }
    uint64_t t2 = bench_now_ns();
    printf(" top-down %5.0f ms, bottom-up %5.0f ms\n", (double)(t1 - t0) / 1e6,
           (double)(t2 - t1) / 1e6);
}

int main(void)
{
    bk_init();
    node_shape = bk_shape_get(2, sizeof(Node) - 2 * sizeof(Node *));
    int frees = bk_needs_free();

    printf("gcbench: Boehm's GCBench (binary trees), backend %s (%s)\n", bk_name(),
           bk_describe());
    printf("  stretch tree depth %d, long-lived tree depth %d, array of %d doubles,\n"
           "  short-lived trees of depth %d..%d, node %zu bytes, %s\n",
           kStretchTreeDepth, kLongLivedTreeDepth, kArraySize, kMinTreeDepth,
           kMaxTreeDepth, sizeof(Node),
           frees ? "temporary trees freed explicitly" : "temporary trees left to the collector");
    printf("  live storage peaks at about %zu bytes\n",
           (size_t)(2 * sizeof(Node) * (size_t)tree_size(kLongLivedTreeDepth) +
                    sizeof(double) * kArraySize));

    uint64_t start = bench_now_ns();

    /* Stretch the heap quickly, then let the whole tree die. */
    Node *temp = make_tree(kStretchTreeDepth);
    check_tree("the stretch tree", temp, kStretchTreeDepth);
    if (frees)
        destroy(temp);
    temp = NULL;

    /* Long-lived data, alive in main's frame until the checks below. */
    Node *long_lived = new_node();
    populate(kLongLivedTreeDepth, long_lived);
    double *array = bk_alloc_atomic(sizeof(double) * kArraySize);
    for (int i = 0; i < kArraySize / 2; i++)
        array[i] = 1.0 / i;

    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2)
        time_construction(d, frees);

    uint64_t elapsed_ns = bench_now_ns() - start;

    /* The long-lived data must have survived every collection intact. */
    check_tree("the long-lived tree", long_lived, kLongLivedTreeDepth);
    for (int i = 1; i < kArraySize / 2; i++) {
        if (array[i] != 1.0 / i) {
            fprintf(stderr, "gcbench: FAILED: array[%d] is %g, want %g\n", i, array[i],
                    1.0 / i);
            failures++;
            break;
        }
    }

    bk_stats st;
    bk_read_stats(&st);
    long rss = bench_maxrss_kib();
    double ms = (double)elapsed_ns / 1e6;
    printf("completed in %.0f ms, peak RSS %ld KiB, %llu collections, heap %.1f MiB\n",
           ms, rss, (unsigned long long)st.num_gc, (double)st.heap_bytes / 1048576.0);
    if (frees) { /* a manual program cleans up too (and ASan checks it) */
        destroy(long_lived);
        bk_free(array);
    }
    if (failures) {
        fprintf(stderr, "gcbench: %d check%s FAILED\n", failures, failures == 1 ? "" : "s");
        return 1;
    }
    printf("RESULT gcbench backend=%s ms=%.0f maxrss_kib=%ld", bk_name(), ms, rss);
    bench_print_gc_fields(&st);
    printf("\n");
    return 0;
}
