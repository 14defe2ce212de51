/* graph.h: test support: a directed graph in malloc memory (a torture
 * test's reference model of its heap) that knows after every change which
 * vertices its roots reach, at a cost per change of a few vertices however
 * large the graph, where a walk from the roots visits every one.
 *
 * Each reachable vertex keeps the one edge it is reached through (its
 * parent: the parents form a forest below the roots) and every vertex the
 * edges that name it. An edge added costs O(1): it names a vertex that is
 * reachable already or new. An edge removed that is no vertex's parent
 * costs O(1) too. When a parent edge goes, its child searches backward,
 * along the edges that name it, for a vertex whose parent chain still
 * ends at a root, and hangs the path found on it. A search that runs out
 * has visited only vertices no root reaches: they are dead, and their
 * children search in turn; each dead vertex is paid for once. That is a
 * measure, not a bound: in the torture test's graphs the searches visit 3
 * to 6 vertices an operation (g->visits) with 2,500 to 10,000 reachable.
 * A whole walk checks the result at each forced collection
 * (test_graph_walk) and makes the parent chains short again.
 *
 * Once dead, a vertex is never named again: callers pick the targets of
 * new edges among the reachable (g->reach) and the new. */
#ifndef TC_TEST_GRAPH_H
#define TC_TEST_GRAPH_H

#include <stddef.h>
#include <stdint.h>

/* Slot `slot` of vertex `from`, or root `slot` when from is -1. */
typedef struct test_edge {
    int64_t from;
    uint32_t slot;
} test_edge;

enum test_vertex_state { TEST_V_NEW, TEST_V_REACHABLE, TEST_V_DEAD };

typedef struct test_vertex {
    int64_t *to;       /* target per slot, or -1 */
    uint32_t *inpos;   /* per slot with a target: its index in the target's `in` */
    uint32_t nslots;
    int state;         /* enum test_vertex_state */
    test_edge parent;  /* the edge it is reached through, while reachable */
    size_t reachpos;   /* its index in g->reach, while reachable */
    test_edge *in;     /* the slots and roots that name it */
    uint32_t nin, incap;
    /* Scratch of the searches (graph.c), valid for the search numbered so. */
    uint64_t seen;     /* the search visited it */
    uint64_t judged;   /* the search followed its parent chain ... */
    int chain_ok;      /* ... and found it ends at a root */
    uint32_t via_slot; /* found by the search: its slot toward the searched */
} test_vertex;

typedef struct test_graph {
    test_vertex *v;
    size_t n, cap;
    int64_t *roots;       /* target per root, or -1 */
    uint32_t *root_inpos; /* per root with a target: as inpos */
    size_t nroots;
    int64_t *reach;       /* the reachable vertices, in no particular order */
    size_t nreach;
    int64_t *queue;       /* a search's vertices: cap entries */
    int64_t *pending;     /* vertices whose parent edge went: cap entries */
    size_t npending;
    uint64_t search;      /* the number of the last search */
    uint64_t visits;      /* vertices visited by searches: the model's cost */
} test_graph;

void test_graph_init(test_graph *g, size_t nroots);
void test_graph_fini(test_graph *g);

/* Adds a new vertex with nslots empty slots; returns its index (0, 1, ...).
 * It is not reachable until a slot or a root names it. */
int64_t test_graph_add(test_graph *g, uint32_t nslots);

/* Points slot `slot` of reachable vertex `from` at `to` (-1: empty). `to`
 * must be reachable or new; a new one becomes reachable. */
void test_graph_set(test_graph *g, int64_t from, uint32_t slot, int64_t to);

/* Points root `root` at `to`, with the same contract. */
void test_graph_set_root(test_graph *g, size_t root, int64_t to);

static inline int64_t test_graph_target(const test_graph *g, int64_t from, uint32_t slot)
{
    return g->v[from].to[slot];
}

static inline int test_graph_is_reachable(const test_graph *g, int64_t x)
{
    return g->v[x].state == TEST_V_REACHABLE;
}

/* Walks the whole graph from the roots, as a collection does: returns 1
 * when what it reaches is exactly the reachable set, every parent edge
 * names its child and every edge is in its target's `in`, 0 (having
 * printed the first difference to stderr) otherwise. Then hangs each
 * reachable vertex on the edge the walk first reached it through, the
 * shortest chains there are, which keeps the searches short. Costs the
 * reachable graph's size. */
int test_graph_walk(test_graph *g);

#endif
